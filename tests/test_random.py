"""chainrule.random: explicit keys, deterministic draws (eager and under jit), distributions,
reparameterised derivatives, vmap over keys, and the np.random-under-jit warning."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import random as R

scipy_stats = pytest.importorskip("scipy.stats")
import scipy.special as sc  # noqa: E402

K = R.key(0)
N = 20000

SAMPLERS = {
    "uniform": lambda k: R.uniform(k, (5,)),
    "uniform_range": lambda k: R.uniform(k, (5,), minval=-2.0, maxval=3.0),
    "normal": lambda k: R.normal(k, (2, 3)),
    "bernoulli": lambda k: R.bernoulli(k, 0.3, (6,)),
    "randint": lambda k: R.randint(k, (6,), 0, 100),
    "choice": lambda k: R.choice(k, 10, (4,), replace=False),
    "choice_p": lambda k: R.choice(k, np.arange(5.0), (4,), p=np.array([0.1, 0.2, 0.3, 0.2, 0.2])),
    "permutation": lambda k: R.permutation(k, 8),
    "shuffle": lambda k: R.shuffle(k, np.arange(12.0).reshape(6, 2)),
    "exponential": lambda k: R.exponential(k, (4,)),
    "gamma": lambda k: R.gamma(k, 2.5, (4,)),
    "beta": lambda k: R.beta(k, 2.0, 3.0, (4,)),
    "dirichlet": lambda k: R.dirichlet(k, np.array([1.0, 2.0, 3.0])),
    "multivariate_normal": lambda k: R.multivariate_normal(k, np.zeros(2), np.array([[2.0, 0.5], [0.5, 1.0]]),
                                                           (3,)),
    "truncated_normal": lambda k: R.truncated_normal(k, -1.0, 2.0, (4,)),
    "categorical": lambda k: R.categorical(k, np.log(np.array([0.2, 0.3, 0.5])), shape=(6,)),
    "gumbel": lambda k: R.gumbel(k, (4,)),
    "laplace": lambda k: R.laplace(k, (4,)),
    "logistic": lambda k: R.logistic(k, (4,)),
    "poisson": lambda k: R.poisson(k, 3.5, (6,)),
    "t": lambda k: R.t(k, 4.0, (4,)),
    "cauchy": lambda k: R.cauchy(k, (4,)),
    "rademacher": lambda k: R.rademacher(k, (8,)),
    "bits": lambda k: R.bits(k, (3,)),
    "chisquare": lambda k: R.chisquare(k, 3.0, (4,)),
    "lognormal": lambda k: R.lognormal(k, 0.5, (4,)),
}


# ------------------------------------------------------------------ keys ---

def test_key_from_seed_is_uint32_pair_like_jax():
    np.testing.assert_array_equal(R.key(0), np.array([0, 0], np.uint32))
    np.testing.assert_array_equal(R.PRNGKey(2**32 + 5), np.array([1, 5], np.uint32))
    np.testing.assert_array_equal(R.key(-1), np.array([2**32 - 1, 2**32 - 1], np.uint32))
    assert R.key(7).dtype == np.uint32 and R.key(7).shape == (2,)
    with pytest.raises(TypeError, match="integer"):
        R.key(1.5)
    with pytest.raises(TypeError, match="key"):
        R.normal(3, (2,))
    with pytest.raises(TypeError, match="key"):
        R.uniform(np.zeros(2), (2,))


def test_split_children_are_distinct_and_deterministic():
    ks = R.split(K, 5)
    assert ks.shape == (5, 2) and ks.dtype == np.uint32
    np.testing.assert_array_equal(ks, R.split(K, 5))
    rows = {tuple(k) for k in ks} | {tuple(K)}
    assert len(rows) == 6
    draws = [R.normal(k, (3,)) for k in ks]
    for i in range(5):
        for j in range(i):
            assert not np.allclose(draws[i], draws[j])
    np.testing.assert_array_equal(R.split(K)[0], R.split(K, 2)[0])


def test_fold_in_differs_by_data_and_is_deterministic():
    a, b = R.fold_in(K, 1), R.fold_in(K, 2)
    assert not np.array_equal(a, b) and not np.array_equal(a, K)
    np.testing.assert_array_equal(a, R.fold_in(K, 1))
    np.testing.assert_array_equal(cr.jit(R.fold_in)(K, np.int64(2)), b)
    with pytest.raises(TypeError, match="integer"):
        R.fold_in(K, 1.5)


def test_traced_seed_under_jit():
    f = cr.jit(lambda s: R.uniform(R.key(s), (3,)))
    for s in (3, 4, 3):
        np.testing.assert_array_equal(f(np.int64(s)), R.uniform(R.key(s), (3,)))


# --------------------------------------------------------- determinism ---

@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_same_key_same_numbers_eager_and_jit(name):
    f = SAMPLERS[name]
    k1, k2 = R.split(R.key(42))
    eager = np.asarray(f(k1))
    np.testing.assert_array_equal(f(k1), eager)
    g = cr.jit(f)
    first = g(k1)                 # the staging run
    second = g(k1)                # the compiled program
    np.testing.assert_array_equal(first, eager)
    np.testing.assert_array_equal(second, eager)
    other = g(k2)
    np.testing.assert_array_equal(other, f(k2))
    if name not in ("bernoulli", "rademacher", "choice_p", "categorical"):   # few values
        assert not np.array_equal(other, eager)


def test_jit_draws_fresh_numbers_for_each_key():
    # issue 18: np.random inside jit is frozen at staging; keys are arguments
    f = cr.jit(lambda k, x: x + R.normal(k, (4,)))
    x = np.zeros(4)
    outs = [f(k, x) for k in R.split(K, 6)]
    for i in range(6):
        for j in range(i):
            assert not np.allclose(outs[i], outs[j])
    np.testing.assert_array_equal(outs[3], R.normal(R.split(K, 6)[3], (4,)))


def test_fold_in_inside_a_jitted_loop():
    def f(k):
        return cr.fori_loop(0, 5, lambda i, acc: acc + R.uniform(R.fold_in(k, i), (2,)), np.zeros(2))
    want = sum(R.uniform(R.fold_in(K, i), (2,)) for i in range(5))
    np.testing.assert_allclose(f(K), want, rtol=1e-14)
    g = cr.jit(f)
    np.testing.assert_allclose(g(K), want, rtol=1e-14)
    np.testing.assert_allclose(g(K), want, rtol=1e-14)
    assert not np.allclose(g(R.key(1)), want)


# ------------------------------------------------------- distributions ---

def _mean_ok(x, mean, var, z=5.0):
    assert abs(np.mean(x) - mean) < z * math.sqrt(var / x.size), (np.mean(x), mean)


def _ks_ok(x, cdf):
    assert scipy_stats.kstest(np.ravel(x), cdf).pvalue > 1e-4


def test_uniform_and_normal_moments_and_ks():
    u = R.uniform(R.key(1), (N,))
    assert u.min() >= 0.0 and u.max() < 1.0
    _mean_ok(u, 0.5, 1 / 12)
    _ks_ok(u, "uniform")
    v = R.uniform(R.key(2), (N,), minval=-3.0, maxval=5.0)
    _mean_ok(v, 1.0, 64 / 12)
    assert v.min() >= -3.0 and v.max() < 5.0
    z = R.normal(R.key(3), (N,))
    _mean_ok(z, 0.0, 1.0)
    _mean_ok(z**2, 1.0, 2.0)
    _ks_ok(z, "norm")
    assert R.normal(K, (3,), dtype=np.float32).dtype == np.float32
    assert R.uniform(K, (3,), dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize("name,sample,dist", [
    ("exponential", lambda k: R.exponential(k, (N,)), scipy_stats.expon()),
    ("gamma", lambda k: R.gamma(k, 2.5, (N,)), scipy_stats.gamma(2.5)),
    ("gamma_small", lambda k: R.gamma(k, 0.3, (N,)), scipy_stats.gamma(0.3)),
    ("beta", lambda k: R.beta(k, 2.0, 3.0, (N,)), scipy_stats.beta(2.0, 3.0)),
    ("beta_small", lambda k: R.beta(k, 0.2, 0.5, (N,)), scipy_stats.beta(0.2, 0.5)),
    ("chisquare", lambda k: R.chisquare(k, 3.0, (N,)), scipy_stats.chi2(3.0)),
    ("t", lambda k: R.t(k, 5.0, (N,)), scipy_stats.t(5.0)),
    ("gumbel", lambda k: R.gumbel(k, (N,)), scipy_stats.gumbel_r()),
    ("laplace", lambda k: R.laplace(k, (N,)), scipy_stats.laplace()),
    ("logistic", lambda k: R.logistic(k, (N,)), scipy_stats.logistic()),
    ("cauchy", lambda k: R.cauchy(k, (N,)), scipy_stats.cauchy()),
    ("lognormal", lambda k: R.lognormal(k, 0.5, (N,)), scipy_stats.lognorm(0.5)),
    ("truncated_normal", lambda k: R.truncated_normal(k, -0.5, 1.5, (N,)), scipy_stats.truncnorm(-0.5, 1.5)),
])
def test_continuous_distributions_ks(name, sample, dist):
    x = sample(R.key(11))
    assert np.all(np.isfinite(x))
    _ks_ok(x, dist.cdf)
    if np.isfinite(dist.var()):
        _mean_ok(x, dist.mean(), dist.var())


def test_truncated_normal_stays_inside_bounds():
    x = R.truncated_normal(R.key(5), np.array([-1.0, 0.5, -np.inf]), np.array([1.0, 0.7, -3.0]), (N, 3))
    assert np.all(x[:, 0] >= -1) and np.all(x[:, 0] <= 1)
    assert np.all(x[:, 1] >= 0.5) and np.all(x[:, 1] <= 0.7)
    assert np.all(x[:, 2] <= -3) and np.all(np.isfinite(x))


def test_discrete_distributions():
    b = R.bernoulli(R.key(1), 0.3, (N,))
    assert b.dtype == bool
    _mean_ok(b.astype(float), 0.3, 0.21)
    r = R.randint(R.key(2), (N,), 3, 8)
    assert r.min() == 3 and r.max() == 7
    counts = np.bincount(r - 3, minlength=5)
    assert scipy_stats.chisquare(counts).pvalue > 1e-4
    np.testing.assert_array_equal(R.randint(K, (3,), 5, 5), [5, 5, 5])
    p = R.poisson(R.key(3), 3.5, (N,))
    _mean_ok(p, 3.5, 3.5)
    _mean_ok((p - 3.5) ** 2, 3.5, 3.5 + 2 * 3.5**2)
    rad = R.rademacher(R.key(4), (N,))
    assert set(np.unique(rad)) == {-1, 1}
    _mean_ok(rad, 0.0, 1.0)


def test_categorical_and_choice_frequencies():
    probs = np.array([0.1, 0.2, 0.3, 0.4])
    c = R.categorical(R.key(7), np.log(probs) + 3.0, shape=(N,))
    counts = np.bincount(c, minlength=4)
    assert scipy_stats.chisquare(counts, probs * N).pvalue > 1e-4
    c2 = R.categorical(R.key(7), np.log(probs)[:, None] * np.ones(3), axis=0)
    assert c2.shape == (3,)
    ch = R.choice(R.key(8), 4, (N,), p=probs)
    assert scipy_stats.chisquare(np.bincount(ch, minlength=4), probs * N).pvalue > 1e-4
    uni = R.choice(R.key(9), np.array([10.0, 20.0, 30.0]), (N,))
    assert set(np.unique(uni)) == {10.0, 20.0, 30.0}


def test_choice_without_replacement_and_permutations():
    for seed in range(20):
        k = R.key(seed)
        c = R.choice(k, 10, (2, 3), replace=False)
        assert c.shape == (2, 3) and len(set(c.ravel())) == 6
        cp = R.choice(k, 6, (6,), replace=False, p=np.array([0.5, 0.1, 0.1, 0.1, 0.1, 0.1]))
        np.testing.assert_array_equal(np.sort(cp), np.arange(6))
        np.testing.assert_array_equal(np.sort(R.permutation(k, 7)), np.arange(7))
    x = np.arange(12.0).reshape(3, 4)
    px = R.permutation(K, x, axis=1)
    np.testing.assert_array_equal(np.sort(px, axis=1), x)
    assert not np.array_equal(px, x)
    pi = R.permutation(R.key(3), np.tile(np.arange(6.0), (4, 1)), axis=1, independent=True)
    np.testing.assert_array_equal(np.sort(pi, axis=1), np.tile(np.arange(6.0), (4, 1)))
    assert len({tuple(r) for r in pi}) > 1
    # the first position of a permutation is uniform
    firsts = np.array([R.permutation(R.key(s), 4)[0] for s in range(4000)])
    assert scipy_stats.chisquare(np.bincount(firsts, minlength=4)).pvalue > 1e-4
    with pytest.raises(ValueError, match="without replacement"):
        R.choice(K, 3, (4,), replace=False)


def test_dirichlet_and_multivariate_normal_moments():
    alpha = np.array([0.5, 2.0, 3.5])
    d = R.dirichlet(R.key(1), alpha, (N,))
    assert d.shape == (N, 3)
    np.testing.assert_allclose(d.sum(-1), 1.0, rtol=1e-12)
    mean = alpha / alpha.sum()
    var = mean * (1 - mean) / (alpha.sum() + 1)
    for i in range(3):
        _mean_ok(d[:, i], mean[i], var[i])
    cov = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
    mu = np.array([1.0, -2.0, 0.5])
    for method in ("cholesky", "eigh", "svd"):
        x = R.multivariate_normal(R.key(2), mu, cov, (N,), method=method)
        assert x.shape == (N, 3)
        for i in range(3):
            _mean_ok(x[:, i], mu[i], cov[i, i])
        np.testing.assert_allclose(np.cov(x.T), cov, atol=5 * math.sqrt(2.0 * 4.0 / N))


# ---------------------------------------------------------- derivatives ---

def _fd(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2 * h)


def test_uniform_reparameterised_in_minval_maxval():
    k = R.key(3)
    f = lambda lo, hi: cnp.sum(R.uniform(k, (5,), minval=lo, maxval=hi) ** 2)
    g_lo, g_hi = cr.grad(f, argnums=(0, 1))(-1.0, 2.0)
    assert g_lo == pytest.approx(_fd(lambda a: f(a, 2.0), -1.0), rel=1e-7)
    assert g_hi == pytest.approx(_fd(lambda b: f(-1.0, b), 2.0), rel=1e-7)
    jg = cr.jit(cr.grad(f, argnums=(0, 1)))
    assert jg(-1.0, 2.0) == pytest.approx((g_lo, g_hi), rel=1e-12)
    assert jg(-1.0, 2.0) == pytest.approx((g_lo, g_hi), rel=1e-12)
    _, t = cr.jvp(lambda lo: f(lo, 2.0), (-1.0,), (1.0,))
    assert t == pytest.approx(g_lo, rel=1e-12)


def test_truncated_normal_and_mvn_derivatives_match_finite_differences():
    k = R.key(4)
    f = lambda lo, hi: cnp.sum(cnp.sin(R.truncated_normal(k, lo, hi, (6,))))
    g = cr.grad(f, argnums=(0, 1))(-0.7, 1.3)
    assert g[0] == pytest.approx(_fd(lambda a: f(a, 1.3), -0.7), rel=1e-6)
    assert g[1] == pytest.approx(_fd(lambda b: f(-0.7, b), 1.3), rel=1e-6)

    A = np.array([[1.0, 0.0], [0.4, 0.8]])

    def h(mu, a):
        cov = a @ a.T + 0.1 * np.eye(2)
        return cnp.sum(R.multivariate_normal(k, mu, cov, (4,)) ** 3)
    mu = np.array([0.3, -0.2])
    gm, ga = cr.grad(h, argnums=(0, 1))(mu, A)
    for i in range(2):
        e = np.eye(2)[i]
        assert gm[i] == pytest.approx(_fd(lambda s: h(mu + s * e, A), 0.0), rel=1e-6)
    for i, j in ((0, 0), (1, 0), (1, 1)):
        e = np.zeros((2, 2))
        e[i, j] = 1.0
        assert ga[i, j] == pytest.approx(_fd(lambda s: h(mu, A + s * e), 0.0), rel=1e-6)


def test_gamma_implicit_reparameterisation():
    # with u = F(x; a) held fixed, x(a) = F^-1(u; a): d x / d a by differences of SciPy's inverse
    a0 = np.array([0.3, 1.0, 2.5, 7.0, 40.0])
    x0 = R.gamma(R.key(6), a0)
    g = cr.jacfwd(lambda a: R.gamma(R.key(6), a))(a0)
    u = sc.gammainc(a0, x0)
    h = 1e-6 * a0
    want = (sc.gammaincinv(a0 + h, u) - sc.gammaincinv(a0 - h, u)) / (2 * h)
    np.testing.assert_allclose(np.diag(g), want, rtol=1e-5)
    gr = cr.grad(lambda a: cnp.sum(R.gamma(R.key(6), a)))(a0)
    np.testing.assert_allclose(gr, np.diag(g), rtol=1e-12)


def test_gamma_grad_agrees_with_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    a = np.array([0.05, 0.5, 1.5, 3.0, 12.0, 300.0])
    x = R.gamma(R.key(9), a, (50, 6))
    ours = cr.grad(lambda a_: cnp.sum(R.gamma(R.key(9), a_, (50, 6))))(a)
    theirs = np.asarray(jax.lax.random_gamma_grad(np.broadcast_to(a, x.shape), x)).sum(0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_reparameterised_gradients_are_unbiased():
    # d/da E[gamma(a)] = 1; d/da E[beta(a, b)] = b / (a + b)^2; d/dsigma E[lognormal] = sigma e^(s^2/2)
    k = R.key(12)
    g = cr.grad(lambda a: cnp.mean(R.gamma(k, a, (N,))))(2.0)
    assert g == pytest.approx(1.0, abs=0.03)
    gb = cr.grad(lambda a: cnp.mean(R.beta(k, a, 3.0, (N,))))(2.0)
    assert gb == pytest.approx(3.0 / 25.0, abs=0.01)
    gl = cr.grad(lambda s: cnp.mean(R.lognormal(k, s, (N,))))(0.5)
    assert gl == pytest.approx(0.5 * math.exp(0.125), abs=0.03)
    gt = cr.grad(lambda df: cnp.mean(R.t(k, df, (N,)) ** 2))(6.0)
    assert gt == pytest.approx(-2.0 / 16.0, abs=0.05)         # d/ddf df/(df-2)


def test_no_derivative_through_the_key_and_no_second_gamma_derivative():
    f = lambda x: x * R.normal(K)
    assert cr.grad(f)(2.0) == pytest.approx(float(R.normal(K)))
    with pytest.raises(NotImplementedError, match="second derivatives"):
        cr.hessian(lambda a: R.gamma(K, a))(2.0)


# ------------------------------------------------------------------ vmap ---

@pytest.mark.parametrize("name", ["normal", "uniform_range", "gamma", "poisson", "randint", "choice",
                                  "choice_p", "permutation", "beta", "dirichlet", "categorical", "bits",
                                  "multivariate_normal", "truncated_normal"])
def test_vmap_over_keys_equals_a_loop(name):
    f = SAMPLERS[name]
    ks = R.split(R.key(5), 4)
    loop = np.stack([f(k) for k in ks])      # same draws; batched arithmetic may round apart
    np.testing.assert_allclose(cr.vmap(f)(ks), loop, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(cr.jit(cr.vmap(f))(ks), loop, rtol=1e-13, atol=1e-15)


def test_vmap_over_keys_and_parameters():
    ks = R.split(R.key(1), 3)
    a = np.array([0.5, 2.0, 9.0])
    got = cr.vmap(lambda k, a_: R.gamma(k, a_, (4,)))(ks, a)
    np.testing.assert_array_equal(got, np.stack([R.gamma(k, x, (4,)) for k, x in zip(ks, a)]))
    got = cr.vmap(lambda a_: R.gamma(K, a_, (2,)))(a)                  # one key for every lane
    np.testing.assert_array_equal(got, np.stack([R.gamma(K, x, (2,)) for x in a]))
    got = cr.vmap(lambda k: R.split(k, 3))(ks)
    np.testing.assert_array_equal(got, np.stack([R.split(k, 3) for k in ks]))
    got = cr.vmap(lambda d: R.fold_in(K, d))(np.arange(4))
    np.testing.assert_array_equal(got, np.stack([R.fold_in(K, i) for i in range(4)]))
    nested = cr.vmap(cr.vmap(lambda k: R.normal(k, (2,))))(R.split(K, 6).reshape(2, 3, 2))
    np.testing.assert_array_equal(nested[1, 2], R.normal(R.split(K, 6)[5], (2,)))
    lam = np.array([1.0, 5.0])
    np.testing.assert_array_equal(cr.vmap(lambda k, l_: R.poisson(k, l_, (3,)))(ks[:2], lam),
                                  np.stack([R.poisson(k, x, (3,)) for k, x in zip(ks[:2], lam)]))


def test_vmap_of_gamma_gradient():
    a = np.array([0.7, 1.5, 4.0])
    per = cr.vmap(cr.grad(lambda a_: R.gamma(K, a_)))(a)
    np.testing.assert_allclose(per, [cr.grad(lambda a_: R.gamma(K, a_))(x) for x in a], rtol=1e-12)


# ----------------------------------------------- np.random under jit ---

def test_np_random_under_jit_warns_once_naming_the_line():
    def f(x):
        return x + np.random.rand(*x.shape)   # the frozen call
    line = f.__code__.co_firstlineno + 1
    g = cr.jit(f)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        g(np.ones(2))
        g(np.ones(2))                       # cached: nothing staged
        g(np.ones(3))                       # staged again: same call site, no second warning
    ours = [x for x in w if issubclass(x.category, R.RandomStagingWarning)]
    assert len(ours) == 1
    assert issubclass(ours[0].category, RuntimeWarning)
    msg = str(ours[0].message)
    assert f"{__file__}:{line}" in msg and "chainrule.random" in msg and "np.random.rand" in msg
    assert ours[0].filename == __file__ and ours[0].lineno == line
    assert not hasattr(np.random.rand, "_chainrule_np_random")       # restored after staging
    with warnings.catch_warnings(record=True) as w:                    # eager calls: silent
        warnings.simplefilter("always")
        f(np.ones(2))
    assert not [x for x in w if issubclass(x.category, R.RandomStagingWarning)]


def test_np_random_functions_restored_after_a_staging_error():
    def f(x):
        np.random.normal()
        raise ValueError("boom")
    originals = (np.random.normal, np.random.uniform, np.random.choice)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="boom"):
            cr.jit(f)(np.ones(2))
    assert (np.random.normal, np.random.uniform, np.random.choice) == originals
    with R.np_random_warnings(), R.np_random_warnings():       # nested users: restored by the last
        assert hasattr(np.random.normal, "_chainrule_np_random")
    assert np.random.normal is originals[0]
