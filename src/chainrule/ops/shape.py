"""Shape, indexing and update primitives, each with all its rules.

Index arguments are static (concrete) parameters: slices, integers, integer
arrays and boolean masks.  A traced integer used as an index is read as its
concrete value, as Python control flow would.

(Long because indexing's batching rules are: NumPy's advanced-indexing layout rules
decide where vmap's batch axis lands, and they live beside the primitives they serve.)
"""
from __future__ import annotations

import math

import numpy as np

from ..core import Primitive, Tracer, bind, shape_of, dtype_of, concrete
from ..rules import defjvp_full, defvjp, defvjp_full, deflinear, batch_rules, taylor_rules
from . import batch_rules as B
from . import elementwise as E
from . import series as T


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
        known = math.prod(n for n in shape if n != -1)
        if shape.count(-1) > 1 or known == 0 or size % known:
            raise ValueError(f"cannot reshape an array of size {size} into shape {shape}")
        shape = tuple(size // known if n == -1 else n for n in shape)
    if math.prod(shape) != size:
        raise ValueError(f"cannot reshape an array of size {size} into shape {shape}")
    return shape


# -------------------------------------------------------------- reshape ---

reshape_p = Primitive("reshape", lambda x, shape: np.reshape(x, shape))
deflinear(reshape_p, lambda g, ans, x, shape: reshape(g, shape_of(x)))


def _reshape_batch(args, bdims, shape):
    (x,), (d,) = args, bdims
    x = B.to_front(x, d)
    return bind(reshape_p, x, shape=(shape_of(x)[0],) + tuple(shape)), 0


batch_rules[reshape_p] = _reshape_batch
taylor_rules[reshape_p] = T.linear(reshape_p)


def reshape(x, shape, order="C"):
    """`numpy.reshape`; order='F' reads and writes in column-major order (through transposes)."""
    xs = shape_of(x)
    shape = resolve_shape(shape, math.prod(xs))
    if order != "C":
        if order == "A":       # Fortran order only for a Fortran-ordered NumPy array (a traced value has no layout)
            order = "F" if isinstance(x, np.ndarray) and x.flags.f_contiguous and not x.flags.c_contiguous else "C"
        if order == "F":
            return transpose(reshape(transpose(x), shape[::-1]))
        if order != "C":
            raise ValueError(f"reshape: order must be 'C', 'F' or 'A', not {order!r}")
    if shape == xs:
        return x
    return bind(reshape_p, x, shape=shape)


transpose_p = Primitive("transpose", lambda x, axes: np.transpose(x, axes))
deflinear(transpose_p, lambda g, ans, x, axes: transpose(g, tuple(np.argsort(axes))))


def _transpose_batch(args, bdims, axes):
    (x,), (d,) = args, bdims
    perm = (d,) + tuple(B.ex_to_batched(a, d) for a in axes)
    return bind(transpose_p, x, axes=perm), 0


batch_rules[transpose_p] = _transpose_batch
taylor_rules[transpose_p] = T.linear(transpose_p)


def transpose(x, axes=None):
    ndim = len(shape_of(x))
    axes = tuple(reversed(range(ndim))) if axes is None else tuple(normalize_axis(a, ndim) for a in axes)
    if axes == tuple(range(ndim)):
        return x
    return bind(transpose_p, x, axes=axes)


broadcast_to_p = Primitive("broadcast_to", lambda x, shape: np.broadcast_to(x, shape))
deflinear(broadcast_to_p, lambda g, ans, x, shape: E.unbroadcast(x, g))


def _broadcast_to_batch(args, bdims, shape):
    (x,), (d,) = args, bdims
    x = B.to_front(x, d)
    x = B.pad_after_batch(x, len(shape) - (B.ndim(x) - 1))
    return bind(broadcast_to_p, x, shape=(shape_of(x)[0],) + tuple(shape)), 0


batch_rules[broadcast_to_p] = _broadcast_to_batch
taylor_rules[broadcast_to_p] = T.linear(broadcast_to_p)


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
    if dtype.kind not in "fc":          # a cast to integers or booleans: piecewise constant
        return None
    src = dtype_of(x)
    if src.kind == "c" or dtype.kind != "c":
        return astype(g, src)
    return astype(E.real(g), src)


def _convert_jvp(primals, tangents, dtype):
    ans = bind(convert_p, primals[0], dtype=dtype)
    t = tangents[0]
    return ans, None if t is None or dtype.kind not in "fc" else bind(convert_p, t, dtype=dtype)


convert_p = Primitive("convert_element_type", lambda x, dtype: np.asarray(x).astype(dtype))
defjvp_full(convert_p, _convert_jvp)
defvjp(convert_p, _convert_transpose)
_convert_linear = T.linear(convert_p)


def _convert_taylor(series, dtype):
    if not np.issubdtype(np.dtype(dtype), np.inexact):      # to integers or booleans: a constant
        return [bind(convert_p, series[0][0], dtype=dtype)] + [None] * (len(series[0]) - 1)
    return _convert_linear(series, dtype=dtype)


batch_rules[convert_p] = B.elementwise(convert_p)
taylor_rules[convert_p] = _convert_taylor


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


def _concat_batch(args, bdims, axis):
    if all(d is not None for d in bdims) and len(set(bdims)) == 1:
        d = bdims[0]
        return bind(concatenate_p, *args, axis=B.ex_to_batched(axis, d)), d
    return bind(concatenate_p, *B.front(args, bdims), axis=axis + 1), 0


defjvp_full(concatenate_p, _concat_jvp)
defvjp_full(concatenate_p, _concat_vjp)
batch_rules[concatenate_p] = _concat_batch
taylor_rules[concatenate_p] = T.linear(concatenate_p)


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
    return bind(reshape_p, x, shape=tuple(shape))        # (the same size: nothing to check)


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


def _is_int(i):
    return isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))


