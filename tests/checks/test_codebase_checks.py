"""code.typescript and code.nest_structure judged on hand-built facts: each sub-criterion and its credit."""

from __future__ import annotations

from typing import Any

import pytest

from checks.codebase import nest_structure, typescript
from grader.facts import Facts
from grader.model import Location, Outcome, Verdict
from grader.probes.codebase import CodeInventory, TscDiagnostic, TscRun
from grader.probes.data_access import Finding
from grader.probes.nest import BodyParam, DataClass, DtoProperty, Injection, NestController, NestFacts, NestModule
from grader.probes.source_files import SourceFile
from grader.probes.tsconfig import OptionSource, TsConfig

STRICT = TsConfig("tsconfig.json", ("tsconfig.json",), {"strict": OptionSource("tsconfig.json", 4, True)})
PASSED = TscRun("passed", "tsc --noEmit passed in 2.0 s", "tsconfig.json", "npx --no-install tsc --noEmit", 2.0)


def inventory(ts: int = 3, js: int = 0, tsconfig: TsConfig | None = STRICT, python: int = 0) -> CodeInventory:
    sources = [SourceFile(f"src/m{i}.ts", "typescript", False) for i in range(ts)]
    sources += [SourceFile(f"src/old{i}.js", "javascript", False) for i in range(js)]
    sources += [SourceFile(f"app/p{i}.py", "python", False) for i in range(python)]
    return CodeInventory(tuple(sources), ("jest.config.js",), tsconfig, "^5.9.2", True)


def judge_ts(found: CodeInventory, tsc: TscRun = PASSED, **options: Any) -> Verdict:
    return typescript(Facts({"code.inventory": found, "code.tsc": tsc}), {"max_js_files": 0, **options})


def test_strict_typescript_that_type_checks_passes() -> None:
    verdict = judge_ts(inventory())
    assert verdict.outcome is Outcome.PASS and verdict.value == 0
    assert verdict.summary == (
        "TypeScript source: 3 TypeScript file(s), 0 JavaScript; strict tsconfig: strict (tsconfig.json); "
        "tsc --noEmit: passes"
    )
    assert any(e.message == '"strict": true' and str(e.location) == "tsconfig.json:4" for e in verdict.evidence)


def test_javascript_files_loose_config_and_type_errors_each_cost_their_share() -> None:
    loose = TsConfig("tsconfig.json", ("tsconfig.json",), {"strict": OptionSource("tsconfig.json", 5, False)})
    failed = TscRun(
        "failed", "tsc reported 2 error(s)", "tsconfig.json", "npx --no-install tsc --noEmit", 3.0,
        (TscDiagnostic("src/m0.ts", 16, 11, "TS2322", "Type 'string' is not assignable to type 'number'."),
         TscDiagnostic(None, None, None, "TS5023", "Unknown compiler option 'x'.")), 2,
    )  # fmt: skip
    verdict = judge_ts(inventory(ts=3, js=1, tsconfig=loose), failed)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.score == pytest.approx(round(2 * 0.75 / 5, 3))  # only the source part earns credit
    messages = {(e.message, str(e.location) if e.location else None) for e in verdict.evidence}
    assert ("JavaScript source: convert it to TypeScript", "src/old0.js") in messages
    assert ('"strict": false: strict type checking is off', "tsconfig.json:5") in messages
    assert ("TS2322: Type 'string' is not assignable to type 'number'.", "src/m0.ts:16") in messages
    assert ("TS5023: Unknown compiler option 'x'.", None) in messages
    assert judge_ts(inventory(ts=3, js=1), max_js_files=1).outcome is Outcome.PASS


def test_strict_switched_off_flag_by_flag_is_half_credit() -> None:
    weakened = TsConfig(
        "tsconfig.json", ("tsconfig.json", "base.json"),
        {"strict": OptionSource("base.json", 2, True), "strictNullChecks": OptionSource("tsconfig.json", 3, False)},
    )  # fmt: skip
    verdict = judge_ts(inventory(tsconfig=weakened))
    assert verdict.outcome is Outcome.FAIL and verdict.score == pytest.approx(0.9)
    assert "strict, but strictNullChecks switched off" in verdict.summary
    assert any(str(e.location) == "tsconfig.json:3" for e in verdict.evidence)


