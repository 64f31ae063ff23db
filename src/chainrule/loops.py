"""Loop primitives: `scan` and `while` equations whose bodies are staged programs.

A loop is one equation whatever its trip count.  ``scan`` runs
``carry, y = body(*consts, *carry, *x)`` over the leading axis of its xs and
stacks the ys; ``while`` runs ``carry = body(*consts, *carry)`` as long as
``cond(*consts, *carry)``.  A body is staged once, on one iteration's values
(interpreters/staging.py), and the traced values of enclosing
transformations it closes over become its first inputs (closure
conversion), so every transformation sees them as ordinary arguments.

Each rule builds the transformed body by running the body program under
that transformation while staging, then binds the loop primitive again:
JVP carries tangents beside the primals; reverse mode saves the carries on
the forward pass (with a ``checkpoint`` k, only every k-th, the others
recomputed segment by segment) and runs the transposed body backwards; vmap batches the
body (a while loop whose predicate differs across the batch runs until every
lane is done, finished lanes frozen); Taylor mode carries the series.  The
rules bind primitives only, so they nest to any depth.

A body whose Python control flow reads a traced value cannot be one program:
`control_flow` then runs the loop in Python, as before (exact, unrolled).
"""
from __future__ import annotations

import functools
import math
import weakref

import numpy as np

from .core import Primitive, Tracer, new_level, shape_of, dtype_of
from .rules import jvp_rules, vjp_rules, vjp_fwd_rules, batch_rules, taylor_rules, dce_rules
from .ir.program import Var, Program, Eqn
from .ir.optimize import optimize
from .ir.partial_eval import partial_eval, SHARED, KNOWN, LATER
from .interpreters.staging import CapturingTrace, NotStageable, eval_program, output_vars
from .interpreters.batching import BatchTracer
from . import custom_call  # noqa: F401  (installs StagingTrace.stage_custom)
from .interpreters.programs import jvp_program, vjp_program, vmap_program, jet_program, _expand, _to_front
from .ops import shape as S, reductions as R, elementwise as E, linalg as LA
from .compile import codegen, loop_kernel, array_kernel


# ------------------------------------------------------------ staging ---

class BodyReadsValue(Exception):
    """A loop body read a traced value for Python control flow: it is not one program."""


def example_value(x):
    """A concrete value of the shape and dtype `x` has at the current level (one example
    of a batch), read without recording a guard."""
    if isinstance(x, BatchTracer):
        v = example_value(x.primal)
        return np.take(v, 0, axis=x.bdim) if shape_of(v)[x.bdim] else \
            np.zeros(x.shape, dtype_of(v))
    while isinstance(x, Tracer):
        if isinstance(x, BatchTracer):
            return example_value(x)
        x = x.primal
    return x


class BodyTrace(CapturingTrace):
    """Stages a loop body: outer tracers it meets become inputs; value reads abort."""

    __slots__ = ()

    def outer_value(self, a):
        return example_value(a)

    def read(self, tracer, kind, value):
        raise BodyReadsValue


def stage_body(fn, examples):
    """Stage ``fn(*inputs) -> list of outputs`` on example values.

    Returns (program, consts): the program's invars are the captured outer tracers
    (`consts`) followed by one variable per example.
    """
    with new_level() as level:
        trace = BodyTrace(level)
        try:
            ins = [trace.new_input(x) for x in examples]
            outvars = output_vars(trace, fn(*ins))
        finally:
            trace.done = True
    consts = [a for a, _ in trace.captured]
    prog = Program([v for _, v in trace.captured] + [t.ir_var for t in ins], trace.eqns, outvars, [])
    return prog, consts


class LoopRuleError(NotImplementedError):
    """A transformation of a loop needs a value that is only known while the loop runs."""


def _stage_rule(fn, examples):
    """Stage a rule's transformed body; it closes over nothing traced."""
    try:
        prog, consts = stage_body(fn, examples)
    except BodyReadsValue:
        raise LoopRuleError(
            "this derivative of a loop nested in another loop's body needs the inner loop's "
            "trip count, which differs from one outer iteration to the next (reverse mode of a "
            "while_loop inside a scan/fori_loop/while_loop body is not supported yet); use "
            "fori_loop with a fixed trip count inside, forward mode (jvp, jacfwd), or a plain "
            "Python outer loop") from None
    if consts:                                      # pragma: no cover - an internal invariant
        raise AssertionError("a loop rule's body captured a traced value")
    return prog


def aval(v):
    """(shape, dtype) of a program variable or constant."""
    if isinstance(v, Var):
        return tuple(v.shape), np.dtype(v.dtype)
    return tuple(shape_of(v.value)), np.dtype(dtype_of(v.value))


def _inexact(x):
    return np.issubdtype(dtype_of(x), np.inexact)


def _slice_example(x):
    v = np.asarray(example_value(x))
    return v[0] if v.shape[0] else np.zeros(v.shape[1:], v.dtype)


def _zeros(x):
    return np.zeros(shape_of(x), dtype_of(x))


def _or_zeros(t, x):
    return _zeros(x) if t is None else t


def _split(seq, *counts):
    out, i = [], 0
    for n in counts:
        out.append(list(seq[i:i + n]))
        i += n
    out.append(list(seq[i:]))
    return out


def _pick(seq, mask):
    return [x for x, m in zip(seq, mask) if m]


