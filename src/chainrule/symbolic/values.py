"""SymPy values: the lazy import of SymPy, constants, and numbers read as truth values (and back)."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np


def _sympy():
    """The sympy module, or an ImportError that says how to get it."""
    try:
        import sympy
    except ImportError as exc:  # pragma: no cover - exercised only without sympy
        raise ImportError(
            "chainrule.symbolic needs SymPy, which is not installed; install the extra with "
            "`pip install chainrule[symbolic]` (or `pip install sympy`)") from exc
    return sympy


# ============================================================ constants ===

def _const(v):
    """A SymPy value for a plain Python / NumPy constant (arrays: object arrays).

    Integral floats become Integers, and a float that is exactly a fraction
    with denominator up to 10000 (0.5, 0.25) or is the float nearest one (0.1,
    1/3, 1/6) becomes that Rational, so that constants such as 1.0, 0.5 or
    1/6 read as the exact numbers they stand for; other floats become SymPy
    Floats holding the float's exact binary value.  ``math.pi`` and
    ``math.e`` become ``pi`` and ``E``.
    """
    sp = _sympy()
    if isinstance(v, sp.Basic):
        return v
    if isinstance(v, np.ndarray):
        if v.ndim == 0:
            return _const(v[()])
        out = np.empty(v.shape, dtype=object)
        for idx, item in np.ndenumerate(v):
            out[idx] = _const(item)
        return out
    if isinstance(v, (bool, np.bool_)):
        return sp.true if v else sp.false
    if isinstance(v, (int, np.integer)):
        return sp.Integer(int(v))
    if isinstance(v, (float, np.floating)):
        return _float_const(float(v))
    if isinstance(v, (complex, np.complexfloating)):
        v = complex(v)
        return _float_const(v.real) + sp.I * _float_const(v.imag)
    if isinstance(v, (list, tuple)):
        return _const(np.asarray(v))
    raise TypeError(f"to_sympy: cannot turn a constant of type {type(v).__name__} into a SymPy value")


def _float_const(v: float):
    sp = _sympy()
    if math.isnan(v):
        return sp.nan
    if math.isinf(v):
        return sp.oo if v > 0 else -sp.oo
    if v == math.pi:
        return sp.pi
    if v == math.e:
        return sp.E
    if abs(v) >= 2.0 ** 53:
        return sp.Float(v)
    fr = Fraction(v)
    if fr.denominator > 1024:
        # the float nearest a simple fraction (0.1, 1/3, 1/6) stands for that fraction
        simple = fr.limit_denominator(_MAX_DENOMINATOR)
        if float(simple) == v and abs(simple.numerator) < 2 ** 53:
            fr = simple
    if fr.denominator <= _MAX_DENOMINATOR:
        return sp.Rational(fr.numerator, fr.denominator)
    return sp.Float(v)


_MAX_DENOMINATOR = 10000


def _is_bool(e):
    """A SymPy truth value (relational, And/Or/Not, true/false), not a number."""
    sp = _sympy()
    return isinstance(e, sp.logic.boolalg.Boolean) and not isinstance(e, sp.Expr)


def _num(e):
    """Truth values used as numbers (``(x > 0) * 1.0``) read as 1 or 0."""
    sp = _sympy()
    if _is_bool(e):
        if e == sp.true:
            return sp.Integer(1)
        if e == sp.false:
            return sp.Integer(0)
        return sp.Piecewise((sp.Integer(1), e), (sp.Integer(0), True))
    return e


def _truth(e):
    """Numbers used as truth values read as ``e != 0``."""
    sp = _sympy()
    if _is_bool(e):
        return e
    return sp.Ne(e, 0)
