"""`odeint` (SciPy's signature) over `solve_ivp`'s RK45, with an optional continuous
adjoint.

``adjoint=False`` differentiates through the solver's loop (reverse mode keeps one carry
per step).  ``adjoint=True`` makes the solution a `custom_vjp` whose backward pass solves
the augmented system backwards in time (Pontryagin; Chen et al., "Neural ordinary
differential equations", NeurIPS 2018): from each output time to the previous one,
  y' = f(y, t),   a' = -a^T df/dy,   g' = -a^T df/dp,
with a jump a += cotangent at every output time; the parameters' cotangent is g(t0).
The backward pass re-solves y from the end instead of storing the forward steps, so its
memory does not grow with the number of steps; its gradients agree with the discrete
solver's to within the tolerances (the backward solve has its own error).
"""
from __future__ import annotations

import numpy as _np

from ... import numpy as cnp
from ...api import custom_vjp, vjp
from ...implicit import closure_convert, _Unstageable
from ._ivp import solve_ivp

__all__ = ["odeint"]


def _as_float(x):
    x = cnp.asarray(x)
    return x.astype(_np.float64) if _np.dtype(x.dtype).kind in "biu" else x * 1.0


def odeint(func, y0, t, args=(), Dfun=None, col_deriv=0, full_output=0, rtol=1.49012e-8,
           atol=1.49012e-8, tfirst=False, hmax=_np.inf, h0=None, adjoint=False):
    """Solve dy/dt = func(y, t, *args) at the times `t` (t[0] is the initial time).

    Returns shape (len(t), n) like `scipy.integrate.odeint`; with `tfirst=True` the
    signature is func(t, y, *args).  Uses the adaptive RK45 solver of `solve_ivp`;
    ``adjoint=True`` gives reverse mode by the continuous adjoint (module docstring).
    """
    if full_output:
        raise NotImplementedError("odeint: full_output is not supported")
    if not callable(func):
        raise TypeError(f"odeint: func must be callable, got {type(func).__name__}")
    y0 = _as_float(y0)
    scalar = y0.ndim == 0
    if scalar:
        y0 = cnp.reshape(y0, (1,))
    if y0.ndim != 1:
        raise ValueError(f"odeint: y0 must be a scalar or 1-dimensional, got shape {y0.shape}")
    t = _as_float(t)
    if t.ndim != 1 or t.shape[0] < 1:
        raise ValueError("odeint: t must be a non-empty 1-dimensional sequence of times")
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)

    def fun(tt, y):
        yy = y[0] if scalar else y
        out = func(tt, yy, *args) if tfirst else func(yy, tt, *args)
        return cnp.reshape(_as_float(out), (-1,))
    opts = dict(rtol=rtol, atol=atol, max_step=hmax, first_step=h0)
    if not adjoint:
        return cnp.transpose(solve_ivp(fun, (t[0], t[-1]), y0, t_eval=t, **opts).y)
    return _adjoint_odeint(fun, y0, t, opts)


def _adjoint_odeint(fun, y0, t, opts):
    """The solution as a custom_vjp of (y0, t, *traced values fun reads)."""
    n = y0.shape[0]

    def packed(z):
        return fun(z[0], z[1:])
    try:
        g, consts = closure_convert(packed, cnp.concatenate([cnp.reshape(t[0], (1,)), y0]))
    except _Unstageable:
        raise TypeError("odeint(adjoint=True): func reads the value of y or t for Python "
                        "control flow, so it cannot be staged; write it with chainrule.numpy "
                        "operations (cnp.where for branches)") from None
    inexact = [_np.issubdtype(cnp.asarray(c).dtype, _np.inexact) for c in consts]

    def f(tt, y, cs):
        return g(cnp.concatenate([cnp.reshape(tt, (1,)), y]), *cs)

    def solve(y0, t, *cs):
        sol = solve_ivp(lambda tt, y: f(tt, y, cs), (t[0], t[-1]), y0, t_eval=t, **opts)
        return cnp.transpose(sol.y)
    sol = custom_vjp(solve)

    def fwd(y0, t, *cs):
        ys = solve(y0, t, *cs)
        return ys, (ys, t, cs)

    def bwd(res, ct):
        ys, t, cs = res
        diff = [c for c, ok in zip(cs, inexact) if ok]
        sizes = [int(_np.prod(cnp.shape(c))) for c in diff]

        def rebuild(flat):
            out, k, j = list(cs), 0, 0
            for i, ok in enumerate(inexact):
                if ok:
                    out[i] = cnp.reshape(flat[k:k + sizes[j]], cnp.shape(cs[i]))
                    k, j = k + sizes[j], j + 1
            return out
        flat_p = (cnp.concatenate([cnp.reshape(c, (-1,)) for c in diff]) if diff
                  else cnp.zeros((0,)))

        def aug(tt, z):
            y, a = z[:n], z[n:2 * n]

            def of(y, p):
                return f(tt, y, rebuild(p))
            dy, pull = vjp(of, y, flat_p)
            a_y, a_p = pull(a)
            return cnp.concatenate([dy, -a_y, -a_p])
        m = t.shape[0]
        a = ct[m - 1]
        gp = cnp.zeros_like(flat_p)
        t_bar = [None] * m
        y = ys[m - 1]
        for i in range(m - 1, 0, -1):
            t_bar[i] = cnp.dot(ct[i], f(t[i], ys[i], cs))
            z0 = cnp.concatenate([y, a, gp])
            z = solve_ivp(aug, (t[i], t[i - 1]), z0, t_eval=cnp.stack([t[i - 1]]), **opts).y[:, 0]
            y, a, gp = ys[i - 1], z[n:2 * n], z[2 * n:]
            if i == 1:
                t_bar[0] = -cnp.dot(a, f(t[0], ys[0], cs))
            a = a + ct[i - 1]
        if m == 1:
            t_bar[0] = cnp.zeros_like(t[0])
        c_bar = [cnp.zeros_like(c) if not ok else None for c, ok in zip(cs, inexact)]
        if diff:
            for i, v in enumerate(rebuild(gp)):
                if inexact[i]:
                    c_bar[i] = v
        return (a, cnp.stack(t_bar), *c_bar)
    sol.defvjp(fwd, bwd)
    return sol(y0, t, *consts)
