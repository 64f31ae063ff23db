"""`chainrule.scipy.stats`: differentiable densities, distribution functions and quantiles
with the call signatures of `scipy.stats` (and `jax.scipy.stats`).

Each distribution is a namespace of functions (`stats.norm.logpdf(x, loc, scale)`), composed
from chainrule operations, so grad, jit, vmap, hessian and jet apply to every argument.

Outside the support the value is SciPy's (-inf for a log density, 0 for a density); invalid
parameters (scale <= 0, p outside [0, 1], ...) give nan, as in SciPy. Each formula reads
its arguments through `where` with a harmless stand-in outside the support, so that the
untaken branch computes nothing infinite and no nan reaches a derivative where the value
is finite. One difference: SciPy raises for a Dirichlet point off the simplex (it cannot
inside a traced function); here its log density is -inf.
"""
from __future__ import annotations

import functools
import math

import numpy as _np

from .. import numpy as cnp
from ..core import shape_of
from . import special as _sp
from .special import _arr

__all__ = ["norm", "t", "cauchy", "laplace", "logistic", "expon", "gamma", "beta", "chi2",
           "uniform", "poisson", "bernoulli", "binom", "nbinom", "geom", "multivariate_normal",
           "dirichlet"]

_LOG_2PI = math.log(2.0 * math.pi)
_INF, _NAN = _np.inf, _np.nan


class _Distribution:
    """A distribution's functions as attributes, like `scipy.stats.norm.logpdf`."""

    def __init__(self, name, doc, **functions):
        self.__name__ = name
        self.__doc__ = doc
        for fname, fn in functions.items():
            fn.__name__ = fn.__qualname__ = f"{name}.{fname}"
            setattr(self, fname, fn)

    def __repr__(self):
        return f"<chainrule.scipy.stats.{self.__name__}>"


