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
import datetime
import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np

PEERS = ("jax", "torch", "autograd", "sympy", "numdifftools", "numpy")
WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8")
TITLES = {
    "W1": "simple example: f(x) = sin(x) - 2 cos(3x) exp(-x^2), 100 points",
    "W2": "control flow: Python `if` on the traced value, 100 points",
    "W3": "n-th derivative of (a x + b)^m, a=2, b=1, m=10, x=0.3",
    "W4": "Jacobians of tanh(W x + b)",
    "W5": "per-operation overhead: 1000 x (x = sin(x) * 0.999 + 0.01), grad",
    "W6": "large arrays: f(x) = sum(sin(x)^2 exp(-x))",
    "W7": "Hessians of Rosenbrock",
    "W8": "GMM log-likelihood gradient (ADBench objective)",
}
SPREAD_KIND = "IQR"
# kinds of rows: chainrule rows, exact peers (count for "best peer"),
# inexact finite differences and hand-written references (the floor).
CR, AD, SYM, FD, HAND = "chainrule", "ad", "symbolic", "fd", "hand"


@dataclass
class Row:
    workload: str
    case: str
    tool: str
    median_us: float | None = None
    spread_us: float | None = None      # interquartile range of per-call times
    spread_kind: str = SPREAD_KIND
    value_ok: bool | None = None
    note: str = ""
    status: str = "ok"                  # ok | fails: .. | not yet: .. | skipped ..
    kind: str = AD
    samples: int = 0
    extra: dict = field(default_factory=dict)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def fmt_us(t):
    if t is None:
        return "—"
    if t < 10:
        return f"{t:.2f}"
    if t < 1000:
        return f"{t:.1f}"
    return f"{t:,.0f}"


def to_numpy(r):
    """Any tool's result (jax/torch array, list, tuple, scalar) as ndarray."""
    if isinstance(r, (list, tuple)):
        return np.array([to_numpy(e) for e in r], dtype=float)
    if hasattr(r, "detach"):                                   # torch
        return r.detach().cpu().numpy().astype(float)
    return np.asarray(r, dtype=float)


def close_check(expected, rtol=1e-9, atol=0.0):
    """Checker: result vs exact value; atol is relative to max|expected|."""
    expected = np.asarray(expected, dtype=float)
    scale = float(np.max(np.abs(expected))) if expected.size else 1.0
    scale = scale or 1.0

    def check(result):
        r = to_numpy(result)
        if r.shape != expected.shape:
            if r.size == expected.size:
                r = r.reshape(expected.shape)
            else:
                return False, f"shape {r.shape} != {expected.shape}"
        if not np.all(np.isfinite(r)):
            return False, "non-finite values"
        err = float(np.max(np.abs(r - expected))) if r.size else 0.0
        ok = bool(np.allclose(r, expected, rtol=rtol, atol=atol * scale))
        return ok, f"max err {err:.2e} (rel {err / scale:.1e})"
    return check


def describe(exc):
    msg = str(exc).strip().splitlines()
    msg = msg[0] if msg else ""
    if len(msg) > 90:
        msg = msg[:87] + "..."
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


# ----------------------------------------------------------------------------
# peers

class Peers:
    """Lazy imports of the peers selected on the command line."""

    def __init__(self, selected, one_core=False):
        self.selected = set(selected)
        self.one_core = one_core
        self.mods = {}
        self.missing = {}
        self.versions = {}

    def get(self, name):
        if name not in self.selected:
            return None
        if name in self.mods:
            return self.mods[name]
        if name in self.missing:
            return None
        try:
            mod = getattr(self, "_load_" + name)()
        except ImportError as e:
            self.missing[name] = describe(e)
            return None
        self.mods[name] = mod
        return mod

    def _load_jax(self):
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        try:
            from jax.experimental import jet
        except ImportError:                                      # pragma: no cover
            jet = None
        jnp.ones(3).block_until_ready()          # initialise the backend now
        self.versions["jax"] = jax.__version__
        return _NS(jax=jax, jnp=jnp, jet=jet)

    def _load_torch(self):
        # torch's OpenMP workers otherwise spin after each op and steal the
        # cores from NumPy's BLAS and XLA in this one mixed process
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import torch
        torch.set_default_dtype(torch.float64)
        if self.one_core:
            torch.set_num_threads(1)
        self.versions["torch"] = torch.__version__
        try:
            import torch.func as tfunc
        except ImportError:                                      # pragma: no cover
            tfunc = None
        return _NS(torch=torch, func=tfunc)

    def _load_autograd(self):
        import autograd
        import autograd.numpy as anp
        from importlib.metadata import version
        try:
            self.versions["autograd"] = version("autograd")
        except Exception:                                        # pragma: no cover
            self.versions["autograd"] = "?"
        return _NS(ag=autograd, anp=anp)

    def _load_sympy(self):
        import sympy
        self.versions["sympy"] = sympy.__version__
        return sympy

    def _load_numdifftools(self):
        import numdifftools
        self.versions["numdifftools"] = numdifftools.__version__
        return numdifftools

    def _load_numpy(self):
        return np


class _NS:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def load_chainrule():
    """(cr, cnp, None) or (None, None, reason)."""
    try:
        import chainrule as cr
        import chainrule.numpy as cnp
    except Exception as e:                    # mid-edit package: "not yet"
        return None, None, describe(e)
    return cr, cnp, None


class NotYet(Exception):
    pass


# ----------------------------------------------------------------------------
# timing

