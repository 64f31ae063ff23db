"""Array loop kernels: a scan over arrays compiled whole by numba, fused by index.

A loop body whose values hold too many numbers for the scalar kernel
(loop_kernel.py) would run one NumPy call per operation per iteration.  Here
the whole loop becomes one numba function, and each body value is an *index
expression*: given the indices of one element, the scalar code of that
element.  Elementwise operations, broadcasts, basic slices, transposes,
concatenation, zero padding and scatter-adds at slices compose as index
expressions, so a stencil, its transpose or an LSTM gate is one loop with no
temporary.  A value is *materialized* into a buffer (allocated once, before the
loop) only where it must be: a loop output, an operand of a sum, a matmul or a
reshape, or a costly value used more than once.  Loop-invariant values are
computed once, before the loop.

Concatenation, padding and slice scatter-adds are piecewise along an axis: a
loop over such a value is split at the pieces' boundaries (worked out when the
code is generated), so every loop body is branch-free and vectorisable.
"""
from __future__ import annotations

import itertools

import numpy as np

from ..ir.program import Var, Const
from . import codegen, loop_kernel
from .native import kernel_op, _number, _use_counts
from ..ops import elementwise as E, linalg as L, reductions as R, shape as S

_DTYPES = (np.dtype(np.float64), np.dtype(np.int64), np.dtype(bool))
MAX_PIECES = 64            # loops one materialization may split into
MAX_COST = 48              # operations inlined into one element before it is materialized
MAX_LINES = 4000


class NotArrayKernel(Exception):
    """The body has a value or an operation the array kernel does not handle."""


def _dname(dtype):
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


# ------------------------------------------------------------ builder ---