def _adv_layout(idx, nd):
    """Where the batch axis lands in x_b[(slice(None),) + idx], x_b's examples of rank nd.

    With no advanced index, or with the advanced indices adjacent, the batch
    axis stays first; otherwise NumPy moves the broadcast advanced axes to the
    front and the batch axis follows them.
    """
    full = list(idx)        # an Ellipsis (even an empty one) or None between them breaks adjacency
    if not any(isinstance(i, (np.ndarray, bool, np.bool_)) for i in full):
        return 0
    pos, shapes = [], []
    for k, i in enumerate(full):
        if isinstance(i, np.ndarray):
            pos.append(k)
            if i.dtype == bool:                     # a mask: one axis of its true entries
                shapes.append((int(np.count_nonzero(i)),) if i.ndim else (int(i),))
            else:
                shapes.append(i.shape)
        elif isinstance(i, (bool, np.bool_)):
            pos.append(k)
            shapes.append((int(i),))
        elif _is_int(i):
            pos.append(k)
            shapes.append(())
    if pos == list(range(pos[0], pos[0] + len(pos))):
        return 0
    return len(np.broadcast_shapes(*shapes))


def _getitem_batch(args, bdims, idx):
    (x,), (d,) = args, bdims
    x = B.to_front(x, d)
    out = bind(getitem_p, x, idx=(slice(None),) + tuple(idx))
    return out, _adv_layout(idx, B.ndim(x) - 1)


batch_rules[getitem_p] = _getitem_batch
taylor_rules[getitem_p] = T.linear(getitem_p)


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


def _target_shape(xshape, idx):
    """Shape of x[idx] for an example x of shape xshape (no copy of x is made)."""
    return np.broadcast_to(np.zeros((), np.int8), xshape)[idx].shape


def _update_batch(p):
    """Batching rule of index_add and index_set (x, y, idx=...)."""
    def rule(args, bdims, idx):
        (x, y), (dx, dy) = args, bdims
        n = B.batch_size(args, bdims)
        if dx is None:
            xs = tuple(shape_of(x))
            xb = broadcast_to(x if hasattr(x, "shape") else np.asarray(x), (n,) + xs)
        else:
            xb = B.to_front(x, dx)
            xs = tuple(shape_of(xb))[1:]
        target = _target_shape(xs, idx)
        pos = _adv_layout(idx, len(xs))
        ys = tuple(shape_of(y))
        if dy is not None:
            ys = ys[:dy] + ys[dy + 1:]
        while len(ys) > len(target) and ys[0] == 1:     # NumPy drops leading 1s of the value
            ys = ys[1:]
        full = (1,) * (len(target) - len(ys)) + ys
        if dy is None:
            if pos:                                 # the batch axis sits inside the target
                y = reshape(y, full[:pos] + (1,) + full[pos:])
        else:
            y = B.move(reshape(B.to_front(y, dy), (n,) + full), 0, pos)
        return bind(p, xb, y, idx=(slice(None),) + tuple(idx)), 0
    return rule


