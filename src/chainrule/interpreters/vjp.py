"""Reverse mode: a flat tape (a Wengert list) per level and a loop backwards over it.

Each traced operation appends ``(rule, params, ans, primals, argnums, parents)``
to its trace's tape; ``parents`` are tape indices of the traced arguments at
positions ``argnums``.  The backward pass is a plain loop (no recursion), so
programs of millions of operations pull back without touching Python's stack.
The cotangent rules bind `chainrule.numpy` operations, so an outer
transformation sees the backward pass and higher derivatives nest.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager

import numpy as np

from ..core import Trace, Tracer, bind, check_like, missing_rule
from ..rules import vjp_rules, vjp_fwd_rules
from ..tree_util import tree_flatten, tree_map, tree_unflatten


class VJPTracer(Tracer):
    __slots__ = ("primal", "idx")
    _carries_derivative = True

    def __init__(self, trace, primal, idx):
        self._trace = trace
        self.primal = primal
        self.idx = idx


def _project(g, ans, primals, k, argnums):
    """Tape rule of one result of a multi-result node: places `g` at slot k."""
    raise AssertionError("projections are handled inside the backward loop")


class VJPTrace(Trace):
    __slots__ = ("tape",)

    def __init__(self, level):
        super().__init__(level)
        self.tape = []

    def new_input(self, x):
        self.tape.append(None)
        return VJPTracer(self, x, len(self.tape) - 1)

    def unwrap(self, args):
        primals, argnums, parents = [], [], []
        for i, a in enumerate(args):
            if isinstance(a, Tracer):
                if a._trace is self:
                    primals.append(a.primal)
                    argnums.append(i)
                    parents.append(a.idx)
                    continue
                if a._trace.level >= self.level:
                    raise a._trace.leaked()
            primals.append(a)
        return primals, argnums, parents

    def record(self, rule, params, ans, primals, argnums, parents, n_results=None):
        tape = self.tape
        tape.append((rule, params, ans, primals, argnums, parents))
        idx = len(tape) - 1
        if n_results is None:
            return VJPTracer(self, ans, idx)
        outs = []
        for k in range(n_results):
            tape.append((_project, k, None, None, (0,), (idx,)))
            outs.append(VJPTracer(self, ans[k], len(tape) - 1))
        return tuple(outs)

    def _record_outputs(self, rule, out_leaves, out_tree, primals, argnums, parents):
        """Record a custom rule's node for a pytree of outputs; return traced outputs."""
        if len(out_leaves) == 1:
            outs = [self.record(rule, None, out_leaves[0], primals, argnums, parents)]
        else:
            outs = list(self.record(rule, None, out_leaves, primals, argnums, parents, len(out_leaves)))
        return tree_unflatten(out_tree, outs)

    def process(self, p, args, params):
        if self.done:
            raise self.leaked()
        primals, argnums, parents = self.unwrap(args)
        if p.multiple_results and p in vjp_fwd_rules:    # a loop: its forward pass saves residuals
            out, residuals = vjp_fwd_rules[p](primals, params, argnums)
            params = dict(params, residuals=residuals)
        else:
            out = bind(p, *primals, **params)
        if p.nondiff:
            return out
        rule = vjp_rules.get(p)
        if rule is None:
            raise missing_rule(p, "vjp")
        return self.record(rule, params, out, primals, argnums, parents,
                           len(out) if p.multiple_results else None)

    def process_custom_jvp(self, custom, args):
        # Reverse mode of a custom JVP: pull back through the (linear) tangent map.
        from ..numpy import zeros_like
        leaves, tree = tree_flatten(list(args))
        primals, argnums, parents = self.unwrap(leaves)
        out = custom(*tree_unflatten(tree, primals))
        if not argnums:
            return out
        out_leaves, out_tree = tree_flatten(out)

        def rule(g, ans, primals, params, argnums):
            from ..api import vjp as _vjp
            gs = g if len(out_leaves) > 1 else [g]
            gs = [zeros_like(o) if c is None else c for o, c in zip(out_leaves, gs)]
            diff = [primals[i] for i in argnums]

            def tangent_map(*ts):
                tangents = [zeros_like(x) for x in primals]
                for i, t in zip(argnums, ts):
                    tangents[i] = t
                _, out_t = custom.jvp(tuple(tree_unflatten(tree, primals)),
                               tuple(tree_unflatten(tree, tangents)))
                t_leaves, t_tree = tree_flatten(out_t)
                if t_tree != out_tree:
                    raise TypeError(f"custom_jvp rule returned tangents of structure {t_tree}, "
                                    f"but primal outputs of structure {out_tree}")
                check_like("custom_jvp rule: tangent output", t_leaves, out_leaves)
                return t_leaves
            _, pullback = _vjp(tangent_map, *[zeros_like(x) for x in diff])
            return list(pullback(gs))
        return self._record_outputs(rule, out_leaves, out_tree, primals, argnums, parents)

    def process_custom_vjp(self, custom, args):
        from ..numpy import zeros_like
        leaves, tree = tree_flatten(list(args))
        primals, argnums, parents = self.unwrap(leaves)
        if not argnums:
            return custom(*tree_unflatten(tree, primals))
        out, res = custom.fwd(*tree_unflatten(tree, primals))
        out_leaves, out_tree = tree_flatten(out)

        def rule(g, ans, primals, params, argnums):
            gs = g if len(out_leaves) > 1 else [g]
            gs = [zeros_like(o) if c is None else c for o, c in zip(out_leaves, gs)]
            cts = custom.bwd(res, tree_unflatten(out_tree, gs))
            if not isinstance(cts, (tuple, list)):
                raise TypeError("custom_vjp backward function must return a tuple with one "
                                f"cotangent per positional argument, got {type(cts).__name__}")
            args = tree_unflatten(tree, primals)
            if len(cts) != len(args):
                raise TypeError(f"custom_vjp backward function returned {len(cts)} cotangents "
                                f"for {len(args)} positional arguments; return one per argument "
                                "(None for a zero cotangent)")
            cts = [tree_map(zeros_like, a) if c is None else c for c, a in zip(cts, args)]
            ct_leaves, ct_tree = tree_flatten(cts)
            if ct_tree != tree:
                raise TypeError(f"custom_vjp backward function returned cotangents of structure "
                                f"{ct_tree}, expected the arguments' structure {tree}")
            out = [ct_leaves[i] for i in argnums]
            check_like("custom_vjp backward function: cotangent", out, [primals[i] for i in argnums])
            return out
        return self._record_outputs(rule, out_leaves, out_tree, primals, argnums, parents)


