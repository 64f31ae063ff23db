"""Incomplete gamma and beta functions (chainrule.scipy.special gammainc, gammaincc, betainc and
the inverses gammaincinv, gammainccinv, betaincinv): values against SciPy, derivatives in the
shape parameters against mpmath (high-precision differentiation) and Richardson-extrapolated
SciPy differences, x-derivatives against the densities, against JAX where JAX has them, and
the NumPy fallbacks (used without SciPy) against SciPy."""
from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
import chainrule.scipy.special as csp
from chainrule.ops import special as P

sc = pytest.importorskip("scipy.special")

GAMMA_POINTS = [(2.5, 1.7), (0.3, 0.1), (0.3, 5.0), (5.0, 4.0), (50.0, 60.0), (100.0, 90.0),
                (1e-3, 0.5), (3.0, 30.0), (1000.0, 1020.0), (1e4, 1.02e4), (20.0, 200.0), (0.05, 1e-5)]
BETA_POINTS = [(2.5, 1.7, 0.3), (0.5, 3.0, 0.9), (10.0, 20.0, 0.3), (0.3, 0.4, 0.5), (100.0, 50.0, 0.66),
               (1.0, 1.0, 0.2), (0.1, 10.0, 1e-3), (4.0, 0.6, 0.97)]


def richardson(f, a, h):
    """Central differences at steps h and h/2, extrapolated (error O(h^4))."""
    d1 = (f(a + h) - f(a - h)) / (2 * h)
    d2 = (f(a + h / 2) - f(a - h / 2)) / h
    return (4 * d2 - d1) / 3


# ------------------------------------------------------------------ values ---

def test_values_are_scipys_and_fallbacks_agree():
    a = np.array([p[0] for p in GAMMA_POINTS])
    x = np.array([p[1] for p in GAMMA_POINTS])
    np.testing.assert_array_equal(csp.gammainc(a, x), sc.gammainc(a, x))
    np.testing.assert_array_equal(csp.gammaincc(a, x), sc.gammaincc(a, x))
    np.testing.assert_allclose(P._np_gammainc(a, x), sc.gammainc(a, x), rtol=1e-13)
    ab, bb, xb = (np.array(v) for v in zip(*BETA_POINTS))
    np.testing.assert_array_equal(csp.betainc(ab, bb, xb), sc.betainc(ab, bb, xb))
    np.testing.assert_allclose(P._np_betainc(ab, bb, xb), sc.betainc(ab, bb, xb), rtol=1e-13)
    y = np.array([1e-8, 0.1, 0.5, 0.97])
    aa = np.array([0.5, 2.5, 7.0, 30.0])
    np.testing.assert_allclose(P._np_inverse(P._np_gammainc, P._np_gamma_pdf, 0.0, np.inf, y, aa),
                               sc.gammaincinv(aa, y), rtol=1e-13)
    np.testing.assert_allclose(P._np_inverse(P._np_betainc, P._np_beta_pdf, 0.0, 1.0, y, aa, aa[::-1]),
                               sc.betaincinv(aa, aa[::-1], y), rtol=1e-12)
    assert type(csp.gammainc(2.0, 1.0)) is float and type(csp.betaincinv(2.0, 3.0, 0.4)) is float


def test_edges_and_invalid_parameters():
    assert P._gammainc_da_impl(2.0, 0.0) == 0.0 and P._gammainc_da_impl(2.0, np.inf) == 0.0
    assert math.isnan(P._gammainc_da_impl(-1.0, 1.0)) and math.isnan(P._gammainc_da_impl(1.0, -1.0))
    assert P._betainc_dab_impl(2.0, 3.0, 0.0) == 0.0 and P._betainc_dab_impl(2.0, 3.0, 1.0, 0, 1) == 0.0
    assert math.isnan(P._betainc_dab_impl(2.0, 0.0, 0.5)) and math.isnan(P._betainc_dab_impl(2.0, 1.0, 1.5))
    # the zero cotangent of an untaken branch stays zero where the density is infinite (x = 0, a < 1)
    g = cr.grad(lambda x: cnp.where(x > 0, csp.gammainc(0.5, x), 0.0))(0.0)
    assert g == 0.0


# --------------------------------------------- derivatives in the shape parameters ---

