"""Solvers and matrix decompositions: each primitive with all its rules.

Every primitive works on stacks of matrices ``(..., m, n)``.  The rules are
written with chainrule operations (matmul, solve, the decompositions
themselves), so they differentiate again for higher-order derivatives.  The
batching rules let NumPy broadcast over the stacks; the Taylor recurrences are
in ops/linalg_series.py (svd, svdvals and pinv get theirs by nested forward mode).

Conventions:

- Cotangents of complex values follow JAX: for a real loss the cotangent of
  ``z`` is ``dL/dRe z - i dL/dIm z``; holomorphic maps transpose with ``.T``,
  not ``.conj().T``.  solve, inv, det, slogdet, cholesky, eigh, eig and eigvals
  take complex input (for complex eigh and for eig, eigenvector derivatives hold
  for phase-invariant functions of the eigenvectors, whose phases LAPACK fixes
  arbitrarily); eig and eigvals always return complex arrays; svd, svdvals, qr
  and pinv are differentiated for real input only.
- Cost: the rules reuse what the forward computed and solve against triangular
  factors with triangular solves (cholesky, qr); solve's JVP is one solve for
  both tangents; slogdet's JVP inverts once per point (a tangent then costs
  O(n^2), so jacfwd does not solve once per direction).
- cholesky and eigh read one triangle of their input, as LAPACK does, but
  their derivatives treat the input as symmetric: a tangent ``dA`` acts
  through ``(dA + dA^H) / 2`` and the cotangent they return is symmetric (as
  in JAX).  Compose with ``(A + A.T) / 2`` for a function of every entry.
- eigh's and svd's vector derivatives need distinct eigenvalues (singular
  values): ``F_ij = 1 / (w_j - w_i)`` is infinite for repeated ones.  The
  derivatives of solve, inv and slogdet need a nonsingular matrix; det's is its
  cofactor matrix, computed through the SVD where det is 0 (exact at every order
  for rank n-1; beyond the first order, nan for rank <= n-2).
"""
from __future__ import annotations

import numpy as np

from ..core import Primitive, bind, shape_of, dtype_of
from ..rules import defjvp, defvjp, defjvp_full, defvjp_full, batch_rules, taylor_rules, taylor_by_jvp
from . import batch_rules as B
from . import elementwise as E
from . import linalg_series as LS
from . import reductions as R
from . import shape as S
from . import triangular as Tri
from .linalg import matmul, swap_last as mT


# -------------------------------------------------------------- helpers ---

def is_complex(x):
    return dtype_of(x).kind == "c"


def mH(x):
    """Conjugate transpose of the last two axes."""
    return E.conj(mT(x)) if is_complex(x) else mT(x)


def diag_part(x):
    """The diagonals of a stack of matrices: (..., n, m) -> (..., min(n, m))."""
    i = np.arange(min(shape_of(x)[-2:]))
    return S.getitem(x, (Ellipsis, i, i))


def diag_embed(v):
    """Stack of diagonal matrices with diagonals `v`: (..., n) -> (..., n, n)."""
    return S.expand_dims(v, -1) * np.eye(shape_of(v)[-1])


def trace(x):
    return R.sum(diag_part(x), axis=-1)


def sym(x):
    """The Hermitian part (x + x^H) / 2."""
    return (x + mH(x)) * 0.5


def tril(x, k=0):
    n, m = shape_of(x)[-2:]
    return x * np.tril(np.ones((n, m)), k)


def triu(x, k=0):
    n, m = shape_of(x)[-2:]
    return x * np.triu(np.ones((n, m)), k)


def _scalar_to_matrix(s):
    """(...) -> (..., 1, 1), to scale a stack of matrices."""
    return S.expand_dims(s, (-2, -1))


def _real_only(x, what):
    if is_complex(x):
        raise NotImplementedError(f"derivatives of {what} are implemented for real input only")


def _off_diag_reciprocal(d):
    """1 / d off the diagonal, 0 on it (d: (..., n, n) with a zero diagonal)."""
    eye = np.eye(shape_of(d)[-1], dtype=bool)
    return E.select(eye, np.zeros(shape_of(d)[-2:]), 1.0 / E.select(eye, np.ones(shape_of(d)[-2:]), d))


def _solve_right(x, r, lower=False):
    """x @ inv(r) for a triangular r (upper unless `lower`): (r^T \\ x^T)^T, a triangular solve."""
    return mT(Tri.solve_triangular(mT(r), mT(x), not lower))


# ---------------------------------------------------------------- solve ---
# solve_p takes b as a stack of matrices (..., n, k); `solve` below handles
# vector right-hand sides (b.ndim == 1, as in NumPy 2).

