"""Optimisation passes over a Program: algebraic simplification, CSE, dead code.

Constant folding happens during staging already: an operation whose inputs
are all constants never reaches the staging trace (it is evaluated eagerly).
"""
from __future__ import annotations

import numpy as np

from ..ops import elementwise as E, linalg as L, shape as S
from ..rules import dce_rules
from .banded import banded
from .keys import freeze_params
from .program import Const, Eqn, Guard, Program, Var, const_number


def _is_const(a, value):
    """Is `a` a constant equal to `value` everywhere (a number or a broadcast view of one)?"""
    return const_number(a) == value


def _same_type(a, out):
    return isinstance(a, Var) and a.shape == out.shape and a.dtype == out.dtype and a.pyscalar == out.pyscalar


def _alias(e):
    """If equation `e` is the identity on one of its inputs (x*1, x+0, ...), that input."""
    prim, ins, out = e.prim, e.invars, e.outvars[0]
    if len(ins) != 2 or prim not in _ALIAS_PRIMS:
        return None
    x, y = ins
    if type(x) is not Const and type(y) is not Const:
        return None
    if prim in (E.mul_p, E.safe_mul_p) and _is_const(y, 1) and _same_type(x, out):
        return x
    if prim in (E.mul_p, E.safe_mul_p) and _is_const(x, 1) and _same_type(y, out):
        return y
    if prim is E.add_p and _is_const(y, 0) and _same_type(x, out):
        return x
    if prim is E.add_p and _is_const(x, 0) and _same_type(y, out):
        return y
    if prim is E.sub_p and _is_const(y, 0) and _same_type(x, out):
        return x
    if prim in (E.div_p, E.pow_p) and _is_const(y, 1) and _same_type(x, out):
        return x
    return None


_ALIAS_PRIMS = {E.mul_p, E.safe_mul_p, E.add_p, E.sub_p, E.div_p, E.pow_p}
_BINARY = {E.add_p, E.sub_p, E.mul_p, E.div_p, E.safe_mul_p, E.pow_p, E.maximum_p, E.minimum_p}


def _uniform_operands(e):
    """Constant float64 arrays holding one value, in an elementwise equation whose output shape
    another operand already has, become that number (kernels then read no memory for them);
    a strong-zero product with a nonzero finite number is a plain product."""
    out = e.outvars[0]
    if e.prim not in _BINARY and e.prim is not E.select_p or out.dtype != np.float64:
        return e
    if e.prim is not E.safe_mul_p and not any(
            type(a) is Const and isinstance(a.value, np.ndarray) for a in e.invars):
        return e                       # nothing to change (the common case, kept short)
    ins = list(e.invars)
    for k, a in enumerate(ins):
        v = a.value if isinstance(a, Const) else None
        if (isinstance(v, np.ndarray) and v.dtype == np.float64 and v.size > 1 and any(v.strides)
                and any(isinstance(b, Var) and b.shape == out.shape for b in ins)
                and (v == v.flat[0]).all()):
            ins[k] = Const(float(v.flat[0]))
    prim = e.prim
    if prim is E.safe_mul_p:
        for a in ins:
            c = a.value if isinstance(a, Const) else None
            if isinstance(c, float) and c != 0 and np.isfinite(c):
                prim = E.mul_p
    if prim is e.prim and all(a is b for a, b in zip(ins, e.invars)):
        return e
    return Eqn(prim, ins, e.outvars, e.params)


def _power_of_two(c):
    return c != 0 and np.isfinite(c) and np.frexp(abs(c))[0] == 0.5


