"""Banded matrices in a staged program: Jacobians of stencils as diagonals, not dense arrays.

A batched Jacobian or Hessian starts from the identity basis.  Through slices
(``x[1:]``, ``x[:-1]``), products with unbatched vectors, sums and the
scatters that transpose slices, every intermediate stays a matrix whose
nonzeros lie on a few diagonals.  The dense program touches all R*C entries
of each; this pass keeps the diagonals as vectors instead: a diagonal is
sliced, scaled and added with vector operations, and a matrix is written out
(zeros plus one strided write per diagonal) only where an operation without a
banded form, or the caller, needs it.  Off-band entries are structural zeros,
as with symbolic zero tangents.

Only existing primitives are emitted, so the rewritten program is an ordinary
program.  Representation: for a matrix M of shape (R, C) (plus size-1 axes),
diagonal k holds M[i, i + k] for i in [max(0, -k), min(R, C - k)), as a
vector operand or a scalar constant (the same value all along).
"""
from __future__ import annotations

import numpy as np

from ..ops import elementwise as E, shape as S
from .program import Const, Eqn, Var, const_number

MAX_DIAGONALS = 8       # more than this and the dense form is the better one
MIN_SIZE = 64           # smaller matrices gain nothing


class Band:
    """A matrix of `shape` whose two non-unit axes `axes` (p < q) carry diagonals `diags`."""

    __slots__ = ("shape", "axes", "diags")

    def __init__(self, shape, axes, diags):
        self.shape, self.axes, self.diags = tuple(shape), axes, diags

    @property
    def rc(self):
        return self.shape[self.axes[0]], self.shape[self.axes[1]]


def _band_axes(shape):
    big = [i for i, n in enumerate(shape) if n != 1]
    if len(big) != 2 or int(np.prod(shape)) < MIN_SIZE:
        return None
    return tuple(big)


def _span(k, r, c):
    """First row and length of diagonal k of an r x c matrix."""
    i0 = max(0, -k)
    return i0, min(r, c - k) - i0


def _shape(a):
    return tuple(a.shape) if isinstance(a, Var) else np.shape(a.value)


def _scalarish(a):
    """A diagonal that is one value all along (a scalar constant or a 0-d variable)?"""
    return const_number(a) is not None if isinstance(a, Const) else a.shape == ()


# constant folding of a binary op on two constant diagonals
_FOLD = {E.mul_p: np.multiply, E.safe_mul_p: np.multiply, E.add_p: np.add,
         E.sub_p: np.subtract, E.div_p: np.divide}


