"""One exception type per seam; the CLI is the only place that catches them."""


class GraderError(Exception):
    """Base of every error the grader raises on purpose."""

    exit_code = 3


class UsageError(GraderError):
    """Bad input from the user: a missing path, an unknown phase or check id."""

    exit_code = 2


class CurriculumError(UsageError):
    """The curriculum file (or an override of it) is malformed."""


class ConfigError(UsageError):
    """The learner's grade.toml is malformed."""


class ProbeError(GraderError):
    """A probe could not gather its fact (the grader's fault, not the learner's)."""


class ReporterError(GraderError):
    """A report could not be written."""
