"""Observability checks that read the repository: Sentry error tracking, Prometheus alert rules, Grafana dashboards."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from checks._evidence import capped
from checks._parts import unmet
from grader.facts import Facts
from grader.model import Evidence, Location, Verdict
from grader.plugin import check
from grader.probes.obs_files import FileProblem, ObsFiles

UNKNOWN_DASHBOARD_METRIC_SCORE = 0.75  # the dashboard exists, but some panels can only show "No data"
_KNOWN_SHOWN = 8


def _problems(problems: Sequence[FileProblem]) -> list[Evidence]:
    return [Evidence(p.message, Location(p.path, p.line)) for p in problems]


def _known_metrics(obs: ObsFiles) -> Evidence:
    """What the repository does define, to help match an unknown name."""
    names = [m.name for m in obs.metrics] + [f"{p}*" for prov in obs.providers for p in prov.prefixes]
    names += [n for prov in obs.providers for n in prov.names]
    shown = ", ".join(dict.fromkeys(names[:_KNOWN_SHOWN])) or "none"
    more = f" and {len(names) - _KNOWN_SHOWN} more" if len(names) > _KNOWN_SHOWN else ""
    return Evidence(f"metrics the code defines or its libraries export: {shown}{more}")


@check(
    "obs.error_tracking",
    title="Errors are reported to Sentry, with the DSN read from the environment",
    requires=("obs.files",),
    remediation="Initialise the Sentry SDK first thing at start-up, reading the DSN from the environment. Node: "
    "`Sentry.init({ dsn: process.env.SENTRY_DSN, environment: process.env.NODE_ENV })` in an `instrument.js` "
    "loaded before anything else, then `Sentry.setupExpressErrorHandler(app)` after your routes (NestJS: "
    "`SentryModule.forRoot()` and `SentryGlobalFilter`). Python: `sentry_sdk.init(dsn=os.environ.get('SENTRY_DSN'))`. "
    "Never commit a DSN, not even as a fallback: list `SENTRY_DSN=` in .env.example and set the value in your "
    "deployment's secrets.",
)
def error_tracking(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Finds the Sentry SDK's init call, where its DSN comes from, hard-coded DSNs, and (Node) the error handler."""
    obs = facts.get("obs.files", ObsFiles)
    literals = [
        Evidence(f"hard-coded Sentry DSN {d.text}", Location(d.path, d.line))
        for d in obs.literal_dsns
        if not any(i.path == d.path and d.text in i.expression for i in obs.sentry_inits)  # already shown below
    ]
    if not obs.sentry_inits:
        evidence = [
            Evidence(f"imports {s.text} but never calls init", Location(s.path, s.line)) for s in obs.sentry_imports
        ]
        return Verdict.failed(
            "no Sentry SDK is initialised in the application code", evidence=tuple(evidence + literals)
        )
    evidence = [
        Evidence(
            f"{i.sdk} initialised; DSN from {i.dsn_source}" + (f": {i.expression}" if i.expression else ""),
            Location(i.path, i.line),
        )
        for i in obs.sentry_inits
    ]
    hard_coded = bool(obs.literal_dsns) or any(i.dsn_source == "literal" for i in obs.sentry_inits)
    parts = {"initialised": True, "DSN from the environment": not hard_coded}
    evidence += literals
    if any(i.dsn_source == "unknown" for i in obs.sentry_inits):
        evidence.append(Evidence("could not tell where the DSN comes from: read it from process.env / os.environ"))
    if any(i.sdk.startswith("@sentry/") for i in obs.sentry_inits):
        parts["errors handed to Sentry"] = bool(obs.sentry_handlers)
        evidence += [
            Evidence(f"errors reach Sentry through {h.text}", Location(h.path, h.line)) for h in obs.sentry_handlers
        ]
        if not obs.sentry_handlers:
            evidence.append(
                Evidence(
                    "no Sentry.setupExpressErrorHandler(app), captureException or SentryGlobalFilter: errors that "
                    "your own error handler catches never reach Sentry"
                )
            )
    missing, score = unmet(parts.items())
    if not missing:
        return Verdict.passed(
            f"Sentry initialised in {obs.sentry_inits[0].path}, DSN from the environment", evidence=tuple(evidence)
        )
    return Verdict.failed(f"Sentry is set up, but not: {', '.join(missing)}", score=score, evidence=tuple(evidence))


