"""`chainrule.scipy.optimize`: roots, fixed points and minima with SciPy's names, whose
solutions are differentiated by the implicit function theorem (`chainrule.implicit`).

Each solver runs on plain values (one `implicit_solve` equation: under `jit` it runs at
call time with the call's values, under `vmap` once per example) and is never
differentiated; the solution's derivative with respect to `args` (and to traced values the
function closes over) comes from F(x*, args) = 0: ``f(x*) = 0`` for roots,
``func(x*) - x* = 0`` for fixed points, ``grad f(x*) = 0`` for minima (a Hessian solve), and
the KKT conditions of the active set for minima with bounds or constraints (SLSQP,
trust-constr, L-BFGS-B, TNC: `_minimize_kkt`).
The starting point or bracket gets a zero derivative.  Derivatives nest (grad of grad),
and forward and reverse mode agree.

Differences from SciPy: `root` runs a damped Newton iteration (Jacobian by `jacfwd`, or
`jac`) whatever `method` names; `root_scalar(method="newton")` without `fprime` uses the
derivative by automatic differentiation.  `minimize` calls `scipy.optimize.minimize`
(with chainrule's gradient) when SciPy is installed, else a built-in BFGS.  A function must
be written with chainrule.numpy operations (no Python `if` on x) to be differentiated,
jitted or vmapped.
"""
from __future__ import annotations

import functools
import math

import numpy as _np

from .. import numpy as cnp
from ..api import grad, jacfwd, hvp
from ..core import Tracer, shape_of
from ..implicit import implicit_solve

try:                                        # optional: minimize's solver when installed
    import scipy.optimize as _sopt
except ImportError:                         # pragma: no cover - SciPy is a test dependency
    _sopt = None

__all__ = ["root_scalar", "brentq", "bisect", "newton", "root", "fixed_point", "minimize",
           "RootResults", "OptimizeResult"]

_EPS = _np.finfo(float).eps
_FLAGS = {0: "converged", -2: "convergence error", -3: "value error", -4: "derivative was zero"}


class RootResults:
    """A scalar root: `root`, `converged`, `iterations`, `function_calls`, `flag`, `method`
    (arrays, traced under a transformation; `flag` reads `status` when accessed)."""

    def __init__(self, root, converged, iterations, function_calls, status, method):
        self.root, self.converged, self.iterations = root, converged, iterations
        self.function_calls, self.status, self.method = function_calls, status, method

    @property
    def flag(self):
        return _FLAGS[int(self.status)]

    def __repr__(self):
        return (f"RootResults(root={self.root!r}, converged={self.converged!r}, "
                f"iterations={self.iterations!r}, function_calls={self.function_calls!r}, "
                f"method={self.method!r})")


_MESSAGES = {0: "The solution converged.", 1: "Maximum number of iterations has been exceeded.",
             2: "Desired error not necessarily achieved due to precision loss.",
             3: "NaN result encountered.", 4: "The iteration is not making good progress.",
             5: "The Jacobian is singular."}


class OptimizeResult:
    """`x`, `success`, `status`, `message`, `fun`, `nit`, `nfev` (and `jac` for minimize).

    `fun` is computed from x with chainrule operations, so it is differentiable too (its
    derivative is the envelope theorem's)."""

    def __init__(self, x, success, status, nit, nfev, fun, message=None):
        self.x, self.success, self.status, self.nit, self.nfev, self.fun = \
            x, success, status, nit, nfev, fun
        self._message = message

    @property
    def message(self):
        if self._message is not None:
            return self._message
        return _MESSAGES.get(int(self.status), f"The solver stopped with status {int(self.status)}.")

    def __getitem__(self, key):
        return getattr(self, key)

    def __repr__(self):
        return (f"OptimizeResult(x={self.x!r}, success={self.success!r}, fun={self.fun!r}, "
                f"nit={self.nit!r}, nfev={self.nfev!r})")


# ------------------------------------------------------ scalar solvers ---
# Each gets f on values (chainrule-differentiable) and returns
# (root, converged, iterations, function_calls, status).

def _val(f, x):
    return float(_np.asarray(f(x)))


def _check_bracket(fa, fb, a, b):
    if not (math.isfinite(fa) and math.isfinite(fb)):
        raise ValueError(f"f(a) = {fa} and f(b) = {fb} at the bracket [{a}, {b}]: the function "
                         "must be finite at both ends")
    if fa * fb > 0:
        raise ValueError(f"f(a) and f(b) must have different signs: f({a}) = {fa}, f({b}) = {fb}; "
                         "give a bracket [a, b] over which f changes sign")


def _bracket(f, a, b):
    """(a, b, f(a), f(b), result): result is set when an end point is a root."""
    a, b = float(a), float(b)
    fa, fb = _val(f, a), _val(f, b)
    _check_bracket(fa, fb, a, b)
    found = (a, True, 0, 2, 0) if fa == 0 else (b, True, 0, 2, 0) if fb == 0 else None
    return a, b, fa, fb, found


