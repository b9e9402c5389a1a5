"""The fixture builder turns each sample learner project into a real git repository."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from fixtures import build
from fixtures.build import FAKE_SECRETS, HistoryError, build_repo, fixture_files, load_history

REPO_ROOT = Path(__file__).resolve().parent.parent
EXPECTED_COMMITS = {
    "express-good": 15,
    "express-flawed": 3,
    "python-flask": 6,
    "express-perf-good": 5,
    "express-perf-flawed": 4,
    "docker-good": 3,
    "docker-flawed": 2,
    "cicd-good": 4,
    "cicd-flawed": 2,
    "nest-good": 4,
    "nest-flawed": 2,
    "platform-good": 5,
    "platform-flawed": 2,
    "micro-good": 4,
    "micro-flawed": 2,
}


GIT_ENV = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}  # ignore GIT_DIR etc. from hooks


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` and return stdout."""
    return subprocess.run(["git", *args], cwd=repo, env=GIT_ENV, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each fixture built once for this module."""
    base = tmp_path_factory.mktemp("built")
    return {name: build_repo(name, base / name) for name in EXPECTED_COMMITS}


def test_every_fixture_has_a_history() -> None:
    assert build.fixture_names() == sorted(EXPECTED_COMMITS)


@pytest.mark.parametrize("name", sorted(EXPECTED_COMMITS))
def test_builds_a_git_repo_with_the_scripted_commits(built: dict[str, Path], name: str) -> None:
    repo = built[name]
    assert git(repo, "rev-parse", "--is-inside-work-tree").strip() == "true"
    assert git(repo, "symbolic-ref", "--short", "HEAD").strip() == "main"
    history = load_history(name)
    assert len(history) == EXPECTED_COMMITS[name]
    assert int(git(repo, "rev-list", "--count", "HEAD")) == EXPECTED_COMMITS[name]

    log = git(repo, "log", "--reverse", "--format=%s%x00%aI%x00%cI%x00%an <%ae>%x1e").split("\x1e")[:-1]
    for commit, line in zip(history, log, strict=True):
        subject, author_date, committer_date, author = line.strip().split("\x00")
        assert subject == commit.message.splitlines()[0]
        assert author_date == committer_date == commit.date.isoformat()
        assert author == f"{commit.author_name} <{commit.author_email}>"


@pytest.mark.parametrize("name", sorted(EXPECTED_COMMITS))
def test_final_tree_equals_the_fixture(built: dict[str, Path], name: str) -> None:
    repo = built[name]
    expected = fixture_files(name)
    assert sorted(git(repo, "ls-files").splitlines()) == expected
    assert git(repo, "status", "--porcelain", "--ignored") == ""
    source = build.fixture_dir(name)
    for rel in expected:
        assert (repo / rel).read_bytes() == (source / rel).read_bytes(), rel


def test_builds_are_reproducible(built: dict[str, Path], tmp_path: Path) -> None:
    again = build_repo("express-flawed", tmp_path / "again")
    assert git(again, "rev-parse", "HEAD") == git(built["express-flawed"], "rev-parse", "HEAD")


def test_fake_secrets_have_scanner_recognisable_shapes() -> None:
    key_id = FAKE_SECRETS["FAKE_AWS_ACCESS_KEY_ID"]
    secret = FAKE_SECRETS["FAKE_AWS_SECRET_ACCESS_KEY"]
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", key_id)
    assert re.fullmatch(r"[A-Za-z0-9/+]{40}", secret)
    assert "EXAMPLE" not in key_id + secret


def test_flawed_secret_is_in_history_but_not_in_head(built: dict[str, Path]) -> None:
    repo = built["express-flawed"]
    patches = git(repo, "log", "-p", "--format=commit %H")
    for value in FAKE_SECRETS.values():
        assert value in patches
        head = subprocess.run(["git", "grep", "-F", "-q", value, "HEAD"], cwd=repo, env=GIT_ENV, check=False)
        assert head.returncode == 1, "secret must be gone from HEAD's tree"
    introduced = git(repo, "log", "--format=%s", "--diff-filter=A", "--", "src/config/aws.js").strip()
    removed = git(repo, "log", "--format=%s", "--diff-filter=D", "--", "src/config/aws.js").strip()
    assert (introduced, removed) == ("add s3 config + readme", "remove aws config")
    assert "src/config/aws.js" not in git(repo, "ls-files").splitlines()


def test_flawed_tracks_dotenv_and_fake_coverage(built: dict[str, Path]) -> None:
    repo = built["express-flawed"]
    tracked = git(repo, "ls-files").splitlines()
    assert {".env", "coverage/coverage-summary.json"} <= set(tracked)
    assert ".env.example" not in tracked
    assert ".env" not in (repo / ".gitignore").read_text().split()


def test_fake_secrets_never_appear_in_this_repository() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode == 0:
        files = [REPO_ROOT / p for p in listed.stdout.split("\0") if p]
    else:  # not a git checkout: scan the sources we own
        files = [p for d in ("fixtures", "tests") for p in (REPO_ROOT / d).rglob("*") if "node_modules" not in p.parts]
    for path in files:
        if path.is_file():
            data = path.read_bytes()
            for value in FAKE_SECRETS.values():
                assert value.encode() not in data, f"fake secret written literally in {path}"


def test_fixture_files_are_not_ignored_by_this_repository() -> None:
    if subprocess.run(["git", "rev-parse"], cwd=REPO_ROOT, capture_output=True, check=False).returncode != 0:
        pytest.skip("not a git checkout")
    paths = [f"fixtures/{name}/{rel}" for name in EXPECTED_COMMITS for rel in fixture_files(name)]
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        cwd=REPO_ROOT,
        input="\n".join(paths),
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert ignored == [], "these fixture files would not be committed"


# --- the builder's guards, on a tiny throwaway fixture -------------------------------------------


@pytest.fixture()
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fixtures directory holding one fixture `tiny` with two files."""
    root = tmp_path / "fixtures"
    (root / "tiny" / "src").mkdir(parents=True)
    (root / "tiny" / "README.md").write_text("# tiny\n")
    (root / "tiny" / "src" / "a.js").write_text("module.exports = 1;\n")
    monkeypatch.setattr(build, "FIXTURES_DIR", root)
    return root


def _history(root: Path, text: str) -> None:
    (root / "tiny.history.toml").write_text(text)


def test_write_placeholder_and_delete(tiny: Path, tmp_path: Path) -> None:
    _history(
        tiny,
        """
[[commit]]
message = "start"
date = "2024-01-01T10:00:00Z"
add = ["src"]
write."tmp.txt" = "key={{FAKE_AWS_ACCESS_KEY_ID}}"

[[commit]]
message = "finish"
date = 2024-01-02T10:00:00+02:00
author = "Other Person <other@example.com>"
add = ["*.md"]
delete = ["tmp.txt"]
""",
    )
    repo = build_repo("tiny", tmp_path / "out")
    assert git(repo, "show", "HEAD~1:tmp.txt") == "key=" + FAKE_SECRETS["FAKE_AWS_ACCESS_KEY_ID"]
    assert sorted(git(repo, "ls-files").splitlines()) == ["README.md", "src/a.js"]
    assert git(repo, "log", "-1", "--format=%an %aI").strip() == "Other Person 2024-01-02T10:00:00+02:00"


@pytest.mark.parametrize(
    ("history", "error"),
    [
        ('[[commit]]\nmessage = "m"\ndate = "2024-01-01T10:00:00Z"\nadd = ["src"]\n', "never added"),
        ('[[commit]]\nmessage = "m"\ndate = "2024-01-01T10:00:00Z"\nadd = ["nope/*"]\n', "matches no fixture file"),
        ('[[commit]]\nmessage = "m"\ndate = "2024-01-01T10:00:00"\nadd = ["*"]\n', "UTC offset"),
        ('[[commit]]\nmessage = "m"\ndate = "2024-01-01T10:00:00Z"\nadd = ["*"]\nwrite.x = "{{NOPE}}"\n', "NOPE"),
        ('[[commit]]\nmessage = "m"\ndate = "2024-01-01T10:00:00Z"\nadd = ["**/*"]\nmerge = true\n', "unknown keys"),
        ('[[commit]]\nmessage = "m"\ndate = "2024-01-01T10:00:00Z"\ndelete = ["README.md"]\n', "cannot delete"),
    ],
)
def test_bad_histories_are_rejected(tiny: Path, tmp_path: Path, history: str, error: str) -> None:
    _history(tiny, history)
    with pytest.raises(HistoryError, match=error):
        build_repo("tiny", tmp_path / "out")


def test_refuses_a_non_empty_destination(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError):
        build_repo("python-flask", tmp_path)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert build.main(["python-flask", str(tmp_path / "cli")]) == 0
    assert "6 commits" in capsys.readouterr().out
    assert build.main(["--list"]) == 0
    assert capsys.readouterr().out.split() == sorted(EXPECTED_COMMITS)
    assert build.main(["no-such-fixture", str(tmp_path / "x")]) == 1
