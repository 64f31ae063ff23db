"""`chainrule.random`: random numbers from explicit keys, as `jax.random`.

A key is a plain ``uint32[2]`` NumPy array (``key(seed)``, ``split``, ``fold_in``).  Draws
are deterministic functions of the key: NumPy's counter-based `Philox` bit generator,
keyed by the key, produces them.  Each raw draw is a primitive, so under `jit` a key is an
ordinary argument and the numbers are drawn on every call (NumPy's global `np.random`
would be frozen into the program when it is staged, see `np_random_warnings`).

The raw primitives (uniform, normal, gamma, poisson, integers, bits) carry no derivative
with respect to the key; the samplers built from them with chainrule operations are
differentiable in their parameters (``minval``/``maxval``, ``lower``/``upper``, a mean and
a covariance, logits' shift, ...), and `gamma` (so `beta`, `dirichlet`, `t`, `chisquare`)
in its shape parameter by implicit reparameterisation, as in JAX.  Under `vmap` a batch of
keys gives one independent draw per key, equal to a loop.  Streams match across chainrule
calls, not with JAX's threefry numbers.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import operator
import os
import sys
import threading
import warnings

import numpy as np

from .core import Primitive, Tracer, bind, shape_of, dtype_of
from .rules import defnondiff, defjvp, defjvp_full, defvjp, defvjp_full, batch_rules, taylor_by_jvp
from .ops import batch_rules as B, elementwise as E, shape as S, special as SP
from . import numpy as cnp

__all__ = ["key", "PRNGKey", "key_data", "wrap_key_data", "split", "fold_in", "bits", "uniform",
           "normal", "bernoulli", "randint", "choice", "permutation", "shuffle", "exponential",
           "gamma", "loggamma", "beta", "dirichlet", "chisquare", "t", "multivariate_normal",
           "truncated_normal", "categorical", "gumbel", "laplace", "logistic", "lognormal",
           "poisson", "cauchy", "rademacher", "RandomStagingWarning", "np_random_warnings"]

_U32 = np.dtype(np.uint32)
_MASK64 = (1 << 64) - 1
_DRAW, _SPLIT, _FOLD = 0, 1, 2          # Philox key words that keep the three uses apart


def _bitgen(k, tag, counter=None):
    k64 = (int(k[0]) << 32) | int(k[1])
    return np.random.Philox(counter=counter, key=np.array([k64, tag], dtype=np.uint64))


def _gen(k):
    return np.random.Generator(_bitgen(k, _DRAW))


def _result(x, dtype):
    x = np.asarray(x, dtype=dtype)
    return x[()] if x.ndim == 0 else x


def _keyed(name, draw, aval):
    """A primitive ``p(key, *args, **params)`` drawing with `draw(k, *args, **params)` per key.

    The key may carry leading batch axes ``kb`` (vmap): each key draws alone, and the
    other arguments broadcast to ``kb + params["shape"]``.
    """
    def impl(key, *args, **params):
        key = np.asarray(key)
        kb = key.shape[:-1]
        shape, dtype = aval(params)
        if not kb:
            return _result(draw(key, *args, **params), dtype)
        ev = tuple(params.get("shape", ()))
        args = [np.broadcast_to(a, kb + ev) for a in args]
        out = np.empty(kb + shape, dtype)
        for i in np.ndindex(*kb):
            out[i] = draw(key[i], *(a[i] for a in args), **params)
        return out

    p = Primitive(name, impl)
    batch_rules[p] = _keyed_batch(p)
    return p


def _keyed_batch(p):
    """vmap: batch axes first; an unbatched key is shared by every lane, as in a loop."""
    def rule(args, bdims, **params):
        size = B.batch_size(args, bdims)
        key, *rest = args
        if bdims[0] is None:
            key = S.broadcast_to(key, (size,) + tuple(shape_of(key)))
        else:
            key = B.to_front(key, bdims[0])
        n = len(shape_of(key)) - 2 + len(params.get("shape", ()))
        new = [key]
        for a, d in zip(rest, bdims[1:]):
            if d is not None:
                a = B.to_front(a, d)
                a = B.pad_after_batch(a, n - (B.ndim(a) - 1))
            new.append(a)
        return bind(p, *new, **params), 0
    return rule


def _sampled(params):
    return tuple(params["shape"]), np.dtype(params["dtype"])


# ------------------------------------------------------------ key primitives ---

def _seed_impl(seed):
    s = np.asarray(seed).astype(np.int64).astype(np.uint64)
    return np.stack([(s >> np.uint64(32)).astype(_U32), (s & np.uint64(0xFFFFFFFF)).astype(_U32)], axis=-1)


random_seed_p = Primitive("random_seed", _seed_impl)
defnondiff(random_seed_p, "integer result (a key)")
batch_rules[random_seed_p] = lambda args, bdims: (bind(random_seed_p, B.to_front(args[0], bdims[0])), 0)


def _split_draw(k, num):
    raw = _bitgen(k, _SPLIT).random_raw(num)
    return np.stack([(raw >> np.uint64(32)).astype(_U32), (raw & np.uint64(0xFFFFFFFF)).astype(_U32)], -1)


def _fold_draw(k, data):
    raw = _bitgen(k, _FOLD, counter=int(data) & _MASK64).random_raw(1)
    return np.array([raw[0] >> np.uint64(32), raw[0] & np.uint64(0xFFFFFFFF)], dtype=_U32)


def _bits_draw(k, shape, dtype):
    raw = _bitgen(k, _DRAW).random_raw(int(np.prod(shape, dtype=np.int64)))
    width = np.dtype(dtype).itemsize * 8
    if width < 64:
        raw = raw & np.uint64((1 << width) - 1)
    return raw.astype(dtype).reshape(shape)


def _integers_draw(k, lo, hi, shape, dtype):
    lo, hi = np.broadcast_arrays(np.asarray(lo, np.int64), np.asarray(hi, np.int64))
    info = np.iinfo(dtype)
    lo = np.clip(lo, max(info.min, np.iinfo(np.int64).min), min(info.max, np.iinfo(np.int64).max - 1))
    hi = np.maximum(np.minimum(hi, min(info.max + 1, np.iinfo(np.int64).max)), lo + 1)   # empty: minval
    return _gen(k).integers(np.broadcast_to(lo, shape), np.broadcast_to(hi, shape), size=shape)


random_split_p = _keyed("random_split", _split_draw, lambda prm: ((prm["num"], 2), _U32))
random_fold_in_p = _keyed("random_fold_in", _fold_draw, lambda prm: ((2,), _U32))
random_bits_p = _keyed("random_bits", _bits_draw, _sampled)
random_uniform_p = _keyed("random_uniform", lambda k, shape, dtype: _gen(k).random(shape, dtype), _sampled)
random_normal_p = _keyed("random_normal", lambda k, shape, dtype: _gen(k).standard_normal(shape, dtype),
                         _sampled)
random_randint_p = _keyed("random_randint", _integers_draw, _sampled)
random_poisson_p = _keyed("random_poisson", lambda k, lam, shape, dtype: _gen(k).poisson(
    np.broadcast_to(lam, shape), shape), _sampled)
for _p in (random_split_p, random_fold_in_p, random_bits_p, random_randint_p, random_poisson_p):
    defnondiff(_p, "integer result (random bits or counts from a key)")
for _p in (random_uniform_p, random_normal_p):
    defnondiff(_p, "a function of the key only (an integer array): no derivative")


# gamma: differentiable in its shape parameter by implicit reparameterisation,
# dx/da = -(dF/da)(x; a) / f(x; a), F the gamma CDF and f its density
def _gamma_draw(k, a, shape, dtype):
    return _gen(k).standard_gamma(np.broadcast_to(np.asarray(a, dtype), shape), size=shape, dtype=dtype)


random_gamma_p = _keyed("random_gamma", _gamma_draw, _sampled)


def _dcdf_da(a, x):
    """d/da of the regularised lower incomplete gamma P(a, x) (SciPy: 5-point differences in a
    of P or of -Q, whichever is small; else the series sum_n x^(a+n) e^-x / Gamma(a+n+1))."""
    try:
        import scipy.special as sc
    except ImportError:                          # pragma: no cover - SciPy is optional
        sc = None
    if sc is not None:
        lower = x < a

        def F(b):
            return np.where(lower, sc.gammainc(b, x), -sc.gammaincc(b, x))
        h = 1e-3 * a
        return (F(a - 2 * h) - 8 * F(a - h) + 8 * F(a + h) - F(a + 2 * h)) / (12 * h)
    n_max = int(np.ceil(np.max(np.maximum(x - a, 0) + 12 * np.sqrt(x) + 30))) if x.size else 0
    n = np.arange(n_max)[:, None]
    lt = (a + n) * np.log(x) - x - SP.gammaln_p.impl(a + n + 1)
    return np.sum(np.exp(lt) * (np.log(x) - SP.digamma_p.impl(a + n + 1)), axis=0)


def _gamma_grad_impl(a, x):
    a, x = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(x))
    out = np.zeros(x.shape, np.float64)
    ok = (x > 0) & np.isfinite(x) & (a > 0)
    if ok.any():
        aa, xx = a[ok], x[ok].astype(np.float64)
        log_pdf = (aa - 1) * np.log(xx) - xx - SP.gammaln_p.impl(aa)
        out[ok] = -_dcdf_da(aa, xx) / np.exp(log_pdf)
    return _result(out, x.dtype)


random_gamma_grad_p = Primitive("random_gamma_grad", _gamma_grad_impl)
batch_rules[random_gamma_grad_p] = B.elementwise(random_gamma_grad_p)


def _no_second_derivative(*_, **__):
    raise NotImplementedError("chainrule.random.gamma: second derivatives with respect to the shape "
                              "parameter are not implemented (random_gamma_grad has no derivative)")


defjvp_full(random_gamma_grad_p, _no_second_derivative)
defvjp_full(random_gamma_grad_p, _no_second_derivative)
taylor_by_jvp.add(random_gamma_grad_p)    # orders >= 2 reach the JVP above, which says so
defjvp(random_gamma_p, None, lambda t, ans, key, a, shape, dtype: t * bind(random_gamma_grad_p, a, ans))
defvjp(random_gamma_p, None,
       lambda g, ans, key, a, shape, dtype: E.unbroadcast(a, g * bind(random_gamma_grad_p, a, ans)))
taylor_by_jvp.add(random_gamma_p)          # nested forward mode (first order exact)


# ------------------------------------------------------------------- keys ---

def key(seed):
    """A key from an integer seed (as `jax.random.PRNGKey`): ``uint32[2]``, high and low words."""
    if isinstance(seed, Tracer):
        if dtype_of(seed).kind not in "iu" or shape_of(seed) != ():
            raise TypeError(f"random.key: the seed must be an integer scalar, got dtype {dtype_of(seed)} "
                            f"and shape {shape_of(seed)}")
        return bind(random_seed_p, seed)
    try:
        s = operator.index(seed) & _MASK64
    except TypeError:
        raise TypeError(f"random.key: the seed must be an integer, got {type(seed).__name__}") from None
    return np.array([s >> 32, s & 0xFFFFFFFF], dtype=_U32)


PRNGKey = key


def key_data(keys):
    """The raw ``uint32`` words of a key (keys are raw already)."""
    return keys


def wrap_key_data(data):
    """A key from raw ``uint32[2]`` words (for example a JAX ``PRNGKey``)."""
    return _key(np.asarray(data, dtype=_U32), "wrap_key_data")


def _key(k, what):
    if not isinstance(k, Tracer):
        k = np.asarray(k)
    if tuple(shape_of(k)) != (2,) or dtype_of(k) != _U32:
        raise TypeError(f"random.{what}: expected a key (a uint32 array of shape (2,) from "
                        f"chainrule.random.key(seed) or split(key)), got dtype {dtype_of(k)} and shape "
                        f"{tuple(shape_of(k))}; make one with chainrule.random.key(0), and give each "
                        "key of a batch to vmap rather than to the sampler")
    return k


def split(key, num=2):
    """`num` new keys, ``uint32[num, 2]``, each independent of `key` and of each other."""
    return bind(random_split_p, _key(key, "split"), num=operator.index(num))


def fold_in(key, data):
    """A new key from `key` and an integer (may be traced: a loop counter, an index)."""
    if dtype_of(data).kind not in "iub" or shape_of(data) != ():
        raise TypeError(f"random.fold_in: data must be an integer scalar, got dtype {dtype_of(data)} "
                        f"and shape {shape_of(data)}")
    return bind(random_fold_in_p, _key(key, "fold_in"), data)


# ---------------------------------------------------------------- helpers ---

def _shape(shape, what):
    if shape is None:
        return None
    try:
        return (operator.index(shape),) if not isinstance(shape, (tuple, list)) else \
            tuple(operator.index(n) for n in shape)
    except TypeError:
        raise TypeError(f"random.{what}: shape must be a tuple of integers, got {shape!r}") from None


def _float_dtype(dtype, what):
    d = np.dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"random.{what}: dtype must be a floating-point dtype, got {d}")
    return d


def _param(x, dtype):
    """A parameter as a value of `dtype` (Python numbers stay numbers: they adapt)."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    if not isinstance(x, Tracer):
        x = np.asarray(x)
    return x if dtype_of(x) == dtype else S.astype(x, dtype)


