"""Primitives, grouped by family; each module keeps a primitive and all its rules together."""
from . import elementwise, reductions, shape, linalg, decompositions, special  # noqa: F401
