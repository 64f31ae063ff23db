"""Quadrature: sampled rules (`trapezoid`, `cumulative_trapezoid`, `simpson`) and
integrals of functions (`quad`, adaptive Gauss-Kronrod; `fixed_quad`, Gauss-Legendre).

`quad` chooses its subintervals on values (QUADPACK's QAG strategy: bisect the interval
with the largest error estimate, 21-point Kronrod rule, until the error estimate meets
max(epsabs, epsrel |result|) or `limit` intervals are used) in one `implicit_solve`
equation, so under `jit` it runs at call time and under `vmap` once per example.  The
value is then the Kronrod rule over those intervals written with chainrule operations:
derivatives with respect to `args` (and values the integrand closes over) differentiate
under the integral sign on that partition, and the limits follow the Leibniz rule
(d/db = f(b), d/da = -f(a)) through a `custom_jvp`.  Infinite limits map to (0, 1] by
x = a + (1 - u)/u (QUADPACK's QAGI transform).

Difference from SciPy: no extrapolation (SciPy's QAGS/QAGI use Wynn's epsilon
algorithm), so integrable endpoint singularities need more subdivisions; `points`,
`weight` and `full_output` are not supported.
"""
from __future__ import annotations

import warnings

import numpy as _np

from ... import numpy as cnp
from ...api import custom_jvp, jvp
from ...interpreters.batching import vmap
from ...core import Tracer, TracerConversionError
from ...implicit import closure_convert, implicit_solve_p, _Unstageable
from ...ops.elementwise import safe_mul
from ._tableaus import GK21

__all__ = ["quad", "fixed_quad", "trapezoid", "cumulative_trapezoid", "simpson"]

_EPS = _np.finfo(float).eps
_UFLOW = _np.finfo(float).tiny

_XK = _np.array([x for x, _, _ in GK21])
_NODES = _np.concatenate([-_XK[:-1], _XK[::-1]])          # 21 Kronrod nodes, ascending
_WK = _np.array([w for _, w, _ in GK21])
_WK21 = _np.concatenate([_WK[:-1], _WK[::-1]])
_WG = _np.array([w for _, _, w in GK21])
_WG21 = _np.concatenate([_WG[:-1], _WG[::-1]])


def _as_float(x):
    x = cnp.asarray(x)
    return x.astype(_np.float64) if _np.dtype(x.dtype).kind in "biu" else x * 1.0


def _unit_integrand(f, a, b, kind):
    """H(u) on (0, 1] whose integral is f's over (a, b) (`kind`: which limits are finite)."""
    if kind == "finite":
        return lambda u: (b - a) * f(a + (b - a) * u)
    if kind == "upper-inf":
        return lambda u: f(a + (1.0 - u) / u) / (u * u)
    if kind == "lower-inf":
        return lambda u: f(b - (1.0 - u) / u) / (u * u)
    return lambda u: (f((1.0 - u) / u) + f((u - 1.0) / u)) / (u * u)


def _kronrod(values, half):
    """QK21 on intervals: values (m, 21) of the integrand at the nodes; (result, error)."""
    resk = values @ _WK21
    resg = values @ _WG21
    mean = resk * 0.5
    resabs = _np.abs(values) @ _WK21 * _np.abs(half)
    resasc = _np.abs(values - mean[:, None]) @ _WK21 * _np.abs(half)
    err = _np.abs((resk - resg) * half)
    with _np.errstate(divide="ignore", invalid="ignore"):
        scaled = resasc * _np.minimum(1.0, (200.0 * err / resasc) ** 1.5)
    err = _np.where((resasc != 0) & (err != 0), scaled, err)
    err = _np.where(resabs > _UFLOW / (50 * _EPS), _np.maximum(50 * _EPS * resabs, err), err)
    return resk * half, err


