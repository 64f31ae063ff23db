"""i0, i0e, i1, i1e, erfcx and the Hurwitz zeta: SciPy's values, and derivatives against closed
forms (DLMF 10.29.2-3, 10.25.1, 7.10, 25.11.17 and the recurrence 25.11.3)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as sc

import chainrule as cr
import chainrule.scipy.special as cs

X = np.array([-40.0, -7.5, -2.1, -0.3, -1e-8, 0.0, 1e-8, 0.4, 1.9, 12.0, 300.0])


@pytest.mark.parametrize("name", ["i0", "i0e", "i1", "i1e", "erfcx"])
def test_values_are_scipys(name):
    f, ref = getattr(cs, name), getattr(sc, name)
    np.testing.assert_allclose(f(X), ref(X), rtol=4e-16 if name.endswith("e") or name == "erfcx" else 2e-15,
                               atol=0)
    assert type(f(0.7)) is float and f(0.7) == pytest.approx(float(ref(0.7)), rel=1e-15)
    np.testing.assert_allclose(cr.jit(f)(X), ref(X), rtol=2e-15, atol=0)


def test_unscaled_functions_do_not_overflow_early():
    # exp(|x|) is applied as two half factors: finite wherever I0, I1 are (SciPy's overflow at 712)
    for f, scaled in ((cs.i0, sc.i0e), (cs.i1, sc.i1e)):
        assert math.log(f(712.0)) == pytest.approx(712.0 + math.log(scaled(712.0)), rel=1e-15)
        assert math.isinf(f(720.0))


def test_bessel_derivatives_are_the_closed_forms():
    x = X[X != 0]
    di0, di1 = cr.vmap(cr.grad(cs.i0)), cr.vmap(cr.grad(cs.i1))
    # I0' = I1 and I1' = I0 - I1/x (DLMF 10.29.2-3), to a rounding error of exp(|x|) (the
    # terms +-sign(x) i0e of exp(|x|)' i0e and i0e' cancel)
    assert np.all(np.abs(di0(x) - sc.i1(x)) <= 1e-14 * np.abs(sc.i1(x)) + 1e-15 * sc.i0(x))
    np.testing.assert_allclose(di1(x), sc.i0(x) - sc.i1(x) / x, rtol=1e-12)
    sgn = np.sign(x)
    np.testing.assert_allclose(cr.vmap(cr.grad(cs.i0e))(x), sc.i1e(x) - sgn * sc.i0e(x), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cr.vmap(cr.grad(cs.i1e))(x), sc.i0e(x) - sc.i1e(x) * (sgn + 1 / x),
                               rtol=1e-9, atol=1e-16)
    # at 0: I1(x) ~ x/2, so i1e'(0) = I1'(0) = 1/2 (forward and reverse); I0'(0) = 0
    assert cr.grad(cs.i1e)(0.0) == 0.5 and cr.jacfwd(cs.i1e)(0.0) == 0.5
    assert cr.grad(cs.i1)(0.0) == 0.5 and cr.grad(cs.i0)(0.0) == 0.0
    assert cr.grad(cr.grad(cs.i0))(0.0) == pytest.approx(0.5, rel=1e-15)          # I0'' (0) = I1'(0)


@pytest.mark.parametrize("n,f", [(0, cs.i0), (1, cs.i1)])
def test_modified_bessel_equation(n, f):
    # x^2 y'' + x y' - (x^2 + n^2) y = 0 (DLMF 10.25.1), second derivatives by nested modes
    x = np.array([0.3, 1.1, 2.5, -3.7, 6.0])
    y = f(x)
    d1 = cr.vmap(cr.grad(f))(x)
    d2 = cr.vmap(cr.grad(cr.grad(f)))(x)
    d2f = cr.vmap(cr.jacfwd(cr.jacfwd(f)))(x)
    np.testing.assert_allclose(d2f, d2, rtol=1e-13)
    residual = x ** 2 * d2 + x * d1 - (x ** 2 + n * n) * y
    np.testing.assert_allclose(residual, 0.0, atol=1e-11 * np.max(np.abs(x ** 2 * y)))


def test_erfcx_derivative_and_large_arguments():
    x = np.array([-3.0, -0.5, 0.0, 0.8, 10.0, 1e3, 1e8])
    d = cr.vmap(cr.grad(cs.erfcx))(x)
    np.testing.assert_allclose(d, 2 * x * sc.erfcx(x) - 2 / math.sqrt(math.pi), rtol=1e-9, atol=1e-15)
    assert np.all(np.isfinite(d))
    # erfcx(x) ~ 1 / (x sqrt(pi)) as x -> inf (DLMF 7.12.1): no overflow where exp(x^2) would
    assert cs.erfcx(1e8) == pytest.approx(1 / (1e8 * math.sqrt(math.pi)), rel=1e-15)
    # second derivative: (2 x erfcx - c)' = 2 erfcx + 2 x erfcx'
    d2 = cr.grad(cr.grad(cs.erfcx))(0.8)
    assert d2 == pytest.approx(2 * sc.erfcx(0.8) + 1.6 * (1.6 * sc.erfcx(0.8) - 2 / math.sqrt(math.pi)), rel=1e-13)


def test_zeta_values_and_q_derivative():
    x, q = np.array([1.5, 2.0, 3.3, 6.0, 20.0]), np.array([0.4, 1.0, 2.5, 7.0, 0.9])
    np.testing.assert_allclose(cs.zeta(x, q), sc.zeta(x, q), rtol=1e-15)
    assert cs.zeta(2.0) == pytest.approx(math.pi ** 2 / 6, rel=1e-15)           # Riemann's zeta(2)
    dq = cr.vmap(cr.grad(cs.zeta, 1))(x, q)
    np.testing.assert_allclose(dq, -x * sc.zeta(x + 1, q), rtol=1e-14)         # DLMF 25.11.17
    d2q = cr.grad(cr.grad(cs.zeta, 1), 1)(3.0, 1.7)
    assert d2q == pytest.approx(3.0 * 4.0 * sc.zeta(5.0, 1.7), rel=1e-14)


def test_zeta_x_derivative_through_the_recurrence():
    # zeta(x, q) - zeta(x, q + 1) = q^-x (DLMF 25.11.3): its x-derivatives are exact,
    # (-log q)^k q^-x, so they test the Euler-Maclaurin derivative at every order used
    x, q = np.array([1.2, 2.0, 3.5, 9.0, 30.0]), np.array([0.3, 1.0, 2.2, 4.0, 0.8])

    def diff(x, q):
        return cs.zeta(x, q) - cs.zeta(x, q + 1.0)
    d1 = cr.vmap(cr.grad(diff))(x, q)
    d2 = cr.vmap(cr.grad(cr.grad(diff)))(x, q)
    lq = np.log(q)
    np.testing.assert_allclose(d1, -lq * q ** -x, rtol=1e-11, atol=1e-15)
    np.testing.assert_allclose(d2, lq ** 2 * q ** -x, rtol=1e-9, atol=1e-14)
    # zeta'(2) = pi^2/6 (gamma + log 2 pi - 12 log A), A Glaisher's constant
    glaisher = 1.2824271291006226369
    expected = math.pi ** 2 / 6 * (np.euler_gamma + math.log(2 * math.pi) - 12 * math.log(glaisher))
    assert cr.grad(cs.zeta)(2.0, 1.0) == pytest.approx(expected, rel=1e-14)
    # forward and reverse agree, mixed partial d2/dx dq = -zeta(x+1, q) - x d/dx zeta(x+1, q)
    assert cr.jacfwd(cs.zeta)(2.5, 1.3) == pytest.approx(cr.grad(cs.zeta)(2.5, 1.3), rel=1e-15)
    mixed = cr.grad(cr.grad(cs.zeta), 1)(2.5, 1.3)
    assert mixed == pytest.approx(-sc.zeta(3.5, 1.3) - 2.5 * cr.grad(cs.zeta)(3.5, 1.3), rel=1e-13)


def test_scipy_ufuncs_dispatch_on_traced_values():
    for name in ("i0", "i0e", "i1", "i1e", "erfcx"):
        ufunc, f = getattr(sc, name), getattr(cs, name)
        assert cr.grad(lambda x: ufunc(x))(0.7) == pytest.approx(cr.grad(f)(0.7), rel=1e-15)


def test_scipy_zeta_wrapper_dispatches_through_its_private_ufunc():
    # scipy.special.zeta is a Python function around the ufuncs _zeta / _riemann_zeta
    assert cr.grad(lambda q: sc.zeta(3.0, q))(2.0) == pytest.approx(-3.0 * sc.zeta(4.0, 2.0), rel=1e-13)
    d = cr.grad(lambda x: sc.zeta(x))(3.0)
    assert d == pytest.approx(cr.grad(lambda x: cs.zeta(x, 1.0))(3.0), rel=1e-15)
    assert d == pytest.approx(cr.fd.derivative(lambda x: sc.zeta(x), 3.0).value, rel=1e-8)
    assert cr.jit(lambda x: sc.zeta(x, 2.0))(3.0) == pytest.approx(sc.zeta(3.0, 2.0), rel=1e-15)