def _bisect(f, a, b, xtol, rtol, maxiter):
    a, b, fa, fb, found = _bracket(f, a, b)
    if found is not None:
        return found
    if fa > 0:                              # keep f(a) < 0 < f(b)
        a, b = b, a
    d, m = b - a, a
    for it in range(1, maxiter + 1):
        d *= 0.5
        m = a + d
        fm = _val(f, m)
        if fm < 0:
            a = m
        if fm == 0 or abs(d) < xtol + rtol * abs(m):
            return m, True, it, it + 2, 0
    return m, False, maxiter, maxiter + 2, -2


def _brentq(f, a, b, xtol, rtol, maxiter):
    """Brent's method (inverse quadratic interpolation, secant and bisection steps)."""
    a, b, fa, fb, found = _bracket(f, a, b)
    if found is not None:
        return found
    c, fc = a, fa
    d = e = b - a
    for it in range(1, maxiter + 1):
        if (fb > 0) == (fc > 0):            # c on the other side of the root from b
            c, fc = a, fa
            d = e = b - a
        if abs(fc) < abs(fb):               # b the best estimate
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol = 0.5 * (xtol + rtol * abs(b))
        m = 0.5 * (c - b)
        if fb == 0 or abs(m) <= tol:
            return b, True, it - 1, it + 1, 0
        if abs(e) >= tol and abs(fa) > abs(fb):
            s = fb / fa
            if a == c:                      # secant
                p, q = 2 * m * s, 1 - s
            else:                           # inverse quadratic interpolation
                q, r = fa / fc, fb / fc
                p = s * (2 * m * q * (q - r) - (b - a) * (r - 1))
                q = (q - 1) * (r - 1) * (s - 1)
            if p > 0:
                q = -q
            p = abs(p)
            if 2 * p < min(3 * m * q - abs(tol * q), abs(e * q)):
                e, d = d, p / q
            else:
                d = e = m
        else:
            d = e = m
        a, fa = b, fb
        b += d if abs(d) > tol else math.copysign(tol, m)
        fb = _val(f, b)
    return b, False, maxiter, maxiter + 2, -2


def _newton(f, x0, tol, rtol, maxiter, fprime):
    """Newton's method; fprime: "output" (f returns (f, f')) or "ad" (chainrule's derivative)."""
    def fd(x):
        if fprime == "output":
            v, dv = f(x)
            return float(_np.asarray(v)), float(_np.asarray(dv))
        v = _val(f, x)
        return v, float(_np.asarray(grad(f)(_np.float64(x))))
    p0 = float(x0)
    for it in range(1, maxiter + 1):
        v, dv = fd(p0)
        if v == 0:
            return p0, True, it, 2 * it, 0
        if dv == 0:
            return p0, False, it, 2 * it, -4
        p = p0 - v / dv
        if not math.isfinite(p):
            return p, False, it, 2 * it, -3
        if abs(p - p0) <= tol + rtol * abs(p):
            return p, True, it, 2 * it, 0
        p0 = p
    return p0, False, maxiter, 2 * maxiter, -2


def _secant(f, x0, x1, tol, rtol, maxiter):
    p0, p1 = float(x0), float(x1)
    q0, q1 = _val(f, p0), _val(f, p1)
    if abs(q1) < abs(q0):
        p0, p1, q0, q1 = p1, p0, q1, q0
    for it in range(1, maxiter + 1):
        if q1 == q0:
            return (p1 + p0) / 2, q1 == 0, it, it + 1, 0 if q1 == 0 else -4
        if abs(q1) > abs(q0):
            p = (-q0 / q1 * p1 + p0) / (1 - q0 / q1)
        else:
            p = (-q1 / q0 * p0 + p1) / (1 - q1 / q0)
        if not math.isfinite(p):
            return p, False, it, it + 1, -3
        if abs(p - p1) <= tol + rtol * abs(p):
            return p, True, it, it + 1, 0
        p0, q0, p1 = p1, q1, p
        q1 = _val(f, p1)
    return p1, False, maxiter, maxiter + 1, -2


_BRACKETING = {"bisect": _bisect, "brentq": _brentq, "brenth": _brentq}


def _check_callable(f, what):
    if not callable(f):
        raise TypeError(f"{what}: the function must be callable, got {type(f).__name__}; pass "
                        "a function f(x, *args)")


def _args(args):
    return args if isinstance(args, tuple) else (args,)