def _partition(f, a, b, *, kind, epsabs, epsrel, limit, vectorized):
    """QAG on values: (left, right, abserr, neval, ier) with left/right of size `limit`
    in u (unused slots are zero-width intervals at an interior node)."""
    a, b = float(a), float(b)
    H = _unit_integrand(f, a, b, kind)
    if vectorized:
        Hv = vmap(H)
    else:
        def Hv(us):
            return _np.array([float(H(float(u))) for u in us])

    def rule(lo, hi):
        mid, half = (lo + hi) / 2, (hi - lo) / 2
        us = (mid[:, None] + half[:, None] * _NODES[None, :]).ravel()
        vals = _np.asarray(Hv(us), dtype=float).reshape(len(lo), 21)
        return _kronrod(vals, half)
    lo, hi = _np.array([0.0]), _np.array([1.0])
    res, err = rule(lo, hi)
    neval, ier = 21, 0
    while True:
        total = res.sum()
        if err.sum() <= max(epsabs, epsrel * abs(total)) or not _np.isfinite(err.sum()):
            break
        if len(lo) >= limit:
            ier = 1
            break
        j = int(_np.argmax(err))
        m = (lo[j] + hi[j]) / 2
        if max(abs(lo[j]), abs(hi[j])) <= (1 + 100 * _EPS) * (abs(m) + 1000 * _UFLOW):
            ier = 3
            break
        r2, e2 = rule(_np.array([lo[j], m]), _np.array([m, hi[j]]))
        neval += 42
        lo = _np.concatenate([lo[:j], [lo[j], m], lo[j + 1:]])
        hi = _np.concatenate([hi[:j], [m, hi[j]], hi[j + 1:]])
        res = _np.concatenate([res[:j], r2, res[j + 1:]])
        err = _np.concatenate([err[:j], e2, err[j + 1:]])
    if ier == 1:
        warnings.warn(f"quad: the maximum number of subdivisions ({limit}) has been achieved; "
                      "the error estimate is probably larger than requested (raise `limit`)",
                      _IntegrationWarning, stacklevel=2)
    if not _np.isfinite(res.sum()):
        ier = 5
    pad = limit - len(lo)
    centre = (lo[0] + hi[0]) / 2
    left = _np.concatenate([lo, _np.full(pad, centre)])
    right = _np.concatenate([hi, _np.full(pad, centre)])
    return left, right, _np.float64(err.sum()), _np.float64(neval), _np.float64(len(lo))


class _IntegrationWarning(UserWarning):
    """The requested accuracy of `quad` was probably not reached."""


def _rule_value(H, left, right):
    """The Kronrod rule over the intervals, with chainrule operations (differentiable)."""
    mid, half = (left + right) / 2, (right - left) / 2
    us = cnp.reshape(mid[:, None] + half[:, None] * _NODES[None, :], (-1,))
    vals = cnp.reshape(vmap(H)(us), (left.shape[0], 21))
    return cnp.sum(half * (vals @ _WK21))


def _concrete_float(x, what):
    try:
        return float(x.concrete() if isinstance(x, Tracer) else x)
    except (TypeError, ValueError):
        raise TypeError(f"quad: {what} must be a scalar, got {x!r}") from None


_UNSTAGEABLE = ("quad: func reads the value of x for Python control flow (if, float(), "
                "math.*), so it cannot be differentiated, jitted or vmapped; write it with "
                "chainrule.numpy operations (cnp.where for branches)")


def _kind(a_inf, b_inf):
    return {(False, False): "finite", (False, True): "upper-inf", (True, False): "lower-inf",
            (True, True): "both-inf"}[(a_inf, b_inf)]


def quad(func, a, b, args=(), full_output=0, epsabs=1.49e-8, epsrel=1.49e-8, limit=50,
         points=None, weight=None, wvar=None, wopts=None, maxp1=50, limlst=50,
         complex_func=False):
    """(value, abserr): the integral of func(x, *args) over (a, b), as `scipy.integrate.quad`.

    Adaptive 21-point Gauss-Kronrod (QAG); a or b may be infinite.  Differentiable with
    respect to `args`, values `func` closes over, and finite limits (Leibniz rule).
    `func` takes a scalar x and returns a scalar; it is staged once and evaluated on all
    nodes of a rule at once (vmap).
    """
    if not callable(func):
        raise TypeError(f"quad: func must be callable, got {type(func).__name__}")
    for name, v in (("points", points), ("weight", weight), ("wvar", wvar)):
        if v is not None:
            raise NotImplementedError(f"quad: `{name}` is not supported; split the interval "
                                      "at the points yourself and add the pieces")
    if full_output or complex_func:
        raise NotImplementedError("quad: full_output and complex_func are not supported")
    if int(limit) < 1:
        raise ValueError("quad: limit must be at least 1")
    if epsabs <= 0 and epsrel < max(50 * _EPS, 5e-29):
        raise ValueError("quad: tolerance not met: give epsabs > 0 or epsrel >= 50 * eps")
    args = args if isinstance(args, tuple) else (args,)
    af, bf = _concrete_float(a, "the lower limit a"), _concrete_float(b, "the upper limit b")
    if _np.isnan(af) or _np.isnan(bf):
        raise ValueError("quad: the limits must not be nan")
    if af == bf and _np.isinf(af):
        return _as_float(0.0), _np.float64(0.0)
    if (_np.isinf(af) and af > 0) or (_np.isinf(bf) and bf < 0):
        value, err = quad(func, b, a, args, epsabs=epsabs, epsrel=epsrel, limit=limit)
        return -value, err
    kind = _kind(bool(_np.isinf(af)), bool(_np.isinf(bf)))
    a = _as_float(a) if not _np.isinf(af) else af
    b = _as_float(b) if not _np.isinf(bf) else bf
    options = (("kind", kind), ("epsabs", float(epsabs)), ("epsrel", float(epsrel)),
               ("limit", int(limit)))

    def scalar_func(x):
        out = _as_float(func(x, *args))
        if out.shape != ():
            raise ValueError(f"quad: func must return a scalar, got shape {out.shape}")
        return out
    try:
        g, consts = closure_convert(lambda x: scalar_func(x), 0.5 * (af + bf) if kind == "finite"
                                    else 1.0)
    except _Unstageable:
        g = None
    if g is None:
        leaves = [v for v in (a, b, *args) if isinstance(v, Tracer)]
        if leaves:
            raise TypeError(_UNSTAGEABLE)
        try:
            left, right, err, _, _ = _partition(scalar_func, af, bf, vectorized=False,
                                                **dict(options))
            H = _unit_integrand(scalar_func, af, bf, kind)
            vals = _np.array([float(H(float(u))) for u in ((left + right)[:, None] / 2
                              + (right - left)[:, None] / 2 * _NODES[None, :]).ravel()])
        except TracerConversionError:
            raise TypeError(_UNSTAGEABLE) from None
        return (_np.sum((right - left) / 2 * (vals.reshape(-1, 21) @ _WK21)),
                _np.float64(err))
    return _quad_with_rule(g, consts, a, b, kind, options)