class Bench:
    def __init__(self, quick=False, peers=PEERS, one_core=False):
        self.quick = quick
        self.target = 0.02 if quick else 0.2     # seconds per measurement
        self.min_samples = 3 if quick else 5
        self.max_samples = 25 if quick else 200
        self.sample_floor = 2e-4 if quick else 1e-3   # batch fast calls
        self.single_shot = 2.0 if quick else 10.0     # slower: time it once
        self.peers = Peers(peers, one_core)
        self.cr, self.cnp, self.cr_missing = load_chainrule()
        self.rows = []

    # -- measurement -----------------------------------------------------
    def _time_stats(self, fn, first_dt):
        """Per-call times of fn (already called once, taking first_dt):
        (median, IQR or None, number of calls timed)."""
        if first_dt > 5 * self.single_shot:              # far too slow: once
            return first_dt, None, 1
        t0 = time.perf_counter()
        fn()                  # second warm-up (JAX eager compiles on call 1)
        t1 = time.perf_counter() - t0
        if t1 > self.single_shot:
            return t1, None, 1
        inner = max(1, int(self.sample_floor / max(t1, 1e-9)))
        samples = int(self.target / (inner * max(t1, 1e-9)))
        lo = 3 if t1 > 0.5 else self.min_samples
        samples = min(self.max_samples, max(lo, samples))
        times = []
        for _ in range(samples):
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            times.append((time.perf_counter() - t0) / inner)
        q1, med, q3 = np.percentile(times, [25, 50, 75])
        return med, q3 - q1, samples * inner

    def case(self, wl, case, tool, make, check, kind=AD, note="", jit=False,
             extra=None):
        """Build fn = make(), check fn()'s value, time it; add the row(s).

        jit=True also adds a row "<case>, first call": the first call of a
        freshly built fn (trace + compile + run), timed once.
        Returns the main row (or None)."""
        is_cr = tool.startswith("chainrule")
        if is_cr:
            kind = CR
        rows = []
        label = f"{wl} | {case} | {tool}"
        log(f"  {label} ...")
        try:
            if is_cr and self.cr is None:
                raise NotYet(f"import chainrule: {self.cr_missing}")
            t0 = time.perf_counter()
            fn = make()
            result = fn()
            first = time.perf_counter() - t0
            ok, msg = check(result)
            ok = bool(ok)
            if jit:
                rows.append(Row(wl, f"{case}, first call", tool, first * 1e6,
                                None, value_ok=ok, kind=kind, samples=1))
            med, spread, n = self._time_stats(fn, first)
            result = fn()                   # check the steady state too
            ok2, msg2 = check(result)
            if not bool(ok2):
                ok, msg = False, msg2
            main = Row(wl, case, tool, med * 1e6,
                       None if spread is None else spread * 1e6,
                       value_ok=ok, kind=kind, samples=n,
                       note=note if ok else (note + "; " if note else "") + msg)
            if n == 1:
                main.note = (main.note + "; " if main.note else "") + \
                    "slow: timed once after one warm-up call"
            main.extra["check"] = msg
            if extra:
                main.extra.update(extra)
            rows.append(main)
            for r in rows:
                r.value_ok = ok
                if not ok:
                    log(f"!!! WRONG VALUE: {wl} | {r.case} | {tool}: {msg}")
        except Exception as e:
            if isinstance(e, NotYet):
                status = f"not yet: {e}"
            elif is_cr and isinstance(e, (AttributeError, NotImplementedError,
                                          ImportError)):
                status = f"not yet: {describe(e)}"
            else:
                status = f"fails: {describe(e)}"
            log(f"    -> {status}")
            rows = [Row(wl, case, tool, status=status, kind=kind, note=note)]
        else:
            log(f"    -> {fmt_us(rows[-1].median_us)} us "
                f"{'ok' if rows[-1].value_ok else 'WRONG'}")
        self.rows.extend(rows)
        return rows[-1]

    def info(self, wl, case, tool, kind, median_us, value_ok, note, extra=None):
        row = Row(wl, case, tool, median_us, None, value_ok=value_ok,
                  kind=kind, note=note, samples=1, extra=extra or {})
        self.rows.append(row)
        return row

    def want(self, name, wl):
        """The peer module, or None (adds a 'skipped (not installed)' row)."""
        mod = self.peers.get(name)
        if mod is None and name in self.peers.missing:
            self.rows.append(Row(wl, "all", name,
                                 status="skipped (not installed)", kind=AD,
                                 note=self.peers.missing[name]))
            log(f"  {wl} | {name}: skipped (not installed)")
        return mod


# ----------------------------------------------------------------------------
# W1 simple example

def w1_f(x, m):
    return m.sin(x) - 2 * m.cos(3 * x) * m.exp(-x ** 2)


def w1_df(x):
    e = np.exp(-x ** 2)
    return np.cos(x) + 6 * np.sin(3 * x) * e + 4 * x * np.cos(3 * x) * e


def W1(b):
    wl = "W1"
    xs = np.linspace(-5, 5, 100)
    exact = w1_df(xs)
    chk = close_check(exact, rtol=1e-10, atol=1e-12)
    fdchk = close_check(exact, rtol=1e-6, atol=1e-6)
    A, B = "a loop grad", "b vmap grad"
    C1, C2 = "c1 jit loop grad", "c2 jit vmap grad"
    pts = [float(x) for x in xs]

    cr, cnp = b.cr, b.cnp
    f_cr = lambda x: w1_f(x, cnp)
    b.case(wl, A, "chainrule", lambda: (lambda g: lambda: [g(x) for x in pts])(
        cr.grad(f_cr)), chk)
    b.case(wl, B, "chainrule", lambda: (lambda g: lambda: g(xs))(
        cr.vmap(cr.grad(f_cr))), chk)
    b.case(wl, C1, "chainrule", lambda: (lambda g: lambda: [g(x) for x in pts])(
        cr.jit(cr.grad(lambda x: w1_f(x, cnp)))), chk, jit=True)
    b.case(wl, C2, "chainrule", lambda: (lambda g: lambda: g(xs))(
        cr.jit(cr.vmap(cr.grad(lambda x: w1_f(x, cnp))))), chk, jit=True)

    J = b.want("jax", wl)
    if J:
        jax, jnp = J.jax, J.jnp
        f = lambda x: w1_f(x, jnp)
        g = jax.grad(f)
        b.case(wl, A, "jax", lambda: lambda: [float(g(x)) for x in pts], chk)
        gv = jax.vmap(jax.grad(f))
        b.case(wl, B, "jax", lambda: lambda: gv(xs).block_until_ready(), chk)
        b.case(wl, C1, "jax", lambda: (lambda gj: lambda: [float(gj(x)) for x in pts])(
            jax.jit(jax.grad(lambda x: w1_f(x, jnp)))), chk, jit=True)
        b.case(wl, C2, "jax", lambda: (lambda gj: lambda: gj(xs).block_until_ready())(
            jax.jit(jax.vmap(jax.grad(lambda x: w1_f(x, jnp))))), chk, jit=True)

    T = b.want("torch", wl)
    if T:
        torch = T.torch

        def loop():
            out = []
            for x in pts:
                t = torch.tensor(x, requires_grad=True)
                out.append(torch.autograd.grad(w1_f(t, torch), t)[0].item())
            return out
        b.case(wl, A, "torch", lambda: loop, chk)
        tx = torch.tensor(xs)

        def batched():   # the torch idiom for an elementwise f: grad of sum
            t = tx.clone().requires_grad_(True)
            return torch.autograd.grad(w1_f(t, torch).sum(), t)[0]
        b.case(wl, B, "torch", lambda: batched, chk,
               note="grad of sum (elementwise idiom)")
        if T.func:
            gf = T.func.grad(lambda x: w1_f(x, torch))
            b.case(wl, A, "torch.func",
                   lambda: lambda: [gf(torch.tensor(x)).item() for x in pts], chk)
            gvf = T.func.vmap(T.func.grad(lambda x: w1_f(x, torch)))
            b.case(wl, B, "torch.func", lambda: lambda: gvf(tx), chk)

    AG = b.want("autograd", wl)
    if AG:
        g = AG.ag.grad(lambda x: w1_f(x, AG.anp))
        b.case(wl, A, "autograd", lambda: lambda: [g(x) for x in pts], chk)
        ge = AG.ag.elementwise_grad(lambda x: w1_f(x, AG.anp))
        b.case(wl, B, "autograd", lambda: lambda: ge(xs), chk,
               note="elementwise_grad (autograd has no vmap)")

    ND = b.want("numdifftools", wl)
    if ND:
        d = ND.Derivative(lambda x: w1_f(x, np))
        b.case(wl, A, "numdifftools", lambda: lambda: [d(x) for x in pts],
               fdchk, kind=FD)
        b.case(wl, B, "numdifftools", lambda: lambda: d(xs), fdchk, kind=FD)

    if b.want("numpy", wl) is not None:
        def central(x):
            h = np.cbrt(np.finfo(float).eps) * np.maximum(1.0, np.abs(x))
            return (w1_f(x + h, np) - w1_f(x - h, np)) / (2 * h)
        b.case(wl, A, "numpy fd", lambda: lambda: [central(x) for x in pts],
               fdchk, kind=FD, note="central difference")
        b.case(wl, B, "numpy fd", lambda: lambda: central(xs), fdchk, kind=FD,
               note="central difference")
        # forward differences: the truncation / round-off trade-off
        fmax = float(np.max(np.abs(w1_f(xs, np))))
        fine = np.linspace(-5, 5, 20001)
        h2 = 1e-4
        d2max = float(np.max(np.abs(w1_f(fine + h2, np) - 2 * w1_f(fine, np)
                                    + w1_f(fine - h2, np)) / h2 ** 2))
        for gamma in (0.1, 1e-3, 1e-6, 1e-8):
            fwd = lambda: (w1_f(xs + gamma, np) - w1_f(xs, np)) / gamma
            err = float(np.max(np.abs(fwd() - exact)))
            # textbook bound: gamma/2 max|f''| + 2 eps max|f| / gamma (x2 slack)
            bound = 2 * (gamma / 2 * d2max + 2 * np.finfo(float).eps * (fmax + 5) / gamma)
            b.case(wl, f"fd forward γ={gamma:g}", "numpy fd", lambda f=fwd: f,
                   lambda r, bd=bound: (
                       float(np.max(np.abs(to_numpy(r) - exact))) <= bd,
                       f"max err {float(np.max(np.abs(to_numpy(r) - exact))):.2e}"
                       f" (bound {bd:.1e})"),
                   kind=FD, note=f"max err {err:.2e}", extra={"max_err": err})


