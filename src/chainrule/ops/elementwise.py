"""Elementwise primitives: each one's implementation and derivative rules together.

Unary implementations call the `math` module on Python floats (a fast path
for scalar code) and NumPy otherwise; where `math` raises (a domain error,
an overflow) NumPy's answer (nan, inf, with its warning) is used instead.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from ..core import Primitive, bind, shape_of, dtype_of
from ..rules import defjvp, defvjp, deflinear, defnondiff, jvp_rules
from . import reductions as R
from . import shape as S

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


def _unary_impl(math_fn, np_fn):
    if math_fn is None:
        return np_fn

    def impl(x):
        if type(x) is float:
            try:
                return math_fn(x)
            except (ValueError, OverflowError):
                pass
        return np_fn(x)
    return impl


def unary(name, math_fn, np_fn, deriv=None):
    """A unary primitive whose derivative is ``deriv(x, ans)`` (a function of values)."""
    p = Primitive(name, _unary_impl(math_fn, np_fn))
    if deriv is not None:
        defjvp(p, lambda t, ans, x: t * deriv(x, ans))
        defvjp(p, lambda g, ans, x: g * deriv(x, ans))
    return p


def safe_unary(name, math_fn, np_fn, deriv):
    """Like `unary` for derivatives that are infinite at a singular point.

    A zero cotangent stays zero there (0 * inf = 0), so the untaken branch of
    `where` cannot turn a gradient into nan.
    """
    p = Primitive(name, _unary_impl(math_fn, np_fn))
    defjvp(p, lambda t, ans, x: t * deriv(x, ans))
    defvjp(p, lambda g, ans, x: safe_mul(g, deriv(x, ans)))
    return p


def safe_mul(g, d):
    """g * d where an exact zero factor annihilates an infinite or nan one (`safe_multiply`)."""
    return bind(safe_mul_p, g, d)


def zeros_of(x):
    """Zeros shaped like x (a Python 0.0 for float64 scalars, which keeps scalar code scalar)."""
    shape, dtype = shape_of(x), dtype_of(x)
    if shape == () and dtype == np.float64:
        return 0.0
    return np.zeros(shape, dtype)


# -------------------------------------------------------------- unary math --

def _call(p):
    return lambda x: bind(p, x)


neg_p = Primitive("neg", operator.neg)
deflinear(neg_p, lambda g, ans, x: -g)

sin_p = unary("sin", math.sin, np.sin, lambda x, ans: cos(x))
cos_p = unary("cos", math.cos, np.cos, lambda x, ans: -sin(x))
tan_p = unary("tan", math.tan, np.tan, lambda x, ans: 1.0 + ans * ans)
arcsin_p = safe_unary("arcsin", math.asin, np.arcsin, lambda x, ans: divide(1.0, sqrt(1.0 - x * x)))
arccos_p = safe_unary("arccos", math.acos, np.arccos, lambda x, ans: divide(-1.0, sqrt(1.0 - x * x)))
arctan_p = unary("arctan", math.atan, np.arctan, lambda x, ans: divide(1.0, 1.0 + x * x))
sinh_p = unary("sinh", math.sinh, np.sinh, lambda x, ans: cosh(x))
cosh_p = unary("cosh", math.cosh, np.cosh, lambda x, ans: sinh(x))
tanh_p = unary("tanh", math.tanh, np.tanh, lambda x, ans: 1.0 - ans * ans)
arcsinh_p = unary("arcsinh", math.asinh, np.arcsinh, lambda x, ans: divide(1.0, sqrt(x * x + 1.0)))
arccosh_p = safe_unary("arccosh", math.acosh, np.arccosh,
                       lambda x, ans: divide(1.0, sqrt((x - 1.0) * (x + 1.0))))
arctanh_p = safe_unary("arctanh", math.atanh, np.arctanh, lambda x, ans: divide(1.0, (1.0 - x) * (1.0 + x)))
exp_p = unary("exp", math.exp, np.exp, lambda x, ans: ans)
exp2_p = unary("exp2", lambda x: 2.0 ** x, np.exp2, lambda x, ans: ans * _LN2)
expm1_p = unary("expm1", math.expm1, np.expm1, lambda x, ans: ans + 1.0)
log_p = safe_unary("log", math.log, np.log, lambda x, ans: divide(1.0, x))
log2_p = safe_unary("log2", math.log2, np.log2, lambda x, ans: divide(1.0, x * _LN2))
log10_p = safe_unary("log10", math.log10, np.log10, lambda x, ans: divide(1.0, x * _LN10))
log1p_p = safe_unary("log1p", math.log1p, np.log1p, lambda x, ans: divide(1.0, 1.0 + x))
sqrt_p = safe_unary("sqrt", math.sqrt, np.sqrt, lambda x, ans: divide(0.5, ans))
cbrt_p = safe_unary("cbrt", None, np.cbrt, lambda x, ans: divide(1.0, 3.0 * ans * ans))

sin, cos, tan = _call(sin_p), _call(cos_p), _call(tan_p)
arcsin, arccos, arctan = _call(arcsin_p), _call(arccos_p), _call(arctan_p)
sinh, cosh, tanh = _call(sinh_p), _call(cosh_p), _call(tanh_p)
arcsinh, arccosh, arctanh = _call(arcsinh_p), _call(arccosh_p), _call(arctanh_p)
exp, exp2, expm1 = _call(exp_p), _call(exp2_p), _call(expm1_p)
log, log2, log10, log1p = _call(log_p), _call(log2_p), _call(log10_p), _call(log1p_p)
sqrt, cbrt = _call(sqrt_p), _call(cbrt_p)


def negative(x):
    return bind(neg_p, x)


# abs: real inputs -> sign(x); complex inputs -> conj(x)/|x| (JAX's convention)
def _abs_deriv(x, ans):
    if np.iscomplexobj(np.empty(0, dtype_of(x))):
        return divide(conj(x), select(ans == 0, np.ones(shape_of(ans)), ans))
    return sign(x)


abs_p = Primitive("abs", _unary_impl(abs, np.abs))
defjvp(abs_p, lambda t, ans, x: real(t * _abs_deriv(x, ans)) if _is_complex(x) else t * sign(x))
defvjp(abs_p, lambda g, ans, x: g * _abs_deriv(x, ans))


def _is_complex(x):
    return dtype_of(x).kind == "c"


def absolute(x):
    return bind(abs_p, x)


# ------------------------------------------------- complex parts (linear) --

real_p = Primitive("real", np.real)
deflinear(real_p, lambda g, ans, x: g * (1 + 0j) if _is_complex(x) else g)
imag_p = Primitive("imag", np.imag)
deflinear(imag_p, lambda g, ans, x: g * -1j if _is_complex(x) else zeros_of(g))
conj_p = Primitive("conj", np.conjugate)
deflinear(conj_p, lambda g, ans, x: conj(g))
real, imag, conj = _call(real_p), _call(imag_p), _call(conj_p)


# ------------------------------------------------- piecewise constant ------

def _nondiff(name, fn, reason=None):
    p = Primitive(name, fn)
    defnondiff(p, reason or "piecewise constant: zero derivative where it exists")
    return p


sign_p = _nondiff("sign", np.sign)
floor_p = _nondiff("floor", np.floor)
ceil_p = _nondiff("ceil", np.ceil)
round_p = Primitive("round", lambda x, decimals=0: np.round(x, decimals))
defnondiff(round_p)
trunc_p = _nondiff("trunc", np.trunc)
isnan_p = _nondiff("isnan", np.isnan, "boolean result")
isinf_p = _nondiff("isinf", np.isinf, "boolean result")
isfinite_p = _nondiff("isfinite", np.isfinite, "boolean result")
logical_not_p = _nondiff("logical_not", np.logical_not, "boolean result")
sign, floor, ceil, trunc = _call(sign_p), _call(floor_p), _call(ceil_p), _call(trunc_p)
isnan, isinf, isfinite = _call(isnan_p), _call(isinf_p), _call(isfinite_p)
logical_not = _call(logical_not_p)


def round(x, decimals=0):  # noqa: A001  (mirrors numpy.round)
    return bind(round_p, x, decimals=decimals)


def _binary_nondiff(name, op, np_fn):
    def impl(x, y):
        if type(x) is float and type(y) is float:
            return op(x, y)
        return np_fn(x, y)
    return _nondiff(name, impl, "comparison or logical operation: boolean result")


lt_p = _binary_nondiff("less", operator.lt, np.less)
le_p = _binary_nondiff("less_equal", operator.le, np.less_equal)
gt_p = _binary_nondiff("greater", operator.gt, np.greater)
ge_p = _binary_nondiff("greater_equal", operator.ge, np.greater_equal)
eq_p = _binary_nondiff("equal", operator.eq, np.equal)
ne_p = _binary_nondiff("not_equal", operator.ne, np.not_equal)
and_p = _nondiff("logical_and", np.logical_and, "boolean result")
or_p = _nondiff("logical_or", np.logical_or, "boolean result")
xor_p = _nondiff("logical_xor", np.logical_xor, "boolean result")
floor_divide_p = _nondiff("floor_divide", np.floor_divide)


def _bin(p):
    return lambda x, y: bind(p, x, y)


less, less_equal, greater, greater_equal = _bin(lt_p), _bin(le_p), _bin(gt_p), _bin(ge_p)
equal, not_equal = _bin(eq_p), _bin(ne_p)
logical_and, logical_or, logical_xor = _bin(and_p), _bin(or_p), _bin(xor_p)
floor_divide = _bin(floor_divide_p)


# ---------------------------------------------------------------- binary ---

def unbroadcast(x, g):
    """Sum cotangent `g` down to the shape of `x` (undoing NumPy broadcasting)."""
    if type(g) is float:
        return g
    if dtype_of(g).kind == "c" and dtype_of(x).kind != "c":
        g = real(g)          # a real input's cotangent is real (JAX's convention)
    xs = shape_of(x)
    gs = shape_of(g)
    if xs == gs:
        return g
    lead = len(gs) - len(xs)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(xs) if n == 1 and gs[i + lead] != 1)
    if axes:
        g = R.sum(g, axis=axes)
    return S.reshape(g, xs) if shape_of(g) != xs else g


def _div_impl(x, y):
    try:
        return x / y
    except ZeroDivisionError:
        return np.true_divide(np.float64(x), y)


def _pow_impl(x, y):
    if type(x) is int and type(y) is int:      # Python ints keep Python's exact powers
        return x ** y
    if type(x) is float and (type(y) is float or type(y) is int):
        try:
            return math.pow(x, y)
        except (ValueError, OverflowError):
            pass
    return np.power(x, y)


def _lift(t, ans):
    """A tangent broadcast to the output's shape (when the other operand broadcast it)."""
    return t if shape_of(t) == shape_of(ans) else S.broadcast_to(t, shape_of(ans))