def flows(prog, marked, through_nondiff=False):
    """Which outputs of `prog` depend on the inputs marked True (a conservative dataflow:
    a nested loop's outputs all depend on any marked input)."""
    live = {v.id for v, m in zip(prog.invars, marked) if m}
    for e in prog.eqns:
        if (through_nondiff or not e.prim.nondiff) and \
                any(isinstance(a, Var) and a.id in live for a in e.invars):
            live.update(o.id for o in e.outvars)
    return [isinstance(v, Var) and v.id in live for v in prog.outvars]


def _tangent_flows(prog, marked):
    return [f and np.issubdtype(aval(v)[1], np.inexact) for f, v in zip(flows(prog, marked), prog.outvars)]


def _carry_fixpoint(step, start):
    """Smallest superset of `start` closed under ``step(marks) -> marks``."""
    marks = list(start)
    while True:
        new = [a or b for a, b in zip(marks, step(marks))]
        if new == marks:
            return marks
        marks = new


def _move(x, src, dst):
    if src == dst:
        return x
    perm = [i for i in range(len(shape_of(x))) if i != src]
    perm.insert(dst, src)
    return S.transpose(x, tuple(perm))


def _lane_where(pred, new, old):
    """where(pred[lane], new, old) with pred of shape (B,) and values (B, ...)."""
    nd = len(shape_of(new))
    p = S.reshape(pred, (shape_of(pred)[0],) + (1,) * (nd - 1)) if nd > 1 else pred
    return E.select(p, new, old)


# ------------------------------------------------- running a program fast ---

_MATH_ERRORS = (ValueError, OverflowError, ZeroDivisionError)
_compiled = weakref.WeakKeyDictionary()


class _Runner:
    """A body program compiled to Python (math-module fast path, NumPy on math errors)."""

    __slots__ = ("prog", "fast", "safe")

    def __init__(self, prog):
        body = Program(prog.invars, [Eqn(e.prim, list(e.invars), e.outvars, e.params) for e in prog.eqns],
                       prog.outvars, [])
        self.prog = optimize(body)
        self.fast = codegen.compile_program(self.prog, use_math=True, name="loop_body")[0]
        self.safe = None

    def __call__(self, *args):
        try:
            return self.fast(*args)
        except _MATH_ERRORS:
            if self.safe is None:
                self.safe = codegen.compile_program(self.prog, use_math=False, name="loop_body")[0]
            return self.safe(*args)


def runner(prog):
    r = _compiled.get(prog)
    if r is None:
        r = _compiled[prog] = _Runner(prog)
    return r


# A loop runs as one kernel: a scalar kernel (compile/loop_kernel.py) when its values are
# a few numbers, an array kernel (compile/array_kernel.py, numba only) when some value has
# ARRAY_KERNEL_SIZE numbers or more (its loops over elements vectorise) or the scalar kernel
# is longer than SCALAR_NATIVE_LINES (numba takes minutes over long straight-line code).
# Until numba has built it (in the background, soon) a scalar kernel runs as Python when its operations
# cost less than the body's NumPy calls (an operation costs ~KERNEL_OP_COST NumPy calls),
# else the loop runs one NumPy call per operation; without numba, only such a cheap Python
# kernel is used.
KERNEL_OP_COST = 1 / 25
ARRAY_KERNEL_SIZE = 16
SCALAR_NATIVE_LINES = 1000     # longer scalar kernels: numba builds the array kernel much faster
SCALAR_NATIVE_MAX = 4000       # and none longer than this, if Python is slower than NumPy
_loop_kernels = weakref.WeakKeyDictionary()


def _widest(prog):
    """The most numbers in one value of `prog`."""
    return max([int(np.prod(v.shape, dtype=np.int64)) for e in prog.eqns for v in e.outvars]
               + [int(np.prod(v.shape, dtype=np.int64)) for v in prog.invars], default=1)


def _kernel(key_prog, key, scalar, array, fallback, prog):
    """The kernel of a loop (made once per body and key), or None to run it op by op."""
    per = _loop_kernels.setdefault(key_prog, {})
    if key not in per:
        native = loop_kernel.numba_available()
        k, small = None, (scalar() if not native or array is None or _widest(prog) < ARRAY_KERNEL_SIZE
                          else False)          # False: not tried yet
        if native and array is not None and (not small or small.lines > SCALAR_NATIVE_LINES):
            k = array()
        if k is not None:
            k.fallback = fallback
        else:
            k = small if small is not False else scalar()
            if k is not None and k.ops * KERNEL_OP_COST > max(len(prog.eqns), 1):
                if native and k.lines <= SCALAR_NATIVE_MAX:   # op by op until numba has built it
                    k.fallback = fallback
                else:               # (numba would take minutes over it)
                    k = None
        per[key] = k
    return per[key]


def _scan_loop(run, n_consts, n_carry, reverse, length, *args):
    """The scan run one NumPy call per operation per iteration."""
    consts, carry, xs = _split(args, n_consts, n_carry)
    ys = [np.empty((length,) + s, d) for s, d in map(aval, run.prog.outvars[n_carry:])]
    for t in (range(length - 1, -1, -1) if reverse else range(length)):
        out = run(*consts, *carry, *[x[t] for x in xs])
        carry = out[:n_carry]
        for y, v in zip(ys, out[n_carry:]):
            y[t] = v
    return tuple(carry) + tuple(ys)


