"""Hashable keys for equation parameters and constants: equal keys, equal values.

Loop rolling compares equations by them (the same primitive, parameters and operand
kinds in every copy of a body) and staging reuses an equation it has recorded already
when the primitive, parameters and operands are the same (common subexpressions such as
``y[0]`` read several times an iteration are staged once).
"""
from __future__ import annotations

import numpy as np

from ..tree_util import PyTreeDef

CONST_BY_VALUE = 1 << 16  # constants up to this size are compared by value, larger by identity
_INT = {int}
_PLAIN = (int, str, type(None))


def freeze(v):
    """A hashable key for a parameter value.  Floats by their bits (0.0 and -0.0 differ);
    an object without a value key (a program, a function) by identity: the equation that
    holds it keeps it alive while the key is in use."""
    t = type(v)
    if t in (int, bool, str, type(None)):
        return (t, v)
    if t is float:
        return (t, v.hex())
    if t is tuple and set(map(type, v)) <= _INT:           # shapes, axes, int indices
        return v
    if t in (tuple, list):
        return (t, tuple([freeze(x) for x in v]))
    if t is dict:
        return (t, tuple([(k, freeze(x)) for k, x in v.items()])) if v else ()
    if t is slice:
        return (t, freeze(v.start), freeze(v.stop), freeze(v.step))
    if isinstance(v, np.ndarray):
        if v.size <= 64:
            return ("nd", v.shape, v.dtype.str, v.tobytes())
        return ("id", id(v))
    if isinstance(v, (np.generic, np.dtype)):
        return (t, str(v), repr(v))
    if t is PyTreeDef:                   # compared by structure
        return (t, v)
    return ("id", id(v))


def freeze_params(d):
    """`freeze` of a parameter dict, with a fast path for the common plain values (ints,
    strings, int tuples: equal exactly when equal as Python values)."""
    items = tuple(d.items())
    for _, x in items:
        t = type(x)
        if t in _PLAIN or (t is tuple and all(type(i) is int for i in x)):
            continue
        return (dict, tuple([(k, freeze(x)) for k, x in items]))
    return items


def const_key(v):
    """Equal keys for constants of equal values (and type, shape, dtype)."""
    t = type(v)
    if t is float:
        return (t, v.hex())
    if t in (int, bool, complex):
        return (t, v)
    if isinstance(v, (np.ndarray, np.generic)):
        a = np.asarray(v)
        if a.size <= CONST_BY_VALUE:      # equal values are one constant (a.T made anew per copy)
            return ("nd", t, a.shape, a.dtype.str, a.tobytes())
    return ("id", id(v))
