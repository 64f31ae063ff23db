"""Hypothesis property tests: random compositions (depth 1-6) of unary and binary primitives
on random broadcasting shapes.  JVP == central differences, VJP passes the dot-product test,
forward-mode gradient == reverse-mode gradient, and second order agrees across modes."""
from __future__ import annotations

import os

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.numpy as cnp  # noqa: E402

from helpers import check_jvp_vjp  # noqa: E402

# Smooth everywhere on the reals, and bounded growth, so depth-6 compositions stay finite
# and finite differences stay accurate.
UNARY = {
    "sin": cnp.sin,
    "cos": cnp.cos,
    "tanh": cnp.tanh,
    "arctan": cnp.arctan,
    "arcsinh": cnp.arcsinh,
    "neg": cnp.negative,
    "sigmoid": lambda x: 1.0 / (1.0 + cnp.exp(-x)),
    "log1p_sq": lambda x: cnp.log1p(x * x),
    "sqrt_1p_sq": lambda x: cnp.sqrt(1.0 + x * x),
    "gauss": lambda x: cnp.exp(-(x * x)),
    "cbrt_shift": lambda x: cnp.cbrt(x * x + 1.0),
    "log_cosh": lambda x: cnp.log(cnp.cosh(x)),
    "square_half": lambda x: 0.5 * cnp.square(cnp.tanh(x)) + x * 0.25,
    "expm1_t": lambda x: cnp.expm1(cnp.tanh(x)),
    "arcsin_t": lambda x: cnp.arcsin(0.9 * cnp.tanh(x)),
    "exp2_t": lambda x: cnp.exp2(cnp.sin(x)),
    "log2_sq": lambda x: cnp.log2(2.0 + x * x) + cnp.log10(3.0 + x * x),
}
BINARY = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: 0.5 * x * y,
    "div": lambda x, y: x / (1.0 + y * y),
    "pow": lambda x, y: (1.5 + cnp.sin(x)) ** cnp.tanh(y),
    "hypot": lambda x, y: cnp.hypot(x, 1.0 + y * y),
    "arctan2": lambda x, y: cnp.arctan2(x, 2.0 + y * y),
    "logaddexp": lambda x, y: cnp.logaddexp(x, y),
    "where": lambda x, y: cnp.where(cnp.cos(x) > -2.0, 0.5 * x * y, y),   # traced (always true) condition
    "where_false": lambda x, y: cnp.where(cnp.cos(y) < -2.0, y, cnp.sin(x) + y),
    "where_py": lambda x, y: cnp.where(True, 0.5 * x * y, y),      # a Python bool condition
    "mean_bcast": lambda x, y: x * cnp.mean(y, axis=-1, keepdims=True) if cnp.ndim(y) else x * y,
}


def evaluate(expr, x, y):
    kind = expr[0]
    if kind == "x":
        return x
    if kind == "y":
        return y
    if kind == "const":
        return expr[1]
    if kind == "unary":
        return UNARY[expr[1]](evaluate(expr[2], x, y))
    return BINARY[expr[1]](evaluate(expr[2], x, y), evaluate(expr[3], x, y))


def _expr(depth):
    leaf = st.one_of(st.just(("x",)), st.just(("y",)),
                     st.floats(-2, 2, allow_nan=False).map(lambda c: ("const", c)))
    if depth == 0:
        return leaf
    sub = _expr(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(st.just("unary"), st.sampled_from(sorted(UNARY)), sub),
        st.tuples(st.just("binary"), st.sampled_from(sorted(BINARY)), sub, sub),
    )


def _uses(expr, name):
    if expr[0] == name:
        return True
    return any(_uses(e, name) for e in expr[2:] if isinstance(e, tuple))


