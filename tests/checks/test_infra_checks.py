"""Infrastructure checks judged on Terraform facts built from HCL text (parse_blocks does no I/O)."""

from __future__ import annotations

from checks.infra import backups_and_recovery, budget, high_availability, iac
from grader.facts import Facts
from grader.model import Outcome, Verdict
from grader.plugin import CheckFunc
from grader.probes.design_docs import DrDocument, DrPlans
from grader.probes.terraform import TerraformFacts, TfParseError, parse_blocks

HA = """\
variable "azs" { default = ["us-east-1a", "us-east-1b"] }

resource "aws_subnet" "private" {
  count             = length(var.azs)
  availability_zone = var.azs[count.index]
}

resource "aws_db_instance" "main" {
  multi_az                = true
  backup_retention_period = 7
}

resource "aws_db_instance" "replica" {
  replicate_source_db = aws_db_instance.main.identifier
}

resource "aws_autoscaling_group" "app" {
  min_size = 2
  max_size = 6
}

resource "aws_autoscaling_policy" "cpu" {
  autoscaling_group_name = aws_autoscaling_group.app.name
  policy_type            = "TargetTrackingScaling"
}

resource "aws_cloudfront_distribution" "cdn" {
  enabled = true
}
"""
SINGLE_AZ = """\
resource "aws_subnet" "a" { availability_zone = "us-east-1a" }
resource "aws_subnet" "b" { availability_zone = "us-east-1a" }
resource "aws_db_instance" "main" {
  backup_retention_period = 0
}
resource "aws_autoscaling_group" "app" {
  min_size = 1
  max_size = 1
}
resource "aws_autoscaling_policy" "cpu" {
  autoscaling_group_name = aws_autoscaling_group.app.name
}
"""
BUDGET = """\
variable "cap" { default = 40 }
resource "aws_budgets_budget" "monthly" {
  budget_type  = "COST"
  limit_amount = var.cap
  limit_unit   = "USD"
  time_unit    = "MONTHLY"
  notification {
    comparison_operator        = "GREATER_THAN"
    subscriber_email_addresses = ["ops@example.com"]
  }
}
"""
DR = DrDocument("docs/dr.md", 1, (4, "RTO: 1 hour"), (5, "RPO: 5 minutes"), 8)


def terraform(*texts: str, errors: tuple[TfParseError, ...] = ()) -> TerraformFacts:
    files = tuple(f"infra/{i}.tf" for i in range(len(texts))) + tuple(e.path for e in errors)
    blocks = tuple(b for i, text in enumerate(texts) for b in parse_blocks(f"infra/{i}.tf", text))
    return TerraformFacts(files, blocks, errors)


def judged(check: CheckFunc, tf: TerraformFacts, plans: DrPlans | None = None, **options: object) -> Verdict:
    return check(Facts({"infra.terraform": tf, "docs.dr_plan": plans or DrPlans(())}), options)


def messages(verdict: Verdict) -> list[str]:
    return [f"{e.message} @ {e.location}" for e in verdict.evidence]


def test_iac_fails_each_file_that_does_not_parse_and_passes_parsed_resources() -> None:
    error = TfParseError("infra/cdn.tf", 14, "line 14, column 3: unexpected '}'")
    broken = judged(iac, terraform(HA, errors=(error,)))
    assert (broken.outcome, broken.score, broken.value, broken.threshold) == (Outcome.FAIL, 0.5, 1, 2)
    assert "does not parse: line 14, column 3: unexpected '}' @ infra/cdn.tf:14" in messages(broken)
    assert judged(iac, terraform(HA)).outcome is Outcome.PASS
    assert judged(iac, terraform('variable "x" {}')).score == 0.5  # parses, but declares nothing
    assert judged(iac, TerraformFacts((), (), ())).summary == "no Terraform (*.tf) files in the repository"


def test_high_availability_passes_every_part_and_names_where() -> None:
    verdict = judged(high_availability, terraform(HA))
    assert verdict.outcome is Outcome.PASS, verdict.summary
    found = messages(verdict)
    assert "aws_subnet.private: zone(s) us-east-1a, us-east-1b @ infra/0.tf:5" in found
    assert "aws_db_instance.main: multi_az = true @ infra/0.tf:9" in found
    assert "aws_db_instance.replica replicates aws_db_instance.main.identifier @ infra/0.tf:14" in found
    assert "aws_autoscaling_policy.cpu (TargetTrackingScaling) scales it @ infra/0.tf:22" in found


def test_high_availability_gives_credit_part_by_part_with_reasons() -> None:
    error = TfParseError("infra/cdn.tf", 3, "unexpected end of file")
    verdict = judged(high_availability, terraform(SINGLE_AZ, errors=(error,)))
    assert (verdict.outcome, verdict.score) == (Outcome.FAIL, 0.0)
    found = messages(verdict)
    assert "subnets in 1 availability zone(s); a multi-AZ setup needs 2+ @ None" in found
    assert "aws_db_instance.main: multi_az is not true: one availability zone, no standby @ infra/0.tf:3" in found
    assert "aws_autoscaling_group.app: min_size 1, max_size 1: it can never scale @ infra/0.tf:8" in found
    assert "1 Terraform file(s) do not parse, so their resources are not counted here @ None" in found
    modules = 'module "vpc" {\n  source = "terraform-aws-modules/vpc/aws"\n  azs = ["a", "b", "c"]\n}\n'
    assert judged(high_availability, terraform(SINGLE_AZ, modules)).score == 0.2  # the VPC module spans 3 AZs


def test_backups_need_retention_and_a_plan_with_rto_and_rpo() -> None:
    assert judged(backups_and_recovery, terraform(HA), DrPlans((DR,))).outcome is Outcome.PASS
    no_plan = judged(backups_and_recovery, terraform(SINGLE_AZ), DrPlans(()))
    assert (no_plan.outcome, no_plan.score) == (Outcome.FAIL, 0.0)
    assert "aws_db_instance.main: backup_retention_period = 0 keeps no backups @ infra/0.tf:4" in messages(no_plan)
    vague = DrDocument("README.md", 3, None, None, None)
    backup_plan = 'resource "aws_backup_plan" "p" {\n  rule {\n    rule_name = "daily"\n  }\n}\n'
    partial = judged(backups_and_recovery, terraform(backup_plan), DrPlans((vague,)))
    assert (partial.outcome, partial.score) == (Outcome.FAIL, 0.5)
    assert "does not state the recovery time objective (RTO) @ README.md" in messages(partial)


def test_budget_within_the_limit_with_a_subscriber_passes_and_reports_the_amount() -> None:
    verdict = judged(budget, terraform(BUDGET), max_usd=50)
    assert (verdict.outcome, verdict.value, verdict.threshold, verdict.unit) == (Outcome.PASS, 40.0, 50.0, "USD")
    over = judged(budget, terraform(BUDGET), max_usd=30)
    assert (over.outcome, over.score) == (Outcome.FAIL, 2 / 3)
    assert "aws_budgets_budget.monthly: limit_amount $40 (at most $30) @ infra/0.tf:4" in messages(over)
    silent = BUDGET.replace('    subscriber_email_addresses = ["ops@example.com"]\n', "")
    assert judged(budget, terraform(silent), max_usd=50).score == 2 / 3
    none = judged(budget, terraform(HA), max_usd=50)
    assert (none.outcome, none.score) == (Outcome.FAIL, 0.0)
    assert none.summary == "no aws_budgets_budget in the Terraform: nothing watches the monthly cost"
