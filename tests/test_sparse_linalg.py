"""chainrule.scipy.sparse: a CSR matrix with traced values and implicitly differentiated
sparse and matrix-free solves (spsolve, cg, gmres), checked against SciPy, closed forms
and finite differences."""
from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.scipy import sparse as csp
from chainrule.scipy.sparse import csr_matrix
from chainrule.scipy.sparse import linalg as csl

RNG = np.random.default_rng(7)


def _sparse(n, density=0.4, shift=3.0, seed=1):
    M = sp.random(n, n, density=density, random_state=seed) + shift * sp.eye(n)
    return M.tocsr()


def _solve_data(A):
    """x(data, b) = A(data)^-1 b on A's pattern."""
    return lambda data, b: csl.spsolve(csr_matrix((data, A.indices, A.indptr), A.shape), b)


def _fd(fn, x, d, h=1e-6):
    return (fn(x + h * d) - fn(x - h * d)) / (2 * h)


# ---------------------------------------------------------------- csr_matrix ---

def test_csr_matrix_products_transpose_dense_and_derivatives():
    M = _sparse(6, shift=0.0)
    M = M + sp.random(6, 6, density=0.3, random_state=9).tocsr()
    A = csr_matrix(M)
    x, X = RNG.normal(size=6), RNG.normal(size=(6, 3))
    D = M.toarray()
    np.testing.assert_allclose(A @ x, D @ x, atol=1e-14)
    np.testing.assert_allclose(A.dot(X), D @ X, atol=1e-14)
    np.testing.assert_allclose(x @ A, x @ D, atol=1e-14)                   # __rmatmul__
    np.testing.assert_allclose(A.T.todense(), D.T, atol=0)
    np.testing.assert_allclose(A.todense(), D, atol=0)
    np.testing.assert_allclose((2.0 * A).todense(), 2 * D, atol=0)
    # COO input with a repeated entry: it is summed, as SciPy does
    B = csr_matrix((np.array([1.0, 2.0, 5.0]), (np.array([0, 0, 1]), np.array([1, 1, 0]))), shape=(2, 2))
    np.testing.assert_allclose(B.todense(), [[0.0, 3.0], [5.0, 0.0]])
    # the product's derivative in data and vector: d(A x)/d data_k = x[col_k] at row_k
    f = lambda data, v: csr_matrix((data, A.indices, A.indptr), A.shape) @ v  # noqa: E731
    Jd = cr.jacfwd(f, 0)(A.data, x)
    exact = np.zeros((6, A.nnz))
    rows = np.repeat(np.arange(6), np.diff(A.indptr))
    exact[rows, np.arange(A.nnz)] = x[A.indices]
    np.testing.assert_allclose(Jd, exact, atol=0)
    np.testing.assert_allclose(cr.jacrev(f, 0)(A.data, x), exact, atol=0)
    np.testing.assert_allclose(cr.jacrev(f, 1)(A.data, x), D, atol=0)
    # the transpose's and the dense form's derivatives match the dense computation
    g = lambda data: cnp.sum(csr_matrix((data, A.indices, A.indptr), A.shape).T.todense() ** 2)  # noqa: E731
    np.testing.assert_allclose(cr.grad(g)(A.data), 2 * A.data, atol=1e-14)
    # a pytree: jit takes it as an argument and sees new values
    j = cr.jit(lambda A, v: A @ v)
    np.testing.assert_allclose(j(A, x), D @ x, atol=1e-14)
    np.testing.assert_allclose(j(3.0 * A, x), 3 * D @ x, atol=1e-13)
    assert csp.issparse(A) and csp.issparse(M) and not csp.issparse(D)


