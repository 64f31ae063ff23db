"""The native tier: fuse elementwise operations on large arrays into one loop.

NumPy runs one pass over memory per operation; a fused loop (compiled by
numba, an optional extra: ``pip install chainrule[native]``) computes a whole
region of elementwise operations, and full sums of them, in one pass.

- A region is a set of fusible equations over one large shape; operands may
  broadcast (each is read with the loop indices of the axes it varies along,
  from its unbroadcast source), and independent small work is scheduled
  ahead of the region so it does not cut it short (`find_regions`).
- sin, cos and exp are vectorisable (compile/vecmath.py), with a libm re-run
  outside their fast ranges; strong-zero products (0 * inf = 0) run as plain
  products, re-run exactly when one gave nan; constants that hold one value on one diagonal
  (identity bases of Jacobians) are computed from the loop indices.
- Kernels are compiled once per *structure* (their source text), whatever the
  size, and reused by every program with that structure.  Without numba, or
  for small arrays, the NumPy code path is used.
"""
from __future__ import annotations

import collections
import os

import numpy as np

from ..ir.program import Var
from ..ops import elementwise as E, reductions as R, shape as S
from ..rules import scalar_forms

MIN_SIZE = 50_000          # below this, NumPy's per-call overhead is not the bottleneck
MIN_OPS = 2

_OK_DTYPES = (np.dtype(np.float64), np.dtype(bool))
KERNEL_CACHE = 256         # kernel sources kept compiled (least recently used dropped first)
_kernels = collections.OrderedDict()


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


# elementwise primitives whose scalar code is a dedicated emitter of compile/codegen.py
_SCALAR_SPECIAL = {E.abs_p, E.neg_p, E.div_p, E.pow_p, E.select_p, E.stop_gradient_p, E.safe_mul_p}


def kernel_op(p):
    """Does `p` have scalar code numba compiles (an operator or a `math` function), so that
    fused and loop kernels can compute it?"""
    if p in _SCALAR_SPECIAL:
        return True
    form = scalar_forms.get(p)
    return form is not None and (form.op is not None or (form.libm is not None and form.pymath))