def _scan_impl(*args, body, n_consts, n_carry, length, reverse, checkpoint=None):
    run = runner(body)
    loop = functools.partial(_scan_loop, run, n_consts, n_carry, reverse)
    kernel = _kernel(body, (n_consts, n_carry, reverse),
                     lambda: loop_kernel.scan_kernel(run.prog, n_consts, n_carry, reverse),
                     lambda: array_kernel.scan_kernel(run.prog, n_consts, n_carry, reverse),
                     loop, run.prog)
    return (kernel or loop)(length, *args)


scan_p = Primitive("scan", _scan_impl, multiple_results=True)


def scan_bind(consts, carry, xs, body, length, reverse, checkpoint=None):
    """Bind `scan_p`; checkpoint: None (reverse mode saves every carry) or k >= 1 (every k-th)."""
    return scan_p.bind(*consts, *carry, *xs, body=body, n_consts=len(consts),
                       n_carry=len(carry), length=length, reverse=reverse, checkpoint=checkpoint)


def _scan_jvp(primals, tangents, params):
    body, nc, nk, L, rev = (params[k] for k in ("body", "n_consts", "n_carry", "length", "reverse"))
    consts, carry, xs = _split(primals, nc, nk)
    tc, tk, tx = _split(tangents, nc, nk)
    mc, mx = [t is not None for t in tc], [t is not None for t in tx]
    mk = _carry_fixpoint(lambda m: _tangent_flows(body, mc + m + mx)[:nk],
                         [t is not None for t in tk])
    my = _tangent_flows(body, mc + mk + mx)[nk:]
    ntc, ntk = sum(mc), sum(mk)

    def jvp_body(*ins):
        c, dc, k, dk, x, dx = _split(ins, nc, ntc, nk, ntk, len(xs))
        outs, touts = jvp_program(body, c + k + x, _expand(dc, mc) + _expand(dk, mk) + _expand(dx, mx))
        ko, yo = outs[:nk], outs[nk:]
        dko = [_or_zeros(t, o) for t, o, m in zip(touts[:nk], ko, mk) if m]
        dyo = [_or_zeros(t, o) for t, o, m in zip(touts[nk:], yo, my) if m]
        return ko + dko + yo + dyo

    dk_in = [_or_zeros(t, x) for t, x, m in zip(tk, carry, mk) if m]
    ex = ([example_value(a) for a in consts + _pick(tc, mc) + carry + dk_in]
          + [_slice_example(a) for a in xs + _pick(tx, mx)])
    prog = _stage_rule(jvp_body, ex)
    outs = scan_bind(consts + _pick(tc, mc), carry + dk_in, xs + _pick(tx, mx), prog, L, rev,
                     params.get("checkpoint"))
    ko, dko, yo, dyo = _split(outs, nk, ntk, len(my))
    return ko + yo, _expand(dko, mk) + _expand(dyo, my)


def _with_carries(body, nc, nk, ys=True):
    """The scan body that also returns, as ys, the carries it was given (and, with
    ys=False, none of its own ys: a recomputation needs only the carries)."""
    outs = body.outvars
    return Program(body.invars, body.eqns,
                   outs[:nk] + body.invars[nc:nc + nk] + (outs[nk:] if ys else []), [])


# Checkpointing (checkpoint=k): the forward pass is an outer scan over n // k segments
# (its body an inner scan of k steps) saving each segment's first carry, then a plain
# scan of the n % k leftover steps saving all of theirs.  The backward pass runs the
# leftover steps back, then an outer scan back over the segments whose body recomputes
# the segment's k carries (an inner forward scan) and runs its k backward steps.  Memory
# O(n/k + k) carries, one extra forward pass.  Under reverse=True the segments are the
# last rows of the xs.

def segment_length(checkpoint, n):
    """The k of a checkpoint policy (None, k or "sqrt") for a loop of n steps."""
    if isinstance(checkpoint, str):                    # "sqrt": k = ceil(sqrt(n))
        return math.isqrt(n - 1) + 1 if n else None
    return None if checkpoint is None else int(checkpoint)


def _rows(x, sl, seg=None):
    """Rows `sl` of x, as (m, k, ...) segments when seg=(m, k)."""
    n = shape_of(x)[0]
    if (sl.start, sl.stop) != (0, n):
        x = S.getitem(x, (sl,))
    return x if seg is None else S.reshape(x, tuple(seg) + tuple(shape_of(x)[1:]))


def _unseg(y):
    m, k, *rest = shape_of(y)
    return S.reshape(y, (m * k, *rest))


def _segments(n, k, rev):
    """(m, main rows, leftover rows): m segments of k steps, then the n % k leftover steps."""
    m, r = divmod(n, k)
    return (m, slice(r, n), slice(0, r)) if rev else (m, slice(0, m * k), slice(m * k, n))


def _join(main, rest, rev):
    """Per-step values of the segments and of the leftover steps, in row order."""
    if main is None or rest is None:
        return main if rest is None else rest
    return [S.concatenate([b, a] if rev else [a, b]) for a, b in zip(main, rest)]