def test_csr_matrix_bad_input():
    with pytest.raises(ValueError, match=r"data has shape \(3,\).*\(2,\)"):
        csr_matrix((np.ones(3), np.array([0, 1]), np.array([0, 1, 2])), shape=(2, 2))
    with pytest.raises(ValueError, match="indptr has 2 entries"):
        csr_matrix((np.ones(1), np.array([0]), np.array([0, 1])), shape=(2, 2))
    with pytest.raises(ValueError, match=r"column indices must lie in \[0, 2\)"):
        csr_matrix((np.ones(2), np.array([0, 2]), np.array([0, 1, 2])), shape=(2, 2))
    A = csr_matrix(_sparse(4))
    with pytest.raises(ValueError, match=r"shape \(4, 4\).*shape \(3,\)"):
        A @ np.ones(3)
    with pytest.raises(TypeError, match="expected"):
        csr_matrix("nope")


# ---------------------------------------------------------------- spsolve ---

def test_spsolve_values_match_scipy():
    M = _sparse(8)
    b, B = RNG.normal(size=8), RNG.normal(size=(8, 3))
    np.testing.assert_allclose(csl.spsolve(M, b), spla.spsolve(M, b), atol=1e-13)
    np.testing.assert_allclose(csl.spsolve(csr_matrix(M), B), spla.spsolve(M.tocsc(), B), atol=1e-13)
    x1 = csl.spsolve(M, b[:, None])                      # an (n, 1) b gives a vector, as in SciPy
    assert x1.shape == (8,)
    np.testing.assert_allclose(x1, spla.spsolve(M, b), atol=1e-13)
    np.testing.assert_allclose(csl.spsolve(M, b, permc_spec="NATURAL"), spla.spsolve(M, b), atol=1e-13)


def test_spsolve_derivatives_closed_form_fd_and_modes():
    M = _sparse(7)
    Dinv = np.linalg.inv(M.toarray())
    b = RNG.normal(size=7)
    f = _solve_data(M)
    x = f(M.data, b)
    # w.r.t. b: A^-1, both modes
    np.testing.assert_allclose(cr.jacfwd(f, 1)(M.data, b), Dinv, atol=1e-13)
    np.testing.assert_allclose(cr.jacrev(f, 1)(M.data, b), Dinv, atol=1e-13)
    # w.r.t. data_k at (i, j): -A^-1[:, i] x_j
    rows = np.repeat(np.arange(7), np.diff(M.indptr))
    exact = -Dinv[:, rows] * x[M.indices]
    Jf, Jr = cr.jacfwd(f, 0)(M.data, b), cr.jacrev(f, 0)(M.data, b)
    np.testing.assert_allclose(Jf, exact, atol=1e-13)
    np.testing.assert_allclose(Jr, Jf, atol=1e-14)
    d = RNG.normal(size=M.nnz)
    fd = _fd(lambda v: spla.spsolve(sp.csr_matrix((v, M.indices, M.indptr), M.shape), b), M.data, d)
    np.testing.assert_allclose(Jf @ d, fd, atol=1e-8)
    # second order: Hessian of a loss, forward-over-reverse == reverse-over-forward, symmetric
    loss = lambda data: cnp.sum(f(data, b) ** 3)  # noqa: E731
    H = cr.hessian(loss)(M.data)
    np.testing.assert_allclose(H, cr.jacrev(cr.jacfwd(loss))(M.data), atol=1e-10)
    np.testing.assert_allclose(H, H.T, atol=1e-10)
    g = cr.grad(loss)
    np.testing.assert_allclose(H @ d, _fd(lambda v: np.asarray(g(v)), M.data, d, 1e-5), atol=1e-6)
    # 2-D right-hand side
    B = RNG.normal(size=(7, 2))
    Jb = cr.jacrev(lambda B: f(M.data, B))(B)
    np.testing.assert_allclose(Jb, np.einsum("ij,kl->ikjl", Dinv, np.eye(2)), atol=1e-13)


