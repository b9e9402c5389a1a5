"""Portfolio checks: the professional README (on the fixtures and on hand-written READMEs) and the live demo."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from checks.portfolio import live_demo, readme_professional
from grader.api import grade
from grader.facts import Facts
from grader.model import GradeRequest, Location, Outcome, Verdict
from grader.probes.deploy import SiteFacts
from grader.probes.live import Exchange
from grader.probes.repo import RepoFacts


def judge_readme(text: str | None, name: str = "README.md") -> Verdict:
    texts = {} if text is None else {name: text}
    repo = RepoFacts(Path("/x"), tuple(texts), tuple(texts), "git", {}, None, None, None, None, texts)
    return readme_professional(Facts({"repo": repo}), {})


def found(verdict: Verdict) -> dict[str, int | None]:
    """What each evidence line says -> its README line."""
    return {e.message: e.location.line if e.location else None for e in verdict.evidence}


def test_the_good_fixture_readme_has_every_element(built_fixture: Callable[[str], Path]) -> None:
    report = grade(GradeRequest(path=built_fixture("cicd-good"), phase=10, only=("repo.readme_professional",)))
    (result,) = [c for criterion in report.criteria for c in criterion.checks]
    assert result.outcome is Outcome.PASS, result.summary
    assert {e.message.split(":")[0]: e.location for e in result.evidence} == {
        "setup instructions": Location("README.md", 12),
        "an architecture diagram": Location("README.md", 31),
        "a link to the API docs": Location("README.md", 10),
        "test figures": Location("README.md", 3),
        "coverage figures": Location("README.md", 4),
    }


def test_the_flawed_fixture_readme_has_none(built_fixture: Callable[[str], Path]) -> None:
    report = grade(GradeRequest(path=built_fixture("cicd-flawed"), phase=10, only=("repo.readme_professional",)))
    (result,) = [c for criterion in report.criteria for c in criterion.checks]
    assert (result.outcome, result.score) == (Outcome.FAIL, 0.0)
    assert "no architecture diagram" in [e.message for e in result.evidence]


PLAIN_TEXT_README = """\
# Shop API

## Installation

    npm install

## Architecture

```text
client -> nginx -> api -> postgres
```

Interactive docs are served at `http://localhost:3000/api-docs` (Swagger UI).

## Quality

- 212 passing tests
- Statement coverage: 87.5 %
"""


def test_plain_text_figures_a_text_diagram_and_a_docs_path() -> None:
    verdict = judge_readme(PLAIN_TEXT_README)
    assert verdict.outcome is Outcome.PASS, verdict.summary
    assert found(verdict) == {
        "setup instructions: section 'Installation'": 3,
        "an architecture diagram: a text diagram under 'Architecture'": 9,
        "a link to the API docs: API docs link http://localhost:3000/api-docs": 13,
        "test figures: '212 passing tests'": 17,
        "coverage figures: 'coverage: 87.5 %'": 18,
    }


def test_headings_in_code_blocks_and_prose_mentions_do_not_count() -> None:
    text = """\
# Blog API

```bash
# install dependencies
echo nothing here
```

We describe the API with OpenAPI. Coverage is good.
![screenshot](docs/screenshot.png)
"""
    verdict = judge_readme(text)
    assert (verdict.outcome, verdict.score) == (Outcome.FAIL, 0.0)
    assert verdict.summary == (
        "README.md lacks setup instructions, an architecture diagram, a link to the API docs, test figures, "
        "coverage figures"
    )


@pytest.mark.parametrize(
    ("line", "element"),
    [
        (
            "![System architecture](docs/architecture.png)",
            "an architecture diagram: diagram image docs/architecture.png",
        ),
        ('<img src="docs/c4-context.svg" width="600">', "an architecture diagram: diagram image docs/c4-context.svg"),
        (
            "See the [Swagger UI](https://shop.example.com/docs).",
            "a link to the API docs: API docs link https://shop.example.com/docs",
        ),
        (
            "[![codecov](https://codecov.io/gh/me/shop/badge.svg)](https://codecov.io/gh/me/shop)",
            "coverage figures: badge https://codecov.io/gh/me/shop/badge.svg",
        ),
        ("Coverage: 92%", "coverage figures: 'Coverage: 92%'"),
        ("Tests: 48 passed", "test figures: 'Tests: 48 passed'"),
    ],
)
def test_each_element_alone_earns_a_fifth(line: str, element: str) -> None:
    verdict = judge_readme(f"# Shop\n\n{line}\n")
    assert (verdict.outcome, verdict.score) == (Outcome.FAIL, 0.2)
    assert found(verdict)[element] == 3


def test_no_readme() -> None:
    verdict = judge_readme(None)
    assert (verdict.outcome, verdict.summary) == (Outcome.FAIL, "no README at the project root")


def demo(status: int | None, elapsed_ms: float, error: str | None = None) -> Verdict:
    exchange = Exchange("GET", "https://demo.example.com/", {}, None, status, {}, "", elapsed_ms, error)
    site = SiteFacts("https://demo.example.com/", exchange, 30.0)
    return live_demo(Facts({"deploy.live": site}), {"max_seconds": 10})


def test_live_demo_outcomes() -> None:
    assert demo(200, 120).outcome is Outcome.PASS
    slow = demo(200, 23_000)
    assert slow.outcome is Outcome.WARN and "took 23 s (over 10 s: a cold start?)" in slow.summary
    assert (slow.value, slow.threshold, slow.unit) == (23.0, 10.0, "s")
    broken = demo(502, 80)
    assert broken.outcome is Outcome.FAIL and broken.summary == "https://demo.example.com/ answered 502"
    down = demo(None, 30_000, "ConnectTimeout: timed out")
    assert down.outcome is Outcome.FAIL
    assert down.summary == "https://demo.example.com/ did not answer within 30 s: ConnectTimeout: timed out"
    assert down.evidence[0].message == "GET https://demo.example.com/ -> ConnectTimeout: timed out in 30 s"