class _Rewriter:
    def __init__(self, eqns, invars):
        ids = [v.id for v in invars] + [o.id for e in eqns for o in e.outvars]
        self.next_id = 1 + max(ids, default=0)
        self.bands = {}             # var id -> Band
        self.out = []
        self.const_bands = {}       # id(constant array) -> (array, Band or None)
        self.reshaped = {}          # (var id, shape) -> the var reshaped

    # ---------------------------------------------------------- emitting ---
    def emit(self, prim, ins, out_shape, dtype, **params):
        o = Var(self.next_id, tuple(out_shape), dtype)
        self.next_id += 1
        self.out.append(Eqn(prim, list(ins), [o], params))
        return o

    def negate(self, d, dtype, length):
        s = const_number(d)
        if s is not None:
            return Const(-s)
        if isinstance(d, Const):
            return Const(-np.asarray(d.value))
        return self.emit(E.neg_p, [d], (length,), dtype)

    def binary(self, prim, a, b, dtype, length):
        sa, sb = const_number(a), const_number(b)
        if prim in (E.mul_p, E.safe_mul_p):
            if sa == 1.0:
                return b
            if sb == 1.0:
                return a
        if prim in (E.add_p, E.sub_p) and sb == 0.0:
            return a
        if prim is E.add_p and sa == 0.0:
            return b
        if isinstance(a, Const) and isinstance(b, Const):
            va, vb = np.asarray(a.value), np.asarray(b.value)
            with np.errstate(all="ignore"):
                r = _FOLD[prim](va, vb)
            if prim is E.safe_mul_p:
                r = np.where((va == 0) | (vb == 0), 0.0, r)
            return Const(float(r)) if np.ndim(r) == 0 else Const(r)
        shape = () if _scalarish(a) and _scalarish(b) else (length,)
        return self.emit(prim, [a, b], shape, dtype)

    def widen(self, d, n, dt):
        """A diagonal as a vector of length n (scalars broadcast)."""
        if not _scalarish(d):
            return d
        if isinstance(d, Const):
            return Const(np.full(n, const_number(d), dt))
        return self.binary(E.add_p, Const(np.zeros(n, dt)), d, dt, n)

    def slice_vec(self, d, start, stop, length_before):
        if _scalarish(d) or (start == 0 and stop == length_before):
            return d
        if isinstance(d, Const):
            return Const(np.asarray(d.value)[start:stop])
        return self.emit(S.getitem_p, [d], (stop - start,), d.dtype, idx=(slice(start, stop),))

    # -------------------------------------------------------- constants ---
    def const_band(self, a):
        key = id(a.value)
        if key not in self.const_bands:
            self.const_bands[key] = (a.value, self._const_band(a.value))   # keep value alive
        return self.const_bands[key][1]

    def _const_band(self, v):
        if not isinstance(v, np.ndarray) or v.dtype.kind != "f":
            return None
        axes = _band_axes(v.shape)
        if axes is None:
            return None
        r, c = v.shape[axes[0]], v.shape[axes[1]]
        m = v.reshape(r, c)
        if not any(v.strides):                      # one value broadcast: zeros or dense
            return Band(v.shape, axes, {}) if m.flat[0] == 0 else None
        rows, cols = np.nonzero(m)
        ks = np.unique(cols - rows)
        if len(ks) > MAX_DIAGONALS:
            return None
        diags = {}
        for k in ks.tolist():
            d = np.diagonal(m, k)
            diags[k] = Const(float(d[0])) if (d == d[0]).all() else Const(d.copy())
        return Band(v.shape, axes, diags)

    def band_of(self, a):
        if isinstance(a, Var):
            return self.bands.get(a.id)
        return self.const_band(a)

    # ---------------------------------------------------------- the ops ---
    def rewrite(self, e):
        """A Band for e's output computed from its inputs' diagonals, or None."""
        if len(e.outvars) != 1:
            return None
        o = e.outvars[0]
        if o.dtype.kind != "f" or o.pyscalar:
            return None
        axes = _band_axes(o.shape)
        if axes is None:
            return None
        prim, ins = e.prim, e.invars
        bands = [self.band_of(a) for a in ins]
        if all(b is None for b in bands):
            return None
        r, c = o.shape[axes[0]], o.shape[axes[1]]
        dt = o.dtype
        if prim is E.neg_p and bands[0] is not None:
            return Band(o.shape, axes, {k: self.negate(d, dt, _span(k, r, c)[1])
                                        for k, d in bands[0].diags.items()})
        if prim in (E.mul_p, E.safe_mul_p) and len(ins) == 2:
            (a, b), (ba, bb) = ins, bands
            if ba is not None and bb is not None:
                if ba.shape != o.shape or bb.shape != o.shape:
                    return None
                return Band(o.shape, axes, {
                    k: self.binary(prim, ba.diags[k], bb.diags[k], dt, _span(k, r, c)[1])
                    for k in ba.diags.keys() & bb.diags.keys()})
            if ba is None:
                a, b, ba, bb = b, a, bb, ba
            values = self.along(b, ba) if ba.shape == o.shape else None
            if values is None:
                return None
            swap = e.invars[0] is not a
            return Band(o.shape, axes, {
                k: self.binary(prim, *((values(k), d) if swap else (d, values(k))), dt,
                               _span(k, r, c)[1])
                for k, d in ba.diags.items()})
        if prim is E.select_p and bands[0] is None and bands[1] is not None and bands[2] is not None:
            bx, by = bands[1], bands[2]
            values = self.along(ins[0], bx) if bx.shape == by.shape == o.shape else None
            if values is None:
                return None
            diags = {}
            for k in bx.diags.keys() | by.diags.keys():
                n = _span(k, r, c)[1]
                x, y = bx.diags.get(k, Const(0.0)), by.diags.get(k, Const(0.0))
                cond = values(k)
                vx, vy = (self.widen(a, n, dt) for a in (x, y))
                diags[k] = self.emit(E.select_p, [cond, vx, vy], (n,), dt)
            return Band(o.shape, axes, diags)
        if prim is E.div_p and bands[0] is not None and bands[1] is None:
            s = const_number(ins[1])
            if s is None or s == 0 or bands[0].shape != o.shape:
                return None
            return Band(o.shape, axes, {k: self.binary(E.div_p, d, Const(s), dt, _span(k, r, c)[1])
                                        for k, d in bands[0].diags.items()})
        if prim in (E.add_p, E.sub_p) and len(ins) == 2:
            ba, bb = bands
            if ba is None or bb is None or ba.shape != o.shape or bb.shape != o.shape:
                return None
            diags = dict(ba.diags)
            for k, d in bb.diags.items():
                n = _span(k, r, c)[1]
                if k in diags:
                    diags[k] = self.binary(prim, diags[k], d, dt, n)
                else:
                    diags[k] = d if prim is E.add_p else self.negate(d, dt, n)
            return Band(o.shape, axes, diags)
        if prim is S.reshape_p and bands[0] is not None:
            b = bands[0]
            if tuple(n for n in b.shape if n != 1) != (r, c):
                return None
            return Band(o.shape, axes, b.diags)
        if prim is S.transpose_p and bands[0] is not None:
            b = bands[0]
            perm = e.params["axes"]
            p, q = perm.index(b.axes[0]), perm.index(b.axes[1])
            if p < q:
                return Band(o.shape, axes, b.diags)
            return Band(o.shape, axes, {-k: d for k, d in b.diags.items()})
        if prim is S.getitem_p and bands[0] is not None:
            return self.sliced(bands[0], e.params["idx"], o, dt)
        if prim is S.index_add_p and bands[0] is not None and bands[1] is not None:
            return self.scattered(bands[0], bands[1], e.params["idx"], o, dt)
        return None

    def along(self, x, band):
        """For a dense operand x broadcast against `band` (a scalar, a row, a column or a
        full matrix): a function k -> x's values on diagonal k; None if x does not fit."""
        shape_x = _shape(x)
        nd = len(band.shape)
        if len(shape_x) > nd:
            return None
        full = (1,) * (nd - len(shape_x)) + tuple(shape_x)
        p, q = band.axes
        if any(full[i] != 1 for i in range(nd) if i not in (p, q)):
            return None
        r, c = band.rc
        rows, cols = full[p] != 1, full[q] != 1
        if (rows and full[p] != r) or (cols and full[q] != c):
            return None

        def values(k):
            i0, n = _span(k, r, c)
            if not rows and not cols:
                return Const(const_number(x)) if isinstance(x, Const) else self.part(x, (), 0, 0, 1)
            if cols and not rows:
                return self.part(x, (c,), i0 + k, i0 + k + n, 1)
            if rows and not cols:
                return self.part(x, (r,), i0, i0 + n, 1)
            start = i0 * c + i0 + k
            return self.part(x, (r * c,), start, start + (n - 1) * (c + 1) + 1, c + 1)
        return values

    def part(self, x, vshape, start, stop, step):
        """x viewed as an array of `vshape` (a vector or a scalar), sliced."""
        if isinstance(x, Const):
            v = np.asarray(x.value).reshape(vshape)
            return Const(v.item() if vshape == () else v[start:stop:step].copy())
        key = (x.id, vshape)
        v = x if tuple(x.shape) == vshape else self.reshaped.get(key)
        if v is None:
            v = self.reshaped[key] = self.emit(S.reshape_p, [x], vshape, x.dtype, shape=vshape)
        if vshape == ():
            return v
        n = len(range(start, stop, step))
        if start == 0 and step == 1 and n == vshape[0]:
            return v
        return self.emit(S.getitem_p, [v], (n,), x.dtype, idx=(slice(start, stop, step),))

    def _ranges(self, idx, shape):
        """Per-axis [start, stop) of a basic index of unit-step slices, or None."""
        if any(i is Ellipsis for i in idx):
            j = idx.index(Ellipsis)
            idx = idx[:j] + (slice(None),) * (len(shape) - len(idx) + 1) + idx[j + 1:]
        idx = idx + (slice(None),) * (len(shape) - len(idx))
        if len(idx) != len(shape):
            return None
        out = []
        for s, n in zip(idx, shape):
            if not isinstance(s, slice) or s.step not in (None, 1):
                return None
            a, b, _ = s.indices(n)
            out.append((a, max(a, b)))
        return out

    def sliced(self, band, idx, o, dt):
        ranges = self._ranges(idx, band.shape)
        if ranges is None:
            return None
        p, q = band.axes
        new_shape = tuple(b - a for a, b in ranges)
        if new_shape != tuple(o.shape):
            return None
        (ar, br), (ac, bc) = ranges[p], ranges[q]
        r, c = band.rc
        diags = {}
        for k, d in band.diags.items():
            i0, n = _span(k, r, c)
            lo, hi = max(ar, ac - k), min(br, bc - k)
            if hi > lo:
                diags[k + ar - ac] = self.slice_vec(d, lo - i0, hi - i0, n)
        return Band(o.shape, band.axes, diags)

    def scattered(self, base, y, idx, o, dt):
        ranges = self._ranges(idx, base.shape)
        if ranges is None or base.shape != tuple(o.shape):
            return None
        if tuple(b - a for a, b in ranges) != y.shape:
            return None
        p, q = base.axes
        if y.axes != (p, q):
            return None
        (ar, _), (ac, _) = ranges[p], ranges[q]
        r, c = base.rc
        ry, cy = y.rc
        diags = dict(base.diags)
        for ky, d in y.diags.items():
            k = ky + ac - ar
            i0y, ny = _span(ky, ry, cy)
            i0, n = _span(k, r, c)
            start = i0y + ar - i0
            if k in diags:
                cur = diags[k]
            else:
                cur = None
            if start == 0 and ny == n:
                diags[k] = d if cur is None else self.binary(E.add_p, cur, d, dt, n)
                continue
            if cur is None or isinstance(cur, Const) and const_number(cur) is not None:
                src = Const(np.broadcast_to(np.asarray(0.0 if cur is None else const_number(cur), dt), (n,)))
            else:
                src = self.widen(cur, n, dt)
            if isinstance(d, Const) and isinstance(src, Const):
                arr = np.array(src.value, dtype=dt)
                arr[start:start + ny] += np.asarray(d.value)
                diags[k] = Const(arr)
            else:
                diags[k] = self.emit(S.index_add_p, [src, d], (n,), dt, idx=(slice(start, start + ny),))
        return Band(o.shape, base.axes, diags)

    # ------------------------------------------------------ materialise ---
    def materialise(self, v, band):
        """Eqns writing `band` out densely as the value of var `v`."""
        r, c = band.rc
        total = r * c
        dt = v.dtype
        cur = Const(np.broadcast_to(np.zeros((), dt), (total,)))
        items = sorted(band.diags.items())
        if not items:
            items = [(0, Const(np.zeros(0, dt)))]
            spans = [(0, 0)]
        else:
            spans = [_span(k, r, c) for k, _ in items]
        for (k, d), (i0, n) in zip(items, spans):
            start = i0 * c + i0 + k if n else 0
            stop = start + (n - 1) * (c + 1) + 1 if n else 0
            cur = self.emit(S.index_add_p, [cur, d], (total,), dt, idx=(slice(start, stop, c + 1),))
        self.out.append(Eqn(S.reshape_p, [cur], [v], {"shape": tuple(v.shape)}))


def banded(eqns, invars, outvars, guards):
    """Rewrite matrices with few diagonals as their diagonals (see the module docstring)."""
    rw = _Rewriter(eqns, invars)
    guarded = {g.var.id for g in guards}
    pending = {}                                    # var id -> (var, band): not yet written out
    for e in eqns:
        band = None if any(o.id in guarded for o in e.outvars) else rw.rewrite(e)
        if band is not None:
            o = e.outvars[0]
            rw.bands[o.id] = band
            pending[o.id] = (o, band)
            continue
        for a in e.invars:
            if isinstance(a, Var) and a.id in pending:
                rw.materialise(*pending.pop(a.id))
        rw.out.append(e)
    if not rw.bands:
        return eqns
    for v in outvars:
        if isinstance(v, Var) and v.id in pending:
            rw.materialise(*pending.pop(v.id))
    return rw.out


__all__ = ["banded"]