def root_scalar(f, args=(), method=None, bracket=None, fprime=None, x0=None, x1=None,
                xtol=None, rtol=None, maxiter=None):
    """A root of scalar `f(x, *args)` (SciPy's signature); returns `RootResults`.

    Methods: "bisect", "brentq" (also "brenth") with `bracket`; "newton" with `x0` (and
    `fprime`, else chainrule's derivative); "secant" with `x0` (and `x1`).  Default: brentq
    with a bracket, newton with x0 and fprime, else secant.  `.root` is differentiable
    with respect to `args`.
    """
    _check_callable(f, "root_scalar")
    args = _args(args)
    if method is None:
        method = "brentq" if bracket is not None else "newton" if fprime is not None else "secant"
    method = method.lower()
    maxiter = 100 if maxiter is None else int(maxiter)
    if method in _BRACKETING:
        if bracket is None or len(bracket) != 2:
            raise ValueError(f"root_scalar: method {method!r} needs bracket=[a, b]")
        solver = _BRACKETING[method]
        opts = (("xtol", 2e-12 if xtol is None else float(xtol)),
                ("rtol", 4 * _EPS if rtol is None else float(rtol)), ("maxiter", maxiter))
        init, fun = (_as_float(bracket[0]), _as_float(bracket[1])), f
    elif method in ("newton", "secant"):
        if x0 is None:
            raise ValueError(f"root_scalar: method {method!r} needs x0")
        tol = 1.48e-8 if xtol is None else float(xtol)
        opts = (("tol", tol), ("rtol", 0.0 if rtol is None else float(rtol)), ("maxiter", maxiter))
        if method == "newton":
            if fprime is not None:
                _check_callable(fprime, "root_scalar: fprime")
                solver, opts, fun = _newton, opts + (("fprime", "output"),), \
                    (lambda x, *a: (f(x, *a), fprime(x, *a)))
            else:
                solver, opts, fun = _newton, opts + (("fprime", "ad"),), f
            init = (_as_float(x0),)
        else:
            if x1 is None:
                v = float(_np.asarray(_concrete(x0)))
                x1 = v * (1 + 1e-4) + (1e-4 if v >= 0 else -1e-4)
            solver, fun, init = _secant, f, (_as_float(x0), _as_float(x1))
    else:
        raise ValueError(f"root_scalar: unknown method {method!r}; use 'bisect', 'brentq', "
                         "'newton' or 'secant'")
    x, (converged, nit, nfev, status) = implicit_solve(
        fun, solver, 0.0, init, args, options=opts, what="root_scalar")
    return RootResults(x, converged, nit, nfev, status, method)


def _as_float(x):
    if isinstance(x, Tracer):
        return x if _np.issubdtype(x.dtype, _np.inexact) else x.astype(float)
    return _np.float64(x)


def _concrete(x):
    return x.concrete() if isinstance(x, Tracer) else x


def _raise_unconverged(r, what):
    if not bool(cnp.all(r.converged)):
        raise RuntimeError(f"{what} failed to converge after {int(_np.max(_concrete(r.iterations)))} "
                           f"iterations ({r.flag}); value is {_concrete(r.root)}")


def brentq(f, a, b, args=(), xtol=2e-12, rtol=4 * _EPS, maxiter=100, full_output=False, disp=True):
    """A root of `f` in [a, b] by Brent's method (SciPy's signature); with `disp`, failure to
    converge raises RuntimeError."""
    r = root_scalar(f, args, "brentq", (a, b), xtol=xtol, rtol=rtol, maxiter=maxiter)
    if disp:
        _raise_unconverged(r, "brentq")
    return (r.root, r) if full_output else r.root


def bisect(f, a, b, args=(), xtol=2e-12, rtol=4 * _EPS, maxiter=100, full_output=False, disp=True):
    """A root of `f` in [a, b] by bisection (SciPy's signature)."""
    r = root_scalar(f, args, "bisect", (a, b), xtol=xtol, rtol=rtol, maxiter=maxiter)
    if disp:
        _raise_unconverged(r, "bisect")
    return (r.root, r) if full_output else r.root


def newton(func, x0, fprime=None, args=(), tol=1.48e-8, maxiter=50, x1=None, rtol=0.0,
           full_output=False, disp=True):
    """A root of scalar `func` near x0: Newton's method with `fprime`, else the secant method
    (SciPy's semantics); with `disp`, failure to converge raises RuntimeError."""
    method = "newton" if fprime is not None else "secant"
    r = root_scalar(func, args, method, fprime=fprime, x0=x0, x1=x1, xtol=tol, rtol=rtol,
                    maxiter=maxiter)
    if disp:
        _raise_unconverged(r, "newton")
    return (r.root, r) if full_output else r.root


# ------------------------------------------------------------- systems ---

def _flat_jac(J, n):
    return _np.asarray(J, dtype=float).reshape(n, n)


