"""Explicit embedded Runge-Kutta stepping for `solve_ivp` (RK45, DOP853).

Three loops share one step (`stages`) and one step-size controller (`_control`, SciPy's
rule: safety 0.9, factors in [0.2, 10], no growth right after a rejection):

- `integrate_to_targets`: one `while_loop` whose steps end exactly on each time of
  `t_eval` (no dense output), differentiable through the loop;
- `record_steps`: a `while_loop` on values only (inputs under `stop_gradient`) that
  records the accepted step sizes in a buffer of `max_steps` and stops at the end of the
  interval, on a failed step, or on a terminal event's sign change;
- `replay`: a `scan` over those step sizes that recomputes the solution differentiably and
  returns every step's end point and, if asked, its interpolant.  Reverse mode through it
  keeps one carry per step (memory O(steps * n)), never the recording buffer.
"""
from __future__ import annotations

import numpy as _np

from ... import numpy as cnp
from ...api import stop_gradient
from ...control_flow import scan, while_loop

_SAFETY, _MIN_FACTOR, _MAX_FACTOR = 0.9, 0.2, 10.0
EPS = _np.finfo(float).eps


def rms(x):
    return cnp.sqrt(cnp.mean(x * x))


def _combine(coefs, ks):
    terms = [c * k for c, k in zip(coefs, ks) if c != 0.0]
    return sum(terms[1:], terms[0])


def stages(tab, fun, t, y, f, h):
    """One step of size h from (t, y), f = fun(t, y): (stages incl. FSAL, y_new, f_new)."""
    ks = [f]
    for i in range(1, tab.n_stages):
        ks.append(fun(t + tab.c[i] * h, y + h * _combine(tab.a[i], ks)))
    y_new = y + h * _combine(tab.b, ks)
    f_new = fun(t + h, y_new)
    ks.append(f_new)
    return ks, y_new, f_new


def error_norm(tab, ks, h, scale):
    """The scaled error estimate of a step (RK45: RMS; DOP853: Hairer's 5th/3rd blend)."""
    ks = [stop_gradient(k) for k in ks]
    h = stop_gradient(h)
    if tab.e is not None:
        return rms(h * _combine(tab.e, ks) / scale)
    e5 = _combine(tab.e5, ks) / scale
    e3 = _combine(tab.e3, ks) / scale
    s5, s3 = cnp.sum(e5 * e5), cnp.sum(e3 * e3)
    denom = s5 + 0.01 * s3
    safe = cnp.where(denom > 0, denom, 1.0)
    return cnp.where(denom > 0, cnp.abs(h) * s5 / cnp.sqrt(safe * scale.shape[0]), 0.0)


def dense_coefficients(tab, fun, t, y, f, h, ks, y_new, f_new):
    """The step's interpolant as an array (m, n): RK45 monomials in s = (t' - t)/h,
    DOP853 Hairer's r1..r8 (three more evaluations of fun)."""
    if tab.name == "RK45":
        q = [h * _combine([row[j] for row in tab.dense], ks) for j in range(4)]
        return cnp.stack([y] + q)
    ks = list(ks)
    for c, a in zip(tab.extra_c, tab.extra_a):
        ks.append(fun(t + c * h, y + h * _combine(a, ks)))
    dy = y_new - y
    r3 = h * f - dy
    r4 = dy - h * f_new - r3
    rest = [h * _combine(row, ks) for row in tab.dense]
    return cnp.stack([y, dy, r3, r4] + rest)


def dense_eval(tab, coeffs, s):
    """y at s in [0, 1] of steps: coeffs (k, m, n), s (k,) -> (k, n)."""
    s = s[:, None]
    if tab.name == "RK45":
        out = coeffs[:, 4]
        for j in (3, 2, 1):
            out = coeffs[:, j] + s * out
        return coeffs[:, 0] + s * out
    s1 = 1.0 - s
    r = [coeffs[:, j] for j in range(8)]
    out = r[6] + s * r[7]
    out = r[5] + s1 * out
    out = r[4] + s * out
    out = r[3] + s1 * out
    out = r[2] + s * out
    out = r[1] + s1 * out
    return r[0] + s * out


