"""NestJS structure read with tree-sitter from real files: modules, controllers, DTOs and pipes."""

from __future__ import annotations

from pathlib import Path

from grader.probes.nest import NestFacts, read_nest
from tests.probes.codetree import repo_with

PACKAGE = '{"name": "api", "dependencies": {"@nestjs/core": "^11.0.0", "@nestjs/common": "^11.0.0"}}'
MAIN = """\
import { NestFactory } from '@nestjs/core';
import { ApiModule } from './api.module';

async function bootstrap() {
  const app = await NestFactory.create<NestExpressApplication>(ApiModule);
  await app.listen(3000);
}
bootstrap();
"""
MODULES = """\
@Module({
  imports: [TypeOrmModule.forFeature([Task]), UsersModule],
  controllers: [TasksController],
  providers: [TasksService, { provide: APP_PIPE, useClass: ValidationPipe }],
})
export class TasksModule {}

@Global()
@Module({ providers: [{ provide: 'PG_POOL', useFactory: () => new Pool() }], exports: ['PG_POOL'] })
export class DatabaseModule {}
"""
CONTROLLER = """\
import { Body, Controller, Get, Inject, Post, Query, UsePipes, ValidationPipe } from '@nestjs/common';

@Controller('tasks')
@UsePipes(new ValidationPipe({ whitelist: true }))
export class TasksController {
  constructor(
    private readonly tasks: TasksService,
    @InjectRepository(Task) private readonly repo: Repository<Task>,
  ) {}

  @Get()
  list(@Query() query: ListQueryDto, @Query('status') status?: string) {
    return this.repo.createQueryBuilder('t').getMany();
  }

  @Post()
  create(@Body() dto: UpdateTaskDto) {
    return this.tasks.create(dto);
  }

  @Post('bulk')
  bulk(@Body() items: CreateTaskDto[]) {
    return this.tasks.createMany(items);
  }

  helper() {
    return 'not a route';
  }
}

@Controller()
class RawController {
  constructor(@Inject('PG_POOL') private pool: any) {}

  @Post('raw')
  raw(@Body(new ValidationPipe()) body: { title: string }) {
    const sql = `SELECT * FROM tasks WHERE title = $1`;
    return this.pool.query(sql, [body.title]);
  }
}
"""
DTOS = """\
import { IsString as Str, IsOptional, MaxLength } from 'class-validator';
import { PartialType } from '@nestjs/mapped-types';

export class CreateTaskDto {
  @Str()
  @MaxLength(100)
  title!: string;

  @IsOptional()
  note?: string;
}

export class UpdateTaskDto extends PartialType(CreateTaskDto) {}

export class ListQueryDto {
  limit?: number;
}
"""


def nest_of(tmp_path: Path, files: dict[str, str]) -> NestFacts:
    return read_nest(repo_with(tmp_path / "repo", {"package.json": PACKAGE, **files}))


def test_modules_controllers_and_dtos_are_read(tmp_path: Path) -> None:
    nest = nest_of(
        tmp_path,
        {
            "src/main.ts": MAIN,
            "src/tasks/tasks.module.ts": MODULES,
            "src/tasks/tasks.controller.ts": CONTROLLER,
            "src/tasks/dto.ts": DTOS,
            "src/tasks/tasks.service.ts": "@Injectable()\nexport class TasksService {}\n",
            "src/tasks/tasks.controller.spec.ts": "@Controller()\nclass FakeController {}\n",
        },
    )
    assert nest.nest_version == "^11.0.0" and nest.root_module == "ApiModule" and nest.unparsed == ()
    tasks_module, database_module = nest.modules
    assert tasks_module.controllers == ("TasksController",)
    assert tasks_module.providers == ("TasksService", "APP_PIPE")
    assert tasks_module.imports == ("TypeOrmModule.forFeature([Task])", "UsersModule")
    assert database_module.providers == ("'PG_POOL'",) and database_module.controllers == ()
    assert [p[0] for p in nest.providers] == ["TasksService"]
    assert [f.text for f in nest.global_pipes] == ["provide: APP_PIPE, useClass: ValidationPipe(...)"]

    tasks, raw = nest.controllers
    assert (tasks.name, tasks.handlers, raw.name, raw.handlers) == ("TasksController", 3, "RawController", 1)
    assert [(i.name, i.type, i.decorator, i.database) for i in tasks.injections] == [
        ("tasks", "TasksService", None, False),
        ("repo", "Repository<Task>", "InjectRepository", True),
    ]
    assert [(f.location.line, f.text) for f in tasks.db_access] == [
        (8, "injects Repository<Task>"),
        (13, "return this.repo.createQueryBuilder('t').getMany();"),
    ]
    assert [(f.location.line, f.text) for f in raw.db_access] == [
        (33, "injects any"),
        (37, "const sql = `SELECT * FROM tasks WHERE title = $1`;"),
        (38, "return this.pool.query(sql, [body.title]);"),
    ]
    assert [(b.handler, b.kind, b.type_name, b.piped, b.location.line) for b in (*tasks.bodies, *raw.bodies)] == [
        ("TasksController.list", "Query", "ListQueryDto", True, 12),  # @Query('status') is a single value
        ("TasksController.create", "Body", "UpdateTaskDto", True, 17),
        ("TasksController.bulk", "Body", "CreateTaskDto", True, 22),
        ("RawController.raw", "Body", None, True, 36),  # piped at the parameter, but an inline type
    ]

    create = nest.data_class("CreateTaskDto")
    assert create is not None and create.location.line == 4
    assert [(p.name, p.validators, p.validated) for p in create.properties] == [
        ("title", ("Str", "MaxLength"), True),
        ("note", ("IsOptional",), False),
    ]
    update = nest.data_class("UpdateTaskDto")
    assert update is not None and update.bases == ("CreateTaskDto",) and update.properties == ()
    assert nest.data_class("TasksController") is None  # controllers are not data classes


def test_a_project_without_nest_and_a_file_with_syntax_errors(tmp_path: Path) -> None:
    plain = read_nest(repo_with(tmp_path / "plain", {"package.json": '{"name": "x"}', "src/a.ts": "export {};\n"}))
    assert plain.nest_version is None and plain.controllers == ()
    broken = nest_of(
        tmp_path,
        {
            "src/app.controller.ts": "@Controller()\nexport class AppController {\n  @Get()\n  hello( {\n}\n",
            "src/app.module.ts": "@Module({ controllers: [AppController] })\nexport class AppModule {}\n",
        },
    )
    assert broken.unparsed == ("src/app.controller.ts",)
    assert [m.controllers for m in broken.modules] == [("AppController",)]
