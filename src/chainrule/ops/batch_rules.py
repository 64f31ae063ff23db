"""Batching rules: one per primitive, ``rule(args, bdims, **params) -> (out, out_bdim)``.

`args` are the unwrapped values (NumPy values or tracers of enclosing
transformations), `bdims` their batch axes (None: not batched; at least one is
an int).  Rules use chainrule operations only, so enclosing transformations
see what they do.  Most rules come from a few factories: elementwise (align
the batch axes and let NumPy broadcast), reductions and cumulative operations
(shift the axes), stacked linear algebra (batch axis first, NumPy broadcasts
over leading axes).

Primitives defined by modules imported after this one get their rules from
`ensure_rules()`, which the batching interpreter calls when it meets a
primitive without a rule; a primitive no factory knows is evaluated once per
example (with a warning) by the interpreter's fallback.
"""
from __future__ import annotations

import numpy as np

from ..core import bind, primitives, shape_of
from ..rules import batch_rules, exempt
from . import shape as S
from . import linalg as L

_LETTERS = L._LETTERS


# -------------------------------------------------------------- helpers ---

def ndim(x):
    return len(shape_of(x))


def to_front(x, d):
    """Move batch axis d of x to 0."""
    if d == 0:
        return x
    nd = ndim(x)
    perm = (d,) + tuple(i for i in range(nd) if i != d)
    return S.transpose(x, perm)


def move(x, src, dst):
    if src == dst:
        return x
    nd = ndim(x)
    perm = [i for i in range(nd) if i != src]
    perm.insert(dst, src)
    return S.transpose(x, tuple(perm))


def batch_size(args, bdims):
    for a, d in zip(args, bdims):
        if d is not None:
            return shape_of(a)[d]
    raise AssertionError("no batched argument")


def front(args, bdims, size=None):
    """Every argument with its batch axis first; unbatched ones broadcast to the batch."""
    size = batch_size(args, bdims) if size is None else size
    out = []
    for a, d in zip(args, bdims):
        if d is None:
            s = tuple(shape_of(a))
            out.append(S.broadcast_to(a if hasattr(a, "shape") else np.asarray(a), (size,) + s))
        else:
            out.append(to_front(a, d))
    return out


def _pad_after_batch(x, k):
    """(B, ...) -> (B, 1 * k, ...)."""
    if k <= 0:
        return x
    s = tuple(shape_of(x))
    return S.reshape(x, s[:1] + (1,) * k + s[1:])


def ex_to_batched(a, d):
    """Position in the batched value of per-example axis a, batch axis at d."""
    return a if a < d else a + 1


# ---------------------------------------------------------- elementwise ---

def elementwise(p):
    """n-ary elementwise primitive with NumPy broadcasting (params passed through)."""
    def rule(args, bdims, **params):
        if len(args) == 1:
            return bind(p, args[0], **params), bdims[0]
        # fast path: every batched argument shares its batch axis and rank; the
        # unbatched ones are scalars (or of a rank that right-aligns below the batch axis)
        nds = [ndim(a) for a in args]
        d0 = None
        same = True
        rank = max(n - (d is not None) for n, d in zip(nds, bdims))
        for n, d in zip(nds, bdims):
            if d is None:
                continue
            if d0 is None:
                d0 = d
            if d != d0 or n - 1 != rank:
                same = False
                break
        if same:
            # unbatched arguments must not reach the batch axis when aligned from the right
            if all(d is not None or n <= rank - d0 for n, d in zip(nds, bdims)):
                return bind(p, *args, **params), d0
        new = []
        for a, n, d in zip(args, nds, bdims):
            if d is None:
                new.append(a)
            else:
                new.append(_pad_after_batch(to_front(a, d), rank - (n - 1)))
        return bind(p, *new, **params), 0
    return rule