# ----------------------------------------------------------------------------
# W2 control flow

def w2_f(x, m=None):
    if x < 0:
        for i in range(3):
            x = x * 1.5 + 0.1 * i
        return x ** 2
    return sum(x ** i + i for i in range(3))


def w2_df(xs):
    x3 = 1.5 * (1.5 * (1.5 * xs) + 0.1) + 0.2
    return np.where(xs < 0, 2 * x3 * 1.5 ** 3, 1 + 2 * xs)


def W2(b):
    wl = "W2"
    xs = np.linspace(-5, 5, 100)
    pts = [float(x) for x in xs]
    chk = close_check(w2_df(xs), rtol=1e-10, atol=1e-12)
    A, B, C1, C2 = "loop grad", "vmap grad", "jit loop grad", "jit vmap grad"

    cr = b.cr
    b.case(wl, A, "chainrule", lambda: (lambda g: lambda: [g(x) for x in pts])(
        cr.grad(w2_f)), chk)
    b.case(wl, B, "chainrule", lambda: (lambda g: lambda: g(xs))(
        cr.vmap(cr.grad(w2_f))), chk)
    b.case(wl, C1, "chainrule", lambda: (lambda g: lambda: [g(x) for x in pts])(
        cr.jit(cr.grad(lambda x: w2_f(x)))), chk, jit=True)
    b.case(wl, C2, "chainrule", lambda: (lambda g: lambda: g(xs))(
        cr.jit(cr.vmap(cr.grad(lambda x: w2_f(x))))), chk, jit=True)

    J = b.want("jax", wl)
    if J:
        jax = J.jax
        g = jax.grad(w2_f)
        b.case(wl, A, "jax", lambda: lambda: [float(g(x)) for x in pts], chk)
        b.case(wl, B, "jax", lambda: (lambda gv: lambda: gv(xs).block_until_ready())(
            jax.vmap(jax.grad(w2_f))), chk)
        b.case(wl, C1, "jax", lambda: (lambda gj: lambda: [float(gj(x)) for x in pts])(
            jax.jit(jax.grad(lambda x: w2_f(x)))), chk, jit=True)
        b.case(wl, C2, "jax", lambda: (lambda gj: lambda: gj(xs).block_until_ready())(
            jax.jit(jax.vmap(jax.grad(lambda x: w2_f(x))))), chk, jit=True)

    T = b.want("torch", wl)
    if T:
        torch = T.torch

        def loop():
            out = []
            for x in pts:
                t = torch.tensor(x, requires_grad=True)
                out.append(torch.autograd.grad(w2_f(t), t)[0].item())
            return out
        b.case(wl, A, "torch", lambda: loop, chk)
        tx = torch.tensor(xs)

        def batched():
            t = tx.clone().requires_grad_(True)
            return torch.autograd.grad(w2_f(t).sum(), t)[0]
        b.case(wl, B, "torch", lambda: batched, chk, note="grad of sum")
        if T.func:
            gf = T.func.grad(w2_f)
            b.case(wl, A, "torch.func",
                   lambda: lambda: [gf(torch.tensor(x)).item() for x in pts], chk)
            b.case(wl, B, "torch.func", lambda: (lambda gv: lambda: gv(tx))(
                T.func.vmap(T.func.grad(w2_f))), chk)

    AG = b.want("autograd", wl)
    if AG:
        g = AG.ag.grad(w2_f)
        b.case(wl, A, "autograd", lambda: lambda: [g(x) for x in pts], chk)
        ge = AG.ag.elementwise_grad(w2_f)
        b.case(wl, B, "autograd", lambda: lambda: ge(xs), chk,
               note="elementwise_grad (autograd has no vmap)")

    if b.want("numpy", wl) is not None:
        def central(x):
            h = np.cbrt(np.finfo(float).eps) * np.maximum(1.0, np.abs(x))
            return (w2_f(x + h) - w2_f(x - h)) / (2 * h)
        b.case(wl, A, "numpy fd", lambda: lambda: [central(x) for x in pts],
               close_check(w2_df(xs), rtol=1e-6, atol=1e-6), kind=FD,
               note="central difference")


# ----------------------------------------------------------------------------
# W3 n-th derivative

W3_A, W3_B, W3_M, W3_X = 2.0, 1.0, 10, 0.3


def w3_g(x):
    return (W3_A * x + W3_B) ** W3_M


def w3_exact(n):
    m = W3_M
    if n > m:
        return 0.0
    return math.factorial(m) / math.factorial(m - n) * W3_A ** n * \
        (W3_A * W3_X + W3_B) ** (m - n)


def _nested(grad, f, n):
    for _ in range(n):
        f = grad(f)
    return f


