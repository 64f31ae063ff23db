"""`chainrule.numpy.linalg`: differentiable linear algebra with NumPy's signatures.

The primitives (solve, inv, det, slogdet, cholesky, eigh, svd, qr, pinv) and
their rules live in `chainrule.ops.decompositions`; norm, matrix_power and
the wide case of qr are composed from them here.  On plain arrays every
function returns what NumPy returns.  See the decompositions module for the
conventions (symmetric tangents for cholesky and eigh, real-only derivatives
of eigh, svd and qr).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as _np

from ..core import Tracer, shape_of, dtype_of
from ..ops import decompositions as _D
from ..ops import elementwise as _E, reductions as _R, shape as _S
from ..ops.linalg import matmul as _matmul

LinAlgError = _np.linalg.LinAlgError

SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])
EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])
QRResult = namedtuple("QRResult", ["Q", "R"])

__all__ = ["solve", "inv", "det", "slogdet", "cholesky", "eigh", "eigvalsh", "svd", "svdvals",
           "qr", "norm", "matrix_power", "pinv", "matrix_norm", "vector_norm", "LinAlgError"]


def _arr(x):
    """A traced value as is; anything else as a floating (or complex) NumPy array."""
    if isinstance(x, (list, tuple)):
        from . import asarray          # lists holding traced values stack into one
        x = asarray(x)
    if isinstance(x, Tracer):
        return x
    x = _np.asarray(x)
    return x.astype(_np.float64) if x.dtype.kind in "biu" else x


def _square(a, what):
    s = shape_of(a)
    if len(s) < 2 or s[-1] != s[-2]:
        raise LinAlgError(f"{what}: last 2 dimensions of the array must be square, got shape {s}")


# ------------------------------------------------------------- solvers ---

def solve(a, b):
    """Solve ``a @ x = b``; `b` is a vector (b.ndim == 1) or a stack of matrices (NumPy 2)."""
    a, b = _arr(a), _arr(b)
    _square(a, "solve")
    if len(shape_of(b)) == 1:
        return _S.squeeze(_D.solve(a, _S.expand_dims(b, -1)), -1)
    return _D.solve(a, b)


def inv(a):
    a = _arr(a)
    _square(a, "inv")
    return _D.inv(a)


def det(a):
    a = _arr(a)
    _square(a, "det")
    return _D.det(a)


def slogdet(a):
    a = _arr(a)
    _square(a, "slogdet")
    return SlogdetResult(*_D.slogdet(a))


_NOVALUE = object()


def pinv(a, rcond=None, hermitian=False, *, rtol=_NOVALUE):
    """Pseudo-inverse; singular values <= rcond * largest are dropped (default 1e-15,
    or max(m, n) * eps with rtol=None, as in NumPy).  Its derivative (Golub and
    Pereyra's) holds where the rank, fixed by the cutoff, is locally constant."""
    a = _arr(a)
    if rcond is not None and rtol is not _NOVALUE:
        raise ValueError("pinv: pass rcond or rtol, not both")
    if rcond is None:
        if rtol is _NOVALUE:
            rcond = 1e-15
        elif rtol is None:
            rcond = max(shape_of(a)[-2:]) * _np.finfo(_np.float64).eps
        else:
            rcond = rtol
    return _D.pinv(a, _np.asarray(rcond, dtype=_np.float64))


def matrix_power(a, n):
    """``a`` to the integer power ``n`` by repeated squaring (n < 0 inverts first)."""
    a = _arr(a)
    _square(a, "matrix_power")
    if not isinstance(a, Tracer):
        return _np.linalg.matrix_power(a, n)
    n = int(n)
    if n == 0:
        return _np.broadcast_to(_np.eye(shape_of(a)[-1], dtype=dtype_of(a)), shape_of(a)).copy()
    if n < 0:
        a, n = inv(a), -n
    result, base = None, a
    while True:
        if n & 1:
            result = base if result is None else _matmul(result, base)
        n >>= 1
        if not n:
            return result
        base = _matmul(base, base)


# ------------------------------------------------------- decompositions ---

def cholesky(a, upper=False):
    a = _arr(a)
    _square(a, "cholesky")
    L = _D.cholesky(a)
    return _D.mH(L) if upper else L


def eigh(a, UPLO="L"):
    a = _arr(a)
    _square(a, "eigh")
    return EighResult(*_D.eigh(a, UPLO))


def eigvalsh(a, UPLO="L"):
    return eigh(a, UPLO)[0]


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """As numpy.linalg.svd.  Derivatives of U and Vh need full_matrices=False
    (or a square matrix); compute_uv=False gives the singular values alone."""
    a = _arr(a)
    if len(shape_of(a)) < 2:
        raise LinAlgError("svd: the array must be at least two-dimensional")
    if not compute_uv:
        return _D.svdvals(a)
    return SVDResult(*_D.svd(a, full_matrices, hermitian))


def svdvals(x):
    return svd(x, compute_uv=False)


def qr(a, mode="reduced"):
    """As numpy.linalg.qr for modes 'reduced', 'complete' (m <= n or square) and 'r'.

    A wide matrix ``[X | Y]`` (m < n) is ``Q [R_X | Q^T Y]`` with ``Q R_X = qr(X)``.
    """
    a = _arr(a)
    if len(shape_of(a)) < 2:
        raise LinAlgError("qr: the array must be at least two-dimensional")
    if not isinstance(a, Tracer):
        return _np.linalg.qr(a, mode=mode)
    m, n = shape_of(a)[-2:]
    if mode == "complete" and m > n:
        raise NotImplementedError("qr(mode='complete') of a tall matrix is not differentiable "
                                  "(its extra columns are not unique); use mode='reduced'")
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"qr: unsupported mode {mode!r} (use 'reduced', 'complete' or 'r')")
    if m >= n:
        q, r = _D.qr(a)
    else:
        q, r_x = _D.qr(_S.getitem(a, (Ellipsis, slice(None), slice(0, m))))
        r = _S.concatenate([r_x, _matmul(_D.mH(q), _S.getitem(a, (Ellipsis, slice(None), slice(m, None))))],
                           axis=-1)
    return r if mode == "r" else QRResult(q, r)


