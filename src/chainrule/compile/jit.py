"""`jit`: stage once per input signature, optimise, generate Python source, cache.

Python control flow inside the function is kept: each concrete value it read
while staging becomes a guard, checked on every call; a call whose guards
fail is staged again (a new specialisation).  Past `max_specializations` per
signature, chainrule warns once and runs that signature eagerly from then on
(still exact).  Guards compare floats by value and sign (0.0 is not -0.0) and
keep copies of what they compare against.  Arrays the function captures are
copied when it is staged, and every call returns arrays of its own.

Compile time is linear in the length of the staged program: long programs are cut into
chunks (LLVM functions, Python functions), and one longer than `codegen.MAX_EQNS` (and
not native-compilable) is evaluated equation by equation, with a `ProgramSizeWarning`.
"""
from __future__ import annotations

import contextlib
import functools
import gc
import inspect
import sys
import threading
import warnings

import numpy as np

from ..core import Tracer
from ..interpreters.staging import stage, Interpreter, NotStageable
from ..ir.optimize import optimize, has_effect
from ..tree_util import tree_flatten, tree_unflatten, unregistered_hint
from . import codegen, loop_kernel, scalar_llvm
from .roll import roll, has_loops
from .segments import kernel_segments


_MATH_ERRORS = (ValueError, OverflowError, ZeroDivisionError)
_FAST_TYPES = {float, np.ndarray, np.float64}


def _signature(x):
    t = type(x)
    if t is np.ndarray:
        return (x.shape, x.dtype.str)
    if t in (float, int, bool, complex):
        return t
    if isinstance(x, np.generic):
        return (t, ())
    if isinstance(x, (str, bytes)) or callable(x):
        raise _NotAnArray(x)
    try:
        dt = np.asarray(x).dtype
    except Exception:
        dt = np.dtype(object)
    if dt.kind in "OSUV":
        raise _NotAnArray(x)
    return (t, np.shape(x), dt.str)


class _NotAnArray(Exception):
    """A dynamic argument of jit that is neither an array nor a number."""


def _not_an_array_error(bad, args, kwargs, jitted):
    """The TypeError for a dynamic argument `bad` that jit cannot trace: what to do instead."""
    where, fix = "", ""
    params = jitted._params or []
    for i, a in enumerate(args):
        if any(x is bad for x in tree_flatten(a)[0]):
            where = f"argument {i}" + (f" ({params[i]!r})" if i < len(params) else "")
            fix = f"jit(f, static_argnums=({i},))" + (
                f" or jit(f, static_argnames=({params[i]!r},))" if i < len(params) else "")
            break
    for k, a in kwargs.items():
        if not where and any(x is bad for x in tree_flatten(a)[0]):
            where, fix = f"argument {k!r}", f"jit(f, static_argnames=({k!r},))"
    name = type(bad).__name__
    if isinstance(bad, (str, bytes)) or callable(bad):
        name = name if isinstance(bad, (str, bytes)) else f"function ({name})"
        return TypeError(f"jit({jitted.__name__}): {where} is a {name}, not an array or a number, so it "
                         f"cannot be traced; mark it static: {fix} (each value then gets its "
                         "own compiled specialisation)")
    return TypeError(f"jit({jitted.__name__}): {where} is a {name}, which is neither an array nor a "
                     f"registered pytree; {unregistered_hint(bad)}; or, if it holds no arrays and is "
                     f"hashable, mark it static: {fix}")


