"""Code-structure checks: a codebase fully in strict, type-checked TypeScript, and a clean NestJS structure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from checks._evidence import capped
from checks._parts import Part, combine, ratio
from grader.facts import Facts
from grader.model import Evidence, Location, Verdict
from grader.plugin import check
from grader.probes.codebase import CodeInventory, TscRun
from grader.probes.nest import BodyParam, DataClass, NestFacts
from grader.probes.source_files import SourceFile

_MAX_DEPTH = 10  # `extends` levels followed when judging a DTO


@check(
    "code.typescript",
    title="The codebase is TypeScript, strict, and passes tsc --noEmit",
    requires=("code.inventory", "code.tsc"),
    remediation='Rename the remaining .js source files to .ts and type them; set `"strict": true` in tsconfig.json '
    "(and do not switch its checks off one by one); add `typescript` to devDependencies and make "
    "`npx tsc --noEmit` pass. Tool configuration (jest.config.js, .eslintrc.js) and build output may stay JavaScript.",
    defaults={"max_js_files": 0, "require_strict": True},
)
def typescript(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Counts JS and TS source files, reads tsconfig's `strict` (with `extends`), runs `tsc --noEmit` in a copy."""
    found = facts.get("code.inventory", CodeInventory)
    tsc = facts.get("code.tsc", TscRun)
    ts, js = found.of("typescript"), found.of("javascript")
    if not ts and not js:
        if found.of("python"):
            return Verdict.not_applicable("a Python project: the TypeScript criterion does not apply")
        return Verdict.failed("no JavaScript or TypeScript source files found")
    evidence: list[Evidence] = []
    parts = [_source_part(ts, js, int(options.get("max_js_files", 0)), evidence)]
    if options.get("require_strict", True):
        parts.append(_strict_part(found, tsc, evidence))
    parts.append(_tsc_part(tsc, evidence))
    if found.left_out:
        evidence.append(
            Evidence(
                f"not counted: {len(found.left_out)} configuration or build-output file(s)",
                detail=", ".join(found.left_out[:10]),
            )
        )
    verdict = combine(parts, evidence)
    return Verdict(
        verdict.outcome,
        verdict.score,
        verdict.summary,
        value=len(js),
        threshold=float(options.get("max_js_files", 0)),
        unit="JS files",
        evidence=verdict.evidence,
    )


def _source_part(
    ts: tuple[SourceFile, ...], js: tuple[SourceFile, ...], allowed: int, evidence: list[Evidence]
) -> Part:
    evidence.extend(
        capped(
            (Evidence("JavaScript source: convert it to TypeScript", Location(s.path)) for s in js),
            len(js),
            "JavaScript files",
        )
    )
    note = f"{len(ts)} TypeScript file(s), {len(js)} JavaScript"
    score = 1.0 if len(js) <= allowed else len(ts) / (len(ts) + len(js))
    return Part("TypeScript source", score, note, weight=2)


def _strict_part(found: CodeInventory, tsc: TscRun, evidence: list[Evidence]) -> Part:
    config = found.tsconfig
    if config is None:
        evidence.append(Evidence("no tsconfig.json in the repository"))
        return Part("strict tsconfig", 0.0, "no tsconfig.json")
    evidence += [Evidence(f"tsconfig: {problem}", Location(config.path)) for problem in config.problems]
    evidence += [
        Evidence(f"tsconfig extends {base!r}: a package, not read here", Location(config.path))
        for base in config.unresolved
    ]
    strict = tsc.strict if tsc.strict is not None else config.strict
    source = config.options.get("strict")
    where = Location(source.path, source.line) if source else Location(config.path)
    if not strict:
        said = f'"strict": {str(source.value).lower()}' if source else '"strict" is not set'
        evidence.append(Evidence(f"{said}: strict type checking is off", where))
        return Part("strict tsconfig", 0.0, f"not strict ({config.path})")
    weakened = config.weakened()
    if weakened:
        evidence += [
            Evidence(f'"{name}": false switches a strict check off', Location(s.path, s.line))
            for name, s in weakened.items()
        ]
        return Part("strict tsconfig", 0.5, f"strict, but {', '.join(weakened)} switched off")
    evidence.append(Evidence('"strict": true' if source else '"strict": true, inherited (tsc --showConfig)', where))
    return Part("strict tsconfig", 1.0, f"strict ({config.path})")


def _tsc_part(tsc: TscRun, evidence: list[Evidence]) -> Part:
    if not tsc.ran:
        evidence.append(Evidence(tsc.reason, detail=tsc.log_tail or None))
        return Part("tsc --noEmit", None, tsc.reason, weight=2)
    if tsc.status == "passed":
        evidence.append(Evidence(f"{tsc.command}: no errors ({tsc.duration_s:.1f} s)"))
        return Part("tsc --noEmit", 1.0, "passes", weight=2)
    errors = [Evidence(f"{d.code}: {d.message}", Location(d.path, d.line) if d.path else None) for d in tsc.diagnostics]
    evidence.extend(capped(errors, tsc.error_count, "tsc errors"))
    return Part("tsc --noEmit", 0.0, f"{tsc.error_count} error(s)", weight=2)