solve_p = Primitive("solve", np.linalg.solve)


def solve(a, b):
    return bind(solve_p, a, b)


def _solve_jvp(primals, tangents):
    # dx = a^-1 (db - da x): one solve for both tangents
    (a, b), (ta, tb) = primals, tangents
    x = solve(a, b)
    rhs = tb if ta is None else (-matmul(ta, x) if tb is None else tb - matmul(ta, x))
    if rhs is None:
        return x, None
    return x, solve(a, rhs)


def _solve_vjp(g, ans, primals, argnums):
    a, b = primals
    gb = solve(mT(a), g)
    return [E.unbroadcast(a, -matmul(gb, mT(ans))) if i == 0 else E.unbroadcast(b, gb) for i in argnums]


defjvp_full(solve_p, _solve_jvp)
defvjp_full(solve_p, _solve_vjp)
batch_rules[solve_p] = Tri.columns_batch(solve_p)
taylor_rules[solve_p] = LS.solve_rule


# ------------------------------------------------------------------ inv ---

inv_p = Primitive("inv", np.linalg.inv)


def inv(a):
    return bind(inv_p, a)


defjvp(inv_p, lambda t, ans, a: -matmul(ans, matmul(t, ans)))
defvjp(inv_p, lambda g, ans, a: -matmul(mT(ans), matmul(g, mT(ans))))
batch_rules[inv_p] = B.stacked(inv_p, (2,))
taylor_rules[inv_p] = LS.inv_rule


# ---------------------------------------------------------- det, slogdet ---

det_p = Primitive("det", np.linalg.det)


def det(a):
    return bind(det_p, a)


def cofactor(a, ans):
    """d det(a) / da, the cofactor matrix adj(a)^T: det(a) inv(a)^T, and where some det(a) is 0
    (inv fails there) det(U) det(Vh) U diag(prod of the other singular values) Vh from the SVD."""
    if not bool(R.any(E.equal(ans, 0.0))):
        return _scalar_to_matrix(ans) * mT(inv(a))
    u, s, vh = svd(a)
    sign = det(E.stop_gradient(u)) * det(E.stop_gradient(vh))      # +-1 (a phase): locally constant
    if is_complex(a):                   # adj(a)^T = det(U) det(Vh) conj(U) diag(...) conj(Vh)
        u, vh = E.conj(u), E.conj(vh)
    return _scalar_to_matrix(sign) * matmul(u * S.expand_dims(_others(s), -2), vh)


def _others(s):
    """prod_{j != i} s_j along the last axis, by multiplications only (no division by a tiny s_i,
    which would spoil higher derivatives)."""
    cols = [S.getitem(s, (Ellipsis, i)) for i in range(shape_of(s)[-1])]
    one = np.ones(shape_of(cols[0]), dtype_of(s))
    left, right = [one], [one]
    for c, d in zip(cols[:-1], reversed(cols[1:])):
        left.append(left[-1] * c)
        right.append(right[-1] * d)
    return S.stack([a * b for a, b in zip(left, reversed(right))], axis=-1)


defjvp(det_p, lambda t, ans, a: R.sum(cofactor(a, ans) * t, axis=(-2, -1)))
defvjp(det_p, lambda g, ans, a: _scalar_to_matrix(g) * cofactor(a, ans))
batch_rules[det_p] = B.stacked(det_p, (2,))
taylor_rules[det_p] = LS.det_rule

slogdet_p = Primitive("slogdet", lambda a: tuple(np.linalg.slogdet(a)), multiple_results=True)


def slogdet(a):
    return bind(slogdet_p, a)


def _slogdet_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    sign, logabsdet = out = slogdet(a)
    if t is None:
        return out, None
    # d log det A = tr(A^-1 dA) = sum(A^-T * dA): one inverse per point, O(n^2) per tangent
    # (a solve per tangent would cost O(n^3) each, e.g. n^2 of them under jacfwd)
    tr = R.sum(mT(inv(a)) * t, axis=(-2, -1))
    if is_complex(a):
        return out, (sign * (1j * E.imag(tr)), E.real(tr))
    return out, (None, tr)                       # the sign of a real det is locally constant


def _slogdet_vjp(g, ans, primals, argnums):
    (a,), (g_sign, g_log), (sign, _) = primals, g, ans
    coef = g_log
    if is_complex(a) and g_sign is not None:
        c = 1j * E.imag(g_sign * sign)
        coef = c if coef is None else coef + c
    if coef is None:
        return [None]
    return [_scalar_to_matrix(coef) * mT(inv(a))]