def _out_shape(shape, what, *params):
    """The sample shape: `shape`, or the parameters' broadcast shape; they must broadcast to it.
    (A tuple stands for a parameter of that shape.)"""
    shapes = [p if isinstance(p, tuple) else tuple(shape_of(p)) for p in params]
    try:
        batch = np.broadcast_shapes(*shapes) if shapes else ()
        if shape is None:
            return tuple(batch)
        if np.broadcast_shapes(shape, batch) != tuple(shape):
            raise ValueError
    except ValueError:
        raise ValueError(f"random.{what}: parameter shapes {shapes} do not broadcast to shape "
                         f"{shape}") from None
    return tuple(shape)


def _uniform_open(key, shape, dtype, minval):
    return uniform(key, shape, dtype, minval=float(minval), maxval=1.0)


# ----------------------------------------------------------------- samplers ---

def bits(key, shape=(), dtype=np.uint32):
    """Raw random bits as unsigned integers of `dtype`."""
    d = np.dtype(dtype)
    if d.kind != "u":
        raise TypeError(f"random.bits: dtype must be unsigned, got {d}")
    return bind(random_bits_p, _key(key, "bits"), shape=_shape(shape, "bits"), dtype=d)


def uniform(key, shape=(), dtype=float, minval=0.0, maxval=1.0):
    """Uniform on ``[minval, maxval)``; differentiable in `minval` and `maxval`."""
    d = _float_dtype(dtype, "uniform")
    shape = _out_shape(_shape(shape, "uniform"), "uniform", minval, maxval)
    u = bind(random_uniform_p, _key(key, "uniform"), shape=shape, dtype=d)
    if type(minval) in (int, float) and type(maxval) in (int, float) and (minval, maxval) == (0, 1):
        return u
    lo, hi = _param(minval, d), _param(maxval, d)
    return lo + u * (hi - lo)          # >= lo exactly (a non-negative addend)


