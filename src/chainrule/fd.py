"""Finite-difference derivatives, for comparison with automatic differentiation.

Automatic differentiation is exact up to round-off; finite differences are
not.  Their error has two parts that pull in opposite directions:

* **truncation** -- a stencil of accuracy ``p`` for the ``m``-th derivative
  drops Taylor terms of size ``C * h**p``;
* **round-off** -- each ``f`` value carries a relative error of about
  ``eps``, and the stencil divides by ``h**m``, so the result carries about
  ``eps * |f| / h**m``.

Minimising ``h**p + eps / h**m`` gives the optimal step
``h ~ eps**(1 / (p + m))`` (times the scale of ``x``), and an error of about
``eps**(p / (p + m))``.  :func:`derivative` picks that step by default and
returns an :class:`FDResult` with an error estimate, so the three techniques
of this library (AD, finite differences, symbolic) can be compared honestly.

Methods
-------
``"forward"``, ``"backward"``, ``"central"``
    Classical stencils on the integer grid ``x + k*h``.  The weights are
    obtained by solving the Taylor (Vandermonde) system exactly in rational
    arithmetic, see :func:`stencil_weights`.  ``accuracy`` is the order of the
    truncation error: 2, 4, 6 or 8 for central stencils, 1..8 for one-sided
    ones.
``"complex"``
    Complex step ``Im f(x + i h) / h``: no subtraction, hence no cancellation,
    so ``h = 1e-20`` gives derivatives accurate to machine precision.  Needs
    an analytic, complex-safe ``f``.  Order 2 uses the 45-degree complex-step
    formula ``Im[f(x + h w) + f(x - h w)] / h**2`` with ``w = exp(i pi/4)``.
``"richardson"``
    Central differences at steps ``h, h/2, h/4, ...`` combined by Richardson
    extrapolation, which removes the error terms ``h**p, h**(p+2), ...`` one
    level at a time.

Evaluation conventions
----------------------
:func:`derivative` first tries to evaluate ``f`` on all stencil points in one
call, ``f(np.array([...]))``; if that raises or returns an array of the wrong
shape it falls back to one call per point, with Python floats (or complex
numbers for the complex step).

The multivariate functions (:func:`gradient`, :func:`jacobian`,
:func:`hessian`, :func:`directional`) call ``f`` with arrays shaped like
``x``, one perturbed point per call, unless ``vectorized=True`` is passed: then
``f`` receives *all* perturbed points at once as an array of shape ``(k, n)``
(``n = x.size``, one point per row) and must return shape ``(k,)`` (scalar
``f``) or ``(k, m)`` (vector ``f``).

Every function counts the points it evaluates (``nfev``); a point where ``f``
returns NaN or inf triggers an :class:`FDWarning` naming the point, and the
error estimate of the affected result is set to ``inf``.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from types import FrameType
from typing import Any

import numpy as np

__all__ = [
    "FDResult",
    "FDWarning",
    "METHODS",
    "derivative",
    "stencil_weights",
    "gradient",
    "jacobian",
    "hessian",
    "directional",
    "step_error_curve",
]

EPS = float(np.finfo(np.float64).eps)

#: The finite-difference methods understood by this module.
METHODS = ("forward", "backward", "central", "complex", "richardson")

_MAX_ORDER = 4
_CENTRAL_ACCURACIES = (2, 4, 6, 8)
_MAX_ONE_SIDED_ACCURACY = 8
_MAX_RICHARDSON_TERMS = 10

# Round-off model: every f value is taken to carry a relative error of
# _ROUND_ULPS * eps (library functions are usually within 1-2 ulp, and the
# stencil point x + k*h itself is rounded once).
_ROUND_ULPS = 2.0

# Complex step, first derivative.  Truncation error is h**2 |f'''| / 6, so any
# h below ~1e-8 is already exact in float64; 1e-20 is the customary choice
# (small enough for any reasonable f''', large enough that h*f' does not
# underflow for |f'| > 1e-280).
_COMPLEX_STEP_1 = 1e-20

# Complex step, second derivative (45-degree formula).  Truncation error is
# h**4 |f^(6)| / 360; the imaginary parts being combined are ~h*f' each and
# cancel, so round-off is ~eps*|f'|/h to eps*|f|/h**2.  Balancing the worse
# case gives h ~ eps**(1/6) ~ 2.5e-3 and an error ~ eps**(2/3) ~ 4e-11,
# still better than the eps**(1/2) of a central real stencil.
_COMPLEX_STEP_2 = EPS ** (1.0 / 6.0)

_OMEGA = complex(math.sqrt(0.5), math.sqrt(0.5))  # exp(i pi/4), symmetric


class FDWarning(UserWarning):
    """Emitted when ``f`` returns NaN or inf at a stencil point."""


@dataclass(frozen=True, eq=False)
class FDResult:
    """Result of :func:`derivative`.

    Attributes
    ----------
    value : float or ndarray
        The finite-difference derivative (an array when ``x`` is an array).
    error : float or ndarray
        Estimated absolute error of ``value``: a truncation estimate (the
        difference to a higher-accuracy stencil on the same step for plain
        stencils, the difference between the last two extrapolation levels
        for Richardson) plus a round-off estimate ``~eps * sum|w_k f_k| / h**m``.
        ``inf`` where ``f`` returned a non-finite value at a stencil point.
    step : float or ndarray
        The step actually used (rounded so that ``x + step`` is exact); for
        Richardson, the largest (initial) step.
    method : str
        The method used.
    order : int
        The derivative order.
    nfev : int
        Number of points at which ``f`` was evaluated.
    """

    value: Any
    error: Any
    step: Any
    method: str
    order: int
    nfev: int

    def __float__(self) -> float:
        if np.ndim(self.value) != 0:
            raise TypeError(
                "float() needs a scalar FDResult; this one holds an array of "
                f"shape {np.shape(self.value)} (use .value)"
            )
        return float(self.value)


# ---------------------------------------------------------------------------
# Stencil weights
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Plans: a linear functional of f values at x + t*h
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------


def _as_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)


def _check_method(method) -> str:
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(
            f"unknown method {method!r}; valid methods are: " + ", ".join(repr(m) for m in METHODS)
        )
    return method


def _check_order(order, method: str) -> int:
    order = _as_int(order, "order")
    if not 1 <= order <= _MAX_ORDER:
        raise ValueError(f"order must be between 1 and {_MAX_ORDER}, got {order}")
    if method == "complex" and order > 2:
        raise ValueError(
            f"the complex step supports derivative orders 1 and 2 only, got {order}; "
            "use 'central' or 'richardson' for higher orders"
        )
    return order


def _check_accuracy(accuracy, method: str) -> int:
    if method == "complex":
        return 0  # the complex step has a fixed formula; accuracy is not used
    accuracy = _as_int(accuracy, "accuracy")
    if method in ("central", "richardson"):
        if accuracy not in _CENTRAL_ACCURACIES:
            raise ValueError(
                f"accuracy for {method!r} must be one of {_CENTRAL_ACCURACIES} "
                f"(central stencils have even order), got {accuracy}"
            )
    elif not 1 <= accuracy <= _MAX_ONE_SIDED_ACCURACY:
        raise ValueError(
            f"accuracy for {method!r} must be between 1 and {_MAX_ONE_SIDED_ACCURACY}, got {accuracy}"
        )
    return accuracy


def _check_terms(terms, method: str) -> int:
    if method != "richardson":
        return 1
    terms = _as_int(terms, "richardson_terms")
    if not 2 <= terms <= _MAX_RICHARDSON_TERMS:
        raise ValueError(
            f"richardson_terms must be between 2 and {_MAX_RICHARDSON_TERMS}, got {terms}"
        )
    return terms


def _auto_step(method: str, order: int, accuracy: int, levels: int) -> float:
    """Step for ``|x| <= 1``; callers multiply by ``max(|x|, 1)``."""
    if method in ("forward", "backward", "central"):
        # Minimise C h**p + eps/h**m  ->  h ~ eps**(1/(p+m)).
        return EPS ** (1.0 / (accuracy + order))
    if method == "complex":
        return _COMPLEX_STEP_1 if order == 1 else _COMPLEX_STEP_2
    # Richardson.  The extrapolated result is a stencil of accuracy
    # q = p + 2(L-1) whose smallest step is h_min = h0 / 2**(L-1); its error
    # is ~ (h_min/ell)**q (truncation, ell = length scale on which f varies)
    # plus ~ eps / h_min**m (round-off, the extrapolation weights only
    # amplify it by ~1.5).  For ell = 1 the optimum is h_min ~ eps**(1/(q+m));
    # we take a quarter of that so that functions varying on a scale of
    # ~1/4 (cos(3x), exp(2x), log near 0.3) still sit at the optimum, which
    # costs functions of unit scale at most a factor 4**m in round-off.
    # For the default L=3, p=2 this gives h0 ~ 0.006 (m=1) to 0.03 (m=4);
    # the classical "start at 0.1" leaves truncation errors of ~1e-8
    # relative on sin(x) - 2 cos(3x) exp(-x**2), this choice ~1e-13.
    q = accuracy + 2 * (levels - 1)
    return min(2.0 ** (levels - 1) * EPS ** (1.0 / (q + order)) / 4.0, 0.5)


def _resolve_step(step, method, order, accuracy, levels, scale: np.ndarray) -> np.ndarray:
    if isinstance(step, str):
        if step != "auto":
            raise ValueError(f"step must be 'auto' or a positive number, got {step!r}")
        return _auto_step(method, order, accuracy, levels) * scale
    try:
        s = np.asarray(step, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"step must be 'auto' or a positive finite number, got {step!r}") from exc
    if s.size == 0 or not np.all(np.isfinite(s)):
        raise ValueError(f"step must be finite, got {step!r}")
    if np.any(s <= 0):
        raise ValueError(f"step must be positive, got {step!r}")
    try:
        return np.broadcast_to(s, scale.shape).astype(float)
    except ValueError as exc:
        raise ValueError(
            f"step of shape {s.shape} does not broadcast to x of shape {scale.shape}"
        ) from exc


def _representable(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Round h so that x + h is exact: h <- (x + h) - x (a standard trick that
    removes the error of the perturbed point from the difference)."""
    hh = (x + h) - x
    if np.any(hh <= 0):
        raise ValueError(
            "step is too small to perturb x in float64 (x + step == x); "
            "use a larger step"
        )
    return hh


