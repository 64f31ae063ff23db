"""Loop kernels: a `scan` or `while` loop over small values compiled whole.

When every value of a loop body has a small static shape, each array is a
handful of numbers.  The body then becomes straight-line scalar code: an array
is a grid of scalar names, an elementwise operation one line per element (the
`math`-module emitters of compile/codegen.py), and indexing, reshapes,
transposes, broadcasts, concatenation, scatter-adds and sums are renamings or
one sum per element, worked out once with NumPy on the grids of names.  The
loop around it is a real `for`/`while` loop in one function, compiled by numba
when it is installed (an iteration costs nanoseconds) and run as plain Python
otherwise (still one Python line per number instead of one NumPy call per
array operation).  Kernels are cached by their source text.
"""
from __future__ import annotations

import collections
import contextlib
import math
import threading
import time
import warnings

import numpy as np

from ..ir.program import Var, Const
from . import codegen
from .native import kernel_op, _number, available as numba_available
from ..ops import elementwise as E, linalg as L, reductions as R, shape as S

MAX_ELEMS = 256            # numbers in one value of the body
MAX_CONST = 4096           # numbers in one constant (a small matrix of a linear map)
MAX_LINES = 6000           # scalar lines in one kernel
KERNEL_CACHE = 64
_kernels = collections.OrderedDict()
_DTYPES = (np.dtype(np.float64), np.dtype(np.int64), np.dtype(bool))


class NotScalar(Exception):
    """The body has a value or an operation the scalar kernel does not handle."""


def _grid(shape, names):
    g = np.empty(shape, dtype=object)
    g.reshape(-1)[:] = names
    return g


def _as_grid(v):
    if isinstance(v, np.ndarray):
        return v
    g = np.empty((), dtype=object)
    g[()] = v
    return g


class _Ctx(codegen._Ctx):
    """Emitter context of scalar kernels: constants must be literals."""

    def const(self, obj):
        raise NotScalar("a constant object in a scalar kernel")


class Scalarizer:
    """Writes one program as scalar lines; values are grids of names (numpy object arrays)."""

    def __init__(self, prefix):
        self.prefix, self.n, self.lines = prefix, 0, []
        self.ctx = _Ctx()
        self.ctx.scalar = True

    def new(self, expr):
        self.n += 1
        name = f"{self.prefix}{self.n}"
        self.lines.append(f"{name} = {expr}")
        if len(self.lines) > MAX_LINES:
            raise NotScalar("body too long")
        return name

    def const(self, value):
        v = np.asarray(value)
        if v.dtype not in _DTYPES or v.size > MAX_CONST:
            raise NotScalar("constant")
        return _grid(v.shape, [_number(x) for x in v.reshape(-1).tolist()])

    def run(self, prog, inputs):
        env = {v.id: g for v, g in zip(prog.invars, inputs)}

        def get(a):
            return self.const(a.value) if isinstance(a, Const) else env[a.id]
        for e in prog.eqns:
            for o in e.outvars:
                check_var(o)
            rule = _RULES.get(e.prim)
            if rule is None:
                if not kernel_op(e.prim) or e.prim.multiple_results:
                    raise NotScalar(e.prim.name)
                rule = _elementwise
            out = rule(self, e, [get(a) for a in e.invars], **e.params)
            env[e.outvars[0].id] = np.broadcast_to(_as_grid(out), e.outvars[0].shape)
        return [get(v) for v in prog.outvars]


def check_var(v, limit=MAX_ELEMS):
    if not isinstance(v, Var):
        return
    if np.dtype(v.dtype) not in _DTYPES or int(np.prod(v.shape, dtype=np.int64)) > limit:
        raise NotScalar("value too large or of another dtype")


def _elementwise(sc, e, grids, **params):
    shape = e.outvars[0].shape
    gs = [np.broadcast_to(g, shape).reshape(-1) for g in grids]
    emit = codegen.emitter(e.prim)
    sc.ctx.invars = e.invars
    out = [sc.new(emit(list(args), sc.ctx, **params)) for args in zip(*gs)]
    return _grid(shape, out)


