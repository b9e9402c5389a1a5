"""A NestJS application's structure, read with tree-sitter: modules, controllers, providers, DTOs, pipes.

Per controller: what its constructor injects, whether it touches the database itself (an injected
repository, pool or ORM client, `.query(...)`, SQL text), and the `@Body()`/`@Query()` parameters of
its route handlers with the DTO class each is typed with. Per class: its properties and the
class-validator decorators on each. Global pipes (`app.useGlobalPipes(new ValidationPipe())`, an
`APP_PIPE` provider) are found by pattern.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from tree_sitter import Node

from grader.facts import ProbeContext
from grader.model import Location
from grader.plugin import probe
from grader.probes.data_access import Finding
from grader.probes.node_install import as_dict
from grader.probes.repo import RepoFacts
from grader.probes.source_files import classify, read_all
from grader.probes.text_files import line_at
from grader.probes.ts_syntax import descendants, has_syntax_error, line_of, parse, string_value, text_of

HTTP_METHODS = frozenset({"Get", "Post", "Put", "Patch", "Delete", "All", "Options", "Head", "Search"})
_NEST_SUFFIXES = (".ts", ".mts", ".cts")
# class-validator decorators that only mark a property optional or allowed: they validate nothing by themselves.
NOT_VALIDATING = frozenset({"IsOptional", "ValidateIf", "Allow", "IsDefined"})
_VALIDATOR_NAME = re.compile(
    r"^(Is[A-Z]\w*|Min|Max|MinLength|MaxLength|Length|Matches|Validate\w*|Array\w+|Contains|NotContains|Equals"
    r"|NotEquals|IsOptional|Allow)$"
)
_MAPPED_TYPES = frozenset({"PartialType", "PickType", "OmitType", "IntersectionType"})
_DB_TYPES = re.compile(
    r"^(?:Repository|EntityManager|DataSource|Connection|Pool|PoolClient|Client|PrismaClient|PrismaService|Knex"
    r"|Sequelize|Model|MongoClient|Db|Kysely|Sql|DatabaseService|DbService)\b"
)
_DB_DECORATORS = frozenset(
    {"InjectRepository", "InjectDataSource", "InjectEntityManager", "InjectModel", "InjectConnection", "InjectKnex"}
)
_DB_TOKEN = re.compile(r"POOL|\bDB\b|DATABASE|KNEX|PRISMA|CONNECTION|\bPG\b|_DB\b|\bDB_", re.IGNORECASE)
_DB_CALLS = frozenset({"query", "createQueryBuilder", "getRepository", "$queryRaw", "$executeRaw", "$queryRawUnsafe"})
_SQL_TEXT = re.compile(r"^\s*(SELECT\b|INSERT\s+INTO\b|UPDATE\s+\S+\s+SET\b|DELETE\s+FROM\b)", re.IGNORECASE)
_GLOBAL_PIPE = re.compile(
    r"\buseGlobalPipes\(\s*new\s+(\w*ValidationPipe)\b"
    r"|\bprovide\s*:\s*APP_PIPE\s*,\s*(?:useClass\s*:\s*(\w*ValidationPipe)|useValue\s*:\s*new\s+(\w*ValidationPipe))"
)
_BOOTSTRAP = re.compile(r"\bNestFactory\.create\w*(?:<[^>]*>)?\(\s*(\w+)")


@dataclass(frozen=True, slots=True)
class NestModule:
    """An `@Module({...})` class and what it declares."""

    name: str
    location: Location
    controllers: tuple[str, ...]
    providers: tuple[str, ...]
    imports: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Injection:
    """One constructor parameter: its name, type and decorator (e.g. InjectRepository)."""

    name: str
    type: str
    decorator: str | None
    line: int
    database: bool  # a repository, pool, ORM client or database token


@dataclass(frozen=True, slots=True)
class BodyParam:
    """A route handler's `@Body()` or whole `@Query()` parameter."""

    handler: str  # e.g. "TasksController.create"
    kind: str  # "Body" | "Query"
    type_name: str | None  # the class it is typed with; None for no type, `any`, or an inline object type
    location: Location
    piped: bool  # a ValidationPipe applies at parameter, handler or controller level


