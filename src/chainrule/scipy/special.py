"""`chainrule.scipy.special`: differentiable special functions with SciPy's signatures.

erf, erfc, erfinv, gammaln, digamma (psi), polygamma, the incomplete gamma and beta
functions gammainc, gammaincc, betainc, betaincc and their inverses gammaincinv, gammainccinv,
betaincinv, i0e, i1e (i0, i1 from them), erfcx and the Hurwitz zeta are primitives
(`chainrule.ops.special`; differentiable in every argument, the shape parameters included);
the rest are composed from chainrule operations, written to be numerically stable and to keep
their gradients finite.
"""
from __future__ import annotations

import math

import numpy as _np

from ..core import Tracer, shape_of
from ..ops import special as _P
from ..ops import elementwise as _E, reductions as _R, shape as _S

__all__ = ["erf", "erfc", "erfinv", "gammaln", "digamma", "psi", "polygamma", "gamma", "betaln",
           "logsumexp", "expit", "logit", "xlogy", "xlog1py", "softmax", "log_softmax", "ndtr",
           "log_ndtr", "gammainc", "gammaincc", "betainc", "betaincc", "gammaincinv", "gammainccinv", "betaincinv",
           "i0", "i0e", "i1", "i1e", "erfcx", "zeta"]

erf, erfc, erfinv = _P.erf, _P.erfc, _P.erfinv
gammaln, digamma, polygamma = _P.gammaln, _P.digamma, _P.polygamma
psi = digamma
gammainc, gammaincc, betainc, betaincc = _P.gammainc, _P.gammaincc, _P.betainc, _P.betaincc
gammaincinv, gammainccinv, betaincinv = _P.gammaincinv, _P.gammainccinv, _P.betaincinv
i0, i0e, i1, i1e, erfcx, zeta = _P.i0, _P.i0e, _P.i1, _P.i1e, _P.erfcx, _P.zeta


def _arr(x):
    """Traced values and Python floats as they are; anything else as a NumPy float array."""
    if isinstance(x, (Tracer, float)):
        return x
    if isinstance(x, (list, tuple)):
        from ..numpy import asarray
        x = asarray(x)
        if isinstance(x, Tracer):
            return x
    x = _np.asarray(x)
    return x.astype(_np.float64) if x.dtype.kind in "biu" else x


def gamma(x):
    """Gamma(x) = sign * exp(gammaln(x)); the sign is -1 on (-1, 0), (-3, -2), ..."""
    x = _arr(x)
    odd_floor = _E.equal(_E.remainder(_E.floor(x), 2.0), 1.0)
    negative = _E.logical_and(_E.less(x, 0.0), odd_floor)
    return _E.select(negative, -1.0, 1.0) * _E.exp(gammaln(x))


def betaln(a, b):
    """log |B(a, b)| = gammaln(a) + gammaln(b) - gammaln(a + b)."""
    a, b = _arr(a), _arr(b)
    return gammaln(a) + gammaln(b) - gammaln(a + b)


def ndtr(x):
    """The standard normal CDF, erfc(-x / sqrt 2) / 2."""
    return 0.5 * erfc(_arr(x) * -math.sqrt(0.5))


# the asymptotic series of ndtr(x) * (-x) / pdf(x) in 1/x^2, for x <= -20: (-1)^k (2k-1)!!
_LOG_NDTR_SERIES = [(-1) ** k * math.prod(range(1, 2 * k, 2)) for k in range(13)]


def log_ndtr(x):
    """log of the standard normal CDF, accurate in both tails (log1p above 0, the asymptotic
    series below -20, where ndtr itself would lose or underflow)."""
    x = _arr(x)
    lo, hi = _E.less_equal(x, -20.0), _E.greater(x, 0.0)
    xa = _E.select(hi, x, 1.0)                                   # each branch on a safe input
    xb = _E.select(_E.logical_or(lo, hi), -1.0, x)
    xc = _E.select(lo, x, -20.0)
    upper = _E.log1p(-0.5 * erfc(xa * math.sqrt(0.5)))
    middle = _E.log(0.5 * erfc(xb * -math.sqrt(0.5)))
    z = 1.0 / (xc * xc)
    series = 0.0
    for c in reversed(_LOG_NDTR_SERIES):
        series = series * z + c
    lower = -0.5 * (xc * xc) - _E.log(-xc) - 0.5 * math.log(2.0 * math.pi) + _E.log(series)
    return _E.select(lo, lower, _E.select(hi, upper, middle))


