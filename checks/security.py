"""Security checks on the repository: secrets committed anywhere in the history."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from checks._evidence import capped, display
from grader.facts import Facts
from grader.model import Evidence, Location, Verdict
from grader.plugin import check
from grader.probes.secrets_probe import HistorySecrets


@check(
    "secrets.history",
    title="No secret was ever committed",
    requires=("secrets",),
    remediation="Treat every listed secret as leaked: revoke or rotate it now at its provider. Then remove it "
    "from the history (git filter-repo or BFG) and force-push, read it from an environment variable instead, "
    "and keep `.env` out of git. If a finding is a documented test fake, list its path under "
    "`[secrets] allow_paths` (or its fingerprint under `allow_fingerprints`) in grade.toml.",
)
def secrets_history(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Streams every commit on every ref through a secret scanner, including files deleted later."""
    found = facts.get("secrets", HistorySecrets)
    if found.scan is None:
        return Verdict.failed(
            f"the history cannot be checked: {found.reason}",
            evidence=(Evidence("grade a git repository so its history can be scanned"),),
        )
    scan = found.scan
    allowed = f"; {scan.allowlisted} allowlisted" if scan.allowlisted else ""
    if not scan.findings:
        return Verdict.passed(
            f"no secrets in {scan.commits_scanned} commits ({scan.engine}){allowed}",
            value=0,
            threshold=0,
            unit="secrets",
        )
    evidence = capped(
        (
            Evidence(
                f"{f.description} ({f.rule}): {f.redacted}"
                + ("" if f.still_present else " (deleted later, still in the history)"),
                Location(display(f.path), f.line, f.commit),
                f"fingerprint {f.fingerprint}",
            )
            for f in scan.findings
        ),
        len(scan.findings),
        "secrets",
    )
    summary = f"{len(scan.findings)} secret(s) found in {scan.commits_scanned} commits ({scan.engine}){allowed}"
    return Verdict.failed(summary, value=len(scan.findings), threshold=0, unit="secrets", evidence=evidence)
