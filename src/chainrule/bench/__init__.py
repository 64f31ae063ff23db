"""Benchmark harness: chainrule beside JAX, PyTorch, HIPS autograd, SymPy,
numdifftools and NumPy finite differences on the workloads W1..W8
(see benchmarks/README.md).

    python -m chainrule bench [--quick] [--only W1,W5] [--out DIR]
                              [--peers jax,torch,...] [--one-core]

Every peer is optional and imported lazily.  Every timed result is checked
against an exact answer; a wrong value is printed loudly and marked in the
table.  A chainrule capability that does not exist yet (AttributeError,
NotImplementedError, ImportError) is recorded as "not yet: ...", a peer that
cannot do a case as "fails: ...": both are findings, not harness failures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict

from .checks import close_check, to_numpy
from .peers import PEERS, Peers, load_chainrule
from .report import cpu_model, header, markdown, plot, short_status, summarize
from .rows import AD, CR, FD, HAND, SPREAD_KIND, SYM, Row, describe, fmt_us, log
from .timing import Bench, NotYet
from .workloads import RUNNERS, TITLES, WORKLOADS, W1, W2, W3, W4, W5, W6, W7, W8
from .workloads.w1_simple import w1_df, w1_f
from .workloads.w2_control_flow import w2_df, w2_f
from .workloads.w3_nth_derivative import W3_A, W3_B, W3_M, W3_X, w3_exact, w3_g
from .workloads.w4_jacobians import w4_problem
from .workloads.w5_overhead import W5_OPS, W5_STEPS, w5_chain, w5_exact
from .workloads.w6_large_arrays import w6_f, w6_hand_grad
from .workloads.w7_hessians import w7_hess_bands, w7_hessian, w7_hvp, w7_rosen
from .workloads.w8_gmm import GMM

__all__ = [
    "PEERS", "WORKLOADS", "TITLES", "SPREAD_KIND", "CR", "AD", "SYM", "FD", "HAND", "RUNNERS",
    "Row", "log", "fmt_us", "describe", "to_numpy", "close_check", "Peers", "load_chainrule",
    "NotYet", "Bench", "cpu_model", "header", "summarize", "short_status", "markdown", "plot",
    "parse", "main", "GMM", "W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8",
    "w1_f", "w1_df", "w2_f", "w2_df", "W3_A", "W3_B", "W3_M", "W3_X", "w3_g", "w3_exact",
    "w4_problem", "W5_STEPS", "W5_OPS", "w5_chain", "w5_exact", "w6_f", "w6_hand_grad",
    "w7_rosen", "w7_hess_bands", "w7_hessian", "w7_hvp",
]


def parse(argv):
    ap = argparse.ArgumentParser(prog="python -m chainrule bench",
                                 description="chainrule benchmarks W1..W8")
    ap.add_argument("--quick", action="store_true",
                    help="few repetitions, small sizes (CI)")
    ap.add_argument("--only", default=None, help="workloads, e.g. W1,W5")
    ap.add_argument("--out", default=None,
                    help="directory for bench.md, bench.json (and bench.png)")
    ap.add_argument("--peers", default=None,
                    help=f"restrict peers (of {','.join(PEERS)}); chainrule always runs")
    ap.add_argument("--one-core", action="store_true",
                    help="pin the process to core 0 before importing peers")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.one_core:
        os.sched_setaffinity(0, {0})
        for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(k, "1")
    peers = PEERS if args.peers is None else tuple(
        p.strip() for p in args.peers.split(",") if p.strip())
    unknown = set(peers) - set(PEERS)
    if unknown:
        raise SystemExit(f"unknown peers: {sorted(unknown)}; known: {PEERS}")
    only = WORKLOADS if args.only is None else tuple(
        w.strip().upper() for w in args.only.split(",") if w.strip())
    bad = set(only) - set(WORKLOADS)
    if bad:
        raise SystemExit(f"unknown workloads: {sorted(bad)}")
    b = Bench(quick=args.quick, peers=peers, one_core=args.one_core)
    t0 = time.perf_counter()
    for wl in only:
        log(f"[{wl}] {TITLES[wl]}")
        t1 = time.perf_counter()
        RUNNERS[wl](b)
        log(f"[{wl}] done in {time.perf_counter() - t1:.1f} s")
    elapsed = time.perf_counter() - t0
    hdr = header(b, args)
    md = markdown(b, hdr, elapsed)
    print(md)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "bench.md"), "w") as fh:
            fh.write(md + "\n")
        with open(os.path.join(args.out, "bench.json"), "w") as fh:
            json.dump({"header": hdr, "elapsed_s": elapsed,
                       "rows": [asdict(r) for r in b.rows]}, fh, indent=1)
        if plot(b, os.path.join(args.out, "bench.png")):
            log(f"wrote {args.out}/bench.png")
        log(f"wrote {args.out}/bench.md, bench.json")
    wrong = sum(1 for r in b.rows if r.value_ok is False)
    if wrong:
        log(f"!!! {wrong} WRONG VALUE(S): see the table")
    return 0
