"""Array loop kernels: a scan over arrays compiled whole by numba, fused by index.

A loop body whose values hold too many numbers for the scalar kernel
(loop_kernel.py) would run one NumPy call per operation per iteration.  Here
the whole loop becomes one numba function whose body values are index
expressions (compile/index_expr.py), so a stencil, its transpose or an LSTM
gate is one loop with no temporary.  A value is *materialized* into a buffer
(allocated once, before the loop) only where it must be: a loop output, an
operand of a sum, a matmul or a reshape, or a costly value used more than
once.  Loop-invariant values are computed once, before the loop.  A loop over a
piecewise value is split at the pieces' boundaries, so every loop body is
branch-free and vectorisable.
"""
from __future__ import annotations

import itertools

import numpy as np

from ..ir.program import Var, Const
from . import codegen, loop_kernel
from .native import kernel_op, _use_counts
from .index_expr import (NotArrayKernel, Ix, Block, Buffer, Literal, View, Elementwise, Pieces,
                         SliceAdd, broadcast, transposed, dname, getitem, index_add, concatenate, pad)
from ..ops import elementwise as E, linalg as L, reductions as R, shape as S

_LOGIC = {E.and_p: "({} & {})", E.or_p: "({} | {})", E.xor_p: "({} != {})", E.logical_not_p: "(not {})"}
MAX_PIECES = 64            # loops one materialization may split into
MAX_COST = 48              # operations inlined into one element before it is materialized
MAX_LINES = 4000


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
        if e.prim in _LOGIC:
            return _LOGIC[e.prim].format(*[f"bool({a})" for a in args])
        if e.prim is S.convert_p:
            a = e.invars[0]
            src = a.dtype if isinstance(a, Var) else np.asarray(a.value).dtype
            return loop_kernel.convert_code(args[0], src, e.params["dtype"])
        self.ctx.invars = e.invars
        return codegen.emitter(e.prim)(list(args), self.ctx, **e.params)

    def const(self, c):
        v = np.asarray(c.value)
        dname(v.dtype)
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
                self.pre.append(f"{into} = _np.empty({v.shape!r}, _np.{dname(v.dtype)})")
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
            self.pre.append(f"{name} = _np.empty({tuple(out_shape)!r}, _np.{dname(dtype)})")
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
        invariant).  A matrix times a one-column matrix stays dot products, four partial sums
        each (on the Lotka-Volterra adjoint the transposed form was no faster)."""
        if len(a.shape) > 2 or len(b.shape) > 2:
            raise NotArrayKernel("batched matmul")
        name = f"b{self.n()}"
        lines = self.pre if a.invariant and b.invariant else self.loop
        if out_shape:
            self.pre.append(f"{name} = _np.empty({tuple(out_shape)!r}, _np.{dname(dtype)})")
        zero = "0.0" if np.dtype(dtype).kind == "f" else "0"
        a2 = a if len(a.shape) == 2 else View(a, (1,) + a.shape, [None, 0], [0, 0], [1, 1])
        b2 = b if len(b.shape) == 2 else View(b, b.shape + (1,), [0, None], [0, 0], [1, 1])
        swap = len(b.shape) == 1 and a2.shape[0] > 1
        if swap:                                      # (a b)^T = b^T a^T
            a2, b2 = transposed(b2), transposed(a2)
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


# ------------------------------------------------------------ rules ---

def _elementwise(k, e, vals, **params):
    return Elementwise(k, e, vals)


_RULES = {
    S.getitem_p: getitem,
    S.index_add_p: index_add,
    S.concatenate_p: concatenate,
    S.pad_p: pad,
    S.convert_p: lambda k, e, v, dtype: Elementwise(k, e, v),
    S.broadcast_to_p: lambda k, e, v, shape: broadcast(v[0], shape),
    S.transpose_p: lambda k, e, v, axes: transposed(v[0], axes),
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


def _inputs(k, env, vars_, prefix, kind):
    """Names for the kernel's inputs: constants ("c"), carries ("k": double-buffered) or
    stacked per-iteration inputs ("x")."""
    for i, v in enumerate(vars_):
        dname(v.dtype)
        name, shape = f"{prefix}{i}", tuple(v.shape)
        if kind == "x":
            k.pre.append(f"{name} = {name}.reshape((n,) + {shape!r})")
        elif not shape:
            k.pre.append(f"{name} = {name}[0]")
        elif kind == "k":
            k.pre += [f"{name} = {name}.reshape({shape!r}).copy()", f"{prefix}n{i} = _np.empty_like({name})"]
        else:
            k.pre.append(f"{name} = {name}.reshape({shape!r})")
        env[v.id] = Buffer(name, shape, v.dtype, prefix="t" if kind == "x" else "", invariant=kind == "c")


def _walk(k, prog, env):
    """The values of `prog`'s outputs, its equations written into the kernel."""
    uses = _use_counts(prog)       # (an output counts twice there: once here, written out anyway)
    for v in prog.outvars:
        if isinstance(v, Var):
            uses[v.id] -= 1

    def get(a):
        return k.const(a) if isinstance(a, Const) else env[a.id]
    for e in prog.eqns:
        rule = _RULES.get(e.prim)
        if rule is None:
            if e.prim.multiple_results or not (kernel_op(e.prim) or e.prim in _LOGIC):
                raise NotArrayKernel(e.prim.name)
            rule = _elementwise
        out = e.outvars[0]
        dname(out.dtype)
        v = rule(k, e, [get(a) for a in e.invars], **e.params)
        if v.shape != tuple(out.shape):
            raise NotArrayKernel(f"{e.prim.name}: shape {v.shape} != {out.shape}")
        env[out.id] = _settle(k, v, uses.get(out.id, 0))
    return [get(v) for v in prog.outvars]