defjvp_full(slogdet_p, _slogdet_jvp)
defvjp_full(slogdet_p, _slogdet_vjp)
batch_rules[slogdet_p] = B.stacked(slogdet_p, (2,))
taylor_rules[slogdet_p] = LS.slogdet_rule


# ------------------------------------------------------------- cholesky ---

cholesky_p = Primitive("cholesky", np.linalg.cholesky)


def cholesky(a):
    return bind(cholesky_p, a)


def _phi(x):
    """Lower triangle with the diagonal halved."""
    n = shape_of(x)[-1]
    return x * (np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n))


def _cholesky_jvp(t, L, a):
    # dL = L phi(L^-1 sym(dA) L^-H): two triangular solves against the factor (Murray 2016)
    y = Tri.solve_triangular(L, sym(t), True)
    return matmul(L, _phi(Tri.solve_triangular(L, mH(y), True)))


def _cholesky_vjp(g, L, a):
    # A_bar = sym(L^-T phi(L^T G) conj(L)^-1): two triangular solves (Murray 2016)
    y = Tri.solve_triangular(mT(L), _phi(matmul(mT(L), g)), False)
    return sym(mT(Tri.solve_triangular(mH(L), mT(y), False)))


defjvp(cholesky_p, _cholesky_jvp)
defvjp(cholesky_p, _cholesky_vjp)
batch_rules[cholesky_p] = B.stacked(cholesky_p, (2,))
taylor_rules[cholesky_p] = LS.cholesky_rule


# ----------------------------------------------------------------- eigh ---

eigh_p = Primitive("eigh", lambda a, UPLO: tuple(np.linalg.eigh(a, UPLO)), multiple_results=True)


def eigh(a, UPLO="L"):
    return bind(eigh_p, a, UPLO=UPLO)


def _eig_gaps(w):
    """F with F_ij = 1 / (w_j - w_i) off the diagonal and 0 on it."""
    return _off_diag_reciprocal(S.expand_dims(w, -2) - S.expand_dims(w, -1))


def _eigh_jvp(primals, tangents, UPLO):
    (a,), (t,) = primals, tangents
    w, v = out = eigh(a, UPLO)
    if t is None:
        return out, None
    m = matmul(mH(v), matmul(sym(t), v))
    dw = diag_part(m)
    return out, (E.real(dw) if is_complex(m) else dw, matmul(v, _eig_gaps(w) * m))


def _eigh_vjp(g, ans, primals, argnums, UPLO):
    (gw, gv), (w, v) = g, ans
    inner = 0.0
    if gw is not None:
        inner = diag_embed(gw)
    if gv is not None:
        inner = inner + _eig_gaps(w) * matmul(mT(v), gv)
    vc = E.conj(v) if is_complex(v) else v
    return [sym(matmul(vc, matmul(inner, mT(v))))]


defjvp_full(eigh_p, _eigh_jvp)
defvjp_full(eigh_p, _eigh_vjp)
batch_rules[eigh_p] = B.stacked(eigh_p, (2,))
taylor_rules[eigh_p] = LS.eigh_rule


# ------------------------------------------------------------ eig, eigvals ---
# General square matrices: complex eigenvalues w and eigenvectors V (A V = V diag(w)),
# always complex (NumPy returns real arrays when every eigenvalue is real: here the dtype
# must not depend on the values).  V's columns have unit 2-norm, as NumPy's; their
# phases are LAPACK's choice (the largest entry real), which the derivative does not
# follow: dV keeps the norm (Re(v^H dv) = 0) and adds no phase term, so differentiate
# phase-invariant functions of V (|V|^2, V diag(w) V^-1, ...).  Needs distinct eigenvalues.
#   C = V^-1 dA V,  dw = diag(C),  dV = V (F o C) - V Re(diag(V^H V (F o C))),
#   F_ij = 1 / (w_j - w_i) off the diagonal.  The VJP transposes this (plain transposes,
#   see the conventions above): A_bar = V^-T (diag(w_bar) + F o (V^T V_bar')) V^T with
#   V_bar' = V_bar - conj(V) diag(Re(sum_i V_bar_ij V_ij)), the real part for real A.

def _complex(x):
    x = np.asarray(x)
    return x if x.dtype.kind == "c" else x.astype(np.result_type(x.dtype, np.complex64))


eig_p = Primitive("eig", lambda a: tuple(_complex(r) for r in np.linalg.eig(a)), multiple_results=True)
eigvals_p = Primitive("eigvals", lambda a: _complex(np.linalg.eigvals(a)))


def eig(a):
    return bind(eig_p, a)


def eigvals(a):
    return bind(eigvals_p, a)


