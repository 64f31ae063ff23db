"""Reductions and cumulative operations, with their derivative rules."""
from __future__ import annotations

import numpy as np

from ..core import Primitive, Tracer, bind, shape_of, dtype_of
from ..rules import defjvp_full, defvjp, deflinear, defnondiff, batch_rules, taylor_rules
from . import batch_rules as B
from . import elementwise as E
from . import series as T
from . import shape as S


def normalize_axes(x, axis):
    """`axis` (None, int or tuple) as a sorted tuple of non-negative ints."""
    ndim = len(shape_of(x))
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        axes = [S.normalize_axis(a, ndim) for a in axis]
        if len(set(axes)) != len(axes):
            raise ValueError(f"repeated axis in {axis}")
        return tuple(sorted(axes))
    return (S.normalize_axis(axis, ndim),)


def expand_back(g, x, axes, keepdims):
    """Broadcast a reduced cotangent back to the shape of `x`."""
    xs = shape_of(x)
    if not keepdims and axes:
        g = S.reshape(g, tuple(1 if i in axes else n for i, n in enumerate(xs)))
    return S.broadcast_to(g, xs)


def _keep(x, ans, axes, keepdims):
    """`ans` with the reduced axes kept as size 1 (to broadcast against x)."""
    if keepdims or not axes:
        return ans
    xs = shape_of(x)
    return S.reshape(ans, tuple(1 if i in axes else n for i, n in enumerate(xs)))


# ------------------------------------------------------------------ sum ---

_ONES = {}


def sum_plan(shape, dtype, axes):
    """(pre, k, post) when summing `axes` of a C-contiguous float64 array is a sum over the
    middle axis of a (pre, k, post) view with short rows (post <= 64 elements, or the k
    trailing ones): then a product with a vector of ones is ~8x faster than np.sum, which
    is slow along an axis that is not the fastest-varying one when those rows are short."""
    nd = len(shape)
    if dtype != np.float64 or not axes or len(axes) >= nd or list(axes) != list(range(axes[0], axes[0] + len(axes))):
        return None
    pre = int(np.prod(shape[:axes[0]], dtype=np.int64))
    k = int(np.prod(shape[axes[0]:axes[-1] + 1], dtype=np.int64))
    post = int(np.prod(shape[axes[-1] + 1:], dtype=np.int64))
    if k < 2 or pre * post < 64:
        return None
    if post == 1:
        return (pre, k, 1) if k <= 64 else None
    return (pre, k, post) if post <= 64 and pre > 1 else None


def ones_vector(k):
    v = _ONES.get(k)
    if v is None:
        v = _ONES[k] = np.ones(k)
    return v


def _sum_impl(x, axes, keepdims):
    if type(x) is np.ndarray:
        plan = sum_plan(x.shape, x.dtype, axes)
        if plan is not None:
            pre, k, post = plan
            kept = tuple(n for i, n in enumerate(x.shape) if i not in axes)
            xc = np.ascontiguousarray(x)
            out = xc.reshape(pre, k) @ ones_vector(k) if post == 1 else \
                np.matmul(ones_vector(k), xc.reshape(pre, k, post))
            shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape)) if keepdims else kept
            return out.reshape(shape)
    return np.sum(x, axis=axes, keepdims=keepdims)


reduce_sum_p = Primitive("reduce_sum", _sum_impl)
deflinear(reduce_sum_p, lambda g, ans, x, axes, keepdims: expand_back(g, x, axes, keepdims))
batch_rules[reduce_sum_p] = B.reduce_axes(reduce_sum_p)
taylor_rules[reduce_sum_p] = T.linear(reduce_sum_p)


def _masked(x, where, fill):
    """x where `where` holds, `fill` elsewhere (NumPy's where= of a reduction)."""
    if where is None or where is True:
        return x
    if np.broadcast_shapes(shape_of(where), shape_of(x)) != shape_of(x):
        raise ValueError(f"where= of shape {shape_of(where)} does not broadcast to the array's "
                         f"shape {shape_of(x)}")
    return E.select(where, x, fill)


def _with_initial(out, initial, combine):
    """`combine(out, initial)`; a constant initial is cast to the result's dtype, as NumPy does."""
    if initial is None:
        return out
    if not isinstance(initial, Tracer):
        initial = np.asarray(initial).astype(dtype_of(out))[()]
    return combine(out, initial)


