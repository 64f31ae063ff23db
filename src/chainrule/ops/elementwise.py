"""Elementwise primitives, each one a block: implementation, JVP, VJP, batching and Taylor
rules, and how code generators and the SymPy bridge write it (`rules.Scalar`).

Unary implementations call the `math` module on Python floats (a fast path
for scalar code) and NumPy otherwise; where `math` raises (a domain error,
an overflow) NumPy's answer (nan, inf, with its warning) is used instead.

(Some 60 primitives, one block each: the module is long because the family is large.)
"""
from __future__ import annotations

import math
import operator

import numpy as np

from ..core import Primitive, Tracer, bind, shape_of, dtype_of
from ..rules import defjvp, defvjp, deflinear, defnondiff, defscalar, jvp_rules, batch_rules, taylor_rules
from . import batch_rules as B
from . import reductions as R
from . import series as T
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


def defelementwise(p, taylor=None, **scalar):
    """Give elementwise primitive `p` the broadcasting batching rule, its Taylor rule (if
    any: a nondiff primitive needs none) and its `rules.Scalar` form (keywords)."""
    batch_rules[p] = B.elementwise(p)
    if taylor is not None:
        taylor_rules[p] = taylor
    defscalar(p, **scalar)
    return p


def unary(name, math_fn, np_fn, deriv, taylor, safe=False, **scalar):
    """A unary primitive: `math_fn` on Python floats (where it does not raise), `np_fn` on the
    rest; derivative ``deriv(x, ans)`` (a function of values); Taylor series
    ``taylor(x_series, ans)``; `rules.Scalar` keywords (``numpy=`` defaults to np_fn's name
    when it is NumPy's function).

    `safe`: the derivative is infinite at a singular point; a zero cotangent stays zero there
    (0 * inf = 0), so the untaken branch of `where` cannot turn a gradient into nan.
    """
    p = Primitive(name, _unary_impl(math_fn, np_fn))
    defjvp(p, lambda t, ans, x: t * deriv(x, ans))
    defvjp(p, (lambda g, ans, x: safe_mul(g, deriv(x, ans))) if safe else
           (lambda g, ans, x: g * deriv(x, ans)))
    if "numpy" not in scalar and getattr(np, getattr(np_fn, "__name__", ""), None) is np_fn:
        scalar["numpy"] = np_fn.__name__
    return defelementwise(p, T.unary(p, taylor), **scalar)


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
defelementwise(neg_p, T.linear(neg_p), numpy="negative", sympy=lambda sp, x: -x)

def _sin_series(x, ans):
    return T.s_sincos(x, ans, cos(x[0]))[0]


def _cos_series(x, ans):
    return T.s_sincos(x, sin(x[0]), ans)[1]


def _sinh_series(x, ans):
    return T.s_sincos(x, ans, cosh(x[0]), hyperbolic=True)[0]


def _cosh_series(x, ans):
    return T.s_sincos(x, sinh(x[0]), ans, hyperbolic=True)[1]


def _d_arcsin(x):
    """Series of 1 / sqrt(1 - x^2)."""
    u = T.one_minus_sq(x, (1.0 - x[0]) * (1.0 + x[0]))
    return T.s_pow(u, -0.5, 1.0 / sqrt(u[0]))


def _d_arcsinh(x):
    u = T.one_plus_sq(x, x[0] * x[0] + 1.0)
    return T.s_pow(u, -0.5, 1.0 / sqrt(u[0]))


def _d_arccosh(x):
    u = T.one_plus_sq(x, (x[0] - 1.0) * (x[0] + 1.0))
    return T.s_pow(u, -0.5, 1.0 / sqrt(u[0]))


def _expm1_series(x, ans):
    out = T.s_exp(x, ans + 1.0)
    out[0] = ans
    return out


def _log_base_series(c):
    def fn(x, ans):
        out = T.s_log(x, ans)
        return [ans] + [None if v is None else v / c for v in out[1:]]
    return fn


def _cbrt_series(x, ans):
    if isinstance(x[0], Tracer) or T.has_zero(x[0]):
        return T.s_pow_at_zero(x, 1.0 / 3.0, ans)
    return T.s_pow(x, 1.0 / 3.0, ans)


