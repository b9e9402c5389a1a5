"""Third-party checks arrive through the `grade.plugins` entry point group; a broken one is reported."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.plugin import ENTRY_POINT_GROUP, load_registry

PLUGIN = '''
"""A third-party plug-in adding one check."""
from grader.model import Verdict
from grader.plugin import check

@check("acme.readme_length", title="README has {min} characters", requires=("repo",),
       remediation="write more", defaults={"min": 10})
def readme_length(facts, options):
    """Counts README characters."""
    return Verdict.passed("long enough")
'''


@pytest.fixture
def plugin_site(tmp_path: Path) -> Iterator[Path]:
    """A directory on sys.path holding installed-distribution metadata, as pip would write it."""
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in ("acme_checks", "broken_checks"):
        sys.modules.pop(name, None)


def install(site: Path, dist: str, entry_points: str) -> None:
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry_points}\n", encoding="utf-8")


def test_a_plugin_check_is_registered_and_a_broken_plugin_is_reported(plugin_site: Path) -> None:
    (plugin_site / "acme_checks.py").write_text(PLUGIN, encoding="utf-8")
    (plugin_site / "broken_checks.py").write_text("raise ImportError('missing dependency foo')\n", encoding="utf-8")
    install(plugin_site, "acme-checks", "acme = acme_checks")
    install(plugin_site, "broken-checks", "broken = broken_checks")
    registry = load_registry()
    assert "acme.readme_length" in registry.checks
    assert "tests.pass" in registry.checks
    assert any("'broken' failed to load" in e and "missing dependency foo" in e for e in registry.load_errors)


def test_plugins_can_be_switched_off(plugin_site: Path) -> None:
    (plugin_site / "acme_checks.py").write_text(PLUGIN, encoding="utf-8")
    install(plugin_site, "acme-checks", "acme = acme_checks")
    assert "acme.readme_length" not in load_registry(plugins=False).checks


def test_a_plugin_check_needing_an_unknown_fact_is_disabled_with_a_reason(plugin_site: Path) -> None:
    (plugin_site / "acme_checks.py").write_text(PLUGIN.replace('("repo",)', '("telemetry",)'), encoding="utf-8")
    install(plugin_site, "acme-checks", "acme = acme_checks")
    registry = load_registry()
    assert "acme.readme_length" not in registry.checks
    assert any("no probe provides telemetry" in e for e in registry.load_errors)
