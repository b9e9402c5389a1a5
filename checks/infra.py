"""Infrastructure checks on the Terraform code: it parses, is highly available, is backed up, has a budget."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from checks._evidence import capped
from checks._parts import unmet
from grader.facts import Facts
from grader.model import Evidence, Location, Verdict
from grader.plugin import check
from grader.probes.design_docs import DrDocument, DrPlans
from grader.probes.terraform import TerraformFacts, TfBlock, as_bool, as_number

_LIST_REFERENCE = re.compile(r"\b(var|local)\.([\w-]+)")
_PER_INSTANCE = re.compile(r"count\.index|each\.(key|value)")


@dataclass(slots=True)
class _Part:
    """One sub-criterion of a check: met or not, with the evidence either way."""

    name: str
    ok: bool = False
    evidence: list[Evidence] = field(default_factory=list)


def _shown(value: Any) -> str:
    """A Terraform value as written: `${aws_db_instance.main.id}` shown as `aws_db_instance.main.id`."""
    text = str(value)
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text


def _at(block: TfBlock, attribute: str | None = None) -> Location:
    return Location(block.path, block.line_of(attribute) if attribute else block.line)


def _parse_note(tf: TerraformFacts) -> list[Evidence]:
    if not tf.errors:
        return []
    return [
        Evidence(f"{len(tf.errors)} Terraform file(s) do not parse, so their resources are not counted here"),
        *(Evidence(f"does not parse: {e.message}", Location(e.path, e.line)) for e in tf.errors),
    ]


def _judge(parts: Sequence[_Part], tf: TerraformFacts, what: str, **measured: Any) -> Verdict:
    """Pass when every part is met; otherwise partial credit by the share of parts met.

    The verdict's value is the number of parts met, unless `measured` gives value, threshold and unit.
    """
    evidence = [e for part in parts for e in part.evidence] + _parse_note(tf)
    missing, score = unmet((p.name, p.ok) for p in parts)
    kw: dict[str, Any] = {
        "value": len(parts) - len(missing),
        "threshold": len(parts),
        "unit": "parts",
        "evidence": capped(evidence, len(evidence), "findings"),
        **measured,
    }
    if not missing:
        return Verdict.passed(f"{what}: {', '.join(p.name for p in parts)}", **kw)
    return Verdict.failed(f"{what}: missing {', '.join(missing)}", score=score, **kw)


def _no_terraform(what: str) -> Verdict:
    return Verdict.failed(f"no Terraform (*.tf) files: {what} cannot be read from the repository")


@check(
    "infra.iac",
    title="The infrastructure is code: Terraform that parses",
    requires=("infra.terraform",),
    remediation="Describe the infrastructure in Terraform (`infra/main.tf`, `variables.tf`, `outputs.tf`) and "
    "commit it; run `terraform fmt -check` and `terraform validate` in CI so a file that does not parse never "
    "reaches the main branch.",
)
def iac(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Parses every `*.tf` file with python-hcl2 and counts the resources declared."""
    tf = facts.get("infra.terraform", TerraformFacts)
    if not tf.files:
        return Verdict.failed("no Terraform (*.tf) files in the repository")
    resources = Counter(b.labels[0] for b in tf.blocks if b.kind == "resource" and b.labels)
    listed = ", ".join(f"{kind} x{n}" for kind, n in resources.most_common(10))
    evidence = [Evidence(f"does not parse: {e.message}", Location(e.path, e.line)) for e in tf.errors]
    if resources:
        evidence.append(Evidence(f"{sum(resources.values())} resource(s): {listed}"))
    parsed = len(tf.files) - len(tf.errors)
    kw: dict[str, Any] = {"value": parsed, "threshold": len(tf.files), "unit": "files", "evidence": tuple(evidence)}
    if tf.errors:
        return Verdict.failed(
            f"{len(tf.errors)} of {len(tf.files)} Terraform file(s) do not parse",
            score=parsed / len(tf.files) * (1.0 if resources else 0.5),
            **kw,
        )
    if not resources:
        return Verdict.failed(f"{len(tf.files)} Terraform file(s) parse but declare no resource", score=0.5, **kw)
    return Verdict.passed(f"{len(tf.files)} Terraform file(s) parse; {sum(resources.values())} resource(s)", **kw)


# ---------------------------------------------------------------- high availability