def _real_cbrt(sp, x):
    """The real cube root (NumPy's cbrt), not SymPy's principal root."""
    third = sp.Rational(1, 3)
    return sp.Piecewise((-((-x) ** third), x < 0), (x ** third, True))


sin_p = unary("sin", math.sin, np.sin, lambda x, ans: cos(x), _sin_series, libm="sin", sympy="sin")
cos_p = unary("cos", math.cos, np.cos, lambda x, ans: -sin(x), _cos_series, libm="cos", sympy="cos")
tan_p = unary("tan", math.tan, np.tan, lambda x, ans: 1.0 + ans * ans,
              lambda x, ans: T.s_tan(x, ans, 1.0), libm="tan", sympy="tan")
arcsin_p = unary("arcsin", math.asin, np.arcsin, lambda x, ans: divide(1.0, sqrt(1.0 - x * x)),
                 T.via_derivative(_d_arcsin), libm="asin", sympy="asin", safe=True)
arccos_p = unary("arccos", math.acos, np.arccos, lambda x, ans: divide(-1.0, sqrt(1.0 - x * x)),
                 T.via_derivative(lambda x: T.scale_all(_d_arcsin(x), -1.0)), libm="acos", sympy="acos",
                 safe=True)
arctan_p = unary("arctan", math.atan, np.arctan, lambda x, ans: divide(1.0, 1.0 + x * x),
                 T.via_derivative(lambda x: T.s_recip(T.one_plus_sq(x, 1.0 + x[0] * x[0]))),
                 libm="atan", sympy="atan")
sinh_p = unary("sinh", math.sinh, np.sinh, lambda x, ans: cosh(x), _sinh_series, libm="sinh", sympy="sinh")
cosh_p = unary("cosh", math.cosh, np.cosh, lambda x, ans: sinh(x), _cosh_series, libm="cosh", sympy="cosh")
tanh_p = unary("tanh", math.tanh, np.tanh, lambda x, ans: 1.0 - ans * ans,
               lambda x, ans: T.s_tan(x, ans, -1.0), libm="tanh", sympy="tanh")
arcsinh_p = unary("arcsinh", math.asinh, np.arcsinh, lambda x, ans: divide(1.0, sqrt(x * x + 1.0)),
                  T.via_derivative(_d_arcsinh), libm="asinh", sympy="asinh")
arccosh_p = unary("arccosh", math.acosh, np.arccosh,
                  lambda x, ans: divide(1.0, sqrt((x - 1.0) * (x + 1.0))),
                  T.via_derivative(_d_arccosh), libm="acosh", sympy="acosh", safe=True)
arctanh_p = unary("arctanh", math.atanh, np.arctanh, lambda x, ans: divide(1.0, (1.0 - x) * (1.0 + x)),
                  T.via_derivative(lambda x: T.s_recip(T.one_minus_sq(x, (1.0 - x[0]) * (1.0 + x[0])))),
                  libm="atanh", sympy="atanh", safe=True)
exp_p = unary("exp", math.exp, np.exp, lambda x, ans: ans, T.s_exp, libm="exp", sympy="exp")
exp2_p = unary("exp2", lambda x: 2.0 ** x, np.exp2, lambda x, ans: ans * _LN2,
               lambda x, ans: T.s_exp(T.scale(x, _LN2), ans), libm="exp2", pymath=False,
               sympy=lambda sp, x: sp.Integer(2) ** x)
expm1_p = unary("expm1", math.expm1, np.expm1, lambda x, ans: ans + 1.0, _expm1_series, libm="expm1",
                sympy=lambda sp, x: sp.exp(x) - 1)
log_p = unary("log", math.log, np.log, lambda x, ans: divide(1.0, x), T.s_log, libm="log", sympy="log",
              safe=True)
log2_p = unary("log2", math.log2, np.log2, lambda x, ans: divide(1.0, x * _LN2), _log_base_series(_LN2),
               libm="log2", sympy=lambda sp, x: sp.log(x, 2), safe=True)
log10_p = unary("log10", math.log10, np.log10, lambda x, ans: divide(1.0, x * _LN10),
                _log_base_series(_LN10), libm="log10", sympy=lambda sp, x: sp.log(x, 10), safe=True)