def _scan_fwd(primals, params, argnums):
    body, nc, nk, L, rev = (params[x] for x in ("body", "n_consts", "n_carry", "length", "reverse"))
    k = params.get("checkpoint")
    if not k or not L:
        split = _residual_split(primals, params, argnums)
        if split is not None:
            fwd, info = split
            outs = scan_p.bind(*primals, **dict(params, body=fwd))
            n_out = len(body.outvars)
            return outs[:n_out], (info, list(outs[n_out:]))
        outs = scan_p.bind(*primals, **dict(params, body=_with_carries(body, nc, nk)))
        carry, saved, ys = _split(outs, nk, nk)
        return carry + ys, saved
    consts, carry, xs = _split(primals, nc, nk)
    m, main, rest = _segments(L, k, rev)
    seg_saved, ys_main, rest_saved, ys_rest = [], None, [], None
    if m:
        def segment(*ins):
            c, k0, x = _split(ins, nc, nk)
            outs = list(scan_bind(c, k0, x, body, k, rev))
            return outs[:nk] + k0 + outs[nk:]
        xseg = [_rows(x, main, (m, k)) for x in xs]
        ex = [example_value(a) for a in consts + carry] + [_slice_example(x) for x in xseg]
        outs = scan_bind(consts, carry, xseg, _stage_rule(segment, ex), m, rev)
        carry, seg_saved, ys_main = _split(outs, nk, nk)
        ys_main = [_unseg(y) for y in ys_main]
    if L - m * k:
        outs = scan_bind(consts, carry, [_rows(x, rest) for x in xs], _with_carries(body, nc, nk),
                         L - m * k, rev)
        carry, rest_saved, ys_rest = _split(outs, nk, nk)
    return carry + _join(ys_main, ys_rest, rev), (seg_saved, rest_saved)


def _bwd_program(body, nc, nk, nx, wc, wk, wx, my, examples):
    """The backward scan's body: one step's VJP (the step's forward recomputed), the
    carry cotangents carried and the const cotangents accumulated."""
    def bwd_body(*ins):
        c, ck, acc, k, x, gyt = _split(ins, nc, sum(wk), sum(wc), nk, nx)
        cts = vjp_program(body, c + k + x, wc + wk + wx, _expand(ck, wk) + _expand(gyt, my))
        ct_c, ct_k, ct_x = _split(cts, nc, nk)
        new_ck = [_or_zeros(t, v) for t, v, m in zip(ct_k, k, wk) if m]
        new_acc = [a if t is None else a + t for a, t in zip(acc, _pick(ct_c, wc))]
        return new_ck + new_acc + [_or_zeros(t, v) for t, v, m in zip(ct_x, x, wx) if m]
    return _stage_rule(bwd_body, examples)


def _scan_vjp(g, ans, primals, params, argnums):
    body, nc, nk, L, rev = (params[x] for x in ("body", "n_consts", "n_carry", "length", "reverse"))
    k = params.get("checkpoint")
    if type(params["residuals"]) is tuple and isinstance(params["residuals"][0], _Residuals):
        return _split_vjp(g, primals, params, argnums)
    consts, carry, xs = _split(primals, nc, nk)
    nx = len(xs)
    gk, gy = _split(list(g), nk)
    want = set(argnums)
    wc = [i in want and _inexact(c) for i, c in enumerate(consts)]
    wx = [nc + nk + j in want and _inexact(x) for j, x in enumerate(xs)]
    wk = [_inexact(c) for c in carry]                  # cotangents flow through every float carry
    my = [c is not None for c in gy]
    nwk, nwc = sum(wk), sum(wc)
    ck = [_or_zeros(t, c) for t, c, m in zip(gk, carry, wk) if m]
    acc = [_zeros(c) for c in _pick(consts, wc)]
    gys = _pick(gy, my)
    seg_saved, saved = params["residuals"] if k and L else ([], params["residuals"])
    m, main, rest = _segments(L, k, rev) if k and L else (0, None, slice(0, L))
    ex = ([example_value(a) for a in consts + ck + acc]
          + [_slice_example(a) for a in (saved or seg_saved) + xs + gys])
    bwd = _bwd_program(body, nc, nk, nx, wc, wk, wx, my, ex)
    ct_main = ct_rest = None
    if rest.stop > rest.start or not m:                # the steps run last run backward first
        outs = scan_bind(consts, ck + acc, saved + [_rows(a, rest) for a in xs + gys], bwd,
                         rest.stop - rest.start, not rev)
        ck, acc, ct_rest = _split(outs, nwk, nwc)
    if m:
        def segment(*ins):
            c, ck, acc, k0, x, gyt = _split(ins, nc, nwk, nwc, nk, nx)
            saved = list(scan_bind(c, k0, x, _with_carries(body, nc, nk, ys=False), k, rev)[nk:]) \
                if nk else []
            return scan_bind(c, ck + acc, saved + x + gyt, bwd, k, not rev)
        segs = [_rows(a, main, (m, k)) for a in xs + gys]
        ex = [example_value(a) for a in consts + ck + acc] + [_slice_example(a) for a in seg_saved + segs]
        outs = scan_bind(consts, ck + acc, seg_saved + segs, _stage_rule(segment, ex), m, not rev)
        ck, acc, ct_main = _split(outs, nwk, nwc)
        ct_main = [_unseg(c) for c in ct_main]
    cts = _expand(acc, wc) + _expand(ck, wk) + _expand(_join(ct_main, ct_rest, rev), wx)
    return [cts[i] for i in argnums]


# Residuals (no checkpoint): one step's joint forward-and-backward program is split by
# partial evaluation.  The forward scan runs its forward part and saves, per step, the
# values the backward part reads (the residuals); the backward scan runs only the
# backward part, without recomputing the step.  That pays when the step holds products
# (matmul, einsum) that cost more than writing and reading the residuals back; otherwise
# (elementwise steps: on the LSTM and Lorenz workloads recomputing was 1.05-2.5x faster,
# jit(grad) of both forms alternated in one process, one core) and when the residuals are
# much larger than the carries, the forward pass saves the carries and the backward pass
# recomputes each step (`_bwd_program`).

