"""The small PromQL tokenizer: metric names selected by an expression, and unbalanced brackets."""

from __future__ import annotations

import pytest

from grader.probes.promql import bracket_problem, metric_names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up == 0", ("up",)),
        ('absent(up{job="api"})', ("up",)),
        (
            'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{job="api"}[5m]))) > 0.5',
            ("http_request_duration_seconds_bucket",),
        ),
        (
            'sum(rate(http_requests_total{status=~"5.."}[5m])) / sum without (i) (rate(http_requests_total[5m]))',
            ("http_requests_total",),
        ),
        (
            "rate(x_total[$__rate_interval]) and on(instance) group_left(version) build_info offset 5m",
            ("x_total", "build_info"),
        ),
        ('{__name__="renamed_metric", job="a"} > 1 unless other_metric', ("renamed_metric", "other_metric")),
        ("process_resident_memory_bytes / 1024 / 1024 > 1e3", ("process_resident_memory_bytes",)),
        ('label_replace(up, "dst", "$1", "src", "(.*)")', ("up",)),
        ("sum(nodejs_heap_size_used_bytes) # a comment naming not_a_metric", ("nodejs_heap_size_used_bytes",)),
        ("job:http_requests:rate5m > bool 10", ("job:http_requests:rate5m",)),
        ('topk(5, count_values("version", build_version))', ("build_version",)),
        ("rate(${metric}[5m])", ()),
    ],
)
def test_metric_names_skip_functions_keywords_labels_and_durations(expr: str, names: tuple[str, ...]) -> None:
    assert metric_names(expr) == names


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("rate(x[5m]", "unclosed '('"),
        ("sum(x]", "unexpected ']' at character 6"),
        ("x)", "unexpected ')' at character 2"),
        ('x{job="api}', "unterminated string starting"),
        ('sum(rate(x{path=")"}[5m]))', None),
    ],
)
def test_bracket_problems_are_named_and_brackets_in_strings_ignored(expr: str, problem: str | None) -> None:
    found = bracket_problem(expr)
    assert (found is None) if problem is None else (found is not None and found.startswith(problem))