def sum(x, axis=None, keepdims=False, dtype=None, initial=None, where=None):  # noqa: A001
    """`numpy.sum`; `where=` masks entries out (no derivative reaches them), `initial` is added."""
    axes = normalize_axes(x, axis)
    if dtype is not None:
        x = S.astype(x, dtype)
    elif dtype_of(x).kind in "bui":
        x = S.astype(x, np.int64 if dtype_of(x).kind != "u" else np.uint64)
    if where is not None:
        x = _masked(x, where, 0)
    out = x if not axes and not keepdims else bind(reduce_sum_p, x, axes=axes, keepdims=keepdims)
    return out if initial is None else _with_initial(out, initial, E.add)


# -------------------------------------------------------------- max/min ---

def _extremum(name, np_fn):
    p = Primitive(name, lambda x, axes, keepdims: np_fn(x, axis=axes, keepdims=keepdims))

    def weights(x, ans, axes, keepdims):
        hit = S.astype(E.equal(x, _keep(x, ans, axes, keepdims)), dtype_of(ans))
        return hit / sum(hit, axis=axes, keepdims=True)      # ties share equally

    def jvp(primals, tangents, axes, keepdims):
        (x,), (t,) = primals, tangents
        ans = bind(p, x, axes=axes, keepdims=keepdims)
        if t is None:
            return ans, None
        return ans, sum(t * weights(x, ans, axes, keepdims), axis=axes, keepdims=keepdims)
    defjvp_full(p, jvp)
    defvjp(p, lambda g, ans, x, axes, keepdims:
           expand_back(g, x, axes, keepdims) * weights(x, ans, axes, keepdims))

    def taylor(series, axes, keepdims):
        x = series[0]
        ans = bind(p, x[0], axes=axes, keepdims=keepdims)
        hit = E.equal(x[0], _keep(x[0], ans, axes, keepdims)) * 1.0
        w = hit / sum(hit, axis=axes, keepdims=True)
        return [ans] + [None if v is None else sum(v * w, axis=axes, keepdims=keepdims) for v in x[1:]]
    batch_rules[p] = B.reduce_axes(p)
    taylor_rules[p] = taylor
    return p


reduce_max_p = _extremum("reduce_max", np.max)
reduce_min_p = _extremum("reduce_min", np.min)


def _extreme(p, combine, name, x, axis, keepdims, initial, where):
    axes = normalize_axes(x, axis)
    if where is not None and where is not True:
        if initial is None:
            raise ValueError(f"{name}(x, where=...) needs initial=: a fully masked-out reduction "
                             "has no value (as in NumPy)")
        x = _masked(x, where, initial)
    xs = shape_of(x)
    if initial is not None and 0 in [xs[a] for a in axes]:       # nothing to reduce
        kept = tuple(1 if i in axes else n for i, n in enumerate(xs)) if keepdims else \
            tuple(n for i, n in enumerate(xs) if i not in axes)
        return S.broadcast_to(_with_initial(np.zeros((), dtype_of(x)), initial, E.add), kept)
    return _with_initial(bind(p, x, axes=axes, keepdims=keepdims), initial, combine)


def max(x, axis=None, keepdims=False, initial=None, where=None):  # noqa: A001
    """`numpy.max`; `initial` takes part in the maximum, `where=` (with `initial`) masks entries."""
    if initial is None and where is None:
        return bind(reduce_max_p, x, axes=normalize_axes(x, axis), keepdims=keepdims)
    return _extreme(reduce_max_p, E.maximum, "max", x, axis, keepdims, initial, where)


def min(x, axis=None, keepdims=False, initial=None, where=None):  # noqa: A001
    """`numpy.min`; `initial` takes part in the minimum, `where=` (with `initial`) masks entries."""
    if initial is None and where is None:
        return bind(reduce_min_p, x, axes=normalize_axes(x, axis), keepdims=keepdims)
    return _extreme(reduce_min_p, E.minimum, "min", x, axis, keepdims, initial, where)


# ----------------------------------------------------------------- prod ---