RESIDUAL_RATIO = 16       # residual elements per step allowed per carried/input element
RESIDUAL_SLACK = 4096     # ... plus this many
PRODUCT_FLOPS = 8         # product flops per step needed per residual element


def _product_flops(eqns):
    """Multiply-adds of a step's products: sqrt(|a| |b| |out|) for a contraction."""
    total = 0
    for e in eqns:
        if e.prim is LA.matmul_p or e.prim is LA.einsum_p:
            sizes = [math.prod(aval(a)[0]) for a in e.invars] + [math.prod(e.outvars[0].shape)]
            total += int(math.sqrt(math.prod(sizes))) if len(e.invars) == 2 else math.prod(sizes)
    return total


class _Residuals:
    """What the forward pass leaves the backward pass: the backward step's program and
    which inputs and outputs have cotangents."""

    __slots__ = ("bwd", "wc", "wk", "wx", "my", "ys")

    def __init__(self, bwd, wc, wk, wx, my, ys):
        self.bwd, self.wc, self.wk, self.wx, self.my, self.ys = bwd, wc, wk, wx, my, ys


_splits = weakref.WeakKeyDictionary()      # body -> {(wc, wx): the split, or None}


def _residual_split(primals, params, argnums):
    """(forward body, _Residuals) of a scan's reverse mode, or None to recompute.  It depends
    on the body and on which inputs have cotangents only, so it is made once per body."""
    body, nc, nk = params["body"], params["n_consts"], params["n_carry"]
    if not _product_flops(body.eqns):
        return None
    consts, carry, xs = _split(primals, nc, nk)
    want = set(argnums)
    wc = tuple(i in want and _inexact(c) for i, c in enumerate(consts))
    wx = tuple(nc + nk + j in want and _inexact(x) for j, x in enumerate(xs))
    per = _splits.setdefault(body, {})
    if (wc, wx) not in per:
        per[wc, wx] = _make_split(body, nc, nk, consts, carry, xs, list(wc), list(wx))
    return per[wc, wx]


def _make_split(body, nc, nk, consts, carry, xs, wc, wx):
    nx = len(xs)
    wk = [_inexact(c) for c in carry]
    ys = [aval(v) for v in body.outvars[nk:]]
    my = [np.issubdtype(dt, np.inexact) for _, dt in ys]

    def joint(*ins):
        c, k, x, ck, gyt = _split(ins, nc, nk, nx, sum(wk))
        outs, cts = vjp_program(body, c + k + x, wc + wk + wx, _expand(ck, wk) + _expand(gyt, my),
                                with_outputs=True)
        ct_c, ct_k, ct_x = _split(cts, nc, nk)
        return (outs + [_or_zeros(t, v) for t, v, m in zip(ct_k, k, wk) if m]
                + [_or_zeros(t, v) for t, v, m in zip(ct_c, c, wc) if m]
                + [_or_zeros(t, v) for t, v, m in zip(ct_x, x, wx) if m])
    ex_k = [example_value(a) for a in carry]
    ex = ([example_value(a) for a in consts] + ex_k + [_slice_example(a) for a in xs]
          + _pick(ex_k, wk) + [np.zeros(shp, dt) for (shp, dt), m in zip(ys, my) if m])
    joint_prog = optimize(_stage_rule(joint, ex))
    kinds = [SHARED] * nc + [KNOWN] * (nk + nx) + [LATER] * (sum(wk) + sum(my))
    fwd, bwd, res = partial_eval(joint_prog, kinds, len(body.outvars))
    size = sum(math.prod(v.shape) for v in res)
    budget = sum(math.prod(np.shape(a)) for a in ex[nc:nc + nk + nx])      # carries and xs of a step
    if size > RESIDUAL_RATIO * budget + RESIDUAL_SLACK or _product_flops(fwd.eqns) < PRODUCT_FLOPS * size:
        return None
    nres, nwk, nwc = len(res), sum(wk), sum(wc)

    def bwd_body(*ins):
        c, ck, acc, r, gyt = _split(ins, nc, nwk, nwc, nres)
        new_ck, ct_c, ct_x = _split(eval_program(bwd, c + r + ck + gyt), nwk, nwc)
        return new_ck + [a + t for a, t in zip(acc, ct_c)] + ct_x
    ex_b = ([example_value(a) for a in consts] + _pick(ex_k, wk) + [_zeros(a) for a in _pick(consts, wc)]
            + [np.zeros(v.shape, v.dtype) for v in res] + ex[nc + nk + nx + nwk:])
    return optimize(fwd), _Residuals(_stage_rule(bwd_body, ex_b), wc, wk, wx, my, ys)


