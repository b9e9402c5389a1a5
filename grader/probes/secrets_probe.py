"""The `secrets` fact: every secret ever committed, found by streaming the whole history."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.facts import ProbeContext
from grader.plugin import probe
from grader.probes.history import GitHistory
from grader.probes.secrets import SecretScan, scan_history

SCAN_TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class HistorySecrets:
    """The scan of the history, or why there was no history to scan."""

    scan: SecretScan | None
    reason: str = ""


@probe("secrets", timeout_s=SCAN_TIMEOUT_S + 30)
def history_secrets(ctx: ProbeContext) -> HistorySecrets:
    """Scan every commit on every ref for secrets, honouring grade.toml's documented test fakes."""
    history = ctx.fact("history", GitHistory)
    if not history.is_repo or history.toplevel is None:
        return HistorySecrets(None, history.reason)
    # grade.toml sits in the graded folder, so its paths are relative to it; the scan's are repo-relative.
    prefix = f"{history.subdir}/" if history.subdir else ""
    scan = scan_history(
        Path(history.toplevel),
        timeout_s=SCAN_TIMEOUT_S,
        allow_paths=tuple(prefix + pattern for pattern in ctx.config.secrets.allow_paths),
        allow_fingerprints=ctx.config.secrets.allow_fingerprints,
        subdir=history.subdir,
    )
    return HistorySecrets(scan)
