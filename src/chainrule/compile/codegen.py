"""Python source generation from a Program.

An emitter ``emit(args, ctx, **params)`` returns a Python expression over the
argument expressions `args`.  `ctx.scalar` says that every input is a Python
scalar, so the `math` module and plain operators may be used; `ctx.const(obj)`
names a constant for the namespace.  Elementwise primitives get theirs from
their `rules.Scalar` form; a few have dedicated ones (`_SPECIAL`); any other
primitive calls its implementation.
"""
from __future__ import annotations

import keyword
import math

import numpy as np

from ..ir.program import Program, Var, Const, same_value
from ..ops import elementwise as E, linalg as L, reductions as R, shape as S, decompositions as D
from ..ops.reductions import sum_plan, ones_vector
from ..rules import emit_rules, scalar_forms
from . import native as _native


class GuardMiss(Exception):
    """A guard of a compiled program did not hold: re-specialise."""


class _Ctx:
    def __init__(self):
        self.ns = {"_np": np, "_m": math, "_Miss": GuardMiss, "_same": same_value,
                   "_copy": _copy, "_own": _own}
        self.scalar = False
        self.invars = ()
        self._ids = {}

    def const(self, obj):
        key = id(obj)
        if key not in self._ids:
            name = f"_k{len(self._ids)}"
            self._ids[key] = name
            self.ns[name] = obj
        return self._ids[key]


def _literal(v, ctx):
    t = type(v)
    if t is bool or v is None:
        return repr(v)
    if t is float:
        return repr(v) if math.isfinite(v) else ctx.const(v)
    if t is int:
        return repr(v)
    return ctx.const(v)          # NumPy scalars and arrays keep their exact type


# ------------------------------------------------------------ emitters ---

def _ints(t):
    """Source text of a shape or axes tuple, converted to plain ints here (never a user repr)."""
    return "None" if t is None else repr(tuple(int(n) for n in t))


def _impl_call(p):
    def emit(args, ctx, **params):
        fn = ctx.const(p.impl)
        if all(type(k) is str and k.isidentifier() and not keyword.iskeyword(k) for k in params):
            kw = "".join(f", {k}={ctx.const(v)}" for k, v in params.items())
        else:                                # a name that is not plain text: pass the dict
            kw = f", **{ctx.const(params)}"
        return f"{fn}({', '.join(args)}{kw})"
    return emit


def _emit_getitem(args, ctx, idx):
    """x[idx] written out for an array variable (a plain subscript, no function call)."""
    x = ctx.invars[0] if ctx.invars else None
    if isinstance(x, Var) and x.shape != () and not x.pyscalar:
        return f"{args[0]}[{ctx.const(idx)}]"
    return _impl_call(S.getitem_p)(args, ctx, idx=idx)


def _emit_sum(args, ctx, axes, keepdims):
    x = ctx.invars[0]
    plan = sum_plan(x.shape, x.dtype, axes) if isinstance(x, Var) else None
    if plan is None:
        return f"_np.sum({args[0]}, axis={_ints(axes)}, keepdims={bool(keepdims)!r})"
    pre, k, post = plan
    shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape)) if keepdims else \
        tuple(n for i, n in enumerate(x.shape) if i not in axes)
    src = f"_np.ascontiguousarray({args[0]})"
    ones = ctx.const(ones_vector(k))
    pre, k, post, shape = int(pre), int(k), int(post), _ints(shape)
    if post == 1:
        return f"({src}.reshape({pre}, {k}) @ {ones}).reshape({shape})"
    return f"_np.matmul({ones}, {src}.reshape({pre}, {k}, {post})).reshape({shape})"


def _python_number(a):
    return a.pyscalar if isinstance(a, Var) else type(a.value) in (float, int, bool)


def _emit_divide(args, ctx):
    """`/`; between two Python numbers outside `math` mode (the variant that runs after the
    fast one raised), the implementation, which gives NumPy's inf/nan as eager code does."""
    if not ctx.scalar and ctx.invars and all(_python_number(a) for a in ctx.invars):
        return _impl_call(E.div_p)(args, ctx)
    return f"({args[0]} / {args[1]})"


def _emit_power(args, ctx):
    if args[1] == "2":
        return f"({args[0]} * {args[0]})"
    if ctx.scalar:
        ints = all(np.dtype(a.dtype).kind in "iu" if isinstance(a, Var) else type(a.value) is int
                   for a in getattr(ctx, "invars", None) or ())
        return f"({args[0]} ** {args[1]})" if ints and ctx.invars else f"_m.pow({args[0]}, {args[1]})"
    return f"_np.power({args[0]}, {args[1]})"


