"""The history secret scan on real git repositories (fake secrets are synthesized at run time)."""

from __future__ import annotations

import hashlib
import shutil
import string
from collections.abc import Sequence
from pathlib import Path

import pytest

from grader.probes.secrets import SecretScan, SecretScanError, _child_env, redact, scan_history
from tests.probes.gitrepo import commit, git, init

ALNUM = string.digits + string.ascii_letters


def _chars(seed: str, size: int, alphabet: str = ALNUM) -> str:
    digest = hashlib.sha512(seed.encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:size])


def github_token(seed: str) -> str:
    return "gh" + "p_" + _chars(seed, 36)


def stripe_key(seed: str) -> str:
    return "sk" + "_live_" + _chars(seed, 32)


def aws_key_id(seed: str) -> str:
    return "AK" + "IA" + _chars(seed, 16, string.ascii_uppercase + "234567")


def scan(
    repo: Path, *, allow_paths: Sequence[str] = (), allow_fingerprints: Sequence[str] = (), subdir: str | None = None
) -> SecretScan:
    return scan_history(
        repo, timeout_s=60, allow_paths=allow_paths, allow_fingerprints=allow_fingerprints, subdir=subdir
    )


def test_a_secret_added_then_deleted_is_found_where_it_was_introduced(tmp_path: Path) -> None:
    token = github_token("deleted")
    repo = init(tmp_path / "r")
    commit(repo, "readme", {"README.md": "# app\n"})
    added = commit(repo, "deploy", {"src/deploy.py": f'import os\n\nTOKEN = "{token}"\nprint(TOKEN)\n'})
    (repo / "src" / "deploy.py").unlink()
    commit(repo, "remove", {})

    result = scan(repo)

    assert result.commits_scanned == 3 and result.engine.startswith("betterleaks ")
    [finding] = result.findings
    assert (finding.rule, finding.commit, finding.path, finding.line) == ("github-pat", added, "src/deploy.py", 3)
    assert finding.still_present is False and result.allowlisted == 0


def test_redaction_keeps_at_most_four_characters_each_side(tmp_path: Path) -> None:
    secrets = [github_token("redact"), stripe_key("redact"), aws_key_id("redact")]
    repo = init(tmp_path / "r")
    commit(repo, "keys", {f"k{i}.txt": f'key = "{secret}"\n' for i, secret in enumerate(secrets)})

    findings = scan(repo).findings

    assert len(findings) == 3 and all(f.still_present for f in findings)
    for finding in findings:
        assert not any(secret in finding.redacted for secret in secrets)
        assert len(finding.fingerprint) == 16 and int(finding.fingerprint, 16) >= 0
    aws = next(f for f in findings if f.path == "k2.txt")
    assert aws.redacted == aws_key_id("redact")[:4] + "*" * 12 + aws_key_id("redact")[-4:]
    assert redact("short-Secret-1") == "********"


def test_the_same_secret_in_a_file_is_reported_once_at_its_first_commit(tmp_path: Path) -> None:
    key = stripe_key("again")
    repo = init(tmp_path / "r")
    first = commit(repo, "pay", {"pay.js": f'const stripe = Stripe("{key}");\n'})
    commit(repo, "tweak", {"pay.js": f'// payments\nconst stripe = Stripe("{key}"); // live\n'})

    [finding] = scan(repo).findings

    assert (finding.commit, finding.line, finding.still_present) == (first, 1, True)


def test_allowlist_by_path_glob_and_by_fingerprint(tmp_path: Path) -> None:
    repo = init(tmp_path / "r")
    files: dict[str | bytes, str | bytes] = {
        "tests/fixtures/keys/fake.py": f'TOKEN = "{github_token("fixture")}"\n',
        "src/app.py": f'TOKEN = "{github_token("app")}"\n',
    }
    commit(repo, "tokens", files)

    by_path = scan(repo, allow_paths=["tests/fixtures/**"])
    assert [f.path for f in by_path.findings] == ["src/app.py"] and by_path.allowlisted == 1

    by_fingerprint = scan(repo, allow_fingerprints=[by_path.findings[0].fingerprint], allow_paths=["tests/*"])
    assert by_fingerprint.findings == () and by_fingerprint.allowlisted == 2


def test_generic_matches_in_test_code_are_not_reported_but_specific_ones_are(tmp_path: Path) -> None:
    word = "pass" + "word"
    login = f"{{ email: 'ada@example.test', {word}: '{_chars('fake-user', 24)}' }}"
    repo = init(tmp_path / "r")
    files: dict[str | bytes, str | bytes] = {
        "tests/auth.test.js": f"const user = {login};\n",
        "src/__tests__/api.spec.ts": f"const user = {login};\n",
        "test_login.py": f'{word} = "{_chars("py-user", 24)}"\n',
        "tests/helpers.js": f'const token = "{github_token("in-tests")}";\n',
        "src/db.js": f"const config = {login};\n",
    }
    commit(repo, "tests", files)

    assert [(f.path, f.rule) for f in scan(repo).findings] == [
        ("src/db.js", "generic-password"),
        ("tests/helpers.js", "github-pat"),
    ]


def test_a_repository_with_a_single_commit(tmp_path: Path) -> None:
    pair = f'AWS_ACCESS_KEY_ID = "{aws_key_id("one")}"\nAWS_SECRET_ACCESS_KEY = "{_chars("one", 40)}"\n'
    repo = init(tmp_path / "r")
    only = commit(repo, "all at once", {"config.py": pair})

    result = scan(repo)

    assert result.commits_scanned == 1
    assert [(f.rule, f.commit, f.still_present) for f in result.findings] == [("aws-access-token", only, True)]


