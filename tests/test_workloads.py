"""Closed-form checks for the examples of /work/shared/WORKLOADS.md (W1, W2, W3, W4, W6, W7)
and the nesting examples of the issue (no perturbation confusion)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

from helpers import check_jvp_vjp, rosen_hessian, rosen_hvp, w2


# ------------------------------------------------------------ W1 ---

def w1(x):
    return cnp.sin(x) - 2.0 * cnp.cos(3.0 * x) * cnp.exp(-x * x)


def w1_prime(x):
    return np.cos(x) + 6 * np.sin(3 * x) * np.exp(-x ** 2) + 4 * x * np.cos(3 * x) * np.exp(-x ** 2)


def test_w1_loop_of_scalar_grad():
    xs = np.linspace(-5, 5, 100)
    got = np.array([cr.grad(w1)(float(x)) for x in xs])
    np.testing.assert_allclose(got, w1_prime(xs), rtol=1e-13, atol=1e-14)


def test_w1_forward_mode_and_array_input():
    xs = np.linspace(-5, 5, 100)
    got = np.array([cr.jvp(w1, (float(x),), (1.0,))[1] for x in xs])
    np.testing.assert_allclose(got, w1_prime(xs), rtol=1e-13, atol=1e-14)
    # the same through one vectorised call: gradient of the sum is the elementwise derivative
    np.testing.assert_allclose(cr.grad(lambda x: cnp.sum(w1(x)))(xs), w1_prime(xs), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(cr.jvp(w1, (xs,), (np.ones(100),))[1], w1_prime(xs), rtol=1e-13, atol=1e-14)


def test_w1_second_derivative():
    def w1_second(x):
        e = np.exp(-x ** 2)
        return (-np.sin(x) + 18 * np.cos(3 * x) * e - 12 * x * np.sin(3 * x) * e
                + 4 * np.cos(3 * x) * e - 12 * x * np.sin(3 * x) * e - 8 * x ** 2 * np.cos(3 * x) * e)
    xs = np.linspace(-3, 3, 13)
    np.testing.assert_allclose([cr.grad(cr.grad(w1))(float(x)) for x in xs], w1_second(xs), rtol=1e-12, atol=1e-13)


# ------------------------------------------------------------ W2 ---

def test_w2_loop_of_grad():
    xs = np.linspace(-5, 5, 100)
    exact = np.where(xs < 0, 2 * 3.375 * (3.375 * xs + 0.35), 1 + 2 * xs)
    np.testing.assert_allclose([cr.grad(w2)(float(x)) for x in xs], exact, rtol=1e-13, atol=1e-13)


# ------------------------------------------------------------ W3 ---

A_, B_, M_, X_ = 2.0, 1.0, 10, 0.3


def w3(x):
    return (A_ * x + B_) ** M_


def w3_exact(n):
    if n > M_:
        return 0.0
    return math.factorial(M_) / math.factorial(M_ - n) * A_ ** n * (A_ * X_ + B_) ** (M_ - n)


def _nested_grad(f, n):
    for _ in range(n):
        f = cr.grad(f)
    return f


@pytest.mark.parametrize("n", list(range(1, 13)))
def test_w3_nested_grad(n):
    got = _nested_grad(w3, n)(X_)
    assert got == pytest.approx(w3_exact(n), rel=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_w3_nested_jvp(n):
    f = w3
    for _ in range(n):
        f = (lambda g: lambda x: cr.jvp(g, (x,), (1.0,))[1])(f)
    assert f(X_) == pytest.approx(w3_exact(n), rel=1e-12)


def test_w3_mixed_nesting():
    # forward over reverse over forward ... all orders agree
    f = cr.grad(w3)
    f = (lambda g: lambda x: cr.jvp(g, (x,), (1.0,))[1])(f)
    f = cr.grad(f)
    assert f(X_) == pytest.approx(w3_exact(3), rel=1e-12)


def test_w3_integer_power_operator_and_power_function():
    g = lambda x: cnp.power(2.0 * x + 1.0, 10.0)
    assert _nested_grad(g, 4)(X_) == pytest.approx(w3_exact(4), rel=1e-12)


# ------------------------------------------------------------ W4 ---

@pytest.mark.parametrize("m,n", [(100, 100), (10, 1000), (1000, 10)])
def test_w4_jacobians(m, n):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((m, n)) / np.sqrt(n)
    b = rng.standard_normal(m)
    x = rng.standard_normal(n)
    f = lambda x: cnp.tanh(W @ x + b)
    exact = (1 - np.tanh(W @ x + b) ** 2)[:, None] * W
    for jac in (cr.jacfwd, cr.jacrev, cr.jacobian):
        J = jac(f)(x)
        assert J.shape == (m, n)
        np.testing.assert_allclose(J, exact, rtol=1e-12, atol=1e-15)


def test_w4_small_all_orders():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 4))
    b = rng.standard_normal(3)
    check_jvp_vjp(lambda x: cnp.tanh(W @ x + b), (rng.standard_normal(4),), order=2)


# ------------------------------------------------------------ W6 ---

def test_w6_small():
    x = np.linspace(-2, 3, 1000)
    f = lambda x: cnp.sum(cnp.sin(x) ** 2 * cnp.exp(-x))
    v, g = cr.value_and_grad(f)(x)
    assert v == pytest.approx(np.sum(np.sin(x) ** 2 * np.exp(-x)), rel=1e-13)
    np.testing.assert_allclose(g, (2 * np.sin(x) * np.cos(x) - np.sin(x) ** 2) * np.exp(-x), rtol=1e-12, atol=1e-15)
    t = np.cos(np.arange(1000.0))
    _, jt = cr.jvp(f, (x,), (t,))
    assert jt == pytest.approx(float(g @ t), rel=1e-10)


# ------------------------------------------------------------ W7 ---

def rosenbrock(x):
    return cnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosen_grad_exact(x):
    g = np.zeros_like(x)
    g[:-1] += -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    g[1:] += 200 * (x[1:] - x[:-1] ** 2)
    return g


rosen_hess_exact, rosen_hvp_exact = rosen_hessian, rosen_hvp


def test_w7_rosenbrock_hessian_n100():
    x = np.random.default_rng(1).uniform(-1.5, 1.5, 100)
    np.testing.assert_allclose(cr.grad(rosenbrock)(x), rosen_grad_exact(x), rtol=1e-12, atol=1e-10)
    H = cr.hessian(rosenbrock)(x)
    assert H.shape == (100, 100)
    np.testing.assert_allclose(H, rosen_hess_exact(x), rtol=1e-12, atol=1e-10)
    v = np.random.default_rng(2).standard_normal(100)
    np.testing.assert_allclose(cr.hvp(rosenbrock, (x,), (v,)), H @ v, rtol=1e-11, atol=1e-9)
    np.testing.assert_allclose(cr.jacrev(cr.grad(rosenbrock))(x), H, rtol=1e-12, atol=1e-10)


def test_w7_hvp_large():
    n = 100_000
    x = np.random.default_rng(3).uniform(-1.5, 1.5, n)
    v = np.random.default_rng(4).standard_normal(n)
    np.testing.assert_allclose(cr.hvp(rosenbrock, (x,), (v,)), rosen_hvp_exact(x, v), rtol=1e-11, atol=1e-8)


def test_w7_at_minimum():
    x = np.ones(10)
    np.testing.assert_allclose(cr.grad(rosenbrock)(x), np.zeros(10), atol=0)
    H = cr.hessian(rosenbrock)(x)
    np.testing.assert_allclose(H, rosen_hess_exact(x), rtol=1e-14)
    assert np.all(np.linalg.eigvalsh(H) > 0)


# ---------------------------------------------- nesting (issue item 1) ---

def test_no_perturbation_confusion():
    # d/dx [x * d/dy (x + y)] at y = x is 1 (a confused implementation gives 2)
    f = lambda x: x * cr.grad(lambda y: x + y)(x)
    assert cr.grad(f)(2.0) == 1.0
    assert cr.jvp(f, (2.0,), (1.0,))[1] == 1.0
    g = lambda x: x * cr.jvp(lambda y: x + y, (x,), (1.0,))[1]
    assert cr.grad(g)(2.0) == 1.0
    assert cr.jvp(g, (2.0,), (1.0,))[1] == 1.0


def test_no_perturbation_confusion_siskind_pearlmutter():
    # d/dx [x * d/dy (x * y) at y = 1]... the inner derivative is x, so d/dx x^2 = 2x
    f = lambda x: x * cr.grad(lambda y: x * y)(1.0)
    assert cr.grad(f)(3.0) == pytest.approx(6.0)
    h = lambda x: cr.grad(lambda y: cr.grad(lambda z: x * y * z)(1.0))(1.0) * x   # = x^2
    assert cr.grad(h)(3.0) == pytest.approx(6.0)


def test_grad_nested_six_deep():
    f = lambda x: (2.0 * x + 1.0) ** 10
    g = _nested_grad(f, 6)
    for x in (0.3, -0.7, 1.1):
        exact = math.factorial(10) / math.factorial(4) * 2 ** 6 * (2 * x + 1) ** 4
        assert g(x) == pytest.approx(exact, rel=1e-12)
