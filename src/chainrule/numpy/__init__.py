"""`chainrule.numpy`: a NumPy-compatible namespace whose functions are differentiable.

Every name here is defined explicitly.  On plain NumPy values the functions
return plain NumPy results; on traced values they record the primitives the
transformations need.  Traced values also implement `__array_ufunc__` and
`__array_function__`, so plain `numpy` code dispatches here unchanged.
"""
from __future__ import annotations

import builtins
import math

import numpy as _np
from numpy import (  # noqa: F401  constants and dtypes, re-exported as in NumPy
    pi, e, inf, nan, newaxis, float16, float32, float64, complex64, complex128,
    int8, int16, int32, int64, uint8, bool_, ndarray, finfo, iinfo, result_type,
    issubdtype, floating, integer, inexact, complexfloating, number,
)

from ..core import Tracer, shape_of, dtype_of, concrete
from ..ops import elementwise as _E, reductions as _R, shape as _S, linalg as _L, special as _special

# re-exported like the names above, but assigned: many functions below take NumPy's `dtype=`
# parameter, which would shadow an imported name (ruff F811)
dtype = _np.dtype

# ------------------------------------------------------ elementwise math ---
sin, cos, tan = _E.sin, _E.cos, _E.tan
arcsin, arccos, arctan = _E.arcsin, _E.arccos, _E.arctan
sinh, cosh, tanh = _E.sinh, _E.cosh, _E.tanh
arcsinh, arccosh, arctanh = _E.arcsinh, _E.arccosh, _E.arctanh
exp, exp2, expm1 = _E.exp, _E.exp2, _E.expm1
log, log2, log10, log1p = _E.log, _E.log2, _E.log10, _E.log1p
sqrt, cbrt = _E.sqrt, _E.cbrt
negative, absolute, sign = _E.negative, _E.absolute, _E.sign
floor, ceil, trunc, rint = _E.floor, _E.ceil, _E.trunc, _E.round
real, imag, conj, conjugate = _E.real, _E.imag, _E.conj, _E.conj
isnan, isinf, isfinite = _E.isnan, _E.isinf, _E.isfinite
add, subtract, multiply, divide, true_divide = _E.add, _E.subtract, _E.multiply, _E.divide, _E.divide
power, arctan2, hypot, logaddexp = _E.power, _E.arctan2, _E.hypot, _E.logaddexp
maximum, minimum, remainder, mod = _E.maximum, _E.minimum, _E.remainder, _E.remainder
fmax, fmin = _E.fmax, _E.fmin
floor_divide = _E.floor_divide
less, less_equal, greater, greater_equal = _E.less, _E.less_equal, _E.greater, _E.greater_equal
equal, not_equal = _E.equal, _E.not_equal
logical_and, logical_or, logical_xor, logical_not = (
    _E.logical_and, _E.logical_or, _E.logical_xor, _E.logical_not)
stop_gradient = _E.stop_gradient
abs = absolute  # noqa: A001


def round(x, decimals=0):  # noqa: A001
    return _E.round(x, decimals)


around = round


def positive(x):
    return x


def square(x):
    return multiply(x, x)


def reciprocal(x):
    return divide(1.0, x)


def float_power(x, y):
    return power(astype(x, _np.float64), y)


def logaddexp2(x, y):
    return logaddexp(x * math.log(2.0), y * math.log(2.0)) / math.log(2.0)


def deg2rad(x):
    return x * (pi / 180.0)


def rad2deg(x):
    return x * (180.0 / pi)


radians, degrees = deg2rad, rad2deg

sinc = _special.sinc


def where(condition, x=None, y=None):
    """`numpy.where(c, x, y)`: derivatives flow only through the chosen side."""
    if x is None and y is None:
        return nonzero(condition)
    return _E.select(condition, x, y)


def clip(a, a_min=None, a_max=None, *, min=None, max=None):  # noqa: A002  (NumPy 2's names)
    """np.clip; NumPy 2's `min=`/`max=` keywords or the older `a_min`/`a_max`."""
    a_min = min if a_min is None else a_min
    a_max = max if a_max is None else a_max
    if a_min is not None:
        a = maximum(a, a_min)
    if a_max is not None:
        a = minimum(a, a_max)
    return a


def nonzero(x):
    return _np.nonzero(_np.asarray(concrete(x)))


# ------------------------------------------------------------ reductions ---
sum, prod, max, min = _R.sum, _R.prod, _R.max, _R.min  # noqa: A001
amax, amin = max, min
cumsum, cumprod = _R.cumsum, _R.cumprod
argmax, argmin, argsort, sort = _R.argmax, _R.argmin, _R.argsort, _R.sort
any, all = _R.any, _R.all  # noqa: A001


def mean(x, axis=None, keepdims=False, dtype=None, *, where=None):
    """`numpy.mean`; with `where=` the mean of the selected entries (sum over count), and the
    derivative reaches only those (an empty selection gives nan, as in NumPy)."""
    if where is True:
        where = None
    s = sum(x, axis=axis, keepdims=keepdims, dtype=dtype, where=where)
    if dtype_of(s).kind in "biu":
        s = astype(s, _np.float64)
    if where is not None:
        count_dtype = _np.finfo(dtype_of(s)).dtype        # real, so a complex mean stays complex
        selected = astype(broadcast_to(where, shape_of(x)), count_dtype)
        return s / sum(selected, axis=axis, keepdims=keepdims)
    axes = _R.normalize_axes(x, axis)
    n = int(_np.prod([shape_of(x)[a] for a in axes], dtype=_np.int64))
    return s / n


def var(x, axis=None, ddof=0, keepdims=False):
    axes = _R.normalize_axes(x, axis)
    n = int(_np.prod([shape_of(x)[a] for a in axes], dtype=_np.int64))
    d = x - mean(x, axis=axis, keepdims=True)
    d2 = real(d * conj(d)) if dtype_of(x).kind == "c" else d * d
    return sum(d2, axis=axis, keepdims=keepdims) / (n - ddof)


def std(x, axis=None, ddof=0, keepdims=False):
    return sqrt(var(x, axis=axis, ddof=ddof, keepdims=keepdims))


def average(x, axis=None, weights=None, keepdims=False):
    if weights is None:
        return mean(x, axis=axis, keepdims=keepdims)
    w = broadcast_to(weights, shape_of(x)) if shape_of(weights) != shape_of(x) and axis is None else weights
    if axis is not None and len(shape_of(w)) == 1 and len(shape_of(x)) > 1:
        ax = _S.normalize_axis(axis, len(shape_of(x)))
        w = reshape(w, tuple(-1 if i == ax else 1 for i in range(len(shape_of(x)))))
    return sum(x * w, axis=axis, keepdims=keepdims) / sum(broadcast_to(w, shape_of(x)), axis=axis, keepdims=keepdims)


def ptp(x, axis=None, keepdims=False):
    return max(x, axis=axis, keepdims=keepdims) - min(x, axis=axis, keepdims=keepdims)


def count_nonzero(x, axis=None):
    return _np.count_nonzero(_np.asarray(concrete(x)), axis=axis)


# ---------------------------------------------------------------- shapes ---
reshape, transpose, broadcast_to = _S.reshape, _S.transpose, _S.broadcast_to
concatenate, stack, expand_dims, squeeze = _S.concatenate, _S.stack, _S.expand_dims, _S.squeeze
take, take_along_axis, flip, pad, at = _S.take, _S.take_along_axis, _S.flip, _S.pad, _S.at
astype = _S.astype


def shape(x):
    return shape_of(x)


def ndim(x):
    return len(shape_of(x))


