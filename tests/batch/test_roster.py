"""Who to grade: a folder of submissions, a `student,repo` CSV, GitHub Classroom's export, bad rosters."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.batch.roster import RosterError, is_git_url, load_roster


def test_a_folder_lists_one_submission_per_subfolder_in_name_order(tmp_path: Path) -> None:
    for name in ("zoe", "Ana María", ".hidden"):
        (tmp_path / name).mkdir()
    (tmp_path / "notes.txt").write_text("not a submission")
    subs = load_roster(tmp_path)
    assert [(s.student, s.slug) for s in subs] == [("Ana María", "ana-maria"), ("zoe", "zoe")]
    assert subs[0].source == str((tmp_path / "Ana María").resolve())


def test_a_project_folder_is_not_taken_for_a_class(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "src").mkdir()
    with pytest.raises(RosterError, match="is one project"):
        load_roster(tmp_path)


def test_a_csv_names_students_and_their_repositories(tmp_path: Path) -> None:
    (tmp_path / "repos" / "lee").mkdir(parents=True)
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "Student,Repo\n"
        "lee,repos/lee\n"
        "\n"
        "kim,https://github.com/acme/kim-api.git\n"
        "sam,git@github.com:acme/sam-api.git\n"
        "Kim!,file:///srv/kim2.git\n",
        encoding="utf-8",
    )
    subs = load_roster(roster)
    assert [(s.student, s.source, s.slug) for s in subs] == [
        ("lee", str((tmp_path / "repos" / "lee").resolve()), "lee"),
        ("kim", "https://github.com/acme/kim-api.git", "kim"),
        ("sam", "git@github.com:acme/sam-api.git", "sam"),
        ("Kim!", "file:///srv/kim2.git", "kim-2"),  # same slug as kim: numbered
    ]


def test_github_classroom_export_columns_are_understood(tmp_path: Path) -> None:
    roster = tmp_path / "grades.csv"
    roster.write_text(
        "\ufeffassignment_name,assignment_url,starter_code_url,github_username,roster_identifier,"
        "student_repository_name,student_repository_url,submission_timestamp,points_awarded,points_available\n"
        "api,https://classroom.github.com/a/x,,octocat,Mona Lisa,api-octocat,https://github.com/acme/api-octocat,,0,100\n"
        "api,https://classroom.github.com/a/x,,hubot,,api-hubot,https://github.com/acme/api-hubot,,0,100\n",
        encoding="utf-8",
    )
    subs = load_roster(roster)
    assert [(s.student, s.source) for s in subs] == [
        ("Mona Lisa", "https://github.com/acme/api-octocat"),
        ("hubot", "https://github.com/acme/api-hubot"),  # not linked to the roster: the GitHub login
    ]


def test_a_semicolon_separated_roster_is_read(tmp_path: Path) -> None:
    roster = tmp_path / "r.csv"
    roster.write_text("student;repo_url\nana;https://example.test/ana.git\n")
    assert [s.source for s in load_roster(roster)] == ["https://example.test/ana.git"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty roster"),
        (b"name\nana\n", "no repository column (expected one of: repo, repo_url"),
        (b"repo\nx\n", "no student column (expected one of: student, roster_identifier"),
        (b"student,repo\n", "no student rows under the header"),
        (b"student,repo\nana,\n", "r.csv:2: no repository for student 'ana'"),
        (b"student,repo\n,x\n", "r.csv:2: no student name"),
        (b"student,repo\nana,a\nbo,b\nana,c\n", "r.csv:4: student 'ana' is listed twice (also on line 2)"),
        (b"student,repo\nana,ext::sh -c touch% /tmp/pwned\n", "r.csv:2: 'ext::sh -c touch% /tmp/pwned': unsupported"),
        (b"student,repo\nana,ftp://example.test/a.git\n", "unsupported git URL"),
        (b"\xff\xfe\x00s\x00t", "not a roster CSV (not UTF-8 text)"),
        (b'student,repo\nana,"unclosed\x00\n', "malformed CSV"),
    ],
)
def test_a_bad_roster_is_one_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    roster = tmp_path / "r.csv"
    roster.write_bytes(content)
    with pytest.raises(RosterError) as caught:
        load_roster(roster)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_source_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RosterError, match="no such directory or roster CSV"):
        load_roster(tmp_path / "nope.csv")


def test_git_urls_and_paths_are_told_apart() -> None:
    assert is_git_url("https://github.com/a/b") and is_git_url("git@github.com:a/b.git")
    assert is_git_url("file:///srv/a.git") and is_git_url("ssh://git@host/a.git")
    assert not is_git_url("repos/alice") and not is_git_url("/srv/alice") and not is_git_url("C-3PO")
