"""`chainrule.scipy.linalg`: differentiable linear algebra with SciPy's signatures.

Triangular solves and the LU factorization are primitives (`chainrule.ops.triangular`);
everything else is composed from chainrule operations, so every derivative (forward,
reverse, higher order), vmap and jit follow.  On plain arrays the values are SciPy's.

Conventions:

- Functions that read one triangle of a symmetric (Hermitian) input (cholesky,
  cho_factor, eigh, solve with assume_a='sym'/'her'/'pos') are functions of that
  triangle: the other one is mirrored from it, so its entries get a zero derivative.
- ``overwrite_a``/``overwrite_b`` are accepted (nothing is ever overwritten, which SciPy
  allows); ``check_finite`` checks plain arrays (traced values are not inspected);
  ``lapack_driver``/``driver``/``lwork`` choose LAPACK routines, not results, and are
  accepted when SciPy would accept them.  Any other unsupported option raises.
- expm is scaling and squaring with a Pade approximant of degree 3, 5, 7, 9 or 13
  (Higham 2005), chosen from the 1-norm of the input (the largest over a stack: under jit
  the choice is a guard, under vmap a split).  sqrtm is the principal square root by the
  scaled Denman-Beavers iteration, for matrices with no eigenvalue on the closed negative
  real axis (real input gives the real root; a singular matrix raises).
"""
from __future__ import annotations

import math

import numpy as _np

from ..core import Tracer, shape_of, dtype_of
from ..numpy import linalg as _nla
from ..numpy.linalg import LinAlgError, _arr
from ..ops import decompositions as _D
from ..ops import elementwise as _E, reductions as _R, shape as _S
from ..ops import triangular as _T
from ..ops.linalg import matmul as _matmul, swap_last as _mT

__all__ = ["solve_triangular", "cho_factor", "cho_solve", "cholesky", "lu_factor", "lu_solve", "lu",
           "solve", "inv", "det", "expm", "expm_frechet", "sqrtm", "block_diag", "toeplitz",
           "circulant", "eigh", "eigvalsh", "svd", "svdvals", "qr", "LinAlgError"]


# -------------------------------------------------------------- helpers ---

def _check_finite(check, *xs):
    if not check:
        return
    for x in xs:
        if not isinstance(x, Tracer) and not _np.all(_np.isfinite(x)):
            raise ValueError("array must not contain infs or NaNs")


def _square(a, what):
    s = shape_of(a)
    if len(s) < 2 or s[-1] != s[-2]:
        raise ValueError(f"{what}: expected a square matrix (or a stack of them), got shape {s}")
    return s[-1]


def _rhs(b, n, what):
    """b as a stack of matrices (..., n, k), and whether it was a vector."""
    s = shape_of(b)
    if len(s) == 1:
        if s[0] != n:
            raise ValueError(f"{what}: b has {s[0]} rows, a has {n}: shapes {s} and ({n}, {n}) are incompatible")
        return _S.expand_dims(b, -1), True
    if len(s) == 0 or s[-2] != n:
        raise ValueError(f"{what}: b of shape {s} needs {n} rows (the size of a)")
    return b, False


def _unrhs(x, vector):
    return _S.squeeze(x, -1) if vector else x


def _conj_t(x):
    return _D.mH(x)


def _trans_code(trans):
    codes = {0: 0, 1: 1, 2: 2, "N": 0, "T": 1, "C": 2, "n": 0, "t": 1, "c": 2}
    if isinstance(trans, bool) or trans not in codes:
        raise ValueError(f"trans must be 0, 1, 2 or 'N', 'T', 'C', got {trans!r}")
    return codes[trans]


def _from_triangle(a, lower):
    """The Hermitian matrix whose `lower` (else upper) triangle is that of a."""
    if lower:
        return _D.tril(a) + _D.mH(_D.tril(a, -1))
    return _D.triu(a) + _D.mH(_D.triu(a, 1))


def _eye_like(a):
    n = shape_of(a)[-1]
    return _np.eye(n, dtype=_np.result_type(dtype_of(a), _np.float64))


# ------------------------------------------------------ triangular solves ---

