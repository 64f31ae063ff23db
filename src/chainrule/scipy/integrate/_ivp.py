"""`solve_ivp`: explicit Runge-Kutta pairs (RK45, DOP853) with dense output and events.

Two paths, both differentiable by grad/jvp/vmap/jit:

- `t_eval` given, no `dense_output`, no `events`: one `while_loop` whose steps end exactly
  on each requested time (no interpolation; `_rk.integrate_to_targets`).
- otherwise: a `while_loop` on values finds the accepted steps (`_rk.record_steps`), the
  number of steps is read (under `jit`: a guard, so a call that takes a different number
  of steps is staged again), and a `scan` recomputes them differentiably
  (`_rk.replay`).  The result holds every accepted step as SciPy's does; `sol` is the
  piecewise interpolant (RK45: Shampine's 4th order; DOP853: Hairer's 7th order),
  differentiable in its argument and in the parameters; `t_eval` is read off it.

Derivatives are those of the discrete solution for the step sequence the solver chose
(the step-size control is under `stop_gradient`), so they agree with the exact
sensitivities to within the solver's tolerance.

Events: each function's values at the step ends are checked for a sign change (SciPy's
rule, with `direction`); the time is located by bisection on the interpolant (on values)
and then made differentiable by one Newton step whose slope is held constant,
t* = tau - g(tau, y(tau)) / stop_gradient(dg/dt): its value is tau (g = 0 there) and its
first derivative is the implicit-function theorem's, -(dg/dp) / (dg/dt).  `terminal`
(True or a count) stops the integration at that event; the last point of `t`/`y` is then
the event.

`method="Radau"` (stiff problems) is `_radau`: always the second path, `t_eval` read off
its collocation polynomials (as SciPy does); `jac` gives its Newton matrix.

Differences from SciPy: no BDF/LSODA; `max_steps` (default 10000) bounds the
number of accepted steps of the second path (status -2 when reached); `vectorized` is
ignored; events are not located at the initial point.
"""
from __future__ import annotations

import numpy as _np

from ... import numpy as cnp
from ...api import jvp, stop_gradient
from ...core import concrete
from ...implicit import closure_convert, _Unstageable
from ...interpreters.batching import vmap
from . import _radau, _rk
from ._tableaus import METHODS as _EXPLICIT

METHODS = {**_EXPLICIT, "Radau": _radau.RADAU}

__all__ = ["solve_ivp", "OdeResult", "OdeSolution"]

_MESSAGES = {0: "The solver successfully reached the end of the integration interval.",
             1: "A termination event occurred.",
             -1: "Integration step failed: the required step size is below the spacing of "
                 "floating-point numbers.",
             -2: "The number of accepted steps reached max_steps; raise max_steps."}


class OdeResult:
    """The solution: `t`, `y` (shape (n, len(t))), `sol`, `t_events`, `y_events`,
    `success`, `status`, `message`, `nfev`.

    `status` and `nfev` are arrays (traced values under a transformation); `message` and
    `success` read `status` when accessed.
    """

    def __init__(self, t, y, status, nfev, sol=None, t_events=None, y_events=None):
        self.t, self.y, self.status, self.nfev = t, y, status, nfev
        self.sol, self.t_events, self.y_events = sol, t_events, y_events
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


class OdeSolution:
    """The piecewise interpolant of a `solve_ivp` run: ``sol(t)`` has shape (n,) for a
    scalar t and (n, len(t)) for a 1-D t, like SciPy's; outside the interval the first or
    last piece is extrapolated.  `ts` are the breakpoints."""

    def __init__(self, tab, ts, t_lo, h, coeffs, direction):
        self._tab, self.ts, self._t_lo, self._h, self._coeffs = tab, ts, t_lo, h, coeffs
        self._direction = direction
        self.t_min = cnp.minimum(ts[0], ts[-1])
        self.t_max = cnp.maximum(ts[0], ts[-1])

    def _piece(self, t):
        breaks = stop_gradient(self.ts) * self._direction
        i = cnp.searchsorted(breaks[1:-1], stop_gradient(t) * self._direction, side="right")
        return i

    def _at(self, t, i):
        s = (t - cnp.take(self._t_lo, i)) / cnp.take(self._h, i)
        return _dense_eval(self._tab, cnp.take(self._coeffs, i, axis=0), s)

    def __call__(self, t):
        t = _as_float(t)
        if t.ndim > 1:
            raise ValueError("OdeSolution: t must be a scalar or 1-dimensional")
        tt = cnp.reshape(t, (-1,))
        y = self._at(tt, self._piece(tt))
        return y[0] if t.ndim == 0 else cnp.transpose(y)


