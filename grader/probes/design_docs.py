"""Markdown documents: the system designs (diagram, schema, API, scalability, trade-offs) and a disaster-recovery plan.

Designs are read from Markdown files under a docs or design folder (or named like `*design*.md`).
A file holds one design, unless at some heading level it has two or more sections that each
cover at least three aspects: then each section of that level covering two or more is a design
(`## URL Shortener`, `## Rate Limiter`, ...). Mermaid blocks are validated (see :mod:`grader.probes.mermaid`).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.facts import ProbeContext
from grader.plugin import probe
from grader.probes.mermaid import MermaidResult, MermaidValidation, is_er_diagram, validate
from grader.probes.repo import RepoFacts
from grader.probes.text_files import TextFile, line_text, read_text

DOC_SUFFIXES = (".md", ".markdown", ".mdx")
DESIGN_DIRS = frozenset(
    {"design", "designs", "system-design", "system-designs", "system_design", "system_designs", "architecture"}
)
DOC_DIRS = DESIGN_DIRS | {"docs", "doc", "documentation"}
ASPECTS = ("diagram", "schema", "api", "scalability", "tradeoffs")
ASPECT_LABELS = {
    "diagram": "an architecture diagram",
    "schema": "a database schema",
    "api": "API endpoints",
    "scalability": "a Scalability section",
    "tradeoffs": "a Trade-offs section",
}
MIN_SECTION_WORDS = 15  # a Scalability or Trade-offs heading needs this much text under it
_SPLIT_MIN_ASPECTS = 3  # a section covering this many aspects is a design of its own
_VENDORED = frozenset({"node_modules", "dist", "build", "coverage", "vendor"})

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)")
_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|<img\b[^>]*\bsrc\s*=\s*[\"']([^\"']+)")
_CREATE_TABLE = re.compile(r"\bCREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?[\"`\[]?([\w.]+)", re.I)
_ENDPOINT = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE)\b[\s|`*:]*(/[\w{}:./\-?=&<>]*)")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_LIST_ITEM = re.compile(r"^\s*([-*+]|\d+[.)])\s+\S")
_SCHEMA_HEADING = re.compile(r"schema|data\s*model|database|\btables?\b|storage|data\s*layout|collections?", re.I)
_API_HEADING = re.compile(r"\bapis?\b|endpoints?|interfaces?|websocket|grpc|\bevents\b", re.I)
_SCALABILITY_HEADING = re.compile(r"scal(ab|e|ing)", re.I)
_TRADEOFF_HEADING = re.compile(r"trade[\s-]?offs?|alternatives|design\s+decisions|pros\s+and\s+cons", re.I)
_WORD = re.compile(r"[A-Za-z0-9][\w'-]*")


@dataclass(frozen=True, slots=True)
class Aspect:
    """One part of a design that was found, where, and what it is."""

    name: str  # one of ASPECTS
    line: int
    note: str  # e.g. "CREATE TABLE urls", "4 endpoints (GET /{code}, ...)"


@dataclass(frozen=True, slots=True)
class Diagram:
    """A diagram in a design: a Mermaid or PlantUML block, or an image."""

    path: str
    line: int
    kind: str  # mermaid, plantuml, graphviz, d2, image
    diagram_type: str | None  # Mermaid's diagram type (flowchart, sequence, er...) or the image target
    ok: bool | None  # None: present but not validated (PlantUML, Graphviz, D2, remote images)
    problem: str | None
    problem_line: int | None = None  # the file line the problem is on, when known


@dataclass(frozen=True, slots=True)
class Design:
    """One system design and the aspects found in it."""

    title: str
    path: str
    line: int
    found: tuple[Aspect, ...]
    diagrams: tuple[Diagram, ...]
    notes: tuple[Aspect, ...] = ()  # near misses, e.g. a Trade-offs heading with almost no text

    def aspect(self, name: str) -> Aspect | None:
        """The aspect found under this name, if any."""
        return next((a for a in self.found if a.name == name), None)

    @property
    def broken(self) -> tuple[Diagram, ...]:
        """Diagrams that do not parse or whose image is missing."""
        return tuple(d for d in self.diagrams if d.ok is False)


@dataclass(frozen=True, slots=True)
class DesignDocs:
    """The design documents read, the designs found in them, and how Mermaid was checked."""

    documents: tuple[str, ...]
    designs: tuple[Design, ...]
    mermaid_method: str
    mermaid_official: bool  # Mermaid's own parser judged the diagrams (else a structural check)
    unreadable: tuple[str, ...] = ()  # "path: why"


@dataclass(frozen=True, slots=True)
class DrDocument:
    """A document about disaster recovery and what it states."""

    path: str
    line: int  # the first mention of disaster recovery
    rto: tuple[int, str] | None  # (line, text) stating the recovery time objective
    rpo: tuple[int, str] | None  # (line, text) stating the recovery point objective
    restore: int | None  # the line of the first restore step


@dataclass(frozen=True, slots=True)
class DrPlans:
    """Every document that talks about disaster recovery."""

    documents: tuple[DrDocument, ...]


# ---------------------------------------------------------------- Markdown structure


@dataclass(frozen=True, slots=True)
class _Heading:
    level: int
    text: str
    index: int  # 0-based line index


@dataclass(frozen=True, slots=True)
class _Fence:
    start: int  # index of the opening fence line
    end: int  # index of the closing fence line (or the last line)
    info: str
    body: str


@dataclass(frozen=True, slots=True)
class _Markdown:
    path: str
    lines: tuple[str, ...]
    headings: tuple[_Heading, ...]
    fences: tuple[_Fence, ...]
    fenced: frozenset[int]  # indexes of lines inside fences, fence lines included

    def section_end(self, heading: _Heading) -> int:
        """The index where the heading's section ends (the next heading of its level or higher)."""
        later = (h.index for h in self.headings if h.index > heading.index and h.level <= heading.level)
        return next(later, len(self.lines))

    def prose(self, lo: int, hi: int) -> Iterator[tuple[int, str]]:
        """(index, line) of the lines outside code fences in [lo, hi)."""
        return ((i, self.lines[i]) for i in range(lo, hi) if i not in self.fenced)


