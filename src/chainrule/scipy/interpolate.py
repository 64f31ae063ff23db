"""`chainrule.scipy.interpolate`: differentiable 1-D interpolation with SciPy's names.

`CubicSpline`, `PchipInterpolator` and `Akima1DInterpolator` are piecewise cubics (`PPoly`,
coefficients `c` of shape (4, n-1, ...) as in SciPy); `make_interp_spline` returns a
`BSpline`; `interp1d` dispatches on `kind`.  Everything is built from chainrule operations,
so values are differentiable in the data y, the query points and the knots x (where the
formula is smooth: PCHIP and Akima switch branches on the data), and trace under `jit`,
`vmap`, `jacfwd` and `jacrev`.  The interval of each query point is found by comparisons
(an integer, no derivative), so it works on traced values.  Spline slopes come from one
dense solve (`chainrule.numpy.linalg.solve`), differentiable in x and y.
"""
from __future__ import annotations

import math

import numpy as _np

from .. import numpy as cnp
from ..core import Tracer, shape_of

__all__ = ["PPoly", "CubicSpline", "PchipInterpolator", "Akima1DInterpolator", "BSpline",
           "make_interp_spline", "interp1d"]


# ------------------------------------------------------------- helpers ---

def _traced(*xs):
    return any(isinstance(v, Tracer) for v in xs)


def _float(a):
    a = cnp.asarray(a)
    return cnp.astype(a, _np.float64) if a.dtype.kind in "biu" else a


def _knots(x, name, minimum=2):
    """x as a strictly increasing 1-D float array (checked on its values)."""
    x = _float(x)
    if x.ndim != 1:
        raise ValueError(f"{name}: `x` must be 1-dimensional, got shape {shape_of(x)}")
    if x.shape[0] < minimum:
        raise ValueError(f"{name}: `x` must contain at least {minimum} elements, got {x.shape[0]}")
    d = cnp.diff(cnp.stop_gradient(x))
    if not bool(cnp.all(d > 0)):
        raise ValueError(f"{name}: `x` must be strictly increasing (sort x and y first, and "
                         "remove duplicate points)")
    return x


def _data(x, y, axis, name):
    """y with the interpolation axis first, flattened to (n, R); returns (y2, rest, axis)."""
    y = _float(y)
    if y.ndim == 0:
        raise ValueError(f"{name}: `y` must be at least 1-dimensional")
    axis = axis % y.ndim if -y.ndim <= axis < y.ndim else None
    if axis is None:
        raise ValueError(f"{name}: axis out of range for `y` of shape {shape_of(y)}")
    n = x.shape[0]
    if y.shape[axis] != n:
        raise ValueError(f"{name}: the length of `y` along `axis`={axis} ({y.shape[axis]}) "
                         f"does not match the length of `x` ({n})")
    y = cnp.moveaxis(y, axis, 0)
    rest = tuple(y.shape[1:])
    return cnp.reshape(y, (n, -1)), rest, axis


def _interval(breaks, xq, lo, hi):
    """Integer j with breaks[j] <= xq < breaks[j+1], clipped to [lo, hi] (no derivative)."""
    if not _traced(breaks, xq):
        return _np.clip(_np.searchsorted(breaks, xq, side="right") - 1, lo, hi)
    b, q = cnp.stop_gradient(breaks), cnp.stop_gradient(xq)
    cnt = cnp.sum(cnp.astype(cnp.greater_equal(cnp.expand_dims(q, -1), b[lo + 1:hi + 1]), _np.int64),
                  axis=-1)
    return cnt + lo


def _place(out, qshape, rest, axis):
    """Flat result (m, R) shaped as SciPy: rest[:axis] + query shape + rest[axis:]."""
    out = cnp.reshape(out, tuple(qshape) + tuple(rest))
    q = len(qshape)
    if axis == 0 or not rest:
        return out
    perm = list(range(q, q + axis)) + list(range(q)) + list(range(q + axis, q + len(rest)))
    return cnp.transpose(out, tuple(perm))


def _check_nu(nu):
    nu = int(nu)
    if nu < 0:
        raise ValueError(f"the derivative order nu must be non-negative, got {nu} "
                         "(use antiderivative() for integrals)")
    return nu


