"""The native tier: fuse elementwise operations on large arrays into one loop.

NumPy runs one pass over memory per operation; a fused loop (compiled by
numba, an optional extra: ``pip install chainrule[native]``) computes a whole
region of elementwise operations, and full sums of them, in one pass.

- A region is a set of fusible equations over one large shape; operands may
  broadcast (each is read with the loop indices of the axes it varies along,
  from its unbroadcast source), and independent small work is scheduled
  ahead of the region so it does not cut it short (`find_regions`).
- sin, cos and exp are vectorisable (compile/vecmath.py), with a libm re-run
  outside their fast ranges; constants that hold one value on one diagonal
  (identity bases of Jacobians) are computed from the loop indices.
- Kernels are compiled once per *structure* (their source text), whatever the
  size, and reused by every program with that structure.  Without numba, or
  for small arrays, the NumPy code path is used.
"""
from __future__ import annotations

import os
import re

import numpy as np

from ..ir.program import Var

MIN_SIZE = 50_000          # below this, NumPy's per-call overhead is not the bottleneck
MIN_OPS = 2

_KERNEL_OPS = {
    "add", "subtract", "multiply", "divide", "power", "neg", "sin", "cos", "tan", "arcsin",
    "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "exp",
    "expm1", "log", "log2", "log10", "log1p", "sqrt", "abs", "select", "less", "less_equal",
    "greater", "greater_equal", "equal", "not_equal", "stop_gradient", "safe_multiply",
}
_OK_DTYPES = (np.dtype(np.float64), np.dtype(bool))
_kernels = {}


_found = None


def available():
    """True when numba is installed and CHAINRULE_NATIVE is not 0 (numba is not imported here:
    importing it takes a tenth of a second, paid only when a kernel is compiled)."""
    global _found
    if os.environ.get("CHAINRULE_NATIVE", "1") == "0":
        return False
    if _found is None:
        import importlib.util
        _found = importlib.util.find_spec("numba") is not None
    return _found


def _scalar_const(v):
    if isinstance(v, (int, float, bool)) or (isinstance(v, np.ndarray) and v.ndim == 0):
        return True
    return isinstance(v, np.generic)


def _uniform(v):
    """A broadcast view of one value (all strides 0): its single element, else None."""
    if isinstance(v, np.ndarray) and v.size and all(s == 0 for s in v.strides):
        return v.flat[0]
    return None


def _broadcasts_to(s, shape):
    return len(s) <= len(shape) and all(n in (1, m) for n, m in zip(s[::-1], shape[::-1]))


def _fusible(e, shape):
    if e.prim.name not in _KERNEL_OPS or e.prim.multiple_results:
        return False
    out = e.outvars[0]
    if out.shape != shape or out.dtype not in _OK_DTYPES:
        return False
    for a in e.invars:
        if isinstance(a, Var):
            if not _broadcasts_to(a.shape, shape) or a.dtype not in _OK_DTYPES:
                return False
        else:
            v = a.value
            if not (_scalar_const(v) or (isinstance(v, np.ndarray) and _broadcasts_to(v.shape, shape)
                                         and v.dtype in _OK_DTYPES)):
                return False
    return True


def _diagonal(v):
    """(k, c) when the matrix v holds c on its whole k-th diagonal and 0 elsewhere (the
    identity-derived constants of batched Jacobians and Hessians), else None."""
    if v.size > 4_000_000 or v.dtype.kind not in "fb":
        return None
    rows, cols = np.nonzero(v)
    if rows.size == 0:
        return None
    d = cols - rows
    k = int(d[0])
    if not np.all(d == k):
        return None
    vals = v[rows, cols]
    n, m = v.shape
    if not np.all(vals == vals[0]) or rows.size != len(range(max(0, -k), min(n, m - k))):
        return None
    return k, float(vals[0])


def _same_nonunit(a, b):
    return tuple(n for n in a if n != 1) == tuple(n for n in b if n != 1)


def _kept_axes(s, shape):
    """The region axes along which an operand of shape `s` (broadcast to `shape`) varies."""
    lead = len(shape) - len(s)
    return [lead + i for i, n in enumerate(s) if n != 1]


def _is_full_sum(e, shape):
    return (e.prim.name == "reduce_sum" and isinstance(e.invars[0], Var) and e.invars[0].shape == shape
            and e.params["axes"] == tuple(range(len(shape))) and not e.params["keepdims"]
            and e.invars[0].dtype == np.float64)


class Region:
    """Equations [start, stop) of a program fused into one kernel over `shape`.

    `sources` maps an operand that is a broadcast (or a reshape adding unit axes) of a
    smaller array to that array: the kernel reads the small one, never a materialised copy.
    """

    def __init__(self, start, stop, shape, sources=None):
        self.start, self.stop, self.shape = start, stop, shape
        self.sources = sources or {}


