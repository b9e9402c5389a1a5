"""Results cached by what was graded and how: re-running a batch regrades only what changed.

The key hashes the commit SHA (or a folder's content hash), the grader (its version and a
digest of its own code, so an edited check never serves a stale result), the curriculum's
sha256, the phase, the deadline and every grading option. The stored result is the
submission's `result.json` in its output folder, written last and atomically, so an
interrupted run leaves either a whole result or none. Every finished result is reused, also
one that timed out or crashed (`--force` regrades all; deleting a submission's folder regrades
it); a submission interrupted before it finished has no result and is graded again.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import checks
import grader
from grader import __version__
from grader.batch.model import SubmissionResult, result_from, to_json

RESULT_FILE = "result.json"
_CODE_SUFFIXES = (".py", ".toml", ".j2", ".json")


@cache
def grader_fingerprint() -> str:
    """The grader's version and a digest of its code, curricula and templates."""
    digest = hashlib.sha256()
    for package in (grader, checks):
        root = Path(str(package.__file__)).parent
        for path in sorted(p for p in root.rglob("*") if p.suffix in _CODE_SUFFIXES and "__pycache__" not in p.parts):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{__version__}+{digest.hexdigest()[:16]}"


def cache_key(identity: str, curriculum_sha256: str, phase: int, settings: dict[str, Any]) -> str:
    """The key of one submission's result (sha256 hex)."""
    material = {
        "what": identity,
        "grader": grader_fingerprint(),
        "curriculum": curriculum_sha256,
        "phase": phase,
        "settings": settings,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def load_result(folder: Path) -> SubmissionResult | None:
    """The stored result in a submission's folder, or None if there is none (or it is unreadable)."""
    try:
        data = json.loads((folder / RESULT_FILE).read_text(encoding="utf-8"))
        return result_from(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cached_result(folder: Path, key: str) -> SubmissionResult | None:
    """The stored result if it was graded under `key` and its reports are all still there."""
    stored = load_result(folder)
    if stored is None or stored.key != key or not all((folder / name).is_file() for name in stored.reports):
        return None
    return stored


def store_result(folder: Path, result: SubmissionResult) -> None:
    """Write `result.json` atomically (a temp file renamed over it)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{RESULT_FILE}.tmp"
    tmp.write_text(json.dumps(to_json(result), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, folder / RESULT_FILE)