def normal(key, shape=(), dtype=float):
    """Standard normal samples."""
    return bind(random_normal_p, _key(key, "normal"), shape=_shape(shape, "normal"),
                dtype=_float_dtype(dtype, "normal"))


def bernoulli(key, p=0.5, shape=None):
    """Booleans that are True with probability `p`."""
    shape = _out_shape(_shape(shape, "bernoulli"), "bernoulli", p)
    return uniform(key, shape) < p


def rademacher(key, shape, dtype=int):
    """-1 or +1 with equal probability."""
    b = bernoulli(key, 0.5, _shape(shape, "rademacher"))
    return S.astype(b, dtype) * 2 - 1


def randint(key, shape, minval, maxval, dtype=int):
    """Integers uniform on ``[minval, maxval)`` (``maxval <= minval`` gives `minval`)."""
    d = np.dtype(dtype)
    if d.kind not in "iu":
        raise TypeError(f"random.randint: dtype must be an integer dtype, got {d}")
    shape = _out_shape(_shape(shape, "randint"), "randint", minval, maxval)
    return bind(random_randint_p, _key(key, "randint"), minval, maxval, shape=shape, dtype=d)


def exponential(key, shape=(), dtype=float):
    """Exponential samples of rate 1, ``-log1p(-u)``."""
    return -cnp.log1p(-uniform(key, shape, dtype))


