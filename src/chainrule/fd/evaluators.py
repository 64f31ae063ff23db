"""Evaluating f at stencil points: elementwise (all points in one call, else one call per
point), or on rows of perturbed points along the axes or along a line; a non-finite value
warns (`FDWarning`); and the checks that f is safe for the complex step."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from types import FrameType

import numpy as np

from .plans import _apply, _make_plan, _Plan


# the modules of this package, skipped when a warning names its caller
_PACKAGE = __name__.rpartition(".")[0] + "."


class FDWarning(UserWarning):
    """Emitted when ``f`` returns NaN or inf at a stencil point."""


_COMPLEX_UNSAFE = (
    "the complex step needs an analytic, complex-safe f (one that propagates "
    "the imaginary part of its input: no abs(), no math.* functions, no "
    "comparisons or casts to float); {why}. Use method='central' or "
    "'richardson' for this function."
)


def _warn_nonfinite(points, values, nbad: int) -> None:
    shown = ", ".join(f"f({p}) = {v}" for p, v in zip(points[:3], values[:3]))
    more = "" if nbad <= 3 else f" (and {nbad - 3} more)"
    # Point the warning at the first caller outside this package.
    level = 1
    frame: FrameType | None = sys._getframe(0)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(
        f"f returned a non-finite value at {nbad} stencil point(s): {shown}{more}; "
        "the error estimate of the affected derivative is set to inf",
        FDWarning,
        stacklevel=level,
    )


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
