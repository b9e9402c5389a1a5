"""Repository hygiene checks: .gitignore, .env handling, README, and a real commit history."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pathspec

from checks._evidence import capped, display
from grader.facts import Facts
from grader.model import Evidence, Location, Verdict
from grader.plugin import check
from grader.probes.history import GitHistory
from grader.probes.repo import RepoFacts

ENV_TEMPLATES = (".env.example", ".env.sample", ".env.template")
_IGNORE_WANTED = {
    "node": ("node_modules/", ".env"),
    "python": ("__pycache__/", ".venv/", ".env"),
}
_JUNK_DIRS = ("node_modules/", "__pycache__/", ".venv/", "coverage/")


def _ecosystem(repo: RepoFacts) -> str:
    if repo.package_json is not None or repo.languages.get("javascript") or repo.languages.get("typescript"):
        return "node"
    return "python"


def _is_env_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return (name == ".env" or name.startswith(".env.")) and name not in ENV_TEMPLATES


@check(
    "repo.gitignore",
    title="A .gitignore keeps dependencies, build output and .env out of git",
    requires=("repo",),
    remediation="Add a .gitignore at the project root that lists `node_modules/`, `.env` and `coverage/` "
    "(Python: `__pycache__/`, `.venv/`, `.env`), then untrack what was committed by mistake with "
    "`git rm -r --cached node_modules .env` and commit.",
)
def gitignore(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Reads the root .gitignore and the tracked files: what should be ignored, and what slipped in anyway."""
    repo = facts.get("repo", RepoFacts)
    wanted = _IGNORE_WANTED[_ecosystem(repo)]
    text = repo.texts.get(".gitignore")
    if text is None:
        return Verdict.failed(
            "no .gitignore at the project root", evidence=(Evidence(f"should ignore: {', '.join(wanted)}"),)
        )
    spec = pathspec.GitIgnoreSpec.from_lines(text.splitlines())
    missing = [w for w in wanted if not spec.match_file(w.rstrip("/") + ("/x" if w.endswith("/") else ""))]
    junk = [t for t in (repo.tracked or ()) if any(f"/{d}" in f"/{t}" for d in _JUNK_DIRS)]
    evidence = [Evidence(f"not ignored: {w}", Location(".gitignore")) for w in missing]
    evidence += capped(
        (Evidence("tracked although it should be ignored", Location(display(t))) for t in junk),
        len(junk),
        "tracked files",
    )
    parts = len(wanted) + 1
    score = (len(wanted) - len(missing) + (0 if junk else 1)) / parts
    if not missing and not junk:
        return Verdict.passed(f".gitignore covers {', '.join(wanted)}")
    return Verdict.failed(
        f".gitignore misses {len(missing)} of {len(wanted)} entries; {len(junk)} junk files tracked",
        score=score,
        evidence=tuple(evidence),
    )


