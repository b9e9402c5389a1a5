"""System design documents: enough designs, each with a diagram, a schema, its API, scalability and trade-offs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from checks._evidence import capped
from checks._parts import ratio
from grader.facts import Facts
from grader.model import Evidence, Location, Verdict
from grader.plugin import check
from grader.probes.design_docs import ASPECT_LABELS, ASPECTS, Design, DesignDocs

SHORT_LABELS = {
    "diagram": "diagram",
    "schema": "schema",
    "api": "API endpoints",
    "scalability": "scalability",
    "tradeoffs": "trade-offs",
}


def _wanted(options: Mapping[str, Any]) -> tuple[str, ...]:
    aspects = tuple(options["aspects"])
    unknown = [a for a in aspects if a not in ASPECTS]
    if unknown or not aspects:
        raise ValueError(f"design.docs option aspects: use some of {', '.join(ASPECTS)}; got {list(aspects)}")
    return aspects


def _gaps(design: Design, wanted: Sequence[str]) -> list[str]:
    """What the design lacks of `wanted`; a diagram that does not parse counts as no diagram."""
    gaps = [a for a in wanted if design.aspect(a) is None]
    if "diagram" in wanted and design.broken and "diagram" not in gaps:
        gaps.insert(0, "diagram")
    return gaps


def _design_evidence(design: Design, wanted: Sequence[str], gaps: Sequence[str]) -> list[Evidence]:
    where = Location(design.path, design.line)
    found = "; ".join(f"{SHORT_LABELS[a.name]}: {a.note}" for a in design.found if a.name in wanted)
    if not gaps:
        evidence = [Evidence(f"{design.title}: complete", where, detail=found or None)]
    else:
        lacks = ", ".join(ASPECT_LABELS[g] for g in gaps)
        evidence = [Evidence(f"{design.title}: missing {lacks}", where, detail=found or None)]
    if "diagram" in wanted:
        evidence += [
            Evidence(
                f"{design.title}: {d.kind} diagram does not parse: {d.problem}"
                if d.kind == "mermaid"
                else f"{design.title}: {d.problem}",
                Location(d.path, d.problem_line or d.line),
            )
            for d in design.broken
        ]
    evidence += [Evidence(n.note, Location(design.path, n.line)) for n in design.notes if n.name in gaps]
    return evidence


@check(
    "design.docs",
    title="{min_designs} system designs, each with every part asked for",
    requires=("docs.designs",),
    defaults={"min_designs": 5, "aspects": list(ASPECTS)},
    threshold="min_designs",
    remediation="Write one Markdown document per system (e.g. `docs/designs/url-shortener.md`), or one `## <System>` "
    "section per system, each with: an architecture diagram (a ```mermaid block that renders, PlantUML, or a "
    "committed image), the database schema (CREATE TABLE statements, an erDiagram or a table of columns and "
    "types), the API endpoints (`POST /urls`, `GET /{code}`...), a `## Scalability` section (how it grows: "
    "caching, sharding, replicas, queues) and a `## Trade-offs` section (what you chose over what, and why). "
    "Check Mermaid at mermaid.live or with `npx @mermaid-js/mermaid-cli`.",
)
def design_docs(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Splits the design documents into designs and checks each for the wanted aspects; Mermaid must parse."""
    docs = facts.get("docs.designs", DesignDocs)
    wanted = _wanted(options)
    need = int(options["min_designs"])
    described = ", ".join(SHORT_LABELS[a] for a in wanted)
    unreadable = [Evidence(f"not read: {u}") for u in docs.unreadable]
    if not docs.designs:
        read = ", ".join(docs.documents[:5]) or "none"
        return Verdict.failed(
            f"no system design found (Markdown under docs/ or designs/; documents read: {read})",
            value=0,
            threshold=need,
            unit="designs",
            evidence=tuple(unreadable),
        )
    rated = [(design, _gaps(design, wanted)) for design in docs.designs]
    complete = [design for design, gaps in rated if not gaps]
    shares = sorted((ratio(len(wanted) - len(gaps), len(wanted)) for _, gaps in rated), reverse=True)
    evidence = [e for design, gaps in rated for e in _design_evidence(design, wanted, gaps)]
    if "diagram" in wanted and any(d.kind == "mermaid" for design in docs.designs for d in design.diagrams):
        evidence.append(Evidence(f"Mermaid diagrams checked with {docs.mermaid_method}"))
    kw: dict[str, Any] = {
        "value": len(complete),
        "threshold": need,
        "unit": "designs",
        "evidence": capped(evidence + unreadable, len(evidence) + len(unreadable), "findings"),
    }
    summary = f"{len(complete)} of {len(docs.designs)} design(s) complete ({described}); {need} needed"
    if len(complete) >= need:
        return Verdict.passed(summary, **kw)
    return Verdict.failed(summary, score=min(1.0, sum(shares[:need]) / need), **kw)
