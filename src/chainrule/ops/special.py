"""Special functions (erf, erfc, erfinv, gammaln, digamma, polygamma, sinc, the incomplete gamma
and beta family, i0e, i1e, erfcx, Hurwitz zeta) and their rules.

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
from ..rules import defjvp, defvjp, taylor_by_jvp
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


# ===================================================== incomplete gamma and beta ===
# gammainc(a, x) = P(a, x) and gammaincc(a, x) = Q(a, x) = 1 - P (regularised, DLMF 8.2.4),
# betainc(a, b, x) = I_x(a, b) (DLMF 8.17.2), and the inverses in x.  Values are SciPy's;
# derivatives in x are closed forms (the densities), derivatives in the shape parameters
# a (and b) are the primitives gammainc_da(a, x, order=k) = d^k P / da^k and
# betainc_dab(a, b, x, da=j, db=k) = d^(j+k) I / da^j db^k.  Those evaluate the defining
# series / continued fractions on truncated Taylor polynomials in the shape parameters
# (forward-mode differentiation of the expansion, as Moore's AS 187 does at first order),
# so every order is computed the same way and their own derivatives are again those
# primitives (in a, b) or closed forms (in x): every order and mode stays exact.

_EPS = np.finfo(np.float64).eps
_TINY = 1e-300


def _psi_n(n, x):
    """polygamma(n, x) on NumPy values, n >= -1 (n = -1: gammaln, n = 0: digamma)."""
    if n == -1:
        return _gammaln(x)
    if n == 0:
        return _digamma(x)
    return _polygamma(n, x)


# Truncated bivariate Taylor polynomials in (h, g): arrays c[i, j, ...] (the coefficient of
# h^i g^j for every element), truncated at degree (J, K) = (c.shape[0] - 1, c.shape[1] - 1).

def _smul(p, q):
    J, K = p.shape[0], p.shape[1]
    r = p[0, 0] * q
    for i in range(J):
        for j in range(K):
            if i or j:
                r[i:, j:] = r[i:, j:] + p[i, j] * q[:J - i, :K - j]
    return r


def _nilpotent_sum(p, coeffs):
    """sum_m coeffs[m] N^m, N = p - p[0, 0] (N^m = 0 for m > J + K)."""
    n = p.copy()
    n[0, 0] = 0.0
    out = np.zeros_like(p)
    out[0, 0] = coeffs[0]
    power = None
    for m in range(1, p.shape[0] + p.shape[1] - 1):
        power = n if power is None else _smul(power, n)
        out = out + coeffs[m] * power
    return out


def _srecip(p):
    lead = p[0, 0]
    lead = np.where(np.abs(lead) < _TINY, _TINY, lead)        # Lentz's guard against 0
    m = p.shape[0] + p.shape[1] - 1
    return _nilpotent_sum(p, [(-1.0) ** k / lead ** (k + 1) for k in range(m)])


def _sexp(p):
    m = p.shape[0] + p.shape[1] - 1
    e0 = np.exp(p[0, 0])
    return _nilpotent_sum(p, [e0 / math.factorial(k) for k in range(m)])


def _sadd(p, c):
    """p + c for a number (or element array) c: only the constant term changes."""
    r = p.copy()
    r[0, 0] = r[0, 0] + c
    return r


def _const(v, J, K):
    c = np.zeros((J + 1, K + 1) + v.shape)
    c[0, 0] = v
    return c


def _unconverged(new, old):
    """Whether some coefficient of some element still changes by more than eps (relative)."""
    d = np.abs(new - old)
    return bool(np.any(d > 2.0 * _EPS * np.abs(new)))


def _lgamma_series(a0, J, axis):
    """gammaln(a0 + h) along `axis` (0: h, 1: g): coefficients psi^(k-1)(a0) / k!."""
    shape = (J + 1, 1) if axis == 0 else (1, J + 1)
    c = np.zeros(shape + a0.shape)
    for k in range(J + 1):
        c[(k, 0) if axis == 0 else (0, k)] = _psi_n(k - 1, a0) / math.factorial(k)
    return c


def _pad(c, J, K):
    out = np.zeros((J + 1, K + 1) + c.shape[2:])
    out[:c.shape[0], :c.shape[1]] = c[:J + 1, :K + 1]
    return out


def _log1pmx(t):
    """log(1 + t) - t without cancellation for small t (its Maclaurin series for |t| < 0.2)."""
    small = np.abs(t) < 0.2
    ts = np.where(small, t, 0.0)
    acc = np.zeros_like(t)
    for k in range(40, 1, -1):
        acc = acc * ts + (-1.0) ** (k + 1) / k
    acc = acc * ts * ts
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(small, acc, np.log1p(np.where(small, 0.0, t)) - t)


def _log_gamma_pdf_kernel(a, x):
    """a log x - x - gammaln(a): for a >= 10 as a log1pmx((x - a) / a) + log(a / 2 pi) / 2
    minus Stirling's correction sum B_2k / (2k (2k - 1) a^(2k-1)) (DLMF 5.11.1), which
    avoids the cancellation of the terms (each about a log a) near x = a."""
    big = a >= 10.0
    out = a * np.log(x) - x - _gammaln(a)
    if big.any():
        ab, xb = a[big], x[big]
        corr = np.zeros_like(ab)
        inv2 = 1.0 / (ab * ab)
        for k in range(len(_B), 0, -1):
            corr = corr * inv2 + _B[k - 1] / (2 * k * (2 * k - 1))
        corr = corr / ab
        out[big] = ab * _log1pmx((xb - ab) / ab) + 0.5 * np.log(ab / (2.0 * math.pi)) - corr
    return out


def _gamma_series(a, x, J):
    """P(a + h, x) as a polynomial in h of degree J (shape (J+1, 1, n)), for a > 0, x > 0.

    x < a + 1: P = x^a e^-x / Gamma(a + 1) sum_n x^n / ((a+1)...(a+n)) (DLMF 8.7.1 with
    8.5.1).  Otherwise Q = x^a e^-x / Gamma(a) times Legendre's continued fraction
    (DLMF 8.9.2, even part) by the modified Lentz method, and P = 1 - Q.  Both are
    evaluated on polynomials in h, so coefficient k is d^k P / da^k / k!.
    """
    out = np.zeros((J + 1, 1) + a.shape)
    lx = np.log(x)
    low = x < a + 1.0
    if low.any():
        al, xl, ll = a[low], x[low], lx[low]
        s = _const(np.ones_like(al), J, 0)
        term = s.copy()
        n = 0
        while True:
            n += 1
            r = np.zeros_like(term)                      # 1 / (a + n + h)
            for k in range(J + 1):
                r[k, 0] = (-1.0) ** k / (al + n) ** (k + 1)
            term = xl * _smul(term, r)
            new = s + term
            if n > 5 and not _unconverged(new, s) and np.all(xl < al + n) or n > 100000:
                s = new
                break
            s = new
        e = -_lgamma_series(al + 1.0, J, 0)
        e[0, 0] = _log_gamma_pdf_kernel(al, xl) - np.log(al)
        if J:
            e[1, 0] += ll
        out[:, :, low] = _smul(_sexp(e), s)
    hi = ~low
    if hi.any():
        ah, xh, lh = a[hi], x[hi], lx[hi]
        A = _const(ah, J, 0)
        if J:
            A[1, 0] = 1.0
        b = _const(xh + 1.0, J, 0) - A
        d = _srecip(b)
        f = d.copy()
        c = None
        for i in range(1, 100000):
            an = i * _sadd(A, -i)                  # -i (i - a)
            b = _sadd(b, 2.0)
            d = _srecip(_smul(an, d) + b)
            c = b.copy() if c is None else b + _smul(an, _srecip(c))
            new = _smul(f, _smul(c, d))
            done = not _unconverged(new, f)
            f = new
            if done:
                break
        e = -_lgamma_series(ah, J, 0)
        e[0, 0] = _log_gamma_pdf_kernel(ah, xh)
        if J:
            e[1, 0] += lh
        q = -_smul(_sexp(e), f)
        q[0, 0] = 1.0 + q[0, 0]
        out[:, :, hi] = q
    return out


def _broadcast_float(*args):
    arrs = np.broadcast_arrays(*[np.asarray(v, dtype=np.float64) for v in args])
    return [np.ascontiguousarray(v).reshape(-1) for v in arrs], arrs[0].shape


def _finish(out, shape, args):
    out = out.reshape(shape)
    if all(type(v) is float for v in args):
        return float(out)
    return out[()] if out.ndim == 0 else out


def _gammainc_da_impl(a, x, order=1):
    """d^order P(a, x) / da^order: 0 at x = 0 and x = inf, nan for a <= 0 or x < 0.

    Accuracy (against mpmath): relative ~1e-14 for order 1 and moderate a, x; the prefactor
    exp(a log x - x - gammaln(a)) carries a relative error of about eps * |a log x - x|.
    """
    (av, xv), shape = _broadcast_float(a, x)
    out = np.full(av.shape, np.nan)
    ok = (av > 0) & (xv > 0) & np.isfinite(av) & np.isfinite(xv)
    out[(av > 0) & ((xv == 0) | (xv == np.inf))] = 0.0
    if ok.any():
        with np.errstate(under="ignore"):
            ser = _gamma_series(av[ok], xv[ok], order)
        out[ok] = ser[order, 0] * math.factorial(order)
    return _finish(out, shape, (a, x))


def _beta_cf_series(a, b, x, J, K):
    """I_x(a + h, b + g) as a polynomial of degree (J, K), for x < (a + 1) / (a + b + 2).

    DLMF 8.17.22: I = x^a (1 - x)^b / (a B(a, b)) / (1 + d1 / (1 + d2 / (1 + ...))),
    d_2m = m (b - m) x / ((a + 2m - 1)(a + 2m)),
    d_2m+1 = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)), by the modified Lentz method.
    """
    A = _const(a, J, K)
    B = _const(b, J, K)
    if J:
        A[1, 0] = 1.0
    if K:
        B[0, 1] = 1.0
    one = _const(np.ones_like(a), J, K)
    f, C, D = one.copy(), one.copy(), np.zeros_like(one)
    for j in range(1, 200000):
        m = j // 2
        if j % 2:
            num = -_smul(_sadd(A, m), _sadd(A + B, m)) * x
            den = _smul(_sadd(A, 2 * m), _sadd(A, 2 * m + 1))
        else:
            num = m * _sadd(B, -m) * x
            den = _smul(_sadd(A, 2 * m - 1), _sadd(A, 2 * m))
        dj = _smul(num, _srecip(den))
        D = _srecip(_sadd(_smul(dj, D), 1.0))
        C = _sadd(_smul(dj, _srecip(C)), 1.0)
        new = _smul(f, _smul(C, D))
        done = j > 2 and not _unconverged(new, f)
        f = new
        if done:
            break
    # exponent: a log x + b log1p(-x) - log a - gammaln(a) - gammaln(b) + gammaln(a + b)
    e = np.zeros((J + 1, K + 1) + a.shape)
    e[0, 0] = a * np.log(x) + b * np.log1p(-x) - np.log(a)
    if J:
        e[1, 0] += np.log(x)
    if K:
        e[0, 1] += np.log1p(-x)
    for k in range(1, J + 1):
        e[k, 0] -= (-1.0) ** (k + 1) / (k * a ** k)
    e = e - _pad(_lgamma_series(a, J, 0), J, K) - _pad(_lgamma_series(b, K, 1), J, K)
    for i in range(J + 1):
        for k in range(K + 1):
            e[i, k] += _psi_n(i + k - 1, a + b) / (math.factorial(i) * math.factorial(k))
    return _smul(_sexp(e), _srecip(f))


def _betainc_series(a, b, x, J, K):
    """I_x(a + h, b + g), using I_x(a, b) = 1 - I_{1-x}(b, a) (DLMF 8.17.4) where the
    continued fraction converges slowly."""
    out = np.zeros((J + 1, K + 1) + a.shape)
    direct = x < (a + 1.0) / (a + b + 2.0)
    if direct.any():
        out[:, :, direct] = _beta_cf_series(a[direct], b[direct], x[direct], J, K)
    sw = ~direct
    if sw.any():
        r = _beta_cf_series(b[sw], a[sw], 1.0 - x[sw], K, J)
        r = -np.swapaxes(r, 0, 1)
        r[0, 0] = 1.0 + r[0, 0]
        out[:, :, sw] = r
    return out


def _betainc_dab_impl(a, b, x, da=1, db=0):
    """d^(da+db) I_x(a, b) / da^da db^db: 0 at x = 0 and 1, nan for a, b <= 0 or x outside [0, 1].

    Accuracy (against mpmath): relative ~1e-13 for moderate a, b.
    """
    (av, bv, xv), shape = _broadcast_float(a, b, x)
    out = np.full(av.shape, np.nan)
    pos = (av > 0) & (bv > 0) & np.isfinite(av) & np.isfinite(bv)
    out[pos & ((xv == 0) | (xv == 1))] = 0.0
    ok = pos & (xv > 0) & (xv < 1)
    if ok.any():
        with np.errstate(under="ignore"):
            ser = _betainc_series(av[ok], bv[ok], xv[ok], da, db)
        out[ok] = ser[da, db] * (math.factorial(da) * math.factorial(db))
    return _finish(out, shape, (a, b, x))


def _np_gammainc(a, x):
    """P(a, x) without SciPy: the series / continued fraction above (1 at a = 0, x > 0)."""
    (av, xv), shape = _broadcast_float(a, x)
    out = np.full(av.shape, np.nan)
    out[(av >= 0) & (xv == np.inf)] = 1.0
    out[(av > 0) & (xv == 0)] = 0.0
    out[(av == 0) & (xv > 0)] = 1.0
    ok = (av > 0) & (xv > 0) & np.isfinite(av) & np.isfinite(xv)
    if ok.any():
        with np.errstate(under="ignore"):
            out[ok] = _gamma_series(av[ok], xv[ok], 0)[0, 0]
    return _finish(out, shape, (a, x))


def _np_betainc(a, b, x):
    """I_x(a, b) without SciPy (a, b > 0)."""
    (av, bv, xv), shape = _broadcast_float(a, b, x)
    out = np.full(av.shape, np.nan)
    pos = (av > 0) & (bv > 0) & np.isfinite(av) & np.isfinite(bv)
    out[pos & (xv == 0)] = 0.0
    out[pos & (xv == 1)] = 1.0
    ok = pos & (xv > 0) & (xv < 1)
    if ok.any():
        with np.errstate(under="ignore"):
            out[ok] = _betainc_series(av[ok], bv[ok], xv[ok], 0, 0)[0, 0]
    return _finish(out, shape, (a, b, x))


def _np_inverse(cdf, pdf, lo, hi, y, *params):
    """x in [lo, hi] with cdf(*params, x) = y: bisection safeguarding Newton (without SciPy)."""
    raw = params + (y,)
    flat, shape = _broadcast_float(*raw)
    params, y = tuple(flat[:-1]), flat[-1]
    a_, b_ = np.full(y.shape, float(lo)), np.full(y.shape, float(hi))
    if not np.isfinite(hi):                                # bracket the root from above
        b_ = np.ones(y.shape)
        for _ in range(2000):
            grow = np.asarray(cdf(*params, b_)) < y
            if not grow.any():
                break
            b_ = np.where(grow, 2.0 * b_, b_)
    x = 0.5 * (a_ + b_)
    for _ in range(200):
        f = np.asarray(cdf(*params, x)) - y
        a_, b_ = np.where(f < 0, x, a_), np.where(f < 0, b_, x)
        with np.errstate(all="ignore"):
            step = x - f / np.asarray(pdf(*params, x))
        inside = (step > a_) & (step < b_) & np.isfinite(step)
        x_new = np.where(inside, step, 0.5 * (a_ + b_))
        if np.all(np.abs(x_new - x) <= 4 * _EPS * np.abs(x_new)):
            x = x_new
            break
        x = x_new
    bad = ~((y >= 0) & (y <= 1)) | np.isnan(params[0])
    for p_ in params:
        bad |= ~(p_ > 0)
    x = np.where(y == 0, lo, np.where(y == 1, hi, x))
    x = np.where(bad, np.nan, x)
    return _finish(x, shape, raw)


def _np_gamma_pdf(a, x):
    with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
        return np.exp((a - 1.0) * np.log(x) - x - _gammaln(a))


def _np_beta_pdf(a, b, x):
    with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
        return np.exp((a - 1.0) * np.log(x) + (b - 1.0) * np.log1p(-x) - _gammaln(a) - _gammaln(b)
                      + _gammaln(a + b))


def _scalar_out(fn):
    """fn on NumPy values, a Python float back for Python float arguments (the scalar path)."""
    def impl(*args):
        out = fn(*args)
        if all(type(v) is float for v in args):
            return float(out)
        return out
    return impl


if _sc is not None:
    _gammainc, _gammaincc, _betainc = _sc.gammainc, _sc.gammaincc, _sc.betainc
    _betaincc = getattr(_sc, "betaincc", None) or (lambda a, b, x: 1.0 - _sc.betainc(a, b, x))
    _gammaincinv, _gammainccinv, _betaincinv = _sc.gammaincinv, _sc.gammainccinv, _sc.betaincinv
else:                      # pragma: no cover
    _gammainc, _betainc = _np_gammainc, _np_betainc

    def _gammaincc(a, x):
        return 1.0 - np.asarray(_np_gammainc(a, x))

    def _betaincc(a, b, x):
        return 1.0 - np.asarray(_np_betainc(a, b, x))

    def _gammaincinv(a, y):
        return _np_inverse(_np_gammainc, _np_gamma_pdf, 0.0, np.inf, y, a)

    def _gammainccinv(a, y):
        return _np_inverse(_np_gammainc, _np_gamma_pdf, 0.0, np.inf, 1.0 - np.asarray(y, float), a)

    def _betaincinv(a, b, y):
        return _np_inverse(_np_betainc, _np_beta_pdf, 0.0, 1.0, y, a, b)


# ---- the densities and their shape derivatives, written with chainrule operations ---

def _dexp_coefficient(c, J, K):
    """j! k! [exp(sum c_ik h^i g^k)]_(J,K) / exp(c_00) for the coefficients c[(i, k)] (i, k not
    both 0) of a bivariate series: the mixed partial d^(J+K) exp(f) / exp(f) (Faa di Bruno)."""
    terms = {(0, 0): 1.0}                       # N^m / m!, N the series without its constant
    total = 1.0 if (J, K) == (0, 0) else 0.0
    for m in range(1, J + K + 1):
        nxt = {}
        for (i1, k1), v in terms.items():
            for (i2, k2), cv in c.items():
                i, k = i1 + i2, k1 + k2
                if i <= J and k <= K:
                    nxt[(i, k)] = nxt[(i, k)] + v * cv if (i, k) in nxt else v * cv
        terms = {key: v / m for key, v in nxt.items()} if m > 1 else nxt
        if (J, K) in terms:
            total = total + terms[(J, K)]
    return total * float(math.factorial(J) * math.factorial(K))


def _psi(n, x):
    return digamma(x) if n == 0 else polygamma(n, x)


def _gamma_pdf_da(a, x, k):
    """d^k / da^k of the gamma density x^(a-1) e^-x / Gamma(a), k >= 0 (0 for x <= 0, inf at x = 0
    for a < 1 when k = 0)."""
    inside = E.greater(x, 0.0)
    xs = E.select(inside, x, 1.0)
    lx = E.log(xs)
    pdf = E.exp((a - 1.0) * lx - xs - gammaln(a))
    if k == 0:
        edge = E.select(E.less(a, 1.0), np.inf, E.select(E.equal(a, 1.0), 1.0, 0.0))
        return E.select(inside, pdf, E.select(E.equal(x, 0.0), edge, 0.0))
    c = {(1, 0): lx - digamma(a)}
    for i in range(2, k + 1):
        c[(i, 0)] = _psi(i - 1, a) * (-1.0 / math.factorial(i))
    return E.select(inside, pdf * _dexp_coefficient(c, k, 0), 0.0)


def _beta_pdf_dab(a, b, x, j, k):
    """d^(j+k) / da^j db^k of the beta density x^(a-1) (1-x)^(b-1) / B(a, b) (0 outside (0, 1))."""
    inside = E.logical_and(E.greater(x, 0.0), E.less(x, 1.0))
    xs = E.select(inside, x, 0.5)
    l1, l2 = E.log(xs), E.log1p(-xs)
    pdf = E.exp((a - 1.0) * l1 + (b - 1.0) * l2 - gammaln(a) - gammaln(b) + gammaln(a + b))
    if j == 0 and k == 0:
        edge_a = E.select(E.less(a, 1.0), np.inf, E.select(E.equal(a, 1.0), b, 0.0))
        edge_b = E.select(E.less(b, 1.0), np.inf, E.select(E.equal(b, 1.0), a, 0.0))
        edge = E.select(E.equal(x, 0.0), edge_a, E.select(E.equal(x, 1.0), edge_b, 0.0))
        return E.select(inside, pdf, edge)
    ab = a + b
    c = {}
    if j:
        c[(1, 0)] = l1 - digamma(a) + digamma(ab)
    if k:
        c[(0, 1)] = l2 - digamma(b) + digamma(ab)
    for i in range(j + 1):
        for m in range(k + 1):
            if i + m < 2:
                continue
            v = _psi(i + m - 1, ab)
            if m == 0:
                v = v - _psi(i - 1, a)
            if i == 0:
                v = v - _psi(m - 1, b)
            c[(i, m)] = v * (1.0 / (math.factorial(i) * math.factorial(m)))
    return E.select(inside, pdf * _dexp_coefficient(c, j, k), 0.0)


def _sympy_gammainc(sp, a, x):
    return sp.lowergamma(a, x) / sp.gamma(a)


def _sympy_betainc(sp, a, b, x):
    return sp.betainc_regularized(a, b, 0, x)


# ---- the primitives ---

gammainc_p = Primitive("gammainc", _scalar_out(_gammainc))
gammaincc_p = Primitive("gammaincc", _scalar_out(_gammaincc))
gammainc_da_p = Primitive("gammainc_da", _gammainc_da_impl)
betainc_p = Primitive("betainc", _scalar_out(_betainc))
betaincc_p = Primitive("betaincc", _scalar_out(_betaincc))
betainc_dab_p = Primitive("betainc_dab", _betainc_dab_impl)
gammaincinv_p = Primitive("gammaincinv", _scalar_out(_gammaincinv))
gammainccinv_p = Primitive("gammainccinv", _scalar_out(_gammainccinv))
betaincinv_p = Primitive("betaincinv", _scalar_out(_betaincinv))


def _unb(x, g):
    return E.unbroadcast(x, g)


def _gamma_da(a, x, k):
    return bind(gammainc_da_p, a, x, order=k)


def _beta_dab(a, b, x, j, k):
    return bind(betainc_dab_p, a, b, x, da=j, db=k)


# P and Q: d/dx = +-density (infinite at x = 0 for a < 1: safe_mul), d/da = +-gammainc_da
defjvp(gammainc_p, lambda t, ans, a, x: t * _gamma_da(a, x, 1),
       lambda t, ans, a, x: E.safe_mul(t, _gamma_pdf_da(a, x, 0)))
defvjp(gammainc_p, lambda g, ans, a, x: _unb(a, g * _gamma_da(a, x, 1)),
       lambda g, ans, a, x: _unb(x, E.safe_mul(g, _gamma_pdf_da(a, x, 0))))
defjvp(gammaincc_p, lambda t, ans, a, x: -(t * _gamma_da(a, x, 1)),
       lambda t, ans, a, x: -E.safe_mul(t, _gamma_pdf_da(a, x, 0)))
defvjp(gammaincc_p, lambda g, ans, a, x: _unb(a, -(g * _gamma_da(a, x, 1))),
       lambda g, ans, a, x: _unb(x, -E.safe_mul(g, _gamma_pdf_da(a, x, 0))))
# d^k P / da^k: its a-derivative is the next order, its x-derivative d^k density / da^k
defjvp(gammainc_da_p, lambda t, ans, a, x, order: t * _gamma_da(a, x, order + 1),
       lambda t, ans, a, x, order: E.safe_mul(t, _gamma_pdf_da(a, x, order)))
defvjp(gammainc_da_p, lambda g, ans, a, x, order: _unb(a, g * _gamma_da(a, x, order + 1)),
       lambda g, ans, a, x, order: _unb(x, E.safe_mul(g, _gamma_pdf_da(a, x, order))))
defjvp(betainc_p, lambda t, ans, a, b, x: t * _beta_dab(a, b, x, 1, 0),
       lambda t, ans, a, b, x: t * _beta_dab(a, b, x, 0, 1),
       lambda t, ans, a, b, x: E.safe_mul(t, _beta_pdf_dab(a, b, x, 0, 0)))
defvjp(betainc_p, lambda g, ans, a, b, x: _unb(a, g * _beta_dab(a, b, x, 1, 0)),
       lambda g, ans, a, b, x: _unb(b, g * _beta_dab(a, b, x, 0, 1)),
       lambda g, ans, a, b, x: _unb(x, E.safe_mul(g, _beta_pdf_dab(a, b, x, 0, 0))))
defjvp(betaincc_p, lambda t, ans, a, b, x: -(t * _beta_dab(a, b, x, 1, 0)),
       lambda t, ans, a, b, x: -(t * _beta_dab(a, b, x, 0, 1)),
       lambda t, ans, a, b, x: -E.safe_mul(t, _beta_pdf_dab(a, b, x, 0, 0)))
defvjp(betaincc_p, lambda g, ans, a, b, x: _unb(a, -(g * _beta_dab(a, b, x, 1, 0))),
       lambda g, ans, a, b, x: _unb(b, -(g * _beta_dab(a, b, x, 0, 1))),
       lambda g, ans, a, b, x: _unb(x, -E.safe_mul(g, _beta_pdf_dab(a, b, x, 0, 0))))
defjvp(betainc_dab_p, lambda t, ans, a, b, x, da, db: t * _beta_dab(a, b, x, da + 1, db),
       lambda t, ans, a, b, x, da, db: t * _beta_dab(a, b, x, da, db + 1),
       lambda t, ans, a, b, x, da, db: E.safe_mul(t, _beta_pdf_dab(a, b, x, da, db)))
defvjp(betainc_dab_p, lambda g, ans, a, b, x, da, db: _unb(a, g * _beta_dab(a, b, x, da + 1, db)),
       lambda g, ans, a, b, x, da, db: _unb(b, g * _beta_dab(a, b, x, da, db + 1)),
       lambda g, ans, a, b, x, da, db: _unb(x, E.safe_mul(g, _beta_pdf_dab(a, b, x, da, db))))


# inverses in x, by the inverse-function rule: F(params, x(params, y)) = y gives
# dx/dy = 1 / F_x and dx/dparam = -F_param / F_x (for Q: F_x = -density, F_a = -P_a)
def _inv_gamma_dy(sign):
    return lambda t, ans, a, y: E.safe_mul(t, sign / _gamma_pdf_da(a, ans, 0))


def _inv_gamma_da(a, ans):
    return -_gamma_da(a, ans, 1) / _gamma_pdf_da(a, ans, 0)


for _p, _sign in ((gammaincinv_p, 1.0), (gammainccinv_p, -1.0)):
    defjvp(_p, lambda t, ans, a, y: t * _inv_gamma_da(a, ans), _inv_gamma_dy(_sign))
    defvjp(_p, lambda g, ans, a, y: _unb(a, g * _inv_gamma_da(a, ans)),
           (lambda dy: lambda g, ans, a, y: _unb(y, dy(g, ans, a, y)))(_inv_gamma_dy(_sign)))


def _inv_beta(which):
    def d(a, b, ans):
        return -_beta_dab(a, b, ans, *which) / _beta_pdf_dab(a, b, ans, 0, 0)
    return d


_ibeta_da, _ibeta_db = _inv_beta((1, 0)), _inv_beta((0, 1))
defjvp(betaincinv_p, lambda t, ans, a, b, y: t * _ibeta_da(a, b, ans),
       lambda t, ans, a, b, y: t * _ibeta_db(a, b, ans),
       lambda t, ans, a, b, y: E.safe_mul(t, 1.0 / _beta_pdf_dab(a, b, ans, 0, 0)))
defvjp(betaincinv_p, lambda g, ans, a, b, y: _unb(a, g * _ibeta_da(a, b, ans)),
       lambda g, ans, a, b, y: _unb(b, g * _ibeta_db(a, b, ans)),
       lambda g, ans, a, b, y: _unb(y, E.safe_mul(g, 1.0 / _beta_pdf_dab(a, b, ans, 0, 0))))


def _sympy_gamma_da(sp, a, x, order=1):
    s = sp.Dummy("a")
    return sp.diff(_sympy_gammainc(sp, s, x), s, order).subs(s, a)


def _sympy_beta_dab(sp, a, b, x, da=1, db=0):
    s, u = sp.Dummy("a"), sp.Dummy("b")
    e = _sympy_betainc(sp, s, u, x)
    if da:
        e = sp.diff(e, s, da)
    if db:
        e = sp.diff(e, u, db)
    return e.subs({s: a, u: b})


# elementwise: broadcasting batching; Taylor rules by nested forward mode (exact: every
# order is again one of these primitives or a closed form; no recurrence written yet)
for _p, _form in ((gammainc_p, _sympy_gammainc),
                  (gammaincc_p, lambda sp, a, x: sp.uppergamma(a, x) / sp.gamma(a)),
                  (gammainc_da_p, _sympy_gamma_da), (betainc_p, _sympy_betainc),
                  (betaincc_p, lambda sp, a, b, x: 1 - _sympy_betainc(sp, a, b, x)),
                  (betainc_dab_p, _sympy_beta_dab), (gammaincinv_p, None), (gammainccinv_p, None),
                  (betaincinv_p, None)):
    E.defelementwise(_p, None, sympy=_form)
    taylor_by_jvp.add(_p)


def gammainc(a, x):
    """The regularised lower incomplete gamma function P(a, x), differentiable in a and x."""
    return bind(gammainc_p, a, x)


def gammaincc(a, x):
    """The regularised upper incomplete gamma function Q(a, x) = 1 - P(a, x)."""
    return bind(gammaincc_p, a, x)


def betainc(a, b, x):
    """The regularised incomplete beta function I_x(a, b), differentiable in a, b and x."""
    return bind(betainc_p, a, b, x)


def betaincc(a, b, x):
    """The complement 1 - I_x(a, b), accurate where it is small."""
    return bind(betaincc_p, a, b, x)


def gammaincinv(a, y):
    """The x with P(a, x) = y; derivatives by the inverse-function rule."""
    return bind(gammaincinv_p, a, y)


def gammainccinv(a, y):
    """The x with Q(a, x) = y."""
    return bind(gammainccinv_p, a, y)


def betaincinv(a, b, y):
    """The x with I_x(a, b) = y."""
    return bind(betaincinv_p, a, b, y)


# ============================================ Bessel I0, I1 (scaled), erfcx, Hurwitz zeta ===
# i0e(x) = exp(-|x|) I0(x), i1e(x) = exp(-|x|) I1(x) (SciPy's values).  With I0' = I1 and
# I1' = I0 - I1 / x (DLMF 10.29.2-3): i0e' = i1e - sign(x) i0e and
# i1e' = i0e - i1e (sign(x) + 1/x), 1/2 at x = 0 (I1(x) ~ x/2, DLMF 10.30.1).
# erfcx(x) = exp(x^2) erfc(x): erfcx' = 2 x erfcx - 2/sqrt(pi) (from DLMF 7.10.1).
# zeta(x, q) = sum_n (n + q)^-x (DLMF 25.11.1): d/dq = -x zeta(x + 1, q) (DLMF 25.11.17);
# d/dx has no closed form: it is the x-derivative of the Euler-Maclaurin expansion
# (DLMF 25.11.5; Johansson 2015, eq. 5), written with chainrule operations, so every
# order and mode differentiates that expansion (as JAX does).
# Each derivative is again one of these primitives, sign (piecewise constant) or chainrule
# code, so Taylor rules by nested forward mode are exact.

if _sc is not None:
    _i0e, _i1e, _erfcx, _zeta = _sc.i0e, _sc.i1e, _sc.erfcx, _sc.zeta
else:                      # pragma: no cover
    def _missing(name):
        def fn(*args):
            raise ImportError(f"chainrule.scipy.special.{name} needs SciPy: pip install scipy")
        return fn
    _i0e, _i1e, _erfcx, _zeta = (_missing(n) for n in ("i0e", "i1e", "erfcx", "zeta"))


def _d_i1e(x, ans):
    at0 = E.equal(x, 0.0)
    xs = E.select(at0, 1.0, x)
    return E.select(at0, 0.5, i0e(x) - ans * (E.sign(x) + 1.0 / xs))


def _elementwise_unary(name, impl, deriv, sympy):
    """A unary elementwise primitive with derivative ``deriv(x, ans)``, Taylor rule by nested
    forward mode (no recurrence written yet) and no libm form (the code generators call `impl`)."""
    p = Primitive(name, _scalar_out(impl))
    defjvp(p, lambda t, ans, x: t * deriv(x, ans))
    defvjp(p, lambda g, ans, x: g * deriv(x, ans))
    E.defelementwise(p, None, sympy=sympy)
    taylor_by_jvp.add(p)
    return p


i0e_p = _elementwise_unary("i0e", _i0e, lambda x, ans: i1e(x) - E.sign(x) * ans,
                           lambda sp, x: sp.besseli(0, x) * sp.exp(-sp.Abs(x)))
i1e_p = _elementwise_unary("i1e", _i1e, _d_i1e, lambda sp, x: sp.besseli(1, x) * sp.exp(-sp.Abs(x)))
erfcx_p = _elementwise_unary("erfcx", _erfcx, lambda x, ans: 2.0 * (x * ans) - _TWO_OVER_SQRT_PI,
                             lambda sp, x: sp.exp(x ** 2) * sp.erfc(x))

# (2j)! / B_2j, j = 1..16: the Euler-Maclaurin coefficients (as JAX's zeta uses them)
_EM_N = 16
_EM_COEF = [12.0, -720.0, 30240.0, -1209600.0, 47900160.0, -1307674368000 / 691, 74724249600.0,
            -10670622842880000 / 3617, 5109094217170944000 / 43867, -802857662698291200000 / 174611,
            14101100039391805440000 / 77683, -1693824136731743669452800000 / 236364091,
            186134520519971831808000000 / 657931, -37893265687455865519472640000000 / 3392780147,
            759790291646040068357842010112000000 / 1723168255201,
            -134196726836183700385281186201600000000 / 7709321041217]


def _zeta_dx(x, q):
    """d/dx zeta(x, q): the x-derivative of sum_{k<N} (q+k)^-x + (q+N)^(1-x)/(x-1)
    + (q+N)^-x/2 + sum_j B_2j/(2j)! (x)_(2j-1) (q+N)^(-x-2j+1), N = 16 (x > 1, q > 0)."""
    out = 0.0
    for k in range(_EM_N):
        lk = E.log(q + float(k))
        out = out - lk * E.exp(-x * lk)
    L = E.log(q + float(_EM_N))
    big = E.exp(-x * L)                                  # (q+N)^-x
    s1 = x - 1.0
    integral = (q + float(_EM_N)) * big / s1              # (q+N)^(1-x) / (x-1)
    out = out - integral * (L + 1.0 / s1) - 0.5 * L * big
    poch, dpoch = 1.0, 0.0                               # (x)_m and its x-derivative
    term = big                                           # (q+N)^(-x-m)
    inv = 1.0 / (q + float(_EM_N))
    for m in range(2 * len(_EM_COEF) - 1):
        poch, dpoch = poch * (x + float(m)), dpoch * (x + float(m)) + poch
        term = term * inv if m else term
        if m % 2 == 0:                                   # m = 2j - 2: (x)_(2j-1), (q+N)^(-x-2j+1)
            w = term * inv
            c = 1.0 / _EM_COEF[m // 2]
            out = out + c * (dpoch * w - poch * L * w)
    return out


zeta_p = Primitive("zeta", _scalar_out(_zeta))
defjvp(zeta_p, lambda t, ans, x, q: t * _zeta_dx(x, q),
       lambda t, ans, x, q: t * (-x * zeta(x + 1.0, q)))
defvjp(zeta_p, lambda g, ans, x, q: _unb(x, g * _zeta_dx(x, q)),
       lambda g, ans, x, q: _unb(q, g * (-x * zeta(x + 1.0, q))))
E.defelementwise(zeta_p, None, sympy="zeta")
taylor_by_jvp.add(zeta_p)


def i0e(x):
    """exp(-|x|) I0(x), the exponentially scaled modified Bessel function of order 0."""
    return bind(i0e_p, x)


def i1e(x):
    """exp(-|x|) I1(x), the exponentially scaled modified Bessel function of order 1."""
    return bind(i1e_p, x)


def _unscale(scaled, x):
    """exp(|x|) * scaled, as two half factors (overflows only where the result does)."""
    h = E.exp(0.5 * E.absolute(x))
    return (h * scaled) * h


def i0(x):
    """I0(x), the modified Bessel function of order 0: exp(|x|) i0e(x)."""
    return _unscale(i0e(x), x)


def i1(x):
    """I1(x), the modified Bessel function of order 1: exp(|x|) i1e(x)."""
    return _unscale(i1e(x), x)


def erfcx(x):
    """exp(x^2) erfc(x), the scaled complementary error function (no overflow for large x)."""
    return bind(erfcx_p, x)


def zeta(x, q=None):
    """The Hurwitz zeta function sum_n (n + q)^-x (x > 1, q > 0); differentiable in q exactly and
    in x through its Euler-Maclaurin expansion.  q=None (Riemann's zeta) is q = 1."""
    return bind(zeta_p, x, 1.0 if q is None else q)
