"""docker.build on a real engine: the fixtures' images are built, run isolated, asked for /health, and removed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from grader.api import grade
from grader.model import CheckResult, GradeRequest, Outcome
from grader.probes.docker_build import LABEL
from tests.containers.conftest import docker


@pytest.fixture
def engine(docker_host: str, base_images: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The grader talks to the test engine; afterwards nothing it made is left on it."""
    monkeypatch.setenv("DOCKER_HOST", docker_host)
    images_before = set(docker(docker_host, "images", "-aq").stdout.split())
    yield docker_host
    assert docker(docker_host, "ps", "-aq", "--filter", f"label={LABEL}").stdout.strip() == ""
    assert set(docker(docker_host, "images", "-aq").stdout.split()) == images_before


def build_result(path: Path) -> CheckResult:
    report = grade(GradeRequest(path=path, phase=4, only=("docker.build",), load_plugins=False))
    (result,) = [r for c in report.criteria for r in c.checks if r.check_id == "docker.build"]
    return result


def messages(result: CheckResult) -> list[str]:
    return [e.message for e in result.evidence]


def project(tmp_path: Path, dockerfile: str) -> Path:
    (tmp_path / "Dockerfile").write_text(dockerfile)
    (tmp_path / "server.js").write_text(
        "require('node:http').createServer((q, s) => s.end('ok')).listen(process.env.PORT || 3000);\n"
    )
    return tmp_path


def test_the_good_image_builds_answers_health_and_runs_as_non_root(
    engine: str, built_fixture: Callable[[str], Path]
) -> None:
    result = build_result(built_fixture("docker-good"))
    assert result.outcome is Outcome.PASS, result.summary
    assert result.unit == "MB" and result.value is not None and result.value > 1
    found = messages(result)
    assert any(m.startswith("/health → 200: healthy (via HTTP on the container's loopback") for m in found)
    assert "the container runs as uid 1000" in found


def test_the_flawed_image_runs_as_root(engine: str, built_fixture: Callable[[str], Path]) -> None:
    result = build_result(built_fixture("docker-flawed"))
    assert (result.outcome, result.score) == (Outcome.FAIL, 0.75)
    assert "not met: runs as non-root" in result.summary
    assert messages(result)[0] == "the container runs as uid 0"


def test_a_failing_build_fails_with_its_log(engine: str, tmp_path: Path) -> None:
    result = build_result(project(tmp_path, "FROM node:20.20-bookworm-slim\nRUN echo compiling && exit 3\n"))
    assert (result.outcome, result.score) == (Outcome.FAIL, 0.0)
    (evidence,) = result.evidence
    assert evidence.message == "the image does not build"
    assert evidence.detail is not None and "compiling" in evidence.detail


def test_a_container_that_exits_does_not_start(engine: str, tmp_path: Path) -> None:
    dockerfile = (
        'FROM node:20.20-bookworm-slim\nUSER node\nCMD ["node", "-e", "console.log(\'boom\'); process.exit(4)"]\n'
    )
    result = build_result(project(tmp_path, dockerfile))
    assert result.outcome is Outcome.FAIL
    assert "not met: starts" in result.summary
    starts = next(e for e in result.evidence if e.message.startswith("the container"))
    assert starts.message == "the container exited with code 4"
    assert starts.detail is not None and "boom" in starts.detail


def test_a_base_image_that_cannot_be_had_is_not_run(engine: str, tmp_path: Path) -> None:
    result = build_result(project(tmp_path, 'FROM registry.invalid/grade/missing:1.0\nCMD ["node"]\n'))
    assert result.outcome is Outcome.NOT_RUN
    assert "base image registry.invalid/grade/missing:1.0 is not available locally" in result.summary