def _fusible(e, shape):
    if not kernel_op(e.prim):
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
    return (e.prim is R.reduce_sum_p and isinstance(e.invars[0], Var) and e.invars[0].shape == shape
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
        chain = [v]                      # v, the array it reshapes or broadcasts, ... (a loop:
        while True:                      # chains may be thousands of reshapes long)
            e = defs.get(chain[-1].id)
            if e is None or e.prim not in (S.broadcast_to_p, S.reshape_p) or not isinstance(e.invars[0], Var):
                break
            chain.append(e.invars[0])
        src = chain[-1]
        for w in reversed(chain[:-1]):
            e = defs[w.id]
            ok = _broadcasts_to(src.shape, region.shape) and (
                e.prim is S.broadcast_to_p or _same_nonunit(src.shape, e.outvars[0].shape))
            src = src if ok else w
        return src
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
    return 3 if e.prim is E.safe_mul_p else 1


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
    uses = _use_counts(prog)
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
            if _is_full_sum(f, shape) and not reads(f, later):
                members.append(f)               # a sum is known only after the loop:
                later.update(o.id for o in f.outvars)   # its readers run after the region
            elif _fusible(f, shape) and not reads(f, later):
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
        if len(shape) == 1:
            members += _absorb_scatters(eqns, start + len(members), members, shape, uses)
        region = Region(start, start + len(members), shape)
        region.sources = _broadcast_sources(eqns, region)
        regions.append(region)
        i = start + len(members)
    return eqns, regions


def _use_counts(prog):
    uses = {}
    for e in prog.eqns:
        for a in e.invars:
            if isinstance(a, Var):
                uses[a.id] = uses.get(a.id, 0) + 1
    for v in list(prog.outvars) + [g.var for g in prog.guards]:
        if isinstance(v, Var):
            uses[v.id] = uses.get(v.id, 0) + 2      # never an intermediate accumulator
    return uses


def _sink_offset(e, length):
    """a when `e` adds a vector of `length` into x[a:a + length] of a 1-D float64 x, else None."""
    if e.prim is not S.index_add_p or e.outvars[0].dtype != np.float64 or len(e.outvars[0].shape) != 1:
        return None
    idx = e.params["idx"]
    if len(idx) != 1 or not isinstance(idx[0], slice) or idx[0].step not in (None, 1):
        return None
    a, b, _ = idx[0].indices(e.outvars[0].shape[0])
    return a if b - a == length else None


def _absorb_scatters(eqns, stop, members, shape, uses):
    """Move the scatters that add region outputs into slices of an accumulator (the
    transposes of slicing: ``acc = index_add(acc, y, a:a+L)``) to the region's end, so the
    kernel adds each value where it lands instead of writing it out to be added later."""
    outs = {o.id for f in members for o in f.outvars}
    chain, accs, between = [], set(), set()
    for f in eqns[stop:stop + LOOKAHEAD]:
        base, y = f.invars if len(f.invars) == 2 else (None, None)
        ok = (_sink_offset(f, shape[0]) is not None and isinstance(y, Var) and y.id in outs
              and y.shape == shape and y.dtype == np.float64)
        if ok and isinstance(base, Var):
            ok = (base.id in accs and uses.get(base.id) == 1) or (
                base.id not in accs and base.id not in between and base.id not in outs
                and base.dtype == np.float64)
        elif ok:
            v = base.value
            ok = (isinstance(v, np.ndarray) and v.size and not any(v.strides) and v.flat[0] == 0
                  and v.shape == f.outvars[0].shape)
        if ok:
            chain.append(f)
            accs.add(f.outvars[0].id)
        else:
            between.update(o.id for o in f.outvars)
    for f in chain:
        eqns.remove(f)
    eqns[stop:stop] = chain
    return chain


BLOCK = 1024             # elements per tile of a kernel that scatters into accumulators


def emit_region(region, prog, later_uses, ctx, ref, scalar_emit):
    """Lines of Python calling a fused kernel for `region` (and compiling it once).

    The kernel loops over the region's shape (one loop per axis); an operand
    that broadcasts is passed with its size-1 axes dropped and indexed by the
    loop variables of the axes it varies along.
    """
    shape = region.shape
    nd = len(shape)
    loops = [f"i{k}" for k in range(nd)]
    eqns = [e for e in prog.eqns[region.start:region.stop] if e.prim is not S.index_add_p]
    scatters = [e for e in prog.eqns[region.start:region.stop] if e.prim is S.index_add_p]
    defined = {o.id for e in prog.eqns[region.start:region.stop] for o in e.outvars}
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

    for k, (name, a, kept, _src) in enumerate(operands):
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
    plain = {}        # body line -> its fast form (a strong-zero product as a plain one, vector math)
    for e in eqns:
        o = e.outvars[0]
        if _is_full_sum(e, shape):
            sums.append((o, kref(e.invars[0])))
            continue
        args = [kref(a) for a in e.invars]
        if e.prim is E.safe_mul_p:     # differs only where the product is nan
            plain[len(body)] = [f"{o.name} = ({args[0]} * {args[1]})",
                                f"bad += not ({o.name} == {o.name})"]
        fast = _VECTOR_MATH.get(e.prim)
        if fast is not None:           # vectorisable sin/cos/exp, valid in its FAST_RANGE
            fn, limit = fast
            plain[len(body)] = [f"bad += not (abs({args[0]}) <= {limit!r})",
                                f"{o.name} = {fn}({args[0]})"]
        body.append(f"{o.name} = {scalar_emit(e, args)}")
        if o.id in later_uses:
            outs.append(o)
    for k, o in enumerate(outs):
        kernel_args.append(f"o{k}")
        body.append(f"o{k}[{', '.join(loops)}] = {o.name}")
    body += [f"s{k} += {src}" for k, (_, src) in enumerate(sums)]
    chains = _chains(scatters)
    extra_call = []
    if chains:
        tiled, extra_args, extra_call = _tile(chains, shape[0], ref)
        kernel_args += extra_args
    kernel_args += [f"n{k}" for k in range(nd)]     # sizes are arguments: one kernel per structure
    pad = "    " * (nd + 1)
    head = [f"def kernel({', '.join(kernel_args)}):"]
    head += [f"    s{k} = 0.0" for k in range(len(sums))] + ["    bad = 0"] + hoisted
    head += ["    " * (k + 1) + f"for {loops[k]} in range(n{k}):" for k in range(nd)]
    tail = ["    return (" + "".join(f"s{k}, " for k in range(len(sums))) + "bad)"]
    fast_body = []
    for i, line in enumerate(body):
        fast_body += plain.get(i, [line])
    if chains:
        exact_src = "\n".join(head[:-1] + tiled(body) + tail) + "\n"
        src = "\n".join(head[:-1] + tiled(fast_body) + tail) + "\n"
    else:
        exact_src = "\n".join(head + [pad + b for b in body] + tail) + "\n"
        src = "\n".join(head + [pad + b for b in fast_body] + tail) + "\n"
    kern = ctx.const(_compile(src, reassociate=bool(sums)))
    exact = ctx.const(_compile(exact_src, reassociate=bool(sums))) if src != exact_src else kern
    lines = []
    for o in outs:
        lines.append(f"{o.name} = _np.empty({shape!r}, {ctx.const(o.dtype)})")
        call.append(o.name)
    call += extra_call + [str(int(n)) for n in shape]
    for acc, _, _ in chains:
        lines.append(f"{acc.name} = _np.empty({acc.shape!r}, {ctx.const(acc.dtype)})")
    res = "".join(f"{o.name}, " for o, _ in sums) + "_bad"
    lines.append(f"{res} = {kern}({', '.join(call)})")
    if exact != kern:     # an argument out of the fast range (or nan): redo with libm's sin/cos
        lines.append(f"if _bad: {res} = {exact}({', '.join(call)})")
    return lines, src


def _chains(scatters):
    """[(final accumulator, base operand, [(value, offset), ...])] of a region's scatters."""
    chains, by_acc = [], {}
    for e in scatters:
        base, y = e.invars
        a = _sink_offset(e, y.shape[0])
        prev = by_acc.pop(base.id, None) if isinstance(base, Var) else None
        if prev is None:
            prev = [None, base, []]
            chains.append(prev)
        prev[0] = e.outvars[0]
        prev[2].append((y, a))
        by_acc[e.outvars[0].id] = prev
    return [tuple(c) for c in chains]


def _tile(chains, length, ref):
    """(loop nest for a loop body, extra kernel arguments, what the caller passes for them).

    Scatters ``acc[a:a + L] += y`` become gathers: the nest computes the body a tile of
    i at a time, keeping each scattered value y in a small buffer (plus, carried over
    from the previous tile, the last H = max(a) - min(a) values), then writes every
    accumulator element of the tile once, as its base plus the values landing on it.
    Each value is computed once; memory sees the inputs and the accumulators, once.
    The source names the length L as `n0` (a kernel argument), so it fits every size."""
    init, carries, writes, fill, stores, zero = [], [], [], [], [], []
    bases, accs = [], []
    hmax = max(max(a for _, a in sinks) - min(a for _, a in sinks) for _, _, sinks in chains)
    for c, (acc, base, sinks) in enumerate(chains):
        accs.append((f"acc{c}", acc.name))
        if isinstance(base, Var):
            bases.append((f"b{c}", ref(base)))
        amin, amax = min(a for _, a in sinks), max(a for _, a in sinks)
        h = amax - amin
        terms = [f"b{c}[lo + {amin} + t]"] if isinstance(base, Var) else []
        for m, (y, a) in enumerate(sinks):
            t = f"t{c}_{m}"
            init.append(f"    {t} = _np.zeros({BLOCK + h})")
            if h:
                carries += [f"            for k in range({h}):", f"                {t}[k] = {t}[{BLOCK} + k]"]
            stores.append(f"{t}[{h} + t] = {y.name}")
            zero.append(f"{t}[{h} + t] = 0.0")
            terms.append(f"{t}[t + {h + amin - a}]")
        writes += [f"        for t in range(min(hi, n0 + {h}) - lo):",
                   f"            acc{c}[lo + {amin} + t] = {' + '.join(terms)}"]
        empty = f"b{c}[j]" if isinstance(base, Var) else "0.0"
        if amin > 0:                                 # where no value lands
            fill += [f"    for j in range({amin}):", f"        acc{c}[j] = {empty}"]
        if acc.shape[0] - length > amax:
            fill += [f"    for j in range(n0 + {amax}, n0 + {acc.shape[0] - length}):",
                     f"        acc{c}[j] = {empty}"]
    if carries:
        carries.insert(0, "        if lo > 0:")

    def nest(lines):
        return (init + [f"    for blk in range((n0 + {hmax + BLOCK - 1}) // {BLOCK}):",   # (a loop of
                        f"        lo = blk * {BLOCK}",                  # step 1, which LLVM optimises)
                        f"        hi = min(lo + {BLOCK}, n0 + {hmax})"]
                + carries
                + ["        for t in range(min(hi, n0) - lo):", "            i0 = lo + t"]
                + ["            " + b for b in lines + stores]
                + ["        for t in range(max(0, min(hi, n0) - lo), hi - lo):"]
                + ["            " + z for z in zero]
                + writes + fill)
    args = bases + accs
    return nest, [a for a, _ in args], [v for _, v in args]


def _number(v):
    """Source text for a scalar constant: converted to a plain bool/int/float here first,
    so no user-defined __repr__ (an int subclass, an IntEnum) ever reaches the source."""
    if isinstance(v, (bool, np.bool_)):
        return repr(bool(v))
    if isinstance(v, (int, np.integer)):
        return repr(int(v))
    v = float(v)
    if v != v:
        return "_m.nan"
    if v in (float("inf"), float("-inf")):
        return "_m.inf" if v > 0 else "(-_m.inf)"
    return repr(v)


def _compile(src, reassociate=False):
    """The numba function of kernel source `src` (compiled on first call; the last
    `KERNEL_CACHE` sources are kept, so a program of a known structure compiles nothing).

    With `reassociate`, sums may be reordered (so they vectorise, summing in
    several lanes: no less accurate than a sequential sum).
    """
    key = (src, reassociate)
    fn = _kernels.get(key)
    if fn is not None:
        _kernels.move_to_end(key)
    else:
        import math
        import numba
        ns = {"_m": math, "_np": np, **_vecmath()}
        exec(compile(src, "<chainrule.native kernel>", "exec"), ns)
        flags = {"reassoc"} if reassociate else False
        fn = _kernels[key] = numba.njit(error_model="numpy", fastmath=flags, cache=False)(ns["kernel"])
        if len(_kernels) > KERNEL_CACHE:
            _kernels.popitem(last=False)
    return fn


# ------------------------------------------------------ vectorisable math ---
# sin, cos and exp for kernels live in compile/vecmath.py (imported with numba, lazily);
# kernels use them inside these ranges and re-run with libm's beyond them (or on nan).

FAST_RANGE = {"sin": 1e8, "cos": 1e8, "exp": 708.0}
_VECTOR_MATH = {E.sin_p: ("_vsin", FAST_RANGE["sin"]), E.cos_p: ("_vcos", FAST_RANGE["cos"]),
                E.exp_p: ("_vexp", FAST_RANGE["exp"])}


def _vecmath():
    from .vecmath import vsin, vcos, vexp
    return {"_vsin": vsin, "_vcos": vcos, "_vexp": vexp}
