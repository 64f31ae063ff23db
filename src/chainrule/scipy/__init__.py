"""`chainrule.scipy`: differentiable counterparts of parts of SciPy (`chainrule.scipy.special`).

SciPy itself is optional: without it the special functions use NumPy fallbacks.
"""
from . import special  # noqa: F401  (chainrule.scipy.special)
