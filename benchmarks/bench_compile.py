"""Compile time of `jit` on long straight-line scalar programs, phase by phase.

    python benchmarks/bench_compile.py [--sizes 1e3,1e4,1e5] [--million] [--no-grad]
                                       [--max-llvm N] [--max-python N] [--max-jit N] [--profile PHASE]

The program: ``for i in range(N // 5): x = u(x) * 1.0001 + 0.001 * w(x)`` with x a float
and u, w a fixed pseudo-random choice of sin, cos, tanh per step (five primitives per
step, fewer where u = w and CSE merges them; not periodic, so nothing rolls it into a
loop), and its `cr.grad`.  For each N, each phase is
timed once from scratch and reported in total seconds and microseconds per staged
equation: staging, optimize, the LLVM tier (IR text, then parse + verify + machine
code), the Python tier (source generation, `compile()`, `exec`), and a fresh
`cr.jit` function's first call (what a user waits for, whichever tier jit picks).
`--million` adds N = 1e6 for the plain function only.  Phases above `--max-llvm` /
`--max-python` / `--max-jit` staged equations are skipped (they were minutes long before the compile-scale
work).  `--profile PHASE` prints the top cProfile entries of that phase at the largest
size.  `--pin K` pins the process to CPU K (none by default: on a shared machine, CPU 0
is where every pinned benchmark lands).
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import importlib
import os
import pstats
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import chainrule as cr                                   # noqa: E402
import chainrule.numpy as cnp                            # noqa: E402
from chainrule.compile import codegen, scalar_llvm       # noqa: E402
from chainrule.interpreters.staging import stage         # noqa: E402
from chainrule.ir.optimize import optimize               # noqa: E402


def chain(n, seed=0):
    """About n primitives: n // 5 steps of ``u(x) * 1.0001 + 0.001 * w(x)`` with u, w drawn
    from sin, cos, tanh (a fixed pseudo-random sequence: a program no loop-rolling pass
    can shorten, as straight-line as real unrolled code gets)."""
    ops = [cnp.sin, cnp.cos, cnp.tanh]
    picks = np.random.default_rng(seed).integers(0, 3, size=(n // 5, 2)).tolist()

    def f(x):
        for a, b in picks:
            x = ops[a](x) * 1.0001 + 0.001 * ops[b](x)
        return x
    return f


# the phases run under the garbage-collector settings jit uses for them (if it has any)
_JIT = importlib.import_module("chainrule.compile.jit")
_GC = getattr(_JIT, "_young_collections_only", contextlib.nullcontext)
_ROLL = getattr(_JIT, "roll", None)          # a loop-rolling pass, where jit has one


def _timed(fn, profile=False):
    gc.collect()
    prof = cProfile.Profile() if profile else None
    t = time.perf_counter()
    if prof:
        prof.enable()
    with _GC():
        out = fn()
    if prof:
        prof.disable()
    dt = time.perf_counter() - t
    if prof:
        print(f"--- profile ({dt:.2f} s) ---", file=sys.stderr)
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(15)
    return out, dt


def measure(name, fun, n, args, max_llvm, max_python, max_jit, profile):
    rows = {}
    prof = profile if profile else ()
    (prog, _), rows["stage"] = _timed(lambda: stage(fun, args), "stage" in prof)
    n_staged = len(prog.eqns)
    if _ROLL is not None:
        prog, rows["roll"] = _timed(lambda: _ROLL(prog), "roll" in prof)
    opt, rows["optimize"] = _timed(lambda: optimize(prog), "optimize" in prof)
    del prog
    n_opt = len(opt.eqns)
    eligible = scalar_llvm.eligible(opt)
    if eligible and n_opt <= max_llvm:
        ir, rows["llvm ir"] = _timed(lambda: scalar_llvm.lower(opt), "llvm ir" in prof)
        del ir
        k, t_all = _timed(lambda: scalar_llvm.ScalarKernel(opt, codegen.GuardMiss()), "llvm" in prof)
        rows["llvm compile"] = t_all - rows["llvm ir"]      # parse, verify, machine code
        del k
    if n_opt <= max_python:
        gen = getattr(codegen, "_generate", None)       # the functions jit compiles one by one
        if gen is None:
            def gen(p):
                src, ns = codegen.generate(p)
                return [src], ns
        (srcs, ns), rows["py source"] = _timed(lambda: gen(opt), "py source" in prof)
        codes, rows["py compile()"] = _timed(lambda: [compile(s, "<bench>", "exec") for s in srcs],
                                             "py compile()" in prof)
        _, rows["py exec"] = _timed(lambda: [exec(c, ns) for c in codes])
        del srcs, ns, codes
    del opt
    if n_staged <= max_jit:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            jf = cr.jit(fun)
            _, rows["first jit call"] = _timed(lambda: jf(*args), "jit" in prof)
            _, rows["second call"] = _timed(lambda: jf(*args))
            del jf
    gc.collect()
    print(f"\n{name}, N={n:.0e}: {n_staged} staged equations, {n_opt} after optimize"
          f"{', LLVM-eligible' if eligible else ''}")
    for k, v in rows.items():
        print(f"  {k:<16} {v:9.3f} s  {1e6 * v / n_staged:9.2f} us/eqn")
    sys.stdout.flush()


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1e3,1e4,1e5")
    ap.add_argument("--million", action="store_true", help="also N = 1e6 (plain function only)")
    ap.add_argument("--no-grad", action="store_true")
    ap.add_argument("--max-llvm", type=float, default=float("inf"))
    ap.add_argument("--max-python", type=float, default=float("inf"))
    ap.add_argument("--max-jit", type=float, default=float("inf"))
    ap.add_argument("--profile", default="", help="comma list: stage,optimize,llvm ir,llvm,py source,"
                    "py compile(),jit")
    ap.add_argument("--pin", type=int, default=None, help="run on this CPU only")
    a = ap.parse_args(argv)
    if a.pin is not None:
        os.sched_setaffinity(0, {a.pin})
    sizes = [int(float(s)) for s in a.sizes.split(",") if s]
    prof = set(a.profile.split(",")) if a.profile else set()
    for n in sizes:
        p = prof if n == max(sizes) else set()
        measure("f", chain(n), n, (0.3,), a.max_llvm, a.max_python, a.max_jit, p)
        if not a.no_grad:
            measure("grad f", cr.grad(chain(n)), n, (0.3,), a.max_llvm, a.max_python, a.max_jit, p)
    if a.million:
        measure("f", chain(1_000_000), 1_000_000, (0.3,), a.max_llvm, a.max_python, a.max_jit, set())


if __name__ == "__main__":
    main()
