"""What the source of each service shows: imports into siblings, broker clients, tracing, gateway proxying.

Every finding is located (file and line) so a check can show it. Only the services' own
source files are read (not tests, not vendored output), each up to MAX_BYTES.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from grader.probes.repo import LANGUAGE_BY_SUFFIX, RepoFacts
from grader.probes.text_files import line_at, line_text

MAX_BYTES = 200_000
MAX_FILES = 400  # per service
_TEST_FILE = re.compile(r"(^|/)(tests?|__tests__|spec)/|[._-](test|spec)\.\w+$|(^|/)test_\w+\.py$")
_VENDORED = frozenset({"dist", "build", "coverage", "vendor", "node_modules"})

# Relative module specifiers: require('../x'), import('../x'), import ... from '../x', import '../x'.
_JS_RELATIVE = re.compile(
    r"""(?:\brequire\s*\(|\bimport\s*\(|\bfrom\s+|^\s*import\s+)\s*['"](\.{1,2}/[^'"]*)['"]""", re.M
)
_PY_RELATIVE = re.compile(r"^\s*from\s+(\.{2,})([\w.]*)\s+import\b", re.M)
_PY_SYS_PATH = re.compile(r"""sys\.path\.(?:append|insert)\([^)\n]*?['"]([^'"\n]*\.\.[^'"\n]*)['"]""")

# Broker client library -> (what a producer calls, what a consumer calls).
BROKER_CLIENTS: dict[str, tuple[str, str]] = {
    "amqplib": (r"\.(publish|sendToQueue)\(", r"\.consume\("),
    "amqp-connection-manager": (r"\.(publish|sendToQueue)\(", r"\.consume\("),
    "kafkajs": (r"\.producer\(", r"\.consumer\("),
    "bullmq": (r"\bnew\s+Queue\s*\(", r"\bnew\s+Worker\s*\("),
    "bull": (r"\.add\(", r"\.process\("),
    "bee-queue": (r"\.createJob\(", r"\.process\("),
    "nats": (r"\.publish\(", r"\.subscribe\("),
    "@aws-sdk/client-sqs": (r"\bSendMessage(Batch)?Command\b", r"\bReceiveMessageCommand\b"),
    "sqs-consumer": (r"(?!)", r"\bConsumer\.create\("),
    "@google-cloud/pubsub": (r"\.publish(Message)?\(", r"""\.on\(\s*['"]message['"]"""),
    "pika": (r"\bbasic_publish\(", r"\bbasic_consume\("),
    "aio-pika": (r"\.publish\(", r"\.(consume|iterator)\("),
    "kafka-python": (r"\bKafkaProducer\(", r"\bKafkaConsumer\("),
    "aiokafka": (r"\bAIOKafkaProducer\(", r"\bAIOKafkaConsumer\("),
    "confluent-kafka": (r"\bProducer\(", r"\bConsumer\("),
    "celery": (r"\.delay\(|\bapply_async\(|\bsend_task\(", r"@\w+\.task\b|\bshared_task\b"),
    "nats-py": (r"\.publish\(", r"\.subscribe\("),
    "rq": (r"\.enqueue\(", r"\bWorker\("),
    "dramatiq": (r"\.send\(", r"@dramatiq\.actor\b"),
}
BROKER_IMAGES = re.compile(r"rabbitmq|kafka|redpanda|nats|redis|valkey|localstack|activemq|elasticmq", re.I)
GATEWAY_IMAGES = re.compile(r"nginx|traefik|kong|envoy|haproxy|krakend|tyk", re.I)
GATEWAY_LIBRARIES = (
    "http-proxy-middleware", "express-http-proxy", "http-proxy", "@fastify/http-proxy", "@fastify/reply-from",
    "express-gateway", "fast-gateway", "@nestjs/microservices",
)  # fmt: skip
GATEWAY_NAME = re.compile(r"gateway|^edge$|^bff$|proxy", re.I)
_UPSTREAM = re.compile(r"\b[A-Z][A-Z0-9]*_(?:SERVICE_)?(?:URL|HOST|ADDR|ENDPOINT)\b")
_GATEWAY_CONFIGS: tuple[tuple[re.Pattern[str], re.Pattern[str], str], ...] = (
    (re.compile(r"(^|/)nginx[^/]*\.conf$|(^|/)nginx/.*\.conf$"), re.compile(r"\bproxy_pass\b"), "nginx"),
    (re.compile(r"(^|/)traefik[^/]*\.(ya?ml|toml)$"), re.compile(r"\b(routers|entryPoints)\b"), "Traefik"),
    (re.compile(r"(^|/)kong[^/]*\.ya?ml$"), re.compile(r"\broutes\s*:"), "Kong"),
    (re.compile(r"(^|/)envoy[^/]*\.ya?ml$"), re.compile(r"\broute_config\b"), "Envoy"),
    (re.compile(r"(^|/)krakend[^/]*\.json$"), re.compile(r'"endpoints"'), "KrakenD"),
)
OTEL_PACKAGES = (
    "@opentelemetry/sdk-node", "@opentelemetry/sdk-trace-node", "@opentelemetry/sdk-trace-base",
    "@opentelemetry/auto-instrumentations-node", "opentelemetry-sdk", "opentelemetry-distro",
)  # fmt: skip
_OTEL_INIT = re.compile(
    r"\bnew\s+(NodeSDK|NodeTracerProvider|BasicTracerProvider)\s*\(|\bTracerProvider\s*\(|"
    r"auto-instrumentations-node/register|\bconfigure_opentelemetry\s*\(|Instrumentor\(\)\.instrument|"
    r"\bopentelemetry-instrument\b"
)
_TRACEPARENT = re.compile(r"traceparent", re.I)


@dataclass(frozen=True, slots=True)
class Finding:
    """One located observation about the architecture, e.g. a broker producer or a tracing set-up."""

    kind: str
    service: str | None  # the service it belongs to (None: project-wide, e.g. a compose image)
    text: str  # what was seen: the line, the dependency or the image
    path: str
    line: int | None = None


class Sources:
    """The source files of each service (not tests, not build output), each read once and capped."""

    def __init__(self, repo: RepoFacts, folders: Mapping[str, str]) -> None:
        self.repo = repo
        self.folders = dict(folders)  # service name -> folder ("" = the project root)
        self._texts: dict[str, str] = {}
        self._files: dict[str, list[str]] = {}

    def files(self, name: str) -> list[str]:
        """The service's source files, in path order, at most MAX_FILES."""
        if name not in self._files:
            self._files[name] = self._list(name)
        return self._files[name]

    def _list(self, name: str) -> list[str]:
        folder = self.folders[name]
        others = [f for n, f in self.folders.items() if n != name and f and f != folder]
        return [
            path
            for path in self.repo.files
            if in_folder(path, folder)
            and not any(in_folder(path, other) for other in others)
            and posixpath.splitext(path)[1] in LANGUAGE_BY_SUFFIX
            and not _TEST_FILE.search(path)
            and not _VENDORED.intersection(path.split("/")[:-1])
        ][:MAX_FILES]

    def text(self, path: str) -> str:
        """The start of a file of the repository ('' if unreadable)."""
        if path not in self._texts:
            self._texts[path] = read_text(self.repo.root / path)
        return self._texts[path]

    def lines(self, name: str) -> Iterator[tuple[str, int, str]]:
        """(path, line number, line) over the service's source files."""
        for path in self.files(name):
            for number, line in enumerate(self.text(path).splitlines(), 1):
                yield path, number, line

    def first(self, name: str, pattern: re.Pattern[str], kind: str, what: str = "") -> Finding | None:
        """The first source line of the service that matches `pattern`, as a finding."""
        hit = next(((p, n, line) for p, n, line in self.lines(name) if pattern.search(line)), None)
        if hit is None:
            return None
        path, number, line = hit
        return Finding(kind, name, f"{what}{line.strip()[:160]}", path, number)


def in_folder(path: str, folder: str) -> bool:
    """Whether the repo path lies in `folder` ("" is the whole project)."""
    return not folder or path == folder or path.startswith(folder + "/")


def read_text(path: Path, limit: int = MAX_BYTES) -> str:
    """The first `limit` bytes of a file as text ('' if it cannot be read)."""
    try:
        with path.open("rb") as fh:
            return fh.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return ""


def sibling_imports(sources: Sources, name: str) -> tuple[Finding, ...]:
    """Relative imports (JS/TS require/import, Python `from ..x`, sys.path) into another service's folder."""
    found = []
    for path in sources.files(name):
        text = sources.text(path)
        for index, target in _relative_targets(path, text):
            owner = _owner(sources, name, target)
            if owner is not None:
                line = line_text(text, index)
                found.append(Finding("sibling_import", name, f"{line[:160]} (into the {owner} service's source)", path,
                                     line_at(text, index)))  # fmt: skip
    return tuple(found)


def _relative_targets(path: str, text: str) -> Iterator[tuple[int, str]]:
    """(offset, repo path it points at) for each relative import of the file."""
    here = posixpath.dirname(path)
    for match in _JS_RELATIVE.finditer(text):
        yield match.start(), posixpath.normpath(posixpath.join(here, match.group(1)))
    for match in _PY_RELATIVE.finditer(text):
        base = here
        for _ in range(len(match.group(1)) - 1):
            base = posixpath.dirname(base)
        yield match.start(), posixpath.join(base, *match.group(2).split(".")) if match.group(2) else base
    for match in _PY_SYS_PATH.finditer(text):
        yield match.start(), posixpath.normpath(posixpath.join(here, match.group(1)))


def _owner(sources: Sources, name: str, target: str) -> str | None:
    """The other service whose folder `target` lies in, if any."""
    own = sources.folders[name]
    for other, folder in sources.folders.items():
        if other != name and folder and folder != own and in_folder(target, folder):
            return other
    return None


def queue_roles(sources: Sources, dependencies: Mapping[str, frozenset[str]]) -> tuple[Finding, ...]:
    """For each service with a broker client: where it produces and where it consumes messages."""
    found = []
    for name, deps in dependencies.items():
        for library in sorted(deps & BROKER_CLIENTS.keys()):
            for role, pattern in zip(("producer", "consumer"), BROKER_CLIENTS[library], strict=True):
                hit = sources.first(name, re.compile(pattern), role, f"{library}: ")
                if hit is not None:
                    found.append(hit)
    return tuple(found)


def tracing_setup(
    sources: Sources, dependencies: Mapping[str, frozenset[str]], manifests: Mapping[str, str | None]
) -> tuple[Finding, ...]:
    """Per service: OpenTelemetry initialised ("opentelemetry"), only declared ("declared"), W3C headers ("w3c")."""
    found = []
    for name, deps in dependencies.items():
        otel = sorted(deps.intersection(OTEL_PACKAGES))
        init = sources.first(name, _OTEL_INIT, "opentelemetry", "OpenTelemetry set up: ")
        manifest = manifests.get(name)
        if init is None and manifest is not None and _OTEL_INIT.search(sources.text(manifest)):
            init = Finding("opentelemetry", name, "OpenTelemetry set up in the start command", manifest)
        if otel and init is not None:
            found.append(init)
        elif otel and manifest is not None:
            found.append(Finding("declared", name, f"{', '.join(otel)} declared but never initialised", manifest))
        w3c = sources.first(name, _TRACEPARENT, "w3c", "W3C trace context: ")
        if w3c is not None:
            found.append(w3c)
    return tuple(found)


def gateway_in_service(sources: Sources, name: str, deps: frozenset[str], manifest: str | None) -> Finding | None:
    """How the service acts as a gateway: a proxy library, or a gateway name and upstream URLs; else None."""
    for library in GATEWAY_LIBRARIES:
        if library in deps:
            used = re.compile(re.escape(library) if library != "@nestjs/microservices" else r"\bClientProxy\b")
            return sources.first(name, used, "library", f"uses {library}: ") or Finding(
                "library", name, f"declares {library}", manifest or ""
            )
    if GATEWAY_NAME.search(name):
        return sources.first(name, _UPSTREAM, "named", "a gateway forwarding to other services: ")
    return None


def gateway_config_file(sources: Sources) -> Finding | None:
    """An nginx, Traefik, Kong, Envoy or KrakenD configuration that routes requests."""
    for path in sources.repo.files:
        for name_pattern, content_pattern, product in _GATEWAY_CONFIGS:
            if name_pattern.search(path):
                text = sources.text(path)
                match = content_pattern.search(text)
                if match is not None:
                    return Finding(
                        "config", None, f"{product} configuration with routes", path, line_at(text, match.start())
                    )
    return None