add_p = Primitive("add", operator.add)
defjvp(add_p, lambda t, ans, x, y: _lift(t, ans), lambda t, ans, x, y: _lift(t, ans))
defvjp(add_p, lambda g, ans, x, y: unbroadcast(x, g), lambda g, ans, x, y: unbroadcast(y, g))
sub_p = Primitive("subtract", operator.sub)
defjvp(sub_p, lambda t, ans, x, y: _lift(t, ans), lambda t, ans, x, y: _lift(-t, ans))
defvjp(sub_p, lambda g, ans, x, y: unbroadcast(x, g), lambda g, ans, x, y: unbroadcast(y, -g))

mul_p = Primitive("multiply", operator.mul)
defjvp(mul_p, lambda t, ans, x, y: t * y, lambda t, ans, x, y: x * t)
def _mul_ct(g, other):
    """The cotangent g * other of a product: a zero g stays zero even where `other` is inf
    (x * log(x) at 0 in the untaken branch of `where` must not give nan)."""
    for a, b in ((g, other), (other, g)):
        if type(a) in (float, int) and math.isfinite(a):      # a finite constant factor
            return zeros_of(b) if a == 0 else a * b
    return safe_mul(g, other)


defvjp(mul_p, lambda g, ans, x, y: unbroadcast(x, _mul_ct(g, y)), lambda g, ans, x, y: unbroadcast(y, _mul_ct(g, x)))