def _positional_names(fun):
    """Names of fun's positional parameters, in order (None if its signature is unknown)."""
    try:
        ps = inspect.signature(fun).parameters.values()
    except (TypeError, ValueError):
        return None
    return [p.name for p in ps if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _hashable(v, which):
    try:
        hash(v)
    except TypeError:
        raise TypeError(f"jit: static argument {which} of type {type(v).__name__} is not "
                        "hashable; static arguments are cache keys (pass a tuple, not a list "
                        "or array, or make it a dynamic argument)") from None
    return v


class ProgramSizeWarning(RuntimeWarning):
    """A staged program is too long to compile: jit evaluates it equation by equation."""


def _interpreted(prog):
    """Is `prog` too long to compile (jit then interprets it)?"""
    return len(prog.eqns) > codegen.MAX_EQNS and not scalar_llvm.eligible(prog)


class _Interpreted:
    """The tier of programs too long to compile: the optimised program, evaluated equation
    by equation (exact: each primitive's implementation, as eager code)."""

    def __init__(self, prog):
        self._run = Interpreter(prog, codegen.GuardMiss())
        self._modes = [getattr(codegen, f"_{m}") if m else None for m in codegen.output_modes(prog)]

    def __call__(self, *leaves):
        return tuple(o if m is None else m(o) for o, m in zip(self._run(*leaves), self._modes))


class _Specialization:
    __slots__ = ("program", "fast", "safe", "source", "native")

    def __init__(self, program):
        self.program = program
        self.safe = None
        if scalar_llvm.eligible(program):        # long scalar program: native functions
            self.fast = self.safe = scalar_llvm.ScalarKernel(program, codegen.GuardMiss())
            self.source = self.fast.ir
            self.native = False                  # compiled already (LLVM at construction)
            return
        if _interpreted(program):                # too long to compile (jit has warned)
            self.fast = self.safe = _Interpreted(program)
            self.source, self.native = "", False
            return
        self.fast, self.source = codegen.compile_program(program, use_math=True)
        # numba-fused regions compile on first use: make that the first call (loop kernels
        # build in the background instead: the staging run's values serve the first call)
        self.native = codegen.calls_fused_kernels(self.fast)

    def __call__(self, leaves):
        try:
            return self.fast(*leaves)
        except _MATH_ERRORS:
            if self.safe is None:
                self.safe, _ = codegen.compile_program(self.program, use_math=False)
            return self.safe(*leaves)      # NumPy's inf/nan, and its warnings, as eager code


_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved = None
_NO_FULL = 1 << 30


@contextlib.contextmanager
def _young_collections_only():
    """Staging, optimising and generating code for a long program make millions of objects
    that all stay alive; Python's full garbage collections would walk all of them again
    each time their number grew by a quarter (most of the compile time of a long program).
    Inside this block only young collections run, so the garbage cycles a function makes
    while it is staged are still freed; the thresholds are restored when the last
    concurrent block ends (unless someone else changed them meanwhile)."""
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            if _gc_saved[0]:
                gc.set_threshold(_gc_saved[0], _gc_saved[1], _NO_FULL)
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0 and _gc_saved[0] and gc.get_threshold() == (_gc_saved[0], _gc_saved[1], _NO_FULL):
                gc.set_threshold(*_gc_saved)


def _size_warning(name, prog):
    warnings.warn(
        f"jit({name}): the staged program has {len(prog.eqns)} equations, more than jit "
        f"compiles (codegen.MAX_EQNS = {codegen.MAX_EQNS}); it is evaluated equation by equation "
        "instead (results stay exact, each call is slower). A program this long usually "
        "comes from a Python loop unrolled while staging: write the loop with cr.fori_loop "
        "or cr.scan, so it stays one loop equation", ProgramSizeWarning, stacklevel=3)


CACHE_SIZE = 64       # input signatures a jitted function keeps (the least recently used go first)
_EAGER = ()           # in place of the specialisations of a signature that runs eagerly


class Jitted:
    """A function compiled per input signature; call it like the original."""

    def __init__(self, fun, static_argnums=(), max_specializations=8, static_argnames=(),
                 donate_argnums=()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.donate_argnums = _donated(donate_argnums)     # accepted, reused never (see jit)
        nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
        names = (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)
        self._params = params = _positional_names(fun)
        if params is not None:          # a static argument may be passed by position or by name
            names += tuple(params[i] for i in nums if 0 <= i < len(params) and params[i] not in names)
            nums += tuple(i for i, n in enumerate(params) if n in names and i not in nums)
        self.static_argnums = tuple(sorted(set(nums)))
        self.static_argnames = frozenset(names)
        self.max_specializations = max_specializations
        self._cache = {}               # signature -> specialisations, least recently used first
        self._warned = False

    def _split(self, args, kwargs):
        """(static values: a cache key, dynamic positional arguments, dynamic keywords)."""
        static = []
        for i in self.static_argnums:
            if i < len(args):
                static.append(_hashable(args[i], i))
            elif self._params is None or i >= len(self._params):
                raise TypeError(f"jit: static_argnums names argument {i}, but only {len(args)} were passed")
        nums = self.static_argnums
        dyn = tuple(a for i, a in enumerate(args) if i not in nums) if nums else args
        if not kwargs or not self.static_argnames:
            return (tuple(static), ()), dyn, kwargs
        names = self.static_argnames
        skw = tuple(sorted((k, _hashable(v, repr(k))) for k, v in kwargs.items() if k in names))
        return (tuple(static), skw), dyn, {k: v for k, v in kwargs.items() if k not in names}

    def __call__(self, *args, **kwargs):
        if not kwargs and not self.static_argnums and all(type(a) in _FAST_TYPES for a in args):
            leaves, key = args, tuple(map(_signature, args))    # the common case, kept short
        else:
            static, dyn, dkw = self._split(args, kwargs)
            leaves, tree = tree_flatten((dyn, dkw))
            for x in leaves:
                if isinstance(x, Tracer):      # inside another transformation: evaluate through it
                    return self.fun(*args, **kwargs)
            try:
                key = (tree, static, tuple(map(_signature, leaves)))
            except _NotAnArray as e:
                raise _not_an_array_error(e.args[0], args, kwargs, self) from None
        cache = self._cache
        specs = cache.get(key)
        if specs:
            if len(cache) > 1:
                cache[key] = cache.pop(key, specs)   # most recently used last
            for spec in specs:
                try:
                    out = spec(leaves)
                except codegen.GuardMiss:
                    continue
                return tree_unflatten(spec.program.out_tree, list(out))
            if len(specs) >= self.max_specializations:
                cache[key] = _EAGER          # from now on straight to eager code
                if not self._warned:
                    self._warned = True
                    warnings.warn(f"jit({self.__name__}): Python control flow produced more than "
                                  f"{self.max_specializations} specialisations for one input signature; "
                                  "running it eagerly from now on (results stay exact)", stacklevel=2)
                return self.fun(*args, **kwargs)
        elif specs is None:
            specs = cache[key] = []
            if len(cache) > CACHE_SIZE:
                cache.pop(next(iter(cache)), None)   # the least recently used
        elif specs is _EAGER:
            return self.fun(*args, **kwargs)
        static, dyn, dkw = self._split(args, kwargs)
        try:
            prog, out = self._stage(static, dyn, dkw)
        except NotStageable:
            return self.fun(*args, **kwargs)
        if _interpreted(prog):
            _size_warning(self.__name__, prog)
        with _young_collections_only():
            spec = _Specialization(prog)
        specs.insert(0, spec)
        if not spec.native and not any(e.prim.multiple_results and has_effect(e) for e in prog.eqns):
            return tree_unflatten(prog.out_tree, _detach(tree_flatten(out)[0], prog, leaves))
        # (a program with an effect, debug.print, runs at once too: staging ran no effect)
        # native code compiles on its first call: make that this call, so a first call
        # costs what it really costs (and the kernels are checked at once)
        try:
            res = spec(leaves)
        except codegen.GuardMiss:
            return tree_unflatten(prog.out_tree, _detach(tree_flatten(out)[0], prog, leaves))
        return tree_unflatten(prog.out_tree, list(res))

    def _stage(self, static, dyn, kwargs):
        (spos, skw), nums = static, self.static_argnums

        def flat_fun(dyn_args, kw):
            return self.fun(*_merge(dyn_args, spos, nums), **kw, **dict(skw))
        from ..random import np_random_warnings     # np.random while staging: warn (issue 18)
        with _young_collections_only():
            with loop_kernel.staging_run(), np_random_warnings():
                prog, out = stage(flat_fun, (dyn, kwargs), region_pass=_roll_loops)
            prog = _roll_loops(prog)
            prog = optimize(prog)
            if has_loops(prog):          # the straight-line code around loops: kernels too
                prog = kernel_segments(prog)
        return prog, out

    def __getstate__(self):
        """Pickle without the compiled specialisations (generated code, numba kernels, guard
        snapshots): they belong to this process, so the unpickled function stages and
        compiles again on its first call (in the process that unpickles it)."""
        state = self.__dict__.copy()
        state["_cache"], state["_warned"] = {}, False
        return state

    def __reduce_ex__(self, protocol):
        # a module-level ``@jit def f`` pickles by name (plain pickle cannot pickle `fun`, whose
        # name now means this object); anything else, and __main__, by value without caches
        if _importable_as(self, getattr(self, "__module__", None), getattr(self, "__qualname__", "")):
            return self.__qualname__
        return super().__reduce_ex__(protocol)

    def lower(self, *args, **kwargs):
        """The optimised program for these arguments."""
        return self._stage(*self._split(args, kwargs))[0]

    def source(self, *args, **kwargs):
        """The code chainrule generates for these arguments: Python source, or LLVM IR
        for a long scalar program compiled natively."""
        prog = self.lower(*args, **kwargs)
        if scalar_llvm.eligible(prog):
            return scalar_llvm.lower(prog)
        if _interpreted(prog):
            return (f"# {len(prog.eqns)} equations (more than codegen.MAX_EQNS = {codegen.MAX_EQNS}): "
                    "jit evaluates this program equation by equation\n")
        return codegen.generate(prog)[0]


def _importable_as(obj, module, qualname):
    """Is `obj` what `module.qualname` names, in a module another process can import (and
    one not registered with cloudpickle.register_pickle_by_value)?"""
    if not module or module == "__main__" or "<locals>" in qualname:
        return False
    by_value = getattr(getattr(sys.modules.get("cloudpickle"), "cloudpickle", None), "_PICKLE_BY_VALUE_MODULES", ())
    if any(module == m or module.startswith(m + ".") for m in by_value):
        return False
    found = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found is obj


def _roll_loops(prog):
    """`prog` with its loops rolled, unless a long scalar program runs best straight-line."""
    return prog if scalar_llvm.eligible(prog) else roll(prog)


def _detach(outs, prog, leaves):
    """The staging run's outputs, each one the caller may change in place: copies of those
    that may share memory with an input or a constant, or are read-only."""
    modes = codegen.output_modes(prog)
    arrays = [x for x in leaves if isinstance(x, np.ndarray)]
    return [o.copy() if isinstance(o, np.ndarray) and (
        m or not o.flags.writeable or any(np.may_share_memory(o, x) for x in arrays)) else o
        for o, m in zip(outs, modes)]


def _merge(dyn, static, static_argnums):
    out, d, s = [], iter(dyn), iter(static)
    n = len(dyn) + len(static)
    for i in range(n):
        out.append(next(s) if i in static_argnums else next(d))
    return out


def _donated(donate_argnums):
    nums = (donate_argnums,) if isinstance(donate_argnums, (int, np.integer)) else tuple(donate_argnums)
    if any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) for i in nums):
        raise TypeError(f"jit: donate_argnums={donate_argnums!r} must be an int or a tuple of ints")
    return tuple(int(i) for i in nums)


def jit(fun=None, static_argnums=(), max_specializations=8, static_argnames=(), donate_argnums=()):
    """Compile `fun` per input signature (usable as ``@jit`` or ``jit(f, static_argnums=...)``).

    Arguments named by `static_argnums` (positions) or `static_argnames` (names; either
    form covers an argument passed by position or by keyword) are cache keys, not traced:
    strings, callables and other hashable non-arrays go there.  Each call returns arrays
    of its own, which the caller may change in place.  Arrays the function captures (a
    closure, a global) are read when it is staged: later in-place changes to them are not
    seen, as in JAX; pass an array as an argument when it changes.  A jitted function keeps
    `CACHE_SIZE` (64) input signatures, dropping the least recently used, and at most
    `max_specializations` guard outcomes per signature, then runs eagerly for that signature.
    `donate_argnums` is accepted for JAX compatibility and is a no-op: chainrule never
    reuses an argument's memory, so a donated array stays valid and unchanged.
    """
    if fun is None:
        return lambda f: Jitted(f, static_argnums, max_specializations, static_argnames, donate_argnums)
    return Jitted(fun, static_argnums, max_specializations, static_argnames, donate_argnums)