ELEMENTWISE = [
    "neg", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh",
    "arccosh", "arctanh", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "cbrt",
    "abs", "real", "imag", "conj", "sign", "floor", "ceil", "round", "trunc", "isnan", "isinf",
    "isfinite", "logical_not", "less", "less_equal", "greater", "greater_equal", "equal",
    "not_equal", "logical_and", "logical_or", "logical_xor", "floor_divide", "add", "subtract",
    "multiply", "safe_multiply", "divide", "power", "arctan2", "hypot", "maximum", "minimum", "logaddexp",
    "remainder", "select", "stop_gradient", "convert_element_type",
    # ops/special (elementwise special functions)
    "erf", "erfc", "erfinv", "gammaln", "digamma", "polygamma", "expit", "logit", "xlogy",
    "xlog1py", "i0", "i0e", "i1", "i1e", "ndtr", "ndtri", "log_ndtr", "lgamma", "gamma",
    "zeta", "sinc",
]


# ----------------------------------------------------------- reductions ---

def reduce_axes(p):
    """x, axes=(...), keepdims: the batch axis is never reduced."""
    def rule(args, bdims, axes, keepdims, **params):
        (x,), (d,) = args, bdims
        new_axes = tuple(ex_to_batched(a, d) for a in axes)
        out = bind(p, x, axes=new_axes, keepdims=keepdims, **params)
        return out, d if keepdims else d - sum(1 for a in new_axes if a < d)
    return rule


def arg_reduce(p):
    """argmax/argmin: axis None (the flattened example) or an int, keepdims."""
    def rule(args, bdims, axis, keepdims):
        (x,), (d,) = args, bdims
        r = ndim(x) - 1
        if axis is None:
            x = to_front(x, d)
            B = shape_of(x)[0]
            out = bind(p, S.reshape(x, (B, -1)), axis=1, keepdims=False)
            if keepdims:
                out = S.reshape(out, (B,) + (1,) * r)
            return out, 0
        a = ex_to_batched(S.normalize_axis(axis, r), d)
        out = bind(p, x, axis=a, keepdims=keepdims)
        return out, d if (keepdims or a > d) else d - 1
    return rule


def along_axis(p):
    """cumsum, cumprod, argsort: one int axis, result shaped like x."""
    def rule(args, bdims, axis, **params):
        (x,), (d,) = args, bdims
        a = ex_to_batched(S.normalize_axis(axis, ndim(x) - 1), d)
        return bind(p, x, axis=a, **params), d
    return rule


# ---------------------------------------------------------------- shape ---

def reshape_rule(args, bdims, shape):
    (x,), (d,) = args, bdims
    x = to_front(x, d)
    return bind(primitives["reshape"], x, shape=(shape_of(x)[0],) + tuple(shape)), 0


def transpose_rule(args, bdims, axes):
    (x,), (d,) = args, bdims
    perm = (d,) + tuple(ex_to_batched(a, d) for a in axes)
    return bind(primitives["transpose"], x, axes=perm), 0


def broadcast_to_rule(args, bdims, shape):
    (x,), (d,) = args, bdims
    x = to_front(x, d)
    r = ndim(x) - 1
    x = _pad_after_batch(x, len(shape) - r)
    return bind(primitives["broadcast_to"], x, shape=(shape_of(x)[0],) + tuple(shape)), 0


def concatenate_rule(args, bdims, axis):
    p = primitives["concatenate"]
    if all(d is not None for d in bdims) and len(set(bdims)) == 1:
        d = bdims[0]
        return bind(p, *args, axis=ex_to_batched(axis, d)), d
    return bind(p, *front(args, bdims), axis=axis + 1), 0


def pad_rule(args, bdims, widths):
    (x,), (d,) = args, bdims
    w = tuple(widths[:d]) + ((0, 0),) + tuple(widths[d:])
    return bind(primitives["pad"], x, widths=w), d


# --------------------------------------------------------------- indexing ---

def _is_int(i):
    return isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))


def _adv_layout(idx, nd):
    """(batch position, None) for x_b[(slice(None),) + idx] given the example rank nd.

    With no advanced index, or with the advanced indices adjacent, the batch
    axis stays first; otherwise NumPy moves the broadcast advanced axes to the
    front and the batch axis follows them.
    """
    full = list(idx)        # an Ellipsis (even an empty one) or None between them breaks adjacency
    has_array = any(isinstance(i, np.ndarray) or isinstance(i, (bool, np.bool_)) for i in full)
    if not has_array:
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


def getitem_rule(args, bdims, idx):
    (x,), (d,) = args, bdims
    x = to_front(x, d)
    out = bind(primitives["getitem"], x, idx=(slice(None),) + tuple(idx))
    return out, _adv_layout(idx, ndim(x) - 1)