def _fold_signs(e, defs):
    """Exact rewrites that drop negations and repeated scalings (derivative programs are full
    of them): -(-a) = a, c*(-a) = (-c)*a, -(c*a) = (-c)*a, a + (-b) = a - b, a - (-b) = a + b,
    (-a)*(-b) = a*b, and c1*(c2*a) = (c1 c2)*a when c1 or c2 is a power of two."""
    prim, ins, out = e.prim, e.invars, e.outvars[0]
    if out.dtype.kind != "f" or prim not in (E.neg_p, E.mul_p, E.add_p, E.sub_p):
        return e

    def inner(a, *prims):
        d = defs.get(a.id) if isinstance(a, Var) else None
        return d if d is not None and d.prim in prims and len(d.outvars) == 1 else None

    def scaled(d):                     # d = c * a with a scalar constant c: (c, a)
        if d is None or d.prim is not E.mul_p:
            return None
        for k in (0, 1):
            c = const_number(d.invars[k])
            if c is not None and isinstance(d.invars[1 - k], Var) and d.invars[1 - k].shape == d.outvars[0].shape:
                return c, d.invars[1 - k]
        return None
    if prim is E.neg_p:
        d = inner(ins[0], E.neg_p, E.mul_p)
        if d is not None and d.prim is E.neg_p and _same_type(d.invars[0], out):
            return d.invars[0]
        cs = scaled(d)
        if cs is not None:
            return Eqn(E.mul_p, [Const(-cs[0]), cs[1]], e.outvars, {})
        return e
    x, y = ins
    if prim is E.mul_p:
        for c_op, a in ((x, y), (y, x)):
            c = const_number(c_op)
            if c is None or not (isinstance(a, Var) and a.shape == out.shape):
                continue
            d = inner(a, E.neg_p, E.mul_p)
            if d is not None and d.prim is E.neg_p and _same_type(d.invars[0], out):
                return Eqn(E.mul_p, [Const(-c), d.invars[0]], e.outvars, {})
            cs = scaled(d)
            if cs is not None and (_power_of_two(c) or _power_of_two(cs[0])):
                return Eqn(E.mul_p, [Const(c * cs[0]), cs[1]], e.outvars, {})
            return e
        dx, dy = inner(x, E.neg_p), inner(y, E.neg_p)
        if dx is not None and dy is not None:
            return Eqn(E.mul_p, [dx.invars[0], dy.invars[0]], e.outvars, {})
        return e
    dy = inner(y, E.neg_p)
    if dy is not None:                 # a + (-b) = a - b; a - (-b) = a + b
        return Eqn(E.sub_p if prim is E.add_p else E.add_p, [x, dy.invars[0]], e.outvars, {})
    dx = inner(x, E.neg_p)
    if prim is E.add_p and dx is not None:
        return Eqn(E.sub_p, [y, dx.invars[0]], e.outvars, {})
    return e


def _key(a):
    if isinstance(a, Var):
        return ("v", a.id)
    v = a.value
    if type(v) is float:                 # 0.0 and -0.0 are different constants (1/x tells them apart)
        return ("c", float, v.hex())
    if type(v) is complex:
        return ("c", complex, v.real.hex(), v.imag.hex())
    if isinstance(v, (int, bool, str, type(None))):
        return ("c", type(v), v)
    return ("o", id(v))


def _unit_free_transpose(e, defs):
    """reshape(transpose(reshape(x, s1), perm), s2) that only moves size-1 axes around x's:
    the permutation of x's own axes, or None when the pattern does not apply."""
    if e.prim is not S.reshape_p or not isinstance(e.invars[0], Var):
        return None
    t = defs.get(e.invars[0].id)
    if t is None or t.prim is not S.transpose_p or not isinstance(t.invars[0], Var):
        return None
    r = defs.get(t.invars[0].id)
    if r is None or r.prim is not S.reshape_p or not isinstance(r.invars[0], Var):
        return None
    x = r.invars[0]
    s1 = r.params["shape"]
    kept = [i for i, n in enumerate(s1) if n != 1]
    if tuple(s1[i] for i in kept) != tuple(n for n in x.shape if n != 1) or 1 in x.shape:
        return None
    order = [i for i in t.params["axes"] if i in kept]      # x's axes, in their new order
    perm = tuple(kept.index(i) for i in order)
    if tuple(x.shape[i] for i in perm) != tuple(e.params["shape"]):
        return None
    return x, perm


def _reshape_source(e, defs):
    """x when `e` reshapes a reshape of the variable x (C order both), else None."""
    if e.prim is not S.reshape_p or set(e.params) != {"shape"} or not isinstance(e.invars[0], Var):
        return None
    d = defs.get(e.invars[0].id)
    if d is None or d.prim is not S.reshape_p or set(d.params) != {"shape"} or not isinstance(d.invars[0], Var):
        return None
    return d.invars[0]


def _is_zero_view(a):
    """Is `a` a constant array of zeros (checked once, at compile time)?"""
    v = a.value if isinstance(a, Const) else None
    return isinstance(v, np.ndarray) and v.size > 0 and not v.any()