def initial_step(tab, fun, t0, y0, f0, t1, direction, rtol, atol, max_step):
    """Hairer, Norsett & Wanner's starting step (the rule SciPy uses), on constants."""
    t0, y0, f0, t1 = (stop_gradient(v) for v in (t0, y0, f0, t1))
    interval = cnp.abs(t1 - t0)
    scale = atol + cnp.abs(y0) * rtol
    d0, d1 = rms(y0 / scale), rms(f0 / scale)
    small = cnp.logical_or(d0 < 1e-5, d1 < 1e-5)
    h0 = cnp.where(small, 1e-6, 0.01 * d0 / cnp.where(small, 1.0, d1))
    h0 = cnp.minimum(h0, interval)
    h0_safe = cnp.where(h0 > 0, h0, 1.0)
    f1 = stop_gradient(fun(t0 + h0 * direction, y0 + h0 * direction * f0))
    d2 = rms((f1 - f0) / scale) / h0_safe
    dmax = cnp.maximum(d1, d2)
    tiny = dmax <= 1e-15
    h1 = cnp.where(tiny, cnp.maximum(1e-6, h0 * 1e-3),
                   (0.01 / cnp.where(tiny, 1.0, dmax)) ** -tab.err_exponent)
    return cnp.minimum(cnp.minimum(100 * h0, h1), cnp.minimum(interval, max_step))


def _attempt(tab, fun, t, y, f, h_abs, t_end, direction, rtol, atol, max_step, rejected, h_old):
    """One attempted step towards t_end: (accept, last, failed, moving, h, t_new, y_new,
    f_new, ks, h_next)."""
    remaining = direction * stop_gradient(t_end - t)
    moving = remaining > 0
    min_step = 10 * EPS * cnp.abs(stop_gradient(t))
    h_abs = cnp.minimum(h_abs, max_step)
    failed = cnp.logical_and(moving, h_abs < min_step)
    last = h_abs >= remaining
    # a step that reaches the target ends exactly on it (and carries the derivative
    # w.r.t. it); a target already reached is a step of size 0
    h = cnp.where(last, t_end - t, direction * h_abs)
    h_abs = cnp.where(last, remaining, h_abs)
    t_new = cnp.where(last, t_end, t + h)
    ks, y_new, f_new = stages(tab, fun, t, y, f, h)
    scale = atol + cnp.maximum(cnp.abs(stop_gradient(y)), cnp.abs(stop_gradient(y_new))) * rtol
    en = error_norm(tab, ks, h, scale)
    accept = cnp.logical_and(en < 1, cnp.logical_not(failed))
    en_safe = cnp.where(en > 0, en, 1.0)
    factor = _SAFETY * en_safe ** tab.err_exponent
    grow = cnp.where(en == 0, _MAX_FACTOR, cnp.minimum(_MAX_FACTOR, factor))
    grow = cnp.where(rejected > 0, cnp.minimum(1.0, grow), grow)
    shrink = cnp.maximum(_MIN_FACTOR, factor)
    h_next = h_abs * cnp.where(accept, grow, shrink)
    h_next = cnp.where(cnp.logical_or(failed, cnp.logical_not(moving)), h_old, h_next)
    return accept, last, failed, moving, h, t_new, y_new, f_new, ks, h_next


def integrate_to_targets(tab, fun, t, y, f, h_abs, t_targets, direction, rtol, atol, max_step,
                         nfev):
    """Adaptive steps from t through every time in `t_targets` (in order), one
    `while_loop` whose steps end exactly on each target; returns (ys, status, nfev).

    The carry is (t, y, f, h_abs, status, nfev, rejected, i, ys): i is the index of the
    next target (picked with a one-hot mask, so no traced value is read in Python).
    """
    m = t_targets.shape[0]
    slots = _np.arange(m, dtype=_np.float64)
    per_step = float(tab.n_stages)

    def cond(c):
        return cnp.logical_and(c[7] < m, c[4] >= 0)

    def body(c):
        t, y, f, h_abs, status, nfev, rejected, i, ys = c
        here = slots == i
        t_end = cnp.sum(cnp.where(here, t_targets, 0.0))
        accept, last, failed, moving, h, t_new, y_new, f_new, _, h_next = _attempt(
            tab, fun, t, y, f, h_abs, t_end, direction, rtol, atol, max_step, rejected, h_abs)
        reached = cnp.logical_and(accept, last)
        ys = cnp.where(cnp.logical_and(here, reached)[:, None], y_new[None, :], ys)
        return (cnp.where(accept, t_new, t), cnp.where(accept, y_new, y),
                cnp.where(accept, f_new, f), h_next, cnp.where(failed, -1.0, status),
                nfev + cnp.where(moving, per_step, 0.0), cnp.where(accept, 0.0, 1.0),
                i + cnp.where(reached, 1.0, 0.0), ys)

    zero = 0.0 * stop_gradient(t)
    ys0 = cnp.zeros((m,) + tuple(y.shape)) + 0.0 * y[None, :]
    out = while_loop(cond, body, (t, y, f, h_abs, zero, nfev, zero, zero, ys0))
    return out[8], out[4], out[5]