def size(x, axis=None):
    s = shape_of(x)
    return int(_np.prod(s, dtype=_np.int64)) if axis is None else s[axis]


def ravel(x, order="C"):
    return reshape(x, (-1,), order=order)


def swapaxes(x, axis1, axis2):
    nd = ndim(x)
    perm = list(range(nd))
    a, b = _S.normalize_axis(axis1, nd), _S.normalize_axis(axis2, nd)
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, tuple(perm))


def moveaxis(x, source, destination):
    nd = ndim(x)
    src = [_S.normalize_axis(a, nd) for a in (source if isinstance(source, (tuple, list)) else [source])]
    dst = [_S.normalize_axis(a, nd) for a in (destination if isinstance(destination, (tuple, list)) else [destination])]
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, tuple(order))


def atleast_1d(x):
    return reshape(x, (1,)) if ndim(x) == 0 else x


def atleast_2d(x):
    nd = ndim(x)
    return reshape(x, (1,) * (2 - nd) + shape_of(x)) if nd < 2 else x


def atleast_3d(x):
    nd = ndim(x)
    if nd == 0:
        return reshape(x, (1, 1, 1))
    if nd == 1:
        return reshape(x, (1, -1, 1))
    if nd == 2:
        return reshape(x, shape_of(x) + (1,))
    return x


def hstack(xs):
    xs = [atleast_1d(x) for x in xs]
    return concatenate(xs, axis=0 if ndim(xs[0]) == 1 else 1)


def vstack(xs):
    return concatenate([atleast_2d(x) for x in xs], axis=0)


def column_stack(xs):
    return concatenate([reshape(x, (-1, 1)) if ndim(x) < 2 else x for x in xs], axis=1)


def broadcast_arrays(*xs):
    shp = _np.broadcast_shapes(*[shape_of(x) for x in xs])
    return [broadcast_to(x, shp) for x in xs]


def _split_points(n, indices_or_sections, strict):
    if isinstance(indices_or_sections, (int, _np.integer)):
        k = int(indices_or_sections)
        if strict and n % k:
            raise ValueError("array split does not result in an equal division")
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
        return list(_np.cumsum([0] + sizes))
    return [0] + [int(i) for i in indices_or_sections] + [n]


def split(x, indices_or_sections, axis=0, _strict=True):
    axis = _S.normalize_axis(axis, ndim(x))
    pts = _split_points(shape_of(x)[axis], indices_or_sections, _strict)
    pre = (slice(None),) * axis
    return [_S.getitem(x, pre + (slice(a, b),)) for a, b in zip(pts[:-1], pts[1:])]


def array_split(x, indices_or_sections, axis=0):
    return split(x, indices_or_sections, axis, _strict=False)


def tile(x, reps):
    reps = (reps,) if isinstance(reps, (int, _np.integer)) else tuple(reps)
    xs = shape_of(x)
    nd = builtins.max(len(xs), len(reps))
    xs = (1,) * (nd - len(xs)) + xs
    reps = (1,) * (nd - len(reps)) + reps
    idx = _np.ix_(*[_np.tile(_np.arange(n), r) for n, r in zip(xs, reps)])
    return _S.getitem(reshape(x, xs), idx)


def repeat(x, repeats, axis=None):
    if axis is None:
        x, axis = ravel(x), 0
    axis = _S.normalize_axis(axis, ndim(x))
    src = _np.repeat(_np.arange(shape_of(x)[axis]), concrete(repeats))
    return take(x, src, axis=axis)


def roll(x, shift, axis=None):
    """`numpy.roll`: shift and axis broadcast against each other; shifts of one axis add up."""
    if axis is None:
        return reshape(roll(ravel(x), shift, 0), shape_of(x))
    total = {}
    for s, a in _np.broadcast(concrete(shift), axis):
        a = _S.normalize_axis(a, ndim(x))
        total[a] = total.get(a, 0) + int(s)
    for a, s in total.items():
        if s % builtins.max(shape_of(x)[a], 1):
            x = take(x, _np.roll(_np.arange(shape_of(x)[a]), s), axis=a)
    return x


def fliplr(x):
    return flip(x, 1)


def flipud(x):
    return flip(x, 0)


def diagonal(x, offset=0, axis1=0, axis2=1):
    nd = ndim(x)
    a1, a2 = _S.normalize_axis(axis1, nd), _S.normalize_axis(axis2, nd)
    x = moveaxis(x, (a1, a2), (-2, -1))
    n, m = shape_of(x)[-2:]
    i = _np.arange(builtins.max(0, builtins.min(n + builtins.min(offset, 0), m - builtins.max(offset, 0))))
    rows, cols = i - builtins.min(offset, 0), i + builtins.max(offset, 0)
    return _S.getitem(x, (Ellipsis, rows, cols))


def diag(x, k=0):
    if ndim(x) == 1:
        n = shape_of(x)[0] + builtins.abs(k)
        i = _np.arange(shape_of(x)[0])
        rows, cols = i - builtins.min(k, 0), i + builtins.max(k, 0)
        return _S.index_set(zeros((n, n), dtype_of(x)), (rows, cols), x)
    if ndim(x) == 2:
        return diagonal(x, k)
    raise ValueError("diag requires a 1-d or 2-d input")


def trace(x, offset=0, axis1=0, axis2=1):
    return sum(diagonal(x, offset, axis1, axis2), axis=-1)


def triu(x, k=0):
    n, m = shape_of(x)[-2:]
    return where(_np.triu(_np.ones((n, m), bool), k), x, 0.0)


def tril(x, k=0):
    n, m = shape_of(x)[-2:]
    return where(_np.tril(_np.ones((n, m), bool), k), x, 0.0)


# ----------------------------------------------------------- products -----
matmul, einsum, tensordot, dot = _L.matmul, _L.einsum, _L.tensordot, _L.dot


def vecdot(x1, x2, axis=-1):
    """NumPy 2's vecdot: sum(conj(x1) * x2) over `axis`, broadcasting the other axes."""
    x1, x2 = asarray(x1), asarray(x2)
    if dtype_of(x1).kind == "c":
        x1 = conj(x1)
    return sum(x1 * x2, axis=axis)


def matrix_transpose(x):
    """NumPy 2's matrix_transpose: the last two axes swapped."""
    if ndim(x) < 2:
        raise ValueError(f"matrix_transpose needs at least 2 dimensions, got shape {shape_of(x)}")
    return swapaxes(x, -1, -2)
inner, outer, vdot, kron = _L.inner, _L.outer, _L.vdot, _L.kron


# -------------------------------------------------------------- creation ---
def asarray(x, dtype=None):
    """`numpy.asarray`; traced values (and lists holding them) stay traced."""
    if isinstance(x, Tracer):
        return x if dtype is None else astype(x, dtype)
    if isinstance(x, (list, tuple)) and _contains_tracer(x):
        return stack([asarray(v, dtype) for v in x])
    return _np.asarray(x, dtype=dtype)


def array(x, dtype=None, copy=True):
    if isinstance(x, Tracer) or (isinstance(x, (list, tuple)) and _contains_tracer(x)):
        return asarray(x, dtype)
    return _np.array(x, dtype=dtype, copy=copy)


def _contains_tracer(xs):
    return builtins.any(isinstance(v, Tracer) or (isinstance(v, (list, tuple)) and _contains_tracer(v))
                        for v in xs)


def copy(x):
    return x if isinstance(x, Tracer) else _np.copy(x)


def zeros_like(x, dtype=None):
    return _np.zeros(shape_of(x), dtype or dtype_of(x))


def ones_like(x, dtype=None):
    return _np.ones(shape_of(x), dtype or dtype_of(x))