def W3(b):
    wl = "W3"
    orders = (1, 4, 10, 20) if b.quick else (1, 2, 4, 6, 8, 10, 20, 40)
    x = W3_X
    # nested grad: its cost grows with the order; skip the higher orders of a
    # tool once one order takes longer than this
    limit_us = 2e5 if b.quick else 2e6
    slow = {}

    hist, order = {}, [0]

    def skip(case, tool, kind, why):
        b.rows.append(Row(wl, case, tool, kind=CR if tool.startswith(
            "chainrule") else kind, status=f"skipped (cost: {why})"))
        log(f"  {wl} | {case} | {tool}: skipped (cost: {why})")

    def run(case, tool, make, chk, **kw):
        n = order[0]
        key = (tool, kw.get("jit", False))
        if key in slow:
            return skip(case, tool, kw.get("kind", AD), slow[key])
        h = hist.setdefault(key, [])
        if len(h) >= 2:          # cost grows geometrically with the order
            (n1, t1), (n2, t2) = h[-2:]
            pred = t2 * (max(t2, 1e-3) / max(t1, 1e-3)) ** ((n - n2) / (n2 - n1))
            if pred > 5 * limit_us:
                return skip(case, tool, kw.get("kind", AD),
                            f"predicted {pred / 1e6:.3g} s from orders {n1}, {n2}")
        n0 = len(b.rows)
        b.case(wl, case, tool, make, chk, **kw)
        worst = max((r.median_us or 0) for r in b.rows[n0:])
        h.append((n, worst))
        if worst > limit_us:
            slow[key] = f"order {n} took {worst / 1e6:.2g} s"

    J = b.want("jax", wl)
    T = b.want("torch", wl)
    AG = b.want("autograd", wl)
    SY = b.want("sympy", wl)
    ND = b.want("numdifftools", wl)
    cr = b.cr

    for n in orders:
        order[0] = n
        exact = w3_exact(n)
        chk = close_check(exact, rtol=1e-10, atol=1e-12)
        E, Jt = f"order {n}", f"order {n} jit"
        series = [1.0] + [0.0] * (n - 1)

        def jet_check(r, n=n, exact=exact):
            """chainrule.jet: accept derivative or Taylor-coefficient series."""
            v = float(to_numpy(r))
            if exact == 0:
                return abs(v) < 1e-6, f"value {v:.3e}"
            for conv, e in (("derivatives", exact),
                            ("Taylor coeffs", exact / math.factorial(n))):
                if abs(v - e) <= 1e-10 * abs(e):
                    return True, f"convention: {conv}"
            return False, f"value {v:.6e} != {exact:.6e}"

        def cr_jet(series=series):
            jet = cr.jet
            return lambda: jet(w3_g, (x,), (series,))[1][-1]

        run(E, "chainrule", lambda n=n: (lambda d: lambda: d(x))(
            cr.derivative(w3_g, order=n)), chk)
        run(E, "chainrule jet", cr_jet, jet_check)
        run(E, "chainrule nested grad", lambda n=n: (lambda d: lambda: d(x))(
            _nested(cr.grad, w3_g, n)), chk)
        run(Jt, "chainrule", lambda n=n: (lambda d: lambda: d(x))(
            cr.jit(cr.derivative(lambda y: w3_g(y), order=n))), chk, jit=True)
        if J:
            jax = J.jax
            if J.jet:
                jetf = lambda s: J.jet.jet(w3_g, (s,), (series,))[1][-1]
                run(E, "jax jet", lambda: lambda: jetf(x).block_until_ready(), chk)
                run(Jt, "jax jet", lambda: (lambda jf: lambda: jf(x).block_until_ready())(
                    jax.jit(lambda s: J.jet.jet(lambda y: w3_g(y), (s,),
                                                (series,))[1][-1])), chk, jit=True)
            run(E, "jax nested grad", lambda n=n: (lambda d: lambda: float(d(x)))(
                _nested(jax.grad, w3_g, n)), chk)
            run(Jt, "jax nested grad", lambda n=n: (
                lambda d: lambda: d(x).block_until_ready())(
                jax.jit(_nested(jax.grad, lambda y: w3_g(y), n))), chk, jit=True)
        if T:
            torch = T.torch

            def tnested(n=n):
                t = torch.tensor(x, requires_grad=True)
                y = w3_g(t)
                for _ in range(n):
                    if not y.requires_grad:      # derivative became constant
                        return torch.zeros(())
                    y, = torch.autograd.grad(y, t, create_graph=True)
                return y
            run(E, "torch nested grad", lambda: tnested, chk)
            if T.func:
                run(E, "torch.func nested grad", lambda n=n: (
                    lambda d: lambda: d(torch.tensor(x)))(
                    _nested(T.func.grad, w3_g, n)), chk)
        if AG:
            run(E, "autograd nested grad", lambda n=n: (lambda d: lambda: d(x))(
                _nested(AG.ag.grad, w3_g, n)), chk)
        if SY:
            sp = SY
            s = sp.Symbol("x")
            expr = (sp.Integer(2) * s + 1) ** W3_M

            def sym(n=n):
                return sp.lambdify(s, sp.diff(expr, s, n), "math")(x)
            run(E, "sympy", lambda: sym, chk, kind=SYM,
                note="diff + lambdify + evaluate")
            run(Jt, "sympy", lambda n=n: (lambda fl: lambda: fl(x))(
                sp.lambdify(s, sp.diff(expr, s, n), "math")), chk, kind=SYM,
                jit=True, note="lambdified derivative, evaluate")
        if ND and n <= 10:
            run(E, "numdifftools", lambda n=n: (lambda d: lambda: d(x))(
                ND.Derivative(w3_g, n=n)), close_check(exact, rtol=1e-6, atol=1e-8),
                kind=FD)


# ----------------------------------------------------------------------------
# W4 Jacobians

def w4_problem(m, n):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((m, n)) / np.sqrt(n)
    bias = rng.standard_normal(m) * 0.1
    x = rng.standard_normal(n)
    J = (1 - np.tanh(W @ x + bias) ** 2)[:, None] * W
    return W, bias, x, J


def W4(b):
    wl = "W4"
    shapes = ((20, 20), (5, 50), (50, 5)) if b.quick else \
        ((100, 100), (10, 1000), (1000, 10))
    J_ = b.want("jax", wl)
    T = b.want("torch", wl)
    AG = b.want("autograd", wl)
    ND = b.want("numdifftools", wl)
    NP = b.want("numpy", wl)
    cr, cnp = b.cr, b.cnp
    for (m, n) in shapes:
        W, bias, x, Jx = w4_problem(m, n)
        chk = close_check(Jx, rtol=1e-10, atol=1e-12)
        fdchk = close_check(Jx, rtol=1e-6, atol=1e-6)
        s = f"{m}x{n}"
        modes = (("fwd", "jacfwd"), ("rev", "jacrev"), ("auto", "jacobian"))
        f_cr = lambda v: cnp.tanh(W @ v + bias)
        for mode, name in modes:
            b.case(wl, f"{s} {mode}", "chainrule", lambda name=name: (
                lambda j: lambda: j(x))(getattr(cr, name)(f_cr)), chk)
            b.case(wl, f"{s} {mode} jit", "chainrule", lambda name=name: (
                lambda j: lambda: j(x))(cr.jit(getattr(cr, name)(
                    lambda v: cnp.tanh(W @ v + bias)))), chk, jit=True)
        if J_:
            jax, jnp = J_.jax, J_.jnp
            Wj, bj = jnp.asarray(W), jnp.asarray(bias)
            for mode, name in modes:
                tr = getattr(jax, name)
                b.case(wl, f"{s} {mode}", "jax", lambda tr=tr: (
                    lambda j: lambda: j(x).block_until_ready())(
                    tr(lambda v: jnp.tanh(Wj @ v + bj))), chk,
                    note="jax.jacobian = jacrev" if mode == "auto" else "")
                b.case(wl, f"{s} {mode} jit", "jax", lambda tr=tr: (
                    lambda j: lambda: j(x).block_until_ready())(
                    jax.jit(tr(lambda v: jnp.tanh(Wj @ v + bj)))), chk, jit=True)
        if T:
            torch = T.torch
            Wt, bt, xt = torch.tensor(W), torch.tensor(bias), torch.tensor(x)
            ft = lambda v: torch.tanh(Wt @ v + bt)
            AF = torch.autograd.functional
            b.case(wl, f"{s} fwd", "torch", lambda: lambda: AF.jacobian(
                ft, xt, vectorize=True, strategy="forward-mode"), chk,
                note="autograd.functional, forward-mode, vectorize")
            b.case(wl, f"{s} rev", "torch", lambda: lambda: AF.jacobian(
                ft, xt, vectorize=True), chk,
                note="autograd.functional, vectorize")
            b.case(wl, f"{s} auto", "torch", lambda: lambda: AF.jacobian(ft, xt),
                   chk, note="autograd.functional.jacobian default (row loop)")
            if T.func:
                b.case(wl, f"{s} fwd", "torch.func", lambda: (
                    lambda j: lambda: j(xt))(T.func.jacfwd(ft)), chk)
                b.case(wl, f"{s} rev", "torch.func", lambda: (
                    lambda j: lambda: j(xt))(T.func.jacrev(ft)), chk)
        if AG:
            fa = lambda v: AG.anp.tanh(W @ v + bias)   # noqa: E731
            b.case(wl, f"{s} rev", "autograd", lambda: (
                lambda j: lambda: j(x))(AG.ag.jacobian(fa)), chk)
            b.case(wl, f"{s} auto", "autograd", lambda: (
                lambda j: lambda: j(x))(AG.ag.jacobian(fa)), chk,
                note="autograd.jacobian (reverse, row loop)")
        if ND:
            b.case(wl, f"{s} auto", "numdifftools", lambda: (
                lambda j: lambda: j(x))(ND.Jacobian(lambda v: np.tanh(W @ v + bias))),
                fdchk, kind=FD)
        if NP is not None:
            def fdjac():
                h = np.cbrt(np.finfo(float).eps) * np.maximum(1.0, np.abs(x))
                X = x[:, None] + np.diag(h)           # all perturbations at once
                return (np.tanh(W @ X + bias[:, None]) -
                        np.tanh(W @ (x[:, None] - np.diag(h)) + bias[:, None])) / (2 * h)
            b.case(wl, f"{s} auto", "numpy fd", lambda: fdjac, fdchk, kind=FD,
                   note="central, vectorised")