def _getitem(sc, e, grids, idx):
    return _as_grid(grids[0][idx])


def _index_add(sc, e, grids, idx):
    x, y = grids
    out = np.array(np.broadcast_to(x, e.outvars[0].shape), dtype=object)
    pos = np.arange(out.size).reshape(out.shape)[idx]
    flat = out.reshape(-1)
    for p, name in zip(np.asarray(pos).reshape(-1), np.broadcast_to(y, np.shape(pos)).reshape(-1)):
        old = flat[p]
        flat[p] = name if old in _ZEROS else sc.new(f"({old} + {name})")
    return out


def _reduce_sum(sc, e, grids, axes, keepdims):
    x = grids[0]
    kept = [i for i in range(x.ndim) if i not in axes]
    rows = np.transpose(x, kept + list(axes)).reshape(int(np.prod([x.shape[i] for i in kept], dtype=np.int64)), -1)
    out = [sc.new("(" + " + ".join(r) + ")") if len(r) else "0.0" for r in rows]
    return _grid(e.outvars[0].shape, out)


def convert_code(x, src, dst):
    """Scalar code of a cast of `x` from dtype `src` to `dst` (numba has no float(bool))."""
    src, dst = np.dtype(src).kind, np.dtype(dst).kind
    if src == "b" and dst != "b":
        return f"({'1.0' if dst == 'f' else '1'} if {x} else {'0.0' if dst == 'f' else '0'})"
    if dst == "b":
        return f"({x} != 0)"
    return f"{'float' if dst == 'f' else 'int'}({x})"


def _convert(sc, e, grids, dtype):
    d = np.dtype(dtype)
    if d not in _DTYPES:
        raise NotScalar("conversion")
    a = e.invars[0]
    src = a.dtype if isinstance(a, Var) else np.asarray(a.value).dtype
    return _grid(e.outvars[0].shape, [sc.new(convert_code(n, src, d)) for n in grids[0].reshape(-1)])


def _matmul(sc, e, grids):
    """NumPy's matmul on grids of names: one line per output element, a sum of products."""
    a, b = grids
    va, vb = a.ndim == 1, b.ndim == 1
    a2 = a.reshape(1, -1) if va else a
    b2 = b.reshape(-1, 1) if vb else b
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    a2 = np.broadcast_to(a2, batch + a2.shape[-2:])
    b2 = np.broadcast_to(b2, batch + b2.shape[-2:])
    out = np.empty(batch + (a2.shape[-2], b2.shape[-1]), dtype=object)
    for idx in np.ndindex(*out.shape):
        lead, i, j = idx[:-2], idx[-2], idx[-1]
        terms = [f"{x} * {y}" for x, y in zip(a2[lead + (i,)], b2[lead + (slice(None), j)])
                 if x not in _ZEROS and y not in _ZEROS]
        out[idx] = sc.new(" + ".join(terms)) if terms else "0.0"
    return out.reshape(e.outvars[0].shape)


_ZEROS = ("0.0", "-0.0", "0")


_RULES = {
    L.matmul_p: _matmul,
    S.getitem_p: _getitem,
    S.reshape_p: lambda sc, e, g, shape: g[0].reshape(shape),
    S.transpose_p: lambda sc, e, g, axes: np.transpose(g[0], axes),
    S.broadcast_to_p: lambda sc, e, g, shape: np.broadcast_to(g[0], shape),
    S.concatenate_p: lambda sc, e, g, axis: np.concatenate(g, axis=axis),
    S.index_add_p: _index_add,
    R.reduce_sum_p: _reduce_sum,
    S.convert_p: _convert,
    E.stop_gradient_p: lambda sc, e, g: g[0],
}


# ------------------------------------------------------------ kernels ---

def _size(v):
    return int(np.prod(v.shape, dtype=np.int64))


def _unpack(sc, var, src, row="", limit=MAX_ELEMS):
    check_var(var, limit)
    names = [f"{src}[{row}{j}]" for j in range(_size(var))]
    return _grid(var.shape, [sc.new(n) for n in names])


