"""The deployed app's HTTPS, judged against real TLS servers on loopback with certificates from a test CA."""

from __future__ import annotations

import contextlib
import json
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from checks.deployment import https
from grader.api import grade
from grader.cli import main
from grader.facts import Facts
from grader.model import GradeRequest, Outcome, Report
from grader.probes.deploy import CA_BUNDLE_ENV, TlsFacts, inspect_tls
from tests.conftest import require_tool
from tests.live.harness import QuietHandler

HSTS = {"Strict-Transport-Security": "max-age=31536000; includeSubDomains"}


class TestCA:
    """A throwaway certificate authority (openssl CLI) that issues server certificates for localhost."""

    __test__ = False

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.cert = directory / "ca.pem"
        self._openssl(
            "req", "-x509", *self._new_key("ca.key"), "-out", "ca.pem", "-days", "30", "-subj", "/CN=grade test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip

    def issue(self, name: str, days: int) -> tuple[Path, Path]:
        """A certificate for localhost and 127.0.0.1 valid for `days` from now (negative: already expired)."""
        (self.dir / f"{name}.ext").write_text(
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n", encoding="utf-8"
        )
        self._openssl("req", *self._new_key(f"{name}.key"), "-out", f"{name}.csr", "-subj", "/CN=localhost")
        self._openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", str(days), "-extfile", f"{name}.ext",
        )  # fmt: skip
        return self.dir / f"{name}.pem", self.dir / f"{name}.key"

    def self_signed(self, name: str) -> tuple[Path, Path]:
        """A certificate for localhost that no CA vouches for."""
        self._openssl(
            "req", "-x509", *self._new_key(f"{name}.key"), "-out", f"{name}.pem", "-days", "30",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        )  # fmt: skip
        return self.dir / f"{name}.pem", self.dir / f"{name}.key"

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    @staticmethod
    def _new_key(key: str) -> tuple[str, ...]:
        return ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key)

    def _openssl(self, *args: str) -> None:
        subprocess.run(["openssl", *args], cwd=self.dir, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    require_tool("openssl")
    return TestCA(tmp_path_factory.mktemp("ca"))


@contextlib.contextmanager
def serving(
    status: int, headers: Mapping[str, str], cert: tuple[Path, Path] | None = None, location: str = ""
) -> Iterator[int]:
    """A loopback server (HTTPS when given a certificate) answering every GET alike; yields its port.

    `location`: redirect to it, with the request's path appended.
    """

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            extra = {**headers, **({"Location": location + self.path} if location else {})}
            self.send_body(status, {"status": "ok"}, headers=extra)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if cert is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*cert)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def deployed(cert: tuple[Path, Path], *, hsts: bool = True, redirect: bool = True) -> Iterator[tuple[int, int]]:
    """An HTTPS app and its plain-HTTP side (redirecting to it, or serving the page itself): (https, http) ports."""
    with serving(200, HSTS if hsts else {}, cert) as secure:
        target = f"https://localhost:{secure}" if redirect else ""
        with serving(301 if redirect else 200, {}, location=target) as plain:
            yield secure, plain


def judge_https(facts: TlsFacts, **options: Any) -> Any:
    spec = https.__grade_check__  # type: ignore[attr-defined]
    return https(Facts({"deploy.tls": facts}), {**spec.defaults, "custom_domain": False, **options})


def test_a_valid_certificate_a_redirect_and_hsts_pass(ca: TestCA) -> None:
    with deployed(ca.issue("good", days=365)) as (secure, plain):
        facts = inspect_tls(f"http://localhost:{plain}/health", ca.context(), "test CA")
    assert facts.url == f"https://localhost:{secure}/health"  # the redirect's target was inspected
    assert facts.certificate is not None and facts.handshake_error is None
    assert facts.certificate.subject == "CN=localhost" and facts.certificate.issuer == "CN=grade test CA"
    assert 363 < facts.certificate.days_left <= 365
    assert "DNS:localhost" in facts.certificate.names
    assert (facts.plain.status, facts.secure and facts.secure.status) == (301, 200)

    verdict = judge_https(facts)
    assert verdict.outcome is Outcome.PASS, verdict.summary
    text = "\n".join(e.message for e in verdict.evidence)
    assert "issued by CN=grade test CA" in text and "redirects to https://localhost:" in text
    assert "max-age 31536000 ≥ 15552000" in text
    assert verdict.value is not None and verdict.value > 360 and verdict.threshold == 14


