"""Finite differences: chainrule.fd's Richardson against numdifftools' default (issue 6).

For each function and point: relative error against the exact derivative and
the number of function evaluations, for `chainrule.fd.derivative(...,
method="richardson")` and `numdifftools.Derivative(f)` with its defaults.
Run: python benchmarks/bench_fd.py
"""
import math
import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/benchmarks/", 1)[0] + "/src")
from chainrule import fd  # noqa: E402

CASES = [
    ("exp(2x)", lambda x: np.exp(2 * x), lambda x: 2 * math.exp(2 * x), 0.5),
    ("sin x - 2cos 3x e^-x^2", lambda x: np.sin(x) - 2 * np.cos(3 * x) * np.exp(-x ** 2),
     lambda x: math.cos(x) + 6 * math.sin(3 * x) * math.exp(-x * x) + 4 * x * math.cos(3 * x) * math.exp(-x * x),
     0.7),
    ("sin x - 2cos 3x e^-x^2", lambda x: np.sin(x) - 2 * np.cos(3 * x) * np.exp(-x ** 2),
     lambda x: math.cos(x) + 6 * math.sin(3 * x) * math.exp(-x * x) + 4 * x * math.cos(3 * x) * math.exp(-x * x),
     -2.1),
]


class Counted:
    def __init__(self, f):
        self.f, self.n = f, 0

    def __call__(self, x):
        self.n += np.size(x)
        return self.f(x)


def main():
    try:
        import numdifftools as nd
    except ImportError:
        nd = None
    rows = []
    for name, f, df, x in CASES:
        exact = df(x)
        c = Counted(f)
        t = time.perf_counter()
        r = fd.derivative(c, x, method="richardson")
        tc = time.perf_counter() - t
        rows.append((name, x, "chainrule.fd richardson", abs(float(r.value) - exact) / abs(exact), c.n, tc))
        if nd is not None:
            c = Counted(f)
            t = time.perf_counter()
            v = nd.Derivative(c)(x)
            tn = time.perf_counter() - t
            rows.append((name, x, "numdifftools default", abs(float(v) - exact) / abs(exact), c.n, tn))
    print("| function | x | method | relative error | f evaluations | time (ms) |")
    print("|---|---|---|---|---|---|")
    for name, x, m, err, n, t in rows:
        print(f"| {name} | {x} | {m} | {err:.1e} | {n} | {t * 1e3:.2f} |")
    if nd is None:
        print("\nnumdifftools is not installed: pip install numdifftools")
    return rows


if __name__ == "__main__":
    main()
