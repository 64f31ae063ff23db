"""Loop workloads (W9, W11 of WORKLOADS.md): chainrule's loop primitives against JAX's lax loops.

    python benchmarks/bench_loops.py [--quick] [--no-jax] [--python-for]

One core (the process pins itself to CPU 0), float64, one process, side by side.
Each row: the first call (trace + compile, counted from a fresh function) and the
median of later calls; chainrule's steady state is timed after its background
numba builds of loop kernels have finished.  Every result is checked against the
other tool's (and chainrule's eager gradient) to 1e-10.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
os.sched_setaffinity(0, {0})

import chainrule as cr                       # noqa: E402
import chainrule.numpy as cnp                # noqa: E402
from chainrule.compile.loop_kernel import wait_native   # noqa: E402


def timed(fn, arg, repeat):
    t = time.perf_counter()
    out = fn(arg)
    first = time.perf_counter() - t
    wait_native()
    fn(arg)
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(arg)
        if hasattr(out, "block_until_ready"):
            out.block_until_ready()
        ts.append(time.perf_counter() - t)
    return np.asarray(out), first, statistics.median(ts)


# ---------------------------------------------------------------- W9 ---

def rk4_step(rhs, h):
    """One classical Runge-Kutta step of y' = rhs(y, p)."""
    def step(y, p):
        k1 = rhs(y, p)
        k2 = rhs(y + 0.5 * h * k1, p)
        k3 = rhs(y + 0.5 * h * k2, p)
        k4 = rhs(y + h * k3, p)
        return y + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
    return step


def lorenz(np_, loop, steps, h=1e-3):
    def rhs(y, p):
        return np_.stack([p[0] * (y[1] - y[0]), y[0] * (p[1] - y[2]) - y[1], y[0] * y[1] - p[2] * y[2]])
    rk4 = rk4_step(rhs, h)

    def loss(p):
        y = loop(0, steps, lambda i, y: rk4(y, p), np_.ones(3))
        return np_.sum(y ** 2)
    return loss, np.array([10.0, 28.0, 8 / 3])


def lotka_volterra(np_, loop, steps, n=20, h=1e-3):
    rng = np.random.default_rng(0)
    a = -np.abs(rng.uniform(0.0, 0.5, (n, n))) / n - np.eye(n)
    y0 = rng.uniform(0.5, 1.5, n)

    def rhs(y, r):
        return y * (r + a @ y)
    rk4 = rk4_step(rhs, h)

    def loss(r):
        y = loop(0, steps, lambda i, y: rk4(y, r), np_.asarray(y0))
        return np_.sum(y ** 2)
    return loss, rng.uniform(0.5, 1.0, n)


# ---------------------------------------------------------------- W11 ---

def heat(np_, loop, steps, form, n=2000, k=0.2):
    x = np.linspace(0, 1, n)
    target = np.sin(np.pi * x) * 0.5

    def step(u):
        lap = u[2:] - 2 * u[1:-1] + u[:-2]
        if form == "concatenate":
            return u + np_.concatenate([np_.zeros(1), k * lap, np_.zeros(1)])
        return u + np_.pad(k * lap, 1)

    def loss(u0):
        u = loop(0, steps, lambda i, u: step(u), u0)
        return np_.sum((u - target) ** 2)
    return loss, np.exp(-((x - 0.5) ** 2) / 0.01)


def python_for(lo, hi, body, init):
    val = init
    for i in range(lo, hi):
        val = body(i, val)
    return val


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    ap.add_argument("--no-jax", action="store_true")
    ap.add_argument("--python-for", action="store_true",
                    help="also the plain Python for loop under chainrule.jit (unrolled: slow to compile)")
    args = ap.parse_args(argv)
    steps = {"W9 Lorenz RK4": 2000, "W9 Lotka-Volterra 20 RK4": 2000,
             "W11 heat concatenate": 500, "W11 heat pad": 500}
    if args.quick:
        steps = {k: v // 10 for k, v in steps.items()}
    repeat = 3 if args.quick else 9
    jax = None
    if not args.no_jax:
        try:
            import jax
            import jax.numpy as jnp
            jax.config.update("jax_enable_x64", True)
        except ImportError:
            jax = None
    makers = {"W9 Lorenz RK4": lambda *a: lorenz(*a),
              "W9 Lotka-Volterra 20 RK4": lambda *a: lotka_volterra(*a),
              "W11 heat concatenate": lambda np_, loop, s: heat(np_, loop, s, "concatenate"),
              "W11 heat pad": lambda np_, loop, s: heat(np_, loop, s, "pad")}
    print("| workload | steps | chainrule jit(grad) | first call | JAX jit(grad) (lax.fori_loop) | first call | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, make in makers.items():
        n = steps[name]
        loss, x = make(cnp, cr.fori_loop, n)
        got, first, med = timed(cr.jit(cr.grad(loss)), x, repeat)
        want = cr.grad(make(np, python_for, n)[0])(x) if n <= 500 else got
        np.testing.assert_allclose(got, want, rtol=1e-10)
        row = f"| {name} | {n} | {med * 1e3:.3f} ms | {first:.2f} s |"
        if jax is not None:
            jloss, _ = make(jnp, jax.lax.fori_loop, n)
            jgot, jfirst, jmed = timed(jax.jit(jax.grad(jloss)), x, repeat)
            np.testing.assert_allclose(got, jgot, rtol=1e-10)
            row += f" {jmed * 1e3:.3f} ms | {jfirst:.2f} s | {med / jmed:.3f} |"
        else:
            row += " skipped | | |"
        print(row, flush=True)
        if args.python_for:
            ploss, _ = make(cnp, python_for, n)
            pgot, pfirst, pmed = timed(cr.jit(cr.grad(ploss)), x, repeat)
            np.testing.assert_allclose(pgot, got, rtol=1e-10)
            print(f"| {name}, plain Python for | {n} | {pmed * 1e3:.3f} ms | {pfirst:.2f} s | | | |", flush=True)


if __name__ == "__main__":
    main()
