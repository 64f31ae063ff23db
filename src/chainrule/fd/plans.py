"""Plans: each method as one linear functional of the f values at x + t*h, with its
truncation estimate, and `_apply`, which combines f values into value, error and
round-off (the round-off model)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np

from .arguments import EPS
from .stencils import _richardson_coeffs, _stencil

# Round-off model: every f value is taken to carry a relative error of
# _ROUND_ULPS * eps (library functions are usually within 1-2 ulp, and the
# stencil point x + k*h itself is rounded once).
_ROUND_ULPS = 2.0

_OMEGA = complex(math.sqrt(0.5), math.sqrt(0.5))  # exp(i pi/4), symmetric



@dataclass(frozen=True)
class _Plan:
    """``value = sum_k wv[k] G_k / h**order`` with ``G = f(x + t h)`` (or its
    imaginary part when ``imag``); ``we`` gives the truncation estimate
    ``|sum_k we[k] G_k| / h**order`` (None: no estimate)."""

    t: np.ndarray
    wv: np.ndarray
    we: np.ndarray | None
    order: int
    imag: bool = False

    def __post_init__(self):  # plans are cached: make their arrays read-only
        for arr in (self.t, self.wv, self.we):
            if arr is not None:
                arr.setflags(write=False)


def _linear_plan(terms: dict[float, list[Fraction]], order: int, estimate: bool) -> _Plan:
    keys = sorted(terms)
    wv = np.array([float(terms[k][0]) for k in keys])
    we = np.array([float(terms[k][0] - terms[k][1]) for k in keys]) if estimate else None
    return _Plan(np.array(keys, dtype=float), wv, we, order)


@lru_cache(maxsize=256)
def _make_plan(method: str, order: int, accuracy: int, levels: int, estimate: bool) -> _Plan:
    if method in ("forward", "backward", "central"):
        lo_o, lo_w = _stencil(method, order, accuracy)
        terms: dict[float, list[Fraction]] = defaultdict(lambda: [Fraction(0), Fraction(0)])
        for o, w in zip(lo_o, lo_w):
            terms[float(o)][0] += w
        if estimate:
            # Reference: the next-accuracy stencil of the same family on the
            # same step; value - reference ~ the truncation error of value.
            hi_acc = accuracy + (2 if method == "central" else 1)
            for o, w in zip(*_stencil(method, order, hi_acc)):
                terms[float(o)][1] += w
        else:
            for k in terms:
                terms[k][1] = terms[k][0]
        return _linear_plan(dict(terms), order, estimate)

    if method == "richardson":
        # Points in units of the initial step h0: level k uses h0 / 2**k.
        offs, weights = _stencil("central", order, accuracy)
        final, prev = _richardson_coeffs(levels, accuracy)
        terms = defaultdict(lambda: [Fraction(0), Fraction(0)])
        for k in range(levels):
            scale = Fraction(2) ** (k * order)  # 1 / (h0/2**k)**m = 2**(km) / h0**m
            for o, wj in zip(offs, weights):
                key = float(Fraction(o, 2**k))
                terms[key][0] += final[k] * scale * wj
                terms[key][1] += prev[k] * scale * wj
        return _linear_plan(dict(terms), order, True)

    if method == "complex":
        if order == 1:
            return _Plan(np.array([1j]), np.array([1.0]), None, 1, imag=True)
        # 45-degree formula at h and 2h; D(2h) - D(h) ~ 15 * truncation(D(h)).
        t = np.array([_OMEGA, -_OMEGA, 2 * _OMEGA, -2 * _OMEGA])
        wv = np.array([1.0, 1.0, 0.0, 0.0])
        we = np.array([1.0, 1.0, -0.25, -0.25]) / 15.0
        if not estimate:
            return _Plan(t[:2], wv[:2], None, 2, imag=True)
        return _Plan(t, wv, we, 2, imag=True)

    raise AssertionError(method)  # pragma: no cover


def _apply(plan: _Plan, F: np.ndarray, h) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Combine stencil values ``F`` (stencil axis first) into value, error, round-off."""
    G = F.imag if plan.imag else F
    with np.errstate(all="ignore"):
        hm = np.asarray(h, dtype=float) ** plan.order
        # Only points with a nonzero value weight enter the value, so that a
        # NaN at a point used just for the error estimate (0 * NaN = NaN)
        # leaves the value intact.
        used = plan.wv != 0
        wv, Gv = plan.wv[used], G[used]
        value = np.tensordot(wv, Gv, axes=(0, 0)) / hm
        roundoff = _ROUND_ULPS * EPS * np.tensordot(np.abs(wv), np.abs(Gv), axes=(0, 0)) / hm
        if plan.we is not None:
            trunc = np.abs(np.tensordot(plan.we, G, axes=(0, 0))) / hm
        else:
            trunc = np.zeros_like(roundoff)
        error = trunc + roundoff
    bad = ~np.all(np.isfinite(F), axis=0)
    error = np.where(bad, np.inf, error)
    return value, error, roundoff
