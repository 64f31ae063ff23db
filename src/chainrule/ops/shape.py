"""Shape, indexing and update primitives, with their derivative rules.

Index arguments are static (concrete) parameters: slices, integers, integer
arrays and boolean masks.  A traced integer used as an index is read as its
concrete value, as Python control flow would.
"""
from __future__ import annotations

import numpy as np

from ..core import Primitive, Tracer, bind, shape_of, dtype_of, concrete
from ..rules import defjvp_full, defvjp, defvjp_full, deflinear
from . import elementwise as E


def normalize_axis(axis, ndim):
    axis = int(axis)
    if not -ndim <= axis < max(ndim, 1):
        raise ValueError(f"axis {axis} is out of bounds for an array of dimension {ndim}")
    return axis % ndim if ndim else 0


def resolve_shape(shape, size):
    """A reshape target with any -1 filled in."""
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = tuple(int(n) for n in shape)
    if -1 in shape:
        known = int(np.prod([n for n in shape if n != -1], dtype=np.int64))
        if shape.count(-1) > 1 or known == 0 or size % known:
            raise ValueError(f"cannot reshape an array of size {size} into shape {shape}")
        shape = tuple(size // known if n == -1 else n for n in shape)
    if int(np.prod(shape, dtype=np.int64)) != size:
        raise ValueError(f"cannot reshape an array of size {size} into shape {shape}")
    return shape


# -------------------------------------------------------------- reshape ---

reshape_p = Primitive("reshape", lambda x, shape: np.reshape(x, shape))
deflinear(reshape_p, lambda g, ans, x, shape: reshape(g, shape_of(x)))


def reshape(x, shape):
    xs = shape_of(x)
    shape = resolve_shape(shape, int(np.prod(xs, dtype=np.int64)))
    if shape == xs:
        return x
    return bind(reshape_p, x, shape=shape)


transpose_p = Primitive("transpose", lambda x, axes: np.transpose(x, axes))
deflinear(transpose_p, lambda g, ans, x, axes: transpose(g, tuple(np.argsort(axes))))


def transpose(x, axes=None):
    ndim = len(shape_of(x))
    axes = tuple(reversed(range(ndim))) if axes is None else tuple(normalize_axis(a, ndim) for a in axes)
    if axes == tuple(range(ndim)):
        return x
    return bind(transpose_p, x, axes=axes)


broadcast_to_p = Primitive("broadcast_to", lambda x, shape: np.broadcast_to(x, shape))
deflinear(broadcast_to_p, lambda g, ans, x, shape: E.unbroadcast(x, g))


def broadcast_to(x, shape):
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(n) for n in shape)
    if shape_of(x) == shape:
        return x
    return bind(broadcast_to_p, x, shape=shape)


def astype(x, dtype):
    dtype = np.dtype(dtype)
    if dtype_of(x) == dtype:
        return x
    return bind(convert_p, x, dtype=dtype)


def _convert_transpose(g, ans, x, dtype):
    src = dtype_of(x)
    if src.kind == "c" or dtype.kind != "c":
        return astype(g, src)
    return astype(E.real(g), src)


convert_p = Primitive("convert_element_type", lambda x, dtype: np.asarray(x).astype(dtype))
deflinear(convert_p, _convert_transpose)


# ---------------------------------------------------------- concatenate ---

def _concat_impl(*xs, axis):
    return np.concatenate(xs, axis=axis)


concatenate_p = Primitive("concatenate", _concat_impl)


def _concat_jvp(primals, tangents, axis):
    ans = bind(concatenate_p, *primals, axis=axis)
    if all(t is None for t in tangents):
        return ans, None
    ts = [E.zeros_of(x) if t is None else t for x, t in zip(primals, tangents)]
    return ans, bind(concatenate_p, *ts, axis=axis)


def _concat_vjp(g, ans, primals, argnums, axis):
    bounds = np.cumsum([0] + [shape_of(x)[axis] for x in primals])
    return [getitem(g, (slice(None),) * axis + (slice(int(bounds[i]), int(bounds[i + 1])),))
            for i in argnums]


defjvp_full(concatenate_p, _concat_jvp)
defvjp_full(concatenate_p, _concat_vjp)


def concatenate(xs, axis=0):
    xs = list(xs)
    if axis is None:
        xs, axis = [reshape(x, (-1,)) for x in xs], 0
    dt = np.result_type(*[dtype_of(x) for x in xs])
    xs = [astype(x, dt) for x in xs]
    axis = normalize_axis(axis, len(shape_of(xs[0])))
    if len(xs) == 1:
        return xs[0]
    return bind(concatenate_p, *xs, axis=axis)


def expand_dims(x, axis):
    xs = shape_of(x)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    nd = len(xs) + len(axes)
    axes = sorted(normalize_axis(a, nd) for a in axes)
    shape = list(xs)
    for a in axes:
        shape.insert(a, 1)
    return reshape(x, tuple(shape))