class Kernel:
    """Writes one scan as a numba function: `pre` runs once, `loop` every iteration."""

    def __init__(self):
        self.count, self.pre, self.loop = 0, [], []
        self.ctx = codegen._Ctx()
        self.ctx.scalar = True
        self.const_args = []          # constant arrays the kernel takes as extra arguments
        self.const_ids, self.keep = {}, []

    def n(self):
        self.count += 1
        return self.count

    def emit(self, e, args):
        if e.prim is S.convert_p:
            fn = {"f": "float", "i": "int", "b": "bool"}[np.dtype(e.params["dtype"]).kind]
            return f"{fn}({args[0]})"
        self.ctx.invars = e.invars
        return codegen.emitter(e.prim)(list(args), self.ctx, **e.params)

    def const(self, c):
        v = np.asarray(c.value)
        _dname(v.dtype)
        if v.ndim == 0:
            return Literal(v)
        known = self.const_ids.get(id(c.value))
        if known is not None:
            return known
        name = f"a{len(self.const_args)}"
        self.const_args.append(v)
        buf = self.const_ids[id(c.value)] = Buffer(name, v.shape, v.dtype, invariant=True)
        self.keep.append(c.value)          # (its id stays its own while the kernel is built)
        return buf

    # materialization: loops that write a value into a buffer

    def materialize(self, v, into=None, prefix=""):
        """Loops computing `v` into a new buffer (or into `into`); returns the buffer."""
        lines = self.pre if v.invariant and into is None else self.loop
        if into is None:
            into = f"b{self.n()}"
            if v.shape:
                self.pre.append(f"{into} = _np.empty({v.shape!r}, _np.{_dname(v.dtype)})")
        target = Buffer(into, v.shape, v.dtype, prefix, v.invariant)
        for box in self._boxes(v):
            indent, idx, rng = self._open(lines, box)
            blk = Block(self)
            val = v.read(blk, idx, rng)
            lines += [indent + s for s in blk.lines + [f"{target.read(Block(self), idx, rng)} = {val}"]]
        if len(self.loop) + len(self.pre) > MAX_LINES:
            raise NotArrayKernel("kernel too long")
        return target

    def _boxes(self, v):
        segs = []
        for n, cs in zip(v.shape, v.cuts()):
            pts = [0] + sorted(c for c in cs if 0 < c < n) + [n]
            segs.append(list(zip(pts[:-1], pts[1:])))
        boxes = list(itertools.product(*segs))
        if len(boxes) > MAX_PIECES:
            raise NotArrayKernel("too many pieces")
        return boxes

    def _open(self, lines, box, indent=""):
        """The `for` lines of a loop nest over `box`: (inner indent, Ix per axis, range per axis)."""
        idx = []
        for lo, hi in box:
            if hi - lo == 1:
                idx.append(Ix(None, 0, lo))
                continue
            var = f"i{self.n()}"
            lines.append(f"{indent}for {var} in range({lo}, {hi}):")
            indent += "    "
            idx.append(Ix(var))
        return indent, idx, list(box)

    def reduce_sum(self, x, axes, keepdims, out_shape, dtype):
        """A sum over `axes`: kept axes outside, reduced axes inside, one accumulator each."""
        zero = "0" if np.dtype(dtype).kind == "i" else "0.0"
        name, acc = f"b{self.n()}", f"r{self.n()}"
        lines = self.pre if x.invariant else self.loop
        if out_shape:
            self.pre.append(f"{name} = _np.empty({tuple(out_shape)!r}, _np.{_dname(dtype)})")
        kept = [d for d in range(len(x.shape)) if d not in axes]
        boxes = self._boxes(x)
        for ob in sorted({tuple(b[d] for d in kept) for b in boxes}):
            indent, oidx, orng = self._open(lines, ob)
            lines.append(f"{indent}{acc} = {zero}")
            for b in boxes:
                if tuple(b[d] for d in kept) != ob:
                    continue
                inner, ridx, rrng = self._open(lines, [b[d] for d in axes], indent)
                blk = Block(self)
                val = x.read(blk, _merge(kept, oidx, axes, ridx), _merge(kept, orng, axes, rrng))
                lines += [inner + s for s in blk.lines + [f"{acc} += {val}"]]
            if out_shape:
                it = iter(oidx)
                sub = [str(next(it)) if d in kept else "0" for d in range(len(x.shape))] if keepdims \
                    else [str(i) for i in oidx]
                lines.append(f"{indent}{name}[{', '.join(sub)}] = {acc}")
            else:
                lines.append(f"{indent}{name} = {acc}")
        return Buffer(name, out_shape, dtype, invariant=x.invariant)

    def matmul(self, a, b, out_shape, dtype):
        """NumPy's matmul of 1-D/2-D operands.  The inner loop runs along contiguous rows of the
        right operand (scaled rows added: vectorisable); a matrix times a vector is computed as
        the vector times the transposed matrix (transposed once, before the loop when it is
        invariant).  A matrix times a one-column matrix stays dot products (measured faster on
        the Lotka-Volterra adjoint: 2.5 vs 3.1 ms)."""
        if len(a.shape) > 2 or len(b.shape) > 2:
            raise NotArrayKernel("batched matmul")
        name = f"b{self.n()}"
        lines = self.pre if a.invariant and b.invariant else self.loop
        if out_shape:
            self.pre.append(f"{name} = _np.empty({tuple(out_shape)!r}, _np.{_dname(dtype)})")
        zero = "0.0" if np.dtype(dtype).kind == "f" else "0"
        a2 = a if len(a.shape) == 2 else View(a, (1,) + a.shape, [None, 0], [0, 0], [1, 1])
        b2 = b if len(b.shape) == 2 else View(b, b.shape + (1,), [0, None], [0, 0], [1, 1])
        swap = len(b.shape) == 1 and a2.shape[0] > 1
        if swap:                                      # (a b)^T = b^T a^T
            a2, b2 = _transposed(b2), _transposed(a2)
        a2, b2 = self._plain(a2), self._plain(b2)
        m, kk, n = a2.shape[0], a2.shape[1], b2.shape[1]

        def put(i, j):
            ii, jj = (j, i) if swap else (i, j)      # row and column of the 2-D product
            if len(a.shape) == 2 and len(b.shape) == 2:
                return f"{name}[{ii}, {jj}]"
            if len(out_shape) == 1:
                return f"{name}[{jj if len(a.shape) == 1 else ii}]"
            return name
        i, j, k, acc = f"i{self.n()}", f"i{self.n()}", f"i{self.n()}", f"r{self.n()}"
        lines.append(f"for {i} in range({m}):")
        if n == 1:                  # a dot product, four partial sums (independent adds)
            lanes = 4 if kk >= 8 else 1
            accs = [f"{acc}_{q}" for q in range(lanes)]
            lines.append(f"    {' = '.join(accs)} = {zero}")
            whole = kk - kk % lanes
            for start, stop, step in ((0, whole, lanes), (whole, kk, 1)):
                if stop <= start:
                    continue
                lines.append(f"    for {k} in range({start}, {stop}, {step}):")
                blk = Block(self)
                for q in range(step):
                    av = a2.read(blk, [Ix(i), Ix(k, 1, q)], [(0, m), (0, kk)])
                    bv = b2.read(blk, [Ix(k, 1, q), Ix(None, 0, 0)], [(0, kk), (0, 1)])
                    blk.lines.append(f"{accs[q]} += {av} * {bv}")
                lines += ["        " + s for s in blk.lines]
            total = accs[0] if lanes == 1 else f"({accs[0]} + {accs[1]}) + ({accs[2]} + {accs[3]})"
            lines.append(f"    {put(i, 0)} = {total}")
        else:                                         # rows of the right operand scaled and added
            lines.append(f"    for {j} in range({n}):")
            lines.append(f"        {put(i, j)} = {zero}")
            lines.append(f"    for {k} in range({kk}):")
            blk = Block(self)
            av = a2.read(blk, [Ix(i), Ix(k)], [(0, m), (0, kk)])
            lines += ["        " + s for s in blk.lines + [f"{acc} = {av}"]]
            lines.append(f"        for {j} in range({n}):")
            blk = Block(self)
            bv = b2.read(blk, [Ix(k), Ix(j)], [(0, kk), (0, n)])
            lines += ["            " + s for s in blk.lines + [f"{put(i, j)} += {acc} * {bv}"]]
        return Buffer(name, out_shape, dtype, invariant=a.invariant and b.invariant)

    def _plain(self, v):
        """`v` itself when reading it costs nothing and it has no pieces, else a buffer."""
        if isinstance(v, Buffer) or (v.cost == 0 and not v.invariant and not any(v.cuts())
                                     and not isinstance(v, (Pieces, SliceAdd))):
            return v           # (an invariant view, a transposed matrix say, is copied once)
        return self.materialize(v)

    def reshape(self, x, shape):
        unit = [n for n in x.shape if n != 1] == [n for n in shape if n != 1]
        if unit:                      # only unit axes added or removed: a view
            src_axes = [d for d, n in enumerate(x.shape) if n != 1]
            it = iter(src_axes)
            axes = [None if n == 1 else next(it) for n in shape]
            fixed = {d: 0 for d, n in enumerate(x.shape) if n == 1}
            return View(x, shape, axes, [0] * len(shape), [1] * len(shape), fixed)
        if not (isinstance(x, Buffer) and x.shape):
            x = self.materialize(x)
        src = f"{x.name}[{x.prefix}]" if x.prefix else x.name
        name = f"b{self.n()}"
        (self.pre if x.invariant else self.loop).append(f"{name} = {src}.reshape({tuple(shape)!r})")
        return Buffer(name, shape, x.dtype, invariant=x.invariant)


