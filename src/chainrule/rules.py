"""Rule tables, one per transformation, keyed by primitive, and their factories.

Conventions (a `None` tangent or cotangent is a symbolic zero):

- ``jvp_rules[p](primals, tangents, params) -> (out, out_tangent)``
- ``vjp_rules[p](g, ans, primals, params, argnums) -> [ct for each argnum]``
  (for a primitive with several results, ``g`` is a list with one entry per result)
- ``batch_rules[p](args, bdims, **params) -> (out, out_bdim)`` (factories in ops/batch_rules.py),
- ``taylor_rules[p](series, **params) -> series`` (series arithmetic in ops/series.py); a
  primitive in `taylor_by_jvp` instead gets its Taylor rule from nested forward mode,
- ``scalar_forms[p]``: how code generators and the SymPy bridge spell an elementwise primitive
  (`Scalar`); ``emit_rules[p](arg_sources, ctx, **params)`` holds the code generator's
  dedicated emitters (compile/codegen.py derives the rest from the scalar forms).

Every rule of a primitive is registered where the primitive is defined, keyed by the
primitive object, so importing chainrule registers everything, in any order.

Shapes and dtypes need no rule table: staging evaluates each primitive on the
concrete values it records (interpreters/staging.py), so output avals are exact.

Derivative rules are written with `chainrule.numpy` operations, so they are
differentiable themselves and higher derivatives come from nesting.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .core import Primitive, bind, primitives, shape_of, dtype_of  # noqa: F401  (primitives: the registry)

Rule = Callable[..., Any]

jvp_rules: dict[Primitive, Rule] = {}
vjp_rules: dict[Primitive, Rule] = {}
# ``vjp_fwd_rules[p](primals, params, argnums) -> (out, residuals)``: a forward pass that also
# returns what the VJP rule needs (it then finds them in ``params["residuals"]``); loops use it to
# save per-step residuals or carries.
vjp_fwd_rules: dict[Primitive, Rule] = {}
batch_rules: dict[Primitive, Rule] = {}
taylor_rules: dict[Primitive, Rule] = {}
taylor_by_jvp: set[Primitive] = set()
scalar_forms: dict[Primitive, Scalar] = {}
emit_rules: dict[Primitive, Rule] = {}
# ``dce_rules[p](eqn, used) -> eqn``: equation `eqn` rewritten to compute only the outputs marked
# in `used` (fewer outputs and inputs); loops prune the carries and ys nothing reads.
dce_rules: dict[Primitive, Rule] = {}

# Primitives that deliberately lack a rule in a table: {table_name: {primitive: reason}}.
exempt: dict[str, dict[Primitive, str]] = {"jvp": {}, "vjp": {}, "batch": {}, "taylor": {}, "emit": {}}


class Scalar(NamedTuple):
    """How code generators and the SymPy bridge write one elementwise primitive.

    numpy: the NumPy function for arrays (``np.<numpy>``; None: call the implementation);
    libm: the C math-library function with the same values on float64 (the LLVM tier calls it;
    Python's `math` and numba have it under the same name), or None;
    pymath: whether ``math.<libm>`` may stand in for it on Python floats (not floor: an int);
    op: a Python operator that computes it on numbers and arrays alike (``"+"``, ``"<"``);
    sympy: the SymPy function's name, or ``fn(sympy, *args) -> expression``.
    """
    numpy: str | None = None
    libm: str | None = None
    pymath: bool = True
    op: str | None = None
    sympy: object = None


def defscalar(p, numpy=None, libm=None, pymath=True, op=None, sympy=None):
    """Record how code generators and the SymPy bridge write elementwise primitive `p`."""
    scalar_forms[p] = Scalar(numpy, libm, pymath, op, sympy)


def defjvp(p, *fns):
    """JVP from one function per argument: ``fn(t, ans, *primals, **params)``.

    `None` in place of a function means the output does not depend
    differentiably on that argument.
    """
    def rule(primals, tangents, params):
        ans = bind(p, *primals, **params)
        out_t = None
        for fn, t in zip(fns, tangents):
            if t is None or fn is None:
                continue
            c = fn(t, ans, *primals, **params)
            if c is not None:
                out_t = c if out_t is None else out_t + c
        return ans, out_t
    jvp_rules[p] = rule
    return rule


def defjvp_full(p, fn):
    """JVP given as ``fn(primals, tangents, **params) -> (out, out_tangent)``."""
    jvp_rules[p] = lambda primals, tangents, params: fn(primals, tangents, **params)


def defvjp(p, *fns):
    """VJP from one function per argument: ``fn(g, ans, *primals, **params)``."""
    def rule(g, ans, primals, params, argnums):
        return [fns[i](g, ans, *primals, **params) if fns[i] is not None else None
                for i in argnums]
    vjp_rules[p] = rule
    return rule


def defvjp_full(p, fn):
    """VJP given as ``fn(g, ans, primals, argnums, **params) -> cts for argnums``."""
    vjp_rules[p] = lambda g, ans, primals, params, argnums: fn(g, ans, primals, argnums, **params)


def deflinear(p, *transposes):
    """A primitive jointly linear in its array arguments (others are constants).

    The JVP applies `p` to the tangents (a zero tangent becomes zeros of the
    argument's shape); ``transposes[i](g, ans, *primals, **params)`` is the
    transpose with respect to argument i, and `None` marks a non-linear,
    constant argument such as an integer index array.
    """
    linear = [f is not None for f in transposes]
    if linear == [True]:           # the common unary case
        def jvp(primals, tangents, params):
            t = tangents[0]
            return bind(p, *primals, **params), None if t is None else bind(p, t, **params)
    else:
        def jvp(primals, tangents, params):
            ans = bind(p, *primals, **params)
            if all(t is None for t, lin in zip(tangents, linear) if lin):
                return ans, None
            args = [(np.broadcast_to(np.zeros((), dtype_of(x)), shape_of(x)) if t is None else t) if lin else x
                    for x, t, lin in zip(primals, tangents, linear)]
            return ans, bind(p, *args, **params)
    jvp_rules[p] = jvp
    defvjp(p, *transposes)


def defnondiff(p, reason="piecewise constant: zero derivative everywhere it exists"):
    """Mark a primitive whose result carries no derivative (comparisons, floor, argmax)."""
    p.nondiff = True
    exempt["jvp"][p] = reason
    exempt["vjp"][p] = reason
