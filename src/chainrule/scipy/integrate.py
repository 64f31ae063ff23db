"""`chainrule.scipy.integrate`: differentiable ODE solvers and quadrature with SciPy's names.

`solve_ivp` (explicit Dormand-Prince 5(4), ``method="RK45"``) and `odeint` run the
adaptive step loop as one `chainrule.while_loop`: under `jit` it is one loop equation,
and `grad`, `jvp`, `vmap`, `hessian` go through it.  Derivatives are those of the
discrete solution for the step sequence the solver chose (the step-size control is
under `stop_gradient`), so they agree with the exact sensitivities to within the
solver's tolerance.  `t_eval` is handled exactly, without dense output: the step that
would pass the next requested time is clipped to end on it, in the same `while_loop`
(the current target is picked with a one-hot mask).

Differences from SciPy: without `t_eval` the result holds only the end points of
`t_span` (the number of steps is data-dependent); only "RK45" is implemented; `odeint`
uses the same RK45 solver instead of LSODA.

`trapezoid`, `cumulative_trapezoid` and `simpson` follow SciPy (`simpson` with an even
number of samples uses SciPy >= 1.11's rule: Cartwright's correction on the last
interval).
"""
from __future__ import annotations

import numpy as _np

from .. import numpy as cnp
from ..api import stop_gradient
from ..control_flow import while_loop

__all__ = ["solve_ivp", "odeint", "OdeResult", "trapezoid", "cumulative_trapezoid", "simpson"]

# Dormand & Prince (1980), RK5(4)7M: nodes, stage matrix, 5th-order weights and the
# difference between the 5th- and 4th-order weights (the error estimate).
_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0)
_A = ((),
      (1 / 5,),
      (3 / 40, 9 / 40),
      (44 / 45, -56 / 15, 32 / 9),
      (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
      (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656))
_B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)
_E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)
_ERR_EXPONENT = -1 / 5  # -1 / (error estimator order + 1)
_SAFETY, _MIN_FACTOR, _MAX_FACTOR = 0.9, 0.2, 10.0
_EPS = _np.finfo(float).eps

_MESSAGES = {0: "The solver successfully reached the end of the integration interval.",
             -1: "Integration step failed: the required step size is below the spacing of "
                 "floating-point numbers."}


class OdeResult:
    """The solution: `t`, `y` (shape (n, len(t))), `success`, `status`, `message`, `nfev`.

    `status` (0 or -1) and `nfev` are arrays (traced values under a transformation);
    `message` and `success` read `status` when accessed.
    """

    def __init__(self, t, y, status, nfev):
        self.t, self.y, self.status, self.nfev = t, y, status, nfev
        self.sol = None
        self.t_events = self.y_events = None
        self.njev = self.nlu = 0

    @property
    def success(self):
        return self.status >= 0

    @property
    def message(self):
        return _MESSAGES[int(self.status)]

    def __getitem__(self, key):
        return getattr(self, key)

    def __repr__(self):
        return (f"OdeResult(t={self.t!r},\n y={self.y!r},\n status={self.status!r}, "
                f"nfev={self.nfev!r})")


def _rms(x):
    return cnp.sqrt(cnp.mean(x * x))


def _rk45_step(fun, t, y, f, h):
    """One Dormand-Prince step of size h from (t, y) with f = fun(t, y)."""
    ks = [f]
    for i in range(1, 6):
        dy = sum(a * k for a, k in zip(_A[i], ks) if a != 0.0)
        ks.append(fun(t + _C[i] * h, y + h * dy))
    y_new = y + h * sum(b * k for b, k in zip(_B, ks) if b != 0.0)
    f_new = fun(t + h, y_new)
    ks.append(f_new)
    err = h * sum(e * k for e, k in zip(_E, ks) if e != 0.0)
    return y_new, f_new, err


