"""The testing pyramid: unit, integration and end-to-end tests are all present."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grader.facts import Facts
from grader.model import Evidence, Location, Verdict
from grader.plugin import check
from grader.probes.test_layers import LAYER_LABELS, LAYERS, TestLayers

_MISSING_HINTS = {
    "unit": "tests of one function or module with its collaborators stubbed, e.g. `tests/unit/`",
    "integration": "tests that call the API through the app and a real database, e.g. Supertest in "
    "`tests/integration/` (Python: TestClient / app.test_client())",
    "e2e": "a few critical flows driven end to end (Playwright, Cypress, or a Supertest/NestJS `*.e2e-spec.ts` "
    "against the started app), e.g. `e2e/`",
}


@check(
    "tests.layers",
    title="Unit, integration and end-to-end tests are all present",
    requires=("tests.layer_files",),
    remediation="Grow a testing pyramid and make the layers visible: many unit tests (`tests/unit/`), integration "
    "tests of the API with a real database (`tests/integration/`, Supertest or TestClient), and a few end-to-end "
    "tests of critical flows (`e2e/` or `*.e2e-spec.ts`; Playwright or Cypress for a UI). Folder names or file "
    "names (`*.int.test.js`, `*.e2e-spec.ts`, `test_integration_*.py`) tell the grader which is which.",
)
def test_layers(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Sorts every test file into unit, integration or e2e (folder, name, then what it imports) and counts each."""
    layers = facts.get("tests.layer_files", TestLayers)
    evidence: list[Evidence] = []
    missing: list[str] = []
    for layer in LAYERS:
        files = layers.in_layer(layer)
        if not files:
            missing.append(LAYER_LABELS[layer])
            evidence.append(Evidence(f"no {LAYER_LABELS[layer]} tests: add {_MISSING_HINTS[layer]}"))
            continue
        tests = sum(f.tests for f in files)
        first = files[0]
        evidence.append(
            Evidence(
                f"{LAYER_LABELS[layer]}: {tests} test(s) in {len(files)} file(s), e.g. {first.path} ({first.reason})",
                Location(first.path),
            )
        )
    evidence += [Evidence(f"end-to-end runner configured: {c}", Location(c)) for c in layers.configs]
    present = len(LAYERS) - len(missing)
    kw: dict[str, Any] = {"value": present, "threshold": len(LAYERS), "unit": "layers", "evidence": tuple(evidence)}
    if not missing:
        return Verdict.passed("unit, integration and end-to-end tests are all present", **kw)
    return Verdict.failed(f"no {' and no '.join(missing)} tests", score=present / len(LAYERS), **kw)