def full(shape, fill_value, dtype=None):
    """`numpy.full`; a traced fill value stays traced (its derivative reaches every entry)."""
    if isinstance(fill_value, Tracer):
        return broadcast_to(fill_value if dtype is None else astype(fill_value, dtype), shape)
    return _np.full(shape, fill_value, dtype)


def full_like(x, fill_value, dtype=None, shape=None):
    return full(shape_of(x) if shape is None else shape, fill_value, dtype or dtype_of(x))


def empty_like(x, dtype=None):
    return zeros_like(x, dtype)


zeros, ones, empty, eye, identity = _np.zeros, _np.ones, _np.zeros, _np.eye, _np.identity
arange, linspace, logspace, meshgrid = _np.arange, _np.linspace, _np.logspace, _np.meshgrid
iscomplexobj, isscalar = (lambda x: dtype_of(x).kind == "c"), _np.isscalar


def allclose(a, b, rtol=1e-05, atol=1e-08):
    return _np.allclose(concrete(a), concrete(b), rtol=rtol, atol=atol)


def array_equal(a, b):
    return _np.array_equal(concrete(a), concrete(b))


# ------------------------------------------- differences, integrals, signals ---
def _norm_axis(axis, nd):
    return _S.normalize_axis(axis, nd)


def diff(a, n=1, axis=-1, prepend=None, append=None):
    """`numpy.diff`: the n-th discrete difference along `axis` (`prepend`/`append` values are
    joined first; a scalar one is broadcast to a single slice)."""
    n = int(n)
    if n < 0:
        raise ValueError("order must be non-negative but got " + repr(n))
    a = asarray(a)
    nd = ndim(a)
    if nd == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    axis = _norm_axis(axis, nd)
    if n == 0:
        return a
    parts = []
    for v in (prepend, a, append):
        if v is None:
            continue
        v = asarray(v)
        if ndim(v) == 0:
            v = broadcast_to(v, tuple(1 if i == axis else m for i, m in enumerate(shape_of(a))))
        parts.append(v)
    if len(parts) > 1:
        a = concatenate(parts, axis=axis)
    pre = (slice(None),) * axis
    for _ in range(n):
        hi, lo = _S.getitem(a, pre + (slice(1, None),)), _S.getitem(a, pre + (slice(None, -1),))
        a = not_equal(hi, lo) if dtype_of(a) == _np.bool_ else hi - lo
    return a


def append(arr, values, axis=None):
    """`numpy.append`: `values` joined to the end of `arr` (both flattened when axis is None)."""
    arr, values = asarray(arr), asarray(values)
    if axis is None:
        return concatenate([ravel(arr), ravel(values)], axis=0)
    return concatenate([arr, values], axis=axis)


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """`numpy.trapezoid`: the trapezoidal rule along `axis` (sample points `x`, or spacing `dx`)."""
    y = asarray(y)
    nd = ndim(y)
    axis = _norm_axis(axis, nd)
    if x is None:
        d = dx
    else:
        x = asarray(x)
        if ndim(x) == 1:
            d = reshape(diff(x), tuple(-1 if i == axis else 1 for i in range(nd)))
        else:
            d = diff(x, axis=axis)
    pre = (slice(None),) * axis
    hi, lo = _S.getitem(y, pre + (slice(1, None),)), _S.getitem(y, pre + (slice(None, -1),))
    return sum(d * (hi + lo) / 2.0, axis=axis)