def _as_real_point(x, name: str = "x") -> np.ndarray:
    if np.iscomplexobj(x):
        raise ValueError(f"{name} must be real")
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a real number or array, got {x!r}") from exc
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {x!r}")
    return arr


_COMPLEX_UNSAFE = (
    "the complex step needs an analytic, complex-safe f (one that propagates "
    "the imaginary part of its input: no abs(), no math.* functions, no "
    "comparisons or casts to float); {why}. Use method='central' or "
    "'richardson' for this function."
)


def _warn_nonfinite(points, values, nbad: int) -> None:
    shown = ", ".join(f"f({p}) = {v}" for p, v in zip(points[:3], values[:3]))
    more = "" if nbad <= 3 else f" (and {nbad - 3} more)"
    # Point the warning at the first caller outside this module.
    level = 1
    frame: FrameType | None = sys._getframe(0)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame, level = frame.f_back, level + 1
    warnings.warn(
        f"f returned a non-finite value at {nbad} stencil point(s): {shown}{more}; "
        "the error estimate of the affected derivative is set to inf",
        FDWarning,
        stacklevel=level,
    )


# ---------------------------------------------------------------------------
# Evaluators
# ---------------------------------------------------------------------------


class _PointEvaluator:
    """Evaluate an elementwise scalar f at x + t*h (x, h of the same shape)."""

    def __init__(self, f: Callable, x: np.ndarray):
        self.f = f
        self.x = x
        self.nfev = 0

    def __call__(self, t: np.ndarray, h: np.ndarray) -> np.ndarray:
        cm = np.iscomplexobj(t)
        x = self.x
        pts = x[None, ...] + np.reshape(t, (-1,) + (1,) * x.ndim) * np.asarray(h)[None, ...]
        F = self._evaluate(pts, cm)
        self.nfev += pts.size
        bad = ~np.isfinite(F)
        if np.any(bad):
            _warn_nonfinite(
                [repr(p.item()) for p in pts[bad][:3]], [str(v) for v in F[bad][:3]], int(bad.sum())
            )
        return F

    def _evaluate(self, pts: np.ndarray, cm: bool) -> np.ndarray:
        out = None
        try:
            out = np.asarray(self.f(pts))
        except Exception:  # f may not accept arrays: fall back to one call per point
            out = None
        if out is not None and out.shape == pts.shape and out.dtype.kind in "biufc":
            return _check_kind(out, cm, "")
        vals = np.empty(pts.shape, dtype=complex if cm else float)
        for idx, p in np.ndenumerate(pts):
            try:
                r = self.f(p.item())
            except TypeError as exc:
                if cm:
                    raise ValueError(
                        _COMPLEX_UNSAFE.format(why=f"f({p.item()!r}) raised TypeError: {exc}")
                    ) from exc
                raise
            r = np.asarray(r)
            if r.shape != ():
                raise ValueError(
                    f"derivative() needs a scalar-valued f, but f({p.item()!r}) returned "
                    f"shape {r.shape}; use jacobian() for vector-valued functions"
                )
            vals[idx] = _check_kind(r, cm, f" at {p.item()!r}")
        return vals


