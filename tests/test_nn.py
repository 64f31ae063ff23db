"""chainrule.nn against jax.nn: values and derivatives (kinks and large |x| included),
central differences, second derivatives, jit (the compiled second call) and vmap."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
import jax.nn as jnn  # noqa: E402
import jax.numpy as jnp  # noqa: E402

scipy_special = pytest.importorskip("scipy.special")

X = np.array([-800.0, -40.0, -7.0, -3.0, -1.0, -1e-3, 0.0, 1e-3, 0.7, 1.0, 3.0, 6.0, 7.0, 40.0, 800.0])
SMOOTH = np.array([-30.0, -3.7, -1.6, -0.4, 0.3, 1.4, 2.5, 4.2, 30.0])    # away from every kink

ELEMENTWISE = {
    "relu": {}, "relu6": {}, "leaky_relu": {}, "leaky_relu-0.2": {"negative_slope": 0.2},
    "elu": {}, "elu-2": {"alpha": 2.0}, "celu": {}, "celu-0.5": {"alpha": 0.5}, "selu": {},
    "gelu": {}, "gelu-exact": {"approximate": False}, "silu": {}, "swish": {}, "softplus": {},
    "soft_sign": {}, "sigmoid": {}, "log_sigmoid": {}, "hard_tanh": {}, "hard_sigmoid": {},
    "hard_silu": {}, "tanh": {},
}


def _pair(case):
    name = case.split("-")[0]
    kw = ELEMENTWISE[case]
    return (lambda x: getattr(nn, name)(x, **kw)), (lambda x: getattr(jnn, name)(x, **kw))


def _close(a, b, rtol):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-300)


@pytest.mark.parametrize("case", sorted(ELEMENTWISE))
def test_values_and_derivatives_equal_jax(case):
    ours, theirs = _pair(case)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = ours(X)
    if case == "gelu":
        # JAX's 0.5 x (1 + tanh u) cancels for negative x; x sigmoid(2 u) does not
        np.testing.assert_allclose(value, theirs(jnp.asarray(X)), rtol=1e-13, atol=1e-14)
        u = np.sqrt(2 / np.pi) * (X + 0.044715 * X ** 3)
        _close(value, X * scipy_special.expit(2 * u), 1e-14)
    else:
        _close(value, theirs(jnp.asarray(X)), 1e-13)
    g = cr.vmap(cr.grad(ours))(X)
    gj = np.array(jax.vmap(jax.grad(theirs))(jnp.asarray(X)))
    assert np.all(np.isfinite(g)), g
    if case == "sigmoid":                  # JAX's derivative underflows to 0 at 40; ours is exact
        gj[X == 40.0] = np.exp(-40.0) / (1 + np.exp(-40.0)) ** 2
    if case == "tanh":                     # 1 - tanh^2 loses digits at large |x| in both
        keep = np.abs(X) < 5
        g, gj = g[keep], gj[keep]
    np.testing.assert_allclose(g, gj, rtol=1e-11, atol=1e-13 if case == "gelu" else 1e-300)


@pytest.mark.parametrize("case", sorted(ELEMENTWISE))
def test_derivatives_against_central_differences_and_second_order(case):
    ours, _ = _pair(case)
    x = SMOOTH
    eps = 1e-6
    fd = (ours(x + eps) - ours(x - eps)) / (2 * eps)
    np.testing.assert_allclose(cr.vmap(cr.grad(ours))(x), fd, rtol=1e-6, atol=1e-9)
    h = 1e-4
    fd2 = (ours(x + h) - 2 * ours(x) + ours(x - h)) / h ** 2
    d2 = cr.vmap(cr.grad(cr.grad(ours)))(x)
    np.testing.assert_allclose(d2, fd2, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("case", sorted(ELEMENTWISE))
def test_jit_equals_eager_and_vmap_equals_a_loop(case):
    ours, _ = _pair(case)
    jf = cr.jit(ours)
    jf(X)
    _close(jf(X), ours(X), 1e-14)                   # the compiled second call
    jg = cr.jit(cr.grad(lambda x: cr.numpy.sum(ours(x))))
    jg(X)
    _close(jg(X), cr.grad(lambda x: cr.numpy.sum(ours(x)))(X), 1e-14)
    _close(cr.vmap(ours)(X.reshape(3, 5)), np.stack([ours(r) for r in X.reshape(3, 5)]), 1e-15)


def test_large_arguments_are_stable():
    assert nn.softplus(800.0) == 800.0 and nn.softplus(-800.0) == 0.0
    assert nn.log_sigmoid(-800.0) == -800.0 and nn.log_sigmoid(800.0) == 0.0
    np.testing.assert_allclose(nn.log_sigmoid(-40.0), -40.0 - np.log1p(np.exp(-40.0)), rtol=1e-15)
    np.testing.assert_allclose(cr.grad(nn.log_sigmoid)(-800.0), 1.0)
    np.testing.assert_allclose(cr.grad(nn.softplus)(800.0), 1.0)
    assert cr.grad(nn.relu)(0.0) == 0.0 and cr.grad(nn.relu6)(6.0) == 0.0
    assert np.isnan(nn.relu(np.nan))


RNG = np.random.default_rng(3)
A = RNG.standard_normal((3, 5)) * 4.0
MASK = np.array([[True, True, False, True, True], [False, True, True, True, True],
                 [True, True, True, True, False]])


@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_log_softmax_logsumexp(axis):
    _close(nn.softmax(A, axis=axis), jnn.softmax(A, axis=axis), 1e-13)
    # x - logsumexp(x) near 0 is exact only to the absolute rounding of its two terms
    np.testing.assert_allclose(nn.log_softmax(A, axis=axis), jnn.log_softmax(A, axis=axis),
                               rtol=1e-13, atol=1e-14)
    _close(nn.logsumexp(A, axis=axis), jnn.logsumexp(A, axis=axis), 1e-14)
    _close(nn.softmax(A * 300, axis=axis), jnn.softmax(A * 300, axis=axis), 1e-12)
    w = RNG.standard_normal(A.shape)
    for ours, theirs in ((nn.softmax, jnn.softmax), (nn.log_softmax, jnn.log_softmax)):
        g = cr.grad(lambda a: cr.numpy.sum(w * ours(a, axis=axis)))(A)
        gj = jax.grad(lambda a: jnp.sum(w * theirs(a, axis=axis)))(A)
        np.testing.assert_allclose(g, gj, rtol=1e-11, atol=1e-14)     # sums cancel: absolute
    jf = cr.jit(lambda a: nn.log_softmax(a, axis=axis))
    jf(A)
    _close(jf(A), nn.log_softmax(A, axis=axis), 1e-14)
    vm = cr.vmap(lambda r: nn.softmax(r))(A)
    _close(vm, np.stack([nn.softmax(r) for r in A]), 1e-15)


def test_where_masks():
    _close(nn.softmax(A, where=MASK), jnn.softmax(A, where=MASK), 1e-13)
    ls, lj = np.asarray(nn.log_softmax(A, where=MASK)), np.asarray(jnn.log_softmax(A, where=MASK))
    np.testing.assert_allclose(ls[MASK], lj[MASK], rtol=1e-13, atol=1e-14)
    assert np.all(np.isneginf(ls[~MASK]))
    _close(nn.logsumexp(A, axis=1, where=MASK), jnn.logsumexp(A, axis=1, where=MASK), 1e-14)
    w = RNG.standard_normal(A.shape)
    g = cr.grad(lambda a: cr.numpy.sum(w * nn.softmax(a, where=MASK)))(A)
    gj = jax.grad(lambda a: jnp.sum(w * jnn.softmax(a, where=MASK)))(A)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, gj, rtol=1e-11, atol=1e-14)


def test_one_hot():
    labels = np.array([0, 2, 1, 5, -1])
    for kw in ({}, {"axis": 0}, {"dtype": np.float32}):
        ours, theirs = nn.one_hot(labels, 4, **kw), jnn.one_hot(labels, 4, **kw)
        assert np.asarray(ours).dtype == np.asarray(theirs).dtype
        np.testing.assert_array_equal(ours, theirs)
    batched = cr.vmap(lambda l: nn.one_hot(l, 3))(np.array([[0, 1], [2, 2]]))
    np.testing.assert_array_equal(batched, np.eye(3)[[[0, 1], [2, 2]]])


@pytest.mark.parametrize("algorithm", ["fast", "stable"])
def test_standardize(algorithm):
    for axis in (-1, 0):
        _close(nn.standardize(A, axis=axis, algorithm=algorithm),
               jnn.standardize(A, axis=axis, algorithm=algorithm), 1e-12)
    w = RNG.standard_normal(A.shape)
    g = cr.grad(lambda a: cr.numpy.sum(w * nn.standardize(a, algorithm=algorithm)))(A)
    gj = jax.grad(lambda a: jnp.sum(w * jnn.standardize(a, algorithm=algorithm)))(A)
    _close(g, gj, 1e-10)
    m, v = np.mean(A, axis=-1, keepdims=True), np.var(A, axis=-1, keepdims=True)
    _close(nn.standardize(A, mean=m, variance=v, epsilon=0.0), (A - m) / np.sqrt(v), 1e-13)
    jf = cr.jit(lambda a: nn.standardize(a, algorithm=algorithm))
    jf(A)
    _close(jf(A), nn.standardize(A, algorithm=algorithm), 1e-14)
    with pytest.raises(ValueError, match="unknown algorithm"):
        nn.standardize(A, algorithm="exact")
