"""Taylor series of the matrix functions: the Taylor rules of ops/decompositions.py.

Each rule takes one series per argument (``[A0, A1, ..., AK]``, raw Taylor
coefficients, `None` for zero, see ops/series.py) and returns the series of
the result (one per result for slogdet, eigh and qr); they are registered
beside their primitives in ops/decompositions.py.  Each order costs a few
matrix products and solves against the order-0 factorization.  Complex input
(and det at a singular matrix) falls back to nested forward mode.
"""
from __future__ import annotations

from ..core import bind, shape_of, dtype_of
from . import decompositions as D
from . import elementwise as E
from . import reductions as R
from . import series as T
from . import shape as S
from .linalg import matmul


def _by_jvp(p, series, **params):
    """Leave this case to the nested-forward-mode rule (see interpreters/taylor.py)."""
    return NotImplemented


def _is_complex(a):
    return dtype_of(a[0]).kind == "c"


def _cauchy(op, a, b):
    """Series of a bilinear op(a, b) (a Cauchy product, truncated to len(a) terms)."""
    n = len(a)
    out = [None] * n
    for i, u in T.nonzero(a, 0):
        for j, v in T.nonzero(b, 0):
            if i + j < n:
                out[i + j] = T.add(out[i + j], op(u, v))
    return out


def solve_rule(series):
    # A(t) X(t) = B(t):  A0 X_k = B_k - sum_{j=1..k} A_j X_{k-j}
    a, b = series
    n = len(a)
    X = [bind(D.solve_p, a[0], b[0])] + [None] * (n - 1)
    an = T.nonzero(a)
    for k in range(1, n):
        rhs = b[k]
        for j, aj in an:
            if j > k:
                break
            if X[k - j] is not None:
                rhs = T.sub(rhs, matmul(aj, X[k - j]))
        if rhs is not None:
            X[k] = bind(D.solve_p, a[0], T.bcast(rhs, shape_of(X[0])))
    return X


def _inv_series(a, X0=None):
    """Series of A^-1: X_k = -X0 sum_{j=1..k} A_j X_{k-j}."""
    n = len(a)
    X = [bind(D.inv_p, a[0]) if X0 is None else X0] + [None] * (n - 1)
    an = T.nonzero(a)
    for k in range(1, n):
        acc = None
        for j, aj in an:
            if j > k:
                break
            if X[k - j] is not None:
                acc = T.add(acc, matmul(aj, X[k - j]))
        if acc is not None:
            X[k] = -matmul(X[0], acc)
    return X


def inv_rule(series):
    return _inv_series(series[0])


def _logdet_series(a, L0):
    """Series of log|det A| (L0 its value): L' = tr(A^-1 A')."""
    n = len(a)
    if n == 1:
        return [L0]
    q = _cauchy(lambda u, v: D.trace(matmul(u, v)), _inv_series(a[:n - 1]), T.deriv_series(a))
    return [L0] + [None if v is None else v / (k + 1) for k, v in enumerate(q)]


def slogdet_rule(series):
    a = series[0]
    if _is_complex(a):
        return _by_jvp(D.slogdet_p, series)
    sign, logabs = bind(D.slogdet_p, a[0])
    return [[sign] + [None] * (len(a) - 1), _logdet_series(a, logabs)]


def det_rule(series):
    # det = sign * exp(log|det|): the exp recurrence on the log-determinant series
    a = series[0]
    ans = bind(D.det_p, a[0])
    if _is_complex(a) or bool(R.any(E.equal(ans, 0.0))):        # complex or singular
        return _by_jvp(D.det_p, series)
    _, logabs = D.slogdet(a[0])
    return T.s_exp(_logdet_series(a, logabs), ans)


def cholesky_rule(series):
    # A = L L^T:  L0 L_k^T + L_k L0^T = S_k := sym(A_k) - sum_{j=1..k-1} L_j L_{k-j}^T,
    # so L_k = L0 phi(L0^-1 S_k L0^-T), phi = lower triangle with half the diagonal.
    a = series[0]
    n = len(a)
    L = [bind(D.cholesky_p, a[0])] + [None] * (n - 1)
    for k in range(1, n):
        s = None if a[k] is None else D.sym(a[k])
        for j in range(1, k):
            if L[j] is not None and L[k - j] is not None:
                s = T.sub(s, matmul(L[j], D.mH(L[k - j])))
        if s is not None:
            y = D.Tri.solve_triangular(L[0], s, True)
            L[k] = matmul(L[0], D._phi(D.Tri.solve_triangular(L[0], D.mH(y), True)))
    return L