@check(
    "repo.env_example",
    title=".env is never committed and .env.example documents the variables",
    requires=("repo", "history"),
    remediation="Remove `.env` from git (`git rm --cached .env`), add it to .gitignore, rotate any secret it "
    "held (it stays in the history), and commit a `.env.example` listing every variable with a placeholder value.",
)
def env_example(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Looks for .env files in the work tree and in every commit, and for a committed .env.example."""
    repo = facts.get("repo", RepoFacts)
    history = facts.get("history", GitHistory)
    at_head = [f for f in (repo.tracked if repo.tracked is not None else repo.files) if _is_env_file(f)]
    in_history = [p for p in history.paths_ever if _is_env_file(p) and p not in at_head]
    template = next((t for t in ENV_TEMPLATES if repo.has(t)), None)
    evidence = [Evidence("environment file tracked by git", Location(display(p))) for p in at_head]
    evidence += [
        Evidence("environment file committed earlier (still in the history)", Location(display(p))) for p in in_history
    ]
    if template is None:
        evidence.append(Evidence("no .env.example (or .env.sample / .env.template) at the project root"))
    leaked = bool(at_head or in_history)
    score = (0.0 if leaked else 0.5) + (0.5 if template else 0.0)
    if score == 1.0:
        return Verdict.passed(f"no .env in git; {template} documents the variables", evidence=tuple(evidence))
    summary = "; ".join(
        part
        for part in (
            ".env is tracked by git" if at_head else "",
            ".env was committed in the history" if in_history and not at_head else "",
            "no .env.example" if template is None else "",
        )
        if part
    )
    return Verdict.failed(summary, score=score, evidence=tuple(evidence))


_README_PARTS: dict[str, re.Pattern[str]] = {
    "setup": re.compile(
        r"^#+\s*(setup|set-up|install\w*|getting started|prerequisites)\b|\b(npm (ci|install|i)\b|yarn( install)?\b"
        r"|pnpm (i|install)\b|pip install\b|poetry install\b|uv sync\b|docker compose up\b|docker-compose up\b)",
        re.I | re.M,
    ),
    "run": re.compile(
        r"^#+\s*(run\w*|usage|start\w*|running)\b|\b(npm (run )?(start|dev)\b|yarn (start|dev)\b|node \S+\.js"
        r"|nodemon\b|uvicorn\b|flask run\b|python -m \w+|gunicorn\b|docker run\b|docker compose up\b)",
        re.I | re.M,
    ),
    "test": re.compile(
        r"^#+\s*(test\w*)\b|\b(npm (run )?test\b|yarn test\b|pnpm test\b|npx jest\b|jest\b|vitest\b|pytest\b"
        r"|python -m unittest\b)",
        re.I | re.M,
    ),
}


@check(
    "repo.readme",
    title="The README explains how to set up, run and test the project",
    requires=("repo",),
    remediation="Write a README.md with a short description and three sections: Setup (e.g. `npm ci`, "
    "copying `.env.example` to `.env`), Run (`npm start`, the port, the docs URL) and Test (`npm test`).",
)
def readme(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Finds the root README and looks for setup, run and test instructions (headings or commands)."""
    repo = facts.get("repo", RepoFacts)
    name = repo.top_level("README.md", "README", "README.rst", "README.txt")
    if name is None:
        return Verdict.failed("no README at the project root")
    text = repo.texts.get(name, "")
    found = [part for part, pattern in _README_PARTS.items() if pattern.search(text)]
    missing = [part for part in _README_PARTS if part not in found]
    score = (1 + len(found)) / (1 + len(_README_PARTS))
    evidence = tuple(Evidence(f"no {part} instructions found", Location(display(name))) for part in missing)
    if not missing:
        return Verdict.passed(f"{name} has setup, run and test instructions")
    return Verdict.failed(f"{name} lacks {', '.join(missing)} instructions", score=score, evidence=evidence)


@check(
    "repo.history",
    title="The history shows the work: at least {min_commits} commits, no single giant dump",
    requires=("history",),
    defaults={"min_commits": 5, "max_share": 0.7},
    threshold="min_commits",
    remediation="Commit in small steps as you build (one feature or fix per commit, with a message saying "
    "what and why) instead of one upload at the end. Push the repository's whole history, not a fresh copy.",
)
def history(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Counts the commits on HEAD and the share of all added lines that the largest commit holds."""
    hist = facts.get("history", GitHistory)
    minimum, max_share = int(options["min_commits"]), float(options["max_share"])
    if not hist.is_repo:
        return Verdict.failed(f"no history: {hist.reason}")
    commits = hist.commits
    if not commits:
        return Verdict.failed("the repository has no commits yet", value=0, threshold=minimum, unit="commits")
    total = sum(c.insertions for c in commits) or 1
    largest = max(commits, key=lambda c: c.insertions)
    share = largest.insertions / total
    evidence = (
        Evidence(
            f"{len(commits)} commits by {len({c.author for c in commits})} author(s), "
            f"{commits[-1].date[:10]} to {commits[0].date[:10]}"
        ),
        Evidence(
            f"largest commit adds {largest.insertions} of {total} lines ({share:.0%}): {display(largest.subject)!r}",
            Location(".", None, largest.sha),
        ),
    )
    count_score = min(1.0, len(commits) / minimum)
    dump_score = 1.0 if share <= max_share else max(0.0, (1 - share) / (1 - max_share))
    score = round(0.5 * count_score + 0.5 * dump_score, 3)
    kw: dict[str, Any] = {"value": len(commits), "threshold": minimum, "unit": "commits", "evidence": evidence}
    if len(commits) >= minimum and share <= max_share:
        return Verdict.passed(f"{len(commits)} commits; the largest holds {share:.0%} of the added lines", **kw)
    problems = []
    if len(commits) < minimum:
        problems.append(f"only {len(commits)} commit(s)")
    if share > max_share:
        problems.append(f"one commit holds {share:.0%} of all added lines")
    return Verdict.failed("; ".join(problems), score=score, **kw)
