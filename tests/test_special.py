"""chainrule.scipy.special: values against SciPy (and the NumPy fallbacks against
SciPy), derivatives against finite differences and known formulas, higher order,
numerical stability at extreme arguments."""

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
import chainrule.scipy.special as cs
from chainrule.ops import special as ops_special

try:
    import scipy.special as sc
except ImportError:                      # the derivative tests do not need SciPy
    sc = None

needs_scipy = pytest.mark.skipif(sc is None, reason="SciPy is not installed")
EPS = 1e-6
rng0 = np.random.default_rng(7)


def fd_jvp(f, x, v, eps=EPS):
    return (np.asarray(f(x + eps * v)) - np.asarray(f(x - eps * v))) / (2 * eps)


def assert_close(actual, expected, rtol=1e-6):
    a, e = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert a.shape == e.shape
    assert np.all(np.isfinite(a)), a
    np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * (1.0 + np.max(np.abs(e), initial=0.0)))


def check_derivatives(f, x, seed=0, rtol=1e-6):
    """JVP vs central differences, VJP vs JVP (<w, Jv> = <J^T w, v>), jacfwd vs jacrev."""
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(np.shape(x))
    out, jv = cr.jvp(f, (x,), (v,))
    assert_close(out, f(x), 1e-12)
    assert_close(jv, fd_jvp(f, x, v), rtol)
    out2, pullback = cr.vjp(f, x)
    w = rng.standard_normal(np.shape(out2))
    ct, = pullback(w)
    assert np.shape(ct) == np.shape(x)
    assert abs(np.sum(w * jv) - np.sum(ct * v)) <= 1e-10 * (np.sum(np.abs(w * jv)) + 1e-300)
    if np.ndim(x) and np.size(x) <= 12:
        np.testing.assert_allclose(cr.jacfwd(f)(x), cr.jacrev(f)(x), rtol=1e-10, atol=1e-12)


POS = rng0.uniform(0.3, 6.0, size=(2, 5))            # gamma-family arguments
REAL = rng0.standard_normal((2, 5)) * 1.5
UNIT = rng0.uniform(-0.95, 0.95, size=(2, 5))        # erfinv / logit-style arguments
PROB = rng0.uniform(0.05, 0.95, size=(2, 5))


# ------------------------------------------------------------------ values ---

@needs_scipy
def test_primitive_values_match_scipy():
    x = np.concatenate([REAL.ravel(), [-30.0, -5.5, 0.0, 1e-8, 40.0]])
    np.testing.assert_allclose(cs.erf(x), sc.erf(x), rtol=1e-15)
    np.testing.assert_allclose(cs.erfc(x), sc.erfc(x), rtol=1e-15)
    u = np.concatenate([UNIT.ravel(), [0.0, 1 - 1e-12, -0.5]])
    np.testing.assert_allclose(cs.erfinv(u), sc.erfinv(u), rtol=1e-15)
    y = np.concatenate([POS.ravel(), [-0.5, -2.7, 1e-5, 150.0]])
    np.testing.assert_allclose(cs.gammaln(y), sc.gammaln(y), rtol=1e-14)
    np.testing.assert_allclose(cs.digamma(y), sc.digamma(y), rtol=1e-14)
    np.testing.assert_allclose(cs.psi(y), sc.psi(y), rtol=1e-14)
    for n in range(5):
        np.testing.assert_allclose(cs.polygamma(n, y), sc.polygamma(n, y), rtol=1e-14)
    n = np.array([0, 1, 2, 3])
    np.testing.assert_allclose(cs.polygamma(n, 2.5), sc.polygamma(n, 2.5))
    # Python floats take the math-module fast path where there is one
    assert cs.erf(0.5) == pytest.approx(sc.erf(0.5), rel=1e-15)
    assert cs.gammaln(3.5) == pytest.approx(sc.gammaln(3.5), rel=1e-15)