@check(
    "code.nest_structure",
    title="NestJS structure: feature modules, thin controllers, validated DTOs, a ValidationPipe",
    requires=("nest.structure", "code.inventory"),
    remediation="Give each feature its own module (`tasks.module.ts` with its controller and service); keep "
    "controllers to HTTP and call an @Injectable service that owns the database work; type every @Body() and "
    "@Query() with a DTO class whose properties carry class-validator decorators (@IsString(), @IsInt(), "
    "@MaxLength()...); and validate them all with `app.useGlobalPipes(new ValidationPipe({ whitelist: true }))` "
    "in main.ts.",
)
def nest_structure(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Reads modules, controllers, DTOs and pipes with tree-sitter: who does database work, what validates input."""
    nest = facts.get("nest.structure", NestFacts)
    found = facts.get("code.inventory", CodeInventory)
    if nest.nest_version is None:
        if found.of("python") and not found.of("typescript") and not found.of("javascript"):
            return Verdict.not_applicable("a Python project: the NestJS criterion does not apply")
        return Verdict.failed("not a NestJS project: @nestjs/core is not a dependency in package.json")
    if not nest.controllers:
        return Verdict.failed("no @Controller() class found", evidence=_unparsed(nest))
    evidence: list[Evidence] = []
    bodies = [b for c in nest.controllers for b in c.bodies]
    parts = [
        _modules_part(nest, evidence),
        _controllers_part(nest, evidence),
        _dto_part(nest, bodies, evidence),
        _pipe_part(nest, bodies, evidence),
    ]
    return combine(parts, [*evidence, *_unparsed(nest)])


def _unparsed(nest: NestFacts) -> tuple[Evidence, ...]:
    return tuple(Evidence("syntax errors: read as far as possible", Location(p)) for p in nest.unparsed)


def _modules_part(nest: NestFacts, evidence: list[Evidence]) -> Part:
    root = nest.root_module or "AppModule"
    with_controllers = [m for m in nest.modules if m.controllers]
    features = [m for m in with_controllers if m.name != root]
    registered = {c for m in nest.modules for c in m.controllers}
    evidence += [
        Evidence(f"{c.name} is not in any module's controllers", c.location)
        for c in nest.controllers
        if c.name not in registered
    ]
    if not features:
        where = with_controllers[0].location if with_controllers else None
        evidence.append(Evidence(f"every controller is declared in {root}: give each feature its own module", where))
        return Part("feature modules", 0.0, "none")
    ok = [m for m in features if m.providers]
    evidence += [
        Evidence(f"{m.name}: controllers {', '.join(m.controllers)} but no providers (services)", m.location)
        for m in features
        if not m.providers
    ]
    evidence += [Evidence(f"{m.name}: {', '.join(m.controllers)} + {', '.join(m.providers)}", m.location) for m in ok]
    return Part("feature modules", ratio(len(ok), len(features)), f"{len(ok)} of {len(features)} with a service")


def _controllers_part(nest: NestFacts, evidence: list[Evidence]) -> Part:
    fat = [c for c in nest.controllers if c.db_access]
    for controller in fat:
        evidence.extend(
            capped(
                (
                    Evidence(f"{controller.name} does database work itself: {f.text}", f.location)
                    for f in controller.db_access
                ),
                len(controller.db_access),
                "database calls",
            )
        )
    clean = len(nest.controllers) - len(fat)
    note = f"{clean} of {len(nest.controllers)} leave the database to services"
    return Part("thin controllers", ratio(clean, len(nest.controllers)), note)


def _dto_part(nest: NestFacts, bodies: list[BodyParam], evidence: list[Evidence]) -> Part:
    if not bodies:
        return Part("validated DTOs", None, "no @Body() or @Query() DTO parameter to judge")
    good = 0
    for body in bodies:
        problem = _dto_problem(nest, body)
        if problem is None:
            good += 1
        else:
            evidence.append(Evidence(f"{body.handler}() @{body.kind}(): {problem[0]}", problem[1] or body.location))
    return Part("validated DTOs", ratio(good, len(bodies)), f"{good} of {len(bodies)} DTO parameters validated")


def _dto_problem(nest: NestFacts, body: BodyParam) -> tuple[str, Location | None] | None:
    """Why a body/query parameter is not validated (message, where), or None when it is."""
    if body.type_name is None:
        return "not typed with a DTO class (no type, `any` or an inline type): nothing can validate it", None
    cls = nest.data_class(body.type_name)
    if cls is None:
        return f"{body.type_name} is not a class in this project", None
    return _class_problem(nest, cls, 0)


def _class_problem(nest: NestFacts, cls: DataClass, depth: int) -> tuple[str, Location | None] | None:
    bare = [p for p in cls.properties if not p.validated]
    if bare:
        names = ", ".join(p.name for p in bare)
        return f"{cls.name}.{names} ha{'s' if len(bare) == 1 else 've'} no class-validator decorator", Location(
            cls.location.path, bare[0].line
        )
    if cls.properties:
        return None
    bases = [b for name in cls.bases if (b := nest.data_class(name)) is not None]
    if bases and depth < _MAX_DEPTH:
        problems = [p for b in bases if (p := _class_problem(nest, b, depth + 1)) is not None]
        return problems[0] if problems else None
    return f"{cls.name} declares no validated property", cls.location


def _pipe_part(nest: NestFacts, bodies: list[BodyParam], evidence: list[Evidence]) -> Part:
    if nest.global_pipes:
        evidence += [Evidence(f"global pipe: {f.text}", f.location) for f in nest.global_pipes]
        return Part("ValidationPipe", 1.0, "global")
    if not bodies:
        evidence.append(Evidence("no global ValidationPipe (app.useGlobalPipes(new ValidationPipe()))"))
        return Part("ValidationPipe", None, "no global pipe, and no DTO parameter that needs one")
    piped = [b for b in bodies if b.piped]
    evidence += [
        Evidence(f"{b.handler}() @{b.kind}() is not run through a ValidationPipe", b.location)
        for b in bodies
        if not b.piped
    ]
    return Part("ValidationPipe", ratio(len(piped), len(bodies)), f"not global; {len(piped)} of {len(bodies)} routes")
