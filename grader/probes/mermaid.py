"""Is a Mermaid diagram valid? Mermaid's own parser when it can run here, else a stated structural check.

There is no Mermaid parser for Python, and `@mermaid-js/parser` only covers the newest
diagram types (pie, gitGraph, architecture...), not flowcharts, sequence or ER diagrams. So
`grader/mermaid/validate.mjs` runs `mermaid.parse` itself in Node (jsdom stands in for the
browser DOM that Mermaid's label sanitiser needs). Its pinned packages are installed once with
`npm ci` into the grader's cache. Without Node or npm, or offline, each diagram gets a
structural check instead (known diagram type, balanced brackets and quotes, `end` for every
block), and every result says which of the two judged it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox import cache_dir, run_process, scrubbed_env

PARSER_SOURCE = Path(__file__).resolve().parent.parent / "mermaid"
_PARSER_FILES = ("package.json", "package-lock.json", "validate.mjs")
INSTALL_TIMEOUT_S = 300.0
PARSE_TIMEOUT_S = 120.0

# The first word of a diagram, as Mermaid 11 detects it (`graph` is the old name of `flowchart`).
DIAGRAM_TYPES = frozenset(
    t.lower()
    for t in (
        "flowchart", "flowchart-elk", "graph", "sequenceDiagram", "classDiagram", "classDiagram-v2", "stateDiagram",
        "stateDiagram-v2", "erDiagram", "journey", "gantt", "pie", "quadrantChart", "requirementDiagram", "gitGraph",
        "C4Context", "C4Container", "C4Component", "C4Dynamic", "C4Deployment", "mindmap", "timeline", "zenuml",
        "sankey-beta", "sankey", "xychart-beta", "xychart", "block-beta", "block", "packet-beta", "packet",
        "architecture-beta", "kanban", "radar-beta", "treemap-beta", "info",
    )
)  # fmt: skip
# Diagram types whose blocks close with `end`, and the words that open one.
_BLOCK_OPENERS = {
    "flowchart": re.compile(r"^subgraph\b"),
    "graph": re.compile(r"^subgraph\b"),
    "sequencediagram": re.compile(r"^(loop|alt|opt|par|critical|break|rect|box)\b"),
}
_BRACKETED = frozenset({"flowchart", "graph", "erdiagram", "classdiagram", "classdiagram-v2", "statediagram-v2"})
_ASYMMETRIC_NODE = re.compile(r"\w>[^\]\n]*\]")  # flowchart `id>label]` opens with > and closes with ]
_ER_CARDINALITY = re.compile(r"(\|o|\|\||\}o|\}\|)(--|\.\.)(o\||\|\||o\{|\|\{)")
_PAIRS = {"(": ")", "[": "]", "{": "}"}


@dataclass(frozen=True, slots=True)
class MermaidResult:
    """The verdict on one diagram."""

    ok: bool
    diagram_type: str | None
    error: str | None
    error_line: int | None  # 1-based line within the diagram, when the parser says


@dataclass(frozen=True, slots=True)
class MermaidValidation:
    """Results for a batch of diagrams, and how they were judged."""

    method: str  # e.g. "Mermaid's own parser (mermaid 11.17.2)" or "structural check (...)"
    official: bool
    results: tuple[MermaidResult, ...]


def validate(diagrams: Sequence[str], workdir: Path) -> MermaidValidation:
    """Judge every diagram, with Mermaid's parser if it can be installed and run, else structurally."""
    if not diagrams:
        return MermaidValidation("no diagram to check", True, ())
    script, why_not = parser_script()
    if script is None:
        return structural(diagrams, why_not)
    source = workdir / "mermaid-diagrams.json"
    target = workdir / "mermaid-results.json"
    source.write_text(json.dumps(list(diagrams)), encoding="utf-8")
    node = shutil.which("node") or "node"
    try:
        run = run_process(
            [node, str(script), str(source), str(target)],
            cwd=script.parent,
            env=scrubbed_env({"HOME": str(workdir)}),
            timeout_s=PARSE_TIMEOUT_S,
        )
        raw = json.loads(target.read_text(encoding="utf-8")) if run.ok else None
    except (OSError, ValueError):
        raw, run = None, None
    if not isinstance(raw, list) or len(raw) != len(diagrams):
        tail = run.tail[-300:] if run is not None else "it could not be started"
        return structural(diagrams, f"Mermaid's parser did not run: {tail}")
    version = _installed_version(script.parent)
    return MermaidValidation(
        f"Mermaid's own parser (mermaid {version})", True, tuple(_from_parser(item) for item in raw)
    )