log1p_p = unary("log1p", math.log1p, np.log1p, lambda x, ans: divide(1.0, 1.0 + x),
                lambda x, ans: T.s_log([1.0 + x[0]] + list(x[1:]), ans), libm="log1p",
                sympy=lambda sp, x: sp.log(1 + x), safe=True)
sqrt_p = unary("sqrt", math.sqrt, np.sqrt, lambda x, ans: divide(0.5, ans), T.s_sqrt, libm="sqrt",
               sympy="sqrt", safe=True)
cbrt_p = unary("cbrt", None, np.cbrt, lambda x, ans: divide(1.0, 3.0 * ans * ans), _cbrt_series,
               libm="cbrt", pymath=False, sympy=_real_cbrt, safe=True)

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


def _abs_series(series):
    x = series[0]
    if _is_complex(x[0]):
        return _abs_complex_series(series)
    sgn = sign(x[0])
    return [bind(abs_p, x[0])] + [None if v is None else v * sgn for v in x[1:]]


abs_p = Primitive("abs", _unary_impl(abs, np.abs))
defjvp(abs_p, lambda t, ans, x: real(t * _abs_deriv(x, ans)) if _is_complex(x) else t * sign(x))
defvjp(abs_p, lambda g, ans, x: g * _abs_deriv(x, ans))
defelementwise(abs_p, _abs_series, numpy="abs", libm="fabs", sympy="Abs")


def _abs_complex_series(series):
    """|x| of a complex series: sqrt(x conj(x)), real."""
    x = series[0]
    xc = [None if v is None else conj(v) for v in x]
    sq = T.s_mul(x, xc)
    ans = bind(abs_p, x[0])
    out = T.s_sqrt([ans * ans] + [None if v is None else real(v) for v in sq[1:]], ans)
    return out


def _is_complex(x):
    return dtype_of(x).kind == "c"


def absolute(x):
    return bind(abs_p, x)


# ------------------------------------------------- complex parts (linear) --

real_p = Primitive("real", np.real)
deflinear(real_p, lambda g, ans, x: g * (1 + 0j) if _is_complex(x) else g)
defelementwise(real_p, T.linear(real_p), numpy="real", sympy="re")
imag_p = Primitive("imag", np.imag)
deflinear(imag_p, lambda g, ans, x: g * -1j if _is_complex(x) else zeros_of(g))
defelementwise(imag_p, T.linear(imag_p), numpy="imag", sympy="im")
conj_p = Primitive("conj", np.conjugate)
deflinear(conj_p, lambda g, ans, x: conj(g))
defelementwise(conj_p, T.linear(conj_p), numpy="conjugate", sympy="conjugate")
real, imag, conj = _call(real_p), _call(imag_p), _call(conj_p)


# ------------------------------------------------- piecewise constant ------

def _nondiff(name, fn, reason=None, **scalar):
    p = Primitive(name, fn)
    defnondiff(p, reason or "piecewise constant: zero derivative where it exists")
    return defelementwise(p, **scalar)


def _sympy_trunc(sp, x):
    return sp.Piecewise((sp.floor(x), x >= 0), (sp.ceiling(x), True))


sign_p = _nondiff("sign", np.sign, numpy="sign", sympy="sign")
floor_p = _nondiff("floor", np.floor, numpy="floor", libm="floor", pymath=False, sympy="floor")
ceil_p = _nondiff("ceil", np.ceil, numpy="ceil", libm="ceil", pymath=False, sympy="ceiling")
round_p = _nondiff("round", lambda x, decimals=0: np.round(x, decimals))
trunc_p = _nondiff("trunc", np.trunc, numpy="trunc", libm="trunc", pymath=False, sympy=_sympy_trunc)
isnan_p = _nondiff("isnan", np.isnan, "boolean result", numpy="isnan")
isinf_p = _nondiff("isinf", np.isinf, "boolean result", numpy="isinf")
isfinite_p = _nondiff("isfinite", np.isfinite, "boolean result", numpy="isfinite")
logical_not_p = _nondiff("logical_not", np.logical_not, "boolean result", numpy="logical_not", sympy="Not")
sign, floor, ceil, trunc = _call(sign_p), _call(floor_p), _call(ceil_p), _call(trunc_p)
isnan, isinf, isfinite = _call(isnan_p), _call(isinf_p), _call(isfinite_p)
logical_not = _call(logical_not_p)


