"""Stencil weights in exact rational arithmetic: for any offsets (`stencil_weights`), the
standard forward, backward and central stencils, and the Richardson tableau's coefficients."""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import numpy as np

from .arguments import _as_int


@lru_cache(maxsize=512)
def _weights_exact(offsets: tuple[float, ...], order: int) -> tuple[Fraction, ...]:
    """Solve the Taylor system exactly with rational Gauss-Jordan elimination.

    A stencil ``sum_j w_j f(x + o_j h) / h**order`` reproduces the
    ``order``-th derivative when, for every Taylor term ``k < len(offsets)``,
    ``sum_j w_j o_j**k / k! = [k == order]``, i.e. the Vandermonde system
    ``sum_j o_j**k w_j = order! [k == order]``.  Floats convert to Fractions
    exactly, so the weights come out exact and only round once to float64
    (a float64 Vandermonde solve loses digits already at ~9 points).
    """
    n = len(offsets)
    nodes = [Fraction(v) for v in offsets]
    rows = []
    for k in range(n):
        rhs = Fraction(math.factorial(order)) if k == order else Fraction(0)
        rows.append([o**k for o in nodes] + [rhs])
    for col in range(n):
        piv = next(r for r in range(col, n) if rows[r][col] != 0)
        rows[col], rows[piv] = rows[piv], rows[col]
        pv = rows[col][col]
        rows[col] = [a / pv for a in rows[col]]
        for r in range(n):
            fac = rows[r][col]
            if r != col and fac != 0:
                rows[r] = [a - fac * b for a, b in zip(rows[r], rows[col])]
    return tuple(rows[r][n] for r in range(n))


def stencil_weights(offsets, order: int) -> np.ndarray:
    """Finite-difference weights for the ``order``-th derivative.

    Returns ``w`` such that ``f^(order)(x) ~ sum_j w[j] f(x + offsets[j]*h) / h**order``
    with the highest accuracy the points allow: the error is
    ``O(h**(len(offsets) - order))`` (one order more for symmetric stencils
    of even total degree).  Computed by solving the Taylor/Vandermonde
    system in exact rational arithmetic.

    >>> stencil_weights([-1, 0, 1], 2)
    array([ 1., -2.,  1.])
    """
    try:
        o = np.asarray(offsets, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"offsets must be real numbers, got {offsets!r}") from exc
    if o.ndim != 1 or o.size == 0:
        raise ValueError("offsets must be a non-empty 1-D sequence")
    if not np.all(np.isfinite(o)):
        raise ValueError("offsets must be finite")
    order = _as_int(order, "order")
    if order < 0:
        raise ValueError(f"order must be >= 0, got {order}")
    vals = tuple(float(v) + 0.0 for v in o)  # +0.0 folds -0.0 into 0.0
    if len(set(vals)) != len(vals):
        raise ValueError(f"offsets must be distinct, got {list(vals)}")
    if order >= len(vals):
        raise ValueError(
            f"a derivative of order {order} needs at least {order + 1} offsets, "
            f"got {len(vals)}"
        )
    return np.array([float(w) for w in _weights_exact(vals, order)])


def _stencil(kind: str, order: int, accuracy: int) -> tuple[tuple[int, ...], tuple[Fraction, ...]]:
    """Integer offsets and exact weights of a standard stencil (zero weights dropped)."""
    if kind == "central":
        npts = 2 * ((order + 1) // 2) - 1 + accuracy
        half = npts // 2
        offs = tuple(range(-half, half + 1))
    elif kind == "forward":
        offs = tuple(range(0, order + accuracy))
    elif kind == "backward":
        offs = tuple(range(-(order + accuracy) + 1, 1))
    else:  # pragma: no cover - internal misuse
        raise AssertionError(kind)
    w = _weights_exact(tuple(float(o) for o in offs), order)
    keep = [(o, wi) for o, wi in zip(offs, w) if wi != 0]
    return tuple(o for o, _ in keep), tuple(wi for _, wi in keep)


@lru_cache(maxsize=64)
def _richardson_coeffs(levels: int, p: int) -> tuple[tuple[Fraction, ...], tuple[Fraction, ...]]:
    """Coefficients of the last two Richardson levels in terms of D_0..D_{L-1}.

    ``D_k`` is the accuracy-``p`` central estimate at step ``h / 2**k``; its
    error expands in ``h**p, h**(p+2), ...``.  Level ``j`` of the tableau
    removes the ``h**(p + 2(j-1))`` term:
    ``T[k][j] = T[k][j-1] + (T[k][j-1] - T[k-1][j-1]) / (2**(p+2(j-1)) - 1)``.
    The tableau is linear in the ``D_k``, so it is run on unit vectors.
    Returns (final ``T[L-1][L-1]``, previous level ``T[L-1][L-2]``).
    """
    unit = [[Fraction(int(i == k)) for i in range(levels)] for k in range(levels)]
    table: list[list[list[Fraction]]] = []
    for k in range(levels):
        row = [unit[k]]
        for j in range(1, k + 1):
            r = Fraction(2 ** (p + 2 * (j - 1)) - 1)
            a, b = row[j - 1], table[k - 1][j - 1]
            row.append([ai + (ai - bi) / r for ai, bi in zip(a, b)])
        table.append(row)
    return tuple(table[-1][-1]), tuple(table[-1][-2])
