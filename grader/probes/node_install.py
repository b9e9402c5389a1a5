"""Installing a Node.js project's dependencies in the copy: npm, pnpm or yarn, frozen to the lockfile.

Every install skips lifecycle scripts (`--ignore-scripts`); the dependencies that have install
scripts (native modules such as bcrypt, argon2, sqlite3) are then rebuilt explicitly, which npm 11
no longer does by itself. The project's own install scripts are not run. pnpm and yarn come from
PATH or are installed with npm into the grader's cache (corepack needs registry signatures that
a mirror may not serve).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from grader.probes.suite_run import SuiteWorkspace, TestRun, first_error_line
from grader.sandbox import cache_dir, run_process, scrubbed_env

_NPMRC_KEYS = frozenset({"registry", "nodedir", "cafile", "strict-ssl", "proxy", "https-proxy", "noproxy"})


def as_dict(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def install_dependencies(ws: SuiteWorkspace, lockfile: str | None, timeout_s: float) -> TestRun | None:
    """Install dependencies, then rebuild those with install scripts; a TestRun only on failure."""
    package_json = ws.repo.package_json or {}
    if not any(as_dict(package_json.get(k)) for k in ("dependencies", "devDependencies")):
        ws.notes.append("package.json declares no dependencies: nothing installed")
        return None
    manager = ws.package_manager or "npm"
    version = _manager_version(ws) if manager != "npm" else None
    tool = installer(ws, version, timeout_s)
    if isinstance(tool, TestRun):
        return tool
    berry = manager == "yarn" and not (version or "1").startswith("1")
    if lockfile is None:
        ws.notes.append(f"no lockfile: used {manager} install (versions may differ from the learner's)")
    env = install_env()
    argv = install_argv(manager, tool, lockfile is not None, berry)
    result = ws.run(argv, timeout_s=timeout_s, env=env, network=True)
    if not result.ok:
        what = "npm ci" if manager == "npm" and lockfile else f"{manager} install"
        return ws.failed_step("install_failed", what, result)
    ws.notes.append(f"{manager} install took {result.duration_s:.1f} s")
    if (ws.src / ".pnp.cjs").exists():
        reason = "not run: Yarn Plug'n'Play installs are not supported (set nodeLinker: node-modules in .yarnrc.yml)"
        return ws.finish("unsupported", reason)
    native = packages_with_install_scripts(ws.src / "node_modules")
    if native:
        rebuilder = tool if manager == "pnpm" else [ws.which("npm") or "npm"]
        rebuilt = ws.run([*rebuilder, "rebuild", *native], timeout_s=timeout_s, env=env, network=True)
        outcome = "rebuilt" if rebuilt.ok else f"rebuild failed (exit {rebuilt.returncode})"
        ws.notes.append(f"dependencies with install scripts {outcome}: {', '.join(native)}")
        if not rebuilt.ok:
            ws.notes.append(f"rebuild error{first_error_line(rebuilt.output) or ': see the rebuild output'}")
    own = sorted(set(as_dict(package_json.get("scripts"))) & {"preinstall", "install", "postinstall", "prepare"})
    if own:
        ws.notes.append(f"the project's own install scripts were not run: {', '.join(own)}")
    return None


def installer(ws: SuiteWorkspace, version: str | None, timeout_s: float) -> list[str] | TestRun:
    """The package manager's argv prefix: npm, or pnpm/yarn from PATH or fetched into the grader cache."""
    manager = ws.package_manager or "npm"
    on_path = ws.which(manager)
    if manager == "npm":
        return [on_path] if on_path else ws.finish("unsupported", "not run: npm is not installed")
    if on_path and version is None:
        return [on_path]
    return _cached_tool(ws, manager, version or "latest", timeout_s)


def _manager_version(ws: SuiteWorkspace) -> str | None:
    """The version the project asks for: packageManager (corepack) field, else what its lockfile implies."""
    declared = (ws.repo.package_json or {}).get("packageManager")
    if isinstance(declared, str) and "@" in declared:
        return declared.split("@", 1)[1].split("+", 1)[0]
    if ws.package_manager == "yarn":
        return "4" if "__metadata:" in ws.read("yarn.lock", 4096) else "1"
    lock = ws.read("pnpm-lock.yaml", 200)
    match = re.search(r"lockfileVersion:\s*'?(\d+)\.(\d+)", lock)
    if match is None:
        return None
    major, minor = int(match.group(1)), int(match.group(2))
    return "9" if major >= 9 else "8" if major == 6 else "7" if (major, minor) >= (5, 4) else "6"