@dataclass(frozen=True, slots=True)
class NestController:
    """A `@Controller()` class."""

    name: str
    location: Location
    injections: tuple[Injection, ...]
    db_access: tuple[Finding, ...]  # database work done in the controller itself
    handlers: int
    bodies: tuple[BodyParam, ...]


@dataclass(frozen=True, slots=True)
class DtoProperty:
    """A property of a class, and the class-validator decorators on it."""

    name: str
    line: int
    validators: tuple[str, ...]

    @property
    def validated(self) -> bool:
        """Has a decorator that checks the value (not only @IsOptional)."""
        return any(v not in NOT_VALIDATING for v in self.validators)


@dataclass(frozen=True, slots=True)
class DataClass:
    """A plain class (DTO, entity...): its properties and the classes it extends."""

    name: str
    location: Location
    properties: tuple[DtoProperty, ...]
    bases: tuple[str, ...]  # `extends X`, `extends PartialType(X)` -> ("X",)


@dataclass(frozen=True, slots=True)
class NestFacts:
    """The NestJS structure of the project."""

    nest_version: str | None  # the @nestjs/core (or @nestjs/common) range in package.json; None: not NestJS
    root_module: str | None  # the module passed to NestFactory.create
    modules: tuple[NestModule, ...] = ()
    controllers: tuple[NestController, ...] = ()
    providers: tuple[tuple[str, Location], ...] = ()  # @Injectable classes
    classes: tuple[DataClass, ...] = ()
    global_pipes: tuple[Finding, ...] = ()
    unparsed: tuple[str, ...] = ()  # files with syntax errors (what could be read still counts)

    def data_class(self, name: str) -> DataClass | None:
        """The plain class of that name."""
        return next((c for c in self.classes if c.name == name), None)


@probe("nest.structure", timeout_s=120)
def nest_structure(ctx: ProbeContext) -> NestFacts:
    """Read the NestJS modules, controllers, providers, DTOs and validation pipes with tree-sitter."""
    return read_nest(ctx.fact("repo", RepoFacts))


def read_nest(repo: RepoFacts) -> NestFacts:
    """The NestJS structure of one repository."""
    package_json = repo.package_json or {}
    declared = {**as_dict(package_json.get("dependencies")), **as_dict(package_json.get("devDependencies"))}
    version = declared.get("@nestjs/core") or declared.get("@nestjs/common")
    sources, _ = classify(repo)
    paths = [s.path for s in sources if not s.test and s.path.endswith(_NEST_SUFFIXES) and not s.path.endswith(".d.ts")]
    reader = _Reader()
    for path, text in read_all(repo, paths):
        reader.read(path, text)
    return NestFacts(
        nest_version=str(version) if version is not None else None,
        root_module=reader.root_module,
        modules=tuple(reader.modules),
        controllers=tuple(reader.controllers),
        providers=tuple(reader.providers),
        classes=tuple(reader.classes),
        global_pipes=tuple(reader.global_pipes),
        unparsed=tuple(reader.unparsed),
    )


@dataclass(frozen=True, slots=True)
class _Decorator:
    """`@Name(arguments)`: the name without any namespace, and the arguments node (None for a bare `@Name`)."""

    name: str
    arguments: Node | None

    def argument_text(self) -> str:
        """The arguments as written, e.g. "(new ValidationPipe())"."""
        return text_of(self.arguments)


@dataclass
class _Reader:
    """Accumulates what each file declares."""

    root_module: str | None = None
    modules: list[NestModule] = field(default_factory=list)
    controllers: list[NestController] = field(default_factory=list)
    providers: list[tuple[str, Location]] = field(default_factory=list)
    classes: list[DataClass] = field(default_factory=list)
    global_pipes: list[Finding] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)

    def read(self, path: str, text: str) -> None:
        root = parse(path, text)
        if has_syntax_error(root):
            self.unparsed.append(path)
        for match in _GLOBAL_PIPE.finditer(text):
            shown = re.sub(r"\(\s+", "(", " ".join(match.group(0).split()))
            self.global_pipes.append(Finding(Location(path, line_at(text, match.start())), f"{shown}(...)"))
        if self.root_module is None and (boot := _BOOTSTRAP.search(text)) is not None:
            self.root_module = boot.group(1)
        validators = _validator_names(root)
        lines = text.splitlines()
        for cls in descendants(root, "class_declaration", "abstract_class_declaration"):
            self._read_class(path, lines, cls, validators)

    def _read_class(self, path: str, lines: list[str], cls: Node, validators: frozenset[str]) -> None:
        name = text_of(cls.child_by_field_name("name"))
        where = Location(path, line_of(cls))
        decorators = {d.name: d for d in _class_decorators(cls)}
        body = cls.child_by_field_name("body")
        if "Module" in decorators:
            self.modules.append(_module(name, where, decorators["Module"]))
        elif "Controller" in decorators and body is not None:
            self.controllers.append(_controller(path, lines, name, where, body))
        elif "Injectable" in decorators:
            self.providers.append((name, where))
        elif body is not None:
            self.classes.append(DataClass(name, where, tuple(_properties(body, validators)), _bases(cls)))


