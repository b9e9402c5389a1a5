"""The batch on a Dask distributed cluster (`grade batch --cluster tcp://SCHEDULER:8786`).

Snapshots and the cache stay on this machine. Each job travels with its source packed as bytes
(a git bundle, or a tar of the folder), so workers need no shared filesystem, only this grader
installed (`pip install 'grade[cluster]'`). On the worker the job runs exactly as locally: a
child process in its own process group under the wall limit (:func:`run_isolated`); the
reports come back as bytes and are written here. A phase with load tests asks for the worker
resource `load` (start workers with `--resources load=1`), so a worker runs one load test at a
time, and the machine-wide lock of :mod:`grader.slots` still serialises workers sharing a host.
On Ctrl-C a cluster-wide Event tells the running jobs to kill their processes.
"""

from __future__ import annotations

import tempfile
import threading
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from grader.batch.isolated import LOG_FILE, run_isolated
from grader.batch.model import Job, SubmissionResult, job_from, result_from, to_json
from grader.batch.snapshot import pack, unpack
from grader.errors import UsageError

LOAD_RESOURCE = "load"
CONNECT_TIMEOUT_S = 30
_POLL_S = 0.5


class DaskBackend:
    """Jobs submitted to a Dask cluster, as many at once as it has worker threads."""

    def __init__(self, address: str, connect_timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        from distributed import Client, Event  # the optional `cluster` extra

        try:
            self.client = Client(address, timeout=connect_timeout_s)
        except (OSError, TimeoutError, ValueError) as exc:
            raise UsageError(f"--cluster {address}: cannot reach the Dask scheduler: {exc}") from None
        self.slots = max(1, sum(self.client.nthreads().values()))
        self._stop_name = f"grade-batch-stop-{uuid.uuid4().hex}"
        self._stop_event = Event(self._stop_name, client=self.client)

    def ready(self, needs_load_slot: bool) -> None:
        """UsageError when the phase runs load tests but no worker offers the `load` resource."""
        workers = self.client.scheduler_info()["workers"].values()
        if needs_load_slot and not any(w.get("resources", {}).get(LOAD_RESOURCE) for w in workers):
            raise UsageError(
                "this phase runs load tests, and no Dask worker offers the `load` resource: "
                "start the workers with `--resources load=1`"
            )

    def grade(self, job: Job, folder: Path, stop: threading.Event) -> SubmissionResult | None:
        """Submit the job with its packed source; write the reports that come back into `folder`."""
        future = self.client.submit(
            grade_remote,
            to_json(job),
            pack(job.snapshot),
            self._stop_name,
            resources={LOAD_RESOURCE: 1} if job.needs_load_slot else None,
            pure=False,
            key=f"grade-{job.submission.slug}-{uuid.uuid4().hex[:8]}",
        )
        while not future.done():
            if stop.is_set():
                future.cancel()
                return None
            threading.Event().wait(_POLL_S)
        answer = future.result()
        if answer is None:
            return None
        data, files = answer
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            (folder / Path(name).name).write_bytes(content)
        return result_from(data)

    def stop(self) -> None:
        """Tell every running job to kill its processes."""
        self._stop_event.set()

    def close(self) -> None:
        """Disconnect from the scheduler."""
        self.client.close()


Answer = tuple[dict[str, Any], dict[str, bytes]]  # the result as JSON data, and its files by name


def grade_remote(job_data: dict[str, Any], payload: bytes, stop_name: str) -> Answer | None:
    """On a worker: unpack the source, grade it in a child process, return the result and its files."""
    from distributed import Event

    stop = Event(stop_name)
    job = job_from(job_data)
    with tempfile.TemporaryDirectory(prefix="grade-dask-") as tmp:
        snapshot = unpack(job.snapshot, payload, Path(tmp))
        out = Path(tmp) / "out"
        result = run_isolated(replace(job, snapshot=snapshot), out, stop.is_set)
        if result is None:
            return None
        names = (*result.reports, LOG_FILE)
        return to_json(result), {name: (out / name).read_bytes() for name in names if (out / name).is_file()}