def parse_markdown(path: str, text: str) -> _Markdown:
    """Headings (ATX and setext) and fenced code blocks of a Markdown text, front matter skipped."""
    lines = tuple(text.splitlines())
    start = 0
    if lines and lines[0].strip() == "---":
        start = next((i + 1 for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), 0)
    headings: list[_Heading] = []
    fences: list[_Fence] = []
    fenced: set[int] = set(range(start))
    i = start
    while i < len(lines):
        line = lines[i]
        if (fence := _FENCE.match(line)) is not None:
            marker = fence.group(1)
            close = re.compile(rf"^ {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}\s*$")
            end = next((j for j in range(i + 1, len(lines)) if close.match(lines[j])), len(lines) - 1)
            fences.append(_Fence(i, end, fence.group(2).lower(), "\n".join(lines[i + 1 : end])))
            fenced.update(range(i, end + 1))
            i = end + 1
            continue
        if (atx := _ATX.match(line)) is not None:
            headings.append(_Heading(len(atx.group(1)), atx.group(2).strip(), i))
        elif _SETEXT.match(line) and _setext_title(lines, i, fenced, headings):
            headings.append(_Heading(1 if line.strip()[0] == "=" else 2, lines[i - 1].strip(), i - 1))
        i += 1
    return _Markdown(path, lines, tuple(headings), tuple(fences), frozenset(fenced))


def _setext_title(lines: Sequence[str], i: int, fenced: set[int], headings: list[_Heading]) -> bool:
    """Whether the line above an `===`/`---` underline is a paragraph line (so this is a heading, not a rule)."""
    if i == 0 or i - 1 in fenced or any(h.index == i - 1 for h in headings):
        return False
    above = lines[i - 1].strip()
    return bool(above) and not _TABLE_ROW.match(above) and not _LIST_ITEM.match(above) and not above.startswith(">")


# ---------------------------------------------------------------- aspects