def gamma(key, a, shape=None, dtype=float):
    """Gamma(a, 1) samples; differentiable in `a` (implicit reparameterisation)."""
    d = _float_dtype(dtype, "gamma")
    shape = _out_shape(_shape(shape, "gamma"), "gamma", a)
    return bind(random_gamma_p, _key(key, "gamma"), _param(a, d), shape=shape, dtype=d)


def loggamma(key, a, shape=None, dtype=float):
    """log of Gamma(a, 1) samples, accurate for small `a`: ``log G(a+1) + log(u) / a``."""
    d = _float_dtype(dtype, "loggamma")
    shape = _out_shape(_shape(shape, "loggamma"), "loggamma", a)
    k1, k2 = split(key)
    a = _param(a, d)
    u = _uniform_open(k2, shape, d, np.finfo(d).tiny)
    return cnp.log(gamma(k1, a + 1.0, shape, d)) + cnp.log(u) / a


def beta(key, a, b, shape=None, dtype=float):
    """Beta(a, b) samples, ``X / (X + Y)`` of gammas (in log space); differentiable in a and b."""
    d = _float_dtype(dtype, "beta")
    shape = _out_shape(_shape(shape, "beta"), "beta", a, b)
    k1, k2 = split(key)
    lx, ly = loggamma(k1, a, shape, d), loggamma(k2, b, shape, d)
    return 1.0 / (1.0 + cnp.exp(ly - lx))