@pytest.mark.parametrize("a,x", GAMMA_POINTS)
def test_gammainc_da_against_mpmath(a, x):
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    for k in (1, 2, 3):
        if x > a:     # through Q: P is 1 - tiny there
            ref = -mp.diff(lambda t: mp.gammainc(t, x, mp.inf, regularized=True), a, k)
        else:
            ref = mp.diff(lambda t: mp.gammainc(t, 0, x, regularized=True), a, k)
        got = P._gammainc_da_impl(a, x, k)
        # relative 2e-13, or 1e-16 absolute where the derivative crosses zero
        assert abs(got - float(ref)) <= 2e-13 * abs(float(ref)) + 1e-16, (k, got, ref)


@pytest.mark.parametrize("a,b,x", BETA_POINTS)
def test_betainc_dab_against_mpmath(a, b, x):
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    for da, db in [(1, 0), (0, 1), (1, 1), (2, 0), (0, 2), (2, 1)]:
        ref = float(mp.diff(lambda s, t: mp.betainc(s, t, 0, x, regularized=True), (a, b), (da, db)))
        got = P._betainc_dab_impl(a, b, x, da, db)
        assert abs(got - ref) <= 5e-13 * abs(ref) + 1e-16, (da, db, got, ref)


def test_shape_gradients_against_scipy_richardson():
    for a, x in GAMMA_POINTS[:8]:
        # differences of the smaller of P and Q (the other is 1 - tiny)
        want = (richardson(lambda t: sc.gammainc(t, x), a, 1e-3 * a) if x < a else
                -richardson(lambda t: sc.gammaincc(t, x), a, 1e-3 * a))
        got = cr.grad(csp.gammainc, 0)(a, x)
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-14)
        np.testing.assert_allclose(cr.grad(csp.gammaincc, 0)(a, x), -want, rtol=1e-7, atol=1e-14)
    for a, b, x in BETA_POINTS[:6]:
        for i, f in ((0, lambda t: sc.betainc(t, b, x)), (1, lambda t: sc.betainc(a, t, x))):
            want = richardson(f, (a, b)[i], 1e-3 * (a, b)[i])
            np.testing.assert_allclose(cr.grad(csp.betainc, i)(a, b, x), want, rtol=1e-6, atol=1e-13)


def test_x_derivatives_are_the_densities():
    a, x = np.array([0.5, 2.5, 9.0]), np.array([0.3, 1.7, 12.0])
    pdf = np.exp((a - 1) * np.log(x) - x - sc.gammaln(a))
    np.testing.assert_allclose(cr.grad(lambda x: cnp.sum(csp.gammainc(a, x)))(x), pdf, rtol=1e-14)
    np.testing.assert_allclose(cr.grad(lambda x: cnp.sum(csp.gammaincc(a, x)))(x), -pdf, rtol=1e-14)
    b, u = np.array([1.5, 0.7, 3.0]), np.array([0.2, 0.5, 0.8])
    bpdf = u ** (a - 1) * (1 - u) ** (b - 1) / sc.beta(a, b)
    np.testing.assert_allclose(cr.grad(lambda u: cnp.sum(csp.betainc(a, b, u)))(u), bpdf, rtol=1e-13)


def test_inverse_derivatives():
    a, y = 2.3, 0.37
    x = sc.gammaincinv(a, y)
    pdf = math.exp((a - 1) * math.log(x) - x - math.lgamma(a))
    assert cr.grad(csp.gammaincinv, 1)(a, y) == pytest.approx(1 / pdf, rel=1e-13)
    assert cr.grad(csp.gammaincinv, 0)(a, y) == pytest.approx(
        richardson(lambda t: sc.gammaincinv(t, y), a, 1e-3), rel=1e-7)
    assert cr.grad(csp.gammainccinv, 0)(a, y) == pytest.approx(
        richardson(lambda t: sc.gammainccinv(t, y), a, 1e-3), rel=1e-7)
    assert cr.grad(csp.gammainccinv, 1)(a, y) == pytest.approx(
        richardson(lambda t: sc.gammainccinv(a, t), y, 1e-4), rel=1e-8)
    b = 1.4
    for i, f in enumerate((lambda t: sc.betaincinv(t, b, y), lambda t: sc.betaincinv(a, t, y),
                           lambda t: sc.betaincinv(a, b, t))):
        assert cr.grad(csp.betaincinv, i)(a, b, y) == pytest.approx(
            richardson(f, (a, b, y)[i], 1e-4), rel=1e-7), i
    # the inverse of the inverse: d/da P(a, gammaincinv(a, y)) = 0, at second order too
    assert abs(cr.grad(lambda t: csp.gammainc(t, csp.gammaincinv(t, y)))(a)) < 1e-13
    assert abs(cr.grad(cr.grad(lambda t: csp.gammainc(t, csp.gammaincinv(t, y))))(a)) < 1e-12