def _newton_system(f, x0, xtol, maxiter, jac):
    """Damped Newton on F(x) = 0: backtracking on |F|^2 (Armijo).  Returns
    (x, success, status, nit, nfev)."""
    shape = _np.shape(x0)
    x = _np.asarray(x0, dtype=float).ravel().copy()
    n = x.size

    def F(v):
        out = f(v.reshape(shape))
        return out if jac == "output" else (out, None)

    def jacobian(v):
        return _flat_jac(jacfwd(lambda y: f(y))(v.reshape(shape)), n)
    fx, Jx = F(x)
    fx = _np.asarray(fx, dtype=float).ravel()
    nfev = 1
    for it in range(1, maxiter + 1):
        phi = 0.5 * float(fx @ fx)
        if phi == 0:
            return x.reshape(shape), True, 0, it - 1, nfev
        J = jacobian(x) if Jx is None else _flat_jac(Jx, n)
        try:
            step = -_np.linalg.solve(J, fx)
        except _np.linalg.LinAlgError:
            return x.reshape(shape), False, 5, it, nfev
        if not _np.all(_np.isfinite(step)):
            return x.reshape(shape), False, 5, it, nfev
        t = 1.0
        while True:
            xn = x + t * step
            fn, Jn = F(xn)
            fn = _np.asarray(fn, dtype=float).ravel()
            nfev += 1
            if _np.all(_np.isfinite(fn)) and 0.5 * float(fn @ fn) <= (1 - 2e-4 * t) * phi:
                break
            t *= 0.5
            if t < 1e-12:
                return x.reshape(shape), False, 4, it, nfev
        x, fx, Jx = xn, fn, Jn
        if _np.linalg.norm(t * step) <= xtol * (_np.linalg.norm(x) + xtol):
            return x.reshape(shape), True, 0, it, nfev
    return x.reshape(shape), False, 1, maxiter, nfev


_ROOT_METHODS = ("hybr", "lm", "newton")


def root(fun, x0, args=(), method="hybr", jac=None, tol=None, options=None):
    """A root of the vector function `fun(x, *args)` (SciPy's signature): damped Newton with
    the Jacobian by `jacfwd` (or `jac`: a function, or True when `fun` returns (F, J)).
    Returns `OptimizeResult`; `.x` is differentiable with respect to `args`."""
    _check_callable(fun, "root")
    args = _args(args)
    if method.lower() not in _ROOT_METHODS:
        raise ValueError(f"root: method {method!r} is not implemented; use one of {_ROOT_METHODS} "
                         "(all run a damped Newton iteration)")
    options = dict(options or {})
    xtol = float(options.pop("xtol", 1.49012e-08 if tol is None else tol))
    maxiter = int(options.pop("maxiter", options.pop("maxfev", 100)))
    if callable(jac):
        f, how = (lambda x, *a: (fun(x, *a), jac(x, *a))), "output"
    elif jac:
        f, how = fun, "output"
    else:
        f, how = fun, "ad"
    x0 = _as_float_array(x0)
    x, (success, status, nit, nfev) = implicit_solve(
        f, _newton_system, x0, (x0,), args, options=(("xtol", xtol), ("maxiter", maxiter), ("jac", how)),
        what="root")
    fx = fun(x, *args)
    fx = fx[0] if how == "output" and not callable(jac) else fx
    return OptimizeResult(x, success, status, nit, nfev, fx)


def _as_float_array(x):
    if isinstance(x, Tracer):
        return x if _np.issubdtype(x.dtype, _np.inexact) else x.astype(float)
    x = _np.asarray(x)
    return x if _np.issubdtype(x.dtype, _np.inexact) else x.astype(float)


# --------------------------------------------------------- fixed point ---

def _fixed_point(f, x0, xtol, maxiter, accel):
    p0 = _np.asarray(x0, dtype=float)
    for it in range(1, maxiter + 1):
        p1 = _np.asarray(f(p0), dtype=float)
        if accel:                            # Steffensen's method with Aitken's del^2
            p2 = _np.asarray(f(p1), dtype=float)
            d = p2 - 2.0 * p1 + p0
            with _np.errstate(divide="ignore", invalid="ignore"):
                p = _np.where(d != 0, p0 - (p1 - p0) ** 2 / _np.where(d != 0, d, 1.0), p2)
        else:
            p = p1
        with _np.errstate(divide="ignore", invalid="ignore"):
            relerr = _np.where(p0 != 0, (p - p0) / _np.where(p0 != 0, p0, 1.0), p)
        if _np.all(_np.abs(relerr) < xtol):
            return p, True, it
        p0 = p
    return p0, False, maxiter


def fixed_point(func, x0, args=(), xtol=1e-8, maxiter=500, method="del2"):
    """x with ``func(x, *args) == x`` (SciPy's signature and iteration: "del2" is Steffensen's
    method, "iteration" plain iteration); failure to converge raises RuntimeError.  The
    result is differentiable with respect to `args`."""
    _check_callable(func, "fixed_point")
    if method not in ("del2", "iteration"):
        raise ValueError(f"fixed_point: method must be 'del2' or 'iteration', got {method!r}")
    args = _args(args)
    x0 = _as_float_array(x0)
    x, (converged, nit) = implicit_solve(
        func, _fixed_point, x0, (x0,), args,
        optimality=lambda g: (lambda x, *c: g(x, *c) - x),
        options=(("xtol", float(xtol)), ("maxiter", int(maxiter)), ("accel", method == "del2")),
        what="fixed_point")
    if not bool(cnp.all(converged)):
        raise RuntimeError(f"Failed to converge after {int(_np.max(_concrete(nit)))} iterations, "
                           f"value is {_concrete(x)}")
    return x