def dirichlet(key, alpha, shape=None, dtype=float):
    """Dirichlet(alpha) samples (the last axis of `alpha` is the simplex's)."""
    d = _float_dtype(dtype, "dirichlet")
    s = tuple(shape_of(alpha))
    if not s:
        raise ValueError("random.dirichlet: alpha needs at least one axis (the categories)")
    shape = _out_shape(_shape(shape, "dirichlet"), "dirichlet", s[:-1])
    lg = loggamma(key, alpha, shape + s[-1:], d)
    m = E.stop_gradient(cnp.max(lg, axis=-1, keepdims=True))
    e = cnp.exp(lg - m)
    return e / cnp.sum(e, axis=-1, keepdims=True)


def chisquare(key, df, shape=None, dtype=float):
    """Chi-square samples with `df` degrees of freedom, ``2 Gamma(df / 2)``."""
    return 2.0 * gamma(key, _param(df, _float_dtype(dtype, "chisquare")) / 2.0, shape, dtype)


def t(key, df, shape=None, dtype=float):
    """Student's t samples, ``z * sqrt(df / chi2(df))``; differentiable in `df`."""
    d = _float_dtype(dtype, "t")
    shape = _out_shape(_shape(shape, "t"), "t", df)
    k1, k2 = split(key)
    half = _param(df, d) / 2.0
    return normal(k1, shape, d) * cnp.sqrt(half / gamma(k2, half, shape, d))


def multivariate_normal(key, mean, cov, shape=None, dtype=float, method="cholesky"):
    """N(mean, cov) samples, ``mean + A z`` with ``A A^T = cov``; differentiable in both."""
    d = _float_dtype(dtype, "multivariate_normal")
    ms, cs = tuple(shape_of(mean)), tuple(shape_of(cov))
    if not ms or cs[-2:] != ms[-1:] * 2:
        raise ValueError(f"random.multivariate_normal: mean of shape {ms} needs a covariance of shape "
                         f"(..., {ms[-1:] and ms[-1]}, {ms[-1:] and ms[-1]}), got {cs}")
    shape = _out_shape(_shape(shape, "multivariate_normal"), "multivariate_normal",
                       ms[:-1], cs[:-2])
    mean, cov = _param(mean, d), _param(cov, d)
    if method == "cholesky":
        factor = cnp.linalg.cholesky(cov)
    elif method in ("eigh", "svd"):
        if method == "eigh":
            w, v = cnp.linalg.eigh(cov)
        else:
            v, w, _ = cnp.linalg.svd(cov)
        factor = v * cnp.expand_dims(cnp.sqrt(cnp.maximum(w, 0.0)), -2)
    else:
        raise ValueError(f"random.multivariate_normal: method must be 'cholesky', 'eigh' or 'svd', "
                         f"got {method!r}")
    z = normal(key, shape + ms[-1:], d)
    return mean + cnp.squeeze(cnp.matmul(factor, cnp.expand_dims(z, -1)), -1)


def truncated_normal(key, lower, upper, shape=None, dtype=float):
    """Standard normal samples truncated to ``(lower, upper)`` (inverse CDF); differentiable in
    the bounds."""
    d = _float_dtype(dtype, "truncated_normal")
    shape = _out_shape(_shape(shape, "truncated_normal"), "truncated_normal", lower, upper)
    lo, hi = _param(lower, d), _param(upper, d)
    r2 = math.sqrt(2.0)
    a, b = SP.erf(lo / r2), SP.erf(hi / r2)
    x = r2 * SP.erfinv(uniform(key, shape, d, minval=a, maxval=b))
    big = float(np.finfo(d).max)
    return cnp.clip(x, E.stop_gradient(cnp.maximum(lo, -big)), E.stop_gradient(cnp.minimum(hi, big)))