def _col(v):
    return cnp.reshape(v, (-1, 1))


# ------------------------------------------------------ piecewise cubics ---

class PPoly:
    """A piecewise polynomial: on [x[i], x[i+1]], sum_k c[k, i] (xq - x[i])**(K-1-k)."""

    def __init__(self, c, x, extrapolate=True, axis=0):
        self.c, self.x, self.axis = c, x, axis
        self.extrapolate = True if extrapolate is None else extrapolate
        self._rest = tuple(shape_of(c)[2:])

    @classmethod
    def construct_fast(cls, c, x, extrapolate=True, axis=0):
        self = object.__new__(PPoly)
        PPoly.__init__(self, c, x, extrapolate, axis)
        return self

    def _flat_c(self):
        s = shape_of(self.c)
        return cnp.reshape(self.c, (s[0], s[1], -1))

    def __call__(self, x, nu=0, extrapolate=None):
        nu = _check_nu(nu)
        extrapolate = self.extrapolate if extrapolate is None else extrapolate
        c = self._flat_c() if nu == 0 else self.derivative(nu)._flat_c()
        xq = _float(x)
        qshape = shape_of(xq)
        q = cnp.reshape(xq, (-1,))
        br = self.x
        n = shape_of(br)[0]
        if extrapolate == "periodic":
            q = br[0] + cnp.remainder(q - br[0], br[n - 1] - br[0])
        j = _interval(br, q, 0, n - 2)
        t = _col(q - cnp.take(br, j))
        cj = cnp.take(c, j, axis=1)
        y = cj[0]
        for k in range(1, shape_of(c)[0]):
            y = y * t + cj[k]
        if extrapolate is False:
            out = cnp.logical_or(q < br[0], q > br[n - 1])
            y = cnp.where(_col(out), _np.nan, y)
        return _place(y, qshape, self._rest, self.axis)

    def derivative(self, nu=1):
        """The nu-th derivative, a PPoly (zero past the degree)."""
        nu = _check_nu(nu)
        c = self.c
        K = shape_of(c)[0]
        if nu == 0:
            return PPoly.construct_fast(c, self.x, self.extrapolate, self.axis)
        if nu >= K:
            c = cnp.zeros_like(c[:1])
        else:
            w = _np.array([math.perm(K - 1 - k, nu) for k in range(K - nu)], float)
            c = c[:K - nu] * cnp.reshape(w, (-1,) + (1,) * (len(shape_of(c)) - 1))
        return PPoly.construct_fast(c, self.x, self.extrapolate, self.axis)

    def antiderivative(self, nu=1):
        """The nu-th antiderivative, zero at x[0] (periodic extrapolation becomes False)."""
        nu = _check_nu(nu)
        c, br = self.c, self.x
        for _ in range(nu):
            K = shape_of(c)[0]
            nd = len(shape_of(c))
            w = _np.array([1.0 / (K - k) for k in range(K)])
            c = c * cnp.reshape(w, (-1,) + (1,) * (nd - 1))
            h = cnp.reshape(cnp.diff(br), (-1,) + (1,) * (nd - 2))
            seg = c[0]
            for k in range(1, K):
                seg = seg * h + c[k]
            seg = seg * h            # the integral over each whole interval
            const = cnp.cumsum(seg, axis=0) - seg
            c = cnp.concatenate([c, cnp.expand_dims(const, 0)], axis=0)
        ext = False if self.extrapolate == "periodic" else self.extrapolate
        return PPoly.construct_fast(c, br, ext, self.axis)

    def integrate(self, a, b, extrapolate=None):
        """The definite integral from a to b (scalars), as SciPy's PPoly.integrate."""
        extrapolate = self.extrapolate if extrapolate is None else extrapolate
        F = self.antiderivative()
        if extrapolate != "periodic":
            ev = lambda v: F(v, extrapolate=extrapolate)  # noqa: E731
            return ev(b) - ev(a)
        br = self.x
        n = shape_of(br)[0]
        xs, xe = br[0], br[n - 1]
        ev = lambda v: F(v, extrapolate=True)  # noqa: E731
        period = xe - xs
        lo, hi = cnp.minimum(a, b), cnp.maximum(a, b)
        sign = cnp.where(cnp.less(b, a), -1.0, 1.0)
        periods = cnp.floor((hi - lo) / period)
        left = (hi - lo) - periods * period
        a2 = xs + cnp.remainder(lo - xs, period)
        b2 = a2 + left
        inside = ev(b2) - ev(a2)
        wrapped = ev(xe) - ev(a2) + ev(xs + b2 - xe) - ev(xs)
        full = ev(xe) - ev(xs)
        return sign * (periods * full + cnp.where(b2 <= xe, inside, wrapped))


