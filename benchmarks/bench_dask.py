"""The ADBench GMM objective's value and gradient over many points: one process vs Dask.

    python benchmarks/bench_dask.py [--n 2000000] [--chunks 16] [--repeat 3] [--d 10] [--K 25]

Rows (each the objective's value and gradient at the same parameters, checked to agree
with the first row to 1e-10 relative):

- single process: ``cr.jit(cr.value_and_grad(objective))`` on all the data at once;
- single process, chunked: the same jitted per-chunk function on each chunk in turn (what a
  worker does, without Dask);
- Dask, 1 and 2 workers: ``chainrule.dask.value_and_grad(chunk_loss, jit=True)`` on a
  LocalCluster (processes, one thread each), the data persisted on the workers.

"first" is the first call (staging, compiling; on Dask also shipping the function and
compiling on each worker, whose chainrule is imported beforehand), then the median and the
minimum of `--repeat` further calls.  NumPy's BLAS gets one thread in this process, as
Dask's nanny gives each worker (OMP/OPENBLAS/MKL_NUM_THREADS=1), so the rows compare alike.
The objective is `chainrule.bench.GMM.objective`;
the per-chunk loss is its sum over points, and the prior and constants, which are not sums
over points, are added once outside.
"""
from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import statistics
import sys
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")   # one BLAS thread, as Dask's nanny gives its workers: a fair baseline

import numpy as np  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.numpy as jnp  # noqa: E402
from chainrule.bench import GMM  # noqa: E402


def chunk_loss_of(g):
    """The separable part of GMM.objective: its sum over the points of one chunk."""
    d, K, idx, mask, eye = g.d, g.K, g.idx, g.mask, g.eye
    half_log_2pi = 0.5 * math.log(2 * math.pi)

    def chunk_loss(p, x):
        n = x.shape[0]
        alphas = p[:K]
        means = p[K:K + K * d].reshape(K, d)
        icf = p[K + K * d:].reshape(K, -1)
        logdiag = icf[:, :d]
        qd = jnp.exp(logdiag)
        sum_qs = jnp.sum(logdiag, axis=1)
        L = (icf[:, idx] * mask).reshape(K, d, d) + qd[:, :, None] * eye
        xc = x[None, :, :] - means[:, None, :]
        lx = xc @ jnp.swapaxes(L, 1, 2)
        inner = alphas[:, None] + sum_qs[:, None] - 0.5 * jnp.sum(lx ** 2, axis=2)
        mx = jnp.max(inner, axis=0)
        lse = mx + jnp.log(jnp.sum(jnp.exp(inner - mx[None, :]), axis=0))
        ma = jnp.max(alphas, axis=0)
        lse_a = ma + jnp.log(jnp.sum(jnp.exp(alphas - ma)))
        return jnp.sum(lse) - n * lse_a - n * d * half_log_2pi
    return chunk_loss


def rest_of(g):
    """The terms of GMM.objective that are not sums over points: the prior and -K*C."""
    d, K, n = g.d, g.K, g.n
    k_c = g.const + n * d * 0.5 * math.log(2 * math.pi)      # g.const = -n d log(2 pi)/2 - K C

    def rest(p):
        icf = p[K + K * d:].reshape(K, -1)
        logdiag = icf[:, :d]
        qd = jnp.exp(logdiag)
        return k_c + jnp.sum(0.5 * g.g ** 2 * (jnp.sum(qd ** 2, axis=1) + jnp.sum(icf[:, d:] ** 2, axis=1))
                             - g.m * jnp.sum(logdiag, axis=1))
    return rest