# ------------------------------------------------------------ minimize ---

_MIN_METHODS = ("bfgs", "l-bfgs-b", "newton-cg", "cg", "tnc", "slsqp", "trust-constr")


def _bfgs(value_and_grad, x, gtol, maxiter):
    """Built-in BFGS with a backtracking (Armijo) line search: (x, success, status, nit, nfev)."""
    n = x.size
    H = _np.eye(n)
    fx, g = value_and_grad(x)
    nfev = 1
    for it in range(1, maxiter + 1):
        if not _np.isfinite(fx) or not _np.all(_np.isfinite(g)):
            return x, False, 3, it - 1, nfev
        if _np.max(_np.abs(g)) <= gtol:
            return x, True, 0, it - 1, nfev
        p = -H @ g
        if g @ p >= 0:                      # not a descent direction: restart from -g
            H, p = _np.eye(n), -g
        t = 1.0
        while True:
            xn = x + t * p
            fn, gn = value_and_grad(xn)
            nfev += 1
            if _np.isfinite(fn) and fn <= fx + 1e-4 * t * (g @ p):
                break
            t *= 0.5
            if t < 1e-16:
                return x, False, 2, it, nfev
        s, y = xn - x, gn - g
        sy = s @ y
        if sy > 1e-12 * _np.linalg.norm(s) * _np.linalg.norm(y):
            rho = 1.0 / sy
            V = _np.eye(n) - rho * _np.outer(s, y)
            H = V @ H @ V.T + rho * _np.outer(s, s)
        x, fx, g = xn, fn, gn
    return x, False, 1, maxiter, nfev


def _minimize(f, x0, method, tol, options, jac, use_scipy):
    shape = _np.shape(x0)
    x = _np.asarray(x0, dtype=float).ravel().copy()

    def obj(v):
        out = f(v.reshape(shape))
        return out[0] if jac == "output" else out

    def value_and_grad(v):
        if jac == "output":
            val, g = f(v.reshape(shape))
        else:
            val, g = float(_np.asarray(obj(v))), grad(lambda y: obj(y))(v)
        return float(_np.asarray(val)), _np.asarray(g, dtype=float).ravel()
    options = dict(options)
    if use_scipy and _sopt is not None:
        extra = {}
        if method.lower() == "newton-cg":
            extra["hessp"] = lambda v, d: _np.asarray(hvp(lambda y: obj(y), (v,), (d,)), float).ravel()
        r = _sopt.minimize(value_and_grad, x, jac=True, method=method, tol=tol, options=options,
                           **extra)
        return (r.x.reshape(shape), bool(r.success), int(r.status), int(getattr(r, "nit", 0)),
                int(getattr(r, "nfev", 0)))
    gtol = float(options.get("gtol", 1e-5 if tol is None else tol))
    xs, success, status, nit, nfev = _bfgs(value_and_grad, x, gtol, int(options.get("maxiter", 200 * x.size)))
    return xs.reshape(shape), success, status, nit, nfev


_BOUND_METHODS = ("l-bfgs-b", "tnc", "slsqp", "trust-constr")
_CONSTRAINT_METHODS = ("slsqp", "trust-constr")
_METHOD_NAMES = "'BFGS', 'L-BFGS-B', 'Newton-CG', 'CG', 'TNC', 'SLSQP', 'trust-constr'"