def _target_shape(xshape, idx):
    """Shape of x[idx] for an example x of shape xshape (no copy of x is made)."""
    probe = np.broadcast_to(np.zeros((), np.int8), xshape)
    return probe[idx].shape


def _update_rule(p):
    def rule(args, bdims, idx):
        (x, y), (dx, dy) = args, bdims
        B = batch_size(args, bdims)
        if dx is None:
            xs = tuple(shape_of(x))
            xb = S.broadcast_to(x if hasattr(x, "shape") else np.asarray(x), (B,) + xs)
        else:
            xb = to_front(x, dx)
            xs = tuple(shape_of(xb))[1:]
        T = _target_shape(xs, idx)
        pos = _adv_layout(idx, len(xs))
        ys = tuple(shape_of(y))
        if dy is not None:
            ys = ys[:dy] + ys[dy + 1:]
        while len(ys) > len(T) and ys[0] == 1:     # NumPy drops leading 1s of the value
            ys = ys[1:]
        full = (1,) * (len(T) - len(ys)) + ys
        if dy is None:
            if pos:                                 # the batch axis sits inside the target
                y = S.reshape(y, full[:pos] + (1,) + full[pos:])
        else:
            yb = to_front(y, dy)
            yb = S.reshape(yb, (B,) + full)
            y = move(yb, 0, pos)
        return bind(p, xb, y, idx=(slice(None),) + tuple(idx)), 0
    return rule


def take_along_axis_rule(args, bdims, axis):
    # both operands in front (an unbatched one broadcast, so that the derivative rules,
    # which scatter into an array of x's shape, see matching shapes)
    x, idx = front(args, bdims)
    return bind(primitives["take_along_axis"], x, idx, axis=axis + 1), 0


def scatter_add_along_axis_rule(args, bdims, axis):
    (x, idx, y), (dx, di, dy) = args, bdims
    B = batch_size(args, bdims)
    x, idx = front([x, idx], [dx, di], B)
    r = ndim(idx) - 1
    if dy is not None:                      # y broadcasts against one example's indices
        y = to_front(y, dy)
        y = _pad_after_batch(y, r - (ndim(y) - 1))
    return bind(primitives["scatter_add_along_axis"], x, idx, y, axis=axis + 1), 0


# ------------------------------------------------------------- products ---

def matmul_rule(args, bdims):
    (a, b), (da, db) = args, bdims
    mm = primitives["matmul"]
    ra = ndim(a) - (da is not None)
    rb = ndim(b) - (db is not None)
    if db is None:
        a = to_front(a, da)
        if ra == 1:                 # (B, k) @ b: a stack of row vectors
            return bind(mm, a, b), (0 if rb == 1 else rb - 2)
        if rb == 2:                 # (B, ..., m, k) @ (k, n): one matrix product
            sa = tuple(shape_of(a))
            out = bind(mm, S.reshape(a, (-1, sa[-1])), b)
            return S.reshape(out, sa[:-1] + tuple(shape_of(b))[-1:]), 0
        if rb > ra:
            a = _pad_after_batch(a, rb - ra)
        return bind(mm, a, b), 0
    if da is None:
        b = to_front(b, db)
        if rb == 1:                 # a @ (k, B): the examples as columns
            return bind(mm, a, S.transpose(b, (1, 0))), ra - 1
        if ra == 2:                 # (m, k) @ (B, ..., k, n): the examples side by side
            sb = tuple(shape_of(b))
            nd = len(sb)
            perm = tuple(range(1, nd - 1)) + (0, nd - 1)          # (..., k, B, n)
            bt = S.reshape(S.transpose(b, perm), sb[1:-1] + (sb[0] * sb[-1],))
            out = bind(mm, a, bt)                                   # (..., m, B*n)
            so = tuple(shape_of(out))
            return S.reshape(out, so[:-1] + (sb[0], sb[-1])), nd - 2
        if ra > rb:
            b = _pad_after_batch(b, ra - rb)
        return bind(mm, a, b), 0
    a, b = to_front(a, da), to_front(b, db)
    if ra == 1 and rb == 1:
        return bind(primitives["einsum"], a, b, spec="zk,zk->z"), 0
    if ra == 1:
        sa = tuple(shape_of(a))
        a = S.reshape(a, sa[:1] + (1,) * (rb - 2) + (1,) + sa[1:])
        out = bind(mm, a, b)
        so = tuple(shape_of(out))
        return S.reshape(out, so[:-2] + so[-1:]), 0
    if rb == 1:
        sb = tuple(shape_of(b))
        b = S.reshape(b, sb[:1] + (1,) * (ra - 2) + sb[1:] + (1,))
        out = bind(mm, a, b)
        return S.reshape(out, tuple(shape_of(out))[:-1]), 0
    r = max(ra, rb)
    return bind(mm, _pad_after_batch(a, r - ra), _pad_after_batch(b, r - rb)), 0


