"""Reverse mode of long loops: the `checkpoint` policy of scan / fori_loop, time against memory.

    python benchmarks/bench_checkpoint.py [--quick] [--native]

The workload is a scalar recurrence ``x <- x + h sin(x) p`` (h = 1/n, so every n
integrates the same ODE over t in [0, 1]) written with `fori_loop`, and the timed
function is ``cr.jit(cr.grad(loss))`` for n = 1e4, 1e5, 1e6 steps and
checkpoint = None (save every carry), 100 and "sqrt".  Each configuration runs in a
fresh subprocess pinned to one CPU (--cpu): the first call (trace + compile + run), then,
once the background numba builds of loop kernels have finished, the median of 5
calls, then the peak of one more call under tracemalloc (which sees NumPy's
allocations), counted from the start of that call.  Every gradient is checked
against checkpoint=None's to 1e-12.

A loop kernel is compiled natively only after one call of it took more than
loop_kernel.NATIVE_AFTER seconds; a checkpointed loop calls its segment kernels
n/k times for k steps each, which can stay under that threshold and so run as
Python.  --native sets the threshold to 0 (every kernel native) to show the cost
of the checkpointing itself.

Measured (one otherwise idle CPU of a shared 2-core machine, numba 0.68):

| n | checkpoint | first call (s) | median call (s) | peak memory (MB) |
|---:|---|---:|---:|---:|
| 1e+04 | None | 0.032 | 0.0005 | 0.16 |
| 1e+04 | 100 | 0.032 | 0.0268 | 0.01 |
| 1e+04 | 'sqrt' | 0.036 | 0.0071 | 0.01 |
| 1e+05 | None | 0.274 | 0.0032 | 1.60 |
| 1e+05 | 100 | 0.351 | 0.0931 | 0.02 |
| 1e+05 | 'sqrt' | 0.280 | 0.0411 | 0.02 |
| 1e+06 | None | 5.588 | 0.0575 | 16.00 |
| 1e+06 | 100 | 6.292 | 0.9769 | 0.17 |
| 1e+06 | 'sqrt' | 4.252 | 0.2839 | 0.04 |

None keeps 16 bytes a step (the float carry and fori_loop's int counter).  The
checkpointed times are mostly the fixed cost of each segment's inner loop calls
(three per segment, ~25 us each), hence 'sqrt' (1000 segments at 1e6) beating 100
(10^4 segments); with --native, 1e6 steps took 0.038 / 0.92 / 0.16 s.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

POLICIES = (None, 100, "sqrt")


def one(n, checkpoint, native, cpu):
    """Measure one configuration in this process; print a JSON line."""
    os.sched_setaffinity(0, {cpu})
    import numpy as np
    import chainrule as cr
    import chainrule.numpy as cnp
    from chainrule.compile import loop_kernel
    if native:
        loop_kernel.NATIVE_AFTER = 0.0
    h = 1.0 / n

    def loss(p):
        x = cr.fori_loop(0, n, lambda i, x: x + h * cnp.sin(x) * p, 0.5, checkpoint=checkpoint)
        return x * x
    g = cr.jit(cr.grad(loss))
    p = 1.3
    t = time.perf_counter()
    value = g(p)
    first = time.perf_counter() - t
    for _ in range(5):          # measured again if a numba build started meanwhile (its thread
        for _ in range(10):     # allocates and takes the CPU): settle first
            loop_kernel.wait_native()
            g(p)
            if not loop_kernel._builds:
                break
        ts = []
        for _ in range(5):
            t = time.perf_counter()
            g(p)
            ts.append(time.perf_counter() - t)
        tracemalloc.start()
        g(p)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        if not loop_kernel._builds:
            break
    print(json.dumps(dict(n=n, checkpoint=checkpoint, value=float(np.asarray(value)), first=first,
                          median=statistics.median(ts), peak_mb=peak / 1e6)))


def run(n, checkpoint, native, cpu):
    cmd = [sys.executable, __file__, "--one", str(n), json.dumps(checkpoint), "--cpu", str(cpu)] + \
        (["--native"] if native else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="n = 1e4 and 1e5 only")
    ap.add_argument("--native", action="store_true", help="every loop kernel compiled natively")
    ap.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)),
                    help="the CPU to pin to (default: the last one this process may use)")
    ap.add_argument("--one", nargs=2, metavar=("N", "CHECKPOINT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        return one(int(args.one[0]), json.loads(args.one[1]), args.native, args.cpu)
    sizes = (10_000, 100_000) if args.quick else (10_000, 100_000, 1_000_000)
    print(f"jit(grad) of a {'/'.join(f'{n:.0e}' for n in sizes)}-step scalar recurrence"
          + (" (every loop kernel native)" if args.native else ""))
    print()
    print("| n | checkpoint | first call (s) | median call (s) | peak memory (MB) |")
    print("|---:|---|---:|---:|---:|")
    for n in sizes:
        ref = None
        for ck in POLICIES:
            r = run(n, ck, args.native, args.cpu)
            if ref is None:
                ref = r["value"]
            elif abs(r["value"] - ref) > 1e-12 * max(abs(ref), 1e-300):
                raise SystemExit(f"n={n} checkpoint={ck!r}: gradient {r['value']!r} != {ref!r}")
            print(f"| {n:.0e} | {ck!r} | {r['first']:.3f} | {r['median']:.4f} | {r['peak_mb']:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
