"""Taylor-mode rules: one per primitive, on raw Taylor coefficients.

A rule is registered as ``rules.taylor_rules[p] = rule(series, **params)``.
`series` has one entry per positional argument of the primitive: the list
``[x0, x1, ..., xK]`` of raw Taylor coefficients of that argument (``x_k =
x^(k)(0) / k!``), where any ``x_k`` with k >= 1 may be `None` for a zero
coefficient (a constant argument is ``[c, None, ..., None]``).  The rule
returns the output's list ``[y0, y1, ..., yK]`` (`y0` the primal result, any
``y_k`` may be `None`), or one such list per result for a primitive with
several results.

The recurrences are the classical ones for univariate Taylor arithmetic
(Griewank & Walther, *Evaluating Derivatives*, 2nd ed., chapter 13): the
Cauchy product for products, the division recurrence, and for a function
with a known derivative ``y' = g(x) x'`` the integration

    y_k = (1/k) sum_{j=1..k} j x_j g_{k-j},

with ``g``'s series computed from ``x``'s (or, for exp, sin/cos, tan and
tanh, from ``y``'s own lower coefficients).  Everything is written with
Python operators and chainrule operations, so an outer transformation (grad,
jvp, vmap, jit, another jet) sees ordinary differentiable operations on the
coefficients.

Primitives with no specific rule use `generic_rule`: nested forward mode of
the primitive along the input curve (exact, but its cost doubles with each
order).  `GENERIC` names the primitives registered that way.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from ..core import Tracer, bind, primitives, shape_of, dtype_of, concrete
from ..rules import taylor_rules
from . import elementwise as E
from . import reductions as R
from . import shape as S

_FACTORIES = {}     # primitive name -> factory(p) -> rule
GENERIC = set()     # names of primitives whose registered rule is the generic one


def _defrule(*names):
    def deco(factory):
        for n in names:
            _FACTORIES[n] = factory
        return factory
    return deco


def install():
    """Register the rules of every defined primitive that has none yet."""
    for name, factory in _FACTORIES.items():
        p = primitives.get(name)
        if p is not None and p not in taylor_rules:
            taylor_rules[p] = factory(p)
    for name in GENERIC:
        p = primitives.get(name)
        if p is not None and p not in taylor_rules:
            taylor_rules[p] = generic_rule(p)


# ========================================================= series helpers ===
# A "series" is a list [s0, s1, ..., sK]; entries after the first may be None.

def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _sub(a, b):
    if b is None:
        return a
    if a is None:
        return -b
    return a - b


def _scale(s, c):
    """c * s for every coefficient of order >= 1 (s0 is kept)."""
    return [s[0]] + [None if v is None else v * c for v in s[1:]]


def _scale_all(s, c):
    """c * s, every coefficient."""
    return [None if v is None else v * c for v in s]


def _nonzero(s, start=1):
    return [(j, s[j]) for j in range(start, len(s)) if s[j] is not None]


def _is_const(s):
    for v in s[1:]:
        if v is not None:
            return False
    return True


def _div(a, b):
    """a / b, with NumPy's inf/nan (and warning) for a Python 0.0 divisor (singular points)."""
    return E.divide(a, b) if type(b) is float and b == 0.0 else a / b


def s_mul(x, y, n=None):
    """Cauchy product of two series (truncated to n terms)."""
    n = len(x) if n is None else n
    xs = _nonzero(x[:n], 0)
    ys = _nonzero(y[:n], 0)
    out = [None] * n
    for i, a in xs:
        for j, b in ys:
            k = i + j
            if k >= n:
                break
            t = a * b
            out[k] = t if out[k] is None else out[k] + t
    return out


def s_div(x, z, q0=None):
    """Series of x / z: z0 q_k = x_k - sum_{j=1..k} z_j q_{k-j}."""
    n = len(x)
    z0 = z[0]
    q = [x[0] / z0 if q0 is None else q0] + [None] * (n - 1)
    zs = _nonzero(z)
    for k in range(1, n):
        acc = x[k]
        for j, zj in zs:
            if j > k:
                break
            qk = q[k - j]
            if qk is not None:
                acc = _sub(acc, zj * qk)
        q[k] = None if acc is None else _div(acc, z0)
    return q


def s_recip(z, q0=None):
    """Series of 1 / z."""
    n = len(z)
    z0 = z[0]
    q = [1.0 / z0 if q0 is None else q0] + [None] * (n - 1)
    zs = _nonzero(z)
    for k in range(1, n):
        acc = None
        for j, zj in zs:
            if j > k:
                break
            qk = q[k - j]
            if qk is not None:
                acc = _add(acc, zj * qk)
        q[k] = None if acc is None else _div(-acc, z0)
    return q


def s_exp(u, y0):
    """Series of exp(u) given y0 = exp(u0): y_k = (1/k) sum_j j u_j y_{k-j}."""
    n = len(u)
    ju = [(j, v * j) for j, v in _nonzero(u)]
    y = [y0] + [None] * (n - 1)
    for k in range(1, n):
        acc = None
        for j, a in ju:
            if j > k:
                break
            yk = y[k - j]
            if yk is not None:
                acc = _add(acc, a * yk)
        y[k] = None if acc is None else acc / k
    return y