def _check_kind(out: np.ndarray, cm: bool, where: str) -> np.ndarray:
    if cm and not np.iscomplexobj(out):
        raise ValueError(
            _COMPLEX_UNSAFE.format(why=f"f returned a real value for a complex argument{where}")
        )
    if not cm and np.iscomplexobj(out):
        if np.all(out.imag == 0):  # complex dtype, real values: fine
            return out.real.astype(float)
        raise ValueError(f"f returned a complex value for a real argument{where}; f must be real-valued")
    return out.astype(complex if cm else float, copy=False)


class _RowCaller:
    """Evaluate f: R^n -> R^m on rows of an (R, n) array, batched or looped."""

    def __init__(self, f: Callable, xshape: tuple, vectorized: bool):
        self.f = f
        self.xshape = xshape
        self.vectorized = bool(vectorized)
        self.out_shape: tuple | None = None
        self.nfev = 0

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        cm = np.iscomplexobj(rows)
        R = rows.shape[0]
        try:
            if self.vectorized:
                Y = np.asarray(self.f(rows))
                if Y.ndim not in (1, 2) or Y.shape[0] != R:
                    raise ValueError(
                        f"with vectorized=True, f must map an array of shape ({R}, {rows.shape[1]}) "
                        f"to shape ({R},) or ({R}, m); it returned shape {Y.shape}"
                    )
            else:
                outs = [np.asarray(self.f(r.reshape(self.xshape))) for r in rows]
                shapes = {o.shape for o in outs}
                if len(shapes) != 1:
                    raise ValueError(f"f returned outputs of different shapes: {sorted(shapes)}")
                Y = np.stack(outs)
        except TypeError as exc:
            if cm:
                raise ValueError(_COMPLEX_UNSAFE.format(why=f"f raised TypeError: {exc}")) from exc
            raise
        if Y.dtype.kind not in "biufc":
            raise ValueError(f"f must return numbers, got dtype {Y.dtype}")
        Y = _check_kind(Y, cm, "")
        out = Y.shape[1:]
        if self.out_shape is None:
            self.out_shape = out
        elif out != self.out_shape:
            raise ValueError(f"f returned shape {out}, earlier {self.out_shape}")
        self.nfev += R
        bad = ~np.all(np.isfinite(Y.reshape(R, -1)), axis=1)
        if np.any(bad):
            idx = np.flatnonzero(bad)
            _warn_nonfinite(
                [np.array2string(rows[i], separator=", ") for i in idx[:3]],
                [np.array2string(np.asarray(Y[i]), separator=", ") for i in idx[:3]],
                len(idx),
            )
        return Y


