"""Taylor mode (jet): propagate truncated Taylor series through a program.

A `JetTracer` carries a primal value x0 and the raw Taylor coefficients
x1, ..., xK of a curve through it,

    x(t) = x0 + x1 t + x2 t^2 + ... + xK t^K      (x_k = x^(k)(0) / k!),

with `None` standing for a zero coefficient.  Every primitive maps the series
of its arguments to the series of its result with a rule from
`chainrule.rules.taylor_rules` (registered beside the primitive, written with the
series arithmetic of chainrule/ops/series.py): O(K^2) work per operation instead
of the exponential growth of nested first-order differentiation.  Raw
coefficients need no factorials, so orders in the hundreds stay finite; `jet`
converts to and from JAX's factorial-scaled convention at its boundary only.

Rules are written with chainrule's own operations, so `grad`, `jvp` and
`vmap` of a jet (or a jet of them) work by the usual level discipline: a
tracer of an outer transformation is a constant here, and values of this
trace reaching an inner transformation are constants there.
"""
from __future__ import annotations

import math

import numpy as np

from ..core import Trace, Tracer, bind, new_level, shape_of, dtype_of
from .jvp import JVPTrace, JVPTracer
from ..rules import taylor_rules
from ..tree_util import tree_flatten, tree_unflatten

__all__ = ["jet", "derivative", "taylor_coefficients", "JetTrace", "JetTracer"]


class JetTracer(Tracer):
    """A value under Taylor mode: `primal` and `terms` = [x1, ..., xK] (None: zero)."""

    __slots__ = ("primal", "terms")
    _carries_derivative = True

    def __init__(self, trace, primal, terms):
        self._trace = trace
        self.primal = primal
        self.terms = terms


class JetTrace(Trace):
    __slots__ = ("order",)

    def __init__(self, level, order):
        super().__init__(level)
        self.order = order

    def unwrap(self, args):
        """One coefficient list [x0, x1, ..., xK] per argument (constants: [c, None, ...])."""
        K = self.order
        out = []
        for a in args:
            if isinstance(a, Tracer) and a._trace is self:
                out.append([a.primal] + a.terms)
            else:
                if isinstance(a, Tracer) and a._trace.level >= self.level:
                    raise a._trace.leaked()
                out.append([a] + [None] * K)
        return out

    def process(self, p, args, params):
        if self.done:
            raise self.leaked()
        series = self.unwrap(args)
        if p.nondiff:
            return bind(p, *[s[0] for s in series], **params)
        rule = taylor_rules.get(p)
        out = NotImplemented if rule is None else rule(series, **params)
        if out is NotImplemented:
            out = nested_jvp_rule(p)(series, **params)
        if p.multiple_results:
            return tuple(self.wrap(s) for s in out)
        return self.wrap(out)

    def wrap(self, s):
        primal, terms = s[0], list(s[1:])
        if type(primal) is not float:
            # coefficients must have the primal's shape (a rule may return a
            # broadcastable, smaller coefficient, e.g. x + c with a bigger c)
            shp = shape_of(primal)
            for k, c in enumerate(terms):
                if c is not None and shape_of(c) != shp:
                    from ..ops.shape import broadcast_to
                    terms[k] = broadcast_to(c, shp)
        return JetTracer(self, primal, terms)


_by_jvp = {}          # primitive -> its nested-forward-mode rule, made on first use


def _horner(s, t):
    """s0 + s1 t + ... + sK t^K."""
    acc = None
    for c in reversed(s[1:]):
        if acc is not None:
            acc = acc * t
        if c is not None:
            acc = c if acc is None else acc + c
    return s[0] if acc is None else s[0] + acc * t


def _forward(fun, t):
    """fun(t) and its derivative (fun returns a pytree), by one forward-mode pass."""
    with new_level() as level:
        trace = JVPTrace(level)
        try:
            out = fun(JVPTracer(trace, t, 1.0))
        finally:
            trace.done = True
    leaves, tree = tree_flatten(out)
    vals, tans = [], []
    for o in leaves:
        own = isinstance(o, JVPTracer) and o._trace is trace
        v = o.primal if own else o
        vals.append(v)
        tans.append(o.tangent if own and o.tangent is not None else np.zeros(shape_of(v), dtype_of(v)))
    return tree_unflatten(tree, vals), tree_unflatten(tree, tans)