def _update_carries(k, kvars, new):
    """The new carries written into the second buffers; the statements that swap them in."""
    for i, (v, val) in enumerate(zip(kvars, new)):
        k.materialize(_loop_variant(broadcast(val, v.shape)), into=f"kn{i}")
    return [f"k{i}, kn{i} = kn{i}, k{i}" if v.shape else f"k{i} = kn{i}" for i, v in enumerate(kvars)]


def _returns(lines, kvars, extra=()):
    rets = []
    for i, v in enumerate(kvars):
        if v.shape:
            rets.append(f"k{i}")
        else:
            lines += [f"    ko{i} = _np.empty(1, _np.{dname(v.dtype)})", f"    ko{i}[0] = k{i}"]
            rets.append(f"ko{i}")
    rets += list(extra)
    lines.append(f"    return ({', '.join(rets)}{',' if len(rets) == 1 else ''})")
    return "\n".join(lines) + "\n"


def scan_source(body, n_consts, n_carry, reverse):
    """Source of ``kernel(n, consts..., carries..., xs..., constants...)``: the inputs flat as
    LoopKernel passes them, the outputs the carries (flat) and the stacked ys."""
    k, env = Kernel(), {}
    nx = len(body.invars) - n_consts - n_carry
    kvars = body.invars[n_consts:n_consts + n_carry]
    _inputs(k, env, body.invars[:n_consts], "c", "c")
    _inputs(k, env, kvars, "k", "k")
    _inputs(k, env, body.invars[n_consts + n_carry:], "x", "x")
    outs = _walk(k, body, env)
    ys = outs[n_carry:]
    for i, y in enumerate(ys):
        k.pre.append(f"y{i} = _np.empty((n,) + {tuple(y.shape)!r}, _np.{dname(y.dtype)})")
        k.materialize(_loop_variant(y), into=f"y{i}", prefix="t")
    swaps = _update_carries(k, kvars, outs[:n_carry])
    args = (["n"] + [f"c{i}" for i in range(n_consts)] + [f"k{i}" for i in range(n_carry)]
            + [f"x{i}" for i in range(nx)] + [f"a{i}" for i in range(len(k.const_args))])
    lines = [f"def kernel({', '.join(args)}):"] + ["    " + s for s in k.pre]
    lines.append(f"    for t in {'range(n - 1, -1, -1)' if reverse else 'range(n)'}:")
    lines += ["        " + s for s in k.loop + swaps] or ["        pass"]
    return _returns(lines, kvars, [f"y{i}" for i in range(len(ys))]), k.const_args


def while_source(cond, body, n_cond_consts, n_body_consts):
    """Source of ``kernel(cond_consts..., body_consts..., carries..., constants...)``."""
    k, env, cenv = Kernel(), {}, {}          # (the two programs' variable ids are their own)
    kvars = body.invars[n_body_consts:]
    _inputs(k, cenv, cond.invars[:n_cond_consts], "a_", "c")
    _inputs(k, env, body.invars[:n_body_consts], "c", "c")
    _inputs(k, env, kvars, "k", "k")
    for cv, bv in zip(cond.invars[n_cond_consts:], kvars):
        cenv[cv.id] = env[bv.id]
    (pred,) = _walk(k, cond, cenv)
    pred = k.materialize(_loop_variant(pred)) if not isinstance(pred, Buffer) else pred
    test, k.loop = k.loop, []
    swaps = _update_carries(k, kvars, _walk(k, body, env))
    args = ([f"a_{i}" for i in range(n_cond_consts)] + [f"c{i}" for i in range(n_body_consts)]
            + [f"k{i}" for i in range(len(kvars))] + [f"a{i}" for i in range(len(k.const_args))])
    lines = [f"def kernel({', '.join(args)}):"] + ["    " + s for s in k.pre]
    lines.append("    while True:")
    lines += ["        " + s for s in test]
    lines += [f"        if not {pred.read(Block(k), (), ())}:", "            break"]
    lines += ["        " + s for s in k.loop + swaps]
    return _returns(lines, kvars), k.const_args


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


def while_kernel(cond, body, n_cond_consts, n_body_consts):
    """A LoopKernel for this while loop (native only), or None (see scan_kernel)."""
    try:
        src, consts = while_source(cond, body, n_cond_consts, n_body_consts)
    except NotArrayKernel:
        return None
    return loop_kernel.while_loop_kernel(src, cond, body, n_cond_consts, n_body_consts, extra=consts)


__all__ = ["scan_kernel", "while_kernel", "scan_source", "while_source", "NotArrayKernel"]