if hasattr(_np, "trapz"):   # removed in NumPy 2.4
    trapz = trapezoid


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """`numpy.cross` of 3-vectors (and, deprecated as in NumPy 2, 2-vectors: a missing third
    component is zero; two 2-vectors give the scalar z component)."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = asarray(a), asarray(b)
    a = moveaxis(a, _norm_axis(axisa, ndim(a)), -1)
    b = moveaxis(b, _norm_axis(axisb, ndim(b)), -1)
    na, nb = shape_of(a)[-1], shape_of(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError("incompatible dimensions for cross product\n(dimension must be 2 or 3)")
    if na == 2 or nb == 2:
        import warnings
        warnings.warn("Arrays of 2-dimensional vectors are deprecated. Use arrays of "
                      "3-dimensional vectors instead. (deprecated in NumPy 2.0)", DeprecationWarning, stacklevel=2)
    a0, a1, a2 = a[..., 0], a[..., 1], (a[..., 2] if na == 3 else None)
    b0, b1, b2 = b[..., 0], b[..., 1], (b[..., 2] if nb == 3 else None)

    def mul(p, q):
        return None if p is None or q is None else p * q

    def sub(p, q):
        if p is None:
            return negative(q)
        return p if q is None else p - q

    z = a0 * b1 - a1 * b0
    if na == 2 and nb == 2:
        return z
    cp = broadcast_arrays(sub(mul(a1, b2), mul(a2, b1)), sub(mul(a2, b0), mul(a0, b2)), z)
    out = stack(cp, axis=-1)
    return moveaxis(out, -1, _norm_axis(axisc, ndim(out)))


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):  # noqa: F811  (NumPy's keyword)
    """`numpy.nan_to_num`: nan, +inf and -inf replaced (inf by the dtype's extremes unless
    given).  The derivative is 1 where x is finite and 0 where an entry is replaced."""
    if not builtins.any(isinstance(v, Tracer) for v in (x, nan, posinf, neginf)):
        return _np.nan_to_num(x, copy=copy, nan=nan, posinf=posinf, neginf=neginf)
    dt = dtype_of(x)
    if dt.kind == "c":
        re = nan_to_num(real(x), nan=nan, posinf=posinf, neginf=neginf)
        im = nan_to_num(imag(x), nan=nan, posinf=posinf, neginf=neginf)
        return astype(re, dt) + astype(im, dt) * 1j
    if dt.kind != "f":
        return x
    fi = _np.finfo(dt)
    posinf = fi.max if posinf is None else posinf
    neginf = fi.min if neginf is None else neginf
    out = where(isnan(x), astype(asarray(nan), dt), x)
    out = where(equal(x, _np.inf), astype(asarray(posinf), dt), out)
    return where(equal(x, -_np.inf), astype(asarray(neginf), dt), out)


def interp(x, xp, fp, left=None, right=None, period=None):
    """`numpy.interp`: 1-D piecewise-linear interpolation of (xp, fp) at x (xp increasing).
    Differentiable in x, xp, fp, left and right; the bracketing interval is found by
    comparisons (data, not control flow), so it traces under jit and vmap."""
    if period is not None:
        raise TypeError("chainrule.numpy.interp: the argument period= is not supported")
    xp, fp = asarray(xp), asarray(fp)
    if ndim(xp) != 1 or ndim(fp) != 1:
        raise ValueError("xp and fp must be 1-D sequences")
    n = shape_of(xp)[0]
    if shape_of(fp)[0] != n:
        raise ValueError("fp and xp are not of the same length.")
    if n == 0:
        raise ValueError("array of sample points is empty")
    x = asarray(x)
    if dtype_of(x).kind in "biu":
        x = astype(x, _np.float64)
    f0, fl = fp[0], fp[n - 1]
    left = f0 if left is None else left
    right = fl if right is None else right
    if n == 1:
        y = broadcast_to(f0, shape_of(x))
    else:
        if not isinstance(x, Tracer) and not isinstance(xp, Tracer):
            j = _np.clip(_np.searchsorted(xp, x, side="right") - 1, 0, n - 2)
        else:   # j = #{xp[1:-1] <= x}, in [0, n-2]
            j = sum(astype(greater_equal(expand_dims(x, -1), xp[1:n - 1]), _np.int64), axis=-1)
        xj, xj1, fj, fj1 = take(xp, j), take(xp, j + 1), take(fp, j), take(fp, j + 1)
        dxp = xj1 - xj
        dxp = where(equal(dxp, 0), 1.0, dxp)
        y = fj + (x - xj) * ((fj1 - fj) / dxp)
    y = where(less(x, xp[0]), left, y)
    y = where(greater(x, xp[n - 1]), right, y)
    if not isinstance(y, Tracer) and ndim(y) == 0:
        y = _np.float64(y) if dtype_of(y).kind != "c" else _np.complex128(y)
    return y


def _conv_full(a, v):
    """Full 1-D convolution as a gather of shifted copies of `a` times `v` (a matmul)."""
    n, m = shape_of(a)[0], shape_of(v)[0]
    dt = _np.result_type(dtype_of(a), dtype_of(v))
    if dt.kind in "b":
        dt = _np.dtype(_np.int64)
    a, v = astype(a, dt), astype(v, dt)
    z = _np.zeros(m - 1, dt)
    a_pad = concatenate([z, a, z], axis=0)
    idx = _np.arange(n + m - 1)[:, None] - _np.arange(m)[None, :] + (m - 1)
    return matmul(_S.getitem(a_pad, (idx,)), v)


def _conv_args(a, v, name):
    a, v = asarray(a), asarray(v)
    if ndim(a) == 0:
        a = reshape(a, (1,))
    if ndim(v) == 0:
        v = reshape(v, (1,))
    if ndim(a) != 1 or ndim(v) != 1:
        raise ValueError("object too deep for desired array")
    if shape_of(a)[0] == 0:
        raise ValueError(name + ": a cannot be empty")
    if shape_of(v)[0] == 0:
        raise ValueError(name + ": v cannot be empty")
    return a, v


def _mode_slice(full, n, m, mode):
    lo, hi = builtins.min(n, m), builtins.max(n, m)
    if mode == "full":
        return full
    if mode == "same":
        start = (lo - 1) // 2
        return full[start:start + hi]
    if mode == "valid":
        return full[lo - 1:hi]
    raise ValueError("mode must be one of 'full', 'same', or 'valid' (got " + repr(mode) + ")")


def convolve(a, v, mode="full"):
    """`numpy.convolve` of two 1-D arrays ('full', 'same' or 'valid'); differentiable in both."""
    a, v = _conv_args(a, v, "convolve")
    n, m = shape_of(a)[0], shape_of(v)[0]
    if m > n:
        a, v, n, m = v, a, m, n
    return _mode_slice(_conv_full(a, v), n, m, mode)


def correlate(a, v, mode="valid"):
    """`numpy.correlate` of two 1-D arrays: c[k] = sum_n a[n + k] * conj(v[n]) ('valid',
    'same' or 'full'); differentiable in both."""
    a, v = _conv_args(a, v, "correlate")
    n, m = shape_of(a)[0], shape_of(v)[0]
    if dtype_of(v).kind == "c":
        v = conj(v)
    if m > n:   # NumPy: correlate(v, a) reversed (conjugated)
        out = _mode_slice(_conv_full(v, flip(a, 0)), m, n, mode)
        return flip(out, 0)
    return _mode_slice(_conv_full(a, flip(v, 0)), n, m, mode)


# ------------------------------------- nan-aware reductions, order statistics ---
def _traced(*xs):
    """True when any of xs (or an entry of a list/tuple among them) is a Tracer."""
    return builtins.any(isinstance(x, Tracer) or (isinstance(x, (list, tuple)) and _traced(*x))
                        for x in xs)


def _no_out(name, out):
    if out is not None:
        raise TypeError("chainrule.numpy." + name + ": the argument out= is not supported")


def nansum(a, axis=None, dtype=None, out=None, keepdims=False):
    """`numpy.nansum`: nan entries count as zero (and get zero derivative)."""
    _no_out("nansum", out)
    if not _traced(a):
        return _np.nansum(a, axis=axis, dtype=dtype, keepdims=keepdims)
    return sum(where(isnan(a), 0, a), axis=axis, dtype=dtype, keepdims=keepdims)


def nanprod(a, axis=None, dtype=None, out=None, keepdims=False):
    """`numpy.nanprod`: nan entries count as one (and get zero derivative)."""
    _no_out("nanprod", out)
    if not _traced(a):
        return _np.nanprod(a, axis=axis, dtype=dtype, keepdims=keepdims)
    return prod(where(isnan(a), 1, a), axis=axis, dtype=dtype, keepdims=keepdims)


def nanmean(a, axis=None, dtype=None, out=None, keepdims=False):
    """`numpy.nanmean`: the mean of the non-nan entries (nan where there are none)."""
    _no_out("nanmean", out)
    if not _traced(a):
        return _np.nanmean(a, axis=axis, dtype=dtype, keepdims=keepdims)
    s = nansum(a, axis=axis, dtype=dtype, keepdims=keepdims)
    if dtype_of(s).kind in "biu":
        s = astype(s, _np.float64)
    cnt = sum(astype(logical_not(isnan(a)), _np.finfo(dtype_of(s)).dtype), axis=axis, keepdims=keepdims)
    return s / cnt


def _nan_extreme(name, red, fill, a, axis, out, keepdims):
    _no_out(name, out)
    if not _traced(a):
        return getattr(_np, name)(a, axis=axis, keepdims=keepdims)
    m = isnan(a)
    r = red(where(m, fill, a), axis=axis, keepdims=keepdims)
    return where(all(m, axis=axis, keepdims=keepdims), _np.nan, r)


def nanmax(a, axis=None, out=None, keepdims=False):
    """`numpy.nanmax`: the largest non-nan entry (nan where all are nan)."""
    return _nan_extreme("nanmax", max, -_np.inf, a, axis, out, keepdims)


def nanmin(a, axis=None, out=None, keepdims=False):
    """`numpy.nanmin`: the smallest non-nan entry (nan where all are nan)."""
    return _nan_extreme("nanmin", min, _np.inf, a, axis, out, keepdims)


def _quantile_args(name, method, weights, interpolation):
    if interpolation is not None:
        raise TypeError(f"chainrule.numpy.{name}: the argument interpolation= is not supported")
    if method != "linear":
        raise TypeError(f"chainrule.numpy.{name}: the argument method={method!r} is not supported (only 'linear')")
    if weights is not None:
        raise TypeError(f"chainrule.numpy.{name}: the argument weights= is not supported")


def _quantile_rows(a, q, axis):
    """(a as floats, the reduced axes, the kept shape, the number n of reduced entries, a
    reshaped to kept shape + (n,)), after checking that q is in [0, 1]."""
    a = asarray(a)
    if dtype_of(a).kind in "biub":
        a = astype(a, _np.float64)
    if not isinstance(q, Tracer):
        qc = _np.asarray(q)
        if qc.size and (qc.min() < 0 or qc.max() > 1):
            raise ValueError("Quantiles must be in the range [0, 1]")
    nd = ndim(a)
    axes = tuple(range(nd)) if axis is None else _R.normalize_axes(a, axis)
    keep = [i for i in range(nd) if i not in axes]
    rshape = tuple(shape_of(a)[i] for i in keep)
    n = int(_np.prod([shape_of(a)[i] for i in axes], dtype=_np.int64))
    return a, axes, rshape, n, reshape(transpose(a, tuple(keep) + tuple(axes)), rshape + (n,))


def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *,
             weights=None, interpolation=None):
    """`numpy.quantile`, method "linear" only: the interpolation between the two neighbouring
    order statistics (a sorted copy), differentiable in a (through those two) and in q."""
    _no_out("quantile", out)
    _quantile_args("quantile", method, weights, interpolation)
    if not _traced(a, q):
        return _np.quantile(a, q, axis=axis, keepdims=keepdims)
    a, axes, rshape, n, x = _quantile_rows(a, q, axis)
    s = sort(x, axis=-1)
    q = asarray(q)
    qshape = shape_of(q)
    if n == 1:
        s = concatenate([s, s], axis=-1)
    g = q * (n - 1)
    j = astype(clip(floor(g), 0, builtins.max(n - 2, 0)), _np.int64)
    t = g - j
    lo, hi = take(s, j, axis=-1), take(s, j + 1, axis=-1)    # shape rshape + qshape
    return _quantile_layout(lo + (hi - lo) * t, qshape, rshape, a, axes, keepdims)


def _quantile_layout(y, qshape, rshape, a, axes, keepdims):
    """Quantiles computed as kept shape + q's shape, laid out as NumPy returns them."""
    nq, nr = len(qshape), len(rshape)
    y = transpose(y, tuple(range(nr, nr + nq)) + tuple(range(nr)))     # qshape + rshape
    if keepdims:
        y = reshape(y, qshape + tuple(1 if i in axes else shape_of(a)[i] for i in range(ndim(a))))
    return y


