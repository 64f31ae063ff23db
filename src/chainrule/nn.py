"""`chainrule.nn`: neural-network activations and helpers with `jax.nn`'s names and signatures.

Composed from chainrule operations, so every transformation applies. Written to be stable
for large |x| (softplus and log_sigmoid through logaddexp, sigmoid through expit), and with
JAX's derivatives at the kinks (relu' (0) = 0, relu6' (0) = relu6' (6) = 0): each piecewise
function is a `where` whose branches are finite everywhere.
"""
from __future__ import annotations

import math

import numpy as _np

from . import numpy as cnp
from .core import shape_of
from .scipy import special as _sp
from .scipy.special import _arr

__all__ = ["relu", "relu6", "leaky_relu", "elu", "celu", "selu", "gelu", "silu", "swish",
           "softplus", "soft_sign", "sigmoid", "log_sigmoid", "hard_tanh", "hard_sigmoid",
           "hard_silu", "hard_swish", "tanh", "softmax", "log_softmax", "logsumexp", "one_hot",
           "standardize"]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946

tanh = cnp.tanh
sigmoid = _sp.expit


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False, where=None):
    """`chainrule.scipy.special.logsumexp`, with JAX's `where` (entries outside it excluded)."""
    return _sp.logsumexp(_masked(_arr(a), where), axis=axis, b=b, keepdims=keepdims,
                         return_sign=return_sign)


def relu(x):
    """max(x, 0), with derivative 0 at 0 (as in JAX); nan stays nan."""
    x = _arr(x)
    return cnp.where(x <= 0, 0.0, x)


def relu6(x):
    """min(max(x, 0), 6), with derivative 0 at both kinks."""
    x = _arr(x)
    return cnp.where(x <= 0, 0.0, cnp.where(x >= 6, 6.0, x))


def leaky_relu(x, negative_slope=0.01):
    x = _arr(x)
    return cnp.where(x >= 0, x, negative_slope * x)


def elu(x, alpha=1.0):
    """x above 0, alpha (exp(x) - 1) below; expm1 only sees x <= 0."""
    x = _arr(x)
    pos = x > 0
    return cnp.where(pos, x, alpha * cnp.expm1(cnp.where(pos, 0.0, x)))


def celu(x, alpha=1.0):
    """x above 0, alpha (exp(x / alpha) - 1) below."""
    x = _arr(x)
    pos = x > 0
    return cnp.where(pos, x, alpha * cnp.expm1(cnp.where(pos, 0.0, x) / alpha))


def selu(x):
    """The self-normalising ELU, scale * elu(x, alpha) with Klambauer et al.'s constants."""
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


def gelu(x, approximate=True):
    """x Phi(x), or its tanh approximation (approximate=True, JAX's default), written as
    x sigmoid(2 u) = x (1 + tanh u) / 2, which keeps its relative accuracy for negative x."""
    x = _arr(x)
    if approximate:
        u = math.sqrt(2.0 / math.pi) * (x + 0.044715 * (x * x * x))
        return x * _sp.expit(2.0 * u)
    return x * _sp.ndtr(x)


def silu(x):
    """x sigmoid(x)."""
    x = _arr(x)
    return x * _sp.expit(x)


swish = silu


def softplus(x):
    """log(1 + exp(x)) = logaddexp(x, 0): no overflow for large x, no underflow to 0 early."""
    return cnp.logaddexp(_arr(x), 0.0)


def soft_sign(x):
    x = _arr(x)
    return x / (cnp.abs(x) + 1.0)


def log_sigmoid(x):
    """log(sigmoid(x)) = -softplus(-x), finite for large negative x."""
    return -softplus(-_arr(x))


def hard_tanh(x):
    x = _arr(x)
    return cnp.where(x > 1, 1.0, cnp.where(x < -1, -1.0, x))


def hard_sigmoid(x):
    """relu6(x + 3) / 6."""
    return relu6(_arr(x) + 3.0) / 6.0


def hard_silu(x):
    """x hard_sigmoid(x)."""
    x = _arr(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def _masked(x, where):
    return x if where is None else cnp.where(where, x, -_np.inf)


def log_softmax(x, axis=-1, where=None):
    """x - logsumexp(x) along axis; entries outside `where` are excluded (and give -inf)."""
    x = _arr(x)
    xm = _masked(x, where)
    out = xm - _sp.logsumexp(xm, axis=axis, keepdims=True)
    return out if where is None else cnp.where(where, out, -_np.inf)


def softmax(x, axis=-1, where=None):
    """exp(log_softmax(x)); entries outside `where` are 0."""
    out = cnp.exp(log_softmax(x, axis=axis, where=where))
    return out if where is None else cnp.where(where, out, 0.0)


def one_hot(x, num_classes, *, dtype=None, axis=-1):
    """x's integers as indicator vectors of length num_classes along `axis` (all zeros for
    an index outside [0, num_classes)). Not differentiable: its values are constants."""
    num_classes = int(num_classes)
    x = cnp.asarray(x)
    hot = cnp.expand_dims(x, -1) == _np.arange(num_classes)
    out = cnp.astype(hot, _np.float64 if dtype is None else dtype)
    nd = len(shape_of(out))
    if axis != -1 and axis != nd - 1:
        out = cnp.moveaxis(out, -1, axis)
    return out


def standardize(x, axis=-1, mean=None, variance=None, epsilon=1e-5, where=None, *, algorithm="fast"):
    """(x - mean) / sqrt(variance + epsilon) along axis, as jax.nn.standardize: the variance
    is E[x^2] - mean^2 clipped at 0 ("fast", JAX's default) or E[(x - mean)^2] ("stable")."""
    x = _arr(x)
    if mean is None:
        mean = cnp.mean(x, axis=axis, keepdims=True, where=where)
    if variance is None:
        if algorithm == "fast":
            variance = cnp.clip(cnp.mean(x * x, axis=axis, keepdims=True, where=where) - mean * mean, 0.0)
        elif algorithm == "stable":
            d = x - mean
            variance = cnp.mean(d * d, axis=axis, keepdims=True, where=where)
        else:
            raise ValueError(f"standardize: unknown algorithm {algorithm!r}; use 'fast' or 'stable'")
    return (x - mean) / cnp.sqrt(variance + epsilon)
