"""Functions of an array: `gradient`, `jacobian`, `directional` and `hessian`, built from
the 1-D stencils along the coordinate axes, along a line, and their tensor products."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np

from .arguments import (EPS, _as_real_point, _check_accuracy, _check_method, _check_order, _check_terms,
                        _representable, _resolve_step)
from .evaluators import _COMPLEX_UNSAFE, _AxisEvaluator, _complex_zero_check, _LineEvaluator, _RowCaller
from .plans import _OMEGA, _ROUND_ULPS, _apply, _make_plan
from .stencils import _richardson_coeffs, _stencil



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
