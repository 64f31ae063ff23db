"""Special functions (erf, erfc, erfinv, gammaln, digamma, polygamma, sinc) and their rules.

The implementations are scipy.special's when SciPy can be imported.  Without
SciPy, NumPy fallbacks take over (also importable as ``np_erf`` etc. for
testing): math.erf / math.erfc / math.lgamma elementwise, digamma and
polygamma by the recurrence ``psi(x) = psi(x + 1) - 1/x`` (and its
derivatives) up to x >= 20 followed by their asymptotic series, with the
reflection formula for digamma below 1/2, and erfinv by Halley's iteration
from Winitzki's closed-form approximation.  They agree with SciPy to ~1e-13.

Derivatives: erf' = 2/sqrt(pi) exp(-x^2), erfc' = -erf', erfinv' =
sqrt(pi)/2 exp(erfinv(x)^2), gammaln' = digamma, digamma' = polygamma(1, .),
polygamma(n, .)' = polygamma(n + 1, .); the order n is not differentiable.
"""
from __future__ import annotations

import math

import numpy as np

from ..core import Primitive, bind, concrete
from ..rules import defjvp, defvjp
from . import elementwise as E
from . import series as T

try:
    import scipy.special as _sc
except ImportError:        # pragma: no cover  (exercised by testing the np_* fallbacks)
    _sc = None

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_PI_OVER_TWO = math.sqrt(math.pi) / 2.0


# ------------------------------------------------------ NumPy fallbacks ---

def _elementwise(fn, at_error):
    """Apply the scalar function `fn` elementwise (`at_error(x)` where it raises)."""
    def scalar(x):
        try:
            return fn(x)
        except (ValueError, OverflowError):
            return at_error(x)

    vec = np.vectorize(scalar, otypes=[np.float64])

    def impl(x):
        if type(x) is float:
            return scalar(x)
        out = vec(np.asarray(x, dtype=np.float64))
        return out[()] if out.ndim == 0 else out
    return impl


np_erf = _elementwise(math.erf, lambda x: math.nan)
np_erfc = _elementwise(math.erfc, lambda x: math.nan)
np_gammaln = _elementwise(math.lgamma, lambda x: math.inf)

# Bernoulli numbers B_2k, k = 1..12, for the asymptotic series of digamma and polygamma
_B = [1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510, 43867 / 798,
      -174611 / 330, 854513 / 138, -236364091 / 2730]
_SHIFT = 20.0


def _shift_up(x, step):
    """Add step(x) and increase x by one until every x >= _SHIFT: (x, accumulated)."""
    acc = np.zeros_like(x)
    need = np.isfinite(x) & (x < _SHIFT)
    while np.any(need):
        xs = np.where(need, x, 1.0)
        acc = acc + np.where(need, step(xs), 0.0)
        x = np.where(need, x + 1.0, x)
        need = np.isfinite(x) & (x < _SHIFT)
    return x, acc


def _digamma_large(x):
    """psi(x) for x >= _SHIFT: log x - 1/(2x) - sum B_2k / (2k x^2k)."""
    z = 1.0 / (x * x)
    tail = 0.0
    for k in range(9, 0, -1):                       # Horner in z = 1/x^2
        tail = tail * z + _B[k - 1] / (2 * k)
    return np.log(x) - 0.5 / x - tail * z


def np_digamma(x):
    x = np.asarray(x, dtype=np.float64)
    reflect = x < 0.5
    xr = np.where(reflect, 1.0 - x, x)
    xs, acc = _shift_up(xr, lambda v: -1.0 / v)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = _digamma_large(xs) + acc
        frac = x - np.round(x)
        out = np.where(reflect, out - math.pi / np.tan(math.pi * frac), out)
        out = np.where(x == 0, -np.inf, out)
        out = np.where((x < 0) & (frac == 0), np.nan, out)
    out = np.where(np.isposinf(x), np.inf, out)
    return out[()] if out.ndim == 0 else out



