"""tsconfig.json as TypeScript reads it: comments and trailing commas allowed, `extends` followed inside the repo."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from grader.probes.source_files import MAX_SOURCE_BYTES
from grader.probes.text_files import line_at, read_text

# The options `strict: true` turns on; each can still be switched off on its own.
STRICT_FAMILY = (
    "noImplicitAny",
    "strictNullChecks",
    "strictFunctionTypes",
    "strictBindCallApply",
    "strictPropertyInitialization",
    "noImplicitThis",
    "alwaysStrict",
    "useUnknownInCatchVariables",
)
MAX_EXTENDS = 10
_STRING_OR_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|/\*.*?\*/', re.DOTALL)
_TRAILING_COMMA = re.compile(r'"(?:[^"\\\n]|\\.)*"|,(?=\s*[}\]])')


@dataclass(frozen=True, slots=True)
class OptionSource:
    """Where a compiler option was set: the file and line, and its value."""

    path: str
    line: int | None
    value: Any


@dataclass(frozen=True, slots=True)
class TsConfig:
    """The project's tsconfig, merged with what it extends inside the repository."""

    path: str
    chain: tuple[str, ...]  # the files read: the config first, then each it extends
    options: Mapping[str, OptionSource] = field(default_factory=dict)  # merged compilerOptions, nearest wins
    unresolved: tuple[str, ...] = ()  # extends that could not be followed (packages, missing files)
    problems: tuple[str, ...] = ()  # files that could not be parsed, with the reason

    @property
    def strict(self) -> bool | None:
        """The `strict` option (None when unset here, e.g. inherited from a package that was not followed)."""
        source = self.options.get("strict")
        return None if source is None else source.value is True

    def weakened(self) -> dict[str, OptionSource]:
        """Strict-family options switched off explicitly."""
        return {name: s for name in STRICT_FAMILY if (s := self.options.get(name)) is not None and s.value is False}


def parse_jsonc(text: str) -> Any:
    """JSON with comments and trailing commas, as tsconfig.json allows; ValueError (with line) when malformed."""
    no_comments = _STRING_OR_COMMENT.sub(_blank_comment, text.lstrip("\ufeff"))
    cleaned = _TRAILING_COMMA.sub(lambda m: m.group(0) if m.group(0).startswith('"') else " ", no_comments)
    try:
        return json.loads(cleaned)
    except json.JSONDecodeError as exc:
        raise ValueError(f"line {exc.lineno}: {exc.msg}") from None


def _blank_comment(match: re.Match[str]) -> str:
    """Strings stay; comments become blanks of the same shape, so line numbers stay right."""
    text = match.group(0)
    return text if text.startswith('"') else re.sub(r"[^\n]", " ", text)


def find_tsconfig(files: tuple[str, ...]) -> str | None:
    """The project's tsconfig: the shallowest `tsconfig.json`, else the shallowest `tsconfig*.json`."""
    for pattern in (re.compile(r"(^|/)tsconfig\.json$"), re.compile(r"(^|/)tsconfig[\w.-]*\.json$")):
        found = sorted((f for f in files if pattern.search(f)), key=lambda f: (f.count("/"), f))
        if found:
            return found[0]
    return None


def load_tsconfig(root: Path, path: str) -> TsConfig:
    """Read `path` and every config it extends inside `root`, merged as TypeScript merges them."""
    loader = _Loader(root)
    options = loader.load(path, ())
    return TsConfig(path, tuple(loader.chain), options, tuple(loader.unresolved), tuple(loader.problems))


@dataclass
class _Loader:
    """Follows `extends` depth first: each base in order, later ones winning, the file itself over all."""

    root: Path
    chain: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def load(self, path: str, stack: tuple[str, ...]) -> dict[str, OptionSource]:
        if path in stack:
            self.problems.append(f"{path}: extends itself through {' -> '.join(stack)}")
            return {}
        if len(stack) > MAX_EXTENDS:
            self.problems.append(f"{path}: more than {MAX_EXTENDS} levels of extends, not followed")
            return {}
        self.chain.append(path)
        data, text = self._read(path)
        if data is None:
            return {}
        merged: dict[str, OptionSource] = {}
        for base in _extends_list(data.get("extends")):
            resolved = _resolve_extends(self.root, path, base)
            if resolved is None:
                self.unresolved.append(base)
            else:
                merged.update(self.load(resolved, (*stack, path)))
        merged.update(_options(path, text, data.get("compilerOptions")))
        return merged

    def _read(self, path: str) -> tuple[dict[str, Any] | None, str]:
        text = read_text(self.root, path, MAX_SOURCE_BYTES).text
        if text is None:
            self.problems.append(f"{path}: missing or unreadable")
            return None, ""
        try:
            data = parse_jsonc(text)
        except ValueError as exc:
            self.problems.append(f"{path}: not valid JSON ({exc})")
            return None, text
        if not isinstance(data, dict):
            self.problems.append(f"{path}: not a JSON object")
            return None, text
        return data, text


def _options(path: str, text: str, compiler_options: Any) -> dict[str, OptionSource]:
    if not isinstance(compiler_options, dict):
        return {}
    return {name: OptionSource(path, _key_line(text, name), value) for name, value in compiler_options.items()}


def _key_line(text: str, key: str) -> int | None:
    match = re.search(rf'"{re.escape(key)}"\s*:', text)
    return line_at(text, match.start()) if match else None


def _extends_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _resolve_extends(root: Path, current: str, base: str) -> str | None:
    """A relative `extends` as a repository path (".json" added when missing); None for packages or missing files."""
    if not base.startswith(("./", "../")):
        return None
    joined = PurePosixPath(current).parent / base
    parts: list[str] = []
    for part in joined.parts:
        if part == "..":
            if not parts:
                return None  # outside the repository
            parts.pop()
        elif part != ".":
            parts.append(part)
    candidate = "/".join(parts)
    for name in (candidate, f"{candidate}.json", f"{candidate}/tsconfig.json"):
        if (root / name).is_file() and (root / name).resolve().is_relative_to(root.resolve()):
            return name
    return None
