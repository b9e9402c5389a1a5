"""Observability files: Sentry set-up, the metrics the code defines, Prometheus alert rules, Grafana dashboards.

Everything is read from the repository (never from a running service): the Sentry SDK's
`init` call and where its DSN comes from; prom-client and prometheus_client metric
definitions plus the metric families that libraries and exporters add; Prometheus rule
files (`groups: - rules: - alert/expr`, also as a Kubernetes PrometheusRule); Grafana
dashboard JSON (`title` and `panels`, with their PromQL queries).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from grader.facts import ProbeContext
from grader.plugin import probe
from grader.probes.node_tests import is_test_path
from grader.probes.promql import bracket_problem, metric_names
from grader.probes.repo import RepoFacts
from grader.probes.text_files import TextFile, closing_bracket, read_text

JS_SUFFIXES = (".js", ".cjs", ".mjs", ".jsx", ".ts", ".cts", ".mts", ".tsx")
SOURCE_SUFFIXES = (*JS_SUFFIXES, ".py")
CONFIG_SUFFIXES = (".json", ".yml", ".yaml", ".toml", ".rules")
_RULE_SUFFIXES = (".yml", ".yaml", ".rules")
_BUILD_DIRS = frozenset({"dist", "build", "coverage", "vendor", "out"})
_LOCKFILES = frozenset({"package-lock.json", "npm-shrinkwrap.json", "composer.lock"})
_LINE = "__line__"  # added to every YAML mapping by the line-aware loader

# A Sentry DSN: scheme://public_key[:secret]@host[:port]/[path/]project_id
DSN = re.compile(r"https?://[A-Za-z0-9]+(?::[A-Za-z0-9]+)?@[A-Za-z0-9.-]+(?::\d+)?(?:/[\w.-]+)*/\d+\b")
_JS_SENTRY = r"""['"](@sentry/[\w-]+)['"]"""
_JS_IMPORT = re.compile(rf"(?:require\(\s*|from\s+|import\s+){_JS_SENTRY}")
_JS_NAMESPACE = re.compile(
    rf"import\s+\*\s+as\s+([\w$]+)\s+from\s+{_JS_SENTRY}"
    rf"|(?:const|let|var)\s+([\w$]+)\s*=\s*require\(\s*{_JS_SENTRY}"
    rf"|import\s+([\w$]+)\s+from\s+{_JS_SENTRY}"
)
_JS_NAMED = re.compile(
    rf"import\s*(?:type\s+)?\{{([^}}]*)\}}\s*from\s*{_JS_SENTRY}|(?:const|let|var)\s*\{{([^}}]*)\}}\s*=\s*require\(\s*{_JS_SENTRY}"
)
_PY_IMPORT = re.compile(r"^\s*(?:import\s+sentry_sdk(?:\s+as\s+(\w+))?|from\s+sentry_sdk\s+import\s+([^\n]+))", re.M)
# Calls that hand errors to Sentry (an import of the same names is not enough).
_JS_HANDLERS = re.compile(
    r"\b(setup(?:Express|Koa|Fastify|Hapi|Connect)ErrorHandler|Handlers\.errorHandler|captureException"
    r"|SentryModule\.forRoot)\s*\(|\b(?:useClass\s*:\s*|new\s+)(SentryGlobalFilter)\b"
)
_ENV_SOURCE = re.compile(
    r"process\.env|import\.meta\.env|Deno\.env|Bun\.env|os\.environ|os\.getenv|\bgetenv\(|\benv\(|\benv\.[A-Z]"
)
_CONFIG_SOURCE = re.compile(r"\b(config|settings|Config|Settings|configService|app\.config)\b")
_STRING = re.compile(r"""^\s*(['"`]).*\1\s*$""", re.S)


@dataclass(frozen=True, slots=True)
class Spot:
    """A place in a file and what was found there."""

    path: str
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class SentryInit:
    """One Sentry SDK `init` call and where its DSN comes from."""

    path: str
    line: int
    sdk: str  # e.g. "@sentry/node" or "sentry_sdk"
    dsn_source: str  # "env", "config", "literal", "sdk default (SENTRY_DSN)" or "unknown"
    expression: str  # the DSN argument as written, a literal DSN's key redacted; "" when there is none


@dataclass(frozen=True, slots=True)
class MetricDefinition:
    """A metric the code defines, and the series names it exposes."""

    name: str
    kind: str  # counter, gauge, histogram, summary, info, enum
    path: str
    line: int
    series: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MetricProvider:
    """A library or exporter that adds metric families the code does not define itself."""

    label: str
    path: str
    line: int
    names: tuple[str, ...]
    prefixes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One Prometheus alerting rule, the metrics its expression selects, and what is wrong with it."""

    path: str
    line: int
    group: str
    name: str
    expr: str
    metrics: tuple[str, ...]
    problem: str | None  # e.g. no expr, unbalanced brackets


@dataclass(frozen=True, slots=True)
class PanelQuery:
    """The PromQL query of one dashboard panel and the metrics it selects."""

    path: str
    line: int
    expr: str
    metrics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Dashboard:
    """One Grafana dashboard: its title, how many panels, and the PromQL queries of its panels."""

    path: str
    title: str
    panels: int
    queries: tuple[PanelQuery, ...]


@dataclass(frozen=True, slots=True)
class FileProblem:
    """A file that looks like a rule file or a dashboard but could not be read as one."""

    path: str
    line: int | None
    message: str


# Always there in Prometheus: the scrape's own series and the alerts' state.
ALWAYS_KNOWN = frozenset(
    {
        "up",
        "ALERTS",
        "ALERTS_FOR_STATE",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    }
)


@dataclass(frozen=True, slots=True)
class ObsFiles:
    """What the repository says about error tracking, metrics, alerts and dashboards."""

    language: str | None
    sentry_imports: tuple[Spot, ...]  # text = the SDK package
    sentry_inits: tuple[SentryInit, ...]
    sentry_handlers: tuple[Spot, ...]  # text = the call that sends errors to Sentry
    literal_dsns: tuple[Spot, ...]  # text = the DSN, its key redacted
    metrics: tuple[MetricDefinition, ...]
    providers: tuple[MetricProvider, ...]
    alerts: tuple[AlertRule, ...]
    recorded: tuple[str, ...]  # names that recording rules create
    rule_problems: tuple[FileProblem, ...]
    dashboards: tuple[Dashboard, ...]
    dashboard_problems: tuple[FileProblem, ...]

    def is_known(self, metric: str) -> bool:
        """Whether a series with this name exists: defined by the code, a library, an exporter or a rule."""
        if metric in ALWAYS_KNOWN or metric in self.recorded:
            return True
        if any(metric in m.series for m in self.metrics):
            return True
        return any(metric in p.names or metric.startswith(p.prefixes) for p in self.providers)

    def unknown(self, metrics: Sequence[str]) -> tuple[str, ...]:
        """The metrics among `metrics` that nothing in the repository defines."""
        return tuple(m for m in metrics if not self.is_known(m))


@probe("obs.files", timeout_s=120)
def observability_files(ctx: ProbeContext) -> ObsFiles:
    """Read source, rule and dashboard files for Sentry, metric definitions, alert rules and dashboards."""
    repo = ctx.fact("repo", RepoFacts)
    return scan(repo.root, repo.files, repo.primary_language)


def scan(root: Path, files: Sequence[str], language: str | None) -> ObsFiles:
    """Scan `files` (relative to `root`) for everything :class:`ObsFiles` holds."""
    sources = _read_all(root, [f for f in files if _is_app_source(f)])
    configs = _read_all(
        root,
        [
            f
            for f in files
            if f.endswith(CONFIG_SUFFIXES) and not _is_vendored(f) and PurePosixPath(f).name not in _LOCKFILES
        ],
    )
    sentry = [_sentry(s) for s in sources]
    alerts, recorded, rule_problems = _rules([c for c in configs if c.path.endswith(_RULE_SUFFIXES)])
    dashboards, dashboard_problems = _dashboards([c for c in configs if c.path.endswith(".json")])
    return ObsFiles(
        language=language,
        sentry_imports=tuple(spot for found in sentry for spot in found[0]),
        sentry_inits=tuple(init for found in sentry for init in found[1]),
        sentry_handlers=tuple(spot for found in sentry for spot in found[2]),
        literal_dsns=tuple(_literal_dsns([*sources, *configs])),
        metrics=tuple(m for s in sources for m in _metric_definitions(s)),
        providers=tuple(_providers(sources, configs)),
        alerts=tuple(alerts),
        recorded=tuple(recorded),
        rule_problems=tuple(rule_problems),
        dashboards=tuple(dashboards),
        dashboard_problems=tuple(dashboard_problems),
    )


def _read_all(root: Path, paths: Sequence[str]) -> list[TextFile]:
    """The readable text files among `paths` (large, binary and unreadable ones are left out)."""
    return [file for file in (read_text(root, p) for p in paths) if file.text is not None]


def _is_vendored(path: str) -> bool:
    return bool(_BUILD_DIRS.intersection(path.split("/")[:-1]))


def _is_app_source(path: str) -> bool:
    """A JS/TS/Python file of the application: not a test, not build output."""
    if not path.endswith(SOURCE_SUFFIXES) or path.endswith(".d.ts") or _is_vendored(path):
        return False
    *dirs, name = path.split("/")
    if name.endswith(".py"):
        python_test = name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
        return not python_test and not {"tests", "test"}.intersection(dirs)
    return not is_test_path(path)


def redact_dsn(text: str) -> str:
    """`text` with every DSN's keys (public, and secret in old DSNs) replaced by ***."""
    return DSN.sub(lambda m: re.sub(r"://[^@]+@", "://***@", m.group(0), count=1), text)


# ---------------------------------------------------------------- Sentry


def _sentry(source: TextFile) -> tuple[list[Spot], list[SentryInit], list[Spot]]:
    """The Sentry SDK imports, init calls and error-capturing calls in one source file."""
    text = source.text or ""
    if source.path.endswith(".py"):
        imports = [Spot(source.path, source.line_of(m.start()), "sentry_sdk") for m in _PY_IMPORT.finditer(text)]
        calls = _python_init_calls(text) if imports else []
        sdk = "sentry_sdk"
    else:
        imports = [Spot(source.path, source.line_of(m.start()), m.group(1)) for m in _JS_IMPORT.finditer(text)]
        calls = _js_init_calls(text) if imports else []
        sdk = imports[0].text if imports else ""
    inits = []
    for start, args in calls:
        source_kind, expression = _dsn(args, text, python=sdk == "sentry_sdk")
        inits.append(SentryInit(source.path, source.line_of(start), sdk, source_kind, redact_dsn(expression)))
    handlers = []
    if imports and sdk != "sentry_sdk":
        handlers = [
            Spot(source.path, source.line_of(m.start()), m.group(1) or m.group(2)) for m in _JS_HANDLERS.finditer(text)
        ]
    return imports, inits, handlers


def _js_init_calls(text: str) -> list[tuple[int, str]]:
    """(offset, argument text) of each `Sentry.init(...)` (or a named `init` import) call."""
    namespaces = [next(g for g in m.groups() if g) for m in _JS_NAMESPACE.finditer(text)]
    functions = []
    for match in _JS_NAMED.finditer(text):
        names = match.group(1) if match.group(1) is not None else match.group(3)
        for item in names.split(","):
            parts = re.split(r"\s+as\s+|\s*:\s*", item.strip())
            if parts[0] == "init":
                functions.append(parts[-1])
    callees = [rf"\b{re.escape(n)}\s*\.\s*init" for n in namespaces] + [rf"\b{re.escape(f)}" for f in functions]
    return _calls(text, callees)


def _python_init_calls(text: str) -> list[tuple[int, str]]:
    """(offset, argument text) of each `sentry_sdk.init(...)` (or imported `init`) call."""
    callees = [r"\bsentry_sdk\s*\.\s*init"]
    for match in _PY_IMPORT.finditer(text):
        if match.group(1):
            callees.append(rf"\b{re.escape(match.group(1))}\s*\.\s*init")
        elif match.group(2) and re.search(r"\binit\b", match.group(2)):
            alias = re.search(r"\binit\s+as\s+(\w+)", match.group(2))
            callees.append(rf"\b{alias.group(1) if alias else 'init'}")
    return _calls(text, callees)


def _calls(text: str, callees: list[str]) -> list[tuple[int, str]]:
    if not callees:
        return []
    found = []
    for match in re.finditer(rf"(?:{'|'.join(callees)})\s*\(", text):
        open_at = match.end() - 1
        found.append((match.start(), text[open_at + 1 : closing_bracket(text, open_at)]))
    return found


def _dsn(args: str, text: str, *, python: bool) -> tuple[str, str]:
    """(where the DSN comes from, its expression) for an init call's argument text."""
    if python:
        keyword = re.search(r"\bdsn\s*=\s*([^,\n)]+)", args)
        positional = re.match(r"\s*([^\s=,][^,=\n]*?)\s*(?:,|$)", args)
        expression = keyword.group(1) if keyword else positional.group(1) if positional else None
    else:
        keyword = re.search(r"\bdsn\s*:\s*([^,\n}]+)|\bdsn\s*(?=[,}\n])", args)
        expression = (keyword.group(1) or "dsn") if keyword else None
    if expression is None:
        return "sdk default (SENTRY_DSN)", ""
    expression = expression.strip()
    return _classify(expression, text, python=python, depth=0), expression


def _classify(expression: str, text: str, *, python: bool, depth: int) -> str:
    """Whether an expression reads the environment or a config object, is a literal, or is unknown."""
    if DSN.search(expression) or _STRING.match(expression):
        return "literal"
    if _ENV_SOURCE.search(expression):
        return "env"
    if _CONFIG_SOURCE.search(expression):
        return "config"
    if depth == 0 and re.fullmatch(r"[\w$]+", expression):
        pattern = rf"^\s*{expression}\s*=\s*(.+)$" if python else rf"\b(?:const|let|var)\s+{expression}\s*=\s*([^;\n]+)"
        assigned = re.search(pattern, text, re.M)
        if assigned:
            return _classify(assigned.group(1).strip(), text, python=python, depth=1)
    return "unknown"


def _literal_dsns(files: Sequence[TextFile]) -> Iterator[Spot]:
    for file in files:
        for match in DSN.finditer(file.text or ""):
            yield Spot(file.path, file.line_of(match.start()), redact_dsn(match.group(0)))


# ---------------------------------------------------------------- metrics

_JS_METRIC = re.compile(
    r"\b(?:new\s+(?:[\w$]+\.)?(Counter|Gauge|Histogram|Summary)|make(Counter|Gauge|Histogram|Summary)Provider)\s*(?:<[^>(]*>)?\s*\("
)
_PY_METRIC = re.compile(r"\b(Counter|Gauge|Histogram|Summary|Info|Enum)\s*\(")
_JS_NAME = re.compile(r"""\bname\s*:\s*(['"`])([A-Za-z_:][\w:]*)\1""")
_PY_NAME = re.compile(r"""^\s*(?:name\s*=\s*)?(['"])([A-Za-z_:][\w:]*)\1""")
_PY_PREFIX = re.compile(r"""\b(namespace|subsystem)\s*=\s*(['"])(\w+)\2""")


def series(kind: str, name: str, *, python: bool) -> tuple[str, ...]:
    """The series names a metric exposes (prometheus_client adds _total and _created where prom-client does not)."""
    created = ("_created",) if python else ()
    if kind == "counter" and python:
        return tuple(f"{name.removesuffix('_total')}{s}" for s in ("_total", "_created"))
    if kind == "histogram":
        return tuple(f"{name}{s}" for s in ("_bucket", "_sum", "_count", *created))
    if kind == "summary":
        return (name, *(f"{name}{s}" for s in ("_sum", "_count", *created)))
    if kind == "info":
        return (f"{name}_info",)
    return (name,)


def _metric_definitions(source: TextFile) -> Iterator[MetricDefinition]:
    text = source.text or ""
    python = source.path.endswith(".py")
    if python and "prometheus_client" not in text:
        return  # collections.Counter and friends are not metrics
    for match in (_PY_METRIC if python else _JS_METRIC).finditer(text):
        open_at = match.end() - 1
        args = text[open_at + 1 : closing_bracket(text, open_at)]
        kind = next(g for g in match.groups() if g).lower()
        found = (_PY_NAME if python else _JS_NAME).search(args)
        if found is None:
            continue
        name = found.group(2)
        if python:
            prefixes = dict((m.group(1), m.group(3)) for m in _PY_PREFIX.finditer(args))
            name = "_".join(p for p in (prefixes.get("namespace"), prefixes.get("subsystem"), name) if p)
        yield MetricDefinition(
            name, kind, source.path, source.line_of(match.start()), series(kind, name, python=python)
        )


@dataclass(frozen=True, slots=True)
class _Provider:
    label: str
    marker: re.Pattern[str]
    in_source: bool  # found in application source (a library), else in deployment files (an exporter)
    histograms: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()


def _module(name: str) -> re.Pattern[str]:
    """An import of a JS or Python module by name."""
    return re.compile(rf"""['"]{re.escape(name)}['"]|^\s*(?:from|import)\s+{re.escape(name)}\b""", re.M)


_HTTP_SIZES = ("http_request_size_bytes", "http_response_size_bytes")
_PROVIDERS = (
    _Provider(
        "prom-client default metrics",
        re.compile(r"\bcollectDefaultMetrics\s*\("),
        True,
        prefixes=("process_", "nodejs_"),
    ),
    _Provider("express-prom-bundle", _module("express-prom-bundle"), True, ("http_request_duration_seconds",)),
    _Provider(
        "prometheus-api-metrics",
        _module("prometheus-api-metrics"),
        True,
        ("http_request_duration_seconds", *_HTTP_SIZES),
        ("app_version_info",),
        ("process_", "nodejs_"),
    ),
    _Provider(
        "@willsoto/nestjs-prometheus", _module("@willsoto/nestjs-prometheus"), True, prefixes=("process_", "nodejs_")
    ),
    _Provider(
        "prometheus_client default collectors", _module("prometheus_client"), True, prefixes=("process_", "python_")
    ),
    _Provider(
        "prometheus-fastapi-instrumentator",
        _module("prometheus_fastapi_instrumentator"),
        True,
        ("http_request_duration_seconds", "http_request_duration_highr_seconds", *_HTTP_SIZES),
        ("http_requests_total",),
    ),
    _Provider("prometheus-flask-exporter", _module("prometheus_flask_exporter"), True, prefixes=("flask_",)),
    _Provider("starlette-exporter", _module("starlette_exporter"), True, prefixes=("starlette_",)),
    _Provider("django-prometheus", _module("django_prometheus"), True, prefixes=("django_",)),
    _Provider("node_exporter", re.compile(r"node[-_]exporter"), False, prefixes=("node_",)),
    _Provider("postgres_exporter", re.compile(r"postgres(ql)?[-_]exporter"), False, prefixes=("pg_",)),
    _Provider("redis_exporter", re.compile(r"redis[-_]exporter"), False, prefixes=("redis_",)),
    _Provider("cAdvisor", re.compile(r"cadvisor", re.I), False, prefixes=("container_", "machine_")),
    _Provider("blackbox_exporter", re.compile(r"blackbox[-_]exporter"), False, prefixes=("probe_",)),
)


def _providers(sources: Sequence[TextFile], configs: Sequence[TextFile]) -> Iterator[MetricProvider]:
    """Each library or exporter found, once, at its first mention."""
    deploy = [c for c in configs if not c.path.endswith(".json")]
    for provider in _PROVIDERS:
        for file in sources if provider.in_source else deploy:
            match = provider.marker.search(file.text or "")
            if match is not None:
                names = tuple(s for h in provider.histograms for s in series("histogram", h, python=False))
                yield MetricProvider(
                    provider.label, file.path, file.line_of(match.start()), names + provider.names, provider.prefixes
                )
                break


# ---------------------------------------------------------------- alert rules


class _LineLoader(yaml.SafeLoader):
    """A safe YAML loader that records each mapping's 1-based line under `__line__`."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = super().construct_mapping(node, deep=deep)
        mapping[_LINE] = node.start_mark.line + 1
        return mapping


def load_yaml_documents(text: str) -> list[Any]:
    """Every document of a YAML stream, mappings carrying `__line__`; raises yaml.YAMLError."""
    return list(yaml.load_all(text, Loader=_LineLoader))  # a SafeLoader subclass


def yaml_problem(path: str, exc: yaml.YAMLError) -> FileProblem:
    """A YAML error as a file problem at its line."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return FileProblem(path, mark.line + 1 if mark is not None else None, f"invalid YAML: {problem}")


def _rules(files: Sequence[TextFile]) -> tuple[list[AlertRule], list[str], list[FileProblem]]:
    alerts: list[AlertRule] = []
    recorded: list[str] = []
    problems: list[FileProblem] = []
    for file in files:
        text = file.text or ""
        if not re.search(r"^\s*-?\s*(alert|record)\s*:", text, re.M):
            continue
        try:
            documents = load_yaml_documents(text)
        except yaml.YAMLError as exc:
            problems.append(yaml_problem(file.path, exc))
            continue
        groups = [g for doc in documents for g in _groups(doc)]
        if not groups:
            problems.append(
                FileProblem(file.path, None, "has `alert:` or `record:` entries but no `groups:` list of rule groups")
            )
        for group in groups:
            for rule in group.get("rules") or []:
                if not isinstance(rule, dict):
                    continue
                if isinstance(rule.get("record"), str):
                    recorded.append(rule["record"])
                elif "alert" in rule:
                    alerts.append(_alert(file.path, str(group.get("name", "")), rule))
    return alerts, recorded, problems


def _groups(document: Any) -> list[dict[str, Any]]:
    """The rule groups of a Prometheus rule file, or of a Kubernetes PrometheusRule's spec."""
    if not isinstance(document, dict):
        return []
    spec = document.get("spec") if document.get("kind") == "PrometheusRule" else document
    groups = spec.get("groups") if isinstance(spec, dict) else None
    return [g for g in groups if isinstance(g, dict)] if isinstance(groups, list) else []


def _alert(path: str, group: str, rule: Mapping[str, Any]) -> AlertRule:
    name = str(rule.get("alert"))
    expr = rule.get("expr")
    line = int(rule.get(_LINE, 0)) or 1
    if not isinstance(expr, str | int | float) or isinstance(expr, bool) or not str(expr).strip():
        return AlertRule(path, line, group, name, "", (), "has no `expr`")
    text = str(expr)
    problem = bracket_problem(text)
    return AlertRule(path, line, group, name, text.strip(), metric_names(text), problem and f"expr: {problem}")


# ---------------------------------------------------------------- dashboards


def _dashboards(files: Sequence[TextFile]) -> tuple[list[Dashboard], list[FileProblem]]:
    dashboards: list[Dashboard] = []
    problems: list[FileProblem] = []
    for file in files:
        text = file.text or ""
        looks_like_one = '"panels"' in text or re.search(r"grafana|dashboard", file.path, re.I) is not None
        if not looks_like_one:
            continue
        try:
            data = json.loads(text)
        except ValueError as exc:
            problems.append(FileProblem(file.path, getattr(exc, "lineno", None), f"invalid JSON: {exc}"))
            continue
        board = data.get("dashboard") if isinstance(data, dict) and isinstance(data.get("dashboard"), dict) else data
        if not isinstance(board, dict) or not ("panels" in board or "rows" in board):
            if '"panels"' in text:
                problems.append(FileProblem(file.path, None, "not a Grafana dashboard: no top-level `panels`"))
            continue
        title = board.get("title")
        if not isinstance(title, str) or not title.strip():
            problems.append(FileProblem(file.path, None, "a Grafana dashboard without a `title`"))
            continue
        panels = [p for p in _panels(board) if p.get("type") != "row"]
        queries = [_query(file, t["expr"]) for p in panels for t in _targets(p) if isinstance(t.get("expr"), str)]
        dashboards.append(Dashboard(file.path, title.strip(), len(panels), tuple(queries)))
    return dashboards, problems


def _panels(container: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside rows (old `rows[].panels` and collapsed row panels)."""
    children = container.get("panels")
    rows = container.get("rows")
    nested = [r.get("panels") for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
    for group in (children, *nested):
        for panel in group if isinstance(group, list) else []:
            if isinstance(panel, dict):
                yield panel
                yield from _panels({"panels": panel.get("panels")}) if panel.get("type") == "row" else ()


def _targets(panel: Mapping[str, Any]) -> list[dict[str, Any]]:
    targets = panel.get("targets")
    return [t for t in targets if isinstance(t, dict)] if isinstance(targets, list) else []


def _query(file: TextFile, expr: str) -> PanelQuery:
    offset = (file.text or "").find(json.dumps(expr, ensure_ascii=False)[1:-1])
    return PanelQuery(file.path, file.line_of(offset) if offset >= 0 else 1, expr, metric_names(expr))