def _hermite_c(x, y2, s, rest):
    """Cubic Hermite coefficients (4, n-1, *rest) from values y2 (n, R) and slopes s (n, R)."""
    h = _col(cnp.diff(x))
    m = (y2[1:] - y2[:-1]) / h
    s0, s1 = s[:-1], s[1:]
    c = cnp.stack([(s0 + s1 - 2.0 * m) / (h * h), (3.0 * m - 2.0 * s0 - s1) / h, s0, y2[:-1]])
    return cnp.reshape(c, (4, shape_of(x)[0] - 1) + tuple(rest))


_BC_NAMES = ("not-a-knot", "natural", "clamped", "periodic")


def _one_bc(bc, rest, side):
    if isinstance(bc, str):
        if bc not in _BC_NAMES:
            raise ValueError(f"CubicSpline: unknown bc_type {bc!r} at the {side} end; use one of "
                             f"{', '.join(map(repr, _BC_NAMES))} or a pair (order, value)")
        if bc == "natural":
            return (2, 0.0)
        if bc == "clamped":
            return (1, 0.0)
        return bc
    try:
        order, value = bc
    except (TypeError, ValueError):
        raise ValueError(f"CubicSpline: bc_type at the {side} end must be a string or a pair "
                         f"(order, value), got {bc!r}") from None
    if order not in (1, 2):
        raise ValueError(f"CubicSpline: the derivative order of a boundary condition must be 1 or 2, "
                         f"got {order!r}")
    value = _float(value)
    if shape_of(value) != () and tuple(shape_of(value)) != tuple(rest):
        raise ValueError(f"CubicSpline: the boundary value at the {side} end has shape "
                         f"{shape_of(value)}; expected () or {tuple(rest)}")
    return (int(order), value)


def _parse_bc(bc_type, rest):
    if isinstance(bc_type, str):
        if bc_type == "periodic":
            return "periodic", "periodic"
        start = end = bc_type
    else:
        try:
            start, end = bc_type
        except (TypeError, ValueError):
            raise ValueError("CubicSpline: bc_type must be a string or a pair of boundary "
                             f"conditions (start, end), got {bc_type!r}") from None
    start, end = _one_bc(start, rest, "start"), _one_bc(end, rest, "end")
    if "periodic" in (start, end) and start != end:
        raise ValueError("CubicSpline: 'periodic' must be the boundary condition at both ends")
    return start, end


def _bc_value(v, R):
    return cnp.reshape(cnp.broadcast_to(v, (R,)) if shape_of(v) == () else v, (1, R))


def _assemble(cols, vals, n):
    """Dense (n, n) matrix with A[i, cols[k][i]] += vals[k][i]."""
    A = 0.0
    for col, val in zip(cols, vals):
        onehot = (_np.asarray(col)[:, None] == _np.arange(n)[None, :]).astype(float)
        A = A + _col(val) * onehot
    return A