def _scatter_into_sums(eqns, outvars, guards):
    """add(index_add(zeros, y, idx), k) -> index_add(k, y, idx): a slice's cotangent is added
    where it lands instead of being spread over a fresh array of zeros and added whole."""
    uses = {}
    for e in eqns:
        for a in e.invars:
            if isinstance(a, Var):
                uses[a.id] = uses.get(a.id, 0) + 1
    for v in outvars:
        if isinstance(v, Var):
            uses[v.id] = uses.get(v.id, 0) + 1
    for g in guards:
        uses[g.var.id] = uses.get(g.var.id, 0) + 1
    scatters = {e.outvars[0].id: e for e in eqns
                if e.prim is S.index_add_p and _is_zero_view(e.invars[0])}
    out = []
    for e in eqns:
        if e.prim is E.add_p and len(e.invars) == 2:
            o = e.outvars[0]
            for a, k in (e.invars, e.invars[::-1]):
                s = scatters.get(a.id) if isinstance(a, Var) else None
                kshape = k.shape if isinstance(k, Var) else np.shape(k.value)
                kdtype = k.dtype if isinstance(k, Var) else np.result_type(k.value)
                if s is not None and uses.get(a.id) == 1 and tuple(kshape) == tuple(o.shape) \
                        and kdtype == o.dtype:
                    e = Eqn(s.prim, [k, s.invars[1]], e.outvars, s.params)
                    break
        out.append(e)
    return out


def _identity_scale(a):
    """c when the constant `a` is c times an identity matrix (c != 0), else None."""
    v = a.value if isinstance(a, Const) else None
    if not (isinstance(v, np.ndarray) and v.ndim == 2 and v.shape[0] == v.shape[1] > 1
            and v.dtype.kind in "fb"):
        return None
    c = v[0, 0]
    return float(c) if c != 0 and np.array_equal(v, c * np.eye(v.shape[0])) else None


def _diagonal_products(eqns):
    """matmul(A, c I * v) -> (A * v) * c: multiplying the identity basis by a row vector (how a
    Jacobian of an elementwise function starts) makes a diagonal matrix; a product with it
    scales columns.  The dense path costs a pass over m*m entries and an m*m matrix product."""
    diag = {}                                   # var id -> (v, c) with var == c * diag(v)
    next_id = 1 + max((o.id for e in eqns for o in e.outvars), default=0)
    out = []
    for e in eqns:
        prim, ins = e.prim, e.invars
        if prim is E.mul_p and len(ins) == 2 and len(e.outvars[0].shape) == 2:
            m = e.outvars[0].shape[0]
            for a, b in (ins, ins[::-1]):
                shape_b = b.shape if isinstance(b, Var) else np.shape(b.value)
                c = _identity_scale(a) if tuple(shape_b) in ((m,), (1, m)) else None
                if c is not None:
                    diag[e.outvars[0].id] = (b, c)
                    break
        elif prim is S.transpose_p and isinstance(ins[0], Var) and ins[0].id in diag:
            diag[e.outvars[0].id] = diag[ins[0].id]      # a diagonal matrix is its transpose
        elif prim is L.matmul_p and isinstance(ins[1], Var) and ins[1].id in diag:
            a, (v, c) = ins[0], diag[ins[1].id]
            shape_a = a.shape if isinstance(a, Var) else np.shape(a.value)
            o = e.outvars[0]
            if len(shape_a) == 2 and tuple(o.shape) == tuple(shape_a):
                mul = E.mul_p
                if c == 1.0:
                    e = Eqn(mul, [a, v], e.outvars, {})
                else:
                    t = Var(next_id, o.shape, o.dtype)
                    next_id += 1
                    out.append(Eqn(mul, [a, v], [t], {}))
                    e = Eqn(mul, [t, Const(c)], e.outvars, {})
        out.append(e)
    return out