def _flat_names(grid):
    return list(np.asarray(grid, dtype=object).reshape(-1))


def scan_source(body, n_consts, n_carry, reverse):
    """Source of ``kernel(n, consts..., carries..., xs...)`` over flat arrays (xs: (n, size))."""
    sc = Scalarizer("s")
    nx = len(body.invars) - n_consts - n_carry
    cvars, kvars, xvars = (body.invars[:n_consts], body.invars[n_consts:n_consts + n_carry],
                           body.invars[n_consts + n_carry:])
    args = ["n"] + [f"c{i}" for i in range(n_consts)] + [f"k{i}" for i in range(n_carry)] + \
        [f"x{i}" for i in range(nx)]
    consts = [_unpack(sc, v, f"c{i}", limit=MAX_CONST) for i, v in enumerate(cvars)]
    head = sc.lines
    sc.lines = []
    carry_names = [[f"k{i}_{j}" for j in range(_size(v))] for i, v in enumerate(kvars)]
    for v in kvars:
        check_var(v)
    carry = [_grid(v.shape, names) for v, names in zip(kvars, carry_names)]
    xs = [_unpack(sc, v, f"x{i}", "t, ", limit=MAX_CONST) for i, v in enumerate(xvars)]
    outs = sc.run(body, consts + carry + xs)
    loop = sc.lines
    new_carry = [_flat_names(g) for g in outs[:n_carry]]
    ys = outs[n_carry:]
    for v in body.outvars:
        check_var(v)
        _dname(v)
    lines = [f"def kernel({', '.join(args)}):"] + ["    " + x for x in head]
    for i, names in enumerate(carry_names):
        lines += [f"    {n} = k{i}[{j}]" for j, n in enumerate(names)]
    for i, y in enumerate(ys):
        lines.append(f"    y{i} = _np.empty((n, {len(_flat_names(y))}), _np.{_dname(body.outvars[n_carry + i])})")
    order = "range(n - 1, -1, -1)" if reverse else "range(n)"
    lines.append(f"    for t in {order}:")
    lines += ["        " + x for x in loop]
    for i, y in enumerate(ys):
        lines += [f"        y{i}[t, {j}] = {n}" for j, n in enumerate(_flat_names(y))]
    _finish(lines, kvars, carry_names, [n for names in new_carry for n in names],
            [f"y{i}" for i in range(len(ys))])
    return "\n".join(lines) + "\n"


def _tuple(names):
    return ", ".join(names) + ("," if len(names) == 1 else "")


def _finish(lines, kvars, carry_names, new_names, extra):
    """The carry update at the end of the loop body, then the carries packed and returned."""
    old = [n for names in carry_names for n in names]
    if old:
        lines.append(f"        {_tuple(old)} = {_tuple(new_names)}")
    rets = []
    for i, (v, names) in enumerate(zip(kvars, carry_names)):
        lines.append(f"    ko{i} = _np.empty({len(names)}, _np.{_dname(v)})")
        lines += [f"    ko{i}[{j}] = {n}" for j, n in enumerate(names)]
        rets.append(f"ko{i}")
    lines.append(f"    return ({_tuple(rets + extra)})")


def while_source(cond, body, n_cond_consts, n_body_consts):
    """Source of ``kernel(cond_consts..., body_consts..., carries...)``."""
    sc = Scalarizer("s")
    nk = len(body.invars) - n_body_consts
    kvars = body.invars[n_body_consts:]
    args = ([f"a{i}" for i in range(n_cond_consts)] + [f"c{i}" for i in range(n_body_consts)]
            + [f"k{i}" for i in range(nk)])
    cc = [_unpack(sc, v, f"a{i}", limit=MAX_CONST) for i, v in enumerate(cond.invars[:n_cond_consts])]
    bc = [_unpack(sc, v, f"c{i}", limit=MAX_CONST) for i, v in enumerate(body.invars[:n_body_consts])]
    head = sc.lines
    for v in kvars:
        check_var(v)
    carry_names = [[f"k{i}_{j}" for j in range(_size(v))] for i, v in enumerate(kvars)]
    carry = [_grid(v.shape, names) for v, names in zip(kvars, carry_names)]
    sc.lines = []
    (pred,) = sc.run(cond, cc + carry)
    test = sc.lines
    sc.lines = []
    outs = sc.run(body, bc + carry)
    step = sc.lines
    lines = [f"def kernel({', '.join(args)}):"] + ["    " + x for x in head]
    for i, names in enumerate(carry_names):
        lines += [f"    {n} = k{i}[{j}]" for j, n in enumerate(names)]
    lines.append("    while True:")
    lines += ["        " + x for x in test]
    lines.append(f"        if not {_flat_names(pred)[0]}:")
    lines.append("            break")
    lines += ["        " + x for x in step]
    _finish(lines, kvars, carry_names, [n for g in outs for n in _flat_names(g)], [])
    return "\n".join(lines) + "\n"