def test_spsolve_reverse_mode_reuses_the_factorisation(monkeypatch):
    from chainrule.scipy.sparse import linalg as mod
    M = _sparse(9, seed=3)
    calls = []
    real = spla.splu
    monkeypatch.setattr(spla, "splu", lambda *a, **k: calls.append(1) or real(*a, **k))
    mod._FACTORS.clear()
    f = _solve_data(M)
    data = M.data * 1.5                                    # a matrix not factorised before
    b = RNG.normal(size=9)
    g = cr.grad(lambda d, b: cnp.sum(f(d, b) ** 2), argnums=(0, 1))(data, b)
    assert len(calls) == 1                                # forward and transposed solve: one LU
    x = spla.spsolve(sp.csr_matrix((data, M.indices, M.indptr), M.shape), b)
    y = np.linalg.solve((M.toarray() * 1.5).T, 2 * x)
    np.testing.assert_allclose(g[1], y, atol=1e-12)


def test_spsolve_under_jit_and_vmap():
    M = _sparse(6, seed=4)
    f = _solve_data(M)
    b = RNG.normal(size=6)
    j = cr.jit(f)
    jg = cr.jit(cr.grad(lambda d, b: cnp.sum(f(d, b)), argnums=1))
    for s in (1.0, 2.0, 0.5):                             # the solve runs at call time
        A = sp.csr_matrix((s * M.data, M.indices, M.indptr), M.shape)
        np.testing.assert_allclose(j(s * M.data, b), spla.spsolve(A, b), atol=1e-13)
        np.testing.assert_allclose(jg(s * M.data, b), np.linalg.solve(A.toarray().T, np.ones(6)), atol=1e-12)
    B = RNG.normal(size=(5, 6))
    out = cr.vmap(lambda b: f(M.data, b))(B)
    np.testing.assert_allclose(out, np.stack([spla.spsolve(M, v) for v in B]), atol=1e-13)
    scales = np.array([1.0, 2.0, 4.0])                    # batched matrix values too
    out = cr.vmap(lambda s: f(s * M.data, b))(scales)
    np.testing.assert_allclose(out, spla.spsolve(M, b)[None] / scales[:, None], atol=1e-13)
    G = cr.vmap(cr.grad(lambda b: cnp.sum(f(M.data, b) ** 2)))(B)
    np.testing.assert_allclose(G[2], cr.grad(lambda b: cnp.sum(f(M.data, b) ** 2))(B[2]), atol=1e-13)


def test_spsolve_bad_input():
    M = _sparse(5)
    with pytest.raises(ValueError, match=r"A has shape \(5, 5\) but b has shape \(4,\)"):
        csl.spsolve(M, np.ones(4))
    with pytest.raises(ValueError, match=r"must be square, got shape \(5, 3\)"):
        csl.spsolve(M[:, :3], np.ones(5))
    with pytest.raises(TypeError, match="sparse right-hand side"):
        csl.spsolve(M, sp.eye(5).tocsr())
    with pytest.raises(ValueError, match="permc_spec must be one of"):
        csl.spsolve(M, np.ones(5), permc_spec="BEST")
    with pytest.raises(TypeError, match="traced dense matrix"):
        cr.grad(lambda A: cnp.sum(csl.spsolve(A, np.ones(5))))(M.toarray())
    with pytest.warns(RuntimeWarning, match="singular"):
        x = csl.spsolve(sp.csr_matrix(np.array([[1.0, 2.0], [2.0, 4.0]])), np.ones(2))
    assert np.all(np.isnan(x))


# --------------------------------------------------- a 2-D Poisson problem ---

N = 30                                   # unknowns on an N x N grid, zero Dirichlet boundary


def _poisson_weights():
    """W with A(kappa).data = W @ kappa for -div(kappa grad u): face coefficients are the
    mean of the two cells' kappa (a boundary face takes its cell's), 5-point stencil."""
    idx = np.arange(N * N).reshape(N, N)
    rows, cols, wr, wc, wv = [], [], [], [], []      # entries (r, c) and weights of kappa

    entries = {}

    def add(r, c, k, w):
        entries.setdefault((r, c), {}).setdefault(k, 0.0)
        entries[(r, c)][k] += w
    for i in range(N):
        for j in range(N):
            p = idx[i, j]
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                a, b = i + di, j + dj
                if 0 <= a < N and 0 <= b < N:
                    q = idx[a, b]
                    for k in (p, q):
                        add(p, p, k, 0.5)
                        add(p, q, k, -0.5)
                else:
                    add(p, p, p, 1.0)
    keys = sorted(entries)
    for e, (r, c) in enumerate(keys):
        rows.append(r)
        cols.append(c)
        for k, w in entries[(r, c)].items():
            wr.append(e)
            wc.append(k)
            wv.append(w)
    pattern = sp.csr_matrix((np.ones(len(keys)), (rows, cols)), shape=(N * N, N * N))
    pattern.sort_indices()
    W = sp.csr_matrix((wv, (wr, wc)), shape=(len(keys), N * N))
    return pattern, W