# ----------------------------------------------------------------------------
# W5 per-operation overhead

W5_STEPS, W5_OPS = 1000, 2000


def w5_chain(x, m):
    for _ in range(W5_STEPS):
        x = m.sin(x) * 0.999 + 0.01
    return x


def w5_exact(x=0.5):
    d = 1.0
    for _ in range(W5_STEPS):
        d *= math.cos(x) * 0.999
        x = math.sin(x) * 0.999 + 0.01
    return d


def W5(b):
    wl = "W5"
    x0 = 0.5
    chk = close_check(w5_exact(x0), rtol=1e-10, atol=1e-14)
    G, JG = "grad", "jit grad"
    cr, cnp = b.cr, b.cnp
    b.case(wl, G, "chainrule", lambda: (lambda g: lambda: g(x0))(
        cr.grad(lambda x: w5_chain(x, cnp))), chk)
    b.case(wl, JG, "chainrule", lambda: (lambda g: lambda: g(x0))(
        cr.jit(cr.grad(lambda x: w5_chain(x, cnp)))), chk, jit=True)
    J = b.want("jax", wl)
    if J:
        jax, jnp = J.jax, J.jnp
        b.case(wl, G, "jax", lambda: (lambda g: lambda: float(g(x0)))(
            jax.grad(lambda x: w5_chain(x, jnp))), chk)
        b.case(wl, JG, "jax", lambda: (lambda g: lambda: float(g(x0)))(
            jax.jit(jax.grad(lambda x: w5_chain(x, jnp)))), chk, jit=True)
    T = b.want("torch", wl)
    if T:
        torch = T.torch

        def tg():
            t = torch.tensor(x0, requires_grad=True)
            return torch.autograd.grad(w5_chain(t, torch), t)[0].item()
        b.case(wl, G, "torch", lambda: tg, chk)
        if T.func:
            b.case(wl, G, "torch.func", lambda: (
                lambda g: lambda: g(torch.tensor(x0)).item())(
                T.func.grad(lambda x: w5_chain(x, torch))), chk)
    AG = b.want("autograd", wl)
    if AG:
        b.case(wl, G, "autograd", lambda: (lambda g: lambda: g(x0))(
            AG.ag.grad(lambda x: w5_chain(x, AG.anp))), chk)
    if b.want("numpy", wl) is not None:
        b.case(wl, G, "python hand", lambda: lambda: w5_exact(x0),
               chk, kind=HAND, note="hand-written forward loop with math")
    for r in b.rows:
        if r.workload == wl and r.median_us is not None and r.value_ok \
                and not r.case.endswith("first call"):
            r.extra["us_per_op"] = r.median_us / W5_OPS


# ----------------------------------------------------------------------------
# W6 large arrays

def w6_f(x, m):
    return m.sum(m.sin(x) ** 2 * m.exp(-x))


def w6_hand_grad(x):
    s, c, e = np.sin(x), np.cos(x), np.exp(-x)
    return 2 * s * c * e - s * s * e


def W6(b):
    wl = "W6"
    n = 10 ** 5 if b.quick else 10 ** 6
    x = np.random.default_rng(0).uniform(-2, 2, n)
    fval = float(w6_f(x, np))
    fchk = close_check(fval, rtol=1e-11)
    gchk = close_check(w6_hand_grad(x), rtol=1e-11, atol=1e-13)
    F, JF, G, JG = "f", "jit f", "grad f", "jit grad f"
    cr, cnp = b.cr, b.cnp
    b.case(wl, F, "chainrule", lambda: lambda: w6_f(x, cnp), fchk,
           note="chainrule.numpy on plain arrays")
    b.case(wl, JF, "chainrule", lambda: (lambda f: lambda: f(x))(
        cr.jit(lambda v: w6_f(v, cnp))), fchk, jit=True)
    b.case(wl, G, "chainrule", lambda: (lambda g: lambda: g(x))(
        cr.grad(lambda v: w6_f(v, cnp))), gchk)
    b.case(wl, JG, "chainrule", lambda: (lambda g: lambda: g(x))(
        cr.jit(cr.grad(lambda v: w6_f(v, cnp)))), gchk, jit=True)
    J = b.want("jax", wl)
    if J:
        jax, jnp = J.jax, J.jnp
        xj = jnp.asarray(x)
        b.case(wl, F, "jax", lambda: lambda: w6_f(xj, jnp).block_until_ready(), fchk)
        b.case(wl, JF, "jax", lambda: (lambda f: lambda: f(xj).block_until_ready())(
            jax.jit(lambda v: w6_f(v, jnp))), fchk, jit=True)
        b.case(wl, G, "jax", lambda: (lambda g: lambda: g(xj).block_until_ready())(
            jax.grad(lambda v: w6_f(v, jnp))), gchk)
        b.case(wl, JG, "jax", lambda: (lambda g: lambda: g(xj).block_until_ready())(
            jax.jit(jax.grad(lambda v: w6_f(v, jnp)))), gchk, jit=True)
    T = b.want("torch", wl)
    if T:
        torch = T.torch
        xt = torch.tensor(x)
        b.case(wl, F, "torch", lambda: lambda: w6_f(xt, torch), fchk)

        def tg():
            t = xt.detach().requires_grad_(True)
            return torch.autograd.grad(w6_f(t, torch), t)[0]
        b.case(wl, G, "torch", lambda: tg, gchk)
    AG = b.want("autograd", wl)
    if AG:
        b.case(wl, F, "autograd", lambda: lambda: w6_f(x, AG.anp), fchk,
               note="autograd.numpy on plain arrays")
        b.case(wl, G, "autograd", lambda: (lambda g: lambda: g(x))(
            AG.ag.grad(lambda v: w6_f(v, AG.anp))), gchk)
    if b.want("numpy", wl) is not None:
        b.case(wl, F, "numpy", lambda: lambda: w6_f(x, np), fchk, kind=HAND,
               note="the floor")
        b.case(wl, G, "numpy", lambda: lambda: w6_hand_grad(x), gchk, kind=HAND,
               note="hand-written gradient")
    # ratio grad / f per tool
    by = {(r.case, r.tool): r for r in b.rows if r.workload == wl}
    for (case, tool), r in by.items():
        base = {G: F, JG: JF}.get(case)
        fr = by.get((base, tool))
        if base and r.median_us and fr and fr.median_us:
            r.extra["grad_over_f"] = r.median_us / fr.median_us


# ----------------------------------------------------------------------------
# W7 Hessians

def w7_rosen(x, m):
    return m.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def w7_hess_bands(x):
    """(diagonal, off-diagonal) of the Rosenbrock Hessian."""
    d = np.zeros_like(x)
    d[:-1] += 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
    d[1:] += 200
    return d, -400 * x[:-1]


