"""A compressed-sparse-row matrix whose values may be traced.

The sparsity pattern (`indices`, `indptr`, `shape`) is static NumPy data; the values
`data` are an array that chainrule may differentiate, vmap or jit.  Products with dense
vectors and matrices are a gather (``x[indices]``) and a segment sum into the rows
(`index_add`), so they are differentiable in both `data` and the vector with no primitive
of their own; the transpose is a permutation of `data` (exact, duplicates kept).
"""
from __future__ import annotations

import numpy as _np

from ... import numpy as cnp
from ...core import Tracer, dtype_of, shape_of
from ...tree_util import register_pytree_node

__all__ = ["csr_matrix", "csr_array", "issparse"]


class _Pattern:
    """The static part of a CSR matrix: `indices`, `indptr`, `shape`, and the row of each
    stored entry.  Hashable by content (a pytree's auxiliary data, a cache key)."""

    __slots__ = ("shape", "indices", "indptr", "rows", "_hash", "_transpose")

    def __init__(self, indices, indptr, shape):
        indices = _np.asarray(indices)
        indptr = _np.asarray(indptr)
        if indices.ndim != 1 or indptr.ndim != 1:
            raise ValueError(f"csr_matrix: indices and indptr must be 1-D, got shapes "
                             f"{indices.shape} and {indptr.shape}")
        if not (_np.issubdtype(indices.dtype, _np.integer) and _np.issubdtype(indptr.dtype, _np.integer)):
            raise TypeError(f"csr_matrix: indices and indptr must be integer arrays, got "
                            f"{indices.dtype} and {indptr.dtype}")
        m, n = (int(s) for s in shape)
        if indptr.size != m + 1:
            raise ValueError(f"csr_matrix: indptr has {indptr.size} entries; a matrix of shape "
                             f"{(m, n)} needs {m + 1} (one more than the number of rows)")
        if indptr[0] != 0 or indptr[-1] != indices.size or _np.any(_np.diff(indptr) < 0):
            raise ValueError(f"csr_matrix: indptr must rise from 0 to nnz = {indices.size}, "
                             f"got {indptr[0]} .. {indptr[-1]}")
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            raise ValueError(f"csr_matrix: column indices must lie in [0, {n}) for shape {(m, n)}, "
                             f"got {indices.min()} .. {indices.max()}")
        self.shape = (m, n)
        self.indices = indices.astype(_np.intp)
        self.indptr = indptr.astype(_np.intp)
        self.rows = _np.repeat(_np.arange(m, dtype=_np.intp), _np.diff(self.indptr))
        self.indices.flags.writeable = self.indptr.flags.writeable = self.rows.flags.writeable = False
        self._hash = hash((self.shape, self.indices.tobytes(), self.indptr.tobytes()))
        self._transpose = None

    @property
    def nnz(self):
        return self.indices.size

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        return (self is other or isinstance(other, _Pattern) and self._hash == other._hash
                and self.shape == other.shape and _np.array_equal(self.indices, other.indices)
                and _np.array_equal(self.indptr, other.indptr))

    def transpose(self):
        """(pattern of A^T, perm): A^T's data is ``data[perm]``."""
        if self._transpose is None:
            m, n = self.shape
            perm = _np.lexsort((self.rows, self.indices))       # by column, then row
            indptr = _np.concatenate([[0], _np.cumsum(_np.bincount(self.indices, minlength=n))])
            self._transpose = (_Pattern(self.rows[perm], indptr, (n, m)), perm)
        return self._transpose


def _concrete(x):
    return x.concrete() if isinstance(x, Tracer) else x


def _float_data(data, what):
    if isinstance(data, Tracer):
        if not _np.issubdtype(data.dtype, _np.inexact):
            data = data.astype(float)
    else:
        data = _np.asarray(data)
        if not _np.issubdtype(data.dtype, _np.inexact):
            data = data.astype(float)
    if _np.issubdtype(dtype_of(data), _np.complexfloating):
        raise TypeError(f"{what}: complex values are not supported; use real data")
    return data


