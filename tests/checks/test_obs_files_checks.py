"""Error tracking, alert and dashboard checks, judged on hand-built facts (no I/O)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from checks.obs_files import alerts, dashboards, error_tracking
from grader.facts import Facts
from grader.model import Outcome, Verdict
from grader.plugin import CheckFunc
from grader.probes.obs_files import (
    AlertRule,
    Dashboard,
    FileProblem,
    MetricDefinition,
    MetricProvider,
    ObsFiles,
    PanelQuery,
    SentryInit,
    Spot,
    series,
)

ENV_INIT = SentryInit("src/instrument.js", 4, "@sentry/node", "env", "process.env.SENTRY_DSN")
HANDLER = Spot("src/app.js", 31, "setupExpressErrorHandler")
HISTOGRAM = MetricDefinition(
    "http_request_duration_seconds",
    "histogram",
    "src/metrics.js",
    5,
    series("histogram", "http_request_duration_seconds", python=False),
)
DEFAULTS = MetricProvider("prom-client default metrics", "src/metrics.js", 3, (), ("process_", "nodejs_"))
EMPTY = ObsFiles(None, (), (), (), (), (), (), (), (), (), (), ())


def obs(**fields: Any) -> ObsFiles:
    return replace(EMPTY, language="javascript", metrics=(HISTOGRAM,), providers=(DEFAULTS,), **fields)


def judged(check: CheckFunc, facts: ObsFiles) -> Verdict:
    return check(Facts({"obs.files": facts}), {})


def messages(verdict: Verdict) -> list[str]:
    return [f"{e.message} @ {e.location}" for e in verdict.evidence]


def test_sentry_from_the_environment_with_the_express_handler_passes() -> None:
    verdict = judged(error_tracking, obs(sentry_inits=(ENV_INIT,), sentry_handlers=(HANDLER,)))
    assert verdict.outcome is Outcome.PASS
    assert messages(verdict) == [
        "@sentry/node initialised; DSN from env: process.env.SENTRY_DSN @ src/instrument.js:4",
        "errors reach Sentry through setupExpressErrorHandler @ src/app.js:31",
    ]


def test_a_hard_coded_dsn_and_a_missing_handler_each_cost_a_third() -> None:
    literal = replace(ENV_INIT, dsn_source="literal", expression="'https://***@o0.ingest.sentry.io/0'")
    elsewhere = Spot("config/sentry.json", 2, "https://***@o0.ingest.sentry.io/0")
    verdict = judged(error_tracking, obs(sentry_inits=(literal,), literal_dsns=(elsewhere,)))
    assert (verdict.outcome, verdict.score) == (Outcome.FAIL, 1 / 3)
    assert "DSN from the environment, errors handed to Sentry" in verdict.summary
    assert "hard-coded Sentry DSN https://***@o0.ingest.sentry.io/0 @ config/sentry.json:2" in messages(verdict)
    python = replace(ENV_INIT, sdk="sentry_sdk", path="app/main.py")
    assert judged(error_tracking, obs(sentry_inits=(python,))).outcome is Outcome.PASS  # integrations are automatic


def test_an_sdk_imported_but_never_initialised_fails() -> None:
    verdict = judged(error_tracking, obs(sentry_imports=(Spot("src/app.js", 1, "@sentry/node"),)))
    assert (verdict.outcome, verdict.score) == (Outcome.FAIL, 0.0)
    assert messages(verdict) == ["imports @sentry/node but never calls init @ src/app.js:1"]


def rule(name: str, expr: str, metrics: tuple[str, ...], problem: str | None = None, line: int = 4) -> AlertRule:
    return AlertRule("monitoring/alerts.yml", line, "api", name, expr, metrics, problem)


def test_alerts_on_defined_metrics_pass() -> None:
    good = (
        rule("Down", "up == 0", ("up",)),
        rule("Slow", "histogram_quantile(...)", ("http_request_duration_seconds_bucket",)),
        rule("Memory", "process_resident_memory_bytes > 1e9", ("process_resident_memory_bytes",)),
    )
    verdict = judged(alerts, obs(alerts=good))
    assert verdict.outcome is Outcome.PASS and verdict.summary.startswith("3 alert rule(s) on known metrics")


def test_unknown_metrics_broken_rules_and_bad_files_are_each_evidence() -> None:
    rules = (
        rule("Slow", "x", ("http_request_duration_seconds_bucket",)),
        rule("Errors", "rate(http_request_errors_total[5m]) > 1", ("http_request_errors_total",), line=9),
        rule("Broken", "sum(rate(x[5m])", ("x",), "expr: unclosed '('", line=14),
        rule("Constant", "vector(1)", (), line=18),
    )
    bad_file = FileProblem("monitoring/more.yml", 3, "invalid YAML: mapping values are not allowed here")
    verdict = judged(alerts, obs(alerts=rules, rule_problems=(bad_file,)))
    assert (verdict.outcome, verdict.score, verdict.value, verdict.threshold) == (Outcome.FAIL, 0.2, 1, 5)
    assert messages(verdict) == [
        "invalid YAML: mapping values are not allowed here @ monitoring/more.yml:3",
        "alert Errors queries http_request_errors_total, which nothing in the repository defines @ monitoring/alerts.yml:9",  # noqa: E501
        "alert Broken: expr: unclosed '(' @ monitoring/alerts.yml:14",
        "alert Constant: its expr selects no metric @ monitoring/alerts.yml:18",
        "metrics the code defines or its libraries export: http_request_duration_seconds, process_*, nodejs_* @ None",
    ]


def test_no_alert_rule_fails() -> None:
    assert judged(alerts, obs()).summary == "no Prometheus alerting rule (`groups: - rules: - alert:`) found"


def board(*queries: PanelQuery, panels: int = 2) -> Dashboard:
    return Dashboard("grafana/api.json", "API", panels, queries)


def test_dashboards_pass_warn_on_unknown_metrics_and_fail_when_missing() -> None:
    known = PanelQuery(
        "grafana/api.json",
        12,
        "rate(http_request_duration_seconds_count[5m])",
        ("http_request_duration_seconds_count",),
    )
    assert judged(dashboards, obs(dashboards=(board(known),))).outcome is Outcome.PASS
    unknown = PanelQuery("grafana/api.json", 20, "rate(orders_total[5m])", ("orders_total",))
    warned = judged(dashboards, obs(dashboards=(board(known, unknown),)))
    assert (warned.outcome, warned.score) == (Outcome.WARN, 0.75)
    assert (
        "a panel of 'API' queries orders_total, which nothing in the repository defines @ grafana/api.json:20"
        in messages(warned)
    )
    empty = judged(dashboards, obs(dashboards=(board(panels=0),)))
    assert (empty.outcome, empty.summary) == (Outcome.FAIL, "dashboards without panels")
    broken = FileProblem("grafana/old.json", 4, "invalid JSON: Expecting value")
    missing = judged(dashboards, obs(dashboard_problems=(broken,)))
    assert (missing.outcome, missing.score) == (Outcome.FAIL, 0.0)
    assert messages(missing) == ["invalid JSON: Expecting value @ grafana/old.json:4"]
