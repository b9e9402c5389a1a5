"""The repository's small text files read safely (size cap, no binary, no escaping symlink), and bracket matching."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_BYTES = 500_000
_BINARY_SNIFF = 8192


@dataclass(frozen=True, slots=True)
class TextFile:
    """One file's text, or why it was not read (text is then None)."""

    path: str  # repo-relative posix path
    text: str | None
    problem: str | None = None

    def line_of(self, offset: int) -> int:
        """The 1-based line number of a character offset in the text."""
        return line_at(self.text or "", offset)


def line_at(text: str, offset: int) -> int:
    """The 1-based line of a character offset."""
    return text.count("\n", 0, offset) + 1


def line_text(text: str, offset: int) -> str:
    """The line holding a character offset, without its surrounding white space."""
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    return text[start : end if end >= 0 else len(text)].strip()


def read_text(root: Path, path: str, max_bytes: int = DEFAULT_MAX_BYTES) -> TextFile:
    """Read `path` (relative to `root`) as UTF-8; refuse large, binary, unreadable or outside-the-repo files."""
    file = root / path
    try:
        real_root = os.path.realpath(root)
        if os.path.commonpath([real_root, os.path.realpath(file)]) != real_root:
            return TextFile(path, None, "a symbolic link that points outside the repository")
        if not file.is_file():
            return TextFile(path, None, "not a regular file")
        with file.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except (OSError, ValueError) as exc:
        return TextFile(path, None, f"could not be read: {exc}")
    if len(data) > max_bytes:
        return TextFile(path, None, f"larger than {max_bytes:,} bytes, not read")
    if b"\0" in data[:_BINARY_SNIFF]:
        return TextFile(path, None, "a binary file")
    return TextFile(path, data.decode("utf-8", errors="replace"))


BRACKETS = {"(": ")", "[": "]", "{": "}"}


def after_string(text: str, start: int) -> int:
    """The index after the string literal (', " or `) opening at `start`; len(text) + 1 if it never closes."""
    quote = text[start]
    i = start + 1
    while i < len(text):
        if text[i] == "\\" and quote != "`":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    return len(text) + 1


def closing_bracket(text: str, start: int) -> int:
    """The index of the bracket closing the one at `start`, string literals skipped; the last index if none."""
    opener, closer = text[start], BRACKETS[text[start]]
    depth = 0
    i = start
    while i < len(text):
        char = text[i]
        if char in "\"'`":
            i = after_string(text, i)
            continue
        depth += (char == opener) - (char == closer)
        if depth == 0:
            return i
        i += 1
    return len(text) - 1
