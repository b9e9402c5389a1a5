"""Repository and history probes on real git repositories, including awkward ones."""

from __future__ import annotations

import os
from pathlib import Path

from grader.facts import FactStore, ProbeContext
from grader.probes.history import read_history
from grader.probes.repo import RepoFacts, repo_facts
from grader.project_config import ProjectConfig
from tests.probes.gitrepo import commit, git, init

NON_UTF8 = b"caf\xe9.js"


def facts_for(path: Path) -> RepoFacts:
    store = FactStore({}, lambda s: ProbeContext(path, ProjectConfig(), path, s, 10))
    return repo_facts(ProbeContext(path, ProjectConfig(), path, store, 10))


def test_files_respect_gitignore_and_detect_the_node_project(tmp_path: Path) -> None:
    repo = init(tmp_path / "p")
    commit(
        repo,
        "init",
        {
            ".gitignore": "node_modules/\n.env\n",
            "package.json": '{"name": "p"}',
            "package-lock.json": "{}",
            "src/app.js": "1",
            "README.md": "# P",
        },
    )
    (repo / ".env").write_text("SECRET=1")
    (repo / "node_modules" / "x").mkdir(parents=True)
    (repo / "node_modules" / "x" / "i.js").write_text("1")
    (repo / "notes.md").write_text("untracked but not ignored")
    facts = facts_for(repo)
    assert facts.files == (".gitignore", "README.md", "notes.md", "package-lock.json", "package.json", "src/app.js")
    assert facts.tracked is not None and "notes.md" not in facts.tracked
    assert (facts.package_manager, facts.lockfile, facts.primary_language) == ("npm", "package-lock.json", "javascript")
    assert facts.package_json == {"name": "p"}
    assert facts.texts["README.md"] == "# P" and facts.has("src/app.js") and not facts.has(".env")


def test_a_plain_directory_is_walked_with_its_gitignore(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    (root / "app" / "__pycache__").mkdir(parents=True)
    (root / ".gitignore").write_text("*.log\nbuild/\n")
    (root / "app" / "main.py").write_text("print(1)")
    (root / "app" / "__pycache__" / "main.pyc").write_bytes(b"\0")
    (root / "debug.log").write_text("x")
    (root / "build").mkdir()
    (root / "build" / "out.js").write_text("x")
    (root / "requirements.txt").write_text("flask==3.0.0\n")
    facts = facts_for(root)
    assert facts.files == (".gitignore", "app/main.py", "requirements.txt")
    assert facts.tracked is None and "directory walk" in facts.listing
    assert (facts.package_manager, facts.primary_language) == ("pip", "python")


def test_non_utf8_names_binary_files_and_a_broken_package_json_are_handled(tmp_path: Path) -> None:
    repo = init(tmp_path / "p")
    commit(repo, "init", {NON_UTF8: "x", "logo.png": b"\x89PNG\0\0\xff", "package.json": "{ not json"})
    facts = facts_for(repo)
    assert os.fsdecode(NON_UTF8) in facts.files and "logo.png" in facts.files
    assert facts.package_json is None and any("package.json could not be parsed" in n for n in facts.notes)
    history = read_history(repo)
    assert history.is_repo and len(history.commits) == 1
    assert os.fsdecode(NON_UTF8) in history.paths_ever


def test_history_counts_commits_sizes_and_every_path_ever_committed(tmp_path: Path) -> None:
    repo = init(tmp_path / "p")
    first = commit(repo, "first", {"a.js": "1\n2\n3\n"}, date="2026-01-01T10:00:00+00:00")
    commit(repo, "add env", {".env": "X=1\n"}, date="2026-01-02T10:00:00+00:00")
    git(repo, "rm", "-q", ".env")
    git(repo, "commit", "-q", "-m", "drop env", date="2026-01-03T10:00:00+00:00")
    history = read_history(repo)
    assert [c.subject for c in history.commits] == ["drop env", "add env", "first"]
    assert history.commits[-1].sha == first and history.commits[-1].insertions == 3
    assert history.paths_ever == (".env", "a.js")
    assert history.branch == "main" and not history.dirty


def test_a_project_inside_a_larger_repository_sees_only_its_own_history(tmp_path: Path) -> None:
    repo = init(tmp_path / "mono")
    commit(repo, "api", {"api/index.js": "1", "web/index.js": "1"})
    commit(repo, "web only", {"web/more.js": "2"})
    history = read_history(repo / "api")
    assert history.subdir == "api"
    assert [c.subject for c in history.commits] == ["api"]
    assert history.paths_ever == ("index.js",)


def test_not_a_repository_empty_repository_and_corrupted_git_are_facts(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert read_history(plain).reason.startswith("not a git repository")
    empty = init(tmp_path / "empty")
    assert read_history(empty).is_repo and read_history(empty).commits == ()
    broken = init(tmp_path / "broken")
    commit(broken, "one", {"a.js": "1"})
    for obj in (broken / ".git" / "objects").rglob("*"):
        if obj.is_file():
            obj.chmod(0o644)
            obj.write_bytes(b"garbage")
    result = read_history(broken)
    assert not result.is_repo and "corrupted" in result.reason
    assert facts_for(broken).files  # still listed, by git or by walking
