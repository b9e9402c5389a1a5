"""deploy.https on hand-built TLS facts: the domain, the HSTS max-age and the redirect's target."""

from __future__ import annotations

from typing import Any

import pytest

from checks.deployment import https
from grader.facts import Facts
from grader.model import Outcome, Verdict
from grader.probes.deploy import Certificate, TlsFacts
from grader.probes.live import Exchange

CERT = Certificate("CN=api.shop.dev", "CN=R11, O=Let's Encrypt", "", "Mar  1 00:00:00 2031 GMT", 80.0, ())


def exchange(url: str, status: int, headers: dict[str, str]) -> Exchange:
    return Exchange("GET", url, {}, None, status, headers, "", 12.0)


def judge(
    host: str = "api.shop.dev",
    hsts: str | None = "max-age=63072000; includeSubDomains; preload",
    location: str = "https://api.shop.dev/",
    **options: Any,
) -> Verdict:
    facts = TlsFacts(
        url=f"https://{host}/",
        trust="the system's trusted CAs",
        certificate=CERT,
        protocol="TLSv1.3",
        handshake_error=None,
        secure=exchange(f"https://{host}/", 200, {"strict-transport-security": hsts} if hsts else {}),
        plain=exchange(f"http://{host}/", 308, {"location": location}),
    )
    spec = https.__grade_check__  # type: ignore[attr-defined]
    return https(Facts({"deploy.tls": facts}), {**spec.defaults, **options})


def test_a_custom_domain_with_everything_passes() -> None:
    verdict = judge()
    assert verdict.outcome is Outcome.PASS
    assert (verdict.value, verdict.threshold, verdict.unit) == (80.0, 14, "days")


@pytest.mark.parametrize(
    "host", ["shop-api.onrender.com", "203.0.113.7", "localhost", "ec2-1-2-3-4.compute.amazonaws.com"]
)
def test_a_platform_host_or_an_address_is_not_a_custom_domain(host: str) -> None:
    verdict = judge(host=host, location=f"https://{host}/")
    assert (verdict.outcome, verdict.score) == (Outcome.FAIL, 0.8)
    assert verdict.summary == f"{host}: missing a domain of its own"
    assert judge(host=host, location=f"https://{host}/", custom_domain=False).outcome is Outcome.PASS


@pytest.mark.parametrize(
    ("header", "note"),
    [
        ("max-age=300", "(max-age 300 < 15552000)"),
        ('max-age="86400"; includeSubDomains', "(max-age 86400 < 15552000)"),
        ("includeSubDomains", "(no max-age)"),
    ],
)
def test_a_short_or_missing_hsts_max_age_fails(header: str, note: str) -> None:
    verdict = judge(hsts=header)
    assert verdict.outcome is Outcome.FAIL
    assert "Strict-Transport-Security with max-age ≥ 15552000" in verdict.summary
    assert any(note in e.message for e in verdict.evidence)
    assert judge(hsts=header, min_hsts_max_age=60).outcome is (Outcome.FAIL if "no max-age" in note else Outcome.PASS)


def test_a_redirect_that_stays_on_http_does_not_count() -> None:
    verdict = judge(location="http://www.shop.dev/")
    assert verdict.outcome is Outcome.FAIL
    assert any("redirects, but not to https://" in e.message for e in verdict.evidence)