def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *,
               weights=None, interpolation=None):
    """`numpy.percentile`: `quantile(a, q / 100)`, method "linear" only."""
    if not _traced(a, q):
        _no_out("percentile", out)
        if method != "linear" or interpolation is not None or weights is not None:
            quantile(a, 0.5, method=method, interpolation=interpolation, weights=weights)   # raises
        return _np.percentile(a, q, axis=axis, keepdims=keepdims)
    if not isinstance(q, Tracer):
        qc = _np.asarray(q)
        if qc.size and (qc.min() < 0 or qc.max() > 100):
            raise ValueError("Percentiles must be in the range [0, 100]")
    return quantile(a, asarray(q) / 100.0, axis=axis, out=out, method=method, keepdims=keepdims,
                    weights=weights, interpolation=interpolation)


def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """`numpy.median`: the linear-method 0.5 quantile (the mean of the two middle entries)."""
    _no_out("median", out)
    if not _traced(a):
        return _np.median(a, axis=axis, keepdims=keepdims)
    return quantile(a, 0.5, axis=axis, keepdims=keepdims)


# -------------------------------------------------------- statistics, polys ---
def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *, dtype=None):
    """`numpy.cov` (no fweights/aweights): rows are variables unless rowvar=False."""
    if fweights is not None or aweights is not None:
        raise TypeError("chainrule.numpy.cov: the arguments fweights=/aweights= are not supported")
    if not _traced(m, y):
        return _np.cov(m, y, rowvar=rowvar, bias=bias, ddof=ddof, dtype=dtype)
    if ddof is not None and ddof != int(ddof):
        raise ValueError("ddof must be integer")
    X = atleast_2d(asarray(m))
    if ndim(X) > 2:
        raise ValueError("m has more than 2 dimensions")
    if not rowvar and shape_of(X)[0] != 1:
        X = transpose(X)
    if y is not None:
        Y = atleast_2d(asarray(y))
        if not rowvar and shape_of(Y)[0] != 1:
            Y = transpose(Y)
        X = concatenate([X, Y], axis=0)
    dt = _np.result_type(dtype_of(X), _np.float64) if dtype is None else _np.dtype(dtype)
    X = astype(X, dt)
    ddof = (0 if bias else 1) if ddof is None else int(ddof)
    N = shape_of(X)[1]
    X = X - mean(X, axis=1, keepdims=True)
    Xc = conj(X) if dt.kind == "c" else X
    return squeeze(matmul(X, transpose(Xc)) / (N - ddof))


def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    """`numpy.corrcoef`: cov normalised by the standard deviations (real part clipped to [-1, 1])."""
    if not _traced(x, y):
        return _np.corrcoef(x, y, rowvar=rowvar, dtype=dtype)
    c = cov(x, y, rowvar, dtype=dtype)
    if ndim(c) == 0:
        return c / c
    sd = sqrt(real(diagonal(c)))
    c = c / sd[:, None]
    c = c / sd[None, :]
    if dtype_of(c).kind == "c":
        return clip(real(c), -1, 1) + clip(imag(c), -1, 1) * 1j
    return clip(c, -1, 1)


def polyval(p, x):
    """`numpy.polyval` by Horner's rule; differentiable in the coefficients p and in x."""
    if not _traced(p, x):
        return _np.polyval(p, x)
    p = asarray(p)
    x = asarray(x)
    y = zeros_like(x) if dtype_of(x).kind != "b" else astype(x, _np.int64) * 0
    for i in range(shape_of(p)[0]):
        y = y * x + p[i]
    return y


# ------------------------------------------------------ rotations, splits ---
def rot90(m, k=1, axes=(0, 1)):
    """`numpy.rot90`: rotate by 90 degrees k times in the plane of `axes` (flip + transpose)."""
    axes = tuple(axes)
    if len(axes) != 2:
        raise ValueError("len(axes) must be 2.")
    m = asarray(m)
    nd = ndim(m)
    if axes[0] == axes[1] or builtins.abs(axes[0] - axes[1]) == nd:
        raise ValueError("Axes must be different.")
    if axes[0] >= nd or axes[0] < -nd or axes[1] >= nd or axes[1] < -nd:
        raise ValueError(f"Axes={axes} out of range for array of ndim={nd}.")
    k %= 4
    if k == 0:
        return m[:]
    if k == 2:
        return flip(flip(m, axes[0]), axes[1])
    perm = list(range(nd))
    perm[axes[0]], perm[axes[1]] = perm[axes[1]], perm[axes[0]]
    if k == 1:
        return transpose(flip(m, axes[1]), tuple(perm))
    return flip(transpose(m, tuple(perm)), axes[1])


def hsplit(ary, indices_or_sections):
    """`numpy.hsplit`: split along axis 1 (axis 0 for 1-D arrays)."""
    if ndim(ary) == 0:
        raise ValueError("hsplit only works on arrays of 1 or more dimensions")
    return split(ary, indices_or_sections, 1 if ndim(ary) > 1 else 0)


def vsplit(ary, indices_or_sections):
    """`numpy.vsplit`: split along axis 0 (arrays of 2 or more dimensions)."""
    if ndim(ary) < 2:
        raise ValueError("vsplit only works on arrays of 2 or more dimensions")
    return split(ary, indices_or_sections, 0)


def dsplit(ary, indices_or_sections):
    """`numpy.dsplit`: split along axis 2 (arrays of 3 or more dimensions)."""
    if ndim(ary) < 3:
        raise ValueError("dsplit only works on arrays of 3 or more dimensions")
    return split(ary, indices_or_sections, 2)


# ------------------------------------------------------ elementwise extras ---
def fabs(x):
    """`numpy.fabs`: absolute value of real input as floats (complex input is a TypeError)."""
    if not _traced(x):
        return _np.fabs(x)
    dt = dtype_of(x)
    if dt.kind == "c":
        raise TypeError("ufunc 'fabs' not supported for complex input")
    if dt.kind in "biu":
        x = astype(x, _np.float64)
    return absolute(x)


