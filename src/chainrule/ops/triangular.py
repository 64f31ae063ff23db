"""Triangular solves and the LU factorization: two primitives, each with all its rules.

- ``solve_triangular(a, b, lower, unit_diagonal)`` solves ``T x = b`` with ``T`` the lower
  (or upper) triangle of ``a`` (its diagonal read as ones with ``unit_diagonal``), in
  O(n^2) per right-hand side and without the pivoting a general solve would do.  Like
  LAPACK it reads one triangle only, and its derivative in ``a`` lives on that triangle.
  ``b`` is a stack of matrices ``(..., n, k)``.
- ``lu(a)`` is LAPACK's getrf: ``(lu, piv, perm)`` with the unit lower factor below the
  diagonal of ``lu`` and the upper one on and above it, ``piv`` LAPACK's (0-based) row
  interchanges and ``perm`` the same permutation as row indices: ``a[perm] = L @ U``.
  The pivots are piecewise constant (no derivative); ``lu`` is differentiated for square
  matrices (``dLU = L tril(F, -1) + triu(F) U`` with ``F = L^-1 P dA U^-1``).

Both work on stacks; the batching rules let the implementations loop over them.  The
implementations call SciPy's LAPACK wrappers when SciPy is installed (a NumPy fallback
otherwise).  Emitters: generated code calls the implementations (`codegen._impl_call`).
Cotangents of complex values follow ops/decompositions.py (plain transposes).
"""
from __future__ import annotations

import numpy as np

from ..core import Primitive, bind, shape_of
from ..rules import defjvp, defjvp_full, defvjp_full, batch_rules, taylor_rules, taylor_by_jvp
from . import batch_rules as B
from . import elementwise as E
from . import reductions as R
from . import series as T
from . import shape as S
from .linalg import matmul, swap_last as mT

_SCIPY: list = []


def _scipy_linalg():
    """scipy.linalg, or None without SciPy (imported on first use)."""
    if not _SCIPY:
        try:
            import scipy.linalg as sl
        except ImportError:                                 # pragma: no cover
            sl = None
        _SCIPY.append(sl)
    return _SCIPY[0]


def _stacks(*arrays):
    """The broadcast leading shape of stacks of matrices, and each array broadcast to it."""
    batch = np.broadcast_shapes(*(np.shape(a)[:-2] for a in arrays))
    return batch, [np.broadcast_to(a, batch + np.shape(a)[-2:]) for a in arrays]


def tri_mask(n, lower, unit_diagonal):
    """The entries of an n x n matrix that a triangular solve reads, as 0/1 floats."""
    return np.tril(np.ones((n, n)), -1 if unit_diagonal else 0) if lower else \
        np.triu(np.ones((n, n)), 1 if unit_diagonal else 0)


def columns_batch(p):
    """Batching rule of a solve p(a, b, **params) (b: (..., n, k)) that is linear in b's columns.

    With `a` unbatched, the batch goes into b's columns: one call, so one factorisation of `a`
    (a stack of B right-hand sides would have NumPy repeat it B times).  Otherwise
    B.stacked's rule."""
    stacked = B.stacked(p, (2, 2))

    def rule(args, bdims, **params):
        (a, b), (da, db) = args, bdims
        if da is not None or db is None:
            return stacked(args, bdims, **params)
        s = tuple(shape_of(b))
        nb = len(s)
        bm = B.move(b, db, nb - 2)                          # (..., n, B, k)
        s = tuple(shape_of(bm))
        x = bind(p, a, S.reshape(bm, s[:-2] + (s[-2] * s[-1],)), **params)
        xs = tuple(shape_of(x))
        return S.reshape(x, xs[:-1] + s[-2:]), len(xs) - 1
    return rule


# ----------------------------------------------------- solve_triangular ---