def _nested_derivatives(h, K):
    """t -> [h(t), h'(t), ..., h^(K)(t)] by K nested forward-mode passes."""
    if K == 0:
        return lambda t: [h(t)]
    inner = _nested_derivatives(h, K - 1)

    def f(t):
        out, tan = _forward(inner, t)
        return list(out) + [tan[-1]]
    return f


def nested_jvp_rule(p):
    """The Taylor rule by nested forward mode of `p` along the input curve.

    Exact for any primitive with a JVP rule, at a cost that doubles with each order: the
    rule of the primitives in `rules.taylor_by_jvp`, of primitives defined outside
    chainrule without a Taylor rule, and of cases a rule leaves (it returns NotImplemented).
    """
    rule = _by_jvp.get(p)
    if rule is not None:
        return rule

    def rule(series, **params):
        n = len(series[0])
        primals = [s[0] for s in series]
        ans = bind(p, *primals, **params)
        outs = list(ans) if p.multiple_results else [ans]
        consts = [all(v is None for v in s[1:]) for s in series]
        if n == 1 or all(consts):
            res = [[o] + [None] * (n - 1) for o in outs]
            return res if p.multiple_results else res[0]

        def h(t):
            args = [s[0] if c else _horner(s, t) for s, c in zip(series, consts)]
            out = bind(p, *args, **params)
            return list(out) if p.multiple_results else [out]
        ds = _nested_derivatives(h, n - 1)(0.0)
        res = []
        for r, o in enumerate(outs):
            if not np.issubdtype(dtype_of(o), np.inexact):
                res.append([o] + [None] * (n - 1))
                continue
            res.append([o] + [ds[k][r] / float(math.factorial(k)) for k in range(1, n)])
        return res if p.multiple_results else res[0]
    _by_jvp[p] = rule
    return rule


# --------------------------------------------------------------- driver ---

def _run(fun, leaves, term_leaves, order):
    """Trace `fun(list_of_tracers)`; return (out_tree, primals, terms) per output leaf.

    term_leaves[i] is the list of K raw coefficients of input leaf i (None: zero).
    """
    with new_level() as level:
        trace = JetTrace(level, order)
        try:
            out = fun([JetTracer(trace, x, list(ts)) for x, ts in zip(leaves, term_leaves)])
            out_leaves, out_tree = tree_flatten(out)
            primals, terms = [], []
            for o in out_leaves:
                if isinstance(o, JetTracer) and o._trace is trace:
                    primals.append(o.primal)
                    terms.append(list(o.terms))
                else:
                    if isinstance(o, Tracer) and o._trace.level >= level:
                        raise o._trace.leaked("output")
                    primals.append(o)
                    terms.append([None] * order)
        finally:
            trace.done = True
    for v, ts in zip(primals, terms):
        for k, c in enumerate(ts):
            if c is None:
                ts[k] = _zeros_like(v)
    return out_tree, primals, terms


def _zeros_like(v):
    shp, dt = shape_of(v), dtype_of(v)
    if not np.issubdtype(dt, np.inexact):
        dt = np.dtype(np.float64)
    if shp == () and dt == np.float64 and not isinstance(v, np.ndarray):
        return 0.0                          # scalar code stays on Python floats
    return np.zeros(shp, dt)


def _check_input(x, what):
    dt = dtype_of(x)
    if not np.issubdtype(dt, np.inexact):
        raise TypeError(f"{what} has dtype {dt}, which is not differentiable; pass a "
                        "floating-point value (e.g. 1.0 instead of 1)")


