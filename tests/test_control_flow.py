"""Python control flow (if / for / while) on traced values: values are concrete, so every
transformation follows the branch actually taken."""
from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

from helpers import fd_grad, w2, w2_value, w2_prime, w2_second  # noqa: F401



# ------------------------------------------------------- W2 (WORKLOADS.md) ---

GRID = np.linspace(-5, 5, 100)


def test_w2_closed_form_sanity():
    for x in (-2.0, -0.3, 0.7, 3.0):
        assert float(w2(x)) == pytest.approx(w2_value(x), rel=1e-14)


def test_w2_grad_on_grid_both_branches():
    assert (GRID < 0).any() and (GRID >= 0).any()
    got = np.array([cr.grad(w2)(float(x)) for x in GRID])
    np.testing.assert_allclose(got, [w2_prime(x) for x in GRID], rtol=1e-13, atol=1e-13)


def test_w2_jvp_on_grid():
    got = np.array([cr.jvp(w2, (float(x),), (1.0,))[1] for x in GRID])
    np.testing.assert_allclose(got, [w2_prime(x) for x in GRID], rtol=1e-13, atol=1e-13)
    vals = np.array([cr.jvp(w2, (float(x),), (1.0,))[0] for x in GRID])
    np.testing.assert_allclose(vals, [w2_value(x) for x in GRID], rtol=1e-13)


def test_w2_nested_grad_on_grid():
    g2 = cr.grad(cr.grad(w2))
    np.testing.assert_allclose([g2(float(x)) for x in GRID], [w2_second(x) for x in GRID], rtol=1e-13)
    g3 = cr.grad(g2)
    np.testing.assert_allclose([g3(float(x)) for x in GRID[::7]], 0.0, atol=1e-12)