def _solve_triangular_impl(a, b, lower, unit_diagonal):
    a, b = np.asarray(a), np.asarray(b)
    sl = _scipy_linalg()
    if sl is None:                                          # pragma: no cover
        n = a.shape[-1]
        t = a * tri_mask(n, lower, unit_diagonal) + (np.eye(n) if unit_diagonal else 0.0)
        return np.linalg.solve(t, b)
    batch, (a, b) = _stacks(a, b)
    if not batch:
        return sl.solve_triangular(a, b, lower=lower, unit_diagonal=unit_diagonal, check_finite=False)
    if a.shape[-1] <= SUBSTITUTION_MAX_N:
        return _substitute(a, b, lower, unit_diagonal)
    out = np.empty(batch + b.shape[-2:], np.result_type(a, b, np.float64))
    for i in np.ndindex(batch):
        out[i] = sl.solve_triangular(a[i], b[i], lower=lower, unit_diagonal=unit_diagonal,
                                     check_finite=False)
    return out


# Stacks of matrices up to this size are solved by substitution vectorised over the stack
# (n NumPy steps) rather than one LAPACK call per matrix (about 15 us each).
SUBSTITUTION_MAX_N = 24


def _substitute(a, b, lower, unit_diagonal):
    """Forward (lower) or back substitution over a stack: row i needs rows before (after) it."""
    n = a.shape[-1]
    x = np.empty(b.shape, np.result_type(a, b, np.float64))
    for i in (range(n) if lower else range(n - 1, -1, -1)):
        done = slice(0, i) if lower else slice(i + 1, n)
        r = b[..., i, :] - (a[..., i:i + 1, done] @ x[..., done, :])[..., 0, :]
        x[..., i, :] = r if unit_diagonal else r / a[..., i, i, None]
    return x


solve_triangular_p = Primitive("solve_triangular", _solve_triangular_impl)


def solve_triangular(a, b, lower, unit_diagonal=False):
    """x with tri(a) x = b; b: (..., n, k)."""
    return bind(solve_triangular_p, a, b, lower=bool(lower), unit_diagonal=bool(unit_diagonal))


def _tri(t, lower, unit_diagonal):
    return t * tri_mask(shape_of(t)[-1], lower, unit_diagonal)


def _st_jvp_a(t, x, a, b, lower, unit_diagonal):
    return -solve_triangular(a, matmul(_tri(t, lower, unit_diagonal), x), lower, unit_diagonal)


def _st_jvp_b(t, x, a, b, lower, unit_diagonal):
    return solve_triangular(a, t, lower, unit_diagonal)


def _st_vjp(g, x, primals, argnums, lower, unit_diagonal):
    a, b = primals
    gb = solve_triangular(mT(a), g, not lower, unit_diagonal)
    return [E.unbroadcast(a, -_tri(matmul(gb, mT(x)), lower, unit_diagonal)) if i == 0
            else E.unbroadcast(b, gb) for i in argnums]


def _st_taylor(series, lower, unit_diagonal):
    # tri(A(t)) X(t) = B(t):  tri(A0) X_k = B_k - sum_{j=1..k} tri(A_j) X_{k-j}
    a, b = series
    n = len(a)
    X = [solve_triangular(a[0], b[0], lower, unit_diagonal)] + [None] * (n - 1)
    an = [(j, _tri(aj, lower, unit_diagonal)) for j, aj in T.nonzero(a)]
    for k in range(1, n):
        rhs = b[k]
        for j, aj in an:
            if j <= k and X[k - j] is not None:
                rhs = T.sub(rhs, matmul(aj, X[k - j]))
        if rhs is not None:
            X[k] = solve_triangular(a[0], T.bcast(rhs, shape_of(X[0])), lower, unit_diagonal)
    return X


defjvp(solve_triangular_p, _st_jvp_a, _st_jvp_b)
defvjp_full(solve_triangular_p, _st_vjp)
batch_rules[solve_triangular_p] = columns_batch(solve_triangular_p)
taylor_rules[solve_triangular_p] = _st_taylor