def _prod_of_others(x, axes):
    """For each element, the product of the other elements of its reduction group.

    Exclusive products from the left and from the right: exact with zeros.
    """
    xs = shape_of(x)
    if 0 in [xs[a] for a in axes]:                  # empty groups: nothing to multiply
        return np.zeros(xs, dtype_of(x))
    keep = [i for i in range(len(xs)) if i not in axes]
    perm = keep + list(axes)
    xt = S.transpose(x, tuple(perm))
    lead = tuple(xs[i] for i in keep)
    flat = S.reshape(xt, lead + (-1,))
    one = np.ones(lead + (1,), dtype_of(x))
    left = S.concatenate([one, cumprod(flat[..., :-1], axis=-1)], axis=-1)
    right = S.flip(S.concatenate([one, cumprod(S.flip(flat, -1)[..., :-1], axis=-1)], axis=-1), -1)
    others = S.reshape(left * right, shape_of(xt))
    return S.transpose(others, tuple(np.argsort(perm)))


reduce_prod_p = Primitive("reduce_prod", lambda x, axes, keepdims: np.prod(x, axis=axes, keepdims=keepdims))


def _prod_jvp(primals, tangents, axes, keepdims):
    (x,), (t,) = primals, tangents
    ans = bind(reduce_prod_p, x, axes=axes, keepdims=keepdims)
    if t is None:
        return ans, None
    return ans, sum(t * _prod_of_others(x, axes), axis=axes, keepdims=keepdims)


defjvp_full(reduce_prod_p, _prod_jvp)
defvjp(reduce_prod_p, lambda g, ans, x, axes, keepdims:
       expand_back(g, x, axes, keepdims) * _prod_of_others(x, axes))


def _prod_taylor(series, axes, keepdims):
    """A balanced tree of Cauchy products over the reduced elements (exact with zeros)."""
    x = series[0]
    ans = bind(reduce_prod_p, x[0], axes=axes, keepdims=keepdims)
    xs = shape_of(x[0])
    keep = [i for i in range(len(xs)) if i not in axes]
    lead = tuple(xs[i] for i in keep)
    m = int(np.prod([xs[a] for a in axes], dtype=np.int64))
    if m == 0:
        return [ans] + [None] * (len(x) - 1)
    perm = tuple(keep) + tuple(axes)
    cur = [None if c is None else S.reshape(S.transpose(c, perm), lead + (m,)) for c in x]
    while m > 1:
        if m % 2:                                   # pad with a factor 1 (series 1, 0, 0, ...)
            pad = lead + (1,)
            cur = [None if c is None else
                   S.concatenate([c, np.ones(pad) if k == 0 else np.zeros(pad)], axis=-1)
                   for k, c in enumerate(cur)]
            m += 1
        a = [None if c is None else S.getitem(c, (Ellipsis, slice(0, None, 2))) for c in cur]
        b = [None if c is None else S.getitem(c, (Ellipsis, slice(1, None, 2))) for c in cur]
        cur = T.s_mul(a, b)
        m //= 2
    shp = shape_of(ans)
    return [ans] + [None if c is None else S.reshape(c, shp) for c in cur[1:]]


batch_rules[reduce_prod_p] = B.reduce_axes(reduce_prod_p)
taylor_rules[reduce_prod_p] = _prod_taylor


def prod(x, axis=None, keepdims=False, dtype=None, initial=None, where=None):
    """`numpy.prod`; `where=` masks entries out (as factors of 1), `initial` multiplies in."""
    if dtype is not None:
        x = S.astype(x, dtype)
    x = _masked(x, where, 1)
    return _with_initial(bind(reduce_prod_p, x, axes=normalize_axes(x, axis), keepdims=keepdims),
                         initial, E.multiply)


# ----------------------------------------------------------- cumulative ---

cumsum_p = Primitive("cumsum", lambda x, axis: np.cumsum(x, axis=axis))
deflinear(cumsum_p, lambda g, ans, x, axis: S.flip(cumsum(S.flip(g, axis), axis), axis))
batch_rules[cumsum_p] = B.along_axis(cumsum_p)
taylor_rules[cumsum_p] = T.linear(cumsum_p)


def _flat_axis(x, axis):
    if axis is None:
        return S.reshape(x, (-1,)), 0
    return x, S.normalize_axis(axis, len(shape_of(x)))


def cumsum(x, axis=None):
    x, axis = _flat_axis(x, axis)
    return bind(cumsum_p, x, axis=axis)