def w7_hessian(x):
    d, o = w7_hess_bands(x)
    return np.diag(d) + np.diag(o, 1) + np.diag(o, -1)


def w7_hvp(x, v):
    d, o = w7_hess_bands(x)
    hv = d * v
    hv[:-1] += o * v[1:]
    hv[1:] += o * v[:-1]
    return hv


def _cr_hvp(cr, f, x, v):
    """cr.hvp, whichever of the two usual signatures it has."""
    try:
        r = cr.hvp(f, (x,), (v,))
    except TypeError:
        return cr.hvp(f)(x, v)
    if isinstance(r, tuple) and len(r) == 2:
        return r[1]
    return r


def W7(b):
    wl = "W7"
    sizes = (20, 100) if b.quick else (100, 1000)
    nh = 10 ** 4 if b.quick else 10 ** 5
    rng = np.random.default_rng(0)
    J = b.want("jax", wl)
    T = b.want("torch", wl)
    AG = b.want("autograd", wl)
    ND = b.want("numdifftools", wl)
    NP = b.want("numpy", wl)
    cr, cnp = b.cr, b.cnp
    for n in sizes:
        x = rng.uniform(-1, 1, n)
        chk = close_check(w7_hessian(x), rtol=1e-10, atol=1e-12)
        H, JH = f"hessian n={n}", f"hessian n={n} jit"
        b.case(wl, H, "chainrule", lambda: (lambda h: lambda: h(x))(
            cr.hessian(lambda v: w7_rosen(v, cnp))), chk)
        b.case(wl, JH, "chainrule", lambda: (lambda h: lambda: h(x))(
            cr.jit(cr.hessian(lambda v: w7_rosen(v, cnp)))), chk, jit=True)
        if J:
            jax, jnp = J.jax, J.jnp
            b.case(wl, H, "jax", lambda: (lambda h: lambda: h(x).block_until_ready())(
                jax.hessian(lambda v: w7_rosen(v, jnp))), chk)
            b.case(wl, JH, "jax", lambda: (lambda h: lambda: h(x).block_until_ready())(
                jax.jit(jax.hessian(lambda v: w7_rosen(v, jnp)))), chk, jit=True)
        if T:
            torch = T.torch
            xt = torch.tensor(x)
            b.case(wl, H, "torch", lambda: lambda: torch.autograd.functional.hessian(
                lambda v: w7_rosen(v, torch), xt, vectorize=True), chk,
                note="autograd.functional, vectorize")
            if T.func:
                b.case(wl, H, "torch.func", lambda: (lambda h: lambda: h(xt))(
                    T.func.hessian(lambda v: w7_rosen(v, torch))), chk)
        if AG:
            b.case(wl, H, "autograd", lambda: (lambda h: lambda: h(x))(
                AG.ag.hessian(lambda v: w7_rosen(v, AG.anp))), chk)
        if ND:
            if n <= 100:
                b.case(wl, H, "numdifftools", lambda: (lambda h: lambda: h(x))(
                    ND.Hessian(lambda v: w7_rosen(v, np))),
                    close_check(w7_hessian(x), rtol=1e-5, atol=1e-5), kind=FD)
            else:
                b.rows.append(Row(wl, H, "numdifftools", kind=FD,
                                  status="skipped (cost: O(n^2) evaluations)"))
        if NP is not None:
            b.case(wl, H, "numpy", lambda: lambda: w7_hessian(x), chk, kind=HAND,
                   note="closed form (the floor)")

    x = rng.uniform(-1, 1, nh)
    v = rng.standard_normal(nh)
    chk = close_check(w7_hvp(x, v), rtol=1e-10, atol=1e-12)
    P, JP = f"hvp n={nh}", f"hvp n={nh} jit"
    b.case(wl, P, "chainrule", lambda: lambda: _cr_hvp(
        cr, lambda u: w7_rosen(u, cnp), x, v), chk)
    b.case(wl, JP, "chainrule", lambda: (lambda h: lambda: h(x, v))(cr.jit(
        lambda a, t: _cr_hvp(cr, lambda u: w7_rosen(u, cnp), a, t))), chk, jit=True)
    if J:
        jax, jnp = J.jax, J.jnp
        fj = lambda u: w7_rosen(u, jnp)      # noqa: E731
        hv = lambda a, t: jax.jvp(jax.grad(fj), (a,), (t,))[1]   # noqa: E731
        xj, vj = jnp.asarray(x), jnp.asarray(v)
        b.case(wl, P, "jax", lambda: lambda: hv(xj, vj).block_until_ready(), chk,
               note="jvp of grad")
        b.case(wl, JP, "jax", lambda: (lambda h: lambda: h(xj, vj).block_until_ready())(
            jax.jit(lambda a, t: jax.jvp(jax.grad(lambda u: w7_rosen(u, jnp)),
                                         (a,), (t,))[1])), chk, jit=True)
    if T:
        torch = T.torch
        xt, vt = torch.tensor(x), torch.tensor(v)
        ft = lambda u: w7_rosen(u, torch)    # noqa: E731
        b.case(wl, P, "torch", lambda: lambda: torch.autograd.functional.hvp(
            ft, xt, vt)[1], chk, note="autograd.functional.hvp (double backward)")
        if T.func:
            b.case(wl, P, "torch.func", lambda: lambda: T.func.jvp(
                T.func.grad(ft), (xt,), (vt,))[1], chk, note="jvp of grad")
    if AG:
        b.case(wl, P, "autograd", lambda: (lambda h: lambda: h(x, v))(
            AG.ag.hessian_vector_product(lambda u: w7_rosen(u, AG.anp))), chk)
    if NP is not None:
        b.case(wl, P, "numpy", lambda: lambda: w7_hvp(x, v), chk, kind=HAND,
               note="closed form (the floor)")


# ----------------------------------------------------------------------------
# W8 GMM (ADBench objective, parameters as one flat vector)

class _TorchOps:
    def __init__(self, torch):
        self.t = torch
        self.exp, self.log = torch.exp, torch.log

    def sum(self, a, axis=None):
        return self.t.sum(a) if axis is None else self.t.sum(a, dim=axis)

    def max(self, a, axis):
        return self.t.amax(a, dim=axis)

    def swapaxes(self, a, i, j):
        return self.t.swapaxes(a, i, j)