# ------------------------------------------------------------------- lu ---

def _perm_from_piv(piv, m):
    """Row indices `perm` with a[perm] = L U, from LAPACK's sequential interchanges."""
    perm = np.arange(m)
    for i, p in enumerate(piv):
        perm[i], perm[p] = perm[p], perm[i]
    return perm


def _lu_numpy(a):                                           # pragma: no cover (SciPy absent)
    """getrf by Gaussian elimination with partial pivoting (the fallback without SciPy)."""
    lu = np.array(a, dtype=np.result_type(a, np.float64))
    m, n = lu.shape
    piv = np.zeros(min(m, n), np.int32)
    for k in range(min(m, n)):
        p = k + int(np.argmax(np.abs(lu[k:, k])))
        piv[k] = p
        if p != k:
            lu[[k, p]] = lu[[p, k]]
        if lu[k, k] != 0:
            lu[k + 1:, k] /= lu[k, k]
            lu[k + 1:, k + 1:] -= np.outer(lu[k + 1:, k], lu[k, k + 1:])
    return lu, piv


def _lu_impl(a):
    a = np.asarray(a)
    sl = _scipy_linalg()
    one = _lu_numpy if sl is None else (lambda x: sl.lu_factor(x, check_finite=False))
    m, n = a.shape[-2:]
    batch = a.shape[:-2]
    lu = np.empty(a.shape, np.result_type(a, np.float64))
    piv = np.empty(batch + (min(m, n),), np.int32)
    perm = np.empty(batch + (m,), np.intp)
    for i in np.ndindex(batch):
        lu[i], piv[i] = one(a[i])
        perm[i] = _perm_from_piv(piv[i], m)
    return lu, piv, perm


lu_p = Primitive("lu", _lu_impl, multiple_results=True)


def lu(a):
    """(lu, piv, perm) of a stack of matrices (see the module docstring)."""
    return bind(lu_p, a)


def permute_rows(x, perm):
    """x[..., perm, :] for a stack of permutations (traced or not)."""
    return S.take_along_axis(x, S.expand_dims(perm, -1), axis=-2)


def _lu_square(a):
    m, n = shape_of(a)[-2:]
    if m != n:
        raise NotImplementedError(f"derivatives of lu are implemented for square matrices, got {m}x{n}")
    return n


def _lu_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    packed, piv, perm = out = lu(a)
    if t is None:
        return out, None
    n = _lu_square(a)
    y = solve_triangular(packed, permute_rows(t, perm), True, True)          # L^-1 P dA
    f = mT(solve_triangular(mT(packed), mT(y), True))                        # ... U^-1
    low, up = np.tril(np.ones((n, n)), -1), np.triu(np.ones((n, n)))
    L, U = packed * low + np.eye(n), packed * up
    return out, (matmul(L, f * low) + matmul(f * up, U), None, None)


def _lu_vjp(g, ans, primals, argnums):
    (a,), (g_lu, _, _), (packed, _, perm) = primals, g, ans
    if g_lu is None:
        return [None]
    n = _lu_square(a)
    low, up = np.tril(np.ones((n, n)), -1), np.triu(np.ones((n, n)))
    L, U = packed * low + np.eye(n), packed * up
    inner = matmul(mT(L), g_lu * low) * low + matmul(g_lu * up, mT(U)) * up
    z = solve_triangular(mT(packed), inner, False, True)                     # L^-T M
    g_ap = mT(solve_triangular(packed, mT(z), False))                        # ... U^-T
    return [permute_rows(g_ap, R.argsort(perm, axis=-1))]


defjvp_full(lu_p, _lu_jvp)
defvjp_full(lu_p, _lu_vjp)
batch_rules[lu_p] = B.stacked(lu_p, (2,))
# no recurrence written yet: Taylor coefficients by nested forward mode (exact, slower at high order)
taylor_by_jvp.add(lu_p)