def test_w2_jacfwd_and_jacrev_over_grid():
    # elementwise over an array: a Python loop over the entries, each following its own branch
    def f(xs):
        return cnp.stack([w2(xs[i]) for i in range(len(xs))])
    xs = GRID[::5]
    exact = np.diag([w2_prime(x) for x in xs])
    np.testing.assert_allclose(cr.jacfwd(f)(xs), exact, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(cr.jacrev(f)(xs), exact, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(cr.jacobian(f)(xs), exact, rtol=1e-13, atol=1e-13)


def test_w2_with_numpy_scalars():
    for x in (np.float64(-1.2), np.float64(2.5), np.array(-1.2), np.array(2.5)):
        assert float(cr.grad(w2)(x)) == pytest.approx(w2_prime(float(x)), rel=1e-13)


def test_w2_at_zero():
    assert cr.grad(w2)(0.0) == pytest.approx(1.0)
    assert cr.jvp(w2, (0.0,), (1.0,))[1] == pytest.approx(1.0)


def test_power_zero_exponent_at_zero():
    assert cr.grad(lambda x: x ** 0)(0.0) == 0.0
    assert cr.grad(lambda x: x ** 0.0)(0.0) == 0.0
    assert cr.jvp(lambda x: x ** 0, (0.0,), (1.0,))[1] == 0.0


# ------------------------------------------------------------ if ---

def piecewise(x):
    if x > 1.0:
        return cnp.log(x)
    elif x > -1.0:
        return x - 1.0
    return -x ** 2


@pytest.mark.parametrize("x,d", [(2.0, 0.5), (0.3, 1.0), (-3.0, 6.0)])
def test_if_elif_else(x, d):
    assert cr.grad(piecewise)(x) == pytest.approx(d)
    assert cr.jvp(piecewise, (x,), (1.0,))[1] == pytest.approx(d)
    assert float(cr.jacfwd(piecewise)(x)) == pytest.approx(d)


def test_if_on_array_reduction():
    def f(x):
        if cnp.sum(x) > 0:
            return cnp.sum(x ** 2)
        return cnp.sum(cnp.sin(x))
    a, b = np.array([1.0, 2.0]), np.array([-1.0, -2.0])
    np.testing.assert_allclose(cr.grad(f)(a), 2 * a)
    np.testing.assert_allclose(cr.grad(f)(b), np.cos(b))


def test_if_on_inner_derivative_value():
    # a branch on the value of a derivative inside an outer transformation
    def f(x):
        d = cr.grad(lambda y: y ** 3)(x)          # 3x^2
        return d * x if d > 1.0 else -x
    assert cr.grad(f)(2.0) == pytest.approx(9 * 4.0)          # d/dx 3x^3
    assert cr.grad(f)(0.1) == pytest.approx(-1.0)


# ---------------------------------------------------------- loops ---

def newton_sqrt(a):
    """sqrt(a) by Newton's method with a data-dependent stopping rule (while)."""
    x = a if a > 1 else 1.0
    while abs(x * x - a) > 1e-14 * a:
        x = 0.5 * (x + a / x)
    return x


@pytest.mark.parametrize("a", [0.25, 2.0, 10.0])
def test_while_loop_newton(a):
    assert float(newton_sqrt(a)) == pytest.approx(math.sqrt(a), rel=1e-14)
    assert cr.grad(newton_sqrt)(a) == pytest.approx(0.5 / math.sqrt(a), rel=1e-8)
    assert cr.jvp(newton_sqrt, (a,), (1.0,))[1] == pytest.approx(0.5 / math.sqrt(a), rel=1e-8)
    assert cr.grad(cr.grad(newton_sqrt))(a) == pytest.approx(-0.25 * a ** -1.5, rel=1e-6)


def test_while_loop_count_depends_on_value():
    def f(x):
        n = 0
        while x < 10.0:
            x = x * 2.0
            n += 1
        return x
    # 2^n x with n depending on x
    assert cr.grad(f)(1.5) == pytest.approx(8.0)      # 1.5 -> 12 (n = 3)
    assert cr.grad(f)(3.0) == pytest.approx(4.0)      # 3 -> 12 (n = 2)
    assert cr.jvp(f, (0.7,), (1.0,))[1] == pytest.approx(16.0)


def test_for_loop_over_array_elements_and_break():
    def f(x):
        total = 0.0
        for xi in x:
            if xi < 0:
                break
            total = total + xi ** 2
        return total
    x = np.array([1.0, 2.0, -1.0, 5.0])
    np.testing.assert_allclose(cr.grad(f)(x), [2.0, 4.0, 0.0, 0.0])
    np.testing.assert_allclose(cr.jacfwd(f)(x), [2.0, 4.0, 0.0, 0.0])


def test_for_loop_recurrence_matches_fd():
    def f(x):
        y = x
        for k in range(20):
            y = cnp.sin(y) + 0.1 * k * x
        return cnp.sum(y)
    x = np.array([0.2, -0.4, 1.0])
    np.testing.assert_allclose(cr.grad(f)(x), fd_grad(lambda v: float(f(v)), x), rtol=1e-7, atol=1e-9)


def test_int_and_index_from_traced_value():
    def f(x):
        k = int(x)                                  # concrete value used as an index
        table = np.array([1.0, 10.0, 100.0])
        return table[k] * x ** 2
    assert cr.grad(f)(1.5) == pytest.approx(10.0 * 3.0)
    assert cr.grad(f)(2.5) == pytest.approx(100.0 * 5.0)


def test_control_flow_under_nested_transformations():
    def f(x):
        if x > 0:
            return x ** 3
        return x ** 2
    # d3/dx3 x^3 = 6 on the positive side, 0 on the negative side
    assert cr.grad(cr.grad(cr.grad(f)))(1.5) == pytest.approx(6.0)
    assert cr.grad(cr.grad(cr.grad(f)))(-1.5) == pytest.approx(0.0)
    assert cr.jvp(cr.grad(f), (1.5,), (1.0,))[1] == pytest.approx(9.0)
    assert float(cr.hessian(f)(-1.5)) == pytest.approx(2.0)