def _spline_slopes(x, y2, start, end):
    """First derivatives at the knots of the C2 cubic spline with the given end conditions."""
    n, R = shape_of(y2)
    h = cnp.diff(x)
    m = (y2[1:] - y2[:-1]) / _col(h)
    if n == 2:
        if start in ("not-a-knot", "periodic"):
            start = (1, m[0])
        if end in ("not-a-knot", "periodic"):
            end = (1, m[0])
    if start == "periodic":
        N = n - 1
        hp, mp = cnp.roll(h, 1), cnp.roll(m, 1, axis=0)
        i = _np.arange(N)
        A = _assemble(((i - 1) % N, i, (i + 1) % N), (h, 2.0 * (hp + h), hp), N)
        rhs = 3.0 * (_col(h) * mp + _col(hp) * m)
        s = cnp.linalg.solve(A, rhs)
        return cnp.concatenate([s, s[:1]], axis=0)
    zero = _np.zeros(1)
    one = _np.ones(1)
    # interior rows: h_i s_{i-1} + 2 (h_{i-1} + h_i) s_i + h_{i-1} s_{i+1} = 3 (h_i m_{i-1} + h_{i-1} m_i)
    rhs_mid = 3.0 * (_col(h[1:]) * m[:-1] + _col(h[:-1]) * m[1:])
    if n == 3 and start == end == "not-a-knot":      # the parabola through the three points
        first = ((one, one, zero), 2.0 * m[:1])
        last = ((zero, one, one), 2.0 * m[1:2])
    else:
        first = _end_row(start, h, m, R, at_start=True)
        last = _end_row(end, h, m, R, at_start=False)
    if n == 2:   # row 0 acts on (s0, s1) with its first two weights, row 1 with its last two
        cols = (_np.array([0, 0]), _np.array([1, 1]))
        w = [cnp.concatenate([first[0][0], last[0][1]]), cnp.concatenate([first[0][1], last[0][2]])]
        A = _assemble(cols, w, 2)
        return cnp.linalg.solve(A, cnp.concatenate([first[1], last[1]], axis=0))
    # row 0 acts on columns (0, 1, 2), row i on (i-1, i, i+1), the last row on (n-3, n-2, n-1)
    r = _np.arange(1, n - 1)
    cols = (_np.r_[0, r - 1, n - 3], _np.r_[1, r, n - 2], _np.r_[2, r + 1, n - 1])
    w = [cnp.concatenate([first[0][k], band, last[0][k]])
         for k, band in enumerate((h[1:], 2.0 * (h[:-1] + h[1:]), h[:-1]))]
    A = _assemble(cols, w, n)
    rhs = cnp.concatenate([first[1], rhs_mid, last[1]], axis=0)
    return cnp.linalg.solve(A, rhs)


def _end_row(bc, h, m, R, at_start):
    """(three weights, rhs (1, R)) of one end condition; start uses s0, s1, s2, end s_{n-3..n-1}."""
    zero, one, two = _np.zeros(1), _np.ones(1), 2.0 * _np.ones(1)
    nh = shape_of(h)[0]
    if bc == "not-a-knot":   # third derivative continuous at x[1] (or x[n-2])
        if at_start:
            a, b, ma, mb = h[0:1], h[1:2], m[0:1], m[1:2]
            return (b * b, b * b - a * a, -(a * a)), 2.0 * (_col(b * b) * ma - _col(a * a) * mb)
        a, b, ma, mb = h[nh - 2:nh - 1], h[nh - 1:], m[nh - 2:nh - 1], m[nh - 1:]
        return (b * b, b * b - a * a, -(a * a)), 2.0 * (_col(b * b) * ma - _col(a * a) * mb)
    order, value = bc
    v = _bc_value(value, R)
    if order == 1:
        return ((one, zero, zero) if at_start else (zero, zero, one)), v
    if at_start:   # s'' (x0) = v:  2 s0 + s1 = 3 m0 - v h0 / 2
        return (two, one, zero), 3.0 * m[0:1] - v * _col(h[0:1]) / 2.0
    return (zero, one, two), 3.0 * m[nh - 1:] + v * _col(h[nh - 1:]) / 2.0