class _AxisEvaluator:
    """F[k, i] = f(x + t_k h_i e_i), sharing the centre point when t_k == 0."""

    def __init__(self, caller: _RowCaller, xf: np.ndarray):
        self.caller = caller
        self.xf = xf

    @property
    def nfev(self) -> int:
        return self.caller.nfev

    def __call__(self, t: np.ndarray, h: np.ndarray) -> np.ndarray:
        t = np.asarray(t)
        n = self.xf.size
        nz = np.flatnonzero(t != 0)
        has_zero = nz.size < t.size
        eye = np.eye(n)
        rows = self.xf[None, None, :] + (t[nz, None, None] * h[None, :, None]) * eye[None]
        rows = rows.reshape(nz.size * n, n)
        if has_zero:
            rows = np.concatenate([rows, self.xf[None, :].astype(rows.dtype)])
        Y = self.caller(rows)
        out = Y.shape[1:]
        F = np.empty((t.size, n) + out, dtype=Y.dtype)
        F[nz] = Y[: nz.size * n].reshape((nz.size, n) + out)
        if has_zero:
            F[t == 0] = Y[-1]
        return F


class _LineEvaluator:
    """F[k] = f(x + t_k h v)."""

    def __init__(self, caller: _RowCaller, xf: np.ndarray, v: np.ndarray):
        self.caller = caller
        self.xf = xf
        self.v = v

    @property
    def nfev(self) -> int:
        return self.caller.nfev

    def __call__(self, t: np.ndarray, h) -> np.ndarray:
        t = np.asarray(t)
        rows = self.xf[None, :] + (t * float(h))[:, None] * self.v[None, :]
        return self.caller(rows)


