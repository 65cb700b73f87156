"""The error type of bad input and the limits that value types check: a leaf module, so that the
search space and the environments need not import the run configuration."""

# Arbitrary but generous limits: they exist to refuse typos (10^9 units), not to restrict research.
MAX_STEPS = 100_000_000
MAX_SEED = 2**31 - 1
MAX_WIDTH = 4096
MAX_DEPTH = 8


class ConfigError(ValueError):
    """A run option has a value that is not allowed; the message names what is allowed."""