# ---------------------------------------------------------------- norms ---

def _abs2(x):
    return _E.real(x * _E.conj(x)) if dtype_of(x).kind == "c" else x * x


def _safe_root(s, p=2.0):
    """s ** (1/p), with derivative 0 (not inf or nan) where s == 0."""
    zero = _E.equal(s, 0.0)
    s_safe = _E.select(zero, _np.ones(shape_of(s), dtype_of(s)), s)
    root = _E.sqrt(s_safe) if p == 2.0 else _E.power(s_safe, 1.0 / p)
    return _E.select(zero, _np.zeros(shape_of(s), dtype_of(root)), root)


def _vector_norm(x, ord, axis, keepdims):
    if ord is None or ord == 2:
        return _safe_root(_R.sum(_abs2(x), axis=axis, keepdims=keepdims))
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order {ord!r} for vectors")
    if ord == _np.inf:
        return _R.max(_E.absolute(x), axis=axis, keepdims=keepdims)
    if ord == -_np.inf:
        return _R.min(_E.absolute(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        real = _np.empty(0, dtype_of(x)).real.dtype
        return _R.sum(_S.astype(_E.not_equal(x, 0), real), axis=axis, keepdims=keepdims)
    if ord == 1:
        return _R.sum(_E.absolute(x), axis=axis, keepdims=keepdims)
    ord = float(ord)
    ax = _E.absolute(x)
    return _safe_root(_R.sum(_E.power(ax, ord), axis=axis, keepdims=keepdims), ord)


def _matrix_norm(x, ord, axes, keepdims):
    nd = len(shape_of(x))
    r, c = (_S.normalize_axis(a, nd) for a in axes)
    if r == c:
        raise ValueError("Duplicate axes given.")
    if ord is None or ord in ("fro", "f"):
        res = _safe_root(_R.sum(_abs2(x), axis=(r, c), keepdims=True))
    elif ord in (2, -2, "nuc"):
        s = _D.svdvals(_S.transpose(x, tuple(i for i in range(nd) if i not in (r, c)) + (r, c)))
        res = _R.sum(s, axis=-1) if ord == "nuc" else (_R.max(s, axis=-1) if ord == 2 else _R.min(s, axis=-1))
        return _S.reshape(res, _kept_shape(x, (r, c))) if keepdims else res
    elif ord in (1, -1):
        col_sums = _R.sum(_E.absolute(x), axis=r, keepdims=True)
        res = (_R.max if ord == 1 else _R.min)(col_sums, axis=c, keepdims=True)
    elif ord in (_np.inf, -_np.inf):
        row_sums = _R.sum(_E.absolute(x), axis=c, keepdims=True)
        res = (_R.max if ord == _np.inf else _R.min)(row_sums, axis=r, keepdims=True)
    else:
        raise ValueError(f"Invalid norm order {ord!r} for matrices")
    return res if keepdims else _S.reshape(res, tuple(n for i, n in enumerate(shape_of(x)) if i not in (r, c)))


def _kept_shape(x, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(shape_of(x)))


def norm(x, ord=None, axis=None, keepdims=False):
    """As numpy.linalg.norm.  The 2-norm (and Frobenius norm) has gradient 0 at x = 0."""
    x = _arr(x)
    if not isinstance(x, Tracer):
        return _np.linalg.norm(x, ord, axis, keepdims)
    nd = len(shape_of(x))
    if axis is None:
        if ord is None or (ord in ("f", "fro") and nd == 2) or (ord == 2 and nd == 1):
            res = _safe_root(_R.sum(_abs2(x)))
            return _S.reshape(res, (1,) * nd) if keepdims else res
        axis = tuple(range(nd))
    elif not isinstance(axis, (tuple, list)):
        axis = (int(axis),)
    axis = tuple(axis)
    if len(axis) == 1:
        return _vector_norm(x, ord, axis[0], keepdims)
    if len(axis) == 2:
        return _matrix_norm(x, ord, axis, keepdims)
    raise ValueError("Improper number of dimensions to norm.")


def vector_norm(x, *, axis=None, keepdims=False, ord=2):
    """The array-API vector norm (axis=None: over all entries)."""
    x = _arr(x)
    if not isinstance(x, Tracer) and hasattr(_np.linalg, "vector_norm"):
        return _np.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord)
    if axis is None:
        res = _vector_norm(_S.reshape(x, (-1,)), ord, 0, False)
        return _S.reshape(res, (1,) * len(shape_of(x))) if keepdims else res
    if isinstance(axis, (tuple, list)) and len(axis) > 1:
        nd = len(shape_of(x))
        axes = tuple(_S.normalize_axis(a, nd) for a in axis)
        rest = tuple(i for i in range(nd) if i not in axes)
        xt = _S.transpose(x, rest + axes)
        res = _vector_norm(_S.reshape(xt, tuple(shape_of(x)[i] for i in rest) + (-1,)), ord, -1, False)
        return _S.reshape(res, _kept_shape(x, axes)) if keepdims else res
    axis = axis[0] if isinstance(axis, (tuple, list)) else axis
    return _vector_norm(x, ord, axis, keepdims)


def matrix_norm(x, *, keepdims=False, ord="fro"):
    """The array-API matrix norm over the last two axes."""
    x = _arr(x)
    if not isinstance(x, Tracer) and hasattr(_np.linalg, "matrix_norm"):
        return _np.linalg.matrix_norm(x, keepdims=keepdims, ord=ord)
    return _matrix_norm(x, ord, (-2, -1), keepdims)
