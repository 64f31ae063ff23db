"""Optimisation passes over a Program: algebraic simplification, CSE, dead code.

Constant folding happens during staging already: an operation whose inputs
are all constants never reaches the staging trace (it is evaluated eagerly).
"""
from __future__ import annotations

import numpy as np

from .program import Const, Program, Var


def _is_const(a, value):
    """Is `a` a constant equal to `value` everywhere (a number or a broadcast view of one)?"""
    if not isinstance(a, Const):
        return False
    v = a.value
    if isinstance(v, np.ndarray) and v.size and all(st == 0 for st in v.strides):
        v = v.flat[0]                  # e.g. the seed 1.0 broadcast back through a sum
    return isinstance(v, (int, float, np.floating)) and not isinstance(v, bool) and v == value


def _same_type(a, out):
    return isinstance(a, Var) and a.shape == out.shape and a.dtype == out.dtype and a.pyscalar == out.pyscalar


def _alias(e):
    """If equation `e` is the identity on one of its inputs (x*1, x+0, ...), that input."""
    name, ins, out = e.prim.name, e.invars, e.outvars[0]
    if len(ins) != 2:
        return None
    x, y = ins
    if name in ("multiply",) and _is_const(y, 1) and _same_type(x, out):
        return x
    if name in ("multiply",) and _is_const(x, 1) and _same_type(y, out):
        return y
    if name in ("add",) and _is_const(y, 0) and _same_type(x, out):
        return x
    if name in ("add",) and _is_const(x, 0) and _same_type(y, out):
        return y
    if name in ("subtract",) and _is_const(y, 0) and _same_type(x, out):
        return x
    if name in ("divide", "power") and _is_const(y, 1) and _same_type(x, out):
        return x
    return None


def _key(a):
    if isinstance(a, Var):
        return ("v", a.id)
    v = a.value
    if isinstance(v, (int, float, complex, bool, str, type(None))):
        return ("c", type(v), v)
    return ("o", id(v))


def _hashable(params):
    try:
        key = tuple(sorted(params.items()))
        hash(key)
        return key
    except TypeError:
        return None


def optimize(prog):
    """Simplify trivial algebra, merge common subexpressions, drop dead code."""
    rename = {}

    def sub(a):
        while isinstance(a, Var) and a.id in rename:
            a = rename[a.id]
        return a
    seen, eqns = {}, []
    for e in prog.eqns:
        e.invars = [sub(a) for a in e.invars]
        alias = _alias(e)
        if alias is not None:
            rename[e.outvars[0].id] = alias
            continue
        pkey = _hashable(e.params)
        if pkey is not None:
            key = (e.prim, tuple(_key(a) for a in e.invars), pkey)
            prev = seen.get(key)
            if prev is not None:
                for o, p in zip(e.outvars, prev.outvars):
                    rename[o.id] = p
                continue
            seen[key] = e
        eqns.append(e)
    outvars = [sub(v) for v in prog.outvars]
    guards = prog.guards
    for g in guards:
        g.var = sub(g.var)
    # dead code: keep what outputs and guards need
    live = {v.id for v in outvars if isinstance(v, Var)} | {g.var.id for g in guards}
    kept = []
    for e in reversed(eqns):
        if any(o.id in live for o in e.outvars):
            kept.append(e)
            live.update(a.id for a in e.invars if isinstance(a, Var))
    kept.reverse()
    return Program(prog.invars, kept, outvars, guards, prog.in_tree, prog.out_tree)


__all__ = ["optimize", "np"]