def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
                     check_finite=True):
    """Solve ``a x = b`` (trans=1: ``a^T x = b``, 2: ``a^H x = b``) for triangular ``a``."""
    a, b = _arr(a), _arr(b)
    _check_finite(check_finite, a, b)
    n = _square(a, "solve_triangular")
    b2, vec = _rhs(b, n, "solve_triangular")
    code = _trans_code(trans)
    lower = bool(lower)
    if code:
        a, lower = (_mT(a) if code == 1 else _conj_t(a)), not lower
    return _unrhs(_T.solve_triangular(a, b2, lower, unit_diagonal), vec)


# ------------------------------------------------------------- cholesky ---

def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    """The Cholesky factor of the Hermitian positive-definite a: upper (``a = U^H U``) by
    default, as SciPy; only the `lower` (else upper) triangle of a is read."""
    a = _arr(a)
    _check_finite(check_finite, a)
    _square(a, "cholesky")
    L = _D.cholesky(_from_triangle(a, lower))
    return L if lower else _D.mH(L)


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """(c, lower) for cho_solve: the factor in one triangle of c, a's entries in the other."""
    a = _arr(a)
    c = cholesky(a, lower, check_finite=check_finite)
    return (c + (_D.triu(a, 1) if lower else _D.tril(a, -1))), bool(lower)


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """Solve ``a x = b`` given ``(c, lower) = cho_factor(a)``."""
    c, lower = c_and_lower
    c, b = _arr(c), _arr(b)
    _check_finite(check_finite, c, b)
    n = _square(c, "cho_solve")
    b2, vec = _rhs(b, n, "cho_solve")
    if lower:                                            # a = L L^H
        y = _T.solve_triangular(c, b2, True)
        x = _T.solve_triangular(_conj_t(c), y, False)
    else:                                                # a = U^H U
        y = _T.solve_triangular(_conj_t(c), b2, True)
        x = _T.solve_triangular(c, y, False)
    return _unrhs(x, vec)


# ------------------------------------------------------------------- LU ---

def lu_factor(a, overwrite_a=False, check_finite=True):
    """(lu, piv) as LAPACK's getrf: both factors packed in lu, 0-based row interchanges piv."""
    a = _arr(a)
    _check_finite(check_finite, a)
    if len(shape_of(a)) < 2:
        raise ValueError(f"lu_factor: expected a matrix (or a stack of them), got shape {shape_of(a)}")
    packed, piv, _ = _T.lu(a)
    return packed, piv


def _perm_from_piv(piv, m):
    """The row indices perm (a[perm] = L U) from the interchanges piv (traced or not)."""
    if not isinstance(piv, Tracer):
        piv = _np.asarray(piv)
        out = _np.empty(piv.shape[:-1] + (m,), _np.intp)
        for i in _np.ndindex(piv.shape[:-1]):
            out[i] = _T._perm_from_piv(piv[i], m)
        return out
    idx = _np.arange(m)
    perm = _S.broadcast_to(idx, tuple(shape_of(piv)[:-1]) + (m,))
    for i in range(shape_of(piv)[-1]):
        p = _S.getitem(piv, (Ellipsis, slice(i, i + 1)))
        at_i = _S.getitem(perm, (Ellipsis, slice(i, i + 1)))
        at_p = _S.take_along_axis(perm, p, axis=-1)
        perm = _E.select(_E.equal(idx, i), at_p, _E.select(_E.equal(idx, p), at_i, perm))
    return perm


def lu_solve(lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True):
    """Solve ``a x = b`` (trans 1: ``a^T``, 2: ``a^H``) given ``(lu, piv) = lu_factor(a)``."""
    packed, piv = lu_and_piv
    packed, b = _arr(packed), _arr(b)
    _check_finite(check_finite, packed, b)
    n = _square(packed, "lu_solve")
    b2, vec = _rhs(b, n, "lu_solve")
    code = _trans_code(trans)
    perm = _perm_from_piv(piv, n)
    if code == 0:                                        # a = P^T L U
        y = _T.solve_triangular(packed, _T.permute_rows(b2, perm), True, True)
        return _unrhs(_T.solve_triangular(packed, y, False), vec)
    t = _mT(packed) if code == 1 else _conj_t(packed)
    y = _T.solve_triangular(t, b2, True)                 # U^T y = b
    z = _T.solve_triangular(t, y, False, True)           # L^T z = y
    return _unrhs(_T.permute_rows(z, _R.argsort(perm, axis=-1)), vec)