def _as_float(x):
    x = cnp.asarray(x)
    return x.astype(_np.float64) if _np.dtype(x.dtype).kind in "biu" else x * 1.0


def _values_only(fn, t_like, y_like):
    """fn(t, y) with every traced value it closes over under `stop_gradient`, so the
    step-finding loop carries no derivatives (closure conversion)."""
    def packed(z):
        return fn(z[0], z[1:])
    z_like = cnp.concatenate([cnp.reshape(stop_gradient(t_like), (1,)), stop_gradient(y_like)])
    try:
        g, consts = closure_convert(packed, z_like)
    except _Unstageable:
        return lambda t, y: stop_gradient(fn(t, y))
    consts = [stop_gradient(c) for c in consts]

    def out(t, y):
        return g(cnp.concatenate([cnp.reshape(t, (1,)), y]), *consts)
    return out


def _event_specs(events):
    """[(fn, terminal count (inf: never), direction)] from SciPy's `events`."""
    if events is None:
        return []
    evs = list(events) if isinstance(events, (list, tuple)) else [events]
    specs = []
    for k, e in enumerate(evs):
        if not callable(e):
            raise TypeError(f"solve_ivp: events[{k}] must be callable, got {type(e).__name__}")
        term = getattr(e, "terminal", False)
        if isinstance(term, (bool, _np.bool_)):
            allowed = 1.0 if term else _np.inf
        elif isinstance(term, (int, _np.integer)) and term >= 1:
            allowed = float(term)
        else:
            raise ValueError(f"solve_ivp: events[{k}].terminal must be a bool or a positive "
                             f"int, got {term!r}")
        direction = float(getattr(e, "direction", 0.0))
        specs.append((e, allowed, _np.sign(direction)))
    return specs


def _event_values(specs, t, y):
    vals = []
    for k, (e, _, _) in enumerate(specs):
        v = _as_float(e(t, y))
        if v.shape != ():
            raise ValueError(f"solve_ivp: events[{k}] must return a scalar, got shape {v.shape}")
        vals.append(v)
    return cnp.stack(vals)


def _locate(tab, fn, t_lo, h, coeffs, iterations=60):
    """Event times in the given steps (arrays over those steps): bisection on the
    interpolant on values, then the Newton step that carries the implicit derivative."""
    tv, hv, cv = stop_gradient(t_lo), stop_gradient(h), stop_gradient(coeffs)
    G = vmap(fn)

    def g_at(s):
        return stop_gradient(G(tv + s * hv, _dense_eval(tab, cv, s)))
    lo = cnp.zeros_like(tv)
    hi = cnp.ones_like(tv)
    g_lo = g_at(lo)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        g_mid = g_at(mid)
        same = (g_mid > 0) == (g_lo > 0)
        same = cnp.logical_and(same, g_mid != 0)
        lo, g_lo = cnp.where(same, mid, lo), cnp.where(same, g_mid, g_lo)
        hi = cnp.where(same, hi, mid)
    tau = tv + 0.5 * (lo + hi) * hv

    def G_diff(t):
        return G(t, _dense_eval(tab, coeffs, (t - t_lo) / h))
    slope = stop_gradient(jvp(lambda t: G(t, _dense_eval(tab, cv, (t - tv) / hv)),
                              (tau,), (cnp.ones_like(tau),))[1])
    slope = cnp.where(slope != 0, slope, 1.0)
    t_star = tau - G_diff(tau) / slope
    return t_star, _dense_eval(tab, coeffs, (t_star - t_lo) / h)


def _dense_eval(tab, coeffs, s):
    """The interpolant of a method's steps: its own `dense_eval` (Radau) or `_rk`'s."""
    own = getattr(tab, "dense_eval", None)
    return own(coeffs, s) if own is not None else _rk.dense_eval(tab, coeffs, s)


def _read(x):
    return _np.asarray(concrete(x))


