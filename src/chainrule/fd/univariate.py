"""Derivatives of a scalar function of a scalar: `derivative` (value, error estimate and
step, an `FDResult`) and `step_error_curve` (the error against the step: the textbook V)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .arguments import (EPS, _as_real_point, _check_accuracy, _check_method, _check_order, _check_terms,
                        _representable, _resolve_step)
from .evaluators import _complex_zero_check, _PointEvaluator
from .plans import _apply, _make_plan



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