def round(x, decimals=0):  # noqa: A001  (mirrors numpy.round)
    return bind(round_p, x, decimals=decimals)


def _comparison(name, op, symbol, np_fn, sympy):
    def impl(x, y):
        if type(x) is float and type(y) is float:
            return op(x, y)
        return np_fn(x, y)
    return _nondiff(name, impl, "comparison: boolean result", numpy=np_fn.__name__, op=symbol, sympy=sympy)


lt_p = _comparison("less", operator.lt, "<", np.less, "Lt")
le_p = _comparison("less_equal", operator.le, "<=", np.less_equal, "Le")
gt_p = _comparison("greater", operator.gt, ">", np.greater, "Gt")
ge_p = _comparison("greater_equal", operator.ge, ">=", np.greater_equal, "Ge")
eq_p = _comparison("equal", operator.eq, "==", np.equal, "Eq")
ne_p = _comparison("not_equal", operator.ne, "!=", np.not_equal, "Ne")
and_p = _nondiff("logical_and", np.logical_and, "boolean result", numpy="logical_and", sympy="And")
or_p = _nondiff("logical_or", np.logical_or, "boolean result", numpy="logical_or", sympy="Or")
xor_p = _nondiff("logical_xor", np.logical_xor, "boolean result", numpy="logical_xor", sympy="Xor")
floor_divide_p = _nondiff("floor_divide", np.floor_divide, numpy="floor_divide",
                          sympy=lambda sp, x, y: sp.floor(x / y))


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
defelementwise(add_p, lambda s: [add(s[0][0], s[1][0])] + [T.add(a, b) for a, b in zip(s[0][1:], s[1][1:])],
               numpy="add", op="+", sympy=lambda sp, x, y: x + y)
sub_p = Primitive("subtract", operator.sub)
defjvp(sub_p, lambda t, ans, x, y: _lift(t, ans), lambda t, ans, x, y: _lift(-t, ans))
defvjp(sub_p, lambda g, ans, x, y: unbroadcast(x, g), lambda g, ans, x, y: unbroadcast(y, -g))
defelementwise(sub_p, lambda s: [subtract(s[0][0], s[1][0])] + [T.sub(a, b) for a, b in zip(s[0][1:], s[1][1:])],
               numpy="subtract", op="-", sympy=lambda sp, x, y: x - y)


def _product_series(p):
    def rule(series):
        x, y = series
        out = T.s_mul(x, y)
        out[0] = bind(p, x[0], y[0])
        return out
    return rule


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
defelementwise(mul_p, _product_series(mul_p), numpy="multiply", op="*", sympy=lambda sp, x, y: x * y)


_FLOAT_SCALARS = (float, np.float64)


def _safe_mul_impl(g, d):
    if type(g) is float and type(d) is float:
        p = g * d
        return 0.0 if p != p and (g == 0.0 or d == 0.0) else p
    if type(g) in _FLOAT_SCALARS and type(d) in _FLOAT_SCALARS:     # NumPy scalars: as Python floats
        p = float(g) * float(d)
        return np.float64(0.0 if p != p and (g == 0.0 or d == 0.0) else p)
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
defelementwise(safe_mul_p, _product_series(safe_mul_p), sympy=lambda sp, x, y: x * y)


def _div_series(series):
    x, z = series
    q0 = divide(x[0], z[0])
    if T.is_const(z):
        return [q0] + [None if v is None else v / z[0] for v in x[1:]]
    return T.s_div(x, z, q0)


div_p = Primitive("divide", _div_impl)
defjvp(div_p, lambda t, ans, x, y: divide(t, y), lambda t, ans, x, y: divide(-t * ans, y))
defvjp(div_p, lambda g, ans, x, y: unbroadcast(x, safe_mul(g, divide(1.0, y))),
       lambda g, ans, x, y: unbroadcast(y, safe_mul(-g, divide(ans, y))))
defelementwise(div_p, _div_series, numpy="divide", op="/", sympy=lambda sp, x, y: x / y)


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


