"""grade.toml `[load]`: defaults, bounds and one-line errors."""

from __future__ import annotations

from typing import Any

import pytest

from grader.errors import ConfigError
from grader.probes.load_config import LoadConfig
from grader.project_config import parse_project_config


def load(table: dict[str, Any]) -> LoadConfig:
    return parse_project_config({"load": table}).load


def test_defaults_are_the_phase_5_definition_of_100_concurrent_users() -> None:
    config = parse_project_config({}).load
    assert (config.users, config.pacing_s, config.warmup_s, config.duration_s) == (100, 1.0, 3.0, 20.0)
    assert config.requests == () and config.locustfile is None


def test_a_scenario_and_sizes_are_read() -> None:
    config = load({"users": 150, "pacing_s": 0.5, "duration_s": 30, "requests": ["GET /a", " GET /b/1 "]})
    assert (config.users, config.pacing_s, config.duration_s) == (150, 0.5, 30.0)
    assert config.requests == (("GET", "/a"), ("GET", "/b/1"))


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"duration_s": 600}, "[load] duration_s must be a number from 1 to 120"),
        ({"users": 0}, "[load] users must be a number from 1 to 2000"),
        ({"users": 10.5}, "[load] users must be a whole number"),
        ({"pacing_s": True}, "[load] pacing_s must be a number"),
        ({"requests": "GET /a"}, "[load] requests must be a list"),
        ({"requests": ["/a"]}, "'/a' is not \"METHOD /path\""),
        ({"requests": ["GET http://example.com/"]}, 'is not "METHOD /path"'),
        ({"locustfile": ""}, "[load] locustfile must be a path"),
        ({"rate": 5}, "[load] has unknown key(s) rate"),
    ],
)
def test_bad_values_are_one_line_errors(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(table)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
