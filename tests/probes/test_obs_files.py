"""Observability files read from real files: Sentry set-up, metric definitions, alert rules, dashboards."""

from __future__ import annotations

import json
from pathlib import Path

from grader.probes.obs_files import ObsFiles, redact_dsn, scan

FAKE_DSN = "https://abc123@o0.ingest.sentry.io/0"


def write(root: Path, files: dict[str, str | bytes]) -> tuple[str, ...]:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            (root / name).write_bytes(content)
        else:
            (root / name).write_text(content, encoding="utf-8")
    return tuple(sorted(files))


def scanned(root: Path, files: dict[str, str | bytes], language: str = "javascript") -> ObsFiles:
    return scan(root, write(root, files), language)


def test_where_each_sentry_dsn_comes_from(tmp_path: Path) -> None:
    obs = scanned(
        tmp_path,
        {
            "src/named.ts": "import { init, setupExpressErrorHandler } from '@sentry/node';\n"
            "init({ dsn: config.sentryDsn });\nsetupExpressErrorHandler(app);\n",
            "src/shorthand.js": "const Sentry = require('@sentry/node');\nconst dsn = process.env.SENTRY_DSN;\n"
            "Sentry.init({ dsn, tracesSampleRate: 0.1 });\n",
            "src/fallback.js": "import * as S from '@sentry/node';\n"
            f"S.init({{ dsn: process.env.SENTRY_DSN || '{FAKE_DSN}' }});\n",
            "src/bare.js": "const Sentry = require('@sentry/node');\nSentry.init({ release: 'v1' });\n",
            "app/main.py": "import os\nimport sentry_sdk\n\nsentry_sdk.init(dsn=os.environ.get('SENTRY_DSN'))\n",
            "app/other.py": "from sentry_sdk import init as start_sentry\nstart_sentry(settings.SENTRY_DSN)\n",
            "tests/sentry.test.js": f"const Sentry = require('@sentry/node');\nSentry.init({{ dsn: '{FAKE_DSN}' }});\n",
            "src/db.js": "db.init({ dsn: 'postgres://x' });\n",  # not Sentry: no SDK import
        },
    )
    sources = {(i.path, i.line): (i.sdk, i.dsn_source) for i in obs.sentry_inits}
    assert sources == {
        ("src/named.ts", 2): ("@sentry/node", "config"),
        ("src/shorthand.js", 3): ("@sentry/node", "env"),
        ("src/fallback.js", 2): ("@sentry/node", "literal"),
        ("src/bare.js", 2): ("@sentry/node", "sdk default (SENTRY_DSN)"),
        ("app/main.py", 4): ("sentry_sdk", "env"),
        ("app/other.py", 2): ("sentry_sdk", "config"),
    }
    fallback = next(i for i in obs.sentry_inits if i.path == "src/fallback.js")
    assert "abc123" not in fallback.expression and "https://***@o0.ingest.sentry.io/0" in fallback.expression
    assert [(d.path, d.line, d.text) for d in obs.literal_dsns] == [
        ("src/fallback.js", 2, "https://***@o0.ingest.sentry.io/0")
    ]  # the test file's DSN is not application code
    assert [(h.path, h.text) for h in obs.sentry_handlers] == [("src/named.ts", "setupExpressErrorHandler")]


def test_metric_definitions_and_the_series_they_expose(tmp_path: Path) -> None:
    obs = scanned(
        tmp_path,
        {
            "src/metrics.ts": "import client from 'prom-client';\n"
            "export const h = new client.Histogram<string>({\n  labelNames: ['route'],\n  name: 'req_seconds',\n"
            "  help: 'x' });\nexport const c = new Counter({ name: `jobs_total`, help: 'y' });\n"
            "client.collectDefaultMetrics();\n",
            "app/metrics.py": "from prometheus_client import Counter, Summary\n"
            "REQUESTS = Counter('requests', 'Requests', namespace='shop')\n"
            "LATENCY = Summary(name='latency_seconds', documentation='z')\n",
            "app/words.py": "from collections import Counter\nwords = Counter('hello')\n",
            "docker-compose.yml": "services:\n  node-exporter:\n    image: prom/node-exporter\n",
        },
    )
    series = {m.name: m.series for m in obs.metrics}
    assert series == {
        "req_seconds": ("req_seconds_bucket", "req_seconds_sum", "req_seconds_count"),
        "jobs_total": ("jobs_total",),
        "shop_requests": ("shop_requests_total", "shop_requests_created"),
        "latency_seconds": (
            "latency_seconds",
            "latency_seconds_sum",
            "latency_seconds_count",
            "latency_seconds_created",
        ),
    }
    labels = {p.label for p in obs.providers}
    assert labels == {"prom-client default metrics", "prometheus_client default collectors", "node_exporter"}
    for known in ("req_seconds_bucket", "shop_requests_total", "nodejs_heap_size_used_bytes", "node_load1", "up"):
        assert obs.is_known(known), known
    assert obs.unknown(("req_seconds", "requests_total", "hello")) == ("req_seconds", "requests_total", "hello")