def crossed(g, g_new, direction):
    """SciPy's rule for an event between two step ends (direction per event)."""
    up = cnp.logical_and(g <= 0, g_new >= 0)
    down = cnp.logical_and(g >= 0, g_new <= 0)
    return cnp.logical_or(cnp.logical_or(cnp.logical_and(up, direction > 0),
                                         cnp.logical_and(down, direction < 0)),
                          cnp.logical_and(cnp.logical_or(up, down), direction == 0))


def record_steps(tab, fun, t0, y0, f0, h_abs, t1, direction, rtol, atol, max_step, nfev,
                 max_steps, terminal):
    """Accepted step sizes on values: (H (max_steps,), count, status, nfev).

    status: 0 reached t1, 1 a terminal event, -1 step size too small, -2 max_steps.
    `terminal` is None or (g(t, y) -> values of the terminal events, their directions,
    the number of crossings each may have before it stops).
    """
    slots = _np.arange(max_steps, dtype=_np.float64)
    per_step = float(tab.n_stages)
    t0, y0, f0, t1 = (stop_gradient(v) for v in (t0, y0, f0, t1))
    if terminal is not None:
        gfun, dirs, allowed = terminal
        g0 = gfun(t0, y0)
    else:
        g0 = cnp.zeros((1,))

    def cond(c):
        return c[4] == 0

    def body(c):
        t, y, f, h_abs, status, nfev, rejected, count, H, g, hits = c
        accept, last, failed, moving, h, t_new, y_new, f_new, _, h_next = _attempt(
            tab, fun, t, y, f, h_abs, t1, direction, rtol, atol, max_step, rejected, h_abs)
        H = cnp.where(cnp.logical_and(slots == count, accept), h, H)
        count_new = count + cnp.where(accept, 1.0, 0.0)
        new_status = cnp.where(failed, -1.0, cnp.where(cnp.logical_and(accept, last), 0.5, 0.0))
        if terminal is not None:
            g_new = gfun(t_new, y_new)
            hit = cnp.logical_and(crossed(g, g_new, dirs), accept)
            hits = hits + cnp.where(hit, 1.0, 0.0)
            stop = cnp.any(cnp.logical_and(hit, hits >= allowed))
            new_status = cnp.where(stop, 1.0, new_status)
            g = cnp.where(accept, g_new, g)
        full = cnp.logical_and(new_status == 0, count_new >= max_steps)
        new_status = cnp.where(full, -2.0, new_status)
        return (cnp.where(accept, t_new, t), cnp.where(accept, y_new, y),
                cnp.where(accept, f_new, f), h_next, new_status,
                nfev + cnp.where(moving, per_step, 0.0), cnp.where(accept, 0.0, 1.0),
                count_new, H, g, hits)

    zero = 0.0 * t0
    H0 = cnp.zeros((max_steps,)) + zero
    hits0 = cnp.zeros_like(g0)
    out = while_loop(cond, body, (t0, y0, f0, h_abs, zero, nfev, zero, zero, H0, g0, hits0))
    status = cnp.where(out[4] == 0.5, 0.0, out[4])
    return out[8], out[7], status, out[5]


def replay(tab, fun, t0, y0, f0, H, t_last, dense):
    """The accepted steps again, differentiably: (ts (n+1,), ys (n+1, d), coeffs or None).

    H holds the n step sizes (constants); `t_last`, if not None, is where the last step
    ends (t_span's end, so the result carries its derivative).
    """
    n = H.shape[0]
    is_last = _np.zeros(n)
    if t_last is not None:
        is_last[-1] = 1.0
    t_end = t0 if t_last is None else t_last

    def step(carry, x):
        t, y, f = carry
        hk, lastk = x
        h = cnp.where(lastk > 0, t_end - t, hk)
        ks, y_new, f_new = stages(tab, fun, t, y, f, h)
        out = (t + h, y_new)
        if dense:
            out = out + (dense_coefficients(tab, fun, t, y, f, h, ks, y_new, f_new),)
        return (t + h, y_new, f_new), out
    _, outs = scan(step, (t0, y0, f0), (H, is_last))
    ts = cnp.concatenate([cnp.reshape(t0, (1,)), outs[0]])
    ys = cnp.concatenate([y0[None, :], outs[1]])
    return ts, ys, (outs[2] if dense else None)