def _simplify(eqns, outvars, guards):
    """One forward pass of local rewrites and CSE; returns (eqns, outvars, guards), renamed.
    The input equations and guards are not modified."""
    rename = {}

    def sub(a):
        while isinstance(a, Var) and a.id in rename:
            a = rename[a.id]
        return a
    seen, out, defs = {}, [], {}
    for e in eqns:
        if rename:
            ins = [sub(a) for a in e.invars]
            if any(a is not b for a, b in zip(ins, e.invars)):
                e = Eqn(e.prim, ins, e.outvars, e.params)
        if not e.outvars or (e.prim.multiple_results and has_effect(e)):
            out.append(e)             # an effect (debug.print, a loop that prints): never merged
            for o in e.outvars:
                defs[o.id] = e
            continue
        e = _uniform_operands(e)
        folded = _fold_signs(e, defs)
        if isinstance(folded, Var):
            rename[e.outvars[0].id] = folded
            continue
        e = folded
        alias = _alias(e)
        if alias is not None:
            rename[e.outvars[0].id] = alias
            continue
        inner = _reshape_source(e, defs) if e.prim is S.reshape_p else None
        if inner is not None:                 # reshape(reshape(x, s1), s2) = reshape(x, s2)
            if tuple(inner.shape) == tuple(e.params["shape"]) and _same_type(inner, e.outvars[0]):
                rename[e.outvars[0].id] = inner
                continue
            e = Eqn(e.prim, [inner], e.outvars, e.params)
        moved = _unit_free_transpose(e, defs) if e.prim is S.reshape_p else None
        if moved is not None:
            x, perm = moved
            if perm == tuple(range(len(perm))):
                rename[e.outvars[0].id] = x
                continue
            e = Eqn(S.transpose_p, [x], e.outvars, {"axes": perm})
        for o in e.outvars:
            defs[o.id] = e
        key = (e.prim, tuple([a.id if type(a) is Var else _key(a) for a in e.invars]),
               freeze_params(e.params) if e.params else ())
        prev = seen.get(key)
        if prev is not None:
            for o, p in zip(e.outvars, prev.outvars):
                rename[o.id] = p
            continue
        seen[key] = e
        out.append(e)
    guards = [g if sub(g.var) is g.var else Guard(sub(g.var), g.kind, g.value) for g in guards]
    return out, [sub(v) for v in outvars], guards


def has_effect(e):
    """Does equation `e` have an effect (a primitive flagged `effect`, such as debug.print,
    or a loop whose body has one)?  Dead-code removal keeps it; rolling never folds it."""
    return effectful(e.prim, e.params)


def effectful(prim, params):
    """`has_effect` of an equation not built yet (staging never merges one that is)."""
    if getattr(prim, "effect", False):
        return True
    return any(isinstance(v, Program) and any(map(has_effect, v.eqns)) for v in params.values())


def optimize(prog):
    """Simplify trivial algebra, merge common subexpressions, keep banded matrices as their
    diagonals, drop dead code."""
    guards = prog.guards
    eqns, outvars, guards = _simplify(prog.eqns, prog.outvars, guards)
    # the passes below look for primitives or shapes a program may not have at all: one
    # linear scan tells, and a long scalar program skips them
    prims, matrices = set(), False
    for e in eqns:
        prims.add(e.prim)
        if not matrices:
            matrices = any(len(o.shape) >= 2 for o in e.outvars)
    if S.index_add_p in prims:
        eqns = _scatter_into_sums(eqns, outvars, guards)
    if L.matmul_p in prims:
        eqns = _diagonal_products(eqns)
    rewritten = banded(eqns, prog.invars, outvars, guards) if matrices else eqns
    if rewritten is not eqns:                  # the diagonals' arithmetic simplifies too
        eqns, outvars, guards = _simplify(rewritten, outvars, guards)
    # dead code: keep what outputs and guards need
    live = {v.id for v in outvars if isinstance(v, Var)} | {g.var.id for g in guards}
    kept = []
    for e in reversed(eqns):
        outs = e.outvars
        if outs[0].id in live if len(outs) == 1 else any(o.id in live for o in outs):
            prune = dce_rules.get(e.prim)
            if prune is not None:
                e = prune(e, [o.id in live for o in outs])
        elif not (e.prim.multiple_results and has_effect(e)):
            continue
        kept.append(e)                # (an equation with an effect is kept whole)
        live.update([a.id for a in e.invars if type(a) is Var])
    kept.reverse()
    return Program(prog.invars, kept, outvars, guards, prog.in_tree, prog.out_tree)


__all__ = ["optimize", "has_effect"]
