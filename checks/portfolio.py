"""Portfolio checks: a README that sells the project, and a live demo that answers."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from checks._evidence import display
from checks._parts import ratio
from grader.facts import Facts
from grader.model import Evidence, Location, Verdict
from grader.plugin import check
from grader.probes.deploy import SiteFacts
from grader.probes.repo import RepoFacts

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_SETUP_HEADING = re.compile(
    r"\b(setup|set-up|set up|install\w*|getting started|quick ?start|prerequisites|running locally|local development)"
    r"\b",
    re.I,
)
_INSTALL_COMMAND = re.compile(
    r"\b(npm (ci|install|i)|yarn install|pnpm (i|install)|pip install|poetry install|uv sync|docker(-| )compose up)\b"
)
_DIAGRAM_FENCE = re.compile(r"^\s*(```|~~~)\s*(mermaid|plantuml|puml)\b", re.I)
_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?([^)\s>]+)|<img\b[^>]*\bsrc\s*=\s*[\"']([^\"']+)", re.I)
_DIAGRAM_WORDS = re.compile(r"architect|diagram|design|system|\bc4\b|infra|\.drawio", re.I)
_ARCHITECTURE_HEADING = re.compile(r"architect|design|diagram", re.I)
_LINK = re.compile(r"\[([^\]]*)\]\(\s*<?([^)\s>]+)|https?://[^\s)>\]]+|`([^`\n]+)`")
_API_DOCS = re.compile(r"api[-_]?docs|swagger|openapi|redoc", re.I)
_TEST_FIGURE = re.compile(
    r"\b\d[\d,]*\s+(?:passing\s+|unit\s+|integration\s+|e2e\s+|end-to-end\s+)*tests?\b"
    r"|\btests?\b[^\n]{0,20}?\b\d+\s+(?:passed|passing)\b",
    re.I,
)
_TEST_BADGE = re.compile(r"/actions/workflows/[^)\s]*badge\.svg|shields\.io/[^)\s]*\b(tests?|ci|build)\b", re.I)
_COVERAGE_FIGURE = re.compile(
    r"\bcoverage\b[^\n%]{0,40}?\d{1,3}(?:\.\d+)?\s*%|\d{1,3}(?:\.\d+)?\s*%[^\n]{0,25}?\bcoverage\b", re.I
)
_COVERAGE_BADGE = re.compile(r"codecov|coveralls|shields\.io/[^)\s]*coverage", re.I)


@dataclass(frozen=True, slots=True)
class _Readme:
    """A README's lines, which are fenced code (and which open a fence), and the heading each line falls under."""

    lines: tuple[str, ...]
    fenced: tuple[bool, ...]
    openings: frozenset[int]
    section: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> _Readme:
        lines = tuple(text.splitlines())
        fenced: list[bool] = []
        openings: set[int] = set()
        section: list[str] = []
        inside, heading = False, ""
        for index, line in enumerate(lines):
            fence = _FENCE.match(line) is not None
            if not inside and not fence and (match := _HEADING.match(line)):
                heading = match.group(1)
            if fence and not inside:
                openings.add(index)
            fenced.append(inside or fence)
            section.append(heading)
            inside = inside != fence
        return cls(lines, tuple(fenced), frozenset(openings), tuple(section))

    def first(self, matches: Callable[[int, str], str | None]) -> tuple[int, str] | None:
        """The first (line number, what was found) for which `matches(index, line)` finds something."""
        for index, line in enumerate(self.lines):
            if (found := matches(index, line)) is not None:
                return index + 1, found
        return None

    def heading(self, index: int, pattern: re.Pattern[str]) -> str | None:
        if self.fenced[index] or not (match := _HEADING.match(self.lines[index])):
            return None
        return f"section '{match.group(1)}'" if pattern.search(match.group(1)) else None


def _setup(readme: _Readme) -> tuple[int, str] | None:
    found = readme.first(lambda i, line: readme.heading(i, _SETUP_HEADING))
    return found or readme.first(lambda _i, line: _quoted(_INSTALL_COMMAND.search(line)))


def _diagram(readme: _Readme) -> tuple[int, str] | None:
    def matches(index: int, line: str) -> str | None:
        if fence := _DIAGRAM_FENCE.match(line):
            return f"a {fence.group(2).lower()} diagram"
        for image in _IMAGE.finditer(line):
            alt, src = image.group(1) or "", image.group(2) or image.group(3) or ""
            if _DIAGRAM_WORDS.search(f"{alt} {src}") or _ARCHITECTURE_HEADING.search(readme.section[index]):
                return f"diagram image {src}"
        if index in readme.openings and _ARCHITECTURE_HEADING.search(readme.section[index]):
            return f"a text diagram under '{readme.section[index]}'"
        return None

    return readme.first(matches)


