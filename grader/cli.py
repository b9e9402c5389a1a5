"""Command line: parse arguments into a GradeRequest, call the API, render, pick the exit code."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import tomllib
import traceback
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console

from grader import __version__
from grader.api import DEFAULT_TEST_TIMEOUT_S, grade, prepare
from grader.diff import diff_reports
from grader.errors import GraderError, UsageError
from grader.github import publish as publish_github
from grader.init_template import write_template
from grader.isolation import LEVELS
from grader.model import SCHEMA_VERSION, GradeRequest, Report
from grader.probes.service_config import parse_env_assignments, read_env_file
from grader.reporters import REPORTERS, write_reports
from grader.reporters.json_report import from_dict
from grader.terminal import Progress, print_catalogue, print_diff, print_explain, print_report

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_FAULT = 0, 1, 2, 3
DEFAULT_FORMATS = ("html", "json")
SUBCOMMANDS = ("checks", "explain", "init", "diff", "batch")


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The `grade PATH --phase N` parser."""
    p = _Parser(
        prog="grade",
        description="Grade a backend project against a curriculum phase, with evidence.",
        epilog="Other commands: `grade checks [--phase N]`, `grade explain CHECK_ID`, `grade init [PATH] [--force]`, "
        "`grade diff OLD.json NEW.json`, `grade batch SOURCE --phase N`.",
    )
    p.add_argument("path", type=Path, help="the project folder (a git repository)")
    p.add_argument("--phase", type=int, required=True, help="0 for the bootcamp week, 1-10 for the phases")
    p.add_argument("--out", type=Path, default=Path("reports"), help="where reports go (default: reports/)")
    p.add_argument(
        "--format", default=",".join(DEFAULT_FORMATS), help=f"any of {','.join(REPORTERS)} (default: html,json)"
    )
    _add_judging_options(p)
    p.add_argument("--url", help="grade this already running service (never started or stopped by the grader)")
    p.add_argument(
        "--live-url",
        metavar="URL",
        help="the deployed app, for the HTTPS and live-demo checks (e.g. https://api.example.com/health)",
    )
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an environment variable for the service the grader starts (repeatable)",
    )
    p.add_argument(
        "--env-file", type=Path, metavar="FILE", help="environment variables for the service (dotenv syntax)"
    )
    _add_isolation_option(p)
    p.add_argument("--no-plugins", action="store_true", help="do not load third-party check plug-ins")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the verdict line")
    p.add_argument("--version", action="version", version=f"grade {__version__}")
    return p


def _add_isolation_option(p: argparse.ArgumentParser) -> None:
    """--isolation, shared by `grade` and `grade batch`."""
    p.add_argument(
        "--isolation",
        choices=LEVELS,
        default="auto",
        help="how the learner's code is confined: bubblewrap, another user + rlimits (process), containers "
        "(docker), or auto: the strongest that works here (default)",
    )


def _judging_request(ns: argparse.Namespace, path: Path, **live: Any) -> GradeRequest:
    """The GradeRequest of the options `grade` and `grade batch` share (judging, plug-ins, isolation)."""
    return GradeRequest(
        path=path,
        phase=ns.phase,
        curriculum=ns.curriculum,
        only=tuple(ns.only),
        skip=tuple(ns.skip),
        min_score=ns.min_score,
        overrides=parse_overrides(ns.overrides),
        test_timeout_s=ns.test_timeout,
        load_plugins=not ns.no_plugins,
        isolation=ns.isolation,
        **live,
    )


def _add_judging_options(p: argparse.ArgumentParser) -> None:
    """The options that say how a project is judged, shared by `grade` and `grade batch`."""
    p.add_argument("--only", action="append", default=[], metavar="CHECK_ID", help="run only these checks")
    p.add_argument("--skip", action="append", default=[], metavar="CHECK_ID", help="skip these checks")
    p.add_argument("--curriculum", type=Path, help="a curriculum TOML file instead of the bundled roadmap")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="CHECK.OPTION=VALUE",
        dest="overrides",
        help="override a check option, e.g. tests.coverage.min=0.9",
    )
    p.add_argument("--min-score", type=float, help="pass mark 0-100 (default: the phase's own)")
    p.add_argument("--test-timeout", type=float, default=DEFAULT_TEST_TIMEOUT_S, help="seconds the test suite may run")