def parser_script() -> tuple[Path | None, str]:
    """The installed validate.mjs (installing the pinned packages on first use), or None and why not."""
    if shutil.which("node") is None:
        return None, "Node.js is not installed"
    try:
        digest = hashlib.sha256(b"".join((PARSER_SOURCE / f).read_bytes() for f in _PARSER_FILES)).hexdigest()[:16]
    except OSError as exc:
        return None, f"this installation of grade lacks {PARSER_SOURCE.name}/ ({exc.strerror})"
    home = cache_dir() / "tools" / f"mermaid-{digest}"
    if (home / "node_modules" / "mermaid" / "package.json").is_file():
        return home / "validate.mjs", ""
    npm = shutil.which("npm")
    if npm is None:
        return None, "npm is not installed, so Mermaid's parser could not be installed"
    staging = home.with_name(f"{home.name}.{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in _PARSER_FILES:
        shutil.copy2(PARSER_SOURCE / name, staging / name)
    run = run_process(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=staging,
        env=scrubbed_env(),
        timeout_s=INSTALL_TIMEOUT_S,
    )
    if not run.ok:
        shutil.rmtree(staging, ignore_errors=True)
        return None, f"installing Mermaid's parser with npm failed: {run.tail[-300:]}"
    try:
        os.replace(staging, home)
    except OSError:  # another grading process installed it first
        shutil.rmtree(staging, ignore_errors=True)
    return home / "validate.mjs", ""


def _installed_version(home: Path) -> str:
    try:
        return str(json.loads((home / "node_modules" / "mermaid" / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "unknown version"


def _from_parser(item: object) -> MermaidResult:
    if not isinstance(item, dict):
        return MermaidResult(False, None, "the parser returned no result", None)
    error = item.get("error")
    if item.get("ok"):
        return MermaidResult(True, str(item.get("type")), None, None)
    message = str(error or "does not parse")
    line = re.search(r"\bon line (\d+)", message)
    summary = " ".join(message.split())[:300]
    return MermaidResult(False, None, summary, int(line.group(1)) if line else None)


# ---------------------------------------------------------------- structural check


def structural(diagrams: Sequence[str], why: str) -> MermaidValidation:
    """The fallback: each diagram checked for its shape only."""
    return MermaidValidation(
        f"structural check only (known diagram type, balanced brackets and quotes, matching `end`): {why}",
        False,
        tuple(structural_check(d) for d in diagrams),
    )


def structural_check(text: str) -> MermaidResult:
    """A known diagram type first, then balanced brackets and quotes, and an `end` for each block."""
    lines = _content_lines(text)
    if not lines:
        return MermaidResult(False, None, "empty diagram", None)
    first_number, first = lines[0]
    word = first.split()[0]
    kind = word.lower()
    if kind not in DIAGRAM_TYPES:
        return MermaidResult(False, None, f"unknown diagram type {word!r}", first_number)
    if kind in _BRACKETED and (problem := _bracket_problem(lines[1:])) is not None:
        return MermaidResult(False, word, problem[1], problem[0])
    opener = _BLOCK_OPENERS.get(kind)
    open_blocks: list[int] = []
    for number, line in lines[1:]:
        if opener is not None and opener.match(line):
            open_blocks.append(number)
        elif opener is not None and re.fullmatch(r"end\s*;?", line):
            if not open_blocks:
                return MermaidResult(False, word, "`end` closes no block", number)
            open_blocks.pop()
    if open_blocks:
        return MermaidResult(False, word, "block opened here has no `end`", open_blocks[-1])
    return MermaidResult(True, word, None, None)


def is_er_diagram(diagram_type: str | None) -> bool:
    """Whether a diagram type (as either judge names it) is an entity-relationship diagram."""
    return (diagram_type or "").lower() in ("er", "erdiagram")


def _content_lines(text: str) -> list[tuple[int, str]]:
    """(line number, stripped line) of the diagram, without front matter, %% comments and blank lines."""
    raw = text.splitlines()
    start = 0
    if raw and raw[0].strip() == "---":
        closing = next((i for i in range(1, len(raw)) if raw[i].strip() == "---"), None)
        start = closing + 1 if closing is not None else 0
    return [
        (i + 1, line.strip())
        for i, line in enumerate(raw)
        if i >= start and line.strip() and not line.strip().startswith("%%")
    ]


def _bracket_problem(lines: Sequence[tuple[int, str]]) -> tuple[int, str] | None:
    """(line, problem) for the first unbalanced quote or bracket; quoted text, `id>label]` nodes and ER
    cardinalities (`||--o{`) set aside, since a bracket there is not an opening one."""
    stack: list[tuple[str, int]] = []
    for number, line in lines:
        if line.count('"') % 2:
            return number, 'unbalanced " quote'
        plain = _ER_CARDINALITY.sub("--", _ASYMMETRIC_NODE.sub("", re.sub(r'"[^"]*"', '""', line)))
        for char in plain:
            if char in _PAIRS:
                stack.append((char, number))
            elif char in _PAIRS.values() and (not stack or _PAIRS[stack.pop()[0]] != char):
                return number, f"unexpected {char!r}"
    return (stack[-1][1], f"unclosed {stack[-1][0]!r}") if stack else None