def _from_scalar_form(p):
    """The emitter of an elementwise primitive from its `rules.Scalar` form, else None."""
    form = scalar_forms.get(p)
    if form is None:
        return None
    if form.op is not None:
        op = form.op
        return lambda args, ctx: f"({args[0]} {op} {args[1]})"
    if form.numpy is None:
        return None
    npname, mathname = form.numpy, form.libm if form.pymath else None

    def emit(args, ctx, **params):
        if params:
            return _impl_call(p)(args, ctx, **params)
        fn = f"_m.{mathname}" if ctx.scalar and mathname else f"_np.{npname}"
        return f"{fn}({', '.join(args)})"
    return emit


def _emit_safe_multiply(args, ctx):
    if not ctx.scalar:
        return _impl_call(E.safe_mul_p)(args, ctx)
    a, b = args      # branch-free (bitwise & and |), so fused loops stay vectorisable
    return f"(0.0 if (({a} * {b}) != ({a} * {b})) & (({a} == 0.0) | ({b} == 0.0)) else {a} * {b})"


# Emitters that say more than the scalar forms (keyed by primitive).
_SPECIAL = {
    E.abs_p: lambda args, ctx: f"abs({args[0]})" if ctx.scalar else f"_np.abs({args[0]})",
    E.neg_p: lambda args, ctx: f"(-{args[0]})",
    E.div_p: _emit_divide,
    E.pow_p: _emit_power,
    E.select_p: lambda args, ctx: (f"({args[1]} if {args[0]} else {args[2]})" if ctx.scalar
                                   else f"_np.where({args[0]}, {args[1]}, {args[2]})"),
    E.stop_gradient_p: lambda args, ctx: args[0],
    E.safe_mul_p: _emit_safe_multiply,
    L.matmul_p: lambda args, ctx: f"({args[0]} @ {args[1]})",
    L.einsum_p: lambda args, ctx, spec:
        f"_np.einsum({ctx.const(spec)}, {', '.join(args)}, optimize={len(args) > 2!r})",
    R.reduce_sum_p: _emit_sum,
    S.getitem_p: _emit_getitem,
    S.reshape_p: lambda args, ctx, shape: f"_np.reshape({args[0]}, {_ints(shape)})",
    S.transpose_p: lambda args, ctx, axes: f"_np.transpose({args[0]}, {_ints(axes)})",
    S.broadcast_to_p: lambda args, ctx, shape: f"_np.broadcast_to({args[0]}, {_ints(shape)})",
}
emit_rules.update(_SPECIAL)


def emitter(p):
    """The emitter of primitive `p`: its dedicated one, the one its scalar form gives, or a
    call of its implementation (remembered in `rules.emit_rules`)."""
    rule = emit_rules.get(p)
    if rule is None:
        rule = emit_rules[p] = _from_scalar_form(p) or _impl_call(p)
    return rule


# ------------------------------------------------------------ generate ---

def _guard_line(g, name, ctx):
    if g.kind == "bool":
        return f"if {'not ' if g.value else ''}{name}: raise _Miss"
    if g.kind == "int":
        return f"if int({name}) != {g.value!r}: raise _Miss"
    if g.kind == "float":             # 0.0 and -0.0 differ; NaN matches NaN
        v = float(g.value)
        if v != v:
            return f"if float({name}) == float({name}): raise _Miss"
        if v == 0.0:
            sign = math.copysign(1.0, v)
            return f"if float({name}) != 0.0 or _m.copysign(1.0, float({name})) != {sign!r}: raise _Miss"
        return f"if float({name}) != {_literal(v, ctx)}: raise _Miss"
    return f"if not _same({name}, {ctx.const(g.value)}): raise _Miss"


