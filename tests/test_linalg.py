"""chainrule.numpy.linalg: values against NumPy, first and second derivatives against
central finite differences, forward against reverse mode, batches, complex input
and NumPy dispatch on traced values."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

la = cnp.linalg
EPS = 1e-6


# ---------------------------------------------------------------- helpers ---

def fd_jvp(f, x, v, eps=EPS):
    """Central difference of f (array-valued, possibly a tuple) at x along v."""
    plus, minus = f(x + eps * v), f(x - eps * v)
    if isinstance(plus, tuple):
        return tuple((np.asarray(p) - np.asarray(m)) / (2 * eps) for p, m in zip(plus, minus))
    return (np.asarray(plus) - np.asarray(minus)) / (2 * eps)


def _flat(t):
    return np.concatenate([np.ravel(np.asarray(a)) for a in t]) if isinstance(t, tuple) else np.ravel(np.asarray(t))


def assert_close(actual, expected, rtol=1e-6, what=""):
    a, e = _flat(actual), _flat(expected)
    assert a.shape == e.shape, what
    assert np.all(np.isfinite(a)), f"{what}: non-finite {a}"
    scale = 1.0 + np.max(np.abs(e), initial=0.0)
    np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * scale, err_msg=what)


def check_derivatives(f, x, seed=0, rtol=1e-6):
    """JVP vs finite differences, and VJP vs JVP by <w, J v> = <J^T w, v>."""
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(np.shape(x))
    out, jv = cr.jvp(f, (x,), (v,))
    assert_close(out, f(x), 1e-12, "jvp primal")
    assert_close(jv, fd_jvp(f, x, v), rtol, "JVP vs finite differences")
    out2, pullback = cr.vjp(f, x)
    w = tuple(rng.standard_normal(np.shape(o)) for o in out2) if isinstance(out2, tuple) \
        else rng.standard_normal(np.shape(out2))
    ct, = pullback(w)
    assert np.shape(ct) == np.shape(x)
    lhs, rhs = np.dot(_flat(w), _flat(jv)), np.sum(ct * v)
    assert abs(lhs - rhs) <= 1e-9 * (np.sum(np.abs(_flat(w) * _flat(jv))) + np.sum(np.abs(ct * v))) + 1e-12


def check_hessian(f, x, seed=0, rtol=1e-5):
    """Forward-over-reverse and reverse-over-reverse Hessian-vector products vs
    finite differences of the gradient."""
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(np.shape(x))
    g = cr.grad(f)
    expected = fd_jvp(lambda y: g(y), x, v)
    _, hv_fwd = cr.jvp(g, (x,), (v,))
    assert_close(hv_fwd, expected, rtol, "forward-over-reverse")
    hv_rev = cr.grad(lambda y: cnp.sum(g(y) * v))(x)
    assert_close(hv_rev, expected, rtol, "reverse-over-reverse")


def sym_pd(x):
    """A symmetric positive definite matrix (stack) from any square x."""
    n = x.shape[-1]
    return cnp.matmul(x, cnp.swapaxes(x, -1, -2)) + n * np.eye(n)


rng0 = np.random.default_rng(42)
A3 = rng0.standard_normal((3, 3)) + 3 * np.eye(3)            # well conditioned
AB = rng0.standard_normal((2, 4, 4)) + 4 * np.eye(4)         # a batch of two
B_VEC = rng0.standard_normal(4)
B_MAT = rng0.standard_normal((2, 4, 3))
TALL = rng0.standard_normal((2, 5, 3))
WIDE = rng0.standard_normal((2, 3, 5))


# ------------------------------------------------------------------ values ---

def test_values_match_numpy():
    S = np.asarray(sym_pd(AB))
    np.testing.assert_allclose(la.solve(AB, B_MAT), np.linalg.solve(AB, B_MAT))
    np.testing.assert_allclose(la.solve(AB, B_VEC), np.linalg.solve(AB, B_VEC))
    np.testing.assert_allclose(la.solve(A3, B_VEC[:3]), np.linalg.solve(A3, B_VEC[:3]))
    np.testing.assert_allclose(la.inv(AB), np.linalg.inv(AB))
    np.testing.assert_allclose(la.det(AB), np.linalg.det(AB))
    sign, logdet = la.slogdet(AB)
    np.testing.assert_allclose(sign, np.linalg.slogdet(AB).sign)
    np.testing.assert_allclose(logdet, np.linalg.slogdet(AB).logabsdet)
    np.testing.assert_allclose(la.cholesky(S), np.linalg.cholesky(S))
    np.testing.assert_allclose(la.cholesky(S, upper=True), np.swapaxes(np.linalg.cholesky(S), -1, -2))
    w, v = la.eigh(S)
    np.testing.assert_allclose(w, np.linalg.eigh(S).eigenvalues)
    np.testing.assert_allclose(np.abs(v), np.abs(np.linalg.eigh(S).eigenvectors))
    assert la.eigh(S).eigenvalues is not None                  # NumPy's named fields
    np.testing.assert_allclose(la.eigvalsh(S), np.linalg.eigvalsh(S))
    for M in (TALL, WIDE, AB):
        u, s, vh = la.svd(M, full_matrices=False)
        ru, rs, rvh = np.linalg.svd(M, full_matrices=False)
        np.testing.assert_allclose(s, rs)
        np.testing.assert_allclose(u @ (s[..., None] * vh), M, atol=1e-12)
        np.testing.assert_allclose(la.svd(M, compute_uv=False), np.linalg.svd(M, compute_uv=False))
        assert [x.shape for x in la.svd(M)] == [x.shape for x in np.linalg.svd(M)]
        for mode in ("reduced", "complete", "r"):
            ours, ref = la.qr(M, mode=mode), np.linalg.qr(M, mode=mode)
            for a, b in zip(ours if mode != "r" else [ours], ref if mode != "r" else [ref]):
                np.testing.assert_allclose(a, b, atol=1e-12)
        np.testing.assert_allclose(la.pinv(M), np.linalg.pinv(M), atol=1e-12)
    for n in (0, 1, 2, 5, -1, -3):
        np.testing.assert_allclose(la.matrix_power(A3, n), np.linalg.matrix_power(A3, n))


def test_traced_values_match_numpy():
    """The primal outputs of the transformations are NumPy's values, wide QR included."""
    for f, x, ref in [
        (lambda m: la.qr(m)[0], WIDE, np.linalg.qr(WIDE)[0]),
        (lambda m: la.qr(m)[1], WIDE, np.linalg.qr(WIDE)[1]),
        (lambda m: la.matrix_power(m, 3), A3, np.linalg.matrix_power(A3, 3)),
        (lambda m: la.matrix_power(m, -2), A3, np.linalg.matrix_power(A3, -2)),
        (lambda m: la.norm(m, "nuc"), A3, np.linalg.norm(A3, "nuc")),
    ]:
        out, _ = cr.jvp(f, (x,), (np.ones_like(x),))
        np.testing.assert_allclose(out, ref, atol=1e-12)


