"""Routes declared in the source: Express (`app.get('/x', ...)`, routers mounted with `app.use('/prefix', router)`)
read with tree-sitter, and Flask/FastAPI decorators read with `ast`. Best effort: what cannot be resolved is noted.
"""

from __future__ import annotations

import ast
import posixpath
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import tree_sitter_javascript
import tree_sitter_typescript
from tree_sitter import Language, Node, Parser

from grader.facts import ProbeContext
from grader.plugin import probe
from grader.probes.api_config import express_to_template
from grader.probes.node_tests import node_sources
from grader.probes.repo import RepoFacts

MAX_BYTES = 1_000_000
MAX_PREFIXES = 20
ROUTE_METHODS = frozenset({"get", "post", "put", "patch", "delete", "all", "options", "head"})
ROUTER_NAMES = frozenset({"router", "Router"})  # receivers that are routers even when declared elsewhere
APP_NAMES = frozenset({"app", "server"})
JS_MODULE_SUFFIXES = (".js", ".ts", ".mjs", ".cjs", ".jsx", ".tsx")
_JS = Language(tree_sitter_javascript.language())
_TS = Language(tree_sitter_typescript.language_typescript())
_TSX = Language(tree_sitter_typescript.language_tsx())
_FLASK_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
PY_ROUTE_DECORATORS = frozenset({"route", "get", "post", "put", "patch", "delete", "api_route"})
PY_TEST_NAME = re.compile(r"(^test_.*|.*_test|conftest)\.py$")


@dataclass(frozen=True, slots=True)
class DeclaredRoute:
    """One route the code declares: method ("ALL" for app.all), full path template, and where."""

    method: str
    path: str  # OpenAPI template form, prefixes applied: "/tasks/{id}"
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class DeclaredRoutes:
    """Every route found in the source, the files read, and what could not be resolved."""

    routes: tuple[DeclaredRoute, ...]
    files: tuple[str, ...]
    notes: tuple[str, ...] = ()


@probe("api.routes", timeout_s=60)
def declared_routes(ctx: ProbeContext) -> DeclaredRoutes:
    """Read the route declarations of Express (JS/TS) and Flask/FastAPI source files, with their mount prefixes."""
    repo = ctx.fact("repo", RepoFacts)
    return scan_routes(repo.root, repo.files)


def scan_routes(root: Path, files: Sequence[str]) -> DeclaredRoutes:
    """The routes declared in `files` (paths relative to `root`)."""
    js_files = node_sources(files)
    py_files = [f for f in files if f.endswith(".py") and not _is_python_test(f)]
    notes: list[str] = []
    js_routes = _ExpressApp(root, js_files, set(files), notes).routes()
    py_routes = _python_routes(root, py_files, notes)
    return DeclaredRoutes(tuple(js_routes + py_routes), tuple(js_files + py_files), tuple(notes))


def _read(root: Path, path: str, notes: list[str]) -> bytes | None:
    if not (root / path).resolve().is_relative_to(root.resolve()):
        notes.append(f"{path}: points outside the repository, not read")
        return None
    try:
        with (root / path).open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        notes.append(f"{path}: not read ({exc.strerror})")
        return None
    if len(data) > MAX_BYTES:
        notes.append(f"{path}: larger than {MAX_BYTES // 1_000_000} MB, not read")
        return None
    return data


def join_path(prefix: str, path: str) -> str:
    """'/tasks' + '/:id' -> '/tasks/{id}'; '/tasks' + '/' -> '/tasks'."""
    joined = f"{prefix.rstrip('/')}/{path.lstrip('/')}".rstrip("/") or "/"
    return express_to_template(joined if joined.startswith("/") else "/" + joined)


# ---------------------------------------------------------------- Express (tree-sitter)

Receiver = tuple[str, str]  # (file, receiver name)


