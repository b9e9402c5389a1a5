"""Which files of a submission are its source code, and reading them safely (small, text, inside the repo)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from grader.probes.node_tests import is_test_path
from grader.probes.repo import LANGUAGE_BY_SUFFIX, RepoFacts
from grader.probes.text_files import read_text

MAX_SOURCE_BYTES = 512_000
# Directories whose files are produced or shipped, not written: build output, coverage, static assets.
OUTPUT_DIRS = frozenset({"dist", "build", "coverage", "out", ".next", ".nuxt", "vendor", "public", "static"})
# Tool configuration written in JS/TS: `jest.config.js`, `eslint.config.mjs`, `.eslintrc.cjs`, `knexfile.ts`...
_CONFIG_NAME = re.compile(
    r"[.-]config\.[cm]?[jt]s$|^\.[\w-]+rc(\.\w+)?\.[cm]?[jt]s$|^(gulpfile|gruntfile|knexfile|ormconfig|webpack\.\w+)\.[cm]?[jt]s$",
    re.IGNORECASE,
)
DOC_SUFFIXES = (".md", ".markdown", ".rst", ".txt")


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file of code the learner wrote."""

    path: str
    language: str  # "typescript" | "javascript" | "python"
    test: bool


def is_config_file(path: str) -> bool:
    """A tool's configuration written as code (jest.config.js, .eslintrc.cjs, webpack.dev.js...)."""
    return bool(_CONFIG_NAME.search(PurePosixPath(path).name))


def is_output_file(path: str) -> bool:
    """In a build-output, coverage or static-asset directory, or a minified bundle."""
    return any(part in OUTPUT_DIRS for part in path.split("/")[:-1]) or path.endswith(".min.js")


def classify(repo: RepoFacts) -> tuple[list[SourceFile], list[str]]:
    """(the source files, the JS/TS files left out as configuration or build output)."""
    sources: list[SourceFile] = []
    left_out: list[str] = []
    for path in repo.files:
        language = LANGUAGE_BY_SUFFIX.get(PurePosixPath(path).suffix)
        if language is None:
            continue
        if is_output_file(path) or (language != "python" and is_config_file(path)):
            left_out.append(path)
            continue
        sources.append(SourceFile(path, language, _is_test(path, language)))
    return sources, left_out


def _is_test(path: str, language: str) -> bool:
    if language == "python":
        name = PurePosixPath(path).name
        return name.startswith("test_") or name.endswith("_test.py") or "tests" in path.split("/")[:-1]
    return is_test_path(path)


def read_all(repo: RepoFacts, paths: list[str] | tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(path, text) for each readable file of `paths`."""
    for path in paths:
        text = read_text(repo.root, path, MAX_SOURCE_BYTES).text
        if text is not None:
            yield path, text


def doc_files(repo: RepoFacts) -> list[str]:
    """Documentation: Markdown, reStructuredText and text files outside build output."""
    return [p for p in repo.files if p.lower().endswith(DOC_SUFFIXES) and not is_output_file(p)]