def lu(a, permute_l=False, overwrite_a=False, check_finite=True, p_indices=False):
    """``a = p @ l @ u`` (p_indices: ``a = l[p] @ u``; permute_l: ``(p @ l, u)``)."""
    a = _arr(a)
    _check_finite(check_finite, a)
    s = shape_of(a)
    if len(s) < 2:
        raise ValueError(f"lu: expected a matrix (or a stack of them), got shape {s}")
    m, n = s[-2:]
    k = min(m, n)
    packed, _, perm = _T.lu(a)
    l_ = _D.tril(_S.getitem(packed, (Ellipsis, slice(None), slice(0, k))), -1) + _np.eye(m, k)
    u_ = _D.triu(_S.getitem(packed, (Ellipsis, slice(0, k), slice(None))))
    p = _R.argsort(perm, axis=-1)                        # a = (l u)[p]
    if permute_l:
        return _T.permute_rows(l_, p), u_
    if p_indices:
        return p, l_, u_
    pm = _S.astype(_E.equal(_S.expand_dims(p, -1), _np.arange(m)), _np.result_type(dtype_of(a), _np.float64))
    return pm, l_, u_


# ---------------------------------------------------- solve, inv, det ---

_ASSUME = {"gen": "gen", "general": "gen", "sym": "sym", "symmetric": "sym", "her": "her",
           "hermitian": "her", "pos": "pos", "positive definite": "pos", "diagonal": "diagonal",
           "upper triangular": "upper", "lower triangular": "lower"}


def _assume(assume_a, what):
    if assume_a is None:
        return "gen"
    kind = _ASSUME.get(assume_a)
    if kind is None:
        raise NotImplementedError(f"{what}: assume_a={assume_a!r} is not supported; use one of "
                                  f"{sorted(_ASSUME)} (or None: a general matrix)")
    return kind


def solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True, assume_a=None,
          transposed=False):
    """Solve ``a x = b`` using the structure `assume_a` names ('gen', 'sym', 'her', 'pos',
    'diagonal', 'upper triangular', 'lower triangular'; None: general)."""
    a, b = _arr(a), _arr(b)
    _check_finite(check_finite, a, b)
    n = _square(a, "solve")
    kind = _assume(assume_a, "solve")
    b2, vec = _rhs(b, n, "solve")
    if transposed:
        if dtype_of(a).kind == "c":
            raise NotImplementedError("solve: transposed=True is not supported for complex a (as in SciPy)")
        a, lower = _mT(a), not lower
        kind = {"upper": "lower", "lower": "upper"}.get(kind, kind)
    if kind == "gen":
        x = _D.solve(a, b2)
    elif kind in ("sym", "her"):
        x = _D.solve(_from_triangle(a, lower), b2)
    elif kind == "pos":
        x = cho_solve((cholesky(a, lower=lower, check_finite=False), lower), b2, check_finite=False)
    elif kind == "diagonal":
        x = b2 / _S.expand_dims(_D.diag_part(a), -1)
    else:
        x = _T.solve_triangular(a, b2, kind == "lower")
    return _unrhs(x, vec)


def inv(a, overwrite_a=False, check_finite=True, *, assume_a=None, lower=False):
    """The inverse of a (assume_a as in `solve`)."""
    a = _arr(a)
    _check_finite(check_finite, a)
    _square(a, "inv")
    kind = _assume(assume_a, "inv")
    if kind == "gen":
        return _D.inv(a)
    eye = _np.broadcast_to(_eye_like(a), shape_of(a))
    return solve(a, eye, lower=lower, check_finite=False, assume_a=assume_a)


def det(a, overwrite_a=False, check_finite=True):
    a = _arr(a)
    _check_finite(check_finite, a)
    _square(a, "det")
    return _D.det(a)


# ------------------------------------------------------- matrix functions ---

# (degree m, theta_m): the largest 1-norm for which the [m/m] Pade approximant of exp
# is accurate to double precision (Higham 2005, table 2.3)
_PADE_THETA = ((3, 1.495585217958292e-2), (5, 2.539398330063230e-1), (7, 9.504178996162932e-1),
               (9, 2.097847961257068e0), (13, 5.371920351148152e0))


def _pade_coefficients(m):
    """b_j of the [m/m] Pade approximant of exp: (2m - j)! m! / ((2m)! j! (m - j)!)."""
    f = math.factorial
    return [f(2 * m - j) * f(m) / (f(2 * m) * f(j) * f(m - j)) for j in range(m + 1)]