def _polygamma_scalar_order(n, x):
    """psi^(n)(x) for one integer n >= 1, elementwise in the float array x."""
    sign = 1.0 if n % 2 else -1.0          # (-1)^(n+1)
    fact = math.factorial(n)
    with np.errstate(divide="ignore", over="ignore"):
        xs, acc = _shift_up(x, lambda v: sign * fact / v ** (n + 1))
        inv = 1.0 / xs
        series = math.factorial(n - 1) * inv ** n + 0.5 * fact * inv ** (n + 1)
        for k, b in enumerate(_B, start=1):
            series = series + b * (math.factorial(2 * k + n - 1) / math.factorial(2 * k)) * inv ** (2 * k + n)
    out = sign * series + acc
    poles = (x <= 0) & (x == np.round(x))
    return np.where(poles, np.inf if n % 2 else np.nan, out)


def np_polygamma(n, x):
    n = np.asarray(n)
    x = np.asarray(x, dtype=np.float64)
    if np.any(n != np.round(n)) or np.any(n < 0):
        raise ValueError("polygamma: the order n must be a non-negative integer")
    n, x = np.broadcast_arrays(n.astype(np.int64), x)
    out = np.empty(x.shape)
    for k in np.unique(n):
        sel = n == k
        out[sel] = np_digamma(x[sel]) if k == 0 else _polygamma_scalar_order(int(k), x[sel])
    return out[()] if out.ndim == 0 else out


def np_erfinv(x):
    x = np.asarray(x, dtype=np.float64)
    ax = np.abs(x)
    inside = ax < 1.0
    a = np.where(inside, ax, 0.5)
    # Winitzki's approximation (relative error < 2e-3), then three Halley steps
    c = 0.147
    ln = np.log1p(-a * a)
    t = 2.0 / (math.pi * c) + 0.5 * ln
    y = np.sqrt(np.sqrt(t * t - ln / c) - t)
    small = a <= 0.5
    erf_v, erfc_v = np.vectorize(math.erf, otypes=[float]), np.vectorize(math.erfc, otypes=[float])
    for _ in range(3):
        f = np.where(small, erf_v(y) - a, (1.0 - a) - erfc_v(y))   # erf(y) - a, accurately
        fp = _TWO_OVER_SQRT_PI * np.exp(-y * y)
        y = y - f / (fp + y * f)
    out = np.where(inside, y, np.where(ax == 1.0, np.inf, np.nan)) * np.sign(x)
    out = np.where(x == 0, 0.0, out)
    return out[()] if out.ndim == 0 else out


# ----------------------------------------------------------- primitives ---

if _sc is not None:
    _erf, _erfc, _erfinv = _sc.erf, _sc.erfc, _sc.erfinv
    _gammaln, _digamma, _polygamma = _sc.gammaln, _sc.digamma, _sc.polygamma
else:                      # pragma: no cover
    _erf, _erfc, _erfinv = np_erf, np_erfc, np_erfinv
    _gammaln, _digamma, _polygamma = np_gammaln, np_digamma, np_polygamma


def _neg_sq(x):
    """Series of -x^2."""
    sq = T.s_mul(x, x)
    return [-(x[0] * x[0])] + [None if v is None else -v for v in sq[1:]]


def _d_erf(x):
    """Series of erf'(x) = 2/sqrt(pi) exp(-x^2)."""
    u = _neg_sq(x)
    return T.scale_all(T.s_exp(u, E.exp(u[0])), _TWO_OVER_SQRT_PI)


def _erfinv_series(x, y0):
    """y' = (sqrt(pi)/2) exp(y^2) x', with e = (sqrt(pi)/2) exp(y^2) built alongside y."""
    n = len(x)
    jx = [(j, v * j) for j, v in T.nonzero(x)]
    y = [y0] + [None] * (n - 1)
    v = [y0 * y0] + [None] * (n - 1)                        # y^2
    e = [E.exp(v[0]) * _SQRT_PI_OVER_TWO] + [None] * (n - 1)
    for k in range(1, n):
        acc = None
        for j, a in jx:
            if j > k:
                break
            if e[k - j] is not None:
                acc = T.add(acc, a * e[k - j])
        y[k] = None if acc is None else acc / k
        if k == n - 1:
            break
        for i in range(k + 1):
            if y[i] is not None and y[k - i] is not None:
                v[k] = T.add(v[k], y[i] * y[k - i])
        acc = None
        for i in range(1, k + 1):
            if v[i] is not None and e[k - i] is not None:
                acc = T.add(acc, (v[i] * i) * e[k - i])
        e[k] = None if acc is None else acc / k
    return y