@dataclass(frozen=True, slots=True)
class _Reader:
    """Finds aspects in ranges of one document, knowing the repository's files and the Mermaid verdicts."""

    doc: _Markdown
    files: frozenset[str]
    mermaid: Mapping[tuple[str, int], MermaidResult]  # (path, fence start index) -> verdict

    def diagrams(self, lo: int, hi: int) -> list[Diagram]:
        found = [d for f in self.doc.fences if lo <= f.start < hi and (d := self._fenced_diagram(f)) is not None]
        for index, line in self.doc.prose(lo, hi):
            for match in _IMAGE.finditer(line):
                found.append(self._image(index, match.group(1) or match.group(2)))
        return sorted(found, key=lambda d: d.line)

    def _fenced_diagram(self, fence: _Fence) -> Diagram | None:
        line = fence.start + 1
        if fence.info == "mermaid":
            result = self.mermaid.get((self.doc.path, fence.start))
            if result is None:
                return Diagram(self.doc.path, line, "mermaid", None, None, None)
            if result.ok:
                return Diagram(self.doc.path, line, "mermaid", result.diagram_type, True, None)
            at = min(line + result.error_line, fence.end) if result.error_line else None
            problem = re.sub(r"\bon line (\d+)", r"on diagram line \1", result.error or "does not parse")
            return Diagram(self.doc.path, line, "mermaid", result.diagram_type, False, problem, at)
        if fence.info in ("plantuml", "puml") or fence.body.lstrip().startswith("@startuml"):
            if "@startuml" in fence.body and "@enduml" not in fence.body:
                return Diagram(self.doc.path, line, "plantuml", None, False, "@startuml without @enduml")
            return Diagram(self.doc.path, line, "plantuml", None, None, None)
        if fence.info in ("dot", "graphviz", "d2"):
            return Diagram(self.doc.path, line, "graphviz" if fence.info != "d2" else "d2", None, None, None)
        return None

    def _image(self, index: int, target: str) -> Diagram:
        line = index + 1
        if re.match(r"^[a-z][\w+.-]*:", target, re.I):
            return Diagram(self.doc.path, line, "image", target, None, None)
        clean = target.split("#")[0].split("?")[0]
        base = posixpath.dirname(self.doc.path)
        resolved = posixpath.normpath(clean.lstrip("/") if clean.startswith("/") else posixpath.join(base, clean))
        if resolved in self.files:
            return Diagram(self.doc.path, line, "image", resolved, True, None)
        return Diagram(self.doc.path, line, "image", target, False, f"image {target!r} is not in the repository")

    def aspects(self, lo: int, hi: int) -> tuple[list[Aspect], list[Aspect]]:
        """(found, near misses) in the lines [lo, hi)."""
        found: list[Aspect] = []
        notes: list[Aspect] = []
        for detect in (self._diagram, self._schema, self._api, self._scalability, self._tradeoffs):
            aspect, note = detect(lo, hi)
            found += [aspect] if aspect else []
            notes += [note] if note else []
        return found, notes

    def _diagram(self, lo: int, hi: int) -> tuple[Aspect | None, Aspect | None]:
        usable = [d for d in self.diagrams(lo, hi) if d.ok is not False and not is_er_diagram(d.diagram_type)]
        if not usable:
            return None, None
        first = usable[0]
        kind = f"{first.kind} {first.diagram_type}" if first.kind == "mermaid" and first.diagram_type else first.kind
        return Aspect("diagram", first.line, f"{kind} diagram"), None

    def _schema(self, lo: int, hi: int) -> tuple[Aspect | None, Aspect | None]:
        for index in range(lo, hi):
            if (create := _CREATE_TABLE.search(self.doc.lines[index])) is not None:
                return Aspect("schema", index + 1, f"CREATE TABLE {create.group(1)}"), None
        er = [d for d in self.diagrams(lo, hi) if d.ok is not False and is_er_diagram(d.diagram_type)]
        if er:
            return Aspect("schema", er[0].line, "ER diagram"), None
        for index, line in self.doc.prose(lo, hi):
            cells = line.lower()
            if _TABLE_ROW.match(line) and re.search(r"column|field|attribute|\bkey\b", cells) and "type" in cells:
                return Aspect("schema", index + 1, "a table of columns and types"), None
        return self._heading_with_content("schema", _SCHEMA_HEADING, lo, hi)

    def _api(self, lo: int, hi: int) -> tuple[Aspect | None, Aspect | None]:
        endpoints: dict[tuple[str, str], int] = {}
        for index in range(lo, hi):
            for match in _ENDPOINT.finditer(self.doc.lines[index]):
                endpoints.setdefault((match.group(1), match.group(2)), index + 1)
        if endpoints:
            shown = ", ".join(f"{m} {p}" for m, p in list(endpoints)[:3]) + (", ..." if len(endpoints) > 3 else "")
            return Aspect("api", min(endpoints.values()), f"{len(endpoints)} endpoint(s): {shown}"), None
        return self._heading_with_content("api", _API_HEADING, lo, hi)

    def _scalability(self, lo: int, hi: int) -> tuple[Aspect | None, Aspect | None]:
        return self._heading_with_words("scalability", _SCALABILITY_HEADING, lo, hi)

    def _tradeoffs(self, lo: int, hi: int) -> tuple[Aspect | None, Aspect | None]:
        return self._heading_with_words("tradeoffs", _TRADEOFF_HEADING, lo, hi)

    def _headings(self, pattern: re.Pattern[str], lo: int, hi: int) -> list[_Heading]:
        return [h for h in self.doc.headings if lo <= h.index < hi and pattern.search(h.text)]

    def _heading_with_content(
        self, name: str, pattern: re.Pattern[str], lo: int, hi: int
    ) -> tuple[Aspect | None, Aspect | None]:
        """A matching heading whose section holds a code block, a table or a list."""
        for heading in self._headings(pattern, lo, hi):
            end = min(self.doc.section_end(heading), hi)
            fenced = any(heading.index < f.start < end for f in self.doc.fences)
            prose = self.doc.prose(heading.index + 1, end)
            structured = any(_TABLE_ROW.match(text) or _LIST_ITEM.match(text) for _, text in prose)
            if fenced or structured:
                return Aspect(name, heading.index + 1, f"under heading {heading.text!r}"), None
        return None, None

    def _heading_with_words(
        self, name: str, pattern: re.Pattern[str], lo: int, hi: int
    ) -> tuple[Aspect | None, Aspect | None]:
        """A matching heading with at least MIN_SECTION_WORDS words of text under it."""
        near_miss = None
        for heading in self._headings(pattern, lo, hi):
            end = min(self.doc.section_end(heading), hi)
            words = sum(len(_WORD.findall(text)) for _, text in self.doc.prose(heading.index + 1, end))
            if words >= MIN_SECTION_WORDS:
                return Aspect(name, heading.index + 1, f"{heading.text!r}: {words} words"), None
            near_miss = Aspect(name, heading.index + 1, f"heading {heading.text!r} has only {words} words under it")
        return None, near_miss