def _split_vjp(g, primals, params, argnums):
    """Reverse mode of a scan whose forward pass saved residuals: one backward scan."""
    nc, nk, L, rev = (params[x] for x in ("n_consts", "n_carry", "length", "reverse"))
    info, res = params["residuals"]
    consts, carry, xs = _split(primals, nc, nk)
    gk, gy = _split(list(g), nk)
    ck = [_or_zeros(t, c) for t, c, m in zip(gk, carry, info.wk) if m]
    acc = [_zeros(c) for c in _pick(consts, info.wc)]
    gys = [np.zeros((L,) + tuple(shp), dt) if t is None else t
           for t, (shp, dt), m in zip(gy, info.ys, info.my) if m]
    outs = scan_bind(consts, ck + acc, res + gys, info.bwd, L, not rev)
    ck, acc, ct_x = _split(outs, sum(info.wk), sum(info.wc))
    cts = _expand(acc, info.wc) + _expand(ck, info.wk) + _expand(ct_x, info.wx)
    return [cts[i] for i in argnums]


def _scan_batch(args, bdims, body, n_consts, n_carry, length, reverse, checkpoint=None):
    size = next(shape_of(a)[d] for a, d in zip(args, bdims) if d is not None)
    consts, carry, xs = _split(args, n_consts, n_carry)
    dc, dk, dx = _split(bdims, n_consts, n_carry)
    bc, bx = [d is not None for d in dc], [d is not None for d in dx]
    bk = _carry_fixpoint(lambda m: flows(body, bc + m + bx, True)[:n_carry], [d is not None for d in dk])
    by = flows(body, bc + bk + bx, True)[n_carry:]
    consts = [c if d is None else _to_front(c, d) for c, d in zip(consts, dc)]
    carry = [(_to_front(k, d) if d is not None else S.broadcast_to(k, (size,) + tuple(shape_of(k))))
             if b else k for k, d, b in zip(carry, dk, bk)]
    xs = [x if d is None else _move(x, d, 1) for x, d in zip(xs, dx)]
    in_dims = [0 if b else None for b in bc + bk + bx]

    def batched_body(*ins):
        outs = vmap_program(body, ins, in_dims, size)
        return [o if b else _unbatched(o) for o, b in zip(outs, bk + by)]

    ex = [example_value(a) for a in consts + carry] + [_slice_example(x) for x in xs]
    prog = _stage_rule(batched_body, ex)
    outs = scan_bind(consts, carry, xs, prog, length, reverse, checkpoint)
    return list(outs), [0 if b else None for b in bk] + [1 if b else None for b in by]


def _unbatched(o):
    """Lane 0 of a value vmap_program broadcast although it does not depend on the batch."""
    return S.getitem(o, 0)


def _scan_taylor(series, body, n_consts, n_carry, length, reverse, checkpoint=None):
    K = len(series[0]) - 1
    nc, nk = n_consts, n_carry
    sc, sk, sx = _split(series, nc, nk)
    has = [any(t is not None for t in s[1:]) for s in series]
    mc, mk0, mx = _split(has, nc, nk)
    mk = _carry_fixpoint(lambda m: _tangent_flows(body, mc + m + mx)[:nk], mk0)
    my = _tangent_flows(body, mc + mk + mx)[nk:]

    def terms(s):
        return [_or_zeros(t, s[0]) for t in s[1:]]

    def jet_body(*ins):
        c, tc, k, tk, x, tx = _split(ins, nc, K * sum(mc), nk, K * sum(mk), len(sx))
        ser = _series(c, tc, mc, K) + _series(k, tk, mk, K) + _series(x, tx, mx, K)
        out = jet_program(body, ser, K)
        ko, yo = out[:nk], out[nk:]
        res = [s[0] for s in ko]
        res += [t for s, m in zip(ko, mk) if m for t in terms(s)]
        res += [s[0] for s in yo]
        res += [t for s, m in zip(yo, my) if m for t in terms(s)]
        return res

    tc_in = [t for s, m in zip(sc, mc) if m for t in terms(s)]
    tk_in = [t for s, m in zip(sk, mk) if m for t in terms(s)]
    tx_in = [t for s, m in zip(sx, mx) if m for t in terms(s)]
    prim_c, prim_k, prim_x = [s[0] for s in sc], [s[0] for s in sk], [s[0] for s in sx]
    ex = ([example_value(a) for a in prim_c + tc_in + prim_k + tk_in]
          + [_slice_example(a) for a in prim_x + tx_in])
    prog = _stage_rule(jet_body, ex)
    outs = scan_bind(prim_c + tc_in, prim_k + tk_in, prim_x + tx_in, prog, length, reverse, checkpoint)
    ko, tko, yo, tyo = _split(outs, nk, K * sum(mk), len(my))
    return _series(ko, tko, mk, K) + _series(yo, tyo, my, K)


def _series(prims, flat_terms, marks, K):
    it = iter(flat_terms)
    return [[p] + ([next(it) for _ in range(K)] if m else [None] * K) for p, m in zip(prims, marks)]


def _body_reads(body, outs):
    """(the body computing only `outs`, ids of the body inputs it reads)."""
    pruned = optimize(Program(body.invars, body.eqns, outs, body.guards))
    reads = {a.id for e in pruned.eqns for a in e.invars if isinstance(a, Var)}
    reads |= {v.id for v in outs if isinstance(v, Var)} | {g.var.id for g in pruned.guards}
    return pruned, reads