index_add_p = Primitive("index_add", _index_add_impl)
deflinear(index_add_p, lambda g, ans, x, y, idx: g,
          lambda g, ans, x, y, idx: E.unbroadcast(y, getitem(g, idx)))
batch_rules[index_add_p] = _update_batch(index_add_p)
taylor_rules[index_add_p] = T.linear(index_add_p, [True, True])


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
batch_rules[index_set_p] = _update_batch(index_set_p)
taylor_rules[index_set_p] = T.linear(index_set_p, [True, True])


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


def _pad_batch(args, bdims, widths):
    (x,), (d,) = args, bdims
    w = tuple(widths[:d]) + ((0, 0),) + tuple(widths[d:])
    return bind(pad_p, x, widths=w), d


batch_rules[pad_p] = _pad_batch
taylor_rules[pad_p] = T.linear(pad_p)


_PAD_KWARGS = {"constant": {"constant_values"}, "empty": set(), "edge": set(), "wrap": set(),
               "reflect": {"reflect_type"}, "symmetric": {"reflect_type"}, "linear_ramp": {"end_values"},
               "maximum": {"stat_length"}, "minimum": {"stat_length"}, "mean": {"stat_length"},
               "median": {"stat_length"}}


def _pairs(v, nd, as_index=False):
    """NumPy's per-axis (before, after) pairs of a pad argument."""
    if v is None:
        return [(None, None)] * nd
    v = np.asarray(v)
    if as_index:
        v = np.round(v).astype(np.intp)
        if np.any(v < 0):
            raise ValueError("index can't contain negative values")
    return [tuple(p) for p in np.broadcast_to(v, (nd, 2)).tolist()]


def pad(x, pad_width, mode="constant", **kwargs):
    """`numpy.pad`.  On traced values every mode except a callable and reflect_type='odd' is
    built from differentiable gathers, reductions and concatenations, one axis after another
    as NumPy pads (so corners come from the axes padded before)."""
    if not isinstance(x, Tracer) and not any(isinstance(v, Tracer) for v in kwargs.values()):
        return np.pad(x, pad_width, mode=mode, **kwargs)
    xs = shape_of(x)
    nd = len(xs)
    if np.asarray(pad_width).dtype.kind not in "iu":
        raise TypeError("`pad_width` must be of integral type.")
    if callable(mode) or mode not in _PAD_KWARGS:
        raise ValueError(f"pad: mode {mode!r} is not supported on traced values (use one of "
                         f"{', '.join(_PAD_KWARGS)})")
    unknown = set(kwargs) - _PAD_KWARGS[mode]
    if unknown:
        raise ValueError(f"unsupported keyword arguments for mode '{mode}': {unknown}")
    if kwargs.get("reflect_type", "even") != "even":
        raise NotImplementedError("pad: reflect_type='odd' is not supported on traced values")
    widths = tuple(_pairs(pad_width, nd, as_index=True))
    if nd == 0 or not any(lo or hi for lo, hi in widths):
        return x
    if mode in ("constant", "empty"):         # 'empty' leaves the padding undefined: zeros will do
        return _pad_constant(x, widths, kwargs.get("constant_values", 0))
    stat_lengths = _pairs(kwargs.get("stat_length"), nd, as_index=True)
    ev = kwargs.get("end_values", 0)
    end_values = [(ev, ev)] * nd if isinstance(ev, Tracer) else _pairs(ev, nd)
    for axis, (lo, hi) in enumerate(widths):
        if not (lo or hi):
            continue
        n = shape_of(x)[axis]
        if n == 0:
            raise ValueError(f"can't extend empty axis {axis} using modes other than 'constant' or 'empty'")
        if mode in ("edge", "wrap", "reflect", "symmetric"):
            x = take(x, np.pad(np.arange(n), (lo, hi), mode=mode), axis=axis)
            continue
        parts = []
        for side, w in ((0, lo), (1, hi)):
            if w:
                fill = (_pad_ramp(x, axis, n, w, side, end_values[axis][side]) if mode == "linear_ramp"
                        else _pad_stat(x, axis, n, w, side, stat_lengths[axis][side], mode))
                parts.append(fill)
        parts.insert(1 if lo else 0, x)
        x = concatenate(parts, axis=axis)
    return x