def _safe_mul_impl(g, d):
    if type(g) is float and type(d) is float:
        p = g * d
        return 0.0 if p != p and (g == 0.0 or d == 0.0) else p
    small, large = (g, d) if np.size(g) <= np.size(d) else (d, g)
    if np.isfinite(small).all() and not np.any(small == 0):
        return np.multiply(g, d)            # no 0 * inf possible: the common case, checked cheaply
    with np.errstate(invalid="ignore"):
        prod = np.multiply(g, d)
        if np.isnan(prod).any():            # only 0 * inf (or 0 * nan) needs the mask
            prod = np.where(np.isnan(prod) & ((np.asarray(g) == 0) | (np.asarray(d) == 0)), 0.0, prod)
    return prod


# g * d with a "strong zero": an exact 0 times inf or nan is 0.  Derivative rules multiply
# by it, so a cotangent or tangent that is exactly zero because `where` masked it stays zero
# next to the infinite derivative of the untaken branch.  Bilinear, and its own rules use it
# again, so every higher derivative keeps the property.
safe_mul_p = Primitive("safe_multiply", _safe_mul_impl)
defjvp(safe_mul_p, lambda t, ans, g, d: safe_mul(t, d), lambda t, ans, g, d: safe_mul(g, t))
defvjp(safe_mul_p, lambda c, ans, g, d: unbroadcast(g, safe_mul(c, d)),
       lambda c, ans, g, d: unbroadcast(d, safe_mul(c, g)))

