"""An open-model HTTP load generator: scheduled sends, latency from the intended send time, HdrHistogram.

Use :func:`run_load` with a :class:`LoadPlan`; it runs the generator in a child process and returns
a :class:`LoadResult`. :func:`run_locustfile` runs a learner's own locustfile as a scenario.
"""

from grader.loadgen.locust_runner import run_locustfile
from grader.loadgen.plan import LoadPlan, Request
from grader.loadgen.result import LoadResult
from grader.loadgen.runner import LoadGenError, run_load

__all__ = ["LoadGenError", "LoadPlan", "LoadResult", "Request", "run_load", "run_locustfile"]
