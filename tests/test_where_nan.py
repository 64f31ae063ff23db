"""No NaN from the untaken branch of `where` (where JAX gives nan): the derivative of
where(c, f(x), y) at a singular point of f that is not selected is the derivative of y."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

WHERES = {"cnp.where": cnp.where, "np.where": np.where}

# name -> (guarded function builder taking `where`, singular point, value of the derivative there,
#          a regular point, the derivative at the regular point)
CASES = {
    "sqrt": (lambda w: lambda x: w(x > 0, cnp.sqrt(x), 0.0), 0.0, 0.0, 4.0, 0.25),
    "np.sqrt": (lambda w: lambda x: w(x > 0, np.sqrt(x), 0.0), 0.0, 0.0, 4.0, 0.25),
    "log": (lambda w: lambda x: w(x > 0, cnp.log(x), 0.0), 0.0, 0.0, 2.0, 0.5),
    "log-negative": (lambda w: lambda x: w(x > 0, cnp.log(x), x), -1.0, 1.0, 2.0, 0.5),
    "division": (lambda w: lambda x: w(x != 0, 1.0 / x, 0.0), 0.0, 0.0, 2.0, -0.25),
    "division-numerator": (lambda w: lambda x: w(x != 0, (x + 1.0) / x, x), 0.0, 1.0, 2.0, -0.25),
    "power-half": (lambda w: lambda x: w(x > 0, x ** 0.5, 0.0), 0.0, 0.0, 4.0, 0.25),
    "power-negative-exponent": (lambda w: lambda x: w(x > 0, x ** -1.5, 0.0), 0.0, 0.0, 1.0, -1.5),
    "power-fn": (lambda w: lambda x: w(x > 0, cnp.power(x, 0.5), 0.0), 0.0, 0.0, 4.0, 0.25),
    "arcsin-near-1": (lambda w: lambda x: w(x < 1, cnp.arcsin(x), 0.0), 1.0, 0.0, 0.6, 1.25),
    "arcsin-beyond-1": (lambda w: lambda x: w(cnp.abs(x) < 1, cnp.arcsin(x), 2.0 * x), 1.5, 2.0, 0.6, 1.25),
    "arccos-near-1": (lambda w: lambda x: w(x < 1, cnp.arccos(x), 0.0), 1.0, 0.0, 0.6, -1.25),
    "log1p": (lambda w: lambda x: w(x > -1, cnp.log1p(x), 0.0), -1.0, 0.0, 1.0, 0.5),
    "sqrt-in-product": (lambda w: lambda x: w(x > 0, cnp.sqrt(x) * cnp.sin(x), 0.0), 0.0, 0.0,
                        1.0, 0.5 * math.sin(1.0) + math.cos(1.0)),
}


def _values_are(g, expected):
    g = np.asarray(g, dtype=float)
    assert np.all(np.isfinite(g)), f"non-finite derivative {g}"
    np.testing.assert_allclose(g, expected, rtol=1e-13, atol=0)


@pytest.mark.parametrize("wname", list(WHERES))
@pytest.mark.parametrize("case", list(CASES))
def test_scalar_untaken_branch_gives_no_nan(case, wname):
    build, x0, d0, x1, d1 = CASES[case]
    f = build(WHERES[wname])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # the primal may warn (log(0)); derivatives must not be nan
        _values_are(cr.grad(f)(x0), d0)
        _values_are(cr.grad(f)(x1), d1)
        # forward mode too
        _values_are(cr.jvp(f, (x0,), (1.0,))[1], d0)
        _values_are(cr.jvp(f, (x1,), (1.0,))[1], d1)


@pytest.mark.parametrize("wname", list(WHERES))
@pytest.mark.parametrize("case", ["sqrt", "log", "division", "power-half", "arcsin-near-1", "log-negative"])
def test_array_untaken_branch_gives_no_nan(case, wname):
    build, x0, d0, x1, d1 = CASES[case]
    f = build(WHERES[wname])
    x = np.array([x0, x1, x0, x1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        g = cr.grad(lambda x: cnp.sum(f(x)))(x)
        _values_are(g, [d0, d1, d0, d1])
        J = cr.jacrev(f)(x)
        _values_are(J, np.diag([d0, d1, d0, d1]))
        J = cr.jacfwd(f)(x)
        _values_are(J, np.diag([d0, d1, d0, d1]))


def _second(mode, f, x):
    """d2f/dx2 at scalar x by the given composition of modes."""
    if mode == "fwd-fwd":
        return cr.jvp(lambda y: cr.jvp(f, (y,), (1.0,))[1], (x,), (1.0,))[1]
    if mode == "fwd-rev":
        return cr.jvp(cr.grad(f), (x,), (1.0,))[1]
    if mode == "rev-fwd":
        return cr.grad(lambda y: cr.jvp(f, (y,), (1.0,))[1])(x)
    return cr.grad(cr.grad(f))(x)


MODES = ["fwd-fwd", "fwd-rev", "rev-fwd", "rev-rev"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("wname", list(WHERES))
@pytest.mark.parametrize("case", ["sqrt", "log", "division", "power-half", "arcsin-near-1"])
def test_second_derivative_untaken_singular_branch(case, wname, mode):
    build, x0, d0, x1, d1 = CASES[case]
    f = build(WHERES[wname])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _values_are(_second(mode, f, x0), 0.0)
        # at a regular point: the true second derivative, against central differences of grad
        h = 1e-5
        fd = (cr.grad(f)(x1 + h) - cr.grad(f)(x1 - h)) / (2 * h)
        np.testing.assert_allclose(_second(mode, f, x1), fd, rtol=1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("wname", list(WHERES))
def test_second_derivative_untaken_branch_composite(wname, mode):
    w = WHERES[wname]
    f = lambda x: w(x > 0, cnp.sqrt(x) ** 3, x * x)            # x^1.5 for x > 0, x^2 otherwise
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _values_are(_second(mode, f, 4.0), 0.75 / 2.0)
        _values_are(_second(mode, f, 0.0), 2.0)


def test_nested_where_and_safe_log_pattern():
    # the "double where" idiom also works (and the single where already does)
    def safe_log(x):
        ok = x > 0
        return cnp.where(ok, cnp.log(cnp.where(ok, x, 1.0)), -10.0)
    x = np.array([0.0, 1.0, 2.0])
    _values_are(cr.grad(lambda x: cnp.sum(safe_log(x)))(x), [0.0, 1.0, 0.5])


def test_where_with_scalar_branches_and_broadcast_condition():
    x = np.array([[0.0, 4.0], [0.0, 9.0]])
    cond = np.array([True, False])                       # broadcasts along rows: column 0 is untaken
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        g = cr.grad(lambda x: cnp.sum(cnp.where(cond, 0.0, cnp.sqrt(x))))(x)
        _values_are(g, [[0.0, 0.25], [0.0, 1.0 / 6.0]])
        g = cr.grad(lambda x: np.sum(np.where(cond, 0.0, np.sqrt(x))))(x)
        _values_are(g, [[0.0, 0.25], [0.0, 1.0 / 6.0]])


@pytest.mark.parametrize("wname", list(WHERES))
def test_entropy_pattern_first_order(wname):
    # x log x in the untaken branch at 0: its zero cotangent meets log(0) = -inf in the product
    w = WHERES[wname]
    f = lambda x: cnp.sum(w(x > 0, x * cnp.log(x), 0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        x = np.array([0.0, 1.0, 2.0])
        _values_are(cr.grad(f)(x), [0.0, 1.0, 1.0 + np.log(2.0)])
        _values_are(cr.jit(cr.grad(f))(x), [0.0, 1.0, 1.0 + np.log(2.0)])
        _values_are(cr.grad(lambda v: f(np.array([0.0]) + v))(0.0), 0.0)