def _validator_names(root: Node) -> frozenset[str]:
    """Names this file imports from class-validator (aliases included)."""
    names: set[str] = set()
    for statement in descendants(root, "import_statement"):
        if string_value(statement.child_by_field_name("source")) != "class-validator":
            continue
        for specifier in descendants(statement, "import_specifier"):
            local = specifier.child_by_field_name("alias") or specifier.child_by_field_name("name")
            names.add(text_of(local))
    return frozenset(names)


def _decorator(node: Node) -> _Decorator | None:
    inner = node.named_children[0] if node.named_children else None
    if inner is None:
        return None
    if inner.type == "call_expression":
        function = inner.child_by_field_name("function")
        name = text_of(function).split(".")[-1]
        return _Decorator(name, inner.child_by_field_name("arguments"))
    return _Decorator(text_of(inner).split(".")[-1], None)


def _decorators_of(node: Node) -> list[_Decorator]:
    return [d for c in node.children if c.type == "decorator" and (d := _decorator(c)) is not None]


def _class_decorators(cls: Node) -> list[_Decorator]:
    """Decorators on the class, and on the `export` statement around it."""
    found = _decorators_of(cls)
    if cls.parent is not None and cls.parent.type == "export_statement":
        found += _decorators_of(cls.parent)
    return found


def _members(body: Node) -> Iterator[tuple[Node, list[_Decorator]]]:
    """Each class member with its decorators (written before it, or inside it for fields)."""
    pending: list[_Decorator] = []
    for child in body.named_children:
        if child.type == "decorator":
            if (decorator := _decorator(child)) is not None:
                pending.append(decorator)
            continue
        yield child, pending + _decorators_of(child)
        pending = []


def _module(name: str, where: Location, decorator: _Decorator) -> NestModule:
    lists: dict[str, tuple[str, ...]] = {}
    arguments = decorator.arguments
    metadata = arguments.named_children[0] if arguments is not None and arguments.named_children else None
    if metadata is not None and metadata.type == "object":
        for pair in metadata.named_children:
            if pair.type != "pair":
                continue
            key = text_of(pair.child_by_field_name("key"))
            value = pair.child_by_field_name("value")
            if value is not None and value.type == "array":
                lists[key] = tuple(_provider_name(item) for item in value.named_children)
    return NestModule(name, where, lists.get("controllers", ()), lists.get("providers", ()), lists.get("imports", ()))


def _provider_name(node: Node) -> str:
    """`TasksService`, or the `provide` token of `{ provide: X, useClass: Y }`, or the call for forRoot()."""
    if node.type == "object":
        for pair in node.named_children:
            if pair.type == "pair" and text_of(pair.child_by_field_name("key")) == "provide":
                return text_of(pair.child_by_field_name("value"))
    return text_of(node)


def _controller(path: str, lines: list[str], name: str, where: Location, body: Node) -> NestController:
    class_piped = _has_validation_pipe(_class_decorators(body.parent)) if body.parent is not None else False
    injections: list[Injection] = []
    bodies: list[BodyParam] = []
    handlers = 0
    for member, decorators in _members(body):
        if member.type != "method_definition":
            continue
        method = text_of(member.child_by_field_name("name"))
        if method == "constructor":
            injections = [_injection(p) for p in _parameters(member)]
            continue
        if not any(d.name in HTTP_METHODS for d in decorators):
            continue
        handlers += 1
        method_piped = class_piped or _has_validation_pipe(decorators)
        bodies += _body_params(path, f"{name}.{method}", member, method_piped)
    injected = [Finding(Location(path, i.line), f"injects {i.type or i.name}") for i in injections if i.database]
    db_access = {
        f.location.line: f for f in reversed([*injected, *_database_calls(path, lines, body)])
    }  # first per line
    ordered = sorted(db_access.values(), key=lambda f: f.location.line or 0)
    return NestController(name, where, tuple(injections), tuple(ordered), handlers, tuple(bodies))


