"""Index expressions: array values of a loop body as the scalar code of one element.

`Value.read(blk, idx, rng)` is the code of the element at index `idx` (an affine `Ix` per
axis) while the loop around it covers `rng` ((lo, hi) per axis).  Elementwise operations,
broadcasts, basic slices, transposes, concatenation, zero padding and scatter-adds at slices
compose as values without temporaries (compile/array_kernel.py decides where a value is
materialized into a buffer instead).  Piecewise values report the boundaries where their
definition changes (`cuts`); a loop split there reads one piece per sub-loop, with no
branch.
"""
from __future__ import annotations

import numpy as np

from .native import _number

_DTYPES = (np.dtype(np.float64), np.dtype(np.int64), np.dtype(bool))


class NotArrayKernel(Exception):
    """The body has a value or an operation the array kernel does not handle."""


def dname(dtype):
    d = np.dtype(dtype)
    if d not in _DTYPES:
        raise NotArrayKernel(f"dtype {d}")
    return {"f": "float64", "i": "int64", "b": "bool_"}[d.kind]


class Ix:
    """An affine index ``a * var + b`` (var None: the constant b)."""

    __slots__ = ("var", "a", "b")

    def __init__(self, var, a=1, b=0):
        self.var, self.a, self.b = (var, a, b) if var is not None and a != 0 else (None, 0, b)

    def map(self, step, start):
        return Ix(self.var, self.a * step, self.b * step + start)

    def __str__(self):
        if self.var is None:
            return str(self.b)
        v = self.var if self.a == 1 else f"{self.a} * {self.var}"
        return v if self.b == 0 else f"({v} + {self.b})" if self.b > 0 else f"({v} - {-self.b})"


class Block:
    """The statements of one loop body, with the element values it already computed."""

    def __init__(self, k):
        self.k, self.lines, self.memo = k, [], {}

    def temp(self, expr):
        name = f"t{self.k.n()}"
        self.lines.append(f"{name} = {expr}")
        return name


# ------------------------------------------------------------ values ---

class Value:
    """A body value of static shape: ``read(blk, idx, rng)`` is the scalar code of its element at
    index `idx` (Ix per axis) while the loop covers `rng` ((lo, hi) per axis), which lies in one
    piece of `cuts()` (the boundaries, per axis, where its definition changes)."""

    cost = 0
    invariant = False

    def __init__(self, shape, dtype):
        self.shape, self.dtype = tuple(int(n) for n in shape), np.dtype(dtype)

    def cuts(self):
        return [set() for _ in self.shape]

    def read(self, blk, idx, rng):
        key = (id(self), tuple(str(i) for i in idx))
        got = blk.memo.get(key)
        if got is None:
            got = blk.memo[key] = self._read(blk, idx, rng)
        return got


class Buffer(Value):
    """A materialized array (or scalar variable): `name`, read as ``name[prefix, idx]``."""

    def __init__(self, name, shape, dtype, prefix="", invariant=False):
        super().__init__(shape, dtype)
        self.name, self.prefix, self.invariant = name, prefix, invariant

    def _read(self, blk, idx, rng):
        subs = ([self.prefix] if self.prefix else []) + [str(i) for i in idx]
        return f"{self.name}[{', '.join(subs)}]" if subs else self.name


class Literal(Value):
    invariant = True

    def __init__(self, value):
        v = np.asarray(value)
        super().__init__((), v.dtype)
        self.text = _number(v.item())

    def _read(self, blk, idx, rng):
        return self.text


