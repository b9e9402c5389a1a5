"""The same batch on a Dask cluster (a local multi-process one here) gives the same results as locally."""

from __future__ import annotations

import _thread
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from distributed import LocalCluster

from grader.batch.dask_runner import DaskBackend
from grader.batch.roster import load_roster
from grader.batch.runner import BatchRun, run_batch
from grader.errors import UsageError
from grader.model import GradeRequest
from tests.batch.conftest import batch_settings, processes_with


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """Two worker processes, each offering one `load` slot, as `dask worker --resources load=1` would."""
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, resources={"load": 1}, dashboard_address=":0"
    ) as local:
        yield local


def _comparable(run: BatchRun) -> list[tuple[object, ...]]:
    return [(r.student, r.status, r.reason, r.commit, r.content_hash, r.score, r.passed) for r in run.results]


def _criteria(run: BatchRun, out: Path) -> list[list[tuple[str, str, float | None]]]:
    found = []
    for r in run.results:
        if r.json_report:
            report = json.loads((out / r.slug / r.json_report).read_text(encoding="utf-8"))
            found.append([(c["text"], c["outcome"], c["score"]) for c in report["criteria"]])
    return found


def test_the_cluster_grades_like_this_machine(
    cluster: LocalCluster, graded_class: BatchRun, class_folder: Path, tmp_path: Path
) -> None:
    backend = DaskBackend(cluster.scheduler_address)
    try:
        assert backend.slots == 2
        run = run_batch(load_roster(class_folder), batch_settings(tmp_path / "out"), backend=backend, quiet=True)
    finally:
        backend.close()
    assert _comparable(run) == _comparable(graded_class)
    assert _criteria(run, tmp_path / "out") == _criteria(graded_class, graded_class.outputs[0].parent)
    for result, local in zip(run.results, graded_class.results, strict=True):
        assert result.reports == local.reports
        for name in result.reports:
            assert (tmp_path / "out" / result.slug / name).is_file()
    index = json.loads((tmp_path / "out" / "index.json").read_text(encoding="utf-8"))
    assert [e["score"] for e in index["submissions"]] == [r.score for r in graded_class.results]


def test_load_tests_need_a_worker_with_the_load_resource(tmp_path: Path) -> None:
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as bare:
        backend = DaskBackend(bare.scheduler_address)
        try:
            backend.ready(needs_load_slot=False)
            with pytest.raises(UsageError, match="start the workers with `--resources load=1`"):
                backend.ready(needs_load_slot=True)
        finally:
            backend.close()


def test_an_unreachable_scheduler_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="cannot reach the Dask scheduler"):
        DaskBackend("tcp://127.0.0.1:1", connect_timeout_s=2)


HANG = "sleep 7321"


def test_ctrl_c_stops_the_jobs_running_on_the_cluster(cluster: LocalCluster, tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    (subs / "hangs").mkdir(parents=True)
    (subs / "hangs" / "grade.toml").write_text(f'[service]\nstart = "exec {HANG}"\nready_timeout = 120\n')
    settings = batch_settings(tmp_path / "out", request=GradeRequest(Path("."), 1, only=("service.start",)))
    watcher = threading.Thread(target=_interrupt_when, args=(lambda: bool(processes_with(HANG)),), daemon=True)
    backend = DaskBackend(cluster.scheduler_address)
    watcher.start()
    try:
        run = run_batch(load_roster(subs), settings, backend=backend, quiet=True)
    finally:
        backend.close()
    assert run.interrupted and run.results == [] and [s.student for s in run.pending] == ["hangs"]
    deadline = time.monotonic() + 30  # the worker sees the stop event within a poll and kills the tree
    while processes_with(HANG) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_with(HANG) == []


def _interrupt_when(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    _thread.interrupt_main()