def _quad_with_rule(g, consts, a, b, kind, options):
    """The differentiable part: partition on values, rule on traced values, Leibniz."""
    last = []

    def partition(a, b, consts):
        key = [a, b, *consts]
        if last and len(last[0]) == len(key) and all(u is v for u, v in zip(last[0], key)):
            return last[1]
        ins = [*consts, 0.0 if kind in ("lower-inf", "both-inf") else a,
               0.0 if kind in ("upper-inf", "both-inf") else b]
        out = implicit_solve_p.bind(*ins, solver=_solver, fun=g, n_consts=len(consts),
                                    options=tuple(options) + (("vectorized", True),))
        left, right, err, count = out[0], out[1], out[2], out[4]
        if not isinstance(count, Tracer):              # trim the unused slots
            n = int(count)
            left, right = left[:n], right[:n]
        last[:] = [key, (left, right, err)]
        return last[1]

    def value(a, b, consts):
        left, right, err = partition(a, b, consts)
        H = _unit_integrand(lambda x: g(x, *consts), a, b, kind)
        return _rule_value(H, left, right), err

    @custom_jvp
    def core(a, b, *consts):
        return value(a, b, consts)

    @core.defjvp
    def core_jvp(primals, tangents):
        a, b, *cs = primals
        da, db, *dcs = tangents
        out = core(a, b, *cs)
        left, right, _ = partition(a, b, cs)
        idx = [i for i, c in enumerate(cs) if _np.issubdtype(cnp.asarray(c).dtype, _np.inexact)]

        def of_consts(*d):
            c = list(cs)
            for i, v in zip(idx, d):
                c[i] = v
            H = _unit_integrand(lambda x: g(x, *c), a, b, kind)
            return _rule_value(H, left, right)
        if idx:
            t = jvp(of_consts, tuple(cs[i] for i in idx), tuple(dcs[i] for i in idx))[1]
        else:
            t = cnp.zeros_like(out[0])
        if kind in ("finite", "upper-inf"):
            t = t - safe_mul(da, g(a, *cs))
        if kind in ("finite", "lower-inf"):
            t = t + safe_mul(db, g(b, *cs))
        return out, (t, cnp.zeros_like(out[1]))
    aa = a if kind in ("finite", "upper-inf") else _as_float(0.0)
    bb = b if kind in ("finite", "lower-inf") else _as_float(0.0)
    return core(aa, bb, *consts)


def _solver(f, a, b, *, kind, epsabs, epsrel, limit, vectorized):
    return _partition(f, a, b, kind=kind, epsabs=epsabs, epsrel=epsrel, limit=limit,
                      vectorized=vectorized)


def fixed_quad(func, a, b, args=(), n=5):
    """(value, None): n-point Gauss-Legendre on (a, b), as `scipy.integrate.fixed_quad`.

    `func` must accept an array of nodes (vectorised), as in SciPy.
    """
    if not callable(func):
        raise TypeError(f"fixed_quad: func must be callable, got {type(func).__name__}")
    if int(n) != n or n < 1:
        raise ValueError(f"fixed_quad: n must be a positive integer, got {n!r}")
    args = args if isinstance(args, tuple) else (args,)
    x, w = _np.polynomial.legendre.leggauss(int(n))
    a, b = _as_float(a), _as_float(b)
    if _np.isinf(_concrete_float(a, "a")) or _np.isinf(_concrete_float(b, "b")):
        raise ValueError("fixed_quad: Gaussian quadrature is only available for finite limits")
    y = (b - a) * (x + 1) / 2.0 + a
    return (b - a) / 2.0 * cnp.sum(w * _as_float(func(y, *args)), axis=-1), None


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
