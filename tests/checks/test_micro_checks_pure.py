"""The microservices checks judged on hand-made facts: every outcome of tracing, gateway and fault tolerance."""

from __future__ import annotations

import pytest

from checks.microservices import micro_fault_tolerance, micro_gateway, micro_queue, micro_tracing
from grader.facts import Facts
from grader.model import Outcome, Verdict
from grader.probes.live import Exchange
from grader.probes.micro_live import FaultTest, MicroLive, RouteCall
from grader.probes.micro_scan import Finding
from grader.probes.microservices import MicroRepo, ServiceUnit

NOT_RUN = MicroLive("not_run", "needs grade.toml [microservices] start commands")
NOT_STARTED = MicroLive("not_started", "service 'orders' did not start: it exited with code 1", log_tail="Error: boom")


def unit(name: str) -> ServiceUnit:
    return ServiceUnit(name, name, f"{name}/package.json", f"{name}/package-lock.json", None, "node", False, ())


def repo(traced: tuple[str, ...] = ("gateway", "users", "orders"), queue: tuple[Finding, ...] = ()) -> MicroRepo:
    services = tuple(unit(n) for n in ("gateway", "users", "orders"))
    tracing = tuple(Finding("w3c", n, "traceparent", f"{n}/src/http.js", 4) for n in traced)
    gateway = Finding("named", "gateway", "USERS_URL", "gateway/src/server.js", 3)
    return MicroRepo(services, gateway, queue, (), tracing, None)


def exchange(path: str, status: int | None, ms: float = 12.0, error: str | None = None) -> Exchange:
    return Exchange("GET", path, {}, None, status, {}, "", ms, error)


def call(service: str, status: int = 200, seen: bool = True) -> RouteCall:
    return RouteCall(service, exchange(f"/{service}", status), "ab" * 16, (service,) if seen else (), False)


def ran(*routes: RouteCall, fault: FaultTest | None = None, why: str = "") -> MicroLive:
    return MicroLive("ran", "", ("users: started",), "", "gateway", routes, fault, why)


def tracing(found: MicroRepo, live: MicroLive) -> Verdict:
    return micro_tracing(Facts({"micro.repo": found, "micro.live": live}), {})


def test_tracing_propagated_through_the_gateway_passes() -> None:
    verdict = tracing(repo(), ran(call("users"), call("orders")))
    assert verdict.outcome is Outcome.PASS and "2 of 2 routes" in verdict.summary
    assert any("logged by users" in e.message for e in verdict.evidence)


def test_tracing_on_some_routes_only_is_a_warning_with_that_share() -> None:
    verdict = tracing(repo(), ran(call("users"), call("orders", seen=False), call("notifications", 404, False)))
    assert (verdict.outcome, verdict.score) == (Outcome.WARN, 0.5)  # the 404 route is not counted


@pytest.mark.parametrize("live", [NOT_RUN, NOT_STARTED, ran(call("users", seen=False))])
def test_tracing_judged_from_the_code_alone_is_at_most_a_warning(live: MicroLive) -> None:
    verdict = tracing(repo(), live)
    assert (verdict.outcome, verdict.score) == (Outcome.WARN, 0.5)
    assert "tracing set up in 3 of 3 services" in verdict.summary
    expected = "reached no service" if live.status == "ran" else "the live part was not run"
    assert expected in verdict.summary


def test_tracing_missing_in_some_services_fails_with_partial_credit() -> None:
    verdict = tracing(repo(traced=("gateway",)), NOT_RUN)
    assert verdict.outcome is Outcome.FAIL and verdict.score == pytest.approx(0.5 / 3, abs=0.001)
    assert any(e.message.startswith("users: no tracing set-up") for e in verdict.evidence)
    assert tracing(repo(traced=()), ran(call("users", seen=False))).score == 0