def _complex_zero_check(plan: _Plan, F: np.ndarray, ev, hcheck, hshape) -> None:
    """Raise when Im f is exactly zero although the real derivative is not ~0.

    A function that silently drops the imaginary part (x.real, float(),
    np.real, ...) returns Im f == 0 exactly; a genuinely zero derivative
    would make a real central difference ~0 as well (within its round-off).
    """
    zero = np.all(F.imag == 0, axis=0)
    if not np.any(zero):
        return
    check = _make_plan("central", plan.order, 2, 1, False)
    Fc = ev(check.t, hcheck)
    val, _, noise = _apply(check, Fc, np.reshape(hcheck, hshape))
    flagged = zero & (np.abs(val) > 100.0 * noise)
    if np.any(flagged):
        raise ValueError(
            _COMPLEX_UNSAFE.format(
                why="Im f(x + ih) is exactly zero although a real finite difference "
                f"gives {np.ravel(val[flagged])[0]:.6g}"
            )
        )


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def derivative(
    f: Callable,
    x,
    order: int = 1,
    method: str = "central",
    step="auto",
    accuracy: int = 2,
    richardson_terms: int = 3,
) -> FDResult:
    """Finite-difference derivative of a scalar function of a scalar.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``.  If ``f`` works elementwise on arrays it is called
        once with all stencil points; otherwise once per point.
    x : float or array_like
        Where to differentiate.  An array differentiates elementwise.
    order : int
        Derivative order, 1..4 (1..2 for the complex step).
    method : {"central", "forward", "backward", "complex", "richardson"}
    step : "auto" or float
        ``"auto"`` scales a base step by ``max(|x|, 1)``; the base step is
        ``eps**(1/(accuracy+order))`` for plain stencils (the optimum of
        truncation ``h**p`` vs round-off ``eps/h**m``), ``1e-20`` for the
        complex step (``eps**(1/6)`` for its second derivative), and for
        Richardson the initial step ``2**(L-1) * eps**(1/(q+order)) / 4``
        with ``L = richardson_terms`` and ``q = accuracy + 2(L-1)``, the
        accuracy of the extrapolated result (about 0.006 for the first
        derivative with the defaults).  A number (or an array broadcasting to
        ``x``) is used as given, after rounding so that ``x + step`` is exact.
    accuracy : int
        Truncation order of the stencil: 2, 4, 6, 8 for central (and for the
        base stencil of Richardson), 1..8 for forward/backward.  Ignored for
        the complex step.
    richardson_terms : int
        Number of steps ``h, h/2, ..., h/2**(terms-1)`` for Richardson (2..10).

    Returns
    -------
    FDResult
    """
    method = _check_method(method)
    order = _check_order(order, method)
    accuracy = _check_accuracy(accuracy, method)
    levels = _check_terms(richardson_terms, method)
    x_arr = _as_real_point(x)
    scale = np.maximum(np.abs(x_arr), 1.0)
    h = _resolve_step(step, method, order, accuracy, levels, scale)
    if method != "complex":
        h = _representable(x_arr, h)

    plan = _make_plan(method, order, accuracy, levels, True)
    ev = _PointEvaluator(f, x_arr)
    F = ev(plan.t, h)
    value, error, _ = _apply(plan, F, h)
    if plan.imag:
        hcheck = _representable(x_arr, EPS ** (1.0 / (2 + order)) * scale)
        _complex_zero_check(plan, F, ev, hcheck, x_arr.shape)

    if x_arr.ndim == 0:
        return FDResult(float(value), float(error), float(h), method, order, ev.nfev)
    return FDResult(np.asarray(value), np.asarray(error), np.array(h), method, order, ev.nfev)


def _prepare_multi(x, method, step, accuracy, richardson_terms, order):
    method = _check_method(method)
    order = _check_order(order, method)
    accuracy = _check_accuracy(accuracy, method)
    levels = _check_terms(richardson_terms, method)
    x0 = _as_real_point(x)
    xf = x0.ravel().copy()
    if xf.size == 0:
        raise ValueError("x must not be empty")
    scale = np.maximum(np.abs(xf), 1.0)
    step_in = step
    if not isinstance(step, str):
        try:
            s_arr = np.asarray(step, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"step must be 'auto' or a positive finite number, got {step!r}") from exc
        try:
            step_in = np.ravel(np.broadcast_to(s_arr, x0.shape))
        except ValueError as exc:
            raise ValueError(
                f"step of shape {s_arr.shape} does not broadcast to x of shape {x0.shape}"
            ) from exc
    h = _resolve_step(step_in, method, order, accuracy, levels, scale)
    if method != "complex":
        h = _representable(xf, h)
    return method, order, accuracy, levels, x0, xf, scale, h


def _first_derivatives(f, x, method, step, accuracy, richardson_terms, vectorized):
    """Values d f / d x_i stacked on axis 0: shape (n,) + out_shape."""
    method, order, accuracy, levels, x0, xf, scale, h = _prepare_multi(
        x, method, step, accuracy, richardson_terms, 1
    )
    plan = _make_plan(method, 1, accuracy, levels, False)
    caller = _RowCaller(f, x0.shape, vectorized)
    ev = _AxisEvaluator(caller, xf)
    F = ev(plan.t, h)  # (K, n) + out
    out = F.shape[2:]
    hb = h.reshape((xf.size,) + (1,) * len(out))
    value, _, _ = _apply(plan, F, hb)
    if plan.imag:
        hcheck = _representable(xf, EPS ** (1.0 / 3.0) * scale)
        _complex_zero_check(plan, F, ev, hcheck, hb.shape)
    return value, x0.shape, out