def gumbel(key, shape=(), dtype=float):
    """Standard Gumbel samples, ``-log(-log u)``."""
    d = _float_dtype(dtype, "gumbel")
    return -cnp.log(-cnp.log(_uniform_open(key, _shape(shape, "gumbel"), d, np.finfo(d).tiny)))


def categorical(key, logits, axis=-1, shape=None):
    """Indices drawn with probabilities ``softmax(logits)`` along `axis` (Gumbel-max)."""
    ls = tuple(shape_of(logits))
    axis = S.normalize_axis(axis, len(ls))
    batch = ls[:axis] + ls[axis + 1:]
    shape = _out_shape(_shape(shape, "categorical"), "categorical", batch)
    moved = cnp.moveaxis(logits, axis, -1)
    g = gumbel(key, shape + ls[axis:axis + 1], dtype_of(logits) if dtype_of(logits).kind == "f" else float)
    return cnp.argmax(moved + g, axis=-1)


def laplace(key, shape=(), dtype=float):
    """Standard Laplace samples."""
    d = _float_dtype(dtype, "laplace")
    u = uniform(key, _shape(shape, "laplace"), d, minval=-1.0 + float(np.finfo(d).epsneg), maxval=1.0)
    return -cnp.sign(u) * cnp.log1p(-cnp.abs(u))


def logistic(key, shape=(), dtype=float):
    """Standard logistic samples, ``log(u / (1 - u))``."""
    d = _float_dtype(dtype, "logistic")
    u = _uniform_open(key, _shape(shape, "logistic"), d, np.finfo(d).tiny)
    return cnp.log(u) - cnp.log1p(-u)


def lognormal(key, sigma=1.0, shape=None, dtype=float):
    """``exp(sigma z)`` for standard normal z; differentiable in `sigma`."""
    d = _float_dtype(dtype, "lognormal")
    shape = _out_shape(_shape(shape, "lognormal"), "lognormal", sigma)
    return cnp.exp(_param(sigma, d) * normal(key, shape, d))


def cauchy(key, shape=(), dtype=float):
    """Standard Cauchy samples, ``tan(pi (u - 1/2))``."""
    d = _float_dtype(dtype, "cauchy")
    u = _uniform_open(key, _shape(shape, "cauchy"), d, np.finfo(d).eps)
    return cnp.tan(math.pi * (u - 0.5))


def poisson(key, lam, shape=None, dtype=int):
    """Poisson counts of rate `lam` (no derivative: integers)."""
    shape = _out_shape(_shape(shape, "poisson"), "poisson", lam)
    return bind(random_poisson_p, _key(key, "poisson"), lam, shape=shape, dtype=np.dtype(dtype))


def _length(x, what):
    if isinstance(x, Tracer):
        raise TypeError(f"random.{what}: an integer length must be a static Python int, not a traced "
                        "value (mark it static in jit)")
    return operator.index(x)


def permutation(key, x, axis=0, independent=False):
    """A random permutation of ``range(x)`` (an int), or of `x` along `axis`."""
    if not hasattr(x, "shape") or (shape_of(x) == () and dtype_of(x).kind in "iu"):
        if isinstance(x, (list, tuple)):
            x = np.asarray(x)
        else:
            return cnp.argsort(uniform(key, (_length(x, "permutation"),)))
    xs = tuple(shape_of(x))
    if not xs:
        raise TypeError("random.permutation: x must be an integer or an array with at least one axis")
    axis = S.normalize_axis(axis, len(xs))
    if independent:
        return cnp.take_along_axis(x, cnp.argsort(uniform(key, xs), axis=axis), axis=axis)
    return cnp.take(x, cnp.argsort(uniform(key, (xs[axis],))), axis=axis)


def shuffle(key, x, axis=0):
    """`x` shuffled along `axis` (a new array; JAX's deprecated name for `permutation`)."""
    return permutation(key, x, axis)