def test_poisson_gradient_in_source_and_diffusion_field():
    pattern, W = _poisson_weights()
    Wc = csr_matrix(W)
    h2 = (1.0 / (N + 1)) ** 2
    xs = (np.arange(N) + 1) / (N + 1)
    kappa = 1.0 + 0.5 * np.sin(2 * np.pi * xs)[:, None] * np.cos(np.pi * xs)[None, :]
    kappa = kappa.ravel()
    src = np.exp(-20 * ((xs[:, None] - 0.3) ** 2 + (xs[None, :] - 0.6) ** 2)).ravel()
    target = np.linspace(0.0, 1.0, N * N)

    def u_of(kappa, src):
        A = csr_matrix((Wc @ kappa / h2, pattern.indices, pattern.indptr), pattern.shape)
        return csl.spsolve(A, src)

    def loss(kappa, src):
        u = u_of(kappa, src)
        return cnp.sum((u - 0.01 * target) ** 2)

    def loss_scipy(kappa, src):
        A = sp.csr_matrix((W @ kappa / h2, pattern.indices, pattern.indptr), pattern.shape)
        return float(np.sum((spla.spsolve(A.tocsc(), src) - 0.01 * target) ** 2))
    # the operator is the 5-point Laplacian for kappa = 1
    A1 = sp.csr_matrix((W @ np.ones(N * N), pattern.indices, pattern.indptr), pattern.shape)
    t1 = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(N, N))
    lap = sp.kronsum(t1, t1)
    np.testing.assert_allclose(A1.toarray(), lap.toarray(), atol=1e-14)
    np.testing.assert_allclose(u_of(kappa, src), spla.spsolve(
        sp.csr_matrix((W @ kappa / h2, pattern.indices, pattern.indptr), pattern.shape).tocsc(), src), atol=1e-14)
    gk, gs = cr.grad(loss, argnums=(0, 1))(kappa, src)
    for d in (RNG.normal(size=N * N), (np.arange(N * N) == 465).astype(float)):
        fd_k = (loss_scipy(kappa + 1e-5 * d, src) - loss_scipy(kappa - 1e-5 * d, src)) / 2e-5
        np.testing.assert_allclose(gk @ d, fd_k, rtol=1e-6, atol=1e-12)
        fd_s = (loss_scipy(kappa, src + 1e-4 * d) - loss_scipy(kappa, src - 1e-4 * d)) / 2e-4
        np.testing.assert_allclose(gs @ d, fd_s, rtol=1e-7, atol=1e-12)
    # forward mode agrees (one directional derivative) and jit runs the solve at call time
    d = RNG.normal(size=N * N)
    _, t = cr.jvp(lambda k: loss(k, src), (kappa,), (d,))
    np.testing.assert_allclose(t, gk @ d, rtol=1e-10)
    jl = cr.jit(cr.value_and_grad(loss, argnums=1))
    v, g = jl(2 * kappa, src)
    assert abs(v - loss_scipy(2 * kappa, src)) < 1e-14 * max(1.0, v)
    v1, g1 = jl(kappa, src)
    np.testing.assert_allclose(g1, gs, rtol=1e-12, atol=1e-18)


# ---------------------------------------------------------------- cg, gmres ---

def _spd(n, seed=0):
    Q = np.random.default_rng(seed).normal(size=(n, n))
    return Q @ Q.T + n * np.eye(n)


