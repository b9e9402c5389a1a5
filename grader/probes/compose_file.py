"""A Compose file read with PyYAML's safe composer, keeping the line of everything it reports.

Services with their image or build, healthcheck, volumes (named, bind, anonymous) and the
environment values that look like secrets written inline. Anchors, aliases and `<<` merge
keys are followed; nothing is constructed as a Python object, so no tag can run code.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_MERGE_TAG = "tag:yaml.org,2002:merge"
SECRET_NAME = re.compile(r"PASSW(OR)?D|(^|_)PASS$|SECRET|TOKEN|(^|_|API)KEY$|CREDENTIALS?$", re.I)
_URL_PASSWORD = re.compile(r"://[^:/@\s]+:([^@\s]+)@")
_DATABASE = ("postgres", "postgis", "timescaledb", "mysql", "mariadb", "mongo", "cockroach")
_CACHE = ("redis", "valkey", "memcached", "keydb", "dragonfly")
_TOOL = re.compile(r"exporter|commander|insight|admin|express|-ui\b|\bweb\b|backup")


@dataclass(frozen=True, slots=True)
class InlineSecret:
    """An environment variable whose secret value is written in the file."""

    name: str
    line: int
    why: str  # e.g. "literal value (12 characters)"


@dataclass(frozen=True, slots=True)
class Mount:
    """One entry of a service's `volumes`."""

    line: int
    kind: str  # "named", "bind", "anonymous", "tmpfs" or another long-syntax type
    source: str | None
    target: str


@dataclass(frozen=True, slots=True)
class ComposeService:
    """One service, with what the container checks look at."""

    name: str
    line: int
    image: str | None
    build_context: str | None  # relative to the repository root; None when the service does not build
    build_dockerfile: str | None
    healthcheck_line: int | None  # None when absent or disabled
    secrets: tuple[InlineSecret, ...]
    mounts: tuple[Mount, ...]

    @property
    def role(self) -> str | None:
        """ "database", "cache" or "app" (a service built from the project), from its image or build."""
        if self.image:
            segment = self.image.split("@")[0].rsplit("/", 1)[-1].split(":")[0].lower()
            if not _TOOL.search(segment):
                if segment.startswith(_DATABASE):
                    return "database"
                if segment.startswith(_CACHE):
                    return "cache"
        return "app" if self.build_context is not None else None


@dataclass(frozen=True, slots=True)
class ComposeFile:
    """A parsed Compose file; when `error` is set nothing else could be read."""

    path: str
    services: tuple[ComposeService, ...] = ()
    volumes: tuple[str, ...] = ()  # top-level named volumes
    error: str | None = None
    error_line: int | None = None