def subnet_zones(tf: TerraformFacts) -> _Part:
    """Subnets spread over at least two availability zones (also via the terraform-aws-modules VPC module)."""
    part = _Part("subnets in 2+ availability zones")
    zones: set[str] = set()
    for subnet in tf.resources("aws_subnet"):
        raw = subnet.body.get("availability_zone", subnet.body.get("availability_zone_id"))
        value = tf.resolve(raw)
        count = tf.instances(subnet)
        found: list[str] = []
        if isinstance(value, str) and not value.startswith("${"):
            found = [value]
        elif isinstance(value, str) and _PER_INSTANCE.search(value):
            listed = _referenced_list(tf, value)
            found = (
                [str(z) for z in listed[: count or len(listed)]]
                if listed
                else [f"{value}[{i}]" for i in range(count or 0)]
            )
        zones.update(found)
        shown = ", ".join(found) if found else f"{_shown(raw)} (not resolved)"
        part.evidence.append(Evidence(f"{subnet.address}: zone(s) {shown}", _at(subnet, "availability_zone")))
    for module in tf.modules("terraform-aws-modules/vpc"):
        azs = tf.resolve(module.body.get("azs"))
        if isinstance(azs, list):
            zones.update(str(z) for z in azs)
            part.evidence.append(Evidence(f"{module.address}: azs {', '.join(map(str, azs))}", _at(module, "azs")))
    part.ok = len(zones) >= 2
    if not part.ok:
        part.evidence.append(Evidence(f"subnets in {len(zones)} availability zone(s); a multi-AZ setup needs 2+"))
    return part


def _referenced_list(tf: TerraformFacts, expression: str) -> list[Any]:
    """The default of the variable or local an expression indexes, e.g. `var.azs[count.index]`."""
    for kind, name in _LIST_REFERENCE.findall(expression):
        value = tf.resolve(f"${{{kind}.{name}}}")
        if isinstance(value, list):
            return value
    return []


def _primaries(tf: TerraformFacts) -> list[TfBlock]:
    return [d for d in tf.resources("aws_db_instance") if not d.body.get("replicate_source_db")]


def _aurora_instances(tf: TerraformFacts) -> int:
    return sum(tf.instances(i) or 1 for i in tf.resources("aws_rds_cluster_instance"))


def database_multi_az(tf: TerraformFacts) -> _Part:
    """An RDS instance with multi_az = true, or an Aurora cluster with two or more instances."""
    part = _Part("a multi-AZ database")
    for db in _primaries(tf):
        multi = as_bool(tf.resolve(db.body.get("multi_az"))) is True
        part.ok = part.ok or multi
        message = "multi_az = true" if multi else "multi_az is not true: one availability zone, no standby"
        part.evidence.append(Evidence(f"{db.address}: {message}", _at(db, "multi_az")))
    clusters = tf.resources("aws_rds_cluster")
    if clusters and _aurora_instances(tf) >= 2:
        part.ok = True
        part.evidence.append(
            Evidence(f"{clusters[0].address}: Aurora with {_aurora_instances(tf)} instances", _at(clusters[0]))
        )
    if not _primaries(tf) and not clusters:
        part.evidence.append(Evidence("no aws_db_instance or aws_rds_cluster"))
    return part


def autoscaling(tf: TerraformFacts) -> _Part:
    """An auto-scaling group that can grow (max > min) with a scaling policy attached (or ECS app autoscaling)."""
    part = _Part("an auto-scaling group with a scaling policy")
    groups = tf.resources("aws_autoscaling_group")
    policies = tf.resources("aws_autoscaling_policy")
    for group in groups:
        low, high = (as_number(tf.resolve(group.body.get(k))) for k in ("min_size", "max_size"))
        grows = low is None or high is None or high > low
        attached = [p for p in policies if _targets(tf, p, group)]
        part.ok = part.ok or (grows and bool(attached))
        size = f"min_size {low:g}, max_size {high:g}" if low is not None and high is not None else "sizes not resolved"
        note = "" if grows else ": it can never scale"
        part.evidence.append(Evidence(f"{group.address}: {size}{note}", _at(group, "max_size")))
        part.evidence += [
            Evidence(f"{p.address} ({p.body.get('policy_type', 'SimpleScaling')}) scales it", _at(p)) for p in attached
        ]
        if not attached:
            part.evidence.append(Evidence(f"no aws_autoscaling_policy targets {group.address}", _at(group)))
    app_targets, app_policies = tf.resources("aws_appautoscaling_target"), tf.resources("aws_appautoscaling_policy")
    if app_targets and app_policies:
        part.ok = True
        part.evidence.append(
            Evidence(f"{app_policies[0].address} scales {app_targets[0].address}", _at(app_policies[0]))
        )
    if not groups and not app_targets:
        part.evidence.append(Evidence("no aws_autoscaling_group (or aws_appautoscaling_target for ECS)"))
    return part


def _targets(tf: TerraformFacts, policy: TfBlock, group: TfBlock) -> bool:
    named = str(policy.body.get("autoscaling_group_name", ""))
    own_name = tf.resolve(group.body.get("name"))
    return group.address in named or (isinstance(own_name, str) and tf.resolve(named) == own_name)