class CubicSpline(PPoly):
    """`scipy.interpolate.CubicSpline`: the C2 piecewise cubic through (x, y) along `axis`.

    bc_type: 'not-a-knot' (default), 'natural', 'clamped', 'periodic', or a pair of end
    conditions, each a string or (order, value) with order 1 or 2.
    """

    def __init__(self, x, y, axis=0, bc_type="not-a-knot", extrapolate=None):
        x = _knots(x, "CubicSpline")
        y2, rest, axis = _data(x, y, axis, "CubicSpline")
        start, end = _parse_bc(bc_type, rest)
        if start == "periodic":
            if not bool(cnp.allclose(y2[0], y2[shape_of(y2)[0] - 1], rtol=1e-15, atol=1e-15)):
                raise ValueError("CubicSpline: the first and last `y` values along `axis` must be "
                                 "identical when bc_type='periodic'")
        if extrapolate is None:
            extrapolate = "periodic" if start == "periodic" else True
        s = _spline_slopes(x, y2, start, end)
        super().__init__(_hermite_c(x, y2, s, rest), x, extrapolate, axis)


class PchipInterpolator(PPoly):
    """`scipy.interpolate.PchipInterpolator`: monotone piecewise cubic (Fritsch-Carlson slopes)."""

    def __init__(self, x, y, axis=0, extrapolate=None):
        x = _knots(x, "PchipInterpolator")
        y2, rest, axis = _data(x, y, axis, "PchipInterpolator")
        h = cnp.diff(x)
        m = (y2[1:] - y2[:-1]) / _col(h)
        if shape_of(x)[0] == 2:
            s = cnp.concatenate([m, m], axis=0)
        else:
            s = cnp.concatenate([_pchip_edge(h[0], h[1], m[0:1], m[1:2]), _pchip_inner(h, m),
                                 _pchip_edge(h[-1], h[-2], m[-1:], m[-2:-1])], axis=0)
        super().__init__(_hermite_c(x, y2, s, rest), x, extrapolate, axis)


def _pchip_inner(h, m):
    m0, m1 = m[:-1], m[1:]
    h0, h1 = _col(h[:-1]), _col(h[1:])
    flat = cnp.logical_or(cnp.not_equal(cnp.sign(m0), cnp.sign(m1)),
                          cnp.logical_or(cnp.equal(m0, 0), cnp.equal(m1, 0)))
    m0s, m1s = cnp.where(flat, 1.0, m0), cnp.where(flat, 1.0, m1)
    w1, w2 = 2.0 * h1 + h0, h1 + 2.0 * h0
    d = (w1 + w2) / (w1 / m0s + w2 / m1s)
    return cnp.where(flat, 0.0, d)