def _pad_constant(x, widths, constant_values):
    xs = shape_of(x)
    out = bind(pad_p, x, widths=widths)
    mask = np.pad(np.zeros(xs, bool), widths, constant_values=True)
    if isinstance(constant_values, Tracer):
        return astype(E.select(mask, constant_values, out), dtype_of(x))
    cv = np.asarray(constant_values)
    if np.any((cv != 0) | (np.signbit(cv) if cv.dtype.kind == "f" else False)):   # -0.0 too
        cv = np.broadcast_to(constant_values, (len(xs), 2))
        fill = np.pad(np.zeros(xs, dtype_of(x)), widths, mode="constant", constant_values=cv)
        out = E.select(mask, fill, out)
    return out


def _along(axis, sl):
    return (slice(None),) * axis + (sl,)


def _pad_stat(x, axis, n, w, side, length, mode):
    """The `mode` statistic (max, min, mean, median) of the `length` entries next to `side`."""
    from . import reductions as R
    length = n if length is None else min(int(length), n)
    if length == 0 and mode in ("maximum", "minimum"):
        raise ValueError("stat_length of 0 yields no value for padding")
    chunk = getitem(x, _along(axis, slice(0, length) if side == 0 else slice(n - length, n)))
    if mode == "maximum":
        stat = R.max(chunk, axis=axis, keepdims=True)
    elif mode == "minimum":
        stat = R.min(chunk, axis=axis, keepdims=True)
    elif mode == "mean":
        stat = R.sum(chunk, axis=axis, keepdims=True) / length
    else:
        srt = R.sort(chunk, axis=axis)
        mid = getitem(srt, _along(axis, slice((length - 1) // 2, length // 2 + 1)))
        stat = R.sum(mid, axis=axis, keepdims=True) / shape_of(mid)[axis]
    if dtype_of(x).kind in "iu":
        stat = E.round(stat)
    stat = astype(stat, dtype_of(x))
    return broadcast_to(stat, tuple(w if i == axis else m for i, m in enumerate(shape_of(x))))


def _pad_ramp(x, axis, n, w, side, end):
    """NumPy's linear ramp from `end` towards the edge value (the edge itself excluded)."""
    edge = getitem(x, _along(axis, slice(0, 1) if side == 0 else slice(n - 1, n)))
    k = np.arange(w) if side == 0 else np.arange(w - 1, -1, -1)
    k = k.reshape(tuple(w if i == axis else 1 for i in range(len(shape_of(x)))))
    ramp = k * ((edge - end) / w) + end
    if dtype_of(x).kind in "iu":
        ramp = E.floor(ramp)
    return astype(ramp, dtype_of(x))


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


def _take_along_axis_batch(args, bdims, axis):
    # both operands in front (an unbatched one broadcast, so that the derivative rules,
    # which scatter into an array of x's shape, see matching shapes)
    x, idx = B.front(args, bdims)
    return bind(take_along_axis_p, x, idx, axis=axis + 1), 0


def _scatter_add_along_axis_batch(args, bdims, axis):
    (x, idx, y), (dx, di, dy) = args, bdims
    x, idx = B.front([x, idx], [dx, di], B.batch_size(args, bdims))
    if dy is not None:                      # y broadcasts against one example's indices
        y = B.to_front(y, dy)
        y = B.pad_after_batch(y, B.ndim(idx) - B.ndim(y))
    return bind(scatter_add_along_axis_p, x, idx, y, axis=axis + 1), 0


batch_rules[take_along_axis_p] = _take_along_axis_batch
taylor_rules[take_along_axis_p] = T.linear(take_along_axis_p, [True, False])
batch_rules[scatter_add_along_axis_p] = _scatter_add_along_axis_batch
taylor_rules[scatter_add_along_axis_p] = T.linear(scatter_add_along_axis_p, [True, False, True])


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
    given = axis if isinstance(axis, (tuple, list)) else (axis,)
    axes = range(nd) if axis is None else [normalize_axis(a, nd) for a in given]
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