def test_strict_inherited_from_a_package_is_taken_from_tsc_show_config() -> None:
    inherited = TsConfig("tsconfig.json", ("tsconfig.json",), {}, unresolved=("@tsconfig/strictest",))
    shown = TscRun("passed", "ok", "tsconfig.json", "tsc", 1.0, strict=True)
    verdict = judge_ts(inventory(tsconfig=inherited), shown)
    assert verdict.outcome is Outcome.PASS
    assert any("inherited (tsc --showConfig)" in e.message for e in verdict.evidence)
    assert judge_ts(inventory(tsconfig=inherited), PASSED).outcome is Outcome.FAIL  # unknown is not strict


def test_tsc_that_could_not_run_is_never_a_pass() -> None:
    not_run = TscRun("not_run", "tsc not run: typescript is not a dependency", "tsconfig.json", None, 0.0)
    verdict = judge_ts(inventory(), not_run)
    assert verdict.outcome is Outcome.WARN and verdict.score == 1.0
    assert "tsc --noEmit: tsc not run: typescript is not a dependency" in verdict.summary
    install_failed = TscRun("install_failed", "tsc not run: npm ci failed (exit 1)", "tsconfig.json", None, 0.0)
    assert judge_ts(inventory(js=3), install_failed).outcome is Outcome.FAIL


def test_no_tsconfig_and_projects_that_are_not_javascript() -> None:
    assert "no tsconfig.json" in judge_ts(inventory(tsconfig=None)).summary
    assert judge_ts(inventory(ts=0, python=4)).outcome is Outcome.NOT_APPLICABLE
    nothing = judge_ts(inventory(ts=0))
    assert nothing.outcome is Outcome.FAIL and nothing.summary == "no JavaScript or TypeScript source files found"


# ---------------------------------------------------------------- NestJS


def where(line: int, path: str = "src/tasks/tasks.controller.ts") -> Location:
    return Location(path, line)


def validated(name: str, *props: str) -> DataClass:
    properties = tuple(DtoProperty(p, 3 + i, ("IsString",)) for i, p in enumerate(props))
    return DataClass(name, Location(f"src/dto/{name}.ts", 1), properties, ())


GOOD = NestFacts(
    nest_version="^11.0.0",
    root_module="AppModule",
    modules=(
        NestModule("AppModule", where(5, "src/app.module.ts"), ("HealthController",), (), ("TasksModule",)),
        NestModule("TasksModule", where(7, "src/tasks/tasks.module.ts"), ("TasksController",), ("TasksService",), ()),
    ),
    controllers=(
        NestController("HealthController", where(3, "src/health.controller.ts"), (), (), 1, ()),
        NestController(
            "TasksController", where(9), (Injection("tasks", "TasksService", None, 10, False),), (), 2,
            (BodyParam("TasksController.create", "Body", "CreateTaskDto", where(14), False),
             BodyParam("TasksController.update", "Body", "UpdateTaskDto", where(19), False)),
        ),
    ),
    providers=(("TasksService", where(4, "src/tasks/tasks.service.ts")),),
    classes=(
        validated("CreateTaskDto", "title"),
        DataClass("UpdateTaskDto", Location("src/dto/UpdateTaskDto.ts", 1), (), ("CreateTaskDto",)),
    ),
    global_pipes=(Finding(where(8, "src/main.ts"), "useGlobalPipes(new ValidationPipe(...)"),),
)  # fmt: skip


def judge_nest(nest: NestFacts, found: CodeInventory | None = None) -> Verdict:
    return nest_structure(Facts({"nest.structure": nest, "code.inventory": found or inventory()}), {})


def test_a_clean_nest_app_passes() -> None:
    verdict = judge_nest(GOOD)
    assert verdict.outcome is Outcome.PASS, verdict.summary
    assert verdict.summary == (
        "feature modules: 1 of 1 with a service; thin controllers: 2 of 2 leave the database to services; "
        "validated DTOs: 2 of 2 DTO parameters validated; ValidationPipe: global"
    )


