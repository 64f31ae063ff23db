"""chainrule.scipy.stats: values against scipy.stats (tails, outside the support, invalid
parameters), derivatives in x and the parameters against central differences and JAX,
jit against eager (the compiled second call), vmap against a loop, second derivatives, and
no nan derivative next to a masked branch. Also chainrule.scipy.special.ndtri."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.scipy.special as csp
import chainrule.scipy.stats as cs

st = pytest.importorskip("scipy.stats")
sc = pytest.importorskip("scipy.special")

EPS = 1e-6
X = np.array([-60.0, -7.5, -1.0, -0.2, 0.0, 0.3, 1.0, 2.5, 9.0, 45.0])    # standardised points
POS = np.array([-1.0, 0.0, 1e-300, 1e-8, 0.2, 0.7, 1.0, 2.5, 40.0, 700.0])
UNIT = np.array([-0.1, 0.0, 1e-12, 0.2, 0.5, 0.9, 1 - 1e-12, 1.0, 1.3])
Q = np.array([-0.2, 0.0, 1e-300, 1e-40, 1e-12, 1e-3, 0.01, 0.3, 0.5, 0.8, 0.999, 1 - 1e-9, 1.0, 1.5])
K = np.array([-1.0, 0.0, 1.0, 2.0, 2.5, 3.0, 7.0, 8.0, 30.0])


def assert_same(actual, expected, rtol=1e-12):
    """Equal values, with -inf, inf and nan exactly where SciPy has them."""
    a, e = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert a.shape == e.shape, (a.shape, e.shape)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(e))
    np.testing.assert_array_equal(np.isposinf(a), np.isposinf(e))
    np.testing.assert_array_equal(np.isneginf(a), np.isneginf(e))
    fin = np.isfinite(e)
    np.testing.assert_allclose(a[fin], e[fin], rtol=rtol, atol=1e-300)


def scipy_value(fn, *args):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*args)


def central(f, args, i, eps=EPS):
    """d f / d args[i] by central differences (a scalar argument)."""
    lo, hi = list(args), list(args)
    lo[i], hi[i] = args[i] - eps, args[i] + eps
    return (f(*hi) - f(*lo)) / (2 * eps)


# (name, grid, parameter sets) for the continuous families: every function of the family is
# compared with SciPy's on the grid (x = loc + scale * grid) for every parameter set
CONTINUOUS = [
    ("norm", X, [(), (0.5, 2.0), (0.0, -1.0), (0.0, 0.0)]),
    ("cauchy", X, [(), (0.5, 2.0), (0.0, -1.0)]),
    ("laplace", X, [(), (0.5, 2.0), (0.0, -1.0)]),
    ("logistic", X, [(), (0.5, 2.0), (0.0, -1.0)]),
    ("expon", X, [(), (0.5, 2.0), (0.0, -1.0)]),
    ("uniform", UNIT, [(), (-1.0, 2.0), (0.0, -1.0)]),
    ("t", X, [(3.5,), (1.0, 0.5, 2.0), (30.0,), (-1.0,), (2.0, 0.0, -1.0)]),
    ("gamma", POS, [(2.5,), (1.0,), (0.5,), (2.5, 0.1, 2.0), (-1.0,)]),
    ("chi2", POS, [(3.0,), (2.0,), (1.0, 0.2, 1.5), (0.0,)]),
    ("beta", UNIT, [(2.0, 3.0), (1.0, 1.0), (0.5, 0.7), (0.5, 0.7, -1.0, 3.0), (-1.0, 2.0)]),
]
FUNCTIONS = ["logpdf", "pdf", "cdf", "logcdf", "sf", "logsf"]
QUANTILES = ["ppf", "isf"]


def _cases():
    for name, grid, params in CONTINUOUS:
        for fn in FUNCTIONS + QUANTILES:
            if hasattr(getattr(cs, name), fn):
                for p in params:
                    yield name, fn, grid, p


@pytest.mark.parametrize("name,fn,grid,params", list(_cases()),
                         ids=lambda v: v if isinstance(v, str) else None)
def test_continuous_values_equal_scipy(name, fn, grid, params):
    ours, theirs = getattr(getattr(cs, name), fn), getattr(getattr(st, name), fn)
    if fn in QUANTILES:
        grid = Q
    elif len(params) >= 2 and name not in ("beta",):
        grid = params[-2] + abs(params[-1]) * grid                       # loc + scale * z
    elif name == "beta" and len(params) == 4:
        grid = params[2] + params[3] * grid
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # no NumPy warnings from the masked branches
        value = ours(grid, *params)
    expected = scipy_value(theirs, grid, *params)
    if name == "t" and fn in QUANTILES and params[0] > 0 and (len(params) < 3 or params[2] > 0):
        # SciPy's stdtrit returns +inf at q = 1e-300 (df = 3.5); the quantile is finite: check
        # it by the t CDF (the incomplete beta function, with mpmath) instead
        mp = pytest.importorskip("mpmath")
        mp.mp.dps = 50
        tiny = grid == 1e-300
        z = (float(value[tiny][0]) - (params[1] if len(params) > 1 else 0.0)) / (params[2] if len(params) > 2
                                                                                 else 1.0)
        df = mp.mpf(params[0])
        tail = mp.betainc(df / 2, 0.5, 0, df / (df + mp.mpf(z) ** 2), regularized=True) / 2
        assert float(tail) == pytest.approx(1e-300, rel=1e-12) and (z < 0) == (fn == "ppf")
        value, expected = value[~tiny], expected[~tiny]
    assert_same(value, expected, rtol=2e-12)


DISCRETE = [
    ("poisson", [(2.5,), (0.0,), (2.5, 1.0), (40.0,), (-1.0,)]),
    ("bernoulli", [(0.3,), (0.0,), (1.0,), (0.3, 1.0), (1.2,)]),
    ("binom", [(7.0, 0.3), (7.0, 0.0), (7.0, 1.0), (7.5, 0.3), (7.0, 1.3), (30.0, 0.9, 2.0)]),
    ("nbinom", [(2.5, 0.3), (2.0, 1.0), (2.0, 0.0), (5.0, 0.6, 1.0)]),
    ("geom", [(0.3,), (1.0,), (0.3, -1.0), (0.0,)]),
]


@pytest.mark.parametrize("name,params", [(n, p) for n, ps in DISCRETE for p in ps])
@pytest.mark.parametrize("fn", ["logpmf", "pmf"])
def test_discrete_values_equal_scipy(name, params, fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = getattr(getattr(cs, name), fn)(K, *params)
    assert_same(value, scipy_value(getattr(getattr(st, name), fn), K, *params))


def test_scalar_and_list_inputs():
    assert_same(cs.norm.logpdf(1.5, 0.5, 2.0), st.norm.logpdf(1.5, 0.5, 2.0))
    assert_same(cs.norm.logpdf([1, 2], 0, 1), st.norm.logpdf([1, 2]))
    assert_same(cs.poisson.logpmf(3, 2), st.poisson.logpmf(3, 2))
    assert repr(cs.norm) == "<chainrule.scipy.stats.norm>"


# ------------------------------------------------------- ndtri, quantiles ---

def test_ndtri_values_and_derivatives():
    p = Q
    assert_same(csp.ndtri(p), scipy_value(sc.ndtri, p), rtol=1e-14)
    inner = np.array([1e-300, 1e-40, 1e-5, 0.2, 0.25, 0.6, 0.999999])
    x = sc.ndtri(inner)
    g = cr.vmap(cr.grad(csp.ndtri))(inner)
    np.testing.assert_allclose(g, np.sqrt(2 * np.pi) * np.exp(0.5 * x * x), rtol=1e-13)
    h = cr.vmap(cr.grad(cr.grad(csp.ndtri)))(inner[2:])          # d/dp (1 / pdf(x)) = x / pdf(x)^2
    np.testing.assert_allclose(h, 2 * np.pi * x[2:] * np.exp(x[2:] ** 2), rtol=1e-12)
    for q in (1e-4, 0.3, 0.9):
        np.testing.assert_allclose(cr.grad(csp.ndtri)(q), central(csp.ndtri, (q,), 0, 1e-8 * q), rtol=1e-6)
    assert np.isinf(cr.grad(csp.ndtri)(0.0))
    jitted = cr.jit(csp.ndtri)
    jitted(inner)
    np.testing.assert_allclose(jitted(inner), csp.ndtri(inner), rtol=1e-15)


@pytest.mark.parametrize("name", ["norm", "cauchy", "laplace", "logistic", "expon"])
def test_ppf_inverts_cdf_with_the_inverse_derivative(name):
    d = getattr(cs, name)
    q = np.array([1e-6, 0.05, 0.3, 0.7, 0.95])
    x = d.ppf(q, 0.0, 2.0)                 # loc 0: adding a loc would round a small x
    np.testing.assert_allclose(d.cdf(x, 0.0, 2.0), q, rtol=1e-12)
    dx = cr.vmap(cr.grad(lambda q: d.ppf(q, 0.0, 2.0)))(q)
    np.testing.assert_allclose(dx, 1.0 / d.pdf(x, 0.0, 2.0), rtol=1e-10)


# ----------------------------------------------------------- derivatives ---

# (function, point): differentiated in every argument, all inside the support, several close
# to its edge (next to the masked branch)
GRAD_CASES = {
    "norm.logpdf": (cs.norm.logpdf, (0.7, 0.2, 1.5)),
    "norm.pdf": (cs.norm.pdf, (0.7, 0.2, 1.5)),
    "norm.cdf": (cs.norm.cdf, (-0.7, 0.2, 1.5)),
    "norm.logcdf-tail": (cs.norm.logcdf, (-40.0, 0.2, 1.5)),
    "norm.logsf": (cs.norm.logsf, (3.0, 0.2, 1.5)),
    "norm.sf": (cs.norm.sf, (0.4, 0.2, 1.5)),
    "norm.ppf": (cs.norm.ppf, (0.03, 0.2, 1.5)),
    "t.logpdf": (cs.t.logpdf, (0.7, 3.5, 0.2, 1.5)),
    "t.pdf": (cs.t.pdf, (-1.7, 2.5, 0.2, 1.5)),
    "cauchy.logpdf": (cs.cauchy.logpdf, (0.7, 0.2, 1.5)),
    "cauchy.cdf": (cs.cauchy.cdf, (-3.0, 0.2, 1.5)),
    "cauchy.sf": (cs.cauchy.sf, (3.0, 0.2, 1.5)),
    "cauchy.ppf": (cs.cauchy.ppf, (0.05, 0.2, 1.5)),
    "laplace.logpdf": (cs.laplace.logpdf, (0.7, 0.2, 1.5)),
    "laplace.cdf": (cs.laplace.cdf, (-0.7, 0.2, 1.5)),
    "laplace.sf": (cs.laplace.sf, (1.7, 0.2, 1.5)),
    "laplace.logcdf": (cs.laplace.logcdf, (1.7, 0.2, 1.5)),
    "logistic.logpdf": (cs.logistic.logpdf, (0.7, 0.2, 1.5)),
    "logistic.cdf": (cs.logistic.cdf, (0.7, 0.2, 1.5)),
    "logistic.sf": (cs.logistic.sf, (-30.0, 0.2, 1.5)),
    "logistic.logcdf": (cs.logistic.logcdf, (-30.0, 0.2, 1.5)),
    "expon.logpdf-edge": (cs.expon.logpdf, (0.2001, 0.2, 1.5)),
    "expon.pdf": (cs.expon.pdf, (1.7, 0.2, 1.5)),
    "expon.cdf": (cs.expon.cdf, (0.21, 0.2, 1.5)),
    "expon.logcdf": (cs.expon.logcdf, (3.0, 0.2, 1.5)),
    "expon.sf": (cs.expon.sf, (1.0, 0.2, 1.5)),
    "gamma.logpdf": (cs.gamma.logpdf, (1.3, 2.5, 0.1, 1.5)),
    "gamma.logpdf-edge": (cs.gamma.logpdf, (1e-3, 0.7)),
    "gamma.pdf": (cs.gamma.pdf, (2.0, 3.0)),
    "chi2.logpdf": (cs.chi2.logpdf, (1.3, 3.5, 0.1, 1.5)),
    "chi2.pdf": (cs.chi2.pdf, (1e-3, 2.5)),
    "beta.logpdf": (cs.beta.logpdf, (0.3, 2.5, 1.5)),
    "beta.logpdf-edges": (cs.beta.logpdf, (0.999, 0.5, 1.5, -0.1, 1.2)),
    "beta.pdf": (cs.beta.pdf, (1e-3, 1.5, 2.0)),
    "uniform.logpdf": (cs.uniform.logpdf, (0.5, -1.0, 2.0)),
    "uniform.pdf": (cs.uniform.pdf, (0.999, -1.0, 2.0)),
    "uniform.cdf": (cs.uniform.cdf, (0.3, -1.0, 2.0)),
}


@pytest.mark.parametrize("case", sorted(GRAD_CASES))
def test_gradients_against_central_differences(case):
    f, args = GRAD_CASES[case]
    argnums = tuple(range(len(args)))
    g = cr.grad(f, argnums=argnums)(*args)
    fd = [central(f, args, i, EPS * max(1.0, abs(a)) * (1e-3 if case.endswith("edge") else 1.0))
          for i, a in enumerate(args)]
    assert np.all(np.isfinite(g)), g
    np.testing.assert_allclose(g, fd, rtol=2e-6, atol=1e-9 * max(1.0, np.max(np.abs(fd))))


# discrete families: derivatives in the (continuous) parameters, k fixed; at edges of the
# parameter range where the value is finite the derivative is finite too
PMF_GRADS = {
    "poisson": (cs.poisson.logpmf, 3.0, (2.5,)),
    "poisson-k0": (cs.poisson.logpmf, 0.0, (2.5,)),
    "bernoulli": (cs.bernoulli.logpmf, 1.0, (0.3,)),
    "bernoulli-k0": (cs.bernoulli.logpmf, 0.0, (0.3,)),
    "binom": (cs.binom.logpmf, 3.0, (7.0, 0.3)),
    "binom-k0": (cs.binom.pmf, 0.0, (7.0, 0.3)),
    "nbinom": (cs.nbinom.logpmf, 3.0, (2.5, 0.3)),
    "geom": (cs.geom.logpmf, 3.0, (0.3,)),
    "geom-k1": (cs.geom.pmf, 1.0, (0.3,)),
}


@pytest.mark.parametrize("case", sorted(PMF_GRADS))
def test_pmf_parameter_gradients_against_central_differences(case):
    f, k, params = PMF_GRADS[case]
    h = lambda *ps: f(k, *ps)
    nums = tuple(range(len(params)))
    if case.startswith("binom"):
        nums = (1,)                                     # n is an integer
    g = cr.grad(h, argnums=nums)(*params)
    np.testing.assert_allclose(g, [central(h, params, i) for i in nums], rtol=1e-7, atol=1e-10)


def test_no_nan_gradient_next_to_a_masked_branch():
    # outside the support the value is a constant (-inf or 0): derivative 0; inside, finite
    cases = [
        (lambda x: cs.expon.logpdf(x, 0.0, 1.0), np.array([-1.0, 0.0, 1e-3, 2.0]), [0.0, -1.0, -1.0, -1.0]),
        (lambda x: cs.expon.pdf(x), np.array([-1.0, 1e-3]), [0.0, -np.exp(-1e-3)]),
        (lambda x: cs.gamma.logpdf(x, 2.0), np.array([-1.0, 1e-3, 1.0]), [0.0, 1e3 - 1.0, 0.0]),
        (lambda x: cs.beta.pdf(x, 2.0, 2.0), np.array([-0.5, 1e-9, 0.5, 1.5]), [0.0, 6.0 - 12e-9, 0.0, 0.0]),
        (lambda x: cs.uniform.pdf(x), np.array([-0.5, 0.5, 1.5]), [0.0, 0.0, 0.0]),
        (lambda x: cs.laplace.cdf(x), np.array([-800.0, 800.0]), [0.0, 0.0]),
        (lambda x: cs.norm.logpdf(x, 0.0, -1.0), np.array([0.5]), [0.0]),     # nan is a constant
    ]
    for f, x, expected in cases:
        g = cr.vmap(cr.grad(f))(x)
        np.testing.assert_allclose(g, expected, rtol=1e-9, atol=1e-12)
    # parameters: gamma's shape at a point outside the support, beta's at an edge with a = 1
    assert cr.grad(lambda a: cs.gamma.logpdf(-1.0, a))(2.0) == 0.0
    np.testing.assert_allclose(cr.grad(lambda b: cs.beta.logpdf(0.0, 1.0, b))(2.0), 1.0 / 2.0, rtol=1e-12)
    np.testing.assert_allclose(cr.grad(lambda p: cs.bernoulli.logpmf(0.0, p))(0.0), -1.0)
    assert cr.grad(lambda mu: cs.poisson.logpmf(-1.0, mu))(2.0) == 0.0


def test_second_derivatives_against_finite_differences():
    cases = [
        (lambda x: cs.norm.logcdf(x, 0.2, 1.5), -3.0),
        (lambda s: cs.t.logpdf(0.7, 3.5, 0.2, s), 1.5),
        (lambda a: cs.gamma.logpdf(1.3, a), 2.5),
        (lambda x: cs.beta.logpdf(x, 2.5, 1.5), 0.3),
        (lambda q: cs.norm.ppf(q), 0.1),
        (lambda x: cs.logistic.logsf(x), 2.0),
        (lambda p: cs.binom.logpmf(3.0, 7.0, p), 0.3),
    ]
    for f, x in cases:
        d2 = cr.grad(cr.grad(f))(x)
        fd = (f(x + 1e-4) - 2 * f(x) + f(x - 1e-4)) / 1e-8
        np.testing.assert_allclose(d2, fd, rtol=1e-5)


# -------------------------------------------------------------- jit, vmap ---

JIT_CASES = [
    (cs.norm.logpdf, (X, 0.5, 2.0)), (cs.norm.logcdf, (X, 0.5, 2.0)), (cs.norm.ppf, (Q, 0.5, 2.0)),
    (cs.t.logpdf, (X, 3.5, 0.5, 2.0)), (cs.cauchy.cdf, (X, 0.5, 2.0)), (cs.laplace.sf, (X,)),
    (cs.logistic.logpdf, (X, 0.5, 2.0)), (cs.expon.logcdf, (X, 0.5, 2.0)),
    (cs.gamma.logpdf, (POS, 2.5)), (cs.chi2.pdf, (POS, 3.0)), (cs.beta.logpdf, (UNIT, 0.5, 0.7)),
    (cs.uniform.logpdf, (UNIT, -1.0, 2.0)), (cs.poisson.logpmf, (K, 2.5)), (cs.bernoulli.pmf, (K, 0.3)),
    (cs.binom.logpmf, (K, 7.0, 0.3)), (cs.nbinom.logpmf, (K, 2.5, 0.3)), (cs.geom.logpmf, (K, 0.3)),
]


@pytest.mark.parametrize("i", range(len(JIT_CASES)))
def test_jit_equals_eager_and_vmap_equals_a_loop(i):
    f, args = JIT_CASES[i]
    jf = cr.jit(f)
    eager = f(*args)
    jf(*args)
    assert_same(jf(*args), eager, rtol=1e-13)               # the compiled second call (libm)
    # the gradient of the sum in the first parameter, jitted, and vmapped over the grid
    if len(args) > 1:
        g = lambda x, p: f(x, p, *args[2:])
        dg = cr.jit(cr.grad(g, argnums=1))
        x0 = args[0][np.isfinite(eager)][0]
        dg(x0, args[1])
        np.testing.assert_allclose(dg(x0, args[1]), cr.grad(g, argnums=1)(x0, args[1]), rtol=1e-14)
    batched = cr.vmap(lambda x: f(x, *args[1:]))(args[0])
    assert_same(batched, np.array([f(x, *args[1:]) for x in args[0]]), rtol=1e-14)


def test_vmap_over_parameters_equals_a_loop():
    scales = np.array([0.5, 1.0, 3.0])
    out = cr.vmap(cr.grad(lambda s: cs.norm.logpdf(0.7, 0.2, s)))(scales)
    loop = [cr.grad(lambda s: cs.norm.logpdf(0.7, 0.2, s))(s) for s in scales]
    np.testing.assert_allclose(out, loop, rtol=1e-15)
    ps = np.array([0.1, 0.5, 0.9])
    out = cr.vmap(lambda p: cs.binom.logpmf(K, 7.0, p))(ps)
    assert_same(out, np.stack([cs.binom.logpmf(K, 7.0, p) for p in ps]), rtol=1e-15)


# ----------------------------------------------------- multivariate, simplex ---

MEAN = np.array([0.5, -1.0, 2.0])
COV = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 1.5]])
PTS = np.random.default_rng(0).standard_normal((4, 5, 3))


def test_multivariate_normal_values():
    mvn, ref = cs.multivariate_normal, st.multivariate_normal
    assert_same(mvn.logpdf(PTS, MEAN, COV), ref.logpdf(PTS, MEAN, COV))
    assert_same(mvn.logpdf(PTS[0, 0], MEAN, COV), ref.logpdf(PTS[0, 0], MEAN, COV))
    assert_same(mvn.pdf(PTS, MEAN, COV), ref.pdf(PTS, MEAN, COV))
    assert_same(mvn.logpdf(PTS, MEAN, np.array([1.0, 2.0, 3.0])), ref.logpdf(PTS, MEAN, np.array([1.0, 2.0, 3.0])))
    assert_same(mvn.logpdf(PTS[0], MEAN, 2.0), ref.logpdf(PTS[0], MEAN, 2.0))
    assert_same(mvn.logpdf(np.array([1.0, 2.0, 3.0]), 0.5, 2.0), ref.logpdf(np.array([1.0, 2.0, 3.0]), 0.5, 2.0))
    with pytest.raises(ValueError, match="cov must be"):
        mvn.logpdf(PTS, MEAN, np.eye(2))
    with pytest.raises(NotImplementedError, match="allow_singular"):
        mvn.logpdf(PTS, MEAN, COV, allow_singular=True)


def test_multivariate_normal_gradients():
    x = PTS[0, :2]
    f = lambda x, m, c: cr.numpy.sum(cs.multivariate_normal.logpdf(x, m, c))
    gx, gm, gc = cr.grad(f, argnums=(0, 1, 2))(x, MEAN, COV)
    prec = np.linalg.inv(COV)
    np.testing.assert_allclose(gx, -(x - MEAN) @ prec, rtol=1e-12)
    np.testing.assert_allclose(gm, np.sum((x - MEAN) @ prec, axis=0), rtol=1e-12)
    # along a symmetric direction (cholesky reads one triangle): <gc, V> against differences
    v = np.array([[0.3, -0.2, 0.1], [-0.2, 0.5, 0.4], [0.1, 0.4, -0.6]])
    fd = (f(x, MEAN, COV + EPS * v) - f(x, MEAN, COV - EPS * v)) / (2 * EPS)
    np.testing.assert_allclose(np.sum(gc * v), fd, rtol=1e-7)
    # the symmetric gradient: sum over points of (P d d^T P - P) / 2
    d = x - MEAN
    expected = 0.5 * sum(prec @ np.outer(di, di) @ prec - prec for di in d)
    np.testing.assert_allclose(0.5 * (gc + gc.T), expected, rtol=1e-10, atol=1e-12)
    # jit (second call) and vmap over points
    jf = cr.jit(cs.multivariate_normal.logpdf)
    jf(PTS, MEAN, COV)
    np.testing.assert_allclose(jf(PTS, MEAN, COV), cs.multivariate_normal.logpdf(PTS, MEAN, COV), rtol=1e-14)
    vg = cr.vmap(cr.grad(lambda p: cs.multivariate_normal.logpdf(p, MEAN, COV)))(PTS[0])
    np.testing.assert_allclose(vg, -(PTS[0] - MEAN) @ prec, rtol=1e-12)
    hess = cr.hessian(lambda p: cs.multivariate_normal.logpdf(p, MEAN, COV))(PTS[0, 0])
    np.testing.assert_allclose(hess, -prec, rtol=1e-12)


ALPHA = np.array([1.5, 2.0, 3.0])
SIMPLEX = np.array([[0.2, 0.3], [0.3, 0.3], [0.5, 0.4]])         # components along axis 0


def test_dirichlet_values_and_gradients():
    assert_same(cs.dirichlet.logpdf(SIMPLEX, ALPHA), st.dirichlet.logpdf(SIMPLEX, ALPHA))
    assert_same(cs.dirichlet.logpdf(SIMPLEX[:, 0], ALPHA), st.dirichlet.logpdf(SIMPLEX[:, 0], ALPHA))
    assert_same(cs.dirichlet.logpdf(SIMPLEX[:2], ALPHA), st.dirichlet.logpdf(SIMPLEX[:2], ALPHA))
    assert_same(cs.dirichlet.pdf(SIMPLEX, ALPHA), st.dirichlet.pdf(SIMPLEX, ALPHA))
    x0 = np.array([0.0, 0.3, 0.7])
    assert_same(cs.dirichlet.logpdf(x0, [1.0, 2.0, 1.0]), st.dirichlet.logpdf(x0, [1.0, 2.0, 1.0]))
    assert cs.dirichlet.logpdf([0.2, 0.3, 0.6], ALPHA) == -np.inf         # SciPy raises off the simplex
    assert cs.dirichlet.logpdf([-0.2, 0.5, 0.7], ALPHA) == -np.inf
    x = SIMPLEX[:, 0]
    ga = cr.grad(lambda a: cs.dirichlet.logpdf(x, a))(ALPHA)
    np.testing.assert_allclose(ga, np.log(x) - sc.digamma(ALPHA) + sc.digamma(ALPHA.sum()), rtol=1e-12)
    gx = cr.grad(lambda x: cs.dirichlet.logpdf(x, ALPHA))(x)
    np.testing.assert_allclose(gx, (ALPHA - 1) / x, rtol=1e-12)
    v = np.array([0.3, -0.1, -0.2])                                  # stays on the simplex
    fd = (cs.dirichlet.logpdf(x + EPS * v, ALPHA) - cs.dirichlet.logpdf(x - EPS * v, ALPHA)) / (2 * EPS)
    np.testing.assert_allclose(np.dot(gx, v), fd, rtol=1e-7)
    jf = cr.jit(cs.dirichlet.logpdf)
    jf(SIMPLEX, ALPHA)
    np.testing.assert_allclose(jf(SIMPLEX, ALPHA), cs.dirichlet.logpdf(SIMPLEX, ALPHA), rtol=1e-14)
    vm = cr.vmap(lambda x: cs.dirichlet.logpdf(x, ALPHA), in_axes=1)(SIMPLEX)
    np.testing.assert_allclose(vm, [cs.dirichlet.logpdf(SIMPLEX[:, i], ALPHA) for i in range(2)], rtol=1e-15)


# ---------------------------------------------------------------- JAX ---

JAX_CASES = [
    ("norm", "logpdf", (0.7, 0.2, 1.5)), ("norm", "cdf", (-0.7, 0.2, 1.5)),
    ("norm", "logcdf", (-3.0, 0.2, 1.5)), ("norm", "sf", (0.4, 0.2, 1.5)),
    ("norm", "logsf", (2.0, 0.2, 1.5)), ("norm", "ppf", (0.03, 0.2, 1.5)),
    ("t", "logpdf", (0.7, 3.5, 0.2, 1.5)), ("cauchy", "logpdf", (0.7, 0.2, 1.5)),
    ("cauchy", "cdf", (0.7, 0.2, 1.5)), ("laplace", "logpdf", (0.7, 0.2, 1.5)),
    ("laplace", "cdf", (-0.7, 0.2, 1.5)), ("logistic", "logpdf", (0.7, 0.2, 1.5)),
    ("logistic", "cdf", (0.7, 0.2, 1.5)), ("logistic", "sf", (0.7, 0.2, 1.5)),
    ("expon", "logpdf", (1.7, 0.2, 1.5)), ("gamma", "logpdf", (1.3, 2.5, 0.1, 1.5)),
    ("chi2", "logpdf", (1.3, 3.5, 0.1, 1.5)), ("beta", "logpdf", (0.3, 2.5, 1.5)),
    ("uniform", "logpdf", (0.5, -1.0, 2.0)), ("poisson", "logpmf", (3.0, 2.5)),
    ("bernoulli", "logpmf", (1.0, 0.3)), ("binom", "logpmf", (3.0, 7.0, 0.3)),
    ("nbinom", "logpmf", (3.0, 2.5, 0.3)), ("geom", "logpmf", (3.0, 0.3)),
]


@pytest.mark.parametrize("name,fn,args", JAX_CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_gradients_equal_jax(name, fn, args):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.scipy.stats as jst
    ours, theirs = getattr(getattr(cs, name), fn), getattr(getattr(jst, name), fn)
    # discrete: k is not differentiated
    nums = tuple(range(1 if name in ("poisson", "bernoulli", "binom", "nbinom", "geom") else 0, len(args)))
    np.testing.assert_allclose(ours(*args), theirs(*args), rtol=1e-12)
    np.testing.assert_allclose(cr.grad(ours, argnums=nums)(*args),
                               jax.grad(theirs, argnums=nums)(*args), rtol=1e-10)


def test_multivariate_normal_and_dirichlet_equal_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import jax.scipy.stats as jst
    x = PTS[0]
    f = lambda m, c: cr.numpy.sum(cs.multivariate_normal.logpdf(x, m, c))
    fj = lambda m, c: jnp.sum(jst.multivariate_normal.logpdf(x, m, c))
    gm, gc = cr.grad(f, argnums=(0, 1))(MEAN, COV)
    jm, jc = jax.grad(fj, argnums=(0, 1))(MEAN, COV)
    np.testing.assert_allclose(gm, jm, rtol=1e-12)
    sym = lambda g: 0.5 * (np.asarray(g) + np.asarray(g).T)
    np.testing.assert_allclose(sym(gc), sym(jc), rtol=1e-10, atol=1e-12)
    xd = SIMPLEX[:, 0]
    np.testing.assert_allclose(cr.grad(lambda a: cs.dirichlet.logpdf(xd, a))(ALPHA),
                               jax.grad(lambda a: jst.dirichlet.logpdf(xd, a))(ALPHA), rtol=1e-12)


# ------------------------------------- distribution functions from gammainc / betainc ---

SHAPE_CASES = [
    ("gamma", "cdf", (1.7, 2.5, 0.1, 1.3)), ("gamma", "sf", (4.0, 0.7)), ("gamma", "logcdf", (0.4, 2.5)),
    ("gamma", "logsf", (3.0, 2.5, 0.0, 0.8)), ("gamma", "ppf", (0.3, 2.5, 0.1, 1.3)), ("gamma", "isf", (0.2, 0.8)),
    ("chi2", "cdf", (2.2, 3.0)), ("chi2", "sf", (5.0, 2.5, 0.1, 1.2)), ("chi2", "ppf", (0.6, 4.5)),
    ("chi2", "isf", (0.05, 1.5)),
    ("beta", "cdf", (0.3, 2.5, 0.7)), ("beta", "sf", (0.6, 2.0, 3.0)), ("beta", "logcdf", (0.2, 1.5, 4.0)),
    ("beta", "logsf", (0.8, 3.0, 1.2)), ("beta", "ppf", (0.4, 2.5, 0.7)), ("beta", "isf", (0.3, 0.9, 2.0)),
    ("beta", "isf", (0.7, 2.0, 5.0)),
    ("t", "cdf", (-1.3, 3.5)), ("t", "cdf", (0.4, 2.0, 0.1, 1.5)), ("t", "sf", (2.5, 6.0)),
    ("t", "logcdf", (-4.0, 1.5)), ("t", "ppf", (0.1, 3.5)), ("t", "ppf", (0.6, 2.5)), ("t", "isf", (0.02, 7.0)),
]


@pytest.mark.parametrize("name,fn,args", SHAPE_CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_incomplete_function_families_gradients(name, fn, args):
    ours, theirs = getattr(getattr(cs, name), fn), getattr(getattr(st, name), fn)
    assert float(ours(*args)) == pytest.approx(float(theirs(*args)), rel=1e-12)
    for i in range(len(args)):                   # x (or q), the shape parameters, loc, scale
        got = cr.grad(ours, i)(*args)
        h = 1e-4 * max(1.0, abs(args[i]))
        d1 = central(lambda *a: float(theirs(*a)), args, i, h)
        d2 = central(lambda *a: float(theirs(*a)), args, i, h / 2)
        assert got == pytest.approx((4 * d2 - d1) / 3, rel=1e-7, abs=1e-10), i


def test_poisson_distribution_functions():
    k, mu = np.array([-1.0, 0.0, 2.0, 2.5, 7.0, 30.0]), 3.5
    for fn in ("cdf", "sf", "logcdf", "logsf"):
        for extra in ((), (1.0,)):
            got = np.asarray(getattr(cs.poisson, fn)(k, mu, *extra))
            want = scipy_value(getattr(st.poisson, fn), k, mu, *extra)
            np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
            # log1p(-sf) keeps -3e-19 where SciPy's log(cdf) rounds to 0: an absolute 1e-16
            np.testing.assert_allclose(got[np.isfinite(want)], want[np.isfinite(want)], rtol=1e-12,
                                       atol=1e-16 if fn.startswith("log") else 0.0)
    # d/dmu P(K <= k) = -pmf(floor(k)) (d/dx Q(a, x) = -x^(a-1) e^-x / Gamma(a))
    g = cr.grad(lambda m: np.sum(cs.poisson.cdf(k, m)))(mu)
    assert g == pytest.approx(-np.sum(st.poisson.pmf(np.floor(k), mu)), rel=1e-12)


def test_incomplete_families_under_jit_vmap_and_second_order():
    f = lambda x, a: cs.gamma.cdf(x, a) + cs.beta.sf(x / 10.0, a, 2.0) + cs.t.cdf(x - 2.0, a)
    x, a = np.array([0.5, 1.7, 4.0]), np.array([0.8, 2.5, 6.0])
    eager = cr.grad(lambda a: np.sum(f(x, a)))(a)
    jitted = cr.jit(cr.grad(lambda a: np.sum(f(x, a))))
    jitted(a)
    np.testing.assert_allclose(jitted(a), eager, rtol=1e-13)
    np.testing.assert_allclose(cr.vmap(cr.grad(f, 1))(x, a), [cr.grad(f, 1)(u, v) for u, v in zip(x, a)],
                               rtol=1e-13)
    h = cr.hessian(lambda a: np.sum(f(x, a)))(a)
    np.testing.assert_allclose(h, cr.jacfwd(cr.jacrev(lambda a: np.sum(f(x, a))))(a), rtol=1e-12)
    fd = np.array([(cr.grad(lambda a: np.sum(f(x, a)))(a + e) - cr.grad(lambda a: np.sum(f(x, a)))(a - e))
                   / 2e-5 for e in np.eye(3) * 1e-5])
    np.testing.assert_allclose(h, fd, rtol=1e-6, atol=1e-9)


def test_incomplete_families_against_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    js = pytest.importorskip("jax.scipy.stats")
    x = np.array([0.3, 1.7, 4.0])
    for ours, theirs in ((cs.gamma.cdf, js.gamma.cdf), (cs.chi2.cdf, js.chi2.cdf)):
        np.testing.assert_allclose(ours(x, 2.5), theirs(x, 2.5), rtol=1e-12)
        np.testing.assert_allclose(cr.grad(lambda a: np.sum(ours(x, a)))(2.5),
                                   jax.grad(lambda a: theirs(x, a).sum())(2.5), rtol=1e-10)
    u = x / 5.0
    np.testing.assert_allclose(cr.grad(lambda u: np.sum(cs.beta.cdf(u, 2.0, 3.0)))(u),
                               jax.grad(lambda u: js.beta.cdf(u, 2.0, 3.0).sum())(u), rtol=1e-11)


def test_incomplete_families_bad_input():
    with pytest.raises(TypeError):
        cs.gamma.cdf(1.0, 2.0, scale=1.0, rate=2.0)
    assert np.isnan(cs.gamma.ppf(1.5, 2.0)) and np.isnan(cs.beta.cdf(0.5, -1.0, 2.0))
    assert np.isnan(cs.t.ppf(0.3, -2.0)) and np.isnan(cs.poisson.cdf(2.0, -1.0))
