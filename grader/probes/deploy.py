"""The deployed app given with --live-url: its TLS certificate, the HTTP → HTTPS redirect, HSTS, and its answer.

Only the given URL's host is contacted: its https:// and http:// forms (and the https:// URL an http:// one
redirects to). Certificates are verified against the system's trusted CAs, or against the CA file named by
the GRADE_CA_BUNDLE environment variable (for a test CA).
"""

from __future__ import annotations

import os
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

import httpx

from grader.errors import ProbeError
from grader.facts import NotRunnable, ProbeContext
from grader.plugin import probe
from grader.probes.live import Exchange, send

CA_BUNDLE_ENV = "GRADE_CA_BUNDLE"
REQUEST_TIMEOUT_S = 10.0
DEMO_TIMEOUT_S = 30.0  # a free-tier app may take this long to wake up


@dataclass(frozen=True, slots=True)
class Certificate:
    """The server certificate of a verified TLS handshake."""

    subject: str
    issuer: str
    not_before: str
    not_after: str
    days_left: float  # when the probe ran
    names: tuple[str, ...]  # subjectAltName entries


@dataclass(frozen=True, slots=True)
class TlsFacts:
    """How the deployed app does over HTTPS, and what its plain-HTTP address answers."""

    url: str  # the https:// URL inspected
    trust: str  # what certificates were verified against
    certificate: Certificate | None  # None: the verified handshake failed
    protocol: str | None  # e.g. "TLSv1.3"
    handshake_error: str | None
    secure: Exchange | None  # GET of the https:// URL (None when the handshake failed)
    plain: Exchange  # GET of the http:// URL, redirects not followed


@dataclass(frozen=True, slots=True)
class SiteFacts:
    """What the deployed app answered to one GET of the --live-url."""

    url: str
    exchange: Exchange
    timeout_s: float


@probe("deploy.tls", timeout_s=4 * REQUEST_TIMEOUT_S + 10)
def deploy_tls(ctx: ProbeContext) -> TlsFacts:
    """Verify the --live-url's certificate, GET its http:// form (is it redirected?) and its https:// form (HSTS)."""
    return inspect_tls(_live_url(ctx), *_trust())


@probe("deploy.live", timeout_s=DEMO_TIMEOUT_S + 15)
def deploy_live(ctx: ProbeContext) -> SiteFacts:
    """GET the --live-url once (redirects not followed) and record the answer and how long it took."""
    url = _live_url(ctx)
    with _client(_trust()[0], DEMO_TIMEOUT_S) as client:
        _response, exchange = send(client, "GET", url)
    return SiteFacts(url, exchange, DEMO_TIMEOUT_S)


def _live_url(ctx: ProbeContext) -> str:
    if not ctx.live.live_url:
        raise NotRunnable("no --live-url given (the URL of the deployed app)")
    return ctx.live.live_url


def _trust() -> tuple[ssl.SSLContext, str]:
    """A verifying TLS context: the system's CAs, or the CA file GRADE_CA_BUNDLE names."""
    ca_file = os.environ.get(CA_BUNDLE_ENV)
    if not ca_file:
        return ssl.create_default_context(), "the system's trusted CAs"
    try:
        return ssl.create_default_context(cafile=ca_file), f"the CA file {ca_file} ({CA_BUNDLE_ENV})"
    except (OSError, ssl.SSLError) as exc:
        raise ProbeError(f"{CA_BUNDLE_ENV}={ca_file}: not a readable CA file ({exc})") from None


def _client(context: ssl.SSLContext, timeout_s: float) -> httpx.Client:
    return httpx.Client(verify=context, timeout=timeout_s, follow_redirects=False, trust_env=False)


def inspect_tls(live_url: str, context: ssl.SSLContext, trust: str, plain_url: str | None = None) -> TlsFacts:
    """The TLS facts of the app at `live_url`: https://, or http:// whose redirect target is then inspected.

    A redirect to another host is not followed: the same host's https:// address is inspected instead. For an
    https:// `live_url`, its plain-HTTP side is the same host on port 80, or `plain_url` when given.
    """
    parts = urlsplit(live_url)
    with _client(context, REQUEST_TIMEOUT_S) as client:
        if parts.scheme == "http":
            response, plain = send(client, "GET", live_url)
            location = response.headers.get("location") if response is not None and response.is_redirect else None
            target = urlsplit(urljoin(live_url, location)) if location else None
            same_host = target is not None and target.scheme == "https" and target.hostname == parts.hostname
            https_url = urlunsplit(target) if target is not None and same_host else _with_scheme(parts, "https")
        else:
            https_url = live_url
            _response, plain = send(client, "GET", plain_url or _with_scheme(parts, "http"))
        certificate, protocol, error = handshake(https_url, context)
        secure = send(client, "GET", https_url)[1] if error is None else None
    return TlsFacts(https_url, trust, certificate, protocol, error, secure, plain)


def _with_scheme(parts: SplitResult, scheme: str) -> str:
    """The same host and path under `scheme`, on that scheme's default port."""
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def handshake(url: str, context: ssl.SSLContext) -> tuple[Certificate | None, str | None, str | None]:
    """(certificate, protocol, None) after a verified handshake with the URL's host, or (None, None, why not)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        with (
            socket.create_connection((host, parts.port or 443), timeout=REQUEST_TIMEOUT_S) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            peer = tls.getpeercert()
            protocol = tls.version()
    except ssl.SSLCertVerificationError as exc:
        return None, None, f"certificate rejected: {exc.verify_message}"
    except (OSError, ValueError) as exc:  # refused, timed out, not TLS at all, a bad host name
        return None, None, f"{type(exc).__name__}: {exc}"
    if not peer:
        return None, None, "the server sent no certificate"
    return _certificate(peer), protocol, None


def _certificate(peer: Mapping[str, object]) -> Certificate:
    not_after = str(peer.get("notAfter", ""))
    expires = ssl.cert_time_to_seconds(not_after) if not_after else time.time()
    names = peer.get("subjectAltName", ())
    return Certificate(
        subject=_name(peer.get("subject", ())),
        issuer=_name(peer.get("issuer", ())),
        not_before=str(peer.get("notBefore", "")),
        not_after=not_after,
        days_left=round((expires - time.time()) / 86400, 2),
        names=tuple(f"{kind}:{value}" for kind, value in names) if isinstance(names, tuple) else (),
    )


_SHORT_NAMES = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU", "countryName": "C"}


def _name(rdns: object) -> str:
    """A distinguished name as `CN=example.com, O=Let's Encrypt`, from getpeercert()'s nested tuples."""
    if not isinstance(rdns, Iterable):
        return ""
    return ", ".join(f"{_SHORT_NAMES.get(key, key)}={value}" for rdn in rdns for key, value in rdn)