def solve_ivp(fun, t_span, y0, method="RK45", t_eval=None, dense_output=False, events=None,
              vectorized=False, args=None, first_step=None, max_step=_np.inf, rtol=1e-3,
              atol=1e-6, max_steps=10000, jac=None):
    """Solve y' = fun(t, y, *args), y(t_span[0]) = y0, as `scipy.integrate.solve_ivp`.

    `method` is "RK45", "DOP853" or "Radau" (implicit, for stiff problems; `jac`, a
    callable ``jac(t, y, *args)`` or a constant matrix, gives its Jacobian, else `jacfwd`
    of `fun` is used).  Returns an `OdeResult` with `y` of shape
    (n, len(t)): `t` is `t_eval`, or every accepted step's end.  `rtol`, `atol`
    (scalars or per-component arrays), `first_step`, `max_step`, `dense_output` and
    `events` mean what they mean in SciPy.  Differentiable w.r.t. `y0`, `args`, values
    `fun` and the events close over, `t_span` and `t_eval`; `t_events` and `sol` too.
    """
    if not callable(fun):
        raise TypeError(f"solve_ivp: fun must be callable, got {type(fun).__name__}")
    if method not in METHODS:
        raise NotImplementedError(f"solve_ivp: method {method!r} is not implemented; the "
                                  f"supported methods are: {', '.join(map(repr, METHODS))}")
    tab = METHODS[method]
    if jac is not None and tab is not _radau.RADAU:
        import warnings
        warnings.warn(f"solve_ivp: jac has no effect for method {method!r} (explicit)",
                      stacklevel=2)
    if _np.any(_np.asarray(rtol) < 100 * _EPS):
        rtol = _np.maximum(rtol, 100 * _EPS)
    if _np.any(_np.asarray(atol) < 0):
        raise ValueError("solve_ivp: atol must be non-negative")
    if max_step <= 0:
        raise ValueError("solve_ivp: max_step must be positive")
    if int(max_steps) < 1:
        raise ValueError("solve_ivp: max_steps must be a positive integer")
    if args is not None:
        if not isinstance(args, tuple):
            args = (args,)
        user_fun = fun

        def fun(t, y):  # noqa: F811
            return user_fun(t, y, *args)
        specs = [(lambda t, y, e=e: e(t, y, *args), a, d) for e, a, d in _event_specs(events)]
        if callable(jac):
            user_jac = jac

            def jac(t, y):  # noqa: F811
                return user_jac(t, y, *args)
    else:
        specs = _event_specs(events)
    rhs = fun

    def fun(t, y):  # noqa: F811
        return _as_float(rhs(t, y))

    if len(t_span) != 2:
        raise ValueError("solve_ivp: t_span must be a pair (t0, tf)")
    t0, t1 = (_as_float(v) for v in t_span)
    y0 = _as_float(y0)
    if y0.ndim != 1:
        raise ValueError(f"solve_ivp: y0 must be 1-dimensional, got shape {y0.shape}")
    direction = cnp.where(stop_gradient(t1 - t0) >= 0, 1.0, -1.0)
    f0 = fun(t0, y0)
    if f0.shape != y0.shape:
        raise ValueError(f"solve_ivp: fun returned shape {f0.shape}, but y0 has shape {y0.shape}")
    if first_step is None:
        h_abs = _rk.initial_step(tab, fun, t0, y0, f0, t1, direction, rtol, atol, max_step)
    else:
        if first_step <= 0:
            raise ValueError("solve_ivp: first_step must be positive")
        h_abs = cnp.minimum(cnp.abs(stop_gradient(t1 - t0)), first_step) + 0.0 * stop_gradient(t0)
    nfev = 0.0 * stop_gradient(t0) + (2.0 if first_step is None else 1.0)
    if t_eval is not None:
        t_eval = _as_float(t_eval)
        if t_eval.ndim != 1:
            raise ValueError("solve_ivp: t_eval must be 1-dimensional")
    if tab is _radau.RADAU:
        jac = _radau.jacobian_of(fun, jac)
        _radau.check_jacobian(jac, t0, y0)
    if t_eval is not None and not dense_output and not specs and tab is not _radau.RADAU:
        ys, status, nfev = _rk.integrate_to_targets(tab, fun, t0, y0, f0, h_abs, t_eval,
                                                    direction, rtol, atol, max_step, nfev)
        return OdeResult(t_eval, cnp.transpose(ys), status, nfev)
    return _solve_recorded(tab, fun, specs, t0, t1, y0, f0, h_abs, direction, rtol, atol,
                           max_step, nfev, int(max_steps), t_eval, dense_output, jac)


_EPS = _rk.EPS


