"""chainrule.lax: collectives across a named vmap axis, against explicit sums over the
batch, against JAX, and their derivatives against finite differences."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import lax

RNG = np.random.default_rng(18)
X = RNG.normal(size=(4, 3))


def _fd_grad(f, x, eps=1e-6):
    """Central-difference gradient of the scalar function f at the array x."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


# ------------------------------------------------------------- values ---

def test_reductions_equal_explicit_sums_over_the_batch():
    out = cr.vmap(lambda v: (lax.psum(v, "i"), lax.pmean(v, "i"), lax.pmax(v, "i"), lax.pmin(v, "i")),
                  axis_name="i")(X)
    for o, want in zip(out, (X.sum(0), X.mean(0), X.max(0), X.min(0))):
        assert o.shape == X.shape
        np.testing.assert_allclose(o, np.broadcast_to(want, X.shape), rtol=1e-14)


def test_in_axes_one_and_out_axes_none():
    out = cr.vmap(lambda v: lax.psum(v, "i"), in_axes=1, axis_name="i", out_axes=None)(X)
    np.testing.assert_allclose(out, X.sum(1), rtol=1e-14)


def test_all_gather_and_axis_index():
    g = cr.vmap(lambda v: lax.all_gather(v, "i"), axis_name="i")(X)
    assert g.shape == (4, 4, 3)
    for b in range(4):
        np.testing.assert_array_equal(g[b], X)
    g1 = cr.vmap(lambda v: lax.all_gather(v, "i", axis=1), axis_name="i")(X)
    np.testing.assert_array_equal(g1[2], X.T)
    t = cr.vmap(lambda v: lax.all_gather(v, "i", tiled=True), axis_name="i")(X)
    np.testing.assert_array_equal(t[1], X.reshape(-1))
    idx = cr.vmap(lambda v: lax.axis_index("i") * v[0], axis_name="i")(X)
    np.testing.assert_allclose(idx, np.arange(4) * X[:, 0])
    np.testing.assert_array_equal(cr.vmap(lambda: lax.axis_index("i"), in_axes=(), axis_name="i",
                                          axis_size=5)(), np.arange(5))
    assert cr.vmap(lambda v: v * lax.axis_size("i"), axis_name="i")(X)[0, 0] == 4 * X[0, 0]


def test_collective_of_an_unbatched_value():
    out = cr.vmap(lambda v: (lax.psum(2.5, "i"), lax.pmean(np.ones(2), "i"), lax.pmax(-1.0, "i"),
                             lax.all_gather(np.float64(3.0), "i")), axis_name="i")(X)
    np.testing.assert_allclose(out[0], np.full(4, 10.0))
    np.testing.assert_allclose(out[1], np.ones((4, 2)))
    np.testing.assert_allclose(out[2], np.full(4, -1.0))
    np.testing.assert_allclose(out[3], np.full((4, 4), 3.0))


def test_softmax_over_the_batch_normalises():
    # a value that mixes per-example and cross-example work
    p = cr.vmap(lambda v: cnp.exp(v - lax.pmax(v, "i")) / lax.psum(cnp.exp(v - lax.pmax(v, "i")), "i"),
                axis_name="i")(X)
    want = np.exp(X - X.max(0)) / np.exp(X - X.max(0)).sum(0)
    np.testing.assert_allclose(p, want, rtol=1e-13)


def test_nested_vmaps_with_two_names():
    Y = RNG.normal(size=(2, 3))

    def f(v):
        return (lax.psum(v, "i"), lax.psum(v, "j"), lax.psum(v, ("i", "j")),
                lax.axis_index("i") + 10 * lax.axis_index("j"), lax.all_gather(v, "i"))

    s_i, s_j, s_ij, idx, g = cr.vmap(cr.vmap(f, axis_name="j"), axis_name="i")(Y)
    np.testing.assert_allclose(s_i, np.broadcast_to(Y.sum(0), Y.shape), rtol=1e-14)
    np.testing.assert_allclose(s_j, np.broadcast_to(Y.sum(1, keepdims=True), Y.shape), rtol=1e-14)
    np.testing.assert_allclose(s_ij, np.full(Y.shape, Y.sum()), rtol=1e-14)
    np.testing.assert_array_equal(idx, np.arange(2)[:, None] + 10 * np.arange(3))
    assert g.shape == (2, 3, 2)
    np.testing.assert_array_equal(g[1, 2], Y[:, 2])


