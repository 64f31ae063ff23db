"""Structured control flow: cond, switch, while_loop, fori_loop, scan (JAX's names).

`cond` and `switch` are Python control flow over traced values (under jit the
predicate read is a guard; under vmap a predicate that differs across the
batch splits it).  Under a transformation, `scan`, `fori_loop` and `while_loop`
are one loop equation each (chainrule/loops.py) whatever their trip count;
plain eager calls, and bodies whose Python control flow reads a traced value,
run as Python loops (exact, unrolled).
"""
from __future__ import annotations

import operator

import numpy as np

from .core import shape_of, dtype_of, current_depth
from .tree_util import tree_flatten, tree_unflatten
from .loops import (stage_body, scan_bind, while_bind, example_value, BodyReadsValue, NotStageable,
                    segment_length)
from . import numpy as cnp


def cond(pred, true_fun, false_fun, *operands):
    """`true_fun(*operands)` if `pred` else `false_fun(*operands)`."""
    if shape_of(pred) != ():
        raise TypeError(f"cond: the predicate must be a scalar, got shape {shape_of(pred)}")
    return true_fun(*operands) if pred else false_fun(*operands)


def switch(index, branches, *operands):
    """`branches[index](*operands)`, with the index clamped to the valid range as in JAX."""
    if not branches:
        raise ValueError("switch needs at least one branch")
    i = min(max(int(index), 0), len(branches) - 1)
    return branches[i](*operands)


def _leaf_avals(leaves):
    return [(tuple(shape_of(x)), np.dtype(dtype_of(x))) for x in leaves]


def _check_carry(what, tree, avals, out_tree, out_avals):
    """The carry a body returns must have the structure, shapes and dtypes it was given."""
    if out_tree != tree:
        raise TypeError(f"{what}: the body returned a carry of structure {out_tree}, but the "
                        f"initial carry has structure {tree}; return the same structure")
    for i, ((s, d), (s2, d2)) in enumerate(zip(avals, out_avals)):
        if s != s2 or d != d2:
            raise TypeError(f"{what}: carry leaf {i} has shape {s} and dtype {d} initially, but the "
                            f"body returned shape {s2} and dtype {d2}; keep each carry leaf's shape "
                            "and dtype (cast the initial value, e.g. 0.0 instead of 0)")


def while_loop(cond_fun, body_fun, init_val, checkpoint=None):
    """``val = init_val; while cond_fun(val): val = body_fun(val); return val``.

    Under a transformation the loop is one equation (any trip count); reverse mode
    reads the trip count of the forward run (under jit: a guard) and runs the loop
    as a `scan` of that length, with the same `checkpoint` policy as `scan`.
    """
    _check_checkpoint(checkpoint, "while_loop")
    leaves, tree = tree_flatten(init_val)
    if current_depth() > 0:
        avals = _leaf_avals(leaves)
        try:
            def cond_flat(*ins):
                pred = cond_fun(tree_unflatten(tree, ins))
                if tuple(shape_of(pred)) != () or np.dtype(dtype_of(pred)) != np.bool_:
                    raise TypeError("while_loop: cond_fun must return a scalar boolean, got shape "
                                    f"{tuple(shape_of(pred))} and dtype {dtype_of(pred)}")
                return [pred]

            def body_flat(*ins):
                out_leaves, out_tree = tree_flatten(body_fun(tree_unflatten(tree, ins)))
                _check_carry("while_loop", tree, avals, out_tree, _leaf_avals(out_leaves))
                return out_leaves
            examples = [example_value(x) for x in leaves]
            cprog, cconsts = stage_body(cond_flat, examples)
            bprog, bconsts = stage_body(body_flat, examples)
        except (BodyReadsValue, NotStageable):
            pass
        else:
            return tree_unflatten(tree, list(while_bind(cconsts, bconsts, leaves, cprog, bprog,
                                                        checkpoint)))
    val = init_val
    while cond_fun(val):
        val = body_fun(val)
    return val


def _loop_bound(b, what):
    if isinstance(b, (float, np.floating)) and not float(b).is_integer():
        raise TypeError(f"fori_loop: the {what} bound must be an integer, got {b!r}")
    try:
        return operator.index(b) if not isinstance(b, (float, np.floating)) else int(b)
    except TypeError:
        raise TypeError(f"fori_loop: the {what} bound must be an integer, got "
                        f"{type(b).__name__}") from None


def _check_checkpoint(checkpoint, what):
    """None, "sqrt" or an int k >= 1 (not a bool): TypeError / ValueError otherwise."""
    if checkpoint is None or (isinstance(checkpoint, str) and checkpoint == "sqrt"):
        return
    msg = (f"{what}: checkpoint must be None, a positive int k (save every k-th carry) or "
           f"'sqrt', got {checkpoint!r}")
    if isinstance(checkpoint, (bool, np.bool_)) or not isinstance(checkpoint, (int, np.integer)):
        raise TypeError(msg)
    if checkpoint < 1:
        raise ValueError(msg)