def _dname(v):
    d = np.asarray(v.value).dtype if isinstance(v, Const) else np.dtype(v.dtype)
    if d not in _DTYPES:
        raise NotScalar("dtype")
    return {"f": "float64", "i": "int64", "b": "bool_"}[d.kind]


def _python_kernel(src):
    ns = {"_m": math, "_np": np}
    exec(compile(src, "<chainrule.loop kernel>", "exec"), ns)
    return ns["kernel"]


class LoopKernel:
    """A loop kernel called with flat arguments, output types restored.

    Until numba has compiled it, it runs as plain Python (its own source, or `fallback`:
    the loop run one NumPy call per operation, when that is the faster of the two); once
    those calls have taken NATIVE_AFTER seconds in all, numba compiles it in a background
    thread, and calls use the native build once it is ready (so a call never waits for
    numba).  `extra`: constant arrays passed after the loop's own arguments.
    """

    def __init__(self, src, in_vars, out_vars, stacked, pass_length, fallback=None, extra=()):
        cached = _kernels.get(src)
        if cached is None:     # python, native, numba build started, seconds run in Python
            cached = _kernels[src] = [None, None, False, 0.0]
            if len(_kernels) > KERNEL_CACHE:
                _kernels.popitem(last=False)
        self.src, self.state, self.fallback, self.extra = src, cached, fallback, list(extra)
        self.lines = src.count("\n")
        self.ops = self.lines + sum(src.count(op) for op in (" + ", " - ", " * ", " / ", "_m."))
        self.in_vars, self.out_vars, self.stacked = in_vars, out_vars, stacked
        self.inputs = [(np.dtype(v.dtype), _size(v), s) for v, s in zip(in_vars, stacked)]
        self.pass_length = pass_length

    def __call__(self, n, *args):
        state = self.state
        if state[1] is None and self.fallback is not None and (state[2] or not numba_available()):
            return self.fallback(n, *args)       # the build is under way (or impossible)
        flat = [n] if self.pass_length else []
        for a, (dtype, size, s) in zip(args, self.inputs):
            arr = np.asarray(a, dtype=dtype)
            flat.append(np.ascontiguousarray(arr.reshape((arr.shape[0], size) if s else size)))
        flat += self.extra
        with np.errstate(all="ignore"):
            if state[1] is not None:
                outs = state[1](*flat)
            else:
                start = time.perf_counter()
                if self.fallback is not None:
                    result = self.fallback(n, *args)
                else:
                    if state[0] is None:
                        state[0] = _python_kernel(self.src)
                    outs = state[0](*flat)
                state[3] += time.perf_counter() - start
                if not state[2] and state[3] > NATIVE_AFTER and numba_available() and \
                        not getattr(_staging, "on", False):
                    state[2] = True
                    _builds.append(_start_build(self.src, state, flat))
                if self.fallback is not None:
                    return result
        res = []
        for o, (v, stacked) in zip(outs, self.out_vars):
            if not stacked:
                res.append(o[0].item() if v.pyscalar else o.reshape(v.shape))
            else:
                res.append(o.reshape((n,) + tuple(v.shape)))
        return tuple(res)


