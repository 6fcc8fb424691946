"""lmsform-simulators: vendor LMS APIs served from memory, for trying lmsform and testing
manifests and providers without an account. `lmsform simulate VENDOR` runs them."""

# Released with lmsform, at lmsform's version (lmsform/__init__.py); a test keeps them equal.
__version__ = "0.1.0"
