"""W3 (n-th derivative of g(x) = (a x + b)^m, a=2, b=1, m=10 at x=0.3): Taylor mode
against chainrule's nested grad and SymPy (diff + lambdify + evaluate), side by side.

    PYTHONPATH=src python benchmarks/bench_taylor.py [--one-core] [--quick]

Prints the median time per call of each tool at each order, the ratios
(tool / Taylor mode), and checks every value against the exact
m!/(m-n)! a^n (a x + b)^(m-n) (0 beyond m).  Also times `chainrule.jit` of the
Taylor-mode derivative and JAX (jet and jit of nested grad) when installed.
"""
from __future__ import annotations

import math
import os
import statistics
import sys
import time

try:
    import chainrule as cr
except ImportError:                     # running from a checkout
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
    import chainrule as cr

A, B, M, X = 2.0, 1.0, 10, 0.3
ORDERS = (1, 2, 4, 6, 8, 10, 20, 40)
NESTED_MAX = 10


def g(x):
    return (A * x + B) ** M


def exact(n):
    if n > M:
        return 0.0
    return math.factorial(M) / math.factorial(M - n) * A ** n * (A * X + B) ** (M - n)


def median_us(fn, budget=0.3, min_reps=5):
    """Median time of fn() in microseconds: repeated batches filling about `budget` seconds."""
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    number = max(1, int(0.02 / max(once, 1e-7)))
    reps = max(min_reps, min(50, int(budget / max(once * number, 1e-7))))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times) * 1e6


def check(value, n):
    e = exact(n)
    v = float(value)
    ok = v == 0.0 if e == 0.0 else abs(v - e) <= 1e-10 * abs(e)
    if not ok:
        raise AssertionError(f"order {n}: got {v!r}, exact {e!r}")


def nested_grad(f, n):
    for _ in range(n):
        f = cr.grad(f)
    return f


def main(argv):
    if "--one-core" in argv:
        os.sched_setaffinity(0, {0})
    orders = (1, 4, 10, 20) if "--quick" in argv else ORDERS
    budget = 0.1 if "--quick" in argv else 0.3
    try:
        import sympy as sp
    except ImportError:
        sp = None
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        from jax.experimental import jet as jjet
    except Exception:
        jax = jjet = None

    cols = ["taylor", "nested grad", "sympy", "taylor jit"] + (["jax jet", "jax nested grad jit"] if jax else [])
    rows = []
    for n in orders:
        row = {}
        d = cr.derivative(g, order=n)
        check(d(X), n)
        row["taylor"] = median_us(lambda: d(X), budget)
        if n <= NESTED_MAX:
            ng = nested_grad(g, n)
            check(ng(X), n)
            row["nested grad"] = median_us(lambda: ng(X), budget)
        if sp is not None:
            s = sp.Symbol("x")
            expr = (sp.Integer(2) * s + 1) ** M

            def sym():
                return sp.lambdify(s, sp.diff(expr, s, n), "math")(X)
            check(sym(), n)
            row["sympy"] = median_us(sym, budget)
        if hasattr(cr, "jit"):
            jd = cr.jit(cr.derivative(lambda y: g(y), order=n))
            check(jd(X), n)
            row["taylor jit"] = median_us(lambda: jd(X), budget)
        if jax is not None:
            series = [1.0] + [0.0] * (n - 1)
            jf = lambda: jjet.jet(g, (X,), (series,))[1][-1]   # noqa: E731
            check(jf(), n)
            row["jax jet"] = median_us(lambda: jf().block_until_ready(), budget)
            if n <= NESTED_MAX:
                jn = jax.jit(_jax_nested(jax, n))
                check(jn(X), n)
                row["jax nested grad jit"] = median_us(lambda: jn(X).block_until_ready(), budget)
        rows.append((n, row))

    print(f"W3: d^n/dx^n (2x+1)^10 at x=0.3, median us per call "
          f"({'one core' if '--one-core' in argv else 'default threads'}); "
          f"(ratio) = tool / chainrule Taylor mode")
    print(f"{'order':>5} " + " ".join(f"{c:>22}" for c in cols))
    for n, row in rows:
        cells = []
        for c in cols:
            if c not in row:
                cells.append(f"{'-':>22}")
            elif c == "taylor":
                cells.append(f"{row[c]:>22.1f}")
            else:
                cells.append(f"{row[c]:>12.1f} ({row[c] / row['taylor']:>6.1f}x)")
        print(f"{n:>5} " + " ".join(cells))
    base = rows[0][1]["taylor"]
    print("growth of the Taylor-mode time with order (t(n) / t(1)): " +
          ", ".join(f"{n}: {row['taylor'] / base:.2f}" for n, row in rows))
    goals = []
    for n, row in rows:
        if n in (6, 10):
            if "sympy" in row:
                goals.append(f"order {n}: sympy/taylor = {row['sympy'] / row['taylor']:.1f}x (goal >= 10x)")
            if "nested grad" in row:
                goals.append(f"order {n}: nested grad/taylor = {row['nested grad'] / row['taylor']:.1f}x (goal >= 3x)")
            if "taylor jit" in row and "jax nested grad jit" in row:
                goals.append(f"order {n}: taylor jit / jax jit = "
                             f"{row['taylor jit'] / row['jax nested grad jit']:.2f}x (goal <= 1.0x)")
    for line in goals:
        print(line)
    return 0


def _jax_nested(jax, n):
    f = g
    for _ in range(n):
        f = jax.grad(f)
    return f


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
