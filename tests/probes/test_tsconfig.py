"""tsconfig.json read as TypeScript reads it: comments, trailing commas, `extends` chains, broken files."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.probes.tsconfig import find_tsconfig, load_tsconfig, parse_jsonc


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_comments_and_trailing_commas_are_allowed_but_strings_are_kept() -> None:
    text = """{
      // line comment
      "compilerOptions": {
        "strict": true, /* block
        comment */ "paths": {"@/*": ["src/*"]},
        "baseUrl": "http://example.test//x", // not a comment inside a string
        "outDir": "a/*b*/c",
      },
    }"""
    data = parse_jsonc(text)
    assert data["compilerOptions"] == {
        "strict": True,
        "paths": {"@/*": ["src/*"]},
        "baseUrl": "http://example.test//x",
        "outDir": "a/*b*/c",
    }


@pytest.mark.parametrize(
    ("text", "line"),
    [('{\n  "strict": true\n  "x": 1\n}', 3), ("{\n\n  /* unclosed", 3), ('{"a": }', 1), ("", 1)],
)
def test_malformed_json_says_which_line(text: str, line: int) -> None:
    with pytest.raises(ValueError, match=rf"^line {line}: "):
        parse_jsonc(text)


def test_extends_is_followed_and_the_nearest_setting_wins(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "tsconfig.json": '{"extends": "./configs/base", "compilerOptions": {"noImplicitAny": false}}',
            "configs/base.json": '{"extends": "../strictest.json", "compilerOptions": {"target": "ES2022"}}',
            "strictest.json": '{\n  "compilerOptions": {\n    "strict": true, "target": "ES5"\n  }\n}',
        },
    )
    config = load_tsconfig(root, "tsconfig.json")
    assert config.chain == ("tsconfig.json", "configs/base.json", "strictest.json")
    assert config.strict is True
    assert config.options["target"].value == "ES2022" and config.options["target"].path == "configs/base.json"
    assert (config.options["strict"].path, config.options["strict"].line) == ("strictest.json", 3)
    assert list(config.weakened()) == ["noImplicitAny"]
    assert config.problems == () and config.unresolved == ()


def test_an_extends_list_applies_left_to_right(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "tsconfig.json": '{"extends": ["./a.json", "./b.json"]}',
            "a.json": '{"extends": "./a-base.json", "compilerOptions": {"strict": false}}',
            "a-base.json": '{"compilerOptions": {"strict": true, "module": "commonjs"}}',
            "b.json": '{"compilerOptions": {"strict": true}}',
        },
    )
    config = load_tsconfig(root, "tsconfig.json")
    assert config.strict is True and config.options["strict"].path == "b.json"
    assert config.options["module"].value == "commonjs"


def test_package_extends_and_missing_or_broken_bases_are_reported(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "tsconfig.json": '{"extends": ["@tsconfig/node20/tsconfig.json", "./broken.json", "./gone.json"]}',
            "broken.json": '{"compilerOptions": {"strict": true,, }}',
        },
    )
    config = load_tsconfig(root, "tsconfig.json")
    assert config.unresolved == ("@tsconfig/node20/tsconfig.json", "./gone.json")
    assert config.problems == (
        "broken.json: not valid JSON (line 1: Expecting property name enclosed in double quotes)",
    )
    assert config.strict is None


def test_a_cycle_and_a_non_object_do_not_hang_or_crash(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "tsconfig.json": '{"extends": "./a.json", "compilerOptions": {"strict": true}}',
            "a.json": '{"extends": "./tsconfig.json"}',
            "list/tsconfig.json": "[1, 2]",
        },
    )
    config = load_tsconfig(root, "tsconfig.json")
    assert config.strict is True
    assert config.problems == ("tsconfig.json: extends itself through tsconfig.json -> a.json",)
    assert load_tsconfig(root, "list/tsconfig.json").problems == ("list/tsconfig.json: not a JSON object",)


def test_extends_cannot_leave_the_repository(tmp_path: Path) -> None:
    write(tmp_path, {"outside.json": '{"compilerOptions": {"strict": true}}'})
    root = write(tmp_path / "repo", {"tsconfig.json": '{"extends": "../outside.json"}'})
    config = load_tsconfig(root, "tsconfig.json")
    assert config.unresolved == ("../outside.json",) and config.strict is None


def test_the_shallowest_tsconfig_is_the_projects() -> None:
    files = ("packages/api/tsconfig.json", "tsconfig.build.json", "tsconfig.json")
    assert find_tsconfig(files) == "tsconfig.json"
    assert find_tsconfig(("server/tsconfig.app.json", "tsconfig.base.json")) == "tsconfig.base.json"
    assert find_tsconfig(("src/index.ts",)) is None
