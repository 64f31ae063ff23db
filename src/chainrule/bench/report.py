"""The run's output: the header (machine, versions, threads), the markdown tables with
chainrule / best peer and floor ratios, and the ratio figure (bench.png, with matplotlib)."""

from __future__ import annotations

import datetime
import os
import platform

import numpy as np

from .rows import AD, CR, HAND, SPREAD_KIND, SYM, fmt_us
from .workloads import TITLES, WORKLOADS
from .workloads.w5_overhead import W5_OPS


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
