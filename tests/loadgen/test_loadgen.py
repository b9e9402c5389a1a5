"""The load generator against a reference server in its own process: counts, truth bands, self-monitoring.

No assertion times the generator itself; latencies are compared with what the server was told
to do, in bands wide enough for a busy 2-core machine.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.isolation import Cell, open_isolation
from grader.loadgen import LoadGenError, LoadPlan, LoadResult, Request, run_load, run_locustfile
from grader.loadgen.client import ResponseParser
from tests.conftest import require
from tests.loadgen.refserver import chunked_response, response, running

GET = Request("GET", "/fast")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running() as base_url:
        yield base_url


def plan(base_url: str, *requests: Request, **options: Any) -> LoadPlan:
    settings: dict[str, Any] = {"users": 20, "pacing_s": 0.2, "warmup_s": 0.5, "duration_s": 2.0, "timeout_s": 2.0}
    return LoadPlan(base_url, requests or (GET,), **{**settings, **options})


def assert_counts_add_up(result: LoadResult) -> None:
    assert result.sent == result.completed + sum(result.errors.values())
    assert result.completed == sum(result.status_counts.values())
    assert result.samples == result.sent


def test_a_fixed_delay_is_measured_and_the_warmup_is_not_recorded(server: str) -> None:
    result = run_load(plan(server, Request("GET", "/delay?ms=20"), cpu=sorted(os.sched_getaffinity(0))[0]))

    assert 20 <= result.percentiles_ms["p50"] <= 40
    assert result.p95_band_ms[0] <= result.percentiles_ms["p95"] <= result.p95_band_ms[1]
    expected = 20 / 0.2 * 2.0  # users / pacing * measured window
    assert abs(result.samples - expected) <= 0.1 * expected
    assert result.sent_total > result.sent  # the warm-up was sent, not recorded
    assert result.status_counts == {200: result.samples} and result.ok == result.samples
    assert_counts_add_up(result)
    fractions = [f for _ms, f in result.cdf]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(result.cdf) <= 60
    assert "20 virtual users" in result.definition and "offered 100 req/s" in result.definition


def test_statuses_errors_timeouts_and_body_framings_are_all_counted(server: str) -> None:
    mix = (
        Request("GET", "/status?code=500"),
        Request("GET", "/chunked"),
        Request("GET", "/close"),  # Connection: close, so the next request reconnects
        Request("POST", "/fast", headers={"Content-Type": "application/json"}, body=b'{"a": 1}'),
        Request("GET", "/delay?ms=3000"),  # longer than the timeout
    )
    result = run_load(plan(server, *mix, timeout_s=0.4))

    counts = {name: count for name, (count, _p95, _failed) in result.per_request.items()}
    failed = {name: n for name, (_count, _p95, n) in result.per_request.items()}
    assert all(counts.values()), counts
    assert result.status_counts[500] == counts["GET /status?code=500"] == failed["GET /status?code=500"]
    assert result.errors == {"timeout": counts["GET /delay?ms=3000"]}
    assert failed["GET /chunked"] == failed["GET /close"] == failed["POST /fast"] == 0
    assert (
        result.ok == result.status_counts[200] == counts["GET /chunked"] + counts["GET /close"] + counts["POST /fast"]
    )
    assert 399 <= result.percentiles_ms["max"] <= 401  # timeouts recorded at their elapsed time
    assert_counts_add_up(result)


def test_connection_refused_is_counted_as_an_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the run: nothing listens there
    result = run_load(plan(f"http://127.0.0.1:{port}", users=5, duration_s=1.0))

    assert result.sent > 0 and result.completed == 0 and result.ok == 0
    assert result.errors == {"connection refused": result.sent}


def test_the_request_cap_stops_the_schedule(server: str) -> None:
    result = run_load(plan(server, users=10, pacing_s=0.1, warmup_s=0.2, max_requests=50))

    assert result.sent_total == 50
    assert result.capped and "cap of 50 requests" in result.definition
    assert_counts_add_up(result)


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.1:8080", "http://example.com", "https://127.0.0.1:8443", "http://127.0.0.1:80/api", "ftp://::1"],
)
def test_anything_but_a_loopback_http_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        LoadPlan(url, (GET,))


def test_a_stall_shows_in_every_request_intended_during_it() -> None:
    """The server stalls 1 s once, 2 s after the first request: ~200 intended sends fall in it, not 20."""
    with running() as base_url:
        stall = Request("GET", "/stall?base=5&every=3000&stall=1000&once=1")
        result = run_load(plan(base_url, stall, users=20, pacing_s=0.1, warmup_s=0.5, duration_s=3.5))

    # Latencies in the stall spread from 5 ms to 1 s: about 14% of all are >= 500 ms. Timed from the
    # actual send (coordinated omission), only the 20 requests in flight at the stall would be: 3%.
    assert result.percentiles_ms["p90"] >= 400
    assert result.percentiles_ms["max"] >= 900
    slow = 1 - max(fraction for ms, fraction in result.cdf if ms < 500)
    assert slow * result.samples >= 60
    assert not result.errors
    assert_counts_add_up(result)


def test_asking_more_than_one_core_can_send_is_reported_as_saturation(server: str) -> None:
    result = run_load(plan(server, users=5000, pacing_s=0.1, warmup_s=0.5, duration_s=2.0, timeout_s=1.0,
                           max_requests=200_000))  # fmt: skip

    assert result.saturated
    assert result.saturation_reason
    assert result.achieved_rps < result.offered_rps


def test_a_cpu_that_does_not_exist_fails_the_generator_clearly(server: str) -> None:
    with pytest.raises(LoadGenError, match="cpu 4096 is not available"):
        run_load(plan(server, cpu=4096))


def test_plans_and_results_survive_json() -> None:
    original = plan("http://localhost:8000", Request("PUT", "/x", {"A": "b"}, b"\x00\xff", 2.0), users=3)
    assert LoadPlan.from_json(json.loads(json.dumps(original.to_json()))) == original


@pytest.mark.parametrize("step", [1, 3, 1000])
def test_the_parser_finds_the_end_of_each_framing_however_the_bytes_arrive(step: int) -> None:
    framings = {
        response(503, b"x" * 500): 503,
        chunked_response([b"a" * 300, b"b", b"c" * 17]): 200,
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok": 201,
        b"HTTP/1.1 204 No Content\r\n\r\n": 204,
    }
    for wire, status in framings.items():
        parser = ResponseParser()
        pieces = [wire[i : i + step] for i in range(0, len(wire), step)]
        done = [parser.feed(piece) for piece in pieces]
        assert done[-1] and not any(done[:-1]), wire[:30]
        assert parser.status == status and parser.keep_alive


def test_a_body_read_until_close_ends_with_the_connection() -> None:
    parser = ResponseParser()
    assert not parser.feed(b"HTTP/1.0 200 OK\r\n\r\npartial body")
    assert parser.feed_eof() and parser.status == 200 and not parser.keep_alive


def test_a_learners_locustfile_runs_and_its_figures_come_back(server: str, tmp_path: Path) -> None:
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text(
        "from locust import HttpUser, constant_pacing, task\n\n"
        "class Shopper(HttpUser):\n"
        "    wait_time = constant_pacing(0.2)\n\n"
        "    @task(3)\n"
        "    def browse(self):\n"
        "        self.client.get('/delay?ms=20', name='/delay')\n\n"
        "    @task\n"
        "    def fail(self):\n"
        "        self.client.get('/status?code=500', name='/status')\n",
        encoding="utf-8",
    )
    result = run_locustfile(locustfile, server, users=5, spawn_rate=50, duration_s=2, cwd=tmp_path)

    assert set(result.per_request) == {"GET /delay", "GET /status"}
    assert result.status_counts == {500: result.per_request["GET /status"][0]}
    assert result.ok == result.per_request["GET /delay"][0] > 0
    assert 20 <= result.per_request["GET /delay"][1] <= 500  # locust adds its own overhead on a busy machine
    assert "bucketed" in result.definition


def test_a_locustfile_that_does_not_load_is_a_clear_error(server: str, tmp_path: Path) -> None:
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text("this is not python\n", encoding="utf-8")
    with pytest.raises(LoadGenError, match="locust produced no figures"):
        run_locustfile(locustfile, server, users=1, spawn_rate=1, duration_s=1, cwd=tmp_path)


def test_a_locustfile_runs_confined_and_cannot_write_outside_its_workspace(server: str, tmp_path: Path) -> None:
    """The learner's locustfile is learner code: under the run's isolation it reaches the service, nothing else."""
    escape = tmp_path / "escaped.txt"
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text(
        "import pathlib\n"
        "from locust import HttpUser, constant_pacing, task\n\n"
        f"try:\n    pathlib.Path({str(escape)!r}).write_text('out')\nexcept OSError:\n    pass\n\n"
        "class Reader(HttpUser):\n"
        "    wait_time = constant_pacing(0.2)\n\n"
        "    @task\n"
        "    def read(self):\n"
        "        self.client.get('/delay?ms=5', name='/delay')\n",
        encoding="utf-8",
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with open_isolation("auto") as isolation:
        require(isolation.level != "none", f"no isolation level works here: {isolation.detail}")
        isolation.admit(tmp_path)
        isolation.admit(run_dir)
        cell = Cell(isolation, (run_dir / "locust",), network=True)
        result = run_locustfile(locustfile, server, users=3, spawn_rate=30, duration_s=2, cwd=run_dir, cell=cell)
    assert result.per_request["GET /delay"][0] > 0
    assert not escape.exists()