def _as_kind(kind, K):
    """The 6 x 6 matrix K (maybe traced) as the operator kind a solver is given."""
    if kind == "dense":
        return K
    if kind == "sparse":                   # every entry stored: K's values are the data
        return csr_matrix((cnp.reshape(K, (36,)), np.tile(np.arange(6), 6), np.arange(0, 37, 6)), (6, 6))
    if kind == "scipy_sparse":
        return sp.csr_matrix(np.asarray(K))
    if kind == "callable":
        return lambda v: K @ v
    return csl.LinearOperator((6, 6), lambda v: K @ v, rmatvec=lambda v: v @ K)


@pytest.mark.parametrize("kind", ["dense", "sparse", "scipy_sparse", "callable", "operator"])
def test_cg_values_and_derivatives(kind):
    S = _spd(6)
    b = RNG.normal(size=6)
    Sinv = np.linalg.inv(S)

    make = functools.partial(_as_kind, kind)
    x, info = csl.cg(make(S), b, rtol=1e-13)
    ref, rinfo = spla.cg(S, b, rtol=1e-13)
    assert info == 0 == rinfo
    np.testing.assert_allclose(x, ref, atol=1e-11)
    np.testing.assert_allclose(x, np.linalg.solve(S, b), atol=1e-12)
    f = lambda S, b: csl.cg(make(S), b, rtol=1e-13)[0]  # noqa: E731
    np.testing.assert_allclose(cr.jacfwd(f, 1)(S, b), Sinv, atol=1e-11)
    np.testing.assert_allclose(cr.jacrev(f, 1)(S, b), Sinv, atol=1e-11)
    if kind != "scipy_sparse":                         # S's entries are parameters
        exact = -np.einsum("ij,k->ijk", Sinv, np.linalg.solve(S, b))
        np.testing.assert_allclose(cr.jacfwd(f, 0)(S, b), exact, atol=1e-11)
        np.testing.assert_allclose(cr.jacrev(f, 0)(S, b), exact, atol=1e-11)


def test_cg_preconditioner_x0_maxiter_and_jit():
    S = _spd(8, seed=2)
    b = RNG.normal(size=8)
    Minv = np.diag(1 / np.diag(S))
    x, info = csl.cg(S, b, rtol=1e-12, M=Minv, x0=np.ones(8))
    ref, _ = spla.cg(S, b, rtol=1e-12, M=Minv, x0=np.ones(8))
    assert info == 0
    np.testing.assert_allclose(x, ref, atol=1e-11)
    _, info = csl.cg(S, b, rtol=1e-14, maxiter=1)
    assert info > 0                                     # SciPy's: not converged
    # x0 gets no derivative; jit and vmap run the solve per call and per example
    assert np.all(cr.grad(lambda x0: cnp.sum(csl.cg(S, b, x0=x0, rtol=1e-12)[0]))(np.ones(8)) == 0)
    j = cr.jit(lambda c, b: csl.cg(lambda v: S @ v + c * v, b, rtol=1e-13)[0])
    for c in (0.0, 3.0):
        np.testing.assert_allclose(j(c, b), np.linalg.solve(S + c * np.eye(8), b), atol=1e-11)
    g = cr.jit(cr.grad(lambda c: cnp.sum(csl.cg(lambda v: S @ v + c * v, b, rtol=1e-13)[0])))
    for c in (0.5, 2.0):
        Sc = S + c * np.eye(8)
        np.testing.assert_allclose(g(c), -np.ones(8) @ np.linalg.solve(Sc, np.linalg.solve(Sc, b)), atol=1e-11)
    B = RNG.normal(size=(3, 8))
    np.testing.assert_allclose(cr.vmap(lambda b: csl.cg(S, b, rtol=1e-13)[0])(B),
                               np.linalg.solve(S, B.T).T, atol=1e-11)