NORM_CASES = [
    (None, None, False), (2, None, False), (1, None, False), (np.inf, None, False),
    (-np.inf, None, False), (3, None, False), (0.5, None, False), (0, None, False),
]
MATRIX_NORM_CASES = ["fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf, None]


@pytest.mark.parametrize("ord,axis,keepdims", NORM_CASES)
def test_vector_norm_values(ord, axis, keepdims):
    x = rng0.standard_normal(6)
    np.testing.assert_allclose(cr.jvp(lambda y: la.norm(y, ord), (x,), (x,))[0], np.linalg.norm(x, ord))
    X = rng0.standard_normal((3, 4))
    for ax in (0, 1, -1):
        for kd in (False, True):
            out = cr.jvp(lambda y: la.norm(y, ord, ax, kd), (X,), (X,))[0]
            np.testing.assert_allclose(out, np.linalg.norm(X, ord, ax, kd))


@pytest.mark.parametrize("ord", MATRIX_NORM_CASES)
def test_matrix_norm_values(ord):
    X = rng0.standard_normal((2, 3, 4))
    for axis in ((1, 2), (2, 0), (-1, -2)):
        for kd in (False, True):
            out = cr.jvp(lambda y: la.norm(y, ord, axis, kd), (X,), (X,))[0]
            np.testing.assert_allclose(out, np.linalg.norm(X, ord, axis, kd), err_msg=str((ord, axis, kd)))
    out = cr.jvp(lambda y: la.norm(y, ord), (X[0],), (X[0],))[0]
    np.testing.assert_allclose(out, np.linalg.norm(X[0], ord))
    np.testing.assert_allclose(la.norm(X[0], ord), np.linalg.norm(X[0], ord))


def test_norm_whole_array_and_errors():
    X = rng0.standard_normal((2, 3, 4))
    out = cr.jvp(lambda y: la.norm(y, keepdims=True), (X,), (X,))[0]
    np.testing.assert_allclose(out, np.linalg.norm(X, keepdims=True))
    with pytest.raises(ValueError):
        cr.grad(lambda y: la.norm(y, "fro", axis=0))(X)
    with pytest.raises(ValueError):
        cr.grad(lambda y: la.norm(y, 3, axis=(0, 1)))(X)


# ----------------------------------------------------- first derivatives ---

FIRST_ORDER = {
    "solve_a_vec": (lambda a: la.solve(a, B_VEC), AB),
    "solve_a_mat": (lambda a: la.solve(a, B_MAT), AB),
    "solve_b_mat": (lambda b: la.solve(AB, b), B_MAT),
    "solve_b_broadcast": (lambda b: la.solve(AB, b), B_MAT[0]),
    "solve_b_vec": (lambda b: la.solve(AB, b), B_VEC),
    "solve_a_broadcast": (lambda a: la.solve(a, B_MAT), AB[0]),
    "solve_single": (lambda a: la.solve(a, B_VEC[:3]), A3),
    "inv": (la.inv, AB),
    "det": (la.det, AB),
    "det_single": (la.det, A3),
    "slogdet": (lambda a: la.slogdet(a)[1], AB),
    "slogdet_both": (lambda a: tuple(la.slogdet(a)), AB),
    "cholesky": (lambda x: la.cholesky(sym_pd(x)), AB),
    "cholesky_upper": (lambda x: la.cholesky(sym_pd(x), upper=True), A3),
    "eigh": (lambda x: tuple(la.eigh(sym_pd(x))), AB),
    "eigh_w": (lambda x: la.eigh(sym_pd(x))[0], AB),
    "eigh_v": (lambda x: la.eigh(sym_pd(x))[1], A3),
    "eigh_upper": (lambda x: tuple(la.eigh(sym_pd(x), UPLO="U")), A3),
    "eigvalsh": (lambda x: la.eigvalsh(sym_pd(x)), AB),
    "svd_tall": (lambda m: tuple(la.svd(m, full_matrices=False)), TALL),
    "svd_wide": (lambda m: tuple(la.svd(m, full_matrices=False)), WIDE),
    "svd_square": (lambda m: tuple(la.svd(m)), AB),
    "svd_u_only": (lambda m: la.svd(m, full_matrices=False)[0], TALL),
    "svd_vh_only": (lambda m: la.svd(m, full_matrices=False)[2], WIDE),
    "svd_s_only": (lambda m: la.svd(m, full_matrices=False)[1], WIDE),
    "svdvals": (lambda m: la.svd(m, compute_uv=False), TALL),
    "qr_tall": (lambda m: tuple(la.qr(m)), TALL),
    "qr_square": (lambda m: tuple(la.qr(m)), AB),
    "qr_wide": (lambda m: tuple(la.qr(m)), WIDE),
    "qr_r": (lambda m: la.qr(m, mode="r"), TALL),
    "qr_q_only": (lambda m: la.qr(m)[0], TALL),
    "pinv_tall": (la.pinv, TALL),
    "pinv_wide": (la.pinv, WIDE),
    "matrix_power_3": (lambda a: la.matrix_power(a, 3), AB),
    "matrix_power_-2": (lambda a: la.matrix_power(a, -2), A3),
    "norm_vec2": (lambda x: la.norm(x, axis=-1), TALL),
    "norm_vec1": (lambda x: la.norm(x, 1, axis=1), TALL),
    "norm_vec_inf": (lambda x: la.norm(x, np.inf, axis=-1, keepdims=True), TALL),
    "norm_vec_p": (lambda x: la.norm(x, 3.5, axis=0), TALL),
    "norm_fro": (lambda x: la.norm(x, "fro", axis=(1, 2)), TALL),
    "norm_nuc": (lambda x: la.norm(x, "nuc", axis=(1, 2)), TALL),
    "norm_2": (lambda x: la.norm(x, 2, axis=(2, 1), keepdims=True), WIDE),
    "norm_-2": (lambda x: la.norm(x, -2, axis=(1, 2)), WIDE),
    "norm_1": (lambda x: la.norm(x, 1, axis=(1, 2)), TALL),
    "norm_inf": (lambda x: la.norm(x, np.inf, axis=(1, 2)), TALL),
    "norm_all": (la.norm, TALL),
}


@pytest.mark.parametrize("name", sorted(FIRST_ORDER))
def test_first_derivatives(name):
    f, x = FIRST_ORDER[name]
    check_derivatives(f, x, seed=len(name))


@pytest.mark.parametrize("name", ["solve_a_mat", "inv", "det", "cholesky", "eigh_v", "svd_tall", "qr_wide",
                                  "pinv_tall", "norm_nuc"])
def test_forward_matches_reverse(name):
    f, x = FIRST_ORDER[name]
    g = (lambda y: cnp.concatenate([cnp.ravel(o) for o in f(y)])) if isinstance(f(x), tuple) else f
    np.testing.assert_allclose(cr.jacfwd(g)(x), cr.jacrev(g)(x), rtol=1e-9, atol=1e-10)


def test_known_gradients():
    # d logdet / dA = A^-T, d det / dA = det A^-T, grad of the 2-norm is x / |x|
    g = cr.grad(lambda a: cnp.sum(la.slogdet(a)[1]))(AB)
    np.testing.assert_allclose(g, np.swapaxes(np.linalg.inv(AB), -1, -2))
    g = cr.grad(la.det)(A3)
    np.testing.assert_allclose(g, np.linalg.det(A3) * np.linalg.inv(A3).T)
    x = rng0.standard_normal(5)
    np.testing.assert_allclose(cr.grad(la.norm)(x), x / np.linalg.norm(x))
    # eigenvalue gradient: v_k v_k^T (symmetric), also through UPLO="U"
    S = np.asarray(sym_pd(A3))
    w, v = np.linalg.eigh(S)
    for uplo in ("L", "U"):
        g = cr.grad(lambda s: la.eigh(s, uplo)[0][-1])(S)
        np.testing.assert_allclose(g, np.outer(v[:, -1], v[:, -1]), atol=1e-12)


def test_symmetric_input_conventions():
    """cholesky and eigh return symmetric cotangents (their tangents act through sym(dA))."""
    S = np.asarray(sym_pd(AB))
    G = rng0.standard_normal(S.shape)
    for f in (lambda s: cnp.sum(G * la.cholesky(s)), lambda s: cnp.sum(G * la.eigh(s)[1] ** 2)):
        g = cr.grad(f)(S)
        np.testing.assert_allclose(g, np.swapaxes(g, -1, -2), atol=1e-12)
        # on a symmetric direction the JVP is the plain directional derivative
        V = G + np.swapaxes(G, -1, -2)
        assert_close(cr.jvp(f, (S,), (V,))[1], fd_jvp(f, S, V), 1e-6)


# ---------------------------------------------------- second derivatives ---

SECOND_ORDER = {
    "logdet": (lambda a: cnp.sum(la.slogdet(a)[1]), AB),
    "det": (lambda a: la.det(a), A3),
    "inv": (lambda a: cnp.sum(la.inv(a) ** 2), A3),
    "solve": (lambda a: cnp.sum(la.solve(a, B_VEC[:3]) ** 2), A3),
    "eigh_cubes": (lambda x: cnp.sum(la.eigvalsh(sym_pd(x)) ** 3), AB),
    "eigh_vectors": (lambda x: cnp.sum(la.eigh(sym_pd(x))[1][..., 0] ** 4), A3),
    "cholesky": (lambda x: cnp.sum(cnp.sin(la.cholesky(sym_pd(x)))), AB),
    "svdvals": (lambda m: cnp.sum(la.svd(m, compute_uv=False) ** 3), TALL),
    "svd_uv": (lambda m: cnp.sum(la.svd(m, full_matrices=False)[0] ** 3)
               + cnp.sum(la.svd(m, full_matrices=False)[2] ** 3), WIDE),
    "qr": (lambda m: cnp.sum(la.qr(m)[0] ** 3) + cnp.sum(la.qr(m)[1] ** 2), TALL),
    "qr_wide": (lambda m: cnp.sum(la.qr(m)[1] ** 3), WIDE),
    "pinv": (lambda m: cnp.sum(la.pinv(m) ** 2), TALL),
    "norm_nuc": (lambda m: la.norm(m[0], "nuc"), TALL),
    "norm_2": (lambda x: la.norm(x), B_VEC),
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_second_derivatives(name):
    f, x = SECOND_ORDER[name]
    check_hessian(f, x, seed=len(name))


def test_hessian_of_logdet():
    # d^2 logdet[A][H, K] = -tr(A^-1 H A^-1 K): the Hessian is -A^-T (x) A^-1 reshaped
    H = cr.hessian(lambda a: la.slogdet(a)[1])(A3)
    Ai = np.linalg.inv(A3)
    np.testing.assert_allclose(H, -np.einsum("li,jk->ijkl", Ai, Ai), atol=1e-12)
    np.testing.assert_allclose(cr.jacfwd(cr.jacrev(lambda a: la.slogdet(a)[1]))(A3), H, atol=1e-12)


def test_third_derivative_of_det():
    # det of a 2x2 is quadratic: its third derivative vanishes
    a = np.array([[2.0, 1.0], [0.5, 3.0]])
    t = cr.jacfwd(cr.jacfwd(cr.grad(la.det)))(a)
    np.testing.assert_allclose(t, 0.0, atol=1e-10)


# ------------------------------------------------------- special points ---

def test_norm_gradient_at_zero_is_zero():
    for f, x in [(la.norm, np.zeros(4)), (lambda x: la.norm(x, axis=1), np.zeros((2, 3))),
                 (lambda x: la.norm(x, "fro"), np.zeros((2, 3))), (lambda x: la.norm(x, 3), np.zeros(3)),
                 (lambda x: cnp.sum(la.norm(x, axis=0)), np.array([[0.0, 3.0], [0.0, 4.0]]))]:
        g = cr.grad(lambda y: cnp.sum(f(y)))(x)
        assert np.all(np.isfinite(g))
    np.testing.assert_allclose(cr.grad(la.norm)(np.zeros(4)), 0.0)
    g = cr.grad(lambda y: cnp.sum(la.norm(y, axis=0)))(np.array([[0.0, 3.0], [0.0, 4.0]]))
    np.testing.assert_allclose(g, [[0.0, 0.6], [0.0, 0.8]])
    h = cr.hessian(la.norm)(np.zeros(3))
    assert np.all(np.isfinite(h))


def test_unsupported_derivatives_raise():
    with pytest.raises(NotImplementedError):
        cr.grad(lambda m: cnp.sum(la.svd(m)[0]))(TALL[0])        # full_matrices=True, not square
    with pytest.raises(NotImplementedError):
        cr.grad(lambda m: cnp.sum(la.qr(m, mode="complete")[0]))(TALL[0])
    z = TALL[0] + 1j * TALL[1]
    with pytest.raises(NotImplementedError):
        cr.jvp(lambda m: la.svd(m, full_matrices=False)[1], (z,), (z,))


# ------------------------------------------------------------- complex ---

def _complex_grad_fd(f, z, eps=EPS):
    """dL/dRe z - i dL/dIm z for a real-valued f: the cotangent convention (as JAX)."""
    out = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        e = np.zeros(z.shape)
        e[idx] = eps
        out[idx] = (f(z + e) - f(z - e)) / (2 * eps) - 1j * (f(z + 1j * e) - f(z - 1j * e)) / (2 * eps)
    return out


ZC = rng0.standard_normal((2, 3, 3)) + 1j * rng0.standard_normal((2, 3, 3)) + 3 * np.eye(3)
CC = rng0.standard_normal((2, 3, 3)) + 1j * rng0.standard_normal((2, 3, 3))
CR = rng0.standard_normal((2, 3, 3))


def _herm(z):
    return cnp.matmul(z, cnp.conj(cnp.swapaxes(z, -1, -2))) + 3 * np.eye(3)


COMPLEX = {
    "solve": lambda z: cnp.real(cnp.sum(CC[..., 0] * la.solve(z, CC[0, :, 1]))),
    "inv": lambda z: cnp.real(cnp.sum(CC * la.inv(z))),
    "det": lambda z: cnp.imag(cnp.sum(CC[:, 0, 0] * la.det(z))),
    "logabsdet": lambda z: cnp.sum(la.slogdet(z)[1]),
    "sign": lambda z: cnp.real(cnp.sum(CC[:, 0, 0] * la.slogdet(z)[0])),
    "cholesky": lambda z: cnp.real(cnp.sum(CC * la.cholesky(_herm(z)))),
    "eigvalsh": lambda z: cnp.sum(CR[:, 0] * la.eigvalsh(_herm(z)) ** 2),
    "eigh_abs_vectors": lambda z: cnp.sum(CR * cnp.abs(la.eigh(_herm(z))[1]) ** 2),
}


@pytest.mark.parametrize("name", sorted(COMPLEX))
def test_complex_derivatives(name):
    f = COMPLEX[name]
    assert_close(cr.grad(f)(ZC), _complex_grad_fd(f, ZC), 1e-6, "complex gradient")
    v = CC + 0.5j * CR
    assert_close(cr.jvp(f, (ZC,), (v,))[1], fd_jvp(f, ZC, v), 1e-6, "complex JVP")


def test_complex_values():
    np.testing.assert_allclose(la.solve(ZC, CC), np.linalg.solve(ZC, CC))
    np.testing.assert_allclose(la.det(ZC), np.linalg.det(ZC))
    np.testing.assert_allclose(la.slogdet(ZC)[0], np.linalg.slogdet(ZC)[0])
    np.testing.assert_allclose(la.norm(ZC[0], "nuc"), np.linalg.norm(ZC[0], "nuc"))
    out = cr.jvp(lambda z: la.norm(z, axis=-1), (ZC,), (ZC,))[0]
    np.testing.assert_allclose(out, np.linalg.norm(ZC, axis=-1))


# ------------------------------------------------------ NumPy dispatch ---

def test_numpy_dispatch_on_traced_values():
    b = B_VEC[:3]

    def f(a):
        x = np.linalg.solve(a, b)
        return np.sum(x ** 2) + np.linalg.det(a) + np.linalg.slogdet(a)[1] + np.linalg.norm(np.linalg.inv(a))

    g = cr.grad(f)(A3)
    check_derivatives(f, A3)
    assert g.shape == (3, 3)
    S = np.asarray(sym_pd(A3))

    def h(s):
        s = (s + np.swapaxes(s, -1, -2)) / 2      # eigh and cholesky read one triangle
        w, v = np.linalg.eigh(s)
        u, sv, vh = np.linalg.svd(s, full_matrices=False)
        q, r = np.linalg.qr(s)
        return (np.sum(w) + np.sum(sv) + np.sum(np.linalg.cholesky(s)) + np.sum(np.linalg.eigvalsh(s) ** 2)
                + np.sum(r ** 2))

    check_derivatives(h, S)
    np.testing.assert_allclose(cr.grad(lambda s: np.sum(np.linalg.eigvalsh(s)))(S), np.eye(3), atol=1e-12)


def test_array_api_norms_and_svdvals():
    X = rng0.standard_normal((2, 3, 4))
    for kw in [dict(), dict(axis=None, keepdims=True), dict(axis=(0, 2)), dict(axis=(0, 2), keepdims=True, ord=1),
               dict(axis=1, ord=np.inf)]:
        out = cr.jvp(lambda x: la.vector_norm(x, **kw), (X,), (X,))[0]
        np.testing.assert_allclose(out, np.linalg.vector_norm(X, **kw), err_msg=str(kw))
    for o in ("fro", "nuc", 2, 1, -np.inf):
        out = cr.jvp(lambda x: la.matrix_norm(x, ord=o, keepdims=True), (X,), (X,))[0]
        np.testing.assert_allclose(out, np.linalg.matrix_norm(X, ord=o, keepdims=True))
    np.testing.assert_allclose(cr.jvp(la.svdvals, (X,), (X,))[0], np.linalg.svdvals(X))
    np.testing.assert_allclose(cr.jvp(lambda x: la.pinv(x, rtol=None), (X,), (X,))[0], np.linalg.pinv(X, rtol=None))
    check_derivatives(lambda x: la.vector_norm(x, axis=(0, 2)), X)
    check_derivatives(lambda x: la.matrix_norm(x, ord="nuc"), X)