def cdn(tf: TerraformFacts) -> _Part:
    """A CloudFront distribution in front of the static assets."""
    part = _Part("a CloudFront distribution")
    found = tf.resources("aws_cloudfront_distribution")
    part.ok = bool(found)
    part.evidence += [Evidence(f"{d.address}", _at(d)) for d in found]
    if not found:
        part.evidence.append(Evidence("no aws_cloudfront_distribution"))
    return part


def read_replica(tf: TerraformFacts) -> _Part:
    """An RDS read replica (`replicate_source_db`), or Aurora reader instances."""
    part = _Part("a database read replica")
    replicas = [d for d in tf.resources("aws_db_instance") if d.body.get("replicate_source_db")]
    part.evidence += [
        Evidence(f"{r.address} replicates {_shown(r.body['replicate_source_db'])}", _at(r, "replicate_source_db"))
        for r in replicas
    ]
    if tf.resources("aws_rds_cluster") and _aurora_instances(tf) >= 2:
        replicas.append(tf.resources("aws_rds_cluster_instance")[0])
        part.evidence.append(Evidence(f"Aurora cluster with {_aurora_instances(tf)} instances: readers serve reads"))
    part.ok = bool(replicas)
    if not replicas:
        part.evidence.append(Evidence("no aws_db_instance with replicate_source_db (a read replica)"))
    return part


