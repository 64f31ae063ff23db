"""Staging: run a function once on concrete values while recording a Program.

A staging tracer carries the concrete value it stands for, so shapes are
exact and Python control flow can read values: each read (`bool`, `int`,
`float`, an index) is recorded as a guard that the compiled program checks
on later calls, re-specialising when it does not hold.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import os
import warnings

import numpy as np

from ..core import Trace, Tracer, bind, new_level, shape_of, dtype_of, check_convertible
from ..ir.keys import freeze_params
from ..ir.optimize import effectful
from ..ir.program import Var, Const, Eqn, Guard, Program, snapshot, same_value
from ..tree_util import tree_flatten, tree_unflatten


_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class NotStageable(Exception):
    """Staging met a value it cannot record (a tracer of an enclosing transformation)."""


class StagingTracer(Tracer):
    __slots__ = ("primal", "ir_var")

    def __init__(self, trace, primal, var):
        self._trace, self.primal, self.ir_var = trace, primal, var

    def concrete(self):
        return self._trace.read(self, "value", self.primal)

    def __bool__(self):
        return self._trace.read(self, "bool", bool(self.primal))

    def __int__(self):
        return self._trace.read(self, "int", int(self.primal))

    def __index__(self):
        return self._trace.read(self, "int", int(np.asarray(self.primal).__index__()))

    def __float__(self):
        return self._trace.read(self, "float", float(self.primal))

    # Printing runs only while staging; a cached call skips it: say so, naming the line.
    def __str__(self):
        _warn_side_effect("printed or converted to str")
        return str(self.primal)

    def __repr__(self):
        _warn_side_effect("printed or converted with repr")
        return f"StagingTracer({self.primal!r})"

    def __format__(self, spec):
        _warn_side_effect("formatted")
        return format(self.primal, spec)


class SideEffectWarning(UserWarning):
    """A Python side effect inside a jitted function runs at staging only."""


def _warn_side_effect(what):
    import sys
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_PKG_DIR):
        frame = frame.f_back
    where = f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else "unknown line"
    warnings.warn(f"jit: a traced value was {what} at {where}; this runs only while the function "
                  "is staged, not on later (cached) calls. Return the value instead, or print "
                  "outside jit.", SideEffectWarning, stacklevel=3)


def _unchanged(a, s):
    """Whether array `a` still holds the values of its snapshot `s` (bit for bit)."""
    if (a.flags.c_contiguous and s.flags.c_contiguous and a.dtype == s.dtype and a.shape == s.shape
            and a.dtype.kind != "O" and a.nbytes % 8 == 0):
        return bool(np.array_equal(a.reshape(-1).view(np.uint64), s.reshape(-1).view(np.uint64)))
    return same_value(a, s)


# Python scalars' dtypes (as `dtype_of` gives them), by exact type
_PY_DTYPES = {float: np.dtype(np.float64), int: np.dtype(np.int64), bool: np.dtype(bool),
              complex: np.dtype(np.complex128)}
_NO_PARAMS = {}       # the parameters of every equation that has none (never modified)
RECORD_SIZE = 64      # results up to this size are kept for reuse while staging, larger ones
#                       computed again (a trace keeps no large intermediate alive)


def _small(v):
    return type(v) is not np.ndarray or v.size <= RECORD_SIZE


_reuse = contextvars.ContextVar("chainrule_staging_reuse", default=True)


@contextlib.contextmanager
def no_reuse():
    """Stage every equation anew inside this block: checkpoint's recomputation must stay a
    recomputation, not be merged with the forward pass it repeats (JAX's prevent_cse)."""
    token = _reuse.set(False)
    try:
        yield
    finally:
        _reuse.reset(token)


class StagingTrace(Trace):
    """jit's trace.  `region_pass`, when set, is the pass (loop rolling) a region staged
    for reverse mode goes through before it is differentiated (see `stage_region`)."""

    __slots__ = ("eqns", "guards", "n_vars", "consts", "region_pass", "recorded")
    tracer_type = StagingTracer
    stage_custom = None        # custom_call.stage_custom, used by CapturingTrace (jit's own
    #                            programs are only evaluated: they inline custom functions)

    def __init__(self, level, region_pass=None):
        super().__init__(level)
        self.eqns, self.guards, self.n_vars = [], [], 0
        self.consts = {}           # id(captured array) -> (array, its snapshot)
        self.region_pass = region_pass
        # (primitive, parameters, operand variables) -> (results, their variables): values and
        # variables only, not tracers (a tracer refers to its trace: a cycle)
        self.recorded = {}

    def new_var(self, value):
        self.n_vars += 1
        t = type(value)
        if t is np.ndarray or t is np.float64:       # the common cases, kept short
            return Var(self.n_vars, value.shape, value.dtype, False)
        dt = _PY_DTYPES.get(t)
        if dt is not None:                 # a Python scalar
            return Var(self.n_vars, (), dt, True)
        return Var(self.n_vars, shape_of(value), dtype_of(value), False)

    def new_input(self, value):
        return self.tracer_type(self, value, self.new_var(value))

    def read(self, tracer, kind, value):
        if self.done:
            raise self.leaked()
        self.guards.append(Guard(tracer.ir_var, kind, snapshot(value)))
        return value

    def const(self, a):
        """A captured array as it is now: programs keep values from staging time (as
        JAX does), so a later in-place change of the array does not reach them."""
        hit = self.consts.get(id(a))
        if hit is not None and _unchanged(a, hit[1]):
            return hit[1]              # unchanged since its last use: one copy per array
        s = self.consts[id(a)] = (a, snapshot(a))
        return s[1]

    def outer(self, a, p):
        """(value, var) for a tracer of an enclosing transformation met by `p`; jit cannot
        record one (a loop body's trace captures it as an input instead)."""
        raise NotStageable(p)

    def process(self, p, args, params):
        if self.done:
            raise self.leaked()
        values, invars, all_vars = [], [], True
        for a in args:
            if isinstance(a, Tracer):
                if a._trace is self:
                    values.append(a.primal)
                    invars.append(a.ir_var)
                    continue
                if a._trace.level >= self.level:
                    raise a._trace.leaked()
                value, var = self.outer(a, p)
                values.append(value)
                invars.append(var)
            else:
                all_vars = False
                if isinstance(a, np.ndarray):
                    a = self.const(a)
                values.append(a)
                invars.append(Const(a))
        if not params:
            params = _NO_PARAMS        # one shared empty dict: equations are many, keep them small
        else:
            for k, v in params.items():    # index arrays in parameters are captured values too
                t = type(v)
                if t is np.ndarray or (t is tuple and np.ndarray in map(type, v)):
                    params = {**params, k: self.const(v) if t is np.ndarray
                              else tuple(self.const(i) if type(i) is np.ndarray else i for i in v)}
        effect = p.multiple_results and getattr(p, "effect", False)
        tracer, key = self.tracer_type, None
        if all_vars and not (p.multiple_results and effectful(p, params)) and _reuse.get():
            # the same primitive on the same variables again (y[0] read twice): its results
            key = (p, freeze_params(params) if params else (), *invars)
            hit = self.recorded.get(key)
            if hit is not None:
                outs, outvars = hit
                if outs is None:           # a large value, not kept: computed again
                    outs = p.impl(*values, **params)
                if p.multiple_results:
                    return tuple([tracer(self, o, v) for o, v in zip(outs, outvars)])
                return tracer(self, outs, outvars)
        # an effect (debug.print) runs when the program runs, not while it is staged
        out = () if effect else p.impl(*values, **params)
        if p.multiple_results:
            outs = tuple([tracer(self, o, self.new_var(o)) for o in out])
            self.eqns.append(Eqn(p, invars, [t.ir_var for t in outs], params))
            if key is not None:
                self.recorded[key] = (out if all(map(_small, out)) else None, [t.ir_var for t in outs])
            return outs
        t = tracer(self, out, self.new_var(out))
        self.eqns.append(Eqn(p, invars, [t.ir_var], params))
        if key is not None:
            self.recorded[key] = (out if _small(out) else None, t.ir_var)
        return t


def stage(f, args, kwargs=None, region_pass=None):
    """Run `f(*args)` once, recording a Program (args and outputs may be pytrees).

    Returns (program, outputs); outputs are the concrete values of this run.
    """
    leaves, in_tree = tree_flatten(tuple(args))
    with new_level() as level:
        trace = StagingTrace(level, region_pass)
        try:
            tracers = [trace.new_input(x) for x in leaves]
            out = f(*tree_unflatten(in_tree, tracers), **(kwargs or {}))
            out_leaves, out_tree = tree_flatten(out)
            outvars, values = [], []
            for o in out_leaves:
                if isinstance(o, StagingTracer) and o._trace is trace:
                    outvars.append(o.ir_var)
                    values.append(o.primal)
                elif isinstance(o, Tracer):
                    raise NotStageable("output")
                else:
                    outvars.append(Const(trace.const(o) if isinstance(o, np.ndarray) else o))
                    values.append(o)
        finally:
            trace.done = True
    prog = Program([t.ir_var for t in tracers], trace.eqns, outvars, trace.guards, in_tree, out_tree)
    return prog, tree_unflatten(out_tree, values)


def make_ir(f, static_argnums=()):
    """``make_ir(f)(*args)``: the staged program of f at these arguments (like make_jaxpr)."""
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    def staged(*args):
        dyn = [a for i, a in enumerate(args) if i not in static]

        def g(*dyn_args):
            it = iter(dyn_args)
            return f(*[a if i in static else next(it) for i, a in enumerate(args)])
        return stage(g, dyn)[0]
    return staged


def eval_program(prog, leaves, replay_guards=False):
    """Evaluate a program with `bind`, so enclosing transformations see each equation.

    With `replay_guards`, each guard of the program is recorded again, by the staging
    trace under the value it was read from (a region's guards become the jitted
    program's: see `stage_region`)."""
    env = {}
    guards = {}
    if replay_guards:
        for g in prog.guards:
            guards.setdefault(g.var.id, []).append(g)
    for v, x in zip(prog.invars, leaves):
        env[v.id] = x
        for g in guards.get(v.id, ()):
            _replay(x, g)

    def read(a):
        return a.value if isinstance(a, Const) else env[a.id]
    for e in prog.eqns:
        out = bind(e.prim, *[read(a) for a in e.invars], **e.params)
        if e.prim.multiple_results:
            for v, o in zip(e.outvars, out):
                env[v.id] = o
        else:
            env[e.outvars[0].id] = out
        if guards:
            for v in e.outvars:
                for g in guards.get(v.id, ()):
                    _replay(env[v.id], g)
    return [read(v) for v in prog.outvars]


def _replay(x, g):
    while isinstance(x, Tracer) and not isinstance(x, StagingTracer):
        x = x.primal
    if isinstance(x, StagingTracer):     # (a constant reads the same on every call)
        x._trace.read(x, g.kind, g.value)


# ------------------------------------------------- regions for reverse mode ---
#
# `grad` under `jit` would stage the forward pass and the whole reverse pass of a Python
# loop, one copy per iteration, and only then roll them.  Instead, reverse mode under jit
# first stages the function alone (a *region*), lets jit's pass roll its loops, and then
# differentiates the rolled program: the reverse pass of a rolled loop is one scan, never
# unrolled.  A region that meets a tracer of another transformation is abandoned, and
# the function runs under reverse mode as it is.

class _Abandon(Exception):
    """This region cannot be staged alone; differentiate the function directly."""


class RegionTracer(StagingTracer):
    """A region's value: it depends on the inputs being differentiated."""

    __slots__ = ()
    _carries_derivative = True

    def __float__(self):
        check_convertible(self, "float() (or a math function, np.float64(x), a[i] = x)")
        return StagingTracer.__float__(self)


class CapturingTrace(StagingTrace):
    """Stages a program of its own inside other transformations: a tracer of an enclosing
    transformation it meets becomes one more input (closure conversion; `captured` lists
    (tracer, variable) pairs), and a custom_jvp/custom_vjp call is one `custom_call` equation
    (`stage_custom`, installed by chainrule.custom_call), so its rule, not its body, is what
    a transformation of the program differentiates.  Loop bodies and regions are these."""

    __slots__ = ("captured", "_by_id")

    def __init__(self, level, region_pass=None):
        super().__init__(level, region_pass)
        self.captured, self._by_id = [], {}

    def outer_value(self, a):
        """The concrete value standing for outer tracer `a` while this program is staged."""
        raise NotImplementedError

    def outer(self, a, p=None):
        entry = self._by_id.get(id(a))
        if entry is None:
            value = self.outer_value(a)
            entry = self._by_id[id(a)] = (value, self.new_var(value))
            self.captured.append((a, entry[1]))
        return entry

    def process_custom_jvp(self, custom, args):
        return self.stage_custom(self, custom, args)

    process_custom_vjp = process_custom_jvp


class RegionTrace(CapturingTrace):
    """Stages a region: tracers of the enclosing staging trace become inputs.  A result
    carries a derivative (a `RegionTracer`) when an argument does and the primitive is
    differentiable, as under reverse mode itself."""

    __slots__ = ("parent", "tracer_type")

    def __init__(self, level, parent):
        super().__init__(level, parent.region_pass)
        self.parent, self.tracer_type = parent, RegionTracer

    def process(self, p, args, params):
        self.tracer_type = StagingTracer
        if not p.nondiff:
            for a in args:
                if type(a) is RegionTracer:
                    self.tracer_type = RegionTracer
                    break
        return StagingTrace.process(self, p, args, params)

    def outer_value(self, a):
        if not (isinstance(a, StagingTracer) and a._trace is self.parent):
            raise _Abandon
        return a.primal


def output_vars(trace, outs):
    """The program operands of a staged function's outputs: its own variables, captured outer
    tracers (trace.outer), constants; a tracer of a deeper, finished level has leaked."""
    outvars = []
    for o in outs:
        if isinstance(o, StagingTracer) and o._trace is trace:
            outvars.append(o.ir_var)
        elif isinstance(o, Tracer):
            if o._trace.level >= trace.level:
                raise o._trace.leaked("output")
            outvars.append(trace.outer(o)[1])
        else:
            outvars.append(Const(o))
    return outvars


def stage_region(fun, leaves):
    """``fun(leaves) -> pytree`` as a function of the same leaves that evaluates the
    region's program after the enclosing jit's `region_pass`; None when that does not
    apply (not directly under jit) or the region is abandoned."""
    parent = None
    for x in leaves:
        if isinstance(x, Tracer):
            if not isinstance(x, StagingTracer) or parent not in (None, x._trace):
                return None
            parent = x._trace
    if parent is None or parent.region_pass is None or parent.done:
        return None
    with new_level() as level:
        trace = RegionTrace(level, parent)
        try:
            ins = [trace.new_input(x.primal if isinstance(x, StagingTracer) else x) for x in leaves]
            out_leaves, out_tree = tree_flatten(fun(ins))
            outvars = output_vars(trace, out_leaves)
        except _Abandon:
            return None
        finally:
            trace.done = True
    captured = [a for a, _ in trace.captured]
    prog = Program([v for _, v in trace.captured] + [t.ir_var for t in ins], trace.eqns, outvars,
                   trace.guards, None, out_tree)
    prog = parent.region_pass(prog)
    return lambda tracers: tree_unflatten(out_tree, eval_program(prog, captured + list(tracers), True))


class Interpreter:
    """A program evaluated equation by equation with each primitive's implementation (what
    eager code runs), checking its guards as compiled code does: a failed one raises
    `miss`.  Arrays are dropped after their last use.  jit's tier for programs too long
    to compile; ``interpreter(*leaves)`` returns the list of outputs."""

    __slots__ = ("prog", "miss", "guards", "drops")

    def __init__(self, prog, miss):
        self.prog, self.miss = prog, miss
        self.guards = {}
        for g in prog.guards:
            self.guards.setdefault(g.var.id, []).append(g)
        keep = {v.id for v in prog.outvars if isinstance(v, Var)} | set(self.guards)
        last = {}
        for i, e in enumerate(prog.eqns):
            for a in e.invars:
                if isinstance(a, Var) and a.shape != () and a.id not in keep:
                    last[a.id] = i
        self.drops = {}
        for vid, i in last.items():
            self.drops.setdefault(i, []).append(vid)

    def check(self, g, x):
        kind, v = g.kind, g.value
        if kind == "bool":
            ok = bool(x) == bool(v)
        elif kind == "int":
            ok = int(x) == v
        elif kind == "float":             # 0.0 and -0.0 differ; NaN matches NaN
            x, v = float(x), float(v)
            ok = (x != x) if v != v else (x == v and math.copysign(1.0, x) == math.copysign(1.0, v))
        else:
            ok = same_value(x, v)
        if not ok:
            raise self.miss

    def __call__(self, *leaves):
        prog, guards, drops = self.prog, self.guards, self.drops
        env = {}
        for v, x in zip(prog.invars, leaves):
            env[v.id] = x
            for g in guards.get(v.id, ()):
                self.check(g, x)
        for i, e in enumerate(prog.eqns):
            out = e.prim.impl(*[env[a.id] if type(a) is Var else a.value for a in e.invars], **e.params)
            outvars = e.outvars
            if e.prim.multiple_results:
                for v, o in zip(outvars, out):
                    env[v.id] = o
            else:
                env[outvars[0].id] = out
            if guards:
                for v in outvars:
                    for g in guards.get(v.id, ()):
                        self.check(g, env[v.id])
            dead = drops.get(i)
            if dead:
                for vid in dead:
                    del env[vid]
        return [env[v.id] if isinstance(v, Var) else v.value for v in prog.outvars]


__all__ = ["stage", "make_ir", "eval_program", "stage_region", "Interpreter", "NotStageable",
           "StagingTracer", "CapturingTrace"]