def stack(xs, axis=0):
    xs = list(xs)
    if not xs:
        raise ValueError("need at least one array to stack")
    return concatenate([expand_dims(x, axis) for x in xs], axis=axis)


# ------------------------------------------------------------- indexing ---

def _static_index(idx):
    """Make an index concrete and canonical (a tuple)."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    out = []
    for i in idx:
        if isinstance(i, Tracer):
            i = concrete(i)
        if isinstance(i, list):
            i = np.asarray(i)
        out.append(i)
    return tuple(out)


getitem_p = Primitive("getitem", lambda x, idx: np.asarray(x)[idx] if not isinstance(x, np.ndarray) else x[idx])
deflinear(getitem_p, lambda g, ans, x, idx: index_add(zeros_view(shape_of(x), dtype_of(g)), idx, g))


def getitem(x, idx):
    return bind(getitem_p, x, idx=_static_index(idx))


def _is_basic(idx):
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in idx)


def zeros_view(shape, dtype):
    """Zeros of `shape` that take no memory (a broadcast scalar), for scatters to start from."""
    return np.broadcast_to(np.zeros((), dtype), shape)


def _is_zero_view(x):
    return isinstance(x, np.ndarray) and x.size and not any(x.strides) and x.flat[0] == 0


def _index_add_impl(x, y, idx):
    dtype = np.result_type(x, y)
    if _is_zero_view(x):        # the transpose of indexing: scatter into fresh zeros
        out = np.zeros(x.shape, dtype)
        if _is_basic(idx):
            out[idx] = y
            return out
    else:
        out = np.array(x, dtype=dtype, copy=True)
    if _is_basic(idx):          # no repeated positions possible: a plain in-place add
        out[idx] += y
    else:
        np.add.at(out, idx, y)
    return out


index_add_p = Primitive("index_add", _index_add_impl)
deflinear(index_add_p, lambda g, ans, x, y, idx: g,
          lambda g, ans, x, y, idx: E.unbroadcast(y, getitem(g, idx)))


def index_add(x, idx, y):
    """`x` with `y` added at `idx` (repeated indices accumulate), as a new array."""
    return bind(index_add_p, x, y, idx=_static_index(idx))


def _index_set_impl(x, y, idx):
    out = np.array(x, dtype=np.result_type(x, y), copy=True)
    out[idx] = y
    return out


index_set_p = Primitive("index_set", _index_set_impl)


def _index_set_jvp(primals, tangents, idx):
    (x, y), (tx, ty) = primals, tangents
    ans = bind(index_set_p, x, y, idx=idx)
    if tx is None and ty is None:
        return ans, None
    return ans, bind(index_set_p, E.zeros_of(x) if tx is None else tx, 0.0 if ty is None else ty, idx=idx)


defjvp_full(index_set_p, _index_set_jvp)
defvjp(index_set_p, lambda g, ans, x, y, idx: index_set(g, idx, 0.0),
       lambda g, ans, x, y, idx: E.unbroadcast(y, getitem(g, idx)))


def index_set(x, idx, y):
    """`x` with `x[idx] = y` applied, as a new array."""
    return bind(index_set_p, x, y, idx=_static_index(idx))


class _IndexUpdate:
    """`x.at[idx].set(y)` / `.add(y)` / `.multiply(y)` / `.get()`, as in JAX."""

    __slots__ = ("x", "idx")

    def __init__(self, x, idx):
        self.x, self.idx = x, idx

    def get(self):
        return getitem(self.x, self.idx)

    def set(self, y):
        return index_set(self.x, self.idx, y)

    def add(self, y):
        return index_add(self.x, self.idx, y)

    def subtract(self, y):
        return index_add(self.x, self.idx, -y)

    def multiply(self, y):
        idx = _static_index(self.idx)
        marks = np.zeros(shape_of(self.x), np.int64)
        np.add.at(marks, idx, 1)
        if marks.max(initial=0) > 1:
            raise NotImplementedError("x.at[idx].multiply(y) with repeated indices is not supported")
        factor = index_set(np.ones(shape_of(self.x), np.result_type(dtype_of(self.x), dtype_of(y))), idx, y)
        return self.x * factor

    def divide(self, y):
        return self.multiply(1.0 / y)


class _At:
    __slots__ = ("x",)

    def __init__(self, x):
        self.x = x

    def __getitem__(self, idx):
        return _IndexUpdate(self.x, idx)


def at(x):
    """Functional updates for any array: ``at(x)[idx].set(y)`` (``x.at[...]`` on traced values)."""
    return _At(x)


# ------------------------------------------------------------------ pad ---

def _pad_impl(x, widths):
    return np.pad(x, widths)


pad_p = Primitive("pad", _pad_impl)
deflinear(pad_p, lambda g, ans, x, widths: getitem(
    g, tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, shape_of(x)))))


def pad(x, pad_width, mode="constant", constant_values=0):
    """`numpy.pad`: constant mode is a primitive; other modes gather from `x`."""
    xs = shape_of(x)
    widths = tuple(tuple(int(w) for w in pair) for pair in np.broadcast_to(pad_width, (len(xs), 2)))
    if mode == "constant":
        out = bind(pad_p, x, widths=widths)
        if np.any(np.asarray(constant_values) != 0):
            mask = np.pad(np.zeros(xs, bool), widths, constant_values=True)
            cv = np.broadcast_to(constant_values, (len(xs), 2))
            fill = np.pad(np.zeros(xs), widths, mode="constant", constant_values=cv)
            out = E.select(mask, fill, out)
        return out
    for axis, (lo, hi) in enumerate(widths):
        if lo or hi:
            src = np.pad(np.arange(xs[axis]), (lo, hi), mode=mode)
            x = take(x, src, axis=axis)
    return x


# ------------------------------------------------ gathers built on getitem ---

def take(x, indices, axis=None):
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    axis = normalize_axis(axis, len(shape_of(x)))
    if not isinstance(indices, Tracer):
        return getitem(x, (slice(None),) * axis + (np.asarray(indices),))
    # traced indices (data, not control flow): a gather along the axis
    xs, ishape = shape_of(x), shape_of(indices)
    flat = reshape(indices, (-1,))
    k = shape_of(flat)[0]
    idx = broadcast_to(reshape(flat, tuple(k if i == axis else 1 for i in range(len(xs)))),
                       tuple(k if i == axis else n for i, n in enumerate(xs)))
    out = take_along_axis(x, idx, axis)
    return reshape(out, xs[:axis] + ishape + xs[axis + 1:])


def _along_axis_index(idx, axis):
    grids = np.ogrid[tuple(slice(n) for n in idx.shape)]
    return tuple(idx if i == axis else grids[i] for i in range(idx.ndim))


def _scatter_add_impl(x, idx, y, axis):
    out = np.array(x, dtype=np.result_type(x, y), copy=True)
    idx = np.asarray(idx)
    np.add.at(out, _along_axis_index(idx, axis), np.broadcast_to(y, idx.shape))
    return out


take_along_axis_p = Primitive("take_along_axis", lambda x, idx, axis: np.take_along_axis(x, idx, axis=axis))
scatter_add_along_axis_p = Primitive("scatter_add_along_axis", _scatter_add_impl)
deflinear(take_along_axis_p, lambda g, ans, x, idx, axis: scatter_add_along_axis(
    np.zeros(shape_of(x), dtype_of(g)), idx, g, axis), None)
deflinear(scatter_add_along_axis_p, lambda g, ans, x, idx, y, axis: g, None,
          lambda g, ans, x, idx, y, axis: E.unbroadcast(y, take_along_axis(g, idx, axis)))


def take_along_axis(x, indices, axis):
    """`numpy.take_along_axis`; the indices may be traced (they carry no derivative)."""
    xs = shape_of(x)
    axis = normalize_axis(axis, len(xs))
    ishape = shape_of(indices)
    if len(ishape) != len(xs):
        raise ValueError(f"take_along_axis: indices have {len(ishape)} dimensions, the array {len(xs)}")
    full = tuple(ishape[axis] if i == axis else n for i, n in enumerate(xs))
    if ishape != full:
        indices = broadcast_to(indices, full)
    return bind(take_along_axis_p, x, indices, axis=axis)


def scatter_add_along_axis(x, indices, y, axis):
    """`x` with `y` added at `indices` along `axis` (repeats accumulate): take_along_axis's transpose."""
    return bind(scatter_add_along_axis_p, x, indices, y, axis=normalize_axis(axis, len(shape_of(x))))


def flip(x, axis=None):
    nd = len(shape_of(x))
    axes = range(nd) if axis is None else [normalize_axis(a, nd) for a in (axis if isinstance(axis, (tuple, list)) else (axis,))]
    idx = [slice(None)] * nd
    for a in axes:
        idx[a] = slice(None, None, -1)
    return getitem(x, tuple(idx))


def squeeze(x, axis=None):
    xs = shape_of(x)
    if axis is None:
        axes = {i for i, n in enumerate(xs) if n == 1}
    else:
        axes = {normalize_axis(a, len(xs)) for a in (axis if isinstance(axis, (tuple, list)) else (axis,))}
        if any(xs[a] != 1 for a in axes):
            raise ValueError("cannot select an axis to squeeze out which has size not equal to one")
    return reshape(x, tuple(n for i, n in enumerate(xs) if i not in axes))