def test_a_near_expiry_certificate_no_redirect_and_no_hsts_fail_with_evidence(ca: TestCA) -> None:
    with deployed(ca.issue("weak", days=5), hsts=False, redirect=False) as (secure, plain):
        facts = inspect_tls(
            f"https://localhost:{secure}/", ca.context(), "test CA", plain_url=f"http://localhost:{plain}/"
        )
    verdict = judge_https(facts)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.score == pytest.approx(1 / 4)  # the certificate verifies; the rest is missing
    assert (
        "at least 14 days" in verdict.summary
        and "redirects" in verdict.summary
        and "Strict-Transport" in verdict.summary
    )
    messages = [e.message for e in verdict.evidence]
    assert any("(5 days left, threshold 14)" in m or "(4 days left, threshold 14)" in m for m in messages)
    assert any("served over plain HTTP instead of a redirect" in m for m in messages)
    assert any("no Strict-Transport-Security header" in m for m in messages)
    # With a lower threshold the certificate's age is acceptable.
    assert "days before" not in judge_https(facts, min_days=3).summary


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda ca: ca.issue("expired", days=-1), "certificate has expired"),
        (lambda ca: ca.self_signed("stranger"), "certificate rejected"),
    ],
    ids=["expired", "untrusted"],
)
def test_a_certificate_that_does_not_verify_fails(
    ca: TestCA, make: Callable[[TestCA], tuple[Path, Path]], reason: str
) -> None:
    with deployed(make(ca)) as (secure, plain):
        facts = inspect_tls(
            f"https://localhost:{secure}/", ca.context(), "test CA", plain_url=f"http://localhost:{plain}/"
        )
    assert facts.certificate is None and facts.secure is None
    assert facts.handshake_error is not None and reason in facts.handshake_error
    verdict = judge_https(facts)
    assert verdict.outcome is Outcome.FAIL and verdict.score == pytest.approx(1 / 4)  # only the redirect is right
    assert reason in verdict.evidence[0].message


def test_a_redirect_to_another_host_is_not_followed(ca: TestCA) -> None:
    with serving(301, {}, location="https://elsewhere.invalid") as plain:
        facts = inspect_tls(f"http://localhost:{plain}/health", ca.context(), "test CA")
    assert facts.url == "https://localhost/health"  # the given host's own HTTPS, not the redirect's host
    assert facts.plain.response_headers.get("location") == "https://elsewhere.invalid/health"


def test_nothing_listening_is_a_failed_handshake_not_a_crash(ca: TestCA) -> None:
    with serving(200, {}) as port:
        pass  # the port is free again
    facts = inspect_tls(f"https://127.0.0.1:{port}/", ca.context(), "test CA", plain_url=f"http://127.0.0.1:{port}/")
    assert facts.certificate is None and facts.handshake_error and "ConnectionRefused" in facts.handshake_error
    assert facts.plain.status is None
    assert judge_https(facts).score == 0.0


def test_live_url_through_the_cli(
    ca: TestCA, built_fixture: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CA_BUNDLE_ENV, str(ca.cert))
    repo = built_fixture("cicd-good")
    with deployed(ca.issue("cli", days=90)) as (_secure, plain):
        code = main(
            [
                str(repo), "--phase", "4", "--only", "deploy.https", "--live-url", f"http://localhost:{plain}/health",
                "--set", "deploy.https.custom_domain=false", "--format", "json", "--out", str(tmp_path), "-q",
            ]
        )  # fmt: skip
    assert code == 0
    (report_file,) = tmp_path.glob("*.json")
    report = json.loads(report_file.read_text(encoding="utf-8"))
    (result,) = [c for criterion in report["criteria"] for c in criterion["checks"]]
    assert (result["check_id"], result["outcome"]) == ("deploy.https", "pass")
    assert report["options"]["live_url"] == f"http://localhost:{plain}/health"
    assert main([str(repo), "--phase", "4", "--live-url", "ftp://example.com"]) == 2


def live_demo_result(report: Report) -> Any:
    (result,) = [c for criterion in report.criteria for c in criterion.checks if c.check_id == "portfolio.live_demo"]
    return result


def test_live_demo_answers_through_the_api(
    ca: TestCA, built_fixture: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CA_BUNDLE_ENV, str(ca.cert))
    repo = built_fixture("cicd-good")
    request = GradeRequest(path=repo, phase=10, only=("portfolio.live_demo",))
    not_given = live_demo_result(grade(request))
    assert (not_given.outcome, not_given.summary) == (
        Outcome.NOT_RUN,
        "not run: no --live-url given (the URL of the deployed app)",
    )
    with deployed(ca.issue("demo", days=90)) as (secure, plain):
        up = live_demo_result(
            grade(GradeRequest(path=repo, phase=10, only=request.only, live_url=f"https://localhost:{secure}/"))
        )
        redirect = live_demo_result(
            grade(GradeRequest(path=repo, phase=10, only=request.only, live_url=f"http://localhost:{plain}/"))
        )
    assert up.outcome is Outcome.PASS and "answered 200" in up.summary and up.unit == "s"
    assert redirect.outcome is Outcome.PASS and "answered 301" in redirect.summary
    down = live_demo_result(
        grade(GradeRequest(path=repo, phase=10, only=request.only, live_url=f"https://localhost:{secure}/"))
    )
    assert down.outcome is Outcome.FAIL and "did not answer" in down.summary