def select(condlist, choicelist, default=0):
    """`numpy.select`: the first choice whose condition holds, else default; derivatives flow
    only through the chosen entries."""
    if not _traced(condlist, choicelist, default):
        return _np.select(condlist, choicelist, default)
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    if len(choicelist) == 0:
        raise ValueError("select with an empty condition list is not possible")
    for i, c in enumerate(condlist):
        if dtype_of(c) != _np.bool_:
            raise TypeError(f"invalid entry {i} in condlist: should be boolean ndarray")
    dt = _np.result_type(*[dtype_of(c) for c in choicelist], dtype_of(default))
    shp = _np.broadcast_shapes(*[shape_of(c) for c in list(condlist) + list(choicelist)],
                               shape_of(default))
    out = broadcast_to(astype(asarray(default), dt), shp)
    for c, v in zip(reversed(list(condlist)), reversed(list(choicelist))):
        out = where(c, astype(asarray(v), dt), out)
    return out


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """`numpy.isclose` (boolean; no derivative): |a - b| <= atol + rtol * |b|, infinities equal
    only to themselves, nan equal to nan only with equal_nan."""
    if not _traced(a, b):
        return _np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
    a, b = stop_gradient(asarray(a)), stop_gradient(asarray(b))
    fin = logical_and(isfinite(a), isfinite(b))
    a0, b0 = where(fin, a, 0), where(fin, b, 0)         # no inf - inf
    close = logical_and(less_equal(absolute(a0 - b0), atol + rtol * absolute(b0)), fin)
    out = logical_or(close, equal(a, b))
    if equal_nan:
        out = logical_or(out, logical_and(isnan(a), isnan(b)))
    return out


def searchsorted(a, v, side="left", sorter=None):
    """`numpy.searchsorted` (integer; no derivative): insertion indices of v into sorted 1-D a,
    counted by comparisons so it traces under jit and vmap."""
    if not _traced(a, v, sorter):
        return _np.searchsorted(a, v, side=side, sorter=sorter)
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right' (got {side!r})")
    a = asarray(a)
    if ndim(a) != 1:
        raise ValueError("object too deep for desired array")
    if sorter is not None:
        a = take(a, sorter)
    v = asarray(v)
    cmp = less if side == "left" else less_equal
    return sum(astype(cmp(stop_gradient(a), expand_dims(stop_gradient(v), -1)), _np.int64), axis=-1)



# --------------------------------------- composed additions (NumPy 2 names and friends) ---
acos, asin, atan, atan2 = arccos, arcsin, arctan, arctan2        # NumPy 2's array-API spellings
acosh, asinh, atanh, pow = arccosh, arcsinh, arctanh, power  # noqa: A001


def concat(arrays, /, *, axis=0):
    """`numpy.concat` (the array-API name of concatenate)."""
    return concatenate(arrays, axis=axis)


def permute_dims(a, /, axes=None):
    """`numpy.permute_dims` (the array-API name of transpose)."""
    return transpose(a, axes)


def fmod(x1, x2):
    """`numpy.fmod`: C's remainder, with the sign of x1 (remainder has the sign of x2)."""
    if not _traced(x1, x2):
        return _np.fmod(x1, x2)
    r = remainder(x1, x2)
    off = logical_and(not_equal(r, 0), not_equal(less(r, 0), less(x1, 0)))
    return where(off, r - x2, r)


def heaviside(x1, x2):
    """`numpy.heaviside`: 0 below zero, 1 above, x2 at zero (derivative only in x2, there)."""
    if not _traced(x1, x2):
        return _np.heaviside(x1, x2)
    x1 = asarray(x1)
    step = where(greater(x1, 0), 1.0, 0.0)
    return where(equal(x1, 0), x2, where(isnan(x1), x1, step))


def modf(x):
    """`numpy.modf`: (fractional part, integral part), both with the sign of x."""
    if not _traced(x):
        return _np.modf(x)
    t = trunc(x)
    return x - t, t


def divmod(x1, x2):  # noqa: A001
    """`numpy.divmod`: (floor_divide(x1, x2), remainder(x1, x2))."""
    if not _traced(x1, x2):
        return _np.divmod(x1, x2)
    return floor_divide(x1, x2), remainder(x1, x2)


def nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """`numpy.nanvar`: the variance of the non-nan entries (nan entries get zero derivative)."""
    _no_out("nanvar", out)
    if not _traced(a):
        return _np.nanvar(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)
    m = isnan(a)
    d = where(m, 0, a - nanmean(a, axis=axis, dtype=dtype, keepdims=True))
    cnt = sum(astype(logical_not(m), _np.float64), axis=axis, keepdims=keepdims)
    sq = real(d * conj(d)) if dtype_of(d).kind == "c" else d * d
    return sum(sq, axis=axis, keepdims=keepdims) / (cnt - ddof)


def nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """`numpy.nanstd`: sqrt(nanvar)."""
    _no_out("nanstd", out)
    if not _traced(a):
        return _np.nanstd(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)
    return sqrt(nanvar(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims))


def nancumsum(a, axis=None, dtype=None, out=None):
    """`numpy.nancumsum`: nan entries count as zero."""
    _no_out("nancumsum", out)
    if not _traced(a):
        return _np.nancumsum(a, axis=axis, dtype=dtype)
    return cumsum(astype(where(isnan(a), 0, a), dtype) if dtype else where(isnan(a), 0, a), axis=axis)


def nancumprod(a, axis=None, dtype=None, out=None):
    """`numpy.nancumprod`: nan entries count as one."""
    _no_out("nancumprod", out)
    if not _traced(a):
        return _np.nancumprod(a, axis=axis, dtype=dtype)
    return cumprod(astype(where(isnan(a), 1, a), dtype) if dtype else where(isnan(a), 1, a), axis=axis)


def _cumulative(name, acc, x, axis, dtype, include_initial, initial):
    if ndim(x) > 1 and axis is None:
        raise ValueError(f"{name}: axis is required for arrays of more than one dimension")
    axis = 0 if axis is None else _S.normalize_axis(axis, builtins.max(ndim(x), 1))
    y = acc(astype(x, dtype) if dtype else x, axis=axis)
    if not include_initial:
        return y
    start = full_like(take(y, _np.array([0]), axis=axis), initial)
    return concatenate([start, y], axis=axis)