def test_inner_name_shadows_outer():
    Y = RNG.normal(size=(2, 3))
    out = cr.vmap(cr.vmap(lambda v: lax.psum(v, "i"), axis_name="i"), axis_name="i")(Y)
    np.testing.assert_allclose(out, np.broadcast_to(Y.sum(1, keepdims=True), Y.shape), rtol=1e-14)


def test_against_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jlax, jjnp = jax.lax, jax.numpy

    def make(L, np_):
        def f(v):
            return (L.psum(v, "i"), L.pmean(np_.sin(v), "i"), L.pmax(v, "i"), L.pmin(v, "i"),
                    L.all_gather(v, "i", axis=1), L.axis_index("i") * v, L.psum(3.0, "i"))
        return f

    ours = cr.vmap(make(lax, cnp), axis_name="i")(X)
    theirs = jax.vmap(make(jlax, jjnp), axis_name="i")(X)
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o, np.asarray(t), rtol=1e-13)

    Y = RNG.normal(size=(2, 3, 2))
    g = lambda L: lambda v: L.psum(v, "i") * L.axis_index("j") + L.pmean(v * v, ("i", "j"))  # noqa: E731
    np.testing.assert_allclose(
        cr.vmap(cr.vmap(g(lax), axis_name="j"), axis_name="i")(Y),
        np.asarray(jax.vmap(jax.vmap(g(jlax), axis_name="j"), axis_name="i")(Y)), rtol=1e-13)

    # derivatives inside the vmap: the collective is a linear map over the whole batch
    x = RNG.normal(size=5)
    for h_ours, h_jax in [
        (lambda v: lax.psum(v * v, "i"), lambda v: jlax.psum(v * v, "i")),
        (lambda v: lax.pmean(cnp.sin(v), "i") * v, lambda v: jlax.pmean(jjnp.sin(v), "i") * v),
        (lambda v: lax.all_gather(v, "i")[1] * v, lambda v: jlax.all_gather(v, "i")[1] * v),
    ]:
        np.testing.assert_allclose(cr.vmap(cr.grad(h_ours), axis_name="i")(x),
                                   np.asarray(jax.vmap(jax.grad(h_jax), axis_name="i")(x)), rtol=1e-12)
        jo = cr.vmap(lambda v: cr.jvp(h_ours, (v,), (cnp.cos(v),))[1], axis_name="i")(x)
        jt = jax.vmap(lambda v: jax.jvp(h_jax, (v,), (jjnp.cos(v),))[1], axis_name="i")(x)
        np.testing.assert_allclose(jo, np.asarray(jt), rtol=1e-12)


# -------------------------------------------------------- derivatives ---

def _loss(x):
    def per_example(v):
        centred = v - lax.pmean(v, "i")
        return cnp.sum(cnp.sin(v) * centred ** 2) / lax.psum(cnp.sum(v * v), "i")
    return cnp.sum(cr.vmap(per_example, axis_name="i")(x))


def _loss_np(x):
    c = x - x.mean(0)
    return np.sum(np.sin(x) * c ** 2) / np.sum(x * x)


def test_loss_value_against_numpy():
    np.testing.assert_allclose(_loss(X), _loss_np(X), rtol=1e-13)