def _to_complex(x):
    return x if is_complex(x) else S.astype(x, np.result_type(dtype_of(x), np.complex64))


def _eig_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    w, v = out = eig(a)
    if t is None:
        return out, None
    c = solve(v, matmul(_to_complex(t), v))                 # V^-1 dA V
    dv = matmul(v, _eig_gaps(w) * c)
    norm = E.real(R.sum(E.conj(v) * dv, axis=-2, keepdims=True))
    return out, (diag_part(c), dv - v * norm)


def _eig_cotangent(a, w, v, gw, gv):
    """A_bar from the cotangents of w and V (either may be None)."""
    m = 0.0 if gw is None else diag_embed(gw)
    if gv is not None:
        gv = gv - E.conj(v) * E.real(R.sum(gv * v, axis=-2, keepdims=True))
        m = m + _eig_gaps(w) * matmul(mT(v), gv)
    ga = solve(mT(v), matmul(m, mT(v)))
    return ga if is_complex(a) else E.real(ga)


def _eig_vjp(g, ans, primals, argnums):
    (a,), (gw, gv), (w, v) = primals, g, ans
    return [_eig_cotangent(a, w, v, gw, gv)]


def _eigvals_jvp(t, w, a):
    _, v = eig(a)
    return diag_part(solve(v, matmul(_to_complex(t), v)))


def _eigvals_vjp(g, w, a):
    w2, v = eig(a)
    return _eig_cotangent(a, w2, v, g, None)


defjvp_full(eig_p, _eig_jvp)
defvjp_full(eig_p, _eig_vjp)
batch_rules[eig_p] = B.stacked(eig_p, (2,))
# no recurrence written yet: Taylor coefficients by nested forward mode (exact, slower at high order)
taylor_by_jvp.add(eig_p)
defjvp(eigvals_p, _eigvals_jvp)
defvjp(eigvals_p, _eigvals_vjp)
batch_rules[eigvals_p] = B.stacked(eigvals_p, (2,))
taylor_by_jvp.add(eigvals_p)


# ------------------------------------------------------------------ svd ---

def _svd_impl(a, full_matrices, hermitian):
    return tuple(np.linalg.svd(a, full_matrices=full_matrices, hermitian=hermitian))


svd_p = Primitive("svd", _svd_impl, multiple_results=True)
svdvals_p = Primitive("svdvals", lambda a: np.linalg.svd(a, compute_uv=False))


def svd(a, full_matrices=False, hermitian=False):
    return bind(svd_p, a, full_matrices=full_matrices, hermitian=hermitian)


def svdvals(a):
    return bind(svdvals_p, a)


def _svd_check(a, full_matrices):
    _real_only(a, "svd")
    m, n = shape_of(a)[-2:]
    if full_matrices and m != n:
        raise NotImplementedError("derivatives of svd with full_matrices=True need a square matrix "
                                  "(the extra singular vectors are not unique); use full_matrices=False")


def _svd_gaps(s):
    """F with F_ij = 1 / (s_j^2 - s_i^2) off the diagonal and 0 on it."""
    sj, si = S.expand_dims(s, -2), S.expand_dims(s, -1)
    return _off_diag_reciprocal((sj - si) * (sj + si))


def _svd_jvp(primals, tangents, full_matrices, hermitian):
    (a,), (t,) = primals, tangents
    u, s, vh = out = svd(a, full_matrices, hermitian)
    if t is None:
        return out, None
    _svd_check(a, full_matrices)
    m, n = shape_of(a)[-2:]
    v = mT(vh)
    tv = matmul(t, v)
    dp = matmul(mT(u), tv)                       # U^T dA V
    s_row = S.expand_dims(s, -2)                 # s_j, for scaling columns
    f = _svd_gaps(s)
    dps, sdp = dp * s_row, S.expand_dims(s, -1) * dp
    du = matmul(u, f * (dps + mT(dps)))
    dv = matmul(v, f * (sdp + mT(sdp)))
    if m > n:
        du = du + (tv - matmul(u, dp)) / s_row
    if n > m:
        dv = dv + (matmul(mT(t), u) - matmul(v, mT(dp))) / s_row
    return out, (du, diag_part(dp), mT(dv))