def _api_docs(readme: _Readme) -> tuple[int, str] | None:
    def matches(_index: int, line: str) -> str | None:
        for link in _LINK.finditer(line):
            text = link.group(0)
            if _API_DOCS.search(text) and (link.group(3) is None or "/" in text):
                return f"API docs link {link.group(2) or link.group(3) or text}"
        return None

    return readme.first(matches)


def _figure(readme: _Readme, figure: re.Pattern[str], badge: re.Pattern[str]) -> tuple[int, str] | None:
    def matches(_index: int, line: str) -> str | None:
        for image in _IMAGE.finditer(line):
            if badge.search(image.group(0)):
                return f"badge {image.group(2) or image.group(3)}"
        found = figure.search(line)
        return repr(found.group(0).strip()) if found else None

    return readme.first(matches)


def _quoted(match: re.Match[str] | None) -> str | None:
    return f"`{match.group(0)}`" if match else None


_ELEMENTS: dict[str, Callable[[_Readme], tuple[int, str] | None]] = {
    "setup instructions": _setup,
    "an architecture diagram": _diagram,
    "a link to the API docs": _api_docs,
    "test figures": lambda r: _figure(r, _TEST_FIGURE, _TEST_BADGE),
    "coverage figures": lambda r: _figure(r, _COVERAGE_FIGURE, _COVERAGE_BADGE),
}


@check(
    "repo.readme_professional",
    title="A professional README: setup, an architecture diagram, API docs, test and coverage figures",
    requires=("repo",),
    remediation="Give the README what a reviewer looks for: a Setup (or Installation) section with the commands; "
    "an architecture diagram (a ```mermaid block GitHub renders, or an image such as docs/architecture.png); a "
    "link to the API docs (Swagger UI at /api-docs, or the OpenAPI file); and the test figures: how many tests, "
    "and the coverage (a CI and a coverage badge, or a line like 'coverage 92%').",
)
def readme_professional(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Reads the root README for a setup section, a diagram, an API docs link, and test and coverage figures."""
    repo = facts.get("repo", RepoFacts)
    name = repo.top_level("README.md", "README", "README.rst", "README.txt")
    if name is None:
        return Verdict.failed("no README at the project root")
    readme = _Readme.parse(repo.texts.get(name, ""))
    where = display(name)
    evidence = []
    missing = []
    for element, find in _ELEMENTS.items():
        found = find(readme)
        if found is None:
            missing.append(element)
            evidence.append(Evidence(f"no {element.removeprefix('a ').removeprefix('an ')}", Location(where)))
        else:
            evidence.append(Evidence(f"{element}: {display(found[1])}", Location(where, found[0])))
    score = ratio(len(_ELEMENTS) - len(missing), len(_ELEMENTS))
    if not missing:
        return Verdict.passed(f"{where} has {', '.join(_ELEMENTS)}", evidence=tuple(evidence))
    return Verdict.failed(f"{where} lacks {', '.join(missing)}", score=score, evidence=tuple(evidence))


@check(
    "portfolio.live_demo",
    title="The live demo answers (2xx or 3xx) within {max_seconds} s",
    requires=("deploy.live",),
    defaults={"max_seconds": 10},
    threshold="max_seconds",
    remediation="Keep the demo deployed and reachable, and pass the URL of a page that answers (e.g. "
    "`--live-url https://api.example.com/health` or the Swagger UI). A free-tier host that sleeps makes the "
    "first visitor wait: keep it warm or use an always-on instance.",
)
def live_demo(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Sends one GET to the --live-url (no redirect followed) and reads the status and the time it took."""
    site = facts.get("deploy.live", SiteFacts)
    exchange = site.exchange
    limit = float(options["max_seconds"])
    seconds = round(exchange.elapsed_ms / 1000, 2)
    measured: dict[str, Any] = {"value": seconds, "threshold": limit, "unit": "s"}
    evidence = (Evidence(f"{exchange.summary} in {seconds:g} s", detail=exchange.detail),)
    if exchange.status is None:
        return Verdict.failed(
            f"{site.url} did not answer within {site.timeout_s:g} s: {exchange.error}", evidence=evidence, **measured
        )
    if not 200 <= exchange.status < 400:
        return Verdict.failed(f"{site.url} answered {exchange.status}", evidence=evidence, **measured)
    if seconds > limit:
        return Verdict.warned(
            f"{site.url} answered {exchange.status} but took {seconds:g} s (over {limit:g} s: a cold start?)",
            evidence=evidence,
            **measured,
        )
    return Verdict.passed(f"{site.url} answered {exchange.status} in {seconds:g} s", evidence=evidence, **measured)