def _pow_series(series):
    x, y = series
    ans = power(x[0], y[0])
    n = len(x)
    if T.is_const(y):
        r = y[0]
        ri = T.small_int(r)
        if ri == 0:
            return [ans] + [None] * (n - 1)
        if ri == 1:
            return [ans] + list(x[1:])
        # exact powering where the base may be 0 (the recurrence divides by x0); a
        # traced base is not read (under jit a read would become a guard on its value)
        maybe_zero = isinstance(x[0], Tracer) or T.has_zero(x[0])
        if ri is not None and (ri == 2 or maybe_zero):
            out = T.s_int_power(x, ri)
            out[0] = ans
            return out
        if ri is None and maybe_zero:
            if T.small_int_array(r):
                return T.s_int_array_power(x, r, ans)
            return T.s_pow_at_zero(x, r, ans)
        return T.s_pow(x, r, ans)
    if T.is_const(x):                        # c^y = exp(y log c)
        return T.s_exp(T.scale(y, _log_or_zero(x[0])), ans)
    return T.s_exp(T.s_mul(y, T.s_log(x, log(x[0]))), ans)


defelementwise(pow_p, _pow_series, numpy="power", libm="pow", sympy=lambda sp, x, y: x ** y)


def _arctan2_series(series):
    """z = arctan2(y, x):  z' = (x y' - y x') / (x^2 + y^2)."""
    y, x = series
    n = len(x)
    ans = arctan2(y[0], x[0])
    if n == 1:
        return [ans]
    xt, yt = x[:n - 1], y[:n - 1]
    num = [T.sub(a, b) for a, b in zip(T.s_mul(xt, T.deriv_series(y)), T.s_mul(yt, T.deriv_series(x)))]
    den = [T.add(a, b) for a, b in zip(T.s_mul(xt, xt), T.s_mul(yt, yt))]
    den[0] = x[0] * x[0] + y[0] * y[0]
    if num[0] is None:
        num[0] = zeros_of(ans)
    q = T.s_div(num, den)
    return [ans] + [None if v is None else v / (k + 1) for k, v in enumerate(q)]


arctan2_p = Primitive("arctan2", lambda y, x: math.atan2(y, x) if type(y) is float and type(x) is float
                      else np.arctan2(y, x))
defjvp(arctan2_p, lambda t, ans, y, x: divide(t * x, x * x + y * y),
       lambda t, ans, y, x: divide(-t * y, x * x + y * y))
defvjp(arctan2_p, lambda g, ans, y, x: unbroadcast(y, safe_mul(g, divide(x, x * x + y * y))),
       lambda g, ans, y, x: unbroadcast(x, safe_mul(g, divide(-y, x * x + y * y))))
defelementwise(arctan2_p, _arctan2_series, numpy="arctan2", libm="atan2", sympy="atan2")

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


def _hypot_series(series):
    x, y = series
    ans = hypot(x[0], y[0])
    ssq = [None] + [T.add(a, b) for a, b in zip(T.s_mul(x, x)[1:], T.s_mul(y, y)[1:])]
    if type(ans) is float:
        return T.s_sqrt(ssq, ans) if ans else [ans] + [None] * (len(x) - 1)
    # at the origin every coefficient is 0, as the first-order rules give (like abs at 0)
    zero = equal(ans, 0.0)
    out = T.s_sqrt(ssq, select(zero, 1.0, ans))
    return [ans] + [None if v is None else select(zero, 0.0, v) for v in out[1:]]


defelementwise(hypot_p, _hypot_series, numpy="hypot", libm="hypot",
               sympy=lambda sp, x, y: sp.sqrt(x ** 2 + y ** 2))


def _tie_weights(x, y, ans):
    """Where x wins (1), loses (0) or ties (1/2): the share of the derivative x gets."""
    if type(ans) is float:                       # scalar code (x and y are plain numbers)
        return 0.5 if x == y else (1.0 if x == ans else 0.0)
    dt = dtype_of(ans)
    return select(x == y, np.full(shape_of(ans), 0.5, dt), S.astype(x == ans, dt))


def _extremum_series(p):
    """y_k = wx x_k + wy y_k with the tie weights of the primal."""
    def rule(series):
        x, y = series
        ans = bind(p, x[0], y[0])
        wx, wy = _tie_weights(x[0], y[0], ans), _tie_weights(y[0], x[0], ans)
        return [ans] + [T.add(None if a is None else a * wx, None if b is None else b * wy)
                        for a, b in zip(x[1:], y[1:])]
    return rule


