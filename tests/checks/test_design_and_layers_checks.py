"""design.docs and tests.layers judged on hand-built facts (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from checks.design import design_docs
from checks.test_layers import test_layers as layers_check
from grader.facts import Facts
from grader.model import Outcome, Verdict
from grader.probes.design_docs import ASPECTS, Aspect, Design, DesignDocs, Diagram
from grader.probes.test_layers import LayerFile, TestLayers

FLOWCHART = Diagram("docs/a.md", 5, "mermaid", "flowchart-v2", True, None)
METHOD = "Mermaid's own parser (mermaid 11.17.2)"


def design(title: str, *aspects: str, diagrams: tuple[Diagram, ...] = (FLOWCHART,), line: int = 1) -> Design:
    found = tuple(Aspect(a, line + 2, f"{a} here") for a in aspects)
    return Design(title, f"docs/{title.lower()}.md", line, found, diagrams)


def judged(designs: tuple[Design, ...], **options: Any) -> Verdict:
    facts = Facts({"docs.designs": DesignDocs(("docs/a.md",), designs, METHOD, True)})
    return design_docs(facts, {"min_designs": 5, "aspects": list(ASPECTS), **options})


def messages(verdict: Verdict) -> list[str]:
    return [f"{e.message} @ {e.location}" for e in verdict.evidence]


def test_five_complete_designs_pass() -> None:
    verdict = judged(tuple(design(f"D{i}", *ASPECTS) for i in range(5)))
    assert (verdict.outcome, verdict.value, verdict.threshold) == (Outcome.PASS, 5, 5)
    assert f"Mermaid diagrams checked with {METHOD} @ None" in messages(verdict)


def test_partial_credit_per_aspect_and_a_broken_diagram_counts_as_none() -> None:
    broken = Diagram("docs/chat.md", 7, "mermaid", None, False, "Parse error on diagram line 2", 9)
    designs = (
        design("Url", *ASPECTS),
        design("Limiter", "diagram", "schema", "api", "scalability"),
        design("Chat", *ASPECTS, diagrams=(FLOWCHART, broken)),
    )
    verdict = judged(designs)
    assert (verdict.outcome, verdict.value) == (Outcome.FAIL, 1)
    assert verdict.score == pytest.approx((1 + 0.8 + 0.8) / 5)
    found = messages(verdict)
    assert "Limiter: missing a Trade-offs section @ docs/limiter.md:1" in found
    assert "Chat: missing an architecture diagram @ docs/chat.md:1" in found
    assert "Chat: mermaid diagram does not parse: Parse error on diagram line 2 @ docs/chat.md:9" in found


def test_options_choose_the_aspects_and_how_many_designs() -> None:
    designs = (design("Url", "scalability"), design("Chat", "diagram"))
    scalability = judged(designs, aspects=["scalability"], min_designs=1)
    assert scalability.outcome is Outcome.PASS and "(scalability)" in scalability.summary
    with pytest.raises(ValueError, match="use some of diagram, schema, api, scalability, tradeoffs"):
        judged(designs, aspects=["colour"])


def test_no_design_at_all_fails_with_zero() -> None:
    verdict = judged(())
    assert (verdict.outcome, verdict.score, verdict.value) == (Outcome.FAIL, 0.0, 0)
    assert verdict.summary.startswith("no system design found")


def layered(*files: LayerFile, configs: tuple[str, ...] = ()) -> Verdict:
    return layers_check(Facts({"tests.layer_files": TestLayers(files, configs)}), {})


def test_all_three_layers_pass_and_each_missing_layer_costs_a_third() -> None:
    unit = LayerFile("tests/unit/a.test.js", "unit", "under unit/", 12)
    integration = LayerFile("tests/api.test.js", "integration", "uses supertest", 4)
    e2e = LayerFile("e2e/checkout.spec.js", "e2e", "under e2e/", 1)
    verdict = layered(unit, integration, e2e, configs=("playwright.config.js",))
    assert (verdict.outcome, verdict.value) == (Outcome.PASS, 3)
    assert (
        "end-to-end: 1 test(s) in 1 file(s), e.g. e2e/checkout.spec.js (under e2e/) @ e2e/checkout.spec.js"
        in messages(verdict)
    )
    helper = LayerFile("tests/integration/helpers.js", "integration", "under integration/", 0)
    unit_only = layered(unit, helper)
    assert (unit_only.outcome, unit_only.score, unit_only.summary) == (
        Outcome.FAIL,
        1 / 3,
        "no integration and no end-to-end tests",
    )