class View(Value):
    """Axis i reads source axis ``axes[i]`` at ``start + step * index`` (axes[i] None: a new or
    broadcast axis); source axes absent from `axes` are fixed at `fixed[axis]`."""

    def __init__(self, src, shape, axes, starts, steps, fixed=None):
        super().__init__(shape, src.dtype)
        self.src, self.axes, self.starts, self.steps = src, axes, starts, steps
        self.fixed = fixed or {}
        self.cost, self.invariant = src.cost, src.invariant

    def cuts(self):
        src_cuts = self.src.cuts()
        out = []
        for n, ax, start, step in zip(self.shape, self.axes, self.starts, self.steps):
            cs = set()
            if ax is not None:
                for c in src_cuts[ax]:
                    o = -(-(c - start) // step) if step > 0 else (start - c) // -step + 1
                    if 0 < o < n:
                        cs.add(o)
            out.append(cs)
        return out

    def _read(self, blk, idx, rng):
        sidx = [Ix(None, 0, self.fixed.get(a, 0)) for a in range(len(self.src.shape))]
        srng = [(self.fixed.get(a, 0), self.fixed.get(a, 0) + 1) for a in range(len(self.src.shape))]
        for i, ax in enumerate(self.axes):
            if ax is None:
                continue
            start, step = self.starts[i], self.steps[i]
            sidx[ax] = idx[i].map(step, start)
            lo, hi = rng[i]
            ends = (start + step * lo, start + step * (hi - 1))
            srng[ax] = (min(ends), max(ends) + 1)
        return self.src.read(blk, sidx, srng)


def broadcast(v, shape):
    """`v` read at the indices of `shape` (NumPy broadcasting)."""
    if v.shape == tuple(shape):
        return v
    lead = len(shape) - len(v.shape)
    axes = [None if i < lead or v.shape[i - lead] == 1 and shape[i] != 1 else i - lead
            for i in range(len(shape))]
    fixed = {a: 0 for a in range(len(v.shape)) if a not in axes}
    return View(v, shape, axes, [0] * len(shape), [1] * len(shape), fixed)


class Elementwise(Value):
    def __init__(self, k, e, args):
        out = e.outvars[0]
        super().__init__(out.shape, out.dtype)
        self.k, self.e = k, e
        self.args = [broadcast(a, self.shape) for a in args]
        self.cost = 1 + sum(a.cost for a in self.args)
        self.invariant = all(a.invariant for a in self.args)

    def cuts(self):
        out = [set() for _ in self.shape]
        for a in self.args:
            for s, c in zip(out, a.cuts()):
                s |= c
        return out

    def _read(self, blk, idx, rng):
        args = [a.read(blk, idx, rng) for a in self.args]
        return blk.temp(self.k.emit(self.e, args))


class Pieces(Value):
    """Piecewise along `axis`: rows [offsets[j], offsets[j+1]) read piece j (None: zeros)."""

    def __init__(self, pieces, axis, offsets, shape, dtype):
        super().__init__(shape, dtype)
        self.pieces, self.axis, self.offsets = pieces, axis, offsets
        real = [p for p in pieces if p is not None]
        self.cost = sum(p.cost for p in real)
        self.invariant = all(p.invariant for p in real)
        self.zero = "False" if self.dtype.kind == "b" else "0" if self.dtype.kind == "i" else "0.0"

    def cuts(self):
        out = [set() for _ in self.shape]
        out[self.axis] = {o for o in self.offsets[1:-1]}
        for p, off in zip(self.pieces, self.offsets):
            if p is None:
                continue
            for d, c in enumerate(p.cuts()):
                out[d] |= {x + off for x in c} if d == self.axis else c
        return out

    def _read(self, blk, idx, rng):
        lo = rng[self.axis][0]
        j = max(i for i, o in enumerate(self.offsets[:-1]) if o <= lo)
        p, off = self.pieces[j], self.offsets[j]
        if p is None:
            return self.zero
        idx, rng = list(idx), list(rng)
        idx[self.axis] = idx[self.axis].map(1, -off)
        rng[self.axis] = (rng[self.axis][0] - off, rng[self.axis][1] - off)
        return p.read(blk, idx, rng)


class SliceAdd(Value):
    """``x`` plus ``y`` added at the box ``[lo[d], hi[d])`` (y read relative to the box)."""

    def __init__(self, x, y, lo, hi):
        super().__init__(x.shape, x.dtype)
        self.x, self.y, self.lo, self.hi = x, y, lo, hi
        self.cost = x.cost + y.cost + 1
        self.invariant = x.invariant and y.invariant

    def cuts(self):
        out = [set(c) for c in self.x.cuts()]
        for d, c in enumerate(self.y.cuts()):
            out[d] |= {v + self.lo[d] for v in c}
        for d, n in enumerate(self.shape):
            out[d] |= {v for v in (self.lo[d], self.hi[d]) if 0 < v < n}
        return out

    def _read(self, blk, idx, rng):
        xv = self.x.read(blk, idx, rng)
        if not all(lo <= r[0] and r[1] <= hi for r, lo, hi in zip(rng, self.lo, self.hi)):
            return xv
        yidx = [i.map(1, -lo) for i, lo in zip(idx, self.lo)]
        yrng = [(r[0] - lo, r[1] - lo) for r, lo in zip(rng, self.lo)]
        return blk.temp(f"{xv} + {self.y.read(blk, yidx, yrng)}")


def transposed(v, axes=None):
    axes = list(reversed(range(len(v.shape)))) if axes is None else list(axes)
    return View(v, tuple(v.shape[a] for a in axes), axes, [0] * len(axes), [1] * len(axes))


def getitem(k, e, vals, idx):
    x = vals[0]
    idx = tuple(idx) if isinstance(idx, tuple) else (idx,)
    if not all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in idx):
        raise NotArrayKernel("advanced indexing")
    n_real = sum(1 for i in idx if i is not None and i is not Ellipsis)
    if Ellipsis in idx:
        at = idx.index(Ellipsis)
        idx = idx[:at] + (slice(None),) * (len(x.shape) - n_real) + idx[at + 1:]
    idx = idx + (slice(None),) * (len(x.shape) - sum(1 for i in idx if i is not None))
    shape, axes, starts, steps, fixed, d = [], [], [], [], {}, 0
    for i in idx:
        if i is None:
            shape.append(1)
            axes.append(None)
            starts.append(0)
            steps.append(1)
            continue
        n = x.shape[d]
        if isinstance(i, slice):
            start, stop, step = i.indices(n)
            shape.append(len(range(start, stop, step)))
            axes.append(d)
            starts.append(start)
            steps.append(step)
        else:
            fixed[d] = int(i) + n if i < 0 else int(i)
        d += 1
    return View(x, shape, axes, starts, steps, fixed)


