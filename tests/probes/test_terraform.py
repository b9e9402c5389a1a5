"""Terraform files parsed with python-hcl2: blocks with lines, variables resolved, parse errors located."""

from __future__ import annotations

from pathlib import Path

from grader.probes.terraform import as_bool, as_number, parse_terraform

MAIN = """\
variable "azs" {
  default = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
}

locals {
  budget = var.monthly
}

variable "monthly" { default = 40 }

# subnets, one per zone
resource "aws_subnet" "private" {
  count             = length(var.azs)
  availability_zone = var.azs[count.index]
  cidr_block        = cidrsubnet("10.0.0.0/16", 8, count.index)
}

resource aws_vpc main {
  cidr_block = "10.0.0.0/16"
  tags = { Name = "main" }
  lifecycle {
    prevent_destroy = true
  }
}

module "vpc" {
  source = "terraform-aws-modules/vpc/aws"
  azs    = ["a", "b"]
}
"""


def write(root: Path, files: dict[str, str | bytes]) -> tuple[str, ...]:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return tuple(sorted(files))


def test_blocks_keep_their_lines_and_references_resolve(tmp_path: Path) -> None:
    tf = parse_terraform(tmp_path, write(tmp_path, {"infra/main.tf": MAIN, "infra/notes.md": "not terraform"}))
    assert tf.files == ("infra/main.tf",) and tf.errors == ()
    assert [(b.address, b.line) for b in tf.blocks] == [
        ("variable.azs", 1),
        ("locals", 5),
        ("variable.monthly", 9),
        ("aws_subnet.private", 12),
        ("aws_vpc.main", 18),
        ("module.vpc", 26),
    ]
    (subnet,) = tf.resources("aws_subnet")
    assert subnet.line_of("availability_zone") == 14 and subnet.line_of("absent") == 12
    assert tf.instances(subnet) == 3
    assert tf.resolve(subnet.body["availability_zone"]) == "${var.azs[count.index]}"  # indexing is not followed
    assert tf.resolve("${local.budget}") == 40 and tf.resolve("${var.azs}")[0] == "eu-west-1a"
    (vpc,) = tf.resources("aws_vpc")
    assert vpc.body["tags"] == {"Name": "main"} and vpc.line_of("lifecycle") == 21
    assert [m.address for m in tf.modules("terraform-aws-modules/vpc")] == ["module.vpc"]


def test_files_that_do_not_parse_are_errors_with_lines_and_the_rest_still_count(tmp_path: Path) -> None:
    files = {
        "good.tf": 'resource "aws_s3_bucket" "b" {\n  bucket = "x"\n}\n',
        "missing_value.tf": 'resource "x" "y" {\n  a = \n}\n',
        "unclosed.tf": 'resource "x" "y" {\n  a = [1, 2\n}\n',
        "truncated.tf": 'resource "x" "y" {\n  a = 1\n',
        "binary.tf": b"\x00\x01\x02",
        "deep.tf": "a = " + "[" * 3000,
        ".terraform/modules/vendored.tf": "broken {",
    }
    tf = parse_terraform(tmp_path, write(tmp_path, files))
    assert [b.address for b in tf.blocks] == ["aws_s3_bucket.b"]
    errors = {e.path: (e.line, e.message) for e in tf.errors}
    assert set(errors) == {"missing_value.tf", "unclosed.tf", "truncated.tf", "binary.tf", "deep.tf"}
    unclosed = "line 3, column 1: unexpected '}', expected one of: COMMA, NL_OR_COMMENT, RSQB"
    assert errors["unclosed.tf"] == (3, unclosed)
    assert errors["truncated.tf"] == (3, "line 3, column 1: unexpected end of file, expected one of: RBRACE")
    assert errors["binary.tf"] == (None, "not read: a binary file")


def test_numbers_and_booleans_from_terraform_values() -> None:
    assert [as_number(v) for v in (50, "50", " 49.5 ", "${var.x}", True, None)] == [50.0, 50.0, 49.5, None, None, None]
    assert [as_bool(v) for v in (True, "true", "False", "yes", 1)] == [True, True, False, None, None]