def _catalogue_parser(command: str) -> argparse.ArgumentParser:
    p = _Parser(prog=f"grade {command}")
    if command == "checks":
        p.add_argument("--phase", type=int, help="show one phase's criteria and how each is judged")
    else:
        p.add_argument("check_id", help="a check id, e.g. tests.coverage")
    p.add_argument("--curriculum", type=Path, help="a curriculum TOML file instead of the bundled roadmap")
    p.add_argument("--no-plugins", action="store_true", help="do not load third-party check plug-ins")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 passed, 1 failed, 2 usage error, 3 grader fault)."""
    args = list(sys.argv[1:] if argv is None else argv)
    out, err = Console(), Console(stderr=True)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)  # a cancelled CI job: unwind so started services are stopped
    try:
        if args and args[0] == "init":
            return _init(args[1:])
        if args and args[0] == "diff":
            return _diff(args[1:], out)
        if args and args[0] == "batch":
            return _batch(args[1:])
        if args and args[0] in SUBCOMMANDS:
            return _catalogue(args[0], args[1:], out)
        return _grade(build_parser().parse_args(args), out, err)
    except UsageError as exc:
        _say(f"grade: error: {exc}")
        return EXIT_USAGE
    except GraderError as exc:
        _say(f"grade: grader fault: {exc}")
        return EXIT_FAULT
    except KeyboardInterrupt:
        _say("grade: interrupted")
        return 130
    except Exception as exc:  # a bug in the grader: say so plainly, full trace only on request
        _say(f"grade: internal error: {type(exc).__name__}: {exc}")
        if os.environ.get("GRADE_DEBUG"):
            traceback.print_exc()
        else:
            _say("(set GRADE_DEBUG=1 for the traceback; please report it)")
        return EXIT_FAULT


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM handler: exit through the normal unwinding, which runs the teardown of started services."""
    raise SystemExit(128 + signum)


def _say(message: str) -> None:
    """One unwrapped line on stderr (rich would wrap it at the terminal width)."""
    print(message, file=sys.stderr, flush=True)


def _grade(ns: argparse.Namespace, out: Console, err: Console) -> int:
    formats = _checked_judging_options(ns)
    if ns.url is not None and not _is_http_url(ns.url):
        raise UsageError(f"--url {ns.url!r}: expected an http:// or https:// URL, e.g. http://127.0.0.1:3000")
    if ns.live_url is not None and not _is_http_url(ns.live_url):
        raise UsageError(
            f"--live-url {ns.live_url!r}: expected an http:// or https:// URL, e.g. https://api.example.com"
        )
    env = read_env_file(ns.env_file) if ns.env_file is not None else {}
    env.update(parse_env_assignments(ns.env))
    request = _judging_request(ns, ns.path, url=ns.url, live_url=ns.live_url, env=env)
    with Progress(err, enabled=not ns.quiet) as progress:
        report = grade(request, listener=progress.on_probe)
    paths = write_reports(report, ns.out, formats)
    publish_github(report, paths, os.environ)
    if not ns.quiet:
        print_report(out, report)
    print(_verdict_line(report, paths), flush=True)
    if report.incomplete:
        return EXIT_FAULT
    return EXIT_PASSED if report.passed else EXIT_FAILED


def _checked_judging_options(ns: argparse.Namespace) -> tuple[str, ...]:
    """Validate --format, --min-score and --test-timeout; return the report formats."""
    formats = tuple(f.strip() for f in ns.format.split(",") if f.strip())
    unknown = [f for f in formats if f not in REPORTERS]
    if unknown or not formats:
        raise UsageError(f"unknown format {', '.join(unknown) or '(none)'}: choose from {', '.join(REPORTERS)}")
    if ns.min_score is not None and not 0 <= ns.min_score <= 100:
        raise UsageError("--min-score must be between 0 and 100")
    if ns.test_timeout <= 0:
        raise UsageError("--test-timeout must be positive")
    return formats


def _verdict_line(report: Report, paths: Sequence[Path]) -> str:
    score = "no score" if report.score is None else f"{report.score:.1f}/100"
    verdict = "INCOMPLETE" if report.incomplete else "PASSED" if report.passed else "FAILED"
    where = ", ".join(str(p) for p in paths)
    blocking = sum(a.blocking for a in report.assertions)
    gates = f", {blocking} failed assertion(s)" if blocking else ""
    return f"{verdict}: phase {report.phase} {score} (pass mark {report.pass_mark:g}{gates}); reports: {where}"