def _solve_recorded(tab, fun, specs, t0, t1, y0, f0, h_abs, direction, rtol, atol, max_step,
                    nfev, max_steps, t_eval, dense_output, jac=None):
    """The second path: find the steps on values, replay them, read off events/t_eval."""
    fun_v = _values_only(fun, t0, y0)
    terminal = None
    if any(_np.isfinite(a) for _, a, _ in specs):
        events_v = [_values_only(e, t0, y0) for e, _, _ in specs]
        terminal = (lambda t, y: cnp.stack([_as_float(e(t, y)) for e in events_v]),
                    _np.array([d for _, _, d in specs]), _np.array([a for _, a, _ in specs]))
    need_dense = bool(dense_output or specs or t_eval is not None)
    counts = None
    if tab is _radau.RADAU:
        jac_v = _values_only(jac, t0, y0)
        ts, ys, coeffs, status, nfev, njev, nlu, st = _radau.solve_steps(
            fun, fun_v, jac_v, terminal, t0, t1, y0, f0, h_abs, direction, rtol, atol,
            max_step, nfev, max_steps, need_dense)
        counts = (njev, nlu)
    else:
        H, count, status, nfev = _rk.record_steps(tab, fun_v, t0, y0, f0, h_abs, t1, direction,
                                                  rtol, atol, max_step, nfev, max_steps, terminal)
        n = int(concrete(count))
        st = int(concrete(status))
        ts, ys, coeffs = _rk.replay(tab, fun, t0, y0, f0, H[:n], t1 if st == 0 else None,
                                    need_dense)
        if need_dense and tab.name == "DOP853":
            nfev = nfev + 3.0 * n
    t_events = y_events = None
    if need_dense:
        t_lo, h = ts[:-1], ts[1:] - ts[:-1]
    if specs:
        t_events, y_events, end = _events(tab, specs, ts, ys, t_lo, h, coeffs, st == 1)
        if end is not None:
            ts = cnp.concatenate([ts[:-1], cnp.reshape(end[0], (1,))])
            ys = cnp.concatenate([ys[:-1], end[1][None, :]])
    sol = OdeSolution(tab, ts, t_lo, h, coeffs, direction) if need_dense else None
    if t_eval is not None:
        tv = _read(stop_gradient(t_eval))
        d = float(_read(direction))
        lo, hi = float(_read(stop_gradient(ts[0]))), float(_read(stop_gradient(ts[-1])))
        keep = (d * (tv - lo) >= 0) & (d * (hi - tv) >= 0)
        te = t_eval[_np.flatnonzero(keep)]
        res = OdeResult(te, sol(te) if te.shape[0] else cnp.zeros((ys.shape[1], 0)), status,
                        nfev, sol if dense_output else None, t_events, y_events)
    else:
        res = OdeResult(ts, cnp.transpose(ys), status, nfev, sol if dense_output else None,
                        t_events, y_events)
    if counts is not None:
        res.njev, res.nlu = counts
    return res


def _events(tab, specs, ts, ys, t_lo, h, coeffs, terminated):
    """(t_events, y_events, (t, y) of the terminal event or None)."""
    d = ys.shape[1]
    G = _read(stop_gradient(vmap(lambda t, y: _event_values(specs, t, y))(ts, ys)))
    dirs = _np.array([s for _, _, s in specs])
    mask = _read(_rk.crossed(G[:-1], G[1:], dirs[None, :]))     # (steps, events)
    found = []
    for i, (e, _, _) in enumerate(specs):
        steps = _np.flatnonzero(mask[:, i])
        if steps.size:
            te, ye = _locate(tab, e, t_lo[steps], h[steps], coeffs[steps])
        else:
            te, ye = cnp.zeros((0,)), cnp.zeros((0, d))
        found.append((steps, te, ye))
    end = None
    if terminated:
        last = ts.shape[0] - 2
        stops = []
        for i, (_, allowed, _) in enumerate(specs):
            steps = found[i][0]
            if _np.isfinite(allowed) and steps.size >= allowed and steps[int(allowed) - 1] == last:
                stops.append((i, int(allowed) - 1))
        if stops:
            sign = _np.sign(float(_read(stop_gradient(ts[-1] - ts[0])))) or 1.0
            times = cnp.stack([found[i][1][j] for i, j in stops])
            i_stop, j_stop = stops[int(_np.argmin(sign * _read(stop_gradient(times))))]
            t_stop, y_stop = found[i_stop][1][j_stop], found[i_stop][2][j_stop]
            end = (t_stop, y_stop)
            for i, (steps, te, ye) in enumerate(found):
                if not steps.size:
                    continue
                if i == i_stop:
                    keep = _np.arange(steps.size) <= j_stop
                else:
                    keep = (steps < last) | (sign * _read(stop_gradient(te - t_stop)) <= 0)
                idx = _np.flatnonzero(keep)
                found[i] = (steps[idx], te[idx], ye[idx])
    return [f[1] for f in found], [f[2] for f in found], end

