"""Straight-line stretches of small values become one native kernel each.

Between and around a program's loops there is often a stretch of straight-line code on
small values: the first iteration of a rolled Python loop (which constant folding made
different from the others), the reverse pass of that iteration, the loss after the loop.
Generated Python runs it one NumPy call per equation (about a microsecond each, however
small the values).  This pass wraps each such stretch, when long enough, in a scan of
length 1, so the loop-kernel machinery compiles it to one numba function (array or
scalar kernel), with the stretch run as Python until the kernel is built.
"""
from __future__ import annotations

import math

from ..ir.program import Var, Eqn, Program
from ..loops import scan_p, while_p
from ..ops import shape as S
from . import loop_kernel
from .array_kernel import _RULES, _LOGIC
from .native import kernel_op

MIN_SEGMENT = 24          # equations a stretch needs to become a kernel
MAX_VALUE = 4096          # elements of the largest value in it (larger: NumPy per equation pays)


def _eligible(e):
    if e.prim is scan_p or e.prim is while_p or e.prim.multiple_results:
        return False
    if not (e.prim in _RULES or kernel_op(e.prim) or e.prim in _LOGIC):
        return False
    return all(math.prod(v.shape) <= MAX_VALUE for v in e.outvars) and \
        all(math.prod(a.shape) <= MAX_VALUE for a in e.invars if type(a) is Var)


def kernel_segments(prog):
    """`prog` with each run of at least MIN_SEGMENT eligible equations wrapped in a
    one-step scan (the same program when there is none, or numba is absent)."""
    if len(prog.eqns) < MIN_SEGMENT or not loop_kernel.numba_available():
        return prog
    runs, start = [], None
    for i, e in enumerate(prog.eqns + [None]):
        if e is not None and _eligible(e):
            start = i if start is None else start
        elif start is not None:
            if i - start >= MIN_SEGMENT:
                runs.append((start, i))
            start = None
    if not runs:
        return prog
    ends = {b for _, b in runs}
    read_from = {}                  # run end b -> ids read from equation b on (outputs, guards too)
    seen = {v.id for v in prog.outvars if type(v) is Var} | {g.var.id for g in prog.guards}
    for i in range(len(prog.eqns), 0, -1):
        if i in ends:
            read_from[i] = set(seen)
        seen.update(a.id for a in prog.eqns[i - 1].invars if type(a) is Var)
    next_id = 1 + max([v.id for v in prog.invars] + [o.id for e in prog.eqns for o in e.outvars] + [0])
    eqns, pos = [], 0
    for a, b in runs:
        eqns += prog.eqns[pos:a]
        seg = prog.eqns[a:b]
        defined, ins, in_ids = set(), [], set()
        for e in seg:
            for x in e.invars:
                if type(x) is Var and x.id not in defined and x.id not in in_ids:
                    ins.append(x)
                    in_ids.add(x.id)
            defined.update(o.id for o in e.outvars)
        outs = [o for e in seg for o in e.outvars if o.id in read_from[b]]
        ys = []
        for o in outs:
            next_id += 1
            ys.append(Var(next_id, (1,) + tuple(o.shape), o.dtype))
        body = Program(list(ins), list(seg), list(outs), [])
        eqns.append(Eqn(scan_p, list(ins), ys, dict(body=body, n_consts=len(ins), n_carry=0, length=1,
                                                    reverse=False, checkpoint=None)))
        for o, y in zip(outs, ys):       # each result under its own variable again
            if o.pyscalar:
                eqns.append(Eqn(S.getitem_p, [y], [o], {"idx": (0,)}))
            else:
                eqns.append(Eqn(S.reshape_p, [y], [o], {"shape": tuple(o.shape)}))
        pos = b
    eqns += prog.eqns[pos:]
    return Program(prog.invars, eqns, prog.outvars, prog.guards, prog.in_tree, prog.out_tree)


__all__ = ["kernel_segments", "MIN_SEGMENT", "MAX_VALUE"]
