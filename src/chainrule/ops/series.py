"""Taylor series arithmetic, and the factories of Taylor rules built on it.

A Taylor rule ``taylor_rules[p](series, **params)`` gets one *series* per
positional argument: the list ``[x0, x1, ..., xK]`` of raw Taylor coefficients
(``x_k = x^(k)(0) / k!``), where any ``x_k`` with k >= 1 may be `None` for a
zero coefficient; it returns the output's series (or one per result).

The recurrences are the classical ones for univariate Taylor arithmetic
(Griewank & Walther, *Evaluating Derivatives*, 2nd ed., chapter 13): the
Cauchy product for products, the division recurrence, and for a function
with a known derivative ``y' = g(x) x'`` the integration

    y_k = (1/k) sum_{j=1..k} j x_j g_{k-j}.

Everything is written with Python operators and chainrule operations, so an
outer transformation (grad, jvp, vmap, jit, another jet) sees ordinary
differentiable operations on the coefficients.  The rules themselves are
registered beside their primitives.
"""
from __future__ import annotations

import itertools

import numpy as np

from ..core import Tracer, bind, shape_of, concrete


# ========================================================= series helpers ===
# A "series" is a list [s0, s1, ..., sK]; entries after the first may be None.

def add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def sub(a, b):
    if b is None:
        return a
    if a is None:
        return -b
    return a - b


def scale(s, c):
    """c * s for every coefficient of order >= 1 (s0 is kept)."""
    return [s[0]] + [None if v is None else v * c for v in s[1:]]


def scale_all(s, c):
    """c * s, every coefficient."""
    return [None if v is None else v * c for v in s]


def nonzero(s, start=1):
    return [(j, s[j]) for j in range(start, len(s)) if s[j] is not None]


def is_const(s):
    for v in s[1:]:
        if v is not None:
            return False
    return True


def div(a, b):
    """a / b, with NumPy's inf/nan (and warning) for a Python 0.0 divisor (singular points)."""
    return E.divide(a, b) if type(b) is float and b == 0.0 else a / b


def s_mul(x, y, n=None):
    """Cauchy product of two series (truncated to n terms)."""
    n = len(x) if n is None else n
    xs = nonzero(x[:n], 0)
    ys = nonzero(y[:n], 0)
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
    zs = nonzero(z)
    for k in range(1, n):
        acc = x[k]
        for j, zj in zs:
            if j > k:
                break
            qk = q[k - j]
            if qk is not None:
                acc = sub(acc, zj * qk)
        q[k] = None if acc is None else div(acc, z0)
    return q


def s_recip(z, q0=None):
    """Series of 1 / z."""
    n = len(z)
    z0 = z[0]
    q = [1.0 / z0 if q0 is None else q0] + [None] * (n - 1)
    zs = nonzero(z)
    for k in range(1, n):
        acc = None
        for j, zj in zs:
            if j > k:
                break
            qk = q[k - j]
            if qk is not None:
                acc = add(acc, zj * qk)
        q[k] = None if acc is None else div(-acc, z0)
    return q


def s_exp(u, y0):
    """Series of exp(u) given y0 = exp(u0): y_k = (1/k) sum_j j u_j y_{k-j}."""
    n = len(u)
    ju = [(j, v * j) for j, v in nonzero(u)]
    y = [y0] + [None] * (n - 1)
    for k in range(1, n):
        acc = None
        for j, a in ju:
            if j > k:
                break
            yk = y[k - j]
            if yk is not None:
                acc = add(acc, a * yk)
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
                acc = add(acc, a * b)
        num = sub(x[k], None if acc is None else acc / k)
        if num is not None:
            y[k] = div(num, x0)
            jy[k] = y[k] * k
    return y