# ---------------------------------------------------------------- designs


@probe("docs.designs", timeout_s=480)
def design_documents(ctx: ProbeContext) -> DesignDocs:
    """Read the Markdown design documents, split them into designs, find each design's aspects, check Mermaid."""
    repo = ctx.fact("repo", RepoFacts)
    return find_designs(repo.root, repo.files, lambda diagrams: validate(diagrams, ctx.scratch))


MermaidJudge = Callable[[Sequence[str]], MermaidValidation]


def find_designs(root: Path, files: Sequence[str], judge: MermaidJudge) -> DesignDocs:
    """The designs in the Markdown documents among `files`; `judge` validates all Mermaid blocks at once."""
    candidates = [f for f in files if _is_design_candidate(f)]
    read = [read_text(root, f) for f in candidates]
    unreadable = tuple(f"{r.path}: {r.problem}" for r in read if r.text is None)
    docs = [parse_markdown(r.path, r.text) for r in read if r.text is not None]
    blocks = [(d.path, f.start, f.body) for d in docs for f in d.fences if f.info == "mermaid"]
    verdict = judge([body for _, _, body in blocks])
    mermaid = {(path, start): result for (path, start, _), result in zip(blocks, verdict.results, strict=True)}
    known = frozenset(files)
    designs = [design for doc in docs for design in _designs(_Reader(doc, known, mermaid))]
    return DesignDocs(tuple(d.path for d in docs), tuple(designs), verdict.method, verdict.official, unreadable)


