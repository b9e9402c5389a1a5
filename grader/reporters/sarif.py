"""SARIF 2.1.0, for GitHub code scanning and other tools that show findings next to the code.

One rule per check id in the report; one result per *located* evidence item of a failing
(level ``error``) or warning (level ``warning``) check. A failing check with no located evidence
(e.g. "too few tests") gives no result: SARIF allows results without a location, but GitHub code
scanning rejects them, so those failures are left to the other formats.

Evidence paths are relative to the graded folder; results carry them relative to the repository
root with ``uriBaseId: "%SRCROOT%"``. The root is ``$GITHUB_WORKSPACE`` when it is set and holds the
graded folder (a sub-folder project in a monorepo), else the graded folder itself. A path that
leaves the root (``..``, absolute) has no place in the repository, so its evidence gives no result.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any
from urllib.parse import quote

from grader.model import CheckResult, Location, Outcome, Report
from grader.reporters.json_report import scrub_surrogates

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "gradeFinding/v1"

_LEVELS = {Outcome.FAIL: "error", Outcome.WARN: "warning"}


class SarifReporter:
    """Renders a SARIF 2.1.0 log."""

    name = "sarif"
    suffix = ".sarif"

    def render(self, report: Report) -> str:
        """Pretty-printed SARIF, UTF-8 safe."""
        return scrub_surrogates(json.dumps(to_sarif(report), indent=2, ensure_ascii=False)) + "\n"


def to_sarif(report: Report, workspace: str | None = None) -> dict[str, Any]:
    """The SARIF log as plain data; ``workspace`` defaults to ``$GITHUB_WORKSPACE``."""
    workspace = os.environ.get("GITHUB_WORKSPACE") if workspace is None else workspace
    prefix = repo_prefix(report.target.path, workspace or None)
    checks = [check for criterion in report.criteria for check in criterion.checks]
    rule_index = {check_id: i for i, check_id in enumerate(dict.fromkeys(k.check_id for k in checks))}
    rules = [_rule(next(k for k in checks if k.check_id == check_id)) for check_id in rule_index]
    results = [
        _result(check, evidence.message, uri, evidence.location.line, rule_index[check.check_id])
        for check in checks
        if check.outcome in _LEVELS
        for evidence in check.evidence
        if evidence.location is not None and (uri := repo_uri(prefix, evidence.location)) is not None
    ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "grade",
                "version": report.grader_version,
                "informationUri": "README.md",
                "rules": rules,
            }
        },
        "automationDetails": {"id": f"grade/phase{report.phase}/"},
        "invocations": [{"executionSuccessful": not report.incomplete}],
        "results": results,
        "properties": {
            "target": {"name": report.target.name, "path": report.target.path, "commit": report.target.commit},
            "phase": report.phase,
            "phaseTitle": report.phase_title,
            "score": report.score,
            "passMark": report.pass_mark,
            "passed": report.passed,
            "incomplete": report.incomplete,
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def repo_prefix(target_path: str, workspace: str | None) -> str:
    """The graded folder relative to the repository root, in posix form ('' when it is the root)."""
    target = _real(target_path)
    if workspace:
        root = _real(workspace)
        if os.path.commonpath([root, target]) == root:
            rel = os.path.relpath(target, root)
            return "" if rel == os.curdir else rel.replace(os.sep, "/")
    return ""


def _real(path: str) -> str:
    """The canonical absolute path (symlinks resolved), or the plain absolute one if it cannot be resolved."""
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):  # a NUL byte, or a surrogate that no file name can hold
        return os.path.normpath(os.path.abspath(path))


def repo_path(prefix: str, path: str) -> str | None:
    """``path`` (relative to the graded folder) relative to the repository root; None if it leaves it."""
    if not path or os.path.isabs(path) or re.match(r"^[A-Za-z]:", path):
        return None
    joined = os.path.normpath(os.path.join(prefix, path.replace("\\", "/")) if prefix else path.replace("\\", "/"))
    posix = joined.replace(os.sep, "/")
    if posix in (".", "") or posix == ".." or posix.startswith("../"):
        return None
    return posix


def repo_uri(prefix: str, location: Location) -> str | None:
    """The percent-encoded, repository-relative URI of a location, or None."""
    path = repo_path(prefix, location.path)
    return None if path is None else quote(scrub_surrogates(path), safe="/")


def _rule(check: CheckResult) -> dict[str, Any]:
    """A reporting descriptor for one check id."""
    rule: dict[str, Any] = {
        "id": check.check_id,
        "name": "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", check.check_id)) or "Check",
        "shortDescription": {"text": check.title},
        "properties": {"tags": ["grade", check.check_id.split(".")[0]]},
    }
    if check.remediation:
        rule["help"] = {"text": check.remediation}
    return rule


def _result(check: CheckResult, message: str, uri: str, line: int | None, index: int) -> dict[str, Any]:
    """One finding at one location."""
    region = {"region": {"startLine": line}} if line is not None and line >= 1 else {}
    key = "\x1f".join((check.check_id, uri, "" if line is None else str(line), message))
    digest = hashlib.sha256(scrub_surrogates(key).encode("utf-8")).hexdigest()[:32]
    return {
        "ruleId": check.check_id,
        "ruleIndex": index,
        "level": _LEVELS[check.outcome],
        "message": {"text": f"{message} ({check.summary})"},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri, "uriBaseId": SRCROOT}, **region}}],
        "partialFingerprints": {FINGERPRINT_KEY: digest},
    }