def gradient(
    f: Callable,
    x,
    method: str = "central",
    step="auto",
    accuracy: int = 2,
    *,
    richardson_terms: int = 3,
    vectorized: bool = False,
) -> np.ndarray:
    """Gradient of a scalar function ``f: R^n -> R``, shaped like ``x``.

    Each partial derivative uses the 1-D stencil of ``method`` along its
    coordinate axis, with step ``step`` (or the automatic one scaled by
    ``max(|x_i|, 1)``).  With ``vectorized=True``, ``f`` is called once with
    all perturbed points as rows of an ``(k, n)`` array and must return shape
    ``(k,)``; otherwise it is called once per point with an array shaped like
    ``x``.
    """
    value, xshape, out = _first_derivatives(f, x, method, step, accuracy, richardson_terms, vectorized)
    if out != ():
        raise ValueError(
            f"gradient() needs a scalar-valued f, but f returns shape {out}; use jacobian()"
        )
    return value.reshape(xshape)


def jacobian(
    f: Callable,
    x,
    method: str = "central",
    step="auto",
    accuracy: int = 2,
    *,
    richardson_terms: int = 3,
    vectorized: bool = False,
) -> np.ndarray:
    """Jacobian of ``f: R^n -> R^m``: ``J[j, i] = d f_j / d x_i``.

    Shape ``f(x).shape + x.shape`` (so ``(m, n)`` for vector ``x`` and
    ``f``; ``(n,)`` for a scalar ``f``).  Same conventions as :func:`gradient`;
    with ``vectorized=True`` ``f`` maps ``(k, n)`` to ``(k, m)``.
    """
    value, xshape, out = _first_derivatives(f, x, method, step, accuracy, richardson_terms, vectorized)
    J = np.moveaxis(value, 0, -1)  # out + (n,)
    return J.reshape(out + xshape)


def directional(
    f: Callable,
    x,
    v,
    method: str = "central",
    step="auto",
    accuracy: int = 2,
    *,
    richardson_terms: int = 3,
    vectorized: bool = False,
):
    """Directional derivative ``d/dt f(x + t v)`` at ``t = 0`` (``= grad f . v``).

    One 1-D stencil along the line ``x + t v``, so it costs as much as a
    single :func:`derivative`.  The automatic step in ``t`` is chosen so the
    perturbation ``t * max|v|`` has the size of an automatic step at
    ``max(max|x|, 1)``.  Returns a float for scalar ``f``, an array for
    vector ``f``.
    """
    method = _check_method(method)
    accuracy = _check_accuracy(accuracy, method)
    levels = _check_terms(richardson_terms, method)
    x0 = _as_real_point(x)
    xf = x0.ravel().copy()
    vv = _as_real_point(v, "v")
    if vv.size != xf.size:
        raise ValueError(f"v must have the same size as x ({xf.size}), got {vv.size}")
    vf = vv.ravel().astype(float)
    vmax = float(np.max(np.abs(vf))) if vf.size else 0.0
    scale = max(float(np.max(np.abs(xf))) if xf.size else 0.0, 1.0) / (vmax if vmax > 0 else 1.0)
    h = float(_resolve_step(step, method, 1, accuracy, levels, np.asarray(scale)))
    plan = _make_plan(method, 1, accuracy, levels, False)
    caller = _RowCaller(f, x0.shape, vectorized)
    ev = _LineEvaluator(caller, xf, vf)
    F = ev(plan.t, h)
    value, _, _ = _apply(plan, F, h)
    if plan.imag and vmax > 0:
        _complex_zero_check(plan, F, ev, EPS ** (1.0 / 3.0) * scale, ())
    if vmax == 0:
        value = np.zeros_like(value)
    return float(value) if np.ndim(value) == 0 else np.asarray(value)


