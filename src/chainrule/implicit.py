"""Solutions of equations, differentiated by the implicit function theorem.

`implicit_solve(fun, solver, x_like, init, args)` finds x* with F(x*, *args) = 0 by running
`solver` on plain NumPy values, and differentiates x* with respect to `args` by the implicit
function theorem, dx* = -(dF/dx)^-1 (dF/dargs) dargs, never through the solver's iterations.

`fun` is staged once into a program (closure conversion: traced values it closes over
become explicit inputs, so they are differentiated too).  The solve is one equation of the
`implicit_solve` primitive whose implementation runs the solver on the call's values:
under `jit` it runs at call time, under `vmap` once per example.  The solution is a
`custom_jvp` function whose rule is written with chainrule operations (`jvp`, `jacfwd`,
`linalg.solve`), so reverse mode transposes it, derivatives of any order nest, and the
rule's own primal is the same solution (the second derivative differentiates the rule).
The initial values `init` (a starting point, a bracket) get a zero derivative.
"""
from __future__ import annotations

import numpy as np

from . import numpy as cnp
from .api import custom_jvp, jvp, jacfwd
from .core import Primitive, Tracer, dtype_of, shape_of
from .interpreters.staging import eval_program
from .interpreters.taylor import JetTracer
from .loops import BodyReadsValue, example_value, stage_body
from .rules import batch_rules, defnondiff
from .tree_util import tree_flatten, tree_unflatten

__all__ = ["implicit_solve", "closure_convert"]


class _Unstageable(Exception):
    """`fun` reads a traced value for Python control flow: it is not one program."""


def _float_like(x):
    v = np.asarray(example_value(x))
    return v if np.issubdtype(v.dtype, np.inexact) else v.astype(np.float64)


def closure_convert(fun, x_like, *args):
    """(g, consts): ``g(x, *consts)`` computes ``fun(x, *args)`` from a program staged at
    `x_like`; `consts` are the traced values (of `args` or of `fun`'s closure) it reads.

    Raises `_Unstageable` when `fun`'s Python control flow reads a traced value.
    """
    trees = []

    def flat(x):
        leaves, tree = tree_flatten(fun(x, *args))
        trees.append(tree)
        return leaves
    try:
        prog, consts = stage_body(flat, [_float_like(x_like)])
    except BodyReadsValue:
        raise _Unstageable from None

    def g(x, *c):
        return tree_unflatten(trees[0], eval_program(prog, [*c, x]))
    g.program = prog
    return g, consts


def _solve_impl(*args, solver, fun, n_consts, options):
    consts, init = args[:n_consts], args[n_consts:]
    out = solver(lambda x: fun(x, *consts), *init, **dict(options))
    return tuple(np.asarray(o)[()] for o in out)     # 0-d results as NumPy scalars


# The solver runs on values; its result's derivative is the custom rule of the function
# that binds it (`_solution`), never this primitive's.
implicit_solve_p = Primitive("implicit_solve", _solve_impl, multiple_results=True)
defnondiff(implicit_solve_p, "runs a solver on values: implicit_solve's custom_jvp rule "
           "differentiates its solution by the implicit function theorem")


def _solve_batch(args, bdims, **params):
    """One solve per example (solvers stop at different iterations)."""
    size = next(shape_of(a)[d] for a, d in zip(args, bdims) if d is not None)
    lanes = []
    for i in range(size):
        lane = [a if d is None else cnp.take(a, i, axis=d) for a, d in zip(args, bdims)]
        lanes.append(implicit_solve_p.bind(*lane, **params))
    return tuple(cnp.stack([lane[k] for lane in lanes]) for k in range(len(lanes[0]))), 0


batch_rules[implicit_solve_p] = _solve_batch


def _inexact(x):
    return np.issubdtype(dtype_of(x), np.inexact)


def _ift_tangent(F, x, consts, tangents):
    """-(dF/dx)^-1 (dF/dconsts . tangents) at the solution x, with chainrule operations."""
    idx = [i for i, c in enumerate(consts) if _inexact(c)]
    if not idx:
        return cnp.zeros_like(x)

    def F_of(*d):
        c = list(consts)
        for i, v in zip(idx, d):
            c[i] = v
        return F(x, *c)
    _, rhs = jvp(F_of, tuple(consts[i] for i in idx), tuple(tangents[i] for i in idx))
    J = jacfwd(lambda y: F(y, *consts))(x)
    if shape_of(x) == ():
        return -rhs / J
    n = int(np.prod(shape_of(x)))
    dx = cnp.linalg.solve(cnp.reshape(J, (n, n)), cnp.reshape(rhs, (n,)))
    return -cnp.reshape(dx, shape_of(x))


def _same(a, b):
    return len(a) == len(b) and all(u is v for u, v in zip(a, b))


def _solution(F, params):
    """sol(init, *consts) -> (x, *aux), with the IFT as its JVP rule."""
    last = []           # the last solve's (arguments, result): the rule's primal reuses it

    def solve(init, *consts):
        key = [*init, *consts]
        if any(isinstance(a, JetTracer) for a in key):
            raise NotImplementedError(
                "Taylor mode (jet, derivative) through an implicit solution is not supported; "
                "nest jvp/grad instead (the implicit rule nests to any order)")
        if last and _same(last[0], key):
            return last[1]
        out = implicit_solve_p.bind(*consts, *init, **params)
        last[:] = [key, out]
        return out
    sol = custom_jvp(solve)

    def rule(primals, tangents):
        init, *consts = primals
        out = sol(tuple(init), *consts)
        dx = _ift_tangent(F, out[0], consts, list(tangents[1:]))
        return out, (dx,) + tuple(cnp.zeros_like(o) for o in out[1:])
    sol.defjvp(rule)
    return sol


def _first(out):
    return out[0] if isinstance(out, (tuple, list)) else out


def implicit_solve(fun, solver, x_like, init=(), args=(), optimality=None, options=(), what="implicit_solve"):
    """(x, aux): ``x, *aux = solver(f, *init, **options)`` run on values, with
    ``f(x) = fun(x, *args)``; x is differentiated with respect to `args` (and any traced
    value `fun` closes over) by the implicit function theorem on ``F(x, *args) = 0``.

    F is ``optimality(g)`` for the closure-converted `fun` g (default: `fun`'s first output),
    e.g. its gradient for a minimiser.  `x_like` gives x's shape and dtype.  `solver` gets a
    chainrule-differentiable `f` on NumPy values and returns NumPy values; `options` is a
    tuple of (name, value) pairs (hashable: it is a parameter of a staged equation).
    """
    if not callable(fun):
        raise TypeError(f"{what}: the function must be callable, got {type(fun).__name__}")
    init = tuple(init)
    try:
        g, consts = closure_convert(fun, x_like, *args)
    except _Unstageable:
        if any(isinstance(a, Tracer) for a in tree_flatten([init, list(args)])[0]):
            raise TypeError(
                f"{what}: the function reads the value of x for Python control flow (if, "
                "float(), math.*), so it cannot be staged to differentiate, jit or vmap the "
                "solution; write it with chainrule.numpy operations (cnp.where for branches)"
            ) from None
        out = solver(lambda x: fun(x, *args), *init, **dict(options))     # plain values
        return out[0], tuple(out[1:])
    F = optimality(g) if optimality is not None else (lambda x, *c: _first(g(x, *c)))
    sol = _solution(F, dict(solver=solver, fun=g, n_consts=len(consts), options=tuple(options)))
    out = sol(tuple(init), *consts)
    return out[0], tuple(out[1:])
