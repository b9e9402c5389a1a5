"""Performance checks that read the repository: is load testing done and documented."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grader.facts import Facts
from grader.model import Evidence, Location, Verdict
from grader.plugin import check
from grader.probes.loadtest_docs import LoadTestArtifacts


@check(
    "perf.load_test_documented",
    title="A load test script exists and its results are documented",
    requires=("loadtest.files",),
    remediation="Commit the load test you ran (e.g. `loadtest/k6.js` for k6, a `locustfile.py`, an Artillery "
    "YAML or an autocannon script) and a document (e.g. `docs/load-testing.md` or a README section) giving the "
    "scenario, the number of users or the rate, and the measured results: p95/p99 latency in ms, requests per "
    "second and the error rate.",
)
def load_test_documented(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Looks for k6/Locust/Artillery/autocannon scripts and a document that reports measured figures."""
    found = facts.get("loadtest.files", LoadTestArtifacts)
    evidence = [Evidence(f"{s.tool} load test", Location(s.path)) for s in found.scripts]
    with_figures = [d for d in found.docs if d.figure]
    evidence += [Evidence(f"reports {d.figure!r}", Location(d.path, d.line)) for d in with_figures]
    evidence += [
        Evidence("mentions load testing but reports no figure", Location(d.path)) for d in found.docs if not d.figure
    ]
    if found.scripts and with_figures:
        return Verdict.passed(
            f"{len(found.scripts)} load test script(s); results in {with_figures[0].path}", evidence=tuple(evidence)
        )
    if found.scripts:
        return Verdict.failed(
            "a load test script exists but no document reports its results", score=0.5, evidence=tuple(evidence)
        )
    if with_figures:
        return Verdict.failed(
            "results are documented but the load test script is not in the repository",
            score=0.5,
            evidence=tuple(evidence),
        )
    return Verdict.failed(
        "no load test script (k6, Locust, Artillery, autocannon) and no documented results", evidence=tuple(evidence)
    )
