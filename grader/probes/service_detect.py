"""How to start a learner's service when grade.toml does not say: package.json, common entry points, Python apps.

Node.js: `npm start` when there is a start script, else `node` on package.json `main` or a
common entry file, else a NestJS-style `src/main.ts` built to `dist/main.js`. Python: a
FastAPI app under uvicorn, a Flask app (or factory) under `flask run`, a package's
`__main__`, else a top-level script. Every guess says what it assumed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from grader.probes.node_install import as_dict
from grader.probes.python_tests import python_sources
from grader.probes.repo import RepoFacts
from grader.probes.suite_run import SuiteWorkspace

NODE_ENTRIES = ("src/server.js", "server.js", "src/index.js", "index.js", "src/app.js", "app.js")
PYTHON_SCRIPTS = ("app.py", "main.py", "server.py", "run.py")
_BUILD_OUTPUT = re.compile(r"(^|[\s/'\"])(dist|build|lib|out)/")
_PREFERRED_MODULES = ("wsgi.py", "asgi.py", "main.py", "app.py", "server.py", "__init__.py")
_ASSIGNED = r"^(\w+)\s*(?::[^=\n]*)?=\s*(?:\w+\.)?"
_FASTAPI = re.compile(_ASSIGNED + r"FastAPI\(", re.M)
_FLASK = re.compile(_ASSIGNED + r"Flask\(|^def (create_app|make_app)\(", re.M)
_MAX_SCANNED = 200  # Python files read when looking for an app


@dataclass(frozen=True, slots=True)
class Launch:
    """How the grader starts the service: the command, its description, what was guessed, what comes first."""

    argv: tuple[str, ...]
    how: str  # e.g. "`npm start` (package.json scripts.start: node src/server.js)"
    assumed: str | None = None  # said in the report when the command was guessed
    build: bool = False  # run the project's build script before starting
    extra: tuple[str, ...] = ()  # Python packages the launcher itself needs (uvicorn)


def configured_launch(start: str) -> Launch:
    """The `[service] start` command, run by the shell."""
    return Launch(("sh", "-c", start), f"`{start}` (grade.toml [service] start)")


def detect_launch(ws: SuiteWorkspace, language: str | None, port: int) -> Launch | None:
    """The guessed way to start the project in `ws`, or None when nothing fits."""
    if language == "node":
        return node_launch(ws.repo)
    if language == "python":
        return python_launch(ws, port)
    return None


def node_launch(repo: RepoFacts) -> Launch | None:
    """`npm start`, else `node` on `main` or a common entry point, else a built NestJS main."""
    package_json = repo.package_json or {}
    scripts = as_dict(package_json.get("scripts"))
    builds = isinstance(scripts.get("build"), str)
    start = scripts.get("start")
    if isinstance(start, str) and start.strip():
        return Launch(
            ("npm", "start", "--silent"),
            f"`npm start` (package.json scripts.start: {start})",
            "no grade.toml [service]: started `npm start` from package.json scripts.start",
            build=builds and bool(_BUILD_OUTPUT.search(start)),
        )
    main = package_json.get("main")
    declared = _existing(repo, main) if isinstance(main, str) else None
    entry = declared or next((e for e in NODE_ENTRIES if repo.has(e)), None)
    if entry is not None:
        where = "package.json main" if declared else "a common entry point"
        return Launch(
            ("node", entry),
            f"`node {entry}`",
            f"no start script in package.json: started `node {entry}` ({where})",
            build=builds and bool(_BUILD_OUTPUT.search(entry)),
        )
    if repo.has("src/main.ts") and builds:
        return Launch(
            ("node", "dist/main.js"),
            "`node dist/main.js` (after `npm run build`)",
            "no start script in package.json: ran `npm run build`, then `node dist/main.js` (NestJS layout)",
            build=True,
        )
    return None


def _existing(repo: RepoFacts, main: str) -> str | None:
    """The file package.json `main` names, as Node resolves it (with .js or /index.js added)."""
    base = PurePosixPath(main).as_posix().removeprefix("./")
    return next((c for c in (base, f"{base}.js", f"{base}/index.js") if repo.has(c)), None)


def python_launch(ws: SuiteWorkspace, port: int) -> Launch | None:
    """uvicorn for a FastAPI app, `flask run` for a Flask app or factory, `python -m pkg`, or a top-level script."""
    sources = sorted(python_sources(ws.repo.files), key=_module_rank)[:_MAX_SCANNED]
    texts = {path: ws.read(path, 200_000) for path in sources}
    for path, text in texts.items():
        if match := _FASTAPI.search(text):
            return _uvicorn(path, match.group(1), port)
    for path, text in texts.items():
        if match := _FLASK.search(text):
            return _flask(path, match.group(1), port)
    package = next((p for p in sources if re.fullmatch(r"\w+/__main__\.py", p)), None)
    if package is not None:
        name = package.split("/")[0]
        return Launch(("python3", "-m", name), f"`python -m {name}`", f"no app found: started `python -m {name}`")
    script = next((s for s in PYTHON_SCRIPTS if ws.repo.has(s)), None)
    if script is not None:
        return Launch(("python3", script), f"`python {script}`", f"no app found: started `python {script}`")
    return None


def _module_rank(path: str) -> tuple[int, int, str]:
    """Shallow files first, then the usual app module names."""
    name = path.rsplit("/", 1)[-1]
    preferred = _PREFERRED_MODULES.index(name) if name in _PREFERRED_MODULES else len(_PREFERRED_MODULES)
    return path.count("/"), preferred, path


def _uvicorn(path: str, variable: str, port: int) -> Launch:
    src = path.startswith("src/")
    module = _module_name(path.removeprefix("src/") if src else path)
    target = f"{module}:{variable}"
    argv = ("python3", "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port))
    return Launch(
        (*argv, "--app-dir", "src") if src else argv,
        f"`uvicorn {target}`",
        f"no grade.toml [service]: started the FastAPI app `{target}` with uvicorn",
        extra=("uvicorn",),
    )


def _flask(path: str, variable: str | None, port: int) -> Launch:
    """`flask run` on the file (Flask finds `app` or a `create_app` factory itself)."""
    target = path if variable in (None, "app", "application") else f"{path}:{variable}"
    argv = ("python3", "-m", "flask", "--app", target, "run", "--host", "127.0.0.1", "--port", str(port), "--no-reload")
    return Launch(argv, f"`flask --app {target} run`", f"no grade.toml [service]: started the Flask app in {path}")


def _module_name(path: str) -> str:
    parts = list(PurePosixPath(path).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