def _is_design_candidate(path: str) -> bool:
    *dirs, name = path.split("/")
    if not name.lower().endswith(DOC_SUFFIXES) or _VENDORED.intersection(dirs):
        return False
    return bool(DOC_DIRS.intersection(d.lower() for d in dirs)) or "design" in name.lower()


def _in_design_dir(path: str) -> bool:
    return bool(DESIGN_DIRS.intersection(d.lower() for d in path.split("/")[:-1])) or "design" in path.lower()


def _designs(reader: _Reader) -> list[Design]:
    """Split one document into designs (see the module docstring)."""
    doc = reader.doc
    for level in sorted({h.level for h in doc.headings}):
        ends = [(h, doc.section_end(h)) for h in doc.headings if h.level == level]
        sections = [(h, end, len(reader.aspects(h.index, end)[0])) for h, end in ends]
        if sum(covered >= _SPLIT_MIN_ASPECTS for _, _, covered in sections) >= 2:
            # an incomplete design among them still counts (with what it lacks); an intro or glossary does not
            return [_design(reader, h.text, h.index, end) for h, end, covered in sections if covered >= 2]
    found, _ = reader.aspects(0, len(doc.lines))
    if len(found) >= 2 or (found and _in_design_dir(doc.path)):
        title = doc.headings[0].text if doc.headings else PurePosixPath(doc.path).stem
        return [_design(reader, title, doc.headings[0].index if doc.headings else 0, len(doc.lines))]
    return []


def _design(reader: _Reader, title: str, lo: int, hi: int) -> Design:
    found, notes = reader.aspects(lo, hi)
    return Design(title, reader.doc.path, lo + 1, tuple(found), tuple(reader.diagrams(lo, hi)), tuple(notes))


# ---------------------------------------------------------------- disaster recovery

_DR_SUFFIXES = (*DOC_SUFFIXES, ".rst", ".txt", ".adoc")
_DR_MENTION = re.compile(r"disaster[\s_-]+recovery|\bDR\s+(plan|runbook|strategy|procedure)", re.I)
_DR_NAME = re.compile(r"disaster|(^|[-_.])dr([-_.]|$)|recovery|runbook", re.I)
_RTO = re.compile(r"\bRTO\b|recovery\s+time\s+objective", re.I)
_RPO = re.compile(r"\bRPO\b|recovery\s+point\s+objective", re.I)
_RESTORE_HEADING = re.compile(
    r"^ {0,3}#{1,6}\s.*(restor|recovery\s+(steps|procedure)|runbook|fail\s*over)", re.I | re.M
)
_RESTORE = re.compile(r"\brestor(e|ing|ation)\b|\bfail\s*over\b|\bpromote\b", re.I)


@probe("docs.dr_plan", timeout_s=60)
def disaster_recovery_documents(ctx: ProbeContext) -> DrPlans:
    """Find documents about disaster recovery and whether they state an RTO, an RPO and restore steps."""
    repo = ctx.fact("repo", RepoFacts)
    return find_dr_documents(repo.root, repo.files)


def find_dr_documents(root: Path, files: Sequence[str]) -> DrPlans:
    """The documents among `files` that mention disaster recovery (or are named for it)."""
    found = []
    for path in files:
        *dirs, name = path.split("/")
        if not name.lower().endswith(_DR_SUFFIXES) or _VENDORED.intersection(dirs):
            continue
        file = read_text(root, path)
        if file.text is None:
            continue
        mention = _DR_MENTION.search(file.text)
        if mention is None and not _DR_NAME.search(PurePosixPath(name).stem):
            continue
        found.append(
            DrDocument(
                path,
                file.line_of(mention.start()) if mention else 1,
                _first(file, _RTO),
                _first(file, _RPO),
                (spot[0] if (spot := _first(file, _RESTORE_HEADING) or _first(file, _RESTORE)) else None),
            )
        )
    return DrPlans(tuple(found))


def _first(file: TextFile, pattern: re.Pattern[str]) -> tuple[int, str] | None:
    """(line, the line's text trimmed) of the first match of `pattern`."""
    text = file.text or ""
    match = pattern.search(text)
    if match is None:
        return None
    return file.line_of(match.start()), line_text(text, match.start())[:160]