def test_grad_through_pmean_against_finite_differences():
    g = cr.grad(_loss)(X)
    np.testing.assert_allclose(g, _fd_grad(_loss_np, X), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(cr.jit(cr.grad(_loss))(X), g, rtol=1e-12)
    t = RNG.normal(size=X.shape)
    _, jv = cr.jvp(_loss, (X,), (t,))
    np.testing.assert_allclose(jv, np.sum(g * t), rtol=1e-10)


def test_second_derivative_of_pmax_and_all_gather():
    w = np.array([0.3, -1.2, 0.7])

    def f(x):
        return cnp.sum(cr.vmap(lambda v: lax.pmax(v, "i") * cnp.sum(lax.all_gather(v, "i") ** 2),
                               axis_name="i")(x) * w)

    def f_np(x):
        return np.sum(x.max() * np.sum(x ** 2) * w)

    x = np.array([0.5, 2.0, -1.0])
    np.testing.assert_allclose(f(x), f_np(x), rtol=1e-14)
    np.testing.assert_allclose(cr.grad(f)(x), _fd_grad(f_np, x), rtol=1e-6)
    hv = cr.hvp(f, (x,), (np.ones(3),))
    hv = hv[1] if isinstance(hv, tuple) else hv
    np.testing.assert_allclose(hv, _fd_grad(lambda y: np.sum(cr.grad(f)(y)), x, eps=1e-5), rtol=1e-5)


def test_grad_inside_vmap_against_finite_differences_of_the_batch_sum():
    # JAX's meaning: per example, the gradient of the sum over the batch of the outputs
    def h(v):
        return lax.pmean(cnp.sin(v), "i") * v ** 2

    def total(x):
        return np.sum(np.mean(np.sin(x)) * x ** 2)

    x = RNG.normal(size=4)
    np.testing.assert_allclose(cr.vmap(cr.grad(h), axis_name="i")(x), _fd_grad(total, x), rtol=1e-6)


def test_jit_of_vmap():
    f = cr.jit(cr.vmap(lambda v: v / lax.psum(v, "i") + lax.axis_index("i"), axis_name="i"))
    for _ in range(2):                        # the first call stages, the second runs compiled code
        np.testing.assert_allclose(f(X), X / X.sum(0) + np.arange(4)[:, None], rtol=1e-14)


def test_vmap_of_jit_inside():
    f = cr.vmap(cr.jit(lambda v: lax.psum(v, "i")), axis_name="i")
    np.testing.assert_allclose(f(X), np.broadcast_to(X.sum(0), X.shape), rtol=1e-14)


# ------------------------------------------------------------- errors ---

def test_unbound_axis_name_is_a_name_error():
    with pytest.raises(NameError, match="unbound axis name 'k'.*names bound here: 'i'"):
        cr.vmap(lambda v: lax.psum(v, "k"), axis_name="i")(X)
    with pytest.raises(NameError, match="unbound axis name 'i'"):
        lax.axis_index("i")
    with pytest.raises(NameError, match="'i'"):
        cr.vmap(lambda v: lax.pmean(v, "i"))(X)        # vmap without an axis_name


def test_name_is_unbound_after_vmap_returns():
    cr.vmap(lambda v: lax.psum(v, "i"), axis_name="i")(X)
    with pytest.raises(NameError):
        lax.psum(X, "i")


def test_split_batch_refuses_collectives():
    def f(v):
        if v > 0:
            return lax.psum(v, "i")
        return v
    with pytest.raises(ValueError, match="split this batch"):
        cr.vmap(f, axis_name="i")(np.array([1.0, -1.0, 2.0]))
    # a batch whose examples agree does not split
    np.testing.assert_allclose(cr.vmap(f, axis_name="i")(np.array([1.0, 2.0])), [3.0, 3.0])


def test_bad_axis_arguments():
    with pytest.raises(ValueError, match="axis=3"):
        cr.vmap(lambda v: lax.all_gather(v, "i", axis=3), axis_name="i")(X)
    with pytest.raises(TypeError, match="hashable"):
        cr.vmap(lambda v: v, axis_name=["i"])


def test_collective_inside_a_custom_jvp_function():
    @cr.custom_jvp
    def total(v):
        return lax.psum(v, "i")
    total.defjvp(lambda p, t: (total(p[0]), lax.psum(t[0], "i")))
    x = np.array([0.5, 1.0, 4.0])
    np.testing.assert_allclose(cr.vmap(total, axis_name="i")(x), np.full(3, 5.5))
    g = cr.grad(lambda x: cnp.sum(cr.vmap(lambda v: total(v) * v, axis_name="i")(x)))(x)
    np.testing.assert_allclose(g, _fd_grad(lambda y: np.sum(y.sum() * y), x), rtol=1e-7)


def test_collective_inside_a_loop_body_refuses():
    with pytest.raises(NotImplementedError, match="loop body"):
        cr.vmap(lambda v: cr.fori_loop(0, 2, lambda k, c: c + lax.psum(c, "i"), v),
                axis_name="i")(np.arange(3.0))
