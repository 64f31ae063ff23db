"""A program (or a flat function of a list of values) run under one transformation.

The loop primitives' rules, and `custom_call`'s, are written with these: each runs its
program under a new level of one interpreter and returns what that interpreter computed.
"""
from __future__ import annotations

from ..core import Tracer, new_level, shape_of
from ..ir.program import Program
from ..ops import shape as S
from .staging import eval_program
from .jvp import JVPTrace, JVPTracer
from .vjp import VJPTrace, backward
from .batching import BatchTrace, BatchTracer
from .taylor import JetTrace, JetTracer


def _run(prog, ins):
    return eval_program(prog, ins) if isinstance(prog, Program) else list(prog(ins))


def _expand(it, mask):
    """One value from iterator `it` where mask is set, None elsewhere."""
    it = iter(it)
    return [next(it) if m else None for m in mask]


def _owned(o, trace):
    return isinstance(o, Tracer) and o._trace is trace


def jvp_program(prog, primals, tangents):
    """(outputs, output tangents) of `prog`; None is a zero tangent."""
    with new_level() as level:
        trace = JVPTrace(level)
        ins = [x if t is None else JVPTracer(trace, x, t) for x, t in zip(primals, tangents)]
        try:
            outs = _run(prog, ins)
        finally:
            trace.done = True
    return ([o.primal if _owned(o, trace) else o for o in outs],
            [o.tangent if _owned(o, trace) else None for o in outs])


def vjp_program(prog, primals, wanted, cts, with_outputs=False):
    """Cotangents of the inputs marked in `wanted` (None elsewhere and for zeros), pulled
    back from output cotangents `cts` (None: zero); with_outputs: (outputs, cotangents)."""
    with new_level() as level:
        trace = VJPTrace(level)
        ins = [trace.new_input(x) if w else x for x, w in zip(primals, wanted)]
        try:
            outs = _run(prog, ins)
        finally:
            trace.done = True
    seeds = [(o.idx, c) for o, c in zip(outs, cts) if c is not None and _owned(o, trace)]
    idxs = [t.idx for t in ins if _owned(t, trace)]
    got = backward(trace.tape, seeds, idxs) if seeds else [None] * len(idxs)
    if with_outputs:
        return [o.primal if _owned(o, trace) else o for o in outs], _expand(got, wanted)
    return _expand(got, wanted)


def vmap_program(prog, args, bdims, size):
    """Outputs of `prog` over a batch, each moved to batch axis 0 (broadcast if unbatched)."""
    with new_level() as level:
        trace = BatchTrace(level, size)
        ins = [x if d is None else BatchTracer(trace, x, d) for x, d in zip(args, bdims)]
        try:
            outs = _run(prog, ins)
        finally:
            trace.done = True
    res = []
    for o in outs:
        if _owned(o, trace):
            res.append(_to_front(o.primal, o.bdim))
        else:
            res.append(S.broadcast_to(o, (size,) + tuple(shape_of(o))))
    return res


def jet_program(prog, series, order):
    """Output series ([x0, x1, ..., xK], None: zero) of `prog` for input series."""
    with new_level() as level:
        trace = JetTrace(level, order)
        ins = [s[0] if all(t is None for t in s[1:]) else JetTracer(trace, s[0], list(s[1:]))
               for s in series]
        try:
            outs = _run(prog, ins)
        finally:
            trace.done = True
    return [[o.primal] + list(o.terms) if _owned(o, trace) else [o] + [None] * order for o in outs]


def _to_front(x, d):
    if d == 0:
        return x
    nd = len(shape_of(x))
    return S.transpose(x, (d,) + tuple(i for i in range(nd) if i != d))


__all__ = ["jvp_program", "vjp_program", "vmap_program", "jet_program"]
