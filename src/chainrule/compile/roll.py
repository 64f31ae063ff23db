"""Loop rolling: a stretch of a staged program that repeats becomes one `scan` equation.

A Python `for` loop under `jit` (and the reverse pass `grad` makes of it) stages one
copy of its body per iteration.  This pass finds stretches that repeat with a period
of L equations -- the same primitives, parameters and operand types in every copy,
and the values flowing between copies the same way -- and replaces each by a scan
whose body is one copy:

- a value a copy reads from the copy before it is a *carry*;
- a value or constant that is the same in every copy is a constant of the body;
- a constant that changes from copy to copy (``0.1 * i``) is stacked into a
  per-iteration input, as is a value that another rolled stretch computes once per
  iteration (the residuals of a forward loop that the reverse loop reads backwards);
- a value used after the stretch comes out as the final carry or as a stacked output;
- guards Python control flow put inside the body become one guard on the stacked
  values of all iterations.

The scan evaluates the same equations on the same values, in the same order (its body
then goes through the optimiser, as every jitted program does).  Anything the pass cannot
express keeps its unrolled equations.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from ..ir.program import Var, Const, Eqn, Guard, Program
from ..ir.optimize import has_effect
from ..loops import scan_p
from ..ops import shape as S
from ..ir.keys import freeze_params, const_key

MIN_PROGRAM = 2000        # shorter programs stay straight-line (the native tiers run them best)
MIN_REPS = 8              # copies a stretch needs before it is rolled
MIN_EQNS = 128            # equations a stretch must cover (shorter ones stay straight-line)
MAX_PERIODS = 12          # candidate periods tried, most frequent first
WINDOWS = (16, 4)         # runs of equations whose repeats suggest the periods
_FAR = -(1 << 40)         # the defining equation of program inputs and constants

_IN, _CARRY, _EXT, _CONST = 0, 1, 2, 3


# ------------------------------------------------------------ structure ---

def _aval(v):
    return (v.shape, v.dtype, v.pyscalar)


def _operand_kind(a):
    if type(a) is Var:
        return (a.shape, a.dtype, a.pyscalar)
    v = a.value
    return ("c", type(v), getattr(v, "shape", ()), getattr(v, "dtype", None))


def _eqn_key(e):
    return (e.prim, freeze_params(e.params) if e.params else (), tuple(map(_operand_kind, e.invars)),
            tuple([(o.shape, o.dtype, o.pyscalar) for o in e.outvars]))


class _Index:
    """Flat arrays over a program's operand slots, for vectorised checks: per slot its class
    (_IN: a value some equation defines, _EXT: a program input, _CONST), the equation and
    result defining it, and its identity (variable id, or a number per distinct constant)."""

    def __init__(self, prog):
        eqns = prog.eqns
        self.n = n = len(eqns)
        keys, consts = {}, {}
        # an effect (debug.print, or a loop holding one) matches nothing: it is never rolled
        seq = [keys.setdefault(("effect", i) if e.prim.multiple_results and has_effect(e) else _eqn_key(e),
                               len(keys)) for i, e in enumerate(eqns)]
        ids = [a.id if type(a) is Var else -1 - consts.setdefault(const_key(a.value), len(consts))
               for e in eqns for a in e.invars]
        offs = np.cumsum([0] + [len(e.invars) for e in eqns])
        n_out = [len(e.outvars) for e in eqns]
        out_ids = [o.id for e in eqns for o in e.outvars]
        self.seq = np.asarray(seq, np.int64)
        ids = np.asarray(ids, np.int64)
        out_ids = np.asarray(out_ids, np.int64)
        n_out = np.asarray(n_out, np.int64)
        top = 2 + max(int(ids.max(initial=0)), int(out_ids.max(initial=0)),
                      max((v.id for v in prog.invars), default=0))
        self.def_eqn = np.full(top, _FAR, np.int64)
        self.def_out = np.zeros(top, np.int64)
        self.def_eqn[out_ids] = np.repeat(np.arange(n, dtype=np.int64), n_out)
        starts = np.repeat(np.cumsum(n_out) - n_out, n_out)
        self.def_out[out_ids] = np.arange(len(out_ids), dtype=np.int64) - starts
        is_var = ids >= 0
        deq = np.where(is_var, self.def_eqn[np.where(is_var, ids, 0)], _FAR)
        self.kind = np.where(~is_var, _CONST, np.where(deq == _FAR, _EXT, _IN)).astype(np.int8)
        self.deq = deq
        self.dout = np.where(is_var, self.def_out[np.where(is_var, ids, 0)], 0)
        self.ident = np.where(is_var, ids, -ids - 1)
        self.slot_off = np.asarray(offs, np.int64)
        self.slot_eqn = np.repeat(np.arange(n, dtype=np.int64), np.diff(self.slot_off))
        self.late = {v.id for v in prog.outvars if isinstance(v, Var)} | {g.var.id for g in prog.guards}

    def defined(self, vid):
        """(equation, result) defining variable `vid`, or None for a program input."""
        i = int(self.def_eqn[vid]) if vid < len(self.def_eqn) else _FAR
        return None if i == _FAR else (i, int(self.def_out[vid]))


# --------------------------------------------------------------- periods ---

def _window_hashes(s, w):
    """A hash of each run of w consecutive keys."""
    m = len(s) - w + 1
    h = np.zeros(m, np.uint64)
    with np.errstate(over="ignore"):
        for j in range(w):
            h = h * np.uint64(1000003) + s[j:j + m].astype(np.uint64)
    return h


def _stretches(seq, start, stop):
    """Candidate (start, period, copies) of periodic stretches in seq[start:stop]."""
    s = seq[start:stop]
    n = len(s)
    if n < MIN_EQNS:
        return []
    gaps = Counter()
    for w in WINDOWS:                    # distances between repeats of w equations in a row
        if n > w:
            h = _window_hashes(s, w)
            order = np.argsort(h, kind="stable")
            same = h[order[1:]] == h[order[:-1]]
            gaps.update(dict(Counter((order[1:][same] - order[:-1][same]).tolist()).most_common(MAX_PERIODS)))
    out = []
    for L, _ in gaps.most_common(MAX_PERIODS):
        if L * MIN_REPS > n:
            continue
        match = np.concatenate([[False], s[:-L] == s[L:], [False]])
        edges = np.flatnonzero(np.diff(match.astype(np.int8)))
        for a, b in zip(edges[::2], edges[1::2]):          # runs of matches: s[i] == s[i + L]
            reps = (b - a) // L + 1
            if reps >= MIN_REPS and reps * L >= MIN_EQNS:
                out.append((start + int(a), L, int(reps)))
    return out


def _choose(cands):
    """Non-overlapping stretches, those covering most equations first (ties: shorter period)."""
    chosen = []
    for a, L, k in sorted(cands, key=lambda c: (-c[1] * c[2], c[1])):
        if all(a + L * k <= b or b + M * r <= a for b, M, r in chosen):
            chosen.append((a, L, k))
    return sorted(chosen)


# -------------------------------------------------------------- dataflow ---

class _Loop:
    """One periodic stretch and how each operand of its body is fed."""

    def __init__(self, a, L, k):
        self.a, self.L, self.k = a, L, k
        self.end = a + L * k


def _classify(ix, loop):
    """Fill `loop` with the body's operand classes; False when a copy does not read only
    itself, the copy before it and values from outside."""
    a, L, k = loop.a, loop.L, loop.k
    s0, s1 = ix.slot_off[a], ix.slot_off[a + L]
    C = s1 - s0
    if ix.slot_off[loop.end] - s0 != C * k:
        return False
    sl = slice(s0, s0 + C * k)
    kind = ix.kind[sl].reshape(k, C)
    deq = ix.deq[sl].reshape(k, C)
    dout = ix.dout[sl].reshape(k, C)
    ident = ix.ident[sl].reshape(k, C)
    base = (a + L * np.arange(k, dtype=np.int64))[:, None]
    rel = deq - base                               # < 0: defined before this copy
    cls = np.where(kind == _CONST, _CONST,
                   np.where(rel >= 0, _IN, np.where(rel >= -L, _CARRY, _EXT)))
    pos = np.where(rel >= 0, rel, rel + L)
    ref = cls[1]
    if not (cls[1:] == ref).all():
        return False
    inside = (ref == _IN) | (ref == _CARRY)
    if not ((pos[1:, inside] == pos[1, inside]).all() and (dout[1:, inside] == dout[1, inside]).all()):
        return False
    if not ((cls[0, ref == _IN] == _IN).all() and (pos[0, ref == _IN] == pos[1, ref == _IN]).all()):
        return False
    carry_cols = np.flatnonzero(ref == _CARRY)
    if (cls[0, carry_cols] == _IN).any():
        return False
    if (rel[0, ref == _EXT] >= 0).any():          # an outside value copy 0 itself defines
        return False
    loop.cls, loop.pos, loop.dout = ref, pos[1], dout[1]
    # constants and outside values: the same in every copy, or one per copy (stacked)
    loop.varying = {}
    for c in np.flatnonzero((ref == _EXT) | (ref == _CONST)):
        col = ident[:, c]
        if not (col == col[0]).all():
            loop.varying[int(c)] = col
    # carries: each read position gets one initial value (copy 0's operand)
    loop.carries = {}
    for c in carry_cols:
        key = (int(pos[1, c]), int(dout[1, c]))
        init = (int(kind[0, c]), int(ident[0, c]))
        if loop.carries.setdefault(key, init) != init:
            return False
    loop.slots = (s0, C)
    return True


def _outside_uses(ix, loop, consumed):
    """{(position, output): sorted copies} whose values something after the stretch reads,
    other than as per-copy inputs of another stretch (slots in `consumed`)."""
    a, L, end = loop.a, loop.L, loop.end
    mask = (ix.kind == _IN) & (ix.deq >= a) & (ix.deq < end) & (ix.slot_eqn >= end)
    if consumed is not None:
        mask &= ~consumed
    found = set(zip(ix.deq[mask].tolist(), ix.dout[mask].tolist()))
    for vid in ix.late:
        d = ix.defined(vid)
        if d is not None and a <= d[0] < end:
            found.add(d)
    uses = {}
    for i, o in found:
        m, p = divmod(i - a, L)
        uses.setdefault((p, o), []).append(m)
    return {key: sorted(ms) for key, ms in uses.items()}


def _from_loop(loops, col_deq, col_dout):
    """Where the values one per copy come from: (source stretch, position, output, first copy,
    step, (lo, hi)) when copies lo..hi-1 read one position of another stretch, one copy after
    (or before) the other; else None."""
    for src in loops:
        inside = (col_deq >= src.a) & (col_deq < src.end)
        if not inside.any():
            continue
        lo = int(np.argmax(inside))
        hi = lo + int(np.argmin(inside[lo:])) if not inside[lo:].all() else len(inside)
        if inside[hi:].any():
            return None
        d, o = col_deq[lo:hi], col_dout[lo:hi]
        m, p = np.divmod(d - src.a, src.L)
        if not (p == p[0]).all() or not (o == o[0]).all():
            return None
        step = int(m[1] - m[0]) if len(m) > 1 else 1
        if step not in (1, -1) or not (np.diff(m) == step).all():
            return None
        return src, int(p[0]), int(o[0]), int(m[0]), step, (lo, hi)
    return None


# ------------------------------------------------------------- rewriting ---

def has_loops(prog):
    """Does `prog` run a scan (whose kernels compile when it first runs)?"""
    return any(e.prim is scan_p for e in prog.eqns)


def roll(prog, depth=0):
    """`prog` with its repeating stretches rolled into scan equations (the same program
    object when there is nothing to roll)."""
    if len(prog.eqns) < MIN_PROGRAM and depth == 0:
        return prog
    ix = _Index(prog)
    loops = []
    for a, L, k in _choose(_stretches(ix.seq, 0, ix.n)):
        for shift in range(L):                      # align copies so each reads one back
            lp = _Loop(a + shift, L, k - (1 if shift else 0))
            if lp.k >= MIN_REPS and _classify(ix, lp):
                loops.append(lp)
                break
    if not loops:
        return prog
    return _Rewriter(prog, ix, loops, depth).program()


class _Rewriter:
    def __init__(self, prog, ix, loops, depth):
        self.prog, self.ix, self.depth = prog, ix, depth
        self.next_id = 1 + max([v.id for v in prog.invars] +
                               [o.id for e in prog.eqns for o in e.outvars] + [0])
        self.loops = self._resolve(loops)
        self.rename = {}                         # var id -> replacement operand

    def new_var(self, shape, dtype, pyscalar=False):
        self.next_id += 1
        return Var(self.next_id, tuple(shape), dtype, pyscalar)

    def _resolve(self, loops):
        """Settle where each stretch's per-copy values come from: rows of another stretch's
        stacked results.  A stretch whose first or last copies read such values from outside
        that stretch is shortened; one that cannot get them at all stays unrolled."""
        ix = self.ix
        changed = True
        while changed:
            changed = False
            for lp in list(loops):
                others = [q for q in loops if q is not lp]
                lp.xs_src = {}
                s0, C = lp.slots
                for c in lp.varying:
                    if lp.cls[c] == _CONST:
                        continue
                    src = _from_loop(others, ix.deq[s0 + c: s0 + C * lp.k: C],
                                     ix.dout[s0 + c: s0 + C * lp.k: C])
                    if src is not None and src[5] != (0, lp.k):
                        lo, hi = src[5]
                        short = _Loop(lp.a + lo * lp.L, lp.L, hi - lo)
                        loops.remove(lp)
                        if short.k >= MIN_REPS and short.k * short.L >= MIN_EQNS and _classify(ix, short):
                            loops.append(short)
                        changed = True
                        break
                    if src is None:
                        loops.remove(lp)
                        changed = True
                        break
                    lp.xs_src[c] = src[:5]
                if changed:
                    break
        self.consumed = np.zeros(len(ix.kind), bool)     # slots fed from another stretch's rows
        for lp in loops:                          # positions other stretches read per copy
            lp.exports = {}
        for lp in loops:
            s0, C = lp.slots
            for c, (src, p, o, _, _) in lp.xs_src.items():
                src.exports[(p, o)] = None
                self.consumed[s0 + c: s0 + C * lp.k: C] = True
        return sorted(loops, key=lambda q: q.a)

    # -- operands ------------------------------------------------------------
    def operand(self, a):
        if isinstance(a, Var):
            return self.rename.get(a.id, a)
        return a

    def program(self):
        prog, eqns, out = self.prog, self.prog.eqns, []
        by_start = {lp.a: lp for lp in self.loops}
        i = 0
        self.guards = {}
        for g in prog.guards:
            self.guards.setdefault(g.var.id, []).append(g)
        self.moved_guards = set()
        new_guards = []
        while i < len(eqns):
            lp = by_start.get(i)
            if lp is None:
                e = eqns[i]
                out.append(Eqn(e.prim, [self.operand(a) for a in e.invars], e.outvars, e.params))
                i += 1
                continue
            out.extend(self.emit(lp, new_guards))
            i = lp.end
        guards = [Guard(self.operand(g.var), g.kind, g.value) for g in prog.guards
                  if id(g) not in self.moved_guards] + new_guards
        outvars = [self.operand(v) for v in prog.outvars]
        return Program(prog.invars, out, outvars, guards, prog.in_tree, prog.out_tree)

    # -- one stretch ---------------------------------------------------------
    def emit(self, lp, new_guards):
        eqns = self.prog.eqns
        a, L, k = lp.a, lp.L, lp.k
        body_eqns = eqns[a:a + L]
        guarded = self._guarded(lp)
        if guarded is None:
            return self._unrolled(lp)
        uses = _outside_uses(self.ix, lp, self.consumed)
        carry_keys = list(lp.carries)
        exports = dict.fromkeys(lp.exports)
        for key, ms in uses.items():
            if ms != [k - 1] or key not in lp.carries:
                exports[key] = None
        exports.update(dict.fromkeys(guarded))
        # the body: copy 0 with its operands fed as the classification says
        bmap = {}                                # var id in copy 0 -> body var
        carry_of = {key: self.like(body_eqns[key[0]].outvars[key[1]]) for key in carry_keys}
        consts_in, const_vars, xs_in, xs_vars, pre = [], {}, [], [], []
        body, col = [], 0
        for e in body_eqns:
            ins = []
            for operand in e.invars:
                c, col = col, col + 1
                cls = lp.cls[c]
                if cls == _IN:
                    ins.append(bmap[body_eqns[lp.pos[c]].outvars[lp.dout[c]].id])
                elif cls == _CARRY:
                    ins.append(carry_of[(int(lp.pos[c]), int(lp.dout[c]))])
                elif c in lp.varying:
                    v = self._per_copy(lp, c, operand, xs_in, pre)
                    xs_vars.append(v)
                    ins.append(v)
                elif isinstance(operand, Const):
                    ins.append(operand)
                else:
                    v = const_vars.get(operand.id)
                    if v is None:
                        v = const_vars[operand.id] = self.like(operand)
                        consts_in.append(self.operand(operand))
                    ins.append(v)
            outs = [self.like(o) for o in e.outvars]
            bmap.update((o.id, n) for o, n in zip(e.outvars, outs))
            body.append(Eqn(e.prim, ins, outs, e.params))
        export_keys = list(exports)
        results = [bmap[body_eqns[p].outvars[o].id] for p, o in carry_keys + export_keys]
        body_prog = Program(list(const_vars.values()) + list(carry_of.values()) + xs_vars, body,
                            results, [])
        if self.depth < 2:
            body_prog = roll(body_prog, self.depth + 1)
        inits = [self.operand(self._carry_init(lp, key)) for key in carry_keys]
        finals = [self.like(carry_of[key]) for key in carry_keys]
        ys = [self.new_var((k,) + tuple(body_eqns[p].outvars[o].shape), body_eqns[p].outvars[o].dtype)
              for p, o in export_keys]
        lp.ys = dict(zip(export_keys, ys))
        out = pre + [Eqn(scan_p, consts_in + inits + xs_in, finals + ys,
                         dict(body=body_prog, n_consts=len(consts_in), n_carry=len(carry_keys),
                              length=k, reverse=False, checkpoint=None))]
        # what is read after the stretch: the final carries, or rows of the stacked results
        final_of = dict(zip(carry_keys, finals))
        for (p, o), ms in uses.items():
            for m in ms:
                v = eqns[a + m * L + p].outvars[o]
                if m == k - 1 and (p, o) in final_of:
                    self.rename[v.id] = final_of[(p, o)]
                else:
                    row = self.like(v)
                    out.append(Eqn(S.getitem_p, [lp.ys[(p, o)]], [row], {"idx": (m,)}))
                    self.rename[v.id] = row
        for key, gs in guarded.items():
            new_guards.append(Guard(lp.ys[key], "array", np.stack([np.asarray(g.value) for g in gs])))
            self.moved_guards.update(id(g) for g in gs)
        return out

    def like(self, v):
        return self.new_var(v.shape, v.dtype, v.pyscalar)

    def _carry_init(self, lp, key):
        """Copy 0's operand in a slot that reads carry `key` (the carry's initial value)."""
        col = next(c for c in range(len(lp.cls)) if lp.cls[c] == _CARRY and
                   (int(lp.pos[c]), int(lp.dout[c])) == key)
        return self._slot_operand(lp.a, col)

    def _guarded(self, lp):
        """{(position, output): the guards of each copy} for guards inside the stretch; None
        when they are not one guard of one kind per copy at a position."""
        found = {}
        for vid, gs in self.guards.items():
            d = self.ix.defined(vid)
            if d is not None and lp.a <= d[0] < lp.end:
                m, p = divmod(d[0] - lp.a, lp.L)
                found.setdefault((p, d[1]), []).append((m, gs))
        out = {}
        for key, entries in found.items():
            if len(entries) != lp.k or any(len(gs) != 1 for _, gs in entries):
                return None
            gs = [g for _, (g,) in sorted(entries, key=lambda t: t[0])]
            kinds = {g.kind for g in gs}
            var = gs[0].var
            # one stacked comparison keeps the meaning of bool guards on booleans and float
            # guards on float64 values (same_value: -0.0 differs from 0.0, nan matches nan)
            if not (kinds == {"bool"} and var.dtype == np.bool_ or
                    kinds == {"float"} and var.dtype == np.float64):
                return None
            out[key] = gs
        return out

    def _unrolled(self, lp):
        return [Eqn(e.prim, [self.operand(a) for a in e.invars], e.outvars, e.params)
                for e in self.prog.eqns[lp.a:lp.end]]

    def _slot_operand(self, eqn_index, col):
        """The operand in slot `col` (counted over the copy) of the copy starting at eqn_index."""
        for e in self.prog.eqns[eqn_index:]:
            if col < len(e.invars):
                return e.invars[col]
            col -= len(e.invars)
        raise AssertionError("slot out of range")

    def _per_copy(self, lp, c, operand, xs_in, pre):
        """A body input taking one value per copy: stacked constants, or rows of another
        stretch's stacked outputs (reversed when that stretch ran the other way)."""
        shape = tuple(np.shape(operand.value)) if isinstance(operand, Const) else operand.shape
        if lp.cls[c] == _CONST:
            vals = [self._slot_operand(lp.a + m * lp.L, c).value for m in range(lp.k)]
            arr = np.stack([np.asarray(v) for v in vals])
            xs_in.append(Const(arr))
            return self.new_var(shape, arr.dtype, False)
        src, p, o, m0, step = lp.xs_src[c]
        ys = src.ys[(p, o)]
        if step == 1:
            idx = slice(m0, m0 + lp.k) if (m0, lp.k) != (0, src.k) else None
        else:
            stop = m0 - lp.k
            idx = slice(m0, None if stop < 0 else stop, -1)
        if idx is None:
            xs_in.append(ys)
        else:
            v = self.new_var((lp.k,) + tuple(shape), ys.dtype)
            pre.append(Eqn(S.getitem_p, [ys], [v], {"idx": (idx,)}))
            xs_in.append(v)
        return self.new_var(shape, ys.dtype, False)
