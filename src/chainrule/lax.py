"""Collectives across a named vmap axis, as `jax.lax` has them.

Inside ``vmap(f, axis_name="i")``, ``psum(x, "i")`` is the sum of `x` over the
examples of that vmap, the same for every example (an unbatched value).  The
name is resolved to the `BatchTrace` of the innermost enclosing vmap that bound
it, and the result is computed with ordinary primitives on that trace's batched
value, so transformations outside the vmap (grad, jvp, jit) see plain operations.

A transformation *inside* the vmap (vmap, jvp, grad, jet) sees a collective as
a linear map over the whole batch, as in JAX: `all_gather` is lifted through
the inner tracers, its transpose sums the cotangents of every example, and the
reductions are `all_gather` followed by a reduction.
"""
from __future__ import annotations

import numpy as np

from .control_flow import cond, switch, while_loop, fori_loop, scan  # noqa: F401  (as jax.lax)
from .core import Tracer, shape_of
from .interpreters.batching import BatchTracer, _moveaxis, axis_names
from .interpreters.jvp import JVPTracer
from .interpreters.taylor import JetTracer
from .interpreters.vjp import VJPTracer
from .ops import reductions as R, shape as S

__all__ = ["psum", "pmean", "pmax", "pmin", "all_gather", "axis_index", "axis_size",
           "cond", "switch", "while_loop", "fori_loop", "scan"]


def _resolve(axis_name, what):
    """The BatchTrace of the innermost running vmap that bound `axis_name`."""
    bound = axis_names.get()
    for name, trace, whole in reversed(bound):
        if name == axis_name:
            if not whole:
                raise ValueError(
                    f"{what} across vmap axis {axis_name!r}: Python control flow on a batched value "
                    "split this batch into groups, and a collective over one group would be wrong; "
                    "use chainrule.numpy.where or chainrule.lax.cond instead of the Python branch")
            return trace
    names = ", ".join(repr(n) for n, _, _ in bound) or "none"
    raise NameError(f"unbound axis name {axis_name!r} in {what}: no enclosing vmap(..., "
                    f"axis_name={axis_name!r}) is running (names bound here: {names})")


def _names(axis_name):
    return tuple(axis_name) if isinstance(axis_name, (tuple, list)) else (axis_name,)


def _is_outer(x, trace):
    """Whether `x` is the same for every example of `trace` (not traced at its level or above)."""
    return not isinstance(x, Tracer) or x._trace.level < trace.level


def _unsupported(x, trace, what):
    return NotImplementedError(
        f"{what} across a vmap axis on a {type(x).__name__} (a value traced inside the vmap by "
        "a loop body, a custom_jvp/custom_vjp function or jit's staging) is not supported; "
        "move the collective outside that construct")


def _gather(x, trace, axis):
    """Every example's `x`, stacked at `axis` of one example: a value the same for all examples."""
    if isinstance(x, BatchTracer) and x._trace is trace:
        return _moveaxis(x.primal, x.bdim, axis)
    if _is_outer(x, trace):
        if not isinstance(x, (Tracer, np.ndarray)):
            x = np.asarray(x)
        shp = tuple(shape_of(x))
        return S.broadcast_to(S.reshape(x, shp[:axis] + (1,) + shp[axis:]),
                              shp[:axis] + (trace.size,) + shp[axis:])
    return _lift(x, trace, axis, _gather, _scatter, "all_gather")


def _scatter(g, trace, axis):
    """The transpose of `_gather`: example i gets the sum over all examples of g[..., i, ...]."""
    if isinstance(g, BatchTracer) and g._trace is trace:
        return trace.wrap(R.sum(g.primal, axis=g.bdim), axis)
    if _is_outer(g, trace):
        return trace.wrap(g * trace.size, axis)
    return _lift(g, trace, axis, _scatter, _gather, "the transpose of all_gather")


def _lift(x, trace, axis, op, transpose, what):
    """Apply the linear map `op` to a tracer of a transformation inside the vmap."""
    t = x._trace
    if isinstance(x, BatchTracer):          # an inner vmap: map over its batch, kept at axis 0
        return t.wrap(op(_moveaxis(x.primal, x.bdim, 0), trace, axis + 1), 0)
    if isinstance(x, JVPTracer):
        return JVPTracer(t, op(x.primal, trace, axis),
                         None if x.tangent is None else op(x.tangent, trace, axis))
    if isinstance(x, JetTracer):
        return t.wrap([op(x.primal, trace, axis)]
                      + [None if c is None else op(c, trace, axis) for c in x.terms])
    if isinstance(x, VJPTracer):
        primals, argnums, parents = t.unwrap([x])

        def rule(g, ans, primals, params, argnums):
            return [None if g is None else transpose(g, trace, axis)]
        return t.record(rule, None, op(primals[0], trace, axis), primals, argnums, parents)
    raise _unsupported(x, trace, what)


def _example_ndim(x):
    return len(shape_of(x)) if not isinstance(x, (int, float, complex, bool)) else 0


def all_gather(x, axis_name, *, axis=0, tiled=False):
    """Every example's `x` stacked along a new axis `axis` (the same value for every example).

    With tiled=True the examples are concatenated along `axis` instead.
    """
    trace = _resolve(axis_name, "all_gather")
    nd = _example_ndim(x)
    if not -nd - 1 <= axis <= nd or (tiled and not -nd <= axis < nd):
        raise ValueError(f"all_gather axis={axis} is out of range for a value of rank {nd}")
    axis = axis % (nd if tiled else nd + 1)
    out = _gather(x, trace, axis)
    if tiled:
        shp = tuple(shape_of(out))
        out = S.reshape(out, shp[:axis] + (shp[axis] * shp[axis + 1],) + shp[axis + 2:])
    return out


def _reduce(x, axis_name, what, reduce, outer):
    for name in _names(axis_name):
        trace = _resolve(name, what)
        if _is_outer(x, trace):
            x = outer(x, trace.size)
        else:
            x = reduce(_gather(x, trace, 0), axis=0)
    return x


def psum(x, axis_name):
    """The sum of `x` over the examples of the vmap(s) named `axis_name` (a name or a tuple)."""
    return _reduce(x, axis_name, "psum", R.sum, lambda v, n: v * n)


def pmean(x, axis_name):
    """The mean of `x` over the examples of the named vmap(s): `psum(x, axis_name) / size`."""
    n = 1
    for name in _names(axis_name):
        n *= _resolve(name, "pmean").size
    return psum(x, axis_name) / n


def pmax(x, axis_name):
    """The elementwise maximum of `x` over the examples of the named vmap(s)."""
    return _reduce(x, axis_name, "pmax", R.max, lambda v, n: v)


def pmin(x, axis_name):
    """The elementwise minimum of `x` over the examples of the named vmap(s)."""
    return _reduce(x, axis_name, "pmin", R.min, lambda v, n: v)


def axis_index(axis_name):
    """The position of the current example along the vmap axis named `axis_name` (an int)."""
    trace = _resolve(axis_name, "axis_index")
    return trace.wrap(np.arange(trace.size), 0)


def axis_size(axis_name):
    """The number of examples of the vmap that bound `axis_name` (a Python int)."""
    return _resolve(axis_name, "axis_size").size
