"""Deployment checks on the app given with --live-url: HTTPS done properly on a domain of the learner's own."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from checks._parts import unmet
from grader.facts import Facts
from grader.model import Evidence, Verdict
from grader.plugin import check
from grader.probes.deploy import TlsFacts
from grader.probes.live import Exchange

REDIRECT_STATUSES = frozenset({301, 302, 307, 308})
# Hosts a platform hands out: the app is deployed there, but not on a domain of its own.
PLATFORM_SUFFIXES = (
    ".herokuapp.com",
    ".onrender.com",
    ".vercel.app",
    ".netlify.app",
    ".fly.dev",
    ".railway.app",
    ".amazonaws.com",
    ".elasticbeanstalk.com",
    ".cloudfront.net",
    ".azurewebsites.net",
    ".azurecontainerapps.io",
    ".appspot.com",
    ".run.app",
    ".github.io",
    ".pages.dev",
    ".workers.dev",
    ".koyeb.app",
    ".ngrok.io",
    ".ngrok-free.app",
)
_MAX_AGE = re.compile(r"(?:^|;)\s*max-age\s*=\s*\"?(\d+)\"?", re.I)


@check(
    "deploy.https",
    title="The deployed app serves HTTPS on its own domain: a valid certificate (≥ {min_days} days left), "
    "HTTP redirected, HSTS set",
    requires=("deploy.tls",),
    defaults={"min_days": 14, "min_hsts_max_age": 15552000, "custom_domain": True},
    threshold="min_days",
    remediation="Serve the app on your own domain behind a certificate from a public CA (e.g. Let's Encrypt with "
    "certbot or Caddy, or AWS Certificate Manager on a load balancer) that renews itself; redirect every "
    "http:// request with a 301 or 308 to https://; and send `Strict-Transport-Security: max-age=31536000; "
    "includeSubDomains` (helmet does) on HTTPS responses.",
)
def https(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Verifies the certificate and its days left, reads the http:// answer (a redirect?) and the HSTS header.

    Redirects are never followed. `custom_domain = false` accepts an IP address, localhost or a platform host.
    """
    tls = facts.get("deploy.tls", TlsFacts)
    min_days, min_age = float(options["min_days"]), int(options["min_hsts_max_age"])
    host = urlsplit(tls.url).hostname or ""
    evidence: list[Evidence] = []
    parts: dict[str, bool] = {}

    cert = tls.certificate
    if cert is None:
        evidence.append(Evidence(f"no verified TLS connection to {tls.url}: {tls.handshake_error}", detail=tls.trust))
    else:
        evidence.append(
            Evidence(
                f"certificate for {cert.subject} issued by {cert.issuer}, valid until {cert.not_after} "
                f"({cert.days_left:.0f} days left, threshold {min_days:g})",
                detail=f"names: {', '.join(cert.names) or '(none)'}\nprotocol: {tls.protocol}\nverified against "
                f"{tls.trust}",
            )
        )
    parts["a certificate that verifies"] = cert is not None
    parts[f"at least {min_days:g} days before the certificate expires"] = (
        cert is not None and cert.days_left >= min_days
    )

    redirected, note = _redirects_to_https(tls.plain)
    evidence.append(Evidence(note, detail=tls.plain.detail))
    parts["http:// redirects to https://"] = redirected

    if tls.secure is not None:
        hsts_ok, hsts_note = _hsts(tls.secure, min_age)
        evidence.append(Evidence(hsts_note, detail=tls.secure.detail))
    else:
        hsts_ok = False
    parts[f"Strict-Transport-Security with max-age ≥ {min_age}"] = hsts_ok

    if options["custom_domain"]:
        own = _is_custom_domain(host)
        parts["a domain of its own"] = own
        if not own:
            evidence.append(Evidence(f"{host} is not a custom domain (an IP address, localhost or a platform host)"))

    missing, score = unmet(parts.items())
    measured: dict[str, Any] = {"evidence": tuple(evidence), "threshold": min_days, "unit": "days"}
    if cert is not None:
        measured["value"] = cert.days_left
    if not missing:
        return Verdict.passed(f"{host}: valid certificate, HTTP redirected, HSTS set", **measured)
    return Verdict.failed(f"{host}: missing {'; '.join(missing)}", score=score, **measured)


def _redirects_to_https(plain: Exchange) -> tuple[bool, str]:
    if plain.status is None:
        return False, f"http:// does not answer, so it cannot redirect: {plain.summary}"
    location = _header(plain, "location")
    if plain.status in REDIRECT_STATUSES and location and location.lower().startswith("https://"):
        return True, f"{plain.summary} redirects to {location}"
    if plain.status in REDIRECT_STATUSES:
        return False, f"{plain.summary} redirects, but not to https:// (Location: {location or 'none'})"
    return False, f"{plain.summary}: served over plain HTTP instead of a redirect to https://"


def _hsts(secure: Exchange, min_age: int) -> tuple[bool, str]:
    header = _header(secure, "strict-transport-security")
    if header is None:
        return False, f"{secure.summary}: no Strict-Transport-Security header"
    match = _MAX_AGE.search(header)
    if match is None:
        return False, f"Strict-Transport-Security: {header} (no max-age)"
    age = int(match.group(1))
    verdict = "≥" if age >= min_age else "<"
    return age >= min_age, f"Strict-Transport-Security: {header} (max-age {age} {verdict} {min_age})"


def _header(exchange: Exchange, name: str) -> str | None:
    return next((v for k, v in exchange.response_headers.items() if k.lower() == name), None)


def _is_custom_domain(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        pass
    host = host.lower().rstrip(".")
    return "." in host and host != "localhost" and not host.endswith((".localhost", *PLATFORM_SUFFIXES))