def _from_coo(data, row, col, shape):
    row, col = _np.asarray(row, dtype=_np.intp), _np.asarray(col, dtype=_np.intp)
    if row.shape != col.shape or row.ndim != 1:
        raise ValueError(f"csr_matrix: row and col must be 1-D of one shape, got {row.shape} and {col.shape}")
    if shape is None:
        shape = (int(row.max()) + 1 if row.size else 0, int(col.max()) + 1 if col.size else 0)
    if row.size and (row.min() < 0 or row.max() >= shape[0]):
        raise ValueError(f"csr_matrix: row indices must lie in [0, {shape[0]}), got {row.min()} .. {row.max()}")
    order = _np.lexsort((col, row))
    indptr = _np.concatenate([[0], _np.cumsum(_np.bincount(row, minlength=shape[0]))])
    return data[order] if order.size else data, col[order], indptr, shape


class csr_matrix:
    """A CSR matrix with a static pattern and values `data` that may be traced.

    ``csr_matrix((data, indices, indptr), shape)``, ``csr_matrix((data, (row, col)), shape)``,
    ``csr_matrix(scipy_sparse_matrix)`` or ``csr_matrix(dense_numpy_array)`` (its nonzeros).
    ``A @ x`` (`dot`) with a dense vector or matrix is differentiable in `data` and `x`;
    `.T`, `.todense()`, scalar products and `.to_scipy()` (values only) are provided.
    """

    __array_ufunc__ = None          # NumPy defers `ndarray @ A` to __rmatmul__
    __array_priority__ = 1000
    ndim = 2

    def __init__(self, arg1, shape=None, dtype=None):
        if isinstance(arg1, csr_matrix):
            data, pattern = arg1.data, arg1.pattern
        elif _is_scipy_sparse(arg1):
            s = arg1.tocsr()
            data, pattern = s.data.copy(), _Pattern(s.indices, s.indptr, s.shape)
        elif isinstance(arg1, tuple) and len(arg1) == 3:
            data, indices, indptr = arg1
            if shape is None:
                indices = _np.asarray(indices)
                shape = (len(indptr) - 1, int(indices.max()) + 1 if indices.size else 0)
            pattern = _Pattern(indices, indptr, shape)
        elif isinstance(arg1, tuple) and len(arg1) == 2 and isinstance(arg1[1], tuple) and len(arg1[1]) == 2:
            data, (row, col) = arg1
            data = _float_data(data, "csr_matrix")
            data, indices, indptr, shape = _from_coo(data, row, col, shape)
            pattern = _Pattern(indices, indptr, shape)
        elif isinstance(arg1, _np.ndarray) and arg1.ndim == 2:
            import scipy.sparse as sp
            s = sp.csr_matrix(arg1)
            data, pattern = s.data.copy(), _Pattern(s.indices, s.indptr, s.shape)
        elif isinstance(arg1, Tracer):
            raise TypeError("csr_matrix: a traced dense matrix has no fixed pattern; give "
                            "(data, indices, indptr) with the traced values as data")
        else:
            raise TypeError(f"csr_matrix: expected (data, indices, indptr), (data, (row, col)), a "
                            f"scipy.sparse matrix or a 2-D NumPy array, got {type(arg1).__name__}")
        if shape is not None and tuple(int(s) for s in shape) != pattern.shape:
            raise ValueError(f"csr_matrix: shape {tuple(shape)} does not match the matrix's {pattern.shape}")
        data = _float_data(data, "csr_matrix")
        if dtype is not None:
            data = data.astype(dtype)
        if tuple(shape_of(data)) != (pattern.nnz,):
            raise ValueError(f"csr_matrix: data has shape {tuple(shape_of(data))} but the pattern "
                             f"stores {pattern.nnz} entries: data must have shape ({pattern.nnz},)")
        self.data, self.pattern = data, pattern

    @classmethod
    def _make(cls, data, pattern):
        A = object.__new__(cls)
        A.data, A.pattern = data, pattern
        return A

    # ------------------------------------------------------------ attributes ---
    shape = property(lambda self: self.pattern.shape)
    nnz = property(lambda self: self.pattern.nnz)
    indices = property(lambda self: self.pattern.indices)
    indptr = property(lambda self: self.pattern.indptr)
    dtype = property(lambda self: dtype_of(self.data))

    def __repr__(self):
        return f"<chainrule csr_matrix of shape {self.shape} with {self.nnz} stored entries>"

    # ------------------------------------------------------------ operations ---
    def transpose(self):
        pattern, perm = self.pattern.transpose()
        return csr_matrix._make(cnp.take(self.data, perm) if perm.size else self.data, pattern)

    T = property(transpose)

    def todense(self):
        """The dense matrix (differentiable in `data`)."""
        m, n = self.shape
        out = cnp.zeros((m, n), dtype=self.dtype)
        if not self.nnz:
            return out
        return cnp.at(out)[(self.pattern.rows, self.pattern.indices)].add(self.data)

    toarray = todense

    def dot(self, x):
        """``A @ x`` for a dense vector (n,) or matrix (n, k)."""
        return spmv(self.data, self.pattern, x)

    def __matmul__(self, x):
        if isinstance(x, csr_matrix) or _is_scipy_sparse(x):
            return NotImplemented
        return self.dot(x)

    def __rmatmul__(self, x):
        if shape_of(x) and len(shape_of(x)) == 1:
            return self.T.dot(x)
        return cnp.swapaxes(self.T.dot(cnp.swapaxes(x, -1, -2)), -1, -2)

    def __mul__(self, s):
        if shape_of(s) != ():
            raise TypeError("csr_matrix: * multiplies by a scalar only; use @ for products")
        return csr_matrix._make(self.data * s, self.pattern)

    __rmul__ = __mul__

    def __truediv__(self, s):
        return self * (1.0 / s)

    def __neg__(self):
        return csr_matrix._make(-self.data, self.pattern)

    def tocsr(self):
        return self

    def to_scipy(self):
        """The scipy.sparse.csr_matrix of the current values (not differentiable)."""
        import scipy.sparse as sp
        return sp.csr_matrix((_np.asarray(_concrete(self.data)), self.indices, self.indptr), shape=self.shape)


