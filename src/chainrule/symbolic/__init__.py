"""A bridge to SymPy: trace chainrule code into expressions, and expressions into code.

Three entry points (SymPy is an optional dependency, ``pip install chainrule[symbolic]``,
imported only when one of them runs):

:func:`to_sympy`
    Runs a numerical function on symbolic tracers and returns the SymPy
    expression of what it computed.  The expression follows the path that
    Python control flow took at the traced point; the conditions that chose
    that path (the *guards*) can be returned too.
:func:`from_sympy`
    Turns a SymPy expression into a chainrule function (built from
    `chainrule.numpy` calls), which can be differentiated to any order,
    evaluated on arrays elementwise, and transformed like any other
    chainrule code.
:func:`compare`
    The n-th derivative of a scalar function at a point by automatic
    differentiation, by SymPy and by finite differences: values, errors
    against SymPy's exact value, sizes and times, as a small table.

Example::

    >>> import chainrule.symbolic as cs
    >>> cs.to_sympy(lambda x, a, b, m: (a * x + b) ** m, "x", "a", "b", "m")
    (a*x + b)**m
    >>> print(cs.compare(lambda x: (2 * x + 1) ** 10, 0.3, order=6))   # doctest: +SKIP
"""
from __future__ import annotations

# One concept per module: `values` (the lazy SymPy import, constants), `rules` (primitive ->
# SymPy rule), `trace` (the tracing interpreter, `to_sympy`), `translate` (`from_sympy`) and
# `compare`.  None of them imports SymPy at import time.
from .compare import Comparison, ComparisonRow, compare
from .rules import SUPPORTED_PRIMITIVES, supported_primitives
from .trace import SymTrace as SymTrace, SymTracer as SymTracer, to_sympy
from .translate import SUPPORTED_SYMPY_FUNCTIONS, from_sympy

# private names kept importable from `chainrule.symbolic`, as before the split
from .rules import _PRIMITIVE_RULES as _PRIMITIVE_RULES, _rules as _rules
from .trace import _count_ops as _count_ops
from .translate import _EXTRA_SYMPY_FUNCTIONS as _EXTRA_SYMPY_FUNCTIONS, _Translator as _Translator
from .values import _const as _const, _sympy as _sympy

__all__ = ["to_sympy", "from_sympy", "compare", "Comparison", "ComparisonRow",
           "SUPPORTED_SYMPY_FUNCTIONS", "SUPPORTED_PRIMITIVES", "supported_primitives"]