cumprod_p = Primitive("cumprod", lambda x, axis: np.cumprod(x, axis=axis))
# Valid where x has no zeros; `cumprod` routes inputs with zeros to an exact composite.
defjvp_full(cumprod_p, lambda primals, tangents, axis: (
    lambda ans: (ans, None if tangents[0] is None else ans * cumsum(E.divide(tangents[0], primals[0]), axis)))(
        bind(cumprod_p, primals[0], axis=axis)))
defvjp(cumprod_p, lambda g, ans, x, axis: E.divide(S.flip(cumsum(S.flip(g * ans, axis), axis), axis), x))


def _shift_in(c, s, axis, fill_one):
    """c shifted by s along axis, the first s slots filled with 1 (fill_one) or 0."""
    shp = list(shape_of(c))
    n = shp[axis]
    shp[axis] = s
    fill = np.ones(shp) if fill_one else np.zeros(shp)
    return S.concatenate([fill, S.getitem(c, (slice(None),) * axis + (slice(0, n - s),))], axis=axis)


def _cumprod_taylor(series, axis):
    """Hillis-Steele scan: y_i <- y_i * y_{i-s} for s = 1, 2, 4, ... (exact with zeros)."""
    x = series[0]
    ans = bind(cumprod_p, x[0], axis=axis)
    n = shape_of(x[0])[axis]
    cur = list(x)
    s = 1
    while s < n:
        shifted = [None if c is None else _shift_in(c, s, axis, k == 0) for k, c in enumerate(cur)]
        cur = T.s_mul(cur, shifted)
        s *= 2
    return [ans] + cur[1:]


batch_rules[cumprod_p] = B.along_axis(cumprod_p)
taylor_rules[cumprod_p] = _cumprod_taylor


def cumprod(x, axis=None):
    x, axis = _flat_axis(x, axis)
    if not isinstance(x, np.ndarray) and bool(any(E.equal(x, 0))):
        # exact through zeros: a running product, one multiplication per step
        parts = [S.getitem(x, _index_along(axis, 0, len(shape_of(x))))]
        for k in range(1, shape_of(x)[axis]):
            parts.append(parts[-1] * S.getitem(x, _index_along(axis, k, len(shape_of(x)))))
        return S.stack(parts, axis=axis)
    return bind(cumprod_p, x, axis=axis)


def _index_along(axis, k, ndim):
    return (slice(None),) * axis + (k,)


# ----------------------------------------------------- index results ------

argmax_p = Primitive("argmax", lambda x, axis, keepdims: np.argmax(x, axis=axis, keepdims=keepdims))
argmin_p = Primitive("argmin", lambda x, axis, keepdims: np.argmin(x, axis=axis, keepdims=keepdims))
argsort_p = Primitive("argsort", lambda x, axis, stable: np.argsort(x, axis=axis, stable=stable))
any_p = Primitive("any", lambda x, axes, keepdims: np.any(x, axis=axes, keepdims=keepdims))
all_p = Primitive("all", lambda x, axes, keepdims: np.all(x, axis=axes, keepdims=keepdims))
for _p in (argmax_p, argmin_p, argsort_p):
    defnondiff(_p, "integer result (an index)")
for _p in (any_p, all_p):
    defnondiff(_p, "boolean result")
batch_rules[argmax_p] = B.arg_reduce(argmax_p)
batch_rules[argmin_p] = B.arg_reduce(argmin_p)
batch_rules[argsort_p] = B.along_axis(argsort_p)
batch_rules[any_p] = B.reduce_axes(any_p)
batch_rules[all_p] = B.reduce_axes(all_p)


def argmax(x, axis=None, keepdims=False):
    return bind(argmax_p, x, axis=axis, keepdims=keepdims)


def argmin(x, axis=None, keepdims=False):
    return bind(argmin_p, x, axis=axis, keepdims=keepdims)


def argsort(x, axis=-1, stable=True):
    x, axis = _flat_axis(x, axis)
    return bind(argsort_p, x, axis=axis, stable=stable)


def any(x, axis=None, keepdims=False):  # noqa: A001
    return bind(any_p, x, axes=normalize_axes(x, axis), keepdims=keepdims)


def all(x, axis=None, keepdims=False):  # noqa: A001
    return bind(all_p, x, axes=normalize_axes(x, axis), keepdims=keepdims)


def sort(x, axis=-1):
    """Sorted copy; the derivative follows each element to its sorted place."""
    x, axis = _flat_axis(x, axis)
    return S.take_along_axis(x, argsort(x, axis=axis), axis=axis)