def s_pow(x, r, y0):
    """Series of x^r (constant r, x0 != 0): k x0 y_k = sum_j ((r+1) j - k) x_j y_{k-j}."""
    n = len(x)
    x0 = x[0]
    xs = nonzero(x)
    y = [y0] + [None] * (n - 1)
    r1 = r + 1
    for k in range(1, n):
        acc = None
        for j, xj in xs:
            if j > k:
                break
            yk = y[k - j]
            if yk is not None:
                acc = add(acc, (r1 * j - k) * (xj * yk))
        y[k] = None if acc is None else div(acc, k * x0)
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
                acc = sub(acc, 2.0 * (a * b))
        if k % 2 == 0 and y[k // 2] is not None:
            acc = sub(acc, y[k // 2] * y[k // 2])
        y[k] = None if acc is None else div(acc, two_y0)
    return y


def s_integrate(x, g, y0):
    """Series of y with y' = g x' (g: the series of f'(x(t)), needed to order K-1)."""
    n = len(x)
    jx = [(j, v * j) for j, v in nonzero(x)]
    y = [y0] + [None] * (n - 1)
    for k in range(1, n):
        acc = None
        for j, a in jx:
            if j > k:
                break
            gk = g[k - j]
            if gk is not None:
                acc = add(acc, a * gk)
        y[k] = None if acc is None else acc / k
    return y


def s_sincos(x, s0, c0, hyperbolic=False):
    """Series of sin and cos (or sinh and cosh) together."""
    n = len(x)
    jx = [(j, v * j) for j, v in nonzero(x)]
    s = [s0] + [None] * (n - 1)
    c = [c0] + [None] * (n - 1)
    for k in range(1, n):
        acc_s = acc_c = None
        for j, a in jx:
            if j > k:
                break
            ck, sk = c[k - j], s[k - j]
            if ck is not None:
                acc_s = add(acc_s, a * ck)
            if sk is not None:
                acc_c = add(acc_c, a * sk)
        s[k] = None if acc_s is None else acc_s / k
        if acc_c is not None:
            c[k] = acc_c / k if hyperbolic else acc_c / (-k)
    return s, c


def s_tan(x, y0, sign=1.0):
    """Series of tan (sign=+1: y' = (1 + y^2) x') or tanh (sign=-1: y' = (1 - y^2) x')."""
    n = len(x)
    jx = [(j, v * j) for j, v in nonzero(x)]
    y = [y0] + [None] * (n - 1)
    w = [1.0 + sign * (y0 * y0)] + [None] * (n - 1)      # w = 1 + sign y^2
    for k in range(1, n):
        acc = None
        for j, a in jx:
            if j > k:
                break
            wk = w[k - j]
            if wk is not None:
                acc = add(acc, a * wk)
        y[k] = None if acc is None else acc / k
        if k < n - 1:                                    # w_k = sign sum_i y_i y_{k-i}
            sq = None
            for i in range(0, (k + 1) // 2):
                a, b = y[i], y[k - i]
                if a is not None and b is not None:
                    sq = add(sq, 2.0 * (a * b))
            if k % 2 == 0 and y[k // 2] is not None:
                sq = add(sq, y[k // 2] * y[k // 2])
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
                out[k] = add(out[k], a[m] * power[k])
    return out


def deriv_series(s):
    """Series of d/dt: (k+1) s_{k+1}, truncated to one term less."""
    return [None if v is None else v * (k + 1) for k, v in enumerate(s[1:])]


def one_minus_sq(x, c0):
    """Series of 1 - x^2 (c0: its accurately computed constant term)."""
    sq = s_mul(x, x)
    return [c0] + [None if v is None else -v for v in sq[1:]]


def one_plus_sq(x, c0):
    sq = s_mul(x, x)
    return [c0] + sq[1:]


def bcast(v, shape):
    return v if shape_of(v) == shape else S.broadcast_to(v, shape)


# ================================================================ powers ===

def small_int(r):
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


def has_zero(x0):
    if type(x0) is float:
        return x0 == 0.0
    try:
        return bool(np.any(np.asarray(concrete(x0)) == 0))
    except Exception:          # no concrete value available: assume a nonzero base
        return False


def s_int_power(x, r):
    """x^r by repeated squaring with Cauchy products (exact at x0 = 0)."""
    result, base = None, x
    while r:
        if r & 1:
            result = base if result is None else s_mul(result, base)
        r >>= 1
        if r:
            base = s_mul(base, base)
    return result


def small_int_array(r):
    """Is r a concrete array of integers in [0, 64] with few distinct values?"""
    if not isinstance(r, np.ndarray) or r.ndim == 0 or r.dtype.kind not in "iuf":
        return False
    vals = np.unique(r)
    return vals.size <= 16 and bool(np.all((vals == np.round(vals)) & (vals >= 0) & (vals <= 64)))


def s_int_array_power(x, r, ans):
    """x^r for an array of integer exponents: exact powering per distinct exponent, masked."""
    n = len(x)
    out = [ans] + [None] * (n - 1)
    for e in np.unique(r):
        e = int(e)
        if e == 0:
            continue                          # a constant: no higher coefficients
        part = s_int_power(x, e)
        mask = (r == e) * 1.0
        for k in range(1, n):
            if part[k] is not None:
                out[k] = add(out[k], part[k] * mask)
    return out


def s_pow_at_zero(x, r, ans):
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
                    bcast(E.select(zero, 0.0 if u is None else u, 0.0 if v is None else v), shp)
                    for u, v in zip(at_zero[1:], away[1:])]


# ============================================================ factories ===

def linear(p, flags=None):
    """The rule of a primitive linear in the arguments flagged True (all by default); the
    others (an index array, a condition) are constants."""
    def rule(series, **params):
        n = len(series[0])
        out = [bind(p, *[s[0] for s in series], **params)]
        lin = [i for i in range(len(series)) if flags is None or flags[i]]
        for k in range(1, n):
            if all(series[i][k] is None for i in lin):
                out.append(None)
                continue
            args = [s[0] for s in series]
            for i in lin:
                v = series[i][k]
                args[i] = E.zeros_of(series[i][0]) if v is None else v
            out.append(bind(p, *args, **params))
        return out
    return rule


def multilinear(p):
    """The rule of a primitive linear in each argument separately (matmul, einsum): a Cauchy
    product over all arguments."""
    def rule(series, **params):
        n = len(series[0])
        nz = [nonzero(s, 0) for s in series]
        out = [None] * n
        for combo in itertools.product(*nz):
            k = sum(j for j, _ in combo)
            if k >= n or k == 0:
                continue
            out[k] = add(out[k], bind(p, *[v for _, v in combo], **params))
        out[0] = bind(p, *[s[0] for s in series], **params)
        return out
    return rule


def unary(p, fn):
    """The rule of a unary primitive from ``fn(x_series, ans) -> series`` (ans = p(x0))."""
    def rule(series, **params):
        x = series[0]
        return fn(x, bind(p, x[0], **params))
    return rule


def via_derivative(dseries):
    """``fn(x, ans)`` for `unary` when y' = g(x) x': g's series is dseries(x to order K-1)."""
    def fn(x, ans):
        n = len(x)
        if n == 1:
            return [ans]
        return s_integrate(x, dseries(x[:n - 1]), ans)
    return fn


# Imported last: the primitive modules import this one and call its factories while they
# load, so everything above must exist before they do.
from . import elementwise as E  # noqa: E402
from . import shape as S  # noqa: E402