def test_a_flat_app_with_database_work_in_controllers_and_bare_dtos_fails_each_part() -> None:
    fat = NestController(
        "TasksController", where(9), (Injection("pool", "Pool", "Inject", 10, True),),
        (Finding(where(10), "injects Pool"), Finding(where(15), "return this.pool.query('SELECT * FROM tasks');")), 2,
        (BodyParam("TasksController.create", "Body", None, where(14), False),
         BodyParam("TasksController.update", "Body", "UpdateTaskDto", where(19), True)),
    )  # fmt: skip
    bare = DataClass("UpdateTaskDto", Location("src/dto.ts", 1), (DtoProperty("title", 2, ("IsOptional",)),), ())
    flat = NestFacts(
        "^11.0.0", "AppModule",
        modules=(NestModule("AppModule", where(5, "src/app.module.ts"), ("TasksController",), ("PG_POOL",), ()),),
        controllers=(fat,), classes=(bare,),
    )  # fmt: skip
    verdict = judge_nest(flat)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.score == pytest.approx(0.125)  # only half the routes run through a ValidationPipe
    messages = {(e.message, str(e.location)) for e in verdict.evidence}
    assert ("every controller is declared in AppModule: give each feature its own module", "src/app.module.ts:5") in (
        messages
    )
    assert (
        "TasksController does database work itself: return this.pool.query('SELECT * FROM tasks');",
        "src/tasks/tasks.controller.ts:15",
    ) in messages
    assert (
        "TasksController.create() @Body(): not typed with a DTO class (no type, `any` or an inline type): "
        "nothing can validate it",
        "src/tasks/tasks.controller.ts:14",
    ) in messages
    assert (
        "TasksController.update() @Body(): UpdateTaskDto.title has no class-validator decorator",
        "src/dto.ts:2",
    ) in (messages)
    assert (
        "TasksController.create() @Body() is not run through a ValidationPipe",
        "src/tasks/tasks.controller.ts:14",
    ) in (messages)


def test_feature_modules_without_services_and_unregistered_controllers() -> None:
    modules = (
        *GOOD.modules,
        NestModule("UsersModule", where(3, "src/users/users.module.ts"), ("UsersController",), (), ()),
    )
    orphan = NestController("AdminController", where(2, "src/admin.controller.ts"), (), (), 1, ())
    nest = NestFacts(
        GOOD.nest_version, GOOD.root_module, modules, (*GOOD.controllers, orphan), GOOD.providers, GOOD.classes,
        GOOD.global_pipes,
    )  # fmt: skip
    verdict = judge_nest(nest)
    assert "feature modules: 1 of 2 with a service" in verdict.summary
    assert verdict.score == pytest.approx(0.875)
    messages = [e.message for e in verdict.evidence]
    assert "UsersModule: controllers UsersController but no providers (services)" in messages
    assert "AdminController is not in any module's controllers" in messages


def test_a_dto_that_is_not_a_class_here_and_routes_without_bodies() -> None:
    controller = NestController(
        "TasksController", where(9), (), (), 1,
        (BodyParam("TasksController.create", "Body", "ExternalDto", where(14), True),),
    )  # fmt: skip
    nest = NestFacts("^11.0.0", "AppModule", GOOD.modules, (controller,))
    verdict = judge_nest(nest)
    assert any("ExternalDto is not a class in this project" in e.message for e in verdict.evidence)
    no_bodies = NestFacts("^11.0.0", "AppModule", GOOD.modules, (GOOD.controllers[0],))
    quiet = judge_nest(no_bodies)
    assert quiet.outcome is Outcome.WARN and quiet.score == 1.0  # nothing to validate: unjudged, never a pass
    assert "validated DTOs: no @Body() or @Query() DTO parameter to judge" in quiet.summary


def test_not_nest_not_applicable_and_no_controllers() -> None:
    not_nest = NestFacts(None, None)
    assert judge_nest(not_nest).summary == "not a NestJS project: @nestjs/core is not a dependency in package.json"
    assert judge_nest(not_nest, inventory(ts=0, python=2)).outcome is Outcome.NOT_APPLICABLE
    empty = judge_nest(NestFacts("^11.0.0", None, unparsed=("src/app.controller.ts",)))
    assert empty.outcome is Outcome.FAIL and empty.summary == "no @Controller() class found"
    assert [str(e.location) for e in empty.evidence] == ["src/app.controller.ts"]
