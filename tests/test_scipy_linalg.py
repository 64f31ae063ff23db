"""chainrule.scipy.linalg: values against SciPy, derivatives against finite differences and
across modes, Taylor mode against nested forward mode (the two primitives of
ops/triangular.py), vmap against a loop, jit against eager, JAX where it has the function,
and errors for bad input."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
import chainrule.scipy.linalg as cl
from chainrule.ops import triangular as TR

from helpers import check_jvp_vjp

sl = pytest.importorskip("scipy.linalg")

RNG = np.random.default_rng(7)
A = RNG.standard_normal((4, 4)) + 4 * np.eye(4)
SPD = A @ A.T + 4 * np.eye(4)
SYM = A + A.T
B = RNG.standard_normal((4, 2))
BV = RNG.standard_normal(4)
STACK = RNG.standard_normal((3, 4, 4)) + 4 * np.eye(4)


def close(x, y, rtol=1e-12):
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == y.shape, (x.shape, y.shape)
    np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * (1 + np.max(np.abs(y), initial=0)))


def spd(x):
    return cnp.matmul(x, x.T) + 4 * np.eye(x.shape[-1])


def check_taylor(f, x, order=3, rtol=1e-8):
    """jet along x + t v against nested forward mode."""
    v = np.random.default_rng(1).standard_normal(np.shape(x))
    _, terms = cr.jet(f, (x,), ([v] + [np.zeros_like(x)] * (order - 1),))
    g = f
    for k in range(order):
        g = (lambda h: lambda y: cr.jvp(h, (y,), (v,))[1])(g)
        close(terms[k], g(x), rtol)


def check_jit(f, *args):
    jf = cr.jit(f)
    eager = f(*args)
    jf(*args)
    for a, b in zip(np.atleast_1d(jf(*args)) if not isinstance(eager, tuple) else jf(*args),
                    np.atleast_1d(eager) if not isinstance(eager, tuple) else eager):
        close(a, b)


def check_vmap(f, xs):
    close(cr.vmap(f)(xs), np.stack([f(x) for x in xs]))


def check_modes(f, x):
    close(cr.jacfwd(f)(x), cr.jacrev(f)(x), 1e-10)


# ------------------------------------------------------------ primitives ---

@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("unit", [True, False])
def test_solve_triangular_primitive_all_rules(lower, unit):
    f = lambda a, b: TR.solve_triangular(a, b, lower, unit)
    close(f(A, B), sl.solve_triangular(A, B, lower=lower, unit_diagonal=unit))
    check_jvp_vjp(f, (A, B), order=2)
    check_taylor(lambda a: f(a, B), A)
    check_taylor(lambda b: f(A, b), B)
    check_modes(lambda a: f(a, B), A)
    # batching: batched matrix, batched right-hand side, both
    bs = RNG.standard_normal((3, 4, 2))
    close(cr.vmap(lambda a: f(a, B))(STACK), np.stack([f(a, B) for a in STACK]))
    close(cr.vmap(lambda b: f(A, b))(bs), np.stack([f(A, b) for b in bs]))
    close(cr.vmap(f)(STACK, bs), np.stack([f(a, b) for a, b in zip(STACK, bs)]))
    close(f(STACK, B), np.stack([f(a, B) for a in STACK]))          # a stack broadcasts
    check_jit(f, A, B)


def test_solve_triangular_derivative_lives_on_the_triangle():
    g = cr.grad(lambda a: cnp.sum(TR.solve_triangular(a, B, True, True)))(A)
    assert np.all(np.triu(g) == 0)                 # upper triangle and unit diagonal are not read


def test_lu_primitive_all_rules():
    packed, piv, perm = TR.lu(A)
    ref, ref_piv = sl.lu_factor(A)
    close(packed, ref)
    np.testing.assert_array_equal(piv, ref_piv)
    L, U = np.tril(packed, -1) + np.eye(4), np.triu(packed)
    close(A[perm], L @ U)
    f = lambda a: TR.lu(a)[0]
    check_jvp_vjp(f, (A,), order=2)
    check_modes(f, A)
    check_taylor(f, A, order=2)
    check_vmap(f, STACK)
    check_jit(f, A)
    with pytest.raises(NotImplementedError, match="square"):
        cr.jacfwd(f)(RNG.standard_normal((3, 4)))


# ------------------------------------------------------------ functions ---

@pytest.mark.parametrize("trans", [0, 1, 2, "N", "T", "C"])
@pytest.mark.parametrize("lower", [True, False])
def test_solve_triangular(trans, lower):
    for b in (B, BV):
        close(cl.solve_triangular(A, b, trans=trans, lower=lower),
              sl.solve_triangular(A, b, trans=trans, lower=lower))
    f = lambda a, b: cl.solve_triangular(a, b, trans=trans, lower=lower)
    check_jvp_vjp(f, (A, BV), order=1)


def test_cholesky_family():
    for lower in (True, False):
        close(cl.cholesky(SPD, lower=lower), sl.cholesky(SPD, lower=lower))
        c, low = cl.cho_factor(SPD, lower=lower)
        ref, ref_low = sl.cho_factor(SPD, lower=lower)
        assert low == ref_low
        close(c, ref)
        for b in (B, BV):
            close(cl.cho_solve((c, low), b), sl.cho_solve((ref, ref_low), b))
        f = lambda x: cl.cho_solve(cl.cho_factor(spd(x), lower=lower), BV)
        check_jvp_vjp(f, (A,), order=2)
        check_modes(f, A)
        check_vmap(f, STACK)
        check_jit(f, A)
    # a function of the triangle it reads: the other triangle has a zero derivative
    g = cr.grad(lambda a: cnp.sum(cl.cholesky(a)))(SPD)
    assert np.all(np.tril(g, -1) == 0) and np.any(np.triu(g, 1) != 0)
    close(cl.cholesky(np.triu(SPD)), sl.cholesky(SPD))


def test_lu_family():
    lu_, piv = cl.lu_factor(A)
    ref = sl.lu_factor(A)
    close(lu_, ref[0])
    np.testing.assert_array_equal(piv, ref[1])
    for trans in (0, 1, 2):
        for b in (B, BV):
            close(cl.lu_solve((lu_, piv), b, trans=trans), sl.lu_solve(ref, b, trans=trans))
    for m in (A, RNG.standard_normal((3, 5)), RNG.standard_normal((5, 3))):
        for kw in ({}, {"p_indices": True}, {"permute_l": True}):
            for x, y in zip(cl.lu(m, **kw), sl.lu(m, **kw)):
                close(x, y)
    for trans in (0, 1):
        f = lambda a: cl.lu_solve(cl.lu_factor(a), BV, trans=trans)
        close(f(A), np.linalg.solve(A.T if trans else A, BV))
        check_jvp_vjp(f, (A,), order=2)
        check_modes(f, A)
        check_vmap(f, STACK)          # traced pivots
        check_jit(f, A)
    f = lambda a: cl.lu(a)[1] + cl.lu(a)[2]
    check_jvp_vjp(f, (A,), order=1)


@pytest.mark.parametrize("assume_a", [None, "gen", "sym", "her", "pos", "diagonal", "upper triangular",
                                      "lower triangular"])
@pytest.mark.parametrize("transposed", [False, True])
def test_solve(assume_a, transposed):
    a = SPD if assume_a == "pos" else A
    for lower in (False, True):
        for b in (B, BV):
            close(cl.solve(a, b, lower=lower, assume_a=assume_a, transposed=transposed),
                  sl.solve(a, b, lower=lower, assume_a=assume_a, transposed=transposed), 1e-10)
    prep = spd if assume_a == "pos" else (lambda x: x)
    f = lambda x, b: cl.solve(prep(x), b, assume_a=assume_a, transposed=transposed)
    check_jvp_vjp(f, (A, BV), order=1)


def test_inv_det():
    close(cl.inv(A), sl.inv(A))
    close(cl.det(A), sl.det(A))
    for assume_a in ("pos", "sym", "upper triangular"):
        a = SPD if assume_a == "pos" else A
        close(cl.inv(a, assume_a=assume_a), sl.inv(a, assume_a=assume_a), 1e-10)
    check_jvp_vjp(cl.inv, (A,))
    check_jvp_vjp(cl.det, (A,))


@pytest.mark.parametrize("scale", [1e-3, 0.1, 0.6, 1.5, 4.0, 20.0, 200.0])
def test_expm_values_against_scipy(scale):
    m = RNG.standard_normal((5, 5)) * scale / 2
    ref = sl.expm(m)
    np.testing.assert_allclose(cl.expm(m), ref, rtol=1e-12, atol=1e-12 * np.max(np.abs(ref)))
    close(cl.expm(np.stack([m, m / 3])), sl.expm(np.stack([m, m / 3])))


def test_expm_derivatives_vmap_jit():
    m = RNG.standard_normal((3, 3))
    check_jvp_vjp(cl.expm, (m,), order=2)
    check_jvp_vjp(cl.expm, (3 * m,), order=1, rtol=1e-5)
    check_modes(cl.expm, m)
    # d/dt expm(t m) = m expm(t m)
    _, d = cr.jvp(lambda t: cl.expm(t * m), (0.7,), (1.0,))
    close(d, m @ sl.expm(0.7 * m), 1e-10)
    check_vmap(cl.expm, np.stack([m, 2 * m, 10 * m]))
    check_jit(cl.expm, m)
    close(cr.jit(cl.expm)(10 * m), sl.expm(10 * m))      # another branch: a guard miss, restaged


def test_expm_frechet():
    a, e = RNG.standard_normal((4, 4)), RNG.standard_normal((4, 4))
    ea, l_ = cl.expm_frechet(a, e)
    ref_ea, ref_l = sl.expm_frechet(a, e)
    close(ea, ref_ea)
    close(l_, ref_l, 1e-10)
    close(cl.expm_frechet(a, e, compute_expm=False), ref_l, 1e-10)
    g = cr.grad(lambda x: cnp.sum(cl.expm_frechet(x, e)[1] ** 2))(a)
    eps, v = 1e-6, RNG.standard_normal((4, 4))
    fd = (np.sum(cl.expm_frechet(a + eps * v, e)[1] ** 2) - np.sum(cl.expm_frechet(a - eps * v, e)[1] ** 2)) / (2 * eps)
    assert abs(np.sum(g * v) - fd) < 1e-6 * (1 + abs(fd))
    with pytest.raises(ValueError, match="same shape"):
        cl.expm_frechet(a, e[:3, :3])
    with pytest.raises(ValueError, match="Unknown"):
        cl.expm_frechet(a, e, method="bogus")


def test_sqrtm():
    for m in (SPD, A, np.eye(3), RNG.standard_normal((3, 3)) + 3 * np.eye(3)):
        close(cl.sqrtm(m), sl.sqrtm(m), 1e-10)
    x, err = cl.sqrtm(SPD, disp=False)
    assert err < 1e-13
    f = lambda x: cl.sqrtm(spd(x))
    check_jvp_vjp(f, (A,), order=1)
    check_jvp_vjp(cl.sqrtm, (np.eye(3) + 0.1 * RNG.standard_normal((3, 3)),), order=1)    # near-repeated
    check_modes(cl.sqrtm, A)
    check_jit(cl.sqrtm, SPD)
    with pytest.raises(cr.numpy.linalg.LinAlgError, match="converge"):
        cl.sqrtm(-np.eye(2))


def test_special_matrices():
    for args in (([1, 2], 3, np.ones((2, 2))), (A, B), (np.ones((0, 2)), A)):
        close(cl.block_diag(*args), sl.block_diag(*args))
    assert cl.block_diag().shape == sl.block_diag().shape
    c, r = RNG.standard_normal(4), RNG.standard_normal(3)
    close(cl.toeplitz(c, r), sl.toeplitz(c, r))
    close(cl.toeplitz(c), sl.toeplitz(c))
    close(cl.toeplitz([1, 2j]), sl.toeplitz([1, 2j]))
    close(cl.circulant(c), sl.circulant(c))
    check_jvp_vjp(lambda c, r: cl.toeplitz(c, r), (c, r), order=1)
    check_jvp_vjp(cl.circulant, (c,), order=1)
    check_jvp_vjp(lambda a, b: cl.block_diag(a, b), (A, B), order=1)
    check_vmap(cl.circulant, np.stack([c, 2 * c]))
    check_jit(lambda c, r: cl.toeplitz(c, r), c, r)


def test_eigh():
    w, v = cl.eigh(SYM)
    rw, rv = sl.eigh(SYM)
    close(w, rw, 1e-10)
    close(np.abs(v), np.abs(rv), 1e-10)
    close(cl.eigh(SYM, eigvals_only=True), rw, 1e-10)
    close(cl.eigh(np.tril(SYM), lower=True)[0], rw, 1e-10)
    close(cl.eigh(np.triu(SYM), lower=False)[0], rw, 1e-10)
    close(cl.eigh(SYM, subset_by_index=[1, 2])[0], sl.eigh(SYM, subset_by_index=[1, 2])[0], 1e-10)
    for t in (1, 2, 3):
        w, v = cl.eigh(SYM, SPD, type=t)
        rw, rv = sl.eigh(SYM, SPD, type=t)
        close(w, rw, 1e-10)
        close(np.abs(v), np.abs(rv), 1e-10)
    f = lambda x: cl.eigh(x + x.T, SPD, eigvals_only=True)
    check_jvp_vjp(f, (A,), order=2)
    check_modes(f, A)
    check_vmap(f, STACK)
    check_jit(f, A)


def test_svd_qr():
    for x, y in zip(cl.svd(A), sl.svd(A)):
        close(np.abs(x), np.abs(y))
    close(cl.svdvals(A), sl.svdvals(A))
    tall = RNG.standard_normal((5, 3))
    for mode in ("full", "economic", "r"):
        for m in (tall, tall.T):
            for x, y in zip(cl.qr(m, mode=mode), sl.qr(m, mode=mode)):
                close(np.abs(x), np.abs(y))
    check_jvp_vjp(lambda x: cl.qr(x, mode="economic")[1], (tall,), order=1)
    check_jvp_vjp(lambda x: cl.qr(x, mode="r")[0], (tall,), order=1)
    check_jvp_vjp(lambda x: cl.svd(x, compute_uv=False), (tall,), order=1)


def test_bad_input_is_refused():
    rect = np.ones((3, 4))
    for fn in (cl.expm, cl.inv, cl.det, cl.cholesky, cl.sqrtm):
        with pytest.raises(ValueError, match="square"):
            fn(rect)
    with pytest.raises(ValueError, match="rows"):
        cl.solve(A, np.ones(3))
    with pytest.raises(ValueError, match="rows"):
        cl.solve_triangular(A, np.ones((3, 2)))
    with pytest.raises(ValueError, match="trans"):
        cl.solve_triangular(A, B, trans=3)
    with pytest.raises(NotImplementedError, match="assume_a"):
        cl.solve(A, B, assume_a="banded")
    with pytest.raises(NotImplementedError, match="pivoting"):
        cl.qr(A, pivoting=True)
    with pytest.raises(NotImplementedError, match="raw"):
        cl.qr(A, mode="raw")
    with pytest.raises(NotImplementedError, match="subset_by_value"):
        cl.eigh(SYM, subset_by_value=(0, 1))
    with pytest.raises(ValueError, match="driver"):
        cl.eigh(SYM, driver="nope")
    with pytest.raises(ValueError, match="lapack_driver"):
        cl.svd(A, lapack_driver="nope")
    with pytest.raises(ValueError, match="infs or NaNs"):
        cl.solve(np.full((2, 2), np.nan), np.ones(2))
    with pytest.raises(TypeError):
        cl.expm(A, bogus=1)
    with pytest.raises(cr.numpy.linalg.LinAlgError):
        cl.cholesky(-np.eye(3))


# ------------------------------------------------------------------- JAX ---

@pytest.fixture(scope="module")
def jsl():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.scipy.linalg as jsl
    return jsl


def test_against_jax(jsl):
    import jax
    f_cr = lambda a: cnp.sum(cnp.sin(cl.solve_triangular(a, BV, lower=True)))
    f_jx = lambda a: jax.numpy.sum(jax.numpy.sin(jsl.solve_triangular(a, BV, lower=True)))
    close(cr.grad(f_cr)(A), jax.grad(f_jx)(A), 1e-10)
    close(cl.expm(A / 2), jsl.expm(A / 2), 1e-12)
    close(cr.grad(lambda a: cnp.sum(cl.expm(a) ** 2))(A / 4),
          jax.grad(lambda a: jax.numpy.sum(jsl.expm(a) ** 2))(A / 4), 1e-9)
    g_cr = cr.grad(lambda a: cnp.sum(cl.lu_solve(cl.lu_factor(a), BV) ** 2))(A)
    g_jx = jax.grad(lambda a: jax.numpy.sum(jsl.lu_solve(jsl.lu_factor(a), BV) ** 2))(A)
    close(g_cr, g_jx, 1e-10)
    g_cr = cr.grad(lambda x: cnp.sum(cl.cho_solve(cl.cho_factor(spd(x)), BV)))(A)
    g_jx = jax.grad(lambda x: jax.numpy.sum(jsl.cho_solve(jsl.cho_factor(x @ x.T + 4 * np.eye(4)), BV)))(A)
    close(g_cr, g_jx, 1e-10)
    close(cl.lu(A)[2], jsl.lu(A)[2], 1e-12)
    close(cl.toeplitz(BV, B[:, 0]), jsl.toeplitz(BV, B[:, 0]))
    close(cl.block_diag(A, B), jsl.block_diag(A, B))
    e = RNG.standard_normal((4, 4))
    close(cl.expm_frechet(A / 3, e)[1], jsl.expm_frechet(A / 3, e)[1], 1e-10)
