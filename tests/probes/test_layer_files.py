"""Test files sorted into unit, integration and end-to-end, read from real files."""

from __future__ import annotations

from pathlib import Path

from grader.probes.test_layers import classify
from grader.probes.test_static import inventory

JS_TEST = "test('works', () => { expect(1).toBe(1); });\n"
PY_TEST = "def test_works():\n    assert 1\n"


def write(root: Path, files: dict[str, str]) -> tuple[str, ...]:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return tuple(sorted(files))


def test_folders_names_then_imports_decide_the_layer(tmp_path: Path) -> None:
    files = write(
        tmp_path,
        {
            "tests/unit/pricing.test.js": JS_TEST,
            "tests/orders.int.test.js": JS_TEST,
            "tests/api.test.js": "const request = require('supertest');\n" + JS_TEST,
            "test/app.e2e-spec.ts": JS_TEST,
            "cypress/e2e/login.cy.js": "it('logs in', () => { cy.visit('/'); });\n",
            "tests/checkout.spec.ts": "import { test, expect } from '@playwright/test';\n" + JS_TEST,
            "tests/helpers/db.js": "module.exports = {};\n",
            "app/tests/test_api.py": "from fastapi.testclient import TestClient\n" + PY_TEST,
            "app/tests/integration/test_db.py": PY_TEST,
            "app/tests/test_models.py": PY_TEST,
            "playwright.config.ts": "export default {};\n",
            "test/jest-e2e.json": "{}\n",
        },
    )
    layers = classify(tmp_path, files, inventory(tmp_path, files))
    by_path = {f.path: (f.layer, f.reason, f.tests) for f in layers.files}
    assert by_path == {
        "tests/unit/pricing.test.js": ("unit", "under unit/", 1),
        "tests/orders.int.test.js": ("integration", "named as one", 1),
        "tests/api.test.js": ("integration", "uses supertest", 1),
        "test/app.e2e-spec.ts": ("e2e", "named as one", 1),
        "cypress/e2e/login.cy.js": ("e2e", "under cypress/", 1),
        "tests/checkout.spec.ts": ("e2e", "uses @playwright/test", 1),
        "tests/helpers/db.js": ("unit", "no HTTP client, browser driver or layer folder", 0),
        "app/tests/test_api.py": ("integration", "uses fastapi.testclient", 1),
        "app/tests/integration/test_db.py": ("integration", "under integration/", 1),
        "app/tests/test_models.py": ("unit", "no HTTP client, browser driver or layer folder", 1),
    }
    assert [f.path for f in layers.in_layer("unit")] == ["app/tests/test_models.py", "tests/unit/pricing.test.js"]
    assert layers.configs == ("playwright.config.ts", "test/jest-e2e.json")
