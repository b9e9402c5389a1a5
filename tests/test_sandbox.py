"""The sandbox on real processes: exit codes, time limits that kill whole trees, capped output, scrubbed env."""

from __future__ import annotations

import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from grader.sandbox import FILE_SIZE_LIMIT, ProcessResult, run_process, scrubbed_env


def run(tmp_path: Path, script: str, timeout_s: float = 30, **kw: object) -> ProcessResult:
    env = scrubbed_env({"HOME": str(tmp_path)})
    return run_process(["sh", "-c", script], cwd=tmp_path, env=env, timeout_s=timeout_s, **kw)  # type: ignore[arg-type]


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie (PID 1 here may never reap the orphans it inherits)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZXx"


def test_exit_codes_and_combined_output(tmp_path: Path) -> None:
    ok = run(tmp_path, "echo out; echo err >&2")
    assert (ok.returncode, ok.timed_out, ok.ok) == (0, False, True)
    assert "out" in ok.output and "err" in ok.output
    assert ok.output_bytes == len("out\nerr\n")
    failed = run(tmp_path, "exit 3")
    assert (failed.returncode, failed.ok) == (3, False)
    assert failed.argv == ("sh", "-c", "exit 3")
    assert failed.command == "sh -c 'exit 3'"


def test_missing_program_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        run_process(["no-such-program-xyz"], cwd=tmp_path, env=scrubbed_env({"HOME": str(tmp_path)}), timeout_s=5)


def test_stdin_is_closed(tmp_path: Path) -> None:
    result = run(tmp_path, "cat; echo done", timeout_s=5)
    assert result.ok and "done" in result.output


def test_timeout_kills_the_whole_process_tree(tmp_path: Path) -> None:
    began = time.monotonic()
    result = run(tmp_path, "sleep 300 & echo grandchild=$!; trap '' TERM; sleep 300", timeout_s=1)
    assert result.timed_out and result.returncode is None
    assert time.monotonic() - began < 10  # TERM ignored by the shell: SIGKILL after the grace period
    grandchild = int(result.output.split("grandchild=")[1].split()[0])
    assert not alive(grandchild)


def test_background_children_are_killed_after_a_normal_exit(tmp_path: Path) -> None:
    began = time.monotonic()
    result = run(tmp_path, "sleep 300 & echo bg=$!; echo leader done")
    assert result.returncode == 0 and not result.timed_out
    assert time.monotonic() - began < 10  # the background child held the pipe open: not waited for
    assert not alive(int(result.output.split("bg=")[1].split()[0]))


def test_output_is_capped_head_and_tail_without_buffering_it_all(tmp_path: Path) -> None:
    script = (
        "import sys; out = sys.stdout.buffer; out.write(b'FIRST LINE\\n'); block = b'x' * 1023 + b'\\n'\n"
        "for _ in range(50 * 1024): out.write(block)\n"
        "out.write(b'LAST LINE\\n')"
    )
    tracemalloc.start()
    try:
        result = run_process(
            [sys.executable, "-c", script],
            cwd=tmp_path,
            env=scrubbed_env({"HOME": str(tmp_path)}),
            timeout_s=60,
            output_cap_bytes=1_000_000,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.ok
    assert result.output_bytes == 50 * 1024 * 1024 + len("FIRST LINE\nLAST LINE\n")
    assert len(result.output) < 1_100_000
    assert result.output.startswith("FIRST LINE")
    assert result.output.rstrip().endswith("LAST LINE")
    assert "bytes omitted ...]" in result.output
    assert result.tail.splitlines()[-1] == "LAST LINE" and len(result.tail.splitlines()) <= 40
    assert peak < 8_000_000, f"peak Python memory {peak} bytes while reading 50 MB"


def test_environment_is_scrubbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_TOKEN", "NPM_TOKEN", "AWS_SECRET_ACCESS_KEY", "OPENAI_API_KEY", "DB_PASSWORD", "MY_SECRET"):
        monkeypatch.setenv(name, "leak-me")
    monkeypatch.setenv("NODE_OPTIONS", "--require /grader/hook.js")
    result = run(tmp_path, "env")
    assert "leak-me" not in result.output
    assert "NODE_OPTIONS" not in result.output
    lines = set(result.output.splitlines())
    assert {"CI=true", "TERM=dumb", f"HOME={tmp_path}"} <= lines
    assert any(line.startswith("PATH=") for line in lines)


def test_extra_env_is_passed_as_given(tmp_path: Path) -> None:
    env = scrubbed_env({"HOME": str(tmp_path), "JWT_SECRET": "from-grade-toml"})
    assert env["JWT_SECRET"] == "from-grade-toml"  # the grader chose it: not scrubbed


def test_rlimits_no_core_dumps_and_capped_file_size(tmp_path: Path) -> None:
    result = run(tmp_path, "sleep 0.2; cat /proc/self/limits")
    limits = {line[:26].strip(): line[26:].split() for line in result.output.splitlines()[1:]}
    assert limits["Max core file size"][:2] == ["0", "0"]
    assert limits["Max file size"][:2] == [str(FILE_SIZE_LIMIT)] * 2


def test_a_background_child_that_keeps_writing_does_not_keep_the_run_going(tmp_path: Path) -> None:
    began = time.monotonic()
    result = run(tmp_path, "yes flood & echo writer=$!; sleep 0.5", timeout_s=60)
    assert (result.returncode, result.timed_out) == (0, False)
    assert time.monotonic() - began < 10
    assert result.output_bytes > 0 and "bytes omitted" in result.output
    assert not alive(int(result.output.split("writer=")[1].split()[0]))