@needs_scipy
def test_composed_values_match_scipy():
    g = np.array([0.5, 1.0, 3.5, 10.0, -0.5, -1.5, -2.25])
    np.testing.assert_allclose(cs.gamma(g), sc.gamma(g), rtol=1e-13)
    np.testing.assert_allclose(cs.betaln(POS[0], POS[1]), sc.betaln(POS[0], POS[1]), rtol=1e-13)
    np.testing.assert_allclose(cs.ndtr(REAL), sc.ndtr(REAL), rtol=1e-14)
    x = np.concatenate([REAL.ravel(), [-800.0, -40.0, 0.0, 40.0, 800.0]])
    np.testing.assert_allclose(cs.expit(x), sc.expit(x), rtol=1e-15)
    np.testing.assert_allclose(cs.logit(PROB), sc.logit(PROB), rtol=1e-14)
    xs, ys = np.array([0.0, 0.0, 0.0, 2.0, -1.5]), np.array([0.0, 3.0, np.inf, 0.5, 4.0])
    np.testing.assert_allclose(cs.xlogy(xs, ys), sc.xlogy(xs, ys))
    np.testing.assert_allclose(cs.xlog1py(xs, ys - 1), sc.xlog1py(xs, ys - 1))
    X = rng0.standard_normal((3, 4))
    for axis in (None, 0, 1, -1, (0, 1)):
        for kd in (False, True):
            np.testing.assert_allclose(cs.logsumexp(X, axis=axis, keepdims=kd),
                                       sc.logsumexp(X, axis=axis, keepdims=kd), rtol=1e-14)
        if isinstance(axis, tuple):
            continue
        np.testing.assert_allclose(cs.softmax(X, axis=axis), sc.softmax(X, axis=axis), rtol=1e-14)
        np.testing.assert_allclose(cs.log_softmax(X, axis=axis), sc.log_softmax(X, axis=axis), rtol=1e-14)
    b = rng0.standard_normal((3, 4))
    for axis in (None, 1):
        ours = cs.logsumexp(X, axis=axis, b=b, return_sign=True)
        ref = sc.logsumexp(X, axis=axis, b=b, return_sign=True)
        np.testing.assert_allclose(ours[0], ref[0], rtol=1e-13)
        np.testing.assert_allclose(ours[1], ref[1])
    bb = np.abs(b)
    np.testing.assert_allclose(cs.logsumexp(X, axis=0, b=bb), sc.logsumexp(X, axis=0, b=bb), rtol=1e-14)
    np.testing.assert_allclose(cs.logsumexp(X, b=bb[0]), sc.logsumexp(X, b=bb[0]), rtol=1e-14)
    # extremes: large entries, -inf entries, all -inf
    big = np.array([1000.0, 1000.0, -np.inf])
    assert cs.logsumexp(big) == pytest.approx(1000.0 + math.log(2.0), rel=1e-15)
    assert cs.logsumexp(np.array([-np.inf, -np.inf])) == -np.inf