def _initial_step(fun, t0, y0, f0, t1, direction, rtol, atol, max_step):
    """Hairer, Norsett & Wanner's starting step (the rule SciPy uses), on constants."""
    t0, y0, f0, t1 = (stop_gradient(v) for v in (t0, y0, f0, t1))
    interval = cnp.abs(t1 - t0)
    scale = atol + cnp.abs(y0) * rtol
    d0, d1 = _rms(y0 / scale), _rms(f0 / scale)
    small = cnp.logical_or(d0 < 1e-5, d1 < 1e-5)
    h0 = cnp.where(small, 1e-6, 0.01 * d0 / cnp.where(small, 1.0, d1))
    h0 = cnp.minimum(h0, interval)
    h0_safe = cnp.where(h0 > 0, h0, 1.0)
    f1 = stop_gradient(fun(t0 + h0 * direction, y0 + h0 * direction * f0))
    d2 = _rms((f1 - f0) / scale) / h0_safe
    dmax = cnp.maximum(d1, d2)
    tiny = dmax <= 1e-15
    h1 = cnp.where(tiny, cnp.maximum(1e-6, h0 * 1e-3),
                   (0.01 / cnp.where(tiny, 1.0, dmax)) ** -_ERR_EXPONENT)
    h = cnp.minimum(cnp.minimum(100 * h0, h1), cnp.minimum(interval, max_step))
    return h


def _integrate(fun, t, y, f, h_abs, t_targets, direction, rtol, atol, max_step, nfev):
    """Adaptive RK45 steps from t through every time in `t_targets` (in order): one
    `while_loop` whose steps end exactly on each target; returns (ys, status, nfev).

    The carry is (t, y, f, h_abs, status, nfev, rejected, i, ys): i is the index of the
    next target (picked with a one-hot mask, so no traced value is read in Python) and
    ys the solution at the targets reached so far.  A step is attempted every iteration
    and kept or discarded with `where`.
    """
    m = t_targets.shape[0]
    slots = _np.arange(m, dtype=_np.float64)

    def cond(c):
        status, i = c[4], c[7]
        return cnp.logical_and(i < m, status >= 0)

    def body(c):
        t, y, f, h_abs, status, nfev, rejected, i, ys = c
        here = slots == i
        t_end = cnp.sum(cnp.where(here, t_targets, 0.0))
        remaining = direction * stop_gradient(t_end - t)
        moving = remaining > 0
        min_step = 10 * _EPS * cnp.abs(stop_gradient(t))
        h_abs = cnp.minimum(h_abs, max_step)
        failed = cnp.logical_and(moving, h_abs < min_step)
        last = h_abs >= remaining
        # a step that reaches the target ends exactly on it (and carries the derivative
        # w.r.t. it); a target already reached is a step of size 0
        h = cnp.where(last, t_end - t, direction * h_abs)
        h_abs = cnp.where(last, remaining, h_abs)
        t_new = cnp.where(last, t_end, t + h)
        y_new, f_new, err = _rk45_step(fun, t, y, f, h)
        scale = atol + cnp.maximum(cnp.abs(stop_gradient(y)), cnp.abs(stop_gradient(y_new))) * rtol
        en = _rms(stop_gradient(err) / scale)
        accept = cnp.logical_and(en < 1, cnp.logical_not(failed))
        en_safe = cnp.where(en > 0, en, 1.0)
        grow = cnp.where(en == 0, _MAX_FACTOR,
                         cnp.minimum(_MAX_FACTOR, _SAFETY * en_safe ** _ERR_EXPONENT))
        grow = cnp.where(rejected > 0, cnp.minimum(1.0, grow), grow)
        shrink = cnp.maximum(_MIN_FACTOR, _SAFETY * en_safe ** _ERR_EXPONENT)
        h_next = h_abs * cnp.where(accept, grow, shrink)
        h_next = cnp.where(cnp.logical_or(failed, cnp.logical_not(moving)), c[3], h_next)
        reached = cnp.logical_and(accept, last)
        ys = cnp.where(cnp.logical_and(here, reached)[:, None], y_new[None, :], ys)
        return (cnp.where(accept, t_new, t),
                cnp.where(accept, y_new, y),
                cnp.where(accept, f_new, f),
                h_next,
                cnp.where(failed, -1.0, status),
                nfev + cnp.where(moving, 6.0, 0.0),
                cnp.where(accept, 0.0, 1.0),
                i + cnp.where(reached, 1.0, 0.0),
                ys)

    zero = 0.0 * stop_gradient(t)
    ys0 = cnp.zeros((m,) + tuple(y.shape)) + 0.0 * y[None, :]
    out = while_loop(cond, body, (t, y, f, h_abs, zero, nfev, zero, zero, ys0))
    return out[8], out[4], out[5]