def _broadcast_sources(eqns, region):
    defs = {}
    for e in eqns[:region.start]:
        for o in e.outvars:
            defs[o.id] = e
    sources = {}

    def source(v):
        e = defs.get(v.id)
        if e is None or e.prim.name not in ("broadcast_to", "reshape") or not isinstance(e.invars[0], Var):
            return v
        src = source(e.invars[0])
        ok = _broadcasts_to(src.shape, region.shape) and (
            e.prim.name == "broadcast_to" or _same_nonunit(src.shape, e.outvars[0].shape))
        return src if ok else v
    for e in eqns[region.start:region.stop]:
        for a in e.invars:
            if isinstance(a, Var) and a.id in defs:
                src = source(a)
                if src is not a:
                    sources[a.id] = src
    return sources


def _weight(e, shape):
    """Passes over memory an equation costs in NumPy (a strong-zero product: several)."""
    if _is_full_sum(e, shape):
        return 0
    return 3 if e.prim.name == "safe_multiply" else 1


LOOKAHEAD = 200           # equations scanned past a non-fusible one while growing a region


def find_regions(prog):
    """Schedule fused regions: (equations in a new order, regions over that order).

    A region grows over fusible equations of one large shape (full sums may
    join it); an equation that does not read the region's values is moved
    ahead of it, so small operations interleaved with the large ones do not
    cut the region short.  Dependencies are kept: a moved equation reads only
    values defined before the region.
    """
    eqns = list(prog.eqns)
    if not available():
        return eqns, []
    regions, i = [], 0
    while i < len(eqns):
        e = eqns[i]
        shape = e.outvars[0].shape if e.outvars else None
        if shape is None or int(np.prod(shape, dtype=np.int64)) < MIN_SIZE or not _fusible(e, shape):
            i += 1
            continue
        members, moved, after = [e], [], []
        inside, later = {o.id for o in e.outvars}, set()

        def reads(f, ids):
            return any(isinstance(a, Var) and a.id in ids for a in f.invars)
        j, skipped = i + 1, 0
        while j < len(eqns) and skipped <= LOOKAHEAD:
            f = eqns[j]
            if (_fusible(f, shape) or _is_full_sum(f, shape)) and not reads(f, later):
                members.append(f)
                inside.update(o.id for o in f.outvars)
            elif reads(f, inside) or reads(f, later):
                after.append(f)                 # needs the region's values: runs after it
                later.update(o.id for o in f.outvars)
                skipped += 1
            else:
                moved.append(f)                 # independent: runs before it
                skipped += 1
            j += 1
        # equations past the last member keep their place after the region
        last = max(k for k in range(i, j) if eqns[k] is members[-1])
        moved = [f for f in moved if eqns.index(f, i, j) < last]
        tail = [f for f in eqns[i:j] if f not in members and f not in moved]
        if sum(_weight(f, shape) for f in members) < MIN_OPS:
            i += 1
            continue
        eqns[i:j] = moved + members + tail
        start = i + len(moved)
        region = Region(start, start + len(members), shape)
        region.sources = _broadcast_sources(eqns, region)
        regions.append(region)
        i = start + len(members)
    return eqns, regions


