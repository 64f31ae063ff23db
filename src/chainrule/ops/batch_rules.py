"""Factories and helpers of batching rules, ``rule(args, bdims, **params) -> (out, out_bdim)``.

`args` are the unwrapped values (NumPy values or tracers of enclosing
transformations), `bdims` their batch axes (None: not batched; at least one is
an int).  Rules use chainrule operations only, so enclosing transformations
see what they do.  The factories cover the families: elementwise (align the
batch axes and let NumPy broadcast), reductions and cumulative operations
(shift the axes), stacked linear algebra (batch axis first, NumPy broadcasts
over leading axes).  Each primitive registers its rule where it is defined.
"""
from __future__ import annotations

import numpy as np

from ..core import bind, shape_of




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


def pad_after_batch(x, k):
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
                new.append(pad_after_batch(to_front(a, d), rank - (n - 1)))
        return bind(p, *new, **params), 0
    return rule




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
                new.append(pad_after_batch(to_front(a, d), top - s))
        out = bind(p, *new, **params)
        return out, ((0,) * len(out) if p.multiple_results else 0)
    return rule


# Imported last: the primitive modules import this one and call its factories while they
# load, so everything above must exist before they do.
from . import shape as S  # noqa: E402