def _cached_tool(ws: SuiteWorkspace, manager: str, version: str, timeout_s: float) -> list[str] | TestRun:
    """pnpm or yarn installed with npm into the grader's cache (corepack needs signed metadata)."""
    package = "@yarnpkg/cli-dist" if manager == "yarn" and not version.startswith("1") else manager
    home = cache_dir() / "tools" / f"{manager}-{version}"
    binary = home / "node_modules" / ".bin" / manager
    if binary.exists():
        return [str(binary)]
    npm = ws.which("npm")
    if npm is None:
        return ws.finish("unsupported", f"not run: {manager} is not available and npm is not installed")
    staging = home.with_name(f"{home.name}.{os.getpid()}")
    home.parent.mkdir(parents=True, exist_ok=True)
    result = run_process(  # a grader tool from the registry: not confined, never run in the learner's copy
        [npm, "install", "--prefix", str(staging), "--no-save", "--no-audit", "--no-fund", f"{package}@{version}"],
        cwd=home.parent, env=scrubbed_env(), timeout_s=timeout_s,
    )  # fmt: skip
    ws.commands.append(result.command)
    if not result.ok:
        shutil.rmtree(staging, ignore_errors=True)
        return ws.failed_step(
            "unsupported", f"not run: {manager} not available (installing {package}@{version})", result
        )
    if not binary.exists():
        os.replace(staging, home)
    shutil.rmtree(staging, ignore_errors=True)
    ws.notes.append(f"{manager} {version} installed into the grader's cache with npm")
    return [str(binary)]


def install_argv(manager: str, tool: list[str], locked: bool, berry: bool) -> list[str]:
    """The install command: frozen to the lockfile when there is one; no lifecycle scripts."""
    if manager == "npm":
        if locked:
            return [*tool, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--replace-registry-host=always"]
        return [*tool, "install", "--ignore-scripts", "--no-audit", "--no-fund", "--no-package-lock"]
    if manager == "pnpm":
        frozen = "--frozen-lockfile" if locked else "--no-frozen-lockfile"
        return [*tool, "install", frozen, "--ignore-scripts", "--config.confirmModulesPurge=false"]
    if berry:
        return [*tool, "install", "--immutable" if locked else "--no-immutable", "--mode=skip-build"]
    return [
        *tool,
        "install",
        "--frozen-lockfile" if locked else "--no-lockfile",
        "--ignore-scripts",
        "--non-interactive",
    ]


def install_env() -> dict[str, str]:
    """Registry, trust store and node headers from the grader user's npmrc (never its credentials)."""
    cache = cache_dir()
    env = {
        "npm_config_store_dir": str(cache / "pnpm-store"),
        "YARN_CACHE_FOLDER": str(cache / "yarn"),
        "YARN_ENABLE_TELEMETRY": "0",
    }
    configured = os.environ.get("npm_config_userconfig")  # noqa: SIM112 - npm's own spelling
    path = Path(configured) if configured else Path.home() / ".npmrc"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return env
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip() in _NPMRC_KEYS:
            env[f"npm_config_{key.strip().replace('-', '_')}"] = value.strip().strip("\"'")
    return env


def packages_with_install_scripts(node_modules: Path) -> list[str]:
    """Installed dependencies that have install scripts or a binding.gyp (native modules, mostly)."""
    names: set[str] = set()
    patterns = ("*/package.json", "@*/*/package.json", ".pnpm/*/node_modules/*/package.json",
                ".pnpm/*/node_modules/@*/*/package.json")  # fmt: skip
    for pattern in patterns:
        for manifest in node_modules.glob(pattern):
            name = _install_script_package(manifest)
            if name:
                names.add(name)
    return sorted(names)


def _install_script_package(manifest: Path) -> str | None:
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    scripts = as_dict(data.get("scripts"))
    has = (
        any(k in scripts for k in ("preinstall", "install", "postinstall"))
        or (manifest.parent / "binding.gyp").exists()
    )
    name = data.get("name")
    return name if has and isinstance(name, str) else None