NATIVE_AFTER = 0.005       # seconds run as Python, in all, before a kernel gets a numba build
_staging = threading.local()


@contextlib.contextmanager
def staging_run():
    """No numba builds while jit stages a function: the loops its staging run evaluates are
    not the ones the compiled program runs (those are optimised: fewer carries and ys)."""
    before = getattr(_staging, "on", False)
    _staging.on = True
    try:
        yield
    finally:
        _staging.on = before
_builds = []


def wait_native(timeout=None):
    """Wait for the numba builds started so far (benchmarks time the steady state after it);
    True if there were any."""
    waited = bool(_builds)
    while _builds:
        _builds.pop().join(timeout)
    return waited


_build_lock = threading.Lock()
BUILD_STACK = 256 << 20      # bytes of stack for a build: numba's SSA pass recurses per line
BUILD_RECURSION = 100_000


def _start_build(src, state, sample):
    """Compile a kernel with numba in a background thread with a deep stack."""
    old = threading.stack_size()
    try:
        threading.stack_size(BUILD_STACK)
    except (ValueError, RuntimeError):        # a platform that cannot: the default stack
        pass
    try:
        thread = threading.Thread(target=_build_native, args=(src, state, sample), daemon=True,
                                  name="chainrule-loop-kernel")
        thread.start()
    finally:
        threading.stack_size(old)
    return thread


def _build_native(src, state, sample):
    """Compile `src` with numba (in a background thread) and check it on a sample call."""
    import sys
    with _build_lock:          # one build at a time: each raises the recursion limit, then restores it
        limit = sys.getrecursionlimit()
        try:
            import numba
            sys.setrecursionlimit(max(limit, BUILD_RECURSION))   # long kernels: deep SSA recursion
            fn = numba.njit(error_model="numpy", cache=False)(_python_kernel(src))
            with np.errstate(all="ignore"):
                fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in sample])
            state[1] = fn
        except Exception as e:     # numba could not compile it: keep the Python kernel, say so
            warnings.warn(f"chainrule: numba could not compile a loop kernel ({type(e).__name__}); "
                          "the loop runs as Python code (exact, slower)", RuntimeWarning, stacklevel=1)
        finally:
            sys.setrecursionlimit(limit)


def scan_kernel(body, n_consts, n_carry, reverse):
    """A LoopKernel ``(n, *args)`` for this scan, or None when its body is not all small values."""
    try:
        src = scan_source(body, n_consts, n_carry, reverse)
    except NotScalar:
        return None
    return scan_loop_kernel(src, body, n_consts, n_carry)


def scan_loop_kernel(src, body, n_consts, n_carry, extra=()):
    """The LoopKernel that calls scan kernel `src` (consts, carries, xs; carries and ys back)."""
    nx = len(body.invars) - n_consts - n_carry
    outs = [(v, False) for v in body.invars[n_consts:n_consts + n_carry]] + \
        [(v, True) for v in body.outvars[n_carry:]]
    outs = [(_out_var(v), n) for v, n in outs]
    stacked = [False] * (n_consts + n_carry) + [True] * nx
    return LoopKernel(src, body.invars, outs, stacked, True, extra=extra)


def while_kernel(cond, body, n_cond_consts, n_body_consts):
    try:
        src = while_source(cond, body, n_cond_consts, n_body_consts)
    except NotScalar:
        return None
    return while_loop_kernel(src, cond, body, n_cond_consts, n_body_consts)


def while_loop_kernel(src, cond, body, n_cond_consts, n_body_consts, extra=()):
    """The LoopKernel that calls while kernel `src` (cond consts, body consts, carries)."""
    in_vars = cond.invars[:n_cond_consts] + body.invars
    stacked = [False] * len(in_vars)
    outs = [(_out_var(v), False) for v in body.invars[n_body_consts:]]
    return LoopKernel(src, in_vars, outs, stacked, False, extra=extra)


def _out_var(v):
    return v if isinstance(v, Var) else Var(0, np.shape(v.value), np.asarray(v.value).dtype)


__all__ = ["scan_kernel", "while_kernel", "NotScalar", "wait_native"]