class GMM:
    def __init__(self, d, K, n, wishart_gamma=1.0, wishart_m=0, seed=0):
        rng = np.random.default_rng(seed)
        self.d, self.K, self.n = d, K, n
        t = d * (d + 1) // 2
        self.t = t
        self.x = rng.standard_normal((n, d))
        alphas = rng.standard_normal(K)
        means = rng.uniform(0, 1, (K, d))
        icf = rng.uniform(0, 1, (K, t)) * 0.5
        self.p = np.concatenate([alphas, means.ravel(), icf.ravel()])
        # gather map for the strictly lower part of L (ADBench: column-major)
        idx = np.zeros(d * d, dtype=np.int64)
        mask = np.zeros(d * d)
        k = d
        for j in range(d):
            for i in range(j + 1, d):
                idx[i * d + j] = k
                mask[i * d + j] = 1.0
                k += 1
        self.idx, self.mask, self.eye = idx, mask, np.eye(d)
        self.g, self.m = wishart_gamma, wishart_m
        nw = d + wishart_m + 1
        mgl = d * (d - 1) / 4 * math.log(math.pi) + sum(
            math.lgamma(0.5 * nw + (1 - j) / 2) for j in range(1, d + 1))
        C = nw * d * (math.log(wishart_gamma) - 0.5 * math.log(2)) - mgl
        self.const = -n * d * 0.5 * math.log(2 * math.pi) - K * C

    def consts(self, conv=lambda a: a):
        return conv(self.x), conv(self.idx), conv(self.mask), conv(self.eye)

    def objective(self, p, m, consts):
        x, idx, mask, eye = consts
        d, K, n, t = self.d, self.K, self.n, self.t
        alphas = p[:K]
        means = p[K:K + K * d].reshape(K, d)
        icf = p[K + K * d:].reshape(K, t)
        logdiag = icf[:, :d]
        qd = m.exp(logdiag)
        sum_qs = m.sum(logdiag, axis=1)
        L = (icf[:, idx] * mask).reshape(K, d, d) + qd[:, :, None] * eye
        xc = x[None, :, :] - means[:, None, :]                  # K, n, d
        lx = xc @ m.swapaxes(L, 1, 2)                           # K, n, d
        inner = alphas[:, None] + sum_qs[:, None] - 0.5 * m.sum(lx ** 2, axis=2)
        mx = m.max(inner, axis=0)
        lse = mx + m.log(m.sum(m.exp(inner - mx[None, :]), axis=0))
        ma = m.max(alphas, axis=0)
        lse_a = ma + m.log(m.sum(m.exp(alphas - ma)))
        prior = m.sum(0.5 * self.g ** 2 * (m.sum(qd ** 2, axis=1) +
                                           m.sum(icf[:, d:] ** 2, axis=1))
                      - self.m * sum_qs)
        return self.const + m.sum(lse) - n * lse_a + prior


def W8(b):
    wl = "W8"
    if b.quick:
        grid, n = ((2, 5), (10, 5)), 200
    else:
        grid, n = tuple((d, K) for d in (2, 10, 20, 64) for K in (5, 25, 200)), 1000
    J = b.want("jax", wl)
    T = b.want("torch", wl)
    AG = b.want("autograd", wl)
    NP = b.want("numpy", wl)
    cr, cnp = b.cr, b.cnp
    for d, K in grid:
        g = GMM(d, K, n)
        p = g.p
        cn = g.consts()
        s = f"d={d} K={K}"
        O, JO, G, JG = f"{s} objective", f"{s} objective jit", f"{s} grad", f"{s} grad jit"
        fval = float(g.objective(p, np, cn))
        ochk = close_check(fval, rtol=1e-10)
        # gradient check: central differences along 3 random directions, then
        # agreement (1e-8) with the first tool that passes them
        rng = np.random.default_rng(1)
        dirs = [rng.standard_normal(p.size) for _ in range(3)]
        h = 1e-5
        fd = [(g.objective(p + h * v, np, cn) - g.objective(p - h * v, np, cn)) / (2 * h)
              for v in dirs]
        ref = []

        def gchk(r, dirs=dirs, fd=fd, ref=ref):
            r = to_numpy(r).ravel()
            if r.shape != p.shape:
                return False, f"shape {r.shape} != {p.shape}"
            dd = [float(r @ v) for v in dirs]
            derr = max(abs(a - e) / (abs(e) + 1e-3 * abs(fval) + 1) for a, e in zip(dd, fd))
            if derr > 1e-6:
                return False, f"directional derivative rel err {derr:.1e}"
            if not ref:
                ref.append(r)
                return True, f"FD directions rel err {derr:.1e}"
            err = float(np.max(np.abs(r - ref[0])) / np.max(np.abs(ref[0])))
            return err < 1e-8, f"vs first tool rel err {err:.1e}"

        fo = lambda q: g.objective(q, cnp, cn)       # noqa: E731
        b.case(wl, O, "chainrule", lambda: lambda: fo(p), ochk)
        b.case(wl, JO, "chainrule", lambda: (lambda f: lambda: f(p))(
            cr.jit(lambda q: g.objective(q, cnp, cn))), ochk, jit=True)
        b.case(wl, G, "chainrule", lambda: (lambda gr: lambda: gr(p))(
            cr.grad(fo)), gchk)
        b.case(wl, JG, "chainrule", lambda: (lambda gr: lambda: gr(p))(
            cr.jit(cr.grad(lambda q: g.objective(q, cnp, cn)))), gchk, jit=True)
        if J:
            jax, jnp = J.jax, J.jnp
            cj = g.consts(jnp.asarray)
            pj = jnp.asarray(p)
            fj = lambda q: g.objective(q, jnp, cj)    # noqa: E731
            b.case(wl, O, "jax", lambda: lambda: fj(pj).block_until_ready(), ochk)
            b.case(wl, JO, "jax", lambda: (lambda f: lambda: f(pj).block_until_ready())(
                jax.jit(lambda q: g.objective(q, jnp, cj))), ochk, jit=True)
            b.case(wl, G, "jax", lambda: (lambda gr: lambda: gr(pj).block_until_ready())(
                jax.grad(fj)), gchk)
            b.case(wl, JG, "jax", lambda: (lambda gr: lambda: gr(pj).block_until_ready())(
                jax.jit(jax.grad(lambda q: g.objective(q, jnp, cj)))), gchk, jit=True)
        if T:
            torch = T.torch
            ops = _TorchOps(torch)
            ct = g.consts(torch.as_tensor)
            pt = torch.tensor(p)
            b.case(wl, O, "torch", lambda: lambda: g.objective(pt, ops, ct), ochk)

            def tg():
                q = pt.detach().requires_grad_(True)
                return torch.autograd.grad(g.objective(q, ops, ct), q)[0]
            b.case(wl, G, "torch", lambda: tg, gchk)
        if AG:
            b.case(wl, O, "autograd", lambda: lambda: g.objective(p, AG.anp, cn), ochk)
            b.case(wl, G, "autograd", lambda: (lambda gr: lambda: gr(p))(
                AG.ag.grad(lambda q: g.objective(q, AG.anp, cn))), gchk)
        if NP is not None:
            b.case(wl, O, "numpy", lambda: lambda: g.objective(p, np, cn), ochk,
                   kind=HAND, note="the floor")
    by = {(r.case, r.tool): r for r in b.rows if r.workload == wl}
    for (case, tool), r in by.items():
        for gsuf, osuf in ((" grad", " objective"), (" grad jit", " objective jit")):
            if case.endswith(gsuf):
                o = by.get((case[: -len(gsuf)] + osuf, tool))
                if r.median_us and o and o.median_us:
                    r.extra["grad_over_objective"] = r.median_us / o.median_us


# ----------------------------------------------------------------------------
# report

RUNNERS = {"W1": W1, "W2": W2, "W3": W3, "W4": W4, "W5": W5, "W6": W6,
           "W7": W7, "W8": W8}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def header(b, args):
    try:
        aff = len(os.sched_getaffinity(0))
    except AttributeError:                                      # pragma: no cover
        aff = None
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    cr = b.cr
    versions["chainrule"] = getattr(cr, "__version__", "?") if cr else \
        f"not importable ({b.cr_missing})"
    versions.update(b.peers.versions)
    threads = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY",
                                          "OPENBLAS_NUM_THREADS",
                                          "MKL_NUM_THREADS", "XLA_FLAGS")
               if k in os.environ}
    if "torch" in b.peers.mods:
        threads["torch.get_num_threads"] = b.peers.mods["torch"].torch.get_num_threads()
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "affinity_cores": aff,
        "one_core": bool(args.one_core),
        "quick": bool(args.quick),
        "versions": versions,
        "threads": threads or "default",
        "peers_selected": sorted(b.peers.selected),
        "peers_missing": b.peers.missing,
        "timing": (f"time.perf_counter; warm-up calls first; samples of ~"
                   f"{b.target * 1e3:.0f} ms per measurement in total; median per "
                   f"call (µs) and spread = {SPREAD_KIND} of per-call times"),
    }


