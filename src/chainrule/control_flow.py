"""Structured control flow: cond, switch, while_loop, fori_loop, scan (JAX's names).

chainrule traces by running Python, so these are ordinary Python control flow
over traced values: every transformation sees the iterations that actually
ran.  Reverse mode therefore works through `while_loop` with a data-dependent
trip count, and under `jit` the predicate reads become guards; under `vmap`
a predicate that differs across the batch splits the batch.
"""
from __future__ import annotations

from .core import shape_of
from .tree_util import tree_flatten, tree_unflatten


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


def while_loop(cond_fun, body_fun, init_val):
    """``val = init_val; while cond_fun(val): val = body_fun(val); return val``."""
    val = init_val
    while cond_fun(val):
        val = body_fun(val)
    return val


def fori_loop(lower, upper, body_fun, init_val):
    """``for i in range(lower, upper): val = body_fun(i, val)``."""
    val = init_val
    for i in range(int(lower), int(upper)):
        val = body_fun(i, val)
    return val


def scan(f, init, xs=None, length=None, reverse=False):
    """``carry, y = f(carry, x)`` over the leading axis of `xs`; returns (carry, stacked ys)."""
    from . import numpy as cnp
    x_leaves, x_tree = tree_flatten(xs)
    if length is None:
        if not x_leaves:
            raise ValueError("scan: give xs or length")
        length = shape_of(x_leaves[0])[0]
    for leaf in x_leaves:
        if shape_of(leaf)[0] != length:
            raise ValueError(f"scan: xs leaves have different leading sizes ({shape_of(leaf)[0]} vs {length})")
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


__all__ = ["cond", "switch", "while_loop", "fori_loop", "scan"]