@dataclass(slots=True)
class _JsFile:
    """What one JS/TS file declares: routes, mounts, imports, and which names are apps or routers."""

    path: str
    routes: list[tuple[str, str, str, int]] = field(default_factory=list)  # receiver, METHOD, path, line
    mounts: list[tuple[str, str, Receiver | str]] = field(default_factory=list)  # receiver, prefix, local name | file
    imports: dict[str, str] = field(default_factory=dict)  # local name -> repo file
    routers: set[str] = field(default_factory=set)
    apps: set[str] = field(default_factory=set)

    def receivers(self) -> set[str]:
        """Names that declare routes or mount something in this file."""
        return {r[0] for r in self.routes} | {m[0] for m in self.mounts}

    def locally_mounted(self) -> set[str]:
        """Routers of this file mounted by another receiver of the same file."""
        return {t[1] for _, _, t in self.mounts if isinstance(t, tuple)}

    def is_router(self, name: str) -> bool:
        """Whether `name` needs a mount to be reachable (a Router), as opposed to an app."""
        return name in self.routers or (name not in self.apps and name not in APP_NAMES)


class _ExpressApp:
    """All JS/TS source files, and the routes they declare with every prefix they are mounted under."""

    def __init__(self, root: Path, sources: Sequence[str], present: set[str], notes: list[str]) -> None:
        self.present = present
        self.notes = notes
        self.files: dict[str, _JsFile] = {}
        for path in sources:
            if (data := _read(root, path, notes)) is not None:
                self.files[path] = self._scan(path, data)
        self.parents = self._parents()

    def routes(self) -> list[DeclaredRoute]:
        """Every route with its full path; routers mounted nowhere we could see are noted, not guessed."""
        found: list[DeclaredRoute] = []
        for js in self.files.values():
            for receiver, method, path, line in js.routes:
                prefixes = self._prefixes((js.path, receiver), frozenset())
                if prefixes is None:
                    self.notes.append(f"{js.path}:{line}: could not tell where `{receiver}` is mounted; not compared")
                    continue
                found.extend(DeclaredRoute(method, join_path(p, path), js.path, line) for p in prefixes)
        return found

    def _prefixes(self, node: Receiver, seen: frozenset[Receiver]) -> list[str] | None:
        """The mount prefixes of a receiver; None for a router that nothing mounts."""
        parents = [(parent, prefix) for parent, prefix in self.parents.get(node, []) if parent not in seen]
        if not parents:
            return None if self.files[node[0]].is_router(node[1]) else [""]
        found: list[str] = []
        for parent, prefix in parents:
            above = self._prefixes(parent, seen | {node}) or []
            found.extend(join_path(p, prefix) for p in above)
        return found[:MAX_PREFIXES] or None

    def _parents(self) -> dict[Receiver, list[tuple[Receiver, str]]]:
        parents: dict[Receiver, list[tuple[Receiver, str]]] = {}
        for js in self.files.values():
            for receiver, prefix, target in js.mounts:
                for child in self._children(js, target):
                    parents.setdefault(child, []).append(((js.path, receiver), prefix))
        return parents

    def _children(self, js: _JsFile, target: Receiver | str) -> list[Receiver]:
        if isinstance(target, tuple):
            return [target]
        module = self.files.get(target)
        if module is None:
            return []
        return [(module.path, name) for name in sorted(module.receivers() - module.locally_mounted())]

    def _scan(self, path: str, source: bytes) -> _JsFile:
        suffix = PurePosixPath(path).suffix
        language = _TSX if suffix == ".tsx" else _TS if suffix in (".ts", ".mts", ".cts") else _JS
        js = _JsFile(path)
        root = Parser(language).parse(source).root_node
        for node in _walk(root):
            if node.type == "variable_declarator":
                self._declarator(js, node)
            elif node.type == "import_statement":
                self._import(js, node)
        for node in _walk(root):  # imports first: `app.use('/x', tasks)` needs to know what `tasks` is
            if node.type == "call_expression":
                self._call(js, node)
        return js

    def _declarator(self, js: _JsFile, node: Node) -> None:
        name, value = node.child_by_field_name("name"), node.child_by_field_name("value")
        if name is None or value is None or name.type != "identifier":
            return
        callee = value.child_by_field_name("function") or value.child_by_field_name("constructor")
        if value.type not in ("call_expression", "new_expression") or callee is None:
            return
        text = _text(callee)
        if text in ("express", "fastify", "Koa"):
            js.apps.add(_text(name))
        elif text.endswith("Router"):
            js.routers.add(_text(name))
        elif text == "require" and (module := self._module(js.path, _first_string(value))) is not None:
            js.imports[_text(name)] = module

    def _import(self, js: _JsFile, node: Node) -> None:
        source = node.child_by_field_name("source")
        module = self._module(js.path, _string(source) if source is not None else None)
        if module is None:
            return
        for child in _walk(node):
            if child.type == "identifier" and child.parent is not None and child.parent.type != "import_specifier":
                js.imports[_text(child)] = module
            elif child.type == "import_specifier":
                alias = child.child_by_field_name("alias") or child.child_by_field_name("name")
                if alias is not None:
                    js.imports[_text(alias)] = module

    def _call(self, js: _JsFile, node: Node) -> None:
        callee = node.child_by_field_name("function")
        if callee is None or callee.type != "member_expression":
            return
        prop, obj = callee.child_by_field_name("property"), callee.child_by_field_name("object")
        if prop is None or obj is None:
            return
        args = _arguments(node)
        method = _text(prop)
        if method in ROUTE_METHODS:
            self._route(js, node, method, obj, args)
        elif method == "use" and obj.type == "identifier":
            self._mount(js, _text(obj), args)

    def _route(self, js: _JsFile, node: Node, method: str, obj: Node, args: list[Node]) -> None:
        path = _string(args[0]) if args else None
        line = node.start_point.row + 1
        if path is not None and len(args) >= 2 and obj.type == "identifier" and self._is_receiver(js, _text(obj)):
            js.routes.append((_text(obj), method.upper(), path, line))
        elif path is None and (chained := _route_chain(obj)) is not None:  # router.route('/x').get(h).post(h)
            js.routes.append((chained[0], method.upper(), chained[1], line))

    def _is_receiver(self, js: _JsFile, name: str) -> bool:
        return name in js.routers or name in js.apps or name in ROUTER_NAMES or name in APP_NAMES

    def _mount(self, js: _JsFile, receiver: str, args: list[Node]) -> None:
        prefix = _string(args[0]) if args else None
        for arg in args[1:] if prefix is not None else args:
            target: Receiver | str | None = None
            if arg.type == "identifier":
                name = _text(arg)
                target = js.imports.get(name, (js.path, name))
            elif arg.type == "call_expression" and _text(arg.child_by_field_name("function")) == "require":
                target = self._module(js.path, _first_string(arg))
            if target is not None:
                js.mounts.append((receiver, prefix or "", target))

    def _module(self, importer: str, spec: str | None) -> str | None:
        """The repo file a relative import names ('./routes/tasks' -> 'src/routes/tasks.js'), if it exists."""
        if spec is None or not spec.startswith("."):
            return None
        base = posixpath.normpath(posixpath.join(posixpath.dirname(importer), spec))
        stem = base.rsplit(".", 1)[0] if base.endswith(JS_MODULE_SUFFIXES) else base
        candidates = [base, *(stem + s for s in JS_MODULE_SUFFIXES), *(f"{base}/index{s}" for s in JS_MODULE_SUFFIXES)]
        return next((c for c in candidates if c in self.present), None)