def timed(call, repeat):
    """(first output, first-call time, median, min of `repeat` more calls); call k gets
    parameters moved by k * 1e-9, so no call can reuse an earlier call's Dask results."""
    t = time.perf_counter()
    out = call(0)
    first = time.perf_counter() - t
    times = []
    for k in range(1, repeat + 1):
        t = time.perf_counter()
        call(k)
        times.append(time.perf_counter() - t)
    return out, first, statistics.median(times), min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=float, default=2e6)
    ap.add_argument("--chunks", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--d", type=int, default=10)
    ap.add_argument("--K", type=int, default=25)
    ap.add_argument("--skip-whole", action="store_true", help="skip the all-data single-process row")
    a = ap.parse_args()
    n = int(a.n)
    g = GMM(a.d, a.K, n)
    p, x = g.p, g.x
    chunk_loss, rest = chunk_loss_of(g), rest_of(g)
    vg_rest = cr.jit(cr.value_and_grad(rest))
    rows = n // a.chunks + (n % a.chunks > 0)
    print(f"GMM d={a.d} K={a.K}, n={n} points in {a.chunks} chunks of {rows}; {len(p)} parameters; "
          f"python {platform.python_version()}, {os.cpu_count()} cores", flush=True)
    results = []

    def report(name, out, first, med, best):
        (v, gr) = out
        ref = results[0][1] if results else (v, gr)
        dv = abs(v - ref[0]) / abs(ref[0])
        dg = np.max(np.abs(gr - ref[1])) / np.max(np.abs(ref[1]))
        results.append((name, (v, gr), first, med, best, max(dv, dg)))
        print(f"{name:32s} first {first:7.2f} s  median {med:7.2f} s  min {best:7.2f} s  "
              f"rel. diff {max(dv, dg):.1e}", flush=True)
        assert max(dv, dg) < 1e-10, f"{name} disagrees with {results[0][0]}: {dv:.2e}, {dg:.2e}"

    consts = g.consts()
    v_np = float(g.objective(p, np, consts)) if n <= 200_000 else None   # NumPy check where it fits
    if not a.skip_whole:
        whole = cr.jit(cr.value_and_grad(lambda q, xx: chunk_loss(q, xx) + rest(q)))
        report("single process, all data", *timed(lambda k: whole(p + 1e-9 * k, x), a.repeat))
        del whole
        gc.collect()
    per_chunk = cr.jit(cr.value_and_grad(chunk_loss))
    bounds = [(i, min(i + rows, n)) for i in range(0, n, rows)]

    def looped(k):
        q = p + 1e-9 * k
        v, gr = vg_rest(q)
        for i, j in bounds:
            vi, gi = per_chunk(q, x[i:j])
            v, gr = v + vi, gr + gi
        return v, gr
    report("single process, chunked loop", *timed(looped, a.repeat))
    if v_np is not None:
        assert abs(results[0][1][0] - v_np) <= 1e-10 * abs(v_np)

    import dask.array as da
    from distributed import Client, LocalCluster
    import chainrule.dask as crd
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, processes=True, threads_per_worker=1, dashboard_address=None,
                          silence_logs=40) as cluster, Client(cluster) as client:
            client.run(lambda: __import__("chainrule") and None)     # import on the workers first
            t = time.perf_counter()
            X = da.from_array(x, chunks=(rows, -1)).persist()
            client.wait_for_workers(workers)
            from distributed import wait
            wait(X)
            load = time.perf_counter() - t
            dvg = crd.value_and_grad(chunk_loss, jit=True)

            def call(k, dvg=dvg, X=X):
                v, gr = dvg(p + 1e-9 * k, X)
                v2, g2 = vg_rest(p + 1e-9 * k)
                return v + v2, gr + g2
            report(f"Dask, {workers} worker{'s' if workers > 1 else ''}", *timed(call, a.repeat))
            print(f"{'':32s} (sending the data to the workers and persisting it: {load:.2f} s)")
    print("\n| run | first call (s) | median (s) | min (s) | rel. diff |\n|---|---|---|---|---|")
    for name, _, first, med, best, diff in results:
        print(f"| {name} | {first:.2f} | {med:.2f} | {best:.2f} | {diff:.1e} |")
    print(f"\ncommand: python {' '.join(sys.argv)}")


if __name__ == "__main__":
    main()
