"""Load-test scripts and result documents, found in real files; the check judged on them."""

from __future__ import annotations

from pathlib import Path

from checks.performance import load_test_documented
from grader.facts import Facts
from grader.model import Outcome
from grader.probes.loadtest_docs import LoadTestArtifacts, LoadTestDoc, find_artifacts

K6 = """\
import http from 'k6/http';
export const options = { vus: 100, duration: '30s' };
export default () => http.get('http://localhost:3000/tasks');
"""
LOCUST = """\
from locust import HttpUser, task

class Shopper(HttpUser):
    @task
    def browse(self):
        self.client.get('/products')
"""
ARTILLERY = """\
config:
  target: 'http://localhost:3000'
  phases:
    - duration: 60
      arrivalRate: 20
scenarios:
  - flow:
      - get:
          url: '/orders'
"""
RESULTS = """\
# Load testing

Ran k6 with 100 virtual users for 30 s.

| metric | value |
|---|---|
| p95 latency | 142 ms |
| throughput | 850 req/s |
"""


def write(root: Path, files: dict[str, str]) -> tuple[str, ...]:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return tuple(sorted(files))


def test_scripts_of_each_tool_and_a_results_document_are_found(tmp_path: Path) -> None:
    files = write(
        tmp_path,
        {
            "loadtest/k6.js": K6,
            "locustfile.py": LOCUST,
            "artillery.yml": ARTILLERY,
            "docs/load-testing.md": RESULTS,
            "src/app.js": "const k = 6;\n",
            "README.md": "# Shop\n",
        },
    )
    found = find_artifacts(tmp_path, files, {"scripts": {"bench": "autocannon -c 100 -d 30 http://localhost:3000"}})
    assert sorted((s.path, s.tool) for s in found.scripts) == [
        ("artillery.yml", "artillery"),
        ("loadtest/k6.js", "k6"),
        ("locustfile.py", "locust"),
        ("package.json scripts.bench", "autocannon"),
    ]
    (doc,) = found.docs
    assert (doc.path, doc.line, doc.figure) == ("docs/load-testing.md", 7, "p95 latency | 142 ms")
    verdict = load_test_documented(Facts({"loadtest.files": found}), {})
    assert verdict.outcome is Outcome.PASS


def test_a_script_without_documented_figures_gets_half(tmp_path: Path) -> None:
    files = write(tmp_path, {"k6/smoke.js": K6, "docs/perf.md": "We did some load testing; it went fine.\n"})
    found = find_artifacts(tmp_path, files, {})
    assert found.docs[0].figure is None
    verdict = load_test_documented(Facts({"loadtest.files": found}), {})
    assert (verdict.outcome, verdict.score) == (Outcome.FAIL, 0.5)
    assert "mentions load testing but reports no figure" in [e.message for e in verdict.evidence]


def test_nothing_found_fails_and_large_or_unrelated_files_are_ignored(tmp_path: Path) -> None:
    files = write(
        tmp_path, {"src/server.js": "require('express')\n", "big.js": "import http from 'k6/http';\n" + "x" * 300_000}
    )
    found = find_artifacts(tmp_path, files, {"scripts": {"test": "jest"}})
    assert found == LoadTestArtifacts((), ())
    assert load_test_documented(Facts({"loadtest.files": found}), {}).score == 0.0


def test_documented_results_without_the_script_get_half() -> None:
    found = LoadTestArtifacts((), (LoadTestDoc("README.md", 40, "p99 310 ms"),))
    verdict = load_test_documented(Facts({"loadtest.files": found}), {})
    assert (verdict.outcome, verdict.score) == (Outcome.FAIL, 0.5)