def _pchip_edge(h0, h1, m0, m1):
    d = ((2.0 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    wrong = cnp.not_equal(cnp.sign(d), cnp.sign(m0))
    big = cnp.logical_and(cnp.not_equal(cnp.sign(m0), cnp.sign(m1)),
                          cnp.abs(d) > 3.0 * cnp.abs(m0))
    return cnp.where(wrong, 0.0, cnp.where(big, 3.0 * m0, d))


class Akima1DInterpolator(PPoly):
    """`scipy.interpolate.Akima1DInterpolator` (method 'akima' or 'makima'); by default it
    does not extrapolate (NaN outside the knots), as SciPy."""

    def __init__(self, x, y, axis=0, *, method="akima", extrapolate=None):
        if method not in ("akima", "makima"):
            raise NotImplementedError(f"Akima1DInterpolator: method {method!r} is unknown; use "
                                      "'akima' or 'makima'")
        x = _knots(x, "Akima1DInterpolator", minimum=3)
        y2, rest, axis = _data(x, y, axis, "Akima1DInterpolator")
        m = (y2[1:] - y2[:-1]) / _col(cnp.diff(x))
        a1 = 2.0 * m[0:1] - m[1:2]
        a0 = 2.0 * a1 - m[0:1]
        b1 = 2.0 * m[-1:] - m[-2:-1]
        b2 = 2.0 * b1 - m[-1:]
        m = cnp.concatenate([a0, a1, m, b1, b2], axis=0)
        t = 0.5 * (m[3:] + m[:-3])
        dm = cnp.abs(m[1:] - m[:-1])
        f1, f2 = dm[2:], dm[:-2]
        if method == "makima":
            pm = cnp.abs(m[1:] + m[:-1])
            f1, f2 = f1 + 0.5 * pm[2:], f2 + 0.5 * pm[:-2]
        f12 = f1 + f2
        big = f12 > 1e-9 * cnp.max(cnp.stop_gradient(f12))
        f12s = cnp.where(big, f12, 1.0)
        s = cnp.where(big, (f1 * m[1:-2] + f2 * m[2:-1]) / f12s, t)
        super().__init__(_hermite_c(x, y2, s, rest), x, False if extrapolate is None else extrapolate,
                         axis)


# ------------------------------------------------------------ B-splines ---

def _safe_div(a, b):
    zero = cnp.equal(b, 0)
    return cnp.where(zero, 0.0, a / cnp.where(zero, 1.0, b))


def _basis(t, k, xq):
    """(m, len(t)-k-1) values of the degree-k B-splines at xq (Cox-de Boor on the interval of
    each point, so points outside continue the first or last piece)."""
    nt = shape_of(t)[0]
    ell = _interval(t, xq, k, nt - k - 2)
    B = cnp.astype(cnp.equal(cnp.expand_dims(ell, -1), _np.arange(nt - 1)), _np.float64)
    q = _col(xq)
    for p in range(1, k + 1):
        tj, tjp = t[:nt - p - 1], t[p:nt - 1]          # t_j, t_{j+p}
        tj1, tjp1 = t[1:nt - p], t[p + 1:]             # t_{j+1}, t_{j+p+1}
        B = (_safe_div(q - tj, tjp - tj) * B[:, :-1] + _safe_div(tjp1 - q, tjp1 - tj1) * B[:, 1:])
    return B


class BSpline:
    """`scipy.interpolate.BSpline`: sum_j c[j] B_{j,k}(x) on knots t (c along axis 0)."""

    def __init__(self, t, c, k, extrapolate=True, axis=0):
        self.t, self.c, self.k = _float(t), _float(c), int(k)
        self.extrapolate, self.axis = extrapolate, axis
        nt = shape_of(self.t)[0]
        if shape_of(self.c)[0] < nt - self.k - 1:
            raise ValueError(f"BSpline: need at least {nt - self.k - 1} coefficients for "
                             f"{nt} knots and degree {self.k}, got {shape_of(self.c)[0]}")

    def derivative(self, nu=1):
        """The nu-th derivative (degree k - nu; zero past the degree)."""
        nu = _check_nu(nu)
        t, c, k = self.t, self.c, self.k
        nt = shape_of(t)[0]
        c = c[:nt - k - 1]
        for _ in range(nu):
            if k == 0:
                c = cnp.zeros_like(c)
                break
            nt = shape_of(t)[0]
            dt = cnp.reshape(t[k + 1:nt - 1] - t[1:nt - k - 1], (-1,) + (1,) * (len(shape_of(c)) - 1))
            c = k * _safe_div(c[1:] - c[:-1], dt)
            t, k = t[1:nt - 1], k - 1
        return BSpline(t, c, k, self.extrapolate, self.axis)

    def __call__(self, x, nu=0, extrapolate=None):
        nu = _check_nu(nu)
        if nu:
            return self.derivative(nu)(x, extrapolate=extrapolate)
        extrapolate = self.extrapolate if extrapolate is None else extrapolate
        if extrapolate == "periodic":
            raise NotImplementedError("BSpline: extrapolate='periodic' is not supported")
        xq = _float(x)
        qshape = shape_of(xq)
        q = cnp.reshape(xq, (-1,))
        t, k = self.t, self.k
        nt = shape_of(t)[0]
        cs = shape_of(self.c)
        c = cnp.reshape(self.c[:nt - k - 1], (nt - k - 1, -1))
        y = cnp.matmul(_basis(t, k, q), c)
        if not extrapolate:
            out = cnp.logical_or(q < t[k], q > t[nt - k - 1])
            y = cnp.where(_col(out), _np.nan, y)
        return _place(y, qshape, tuple(cs[1:]), self.axis)


def make_interp_spline(x, y, k=3, t=None, bc_type=None, axis=0, check_finite=True):
    """`scipy.interpolate.make_interp_spline`: the degree-k interpolating B-spline (SciPy's
    default knots: not-a-knot for odd k, shifted midpoints for k=2).  Only t=None and
    bc_type=None are supported."""
    if t is not None or bc_type is not None:
        raise NotImplementedError("make_interp_spline: only the default knots (t=None) and "
                                  "bc_type=None are supported")
    k = int(k)
    if k < 0:
        raise ValueError(f"make_interp_spline: the degree k must be non-negative, got {k}")
    x = _knots(x, "make_interp_spline", minimum=1)
    y2, rest, axis = _data(x, y, axis, "make_interp_spline")
    n = shape_of(x)[0]
    if n < k + 1:
        raise ValueError(f"make_interp_spline: need at least k+1 = {k + 1} points, got {n}")
    if k == 0:
        tk = cnp.concatenate([x, x[n - 1:]])
    elif k == 1:
        tk = cnp.concatenate([x[:1], x, x[n - 1:]])
    elif k == 2:
        mid = (x[1:] + x[:-1]) / 2.0
        tk = cnp.concatenate([cnp.broadcast_to(x[:1], (3,)), mid[1:n - 2], cnp.broadcast_to(x[n - 1:], (3,))])
    elif k % 2:
        h = (k - 1) // 2
        tk = cnp.concatenate([cnp.broadcast_to(x[:1], (k + 1,)), x[h + 1:n - h - 1],
                              cnp.broadcast_to(x[n - 1:], (k + 1,))])
    else:
        raise NotImplementedError(f"make_interp_spline: even degree k={k} > 2 needs explicit knots, "
                                  "which are not supported")
    if k <= 1:
        c = y2
    else:
        c = cnp.linalg.solve(_basis(tk, k, x), y2)
    return BSpline(tk, cnp.reshape(c, (n,) + tuple(rest)), k, True, axis)


# ---------------------------------------------------------------- interp1d ---

_KINDS = {"zero": 0, "slinear": 1, "quadratic": 2, "cubic": 3}
_ALL_KINDS = ("linear", "nearest", "nearest-up", "previous", "next") + tuple(_KINDS)


class interp1d:  # noqa: N801  (SciPy's name)
    """`scipy.interpolate.interp1d`: y(x) along `axis` for kind 'linear', 'nearest',
    'nearest-up', 'previous', 'next', 'zero', 'slinear', 'quadratic', 'cubic' or an int
    spline order; outside the range, `fill_value` (a value, a pair (below, above), or
    'extrapolate') or an error when bounds_error is True."""

    def __init__(self, x, y, kind="linear", axis=-1, copy=True, bounds_error=None,
                 fill_value=_np.nan, assume_sorted=False):
        if isinstance(kind, str):
            if kind not in _ALL_KINDS:
                raise NotImplementedError(f"interp1d: kind {kind!r} is unknown; use one of "
                                          f"{', '.join(map(repr, _ALL_KINDS))} or an int order")
            order = _KINDS.get(kind)
        else:
            order = int(kind)
            kind = "spline"
        x = _float(x)
        if x.ndim != 1:
            raise ValueError("interp1d: `x` must be 1-dimensional")
        y = _float(y)
        if y.ndim == 0:
            raise ValueError("interp1d: `y` must be at least 1-dimensional")
        axis = axis % y.ndim if -y.ndim <= axis < y.ndim else None
        if axis is None:
            raise ValueError(f"interp1d: axis out of range for `y` of shape {shape_of(y)}")
        if shape_of(x)[0] != shape_of(y)[axis]:
            raise ValueError("interp1d: x and y arrays must be equal in length along the "
                             f"interpolation axis ({shape_of(x)[0]} != {shape_of(y)[axis]})")
        if not assume_sorted:
            ind = cnp.argsort(cnp.stop_gradient(x))
            x, y = cnp.take(x, ind), cnp.take(y, ind, axis=axis)
        self.x, self.y, self.axis, self.kind, self.copy = x, y, axis, kind, copy
        self._extrapolate = isinstance(fill_value, str) and fill_value == "extrapolate"
        if isinstance(fill_value, str) and not self._extrapolate:
            raise ValueError(f"interp1d: fill_value {fill_value!r} is unknown; use a number, a pair "
                             "(below, above) or 'extrapolate'")
        if self._extrapolate and bounds_error:
            raise ValueError("interp1d: cannot extrapolate and raise at the same time")
        self.bounds_error = (not self._extrapolate) if bounds_error is None else bool(bounds_error)
        self.fill_value = fill_value
        need = 1 if kind in ("nearest", "nearest-up", "previous", "next") else max(2, (order or 0) + 1)
        if shape_of(x)[0] < need:
            raise ValueError(f"interp1d: kind {kind!r} needs at least {need} points, "
                             f"got {shape_of(x)[0]}")
        if order is not None:
            self._spline = make_interp_spline(x, y, k=order, axis=axis)
        else:
            if kind == "linear":
                _knots(x, "interp1d")
            self._y2, self._rest, _ = _data(x, y, axis, "interp1d")

    def _fill(self, side):
        fv = self.fill_value
        if isinstance(fv, tuple):
            if len(fv) != 2:
                raise ValueError("interp1d: a tuple fill_value must be (below, above)")
            fv = fv[side]
        fv = _float(fv)
        rest = [d for i, d in enumerate(shape_of(self.y)) if i != self.axis]
        if shape_of(fv) == ():
            return fv
        try:
            b = _np.broadcast_shapes(shape_of(fv), tuple(rest))
        except ValueError:
            b = None
        if b != tuple(rest):
            raise ValueError(f"interp1d: fill_value of shape {shape_of(fv)} does not broadcast to "
                             f"{tuple(rest)}")
        return cnp.reshape(cnp.broadcast_to(fv, tuple(rest)), (1, -1))

    def _core(self, q):
        """(m, R) values at flat query points q, extrapolating."""
        x, y2 = self.x, self._y2
        n = shape_of(x)[0]
        kind = self.kind
        if kind == "linear":
            j = _interval(x, q, 0, n - 2)
            x0, x1 = cnp.take(x, j), cnp.take(x, j + 1)
            y0, y1 = cnp.take(y2, j, axis=0), cnp.take(y2, j + 1, axis=0)
            return y0 + _col((q - x0) / (x1 - x0)) * (y1 - y0)
        if kind in ("nearest", "nearest-up"):
            mids = (x[1:] + x[:-1]) / 2.0
            side = "left" if kind == "nearest" else "right"
            j = cnp.searchsorted(cnp.stop_gradient(mids), cnp.stop_gradient(q), side=side)
        elif kind == "previous":
            j = cnp.clip(cnp.searchsorted(cnp.stop_gradient(x), cnp.stop_gradient(q), side="right") - 1,
                         0, n - 1)
        else:   # next
            j = cnp.clip(cnp.searchsorted(cnp.stop_gradient(x), cnp.stop_gradient(q), side="left"),
                         0, n - 1)
        return cnp.take(y2, j, axis=0)

    def __call__(self, x_new):
        xq = _float(x_new)
        qshape = shape_of(xq)
        q = cnp.reshape(xq, (-1,))
        x = self.x
        n = shape_of(x)[0]
        below, above = q < x[0], q > x[n - 1]
        if self.bounds_error:
            if bool(cnp.any(below)):
                raise ValueError("interp1d: a value in x_new is below the interpolation range's "
                                 "minimum value")
            if bool(cnp.any(above)):
                raise ValueError("interp1d: a value in x_new is above the interpolation range's "
                                 "maximum value")
        if self.kind in _KINDS or self.kind == "spline":
            sp = self._spline
            rest = tuple(d for i, d in enumerate(shape_of(self.y)) if i != self.axis)
            y = cnp.reshape(sp(q), (shape_of(q)[0], -1)) if self.axis == 0 or not rest else \
                cnp.reshape(cnp.moveaxis(sp(q), self.axis, 0), (shape_of(q)[0], -1))
        else:
            rest = self._rest
            y = self._core(q)
            if self._extrapolate and self.kind == "previous":   # nothing precedes x[0]
                y = cnp.where(_col(below), _np.nan, y)
            if self._extrapolate and self.kind == "next":
                y = cnp.where(_col(above), _np.nan, y)
        if not self._extrapolate:
            y = cnp.where(_col(below), self._fill(0), y)
            y = cnp.where(_col(above), self._fill(1), y)
        return _place(y, qshape, rest, self.axis)