def s_log(x, y0):
    """Series of log(x) given y0: x0 y_k = x_k - (1/k) sum_{j=1..k-1} j y_j x_{k-j}."""
    n = len(x)
    x0 = x[0]
    y = [y0] + [None] * (n - 1)
    jy = [None] * n
    for k in range(1, n):
        acc = None
        for j in range(1, k):
            a, b = jy[j], x[k - j]
            if a is not None and b is not None:
                acc = _add(acc, a * b)
        num = _sub(x[k], None if acc is None else acc / k)
        if num is not None:
            y[k] = _div(num, x0)
            jy[k] = y[k] * k
    return y


def s_pow(x, r, y0):
    """Series of x^r (constant r, x0 != 0): k x0 y_k = sum_j ((r+1) j - k) x_j y_{k-j}."""
    n = len(x)
    x0 = x[0]
    xs = _nonzero(x)
    y = [y0] + [None] * (n - 1)
    r1 = r + 1
    for k in range(1, n):
        acc = None
        for j, xj in xs:
            if j > k:
                break
            yk = y[k - j]
            if yk is not None:
                acc = _add(acc, (r1 * j - k) * (xj * yk))
        y[k] = None if acc is None else _div(acc, k * x0)
    return y


def s_sqrt(x, y0):
    """Series of sqrt(x): 2 y0 y_k = x_k - sum_{j=1..k-1} y_j y_{k-j}."""
    n = len(x)
    y = [y0] + [None] * (n - 1)
    two_y0 = 2.0 * y0
    for k in range(1, n):
        acc = x[k]
        for j in range(1, (k + 1) // 2):
            a, b = y[j], y[k - j]
            if a is not None and b is not None:
                acc = _sub(acc, 2.0 * (a * b))
        if k % 2 == 0 and y[k // 2] is not None:
            acc = _sub(acc, y[k // 2] * y[k // 2])
        y[k] = None if acc is None else _div(acc, two_y0)
    return y


def s_integrate(x, g, y0):
    """Series of y with y' = g x' (g: the series of f'(x(t)), needed to order K-1)."""
    n = len(x)
    jx = [(j, v * j) for j, v in _nonzero(x)]
    y = [y0] + [None] * (n - 1)
    for k in range(1, n):
        acc = None
        for j, a in jx:
            if j > k:
                break
            gk = g[k - j]
            if gk is not None:
                acc = _add(acc, a * gk)
        y[k] = None if acc is None else acc / k
    return y


def s_sincos(x, s0, c0, hyperbolic=False):
    """Series of sin and cos (or sinh and cosh) together."""
    n = len(x)
    jx = [(j, v * j) for j, v in _nonzero(x)]
    s = [s0] + [None] * (n - 1)
    c = [c0] + [None] * (n - 1)
    for k in range(1, n):
        acc_s = acc_c = None
        for j, a in jx:
            if j > k:
                break
            ck, sk = c[k - j], s[k - j]
            if ck is not None:
                acc_s = _add(acc_s, a * ck)
            if sk is not None:
                acc_c = _add(acc_c, a * sk)
        s[k] = None if acc_s is None else acc_s / k
        if acc_c is not None:
            c[k] = acc_c / k if hyperbolic else acc_c / (-k)
    return s, c


def s_tan(x, y0, sign=1.0):
    """Series of tan (sign=+1: y' = (1 + y^2) x') or tanh (sign=-1: y' = (1 - y^2) x')."""
    n = len(x)
    jx = [(j, v * j) for j, v in _nonzero(x)]
    y = [y0] + [None] * (n - 1)
    w = [1.0 + sign * (y0 * y0)] + [None] * (n - 1)      # w = 1 + sign y^2
    for k in range(1, n):
        acc = None
        for j, a in jx:
            if j > k:
                break
            wk = w[k - j]
            if wk is not None:
                acc = _add(acc, a * wk)
        y[k] = None if acc is None else acc / k
        if k < n - 1:                                    # w_k = sign sum_i y_i y_{k-i}
            sq = None
            for i in range(0, (k + 1) // 2):
                a, b = y[i], y[k - i]
                if a is not None and b is not None:
                    sq = _add(sq, 2.0 * (a * b))
            if k % 2 == 0 and y[k // 2] is not None:
                sq = _add(sq, y[k // 2] * y[k // 2])
            w[k] = None if sq is None else sign * sq
    return y


def s_compose(x, a):
    """Series of f(x(t)) from f's Taylor coefficients a_n = f^(n)(x0)/n! (a[0] = f(x0))."""
    n = len(x)
    d = [None] + list(x[1:])                # x(t) - x0
    out = [a[0]] + [None] * (n - 1)
    power = d
    for m in range(1, n):
        if m > 1:
            power = s_mul(power, d)
        for k in range(m, n):
            if power[k] is not None:
                out[k] = _add(out[k], a[m] * power[k])
    return out


def _deriv_series(s):
    """Series of d/dt: (k+1) s_{k+1}, truncated to one term less."""
    return [None if v is None else v * (k + 1) for k, v in enumerate(s[1:])]


def _one_minus_sq(x, c0):
    """Series of 1 - x^2 (c0: its accurately computed constant term)."""
    sq = s_mul(x, x)
    return [c0] + [None if v is None else -v for v in sq[1:]]


def _one_plus_sq(x, c0):
    sq = s_mul(x, x)
    return [c0] + sq[1:]


def _zeros_like(x):
    return E.zeros_of(x)


def _bcast(v, shape):
    return v if shape_of(v) == shape else S.broadcast_to(v, shape)


# ============================================================ linear ops ===

def _linear_unary(p):
    def rule(series, **params):
        x = series[0]
        return [bind(p, x[0], **params)] + [None if v is None else bind(p, v, **params) for v in x[1:]]
    return rule


_defrule("neg", "reshape", "transpose", "broadcast_to", "reduce_sum", "cumsum", "getitem",
         "real", "imag", "conj")(_linear_unary)


@_defrule("convert_element_type")
def _convert_rule(p):
    linear = _linear_unary(p)

    def rule(series, dtype):
        if not np.issubdtype(np.dtype(dtype), np.inexact):      # to integers/booleans: constant
            return [bind(p, series[0][0], dtype=dtype)] + [None] * (len(series[0]) - 1)
        return linear(series, dtype=dtype)
    return rule


def _linear_in(linear):
    """A primitive linear in the arguments flagged by `linear` (others constant)."""
    def factory(p):
        def rule(series, **params):
            n = len(series[0])
            out = [bind(p, *[s[0] for s in series], **params)]
            lin = [i for i, f in enumerate(linear(len(series))) if f]
            for k in range(1, n):
                if all(series[i][k] is None for i in lin):
                    out.append(None)
                    continue
                args = [s[0] for s in series]
                for i in lin:
                    v = series[i][k]
                    args[i] = _zeros_like(series[i][0]) if v is None else v
                out.append(bind(p, *args, **params))
            return out
        return rule
    return factory


_defrule("concatenate", "pad")(_linear_in(lambda n: [True] * n))
_defrule("index_add", "index_set")(_linear_in(lambda n: [True, True]))
_defrule("select")(_linear_in(lambda n: [False, True, True]))
_defrule("take_along_axis")(_linear_in(lambda n: [True, False]))
_defrule("scatter_add_along_axis")(_linear_in(lambda n: [True, False, True]))


@_defrule("add")
def _add_rule(p):
    def rule(series, **params):
        x, y = series
        return [bind(p, x[0], y[0])] + [_add(a, b) for a, b in zip(x[1:], y[1:])]
    return rule


@_defrule("subtract")
def _sub_rule(p):
    def rule(series, **params):
        x, y = series
        return [bind(p, x[0], y[0])] + [_sub(a, b) for a, b in zip(x[1:], y[1:])]
    return rule


def _multilinear(op, series):
    """Series of a multilinear op(*args): a Cauchy product over all arguments."""
    n = len(series[0])
    nz = [_nonzero(s, 0) for s in series]
    out = [None] * n
    for combo in itertools.product(*nz):
        k = 0
        for j, _ in combo:
            k += j
        if k >= n or k == 0:
            continue
        out[k] = _add(out[k], op(*[v for _, v in combo]))
    out[0] = op(*[s[0] for s in series])
    return out


@_defrule("matmul")
def _matmul_rule(p):
    def rule(series):
        return _multilinear(lambda a, b: bind(p, a, b), series)
    return rule


@_defrule("einsum")
def _einsum_rule(p):
    def rule(series, spec):
        return _multilinear(lambda *ops: bind(p, *ops, spec=spec), series)
    return rule


# ======================================================= arithmetic ops ===

@_defrule("multiply", "safe_multiply")
def _mul_rule(p):
    def rule(series):
        x, y = series
        out = s_mul(x, y)
        out[0] = bind(p, x[0], y[0])
        return out
    return rule


@_defrule("divide")
def _div_rule(p):
    def rule(series):
        x, z = series
        q0 = bind(p, x[0], z[0])
        if _is_const(z):
            return [q0] + [None if v is None else v / z[0] for v in x[1:]]
        return s_div(x, z, q0)
    return rule


def _small_int(r):
    """r as a Python int when it is a concrete, integer-valued scalar in [0, 64]; else None."""
    if isinstance(r, Tracer) or isinstance(r, bool):
        return None
    if isinstance(r, np.ndarray):
        if r.shape != ():
            return None
        r = r.item()
    if isinstance(r, (int, np.integer)):
        r = int(r)
    elif isinstance(r, (float, np.floating)) and float(r).is_integer():
        r = int(r)
    else:
        return None
    return r if 0 <= r <= 64 else None


def _has_zero(x0):
    if type(x0) is float:
        return x0 == 0.0
    try:
        return bool(np.any(np.asarray(concrete(x0)) == 0))
    except Exception:          # no concrete value available: assume a nonzero base
        return False


def _int_power(x, r):
    """x^r by repeated squaring with Cauchy products (exact at x0 = 0)."""
    result, base = None, x
    while r:
        if r & 1:
            result = base if result is None else s_mul(result, base)
        r >>= 1
        if r:
            base = s_mul(base, base)
    return result


def _small_int_array(r):
    """Is r a concrete array of integers in [0, 64] with few distinct values?"""
    if not isinstance(r, np.ndarray) or r.ndim == 0 or r.dtype.kind not in "iuf":
        return False
    vals = np.unique(r)
    return vals.size <= 16 and bool(np.all((vals == np.round(vals)) & (vals >= 0) & (vals <= 64)))


def _int_array_power(x, r, ans):
    """x^r for an array of integer exponents: exact powering per distinct exponent, masked."""
    n = len(x)
    out = [ans] + [None] * (n - 1)
    for e in np.unique(r):
        e = int(e)
        if e == 0:
            continue                          # a constant: no higher coefficients
        part = _int_power(x, e)
        mask = (r == e) * 1.0
        for k in range(1, n):
            if part[k] is not None:
                out[k] = _add(out[k], part[k] * mask)
    return out


def _pow_at_zero(x, r, ans):
    """x^r for a base that may be 0, where the recurrence divides by x0.

    There the coefficients are Faa di Bruno's with f^(m)(0) = r (r-1) ... (r-m+1) 0^(r-m):
    0 below the order r, inf (or nan) above it, as the first-order modes give them.
    """
    n, x0 = len(x), x[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        a, c = [ans], 1.0
        for m in range(1, n):
            c = c * (r - (m - 1)) / m
            a.append(c * E.power(x0, r - m))
        at_zero = s_compose(x, a)
        if type(x0) is float:
            return at_zero
        zero = E.equal(x0, 0.0)
        safe = E.select(zero, 1.0, x0)
        away = s_pow([safe] + list(x[1:]), r, ans)
    shp = shape_of(ans)
    return [ans] + [None if u is None and v is None else
                    _bcast(E.select(zero, 0.0 if u is None else u, 0.0 if v is None else v), shp)
                    for u, v in zip(at_zero[1:], away[1:])]


@_defrule("power")
def _pow_rule(p):
    def rule(series):
        x, y = series
        ans = bind(p, x[0], y[0])
        n = len(x)
        if _is_const(y):
            r = y[0]
            ri = _small_int(r)
            if ri == 0:
                return [ans] + [None] * (n - 1)
            if ri == 1:
                return [ans] + list(x[1:])
            # exact powering where the base may be 0 (the recurrence divides by x0); a
            # traced base is not read (under jit a read would become a guard on its value)
            if ri is not None and (ri == 2 or isinstance(x[0], Tracer) or _has_zero(x[0])):
                out = _int_power(x, ri)
                out[0] = ans
                return out
            if ri is None and _small_int_array(r) and (isinstance(x[0], Tracer) or _has_zero(x[0])):
                return _int_array_power(x, r, ans)
            if ri is None and (isinstance(x[0], Tracer) or _has_zero(x[0])):
                return _pow_at_zero(x, r, ans)
            return s_pow(x, r, ans)
        if _is_const(x):                        # c^y = exp(y log c)
            logc = E._log_or_zero(x[0])
            return s_exp(_scale(y, logc), ans)
        logx = s_log(x, E.log(x[0]))
        return s_exp(s_mul(y, logx), ans)
    return rule


@_defrule("remainder")
def _rem_rule(p):
    def rule(series):
        x, y = series
        ans = bind(p, x[0], y[0])
        if _is_const(y):
            return [ans] + list(x[1:])
        q = E.floor_divide(x[0], y[0])         # piecewise constant
        return [ans] + [_sub(a, None if b is None else q * b) for a, b in zip(x[1:], y[1:])]
    return rule


def _choice(p, weights):
    """Elementwise pick by the primal: y_k = wx x_k + wy y_k."""
    def rule(series):
        x, y = series
        ans = bind(p, x[0], y[0])
        wx, wy = weights(x[0], y[0], ans)
        return [ans] + [_add(None if a is None else a * wx, None if b is None else b * wy)
                        for a, b in zip(x[1:], y[1:])]
    return rule


@_defrule("maximum", "minimum")
def _maxmin_rule(p):
    return _choice(p, lambda x, y, ans: (E._tie_weights(x, y, ans), E._tie_weights(y, x, ans)))


@_defrule("abs")
def _abs_rule(p):
    def rule(series):
        x = series[0]
        if dtype_of(x[0]).kind == "c":
            return generic_rule(p)(series)
        sgn = E.sign(x[0])
        return [bind(p, x[0])] + [None if v is None else v * sgn for v in x[1:]]
    return rule


@_defrule("hypot")
def _hypot_rule(p):
    def rule(series):
        x, y = series
        ans = bind(p, x[0], y[0])
        ssq = [None] + [_add(a, b) for a, b in zip(s_mul(x, x)[1:], s_mul(y, y)[1:])]
        if type(ans) is float:
            return s_sqrt(ssq, ans) if ans else [ans] + [None] * (len(x) - 1)
        # at the origin every coefficient is 0, as the first-order rules give (like abs at 0)
        zero = E.equal(ans, 0.0)
        out = s_sqrt(ssq, E.select(zero, 1.0, ans))
        return [ans] + [None if v is None else E.select(zero, 0.0, v) for v in out[1:]]
    return rule


@_defrule("arctan2")
def _arctan2_rule(p):
    # z = arctan2(y, x):  z' = (x y' - y x') / (x^2 + y^2)
    def rule(series):
        y, x = series
        n = len(x)
        ans = bind(p, y[0], x[0])
        if n == 1:
            return [ans]
        xt, yt = x[:n - 1], y[:n - 1]
        num = [_sub(a, b) for a, b in zip(s_mul(xt, _deriv_series(y)), s_mul(yt, _deriv_series(x)))]
        den = [_add(a, b) for a, b in zip(s_mul(xt, xt), s_mul(yt, yt))]
        den[0] = x[0] * x[0] + y[0] * y[0]
        if num[0] is None:
            num[0] = _zeros_like(ans)
        q = s_div(num, den)
        return [ans] + [None if v is None else v / (k + 1) for k, v in enumerate(q)]
    return rule


@_defrule("logaddexp")
def _logaddexp_rule(p):
    # z = a + log(1 + exp(b - a)) with a the larger argument (by the primal)
    def rule(series):
        x, y = series
        ans = bind(p, x[0], y[0])
        first = E.greater_equal(x[0], y[0])
        shp = shape_of(ans)

        def pick(c, a, b):
            if a is None and b is None:
                return None
            a = 0.0 if a is None else a
            b = 0.0 if b is None else b
            return _bcast(E.select(c, a, b), shp)
        a = [pick(first, u, v) for u, v in zip(x, y)]
        b = [pick(first, v, u) for u, v in zip(x, y)]
        d = [_sub(v, u) for u, v in zip(a, b)]
        e = s_exp(d, E.exp(d[0]))
        v = [1.0 + e[0]] + e[1:]
        lv = s_log(v, E.log1p(e[0]))
        return [ans] + [_add(u, w) for u, w in zip(a[1:], lv[1:])]
    return rule


# ====================================================== unary functions ===

def _unary(fn):
    """Factory for a unary rule fn(x_series, ans) -> series."""
    def factory(p):
        def rule(series, **params):
            x = series[0]
            return fn(x, bind(p, x[0], **params))
        return rule
    return factory


_LN2, _LN10 = math.log(2.0), math.log(10.0)

_defrule("exp")(_unary(lambda x, ans: s_exp(x, ans)))
_defrule("exp2")(_unary(lambda x, ans: s_exp(_scale(x, _LN2), ans)))


def _expm1(x, ans):
    out = s_exp(x, ans + 1.0)
    out[0] = ans
    return out


_defrule("expm1")(_unary(_expm1))
_defrule("log")(_unary(lambda x, ans: s_log(x, ans)))


def _log_base(c):
    def fn(x, ans):
        out = s_log(x, ans)
        return [ans] + [None if v is None else v / c for v in out[1:]]
    return fn


_defrule("log2")(_unary(_log_base(_LN2)))
_defrule("log10")(_unary(_log_base(_LN10)))
_defrule("log1p")(_unary(lambda x, ans: s_log([1.0 + x[0]] + list(x[1:]), ans)))
_defrule("sqrt")(_unary(lambda x, ans: s_sqrt(x, ans)))
_defrule("cbrt")(_unary(lambda x, ans: _pow_at_zero(x, 1.0 / 3.0, ans)
                        if isinstance(x[0], Tracer) or _has_zero(x[0]) else s_pow(x, 1.0 / 3.0, ans)))


@_defrule("sin", "cos")
def _sincos_rule(p):
    want_sin = p.name == "sin"

    def rule(series):
        x = series[0]
        s, c = s_sincos(x, E.sin(x[0]), E.cos(x[0]))
        return s if want_sin else c
    return rule


@_defrule("sinh", "cosh")
def _sinhcosh_rule(p):
    want_sinh = p.name == "sinh"

    def rule(series):
        x = series[0]
        s, c = s_sincos(x, E.sinh(x[0]), E.cosh(x[0]), hyperbolic=True)
        return s if want_sinh else c
    return rule


_defrule("tan")(_unary(lambda x, ans: s_tan(x, ans, 1.0)))
_defrule("tanh")(_unary(lambda x, ans: s_tan(x, ans, -1.0)))


def _via_derivative(dseries):
    """y' = g(x) x', with g's series from dseries(x truncated to K-1 orders)."""
    def fn(x, ans):
        n = len(x)
        if n == 1:
            return [ans]
        return s_integrate(x, dseries(x[:n - 1]), ans)
    return fn


def _d_arcsin(x):
    u = _one_minus_sq(x, (1.0 - x[0]) * (1.0 + x[0]))
    return s_pow(u, -0.5, 1.0 / E.sqrt(u[0]))


def _d_arcsinh(x):
    u = _one_plus_sq(x, x[0] * x[0] + 1.0)
    return s_pow(u, -0.5, 1.0 / E.sqrt(u[0]))


def _d_arccosh(x):
    u = _one_plus_sq(x, (x[0] - 1.0) * (x[0] + 1.0))
    return s_pow(u, -0.5, 1.0 / E.sqrt(u[0]))


_defrule("arcsin")(_unary(_via_derivative(_d_arcsin)))
_defrule("arccos")(_unary(_via_derivative(lambda x: _scale_all(_d_arcsin(x), -1.0))))
_defrule("arctan")(_unary(_via_derivative(lambda x: s_recip(_one_plus_sq(x, 1.0 + x[0] * x[0])))))
_defrule("arcsinh")(_unary(_via_derivative(_d_arcsinh)))
_defrule("arccosh")(_unary(_via_derivative(_d_arccosh)))
_defrule("arctanh")(_unary(_via_derivative(
    lambda x: s_recip(_one_minus_sq(x, (1.0 - x[0]) * (1.0 + x[0]))))))


# ------------------------------------------------------ special functions ---

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _neg_sq(x):
    """Series of -x^2."""
    sq = s_mul(x, x)
    return [-(x[0] * x[0])] + [None if v is None else -v for v in sq[1:]]


def _d_erf(x):
    """Series of erf'(x) = 2/sqrt(pi) exp(-x^2)."""
    u = _neg_sq(x)
    return _scale_all(s_exp(u, E.exp(u[0])), _TWO_OVER_SQRT_PI)


_defrule("erf")(_unary(_via_derivative(_d_erf)))
_defrule("erfc")(_unary(_via_derivative(lambda x: _scale_all(_d_erf(x), -1.0))))


def _polygamma(m, x):
    """polygamma(m, x) through the primitive (differentiable in x)."""
    from . import special
    return special.polygamma(m, x)


def s_erfinv(x, y0):
    """Series of erfinv: y' = (sqrt(pi)/2) exp(y^2) x', with exp(y^2) built alongside y."""
    n = len(x)
    c = math.sqrt(math.pi) / 2.0
    jx = [(j, v * j) for j, v in _nonzero(x)]
    y = [y0] + [None] * (n - 1)
    v = [y0 * y0] + [None] * (n - 1)            # y^2
    e = [E.exp(v[0]) * c] + [None] * (n - 1)    # c exp(y^2)
    for k in range(1, n):
        acc = None
        for j, a in jx:
            if j > k:
                break
            if e[k - j] is not None:
                acc = _add(acc, a * e[k - j])
        y[k] = None if acc is None else acc / k
        if k == n - 1:
            break
        sq = None
        for i in range(0, k + 1):
            if y[i] is not None and y[k - i] is not None:
                sq = _add(sq, y[i] * y[k - i])
        v[k] = sq
        acc = None
        for i in range(1, k + 1):
            if v[i] is not None and e[k - i] is not None:
                acc = _add(acc, (v[i] * i) * e[k - i])
        e[k] = None if acc is None else acc / k
    return y


_defrule("erfinv")(_unary(s_erfinv))


def _from_polygamma(shift):
    """f with f^(n)(x) = polygamma(n + shift, x) for n >= 1 (gammaln: -1, digamma: 0)."""
    def fn(x, ans):
        n = len(x)
        a = [ans] + [_polygamma(m + shift, x[0]) / float(math.factorial(m)) for m in range(1, n)]
        return s_compose(x, a)
    return fn


_defrule("gammaln")(_unary(_from_polygamma(-1)))
_defrule("digamma")(_unary(_from_polygamma(0)))


@_defrule("polygamma")
def _polygamma_rule(p):
    def rule(series, **params):
        if "n" in params or len(series) == 1:          # order as a static parameter
            x = series[-1]
            m = params.get("n", params.get("m"))
            ans = bind(p, *[s[0] for s in series], **params)
        else:                                           # polygamma(n, x): n constant
            nser, x = series
            if not _is_const(nser):
                raise TypeError("polygamma: the order n cannot carry a Taylor series")
            m = nser[0]
            ans = bind(p, nser[0], x[0], **params)
        k = len(x)
        m_int = np.asarray(concrete(m))
        a = [ans] + [_polygamma(m_int + j, x[0]) / float(math.factorial(j)) for j in range(1, k)]
        return s_compose(x, a)
    return rule


@_defrule("sinc")
def _sinc_rule(p):
    # sinc(x, n)^(j) = sinc(x, n + j): Faa di Bruno on those coefficients
    def rule(series, n=0):
        x = series[0]
        a = [bind(p, x[0], n=n)] + [bind(p, x[0], n=n + j) / float(math.factorial(j)) for j in range(1, len(x))]
        return s_compose(x, a)
    return rule


# ============================================================ reductions ===

def _extremum_rule(p):
    def rule(series, axes, keepdims):
        x = series[0]
        ans = bind(p, x[0], axes=axes, keepdims=keepdims)
        hit = E.equal(x[0], R._keep(x[0], ans, axes, keepdims)) * 1.0
        w = hit / R.sum(hit, axis=axes, keepdims=True)
        return [ans] + [None if v is None else R.sum(v * w, axis=axes, keepdims=keepdims)
                        for v in x[1:]]
    return rule


_defrule("reduce_max", "reduce_min")(_extremum_rule)


def _shift_in(c, s, axis, fill_one):
    """c shifted by s along axis, the first s slots filled with 1 (fill_one) or 0."""
    shp = list(shape_of(c))
    n = shp[axis]
    shp[axis] = s
    fill = np.ones(shp) if fill_one else np.zeros(shp)
    idx = (slice(None),) * axis + (slice(0, n - s),)
    return S.concatenate([fill, S.getitem(c, idx)], axis=axis)


@_defrule("reduce_prod")
def _prod_rule(p):
    # a balanced tree of Cauchy products over the reduced elements (exact with zeros)
    def rule(series, axes, keepdims):
        x = series[0]
        ans = bind(p, x[0], axes=axes, keepdims=keepdims)
        xs = shape_of(x[0])
        keep = [i for i in range(len(xs)) if i not in axes]
        lead = tuple(xs[i] for i in keep)
        m = int(np.prod([xs[a] for a in axes], dtype=np.int64))
        if m == 0:
            return [ans] + [None] * (len(x) - 1)
        perm = tuple(keep) + tuple(axes)
        cur = [None if c is None else S.reshape(S.transpose(c, perm), lead + (m,)) for c in x]
        while m > 1:
            if m % 2:
                pad_shape = lead + (1,)
                cur = [None if c is None else S.concatenate(
                    [c, np.ones(pad_shape) if k == 0 else np.zeros(pad_shape)], axis=-1)
                    for k, c in enumerate(cur)]
                m += 1
            a = [None if c is None else S.getitem(c, (Ellipsis, slice(0, None, 2))) for c in cur]
            b = [None if c is None else S.getitem(c, (Ellipsis, slice(1, None, 2))) for c in cur]
            cur = s_mul(a, b)
            m //= 2
        out_shape = shape_of(ans)
        return [ans] + [None if c is None else S.reshape(c, out_shape) for c in cur[1:]]
    return rule


@_defrule("cumprod")
def _cumprod_rule(p):
    # Hillis-Steele scan: y_i <- y_i * y_{i-s} for s = 1, 2, 4, ... (exact with zeros)
    def rule(series, axis):
        x = series[0]
        ans = bind(p, x[0], axis=axis)
        n = shape_of(x[0])[axis]
        cur = list(x)
        s = 1
        while s < n:
            shifted = [None if c is None else _shift_in(c, s, axis, k == 0) for k, c in enumerate(cur)]
            cur = s_mul(cur, shifted)
            s *= 2
        return [ans] + cur[1:]
    return rule


# ======================================================== linear algebra ===

def _D():
    from . import decompositions
    return decompositions


def _matmul(a, b):
    from .linalg import matmul
    return matmul(a, b)


@_defrule("solve")
def _solve_rule(p):
    # A(t) X(t) = B(t):  A0 X_k = B_k - sum_{j=1..k} A_j X_{k-j}
    def rule(series):
        a, b = series
        n = len(a)
        X = [bind(p, a[0], b[0])] + [None] * (n - 1)
        an = _nonzero(a)
        for k in range(1, n):
            rhs = b[k]
            for j, aj in an:
                if j > k:
                    break
                xk = X[k - j]
                if xk is not None:
                    rhs = _sub(rhs, _matmul(aj, xk))
            if rhs is not None:
                X[k] = bind(p, a[0], _bcast(rhs, shape_of(X[0])))
        return X
    return rule


def _inv_series(p, a, X0=None):
    """Series of A^-1: X_k = -X0 sum_{j=1..k} A_j X_{k-j}."""
    n = len(a)
    X = [bind(p, a[0]) if X0 is None else X0] + [None] * (n - 1)
    an = _nonzero(a)
    for k in range(1, n):
        acc = None
        for j, aj in an:
            if j > k:
                break
            xk = X[k - j]
            if xk is not None:
                acc = _add(acc, _matmul(aj, xk))
        if acc is not None:
            X[k] = -_matmul(X[0], acc)
    return X


@_defrule("inv")
def _inv_rule(p):
    return lambda series: _inv_series(p, series[0])


def _logdet_series(a, L0):
    """Series of log|det A| (L0 its value): L' = tr(A^-1 A')."""
    n = len(a)
    if n == 1:
        return [L0]
    D = _D()
    ainv = _inv_series(D.inv_p, a[:n - 1])
    da = _deriv_series(a)
    q = _multilinear(lambda u, v: D.trace(_matmul(u, v)), [ainv, da]) if any(
        v is not None for v in da) else [None] * (n - 1)
    return [L0] + [None if v is None else v / (k + 1) for k, v in enumerate(q)]


@_defrule("slogdet")
def _slogdet_rule(p):
    def rule(series):
        a = series[0]
        if dtype_of(a[0]).kind == "c":
            return generic_rule(p)(series)
        sign, logabs = bind(p, a[0])
        return [[sign] + [None] * (len(a) - 1), _logdet_series(a, logabs)]
    return rule


@_defrule("det")
def _det_rule(p):
    # det = sign * exp(log|det|): the exp recurrence on the log-determinant series
    def rule(series):
        a = series[0]
        ans = bind(p, a[0])
        if dtype_of(a[0]).kind == "c" or bool(R.any(E.equal(ans, 0.0))):   # complex or singular
            return generic_rule(p)(series)
        D = _D()
        _, logabs = D.slogdet(a[0])
        return s_exp(_logdet_series(a, logabs), ans)
    return rule


@_defrule("cholesky")
def _cholesky_rule(p):
    # A = L L^T:  L0 L_k^T + L_k L0^T = S_k := sym(A_k) - sum_{j=1..k-1} L_j L_{k-j}^T,
    # so L_k = L0 phi(L0^-1 S_k L0^-T), phi = lower triangle with half the diagonal.
    def rule(series):
        a = series[0]
        D = _D()
        n = len(a)
        L = [bind(p, a[0])] + [None] * (n - 1)
        for k in range(1, n):
            s = None if a[k] is None else D.sym(a[k])
            for j in range(1, k):
                if L[j] is not None and L[k - j] is not None:
                    s = _sub(s, _matmul(L[j], D.mH(L[k - j])))
            if s is not None:
                y = D.solve(L[0], s)
                L[k] = _matmul(L[0], D._phi(D.solve(L[0], D.mH(y))))
        return L
    return rule


@_defrule("eigh")
def _eigh_rule(p):
    # In the eigenbasis of A0: B(t) = V0^T sym(A(t)) V0 = Q(t) D(t) Q(t)^T, Q0 = I, D0 = diag(w0).
    # Order k of B Q = Q D:  (w_i - w_j) (Q_k)_ij = (D_k)_ij - (R_k)_ij with
    # R_k = sum_{j=1..k} B_j Q_{k-j} - sum_{j=1..k-1} Q_j D_{k-j}; so D_k = diag(R_k), the
    # off-diagonal Q_k = F o R_k (F_ij = 1/(w_j - w_i)), and Q^T Q = I fixes the diagonal:
    # (Q_k)_ii = -(1/2) (sum_{j=1..k-1} Q_j^T Q_{k-j})_ii.  Needs distinct eigenvalues.
    def rule(series, UPLO):
        a = series[0]
        if dtype_of(a[0]).kind == "c":
            return generic_rule(p)(series, UPLO=UPLO)
        D = _D()
        n = len(a)
        w0, v0 = bind(p, a[0], UPLO=UPLO)
        vT = D.mT(v0)
        B = [None] + [None if c is None else _matmul(vT, _matmul(D.sym(c), v0)) for c in a[1:]]
        F = D._eig_gaps(w0)
        Q = [None] * n
        W = [w0] + [None] * (n - 1)
        for k in range(1, n):
            r = B[k]
            for j in range(1, k):
                if B[j] is not None and Q[k - j] is not None:
                    r = _add(r, _matmul(B[j], Q[k - j]))
                if Q[j] is not None and W[k - j] is not None:
                    r = _sub(r, Q[j] * S.expand_dims(W[k - j], -2))
            pk = None
            for j in range(1, k):
                if Q[j] is not None and Q[k - j] is not None:
                    pk = _add(pk, _matmul(D.mT(Q[j]), Q[k - j]))
            if r is None and pk is None:
                continue
            qk = None
            if r is not None:
                W[k] = D.diag_part(r)
                qk = F * r
            if pk is not None:
                qk = _sub(qk, D.diag_embed(D.diag_part(pk)) * 0.5)
            Q[k] = qk
        V = [v0] + [None if q is None else _matmul(v0, q) for q in Q[1:]]
        return [W, V]
    return rule


@_defrule("qr")
def _qr_rule(p):
    # A = Q R (reduced, m >= n).  With S_k = A_k - sum_{j=1..k-1} Q_j R_{k-j}, X = S_k R0^-1,
    # M = Q0^T X = U + C (U = R_k R0^-1 upper triangular, C = Q0^T Q_k) and
    # C + C^T = -P_k (P_k = sum_{j=1..k-1} Q_j^T Q_{k-j}):  C's strict lower triangle is M's,
    # its upper one -C^T - P, its diagonal -diag(P)/2;  R_k = U R0 and Q_k = X - Q0 U.
    def rule(series):
        a = series[0]
        if dtype_of(a[0]).kind == "c":
            return generic_rule(p)(series)
        D = _D()
        n = len(a)
        q0, r0 = bind(p, a[0])
        Q = [q0] + [None] * (n - 1)
        Rs = [r0] + [None] * (n - 1)
        for k in range(1, n):
            sk = a[k]
            pk = None
            for j in range(1, k):
                if Q[j] is not None and Rs[k - j] is not None:
                    sk = _sub(sk, _matmul(Q[j], Rs[k - j]))
                if Q[j] is not None and Q[k - j] is not None:
                    pk = _add(pk, _matmul(D.mT(Q[j]), Q[k - j]))
            if sk is None and pk is None:
                continue
            x = None if sk is None else D._solve_right(sk, r0)
            m = None if x is None else _matmul(D.mT(q0), x)
            low = None if m is None else D.tril(m, -1)
            c = None if low is None else low - D.mT(low)
            if pk is not None:
                c = _sub(c, D.triu(pk, 1) + D.diag_embed(D.diag_part(pk)) * 0.5)
            u = _sub(m, c)
            Rs[k] = _matmul(u, r0)
            Q[k] = _sub(x, _matmul(q0, u))
        return [Q, Rs]
    return rule


# ============================================================== generic ===

def _horner(s, t):
    """s0 + s1 t + ... + sK t^K."""
    acc = None
    for c in reversed(s[1:]):
        if acc is not None:
            acc = acc * t
        if c is not None:
            acc = c if acc is None else acc + c
    return s[0] if acc is None else s[0] + acc * t


def _nested_derivatives(h, K):
    """t -> [h(t), h'(t), ..., h^(K)(t)] by K nested forward-mode passes."""
    from ..api import jvp
    if K == 0:
        return lambda t: [h(t)]
    inner = _nested_derivatives(h, K - 1)

    def f(t):
        out, tan = jvp(inner, (t,), (1.0,))
        return list(out) + [tan[-1]]
    return f


def generic_rule(p):
    """The Taylor rule by nested forward mode of `p` along the input curve.

    Exact for any primitive with a JVP rule, at a cost that doubles with each
    order: fine for low orders, a stopgap until a recurrence is written.
    """
    def rule(series, **params):
        n = len(series[0])
        primals = [s[0] for s in series]
        ans = bind(p, *primals, **params)
        outs = list(ans) if p.multiple_results else [ans]
        consts = [_is_const(s) for s in series]
        if n == 1 or all(consts):
            res = [[o] + [None] * (n - 1) for o in outs]
            return res if p.multiple_results else res[0]

        def h(t):
            args = [s[0] if c else _horner(s, t) for s, c in zip(series, consts)]
            out = bind(p, *args, **params)
            return list(out) if p.multiple_results else [out]
        ds = _nested_derivatives(h, n - 1)(0.0)
        res = []
        for r, o in enumerate(outs):
            if not np.issubdtype(dtype_of(o), np.inexact):
                res.append([o] + [None] * (n - 1))
                continue
            res.append([o] + [ds[k][r] / float(math.factorial(k)) for k in range(1, n)])
        return res if p.multiple_results else res[0]
    rule.generic = True
    return rule


# Decompositions whose series recurrences are not written yet (nested forward mode).
GENERIC.update({"svd", "svdvals", "pinv"})

install()
