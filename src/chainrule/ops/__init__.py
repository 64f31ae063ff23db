"""Primitives, grouped by family; each module keeps a primitive and its rules together."""
from . import elementwise, reductions, shape, linalg  # noqa: F401