def einsum_rule(args, bdims, spec):
    ins, out = spec.split("->")
    ins = ins.split(",")
    used = set(spec)
    z = next(c for c in _LETTERS if c not in used)
    new_ops, new_ins = [], []
    for a, d, sub in zip(args, bdims, ins):
        if d is None:
            new_ops.append(a)
            new_ins.append(sub)
        else:
            new_ops.append(to_front(a, d))
            new_ins.append(z + sub)
    return bind(primitives["einsum"], *new_ops, spec=",".join(new_ins) + "->" + z + out), 0


# ------------------------------------------------- stacked linear algebra ---

def stacked(p, core_ranks):
    """A primitive acting on stacks of matrices that NumPy broadcasts over leading axes.

    core_ranks[i]: the number of trailing axes of argument i one example uses
    (2 for a matrix, 0 for a scalar parameter).  The batch axis goes first and
    each batched argument is padded so that all stacks line up.
    """
    def rule(args, bdims, **params):
        stack = [ndim(a) - (d is not None) - c for a, d, c in zip(args, bdims, core_ranks)]
        top = max(stack)
        new = []
        for a, d, s in zip(args, bdims, stack):
            if d is None:
                new.append(a)
            else:
                new.append(_pad_after_batch(to_front(a, d), top - s))
        out = bind(p, *new, **params)
        return out, ((0,) * len(out) if p.multiple_results else 0)
    return rule


STACKED = {
    "solve": (2, 2), "inv": (2,), "det": (2,), "slogdet": (2,), "cholesky": (2,), "eigh": (2,),
    "eigvalsh": (2,), "svd": (2,), "svdvals": (2,), "qr": (2,), "pinv": (2, 0), "eig": (2,),
    "eigvals": (2,),
}


# ------------------------------------------------------------- registry ---

AXES_REDUCTIONS = ["reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "any", "all"]
ARG_REDUCTIONS = ["argmax", "argmin"]
ALONG_AXIS = ["cumsum", "cumprod", "argsort", "sort", "cummax", "cummin", "logcumsumexp"]
SPECIAL = {
    "reshape": reshape_rule, "transpose": transpose_rule, "broadcast_to": broadcast_to_rule,
    "concatenate": concatenate_rule, "pad": pad_rule, "getitem": getitem_rule,
    "matmul": matmul_rule, "einsum": einsum_rule, "take_along_axis": take_along_axis_rule,
    "scatter_add_along_axis": scatter_add_along_axis_rule,
}


def _factory(name):
    p = primitives[name]
    if name in SPECIAL:
        return SPECIAL[name]
    if name in ("index_add", "index_set"):
        return _update_rule(p)
    if name in ELEMENTWISE:
        return elementwise(p)
    if name in AXES_REDUCTIONS:
        return reduce_axes(p)
    if name in ARG_REDUCTIONS:
        return arg_reduce(p)
    if name in ALONG_AXIS:
        return along_axis(p)
    if name in STACKED:
        return stacked(p, STACKED[name])
    return None


def ensure_rules():
    """Give every registered primitive a factory knows a batching rule (idempotent)."""
    for name, p in list(primitives.items()):
        if p in batch_rules:
            continue
        rule = _factory(name)
        if rule is not None:
            batch_rules[p] = rule


ensure_rules()

# Deliberate gaps go here with a reason: exempt["batch"][name] = "why".
exempt.setdefault("batch", {})
