"""Mermaid validation: Mermaid's own parser run in Node, and the structural check used without it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.probes.mermaid import parser_script, structural, structural_check, validate
from tests.conftest import require, require_tool

FLOWCHART = "flowchart LR\n  a[Client] --> b(API)\n  subgraph backend\n    b --> c[(DB)]\n  end"
ER = "erDiagram\n  USER ||--o{ ORDER : places\n  USER {\n    int id PK\n  }"
SEQUENCE = "sequenceDiagram\n  A->>B: GET /x (cached\n  loop every 5s\n    A->>B: ping\n  end"
CLASS = "---\ntitle: Shop\n---\n%% comment\nclassDiagram\n  class Cart {\n    +total() int\n  }\n  Cart <|-- Basket"
UNCLOSED = "flowchart TD\n  a[Client --> b(API"
NO_END = "graph LR\n  a --> b\n  subgraph x\n  c"
TYPO = "flochart TD\n  a --> b"


@pytest.mark.parametrize(
    ("text", "ok", "line", "error"),
    [
        (FLOWCHART, True, None, None),
        (ER, True, None, None),
        (SEQUENCE, True, None, None),  # message text may hold an unbalanced bracket
        (CLASS, True, None, None),
        ('graph LR\n  a>flag] --> b["a (b"]', True, None, None),
        (UNCLOSED, False, 2, "unclosed '('"),
        (NO_END, False, 3, "block opened here has no `end`"),
        ("sequenceDiagram\n  end", False, 2, "`end` closes no block"),
        (TYPO, False, 1, "unknown diagram type 'flochart'"),
        ('flowchart LR\n  a["open] --> b', False, 2, 'unbalanced " quote'),
        ("%% only a comment\n", False, None, "empty diagram"),
    ],
)
def test_structural_check(text: str, ok: bool, line: int | None, error: str | None) -> None:
    result = structural_check(text)
    assert (result.ok, result.error_line, result.error) == (ok, line, error)


def test_the_structural_fallback_says_it_is_one() -> None:
    verdict = structural([FLOWCHART, TYPO], "Node.js is not installed")
    assert not verdict.official and verdict.method.startswith("structural check only")
    assert verdict.method.endswith("Node.js is not installed")
    assert [r.ok for r in verdict.results] == [True, False]


@pytest.mark.slow
def test_mermaids_own_parser_judges_real_diagrams(tmp_path: Path) -> None:
    require_tool("node")
    require(shutil.which("npm") is not None or parser_script()[0] is not None, "npm is not installed")
    verdict = validate([FLOWCHART, ER, SEQUENCE, CLASS, UNCLOSED, NO_END, TYPO], tmp_path)
    assert verdict.official and verdict.method.startswith("Mermaid's own parser (mermaid 11."), verdict.method
    assert [r.ok for r in verdict.results] == [True, True, True, True, False, False, False]
    assert [r.diagram_type for r in verdict.results[:4]] == ["flowchart-v2", "er", "sequence", "classDiagram"]
    unclosed = verdict.results[4]
    assert (
        unclosed.error_line == 2 and unclosed.error is not None and unclosed.error.startswith("Parse error on line 2")
    )
    assert verdict.results[6].error is not None and "No diagram type detected" in verdict.results[6].error


def test_no_diagram_needs_no_parser(tmp_path: Path) -> None:
    verdict = validate([], tmp_path)
    assert verdict.results == () and verdict.official


def test_without_node_each_diagram_gets_the_structural_check_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("grader.probes.mermaid.shutil.which", lambda _name: None)
    verdict = validate([FLOWCHART, UNCLOSED], tmp_path)
    assert not verdict.official and verdict.method.endswith("Node.js is not installed")
    assert [r.ok for r in verdict.results] == [True, False]
