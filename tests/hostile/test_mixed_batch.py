"""A class of good and hostile submissions through `grade batch`: one honest result each, no leak, no orphan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from fixtures.hostile.build import cases
from tests.conftest import REPO_ROOT
from tests.hostile.conftest import CANARY, NEIGHBOUR_SECRET, Workbench, require_bwrap

SKIPPED = frozenset({"big-file", "port-thief"})  # covered one by one: a 200 MB copy, a port held by the test


@pytest.mark.slow
def test_a_mixed_class_is_graded_to_the_end(bench: Workbench, tmp_path: Path) -> None:
    require_bwrap()
    out = tmp_path / "batch-out"
    names = [c for c in cases() if c not in SKIPPED]
    for name in names:
        bench.build(name, REPORTS_DIR=str(out))
    marker = f"/nonexistent-grade-batch-{uuid.uuid4().hex}"  # on every learner process's PATH: finds survivors
    env = {**os.environ, "GITHUB_TOKEN": CANARY, "PATH": f"{marker}{os.pathsep}{os.environ['PATH']}"}
    argv = [sys.executable, "-m", "grader", "batch", str(bench.root), "--phase", "1", "--only", "tests.pass",
            "--only", "service.start", "--jobs", "2", "--test-timeout", "10", "--timeout", "180", "--out", str(out),
            "-q"]  # fmt: skip
    done = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode in (0, 3), done.stdout + done.stderr  # 3: some submission could not be graded

    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    results = {r["student"]: r for r in index["submissions"]}
    assert sorted(results) == sorted(names)  # one result each
    not_graded = {name: r["reason"] for name, r in results.items() if r["status"] != "graded"}
    assert set(not_graded) <= {"corrupt-git"} and all("commit" in why for why in not_graded.values())
    assert results["well-behaved"]["passed"] is True
    bomb = (out / "fork-bomb" / "grade-fork-bomb-phase1.json").read_text(encoding="utf-8")
    assert "process limit" in bomb and "was killed" in bomb

    for path in out.rglob("*"):
        if path.is_file():
            text = path.read_bytes()
            assert CANARY.encode() not in text and NEIGHBOUR_SECRET.encode() not in text, path
            assert b"root:x:0:0" not in text, path
            assert not (path.suffix == ".html" and b"<script>alert(" in text), path
    assert not [p for p in out.rglob("HACKED*")]
    assert not _with_marker(marker.encode()), "a learner process outlived the batch"


def _with_marker(marker: bytes) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found