def test_higher_orders_modes_and_transformations():
    f = lambda a, x: csp.gammainc(a, x) * csp.betainc(a, x, 0.3)
    args = (np.array([1.2, 2.5, 4.0]), np.array([0.8, 3.1, 2.0]))
    for i in (0, 1):
        np.testing.assert_allclose(cr.jacfwd(f, i)(*args), cr.jacrev(f, i)(*args), rtol=1e-13)
    h = cr.hessian(lambda a: cnp.sum(f(a, args[1])))(args[0])
    hf = cr.jacfwd(cr.jacfwd(lambda a: cnp.sum(f(a, args[1]))))(args[0])
    np.testing.assert_allclose(h, hf, rtol=1e-12)
    np.testing.assert_allclose(cr.jit(cr.grad(lambda a: cnp.sum(f(a, args[1]))))(args[0]),
                               cr.grad(lambda a: cnp.sum(f(a, args[1])))(args[0]), rtol=1e-14)
    got = cr.vmap(cr.grad(lambda a, x: f(a, x)))(*args)
    want = [cr.grad(lambda a, x: f(a, x))(a, x) for a, x in zip(*args)]
    np.testing.assert_allclose(got, want, rtol=1e-14)
    # third derivative in a by jet equals d^3 P / da^3
    _, ys = cr.jet(lambda a: csp.gammainc(a, 1.7), (2.5,), ([1.0, 0.0, 0.0],))
    assert ys[2] == pytest.approx(P._gammainc_da_impl(2.5, 1.7, 3), rel=1e-12)


def test_scipy_ufuncs_dispatch_on_traced_values():
    assert cr.grad(lambda a: sc.gammainc(a, 1.7))(2.5) == cr.grad(csp.gammainc)(2.5, 1.7)
    assert cr.grad(lambda x: sc.betainc(2.0, 3.0, x))(0.4) == pytest.approx(12 * 0.4 * 0.6 ** 2, rel=1e-14)
    assert cr.grad(lambda y: sc.gammaincinv(2.0, y))(0.3) == cr.grad(csp.gammaincinv, 1)(2.0, 0.3)


def test_against_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jss = pytest.importorskip("jax.scipy.special")
    a, x = np.array([0.3, 2.5, 5.0, 3.0, 50.0]), np.array([0.1, 1.7, 4.0, 30.0, 60.0])
    np.testing.assert_allclose(csp.gammainc(a, x), jss.gammainc(a, x), rtol=1e-12)
    for i in (0, 1):
        want = jax.grad(lambda a, x: jss.gammainc(a, x).sum(), i)(a, x)
        got = cr.grad(lambda a, x: cnp.sum(csp.gammainc(a, x)), i)(a, x)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-300)
        wantc = jax.grad(lambda a, x: jss.gammaincc(a, x).sum(), i)(a, x)
        gotc = cr.grad(lambda a, x: cnp.sum(csp.gammaincc(a, x)), i)(a, x)
        np.testing.assert_allclose(gotc, wantc, rtol=1e-10, atol=1e-300)
    # the mixed second derivative (JAX has d/dx of its d/da)
    want = jax.grad(jax.grad(jss.gammainc, 1), 0)(2.5, 1.7)
    assert cr.grad(cr.grad(csp.gammainc, 1), 0)(2.5, 1.7) == pytest.approx(float(want), rel=1e-12)
    ab, bb, xb = np.array([2.5, 0.5, 10.0]), np.array([1.7, 3.0, 20.0]), np.array([0.3, 0.9, 0.3])
    np.testing.assert_allclose(csp.betainc(ab, bb, xb), jss.betainc(ab, bb, xb), rtol=1e-12)
    np.testing.assert_allclose(cr.grad(lambda x: cnp.sum(csp.betainc(ab, bb, x)))(xb),
                               jax.grad(lambda x: jss.betainc(ab, bb, x).sum())(xb), rtol=1e-11)


def test_bad_input():
    with pytest.raises(ValueError, match="polygamma"):
        csp.polygamma(1.5, 2.0)
    # a keyword the function does not have is refused by name
    with pytest.raises(TypeError, match="regularized"):
        csp.gammainc(2.0, 1.0, regularized=False)
