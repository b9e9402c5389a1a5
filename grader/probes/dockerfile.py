"""A Dockerfile read into stages: base images and their tags, the final user, HEALTHCHECK, EXPOSE.

Follows the Dockerfile reference closely enough for grading: parser directives (`# escape=`),
line continuations, comment lines inside continuations, BuildKit heredocs, `ARG`s declared
before the first `FROM` (substituted into `FROM` lines), and stages that build on earlier
stages (`FROM build AS runtime`), whose USER and HEALTHCHECK they inherit.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

KEYWORDS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL", "MAINTAINER",
    "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
})  # fmt: skip
ROOT_USERS = frozenset({"root", "0"})
_DIRECTIVE = re.compile(r"^#\s*(\w+)\s*=\s*(.*?)\s*$")
_HEREDOC = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::?[-+]([^}]*))?\}|(\w+))")
_URL = re.compile(r"https?://(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\])(?::(\d+))?(/[^\s'\"`)]*)?")


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction, its continuation lines joined; `line` is where it starts."""

    line: int
    keyword: str  # upper case
    args: str


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A `FROM` image reference split into its parts (after ARG substitution)."""

    text: str
    name: str  # e.g. "node", "library/node", "ghcr.io/org/app"
    tag: str | None
    digest: str | None

    @property
    def floating(self) -> bool:
        """No digest and no version in the tag: `node`, `node:latest`, `node:lts-alpine`."""
        if self.digest:
            return False
        return self.tag is None or self.tag == "latest" or not any(c.isdigit() for c in self.tag)


@dataclass(frozen=True, slots=True)
class Stage:
    """One build stage: its base, and what it declares."""

    index: int
    line: int  # of its FROM
    base: ImageRef
    base_stage: int | None  # the earlier stage it builds on, if any
    name: str | None
    users: tuple[tuple[int, str], ...]  # (line, user) of each USER
    healthcheck: tuple[int, str] | None  # (line, arguments) of the last HEALTHCHECK
    exposed: tuple[tuple[int, str], ...]  # (line, port) of each EXPOSEd port


@dataclass(frozen=True, slots=True)
class Dockerfile:
    """A parsed Dockerfile; `errors` holds (line, problem) for what could not be read."""

    path: str
    instructions: tuple[Instruction, ...]
    stages: tuple[Stage, ...]
    errors: tuple[tuple[int, str], ...]

    @property
    def final(self) -> Stage | None:
        """The stage `docker build` produces by default."""
        return self.stages[-1] if self.stages else None

    @property
    def external_bases(self) -> tuple[Stage, ...]:
        """Stages that start from an image rather than from an earlier stage (`scratch` excluded)."""
        return tuple(s for s in self.stages if s.base_stage is None and s.base.name != "scratch")

    def effective_user(self, stage: Stage | None = None) -> tuple[int, str] | None:
        """The last USER in force in `stage` (default: the final one), following earlier stages it builds on."""
        stage = stage or self.final
        while stage is not None:
            if stage.users:
                return stage.users[-1]
            stage = self.stages[stage.base_stage] if stage.base_stage is not None else None
        return None

    def effective_healthcheck(self) -> tuple[int, str] | None:
        """The HEALTHCHECK in force in the final stage (None when absent or `HEALTHCHECK NONE`)."""
        stage = self.final
        while stage is not None:
            if stage.healthcheck is not None:
                return None if stage.healthcheck[1].strip().upper() == "NONE" else stage.healthcheck
            stage = self.stages[stage.base_stage] if stage.base_stage is not None else None
        return None

    def exposed_ports(self) -> tuple[int, ...]:
        """The numeric ports the final stage EXPOSEs, in order."""
        stage = self.final
        ports = [] if stage is None else [p.split("/")[0] for _, p in stage.exposed]
        return tuple(int(p) for p in ports if p.isdigit())


def is_root_user(user: str) -> bool:
    """Whether a USER value (`name[:group]` or `uid[:gid]`) means root."""
    return user.split(":")[0].strip() in ROOT_USERS


def health_url(healthcheck: str) -> tuple[int | None, str | None]:
    """The (port, path) of the loopback URL a HEALTHCHECK command fetches, if it names one."""
    match = _URL.search(healthcheck)
    if match is None:
        return None, None
    return (int(match.group(1)) if match.group(1) else None), match.group(2)


def parse_dockerfile(path: str, text: str) -> Dockerfile:
    """Split `text` into instructions and stages; never raises on malformed input."""
    errors: list[tuple[int, str]] = []
    instructions = _instructions(text, errors)
    stages = _stages(instructions, errors)
    if not any(i.keyword == "FROM" for i in instructions):
        errors.append((1, "no FROM instruction: a Dockerfile must start from a base image"))
    return Dockerfile(path, tuple(instructions), tuple(stages), tuple(errors))


def _instructions(text: str, errors: list[tuple[int, str]]) -> list[Instruction]:
    lines = text.splitlines()
    escape = _escape_directive(lines)
    found: list[Instruction] = []
    index = 0
    while index < len(lines):
        start = index
        stripped = lines[index].strip()
        index += 1
        if not stripped or stripped.startswith("#"):
            continue
        body = stripped
        while body.endswith(escape) and index < len(lines):
            following = ""
            while index < len(lines) and (not following or following.startswith("#")):
                following = lines[index].strip()  # blank and comment lines inside a continuation are dropped
                index += 1
            body = f"{body[: -len(escape)].rstrip()} {following}".strip()
        index = _skip_heredocs(body, lines, index)
        keyword, _, args = body.partition(" ")
        if keyword.upper() not in KEYWORDS:
            errors.append((start + 1, f"unknown instruction {keyword[:40]!r}"))
            continue
        found.append(Instruction(start + 1, keyword.upper(), args.strip()))
    return found


def _escape_directive(lines: list[str]) -> str:
    """The escape character from the parser directives at the top (default backslash)."""
    for line in lines:
        match = _DIRECTIVE.match(line.strip())
        if match is None:
            break
        if match.group(1).lower() == "escape" and match.group(2) in ("`", "\\"):
            return match.group(2)
    return "\\"


def _skip_heredocs(body: str, lines: list[str], index: int) -> int:
    """The index after the bodies of the heredocs (`<<EOF`) an instruction opens."""
    for match in _HEREDOC.finditer(body):
        strip_tabs, word = match.group(1) == "-", match.group(3)
        while index < len(lines):
            line = lines[index].lstrip("\t") if strip_tabs else lines[index]
            index += 1
            if line.rstrip() == word:
                break
    return index


@dataclass(slots=True)
class _StageDraft:
    """A stage while its instructions are read."""

    line: int
    base: ImageRef
    base_stage: int | None
    name: str | None
    users: list[tuple[int, str]] = field(default_factory=list)
    health: list[tuple[int, str]] = field(default_factory=list)
    exposed: list[tuple[int, str]] = field(default_factory=list)

    def add(self, ins: Instruction) -> None:
        if ins.keyword == "USER" and ins.args:
            self.users.append((ins.line, ins.args.split()[0]))
        elif ins.keyword == "HEALTHCHECK":
            self.health.append((ins.line, ins.args))
        elif ins.keyword == "EXPOSE":
            self.exposed.extend((ins.line, port) for port in ins.args.split())

    def stage(self, index: int) -> Stage:
        health = self.health[-1] if self.health else None
        return Stage(
            index, self.line, self.base, self.base_stage, self.name, tuple(self.users), health, tuple(self.exposed)
        )


def _stages(instructions: list[Instruction], errors: list[tuple[int, str]]) -> list[Stage]:
    global_args: dict[str, str] = {}
    drafts: list[_StageDraft] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            drafts.append(_from(ins, global_args, drafts, errors))
        elif drafts:
            drafts[-1].add(ins)
        elif ins.keyword == "ARG":
            _declare_arg(ins.args, global_args)
        else:
            errors.append((ins.line, f"{ins.keyword} before the first FROM"))
    return [draft.stage(index) for index, draft in enumerate(drafts)]


def _declare_arg(args: str, known: dict[str, str]) -> None:
    name, _, default = args.partition("=")
    if name.strip():
        known[name.strip()] = _unquote(default.strip())


def _from(
    ins: Instruction, args: dict[str, str], earlier: list[_StageDraft], errors: list[tuple[int, str]]
) -> _StageDraft:
    words = [w for w in ins.args.split() if not w.startswith("--")]
    if not words:
        errors.append((ins.line, "FROM without an image"))
        words = [""]
    name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
    image = _substitute(words[0], args)
    base_stage = next((i for i, s in enumerate(earlier) if s.name and s.name.lower() == image.lower()), None)
    return _StageDraft(ins.line, split_image(image), base_stage, name)


def _substitute(text: str, args: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        return args.get(name) or match.group(2) or ""

    return _VARIABLE.sub(value, text)


def _unquote(text: str) -> str:
    try:
        words = shlex.split(text)
    except ValueError:
        return text
    return words[0] if len(words) == 1 else text


def split_image(text: str) -> ImageRef:
    """`registry/name:tag@digest` into its parts."""
    rest, _, digest = text.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        return ImageRef(text, rest[:colon], rest[colon + 1 :] or None, digest or None)
    return ImageRef(text, rest, None, digest or None)