def expit(x):
    """1 / (1 + exp(-x)) without overflow: exp is only taken of -|x|."""
    x = _arr(x)
    pos = _E.greater_equal(x, 0.0)
    e = _E.exp(_E.select(pos, -x, x))           # exp(-|x|), with the right derivative at 0
    return _E.select(pos, 1.0, e) / (1.0 + e)


def logit(p):
    """log(p / (1 - p))."""
    p = _arr(p)
    return _E.log(p) - _E.log1p(-p)


def _safe_arg_for_zero_x(x, y, ok):
    """y where x != 0 or ok(y); 1 where x == 0 and y would give inf/nan (0 * log y := 0)."""
    return _E.select(_E.logical_and(_E.equal(x, 0.0), _E.logical_not(ok)), 1.0, y)


def xlogy(x, y):
    """x * log(y), and 0 where x == 0 (with zero derivative in y there)."""
    x, y = _arr(x), _arr(y)
    ok = _E.logical_and(_E.greater(y, 0.0), _E.isfinite(y))
    return x * _E.log(_safe_arg_for_zero_x(x, y, ok))


def xlog1py(x, y):
    """x * log1p(y), and 0 where x == 0."""
    x, y = _arr(x), _arr(y)
    ok = _E.logical_and(_E.greater(y, -1.0), _E.isfinite(y))
    return x * _E.log1p(_safe_arg_for_zero_x(x, y, ok))


def _drop_axes(x, axes):
    s = shape_of(x)
    return _S.reshape(x, tuple(n for i, n in enumerate(s) if i not in axes))


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """log(sum(b * exp(a))) over `axis`, shifted by the (constant) maximum for stability.

    With return_sign=True returns (log|sum|, sign(sum)); otherwise a negative
    sum gives nan, as in SciPy.
    """
    a = _arr(a)
    if b is not None:
        b = _arr(b)
        shp = _np.broadcast_shapes(shape_of(a), shape_of(b))
        a, b = _S.broadcast_to(a, shp), _S.broadcast_to(b, shp)
    axes = _R.normalize_axes(a, axis)
    a_for_max = a if b is None else _E.select(_E.equal(b, 0.0), -_np.inf, a)
    m = _E.stop_gradient(_R.max(a_for_max, axis=axes, keepdims=True)) if axes else _E.stop_gradient(a_for_max)
    m = _E.select(_E.isfinite(m), m, 0.0)
    e = _E.exp(a - m)
    if b is not None:
        e = b * e
    s = _R.sum(e, axis=axes, keepdims=True)
    if return_sign:
        sgn = _E.sign(s)
        s = _E.absolute(s)
    with _np.errstate(divide="ignore"):          # log 0 = -inf when every term is 0
        out = _E.log(s) + m
    if not keepdims:
        out = _drop_axes(out, axes)
        if return_sign:
            sgn = _drop_axes(sgn, axes)
    return (out, sgn) if return_sign else out


def log_softmax(x, axis=None):
    x = _arr(x)
    return x - logsumexp(x, axis=axis, keepdims=True)


def softmax(x, axis=None):
    return _E.exp(log_softmax(x, axis=axis))


# ------------------------------------------------------------------ ndtri ---
# ndtri is composed, with its derivative given by a custom JVP: the value comes from
# erfinv where that is exact and from Newton's method on log_ndtr in the lower tail, and
# the derivative, sqrt(2 pi) exp(ndtri(p)^2 / 2), is written with chainrule operations, so
# every order (and reverse mode, by transposition) is exact rather than differentiated
# through the iteration.