def _has_validation_pipe(decorators: list[_Decorator]) -> bool:
    return any(d.name == "UsePipes" and "ValidationPipe" in d.argument_text() for d in decorators)


def _parameters(method: Node) -> list[Node]:
    params = method.child_by_field_name("parameters")
    return (
        [p for p in params.named_children if p.type in ("required_parameter", "optional_parameter")] if params else []
    )


def _parameter_type(param: Node) -> Node | None:
    annotation = param.child_by_field_name("type")
    return annotation.named_children[0] if annotation is not None and annotation.named_children else None


def _injection(param: Node) -> Injection:
    decorators = _decorators_of(param)
    type_node = _parameter_type(param)
    type_text = text_of(type_node)
    decorator = decorators[0] if decorators else None
    name = text_of(param.child_by_field_name("pattern"))
    database = bool(_DB_TYPES.match(type_text)) or any(
        d.name in _DB_DECORATORS or (d.name == "Inject" and _DB_TOKEN.search(d.argument_text())) for d in decorators
    )
    return Injection(name, type_text, decorator.name if decorator else None, line_of(param), database)


def _body_params(path: str, handler: str, method: Node, method_piped: bool) -> list[BodyParam]:
    found = []
    for param in _parameters(method):
        for decorator in _decorators_of(param):
            whole_query = decorator.name == "Query" and not string_value(_first_argument(decorator))
            if decorator.name != "Body" and not whole_query:
                continue
            piped = method_piped or "ValidationPipe" in decorator.argument_text()
            where = Location(path, line_of(param))
            found.append(BodyParam(handler, decorator.name, _class_type(_parameter_type(param)), where, piped))
    return found


def _first_argument(decorator: _Decorator) -> Node | None:
    arguments = decorator.arguments
    return arguments.named_children[0] if arguments is not None and arguments.named_children else None


def _class_type(type_node: Node | None) -> str | None:
    """The class a parameter is typed with (`CreateTaskDto`, `CreateTaskDto[]`), else None."""
    if type_node is None:
        return None
    if type_node.type == "array_type" and type_node.named_children:
        return _class_type(type_node.named_children[0])
    if type_node.type in ("type_identifier", "nested_type_identifier"):
        return text_of(type_node).split(".")[-1]
    return None


def _database_calls(path: str, lines: list[str], body: Node) -> Iterator[Finding]:
    """`.query(`, `.createQueryBuilder(`, `prisma.$queryRaw` calls, `new Pool()` and SQL strings inside the class."""
    for node in descendants(body, "call_expression", "string", "template_string", "new_expression"):
        if node.type == "call_expression":
            function = node.child_by_field_name("function")
            hit = (
                function is not None
                and function.type == "member_expression"
                and text_of(function.child_by_field_name("property")) in _DB_CALLS
            )
        elif node.type == "new_expression":
            hit = text_of(node.child_by_field_name("constructor")) in ("Pool", "Client", "PrismaClient")
        else:
            hit = bool(_SQL_TEXT.match(text_of(node).strip("'\"`")))
        if hit:
            yield Finding(Location(path, line_of(node)), lines[node.start_point.row].strip()[:200])


def _properties(body: Node, validators: frozenset[str]) -> Iterator[DtoProperty]:
    for member, decorators in _members(body):
        if member.type != "public_field_definition":
            continue
        names = tuple(d.name for d in decorators if d.name in validators or _VALIDATOR_NAME.match(d.name))
        name = text_of(member.child_by_field_name("name"))
        yield DtoProperty(name, line_of(member), names)


def _bases(cls: Node) -> tuple[str, ...]:
    """The classes a class extends, seeing through PartialType(X), OmitType(X, [...]) and the like."""
    heritage = next((c for c in cls.named_children if c.type == "class_heritage"), None)
    if heritage is None:
        return ()
    names = [text_of(n) for n in descendants(heritage, "identifier", "type_identifier")]
    return tuple(n for n in dict.fromkeys(names) if n not in _MAPPED_TYPES and n[:1].isupper())