div_p = Primitive("divide", _div_impl)
defjvp(div_p, lambda t, ans, x, y: divide(t, y), lambda t, ans, x, y: divide(-t * ans, y))
defvjp(div_p, lambda g, ans, x, y: unbroadcast(x, safe_mul(g, divide(1.0, y))),
       lambda g, ans, x, y: unbroadcast(y, safe_mul(-g, divide(ans, y))))


def _log_or_zero(x):
    """log(x), with 0 where x == 0 (the d/dy of x**y at x = 0 for y > 0)."""
    if type(x) is float:
        return math.log(x) if x > 0 else (0.0 if x == 0 else math.nan)
    zero = x == 0
    return select(zero, zeros_of(x), log(select(zero, np.ones(shape_of(x), dtype_of(x)), x)))


pow_p = Primitive("power", _pow_impl)
def _pow_deriv(x, y):
    """d(x**y)/dx = y x^(y-1), which is 0 (not 0 * inf) where y == 0."""
    if type(y) in (int, float):
        if y == 0:
            return None
        return y * x if y == 2 else y * power(x, y - 1)
    # only the point x == y == 0 is singular (0 * 0**-1); elsewhere keep y * x**(y-1) whole,
    # so its derivative with respect to y stays right
    singular = logical_and(equal(x, 0), equal(y, 0))
    return y * power(select(singular, np.ones(shape_of(x), dtype_of(x)), x), y - 1.0)


def _pow_dx_jvp(t, ans, x, y):
    d = _pow_deriv(x, y)
    return None if d is None else t * d


def _pow_dx(g, ans, x, y):
    d = _pow_deriv(x, y)
    if d is None:
        return None
    if type(y) in (int, float) and y >= 1:        # no singular point of its own
        return unbroadcast(x, _mul_ct(g, d))
    return unbroadcast(x, safe_mul(g, d))


defjvp(pow_p, _pow_dx_jvp, lambda t, ans, x, y: t * (ans * _log_or_zero(x)))


defvjp(pow_p, _pow_dx,
       lambda g, ans, x, y: unbroadcast(y, safe_mul(g, ans * _log_or_zero(x))))

arctan2_p = Primitive("arctan2", lambda y, x: math.atan2(y, x) if type(y) is float and type(x) is float
                      else np.arctan2(y, x))
defjvp(arctan2_p, lambda t, ans, y, x: divide(t * x, x * x + y * y),
       lambda t, ans, y, x: divide(-t * y, x * x + y * y))
defvjp(arctan2_p, lambda g, ans, y, x: unbroadcast(y, safe_mul(g, divide(x, x * x + y * y))),
       lambda g, ans, y, x: unbroadcast(x, safe_mul(g, divide(-y, x * x + y * y))))

hypot_p = Primitive("hypot", lambda x, y: math.hypot(x, y) if type(x) is float and type(y) is float
                    else np.hypot(x, y))


def _hypot_share(x, ans):
    """d hypot(x, y) / dx = x / hypot(x, y); 0 at the origin (like abs'(0) = 0: a subgradient)."""
    if type(ans) is float:
        return x / ans if ans else 0.0
    zero = equal(ans, 0)
    return select(zero, 0.0, divide(x, select(zero, 1.0, ans)))      # constant 0 there, at every order


defjvp(hypot_p, lambda t, ans, x, y: t * _hypot_share(x, ans), lambda t, ans, x, y: t * _hypot_share(y, ans))
defvjp(hypot_p, lambda g, ans, x, y: unbroadcast(x, safe_mul(g, _hypot_share(x, ans))),
       lambda g, ans, x, y: unbroadcast(y, safe_mul(g, _hypot_share(y, ans))))