def choice(key, a, shape=(), replace=True, p=None, axis=0):
    """Samples from `a` (an int: ``range(a)``) along `axis`, with or without replacement,
    uniformly or with probabilities `p`."""
    shape = _shape(shape, "choice")
    if hasattr(a, "shape") and shape_of(a) != () or isinstance(a, (list, tuple)):
        a = a if hasattr(a, "shape") else np.asarray(a)
        axis = S.normalize_axis(axis, len(shape_of(a)))
        n, population = shape_of(a)[axis], a
    else:
        n, population = _length(a, "choice"), None
    k = int(np.prod(shape, dtype=np.int64))
    if not replace and k > n:
        raise ValueError(f"random.choice: cannot take {k} samples from {n} without replacement; "
                         "pass replace=True or a smaller shape")
    if p is None:
        idx = randint(key, shape, 0, n) if replace else S.reshape(permutation(key, n)[:k], shape)
    else:
        if tuple(shape_of(p)) != (n,):
            raise ValueError(f"random.choice: p must have shape ({n},), got {tuple(shape_of(p))}")
        logp = cnp.log(E.stop_gradient(p))
        if replace:
            idx = categorical(key, logp, shape=shape)
        else:           # Gumbel top-k: the k largest perturbed log-probabilities
            g = gumbel(key, (n,)) + logp
            idx = S.reshape(cnp.argsort(-g)[:k], shape)
    return idx if population is None else cnp.take(population, idx, axis=axis)


# ------------------------------------------------- np.random under jit ---

class RandomStagingWarning(RuntimeWarning):
    """NumPy's global `np.random` was called while jit staged a function: its numbers are
    frozen into the compiled program."""


_NP_RANDOM_NAMES = (
    "rand", "randn", "random", "random_sample", "ranf", "sample", "randint", "random_integers",
    "choice", "permutation", "shuffle", "bytes", "uniform", "normal", "standard_normal", "exponential",
    "standard_exponential", "gamma", "standard_gamma", "beta", "binomial", "poisson", "multinomial",
    "multivariate_normal", "dirichlet", "laplace", "logistic", "lognormal", "gumbel", "chisquare",
    "standard_t", "standard_cauchy", "triangular", "vonmises", "wald", "weibull", "pareto", "power",
    "rayleigh", "geometric", "hypergeometric", "logseries", "negative_binomial",
    "noncentral_chisquare", "noncentral_f", "f", "zipf")
_PKG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_patch_lock = threading.Lock()
_patch_users = 0
_originals: dict[str, object] = {}
_staging = contextvars.ContextVar("chainrule_np_random_staging", default=False)
_warned_sites: set[tuple[str, int]] = set()


def _warn_np_random(name):
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_PKG_DIR):
        frame = frame.f_back
    if frame is None:
        return
    site = (frame.f_code.co_filename, frame.f_lineno)
    if site in _warned_sites:
        return
    _warned_sites.add(site)
    warnings.warn_explicit(
        f"np.random.{name} was called at {site[0]}:{site[1]} while jit staged the function: the "
        "numbers drawn now are frozen into the compiled program, so every later call returns the "
        "same ones. Draw them with chainrule.random and an explicit key passed as an argument "
        "(key = chainrule.random.key(0); x = chainrule.random.normal(key, shape); new keys with "
        "chainrule.random.split(key))", RandomStagingWarning, site[0], site[1])


def _warning_wrapper(name, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if _staging.get():
            _warn_np_random(name)
        return fn(*args, **kwargs)
    wrapper._chainrule_np_random = fn  # type: ignore[attr-defined]
    return wrapper


@contextlib.contextmanager
def np_random_warnings():
    """While jit stages: NumPy's legacy global `np.random.<name>` functions warn (once per call
    site, `RandomStagingWarning`); they are restored afterwards, also on error."""
    global _patch_users
    with _patch_lock:
        if _patch_users == 0:
            for name in _NP_RANDOM_NAMES:
                fn = getattr(np.random, name, None)
                if callable(fn) and not hasattr(fn, "_chainrule_np_random"):
                    _originals[name] = fn
                    setattr(np.random, name, _warning_wrapper(name, fn))
        _patch_users += 1
    token = _staging.set(True)
    try:
        yield
    finally:
        _staging.reset(token)
        with _patch_lock:
            _patch_users -= 1
            if _patch_users == 0:
                for name, fn in _originals.items():
                    if getattr(getattr(np.random, name, None), "_chainrule_np_random", None) is fn:
                        setattr(np.random, name, fn)     # unless someone replaced it meanwhile
                _originals.clear()