@pytest.mark.parametrize("kind", ["dense", "sparse", "callable", "operator"])
def test_gmres_nonsymmetric_values_and_derivatives(kind):
    rng = np.random.default_rng(5)
    N_ = rng.normal(size=(6, 6)) + 5 * np.eye(6)
    b = rng.normal(size=6)
    Ninv = np.linalg.inv(N_)

    make = functools.partial(_as_kind, kind)
    x, info = csl.gmres(make(N_), b, rtol=1e-13, restart=6)
    ref, _ = spla.gmres(N_, b, rtol=1e-13, restart=6)
    assert info == 0
    np.testing.assert_allclose(x, ref, atol=1e-11)
    np.testing.assert_allclose(x, np.linalg.solve(N_, b), atol=1e-12)
    f = lambda K, b: csl.gmres(make(K), b, rtol=1e-13)[0]  # noqa: E731
    np.testing.assert_allclose(cr.jacfwd(f, 1)(N_, b), Ninv, atol=1e-11)
    np.testing.assert_allclose(cr.jacrev(f, 1)(N_, b), Ninv, atol=1e-11)   # A^T solves
    exact = -np.einsum("ij,k->ijk", Ninv, x)
    np.testing.assert_allclose(cr.jacrev(f, 0)(N_, b), exact, atol=1e-11)
    np.testing.assert_allclose(cr.jacfwd(f, 0)(N_, b), exact, atol=1e-11)
    d = rng.normal(size=(6, 6))
    fd = _fd(lambda K: spla.gmres(K, b, rtol=1e-14, atol=0.0)[0], N_, d)
    np.testing.assert_allclose(np.einsum("ijk,jk->i", exact, d), fd, atol=1e-7)


def test_matrix_free_operator_with_traced_parameters_and_second_order():
    # A(p) v = p0 * v + p1 * (D v): a shifted 1-D Laplacian, parameters closed over
    n = 12
    lap = 2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)
    b = RNG.normal(size=n)

    def u(p):
        x, _ = csl.gmres(lambda v: p[0] * v + p[1] * (lap @ v), b, rtol=1e-13, restart=n)
        return x

    def u_dense(p):
        return np.linalg.solve(p[0] * np.eye(n) + p[1] * lap, b)
    p = np.array([0.5, 1.3])
    J = cr.jacrev(u)(p)
    fd = np.stack([_fd(u_dense, p, e) for e in np.eye(2)], 1)
    np.testing.assert_allclose(J, fd, atol=1e-7)
    np.testing.assert_allclose(cr.jacfwd(u)(p), J, atol=1e-11)
    H = cr.hessian(lambda p: cnp.sum(u(p) ** 2))(p)
    gd = lambda p: np.array([(np.sum(u_dense(p + 1e-5 * e) ** 2) - np.sum(u_dense(p - 1e-5 * e) ** 2)) / 2e-5  # noqa: E731
                             for e in np.eye(2)])
    Hfd = np.stack([(gd(p + 1e-4 * e) - gd(p - 1e-4 * e)) / 2e-4 for e in np.eye(2)])
    np.testing.assert_allclose(H, Hfd, rtol=1e-4, atol=1e-5)


def test_iterative_bad_input():
    S = _spd(4)
    with pytest.raises(ValueError, match=r"A has shape \(4, 4\) but b has shape \(3,\)"):
        csl.cg(S, np.ones(3))
    with pytest.raises(ValueError, match=r"must be square, got shape \(4, 3\)"):
        csl.gmres(S[:, :3], np.ones(4))
    with pytest.raises(NotImplementedError, match="callback="):
        csl.cg(S, np.ones(4), callback=print)
    with pytest.raises(NotImplementedError, match="callback_type="):
        csl.gmres(S, np.ones(4), callback_type="x")
    with pytest.raises(TypeError, match="unexpected keyword argument 'tol'"):
        csl.cg(S, np.ones(4), tol=1e-5)
    with pytest.raises(ValueError, match=r"maps shape \(4,\) to \(3,\)"):
        csl.cg(lambda v: v[:3], np.ones(4))
    with pytest.raises(TypeError, match="A must be a matrix"):
        csl.cg("A", np.ones(4))
    with pytest.raises(ValueError, match=r"x0 has shape \(2,\)"):
        csl.cg(S, np.ones(4), x0=np.ones(2))