def jet(f, primals, series, raw=False):
    """Taylor-mode propagation: `(f(*primals), series_out)`, as `jax.experimental.jet.jet`.

    `primals` is a tuple (or list) of arguments.  `series` has one entry per
    argument: a sequence of K terms, each with the structure of its primal
    (so pytree arguments work too).  By default (JAX's convention) the terms
    are derivatives: the input curve is

        x(t) = x0 + sum_k series[i][k] t^(k+1) / (k+1)!

    and the result holds `f(x(t))`'s derivatives d^k/dt^k at t = 0, k = 1..K.
    With `raw=True` terms in and out are raw Taylor coefficients
    (x_k = x^(k)(0) / k!), which never form factorials and so stay finite to
    orders in the hundreds.

    Returns `(primals_out, series_out)`: `primals_out` has `f`'s output
    structure and `series_out` has it too, with each output leaf replaced by
    the list of its K terms (for a single array output: a list of K arrays).
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(series, (tuple, list)):
        raise TypeError("jet expects primals and series as tuples (or lists), one entry per argument")
    if len(primals) != len(series):
        raise ValueError(f"jet: got {len(primals)} primals but {len(series)} series")
    orders = {len(s) for s in series}
    if len(orders) > 1:
        raise ValueError(f"jet: the series of different arguments have different lengths {sorted(orders)}")
    K = orders.pop() if orders else 0
    leaves, tree = tree_flatten(tuple(primals))
    term_leaves = [[] for _ in leaves]
    start = 0
    for i, (x, terms) in enumerate(zip(primals, series)):
        x_leaves, x_tree = tree_flatten(x)
        for k, term in enumerate(terms):
            t_leaves, t_tree = tree_flatten(term)
            if t_tree != x_tree:
                raise ValueError(f"jet: term {k} of series {i} has structure {t_tree}, "
                                 f"but its primal has structure {x_tree}")
            for j, (xl, tl) in enumerate(zip(x_leaves, t_leaves)):
                if shape_of(tl) != shape_of(xl):
                    raise ValueError(f"jet: term {k} of series {i} has shape {shape_of(tl)} "
                                     f"but its primal has shape {shape_of(xl)}")
                if not raw:
                    tl = tl / float(math.factorial(k + 1))
                term_leaves[start + j].append(tl)
        start += len(x_leaves)
    for i, x in enumerate(leaves):
        _check_input(x, f"jet: primal leaf {i}")
    out_tree, out_primals, out_terms = _run(lambda ts: f(*tree_unflatten(tree, ts)),
                                            leaves, term_leaves, K)
    if not raw:
        out_terms = [[c * float(math.factorial(k + 1)) for k, c in enumerate(ts)] for ts in out_terms]
    return tree_unflatten(out_tree, out_primals), tree_unflatten(out_tree, out_terms)


def _unit_direction(x):
    shp, dt = shape_of(x), dtype_of(x)
    if shp == () and dt == np.float64 and not isinstance(x, np.ndarray):
        return 1.0                          # keeps scalar code on Python floats
    return np.ones(shp, dt)


def taylor_coefficients(f, x, order, *args, **kwargs):
    """Raw Taylor coefficients of `f` at `x`: [f(x), f'(x), f''(x)/2!, ..., f^(n)(x)/n!].

    One jet pass along x(t) = x + t; for an array `x` and an elementwise `f`
    each element gets its own coefficients.  Extra arguments are passed to
    `f` unchanged (as constants).
    """
    order = int(order)
    if order < 0:
        raise ValueError("taylor_coefficients: order must be >= 0")
    if isinstance(x, int) and not isinstance(x, bool):
        x = float(x)
    _check_input(x, "taylor_coefficients: x")
    terms = [_unit_direction(x)] + [None] * (order - 1) if order else []
    _, primals, out_terms = _run(lambda ts: f(ts[0], *args, **kwargs), [x], [terms], order)
    if len(primals) != 1:
        raise TypeError("taylor_coefficients needs a function with a single array output")
    return [primals[0]] + out_terms[0]


def derivative(f, order=1):
    """The `order`-th derivative of a scalar function `f` (elementwise over arrays).

    Computed by one Taylor-mode pass of raw coefficients along x(t) = x + t;
    the last coefficient times n! is the derivative.  Extra positional and
    keyword arguments of the returned function go to `f` unchanged.
    """
    n = int(order)
    if n < 0:
        raise ValueError("derivative: order must be >= 0")
    scale = float(math.factorial(n)) if n <= 170 else None

    def df(x, *args, **kwargs):
        if n == 0:
            return f(x, *args, **kwargs)
        c = taylor_coefficients(f, x, n, *args, **kwargs)[n]
        if scale is not None:
            return c * scale
        for k in range(2, n + 1):          # n! itself overflows a float
            c = c * float(k)
        return c

    df.__name__ = f"derivative_{n}_of_{getattr(f, '__name__', 'f')}"
    df.__doc__ = f"The order-{n} derivative of {getattr(f, '__name__', 'f')} (Taylor mode)."
    return df