RULES = """\
groups:
  - name: api
    rules:
      - record: job:req:rate5m
        expr: sum by (job) (rate(jobs_total[5m]))
      - alert: Busy
        expr: job:req:rate5m > 100
        for: 5m
      - alert: Broken
        expr: sum(rate(jobs_total[5m])
      - alert: Empty
        labels: {severity: page}
"""
CRD = """\
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: api}
spec:
  groups:
    - name: crd
      rules:
        - alert: Down
          expr: up == 0
"""


def test_rule_files_parse_with_lines_and_bad_files_become_problems(tmp_path: Path) -> None:
    obs = scanned(
        tmp_path,
        {
            "monitoring/alerts.yml": RULES,
            "k8s/rules.yaml": CRD,
            "monitoring/legacy.rules": "groups:\n- name: x\n  rules:\n  - alert: Old\n    expr: up < 1\n",
            "monitoring/bad.yml": "groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: [unclosed\n",
            "monitoring/flat.yml": "- alert: NotInAGroup\n  expr: up == 0\n",
            "monitoring/binary.yml": b"\x00\x01alert: x",
            "docker-compose.yml": "services:\n  api:\n    image: shop\n",
        },
    )
    alerts = {a.name: (a.path, a.line, a.group, a.metrics, a.problem) for a in obs.alerts}
    assert alerts == {
        "Busy": ("monitoring/alerts.yml", 6, "api", ("job:req:rate5m",), None),
        "Broken": ("monitoring/alerts.yml", 9, "api", ("jobs_total",), "expr: unclosed '('"),
        "Empty": ("monitoring/alerts.yml", 11, "api", (), "has no `expr`"),
        "Down": ("k8s/rules.yaml", 8, "crd", ("up",), None),
        "Old": ("monitoring/legacy.rules", 4, "x", ("up",), None),
    }
    assert obs.recorded == ("job:req:rate5m",) and obs.is_known("job:req:rate5m")
    problems = {p.path: (p.line, p.message) for p in obs.rule_problems}
    assert set(problems) == {"monitoring/bad.yml", "monitoring/flat.yml"}
    assert problems["monitoring/bad.yml"][0] == 6 and problems["monitoring/bad.yml"][1].startswith("invalid YAML")
    assert "no `groups:` list" in problems["monitoring/flat.yml"][1]


def test_grafana_dashboards_in_every_export_format_and_broken_ones(tmp_path: Path) -> None:
    modern = {
        "title": "API",
        "panels": [
            {"type": "timeseries", "title": "rps", "targets": [{"expr": 'sum(rate(jobs_total{job="$job"}[5m]))'}]},
            {"type": "row", "collapsed": True, "panels": [{"type": "stat", "targets": [{"expr": "up"}]}]},
            {"type": "text", "title": "notes"},
        ],
    }
    old_panel = {"type": "graph", "targets": [{"expr": "x_total"}]}
    legacy = {"dashboard": {"title": "Old", "rows": [{"panels": [old_panel]}]}}  # the API's export wrapper
    obs = scanned(
        tmp_path,
        {
            "monitoring/api.json": json.dumps(modern, indent=2),
            "grafana/old.json": json.dumps(legacy),
            "grafana/broken.json": '{\n  "title": "x",\n  "panels": [\n}',
            "monitoring/untitled.json": '{"panels": []}',
            "package.json": '{"name": "x"}',
            "tsconfig.json": '{"compilerOptions": {}}',
        },
    )
    boards = {d.path: (d.title, d.panels, [(q.line, q.metrics) for q in d.queries]) for d in obs.dashboards}
    assert boards == {
        "monitoring/api.json": ("API", 3, [(9, ("jobs_total",)), (21, ("up",))]),  # the row is not a panel
        "grafana/old.json": ("Old", 1, [(1, ("x_total",))]),
    }
    problems = {p.path: (p.line, p.message) for p in obs.dashboard_problems}
    assert problems["grafana/broken.json"][0] == 4 and problems["grafana/broken.json"][1].startswith("invalid JSON")
    assert problems["monitoring/untitled.json"] == (None, "a Grafana dashboard without a `title`")


def test_redaction_keeps_host_and_project_but_never_the_key() -> None:
    assert redact_dsn(f"dsn = '{FAKE_DSN}'") == "dsn = 'https://***@o0.ingest.sentry.io/0'"
    assert redact_dsn("http://k:s@sentry.local:9000/api/7") == "http://***@sentry.local:9000/api/7"