from ..api import custom_jvp as _custom_jvp  # noqa: E402  (beside the function it serves)

__all__ += ["ndtri"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _ndtri_value(p):
    """The inverse of ndtr, accurate down to the smallest p.

    For p >= 1/4, 2p - 1 is exact (Sterbenz), so sqrt(2) erfinv(2p - 1) is as accurate as
    erfinv. Below, erfinv's argument near -1 would lose digits, so four Newton steps solve
    log_ndtr(x) = log(p), from erfinv's value (p >= 1e-3) or the two-term asymptotic
    solution of x^2 / 2 + log(-x) + log sqrt(2 pi) = -log(p) (p < 1e-3). log_ndtr is
    concave, so the iteration converges monotonically from either start.
    """
    p = _arr(p)
    upper = _E.greater_equal(p, 0.25)
    xu = math.sqrt(2.0) * erfinv(2.0 * _E.select(upper, p, 0.5) - 1.0)
    pl = _E.select(_E.logical_and(_E.less(p, 0.25), _E.greater(p, 0.0)), p, 0.125)
    log_p = _E.log(pl)
    far = _E.less(pl, 1e-3)
    near = math.sqrt(2.0) * erfinv(2.0 * _E.select(far, 0.125, pl) - 1.0)
    u = _E.sqrt(-2.0 * _E.select(far, log_p, -10.0))
    u = _E.sqrt(-2.0 * _E.select(far, log_p, -10.0) - 2.0 * _E.log(u) - 2.0 * _LOG_SQRT_2PI)
    x = _E.select(far, -u, near)
    for _ in range(4):
        lc = log_ndtr(x)
        slope = _E.exp(-0.5 * (x * x) - _LOG_SQRT_2PI - lc)        # d log_ndtr / dx
        x = x - (lc - log_p) / slope
    out = _E.select(upper, xu, x)
    valid = _E.logical_and(_E.greater(p, 0.0), _E.less_equal(p, 1.0))
    return _E.select(_E.equal(p, 0.0), -_np.inf, _E.select(valid, out, _np.nan))


@_custom_jvp
def ndtri(p):
    """The standard normal quantile, the inverse of ndtr: -inf at 0, inf at 1, nan outside [0, 1]."""
    with _np.errstate(divide="ignore", invalid="ignore"):
        return _ndtri_value(p)


@ndtri.defjvp
def _ndtri_jvp(primals, tangents):
    (p,), (t,) = primals, tangents
    x = ndtri(p)                   # through the custom rule again: exact at every order
    return x, _E.safe_mul(t, math.sqrt(2.0 * math.pi) * _E.exp(0.5 * (x * x)))


# ------------------------------------------ composed additions (found missing by tools/) ---
__all__ += ["beta", "entr", "rel_entr", "kl_div", "multigammaln", "factorial", "boxcox", "boxcox1p"]


def _gamma_sign(x):
    """The sign of Gamma(x): -1 on (-1, 0), (-3, -2), ..., else 1."""
    odd_floor = _E.equal(_E.remainder(_E.floor(x), 2.0), 1.0)
    return _E.select(_E.logical_and(_E.less(x, 0.0), odd_floor), -1.0, 1.0)


def beta(a, b):
    """B(a, b) = Gamma(a) Gamma(b) / Gamma(a + b), as its sign times exp(betaln(a, b))."""
    a, b = _arr(a), _arr(b)
    return _gamma_sign(a) * _gamma_sign(b) * _gamma_sign(a + b) * _E.exp(betaln(a, b))


def _nan_of(*xs):
    """True where any argument is nan."""
    out = _E.isnan(xs[0])
    for x in xs[1:]:
        out = _E.logical_or(out, _E.isnan(x))
    return out


def entr(x):
    """-x log x for x > 0, 0 at 0, -inf below (SciPy's entr)."""
    x = _arr(x)
    pos = _E.greater(x, 0.0)
    val = -x * _E.log(_E.select(pos, x, 1.0))
    return _E.select(_E.less(x, 0.0), -_np.inf, val)


def rel_entr(x, y):
    """x log(x / y) for x, y > 0; 0 where x == 0 and y >= 0; inf elsewhere (nan stays nan)."""
    x, y = _arr(x), _arr(y)
    ok = _E.logical_and(_E.greater(x, 0.0), _E.greater(y, 0.0))
    zero = _E.logical_and(_E.equal(x, 0.0), _E.greater_equal(y, 0.0))
    val = x * _E.log(_E.select(ok, x, 1.0) / _E.select(ok, y, 1.0))
    out = _E.select(_E.logical_or(ok, zero), val, _np.inf)
    return _E.select(_nan_of(x, y), _np.nan, out)


def kl_div(x, y):
    """x log(x / y) - x + y for x, y > 0; y where x == 0 and y >= 0; inf elsewhere."""
    x, y = _arr(x), _arr(y)
    return rel_entr(x, y) - x + y


def multigammaln(a, d):
    """log of the multivariate gamma function of dimension d (an integer):
    d (d - 1) / 4 log pi + sum_j gammaln(a - j / 2)."""
    if int(d) != d or d < 1:
        raise ValueError(f"multigammaln: d must be a positive integer (got {d!r})")
    d = int(d)
    a = _arr(a)
    if not isinstance(a, Tracer) and _np.any(_np.asarray(a) <= 0.5 * (d - 1)):
        raise ValueError(f"multigammaln: condition a > (d - 1) / 2 = {0.5 * (d - 1)} not met")
    out = d * (d - 1) / 4.0 * math.log(math.pi)
    for j in range(d):
        out = out + gammaln(a - 0.5 * j)
    return out


def factorial(n, exact=False):
    """Gamma(n + 1) for n >= 0 and 0 for n < 0 (SciPy's factorial with exact=False)."""
    if exact:
        raise NotImplementedError("factorial(exact=True) gives Python integers; use math.factorial")
    n = _arr(n)
    neg = _E.less(n, 0.0)
    return _E.select(neg, 0.0, gamma(_E.select(neg, 0.0, n) + 1.0))


def _expm1_ratio(u):
    """expm1(u) / u, 1 at u = 0 (a series near 0, so every derivative there is right)."""
    small = _E.less(_E.absolute(u), 1e-5)
    us = _E.select(small, 1.0, u)
    return _E.select(small, 1.0 + u * (0.5 + u / 6.0), _E.expm1(us) / us)


def _boxcox_of_log(x, lg, lmbda, at_zero):
    """(exp(lmbda lg) - 1) / lmbda = lg expm1(u) / u with u = lmbda lg; SciPy's values where
    x is at the edge `at_zero` (lg = -inf): -1 / lmbda for lmbda > 0, else -inf."""
    inside = _E.logical_not(at_zero)
    lg = _E.select(inside, lg, 0.0)
    pos = _E.greater(lmbda, 0.0)
    edge = _E.select(pos, -1.0 / _E.select(pos, lmbda, 1.0), -_np.inf)
    return _E.select(inside, lg * _expm1_ratio(lmbda * lg), edge)


def boxcox(x, lmbda):
    """The Box-Cox transform (x**lmbda - 1) / lmbda, log(x) at lmbda = 0 (nan for x < 0)."""
    x, lmbda = _arr(x), _arr(lmbda)
    zero = _E.equal(x, 0.0)
    return _boxcox_of_log(x, _E.log(_E.select(zero, 1.0, x)), lmbda, zero)


def boxcox1p(x, lmbda):
    """The Box-Cox transform of 1 + x, ((1 + x)**lmbda - 1) / lmbda (nan for x < -1)."""
    x, lmbda = _arr(x), _arr(lmbda)
    edge = _E.equal(x, -1.0)
    return _boxcox_of_log(x, _E.log1p(_E.select(edge, 0.0, x)), lmbda, edge)