@st.composite
def programs(draw, max_depth=6):
    depth = draw(st.integers(1, max_depth))
    # a top-level operation, so every program has at least one primitive on the inputs
    top = draw(st.sampled_from(["unary", "binary"]))
    sub = _expr(depth - 1)
    if top == "unary":
        expr = ("unary", draw(st.sampled_from(sorted(UNARY))), draw(sub))
    else:
        expr = ("binary", draw(st.sampled_from(sorted(BINARY))), draw(sub), draw(sub))
    if not _uses(expr, "x"):
        expr = ("binary", "add", expr, ("unary", "sin", ("x",)))
    # broadcasting shapes: y's shape drops leading axes and/or has size-1 axes
    ndim = draw(st.sampled_from([0, 1, 1, 2, 2, 2, 3, 3]))
    base = tuple(draw(st.sampled_from([2, 3, 1, 2, 3])) for _ in range(ndim))
    n_drop = draw(st.integers(0, len(base)))
    yshape = tuple(1 if draw(st.booleans()) else s for s in base[n_drop:])
    elems = st.floats(-2, 2, allow_nan=False, allow_infinity=False)
    x = draw(hnp.arrays(np.float64, base, elements=elems))
    y = draw(hnp.arrays(np.float64, yshape, elements=elems))
    if draw(st.booleans()):                     # swap roles: the smaller shape first
        x, y = y, x
    return expr, x, y


# derandomize, deadline, health checks and print_blob come from the profile in
# tests/conftest.py (which says how to reproduce a failure)
SETTINGS = dict(deadline=None)


@settings(max_examples=120, **SETTINGS)
@given(programs())
def test_jvp_matches_fd_and_vjp_dot_product(prog):
    expr, x, y = prog
    f = lambda x, y: evaluate(expr, x, y)
    out = np.asarray(f(x, y))
    assert np.all(np.isfinite(out))
    check_jvp_vjp(f, (x, y), order=1, rtol=1e-5, atol=1e-6, what=repr(expr), n_dirs=1)


@settings(max_examples=120, **SETTINGS)
@given(programs(), st.integers(0, 2 ** 31 - 1))
def test_forward_gradient_equals_reverse_gradient(prog, seed):
    expr, x, y = prog
    w = np.random.default_rng(seed).standard_normal(np.shape(evaluate(expr, x, y)))
    s = lambda x, y: cnp.sum(w * evaluate(expr, x, y))
    gx, gy = cr.grad(s, argnums=(0, 1))(x, y)
    assert gx.shape == x.shape and gy.shape == y.shape
    jx, jy = cr.jacfwd(s, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx, jx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gy, jy, rtol=1e-10, atol=1e-12)
    # the whole Jacobian by both modes
    f = lambda x: evaluate(expr, x, y)
    np.testing.assert_allclose(cr.jacrev(f)(x), cr.jacfwd(f)(x), rtol=1e-10, atol=1e-12)


@settings(max_examples=40, **SETTINGS)
@given(programs(max_depth=4))
def test_second_order_all_modes(prog):
    expr, x, y = prog
    f = lambda x, y: evaluate(expr, x, y)
    check_jvp_vjp(f, (x, y), order=2, rtol=1e-5, atol=1e-6, what=repr(expr), n_dirs=1)


@settings(max_examples=40, **SETTINGS)
@given(programs(max_depth=4))
def test_hessian_symmetric_and_modes_agree(prog):
    expr, x, y = prog
    s = lambda x: cnp.sum(evaluate(expr, x, y))
    H1 = np.asarray(cr.hessian(s)(x)).reshape(x.size, x.size)
    H2 = np.asarray(cr.jacrev(cr.grad(s))(x)).reshape(x.size, x.size)
    H3 = np.asarray(cr.jacfwd(cr.jacfwd(s))(x)).reshape(x.size, x.size)
    scale = 1.0 + np.max(np.abs(H1), initial=0.0)
    np.testing.assert_allclose(H1, H1.T, rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(H2, H1, rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(H3, H1, rtol=0, atol=1e-10 * scale)


@pytest.mark.skipif(bool(os.environ.get("HYPOTHESIS_PROFILE")), reason="another profile was chosen")
def test_default_profile_makes_failures_reproducible():
    # tests/conftest.py: the same examples on every machine, and a failure prints its blob
    current = settings()
    assert current.derandomize and current.print_blob and current.database is None
