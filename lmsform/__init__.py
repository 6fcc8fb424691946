"""lmsform: declarative, infrastructure-as-code reconciler for LMS configuration."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lmsform")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