def _walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.named_children))


def _text(node: Node | None) -> str:
    return node.text.decode("utf-8", errors="replace") if node is not None and node.text is not None else ""


def _arguments(call: Node) -> list[Node]:
    args = call.child_by_field_name("arguments")
    return [a for a in args.named_children if a.type != "comment"] if args is not None else []


def _string(node: Node | None) -> str | None:
    """The value of a string literal (or a template literal without substitutions)."""
    if node is None or node.type not in ("string", "template_string"):
        return None
    if any(c.type == "template_substitution" for c in node.named_children):
        return None
    return _text(node)[1:-1]


def _first_string(call: Node) -> str | None:
    args = _arguments(call)
    return _string(args[0]) if args else None


def _route_chain(obj: Node) -> tuple[str, str] | None:
    """(receiver, path) of `receiver.route(path)` at the bottom of a `.get(h).post(h)` chain."""
    node: Node | None = obj
    while node is not None and node.type == "call_expression":
        callee = node.child_by_field_name("function")
        if callee is None or callee.type != "member_expression":
            return None
        prop, inner = _text(callee.child_by_field_name("property")), callee.child_by_field_name("object")
        if prop == "route":
            path = _first_string(node)
            ok = path is not None and inner is not None and inner.type == "identifier"
            return (_text(inner), path) if ok and path is not None else None
        if prop not in ROUTE_METHODS:
            return None
        node = inner
    return None


