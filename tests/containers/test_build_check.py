"""docker.build judged on hand-made facts, and the probe without a Docker engine (never a pass)."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.containers import image_builds_and_runs
from grader.api import grade
from grader.facts import Facts
from grader.model import GradeRequest, Outcome
from grader.probes.docker_build import ContainerRun, DockerImage, HealthAnswer

HEALTHY = HealthAnswer("/health", 200, True, "HTTP on the container's loopback")


def run(**changes: object) -> ContainerRun:
    fields: dict[str, object] = {
        "started": True, "running": True, "exit_code": 0, "port": 3000, "uid": 1000, "health": HEALTHY,
        "health_note": "", "health_reachable": True, "read_only": True, "logs": "listening on 3000\n",
    }  # fmt: skip
    fields.update(changes)
    return ContainerRun(**fields)  # type: ignore[arg-type]


def judged(image: DockerImage, max_size_mb: int = 0) -> tuple[Outcome, float | None, str, list[str]]:
    verdict = image_builds_and_runs(Facts({"docker.image": image}), {"max_size_mb": max_size_mb})
    return verdict.outcome, verdict.score, verdict.summary, [e.message for e in verdict.evidence]


def built(container: ContainerRun | None, user: str = "node") -> DockerImage:
    return DockerImage("Dockerfile", "27.1", True, 12.3, "Successfully built", 187_400_000, user, container)


def test_a_healthy_non_root_container_passes_and_reports_its_size() -> None:
    verdict = image_builds_and_runs(Facts({"docker.image": built(run())}), {"max_size_mb": 0})
    assert (verdict.outcome, verdict.value, verdict.unit) == (Outcome.PASS, 187.4, "MB")
    assert verdict.evidence[0].message == "built in 12.3 s on Docker 27.1; image size 187 MB"


def test_each_failed_rule_costs_its_share() -> None:
    outcome, score, summary, messages = judged(built(run(uid=0, health=HealthAnswer("/health", 503, False, "x"))))
    assert (outcome, score) == (Outcome.FAIL, 0.5)
    assert summary.endswith("not met: answers its health path, runs as non-root")
    assert messages[:2] == ["/health → 503: not healthy (via x)", "the container runs as uid 0"]
    exited = run(running=False, health=None, health_note="exited with code 1", exit_code=1)
    assert judged(built(exited))[:3] == (Outcome.FAIL, 2 / 3, "Dockerfile: 2 of 3 rules met; not met: starts")
    silent = run(health=None, health_note="no answer on port 3000 within 30 s")
    assert judged(built(silent))[2].endswith("not met: answers its health path")


def test_an_unreachable_health_path_is_a_warning_and_the_image_user_is_used_when_top_cannot_say() -> None:
    unreachable = run(health=None, health_reachable=False, uid=None, health_note="its network cannot be entered")
    outcome, score, summary, messages = judged(built(unreachable, user="1000:1000"))
    assert (outcome, score) == (Outcome.WARN, 1.0)
    assert summary.endswith("health path not checked: its network cannot be entered")
    assert "the container runs as USER 1000:1000" in messages
    assert judged(built(unreachable, user=""))[2].endswith("not met: runs as non-root")


def test_size_limit_build_failure_and_no_dockerfile() -> None:
    assert judged(built(run()), max_size_mb=150)[2].endswith("not met: image at most 150 MB")
    failed = DockerImage("docker/Dockerfile", "27.1", build_log="Step 3/5 : RUN npm ci\nnpm ERR! missing script")
    verdict = image_builds_and_runs(Facts({"docker.image": failed}), {"max_size_mb": 0})
    assert (verdict.outcome, verdict.score, verdict.summary) == (Outcome.FAIL, 0.0, "docker/Dockerfile does not build")
    assert verdict.evidence[0].detail is not None and "npm ERR!" in verdict.evidence[0].detail
    assert judged(DockerImage(None))[:3] == (Outcome.FAIL, 0.0, "no Dockerfile to build")


def test_without_an_engine_the_build_is_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    (tmp_path / "Dockerfile").write_text("FROM node:20.11-alpine3.19\n")
    report = grade(GradeRequest(path=tmp_path, phase=4, only=("docker.build",), load_plugins=False))
    (result,) = [r for c in report.criteria for r in c.checks if r.check_id == "docker.build"]
    assert result.outcome is Outcome.NOT_RUN
    assert result.summary.startswith("not run: no Docker engine")