def _hessian_core(f, x, method, step, accuracy, richardson_terms, vectorized):
    method, order, accuracy, levels, x0, xf, scale, h = _prepare_multi(
        x, method, step, accuracy, richardson_terms, 2
    )
    n = xf.size
    # entries[(i, j)] maps a point key to its coefficient; a key is a tuple of
    # (coordinate, multiplier) pairs and stands for x + sum multiplier*h_c*e_c.
    entries: dict[tuple[int, int], dict] = {}
    if method == "complex":
        w = _OMEGA
        for i in range(n):
            entries[(i, i)] = {((i, w),): 1.0, ((i, -w),): 1.0}
        for i in range(n):
            for j in range(i + 1, n):
                # Polarisation: 4 u^T H v = q(u+v) - q(u-v), q(d) = d^T H d.
                entries[(i, j)] = {
                    ((i, w), (j, w)): 0.25,
                    ((i, -w), (j, -w)): 0.25,
                    ((i, w), (j, -w)): -0.25,
                    ((i, -w), (j, w)): -0.25,
                }
    else:
        kind = "central" if method in ("central", "richardson") else method
        d2 = _stencil(kind, 2, accuracy)
        d1 = _stencil(kind, 1, accuracy)
        if method == "richardson":
            final, _ = _richardson_coeffs(levels, accuracy)
            level_coeffs = [(k, float(final[k])) for k in range(levels)]
        else:
            level_coeffs = [(0, 1.0)]
        for i in range(n):
            acc: dict = defaultdict(float)
            for k, ck in level_coeffs:
                s = 2.0**-k
                for o, wo in zip(*d2):
                    key = ((i, o * s),) if o != 0 else ()
                    acc[key] += ck * 4.0**k * float(wo)
            entries[(i, i)] = acc
        for i in range(n):
            for j in range(i + 1, n):
                acc = defaultdict(float)
                for k, ck in level_coeffs:
                    s = 2.0**-k
                    for a, wa in zip(*d1):
                        for b, wb in zip(*d1):
                            key = tuple((c, m * s) for c, m in ((i, a), (j, b)) if m != 0)
                            acc[key] += ck * 4.0**k * float(wa) * float(wb)
                entries[(i, j)] = acc

    key_index: dict = {}
    ent_idx, key_idx, coefs = [], [], []
    pairs = list(entries)
    for e, (i, j) in enumerate(pairs):
        for key, c in entries[(i, j)].items():
            if c == 0:
                continue
            kidx = key_index.setdefault(key, len(key_index))
            ent_idx.append(e)
            key_idx.append(kidx)
            coefs.append(c)
    keys = list(key_index)
    dtype = complex if method == "complex" else float
    rows = np.repeat(xf[None, :].astype(dtype), len(keys), axis=0)
    for r, key in enumerate(keys):
        for c, m in key:
            rows[r, c] = rows[r, c] + m * h[c]
    caller = _RowCaller(f, x0.shape, vectorized)
    Y = caller(rows)
    if Y.ndim != 1:
        raise ValueError(f"hessian() needs a scalar-valued f, but f returns shape {Y.shape[1:]}")
    G = Y.imag if method == "complex" else Y
    ent_idx = np.asarray(ent_idx, dtype=np.intp)
    key_idx = np.asarray(key_idx, dtype=np.intp)
    coefs = np.asarray(coefs, dtype=float)
    hh = np.array([h[i] * h[j] for i, j in pairs])
    with np.errstate(all="ignore"):
        vals = np.bincount(ent_idx, weights=coefs * G[key_idx], minlength=len(pairs)) / hh
        noise = _ROUND_ULPS * EPS * np.bincount(
            ent_idx, weights=np.abs(coefs) * np.abs(G[key_idx]), minlength=len(pairs)
        ) / hh
    H = np.empty((n, n))
    N = np.empty((n, n))
    for e, (i, j) in enumerate(pairs):
        H[i, j] = H[j, i] = vals[e]
        N[i, j] = N[j, i] = noise[e]
    H = 0.5 * (H + H.T)
    return H, N, Y, x0.shape, caller.nfev


def hessian(
    f: Callable,
    x,
    method: str = "central",
    step="auto",
    accuracy: int = 2,
    *,
    richardson_terms: int = 3,
    vectorized: bool = False,
) -> np.ndarray:
    """Hessian of a scalar ``f: R^n -> R`` as a symmetric ``(n, n)`` array.

    Diagonal entries use the 1-D second-derivative stencil along ``e_i``;
    off-diagonal entries the tensor product of first-derivative stencils along
    ``e_i`` and ``e_j`` (both of the requested accuracy).  ``"richardson"``
    extrapolates the central Hessian over steps ``h, h/2, ...``;
    ``"complex"`` uses the 45-degree complex-step formula on ``e_i`` and, by
    polarisation, on ``e_i +- e_j``.  All distinct points are evaluated in
    one batch (one call with ``vectorized=True``).  ``x`` of shape ``s``
    gives a Hessian of shape ``(x.size, x.size)``.
    """
    H, _, Y, _, _ = _hessian_core(f, x, method, step, accuracy, richardson_terms, vectorized)
    if method == "complex" and np.all(Y.imag == 0):
        Hc, Nc, _, _, _ = _hessian_core(f, x, "central", "auto", 2, 3, vectorized)
        if np.any(np.abs(Hc) > 100.0 * Nc):
            raise ValueError(
                _COMPLEX_UNSAFE.format(
                    why="Im f is exactly zero at every complex point although the "
                    "real central Hessian is not ~0"
                )
            )
    return H