def minimize(fun, x0, args=(), method=None, jac=None, hess=None, hessp=None, bounds=None,
             constraints=(), tol=None, callback=None, options=None, use_scipy=True):
    """The minimum of scalar `fun(x, *args)` (SciPy's signature): scipy.optimize.minimize
    with chainrule's gradient (or `jac`: a function, or True when `fun` returns (f, g)) when
    SciPy is installed and `use_scipy`, else a built-in BFGS.

    Without bounds or constraints, `.x` is differentiated with respect to `args` by the
    implicit function theorem on grad f(x*) = 0 (a Hessian solve).  With `bounds` (L-BFGS-B,
    TNC, SLSQP, trust-constr) or `constraints` (SLSQP, trust-constr: dicts with 'type' 'eq'
    or 'ineq' (fun >= 0), 'fun', optionally 'jac' and 'args'; Jacobians by chainrule when
    'jac' is absent), it is differentiated through the KKT conditions of the active set at
    the solution (see `_kkt_solve`).  `method=None` picks SciPy's default (BFGS, L-BFGS-B
    with bounds, SLSQP with constraints).  `hess`, `hessp` and `callback` are refused.
    """
    _check_callable(fun, "minimize")
    for name, v in (("hess", hess), ("hessp", hessp), ("callback", callback)):
        if v is not None:
            raise NotImplementedError(f"minimize: the keyword {name}= is not implemented (chainrule "
                                      "supplies the derivatives it needs by automatic differentiation)")
    args = _args(args)
    cons = _parse_constraints(constraints)
    if method is None:
        method = "SLSQP" if cons else "L-BFGS-B" if bounds is not None else "BFGS"
    if not isinstance(method, str) or method.lower() not in _MIN_METHODS:
        raise ValueError(f"minimize: method {method!r} is not supported; use one of {_METHOD_NAMES}")
    low = method.lower()
    if cons and low not in _CONSTRAINT_METHODS:
        raise ValueError(f"minimize: constraints= needs method 'SLSQP' or 'trust-constr', got {method!r}")
    if bounds is not None and low not in _BOUND_METHODS:
        raise ValueError(f"minimize: bounds= needs method 'L-BFGS-B', 'TNC', 'SLSQP' or "
                         f"'trust-constr', got {method!r}")
    if (cons or bounds is not None) and not (use_scipy and _sopt is not None):
        raise ValueError("minimize: bounds and constraints need SciPy (use_scipy=True); the "
                         "built-in solver is an unconstrained BFGS")
    if callable(jac):
        f, how = (lambda x, *a: (fun(x, *a), jac(x, *a))), "output"
    else:
        f, how = fun, "output" if jac else "ad"
    opts = tuple(sorted((options or {}).items()))
    x0 = _as_float_array(x0)
    if cons or bounds is not None or low in ("slsqp", "trust-constr"):
        return _minimize_kkt(fun, f, how, x0, args, method, cons, bounds, tol, opts)

    def stationarity(g):
        value = (lambda y, *c: g(y, *c)[0]) if how == "output" else g
        return lambda x, *c: grad(value)(x, *c)
    x, (success, status, nit, nfev) = implicit_solve(
        f, _minimize, x0, (x0,), args, optimality=stationarity,
        options=(("method", method), ("tol", tol), ("options", opts), ("jac", how),
                 ("use_scipy", bool(use_scipy))),
        what="minimize")
    val = fun(x, *args)
    val = val[0] if how == "output" and not callable(jac) else val
    return OptimizeResult(x, success, status, nit, nfev, val)


# -------------------------------------------------- bounds and constraints ---
#
# The solution x* of min f(x) s.t. c_eq(x) = 0, c_in(x) >= 0, lb <= x <= ub is the x-part
# of z = (x, lam_eq, lam_in, nu) solving F(z, args) = 0 with
#     grad f(x) - J_eq^T lam_eq - J_in^T lam_in - nu = 0                   (stationarity)
#     c_eq(x) = 0
#     c_in,i(x) = 0   where lam_in,i != 0,   lam_in,i = 0 elsewhere       (active set)
#     x_j = lb_j (nu_j > 0) or ub_j (nu_j < 0),   nu_j = 0 elsewhere       (active bounds)
# The solver runs SciPy on values, finds the active set (constraints and bounds within a
# tolerance of equality) and the multipliers by least squares on the stationarity equation
# (dropping candidates whose multiplier has the wrong sign).  The active set is read from
# z's multipliers inside F (comparisons: no derivative), so it is data at call time under
# jit, and the implicit function theorem differentiates the "active set stays active"
# branch: exact under strict complementarity; a weakly active constraint (multiplier 0)
# counts as inactive.

_ACTIVE_TOL = 1e-6


def _parse_constraints(constraints):
    if constraints is None:
        return []
    if isinstance(constraints, dict):
        constraints = [constraints]
    out = []
    for k, c in enumerate(constraints):
        if not isinstance(c, dict):
            raise NotImplementedError(f"minimize: constraint {k} is a {type(c).__name__}; only dicts "
                                      "{'type': 'eq' or 'ineq', 'fun': f, 'jac': ..., 'args': ...} "
                                      "are implemented")
        unknown = set(c) - {"type", "fun", "jac", "args"}
        if unknown:
            raise ValueError(f"minimize: constraint {k} has unknown keys {sorted(unknown)}; use "
                             "'type', 'fun', 'jac', 'args'")
        kind = c.get("type")
        if kind not in ("eq", "ineq"):
            raise ValueError(f"minimize: constraint {k} has type {kind!r}; use 'eq' or 'ineq'")
        _check_callable(c.get("fun"), f"minimize: constraint {k} 'fun'")
        if c.get("jac") is not None:
            _check_callable(c["jac"], f"minimize: constraint {k} 'jac'")
        out.append((kind, c["fun"], c.get("jac"), _args(c.get("args", ()))))
    return out


def _parse_bounds(bounds, n):
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):          # scipy.optimize.Bounds
        lb = _np.broadcast_to(_np.asarray(bounds.lb, float), (n,)).copy()
        ub = _np.broadcast_to(_np.asarray(bounds.ub, float), (n,)).copy()
    else:
        bounds = list(bounds)
        if len(bounds) != n:
            raise ValueError(f"minimize: bounds has {len(bounds)} (min, max) pairs but x0 has {n} "
                             "elements; give one pair per element")
        lb, ub = _np.empty(n), _np.empty(n)
        for j, pair in enumerate(bounds):
            if isinstance(pair, Tracer) or any(isinstance(v, Tracer) for v in pair):
                raise NotImplementedError("minimize: traced bounds are not implemented; bounds "
                                          "are constants")
            lo, hi = pair
            lb[j] = -_np.inf if lo is None else float(lo)
            ub[j] = _np.inf if hi is None else float(hi)
    if _np.any(lb > ub):
        j = int(_np.argmax(lb > ub))
        raise ValueError(f"minimize: bound {j} has min {lb[j]} > max {ub[j]}")
    return lb, ub