def _last_uses(prog, regions):
    """{equation index: names of array variables whose last use is there}.

    Scalars are left alone (a `del` costs more than it saves); so are outputs
    and guarded variables, and uses inside fused regions count at the region's end.
    """
    keep = {v.id for v in prog.outvars if isinstance(v, Var)} | {g.var.id for g in prog.guards}
    where = {}
    region_end = {}
    for r in regions.values():
        for k in range(r.start, r.stop):
            region_end[k] = r.stop - 1
    for i, e in enumerate(prog.eqns):
        at = region_end.get(i, i)
        for a in e.invars:
            if isinstance(a, Var) and a.shape != () and a.id not in keep:
                where[a.id] = (at, a.name)
    for r in regions.values():           # a kernel reads the sources of broadcast operands
        for src in r.sources.values():
            if src.shape != () and src.id not in keep:
                if where.get(src.id, (-1,))[0] < r.stop - 1:
                    where[src.id] = (r.stop - 1, src.name)
    inside = {}                        # variables a fused region computes: {id: region end}
    for r in regions.values():
        for e in prog.eqns[r.start:r.stop]:
            for o in e.outvars:
                inside[o.id] = r.stop - 1
    frees = {}
    for vid, (at, name) in where.items():
        if inside.get(vid) == at:      # lives only inside its kernel: never a Python variable
            continue
        frees.setdefault(at, []).append(name)
    return frees


# primitives whose emitted code returns a newly allocated array (never a view of an input)
_FRESH = {S.index_add_p, S.index_set_p, E.add_p, E.sub_p, E.mul_p, E.div_p, E.neg_p, E.safe_mul_p,
          L.matmul_p, S.scatter_add_along_axis_p}


# primitives whose emitted code may return a view of (or the same object as) an input
_VIEWS = {S.reshape_p, S.transpose_p, S.broadcast_to_p, S.getitem_p, E.stop_gradient_p, E.real_p,
          E.imag_p, E.select_p}


# primitives whose emitted code returns a writeable view of its input (or the input itself)
_WRITEABLE_VIEWS = {S.reshape_p, S.transpose_p, S.getitem_p, E.stop_gradient_p, E.real_p, E.imag_p}


# non-elementwise primitives whose emitted code returns a new array (or an immutable scalar)
_NEW_RESULTS = _FRESH | {
    E.round_p, E.select_p, R.reduce_sum_p, R.reduce_max_p, R.reduce_min_p, R.reduce_prod_p, R.all_p,
    R.any_p, R.argmax_p,
    R.argmin_p, R.argsort_p, R.cumsum_p, R.cumprod_p, S.concatenate_p, S.pad_p, S.take_along_axis_p,
    D.cholesky_p, D.det_p, D.inv_p, D.solve_p, D.qr_p, D.svd_p, D.svdvals_p, D.eigh_p, D.slogdet_p,
    D.pinv_p}


def _new_result(p):
    """Does `p`'s emitted code return a new array (or an immutable scalar) on every call?  Every
    elementwise primitive with a NumPy function does, except the views among them."""
    if p in _NEW_RESULTS:
        return True
    if p in _VIEWS and p is not E.select_p:
        return False
    form = scalar_forms.get(p)
    return form is not None and (form.numpy is not None or form.op is not None)


def _copy(v):
    return v.copy() if isinstance(v, np.ndarray) else v


def _own(v):
    return v.copy() if isinstance(v, np.ndarray) and not v.flags.writeable else v


def output_modes(prog):
    """How each output is returned so that callers may change it in place: "copy" (it
    may share memory with an input or a constant), "own" (it may be a read-only view:
    copied if it is) or "" (a new array on every call)."""
    alias = {v.id for v in prog.invars}
    unsure = set()
    for e in prog.eqns:
        if _new_result(e.prim):
            continue
        shared = any(a.id in alias if isinstance(a, Var) else isinstance(a.value, np.ndarray)
                     for a in e.invars)
        # a writeable view of a new array is new; anything else not known may be read-only
        maybe_ro = e.prim not in _WRITEABLE_VIEWS or any(
            isinstance(a, Var) and a.id in unsure for a in e.invars)
        for o in e.outvars:
            if shared:
                alias.add(o.id)
            elif maybe_ro:
                unsure.add(o.id)
    return ["copy" if (isinstance(v, Const) and isinstance(v.value, np.ndarray)) or
            (isinstance(v, Var) and v.id in alias and not v.pyscalar) else
            "own" if isinstance(v, Var) and v.id in unsure else "" for v in prog.outvars]


def _viewed(prog):
    """Ids of variables some equation may take a view of: never updated in place."""
    return {a.id for e in prog.eqns if e.prim in _VIEWS for a in e.invars if isinstance(a, Var)}


def _scatter_in_place(e, fresh, dying, ref, ctx):
    """For index_add into an array that dies here, that this function allocated and of
    which no view exists: the statement adding into it in place (no copy), else None."""
    if e.prim is not S.index_add_p:
        return None
    x, y = e.invars
    out = e.outvars[0]
    if not (isinstance(x, Var) and x.id in fresh and x.name in dying and x.shape == out.shape
            and x.dtype == out.dtype and x.shape != ()):
        return None
    from ..ops.shape import _is_basic
    idx = e.params["idx"]
    if _is_basic(idx):
        return f"{x.name}[{ctx.const(idx)}] += {ref(y)}"
    return f"_np.add.at({x.name}, {ctx.const(idx)}, {ref(y)})"