def step_error_curve(
    f: Callable,
    x,
    exact,
    steps=None,
    method: str = "forward",
    order: int = 1,
    accuracy: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Absolute error of a finite difference as a function of the step.

    Returns ``(steps, errors)`` with ``errors[k] = |D(h_k) - exact|``.  The
    steps are used exactly as given (no rounding of ``x + h``), so the plot
    shows the textbook V: truncation error ``~h**p`` on the right, round-off
    ``~eps/h**order`` on the left.  Default steps: ``logspace(-16, 0, 49)``.
    ``accuracy=None`` uses the lowest accuracy of the method (1 for one-sided
    stencils, 2 for central ones), i.e. the classical difference quotients.
    For ``"richardson"`` each step is the initial step of the extrapolation.
    """
    method = _check_method(method)
    order = _check_order(order, method)
    if accuracy is None:
        accuracy = 1 if method in ("forward", "backward") else 2
    accuracy = _check_accuracy(accuracy, method)
    levels = 3 if method == "richardson" else 1
    x_arr = _as_real_point(x)
    if x_arr.ndim != 0:
        raise ValueError("step_error_curve() needs a scalar x")
    try:
        exact = float(exact)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"exact must be a real number, got {exact!r}") from exc
    if steps is None:
        steps = np.logspace(-16, 0, 49)
    try:
        steps = np.asarray(steps, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"steps must be positive finite numbers, got {steps!r}") from exc
    if steps.size == 0 or not np.all(np.isfinite(steps)) or np.any(steps <= 0):
        raise ValueError("steps must be a non-empty sequence of positive, finite numbers")
    plan = _make_plan(method, order, accuracy, levels, False)
    ev = _PointEvaluator(f, x_arr)
    errors = np.empty(steps.size)
    for k, hk in enumerate(steps):
        Fk = ev(plan.t, np.asarray(hk))
        val, _, _ = _apply(plan, Fk, hk)
        errors[k] = abs(float(val) - exact)
    return steps, errors


# ------------------------------------------------------------ check_grads ---

def check_grads(f, args, order=2, modes=("fwd", "rev"), eps=1e-3, atol=1e-6, rtol=1e-6, seed=0):
    """Check chainrule's derivatives of `f` at `args` up to `order`; raise AssertionError if wrong.

    "fwd": the JVP along random directions against a 4th-order central
    difference (the stencil of `stencil_weights`); "rev": the VJP against the
    JVP by the dot-product test <u, J v> == <J^T u, v>.  For order > 1 the same
    checks run on the JVP (and VJP) functions themselves, so mixed modes of
    every order up to `order` are covered.  Arguments may be pytrees of floats.
    """
    from . import api
    from .tree_util import tree_flatten, tree_unflatten

    modes = (modes,) if isinstance(modes, str) else tuple(modes)
    bad = [m for m in modes if m not in ("fwd", "rev")]
    if bad or not modes:
        raise ValueError(f"check_grads: modes must be among ('fwd', 'rev'), got {modes}")
    if order < 1:
        raise ValueError(f"check_grads: order must be >= 1, got {order}")
    rng = np.random.default_rng(seed)
    args = tuple(args)
    offsets = (-2, -1, 1, 2)
    weights = stencil_weights(offsets, 1)

    def rand_like(tree):
        leaves, tdef = tree_flatten(tree)
        new = []
        for x in leaves:
            a = np.asarray(x)
            r = rng.standard_normal(a.shape)
            if np.iscomplexobj(a):
                r = r + 1j * rng.standard_normal(a.shape)
            new.append(r.astype(a.dtype) if a.shape else a.dtype.type(r))
        return tree_unflatten(tdef, new)

    def flat(tree):
        leaves = tree_flatten(tree)[0]
        return np.concatenate([np.ravel(np.asarray(x, dtype=complex if np.iscomplexobj(x) else float))
                               for x in leaves]) if leaves else np.zeros(0)

    def shifted(a, v, t):
        la, ta = tree_flatten(a)
        lv = tree_flatten(v)[0]
        return tree_unflatten(ta, [x + t * d for x, d in zip(la, lv)])

    def close(got, want, what):
        if not np.allclose(got, want, atol=atol, rtol=rtol):
            err = np.max(np.abs(np.asarray(got) - np.asarray(want))) if np.size(want) else 0.0
            raise AssertionError(f"check_grads: {what} disagree (max abs difference {err:.3g}):\n"
                                 f"  chainrule: {np.asarray(got)}\n  expected:  {np.asarray(want)}")

    def check(fun, a, k):
        v = rand_like(a)
        out, tan = api.jvp(fun, a, v)
        if "fwd" in modes:
            fd = sum(w * flat(fun(*shifted(a, v, o * eps))) for w, o in zip(weights, offsets)) / eps
            close(flat(tan), fd, f"order-{k} JVP and central differences")
        if "rev" in modes:
            u = rand_like(out)
            _, pullback = api.vjp(fun, *a)
            ct = pullback(u)
            lhs = np.vdot(flat(u), flat(tan)).real
            rhs = np.vdot(flat(ct), flat(v)).real
            close(lhs, rhs, f"order-{k} VJP and JVP (dot-product test)")
        if k < order:
            check(lambda *b: api.jvp(fun, b, v)[1], a, k + 1)
            if "rev" in modes:
                u = rand_like(out)
                check(lambda *b: api.vjp(fun, *b)[1](u), a, k + 1)
    check(f, args, 1)