def _quiet(fn):
    """Evaluate without NumPy's divide/invalid warnings: log 0 = -inf and nan for invalid
    parameters are the intended values, as in SciPy."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _np.errstate(divide="ignore", invalid="ignore"):
            return fn(*args, **kwargs)
    return wrapper


def _where(c, x, y):
    return cnp.where(c, x, y)


def _and(*conditions):
    """Elementwise and (NumPy's `&` on a NumPy bool and a traced one would not dispatch)."""
    out = conditions[0]
    for c in conditions[1:]:
        out = cnp.logical_and(out, c)
    return out


def _nan_unless(ok, value):
    return _where(ok, value, _NAN)


def _standardize(x, loc, scale):
    """(x - loc) / scale with a stand-in scale of 1 where scale <= 0 (nan there later)."""
    x, loc, scale = _arr(x), _arr(loc), _arr(scale)
    ok = scale > 0
    s = _where(ok, scale, 1.0)
    return (x - loc) / s, s, ok


def _positive(a):
    """(a with a stand-in 1 where a <= 0, a > 0)."""
    a = _arr(a)
    ok = a > 0
    return _where(ok, a, 1.0), ok


def _inside(cond, x, stand_in):
    """x where cond holds, else a point inside the support (keeps the untaken branch finite)."""
    return _where(cond, x, stand_in)


def _probability(q):
    q = _arr(q)
    ok = _and(q >= 0, q <= 1)
    return _where(ok, q, 0.5), ok


def _log_edge(x):
    """x * log(0): 0 where x == 0, -inf where x > 0, inf where x < 0."""
    return _where(x == 0, 0.0, _where(x > 0, -_INF, _INF))


def _xlogy(x, y):
    """x log y for y >= 0, taking no log of 0 (compiled code would warn): the edge value
    where y == 0, a constant there."""
    x = _arr(x)
    pos = y > 0
    return _where(pos, _sp.xlogy(x, _inside(pos, y, 1.0)), _log_edge(x))


def _xlog1py(x, y):
    """x log1p(y) for y >= -1, likewise without log1p(-1)."""
    x = _arr(x)
    ok = y > -1
    return _where(ok, _sp.xlog1py(x, _inside(ok, y, 0.0)), _log_edge(x))


def _log_prob(p_fn, complement_fn):
    """log p from p = p_fn(...) and 1 - p = complement_fn(...): log1p(-(1 - p)) where p > 1/2
    (log p would lose the relative accuracy of a small 1 - p), log p elsewhere."""
    @_quiet
    def f(*args, **kwargs):
        p, c = p_fn(*args, **kwargs), complement_fn(*args, **kwargs)
        big = p > 0.5
        return _where(big, cnp.log1p(-_where(big, c, 0.0)), cnp.log(_where(big, 0.5, p)))
    return f


def _softplus(x):
    return cnp.logaddexp(x, 0.0)


def _is_integer(k):
    return k == cnp.floor(k)


# ------------------------------------------------------------------ norm ---

@_quiet
def _norm_logpdf(x, loc=0, scale=1):
    z, s, ok = _standardize(x, loc, scale)
    return _nan_unless(ok, -0.5 * (z * z) - cnp.log(s) - 0.5 * _LOG_2PI)


@_quiet
def _norm_cdf(x, loc=0, scale=1):
    z, _, ok = _standardize(x, loc, scale)
    return _nan_unless(ok, _sp.ndtr(z))


@_quiet
def _norm_logcdf(x, loc=0, scale=1):
    z, _, ok = _standardize(x, loc, scale)
    return _nan_unless(ok, _sp.log_ndtr(z))


@_quiet
def _norm_sf(x, loc=0, scale=1):
    z, _, ok = _standardize(x, loc, scale)
    return _nan_unless(ok, _sp.ndtr(-z))


@_quiet
def _norm_logsf(x, loc=0, scale=1):
    z, _, ok = _standardize(x, loc, scale)
    return _nan_unless(ok, _sp.log_ndtr(-z))


def _loc_scale_quantile(standard):
    """ppf(q, loc, scale) = loc + scale * standard(q), nan for scale <= 0."""
    @_quiet
    def quantile(q, loc=0, scale=1):
        loc, scale = _arr(loc), _arr(scale)
        ok = scale > 0
        return _nan_unless(ok, loc + _where(ok, scale, 1.0) * standard(_arr(q)))
    return quantile


def _exp_of(logf):
    @_quiet
    def f(*args, **kwargs):
        return cnp.exp(logf(*args, **kwargs))
    return f


norm = _Distribution(
    "norm", "The normal distribution N(loc, scale^2).",
    logpdf=_norm_logpdf, pdf=_exp_of(_norm_logpdf), cdf=_norm_cdf, logcdf=_norm_logcdf,
    sf=_norm_sf, logsf=_norm_logsf, ppf=_loc_scale_quantile(_sp.ndtri),
    isf=_loc_scale_quantile(lambda q: -_sp.ndtri(q)))


# --------------------------------------------------------------------- t ---

@_quiet
def _t_logpdf(x, df, loc=0, scale=1):
    z, s, ok = _standardize(x, loc, scale)
    df, df_ok = _positive(df)
    h = 0.5 * (df + 1.0)
    out = (_sp.gammaln(h) - _sp.gammaln(0.5 * df) - 0.5 * cnp.log(df * math.pi) - cnp.log(s)
           - h * cnp.log1p(z * z / df))
    return _nan_unless(_and(ok, df_ok), out)


def _t_standard_cdf(z, df):
    """P(T <= z) from the incomplete beta function (DLMF 8.17.6 with the t density):
    0.5 I_{df/(df+z^2)}(df/2, 1/2) in the tails, 0.5 + 0.5 sign(z) I_{z^2/(df+z^2)}(1/2, df/2)
    near 0 (each argument far from 1, where I would lose digits)."""
    z2 = z * z
    near = z2 < df
    zn, zt = _inside(near, z2, 0.0), _inside(near, df, z2)
    tail = 0.5 * _sp.betainc(0.5 * df, 0.5, df / (df + zt))
    middle = 0.5 * _sp.betainc(0.5, 0.5 * df, zn / (df + zn))
    lower = z < 0
    return _where(near, _where(lower, 0.5 - middle, 0.5 + middle), _where(lower, tail, 1.0 - tail))


def _t_fn(sign):
    @_quiet
    def f(x, df, loc=0, scale=1):
        z, _, ok = _standardize(x, loc, scale)
        df, df_ok = _positive(df)
        return _nan_unless(_and(ok, df_ok), _t_standard_cdf(sign * z, df))
    return f


def _t_standard_ppf(q, df):
    """The inverse of `_t_standard_cdf`, from betaincinv on the same two branches."""
    q, ok = _probability(q)
    df, df_ok = _positive(df)
    tail = 2.0 * _where(q < 0.5, q, 1.0 - q)         # P(|T| > |z|), 1 - q exact for q >= 1/2
    near = tail > 0.5
    tn, tt = _inside(near, tail, 0.75), _inside(near, 0.25, tail)
    u = _sp.betaincinv(0.5, 0.5 * df, 1.0 - tn)      # z^2 / (df + z^2)
    w = _sp.betaincinv(0.5 * df, 0.5, tt)            # df / (df + z^2)
    # far tail: I_w(df/2, 1/2) = w^(df/2) / ((df/2) B(df/2, 1/2)) (1 + O(w)) (DLMF 8.17.8), solved
    # for log w, where w itself would underflow
    log_w = (2.0 / df) * (cnp.log(tt) + cnp.log(0.5 * df) + _sp.betaln(0.5 * df, 0.5))
    far = log_w < -600.0
    ws = _inside(far, 0.5, w)
    tail_mag = _where(far, cnp.sqrt(df) * cnp.exp(-0.5 * _inside(far, log_w, 0.0)),
                      cnp.sqrt(df * (1.0 - ws) / ws))
    mag = _where(near, cnp.sqrt(df * u / (1.0 - u)), tail_mag)
    return _nan_unless(_and(ok, df_ok), _where(q < 0.5, -mag, mag))


def _t_quantile(sign):
    @_quiet
    def f(q, df, loc=0, scale=1):
        loc, scale = _arr(loc), _arr(scale)
        ok = scale > 0
        return _nan_unless(ok, loc + _where(ok, scale, 1.0) * (sign * _t_standard_ppf(_arr(q), df)))
    return f


_t_cdf, _t_sf = _t_fn(1.0), _t_fn(-1.0)
t = _Distribution("t", "Student's t distribution with df degrees of freedom.",
                  logpdf=_t_logpdf, pdf=_exp_of(_t_logpdf), cdf=_t_cdf, sf=_t_sf,
                  logcdf=_log_prob(_t_cdf, _t_sf), logsf=_log_prob(_t_sf, _t_cdf),
                  ppf=_t_quantile(1.0), isf=_t_quantile(-1.0))


# ---------------------------------------------------------------- cauchy ---

@_quiet
def _cauchy_logpdf(x, loc=0, scale=1):
    z, s, ok = _standardize(x, loc, scale)
    return _nan_unless(ok, -math.log(math.pi) - cnp.log(s) - cnp.log1p(z * z))


@_quiet
def _cauchy_cdf(x, loc=0, scale=1):
    # arctan2(1, -z) / pi: no cancellation in the left tail (0.5 + arctan(z) / pi has it)
    z, _, ok = _standardize(x, loc, scale)
    return _nan_unless(ok, cnp.arctan2(1.0, -z) / math.pi)


@_quiet
def _cauchy_sf(x, loc=0, scale=1):
    z, _, ok = _standardize(x, loc, scale)
    return _nan_unless(ok, cnp.arctan2(1.0, z) / math.pi)


def _cauchy_standard_ppf(q):
    """tan(pi (q - 1/2)) near the middle; -cot(pi q) and cot(pi (1 - q)) in the tails,
    which keep the relative accuracy of a small q (and give -inf at 0, inf at 1)."""
    q, ok = _probability(q)
    middle = cnp.abs(q - 0.5) <= 0.25
    qm = _inside(middle, q, 0.5)
    qt = _inside(middle, 0.1, q)
    lower = q < 0.5
    tail = _where(lower, -1.0 / cnp.tan(math.pi * qt), 1.0 / cnp.tan(math.pi * (1.0 - qt)))
    return _nan_unless(ok, _where(middle, cnp.tan(math.pi * (qm - 0.5)), tail))


cauchy = _Distribution(
    "cauchy", "The Cauchy distribution with location loc and scale scale.",
    logpdf=_cauchy_logpdf, pdf=_exp_of(_cauchy_logpdf), cdf=_cauchy_cdf, sf=_cauchy_sf,
    logcdf=_quiet(lambda x, loc=0, scale=1: cnp.log(_cauchy_cdf(x, loc, scale))),
    logsf=_quiet(lambda x, loc=0, scale=1: cnp.log(_cauchy_sf(x, loc, scale))),
    ppf=_loc_scale_quantile(_cauchy_standard_ppf),
    isf=_loc_scale_quantile(lambda q: -_cauchy_standard_ppf(q)))


# --------------------------------------------------------------- laplace ---

@_quiet
def _laplace_logpdf(x, loc=0, scale=1):
    z, s, ok = _standardize(x, loc, scale)
    return _nan_unless(ok, -math.log(2.0) - cnp.log(s) - cnp.abs(z))


def _laplace_halves(z):
    """z where z < 0 (else 0) and z where z >= 0 (else 0): exp of either never overflows."""
    neg = z < 0
    return neg, _where(neg, z, 0.0), _where(neg, 0.0, z)


@_quiet
def _laplace_cdf(x, loc=0, scale=1):
    z, _, ok = _standardize(x, loc, scale)
    neg, zn, zp = _laplace_halves(z)
    return _nan_unless(ok, _where(neg, 0.5 * cnp.exp(zn), 1.0 - 0.5 * cnp.exp(-zp)))


@_quiet
def _laplace_logcdf(x, loc=0, scale=1):
    z, _, ok = _standardize(x, loc, scale)
    neg, zn, zp = _laplace_halves(z)
    return _nan_unless(ok, _where(neg, zn - math.log(2.0), cnp.log1p(-0.5 * cnp.exp(-zp))))


@_quiet
def _laplace_sf(x, loc=0, scale=1):
    z, _, ok = _standardize(x, loc, scale)
    return _nan_unless(ok, _laplace_cdf(-z))


@_quiet
def _laplace_logsf(x, loc=0, scale=1):
    z, _, ok = _standardize(x, loc, scale)
    return _nan_unless(ok, _laplace_logcdf(-z))


def _laplace_standard_ppf(q):
    q, ok = _probability(q)
    lower = q <= 0.5
    ql, qu = _inside(lower, q, 0.25), _inside(lower, 0.75, q)
    return _nan_unless(ok, _where(lower, cnp.log(2.0 * ql), -cnp.log(2.0 - 2.0 * qu)))


laplace = _Distribution(
    "laplace", "The Laplace (double exponential) distribution.",
    logpdf=_laplace_logpdf, pdf=_exp_of(_laplace_logpdf), cdf=_laplace_cdf, logcdf=_laplace_logcdf,
    sf=_laplace_sf, logsf=_laplace_logsf, ppf=_loc_scale_quantile(_laplace_standard_ppf),
    isf=_loc_scale_quantile(lambda q: -_laplace_standard_ppf(q)))


# -------------------------------------------------------------- logistic ---

@_quiet
def _logistic_logpdf(x, loc=0, scale=1):
    # symmetric in z: -|z| - 2 log1p(exp(-|z|)) never overflows
    z, s, ok = _standardize(x, loc, scale)
    a = cnp.abs(z)
    return _nan_unless(ok, -a - 2.0 * cnp.log1p(cnp.exp(-a)) - cnp.log(s))


def _logistic_fn(fn):
    @_quiet
    def f(x, loc=0, scale=1):
        z, _, ok = _standardize(x, loc, scale)
        return _nan_unless(ok, fn(z))
    return f


def _logistic_standard_ppf(q):
    q, ok = _probability(q)
    return _nan_unless(ok, _sp.logit(q))


logistic = _Distribution(
    "logistic", "The logistic distribution (sigmoid CDF).",
    logpdf=_logistic_logpdf, pdf=_exp_of(_logistic_logpdf),
    cdf=_logistic_fn(_sp.expit), sf=_logistic_fn(lambda z: _sp.expit(-z)),
    logcdf=_logistic_fn(lambda z: -_softplus(-z)), logsf=_logistic_fn(lambda z: -_softplus(z)),
    ppf=_loc_scale_quantile(_logistic_standard_ppf),
    isf=_loc_scale_quantile(lambda q: -_logistic_standard_ppf(q)))


# ----------------------------------------------------------------- expon ---

def _expon_fn(inside_fn, outside):
    @_quiet
    def f(x, loc=0, scale=1):
        z, s, ok = _standardize(x, loc, scale)
        inside = z >= 0
        return _nan_unless(ok, _where(inside, inside_fn(_inside(inside, z, 1.0), s), outside))
    return f


def _expon_logcdf_inside(z, s):
    """log(1 - exp(-z)): log(-expm1(-z)) up to z = log 2, log1p(-exp(-z)) beyond (each
    accurate on its side); -inf at 0."""
    pos = z > 0
    small = z <= math.log(2.0)
    zs = _inside(_and(pos, small), z, 0.5)
    zl = _inside(small, 1.0, z)
    return _where(pos, _where(small, cnp.log(-cnp.expm1(-zs)), cnp.log1p(-cnp.exp(-zl))), -_INF)


def _expon_standard_ppf(q):
    q, ok = _probability(q)
    return _nan_unless(ok, -cnp.log1p(-q))


def _expon_standard_isf(q):
    q, ok = _probability(q)
    return _nan_unless(ok, -cnp.log(q))


_expon_logpdf = _expon_fn(lambda z, s: -z - cnp.log(s), -_INF)
expon = _Distribution(
    "expon", "The exponential distribution on [loc, inf), mean loc + scale.",
    logpdf=_expon_logpdf, pdf=_exp_of(_expon_logpdf),
    cdf=_expon_fn(lambda z, s: -cnp.expm1(-z), 0.0), logcdf=_expon_fn(_expon_logcdf_inside, -_INF),
    sf=_expon_fn(lambda z, s: cnp.exp(-z), 1.0), logsf=_expon_fn(lambda z, s: -z, 0.0),
    ppf=_loc_scale_quantile(_expon_standard_ppf), isf=_loc_scale_quantile(_expon_standard_isf))


# ------------------------------------------------------- gamma, chi2, beta ---

@_quiet
def _gamma_logpdf(x, a, loc=0, scale=1):
    z, s, ok = _standardize(x, loc, scale)
    a, a_ok = _positive(a)
    inside = z >= 0
    zi = _inside(inside, z, 1.0)
    out = _xlogy(a - 1.0, zi) - zi - _sp.gammaln(a) - cnp.log(s)
    return _nan_unless(_and(ok, a_ok), _where(inside, out, -_INF))


def _gamma_fn(fn, below):
    """fn(a, z) for z > 0 (gammainc, gammaincc, their logs), `below` for z <= 0."""
    @_quiet
    def f(x, a, loc=0, scale=1):
        z, _, ok = _standardize(x, loc, scale)
        a, a_ok = _positive(a)
        inside = z > 0
        return _nan_unless(_and(ok, a_ok), _where(inside, fn(a, _inside(inside, z, 1.0)), below))
    return f


def _gamma_quantile(inverse):
    @_quiet
    def f(q, a, loc=0, scale=1):
        q, q_ok = _probability(q)
        a, a_ok = _positive(a)
        loc, scale = _arr(loc), _arr(scale)
        ok = _and(q_ok, a_ok, scale > 0)
        return _nan_unless(ok, loc + _where(scale > 0, scale, 1.0) * inverse(a, q))
    return f


_gamma_cdf, _gamma_sf = _gamma_fn(_sp.gammainc, 0.0), _gamma_fn(_sp.gammaincc, 1.0)
gamma = _Distribution(
    "gamma", "The gamma distribution with shape a (rate 1 / scale).",
    logpdf=_gamma_logpdf, pdf=_exp_of(_gamma_logpdf), cdf=_gamma_cdf, sf=_gamma_sf,
    logcdf=_log_prob(_gamma_cdf, _gamma_sf), logsf=_log_prob(_gamma_sf, _gamma_cdf),
    ppf=_gamma_quantile(_sp.gammaincinv), isf=_gamma_quantile(_sp.gammainccinv))


def _as_chi2(fn):
    """chi2(df) is gamma(df / 2) with scale 2: fn(x, df, loc, scale) = gamma's fn."""
    @_quiet
    def f(x, df, loc=0, scale=1):
        return fn(x, 0.5 * _arr(df), loc, 2.0 * _arr(scale))
    return f


@_quiet
def _chi2_logpdf(x, df, loc=0, scale=1):
    """chi2(df) is gamma(df / 2) with scale 2."""
    return _gamma_logpdf(x, 0.5 * _arr(df), loc, 2.0 * _arr(scale))


chi2 = _Distribution("chi2", "The chi-squared distribution with df degrees of freedom.",
                     logpdf=_chi2_logpdf, pdf=_exp_of(_chi2_logpdf),
                     **{n: _as_chi2(getattr(gamma, n)) for n in ("cdf", "sf", "logcdf", "logsf", "ppf", "isf")})


@_quiet
def _beta_logpdf(x, a, b, loc=0, scale=1):
    z, s, ok = _standardize(x, loc, scale)
    a, a_ok = _positive(a)
    b, b_ok = _positive(b)
    inside = _and(z >= 0, z <= 1)
    zi = _inside(inside, z, 0.5)
    out = _xlogy(a - 1.0, zi) + _xlog1py(b - 1.0, -zi) - _sp.betaln(a, b) - cnp.log(s)
    return _nan_unless(_and(ok, a_ok, b_ok), _where(inside, out, -_INF))


def _beta_fn(fn, below, above):
    """fn(a, b, z) for z in (0, 1), `below` for z <= 0 and `above` for z >= 1."""
    @_quiet
    def f(x, a, b, loc=0, scale=1):
        z, _, ok = _standardize(x, loc, scale)
        a, a_ok = _positive(a)
        b, b_ok = _positive(b)
        inside = _and(z > 0, z < 1)
        out = _where(inside, fn(a, b, _inside(inside, z, 0.5)), _where(z <= 0, below, above))
        return _nan_unless(_and(ok, a_ok, b_ok), out)
    return f


def _beta_isf_standard(a, b, q):
    """x with P(X > x) = q: betaincinv(a, b, 1 - q) where 1 - q is exact (q >= 1/2), else
    1 - betaincinv(b, a, q) (the upper tail of X is the lower tail of 1 - X)."""
    upper = q >= 0.5
    return _where(upper, _sp.betaincinv(a, b, 1.0 - _inside(upper, q, 0.75)),
                  1.0 - _sp.betaincinv(b, a, _inside(upper, 0.25, q)))


def _beta_quantile(inverse):
    @_quiet
    def f(q, a, b, loc=0, scale=1):
        q, q_ok = _probability(q)
        a, a_ok = _positive(a)
        b, b_ok = _positive(b)
        loc, scale = _arr(loc), _arr(scale)
        ok = _and(q_ok, a_ok, b_ok, scale > 0)
        return _nan_unless(ok, loc + _where(scale > 0, scale, 1.0) * inverse(a, b, q))
    return f


_beta_cdf = _beta_fn(_sp.betainc, 0.0, 1.0)
_beta_sf = _beta_fn(_sp.betaincc, 1.0, 0.0)
beta = _Distribution(
    "beta", "The beta distribution on [loc, loc + scale].",
    logpdf=_beta_logpdf, pdf=_exp_of(_beta_logpdf), cdf=_beta_cdf, sf=_beta_sf,
    logcdf=_log_prob(_beta_cdf, _beta_sf), logsf=_log_prob(_beta_sf, _beta_cdf),
    ppf=_beta_quantile(_sp.betaincinv), isf=_beta_quantile(_beta_isf_standard))


# --------------------------------------------------------------- uniform ---

@_quiet
def _uniform_logpdf(x, loc=0, scale=1):
    z, s, ok = _standardize(x, loc, scale)
    return _nan_unless(ok, _where(_and(z >= 0, z <= 1), -cnp.log(s), -_INF))


@_quiet
def _uniform_cdf(x, loc=0, scale=1):
    z, _, ok = _standardize(x, loc, scale)
    return _nan_unless(ok, cnp.clip(z, 0.0, 1.0))


def _uniform_standard_ppf(q):
    q, ok = _probability(q)
    return _nan_unless(ok, q)


uniform = _Distribution(
    "uniform", "The uniform distribution on [loc, loc + scale].",
    logpdf=_uniform_logpdf, pdf=_exp_of(_uniform_logpdf), cdf=_uniform_cdf,
    ppf=_loc_scale_quantile(_uniform_standard_ppf))


# ------------------------------------------------------ discrete families ---

def _lattice(k, loc, low):
    """k - loc, whether it is an integer >= low, and a stand-in `low` where it is not."""
    k = _arr(k) - _arr(loc)
    inside = _and(k >= low, _is_integer(k))
    return _inside(inside, k, float(low)), inside


@_quiet
def _poisson_logpmf(k, mu, loc=0):
    k, inside = _lattice(k, loc, 0)
    mu = _arr(mu)
    mu_ok = mu >= 0
    mu = _where(mu_ok, mu, 1.0)
    out = _xlogy(k, mu) - _sp.gammaln(k + 1.0) - mu
    return _nan_unless(mu_ok, _where(inside, out, -_INF))


def _poisson_fn(fn, below):
    """P(K <= k) = Q(floor(k) + 1, mu) (DLMF 8.4.10) and P(K > k) = P(floor(k) + 1, mu) for
    k >= 0, `below` for k < 0; differentiable in mu (k is a count)."""
    @_quiet
    def f(k, mu, loc=0):
        k = cnp.floor(_arr(k) - _arr(loc))
        mu = _arr(mu)
        mu_ok = mu >= 0
        inside = k >= 0
        m = _where(mu_ok, mu, 1.0)
        return _nan_unless(mu_ok, _where(inside, fn(_inside(inside, k, 0.0) + 1.0, m), below))
    return f


_poisson_cdf, _poisson_sf = _poisson_fn(_sp.gammaincc, 0.0), _poisson_fn(_sp.gammainc, 1.0)
poisson = _Distribution("poisson", "The Poisson distribution with mean mu.",
                        logpmf=_poisson_logpmf, pmf=_exp_of(_poisson_logpmf),
                        cdf=_poisson_cdf, sf=_poisson_sf,
                        logcdf=_log_prob(_poisson_cdf, _poisson_sf), logsf=_log_prob(_poisson_sf, _poisson_cdf))


@_quiet
def _bernoulli_logpmf(k, p, loc=0):
    k, inside = _lattice(k, loc, 0)
    inside = _and(inside, k <= 1)
    p, p_ok = _probability(p)
    out = _xlogy(k, p) + _xlog1py(1.0 - k, -p)
    return _nan_unless(p_ok, _where(inside, out, -_INF))


bernoulli = _Distribution("bernoulli", "The Bernoulli distribution, P(1) = p.",
                          logpmf=_bernoulli_logpmf, pmf=_exp_of(_bernoulli_logpmf))


@_quiet
def _binom_logpmf(k, n, p, loc=0):
    n = _arr(n)
    n_ok = _and(n >= 0, _is_integer(n))
    n = _where(n_ok, n, 1.0)
    k, inside = _lattice(k, loc, 0)
    inside = _and(inside, k <= n)
    k = _inside(inside, k, 0.0)
    p, p_ok = _probability(p)
    out = (_sp.gammaln(n + 1.0) - _sp.gammaln(k + 1.0) - _sp.gammaln(n - k + 1.0)
           + _xlogy(k, p) + _xlog1py(n - k, -p))
    return _nan_unless(_and(n_ok, p_ok), _where(inside, out, -_INF))


binom = _Distribution("binom", "The binomial distribution: successes in n trials of probability p.",
                      logpmf=_binom_logpmf, pmf=_exp_of(_binom_logpmf))


@_quiet
def _nbinom_logpmf(k, n, p, loc=0):
    k, inside = _lattice(k, loc, 0)
    n, n_ok = _positive(n)
    p = _arr(p)
    p_ok = _and(p > 0, p <= 1)
    p = _where(p_ok, p, 0.5)
    out = (_sp.gammaln(n + k) - _sp.gammaln(k + 1.0) - _sp.gammaln(n)
           + _xlogy(n, p) + _xlog1py(k, -p))
    return _nan_unless(_and(n_ok, p_ok), _where(inside, out, -_INF))


nbinom = _Distribution("nbinom", "The negative binomial distribution: failures before n successes.",
                       logpmf=_nbinom_logpmf, pmf=_exp_of(_nbinom_logpmf))


@_quiet
def _geom_logpmf(k, p, loc=0):
    k, inside = _lattice(k, loc, 1)
    p = _arr(p)
    p_ok = _and(p > 0, p <= 1)
    p = _where(p_ok, p, 0.5)
    return _nan_unless(p_ok, _where(inside, _xlog1py(k - 1.0, -p) + cnp.log(p), -_INF))


geom = _Distribution("geom", "The geometric distribution: the trial of the first success, k >= 1.",
                     logpmf=_geom_logpmf, pmf=_exp_of(_geom_logpmf))


# --------------------------------------------------- multivariate normal ---

def _mvn_parameters(mean, cov):
    """SciPy's conventions: the dimension from mean or cov; a scalar cov is c * I, a vector
    cov a diagonal."""
    mean = None if mean is None else _arr(mean)
    cov = _arr(cov)
    if mean is not None and len(shape_of(mean)) >= 1:
        dim = shape_of(mean)[-1]
    elif len(shape_of(cov)) >= 1:
        dim = shape_of(cov)[0]
    else:
        dim = 1
    cs = shape_of(cov)
    if len(cs) == 0:
        cov = cov * _np.eye(dim)
    elif len(cs) == 1:
        if cs[0] != dim:
            raise ValueError(f"multivariate_normal: cov of shape {cs} does not match dimension {dim}")
        cov = cnp.diag(cov)
    elif cs != (dim, dim):
        raise ValueError(f"multivariate_normal: cov must be ({dim}, {dim}) (or a scalar or a "
                         f"vector of variances), got shape {cs}")
    if mean is None:
        mean = _np.zeros(dim)
    elif len(shape_of(mean)) == 0:
        mean = mean * _np.ones(dim)
    elif shape_of(mean)[-1] != dim:
        raise ValueError(f"multivariate_normal: mean of shape {shape_of(mean)} does not match "
                         f"dimension {dim}")
    return mean, cov, dim


@_quiet
def _mvn_logpdf(x, mean=None, cov=1, allow_singular=False):
    """log N(x; mean, cov) through the Cholesky factor L of cov:
    -(dim log 2 pi + 2 sum log diag L + |L^-1 (x - mean)|^2) / 2. x has the dimension last
    (for dim 1, every entry of x is a point, as in SciPy)."""
    if allow_singular:
        raise NotImplementedError("multivariate_normal: allow_singular=True is not supported; "
                                  "pass a positive definite cov")
    mean, cov, dim = _mvn_parameters(mean, cov)
    x = _arr(x)
    if dim == 1 and (len(shape_of(x)) == 0 or shape_of(x)[-1] != 1):
        x = cnp.expand_dims(x, -1)
    if shape_of(x)[-1] != dim:
        raise ValueError(f"multivariate_normal: x has {shape_of(x)[-1]} components in its last "
                         f"axis, the distribution {dim}")
    d = x - mean
    batch = shape_of(d)[:-1]
    L = cnp.linalg.cholesky(cov)
    y = cnp.linalg.solve(L, cnp.transpose(cnp.reshape(d, (-1, dim))))      # (dim, points)
    maha = cnp.reshape(cnp.sum(y * y, axis=0), batch)
    log_det = 2.0 * cnp.sum(cnp.log(cnp.diagonal(L)))
    return -0.5 * (dim * _LOG_2PI + log_det + maha)


multivariate_normal = _Distribution(
    "multivariate_normal", "The multivariate normal distribution N(mean, cov).",
    logpdf=_mvn_logpdf, pdf=_exp_of(_mvn_logpdf))


# ------------------------------------------------------------- dirichlet ---

@_quiet
def _dirichlet_logpdf(x, alpha):
    """sum((alpha - 1) log x) - (sum gammaln(alpha) - gammaln(sum alpha)), with the
    components along x's first axis (SciPy's layout: x is (k,) or (k, n); k - 1 components
    are completed by 1 - their sum). -inf off the simplex (SciPy raises there)."""
    alpha = _arr(alpha)
    x = _arr(x)
    if len(shape_of(alpha)) != 1:
        raise ValueError(f"dirichlet: alpha must be a vector, got shape {shape_of(alpha)}")
    k = shape_of(alpha)[0]
    if len(shape_of(x)) == 0 or shape_of(x)[0] not in (k, k - 1):
        raise ValueError(f"dirichlet: x needs {k} (or {k - 1}) components along its first axis, "
                         f"got shape {shape_of(x)}")
    if shape_of(x)[0] == k - 1:
        x = cnp.concatenate([x, 1.0 - cnp.sum(x, axis=0, keepdims=True)], axis=0)
    a = cnp.reshape(alpha, (k,) + (1,) * (len(shape_of(x)) - 1))
    a_ok = cnp.all(alpha > 0)
    a = _where(a_ok, a, 1.0)
    inside = _and(cnp.all(x >= 0, axis=0), cnp.abs(cnp.sum(x, axis=0) - 1.0) <= 1e-9)
    xi = _inside(inside, x, 1.0 / k)
    out = (cnp.sum(_xlogy(a - 1.0, xi), axis=0)
           - cnp.sum(_sp.gammaln(a), axis=0) + _sp.gammaln(cnp.sum(a, axis=0)))
    return _nan_unless(a_ok, _where(inside, out, -_INF))


dirichlet = _Distribution("dirichlet", "The Dirichlet distribution on the simplex.",
                          logpdf=_dirichlet_logpdf, pdf=_exp_of(_dirichlet_logpdf))