def _svd_vjp(g, ans, primals, argnums, full_matrices, hermitian):
    (a,), (gu, gs, gvh), (u, s, vh) = primals, g, ans
    _svd_check(a, full_matrices)
    m, n = shape_of(a)[-2:]
    v = mT(vh)
    s_row, s_col = S.expand_dims(s, -2), S.expand_dims(s, -1)
    f = _svd_gaps(s)
    inner = 0.0 if gs is None else diag_embed(gs)
    if gu is not None:
        j = f * matmul(mT(u), gu)
        inner = inner + (j + mT(j)) * s_row
    if gvh is not None:
        gv = mT(gvh)
        k = f * matmul(mT(v), gv)
        inner = inner + s_col * (k + mT(k))
    ga = matmul(u, matmul(inner, vh))
    if gu is not None and m > n:
        ga = ga + matmul((gu - matmul(u, matmul(mT(u), gu))) / s_row, vh)
    if gvh is not None and n > m:
        ga = ga + matmul(u, mT((gv - matmul(v, matmul(vh, gv))) / s_row))
    return [ga]


defjvp_full(svd_p, _svd_jvp)
defvjp_full(svd_p, _svd_vjp)
batch_rules[svd_p] = B.stacked(svd_p, (2,))
taylor_by_jvp.add(svd_p)


def _svdvals_jvp(t, ans, a):
    _real_only(a, "svd")
    u, _, vh = svd(a)
    return diag_part(matmul(mT(u), matmul(t, mT(vh))))


def _svdvals_vjp(g, ans, a):
    _real_only(a, "svd")
    u, _, vh = svd(a)
    return matmul(u * S.expand_dims(g, -2), vh)


defjvp(svdvals_p, _svdvals_jvp)
defvjp(svdvals_p, _svdvals_vjp)
batch_rules[svdvals_p] = B.stacked(svdvals_p, (2,))
taylor_by_jvp.add(svdvals_p)


# ------------------------------------------------------------------- qr ---
# The primitive is the reduced QR of a tall (m >= n) matrix; `qr` in
# chainrule.numpy.linalg composes the wide case from it.

qr_p = Primitive("qr", lambda a: tuple(np.linalg.qr(a, mode="reduced")), multiple_results=True)


def qr(a):
    m, n = shape_of(a)[-2:]
    if m < n:
        raise ValueError("the qr primitive takes m >= n; use chainrule.numpy.linalg.qr")
    return bind(qr_p, a)


def _qr_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    q, r = out = qr(a)
    if t is None:
        return out, None
    _real_only(a, "qr")
    x = _solve_right(t, r)                       # dA R^-1 (a triangular solve)
    c = matmul(mT(q), x)
    low = tril(c, -1)
    omega = low - mT(low)                        # skew-symmetric
    return out, (matmul(q, omega - c) + x, matmul(c - omega, r))


def _qr_vjp(g, ans, primals, argnums):
    (a,), (gq, gr), (q, r) = primals, g, ans
    _real_only(a, "qr")
    m = 0.0
    if gr is not None:
        m = matmul(gr, mT(r))
    if gq is not None:
        m = m - matmul(mT(q), gq)
    cbar = triu(m) + mT(triu(m, 1))
    xbar = matmul(q, cbar)
    if gq is not None:
        xbar = xbar + gq
    return [_solve_right(xbar, mT(r), lower=True)]


defjvp_full(qr_p, _qr_jvp)
defvjp_full(qr_p, _qr_vjp)
batch_rules[qr_p] = B.stacked(qr_p, (2,))
taylor_rules[qr_p] = LS.qr_rule


# ----------------------------------------------------------------- pinv ---
# Golub & Pereyra's derivative, valid where the rank is locally constant (the
# cutoff fixes the rank): dP = -P dA P + P P^T dA^T (I - A P) + (I - P A) dA^T P^T P.

def _pinv_impl(a, rcond):
    return np.linalg.pinv(a, rcond=rcond)


pinv_p = Primitive("pinv", _pinv_impl)


def pinv(a, rcond):
    return bind(pinv_p, a, rcond)


def _pinv_jvp(t, p, a, rcond):
    _real_only(a, "pinv")
    tt = mT(t)
    out = -matmul(p, matmul(t, p))
    out = out + matmul(matmul(p, mT(p)), tt - matmul(tt, matmul(a, p)))
    return out + matmul(tt - matmul(p, matmul(a, tt)), matmul(mT(p), p))


def _pinv_vjp(g, p, a, rcond):
    _real_only(a, "pinv")
    gt = mT(g)
    out = -matmul(mT(p), matmul(g, mT(p)))
    out = out + matmul(gt - matmul(a, matmul(p, gt)), matmul(p, mT(p)))
    return out + matmul(matmul(mT(p), p), gt - matmul(gt, matmul(p, a)))


defjvp(pinv_p, _pinv_jvp, None)
defvjp(pinv_p, _pinv_vjp, None)
batch_rules[pinv_p] = B.stacked(pinv_p, (2, 0))
taylor_by_jvp.add(pinv_p)
