"""Reading what a learner's service (or a database the grader started for it) printed."""

from __future__ import annotations

import os
import re
from pathlib import Path

_ERROR_LINE = re.compile(r"^\s*([\w.]*(Error|Exception)\b|FATAL|error\b)", re.I)


def read_capped(path: Path, cap: int) -> str:
    """A file's text, or its first and last `cap/2` bytes with a marker between ('' if unreadable)."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(0)
            if size <= cap:
                data = fh.read()
            else:
                head = fh.read(cap // 2)
                fh.seek(size - cap // 2)
                data = head + f"\n[... {size - cap} bytes omitted ...]\n".encode() + fh.read()
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")


def crash_line(text: str) -> str:
    """The line of a log that most likely says why a program stopped: the last error line, else the last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if _ERROR_LINE.match(line)]
    chosen = errors[-1] if errors else lines[-1] if lines else "it printed nothing"
    return chosen[:240]