def _leq(x, y):
    """x <= y for a norm that may be traced (a control-flow read: a guard under jit)."""
    return bool(_E.less_equal(x, y)) if isinstance(x, Tracer) else bool(x <= y)


def _norm1(a):
    """The largest 1-norm over a stack of matrices, with no derivative (it picks a branch)."""
    return _R.max(_R.sum(_E.absolute(_E.stop_gradient(a)), axis=-2))


def _pade_uv(a, m, eye):
    """U (odd part) and V (even part) of the [m/m] Pade approximant at a."""
    b = _pade_coefficients(m)
    a2 = _matmul(a, a)
    if m < 13:
        powers = [eye, a2]
        while len(powers) <= m // 2:
            powers.append(_matmul(powers[-1], a2))
        u = sum((b[2 * k + 1] * powers[k] for k in range(1, m // 2 + 1)), b[1] * eye)
        v = sum((b[2 * k] * powers[k] for k in range(1, m // 2 + 1)), b[0] * eye)
        return _matmul(a, u), v
    a4 = _matmul(a2, a2)
    a6 = _matmul(a4, a2)
    u = _matmul(a6, b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye
    v = _matmul(a6, b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye
    return _matmul(a, u), v


def expm(A):
    """The matrix exponential of A (or of each matrix of a stack)."""
    a = _arr(A)
    _square(a, "expm")
    if not isinstance(a, Tracer) and a.size == 0:
        return a.copy()
    eye = _eye_like(a)
    norm = _norm1(a)
    for m, theta in _PADE_THETA[:-1]:
        if _leq(norm, theta):
            u, v = _pade_uv(a, m, eye)
            return _D.solve(v - u, v + u)
    s, theta13 = 0, _PADE_THETA[-1][1]
    while not _leq(norm, theta13 * 2.0 ** s):
        s += 1
    u, v = _pade_uv(a * 2.0 ** -s if s else a, 13, eye)
    r = _D.solve(v - u, v + u)
    for _ in range(s):
        r = _matmul(r, r)
    return r


def expm_frechet(A, E, method=None, compute_expm=True, check_finite=True):
    """(expm(A), L(A, E)), the Frechet derivative of expm at A along E, by forward mode
    (exact for the Pade approximant expm uses); only L with compute_expm=False."""
    from ..api import jvp
    if method not in (None, "SPS", "blockEnlarge"):
        raise ValueError(f"Unknown implementation {method!r} (use None, 'SPS' or 'blockEnlarge')")
    a, e = _arr(A), _arr(E)
    _check_finite(check_finite, a, e)
    if len(shape_of(a)) != 2:
        raise ValueError(f"expected A to be a square matrix, got shape {shape_of(a)}")
    _square(a, "expm_frechet")
    if shape_of(a) != shape_of(e):
        raise ValueError(f"expected A and E to be the same shape, got {shape_of(a)} and {shape_of(e)}")
    if dtype_of(e) != dtype_of(a):
        kind = _np.result_type(dtype_of(a), dtype_of(e))
        a, e = _S.astype(a, kind), _S.astype(e, kind)
    ea, l_ = jvp(expm, (a,), (e,))
    return (ea, l_) if compute_expm else l_


def sqrtm(A, disp=True, blocksize=64):
    """The principal square root of A by the scaled Denman-Beavers iteration (see the module
    docstring for what is supported).  disp=False also returns the relative residual
    ||X X - A||_F / ||A||_F, as SciPy's errest."""
    a = _arr(A)
    n = _square(a, "sqrtm")
    if not isinstance(blocksize, (int, _np.integer)) or blocksize < 1:
        raise ValueError("The blocksize should be at least 1.")
    eye = _eye_like(a)
    y, z = a, _np.broadcast_to(eye, shape_of(a)).astype(_np.result_type(dtype_of(a), _np.float64))
    scaling, converged, extra = True, False, 0
    for _ in range(100):
        if scaling:                                      # det scaling (no derivative: any scalars
            _, ly = _D.slogdet(_E.stop_gradient(y))      # keep y = a z, and so the limit)
            _, lz = _D.slogdet(_E.stop_gradient(z))
            if not _leq(_R.max(_E.absolute(ly + lz)), _np.finfo(_np.float64).max):
                break                                    # an iterate is singular: no convergence
            mu = _S.expand_dims(_E.exp(-(ly + lz) / (2 * n)), (-2, -1))
            y, z = y * mu, z * mu
        y_new = 0.5 * (y + _D.inv(z))
        z = 0.5 * (z + _D.inv(y))
        change = _norm1(y_new - y)
        size = _norm1(y_new)
        y = y_new
        if converged:
            extra += 1
            if extra == 2:                               # two more steps: the derivatives converge too
                break
        elif _leq(change, 1e-13 * size):
            converged = True
        elif scaling and _leq(change, 1e-2 * size):
            scaling = False
    if extra < 2:
        raise LinAlgError("sqrtm: the Denman-Beavers iteration did not converge; A may have an "
                          "eigenvalue on the closed negative real axis (a complex root, not supported "
                          "for real input) or be too ill-conditioned")
    if disp:
        return y
    res = _nla.norm(_matmul(y, y) - a, "fro") / _nla.norm(a, "fro") if len(shape_of(a)) == 2 else None
    return y, res


# ------------------------------------------------------- special matrices ---

def block_diag(*arrs):
    """The block-diagonal matrix of the arguments (scalars and vectors are 1-row blocks)."""
    if not arrs:
        return _np.empty((1, 0))
    blocks = []
    for x in arrs:
        x = _arr(x) if isinstance(x, Tracer) or _np.asarray(x).dtype.kind not in "biu" else _np.asarray(x)
        s = shape_of(x)
        if len(s) > 2:
            raise ValueError(f"arguments in the following positions have dimension greater than 2: shape {s}")
        blocks.append(_S.reshape(x, (1,) * (2 - len(s)) + tuple(s)) if len(s) < 2 else x)
    total = sum(shape_of(b)[1] for b in blocks)
    rows, before = [], 0
    kind = _np.result_type(*(dtype_of(b) for b in blocks))
    for b in blocks:
        r, c = shape_of(b)
        rows.append(_S.pad(_S.astype(b, kind), ((0, 0), (before, total - before - c))))
        before += c
    return _S.concatenate(rows, axis=0)


def _last_axis_vector(x, what):
    x = _arr(x) if isinstance(x, Tracer) or _np.asarray(x).dtype.kind not in "biu" else _np.asarray(x)
    if len(shape_of(x)) == 0:
        x = _S.reshape(x, (1,))
    return x


def toeplitz(c, r=None):
    """T[i, j] = c[i - j] (i >= j), r[j - i] (i < j); r defaults to conj(c).  Leading axes of
    c and r are batch axes, as in SciPy >= 1.17."""
    c = _last_axis_vector(c, "toeplitz")
    r = _E.conj(c) if r is None else _last_axis_vector(r, "toeplitz")
    m, n = shape_of(c)[-1], shape_of(r)[-1]
    batch = _np.broadcast_shapes(tuple(shape_of(c)[:-1]), tuple(shape_of(r)[:-1]))
    c = _S.broadcast_to(c, batch + (m,))
    r = _S.broadcast_to(r, batch + (n,))
    kind = _np.result_type(dtype_of(c), dtype_of(r))
    vals = _S.concatenate([_S.astype(_S.getitem(r, (Ellipsis, slice(n - 1, 0, -1))), kind),
                           _S.astype(c, kind)], axis=-1)       # r[n-1], ..., r[1], c[0], ..., c[m-1]
    idx = (n - 1) + _np.arange(m)[:, None] - _np.arange(n)[None, :]
    return _S.getitem(vals, (Ellipsis, idx))


def circulant(c):
    """C[i, j] = c[(i - j) mod n]; leading axes of c are batch axes."""
    c = _last_axis_vector(c, "circulant")
    n = shape_of(c)[-1]
    idx = (_np.arange(n)[:, None] - _np.arange(n)[None, :]) % n
    return _S.getitem(c, (Ellipsis, idx))


# ------------------------------------------------------- decompositions ---

_EIGH_DRIVERS = (None, "ev", "evd", "evr", "evx", "gv", "gvd", "gvx")


def eigh(a, b=None, *, lower=True, eigvals_only=False, overwrite_a=False, overwrite_b=False, type=1,
         check_finite=True, subset_by_index=None, subset_by_value=None, driver=None):
    """Eigenvalues (ascending) and eigenvectors of the Hermitian a, or of the pencil (a, b)
    with b positive definite (type 1: a v = w b v, 2: a b v = w v, 3: b a v = w v; b-normal
    eigenvectors).  subset_by_value is not supported (its result's shape depends on values)."""
    if subset_by_value is not None:
        raise NotImplementedError("eigh: subset_by_value is not supported (the number of eigenvalues "
                                  "would depend on the values); use subset_by_index")
    if driver not in _EIGH_DRIVERS:
        raise ValueError(f"eigh: unknown driver {driver!r}; use one of {_EIGH_DRIVERS}")
    if type not in (1, 2, 3):
        raise ValueError(f"eigh: type must be 1, 2 or 3, got {type!r}")
    a = _arr(a)
    _check_finite(check_finite, a)
    n = _square(a, "eigh")
    a = _from_triangle(a, lower)
    if b is None:
        w, v = _D.eigh(a)
    else:
        b = _arr(b)
        _check_finite(check_finite, b)
        if shape_of(b)[-2:] != (n, n):
            raise ValueError(f"eigh: wrong b dimensions {shape_of(b)}, should be ({n}, {n})")
        L = _D.cholesky(_from_triangle(b, lower))
        lh = _D.mH(L)
        if type == 1:                                    # C = L^-1 a L^-H
            c = _T.solve_triangular(L, _D.mH(_T.solve_triangular(L, a, True)), True)
        else:                                            # C = L^H a L
            c = _matmul(lh, _matmul(a, L))
        w, y = _D.eigh(_D.sym(c))
        v = _T.solve_triangular(lh, y, False) if type in (1, 2) else _matmul(L, y)
    if subset_by_index is not None:
        lo, hi = (int(i) for i in subset_by_index)
        if not 0 <= lo <= hi < n:
            raise ValueError(f"eigh: subset_by_index {tuple(subset_by_index)} must satisfy "
                             f"0 <= lo <= hi <= {n - 1}")
        w = _S.getitem(w, (Ellipsis, slice(lo, hi + 1)))
        v = _S.getitem(v, (Ellipsis, slice(None), slice(lo, hi + 1)))
    return w if eigvals_only else (w, v)


def eigvalsh(a, b=None, *, lower=True, overwrite_a=False, overwrite_b=False, type=1, check_finite=True,
             subset_by_index=None, subset_by_value=None, driver=None):
    return eigh(a, b, lower=lower, eigvals_only=True, type=type, check_finite=check_finite,
                subset_by_index=subset_by_index, subset_by_value=subset_by_value, driver=driver)


def svd(a, full_matrices=True, compute_uv=True, overwrite_a=False, check_finite=True, lapack_driver="gesdd"):
    """(U, s, Vh) or s alone, as scipy.linalg.svd (derivatives as chainrule.numpy.linalg.svd)."""
    if lapack_driver not in ("gesdd", "gesvd"):
        raise ValueError(f'lapack_driver must be "gesdd" or "gesvd", not "{lapack_driver}"')
    a = _arr(a)
    _check_finite(check_finite, a)
    out = _nla.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)
    return tuple(out) if compute_uv else out


def svdvals(a, overwrite_a=False, check_finite=True):
    return svd(a, compute_uv=False, check_finite=check_finite)


def qr(a, overwrite_a=False, lwork=None, mode="full", pivoting=False, check_finite=True):
    """Q and R (mode 'full' or 'economic'), or (R,) for mode 'r' (R of shape (M, N), as
    SciPy).  pivoting and mode 'raw' are not supported."""
    if pivoting:
        raise NotImplementedError("qr: pivoting=True is not supported")
    if mode not in ("full", "economic", "r"):
        raise NotImplementedError(f"qr: mode {mode!r} is not supported; use 'full', 'economic' or 'r'")
    if lwork is not None and (not isinstance(lwork, (int, _np.integer)) or lwork < -1):
        raise ValueError(f"qr: lwork must be None or an integer >= -1, got {lwork!r}")
    a = _arr(a)
    _check_finite(check_finite, a)
    if len(shape_of(a)) != 2:
        raise ValueError(f"qr: expected a 2-D array, got shape {shape_of(a)}")
    if mode == "r":
        m, n = shape_of(a)
        if not isinstance(a, Tracer):
            return (_np.linalg.qr(a, mode="complete")[1],)
        r = _nla.qr(a, mode="r")                         # (min(m, n), n): pad to (m, n)
        return (_S.pad(r, ((0, m - n), (0, 0))) if m > n else r,)
    q, r = _nla.qr(a, mode="complete" if mode == "full" else "reduced")
    return q, r