def test_the_gateway_is_judged_on_its_routes_when_the_services_ran() -> None:
    facts = {"micro.repo": repo()}
    passed = micro_gateway(Facts({**facts, "micro.live": ran(call("users"), call("orders"))}), {})
    assert passed.outcome is Outcome.PASS and "2 of 2" in passed.summary
    failed = micro_gateway(Facts({**facts, "micro.live": ran(call("users"), call("orders", 404))}), {})
    assert (failed.outcome, failed.score) == (Outcome.FAIL, 0.625)
    assert any(e.message == "GET /orders -> 404: route of orders" for e in failed.evidence)
    static = micro_gateway(Facts({**facts, "micro.live": NOT_RUN}), {})
    assert static.outcome is Outcome.PASS and "not exercised: needs grade.toml" in static.summary
    assert static.evidence[0].location is not None and static.evidence[0].location.line == 3
    broken = micro_gateway(Facts({**facts, "micro.live": NOT_STARTED}), {})
    assert (broken.outcome, broken.score) == (Outcome.WARN, 0.5) and "did not all start" in broken.summary
    none = MicroRepo(repo().services, None, (), (), (), None)
    assert micro_gateway(Facts({"micro.repo": none, "micro.live": NOT_RUN}), {}).outcome is Outcome.FAIL


def test_a_queue_used_by_one_service_only_gets_half() -> None:
    both = (Finding("producer", "orders", "amqplib: publish", "o.js", 1), Finding("consumer", "orders", "c", "o.js", 2))
    verdict = micro_queue(Facts({"micro.repo": repo(queue=both)}), {})
    assert (verdict.outcome, verdict.score) == (Outcome.FAIL, 0.5)
    assert "no service consumes what another produces" in verdict.summary


def judge(live: MicroLive, max_ms: int = 2000) -> Verdict:
    return micro_fault_tolerance(Facts({"micro.live": live}), {"max_ms": max_ms})


@pytest.mark.parametrize(
    ("stopped", "others", "outcome", "score", "words"),
    [
        (exchange("/users", 503, 4), [exchange("/orders", 200)], Outcome.PASS, 1.0, "503 in 4 ms (an error)"),
        (exchange("/users", 200, 9), [], Outcome.PASS, 1.0, "(a fallback); no other service to check"),
        (exchange("/users", 503, 2500), [exchange("/orders", 200)], Outcome.FAIL, 0.5, "error, slower than 2000 ms"),
        (exchange("/users", 404, 5), [exchange("/orders", 200)], Outcome.FAIL, 0.5, "not a 5xx error nor a fallback"),
        (exchange("/users", 503, 5), [exchange("/orders", 503)], Outcome.FAIL, 0.75, "1 of 1 other"),
        (exchange("/users", None, 5000, "ReadTimeout: timed out"), [exchange("/orders", 200)], Outcome.FAIL, 0.25,
         "got no answer within 5 s"),
        (exchange("/users", None, 3, "ConnectError: refused"), [exchange("/orders", None, 2, "ConnectError")],
         Outcome.FAIL, 0.0, "the gateway itself stopped answering"),
    ],
)  # fmt: skip
def test_fault_tolerance_outcomes(
    stopped: Exchange, others: list[Exchange], outcome: Outcome, score: float, words: str
) -> None:
    verdict = judge(ran(call("users"), fault=FaultTest("users", stopped, tuple(others), 5.0)))
    assert (verdict.outcome, verdict.score) == (outcome, score), verdict.summary
    assert words in verdict.summary and verdict.summary.startswith("with users stopped")
    assert verdict.threshold == 2000 and verdict.unit == "ms"


def test_fault_tolerance_needs_the_services_running() -> None:
    not_run = judge(NOT_RUN)
    assert (
        not_run.outcome is Outcome.NOT_RUN
        and not_run.summary == "not run: needs grade.toml [microservices] start commands"
    )
    not_started = judge(NOT_STARTED)
    assert not_started.outcome is Outcome.FAIL and "exited with code 1" in not_started.summary
    assert not_started.evidence[0].detail == "Error: boom"
    untestable = judge(ran(call("users", 502), why="no service's route answered through the gateway"))
    assert untestable.outcome is Outcome.FAIL and untestable.summary.startswith("could not be tested: no service")