@needs_scipy
def test_numpy_fallbacks_match_scipy():
    """The implementations used when SciPy is missing, against SciPy (~1e-13)."""
    x = np.concatenate([rng0.uniform(-30, 30, 300), rng0.uniform(0.01, 4, 100), [1e-8, 1e3, 1e6]])
    x = x[np.abs(x - np.round(x)) > 1e-3]                    # away from the poles
    np.testing.assert_allclose(ops_special.np_erf(x), sc.erf(x), rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(ops_special.np_erfc(x), sc.erfc(x), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(ops_special.np_gammaln(x), sc.gammaln(x), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(ops_special.np_digamma(x), sc.digamma(x), rtol=1e-13, atol=1e-13)
    for n in range(1, 7):
        np.testing.assert_allclose(ops_special.np_polygamma(n, x), sc.polygamma(n, x), rtol=5e-13)
    np.testing.assert_allclose(ops_special.np_polygamma(np.array([0, 1, 2]), 2.5),
                               sc.polygamma(np.array([0, 1, 2]), 2.5), rtol=1e-13)
    u = np.concatenate([rng0.uniform(-1, 1, 300), [0.0, 0.5, -0.9999999, 1 - 1e-15, 1e-12]])
    np.testing.assert_allclose(ops_special.np_erfinv(u), sc.erfinv(u), rtol=1e-13, atol=1e-300)
    # special points
    assert ops_special.np_digamma(0.0) == -np.inf and np.isnan(ops_special.np_digamma(-2.0))
    assert ops_special.np_erfinv(1.0) == np.inf and ops_special.np_erfinv(-1.0) == -np.inf
    assert np.isnan(ops_special.np_erfinv(1.5))
    assert ops_special.np_gammaln(0.0) == np.inf
    assert ops_special.np_erf(0.5) == math.erf(0.5)


# ----------------------------------------------------- first derivatives ---

FIRST_ORDER = {
    "erf": (cs.erf, REAL),
    "erfc": (cs.erfc, REAL),
    "erfinv": (cs.erfinv, UNIT),
    "gammaln": (cs.gammaln, POS),
    "gammaln_negative": (cs.gammaln, -POS[0] - 0.37),
    "digamma": (cs.digamma, POS),
    "polygamma1": (lambda x: cs.polygamma(1, x), POS),
    "polygamma3": (lambda x: cs.polygamma(3, x), POS),
    "polygamma_array_n": (lambda x: cs.polygamma(np.array([[0], [2]]), x), POS[0]),
    "gamma": (cs.gamma, POS[0] * 0.8),
    "gamma_negative": (cs.gamma, -POS[0] * 0.3 - 0.1),
    "betaln": (lambda x: cs.betaln(x, POS[1]), POS[0]),
    "ndtr": (cs.ndtr, REAL),
    "expit": (cs.expit, REAL * 4),
    "logit": (cs.logit, PROB),
    "xlogy_x": (lambda x: cs.xlogy(x, POS), REAL),
    "xlogy_y": (lambda y: cs.xlogy(REAL, y), POS),
    "xlog1py_y": (lambda y: cs.xlog1py(REAL, y), POS),
    "logsumexp": (cs.logsumexp, REAL),
    "logsumexp_axis": (lambda x: cs.logsumexp(x, axis=1), REAL),
    "logsumexp_keepdims": (lambda x: cs.logsumexp(x, axis=0, keepdims=True), REAL),
    "logsumexp_b": (lambda x: cs.logsumexp(x, axis=-1, b=np.abs(REAL) + 0.1), REAL),
    "logsumexp_wrt_b": (lambda b: cs.logsumexp(REAL, axis=-1, b=b), np.abs(REAL) + 0.1),
    "logsumexp_sign": (lambda x: cs.logsumexp(x, axis=-1, b=REAL, return_sign=True)[0], REAL),
    "softmax": (lambda x: cs.softmax(x, axis=1), REAL),
    "log_softmax": (lambda x: cs.log_softmax(x, axis=0), REAL),
    "softmax_all": (cs.softmax, REAL),
}


@pytest.mark.parametrize("name", sorted(FIRST_ORDER))
def test_first_derivatives(name):
    f, x = FIRST_ORDER[name]
    check_derivatives(f, x, seed=len(name))


def test_known_derivatives():
    x = POS[0]
    jac_diag = lambda f: np.diag(cr.jacfwd(f)(x))   # noqa: E731
    np.testing.assert_allclose(jac_diag(cs.gammaln), cs.digamma(x), rtol=1e-15)
    np.testing.assert_allclose(jac_diag(cs.digamma), cs.polygamma(1, x), rtol=1e-15)
    np.testing.assert_allclose(jac_diag(lambda y: cs.polygamma(2, y)), cs.polygamma(3, x), rtol=1e-15)
    np.testing.assert_allclose(jac_diag(cs.erf), 2 / math.sqrt(math.pi) * np.exp(-x * x), rtol=1e-15)
    u = UNIT[0]
    np.testing.assert_allclose(np.diag(cr.jacrev(cs.erfinv)(u)),
                               math.sqrt(math.pi) / 2 * np.exp(cs.erfinv(u) ** 2), rtol=1e-15)
    np.testing.assert_allclose(cr.grad(lambda y: cs.logsumexp(y))(REAL), np.asarray(cs.softmax(REAL)), rtol=1e-14)
    e = cs.expit(REAL)
    np.testing.assert_allclose(np.diag(cr.jacfwd(cs.expit)(REAL[0])), e[0] * (1 - e[0]), rtol=1e-14)
    assert cr.grad(cs.expit)(0.0) == pytest.approx(0.25, rel=1e-15)


# ---------------------------------------------------- higher derivatives ---

def test_higher_order_derivatives():
    # nested grad walks up the polygamma ladder: gammaln''' = polygamma(2, .), digamma'''' = polygamma(4, .)
    x = 2.3
    assert cr.grad(cr.grad(cr.grad(cs.gammaln)))(x) == pytest.approx(float(cs.polygamma(2, x)), rel=1e-14)
    d4 = cr.grad(cr.grad(cr.grad(cr.grad(cs.digamma))))(x)
    assert d4 == pytest.approx(float(cs.polygamma(4, x)), rel=1e-14)
    # erf'' = -2x erf'
    assert cr.grad(cr.grad(cs.erf))(0.7) == pytest.approx(-2 * 0.7 * 2 / math.sqrt(math.pi) * math.exp(-0.49))
    # erfinv''(x) = 2 erfinv(x) erfinv'(x)^2
    y = float(cs.erfinv(0.4))
    d1 = math.sqrt(math.pi) / 2 * math.exp(y * y)
    assert cr.grad(cr.grad(cs.erfinv))(0.4) == pytest.approx(2 * y * d1 * d1, rel=1e-13)
    # Hessians of the composed functions against finite differences of their gradients
    for f, x in [(cs.logsumexp, REAL[0]), (lambda z: cnp.sum(cs.expit(z) ** 2), REAL[0] * 3),
                 (lambda z: cnp.sum(cs.gamma(z)), POS[0] * 0.8), (lambda z: cnp.sum(cs.xlogy(z, z + 1)), POS[0]),
                 (lambda z: cnp.sum(cs.softmax(z) * np.arange(5.0)), REAL[1]),
                 (lambda z: cnp.sum(cs.erfinv(z) ** 2), UNIT[0])]:
        H = cr.hessian(f)(x)
        fd = np.stack([fd_jvp(cr.grad(f), x, e) for e in np.eye(x.size)], axis=-1)
        np.testing.assert_allclose(H, fd, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(cr.jacrev(cr.grad(f))(x), H, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------- stability ---

def test_stable_at_extremes():
    # logsumexp of huge values: finite value and gradient
    x = np.array([1000.0, 1000.0, 999.0])
    g = cr.grad(cs.logsumexp)(x)
    assert np.all(np.isfinite(g)) and g.sum() == pytest.approx(1.0)
    x = np.array([-np.inf, 0.0, 1.0])
    g = cr.grad(cs.logsumexp)(x)
    np.testing.assert_allclose(g, [0.0, 1 / (1 + math.e), math.e / (1 + math.e)])
    # expit: no overflow, finite gradients on both tails
    for v in (-1000.0, -50.0, 50.0, 1000.0):
        assert math.isfinite(cr.grad(cs.expit)(v))
    assert cs.expit(-745.0) > 0.0 and cs.expit(1000.0) == 1.0
    g = cr.grad(lambda z: cnp.sum(cs.expit(z)))(np.array([-1e3, 0.0, 1e3]))
    np.testing.assert_allclose(g, [0.0, 0.25, 0.0])
    # xlogy at x = 0: value 0, gradients finite (0 in y, log y in x where y > 0)
    assert cs.xlogy(0.0, 0.0) == 0.0
    assert cr.grad(lambda y: cs.xlogy(0.0, y))(0.0) == 0.0
    assert cr.grad(lambda x: cs.xlogy(x, 2.0))(0.0) == pytest.approx(math.log(2.0))
    assert cr.grad(lambda x: cs.xlogy(x, 0.0))(0.0) == 0.0
    # softmax of huge logits
    s = cs.softmax(np.array([1e4, 0.0]))
    np.testing.assert_allclose(s, [1.0, 0.0])
    g = cr.jacfwd(cs.softmax)(np.array([1e4, 0.0, 1e4]))
    assert np.all(np.isfinite(g))
    # erfinv at the ends: infinite value, zero cotangent stays zero
    assert cs.erfinv(1.0) == np.inf
    g = cr.grad(lambda u: cnp.sum(cnp.where(u < 1.0, cs.erfinv(u), 0.0)))(np.array([0.2, 1.0]))
    assert np.all(np.isfinite(g)) and g[1] == 0.0


def test_polygamma_order_is_static():
    with pytest.raises(ValueError):
        cs.polygamma(1.5, 2.0)
    assert cs.polygamma(np.float64(1.0), 2.0) == pytest.approx(float(cs.polygamma(1, 2.0)))
    # batched arrays and broadcasting of n against x
    out = cs.polygamma(np.array([[1], [2]]), POS[0])
    assert out.shape == (2, 5)