def _merge(kept, kv, axes, av):
    out = [None] * (len(kept) + len(axes))
    for d, v in zip(kept, kv):
        out[d] = v
    for d, v in zip(axes, av):
        out[d] = v
    return out


def _transposed(v, axes=None):
    axes = list(reversed(range(len(v.shape)))) if axes is None else list(axes)
    return View(v, tuple(v.shape[a] for a in axes), axes, [0] * len(axes), [1] * len(axes))


# ------------------------------------------------------------ rules ---

def _getitem(k, e, vals, idx):
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


def _index_add(k, e, vals, idx):
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


def _concatenate(k, e, vals, axis):
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


def _pad(k, e, vals, widths):
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


def _elementwise(k, e, vals, **params):
    return Elementwise(k, e, vals)


_RULES = {
    S.getitem_p: _getitem,
    S.index_add_p: _index_add,
    S.concatenate_p: _concatenate,
    S.pad_p: _pad,
    S.convert_p: lambda k, e, v, dtype: Elementwise(k, e, v),
    S.broadcast_to_p: lambda k, e, v, shape: broadcast(v[0], shape),
    S.transpose_p: lambda k, e, v, axes: _transposed(v[0], axes),
    S.reshape_p: lambda k, e, v, shape: k.reshape(v[0], shape),
    E.stop_gradient_p: lambda k, e, v: v[0],
    R.reduce_sum_p: lambda k, e, v, axes, keepdims: k.reduce_sum(
        v[0], sorted(a % max(len(v[0].shape), 1) for a in axes), keepdims, e.outvars[0].shape, e.outvars[0].dtype),
    L.matmul_p: lambda k, e, v: k.matmul(v[0], v[1], e.outvars[0].shape, e.outvars[0].dtype),
}


# ------------------------------------------------------------ scan ---

def _settle(k, v, uses):
    """Materialize `v` where keeping it an index expression would cost more."""
    if isinstance(v, (Buffer, Literal)):
        return v
    if not v.shape or v.invariant and v.cost > 0 or v.cost > MAX_COST or (uses > 1 and v.cost >= 2):
        return k.materialize(v)
    return v