def emit_region(region, prog, later_uses, ctx, ref, scalar_emit):
    """Lines of Python calling a fused kernel for `region` (and compiling it once).

    The kernel loops over the region's shape (one loop per axis); an operand
    that broadcasts is passed with its size-1 axes dropped and indexed by the
    loop variables of the axes it varies along.
    """
    shape = region.shape
    nd = len(shape)
    loops = [f"i{k}" for k in range(nd)]
    eqns = prog.eqns[region.start:region.stop]
    defined = {o.id for e in eqns for o in e.outvars}
    sources = region.sources
    operands, seen = [], set()            # (name in the caller, value-or-Var, kept axes)
    for e in eqns:
        for a in e.invars:
            if isinstance(a, Var) and a.id not in defined and a.id not in seen:
                seen.add(a.id)
                src = sources.get(a.id, a)
                operands.append((src.name, a, _kept_axes(src.shape, shape) if src is not a
                                 else _kept_axes(a.shape, shape), src))
    body, kernel_args, call, hoisted = [], [], [], []

    def bind_operand(arg, local, kept, source):
        """Pass `source` as kernel argument `arg`; read it into `local` (per element or once)."""
        kernel_args.append(arg)
        call.append(source)
        if kept:
            body.append(f"{local} = {arg}[{', '.join(loops[k] for k in kept)}]")
        else:
            hoisted.append(f"    {local} = {arg}[()]")

    for k, (name, a, kept, src) in enumerate(operands):
        src_shape = tuple(shape[i] for i in kept)
        bind_operand(f"a{k}", a.name, kept, f"_np.ascontiguousarray({name}).reshape({src_shape!r})")
    consts = {}

    def kref(a):
        if isinstance(a, Var):
            return a.name
        v = a.value
        u = _uniform(v)
        if u is not None or (isinstance(v, np.ndarray) and v.ndim == 0):
            return _number(u if u is not None else v[()])
        if isinstance(v, np.ndarray):
            kept = _kept_axes(v.shape, shape)
            diag = _diagonal(v) if len(kept) == 2 and v.ndim == 2 else None
            if diag is not None:             # c on one diagonal, 0 elsewhere: no memory to read
                k, c = diag
                return f"({_number(c)} if {loops[kept[1]]} - {loops[kept[0]]} == {k} else 0.0)"
            if id(v) not in consts:
                consts[id(v)] = f"k{len(consts)}"
                arr = np.ascontiguousarray(v).reshape(tuple(shape[i] for i in kept))
                bind_operand(f"c{len(consts) - 1}", consts[id(v)], kept, ctx.const(arr))
            return consts[id(v)]
        return _number(v)
    outs, sums = [], []
    for e in eqns:
        o = e.outvars[0]
        if _is_full_sum(e, shape):
            sums.append((o, kref(e.invars[0])))
            continue
        body.append(f"{o.name} = {scalar_emit(e, [kref(a) for a in e.invars])}")
        if o.id in later_uses:
            outs.append(o)
    for k, o in enumerate(outs):
        kernel_args.append(f"o{k}")
        body.append(f"o{k}[{', '.join(loops)}] = {o.name}")
    body += [f"s{k} += {src}" for k, (_, src) in enumerate(sums)]
    pad = "    " * (nd + 1)
    head = [f"def kernel({', '.join(kernel_args)}):"]
    head += [f"    s{k} = 0.0" for k in range(len(sums))] + ["    bad = 0"] + hoisted
    head += ["    " * (k + 1) + f"for {loops[k]} in range({shape[k]}):" for k in range(nd)]
    tail = ["    return (" + "".join(f"s{k}, " for k in range(len(sums))) + "bad)"]
    exact_src = "\n".join(head + [pad + b for b in body] + tail) + "\n"
    fast_body = []
    for line in body:                 # vectorisable sin/cos/exp, each valid in its FAST_RANGE
        for fn, arg in _FAST_CALL.findall(line):
            fast_body.append(f"bad += not (abs({arg}) <= {FAST_RANGE[fn]!r})")
        fast_body.append(_FAST_CALL.sub(lambda m: f"_v{m.group(1)}({m.group(2)})", line))
    src = "\n".join(head + [pad + b for b in fast_body] + tail) + "\n"
    kern = ctx.const(_compile(src, reassociate=bool(sums)))
    exact = ctx.const(_compile(exact_src, reassociate=bool(sums))) if src != exact_src else kern
    lines = []
    for k, o in enumerate(outs):
        lines.append(f"{o.name} = _np.empty({shape!r}, {ctx.const(o.dtype)})")
        call.append(o.name)
    res = "".join(f"{o.name}, " for o, _ in sums) + "_bad"
    lines.append(f"{res} = {kern}({', '.join(call)})")
    if exact != kern:     # an argument out of the fast range (or nan): redo with libm's sin/cos
        lines.append(f"if _bad: {res} = {exact}({', '.join(call)})")
    return lines, src


def _number(v):
    v = v.item() if isinstance(v, np.generic) else v
    if isinstance(v, bool) or isinstance(v, int):
        return repr(v)
    v = float(v)
    if v != v:
        return "_m.nan"
    if v in (float("inf"), float("-inf")):
        return "_m.inf" if v > 0 else "(-_m.inf)"
    return repr(v)


def _compile(src, reassociate=False):
    """The numba function of kernel source `src` (cached by source; compiled on first call).

    With `reassociate`, sums may be reordered (so they vectorise, summing in
    several lanes: no less accurate than a sequential sum).
    """
    key = (src, reassociate)
    fn = _kernels.get(key)
    if fn is None:
        import math
        import numba
        ns = {"_m": math, "_np": np, **_vecmath()}
        exec(compile(src, "<chainrule.native kernel>", "exec"), ns)
        flags = {"reassoc"} if reassociate else False
        fn = _kernels[key] = numba.njit(error_model="numpy", fastmath=flags, cache=False)(ns["kernel"])
    return fn


# ------------------------------------------------------ vectorisable math ---
# sin, cos and exp for kernels live in compile/vecmath.py (imported with numba, lazily);
# kernels use them inside these ranges and re-run with libm's beyond them (or on nan).

FAST_RANGE = {"sin": 1e8, "cos": 1e8, "exp": 708.0}
_FAST_CALL = re.compile(r"_m\.(sin|cos|exp)\((\w+)\)")


def _vecmath():
    from .vecmath import vsin, vcos, vexp
    return {"_vsin": vsin, "_vcos": vcos, "_vexp": vexp}