CHUNK_EQNS = 2_000       # equations per generated function: compile() is superlinear in one
MAX_EQNS = 250_000       # above this, jit interprets the program instead of compiling it


class _LaterUses:
    """``vid in later``: is variable `vid` read by an equation from index `stop` on, by an
    output or by a guard?  (A lookup in precomputed last uses, not a scan of the program.)"""

    __slots__ = ("last", "keep", "stop")

    def __init__(self, last, keep, stop):
        self.last, self.keep, self.stop = last, keep, stop

    def __contains__(self, vid):
        return vid in self.keep or self.last.get(vid, -1) >= self.stop


def _has_regions(prog):
    """Could `find_regions` fuse anything here (an equation with a large output)?"""
    big = _native.MIN_SIZE
    for e in prog.eqns:
        if e.outvars:
            s = e.outvars[0].shape
            if s and math.prod(s) >= big:
                return True
    return False


def _generate(prog, use_math=True, name="compiled", native=True, chunk=None):
    """([source of each function], namespace): the functions that compute `prog`, the
    entry point `name` last.  A program longer than `chunk` (`CHUNK_EQNS`) equations is cut
    into functions of about that many equations, called in order by `name`; the values one
    computes and a later one reads pass through a dict.  Every step is linear in the size
    of the program."""
    size = chunk or CHUNK_EQNS
    ctx = _Ctx()
    guards = {}
    for g in prog.guards:
        guards.setdefault(g.var.id, []).append(g)
    args = [v.name for v in prog.invars]
    entry = [f"def {name}({', '.join(args)}):"]
    for v in prog.invars:
        entry += ["    " + _guard_line(g, v.name, ctx) for g in guards.get(v.id, [])]

    def ref(a):
        return a.name if isinstance(a, Var) else _literal(a.value, ctx)

    def scalar_emit(e, args):
        ctx.scalar = True
        return emitter(e.prim)(args, ctx, **e.params)
    if native and _has_regions(prog):
        eqns, found = _native.find_regions(prog)
        prog = Program(prog.invars, eqns, prog.outvars, prog.guards, prog.in_tree, prog.out_tree)
        regions = {r.start: r for r in found}
        if regions:
            ctx.ns["_fused"] = True          # numba kernels: they compile on their first call
    else:
        regions = {}
    frees = _last_uses(prog, regions)
    keep = {v.id for v in prog.outvars if isinstance(v, Var)} | {g.var.id for g in prog.guards}
    last = {}
    if regions:
        for i, e in enumerate(prog.eqns):
            for a in e.invars:
                if isinstance(a, Var):
                    last[a.id] = i
    chunked = len(prog.eqns) > size
    home = {}                # var id -> the function defining it (inputs: -1), when chunked
    if chunked:
        for v in prog.invars:
            home[v.id] = -1
    parts = []               # per function: (body lines, {id: name} it reads from others)
    lines, imported, start = [], {}, 0
    skip_to = 0
    fresh = set()            # variables holding arrays this function allocated (safe to update)
    viewed = _viewed(prog)

    def uses(e):
        """Note e's operands defined in another function (chunked programs only)."""
        k = len(parts)
        for a in e.invars:
            if isinstance(a, Var) and home[a.id] != k and a.id not in imported:
                imported[a.id] = a.name
    for i, e in enumerate(prog.eqns):
        if i < skip_to:
            continue
        if chunked and i - start >= size:          # the next function starts here
            parts.append((lines, imported))
            lines, imported, start = [], {}, i
        if i in regions:
            r = regions[i]
            if chunked:
                for e2 in prog.eqns[r.start:r.stop]:
                    uses(e2)
                    for o in e2.outvars:
                        home[o.id] = len(parts)
                imported.update((s.id, s.name) for s in r.sources.values()
                                if home.get(s.id, len(parts)) != len(parts))
            later = _LaterUses(last, keep, r.stop)
            body, _ = _native.emit_region(r, prog, later, ctx, ref, scalar_emit)
            lines += ["    " + b for b in body]
            for e2 in prog.eqns[r.start:r.stop]:
                for o in e2.outvars:
                    lines += ["    " + _guard_line(g, o.name, ctx) for g in guards.get(o.id, [])]
            skip_to = r.stop
            fresh.update(o.id for e2 in prog.eqns[r.start:r.stop] for o in e2.outvars if o.id not in viewed)
            dead = frees.get(r.stop - 1)
            if dead:
                lines.append(f"    del {', '.join(dead)}")
            continue
        if chunked:
            uses(e)
            for o in e.outvars:
                home[o.id] = len(parts)
        ctx.scalar = use_math and all(
            (a.pyscalar if isinstance(a, Var) else isinstance(a.value, (float, int)) and not isinstance(a.value, bool))
            for a in e.invars)
        ctx.invars = e.invars
        outs = ", ".join(o.name for o in e.outvars) + ("," if e.prim.multiple_results and len(e.outvars) == 1 else "")
        inplace = _scatter_in_place(e, fresh, frees.get(i, ()), ref, ctx)
        if inplace is not None:
            lines += ["    " + inplace, f"    {outs} = {e.invars[0].name}"]
        else:
            expr = emitter(e.prim)([ref(a) for a in e.invars], ctx, **e.params)
            lines.append(f"    {outs} = {expr}" if e.outvars else f"    {expr}")   # no results: an effect
        if e.prim in _FRESH:
            fresh.update(o.id for o in e.outvars if o.id not in viewed)
        for o in e.outvars:
            lines += ["    " + _guard_line(g, o.name, ctx) for g in guards.get(o.id, [])]
        dead = frees.get(i)
        if dead:                      # free arrays at their last use, so memory is reused
            lines.append(f"    del {', '.join(dead)}")
    outs = [f"_{m}({ref(v)})" if m else ref(v) for v, m in zip(prog.outvars, output_modes(prog))]
    ret = f"    return ({', '.join(outs)}{',' if len(outs) == 1 else ''})"
    if not chunked:
        return ["\n".join(entry + lines + [ret]) + "\n"], ctx.ns
    for v in prog.outvars:            # the last function returns the outputs
        if isinstance(v, Var) and home[v.id] != len(parts):
            imported[v.id] = v.name
    parts.append((lines, imported))
    # each value another function reads is stored by the function defining it (the entry
    # point for inputs) and popped from the dict by the last function reading it
    last_reader, stored = {}, {}
    for k, (_, imp) in enumerate(parts):
        for vid in imp:
            last_reader[vid] = k
            stored.setdefault(home[vid], []).append(vid)
    names = {}
    for _, imp in parts:
        names.update(imp)
    sources = []
    for k, (body, imp) in enumerate(parts):
        head = [f"def {name}_part{k}(_e):"]
        head += [f"    {n} = _e.{'pop' if last_reader[vid] == k else 'get'}({n!r})" for vid, n in imp.items()]
        tail = [f"    _e[{names[vid]!r}] = {names[vid]}" for vid in dict.fromkeys(stored.get(k, ()))]
        tail += [ret] if k == len(parts) - 1 else ["    return None"]
        sources.append("\n".join(head + body + tail) + "\n")
    env = ", ".join(f"{names[vid]!r}: {names[vid]}" for vid in dict.fromkeys(stored.get(-1, ())))
    entry.append(f"    _e = {{{env}}}")
    entry += [f"    {name}_part{k}(_e)" for k in range(len(parts) - 1)]
    entry.append(f"    return {name}_part{len(parts) - 1}(_e)")
    sources.append("\n".join(entry) + "\n")
    return sources, ctx.ns


def generate(prog, use_math=True, name="compiled", native=True):
    """Python source for `prog` and the namespace it needs.

    With `use_math`, operations on Python scalars use the `math` module and
    plain operators; they raise where NumPy would return nan/inf, and the
    caller then runs the NumPy variant (use_math=False).  A long program becomes
    several functions (see `_generate`).
    """
    sources, ns = _generate(prog, use_math, name, native)
    return "".join(sources), ns


def compile_program(prog, use_math=True, name="compiled"):
    """(function, source) for `prog`.  Each generated function is compiled on its own, so
    the compiler's memory and time stay proportional to one function's length."""
    sources, ns = _generate(prog, use_math, name)
    for src in sources:
        exec(compile(src, f"<chainrule.jit {name}>", "exec"), ns)
    return ns[name], "".join(sources)


def calls_fused_kernels(fn):
    """Does a function from `compile_program` call numba-fused kernels?"""
    return bool(fn.__globals__.get("_fused"))


__all__ = ["generate", "compile_program", "calls_fused_kernels", "GuardMiss", "emitter"]