def eigh_rule(series, UPLO):
    # In the eigenbasis of A0: B(t) = V0^T sym(A(t)) V0 = Q(t) D(t) Q(t)^T, Q0 = I, D0 = diag(w0).
    # Order k of B Q = Q D:  (w_i - w_j) (Q_k)_ij = (D_k)_ij - (R_k)_ij with
    # R_k = sum_{j=1..k} B_j Q_{k-j} - sum_{j=1..k-1} Q_j D_{k-j}; so D_k = diag(R_k), the
    # off-diagonal Q_k = F o R_k (F_ij = 1/(w_j - w_i)), and Q^T Q = I fixes the diagonal:
    # (Q_k)_ii = -(1/2) (sum_{j=1..k-1} Q_j^T Q_{k-j})_ii.  Needs distinct eigenvalues.
    a = series[0]
    if _is_complex(a):
        return _by_jvp(D.eigh_p, series, UPLO=UPLO)
    n = len(a)
    w0, v0 = bind(D.eigh_p, a[0], UPLO=UPLO)
    vT = D.mT(v0)
    Bs = [None] + [None if c is None else matmul(vT, matmul(D.sym(c), v0)) for c in a[1:]]
    F = D._eig_gaps(w0)
    Q = [None] * n
    W = [w0] + [None] * (n - 1)
    for k in range(1, n):
        r = Bs[k]
        for j in range(1, k):
            if Bs[j] is not None and Q[k - j] is not None:
                r = T.add(r, matmul(Bs[j], Q[k - j]))
            if Q[j] is not None and W[k - j] is not None:
                r = T.sub(r, Q[j] * S.expand_dims(W[k - j], -2))
        pk = None
        for j in range(1, k):
            if Q[j] is not None and Q[k - j] is not None:
                pk = T.add(pk, matmul(D.mT(Q[j]), Q[k - j]))
        if r is None and pk is None:
            continue
        qk = None
        if r is not None:
            W[k] = D.diag_part(r)
            qk = F * r
        if pk is not None:
            qk = T.sub(qk, D.diag_embed(D.diag_part(pk)) * 0.5)
        Q[k] = qk
    V = [v0] + [None if q is None else matmul(v0, q) for q in Q[1:]]
    return [W, V]


def qr_rule(series):
    # A = Q R (reduced, m >= n).  With S_k = A_k - sum_{j=1..k-1} Q_j R_{k-j}, X = S_k R0^-1,
    # M = Q0^T X = U + C (U = R_k R0^-1 upper triangular, C = Q0^T Q_k) and
    # C + C^T = -P_k (P_k = sum_{j=1..k-1} Q_j^T Q_{k-j}):  C's strict lower triangle is M's,
    # its upper one -C^T - P, its diagonal -diag(P)/2;  R_k = U R0 and Q_k = X - Q0 U.
    a = series[0]
    if _is_complex(a):
        return _by_jvp(D.qr_p, series)
    n = len(a)
    q0, r0 = bind(D.qr_p, a[0])
    Q = [q0] + [None] * (n - 1)
    Rs = [r0] + [None] * (n - 1)
    for k in range(1, n):
        sk = a[k]
        pk = None
        for j in range(1, k):
            if Q[j] is not None and Rs[k - j] is not None:
                sk = T.sub(sk, matmul(Q[j], Rs[k - j]))
            if Q[j] is not None and Q[k - j] is not None:
                pk = T.add(pk, matmul(D.mT(Q[j]), Q[k - j]))
        if sk is None and pk is None:
            continue
        x = None if sk is None else D._solve_right(sk, r0)
        m = None if x is None else matmul(D.mT(q0), x)
        low = None if m is None else D.tril(m, -1)
        c = None if low is None else low - D.mT(low)
        if pk is not None:
            c = T.sub(c, D.triu(pk, 1) + D.diag_embed(D.diag_part(pk)) * 0.5)
        u = T.sub(m, c)
        Rs[k] = matmul(u, r0)
        Q[k] = T.sub(x, matmul(q0, u))
    return [Q, Rs]