def _tie_weights(x, y, ans):
    """Where x wins (1), loses (0) or ties (1/2): the share of the derivative x gets."""
    if type(ans) is float:                       # scalar code (x and y are plain numbers)
        return 0.5 if x == y else (1.0 if x == ans else 0.0)
    dt = dtype_of(ans)
    return select(x == y, np.full(shape_of(ans), 0.5, dt), S.astype(x == ans, dt))


maximum_p = Primitive("maximum", np.maximum)
minimum_p = Primitive("minimum", np.minimum)
for _p in (maximum_p, minimum_p):
    defjvp(_p, lambda t, ans, x, y: t * _tie_weights(x, y, ans),
           lambda t, ans, x, y: t * _tie_weights(y, x, ans))
    defvjp(_p, lambda g, ans, x, y: unbroadcast(x, g * _tie_weights(x, y, ans)),
           lambda g, ans, x, y: unbroadcast(y, g * _tie_weights(y, x, ans)))

logaddexp_p = Primitive("logaddexp", np.logaddexp)
defjvp(logaddexp_p, lambda t, ans, x, y: t * exp(x - ans), lambda t, ans, x, y: t * exp(y - ans))
defvjp(logaddexp_p, lambda g, ans, x, y: unbroadcast(x, g * exp(x - ans)),
       lambda g, ans, x, y: unbroadcast(y, g * exp(y - ans)))

mod_p = Primitive("remainder", np.remainder)
defjvp(mod_p, lambda t, ans, x, y: _lift(t, ans), lambda t, ans, x, y: -t * floor_divide(x, y))
defvjp(mod_p, lambda g, ans, x, y: unbroadcast(x, g),
       lambda g, ans, x, y: unbroadcast(y, -g * floor_divide(x, y)))

add, subtract, multiply, divide = _bin(add_p), _bin(sub_p), _bin(mul_p), _bin(div_p)
power, arctan2, hypot = _bin(pow_p), _bin(arctan2_p), _bin(hypot_p)
maximum, minimum, logaddexp, remainder = _bin(maximum_p), _bin(minimum_p), _bin(logaddexp_p), _bin(mod_p)


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
    small = z <= 1.0
    zz = np.where(small, 1.0, z)
    k = np.minimum(np.floor(zz), n)                  # the largest Leibniz term is near k = |pi x|
    loss = math.lgamma(n + 1) - np.vectorize(math.lgamma, otypes=[float])(k + 1) - (n - k) * np.log(zz)
    far = ~small & (loss <= math.log(10.0))
    mid = ~small & ~far
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


sinc_p = Primitive("sinc", _sinc_impl)
defjvp(sinc_p, lambda t, ans, x, n=0: t * bind(sinc_p, x, n=n + 1))
defvjp(sinc_p, lambda g, ans, x, n=0: g * bind(sinc_p, x, n=n + 1))


def sinc(x):
    """sin(pi x) / (pi x), 1 at 0 (NumPy's normalised sinc); exact derivatives of every order."""
    return bind(sinc_p, x, n=0)


# ------------------------------------------------------- select (where) ----

_PY_NUMBERS = (float, int, bool, complex)


def _select_impl(c, x, y):
    if type(c) is bool and type(x) in _PY_NUMBERS and type(y) in _PY_NUMBERS:     # scalar code
        return x if c else y
    return np.where(c, x, y)        # broadcasts x and y against each other, even for a bool c


select_p = Primitive("select", _select_impl)
deflinear(select_p, None,
          lambda g, ans, c, x, y: unbroadcast(x, select(c, g, zeros_of(g))),
          lambda g, ans, c, x, y: unbroadcast(y, select(c, zeros_of(g), g)))


def _select_jvp(primals, tangents, params):
    (c, x, y), (_, tx, ty) = primals, tangents
    ans = bind(select_p, c, x, y)
    if tx is None and ty is None:
        return ans, None
    zero = np.zeros((), dtype_of(ans))      # the result's dtype: a constant side adds no float64
    return ans, _lift(bind(select_p, c, zero if tx is None else tx, zero if ty is None else ty), ans)


jvp_rules[select_p] = _select_jvp


def select(c, x, y):
    """`numpy.where(c, x, y)`; the derivative flows only through the chosen side."""
    return bind(select_p, c, x, y)


stop_gradient_p = Primitive("stop_gradient", lambda x: x)
defnondiff(stop_gradient_p, "its derivative is zero by definition")


def stop_gradient(x):
    """The value of `x`, treated as a constant by every derivative transformation."""
    return bind(stop_gradient_p, x)