@check(
    "obs.alerts",
    title="Prometheus alert rules parse and query metrics the service exports",
    requires=("obs.files",),
    remediation="Commit your Prometheus alerting rules (e.g. `monitoring/alerts.yml`: `groups: - name: api rules: "
    "- alert: HighErrorRate expr: ... for: 5m labels: {severity: page} annotations: {summary: ...}`), check them "
    "with `promtool check rules`, and query only metrics your service exports: the names given to prom-client "
    "(`new client.Histogram({ name: 'http_request_duration_seconds' })`, which exposes `_bucket`, `_sum` and "
    "`_count`) or prometheus_client, `process_*`/`nodejs_*` from collectDefaultMetrics(), and `up`.",
)
def alerts(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Parses every rule file, extracts each alert expression's metric names and compares them with the code's."""
    obs = facts.get("obs.files", ObsFiles)
    problems = _problems(obs.rule_problems)
    if not obs.alerts:
        return Verdict.failed(
            "no Prometheus alerting rule (`groups: - rules: - alert:`) found", evidence=tuple(problems)
        )
    bad: list[Evidence] = []
    for rule in obs.alerts:
        unknown = obs.unknown(rule.metrics)
        where = Location(rule.path, rule.line)
        if rule.problem:
            bad.append(Evidence(f"alert {rule.name}: {rule.problem}", where, detail=rule.expr or None))
        elif not rule.metrics:
            bad.append(Evidence(f"alert {rule.name}: its expr selects no metric", where, detail=rule.expr))
        elif unknown:
            names = ", ".join(unknown)
            bad.append(
                Evidence(
                    f"alert {rule.name} queries {names}, which nothing in the repository defines",
                    where,
                    detail=rule.expr,
                )
            )
    total = len(obs.alerts) + len(obs.rule_problems)
    good = len(obs.alerts) - len(bad)
    if not bad and not problems:
        names = ", ".join(r.name for r in obs.alerts[:5]) + (", ..." if len(obs.alerts) > 5 else "")
        shown = [Evidence(f"alert {r.name}: {', '.join(r.metrics)}", Location(r.path, r.line)) for r in obs.alerts]
        return Verdict.passed(
            f"{len(obs.alerts)} alert rule(s) on known metrics: {names}", evidence=capped(shown, len(shown), "alerts")
        )
    evidence = [*problems, *bad]
    if any("nothing in the repository defines" in e.message for e in bad):
        evidence.append(_known_metrics(obs))
    return Verdict.failed(
        f"{good} of {total} alert rule(s) or rule files are valid",
        score=good / total,
        value=good,
        threshold=total,
        unit="rules",
        evidence=capped(evidence, len(evidence), "findings"),
    )


@check(
    "obs.dashboards",
    title="A Grafana dashboard is committed, with panels querying the service's metrics",
    requires=("obs.files",),
    remediation="Export your Grafana dashboard as JSON (Dashboard settings → JSON Model, or Share → Export) and "
    "commit it, e.g. `monitoring/grafana/dashboards/api.json`, with panels for request rate, error rate and p95 "
    "latency (`histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))`). Provision "
    "it from that file so the dashboard in git is the one that runs.",
)
def dashboards(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Reads Grafana dashboard JSON: a title, panels, their PromQL queries, and whether those metrics exist."""
    obs = facts.get("obs.files", ObsFiles)
    problems = _problems(obs.dashboard_problems)
    with_panels = [d for d in obs.dashboards if d.panels > 0]
    evidence = [
        Evidence(f"dashboard {d.title!r}: {d.panels} panel(s), {len(d.queries)} PromQL query(ies)", Location(d.path))
        for d in obs.dashboards
    ]
    if not with_panels:
        summary = "dashboards without panels" if obs.dashboards else "no Grafana dashboard JSON found"
        return Verdict.failed(summary, evidence=tuple(evidence + problems))
    unknown = []
    for board in with_panels:
        for query in board.queries:
            if missing := obs.unknown(query.metrics):
                message = (
                    f"a panel of {board.title!r} queries {', '.join(missing)}, which nothing in the repository defines"
                )
                unknown.append(Evidence(message, Location(query.path, query.line), detail=query.expr))
    evidence += problems + unknown
    summary = f"{len(with_panels)} Grafana dashboard(s): {', '.join(d.title for d in with_panels)}"
    if unknown:
        evidence.append(_known_metrics(obs))
        return Verdict.warned(
            f"{summary}; {len(unknown)} panel query(ies) use unknown metrics",
            score=UNKNOWN_DASHBOARD_METRIC_SCORE,
            evidence=capped(evidence, len(evidence), "findings"),
        )
    if problems:
        return Verdict.warned(
            f"{summary}; {len(problems)} other dashboard file(s) could not be read", evidence=tuple(evidence)
        )
    return Verdict.passed(summary, evidence=tuple(evidence))
