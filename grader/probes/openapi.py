"""The API map: find the OpenAPI document, validate it, list its operations and guess the main resource and auth routes.

Also `example_body`, a minimal valid JSON body for a schema, used by every probe that must send a valid request.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import yaml
from jsonschema_path import SchemaPath
from openapi_spec_validator.shortcuts import get_validator_cls
from openapi_spec_validator.validation.exceptions import ValidatorDetectError

from grader.facts import ProbeContext
from grader.plugin import probe
from grader.probes.api_config import ApiConfig, AuthConfig
from grader.probes.live import ApiMap, LiveService, Operation, ServiceFacts, send
from grader.probes.repo import RepoFacts

SPEC_URLS = (
    "/api-docs.json",
    "/openapi.json",
    "/swagger.json",
    "/docs-json",
    "/api-json",
    "/api-docs",
    "/v3/api-docs",
    "/swagger/v1/swagger.json",
    "/docs/openapi.json",
    "/openapi.yaml",
)
SPEC_FILE = re.compile(r"(?:^|/)(?:openapi|swagger)\.(?:json|ya?ml)$", re.IGNORECASE)
MAX_SPEC_BYTES = 5_000_000
MAX_PROBLEMS = 5
PROBLEM_CHARS = 240
METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
REF_DEPTH = 8  # nested $ref expansions followed before a schema is left open ({})
REF_BUDGET = 2_000  # $ref expansions per schema, so a wide recursive schema cannot blow up
_AUTHISH = frozenset({"auth", "login", "logout", "register", "signup", "signin", "token", "refresh", "me"})
_USERISH = frozenset({"user", "users", "account", "accounts", "profile", "profiles", "session", "sessions"})
REGISTER_SUFFIXES = ("/register", "/signup", "/sign-up")
LOGIN_SUFFIXES = ("/login", "/signin", "/sign-in", "/token")
REFRESH_SUFFIXES = ("/refresh", "/refresh-token", "/refresh_token")
STRONG_PASSWORD = "Grader-Passw0rd!"


@dataclass(frozen=True, slots=True)
class _Document:
    """Where the spec came from, the parsed document (None if none or unreadable), and what went wrong."""

    source: str | None
    spec: dict[str, Any] | None
    problems: tuple[str, ...] = ()


@probe("api", timeout_s=60)
def api_map(ctx: ProbeContext) -> ApiMap:
    """Find the OpenAPI document (grade.toml, the running service, the repository), validate it, list its operations."""
    api, auth = ctx.config.api, ctx.config.auth
    repo = ctx.fact("repo", RepoFacts)
    document = find_document(repo.root, repo.files, optional_service(ctx)[0], api)
    return build_api_map(document, api, auth)


def optional_service(ctx: ProbeContext) -> tuple[LiveService | None, str]:
    """(the live service, "") if the `service` probe started one, else (None, why not); never raises."""
    facts = ctx.store.get("service")
    if isinstance(facts, ServiceFacts):
        if facts.running and facts.live is not None:
            return facts.live, ""
        return None, f"service did not start: {facts.reason}"
    reason = getattr(facts, "reason", None) or getattr(facts, "message", None) or "no service probe"
    return None, f"service not available: {reason}"


def find_document(root: Path, files: Sequence[str], live: LiveService | None, api: ApiConfig) -> _Document:
    """The spec named in grade.toml, else the first one the service serves, else the first spec file in the repo."""
    if api.spec is not None:
        return _configured(root, live, api.spec)
    looked = []
    if live is not None:
        with live.client(timeout_s=5.0) as client:
            for url in SPEC_URLS:
                if (found := _fetch(client, url)) is not None:
                    return found
        looked.append(f"{', '.join(SPEC_URLS)} on the service")
    else:
        looked.append("not on the service (it is not running)")
    for path in spec_files(files):
        return _read_file(root, path)
    looked.append("no openapi.json|yaml|yml or swagger.json|yaml|yml file in the repository")
    return _Document(None, None, (f"no OpenAPI document found: looked {'; '.join(looked)}",))


def spec_files(files: Sequence[str]) -> list[str]:
    """Files named like an OpenAPI document, shallowest first (`openapi.*` before `swagger.*`)."""
    found = [f for f in files if SPEC_FILE.search(f) and "node_modules/" not in f]
    return sorted(found, key=lambda f: (f.count("/"), "swagger" in f.lower(), f))


def _configured(root: Path, live: LiveService | None, spec: str) -> _Document:
    if (root / spec.lstrip("/")).is_file():
        return _read_file(root, spec.lstrip("/"))
    if spec.startswith("/") and live is not None:
        with live.client(timeout_s=5.0) as client:
            found = _fetch(client, spec)
        missing = f"[api] spec {spec}: the service did not answer with an OpenAPI document"
        return found or _Document(None, None, (missing,))
    where = "in the repository" if live is not None else "in the repository (and the service is not running)"
    return _Document(None, None, (f"[api] spec {spec}: no such file {where}",))


def _fetch(client: httpx.Client, url: str) -> _Document | None:
    """The document served at `url`, or None for errors, HTML pages and anything that is not a spec."""
    response, _ = send(client, "GET", url)
    if response is None or response.status_code != 200 or len(response.content) > MAX_SPEC_BYTES:
        return None
    text = response.text
    if "html" in response.headers.get("content-type", "") or text.lstrip().startswith("<"):
        return None
    try:
        spec = _parse(text, yaml_first="yaml" in response.headers.get("content-type", "") or url.endswith(".yaml"))
    except ValueError:
        return None
    return _Document(url, spec) if _is_spec(spec) else None


def _read_file(root: Path, rel: str) -> _Document:
    if not (root / rel).resolve().is_relative_to(root.resolve()):
        return _Document(rel, None, (f"{rel}: points outside the repository, not read",))
    try:
        with (root / rel).open("rb") as fh:
            data = fh.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        return _Document(rel, None, (f"{rel}: could not be read: {exc.strerror}",))
    if len(data) > MAX_SPEC_BYTES:
        return _Document(rel, None, (f"{rel}: larger than {MAX_SPEC_BYTES // 1_000_000} MB, not read",))
    try:
        spec = _parse(data.decode("utf-8", errors="replace"), yaml_first=not rel.lower().endswith(".json"))
    except ValueError as exc:
        return _Document(rel, None, (f"{rel}: {_one_line(str(exc))}",))
    if not _is_spec(spec):
        return _Document(rel, None, (f"{rel}: not an OpenAPI document (no 'openapi' or 'swagger' version key)",))
    return _Document(rel, spec)


def _parse(text: str, *, yaml_first: bool) -> Any:
    """JSON (or YAML when `yaml_first`); ValueError saying which and where it is broken."""
    if not yaml_first:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc}") from None
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise ValueError(f"not valid YAML: {exc}") from None


def _is_spec(value: Any) -> bool:
    return isinstance(value, dict) and ("openapi" in value or "swagger" in value)


def validate_document(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """The first few validation errors (one line each); references outside the document are never fetched."""
    try:
        validator_cls = get_validator_cls(spec)
    except (ValidatorDetectError, KeyError):
        version = spec.get("openapi") or spec.get("swagger")
        return (f"unsupported version {version!r}: use OpenAPI 3.0, 3.1 or Swagger 2.0",)
    validator = validator_cls(SchemaPath.from_dict(dict(spec), handlers={}))
    problems: list[str] = []
    try:
        for error in validator.iter_errors():
            where = "/".join(str(p) for p in error.absolute_path)
            problems.append(_one_line(f"{where}: {error.message}" if where else error.message))
            if len(problems) >= MAX_PROBLEMS:
                break
    except Exception as exc:  # e.g. a $ref to another file or to nothing: say so instead of failing the probe
        problems.append(_one_line(f"could not resolve the document: {type(exc).__name__}: {exc}"))
    return tuple(problems)


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= PROBLEM_CHARS else line[: PROBLEM_CHARS - 3] + "..."


def build_api_map(document: _Document, api: ApiConfig, auth: AuthConfig) -> ApiMap:
    """The ApiMap of a found (or missing) document, with grade.toml routes as the fallback."""
    spec = document.spec
    problems = document.problems + (validate_document(spec) if spec is not None else ())
    notes: list[str] = []
    if spec is not None:
        operations = list_operations(spec)
        if base := base_path(spec):
            notes.append(f"operation paths include the server base path {base}")
    else:
        operations = tuple(Operation(method, path) for method, path in api.routes)
        if operations:
            notes.append(f"{len(operations)} route(s) taken from grade.toml [api] routes")
    resource = api.resource or guess_resource(operations)
    notes.append(_resource_note(api.resource, resource, operations))
    paths, auth_notes = _auth_paths(operations, auth)
    return ApiMap(
        source=document.source,
        spec=spec,
        valid=spec is not None and not problems,
        problems=problems,
        operations=operations,
        from_config=spec is None and bool(operations),
        resource=resource,
        register_path=paths["register"],
        login_path=paths["login"],
        refresh_path=paths["refresh"],
        notes=(*notes, *auth_notes),
    )


def base_path(spec: Mapping[str, Any]) -> str:
    """The path the operations live under: Swagger 2 `basePath`, or the path of the first OpenAPI 3 server URL."""
    if "swagger" in spec:
        base = spec.get("basePath")
        return base.rstrip("/") if isinstance(base, str) else ""
    servers = spec.get("servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
        return ""
    server = servers[0]
    url = str(server.get("url", ""))
    variables = server.get("variables")
    for name, variable in variables.items() if isinstance(variables, dict) else ():
        if isinstance(variable, dict):
            url = url.replace(f"{{{name}}}", str(variable.get("default", "")))
    return unquote(urlsplit(url).path).rstrip("/")


def list_operations(spec: Mapping[str, Any]) -> tuple[Operation, ...]:
    """Every operation of the document, paths prefixed with the base path, request body schemas resolved."""
    base = base_path(spec)
    paths = spec.get("paths")
    if not isinstance(paths, dict):
        return ()
    operations = []
    for template, raw_item in paths.items():
        item = resolve_refs(spec, raw_item)
        if not isinstance(item, dict):
            continue
        for method in METHODS:
            if isinstance(op := item.get(method), dict):
                operations.append(_operation(spec, base + str(template), method, op, item.get("parameters")))
    return tuple(operations)


def _operation(spec: Mapping[str, Any], path: str, method: str, op: Mapping[str, Any], shared: Any) -> Operation:
    responses = op.get("responses")
    tags = op.get("tags")
    return Operation(
        method=method.upper(),
        path=path,
        operation_id=op.get("operationId") if isinstance(op.get("operationId"), str) else None,
        requires_auth=_requires_auth(op.get("security", spec.get("security"))),
        request_schema=_request_schema(op, shared),
        responses=tuple(str(code) for code in responses) if isinstance(responses, dict) else (),
        tags=tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
    )


def _requires_auth(security: Any) -> bool:
    """Whether every alternative of a `security` requirement list needs credentials (`{}` makes auth optional)."""
    return isinstance(security, list) and bool(security) and all(isinstance(s, dict) and s for s in security)


def _request_schema(op: Mapping[str, Any], shared: Any) -> Mapping[str, Any] | None:
    """The JSON request body schema: OpenAPI 3 `requestBody`, or a Swagger 2 `in: body` parameter."""
    body = op.get("requestBody")
    if isinstance(body, dict) and isinstance(content := body.get("content"), dict):
        media = next((m for m in content if "json" in str(m).lower()), None)
        schema = content[media].get("schema") if media is not None and isinstance(content[media], dict) else None
        return schema if isinstance(schema, dict) else None
    params = [*(shared if isinstance(shared, list) else []), *(op.get("parameters") or [])]
    body_param = next((p for p in params if isinstance(p, dict) and p.get("in") == "body"), None)
    schema = body_param.get("schema") if body_param is not None else None
    return schema if isinstance(schema, dict) else None


def resolve_refs(spec: Mapping[str, Any], node: Any, depth: int = REF_DEPTH) -> Any:
    """`node` with local `$ref`s replaced by what they point to, `depth` levels deep; other refs become `{}`."""
    return _Resolver(spec).resolve(node, depth)


class _Resolver:
    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = spec
        self.budget = REF_BUDGET

    def resolve(self, node: Any, depth: int) -> Any:
        if isinstance(node, list):
            return [self.resolve(item, depth) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if not isinstance(ref, str):
            return {key: self.resolve(value, depth) for key, value in node.items()}
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        target = self._target(ref) if depth > 0 and self.budget > 0 else None
        self.budget -= 1
        if not isinstance(target, dict):
            return self.resolve(siblings, depth)
        return self.resolve({**target, **siblings}, depth - 1)

    def _target(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            return None
        node: Any = self.spec
        for part in ref[2:].split("/"):
            key = unquote(part).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict):
                node = node.get(key)
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                return None
        return node


def external_refs(spec: Any) -> list[str]:
    """Every `$ref` that points outside the document (another file or a URL): never followed by the grader."""
    found: list[str] = []
    stack = [spec]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                found.append(ref)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return sorted(set(found))


def segments(path: str) -> list[str]:
    """'/api/tasks/{id}' -> ['api', 'tasks', '{id}']."""
    return [s for s in path.split("/") if s]


def is_param(segment: str) -> bool:
    """Whether a path segment is a template parameter like '{id}'."""
    return segment.startswith("{") and segment.endswith("}")


def guess_resource(operations: Sequence[Operation]) -> str | None:
    """The main collection: GET and POST on it and an item path below it; non-auth, non-user paths first."""
    methods: dict[str, set[str]] = {}
    for op in operations:
        methods.setdefault(op.path.rstrip("/") or "/", set()).add(op.method)
    candidates = [p for p, m in methods.items() if {"GET", "POST"} <= m and any(_is_item(q, p) for q in methods)]
    if not candidates:
        return None

    def rank(path: str) -> tuple[int, int]:
        words = {s.lower() for s in segments(path)}
        size = sum(len(m) for q, m in methods.items() if q == path or _is_item(q, path))
        return (bool(words & (_AUTHISH | _USERISH)), -size)

    return min(candidates, key=rank)


def _is_item(path: str, collection: str) -> bool:
    rest = path[len(collection) :]
    return path.startswith(collection + "/") and len(segments(rest)) == 1 and is_param(segments(rest)[0])


def _resource_note(configured: str | None, resource: str | None, operations: Sequence[Operation]) -> str:
    if configured is not None:
        return f"main resource {configured} (grade.toml [api] resource)"
    if resource is not None:
        return f"main resource guessed: {resource} (GET and POST on it, and an item path {resource}/{{id}})"
    if not operations:
        return "no operations known, so no main resource"
    return "no main resource found (no path with GET, POST and an item path): set [api] resource in grade.toml"


def _auth_paths(operations: Sequence[Operation], auth: AuthConfig) -> tuple[dict[str, str | None], list[str]]:
    """The register, login and refresh paths (grade.toml [auth], else guessed), and a note for each one found."""
    wanted = {
        "register": (auth.register, REGISTER_SUFFIXES),
        "login": (auth.login, LOGIN_SUFFIXES),
        "refresh": (auth.refresh, REFRESH_SUFFIXES),
    }
    paths = {name: configured or _guess_path(operations, ends) for name, (configured, ends) in wanted.items()}
    notes = [
        f"{name} endpoint {path} ({'grade.toml [auth]' if wanted[name][0] else 'guessed from the path'})"
        for name, path in paths.items()
        if path is not None
    ]
    return paths, notes


def _guess_path(operations: Sequence[Operation], suffixes: tuple[str, ...]) -> str | None:
    """The path of the first operation (POST preferred) whose path ends with one of `suffixes`."""
    matching = [op for op in operations if op.path.lower().rstrip("/").endswith(suffixes)]
    post = [op for op in matching if op.method == "POST"]
    return (post or matching)[0].path if matching else None


def unique_suffix() -> str:
    """A short random token for unique emails and usernames, e.g. '3f9c2a1b7d4e'."""
    return uuid.uuid4().hex[:12]


def example_body(schema: Mapping[str, Any] | None, *, seed: int = 0) -> dict[str, Any]:
    """A minimal valid JSON object for `schema`: required properties only, formats, enums and bounds respected."""
    value = _Example(seed).value(dict(schema or {}), "", 0)
    return value if isinstance(value, dict) else {}


class _Example:
    """Deterministic valid values for JSON schemas (the OpenAPI subset); `seed` varies enums, emails and ids."""

    MAX_DEPTH = 6

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def value(self, schema: Mapping[str, Any], name: str, depth: int) -> Any:
        schema = _merged(schema)
        if "const" in schema:
            return schema["const"]
        if isinstance(enum := schema.get("enum"), list) and (choices := [e for e in enum if e is not None]):
            return choices[self.seed % len(choices)]
        options = [o for o in schema.get("oneOf") or schema.get("anyOf") or [] if isinstance(o, dict)]
        if options:
            typed = [o for o in options if _type(o) != "null"]
            return self.value({**schema, "oneOf": None, "anyOf": None, **(typed or options)[0]}, name, depth)
        kind = _type(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            count = int(schema.get("minItems") or 0)
            items = _schema(schema.get("items"))
            return [_Example(self.seed + i).value(items, name, depth + 1) for i in range(count)]
        if kind in ("integer", "number"):
            return _number(schema, integer=kind == "integer")
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return self._string(schema, name)

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        if depth >= self.MAX_DEPTH:
            return {}
        props = _schema(schema.get("properties"))
        names = [r for r in schema.get("required") or [] if isinstance(r, str)]
        optional = [p for p in props if p not in names]
        wanted = int(schema.get("minProperties") or 0)
        names += optional[: max(0, wanted - len(names))]
        return {n: self.value(_schema(props.get(n)), n, depth + 1) for n in names}

    def _string(self, schema: Mapping[str, Any], name: str) -> str:
        text = self._by_format(str(schema.get("format", ""))) or self._by_name(name.lower())
        low, high = int(schema.get("minLength") or 0), schema.get("maxLength")
        text = text + "x" * max(0, low - len(text))
        if isinstance(high, int) and len(text) > high:
            text = text[:high]
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and not _matches(pattern, text):
            text = _matching(pattern, low, high if isinstance(high, int) else None) or text
        return text

    def _by_format(self, fmt: str) -> str | None:
        return {
            "email": f"grader{self.seed}@example.com",
            "idn-email": f"grader{self.seed}@example.com",
            "date-time": "2030-01-01T09:00:00Z",
            "date": "2030-01-01",
            "time": "09:00:00",
            "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"grade:{self.seed}")),
            "uri": "https://example.com/grader",
            "url": "https://example.com/grader",
            "hostname": "example.com",
            "ipv4": "127.0.0.1",
            "ipv6": "::1",
            "password": STRONG_PASSWORD,
            "byte": "Z3JhZGVy",
        }.get(fmt)

    def _by_name(self, name: str) -> str:
        if "password" in name:
            return STRONG_PASSWORD
        if "email" in name:
            return f"grader{self.seed}@example.com"
        if "url" in name:
            return "https://example.com/grader"
        if "user" in name:
            return f"grader{self.seed}"
        return "Sample text" if name else "sample"


def _schema(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _merged(schema: Mapping[str, Any]) -> dict[str, Any]:
    """`schema` with its `allOf` parts merged in (properties and required lists combined)."""
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema.get("allOf") or []:
        if not isinstance(part, dict):
            continue
        part = _merged(part)
        props = {**(part.get("properties") or {}), **(merged.get("properties") or {})}
        required = [*(merged.get("required") or []), *(part.get("required") or [])]
        merged = {**part, **merged, "properties": props, "required": list(dict.fromkeys(required))}
    return merged


def _type(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "required" in schema:
        return "object"
    return "array" if "items" in schema else "string"


def _number(schema: Mapping[str, Any], *, integer: bool) -> int | float:
    low = schema.get("minimum")
    exclusive = schema.get("exclusiveMinimum")
    if isinstance(exclusive, int | float) and not isinstance(exclusive, bool):  # OpenAPI 3.1 / JSON Schema form
        low = exclusive + (1 if integer else 0.5)
    elif exclusive is True and isinstance(low, int | float):
        low = low + (1 if integer else 0.5)
    value: float = max(low, 1) if isinstance(low, int | float) else 1
    high = schema.get("maximum")
    if isinstance(high, int | float) and value > high:
        value = low if isinstance(low, int | float) else high
    step = schema.get("multipleOf")
    if isinstance(step, int | float) and step > 0 and value % step:
        value = (value // step + 1) * step
    return int(-(-value // 1)) if integer else value


_PATTERN_CANDIDATES = (STRONG_PASSWORD, "sample", "Sample", "SAMPLE", "abc123", "a1b2c3", "123456", "a", "A", "1")


def _matches(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return True  # a JS-only pattern: cannot check it here, keep the value


def _matching(pattern: str, low: int, high: int | None) -> str | None:
    """A short string that `pattern` matches and whose length is within bounds, if an easy one exists."""
    for candidate in _candidates(low):
        if (high is None or len(candidate) <= high) and _matches(pattern, candidate):
            return candidate
    return None


def _candidates(low: int) -> Iterator[str]:
    for base in _PATTERN_CANDIDATES:
        yield base * max(1, -(-low // len(base))) if len(base) < low else base
