"""The testing pyramid: each test file sorted into unit, integration or end-to-end, and why.

A file's folder or name says its layer when it can (`tests/integration/`, `e2e/`,
`*.e2e-spec.ts`, `*.int.test.js`, `cypress/`, `test_integration_*.py`). Otherwise what it
imports does: a browser driver (Playwright, Cypress, Puppeteer, Selenium) makes it end-to-end,
an in-process HTTP client (Supertest, FastAPI's TestClient, Flask's test_client, Fastify's
inject) or Testcontainers makes it an integration test, and anything else is a unit test.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import ClassVar

from grader.facts import ProbeContext
from grader.plugin import probe
from grader.probes.repo import RepoFacts
from grader.probes.test_static import TestInventory
from grader.probes.text_files import read_text

__test__ = False  # a probe module, not a pytest module, whatever its name says

LAYERS = ("unit", "integration", "e2e")
LAYER_LABELS = {"unit": "unit", "integration": "integration", "e2e": "end-to-end"}
_DIRS = {
    "e2e": frozenset({"e2e", "end-to-end", "end2end", "e2e-tests", "e2e_tests", "cypress", "playwright", "acceptance"}),
    "integration": frozenset({"integration", "integration-tests", "integration_tests", "int", "it"}),
    "unit": frozenset({"unit", "unit-tests", "unit_tests"}),
}
_NAMES = {
    "e2e": re.compile(
        r"[._-](e2e|e2e-spec|end-to-end)[._-]|\.cy\.[cm]?[jt]sx?$|^(test_)?e2e[._-]|_e2e(_test)?\.py$", re.I
    ),
    "integration": re.compile(
        r"[._-](int|integration|it)[._-](test|spec)|^(test_)?integration[._-]|_integration(_test)?\.py$", re.I
    ),
    "unit": re.compile(r"[._-]unit[._-](test|spec)|^(test_)?unit[._-]|_unit(_test)?\.py$", re.I),
}
_IMPORTS = (
    (
        "e2e",
        re.compile(
            r"""['"](@playwright/test|playwright|cypress|puppeteer|selenium-webdriver|webdriverio|testcafe)['"]"""
            r"|^\s*(?:from|import)\s+(playwright|selenium|splinter)\b",
            re.M,
        ),
    ),
    (
        "integration",
        re.compile(
            r"""['"](supertest|light-my-request|testcontainers|pactum)['"]"""
            r"|^\s*(?:from|import)\s+(fastapi\.testclient|starlette\.testclient|testcontainers)\b"
            r"|(\.test_client\(|\bTestClient\(|\.inject\(\{)",
            re.M,
        ),
    ),
)
_E2E_CONFIG = re.compile(
    r"^(cypress\.config\.[cm]?[jt]s|cypress\.json|playwright\.config\.[cm]?[jt]s|wdio\.conf\.[cm]?[jt]s"
    r"|jest-e2e\.json|\.?testcaferc\.json)$",
    re.I,
)
MAX_BYTES = 300_000


@dataclass(frozen=True, slots=True)
class LayerFile:
    """One test file, its layer, why, and how many test cases it declares."""

    path: str
    layer: str  # one of LAYERS
    reason: str
    tests: int


@dataclass(frozen=True, slots=True)
class TestLayers:
    """The repository's test files by layer, and the end-to-end runner configurations found."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    files: tuple[LayerFile, ...]
    configs: tuple[str, ...]

    def in_layer(self, layer: str) -> tuple[LayerFile, ...]:
        """The files of one layer that declare at least one test."""
        return tuple(f for f in self.files if f.layer == layer and f.tests > 0)


@probe("tests.layer_files", timeout_s=120)
def test_layer_files(ctx: ProbeContext) -> TestLayers:
    """Sort the test files (as the static test inventory lists them) into unit, integration and e2e."""
    repo = ctx.fact("repo", RepoFacts)
    inventory = ctx.fact("tests.static", TestInventory)
    return classify(repo.root, repo.files, inventory)


def classify(root: Path, files: Sequence[str], inventory: TestInventory) -> TestLayers:
    """The layer of every test file of `inventory`, with the number of tests it declares."""
    counts = Counter(t.file for t in inventory.tests)
    layered = []
    for path in inventory.test_files:
        layer, reason = layer_of(path, partial(_source, root, path))
        layered.append(LayerFile(path, layer, reason, counts[path]))
    configs = tuple(f for f in files if _E2E_CONFIG.match(PurePosixPath(f).name))
    return TestLayers(tuple(layered), configs)


def layer_of(path: str, text: Callable[[], str]) -> tuple[str, str]:
    """(layer, reason) for one test file; `text` reads its contents only when the path does not tell."""
    *dirs, name = path.lower().split("/")
    for layer in LAYERS:
        folder = next((d for d in dirs if d in _DIRS[layer]), None)
        if folder is not None:
            return layer, f"under {folder}/"
    for layer in LAYERS:
        if _NAMES[layer].search(name):
            return layer, "named as one"
    source = text()
    for layer, pattern in _IMPORTS:
        match = pattern.search(source)
        if match is not None:
            used = next(g for g in match.groups() if g).strip("(.{")
            return layer, f"uses {used}"
    return "unit", "no HTTP client, browser driver or layer folder"


def _source(root: Path, path: str) -> str:
    return read_text(root, path, MAX_BYTES).text or ""