# ---------------------------------------------------------------- Flask / FastAPI (ast)


def _is_python_test(path: str) -> bool:
    parts = path.split("/")
    return bool(PY_TEST_NAME.match(parts[-1])) or any(p in ("tests", "test") for p in parts[:-1])


@dataclass(slots=True)
class _PyApp:
    """Blueprints/routers (name -> own prefix), their registrations, and decorated routes."""

    declared: dict[str, str] = field(default_factory=dict)
    registered: dict[str, list[tuple[str | None, bool]]] = field(default_factory=dict)  # (prefix given, replaces own)
    routes: list[tuple[str, str, str, str, int]] = field(default_factory=list)  # receiver, METHOD, path, file, line

    def prefixes(self, name: str) -> list[str]:
        """Flask's url_prefix replaces the blueprint's own; FastAPI's prefix goes in front of the router's."""
        own = self.declared.get(name, "")
        registrations = self.registered.get(name) or [(None, False)]
        return [given if replaces and given else join_path(given or "", own) for given, replaces in registrations]


def _python_routes(root: Path, files: Sequence[str], notes: list[str]) -> list[DeclaredRoute]:
    app = _PyApp()
    for path in files:
        tree = _parse_python(path, _read(root, path, notes) or b"")
        if tree is None:
            notes.append(f"{path}: not valid Python, routes not read")
            continue
        for node in ast.walk(tree):
            _python_node(app, path, node)
    routes = []
    for receiver, method, path, file, line in app.routes:
        for prefix in app.prefixes(receiver):
            routes.append(DeclaredRoute(method, join_path(prefix, _FLASK_PARAM.sub(r"{\1}", path)), file, line))
    return routes


def _parse_python(path: str, source: bytes) -> ast.Module | None:
    for _ in range(2):
        try:
            return ast.parse(source, filename=path)
        except SystemError:  # CPython 3.11: another thread was compiling at the same moment; try again
            continue
        except (SyntaxError, ValueError):
            return None
    return None


def _python_node(app: _PyApp, path: str, node: ast.AST) -> None:
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and isinstance(node.targets[0], ast.Name):
        kind = _call_name(node.value)
        if kind in ("Blueprint", "APIRouter"):
            app.declared[node.targets[0].id] = _keyword(node.value, "url_prefix", "prefix") or ""
    elif isinstance(node, ast.Call) and _call_name(node) in ("register_blueprint", "include_router") and node.args:
        if isinstance(target := node.args[0], ast.Name):
            given = _keyword(node, "url_prefix", "prefix")
            app.registered.setdefault(target.id, []).append((given, _call_name(node) == "register_blueprint"))
    elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        for decorator in node.decorator_list:
            app.routes.extend((*route, path, decorator.lineno) for route in _decorator_routes(decorator))


def _decorator_routes(decorator: ast.expr) -> Iterator[tuple[str, str, str]]:
    """(receiver, METHOD, path) for `@bp.route('/x', methods=[...])` or `@router.get('/x')`."""
    if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)):
        return
    func = decorator.func
    first = decorator.args[0] if decorator.args else None
    if not (isinstance(func.value, ast.Name) and func.attr in PY_ROUTE_DECORATORS):
        return
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return
    methods = [func.attr.upper()]
    if func.attr in ("route", "api_route"):
        listed = next((k.value for k in decorator.keywords if k.arg == "methods"), None)
        methods = _constants(listed) or ["GET"]
    for method in methods:
        yield func.value.id, method.upper(), first.value


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _keyword(call: ast.Call, *names: str) -> str | None:
    for keyword in call.keywords:
        if keyword.arg in names and isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str):
            return keyword.value.value
    return None


def _constants(node: ast.expr | None) -> list[str]:
    if not isinstance(node, ast.List | ast.Tuple | ast.Set):
        return []
    return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
