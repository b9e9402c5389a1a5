"""Design documents read from real Markdown files: split into designs, aspects found, diagrams checked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from grader.probes.design_docs import Design, DesignDocs, find_designs, find_dr_documents
from grader.probes.mermaid import MermaidValidation, structural


def write(root: Path, files: dict[str, str | bytes]) -> tuple[str, ...]:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return tuple(sorted(files))


def judge(diagrams: Sequence[str]) -> MermaidValidation:
    return structural(diagrams, "judged structurally in this test")


def note(design: Design, aspect: str) -> str | None:
    found = design.aspect(aspect)
    return found.note if found else None


def designs_of(root: Path, files: dict[str, str | bytes]) -> DesignDocs:
    return find_designs(root, write(root, files), judge)


WORDS = "This part explains how the system grows with traffic and what we gave up to keep it simple and cheap. "
ONE_FILE_PER_DESIGN = f"""\
---
title: URL shortener
---
URL Shortener
=============

```mermaid
flowchart LR
  a[Client] --> b[API]
```

## Data model

| Column | Type |
| --- | --- |
| code | text |

## API

| Method | Path |
| --- | --- |
| POST | /links |
| GET | /{{code}} |

## Scalability

{WORDS}

## Trade-offs

Too short.

```text
# not a heading
```
"""
THREE_IN_ONE = f"""\
# Designs

Intro text.

## Chat

![architecture](img/chat.png)

CREATE TABLE messages (id bigint);

- `GET /rooms/{{id}}/messages`

### Scaling

{WORDS}

## Booking

![architecture](img/missing.svg)

```plantuml
@startuml
Guest -> API
@enduml
```

```mermaid
erDiagram
  ROOM ||--o{{ BOOKING : has
```

POST /bookings

### Trade-offs

{WORDS}

## Search

![search](https://example.com/search.png)

GET /search?q=

## Glossary

Words only.
"""


def test_one_design_per_file_with_setext_title_front_matter_and_near_misses(tmp_path: Path) -> None:
    docs = designs_of(
        tmp_path,
        {
            "docs/designs/url-shortener.md": ONE_FILE_PER_DESIGN,
            "docs/setup.md": "# Setup\n\nRun `npm ci`.\n",
            "designs/notes.md": "# Notes\n\nPOST /ideas is an idea.\n",
            "README.md": ONE_FILE_PER_DESIGN,  # not under docs/ or designs/
        },
    )
    assert docs.documents == ("designs/notes.md", "docs/designs/url-shortener.md", "docs/setup.md")
    titles = {d.title: d for d in docs.designs}
    assert set(titles) == {"URL Shortener", "Notes"}  # a design folder's file counts with a single aspect
    url = titles["URL Shortener"]
    assert (url.path, url.line) == ("docs/designs/url-shortener.md", 4)
    found = {a.name: (a.line, a.note) for a in url.found}
    assert found == {
        "diagram": (7, "mermaid flowchart diagram"),
        "schema": (14, "a table of columns and types"),
        "api": (22, "2 endpoint(s): POST /links, GET /{code}"),
        "scalability": (25, "'Scalability': 20 words"),
    }
    assert [(n.name, n.line, n.note) for n in url.notes] == [
        ("tradeoffs", 29, "heading 'Trade-offs' has only 2 words under it")
    ]
    assert docs.mermaid_method.startswith("structural check only") and not docs.mermaid_official


def test_sections_covering_three_aspects_are_designs_of_their_own(tmp_path: Path) -> None:
    docs = designs_of(tmp_path, {"docs/system-design.md": THREE_IN_ONE, "docs/img/chat.png": b"\x89PNG\r\n\x1a\n"})
    # Chat and Booking cover three aspects each; Search, with two, is an incomplete design; Glossary is none
    assert [(d.title, d.line) for d in docs.designs] == [("Chat", 5), ("Booking", 17), ("Search", 38)]
    chat, booking, search = docs.designs
    assert {a.name for a in search.found} == {"diagram", "api"} and search.diagrams[0].ok is None  # remote image
    assert {a.name for a in chat.found} == {"diagram", "schema", "api", "scalability"}
    assert chat.diagrams[0].diagram_type == "docs/img/chat.png" and chat.diagrams[0].ok
    assert note(chat, "api") == "1 endpoint(s): GET /rooms/{id}/messages"
    assert {a.name for a in booking.found} == {"diagram", "schema", "api", "tradeoffs"}
    assert (note(booking, "diagram"), note(booking, "schema")) == ("plantuml diagram", "ER diagram")
    (missing,) = booking.broken
    assert (missing.kind, missing.line) == ("image", 19)
    assert missing.problem == "image 'img/missing.svg' is not in the repository"


def test_a_broken_mermaid_block_is_no_diagram_and_points_at_its_line(tmp_path: Path) -> None:
    diagram = "```mermaid\nflowchart LR\n  a[App --> b\n```"
    text = f"# Chat\n\n{diagram}\n\nCREATE TABLE m (id int);\n\nGET /m\n\n## Scaling\n\n{WORDS}"
    docs = designs_of(tmp_path, {"design/chat.md": text})
    (chat,) = docs.designs
    assert chat.aspect("diagram") is None
    (broken,) = chat.broken
    assert (broken.line, broken.problem_line, broken.problem) == (3, 5, "unclosed '['")


def test_unreadable_documents_are_listed_not_fatal(tmp_path: Path) -> None:
    docs = designs_of(tmp_path, {"docs/big.md": "x" * 600_000, "docs/binary.md": b"\x00\x01"})
    assert docs.designs == () and docs.documents == ()
    assert docs.unreadable == ("docs/big.md: larger than 500,000 bytes, not read", "docs/binary.md: a binary file")


def test_disaster_recovery_documents_and_what_they_state(tmp_path: Path) -> None:
    files = write(
        tmp_path,
        {
            "docs/dr.md": "# DR\n\nRecovery time objective: 2 h.\n\n## Restore steps\n\n1. Restore the snapshot.\n",
            "ops/runbook.md": "# Disaster recovery\n\n- RTO: 1 hour\n- RPO: 15 minutes\n",
            "README.md": "# App\n\nSee our disaster recovery plan.\n",
            "docs/other.md": "# Setup\n",
        },
    )
    plans = {d.path: (d.line, d.rto, d.rpo, d.restore) for d in find_dr_documents(tmp_path, files).documents}
    assert plans == {
        "README.md": (3, None, None, None),
        "docs/dr.md": (1, (3, "Recovery time objective: 2 h."), None, 5),
        "ops/runbook.md": (1, (3, "- RTO: 1 hour"), (4, "- RPO: 15 minutes"), None),
    }