def cumulative_sum(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
    """`numpy.cumulative_sum` (the array-API cumsum; `include_initial` prepends a 0)."""
    _no_out("cumulative_sum", out)
    if not _traced(x):
        return _np.cumulative_sum(x, axis=axis, dtype=dtype, include_initial=include_initial)
    return _cumulative("cumulative_sum", cumsum, x, axis, dtype, include_initial, 0)


def cumulative_prod(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
    """`numpy.cumulative_prod` (the array-API cumprod; `include_initial` prepends a 1)."""
    _no_out("cumulative_prod", out)
    if not _traced(x):
        return _np.cumulative_prod(x, axis=axis, dtype=dtype, include_initial=include_initial)
    return _cumulative("cumulative_prod", cumprod, x, axis, dtype, include_initial, 1)


def ediff1d(ary, to_end=None, to_begin=None):
    """`numpy.ediff1d`: differences of the flattened array, with optional ends."""
    if not _traced(ary, to_end, to_begin):
        return _np.ediff1d(ary, to_end=to_end, to_begin=to_begin)
    flat = ravel(asarray(ary))
    parts = [flat[1:] - flat[:-1]]
    if to_begin is not None:
        parts.insert(0, ravel(asarray(to_begin)))
    if to_end is not None:
        parts.append(ravel(asarray(to_end)))
    return concatenate(parts) if len(parts) > 1 else parts[0]


def diagflat(v, k=0):
    """`numpy.diagflat`: the flattened input on the k-th diagonal of a square matrix."""
    if not _traced(v):
        return _np.diagflat(v, k)
    return diag(ravel(asarray(v)), k)


def dstack(tup):
    """`numpy.dstack`: stack along the third axis (1-D and 2-D inputs made 3-D first)."""
    return concatenate([atleast_3d(x) for x in tup], axis=2)


def _poly_pad(a1, a2):
    a1, a2 = atleast_1d(asarray(a1)), atleast_1d(asarray(a2))
    n = builtins.max(shape_of(a1)[0], shape_of(a2)[0])
    return pad(a1, (n - shape_of(a1)[0], 0)), pad(a2, (n - shape_of(a2)[0], 0))


def polyadd(a1, a2):
    """`numpy.polyadd` of coefficient arrays (highest power first)."""
    if not _traced(a1, a2):
        return _np.polyadd(a1, a2)
    a, b = _poly_pad(a1, a2)
    return a + b


def polysub(a1, a2):
    """`numpy.polysub` of coefficient arrays (highest power first)."""
    if not _traced(a1, a2):
        return _np.polysub(a1, a2)
    a, b = _poly_pad(a1, a2)
    return a - b


def polymul(a1, a2):
    """`numpy.polymul`: the product's coefficients (a full convolution)."""
    if not _traced(a1, a2):
        return _np.polymul(a1, a2)
    return convolve(atleast_1d(asarray(a1)), atleast_1d(asarray(a2)))


def polyder(p, m=1):
    """`numpy.polyder`: the coefficients of the m-th derivative."""
    if not _traced(p):
        return _np.polyder(p, m)
    if m < 0:
        raise ValueError("Order of derivative must be positive (see polyint)")
    p = atleast_1d(asarray(p))
    for _ in range(m):
        n = shape_of(p)[0] - 1
        p = p[:-1] * _np.arange(n, 0, -1, dtype=float) if n > 0 else zeros_like(p[:1])
    return p


def polyint(p, m=1, k=None):
    """`numpy.polyint`: the coefficients of the m-th antiderivative, integration constants k."""
    if not _traced(p, k):
        return _np.polyint(p, m, k)
    if m < 0:
        raise ValueError("Order of integral must be positive (see polyder)")
    ks = zeros(m) if k is None else (k if _traced(k) or _np.ndim(k) else [k] * m)
    if len(ks) != m:
        raise ValueError("k must be a scalar or a rank-1 array of length 1 or >m.")
    p = atleast_1d(asarray(p))
    for i in range(m):
        n = shape_of(p)[0]
        p = concatenate([p / _np.arange(n, 0, -1, dtype=float), reshape(asarray(ks[i]) * 1.0, (1,))])
    return p


def vander(x, N=None, increasing=False):
    """`numpy.vander`: columns x**(N-1), ..., x, 1 (or increasing powers)."""
    if not _traced(x):
        return _np.vander(x, N, increasing)
    x = asarray(x)
    if ndim(x) != 1:
        raise ValueError("x must be a one-dimensional array or sequence.")
    n = shape_of(x)[0] if N is None else N
    cols = [ones_like(x)] + ([x] if n > 1 else [])
    for _ in range(2, n):
        cols.append(cols[-1] * x)
    cols = cols[:n]
    return stack(cols if increasing else cols[::-1], axis=1)


def matvec(x1, x2, /):
    """`numpy.matvec`: matrix-vector products over the last axes (broadcast over the rest)."""
    if not _traced(x1, x2):
        return _np.matvec(x1, x2)
    return squeeze(matmul(x1, expand_dims(x2, -1)), -1)


def vecmat(x1, x2, /):
    """`numpy.vecmat`: conj(x1) @ x2 over the last axes (broadcast over the rest)."""
    if not _traced(x1, x2):
        return _np.vecmat(x1, x2)
    return squeeze(matmul(expand_dims(conj(x1), -2), x2), -2)


def unstack(x, /, *, axis=0):
    """`numpy.unstack`: the slices along `axis`, as a tuple."""
    if not _traced(x):
        return _np.unstack(x, axis=axis)
    return tuple(moveaxis(x, axis, 0)[i] for i in range(shape_of(x)[axis]))


def angle(z, deg=False):
    """`numpy.angle`: arctan2(imag, real) (0 or pi for real input), in degrees if asked."""
    if not _traced(z):
        return _np.angle(z, deg)
    z = asarray(z)
    a = arctan2(imag(z), real(z)) if dtype_of(z).kind == "c" else arctan2(zeros(shape_of(z)), z)
    return a * (180.0 / pi) if deg else a


# ------------------------------- nan-quantiles, gradient, block, copysign, ldexp, resize, i0 ---


def nanquantile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *,
                weights=None, interpolation=None):
    """`numpy.nanquantile`, method "linear": the quantile of the non-nan entries (nan where there
    are none).  nan entries sort last (as +inf, zero derivative); each slice indexes its own count."""
    _no_out("nanquantile", out)
    _quantile_args("nanquantile", method, weights, interpolation)
    if not _traced(a, q):
        return _np.nanquantile(a, q, axis=axis, keepdims=keepdims)
    a, axes, rshape, n, x = _quantile_rows(a, q, axis)
    missing = isnan(x)
    s = sort(where(missing, _np.inf, x), axis=-1)
    cnt = sum(astype(logical_not(stop_gradient(missing)), _np.float64), axis=-1)      # rshape
    q = asarray(q)
    qshape = shape_of(q)
    nq = len(qshape)
    cnt_b = reshape(cnt, rshape + (1,) * nq)
    g = q * (cnt_b - 1.0)                                                         # rshape + qshape
    j = clip(floor(g), 0.0, maximum(cnt_b - 2.0, 0.0))
    t = g - j
    jl = astype(j, _np.int64)
    jh = astype(minimum(j + 1.0, maximum(cnt_b - 1.0, 0.0)), _np.int64)
    flat = rshape + (int(_np.prod(qshape, dtype=_np.int64)),)
    lo = reshape(take_along_axis(s, reshape(jl, flat), axis=-1), rshape + qshape)
    hi = reshape(take_along_axis(s, reshape(jh, flat), axis=-1), rshape + qshape)
    return _quantile_layout(where(equal(cnt_b, 0.0), _np.nan, lo + (hi - lo) * t), qshape, rshape, a, axes,
                            keepdims)


def nanpercentile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *,
                  weights=None, interpolation=None):
    """`numpy.nanpercentile`: `nanquantile(a, q / 100)`, method "linear" only."""
    _no_out("nanpercentile", out)
    _quantile_args("nanpercentile", method, weights, interpolation)
    if not _traced(a, q):
        return _np.nanpercentile(a, q, axis=axis, keepdims=keepdims)
    if not isinstance(q, Tracer):
        qc = _np.asarray(q)
        if qc.size and (qc.min() < 0 or qc.max() > 100):
            raise ValueError("Percentiles must be in the range [0, 100]")
    return nanquantile(a, asarray(q) / 100.0, axis=axis, keepdims=keepdims)


