"""What one measurement records (`Row`), the kinds of rows, and the one-line forms the
harness prints: progress (`log`), times (`fmt_us`) and exceptions (`describe`)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

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


def describe(exc):
    msg = str(exc).strip().splitlines()
    msg = msg[0] if msg else ""
    if len(msg) > 90:
        msg = msg[:87] + "..."
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
