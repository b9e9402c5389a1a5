"""Test support for the API probes: a fact store with a stand-in `service` probe, and running one check.

The stand-in returns ServiceFacts around a LiveService the test started itself (or "not running"), so the
`api*` probes can be tested without the real service probe.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

from checks import api_contract
from grader.curriculum import CheckRef
from grader.facts import FactStore, ProbeContext
from grader.model import CheckResult
from grader.plugin import Registry, probe
from grader.probes import contract, http_session, openapi, repo, routes
from grader.probes.live import LiveService, ServiceFacts
from grader.project_config import ProjectConfig, parse_project_config
from grader.runner import run_check


def stand_in_service(live: LiveService | None) -> types.ModuleType:
    """A plug-in module whose `service` probe reports `live` as the running service (None: not running)."""
    module = types.ModuleType("stand_in_service")

    @probe("service", timeout_s=5)
    def service(ctx: ProbeContext) -> ServiceFacts:
        if live is None:
            return ServiceFacts(running=False, reason="not started (test stand-in)", base_url=None, how="test")
        return ServiceFacts(running=True, reason="", base_url=live.base_url, how="started by the test", live=live)

    module.service = service  # type: ignore[attr-defined]
    return module


def api_registry(live: LiveService | None) -> Registry:
    """The API probes and checks, the repo and session probes they use, and the stand-in service."""
    registry = Registry()
    for module in (repo, openapi, routes, contract, http_session, api_contract, stand_in_service(live)):
        registry.add_module(module)
    return registry


def api_store(root: Path, live: LiveService | None, raw_config: dict[str, Any] | None = None) -> FactStore:
    """A fact store over the project at `root`, with grade.toml tables `raw_config`."""
    registry = api_registry(live)
    config = parse_project_config(raw_config) if raw_config is not None else ProjectConfig()
    return FactStore(registry.probes, lambda store: ProbeContext(root, config, root, store, 60.0))


def judge(store: FactStore, check_id: str) -> CheckResult:
    """Run one check of `checks.api_contract` as the runner would (its probes run as needed)."""
    spec = api_registry(None).checks[check_id]
    return run_check(spec, CheckRef(check_id, 1.0, spec.defaults), store)