csr_array = csr_matrix


def spmv(data, pattern, x):
    """``A @ x`` from A's values and pattern: gather ``x[indices]``, add into the rows."""
    m, n = pattern.shape
    xs = tuple(shape_of(x))
    if len(xs) not in (1, 2) or xs[0] != n:
        raise ValueError(f"sparse matrix of shape {(m, n)} times an array of shape {xs}: the "
                         f"array must have shape ({n},) or ({n}, k)")
    dt = _np.result_type(dtype_of(data), dtype_of(x), _np.float64)
    out = cnp.zeros((m,) + xs[1:], dtype=dt)
    if not pattern.nnz:
        return out
    g = cnp.take(x, pattern.indices, axis=0)
    prod = (data if len(xs) == 1 else cnp.expand_dims(data, 1)) * g
    return cnp.at(out)[pattern.rows].add(prod)


def _is_scipy_sparse(x):
    try:
        import scipy.sparse as sp
    except ImportError:             # pragma: no cover
        return False
    return sp.issparse(x)


def issparse(x):
    """True for a chainrule csr_matrix or a scipy.sparse matrix."""
    return isinstance(x, csr_matrix) or _is_scipy_sparse(x)


register_pytree_node(csr_matrix, lambda A: ((A.data,), A.pattern),
                     lambda pattern, children: csr_matrix._make(children[0], pattern))