def parse_overrides(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`tests.coverage.min=0.9` -> {"tests.coverage": {"min": 0.9}}; values are TOML literals."""
    overrides: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        check_id, dot, option = key.strip().rpartition(".")
        if not sep or not dot or not check_id or not option:
            raise UsageError(f"--set {item!r}: expected CHECK.OPTION=VALUE, e.g. tests.coverage.min=0.9")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        overrides.setdefault(check_id, {})[option] = value
    return overrides


def _is_http_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False


def _init(args: Sequence[str]) -> int:
    p = _Parser(prog="grade init", description="Write a commented grade.toml documenting every setting.")
    p.add_argument("path", type=Path, nargs="?", default=Path("."), help="the project folder (default: .)")
    p.add_argument("--force", action="store_true", help="overwrite an existing grade.toml")
    ns = p.parse_args(args)
    target = write_template(ns.path, force=ns.force)
    print(f"wrote {target}: uncomment the settings your project needs", flush=True)
    return EXIT_PASSED


def _batch_parser() -> argparse.ArgumentParser:
    from grader.batch.runner import DEFAULT_TIMEOUT_S, default_jobs

    p = _Parser(prog="grade batch", description="Grade every submission of a class against one phase.")
    p.add_argument(
        "source",
        type=Path,
        help="a folder of submissions (one folder or git repository per student) or a roster CSV "
        "(student,repo; GitHub Classroom's export columns too)",
    )
    p.add_argument("--phase", type=int, required=True, help="0 for the bootcamp week, 1-10 for the phases")
    p.add_argument("--deadline", help="grade each repository's last commit before this time, e.g. 2026-12-01T23:59Z")
    p.add_argument("--jobs", type=int, default=default_jobs(), help="submissions graded at once (default: %(default)s)")
    p.add_argument("--out", type=Path, help="where the class outputs go (default: reports/batch-phase<N>)")
    p.add_argument("--force", action="store_true", help="regrade every submission, ignoring cached results")
    p.add_argument("--cluster", metavar="URL", help="grade on a Dask cluster, e.g. tcp://scheduler:8786")
    p.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds one submission may take (%(default)g)"
    )
    p.add_argument(
        "--format", default=",".join(DEFAULT_FORMATS), help=f"each student's reports: any of {','.join(REPORTERS)}"
    )
    _add_judging_options(p)
    _add_isolation_option(p)
    p.add_argument("--no-plugins", action="store_true", help="do not load third-party check plug-ins")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, only the summary line")
    return p


def _batch(args: Sequence[str]) -> int:
    """`grade batch`: 0 when every submission was graded, 3 when some could not be, 130 when interrupted."""
    from grader.batch.roster import load_roster
    from grader.batch.runner import BatchSettings, LocalBackend, run_batch, summary_line

    ns = _batch_parser().parse_args(args)
    formats = _checked_judging_options(ns)
    if ns.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if ns.timeout <= 0:
        raise UsageError("--timeout must be positive")
    settings = BatchSettings(
        request=_judging_request(ns, Path(".")),
        out=(ns.out or Path("reports") / f"batch-phase{ns.phase}").resolve(),
        jobs=ns.jobs,
        timeout_s=ns.timeout,
        force=ns.force,
        deadline=_deadline(ns.deadline) if ns.deadline else None,
        formats=formats,
    )
    submissions = load_roster(ns.source.resolve())
    if ns.cluster:
        from grader.batch.dask_runner import DaskBackend

        cluster = DaskBackend(ns.cluster)
        try:
            run = run_batch(submissions, settings, backend=cluster, quiet=ns.quiet)
        finally:
            cluster.close()
    else:
        run = run_batch(submissions, settings, backend=LocalBackend(ns.jobs), quiet=ns.quiet)
    print(summary_line(run), flush=True)
    if run.interrupted:
        return 130
    return EXIT_PASSED if run.all_graded else EXIT_FAULT


def _deadline(text: str) -> datetime:
    """An ISO 8601 time with a zone (`2026-12-01T23:59Z`, `2026-12-01T23:59+01:00`)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--deadline {text!r}: expected an ISO 8601 time, e.g. 2026-12-01T23:59Z") from None
    if when.tzinfo is None:
        raise UsageError(f"--deadline {text!r}: give the time zone, e.g. 2026-12-01T23:59Z or +01:00")
    return when


def _diff(args: Sequence[str], out: Console) -> int:
    p = _Parser(prog="grade diff", description="Compare two JSON reports: the score, then every changed check.")
    p.add_argument("old", type=Path, help="the earlier report (grade-*.json)")
    p.add_argument("new", type=Path, help="the later report")
    ns = p.parse_args(args)
    diff = diff_reports(read_report(ns.old), read_report(ns.new))
    for warning in diff.warnings:
        _say(f"grade: warning: {warning}")
    print_diff(out, diff)
    return EXIT_PASSED


def read_report(path: Path) -> Report:
    """A JSON report written by `grade`; UsageError (one line) when it cannot be read or is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a grade report (not UTF-8 text)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise UsageError(f"{path}: not a grade report (not JSON)") from None
    if not isinstance(data, dict) or "schema_version" not in data or "criteria" not in data:
        raise UsageError(f"{path}: not a grade report (no schema_version and criteria)")
    if data["schema_version"] != SCHEMA_VERSION:
        raise UsageError(
            f"{path}: schema mismatch: report schema {data['schema_version']!r}, this grade reads {SCHEMA_VERSION!r}"
        )
    try:
        return from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UsageError(f"{path}: not a grade report (malformed: {type(exc).__name__}: {exc})") from None


def _catalogue(command: str, args: Sequence[str], out: Console) -> int:
    ns = _catalogue_parser(command).parse_args(args)
    request = GradeRequest(
        path=Path("."),
        phase=ns.phase if command == "checks" and ns.phase is not None else -1,
        curriculum=ns.curriculum,
        load_plugins=not ns.no_plugins,
    )
    registry, curriculum = prepare(request, need_phase=False)
    if command == "checks":
        print_catalogue(out, registry, curriculum, ns.phase)
    else:
        print_explain(out, registry, curriculum, ns.check_id)
    return EXIT_PASSED