def fori_loop(lower, upper, body_fun, init_val, checkpoint=None):
    """``for i in range(lower, upper): val = body_fun(i, val)`` (one loop equation when traced).

    `checkpoint` is `scan`'s: None saves every carry for reverse mode (fastest), k saves
    every k-th and recomputes the rest (memory O(n/k + k) carries, one more forward pass
    and a cost per segment), "sqrt" takes k = ceil(sqrt(n)).
    """
    _check_checkpoint(checkpoint, "fori_loop")
    lo, hi = _loop_bound(lower, "lower"), _loop_bound(upper, "upper")

    def step(carry, _):
        i, val = carry
        return (i + 1, body_fun(i, val)), None
    return scan(step, (lo, init_val), length=max(hi - lo, 0), checkpoint=checkpoint)[0][1]


def scan(f, init, xs=None, length=None, reverse=False, checkpoint=None):
    """``carry, y = f(carry, x)`` over the leading axis of `xs`; returns (carry, stacked ys).

    Under a transformation the loop is one equation whose body is staged once; a body
    whose Python control flow reads a traced value runs as a Python loop instead.

    `checkpoint` sets what reverse mode keeps of an n-step scan: None keeps every
    carry (memory O(n), fastest); an int k keeps every k-th carry and recomputes each
    segment of k steps from it on the way back (memory O(n/k + k) carries, one more
    forward pass plus a fixed cost per segment, so small k is slow); "sqrt" takes
    k = ceil(sqrt(n)).  Values and derivatives do not change.  For 1e6 scalar steps
    "sqrt" took 16 MB down to 0.04 MB at ~5x the time (benchmarks/bench_checkpoint.py).
    """
    _check_checkpoint(checkpoint, "scan")
    x_leaves, x_tree = tree_flatten(xs)
    if length is None:
        if not x_leaves:
            raise ValueError("scan: give xs or length")
        length = shape_of(x_leaves[0])[0]
    length = operator.index(length)
    for k, leaf in enumerate(x_leaves):
        if not shape_of(leaf) or shape_of(leaf)[0] != length:
            n = shape_of(leaf)[0] if shape_of(leaf) else "no leading axis"
            raise ValueError(f"scan: xs leaf {k} has leading size {n}, but the scan has length "
                             f"{length}; every leaf of xs needs the same leading size")
    if current_depth() > 0:
        staged = _staged_scan(f, init, x_leaves, x_tree, length, reverse,
                              segment_length(checkpoint, length))
        if staged is not None:
            return staged
    order = range(length - 1, -1, -1) if reverse else range(length)
    carry, ys = init, []
    for i in order:
        x = tree_unflatten(x_tree, [leaf[i] for leaf in x_leaves]) if x_leaves else None
        carry, y = f(carry, x)
        ys.append(y)
    if reverse:
        ys.reverse()
    if not ys:
        return carry, None
    y_leaves = [tree_flatten(y)[0] for y in ys]
    y_tree = tree_flatten(ys[0])[1]
    stacked = [cnp.stack([yl[k] for yl in y_leaves]) for k in range(len(y_leaves[0]))]
    return carry, tree_unflatten(y_tree, stacked)


def _staged_scan(f, init, x_leaves, x_tree, length, reverse, checkpoint):
    """The scan as one loop equation, or None when its body reads traced values."""
    leaves, tree = tree_flatten(init)
    avals = _leaf_avals(leaves)
    n = len(leaves)
    y_tree = []

    def body(*ins):
        x = tree_unflatten(x_tree, list(ins[n:])) if x_leaves else None
        carry, y = f(tree_unflatten(tree, list(ins[:n])), x)
        out_leaves, out_tree = tree_flatten(carry)
        _check_carry("scan", tree, avals, out_tree, _leaf_avals(out_leaves))
        ys, t = tree_flatten(y)
        y_tree.append(t)
        return out_leaves + ys
    examples = [example_value(x) for x in leaves]
    for x in x_leaves:
        v = np.asarray(example_value(x))
        examples.append(v[length - 1 if reverse else 0] if length else np.zeros(v.shape[1:], v.dtype))
    try:
        prog, consts = stage_body(body, examples)
    except (BodyReadsValue, NotStageable):
        return None
    outs = scan_bind(consts, leaves, x_leaves, prog, length, reverse, checkpoint)
    return tree_unflatten(tree, list(outs[:n])), tree_unflatten(y_tree[0], list(outs[n:]))


__all__ = ["cond", "switch", "while_loop", "fori_loop", "scan"]