# maximum/minimum propagate nan; fmax/fmin (C's fmax/fmin) return the other argument
# instead, and so does their derivative (a nan side never equals the result: weight 0)
maximum_p = Primitive("maximum", np.maximum)
minimum_p = Primitive("minimum", np.minimum)
fmax_p = Primitive("fmax", np.fmax)
fmin_p = Primitive("fmin", np.fmin)
for _p, _libm, _sympy in ((maximum_p, None, "Max"), (minimum_p, None, "Min"),
                          (fmax_p, "fmax", "Max"), (fmin_p, "fmin", "Min")):
    defjvp(_p, lambda t, ans, x, y: t * _tie_weights(x, y, ans),
           lambda t, ans, x, y: t * _tie_weights(y, x, ans))
    defvjp(_p, lambda g, ans, x, y: unbroadcast(x, g * _tie_weights(x, y, ans)),
           lambda g, ans, x, y: unbroadcast(y, g * _tie_weights(y, x, ans)))
    defelementwise(_p, _extremum_series(_p), numpy=_p.impl.__name__, libm=_libm, pymath=False,
                   sympy=_sympy)


def _logaddexp_series(series):
    """z = a + log(1 + exp(b - a)) with a the larger argument (by the primal)."""
    x, y = series
    ans = logaddexp(x[0], y[0])
    first = greater_equal(x[0], y[0])
    shp = shape_of(ans)

    def pick(c, a, b):
        if a is None and b is None:
            return None
        return T.bcast(select(c, 0.0 if a is None else a, 0.0 if b is None else b), shp)
    a = [pick(first, u, v) for u, v in zip(x, y)]
    b = [pick(first, v, u) for u, v in zip(x, y)]
    d = [T.sub(v, u) for u, v in zip(a, b)]
    e = T.s_exp(d, exp(d[0]))
    lv = T.s_log([1.0 + e[0]] + e[1:], log1p(e[0]))
    return [ans] + [T.add(u, w) for u, w in zip(a[1:], lv[1:])]


logaddexp_p = Primitive("logaddexp", np.logaddexp)
defjvp(logaddexp_p, lambda t, ans, x, y: t * exp(x - ans), lambda t, ans, x, y: t * exp(y - ans))
defvjp(logaddexp_p, lambda g, ans, x, y: unbroadcast(x, g * exp(x - ans)),
       lambda g, ans, x, y: unbroadcast(y, g * exp(y - ans)))
defelementwise(logaddexp_p, _logaddexp_series, numpy="logaddexp",
               sympy=lambda sp, x, y: sp.log(sp.exp(x) + sp.exp(y)))


def _remainder_series(series):
    x, y = series
    ans = remainder(x[0], y[0])
    if T.is_const(y):
        return [ans] + list(x[1:])
    q = floor_divide(x[0], y[0])         # piecewise constant
    return [ans] + [T.sub(a, None if b is None else q * b) for a, b in zip(x[1:], y[1:])]


mod_p = Primitive("remainder", np.remainder)
defjvp(mod_p, lambda t, ans, x, y: _lift(t, ans), lambda t, ans, x, y: -t * floor_divide(x, y))
defvjp(mod_p, lambda g, ans, x, y: unbroadcast(x, g),
       lambda g, ans, x, y: unbroadcast(y, -g * floor_divide(x, y)))
defelementwise(mod_p, _remainder_series, numpy="remainder", sympy="Mod")

add, subtract, multiply, divide = _bin(add_p), _bin(sub_p), _bin(mul_p), _bin(div_p)
power, arctan2, hypot = _bin(pow_p), _bin(arctan2_p), _bin(hypot_p)
maximum, minimum, logaddexp, remainder = _bin(maximum_p), _bin(minimum_p), _bin(logaddexp_p), _bin(mod_p)
fmax, fmin = _bin(fmax_p), _bin(fmin_p)


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
defelementwise(select_p, T.linear(select_p, (False, True, True)))


def select(c, x, y):
    """`numpy.where(c, x, y)`; the derivative flows only through the chosen side."""
    return bind(select_p, c, x, y)


stop_gradient_p = _nondiff("stop_gradient", lambda x: x, "its derivative is zero by definition",
                           sympy=lambda sp, x: x)


def stop_gradient(x):
    """The value of `x`, treated as a constant by every derivative transformation."""
    return bind(stop_gradient_p, x)