def _scan_dce(e, used):
    """The scan computing only the `used` outputs: the ys nothing reads go, then the carries
    that feed neither a used output nor a kept carry, then the inputs the body no longer
    reads (a linear step's backward pass, for one, needs none of the saved carries)."""
    p = e.params
    body, nc, nk = p["body"], p["n_consts"], p["n_carry"]
    keep = list(used)
    while True:
        outs = [v for v, m in zip(body.outvars, keep) if m]
        pruned, reads = _body_reads(body, outs)
        grown = [m or body.invars[nc + i].id in reads for i, m in enumerate(keep[:nk])]
        if grown == keep[:nk]:
            break
        keep[:nk] = grown
    keep_in = [v.id in reads for v in body.invars]
    keep_in[nc:nc + nk] = keep[:nk]
    if all(keep) and all(keep_in):
        return e
    new_body = Program(_pick(body.invars, keep_in), pruned.eqns, pruned.outvars, pruned.guards)
    params = dict(p, body=new_body, n_consts=sum(keep_in[:nc]), n_carry=sum(keep[:nk]))
    return Eqn(e.prim, _pick(e.invars, keep_in), _pick(e.outvars, keep), params)


dce_rules[scan_p] = _scan_dce
jvp_rules[scan_p] = _scan_jvp
vjp_fwd_rules[scan_p] = _scan_fwd
vjp_rules[scan_p] = _scan_vjp
batch_rules[scan_p] = _scan_batch
taylor_rules[scan_p] = _scan_taylor


# --------------------------------------------------------------- while ---

def _while_impl(*args, cond, body, n_cond_consts, n_body_consts, checkpoint=None):
    test, step = runner(cond), runner(body)
    loop = functools.partial(_while_loop, test, step, n_cond_consts, n_body_consts)
    kernel = _kernel(body, (cond, n_cond_consts, n_body_consts),
                     lambda: loop_kernel.while_kernel(test.prog, step.prog, n_cond_consts, n_body_consts),
                     lambda: array_kernel.while_kernel(test.prog, step.prog, n_cond_consts, n_body_consts),
                     loop, Program(step.prog.invars, test.prog.eqns + step.prog.eqns, [], []))
    return kernel(None, *args) if kernel is not None else loop(None, *args)


def _while_loop(test, step, n_cond_consts, n_body_consts, _, *args):
    """The while loop run one NumPy call per operation per iteration."""
    cc, bc, carry = _split(args, n_cond_consts, n_body_consts)
    while test(*cc, *carry)[0]:
        carry = step(*bc, *carry)
    return tuple(carry)


while_p = Primitive("while", _while_impl, multiple_results=True)


def while_bind(cond_consts, body_consts, carry, cond, body, checkpoint=None):
    """Bind `while_p`; checkpoint: None, k >= 1 or "sqrt", for the scan of its reverse mode."""
    return while_p.bind(*cond_consts, *body_consts, *carry, cond=cond, body=body,
                        n_cond_consts=len(cond_consts), n_body_consts=len(body_consts),
                        checkpoint=checkpoint)


def _while_jvp(primals, tangents, params):
    cond, body, ncc, nbc = (params[k] for k in ("cond", "body", "n_cond_consts", "n_body_consts"))
    cc, bc, carry = _split(primals, ncc, nbc)
    _, tb, tk = _split(tangents, ncc, nbc)
    nk = len(carry)
    mb = [t is not None for t in tb]
    mk = _carry_fixpoint(lambda m: _tangent_flows(body, mb + m), [t is not None for t in tk])
    ntb = sum(mb)

    def cond_j(*ins):
        c, k, _ = _split(ins, ncc, nk)
        return eval_program(cond, c + k)

    def body_j(*ins):
        b, db, k, dk = _split(ins, nbc, ntb, nk)
        outs, touts = jvp_program(body, b + k, _expand(db, mb) + _expand(dk, mk))
        return outs + [_or_zeros(t, o) for t, o, m in zip(touts, outs, mk) if m]

    dk_in = [_or_zeros(t, x) for t, x, m in zip(tk, carry, mk) if m]
    ex_k = [example_value(a) for a in carry + dk_in]
    cprog = _stage_rule(cond_j, [example_value(a) for a in cc] + ex_k)
    bprog = _stage_rule(body_j, [example_value(a) for a in bc + _pick(tb, mb)] + ex_k)
    outs = while_bind(cc, bc + _pick(tb, mb), carry + dk_in, cprog, bprog, params.get("checkpoint"))
    ko, dko = _split(outs, nk)
    return ko, _expand(dko, mk)


def _counting(cond, body, ncc, nbc):
    """cond and body over (count, *carry): the count of iterations run so far."""
    def cond_n(*ins):
        c, _, k = _split(ins, ncc, 1)
        return eval_program(cond, c + k)

    def body_n(*ins):
        b, (i,), k = _split(ins, nbc, 1)
        return [i + 1] + eval_program(body, b + k)
    return cond_n, body_n


def _while_fwd(primals, params, argnums):
    """Run the loop counting its trips, then again as a scan that saves every carry.  The
    trip count is read (under jit: a guard), so reverse mode has a fixed-length scan."""
    cond, body, ncc, nbc = (params[k] for k in ("cond", "body", "n_cond_consts", "n_body_consts"))
    cc, bc, carry = _split(primals, ncc, nbc)
    cond_n, body_n = _counting(cond, body, ncc, nbc)
    ex_k = [0] + [example_value(a) for a in carry]
    cprog = _stage_rule(cond_n, [example_value(a) for a in cc] + ex_k)
    bprog = _stage_rule(body_n, [example_value(a) for a in bc] + ex_k)
    n = int(while_bind(cc, bc, [0] + carry, cprog, bprog)[0])
    sparams = _as_scan(body, nbc, len(carry), n, params.get("checkpoint"))
    out, saved = _scan_fwd(bc + carry, sparams, [i - ncc for i in argnums if i >= ncc])
    return out, (n, saved)


