"""`Bench`: builds a case, checks its value, times it (warm-up calls, then batched samples:
median and IQR per call) and records the rows, "not yet" and "fails" included."""

from __future__ import annotations

import time

import numpy as np

from .peers import PEERS, Peers, load_chainrule
from .rows import AD, CR, Row, describe, fmt_us, log


class NotYet(Exception):
    pass


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
