"""grade: grade a learner's backend project against a curriculum phase, with evidence."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("grade")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