def index_add(k, e, vals, idx):
    x, y = vals
    idx = tuple(idx) if isinstance(idx, tuple) else (idx,)
    if not all(isinstance(i, (int, np.integer, slice)) or i is Ellipsis for i in idx):
        raise NotArrayKernel("scatter at an advanced index")
    if Ellipsis in idx:
        at = idx.index(Ellipsis)
        idx = idx[:at] + (slice(None),) * (len(x.shape) - len(idx) + 1) + idx[at + 1:]
    idx = idx + (slice(None),) * (len(x.shape) - len(idx))
    lo, hi, sizes, axes, j = [], [], [], [], 0
    for d, i in enumerate(idx):
        n = x.shape[d]
        if isinstance(i, slice):
            start, stop, step = i.indices(n)
            if step != 1:
                raise NotArrayKernel("scatter at a strided slice")
            stop = max(stop, start)
            lo.append(start)
            hi.append(stop)
            sizes.append(stop - start)
            axes.append(j)
            j += 1
        else:
            v = int(i) + n if i < 0 else int(i)
            lo.append(v)
            hi.append(v + 1)
            sizes.append(1)
            axes.append(None)
    picked = tuple(s for s, a in zip(sizes, axes) if a is not None)
    yb = broadcast(y, picked)
    ybox = View(yb, sizes, axes, [0] * len(sizes), [1] * len(sizes))
    return SliceAdd(x, ybox, lo, hi)


def concatenate(k, e, vals, axis):
    out = e.outvars[0]
    axis = axis % len(out.shape)
    offsets, pieces, o = [0], [], 0
    for v in vals:
        if v.shape[axis] == 0:
            continue
        o += v.shape[axis]
        pieces.append(v)
        offsets.append(o)
    return Pieces(pieces, axis, offsets, out.shape, out.dtype)


def pad(k, e, vals, widths):
    x = vals[0]
    shape = list(x.shape)
    for d, (lo, hi) in enumerate(widths):
        if lo < 0 or hi < 0:
            raise NotArrayKernel("negative padding")
        if not lo and not hi:
            continue
        n = shape[d]
        shape[d] = lo + n + hi
        pieces, offsets = [], [0]
        for p, size in ((None, lo), (x, n), (None, hi)):
            if size:
                pieces.append(p)
                offsets.append(offsets[-1] + size)
        x = Pieces(pieces, d, offsets, shape, x.dtype)
    return x