def _from_polygamma(shift):
    """Series of f with f^(m) = polygamma(m + shift, .) for m >= 1 (gammaln: -1, digamma: 0)."""
    def fn(x, ans):
        a = [ans] + [polygamma(m + shift, x[0]) / float(math.factorial(m)) for m in range(1, len(x))]
        return T.s_compose(x, a)
    return fn


erf_p = E.unary("erf", math.erf, _erf, lambda x, ans: _TWO_OVER_SQRT_PI * E.exp(-(x * x)),
                T.via_derivative(_d_erf), libm="erf", sympy="erf")
erfc_p = E.unary("erfc", math.erfc, _erfc, lambda x, ans: -_TWO_OVER_SQRT_PI * E.exp(-(x * x)),
                 T.via_derivative(lambda x: T.scale_all(_d_erf(x), -1.0)), libm="erfc", sympy="erfc")
erfinv_p = E.unary("erfinv", None, _erfinv, lambda x, ans: _SQRT_PI_OVER_TWO * E.exp(ans * ans),
                   _erfinv_series, safe=True, sympy="erfinv")
gammaln_p = E.unary("gammaln", math.lgamma, _gammaln, lambda x, ans: digamma(x), _from_polygamma(-1),
                    libm="lgamma", sympy="loggamma")
digamma_p = E.unary("digamma", None, _digamma, lambda x, ans: polygamma(1, x), _from_polygamma(0),
                    sympy=lambda sp, x: sp.polygamma(0, x))


def _polygamma_series(series):
    """polygamma(n, .)^(j) = polygamma(n + j, .): Faa di Bruno on those coefficients."""
    n, x = series
    if not T.is_const(n):
        raise TypeError("polygamma: the order n cannot carry a Taylor series")
    m = np.asarray(concrete(n[0]))
    ans = bind(polygamma_p, n[0], x[0])
    a = [ans] + [polygamma(m + j, x[0]) / float(math.factorial(j)) for j in range(1, len(x))]
    return T.s_compose(x, a)


polygamma_p = Primitive("polygamma", lambda n, x: _polygamma(n, x))
defjvp(polygamma_p, None, lambda t, ans, n, x: t * polygamma(n + 1, x))
defvjp(polygamma_p, None, lambda g, ans, n, x: E.unbroadcast(x, g * polygamma(n + 1, x)))
E.defelementwise(polygamma_p, _polygamma_series, sympy="polygamma")


def erf(x):
    return bind(erf_p, x)


def erfc(x):
    return bind(erfc_p, x)


def erfinv(x):
    return bind(erfinv_p, x)


def gammaln(x):
    return bind(gammaln_p, x)


def digamma(x):
    return bind(digamma_p, x)


def polygamma(n, x):
    """The n-th derivative of digamma; `n` (a non-negative integer or integer array) is not differentiated."""
    n = np.asarray(n)
    if n.dtype.kind == "f":
        if np.any(n != np.round(n)):
            raise ValueError("polygamma: the order n must be a non-negative integer")
        n = n.astype(np.int64)
    if n.ndim == 0:
        n = int(n)
    return bind(polygamma_p, n, x)


# ------------------------------------------------------------------ sinc ---
# sinc(x, n) is the n-th derivative of sin(pi x) / (pi x); its derivative is sinc(x, n + 1),
# so every mode (nested grad, Taylor at any order) stays exact, at 0 too.

_GAUSS = {}


def _gauss01(m):
    """Gauss-Legendre nodes and weights on [0, 1] (cached)."""
    r = _GAUSS.get(m)
    if r is None:
        t, w = np.polynomial.legendre.leggauss(m)
        r = _GAUSS[m] = ((t + 1.0) / 2.0, w / 2.0)
    return r


