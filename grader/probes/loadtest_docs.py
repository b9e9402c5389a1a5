"""Load-test scripts (k6, Locust, Artillery, autocannon) and documents that report their results."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from grader.facts import ProbeContext
from grader.plugin import probe
from grader.probes.repo import RepoFacts

MAX_BYTES = 200_000
_SCRIPT_SUFFIXES = (".js", ".mjs", ".cjs", ".ts", ".py", ".yml", ".yaml", ".json")
_DOC_SUFFIXES = (".md", ".markdown", ".rst", ".txt")
# What marks a file as a load-test script for each tool.
_TOOL_MARKERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("k6", re.compile(r"""from\s+['"]k6(/http)?['"]|require\(\s*['"]k6""")),
    ("locust", re.compile(r"^\s*from\s+locust\s+import|^\s*import\s+locust\b", re.M)),
    ("artillery", re.compile(r"^config:\s*$[\s\S]*?^\s+target:[\s\S]*?^scenarios:", re.M)),
    ("autocannon", re.compile(r"""require\(\s*['"]autocannon['"]\s*\)|from\s+['"]autocannon['"]|\bautocannon\s+-""")),
)
_LOAD_WORDS = re.compile(r"\b(load[- ]?test\w*|stress[- ]?test\w*|benchmark\w*|k6|locust|artillery|autocannon)\b", re.I)
# A measured figure: a percentile or latency in ms/s, or a throughput in requests per second.
_FIGURE = re.compile(
    r"\b(p\(?9[059]\)?|p50|median|latency|avg|average)\b[^\n]{0,40}?\d+(\.\d+)?\s*(ms|s)\b"
    r"|\d[\d,.]*\s*(req(uest)?s?\s*/\s*s(ec)?|rps|requests per second)\b",
    re.I,
)


@dataclass(frozen=True, slots=True)
class LoadTestScript:
    """A file that drives a load test, and the tool it uses."""

    path: str
    tool: str


@dataclass(frozen=True, slots=True)
class LoadTestDoc:
    """A document about load testing, and the first measured figure it reports (if any)."""

    path: str
    line: int | None  # the line of the first figure
    figure: str | None


@dataclass(frozen=True, slots=True)
class LoadTestArtifacts:
    """The load-test scripts and documents found in the repository."""

    scripts: tuple[LoadTestScript, ...]
    docs: tuple[LoadTestDoc, ...]


@probe("loadtest.files", timeout_s=60)
def load_test_files(ctx: ProbeContext) -> LoadTestArtifacts:
    """Find load-test scripts (k6, Locust, Artillery, autocannon) and the documents reporting their results."""
    repo = ctx.fact("repo", RepoFacts)
    return find_artifacts(repo.root, repo.files, repo.package_json or {})


def find_artifacts(root: Path, files: tuple[str, ...], package_json: dict[str, object]) -> LoadTestArtifacts:
    """Scan the small text files of the repository for load-test scripts and result documents."""
    scripts: list[LoadTestScript] = []
    docs: list[LoadTestDoc] = []
    for path in files:
        lower = path.lower()
        if lower.endswith(_SCRIPT_SUFFIXES) and (text := _read(root / path)) is not None:
            tool = next((name for name, marker in _TOOL_MARKERS if marker.search(text)), None)
            if tool is not None and path != "package.json":
                scripts.append(LoadTestScript(path, tool))
        if lower.endswith(_DOC_SUFFIXES) and (text := _read(root / path)) is not None and _LOAD_WORDS.search(text):
            docs.append(_doc(path, text))
    scripts += _package_scripts(package_json)
    return LoadTestArtifacts(tuple(scripts), tuple(docs))


def _doc(path: str, text: str) -> LoadTestDoc:
    match = _FIGURE.search(text)
    if match is None:
        return LoadTestDoc(path, None, None)
    return LoadTestDoc(path, text.count("\n", 0, match.start()) + 1, match.group(0).strip())


def _package_scripts(package_json: dict[str, object]) -> list[LoadTestScript]:
    """npm scripts that run a load-test tool, e.g. `"load": "autocannon -c 100 ..."` or `k6 run`."""
    scripts = package_json.get("scripts")
    if not isinstance(scripts, dict):
        return []
    found = []
    for name, command in scripts.items():
        if isinstance(command, str):
            tool = next(
                (t for t in ("k6", "locust", "artillery", "autocannon") if re.search(rf"\b{t}\b", command)), None
            )
            if tool is not None:
                found.append(LoadTestScript(f"package.json scripts.{name}", tool))
    return found


def _read(path: Path) -> str | None:
    """A small regular file's text, or None."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_BYTES:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