def parse_compose(path: str, text: str) -> ComposeFile:
    """Read a Compose file; malformed YAML or an unexpected shape comes back as `error`, never raised."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return ComposeFile(path, error=f"not valid YAML: {exc.problem or exc}", error_line=_line(mark))
    except (yaml.YAMLError, RecursionError) as exc:
        return ComposeFile(path, error=f"not valid YAML: {type(exc).__name__}")
    top = _mapping(root)
    if top is None:
        return ComposeFile(path, error="the file is not a YAML mapping of top-level keys", error_line=1)
    services = _mapping(top["services"][1]) if "services" in top else None
    if services is None:
        line = _line(top["services"][0].start_mark) if "services" in top else 1
        return ComposeFile(path, error="no `services:` mapping of service names", error_line=line)
    base = posixpath.dirname(path)
    volumes = _mapping(top["volumes"][1]) if "volumes" in top else None
    return ComposeFile(
        path,
        services=tuple(_service(name, key, value, base) for name, (key, value) in services.items()),
        volumes=tuple(volumes or ()),
    )


def _service(name: str, key: Node, node: Node, base: str) -> ComposeService:
    fields = _mapping(node) or {}
    context, dockerfile = _build(fields["build"][1], base) if "build" in fields else (None, None)
    return ComposeService(
        name=name,
        line=_line(key.start_mark),
        image=_scalar(fields["image"][1]) if "image" in fields else None,
        build_context=context,
        build_dockerfile=dockerfile,
        healthcheck_line=_healthcheck(fields["healthcheck"]) if "healthcheck" in fields else None,
        secrets=_secrets(fields["environment"][1]) if "environment" in fields else (),
        mounts=_mounts(fields["volumes"][1]) if "volumes" in fields else (),
    )


def _build(node: Node, base: str) -> tuple[str, str]:
    """(context, Dockerfile path), both relative to the repository root."""
    fields = _mapping(node)
    if fields is None:
        context, dockerfile = _scalar(node), None
    else:
        context = _scalar(fields["context"][1]) if "context" in fields else None
        dockerfile = _scalar(fields["dockerfile"][1]) if "dockerfile" in fields else None
    root = posixpath.normpath(posixpath.join(base, context or "."))
    return root, posixpath.normpath(posixpath.join(root, dockerfile or "Dockerfile"))


def _healthcheck(entry: tuple[Node, Node]) -> int | None:
    fields = _mapping(entry[1]) or {}
    if "disable" in fields and (_scalar(fields["disable"][1]) or "").lower() == "true":
        return None
    test = fields.get("test")
    if test is not None:
        words = [_scalar(n) for n in test[1].value] if isinstance(test[1], SequenceNode) else [_scalar(test[1])]
        if words[:1] == ["NONE"]:
            return None
    return _line(entry[0].start_mark)


def _secrets(node: Node) -> tuple[InlineSecret, ...]:
    found = []
    for name, value, line in _environment(node):
        if value and "$" not in value and SECRET_NAME.search(name):
            found.append(InlineSecret(name, line, f"literal value ({len(value)} characters)"))
        elif value and (match := _URL_PASSWORD.search(value)) and "$" not in match.group(1):
            found.append(InlineSecret(name, line, "URL with a literal password"))
    return tuple(found)


def _environment(node: Node) -> list[tuple[str, str | None, int]]:
    """(name, value or None, line) of each variable, from the mapping or the list form."""
    fields = _mapping(node)
    if fields is not None:
        return [(name, _scalar(value), _line(key.start_mark)) for name, (key, value) in fields.items()]
    if not isinstance(node, SequenceNode):
        return []
    out = []
    for item in node.value:
        text = _scalar(item) or ""
        name, sep, value = text.partition("=")
        out.append((name.strip(), value if sep else None, _line(item.start_mark)))
    return out


def _mounts(node: Node) -> tuple[Mount, ...]:
    if not isinstance(node, SequenceNode):
        return ()
    return tuple(m for m in (_mount(item) for item in node.value) if m is not None)


def _mount(item: Node) -> Mount | None:
    line = _line(item.start_mark)
    fields = _mapping(item)
    if fields is not None:
        kind = _scalar(fields["type"][1]) if "type" in fields else "volume"
        source = _scalar(fields["source"][1]) if "source" in fields else None
        target = (_scalar(fields["target"][1]) if "target" in fields else None) or ""
        if kind == "volume":
            kind = "named" if source else "anonymous"
        return Mount(line, kind or "volume", source, target)
    text = _scalar(item)
    if not text:
        return None
    parts = text.split(":")
    if len(parts) == 1:
        return Mount(line, "anonymous", None, parts[0])
    source, target = parts[0], parts[1]
    kind = "bind" if source.startswith((".", "/", "~", "$")) else "named"
    return Mount(line, kind, source, target)


def _mapping(node: Node | None) -> dict[str, tuple[Node, Node]] | None:
    """A mapping node's entries by key (string keys only), `<<` merges applied; None if not a mapping."""
    if not isinstance(node, MappingNode):
        return None
    own: dict[str, tuple[Node, Node]] = {}
    merged: dict[str, tuple[Node, Node]] = {}
    for key, value in node.value:
        if key.tag == _MERGE_TAG:
            sources = value.value if isinstance(value, SequenceNode) else [value]
            for source in sources:
                for name, entry in (_mapping(source) or {}).items():
                    merged.setdefault(name, entry)
        elif isinstance(key, ScalarNode):
            own[str(key.value)] = (key, value)
    return {**merged, **own}


def _scalar(node: Node) -> str | None:
    return str(node.value) if isinstance(node, ScalarNode) and node.tag != "tag:yaml.org,2002:null" else None


def _line(mark: yaml.Mark | None) -> int:
    return mark.line + 1 if mark is not None else 1
