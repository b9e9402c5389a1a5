"""`grade init`, the grade.toml sections of the service ([service], [services]) and the service's env options."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from grader.cli import main
from grader.errors import ConfigError, UsageError
from grader.init_template import TEMPLATE
from grader.probes.api_config import parse_api_config, parse_auth_config
from grader.probes.service_config import ServiceConfig, parse_env_assignments, parse_service_config, read_env_file
from grader.project_config import load_project_config

EXAMPLE_LINE = re.compile(r"^# (\w+ = .*)$", re.M)


def uncommented(template: str) -> str:
    """The template with every example setting switched on."""
    return EXAMPLE_LINE.sub(r"\1", template)


def one_line_error(capsys: pytest.CaptureFixture[str], code: int, message: str) -> None:
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_init_writes_the_template_and_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path)]) == 0
    target = tmp_path / "grade.toml"
    assert target.read_text(encoding="utf-8") == TEMPLATE
    assert f"wrote {target}" in capsys.readouterr().out
    target.write_text("# mine\n", encoding="utf-8")
    one_line_error(capsys, main(["init", str(tmp_path)]), "already exists: use --force")
    assert target.read_text(encoding="utf-8") == "# mine\n"
    assert main(["init", str(tmp_path), "--force"]) == 0
    assert target.read_text(encoding="utf-8") == TEMPLATE


def test_init_into_a_missing_folder_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(capsys, main(["init", str(tmp_path / "nope")]), "not a directory")


@pytest.mark.parametrize("text", [TEMPLATE, uncommented(TEMPLATE)], ids=["as-written", "every-example-on"])
def test_the_template_parses_with_the_projects_loader(tmp_path: Path, text: str) -> None:
    raw = tomllib.loads(text)
    assert set(raw) == {"service", "services", "tests", "secrets", "api", "auth", "jobs"}
    parse_service_config(raw)
    parse_api_config(raw["api"])
    parse_auth_config(raw["auth"])
    (tmp_path / "grade.toml").write_text(text, encoding="utf-8")
    assert load_project_config(tmp_path).found


def test_every_example_is_documented_and_switches_something_on() -> None:
    examples = EXAMPLE_LINE.findall(TEMPLATE)
    assert len(examples) >= 20
    service = parse_service_config(tomllib.loads(uncommented(TEMPLATE)))
    assert service == ServiceConfig(
        start="npm run start:prod", port=3000, health="/health",
        env={"JWT_SECRET": "dev-only-not-a-secret", "DB_URL": "${DATABASE_URL}"},
        ready_timeout_s=60.0, cwd="backend", postgres=True, redis=True,
        postgres_url="postgresql://app:app@127.0.0.1:5432/app", redis_url="redis://127.0.0.1:6379/0",
    )  # fmt: skip
    assert parse_service_config(tomllib.loads(TEMPLATE)) == ServiceConfig()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"service": "npm start"}, "[service] must be a table"),
        ({"service": {"command": "x"}}, "[service] has unknown key(s) command (known: start, port,"),
        ({"service": {"start": ""}}, "[service] start must be a non-empty string"),
        ({"service": {"port": "3000"}}, "[service] port must be a whole number from 1 to 65535, not '3000'"),
        ({"service": {"port": 70000}}, "[service] port must be a whole number from 1 to 65535"),
        ({"service": {"port": True}}, "[service] port must be a whole number"),
        ({"service": {"health": "health"}}, "[service] health must be a path starting with '/'"),
        ({"service": {"env": ["A=1"]}}, "[service] env must be a table"),
        ({"service": {"env": {"PORT": "1"}}}, "[service] env must not set PORT: use [service] port"),
        ({"service": {"env": {"A-B": "1"}}}, "'A-B' is not a valid environment variable name"),
        ({"service": {"env": {"A": [1]}}}, "[service] env: A must be a string, number or boolean"),
        ({"service": {"ready_timeout": 0}}, "[service] ready_timeout must be a number of seconds above 0"),
        ({"service": {"cwd": "../elsewhere"}}, "[service] cwd must be a folder inside the project"),
        ({"services": {"postgres": "yes"}}, "[services] postgres must be true or false"),
        ({"services": {"mongo": True}}, "[services] has unknown key(s) mongo"),
    ],
)
def test_bad_service_settings_are_one_line_config_errors(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_service_config(raw, "proj/grade.toml")
    assert message in str(caught.value) and str(caught.value).startswith("proj/grade.toml: ")
    assert "\n" not in str(caught.value)


def test_env_values_become_strings() -> None:
    config = parse_service_config({"service": {"env": {"DEBUG": True, "WORKERS": 2, "RATIO": 0.5}}})
    assert config.env == {"DEBUG": "true", "WORKERS": "2", "RATIO": "0.5"}


def test_env_file_and_assignments(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text('# comment\nexport JWT_SECRET="two words"\nEMPTY=\nREF=${HOME}\n', encoding="utf-8")
    assert read_env_file(env_file) == {"JWT_SECRET": "two words", "EMPTY": "", "REF": "${HOME}"}  # no interpolation
    assert parse_env_assignments(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(UsageError, match="--env 'NOPE': expected KEY=VALUE"):
        parse_env_assignments(["NOPE"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "--env-file {path}: no such file"),
        ("A=1\nthis is not a variable\n", "--env-file {path}: line 2 is not KEY=VALUE: 'this is not a variable'"),
        ("A=1\nB\n", "--env-file {path}: line 2 is not KEY=VALUE: 'B'"),
    ],
)
def test_bad_env_files_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    env_file = tmp_path / "service.env"
    if content is not None:
        env_file.write_text(content, encoding="utf-8")
    code = main([str(tmp_path), "--phase", "0", "--env-file", str(env_file)])
    one_line_error(capsys, code, message.format(path=env_file))


@pytest.mark.parametrize("url", ["localhost:3000", "ftp://127.0.0.1/", "http://", "http://[::1"])
def test_url_must_be_http(tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str) -> None:
    one_line_error(capsys, main([str(tmp_path), "--phase", "0", "--url", url]), f"--url {url!r}: expected an http")