def _as_float(x):
    x = cnp.asarray(x)
    return x.astype(_np.float64) if _np.dtype(x.dtype).kind in "biu" else x * 1.0


def solve_ivp(fun, t_span, y0, method="RK45", t_eval=None, dense_output=False, events=None,
              vectorized=False, args=None, first_step=None, max_step=_np.inf, rtol=1e-3,
              atol=1e-6):
    """Solve y' = fun(t, y, *args), y(t_span[0]) = y0, as `scipy.integrate.solve_ivp`.

    Returns an `OdeResult` with `y` of shape (n, len(t)): `t` is `t_eval`, or the two
    end points of `t_span` when `t_eval` is None.  `rtol`, `atol` (scalars or
    per-component arrays), `first_step` and `max_step` mean what they mean in SciPy.
    Differentiable w.r.t. `y0`, `args`, values `fun` closes over, `t_span` and `t_eval`.
    """
    if method != "RK45":
        raise NotImplementedError(f"solve_ivp: method {method!r} is not implemented; the "
                                  "supported methods are: 'RK45'")
    if dense_output or events is not None:
        raise NotImplementedError("solve_ivp: dense_output and events are not supported; "
                                  "use t_eval for the solution at given times")
    if _np.any(_np.asarray(rtol) < 100 * _EPS):
        rtol = _np.maximum(rtol, 100 * _EPS)
    if _np.any(_np.asarray(atol) < 0):
        raise ValueError("solve_ivp: atol must be non-negative")
    if max_step <= 0:
        raise ValueError("solve_ivp: max_step must be positive")
    if args is not None:
        if not isinstance(args, tuple):
            args = (args,)
        user_fun = fun

        def fun(t, y):  # noqa: F811
            return user_fun(t, y, *args)
    rhs = fun

    def fun(t, y):  # noqa: F811
        return _as_float(rhs(t, y))

    t0, t1 = (_as_float(v) for v in t_span)
    y0 = _as_float(y0)
    if y0.ndim != 1:
        raise ValueError(f"solve_ivp: y0 must be 1-dimensional, got shape {y0.shape}")
    direction = cnp.where(stop_gradient(t1 - t0) >= 0, 1.0, -1.0)
    f0 = fun(t0, y0)
    if first_step is None:
        h_abs = _initial_step(fun, t0, y0, f0, t1, direction, rtol, atol, max_step)
    else:
        if first_step <= 0:
            raise ValueError("solve_ivp: first_step must be positive")
        h_abs = cnp.minimum(cnp.abs(stop_gradient(t1 - t0)), first_step) + 0.0 * stop_gradient(t0)
    nfev = 0.0 * stop_gradient(t0) + (2.0 if first_step is None else 1.0)
    if t_eval is None:
        ys, status, nfev = _integrate(fun, t0, y0, f0, h_abs, cnp.stack([t1]), direction, rtol,
                                      atol, max_step, nfev)
        return OdeResult(cnp.stack([t0, t1]), cnp.stack([y0, ys[0]], axis=1), status, nfev)
    t_eval = _as_float(t_eval)
    if t_eval.ndim != 1:
        raise ValueError("solve_ivp: t_eval must be 1-dimensional")
    ys, status, nfev = _integrate(fun, t0, y0, f0, h_abs, t_eval, direction, rtol, atol,
                                  max_step, nfev)
    return OdeResult(t_eval, cnp.transpose(ys), status, nfev)


def odeint(func, y0, t, args=(), Dfun=None, col_deriv=0, full_output=0, rtol=1.49012e-8,
           atol=1.49012e-8, tfirst=False, hmax=_np.inf, h0=None):
    """Solve dy/dt = func(y, t, *args) at the times `t` (t[0] is the initial time).

    Returns shape (len(t), n) like `scipy.integrate.odeint`; with `tfirst=True` the
    signature is func(t, y, *args).  Uses the adaptive RK45 solver of `solve_ivp`.
    """
    if full_output:
        raise NotImplementedError("odeint: full_output is not supported")
    y0 = _as_float(y0)
    scalar = y0.ndim == 0
    if scalar:
        y0 = cnp.reshape(y0, (1,))
    t = _as_float(t)
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)

    def fun(tt, y):
        yy = y[0] if scalar else y
        out = func(tt, yy, *args) if tfirst else func(yy, tt, *args)
        return cnp.reshape(_as_float(out), (-1,))

    sol = solve_ivp(fun, (t[0], t[-1]), y0, t_eval=t, rtol=rtol, atol=atol, max_step=hmax,
                    first_step=h0)
    return cnp.transpose(sol.y)