def backward(tape, seeds, inputs, consume=False):
    """Pull cotangents back along `tape`.

    seeds: list of (tape index, cotangent); inputs: tape indices whose
    cotangents are returned (None where nothing flowed).  With `consume`, tape
    entries are dropped as soon as they are used, freeing memory early.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"), gc_paused():
        return _backward(tape, seeds, inputs, consume)


@contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector (a tape creates no cycles, but millions
    of small objects make the collector rescan them again and again)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _backward(tape, seeds, inputs, consume):
    cts = [None] * len(tape)
    for idx, g in seeds:
        old = cts[idx]
        cts[idx] = g if old is None else old + g
    for i in range(len(tape) - 1, -1, -1):
        g = cts[i]
        if g is None:
            continue
        node = tape[i]
        if node is None:             # an input: keep its cotangent
            continue
        cts[i] = None
        if consume:
            tape[i] = None
        rule, params, ans, primals, argnums, parents = node
        if rule is _project:
            j = parents[0]
            slot = cts[j]
            if slot is None:
                slot = cts[j] = [None] * len(tape[j][2])
            slot[params] = g if slot[params] is None else slot[params] + g
            continue
        for j, c in zip(parents, rule(g, ans, primals, params, argnums)):
            if c is not None:
                old = cts[j]
                cts[j] = c if old is None else old + c
    return [cts[i] for i in inputs]