def _sinc_derivative(x, n):
    """d^n sinc(x) / dx^n (n >= 1), accurate to ~1e-13 of pi^n / (n + 1).

    |pi x| <= 1: the power series.  Beyond: Leibniz's rule on sin(pi x) * 1/(pi x) where its
    terms n!/k! pi^(k-1) / x^(n-k+1) are within 10x of the result, else the integral
    pi^n int_0^1 t^n cos(pi x t + n pi/2) dt by Gauss-Legendre quadrature.
    """
    z = np.abs(math.pi * x)
    out = np.zeros(x.shape, np.result_type(x.dtype, np.float64))
    finite = np.isfinite(z)
    out[~finite] = np.nan                            # as np.sinc(inf) and np.sinc(nan)
    small = z <= 1.0
    zz = np.where(small | ~finite, 1.0, z)
    k = np.minimum(np.floor(zz), n)                  # the largest Leibniz term is near k = |pi x|
    loss = math.lgamma(n + 1) - np.vectorize(math.lgamma, otypes=[float])(k + 1) - (n - k) * np.log(zz)
    far = finite & ~small & (loss <= math.log(10.0))
    mid = finite & ~small & ~far
    if small.any():
        xs, acc, j = x[small], 0.0, (n + 1) // 2
        while True:                                   # sum_j (-1)^j pi^2j x^(2j-n) / ((2j+1) (2j-n)!)
            m = 2 * j - n
            term = ((-1) ** j * math.pi ** (2 * j) / ((2 * j + 1) * math.factorial(m))) * xs ** m
            acc = acc + term
            if m > 20 and np.all(np.abs(term) <= 1e-17 * np.abs(acc)):
                break
            j += 1
        out[small] = acc
    if far.any():
        xf = x[far]
        px, acc = math.pi * xf, 0.0
        for i in range(n + 1):
            c = (-1) ** (n - i) * (math.factorial(n) // math.factorial(i)) * math.pi ** (i - 1)
            acc = acc + c * np.sin(px + i * (math.pi / 2)) / xf ** (n - i + 1)
        out[far] = acc
    if mid.any():
        xm = x[mid]
        t, w = _gauss01(int(n // 2 + math.ceil(np.max(z[mid])) // 2 + 20))
        vals = (t ** n * w) * np.cos(np.multiply.outer(math.pi * xm, t) + n * (math.pi / 2))
        out[mid] = math.pi ** n * vals.sum(-1)
    return out


def _sinc_impl(x, n=0):
    if type(x) is float:
        if n == 0 and math.isfinite(x):
            return math.sin(math.pi * x) / (math.pi * x) if x else 1.0
        return float(_sinc_impl(np.float64(x), n))
    if n == 0:
        return np.sinc(x)
    x = np.asarray(x)
    rt = x.dtype if x.dtype.kind in "fc" else np.dtype(np.float64)
    out = _sinc_derivative(x.astype(np.result_type(rt, np.float64)), n).astype(rt)
    return out[()] if out.ndim == 0 else out


def _sinc_series(series, n=0):
    """sinc(x, n)^(j) = sinc(x, n + j): Faa di Bruno on those coefficients."""
    x = series[0]
    a = [bind(sinc_p, x[0], n=n)] + [bind(sinc_p, x[0], n=n + j) / float(math.factorial(j))
                                      for j in range(1, len(x))]
    return T.s_compose(x, a)


def _sympy_sinc(sp, x, n=0):
    t = sp.Dummy("t")
    f = sp.sin(sp.pi * t) / (sp.pi * t)
    return sp.limit(sp.diff(f, t, n), t, 0) if x == 0 else sp.diff(f, t, n).subs(t, x)


sinc_p = Primitive("sinc", _sinc_impl)
defjvp(sinc_p, lambda t, ans, x, n=0: t * bind(sinc_p, x, n=n + 1))
defvjp(sinc_p, lambda g, ans, x, n=0: g * bind(sinc_p, x, n=n + 1))
E.defelementwise(sinc_p, _sinc_series, sympy=_sympy_sinc)


def sinc(x):
    """sin(pi x) / (pi x), 1 at 0 (NumPy's normalised sinc); exact derivatives of every order."""
    return bind(sinc_p, x, n=0)