def test_an_empty_repository_has_nothing_to_scan(tmp_path: Path) -> None:
    result = scan(init(tmp_path / "r"))

    assert (result.commits_scanned, result.findings, result.allowlisted) == (0, (), 0)


def test_non_utf8_file_names_and_binary_files_do_not_break_the_scan(tmp_path: Path) -> None:
    token = github_token("latin1")
    repo = init(tmp_path / "r")
    blob = bytes(range(256)) * 8 + token.encode() + b"\x00\xff"
    commit(repo, "odd", {b"caf\xe9.txt": f'token = "{token}"\n', "logo.png": blob})
    commit(repo, "more binary", {"logo.png": blob[::-1]})

    result = scan(repo)

    assert result.commits_scanned == 2
    assert [(f.rule, f.path.startswith("caf"), f.line) for f in result.findings] == [("github-pat", True, 1)]


def test_secrets_only_on_an_unmerged_branch_are_found(tmp_path: Path) -> None:
    repo = init(tmp_path / "r")
    commit(repo, "base", {"README.md": "# app\n"})
    git(repo, "checkout", "-q", "-b", "wip")
    side = commit(repo, "wip", {"notify.js": f'const key = "{stripe_key("branch")}";\n'})
    git(repo, "checkout", "-q", "main")

    [finding] = scan(repo).findings

    assert (finding.commit, finding.still_present) == (side, False)


def test_subdir_restricts_findings_and_keeps_repo_relative_paths(tmp_path: Path) -> None:
    repo = init(tmp_path / "r")
    files: dict[str | bytes, str | bytes] = {
        "backend/app/settings.py": f'TOKEN = "{github_token("back")}"\n',
        "frontend/src/api.js": f'const token = "{github_token("front")}";\n',
    }
    commit(repo, "monorepo", files)

    result = scan(repo, subdir="backend/")

    assert [f.path for f in result.findings] == ["backend/app/settings.py"]
    assert len(scan(repo).findings) == 2


def test_in_repo_ignore_files_and_allow_comments_cannot_hide_a_secret(tmp_path: Path) -> None:
    repo = init(tmp_path / "r")
    commit(repo, "x", {"a.py": f'TOKEN = "{github_token("hidden")}"  # gitleaks:allow\n'})
    fingerprints = "\n".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(3))
    commit(repo, "ignore", {".betterleaksignore": fingerprints, ".gitleaksignore": fingerprints})

    assert [f.path for f in scan(repo).findings] == ["a.py"]


def test_the_repositorys_own_textconv_program_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    repo = init(tmp_path / "r")
    git(repo, "config", "diff.evil.textconv", f"sh -c 'touch {marker}; cat \"$1\"' --")
    commit(repo, "attrs", {".gitattributes": "*.txt diff=evil\n", "a.txt": "one\n"})
    commit(repo, "change", {"a.txt": f'token = "{github_token("textconv")}"\n'})

    assert len(scan(repo).findings) == 1 and not marker.exists()


@pytest.mark.parametrize("damage", ["objects", "head"])
def test_a_corrupted_git_directory_raises(tmp_path: Path, damage: str) -> None:
    repo = init(tmp_path / "r")
    commit(repo, "one", {"a.txt": "1\n"})
    commit(repo, "two", {"a.txt": "2\n", "b.txt": "3\n"})
    if damage == "objects":
        for loose in (repo / ".git" / "objects").glob("??/*"):
            if git(repo, "cat-file", "-t", loose.parent.name + loose.name).strip() == "blob":
                loose.unlink()
    else:
        (repo / ".git" / "refs" / "heads" / "main").write_text("0" * 40 + "\n")

    with pytest.raises(SecretScanError):
        scan(repo)


def test_a_plain_directory_inside_another_repository_is_not_scanned_as_that_repository(tmp_path: Path) -> None:
    outer = init(tmp_path / "outer")
    commit(outer, "leak", {"a.py": f'TOKEN = "{github_token("outer")}"\n'})
    (outer / "project").mkdir()

    with pytest.raises(SecretScanError, match="not a git repository"):
        scan(outer / "project")


def test_a_missing_directory_and_an_exhausted_timeout_raise(tmp_path: Path) -> None:
    repo = init(tmp_path / "r")
    commit(repo, "one", {"a.txt": "1\n"})

    with pytest.raises(SecretScanError, match="not a directory"):
        scan(tmp_path / "nope")
    with pytest.raises(SecretScanError, match="timed out"):
        scan_history(repo, timeout_s=0)


def test_the_scanners_environment_carries_no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "STRIPE_KEY", "BETTERLEAKS_VALIDATE", "GIT_DIR"):
        monkeypatch.setenv(name, "x")

    env = _child_env(tmp_path)

    assert not {"GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "STRIPE_KEY", "BETTERLEAKS_VALIDATE", "GIT_DIR"} & set(env)
    assert env["GIT_CEILING_DIRECTORIES"] == str(tmp_path.resolve().parent) and "PATH" in env


def test_a_missing_git_is_a_scan_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = init(tmp_path / "r")
    commit(repo, "one", {"a.txt": "1\n"})
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert shutil.which("git") is None

    with pytest.raises(SecretScanError, match="cannot run git"):
        scan(repo)