def _flat(v):
    return cnp.reshape(v, (-1,))


def _minimize_kkt(fun, f, how, x0, args, method, cons, bounds, tol, opts):
    shape, n = _np.shape(x0), int(_np.size(_concrete(x0)))
    has_b = bounds is not None
    lb, ub = _parse_bounds(bounds, n) if has_b else (None, None)
    xc = _np.asarray(_concrete(x0), float)
    sizes = []
    for _kind, cf, _, ca in cons:                # each constraint's size, from its value at x0
        sizes.append(int(_np.prod(shape_of(cf(xc, *ca)), dtype=int)))
    me = sum(s for (kind, *_), s in zip(cons, sizes) if kind == "eq")
    mi = sum(s for (kind, *_), s in zip(cons, sizes) if kind == "ineq")
    size = n + me + mi + (n if has_b else 0)

    def stacked(x, kind, jac):
        parts = [_flat(jf(x, *ca) if jac else cf(x, *ca)) if not jac else
                 cnp.reshape(jf(x, *ca), (-1, n))
                 for (k, cf, jf, ca) in cons if k == kind]
        if not parts:
            return cnp.zeros((0, n)) if jac else cnp.zeros(0)
        return cnp.concatenate(parts)

    user_jac = {kind: all(jf is not None for k, _, jf, _ in cons if k == kind) and
                any(k == kind for k, *_ in cons) for kind in ("eq", "ineq")}

    def packed(z, *a):
        x = cnp.reshape(z[:n], shape)
        out = f(x, *a)
        res = {"f": out[0] if how == "output" else out, "eq": stacked(x, "eq", False),
               "in": stacked(x, "ineq", False)}
        if how == "output":
            res["g"] = _flat(out[1])
        for kind, key in (("eq", "jeq"), ("ineq", "jin")):
            if user_jac[kind]:
                res[key] = stacked(x, kind, True)
        return res

    lbf = None if lb is None else _np.where(_np.isfinite(lb), lb, 0.0)
    ubf = None if ub is None else _np.where(_np.isfinite(ub), ub, 0.0)

    def kkt(g):
        def F(z, *c):
            x, le, li = z[:n], z[n:n + me], z[n + me:n + me + mi]

            def lagrangian(y):
                o = g(y, *c)
                val = o["f"]
                if me:
                    val = val - cnp.dot(le, o["eq"])
                if mi:
                    val = val - cnp.dot(li, o["in"])
                return val
            stat = grad(lagrangian)(z)[:n]
            o = g(z, *c)
            parts = [stat, o["eq"], cnp.where(li != 0, o["in"], li)]
            if has_b:
                nu = z[n + me + mi:]
                parts[0] = stat - nu
                parts.append(cnp.where(nu != 0, cnp.where(nu > 0, x - lbf, x - ubf), nu))
            return cnp.concatenate(parts)
        return F
    solver = functools.partial(_kkt_solver, method=method, tol=tol, options=opts, n=n, me=me,
                               mi=mi, lb=lb, ub=ub, user_g=how == "output",
                               user_jeq=user_jac["eq"], user_jin=user_jac["ineq"])
    z0 = cnp.concatenate([_flat(x0), cnp.zeros(size - n)])
    z, (success, status, nit, nfev) = implicit_solve(
        packed, solver, z0, (z0,), args, optimality=kkt, what="minimize")
    x = cnp.reshape(z[:n], shape)
    val = fun(x, *args)
    val = val[0] if how == "output" and isinstance(val, (tuple, list)) else val
    r = OptimizeResult(x, success, status, nit, nfev, val)
    r.multipliers = {"eq": z[n:n + me], "ineq": z[n + me:n + me + mi]}
    if has_b:
        r.multipliers["bounds"] = z[n + me + mi:]
    return r