@check(
    "infra.ha",
    title="High availability: multi-AZ subnets and database, auto-scaling, CloudFront, a read replica",
    requires=("infra.terraform",),
    remediation="In Terraform: public and private `aws_subnet`s in at least two availability zones (`count = "
    "length(var.azs)`, `availability_zone = var.azs[count.index]`); `aws_db_instance` with `multi_az = true`; "
    "an `aws_autoscaling_group` (max_size > min_size) across those subnets with an `aws_autoscaling_policy` "
    "(TargetTrackingScaling on CPU or request count); an `aws_cloudfront_distribution` for static assets; and a "
    "read replica (`aws_db_instance` with `replicate_source_db = aws_db_instance.main.identifier`).",
)
def high_availability(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Reads the Terraform resources for each of the five high-availability parts."""
    tf = facts.get("infra.terraform", TerraformFacts)
    if not tf.files:
        return _no_terraform("high availability")
    parts = [subnet_zones(tf), database_multi_az(tf), autoscaling(tf), cdn(tf), read_replica(tf)]
    return _judge(parts, tf, "high availability")


# ---------------------------------------------------------------- backups and disaster recovery


def backups(tf: TerraformFacts) -> _Part:
    """Automated database backups kept at least a day, or an AWS Backup plan."""
    part = _Part("automated backups")
    for db in [*_primaries(tf), *tf.resources("aws_rds_cluster")]:
        raw = db.body.get("backup_retention_period")
        days = as_number(tf.resolve(raw))
        if raw is None and db.labels[0] == "aws_rds_cluster":
            days = 1.0  # Aurora keeps one day by default
        if days is not None and days >= 1:
            part.ok = True
            part.evidence.append(
                Evidence(f"{db.address}: backups kept {days:g} day(s)", _at(db, "backup_retention_period"))
            )
        elif raw is None:
            part.evidence.append(Evidence(f"{db.address}: backup_retention_period not set (set it, e.g. 7)", _at(db)))
        else:
            part.evidence.append(
                Evidence(
                    f"{db.address}: backup_retention_period = {_shown(raw)} keeps no backups",
                    _at(db, "backup_retention_period"),
                )
            )
    plans = [p for p in tf.resources("aws_backup_plan") if p.body.get("rule")]
    part.ok = part.ok or bool(plans)
    part.evidence += [Evidence(f"{p.address}: an AWS Backup plan", _at(p, "rule")) for p in plans]
    if not part.evidence:
        part.evidence.append(Evidence("no database with backup_retention_period and no aws_backup_plan"))
    return part


def _best_plan(plans: DrPlans) -> DrDocument | None:
    def completeness(doc: DrDocument) -> tuple[int, int]:
        return (doc.rto is not None) + (doc.rpo is not None) + (doc.restore is not None), -len(doc.path)

    return max(plans.documents, key=completeness, default=None)


def recovery_plan(plans: DrPlans) -> list[_Part]:
    """A disaster-recovery document, and whether it states an RTO and an RPO."""
    doc = _best_plan(plans)
    document, rto, rpo = _Part("a disaster-recovery document"), _Part("an RTO"), _Part("an RPO")
    if doc is None:
        document.evidence.append(Evidence("no document mentions disaster recovery"))
        return [document, rto, rpo]
    document.ok = True
    steps = f"; restore steps from line {doc.restore}" if doc.restore else "; no restore steps"
    document.evidence.append(Evidence(f"disaster-recovery plan{steps}", Location(doc.path, doc.line)))
    for part, stated, label in ((rto, doc.rto, "recovery time objective"), (rpo, doc.rpo, "recovery point objective")):
        part.ok = stated is not None
        if stated is not None:
            part.evidence.append(Evidence(f"states the {label}", Location(doc.path, stated[0]), detail=stated[1]))
        else:
            part.evidence.append(Evidence(f"does not state the {label} ({part.name[3:]})", Location(doc.path)))
    return [document, rto, rpo]


@check(
    "infra.backups",
    title="Backups are automated and a disaster-recovery plan states its RTO and RPO",
    requires=("infra.terraform", "docs.dr_plan"),
    remediation="Keep automated backups: `backup_retention_period = 7` on the `aws_db_instance` (or an "
    "`aws_backup_plan`). Write `docs/disaster-recovery.md`: what can fail (an AZ, the region, a bad migration, "
    "deleted data), the recovery time objective (RTO, e.g. 1 hour) and recovery point objective (RPO, e.g. 5 "
    "minutes), and the restore steps (point-in-time restore, promoting the read replica, re-applying Terraform), "
    "with the date you last rehearsed them.",
)
def backups_and_recovery(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Backup retention (or an AWS Backup plan) in Terraform, and a DR document with an RTO and an RPO."""
    tf = facts.get("infra.terraform", TerraformFacts)
    plans = facts.get("docs.dr_plan", DrPlans)
    return _judge([backups(tf), *recovery_plan(plans)], tf, "backups and disaster recovery")


# ---------------------------------------------------------------- budget


def _subscribed(tf: TerraformFacts, budget: TfBlock) -> bool:
    notifications = budget.body.get("notification")
    for note in notifications if isinstance(notifications, list) else [notifications]:
        if isinstance(note, dict) and any(
            tf.resolve(note.get(k)) for k in ("subscriber_email_addresses", "subscriber_sns_topic_arns")
        ):
            return True
    return False


def _budget_parts(tf: TerraformFacts, budget: TfBlock, max_usd: float) -> tuple[list[_Part], float | None]:
    def text(attribute: str) -> str:
        return str(tf.resolve(budget.body.get(attribute, ""))).upper()

    amount = as_number(tf.resolve(budget.body.get("limit_amount")))
    kind = _Part("a monthly cost budget in USD")
    kind.ok = (text("budget_type"), text("time_unit"), text("limit_unit")) == ("COST", "MONTHLY", "USD")
    shape = f"{text('budget_type') or '?'} / {text('time_unit') or '?'} / {text('limit_unit') or '?'}"
    kind.evidence.append(Evidence(f"{budget.address}: {shape}", _at(budget, "budget_type")))
    limit = _Part(f"a limit of at most ${max_usd:g}")
    limit.ok = amount is not None and amount <= max_usd
    shown = f"${amount:g}" if amount is not None else _shown(budget.body.get("limit_amount"))
    limit.evidence.append(
        Evidence(f"{budget.address}: limit_amount {shown} (at most ${max_usd:g})", _at(budget, "limit_amount"))
    )
    alert = _Part("an alert to someone")
    alert.ok = _subscribed(tf, budget)
    if not alert.ok:
        alert.evidence.append(Evidence(f"{budget.address}: no notification with a subscriber", _at(budget)))
    return [kind, limit, alert], amount


@check(
    "infra.budget",
    title="An AWS budget caps the monthly cost at ${max_usd}",
    requires=("infra.terraform",),
    defaults={"max_usd": 50},
    threshold="max_usd",
    remediation='Add an `aws_budgets_budget` to the Terraform: `budget_type = "COST"`, `time_unit = '
    '"MONTHLY"`, `limit_amount = "50"`, `limit_unit = "USD"`, with a `notification` block '
    '(`comparison_operator = "GREATER_THAN"`, `threshold = 80`, `threshold_type = "PERCENTAGE"`, '
    '`notification_type = "FORECASTED"`, `subscriber_email_addresses = [var.alert_email]`).',
)
def budget(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Finds the best `aws_budgets_budget`: monthly, COST, in USD, its limit at most max_usd, with a subscriber."""
    tf = facts.get("infra.terraform", TerraformFacts)
    max_usd = float(options["max_usd"])
    if not tf.files:
        return _no_terraform("the budget")
    rated = [_budget_parts(tf, b, max_usd) for b in tf.resources("aws_budgets_budget")]
    if not rated:
        return Verdict.failed(
            "no aws_budgets_budget in the Terraform: nothing watches the monthly cost",
            threshold=max_usd,
            unit="USD",
            evidence=tuple(_parse_note(tf)),
        )
    parts, amount = max(rated, key=lambda r: sum(p.ok for p in r[0]))
    return _judge(parts, tf, "AWS budget", value=amount, threshold=max_usd, unit="USD")