# ---------------------------------------------------------------------------------- quadrature

def _prepare(y, x, axis):
    """y with the integration axis last; x likewise (None, 1-D, or y's shape)."""
    y = _as_float(y)
    y = cnp.moveaxis(y, axis, -1)
    if x is not None:
        x = _as_float(x)
        if x.ndim == 1:
            if x.shape[0] != y.shape[-1]:
                raise ValueError("x must have the length of y along axis")
        elif x.ndim == y.ndim:
            x = cnp.moveaxis(x, axis, -1)
        else:
            raise ValueError("If given, shape of x must be 1-D or the same as y.")
    return y, x


def _spacing(x, dx):
    return dx if x is None else cnp.diff(x, axis=-1)


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """The composite trapezoidal rule along `axis`, as `scipy.integrate.trapezoid`."""
    y, x = _prepare(y, x, axis)
    d = _spacing(x, dx)
    return cnp.sum(d * (y[..., 1:] + y[..., :-1]), axis=-1) / 2.0


def cumulative_trapezoid(y, x=None, dx=1.0, axis=-1, initial=None):
    """Cumulative trapezoidal integrals along `axis` (`initial`, if given, is prepended)."""
    y, x = _prepare(y, x, axis)
    d = _spacing(x, dx)
    res = cnp.cumsum(d * (y[..., 1:] + y[..., :-1]) / 2.0, axis=-1)
    if initial is not None:
        if not _np.isscalar(initial):
            raise ValueError("`initial` must be a scalar or None")
        first = cnp.zeros(res.shape[:-1] + (1,)) + initial
        res = cnp.concatenate([first, res], axis=-1)
    return cnp.moveaxis(res, -1, axis)


def _basic_simpson(y, x, dx, stop):
    """Simpson's rule over the intervals [0, stop) (stop even), last axis."""
    y0, y1, y2 = y[..., 0:stop:2], y[..., 1:stop + 1:2], y[..., 2:stop + 2:2]
    if x is None:
        return cnp.sum(y0 + 4.0 * y1 + y2, axis=-1) * (dx / 3.0)
    h = cnp.diff(x, axis=-1)
    h0, h1 = h[..., 0:stop:2], h[..., 1:stop + 1:2]
    hsum, hprod, ratio = h0 + h1, h0 * h1, h0 / h1
    return cnp.sum(hsum / 6.0 * (y0 * (2.0 - 1.0 / ratio) + y1 * (hsum * hsum / hprod)
                                 + y2 * (2.0 - ratio)), axis=-1)


def simpson(y, x=None, dx=1.0, axis=-1):
    """Composite Simpson's rule along `axis`, as `scipy.integrate.simpson` (SciPy >= 1.11).

    With an even number of samples, Simpson's rule covers all but the last interval and
    the last gets Cartwright's correction (a parabola through the last three points).
    """
    y, x = _prepare(y, x, axis)
    n = y.shape[-1]
    if n < 2:
        raise ValueError("simpson needs at least two samples along axis")
    if n % 2 == 1:
        return _basic_simpson(y, x, dx, n - 1)
    if n == 2:
        return trapezoid(y, x, dx, axis=-1)
    result = _basic_simpson(y, x, dx, n - 3)
    if x is None:
        h0 = h1 = dx
    else:
        h = cnp.diff(x, axis=-1)
        h0, h1 = h[..., -2], h[..., -1]
    alpha = (2 * h1 ** 2 + 3 * h0 * h1) / (6 * (h1 + h0))
    beta = (h1 ** 2 + 3.0 * h0 * h1) / (6 * h0)
    eta = h1 ** 3 / (6 * h0 * (h0 + h1))
    return result + alpha * y[..., -1] + beta * y[..., -2] - eta * y[..., -3]
