"""`jit`: stage once per input signature, optimise, generate Python source, cache.

Python control flow inside the function is kept: each concrete value it read
while staging becomes a guard, checked on every call; a call whose guards
fail is staged again (a new specialisation).  Past `max_specializations` per
signature, chainrule warns once and runs the function eagerly (still exact).
"""
from __future__ import annotations

import functools
import warnings

import numpy as np

from ..core import Tracer
from ..interpreters.staging import stage, NotStageable
from ..ir.optimize import optimize
from ..tree_util import tree_flatten, tree_unflatten
from . import codegen, scalar_llvm

codegen.register_all()

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
    return (t, np.shape(x), np.result_type(x).str)


class _Specialization:
    __slots__ = ("program", "fast", "safe", "source", "native")

    def __init__(self, program):
        self.program = program
        self.safe = None
        if scalar_llvm.eligible(program):        # long scalar program: one native function
            self.fast = self.safe = scalar_llvm.ScalarKernel(program, codegen.GuardMiss())
            self.source = self.fast.ir
            self.native = False                  # compiled already (LLVM at construction)
            return
        self.fast, self.source = codegen.compile_program(program, use_math=True)
        self.native = "_bad = " in self.source   # calls numba kernels, compiled on first use

    def __call__(self, leaves):
        try:
            return self.fast(*leaves)
        except _MATH_ERRORS:
            if self.safe is None:
                self.safe, _ = codegen.compile_program(self.program, use_math=False)
            with np.errstate(all="ignore"):
                return self.safe(*leaves)


class Jitted:
    """A function compiled per input signature; call it like the original."""

    def __init__(self, fun, static_argnums=(), max_specializations=8):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.static_argnums = ((static_argnums,) if isinstance(static_argnums, int)
                               else tuple(static_argnums))
        self.max_specializations = max_specializations
        self._cache = {}
        self._warned = False

    def _split(self, args, kwargs):
        static = []
        for i in self.static_argnums:
            if i >= len(args):
                raise TypeError(f"jit: static_argnums names argument {i}, but only {len(args)} were passed")
            try:
                hash(args[i])
            except TypeError:
                raise TypeError(f"jit: static argument {i} of type {type(args[i]).__name__} is not "
                                "hashable; static arguments are cache keys (pass a tuple, not a list "
                                "or array, or make it a dynamic argument)") from None
            static.append(args[i])
        dyn = tuple(a for i, a in enumerate(args) if i not in self.static_argnums)
        return tuple(static), dyn

    def __call__(self, *args, **kwargs):
        if not kwargs and not self.static_argnums and all(type(a) in _FAST_TYPES for a in args):
            leaves, key = args, tuple(map(_signature, args))    # the common case, kept short
        else:
            static, dyn = self._split(args, kwargs)
            leaves, tree = tree_flatten((dyn, kwargs))
            for x in leaves:
                if isinstance(x, Tracer):      # inside another transformation: evaluate through it
                    return self.fun(*args, **kwargs)
            key = (tree, static, tuple(map(_signature, leaves)))
        specs = self._cache.get(key)
        if specs:
            for spec in specs:
                try:
                    out = spec(leaves)
                except codegen.GuardMiss:
                    continue
                return tree_unflatten(spec.program.out_tree, list(out))
        else:
            specs = self._cache[key] = []
        if len(specs) >= self.max_specializations:
            if not self._warned:
                self._warned = True
                warnings.warn(f"jit({self.__name__}): Python control flow produced more than "
                              f"{self.max_specializations} specialisations for one input signature; "
                              "running it eagerly from now on (results stay exact)", stacklevel=2)
            return self.fun(*args, **kwargs)
        static, dyn = self._split(args, kwargs)
        try:
            prog, out = self._stage(static, dyn, kwargs)
        except NotStageable:
            return self.fun(*args, **kwargs)
        spec = _Specialization(prog)
        specs.insert(0, spec)
        if not spec.native:
            return out
        # native code compiles on its first call: make that this call, so a first call
        # costs what it really costs (and the kernels are checked at once)
        try:
            res = spec(leaves)
        except codegen.GuardMiss:
            return out
        return tree_unflatten(prog.out_tree, list(res))

    def _stage(self, static, dyn, kwargs):
        sset = self.static_argnums

        def flat_fun(dyn_args, kw):
            return self.fun(*_merge(dyn_args, static, sset), **kw)
        prog, out = stage(flat_fun, (dyn, kwargs))
        return optimize(prog), out

    def lower(self, *args, **kwargs):
        """The optimised program for these arguments."""
        static, dyn = self._split(args, kwargs)
        return self._stage(static, dyn, kwargs)[0]

    def source(self, *args, **kwargs):
        """The code chainrule generates for these arguments: Python source, or LLVM IR
        for a long scalar program compiled natively."""
        prog = self.lower(*args, **kwargs)
        if scalar_llvm.eligible(prog):
            return scalar_llvm.lower(prog)
        return codegen.generate(prog)[0]


def _merge(dyn, static, static_argnums):
    out, d, s = [], iter(dyn), iter(static)
    n = len(dyn) + len(static)
    for i in range(n):
        out.append(next(s) if i in static_argnums else next(d))
    return out


def jit(fun=None, static_argnums=(), max_specializations=8):
    """Compile `fun` per input signature (usable as ``@jit`` or ``jit(f, static_argnums=...)``)."""
    if fun is None:
        return lambda f: Jitted(f, static_argnums, max_specializations)
    return Jitted(fun, static_argnums, max_specializations)
