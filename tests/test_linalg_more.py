"""chainrule.numpy.linalg: lstsq, matrix_power, cond, multi_dot, tensorsolve, tensorinv,
matrix_rank and norm orders: values against NumPy (on traced values too), derivatives
against finite differences and across modes, vmap, jit, JAX, and errors."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

from helpers import check_jvp_vjp

la = cnp.linalg
RNG = np.random.default_rng(11)
A = RNG.standard_normal((4, 4)) + 3 * np.eye(4)
TALL = RNG.standard_normal((6, 3))
WIDE = RNG.standard_normal((3, 5))
BV = RNG.standard_normal(6)
BM = RNG.standard_normal((6, 2))


def close(x, y, rtol=1e-12):
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == y.shape, (x.shape, y.shape)
    np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * (1 + np.max(np.abs(y), initial=0)))


def traced(f, *args):
    """f evaluated on traced arguments (the primal of a JVP), to test the composed path."""
    return cr.jvp(lambda *xs: f(*xs), args, tuple(np.zeros_like(x) for x in args))[0]


def check_jit(f, *args):
    jf = cr.jit(f)
    jf(*args)
    close(jf(*args), f(*args))


@pytest.mark.parametrize("a,b", [(TALL, BV), (TALL, BM), (WIDE, BV[:3]), (WIDE, BM[:3]), (A, BV[:4])])
def test_lstsq_values(a, b):
    ref = np.linalg.lstsq(a, b)
    got = la.lstsq(a, b)
    for x, y in zip(got, ref):
        close(x, y)
    out = []
    cr.jvp(lambda a, b: out.append(la.lstsq(a, b)) or la.lstsq(a, b)[0], (a, b), (a, b))
    x, res, rank, s = out[0]
    close(x.primal, ref[0], 1e-10)
    close(res.primal if isinstance(res, cr.core.Tracer) else res, ref[1], 1e-10)
    assert rank == ref[2] and isinstance(rank, int)
    close(s.primal, ref[3])


def test_lstsq_rank_deficient():
    a = np.column_stack([TALL[:, 0], TALL[:, 0], TALL[:, 1]])
    out = []
    cr.jvp(lambda a: out.append(la.lstsq(a, BV)) or la.lstsq(a, BV)[0], (a,), (a,))
    ref = np.linalg.lstsq(a, BV)
    close(out[0][0].primal, ref[0], 1e-10)
    assert out[0][2] == ref[2] == 2 and np.shape(out[0][1]) == (0,)


def test_lstsq_derivatives():
    check_jvp_vjp(lambda a, b: la.lstsq(a, b)[0], (TALL, BV), order=2)
    check_jvp_vjp(lambda a, b: la.lstsq(a, b)[0], (WIDE, BM[:3]), order=1)
    check_jvp_vjp(lambda a, b: la.lstsq(a, b)[1], (TALL, BM), order=1)
    f = lambda a: la.lstsq(a, BV)[0]
    close(cr.jacfwd(f)(TALL), cr.jacrev(f)(TALL), 1e-10)
    # for full column rank, x solves the normal equations
    g = cr.grad(lambda a: cnp.sum(la.lstsq(a, BV)[0] ** 2))(TALL)
    g2 = cr.grad(lambda a: cnp.sum(cnp.linalg.solve(a.T @ a, a.T @ BV) ** 2))(TALL)
    close(g, g2, 1e-9)
    check_jit(f, TALL)
    stack = np.stack([TALL, TALL + 0.1])
    close(cr.vmap(f)(stack), np.stack([f(t) for t in stack]))


@pytest.mark.parametrize("n", [-3, -1, 0, 1, 2, 5])
def test_matrix_power(n):
    close(traced(lambda a: la.matrix_power(a, n), A), np.linalg.matrix_power(A, n), 1e-10)
    if n:
        check_jvp_vjp(lambda a: la.matrix_power(a, n), (A,), order=2)
    close(cr.vmap(lambda a: la.matrix_power(a, n))(np.stack([A, A.T])),
          np.stack([np.linalg.matrix_power(A, n), np.linalg.matrix_power(A.T, n)]), 1e-10)


@pytest.mark.parametrize("p", [None, 2, -2, "fro", "nuc", 1, -1, np.inf, -np.inf])
def test_cond(p):
    close(traced(lambda a: la.cond(a, p), A), np.linalg.cond(A, p), 1e-10)
    stack = np.stack([A, A + np.eye(4)])
    close(traced(lambda a: la.cond(a, p), stack), np.linalg.cond(stack, p), 1e-10)
    close(la.cond(A, p), np.linalg.cond(A, p))
    check_jvp_vjp(lambda a: la.cond(a, p), (A,), order=1)
    check_jit(lambda a: la.cond(a, p), A)


def test_cond_of_rectangular_and_bad_order():
    close(traced(la.cond, TALL), np.linalg.cond(TALL), 1e-10)
    with pytest.raises(ValueError, match="norm order"):
        traced(lambda a: la.cond(a, 3), A)


def test_multi_dot():
    shapes = [(5,), (5, 2), (2, 8), (8, 3), (3,)]
    ms = [RNG.standard_normal(s) for s in shapes]
    for lo, hi in [(0, 5), (1, 4), (0, 4), (1, 5), (1, 3)]:
        part = ms[lo:hi]
        close(traced(lambda *xs: la.multi_dot(list(xs)), *part), np.linalg.multi_dot(part), 1e-12)
    check_jvp_vjp(lambda a, b, c: la.multi_dot([a, b, c]), tuple(ms[1:4]), order=1)
    with pytest.raises(ValueError, match="aligned"):
        traced(lambda a, b: la.multi_dot([a, b]), ms[1], ms[1])
    with pytest.raises(TypeError, match="out"):
        la.multi_dot(ms[1:3], out=np.empty((5, 8)))


def test_tensorsolve_tensorinv():
    a = RNG.standard_normal((2, 3, 6)) + np.eye(6).reshape(2, 3, 6)
    b = RNG.standard_normal((2, 3))
    close(traced(la.tensorsolve, a, b), np.linalg.tensorsolve(a, b), 1e-10)
    a2 = RNG.standard_normal((6, 2, 3))
    close(traced(lambda a, b: la.tensorsolve(a, b, axes=(0,)), a2, b),
          np.linalg.tensorsolve(a2, b, axes=(0,)), 1e-10)
    check_jvp_vjp(la.tensorsolve, (a, b), order=1)
    t = RNG.standard_normal((4, 6, 8, 3))
    close(traced(la.tensorinv, t), np.linalg.tensorinv(t), 1e-10)
    t1 = RNG.standard_normal((24, 4, 6))
    close(traced(lambda t: la.tensorinv(t, ind=1), t1), np.linalg.tensorinv(t1, ind=1), 1e-10)
    check_jvp_vjp(la.tensorinv, (t,), order=1)
    with pytest.raises(np.linalg.LinAlgError):
        traced(la.tensorinv, RNG.standard_normal((2, 3, 4)))


def test_matrix_rank():
    low = TALL[:, :2] @ WIDE[:2, :4]                         # rank 2
    for m in (A, TALL, low, np.zeros((3, 3)), np.stack([A, np.outer(A[0], A[1])])):
        ref = np.linalg.matrix_rank(m)
        np.testing.assert_array_equal(traced(la.matrix_rank, m), ref)
        np.testing.assert_array_equal(la.matrix_rank(m), ref)
    assert int(traced(lambda m: la.matrix_rank(m, tol=1.0), A)) == np.linalg.matrix_rank(A, tol=1.0)
    sym = A + A.T
    assert int(traced(lambda m: la.matrix_rank(m, hermitian=True), sym)) == 4
    # no derivative: grad of rank * sum(a) is rank * ones
    close(cr.grad(lambda m: la.matrix_rank(m) * cnp.sum(m))(low), 2 * np.ones_like(low))
    assert int(cr.jit(la.matrix_rank)(low)) == 2
    np.testing.assert_array_equal(cr.vmap(la.matrix_rank)(np.stack([A, low[:, :4][:4]])),
                                  [4, np.linalg.matrix_rank(low[:4, :4])])


@pytest.mark.parametrize("ord", [None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf])
def test_matrix_norm_orders(ord):
    close(traced(lambda a: la.norm(a, ord), A), np.linalg.norm(A, ord), 1e-10)
    check_jvp_vjp(lambda a: la.norm(a, ord), (A,), order=1)


@pytest.mark.parametrize("ord", [None, 0, 1, -1, 2, 3, 0.5, np.inf, -np.inf])
def test_vector_norm_orders(ord):
    v = RNG.standard_normal(5)
    close(traced(lambda x: la.norm(x, ord), v), np.linalg.norm(v, ord), 1e-12)
    if ord != 0:
        check_jvp_vjp(lambda x: la.norm(x, ord), (v,), order=1)


def test_numpy_dispatch_on_traced_values():
    g = cr.grad(lambda a: np.sum(np.linalg.lstsq(a, BV)[0]))(TALL)
    close(g, cr.grad(lambda a: cnp.sum(la.lstsq(a, BV)[0]))(TALL))
    close(traced(lambda a: np.linalg.cond(a), A), np.linalg.cond(A), 1e-10)
    close(traced(lambda a: np.linalg.multi_dot([a, a, a]), A), A @ A @ A, 1e-12)


def test_against_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    close(cr.grad(lambda a: cnp.sum(la.lstsq(a, BV)[0] ** 2))(TALL),
          jax.grad(lambda a: jnp.sum(jnp.linalg.lstsq(a, BV)[0] ** 2))(TALL), 1e-9)
    close(cr.grad(lambda a: la.cond(a))(A), jax.grad(lambda a: jnp.linalg.cond(a))(A), 1e-9)
    close(cr.grad(lambda a: cnp.sum(la.matrix_power(a, -2)))(A),
          jax.grad(lambda a: jnp.sum(jnp.linalg.matrix_power(a, -2)))(A), 1e-9)
    t = RNG.standard_normal((4, 6, 8, 3))
    close(cr.grad(lambda t: cnp.sum(la.tensorinv(t) ** 2))(t),
          jax.grad(lambda t: jnp.sum(jnp.linalg.tensorinv(t) ** 2))(t), 1e-9)
    ms = [RNG.standard_normal(s) for s in [(3, 5), (5, 2), (2, 4)]]
    close(la.multi_dot(ms), jnp.linalg.multi_dot(ms))


def test_bad_input():
    with pytest.raises(np.linalg.LinAlgError, match="two-dimensional"):
        traced(lambda a: la.lstsq(a, BV[:4]), A[0])
    with pytest.raises(np.linalg.LinAlgError, match="incompatible"):
        traced(lambda a: la.lstsq(a, np.ones(3)), TALL)
    with pytest.raises(np.linalg.LinAlgError, match="square"):
        traced(lambda a: la.matrix_power(a, 2), TALL)
    with pytest.raises(np.linalg.LinAlgError, match="two-dimensional"):
        traced(la.cond, np.ones(3))
    with pytest.raises(ValueError, match="at least two"):
        la.multi_dot([A])
    with pytest.raises(ValueError, match="both"):
        traced(lambda a: la.matrix_rank(a, tol=1.0, rtol=1.0), A)