def nanmedian(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """`numpy.nanmedian`: the median of the non-nan entries (nan where there are none)."""
    _no_out("nanmedian", out)
    if not _traced(a):
        return _np.nanmedian(a, axis=axis, keepdims=keepdims)
    return nanquantile(a, 0.5, axis=axis, keepdims=keepdims)


def _gradient_axis(f, h, edge_order):
    """NumPy's gradient of f along its last axis: second-order central differences inside,
    one-sided differences of order `edge_order` at the ends; h a spacing or coordinates."""
    if isinstance(h, tuple):                                   # coordinates: non-uniform
        (dx,) = h
        d1, d2 = dx[:-1], dx[1:]
        inner = (-d2 / (d1 * (d1 + d2))) * f[..., :-2] + ((d2 - d1) / (d1 * d2)) * f[..., 1:-1] \
            + (d1 / (d2 * (d1 + d2))) * f[..., 2:]
        if edge_order == 1:
            first = (f[..., 1:2] - f[..., :1]) / dx[:1]
            last = (f[..., -1:] - f[..., -2:-1]) / dx[-1:]
        else:
            a, b = dx[0], dx[1]
            first = (-(2.0 * a + b) / (a * (a + b))) * f[..., :1] + ((a + b) / (a * b)) * f[..., 1:2] \
                + (-a / (b * (a + b))) * f[..., 2:3]
            a, b = dx[-2], dx[-1]
            last = (b / (a * (a + b))) * f[..., -3:-2] + (-(a + b) / (a * b)) * f[..., -2:-1] \
                + ((2.0 * b + a) / (b * (a + b))) * f[..., -1:]
        return concatenate([first, inner, last], axis=-1)
    inner = (f[..., 2:] - f[..., :-2]) / (2.0 * h)
    if edge_order == 1:
        first, last = (f[..., 1:2] - f[..., :1]) / h, (f[..., -1:] - f[..., -2:-1]) / h
    else:
        first = (-1.5 * f[..., :1] + 2.0 * f[..., 1:2] - 0.5 * f[..., 2:3]) / h
        last = (0.5 * f[..., -3:-2] - 2.0 * f[..., -2:-1] + 1.5 * f[..., -1:]) / h
    return concatenate([first, inner, last], axis=-1)


def gradient(f, *varargs, axis=None, edge_order=1):
    """`numpy.gradient`: second-order central differences inside, first- or second-order
    (`edge_order`) one-sided ones at the ends; spacings as scalars or coordinate arrays (which
    may be traced too).  One array for one axis, else a tuple."""
    if not _traced(f, *varargs):
        return _np.gradient(f, *varargs, axis=axis, edge_order=edge_order)
    f = asarray(f)
    if dtype_of(f).kind in "biub":
        f = astype(f, _np.float64)
    nd = ndim(f)
    axes = tuple(range(nd)) if axis is None else _R.normalize_axes(f, axis)
    if len(set(axes)) != len(axes):
        raise ValueError("duplicate value in 'axis'")
    if len(varargs) == 0:
        spacing = [1.0] * len(axes)
    elif len(varargs) == 1 and ndim(varargs[0]) == 0:
        spacing = [varargs[0]] * len(axes)
    elif len(varargs) == len(axes):
        spacing = list(varargs)
    else:
        raise TypeError("invalid number of arguments")
    if edge_order > 2 or edge_order < 1:
        raise ValueError("'edge_order' greater than 2 not supported")
    outs = []
    for ax, h in zip(axes, spacing):
        n = shape_of(f)[ax]
        if n < edge_order + 1:
            raise ValueError("Shape of array too small to calculate a numerical gradient, "
                             "at least (edge_order + 1) elements are required.")
        if ndim(h) == 1:
            if shape_of(h)[0] != n:
                raise ValueError("when 1d, distances must match the length of the corresponding dimension")
            h = asarray(h)
            if dtype_of(h).kind in "biub":
                h = astype(h, _np.float64)
            dx = h[1:] - h[:-1]
            uniform = not _traced(dx) and bool(_np.all(_np.asarray(dx) == _np.asarray(dx)[0]))
            h = _np.asarray(dx)[0] if uniform else (dx,)
        elif ndim(h) != 0:
            raise ValueError("distances must be either scalars or 1d")
        g = _gradient_axis(moveaxis(f, ax, -1), h, edge_order)
        outs.append(moveaxis(g, -1, ax))
    return outs[0] if len(outs) == 1 else tuple(outs)


def _block_depth(arrays, path=()):
    """(list depth, max leaf ndim) of a nested list for block, checking equal depths."""
    if isinstance(arrays, tuple):
        raise TypeError(f"arrays{''.join(f'[{i}]' for i in path)} is a tuple. Only lists can be used "
                        "to arrange blocks, and np.block does not allow implicit conversion from tuple to ndarray.")
    if not isinstance(arrays, list):
        return 0, ndim(arrays)
    if not arrays:
        raise ValueError(f"List at arrays{''.join(f'[{i}]' for i in path)} cannot be empty")
    found = [_block_depth(a, path + (i,)) for i, a in enumerate(arrays)]
    if len({d for d, _ in found}) > 1:
        raise ValueError("List depths are mismatched.")
    return found[0][0] + 1, builtins.max(m for _, m in found)


def block(arrays):
    """`numpy.block`: assemble nested lists of arrays, the innermost lists along the last axis."""
    if not _traced(arrays):
        return _np.block(arrays)
    depth, leaf_nd = _block_depth(arrays)
    nd = builtins.max(depth, leaf_nd)

    def build(x, level):
        if not isinstance(x, list):
            x = asarray(x)
            return reshape(x, (1,) * (nd - ndim(x)) + shape_of(x))
        return concatenate([build(v, level + 1) for v in x], axis=level - depth)
    return build(arrays, 0)


def copysign(x1, x2):
    """`numpy.copysign`: |x1| with the sign bit of x2 (-0.0 counts as negative); the derivative
    is in x1 only (x2 enters through its sign)."""
    if not _traced(x1, x2):
        return _np.copysign(x1, x2)
    x1, x2 = asarray(x1), stop_gradient(asarray(x2))
    if dtype_of(x1).kind in "biub":
        x1 = astype(x1, _np.float64)
    if dtype_of(x1).kind == "c" or dtype_of(x2).kind == "c":
        raise TypeError("ufunc 'copysign' not supported for complex input")
    with _np.errstate(divide="ignore"):
        neg = logical_or(less(x2, 0), logical_and(equal(x2, 0), less(divide(1.0, x2), 0)))
    a = absolute(x1)
    return where(neg, -a, a)


def ldexp(x1, x2):
    """`numpy.ldexp`: x1 * 2**x2 for integer x2 (exact: a power of two); differentiable in x1."""
    if not _traced(x1, x2):
        return _np.ldexp(x1, x2)
    if dtype_of(x2).kind not in "biu":
        raise TypeError("ufunc 'ldexp' needs an integer exponent x2 (it is not differentiable)")
    x1 = asarray(x1)
    if dtype_of(x1).kind in "biub":
        x1 = astype(x1, _np.float64)
    if dtype_of(x1).kind == "c":
        raise TypeError("ufunc 'ldexp' not supported for complex input")
    return x1 * exp2(astype(stop_gradient(asarray(x2)), dtype_of(x1)))


def resize(a, new_shape):
    """`numpy.resize`: the flattened entries repeated cyclically to fill `new_shape`."""
    if not _traced(a):
        return _np.resize(a, new_shape)
    shp = (int(new_shape),) if _np.ndim(new_shape) == 0 else tuple(int(v) for v in new_shape)
    if builtins.any(v < 0 for v in shp):
        raise ValueError("all elements of `new_shape` must be non-negative")
    flat = ravel(asarray(a))
    total, n = int(_np.prod(shp, dtype=_np.int64)), shape_of(flat)[0]
    if n == 0 or total == 0:
        return zeros(shp, dtype_of(flat))
    return reshape(take(flat, _np.arange(total) % n), shp)


def i0(x):
    """`numpy.i0`: the modified Bessel function of order 0 (chainrule.scipy.special.i0)."""
    if not _traced(x):
        return _np.i0(x)
    x = asarray(x)
    if dtype_of(x).kind == "c":
        raise TypeError("i0 not supported for complex values")
    return _special.i0(astype(x, _np.float64) if dtype_of(x).kind in "biub" else x)


from . import linalg  # noqa: E402,F401  (needs the names above)
from . import fft  # noqa: E402,F401  (chainrule.numpy.fft)