def summarize(rows):
    """Per (workload, case): best chainrule row, best exact peer, floor."""
    out = {}
    for r in rows:
        if r.median_us is None or not r.value_ok:
            continue
        s = out.setdefault((r.workload, r.case), {})
        key = {CR: "cr", AD: "peer", SYM: "peer", HAND: "floor"}.get(r.kind)
        if key and (key not in s or r.median_us < s[key].median_us):
            s[key] = r
    return out


def short_status(status):
    """'not yet: AttributeError: module 'chainrule' has no attribute 'jit''
    -> 'not yet: no jit'; otherwise the exception's type only."""
    head, _, rest = status.partition(": ")
    if not rest or head.startswith("skipped"):
        return status
    if "has no attribute '" in rest:
        name = rest.split("has no attribute '")[1].rstrip("'")
        return f"{head}: no {name}"
    return f"{head}: {rest.split(':')[0]}"


def _cell(r):
    if r is None:
        return ""
    if r.median_us is None:
        return short_status(r.status).replace("|", "/")
    s = fmt_us(r.median_us)
    if r.spread_us is not None and r.median_us > 0:
        s += f" ±{100 * r.spread_us / r.median_us / 2:.0f}%"
    return s + (" ✓" if r.value_ok else " ✗ WRONG")


def _ordered_cases(wrows):
    """Cases in order of appearance, each 'X, first call' right after 'X'."""
    cases = []
    for r in wrows:
        if r.case not in cases and not r.case.endswith(", first call"):
            cases.append(r.case)
    out = []
    names = {r.case for r in wrows}
    for c in cases:
        out.append(c)
        if c + ", first call" in names:
            out.append(c + ", first call")
    out += [c for c in names if c not in out]
    return out


def markdown(b, hdr, elapsed):
    rows = b.rows
    summ = summarize(rows)
    L = ["# chainrule benchmarks", ""]
    v = hdr["versions"]
    L.append(f"- date: {hdr['date']}; run took {elapsed:.1f} s"
             f"{' (quick)' if hdr['quick'] else ''}")
    L.append(f"- machine: {hdr['platform']}; CPU {hdr['cpu']}; {hdr['cores']} cores"
             f" ({hdr['affinity_cores']} in affinity"
             f"{', pinned to core 0' if hdr['one_core'] else ''})")
    L.append("- versions: " + ", ".join(f"{k} {val}" for k, val in v.items()))
    L.append(f"- threads: {hdr['threads']}")
    if hdr["peers_missing"]:
        L.append("- not installed (skipped): " + ", ".join(hdr["peers_missing"]))
    L.append(f"- timing: {hdr['timing']}.")
    L.append("- cells: median µs per call ±half the IQR in %; ✓ value checked "
             "against the exact answer, ✗ WRONG value. `, first call` rows: one "
             "call of a freshly built jit function (trace + compile + run).")
    L.append("- ratio = best chainrule row / best exact peer (AD or SymPy; finite "
             "differences and hand-written code excluded); floor = hand-written "
             "NumPy/Python code.")
    L.append("")
    for wl in WORKLOADS:
        if not any(r.workload == wl for r in rows):
            continue
        wrows = [r for r in rows if r.workload == wl and r.case != "all"]
        L.append(f"## {wl} — {TITLES[wl]}")
        L.append("")
        tools = []
        for r in wrows:
            if r.tool not in tools:
                tools.append(r.tool)
        has_floor = any(r.kind == HAND for r in wrows)
        cols = ["case"] + tools + ["cr / best peer", "best peer"] + \
            (["cr / floor"] if has_floor else [])
        L.append("| " + " | ".join(cols) + " |")
        L.append("|" + "---|" * len(cols))
        cell = {(r.case, r.tool): r for r in wrows}
        for c in _ordered_cases(wrows):
            s = summ.get((wl, c), {})
            crr, peer, floor = s.get("cr"), s.get("peer"), s.get("floor")
            ratio = f"{crr.median_us / peer.median_us:.3g}" if crr and peer else "—"
            line = [c] + [_cell(cell.get((c, t))) for t in tools] + \
                [ratio, peer.tool if peer else "—"]
            if has_floor:
                line.append(f"{crr.median_us / floor.median_us:.3g}"
                            if crr and floor else "—")
            L.append("| " + " | ".join(line) + " |")
        notes, seen = [], set()
        for r in wrows:
            if r.note and (r.tool, r.note) not in seen:
                seen.add((r.tool, r.note))
                notes.append(f"{r.tool}: {r.note}" if r.value_ok is not False
                             else f"{r.case} / {r.tool}: {r.note}")
        for r in wrows:
            if r.median_us is None and short_status(r.status) != r.status \
                    and (r.tool, r.status) not in seen:
                seen.add((r.tool, r.status))
                notes.append(f"{r.tool}: {r.status}")
        skipped = [r for r in rows if r.workload == wl and r.case == "all"]
        if skipped:
            notes.append("skipped (not installed): " +
                         ", ".join(r.tool for r in skipped))
        if notes:
            L.append("")
            L += [f"- {n}" for n in notes]
        extra = _extra_section(wl, wrows)
        if extra:
            L.append("")
            L += extra
        L.append("")
    wrong = [r for r in rows if r.value_ok is False]
    if wrong:
        L.append("## WRONG VALUES")
        L.append("")
        L += [f"- **{r.workload} | {r.case} | {r.tool}**: "
              f"{r.extra.get('check', r.note)}" for r in wrong]
        L.append("")
    return "\n".join(L)


def _extra_section(wl, wrows):
    L = []
    if wl == "W5":
        rs = [r for r in wrows if "us_per_op" in r.extra]
        if rs:
            L.append(f"W5 figure of merit: grad time / {W5_OPS} primitive ops")
            L.append("")
            L.append("| case | tool | µs per op |")
            L.append("|---|---|---|")
            L += [f"| {r.case} | {r.tool} | {r.extra['us_per_op']:.3g} |" for r in rs]
    if wl == "W6":
        rs = [r for r in wrows if "grad_over_f" in r.extra]
        if rs:
            L.append("W6 ratio time(grad f) / time(f), same tool")
            L.append("")
            L.append("| case | tool | grad / f |")
            L.append("|---|---|---|")
            L += [f"| {r.case} | {r.tool} | {r.extra['grad_over_f']:.3g} |" for r in rs]
    if wl == "W8":
        rs = [r for r in wrows if "grad_over_objective" in r.extra]
        if rs:
            L.append("W8 ratio time(gradient) / time(objective), same tool")
            L.append("")
            L.append("| case | tool | grad / objective |")
            L.append("|---|---|---|")
            L += [f"| {r.case} | {r.tool} | {r.extra['grad_over_objective']:.3g} |"
                  for r in rs]
    return L


def plot(b, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    summ = summarize(b.rows)
    items = [(f"{wl} {case}", s["cr"].median_us / s["peer"].median_us)
             for (wl, case), s in summ.items() if "cr" in s and "peer" in s]
    if not items:
        return False
    labels, ratios = zip(*items)
    fig, ax = plt.subplots(figsize=(8, 1.5 + 0.25 * len(items)))
    ys = np.arange(len(items))[::-1]
    ax.barh(ys, ratios, color=["tab:green" if r <= 1 else "tab:red" for r in ratios])
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xscale("log")
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xlabel("time chainrule / best peer (log scale; < 1: chainrule faster)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


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


if __name__ == "__main__":                                     # pragma: no cover
    sys.exit(main())
