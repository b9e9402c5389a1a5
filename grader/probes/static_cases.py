"""The record of one test case found by reading a test file, shared by the language scanners."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StaticTest:
    """One declared test case and whether its body asserts anything."""

    file: str  # repo-relative posix path
    line: int  # 1-based line of the declaration
    name: str  # the test's title, or '<dynamic>' when it is not a literal
    framework: str  # "jest-like", "pytest" or "unittest"
    asserts: bool
    skipped: bool