def scan_source(body, n_consts, n_carry, reverse):
    """Source of ``kernel(n, consts..., carries..., xs..., constants...)``: the inputs flat as
    LoopKernel passes them, the outputs the carries (flat) and the stacked ys."""
    k = Kernel()
    nx = len(body.invars) - n_consts - n_carry
    cvars, kvars, xvars = (body.invars[:n_consts], body.invars[n_consts:n_consts + n_carry],
                           body.invars[n_consts + n_carry:])
    env = {}
    for i, v in enumerate(cvars):
        _dname(v.dtype)
        k.pre.append(f"c{i} = c{i}[0]" if not v.shape else f"c{i} = c{i}.reshape({tuple(v.shape)!r})")
        env[v.id] = Buffer(f"c{i}", v.shape, v.dtype, invariant=True)
    for i, v in enumerate(kvars):
        _dname(v.dtype)
        if v.shape:
            k.pre += [f"k{i} = k{i}.reshape({tuple(v.shape)!r}).copy()", f"kn{i} = _np.empty_like(k{i})"]
        else:
            k.pre.append(f"k{i} = k{i}[0]")
        env[v.id] = Buffer(f"k{i}", v.shape, v.dtype)
    for i, v in enumerate(xvars):
        _dname(v.dtype)
        k.pre.append(f"x{i} = x{i}.reshape((n,) + {tuple(v.shape)!r})")
        env[v.id] = Buffer(f"x{i}", v.shape, v.dtype, prefix="t")
    uses = _use_counts(body)       # (an output counts twice there: once here, written out anyway)
    for v in body.outvars:
        if isinstance(v, Var):
            uses[v.id] -= 1

    def get(a):
        return k.const(a) if isinstance(a, Const) else env[a.id]
    for e in body.eqns:
        rule = _RULES.get(e.prim)
        if rule is None:
            if e.prim.multiple_results or not kernel_op(e.prim):
                raise NotArrayKernel(e.prim.name)
            rule = _elementwise
        out = e.outvars[0]
        _dname(out.dtype)
        v = rule(k, e, [get(a) for a in e.invars], **e.params)
        if v.shape != tuple(out.shape):
            raise NotArrayKernel(f"{e.prim.name}: shape {v.shape} != {out.shape}")
        env[out.id] = _settle(k, v, uses.get(out.id, 0))
    outs = [get(v) for v in body.outvars]
    ys = outs[n_carry:]
    for i, y in enumerate(ys):
        k.pre.append(f"y{i} = _np.empty((n,) + {tuple(y.shape)!r}, _np.{_dname(y.dtype)})")
        k.materialize(_loop_variant(y), into=f"y{i}", prefix="t")
    for i, (v, new) in enumerate(zip(kvars, outs[:n_carry])):
        k.materialize(_loop_variant(broadcast(new, v.shape)), into=f"kn{i}")
    swaps = [f"k{i}, kn{i} = kn{i}, k{i}" if v.shape else f"k{i} = kn{i}" for i, v in enumerate(kvars)]
    args = (["n"] + [f"c{i}" for i in range(n_consts)] + [f"k{i}" for i in range(n_carry)]
            + [f"x{i}" for i in range(nx)] + [f"a{i}" for i in range(len(k.const_args))])
    lines = [f"def kernel({', '.join(args)}):"] + ["    " + s for s in k.pre]
    lines.append(f"    for t in {'range(n - 1, -1, -1)' if reverse else 'range(n)'}:")
    lines += ["        " + s for s in k.loop + swaps]
    if not k.loop and not swaps:
        lines.append("        pass")
    rets = []
    for i, v in enumerate(kvars):
        if v.shape:
            rets.append(f"k{i}")
        else:
            lines += [f"    ko{i} = _np.empty(1, _np.{_dname(v.dtype)})", f"    ko{i}[0] = k{i}"]
            rets.append(f"ko{i}")
    rets += [f"y{i}" for i in range(len(ys))]
    lines.append(f"    return ({', '.join(rets)}{',' if len(rets) == 1 else ''})")
    return "\n".join(lines) + "\n", k.const_args


def _loop_variant(v):
    """`v` written inside the loop even when it is loop-invariant (an output is per iteration)."""
    if v.invariant:
        v = View(v, v.shape, list(range(len(v.shape))), [0] * len(v.shape), [1] * len(v.shape))
        v.invariant = False
    return v


def scan_kernel(body, n_consts, n_carry, reverse):
    """A LoopKernel for this scan (native only: it needs numba), or None when the body has an
    operation or value the array kernel does not handle."""
    try:
        src, consts = scan_source(body, n_consts, n_carry, reverse)
    except NotArrayKernel:
        return None
    return loop_kernel.scan_loop_kernel(src, body, n_consts, n_carry, extra=consts)


__all__ = ["scan_kernel", "scan_source", "NotArrayKernel"]