def _as_scan(body, nbc, nk, n, checkpoint):
    return dict(body=body, n_consts=nbc, n_carry=nk, length=n, reverse=False,
                checkpoint=segment_length(checkpoint, n))


def _while_vjp(g, ans, primals, params, argnums):
    ncc, nbc = params["n_cond_consts"], params["n_body_consts"]
    n, saved = params["residuals"]
    nk = len(primals) - ncc - nbc
    sparams = dict(_as_scan(params["body"], nbc, nk, n, params.get("checkpoint")), residuals=saved)
    inner = [i - ncc for i in argnums if i >= ncc]
    cts = dict(zip(inner, _scan_vjp(g, None, primals[ncc:], sparams, inner)))
    return [cts.get(i - ncc) for i in argnums]


def _while_batch(args, bdims, cond, body, n_cond_consts, n_body_consts, checkpoint=None):
    ncc, nbc = n_cond_consts, n_body_consts
    size = next(shape_of(a)[d] for a, d in zip(args, bdims) if d is not None)
    cc, bc, carry = _split(args, ncc, nbc)
    dcc, dbc, dk = _split(bdims, ncc, nbc)
    mcc, mbc = [d is not None for d in dcc], [d is not None for d in dbc]
    nk = len(carry)
    mk = _carry_fixpoint(lambda m: flows(body, mbc + m, True), [d is not None for d in dk])
    lanes = flows(cond, mcc + mk, True)[0]          # does the predicate differ across lanes?
    if lanes:
        mk = [True] * nk                             # lanes stop at different trips
    cc = [c if d is None else _to_front(c, d) for c, d in zip(cc, dcc)]
    bc = [c if d is None else _to_front(c, d) for c, d in zip(bc, dbc)]
    carry = [(_to_front(k, d) if d is not None else S.broadcast_to(k, (size,) + tuple(shape_of(k))))
             if m else k for k, d, m in zip(carry, dk, mk)]
    cdims = [0 if m else None for m in mcc + mk]
    bdims_in = [0 if m else None for m in mbc + mk]

    def pred_of(c, k):
        (p,) = vmap_program(cond, c + k, cdims, size)
        return p if lanes else _unbatched(p)

    def cond_b(*ins):
        c, k = _split(ins, ncc)
        p = pred_of(c, k)
        return [R.any(p) if lanes else p]

    def body_b(*ins):
        c, b, k = _split(ins, ncc, nbc)
        new = vmap_program(body, b + k, bdims_in, size)
        new = [o if m else _unbatched(o) for o, m in zip(new, mk)]
        if not lanes:
            return new
        p = pred_of(c, k)
        return [_lane_where(p, n, o) for n, o in zip(new, k)]

    ex_k = [example_value(a) for a in carry]
    cprog = _stage_rule(cond_b, [example_value(a) for a in cc] + ex_k)
    bprog = _stage_rule(body_b, [example_value(a) for a in cc + bc] + ex_k)
    outs = while_bind(cc, cc + bc, carry, cprog, bprog, checkpoint)
    return list(outs), [0 if m else None for m in mk]


def _while_taylor(series, cond, body, n_cond_consts, n_body_consts, checkpoint=None):
    K = len(series[0]) - 1
    ncc, nbc = n_cond_consts, n_body_consts
    sc, sb, sk = _split(series, ncc, nbc)
    nk = len(sk)
    mb = [any(t is not None for t in s[1:]) for s in sb]
    mk = _carry_fixpoint(lambda m: _tangent_flows(body, mb + m),
                         [any(t is not None for t in s[1:]) for s in sk])

    def terms(s):
        return [_or_zeros(t, s[0]) for t in s[1:]]

    def cond_t(*ins):
        c, k, _ = _split(ins, ncc, nk)
        return eval_program(cond, c + k)

    def body_t(*ins):
        b, tb, k, tk = _split(ins, nbc, K * sum(mb), nk)
        out = jet_program(body, _series(b, tb, mb, K) + _series(k, tk, mk, K), K)
        return [s[0] for s in out] + [t for s, m in zip(out, mk) if m for t in terms(s)]

    prim_c, prim_b, prim_k = [s[0] for s in sc], [s[0] for s in sb], [s[0] for s in sk]
    tb_in = [t for s, m in zip(sb, mb) if m for t in terms(s)]
    tk_in = [t for s, m in zip(sk, mk) if m for t in terms(s)]
    ex_k = [example_value(a) for a in prim_k + tk_in]
    cprog = _stage_rule(cond_t, [example_value(a) for a in prim_c] + ex_k)
    bprog = _stage_rule(body_t, [example_value(a) for a in prim_b + tb_in] + ex_k)
    outs = while_bind(prim_c, prim_b + tb_in, prim_k + tk_in, cprog, bprog, checkpoint)
    ko, tko = _split(outs, nk)
    return _series(ko, tko, mk, K)


jvp_rules[while_p] = _while_jvp
vjp_fwd_rules[while_p] = _while_fwd
vjp_rules[while_p] = _while_vjp
batch_rules[while_p] = _while_batch
taylor_rules[while_p] = _while_taylor


__all__ = ["scan_p", "while_p", "stage_body", "scan_bind", "while_bind", "BodyReadsValue",
           "example_value", "NotStageable", "segment_length"]
