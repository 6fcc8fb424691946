"""lmsform: declarative, infrastructure-as-code reconciler for LMS configuration."""

# The one place the version is written: pyproject.toml reads it from here, and reading it here
# costs nothing at start-up (importlib.metadata would take a twentieth of a second).
__version__ = "0.1.0"
