"""`chainrule.numpy.linalg`: differentiable linear algebra with NumPy's signatures.

The primitives (solve, inv, det, slogdet, cholesky, eig, eigvals, eigh, svd, qr,
pinv) and their rules live in `chainrule.ops.decompositions`; norm, matrix_power and
the wide case of qr are composed from them here.  On plain arrays every
function returns what NumPy returns, except that eig and eigvals are always complex
(NumPy's dtype depends on the values).  See the decompositions module for the
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
EigResult = namedtuple("EigResult", ["eigenvalues", "eigenvectors"])
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])
QRResult = namedtuple("QRResult", ["Q", "R"])

__all__ = ["solve", "inv", "det", "slogdet", "cholesky", "eig", "eigvals", "eigh", "eigvalsh", "svd", "svdvals",
           "qr", "norm", "matrix_power", "pinv", "matrix_norm", "vector_norm", "LinAlgError",
           "lstsq", "cond", "multi_dot", "tensorsolve", "tensorinv", "matrix_rank",
           "matmul", "matrix_transpose", "vecdot", "cross", "outer", "diagonal", "trace", "tensordot"]


# NumPy 2's array-API functions in numpy.linalg: the main namespace's, over the last axes

def matmul(x1, x2):
    return _matmul(_arr(x1), _arr(x2))


def matrix_transpose(x):
    return _cnp().swapaxes(x, -1, -2)


def vecdot(x1, x2, axis=-1):
    return _cnp().vecdot(x1, x2, axis=axis)


def cross(x1, x2, axis=-1):
    return _cnp().cross(x1, x2, axis=axis)


def outer(x1, x2):
    if _np.ndim(x1) != 1 or _np.ndim(x2) != 1:
        raise ValueError(f"numpy.linalg.outer takes 1-d vectors, got shapes {shape_of(x1)} and {shape_of(x2)}")
    return _cnp().outer(x1, x2)


def diagonal(x, offset=0):
    return _cnp().diagonal(x, offset, -2, -1)


def trace(x, offset=0, dtype=None):
    if dtype is not None:
        x = _cnp().asarray(x, dtype=dtype)
    return _cnp().trace(x, offset, -2, -1)


def tensordot(x1, x2, axes=2):
    return _cnp().tensordot(x1, x2, axes=axes)


def _cnp():
    from .. import numpy      # the main namespace imports this module
    return numpy


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


def eig(a):
    """Eigenvalues and unit-norm eigenvectors of a general square matrix, always complex
    (NumPy returns real arrays when every eigenvalue is real).  The eigenvectors' phases
    are arbitrary: differentiate phase-invariant functions of them (see
    ops/decompositions.py); distinct eigenvalues are needed."""
    a = _arr(a)
    _square(a, "eig")
    return EigResult(*_D.eig(a))


def eigvals(a):
    """The eigenvalues of a general square matrix, always complex."""
    a = _arr(a)
    _square(a, "eigvals")
    return _D.eigvals(a)


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


# ------------------------------------------------- composed from the above ---

def lstsq(a, b, rcond=None):
    """(x, residuals, rank, s) as numpy.linalg.lstsq; x = pinv(a, rcond) @ b, differentiable
    where the rank (fixed by the cutoff rcond * largest singular value; default
    max(m, n) * eps) is locally constant.  rank is a plain int."""
    a, b = _arr(a), _arr(b)
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) != 2:
        raise LinAlgError(f"lstsq: a must be two-dimensional, got shape {sa}")
    if len(sb) not in (1, 2) or sb[0] != sa[0]:
        raise LinAlgError(f"lstsq: incompatible dimensions: a {sa}, b {sb} (b needs {sa[0]} rows)")
    if not isinstance(a, Tracer) and not isinstance(b, Tracer):
        return _np.linalg.lstsq(a, b, rcond=rcond)
    m, n = sa
    if rcond is None:
        rcond = _np.finfo(_np.float64).eps * max(m, n)
    s = _D.svdvals(a)
    rank = int(_R.sum(_E.greater(s, rcond * _R.max(s)))) if min(m, n) else 0
    x = _matmul(pinv(a, rcond), b)
    if rank == n and m > n:
        r = b - _matmul(a, x)
        res = _R.sum(_abs2(r), axis=0)
        res = _S.reshape(res, (1,)) if len(sb) == 1 else res
    else:
        res = _np.empty((0,), _np.float64)
    return x, res, rank, s


def cond(x, p=None):
    """The condition number in norm p (None, 2, -2: ratio of singular values; 'fro', 'nuc',
    1, -1, inf, -inf: norm(x, p) * norm(inv(x), p))."""
    x = _arr(x)
    if len(shape_of(x)) < 2:
        raise LinAlgError(f"cond: the array must be at least two-dimensional, got shape {shape_of(x)}")
    if not isinstance(x, Tracer):
        return _np.linalg.cond(x, p)
    if p is None or p in (2, -2):
        s = _D.svdvals(x)
        hi, lo = _R.max(s, axis=-1), _R.min(s, axis=-1)
        return hi / lo if p != -2 else lo / hi
    if p not in ("fro", "nuc", 1, -1, _np.inf, -_np.inf):
        raise ValueError(f"cond: invalid norm order {p!r}")
    _square(x, "cond")
    return _matrix_norm(x, p, (-2, -1), False) * _matrix_norm(inv(x), p, (-2, -1), False)


def _chain_order(dims):
    """The cheapest parenthesisation of a matrix chain with shapes dims[i] x dims[i+1]
    (dynamic programming over split points): split[i][j] for the product i..j."""
    k = len(dims) - 1
    cost = [[0.0] * k for _ in range(k)]
    split = [[0] * k for _ in range(k)]
    for length in range(1, k):
        for i in range(k - length):
            j = i + length
            cost[i][j] = _np.inf
            for s in range(i, j):
                c = cost[i][s] + cost[s + 1][j] + dims[i] * dims[s + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, s
    return split


def multi_dot(arrays, *, out=None):
    """The product of a chain of matrices in the cheapest order (the first and last may be
    vectors, as in NumPy)."""
    if out is not None:
        raise TypeError("multi_dot: out= is not supported (the result is returned)")
    arrays = [_arr(x) for x in arrays]
    if len(arrays) < 2:
        raise ValueError("Expecting at least two arrays.")
    first, last = len(shape_of(arrays[0])), len(shape_of(arrays[-1]))
    if first == 1:
        arrays[0] = _S.reshape(arrays[0], (1, -1))
    if last == 1:
        arrays[-1] = _S.reshape(arrays[-1], (-1, 1))
    for i, x in enumerate(arrays):
        if len(shape_of(x)) != 2:
            raise LinAlgError(f"multi_dot: array {i} has {len(shape_of(x))} dimensions; matrices are needed "
                              "(vectors only first or last)")
    dims = [shape_of(arrays[0])[0]] + [shape_of(x)[1] for x in arrays]
    for i in range(len(arrays) - 1):
        if shape_of(arrays[i])[1] != shape_of(arrays[i + 1])[0]:
            raise ValueError(f"multi_dot: shapes {shape_of(arrays[i])} and {shape_of(arrays[i + 1])} "
                             f"(arrays {i} and {i + 1}) are not aligned")
    split = _chain_order(dims)

    def prod(i, j):
        return arrays[i] if i == j else _matmul(prod(i, split[i][j]), prod(split[i][j] + 1, j))
    res = prod(0, len(arrays) - 1)
    if first == 1 and last == 1:
        return _S.reshape(res, ())
    if first == 1:
        return _S.reshape(res, (-1,))
    if last == 1:
        return _S.reshape(res, (-1,))
    return res


def tensorsolve(a, b, axes=None):
    """x with tensordot(a, x, x.ndim) = b, as numpy.linalg.tensorsolve."""
    a, b = _arr(a), _arr(b)
    nd = len(shape_of(a))
    if axes is not None:
        axes = [_S.normalize_axis(ax, nd) for ax in axes]
        rest = [k for k in range(nd) if k not in axes]
        a = _S.transpose(a, tuple(rest + axes))
    sa, sb = shape_of(a), shape_of(b)
    x_shape = tuple(sa[len(sb):])
    if tuple(sa[:len(sb)]) != tuple(sb):
        raise LinAlgError(f"tensorsolve: the leading dimensions of a {sa} must be b's shape {sb}")
    rows, cols = int(_np.prod(sb)), int(_np.prod(x_shape))
    if rows != cols:
        raise LinAlgError(f"tensorsolve: a's shape {sa} does not give a square matrix ({rows} x {cols})")
    return _S.reshape(solve(_S.reshape(a, (rows, cols)), _S.reshape(b, (rows,))), x_shape)


def tensorinv(a, ind=2):
    """The inverse of a with respect to tensordot over its first `ind` axes."""
    a = _arr(a)
    if not isinstance(ind, (int, _np.integer)) or ind <= 0:
        raise ValueError("Invalid ind argument.")
    s = tuple(shape_of(a))
    rows, cols = int(_np.prod(s[:ind])), int(_np.prod(s[ind:]))
    if rows != cols:
        raise LinAlgError(f"tensorinv: a's shape {s} with ind={ind} does not give a square matrix")
    return _S.reshape(inv(_S.reshape(a, (rows, cols))), s[ind:] + s[:ind])


def matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    """The number of singular values above tol (default rtol * largest, rtol = max(m, n) *
    eps), as numpy.linalg.matrix_rank.  Not differentiable: the result carries no derivative."""
    A = _arr(A)
    if not isinstance(A, Tracer):
        return _np.linalg.matrix_rank(A, tol, hermitian, rtol=rtol)
    if tol is not None and rtol is not None:
        raise ValueError("`tol` and `rtol` can't be both set.")
    A = _E.stop_gradient(A)
    if len(shape_of(A)) < 2:
        return _S.astype(_R.any(_E.not_equal(A, 0)), _np.intp)
    s = _E.absolute(eigvalsh(A)) if hermitian else _D.svdvals(A)
    if tol is None:
        if rtol is None:
            rtol = max(shape_of(A)[-2:]) * _np.finfo(_np.float64).eps
        tol = _R.max(s, axis=-1, keepdims=True) * rtol
    else:
        tol = _S.expand_dims(tol, -1) if len(shape_of(tol)) else tol
    return _R.sum(_S.astype(_E.greater(s, tol), _np.intp), axis=-1)