def _multipliers(g, Je, Ji, ci, x, lb, ub, hint_i=None, hint_b=None):
    """(lam_eq, lam_in, nu) at x: least squares on g = Je^T le + Ji^T li + nu over the
    candidate active set (within a tolerance of equality, or flagged by the solver's own
    multipliers `hint_*`), dropping candidates whose multiplier has the wrong sign."""
    n = x.size
    tol = _ACTIVE_TOL * (1.0 + _np.max(_np.abs(x), initial=0.0))
    act_i = ci <= tol
    if hint_i is not None:
        act_i |= hint_i
    with _np.errstate(invalid="ignore"):
        near_lo = _np.zeros(n, bool) if lb is None else \
            _np.isfinite(lb) & (x - lb <= tol * (1 + _np.abs(lb)))
        near_hi = _np.zeros(n, bool) if ub is None else \
            _np.isfinite(ub) & (ub - x <= tol * (1 + _np.abs(ub)))
    if hint_b is not None and lb is not None:       # the nearer bound of a flagged variable
        nearer_lo = _np.abs(x - lb) <= _np.abs(ub - x)
        near_lo |= hint_b & nearer_lo & _np.isfinite(lb)
        near_hi |= hint_b & ~nearer_lo & _np.isfinite(ub)
    lo, hi = near_lo, near_hi & ~near_lo
    thresh = 1e-12 * (1.0 + _np.max(_np.abs(g), initial=0.0))
    while True:
        I = _np.eye(n)
        C = _np.concatenate([Je.T, Ji[act_i].T, I[:, lo | hi]], axis=1)
        lam = _np.linalg.lstsq(C, g, rcond=None)[0] if C.shape[1] else _np.zeros(0)
        le, li_a, nu_a = _np.split(lam, [Je.shape[0], Je.shape[0] + int(act_i.sum())])
        li = _np.zeros(ci.size)
        li[act_i] = li_a
        nu = _np.zeros(n)
        nu[lo | hi] = nu_a
        bad_i = act_i & (li <= thresh)
        bad_lo, bad_hi = lo & (nu <= thresh), hi & (nu >= -thresh)
        if not (bad_i.any() or bad_lo.any() or bad_hi.any()):
            return le, li, nu
        act_i, lo, hi = act_i & ~bad_i, lo & ~bad_lo, hi & ~bad_hi


def _kkt_solver(f, z0, method, tol, options, n, me, mi, lb, ub, user_g, user_jeq, user_jin):
    """SciPy's constrained minimize on values, then the multipliers: returns
    (z, success, status, nit, nfev) with z = (x, lam_eq, lam_in[, nu])."""
    z0 = _np.asarray(z0, float)
    rest = _np.zeros(z0.size - n)
    memo = {}

    def at(x):
        key = x.tobytes()
        if key not in memo:
            memo.clear()
            memo[key] = f(_np.concatenate([x, rest]))
        return memo[key]

    def zz(x):
        return _np.concatenate([x, rest])

    def val(x):
        return float(_np.asarray(at(x)["f"]))

    def gradient(x):
        if user_g:
            return _np.asarray(at(x)["g"], float)
        return _np.asarray(grad(lambda z: f(z)["f"])(zz(x)), float)[:n]

    def jacobian(x, key, user, m):
        if m == 0:
            return _np.zeros((0, n))
        if user:
            return _np.asarray(at(x)["j" + key[:2]], float).reshape(m, n)
        return _np.asarray(jacfwd(lambda z: f(z)[key])(zz(x)), float)[:, :n]

    cons = []
    if me:
        cons.append({"type": "eq", "fun": lambda x: _np.asarray(at(x)["eq"], float),
                     "jac": lambda x: jacobian(x, "eq", user_jeq, me)})
    if mi:
        cons.append({"type": "ineq", "fun": lambda x: _np.asarray(at(x)["in"], float),
                     "jac": lambda x: jacobian(x, "in", user_jin, mi)})
    extra = {}
    if method.lower() == "trust-constr":
        extra["hessp"] = lambda x, d: _np.asarray(hvp(lambda z: f(z)["f"], (zz(x),), (zz(d),)), float)[:n]
    if lb is not None:
        extra["bounds"] = _sopt.Bounds(lb, ub)
    x0 = _np.clip(z0[:n], lb, ub) if lb is not None else z0[:n]
    r = _sopt.minimize(lambda x: (val(x), gradient(x)), x0, jac=True, method=method, tol=tol,
                       constraints=cons, options=dict(options), **extra)
    x = _np.asarray(r.x, float)
    Je, Ji = jacobian(x, "eq", user_jeq, me), jacobian(x, "in", user_jin, mi)
    ci = _np.asarray(at(x)["in"], float) if mi else _np.zeros(0)
    hint_i = hint_b = None
    if method.lower() == "trust-constr":           # an interior point: ask its multipliers too
        v = list(getattr(r, "v", []))
        big = 1e-6 * (1.0 + _np.max(_np.abs(gradient(x)), initial=0.0))
        if mi and len(v) > int(bool(me)):
            hint_i = _np.abs(_np.ravel(v[int(bool(me))])) > big
        if lb is not None and len(v) == len(cons) + 1:
            hint_b = _np.abs(_np.ravel(v[-1])) > big
    le, li, nu = _multipliers(gradient(x), Je, Ji, ci, x, lb, ub, hint_i, hint_b)
    parts = [x, le, li] + ([nu] if lb is not None else [])
    return (_np.concatenate(parts), bool(r.success), int(r.status), int(getattr(r, "nit", 0)),
            int(getattr(r, "nfev", 0)))
