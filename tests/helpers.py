"""Shared test utilities: central finite differences and JVP/VJP consistency checks.

`check_jvp_vjp(f, args, order)` checks, along random directions,

* order 1: JVP against central finite differences, and VJP against JVP by the
  dot-product test ``<w, J v> == <J^T w, v>``;
* order 2: the same checks applied to the JVP function
  ``(x, v) -> J(x) v`` (forward-over-forward, reverse-over-forward) and to the
  VJP function ``(x, w) -> J(x)^T w`` (forward-over-reverse, reverse-over-reverse).

`f` takes real floating-point positional arguments (Python floats or float64
arrays) and returns a pytree of real floating-point values.
"""
from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule.tree_util import tree_flatten, tree_unflatten

DEFAULT_EPS = 1e-6


# ------------------------------------------------------------- vectors ---

def _leaves(tree):
    return tree_flatten(tree)[0]


def _axpy(a, t, x):
    """x + a * t, keeping Python floats as Python floats."""
    if isinstance(x, float) and not isinstance(x, np.ndarray):
        return x + a * float(t)
    return np.asarray(x, dtype=np.float64) + a * np.asarray(t, dtype=np.float64)


def _as_array(v):
    return np.asarray(v, dtype=np.float64)


def vdot(a, b):
    """Real inner product of two pytrees of the same structure."""
    la, lb = _leaves(a), _leaves(b)
    assert len(la) == len(lb), (la, lb)
    return float(sum(np.sum(_as_array(x) * _as_array(y)) for x, y in zip(la, lb)))


def _abs_vdot(a, b):
    return float(sum(np.sum(np.abs(_as_array(x) * _as_array(y)))
                     for x, y in zip(_leaves(a), _leaves(b))))


def random_like(x, rng):
    """A random value shaped like x (a Python float for a Python float)."""
    if isinstance(x, float) and not isinstance(x, np.ndarray):
        return float(rng.standard_normal())
    shape = np.shape(x)
    return np.asarray(rng.standard_normal(shape), dtype=np.float64)


def random_tree_like(tree, rng):
    leaves, td = tree_flatten(tree)
    return tree_unflatten(td, [random_like(x, rng) for x in leaves])


# ------------------------------------------------- finite differences ---

def numerical_jvp(f, args, tangents, eps=DEFAULT_EPS):
    """Central difference (f(x + eps v) - f(x - eps v)) / (2 eps), as a pytree like f's output."""
    args, tangents = tuple(args), tuple(tangents)
    plus = f(*[_axpy(eps, t, x) for x, t in zip(args, tangents)])
    minus = f(*[_axpy(-eps, t, x) for x, t in zip(args, tangents)])
    lp, td = tree_flatten(plus)
    lm = _leaves(minus)
    return tree_unflatten(td, [(_as_array(p) - _as_array(m)) / (2.0 * eps) for p, m in zip(lp, lm)])


def assert_close_tree(actual, expected, rtol, atol, what=""):
    la, ta = tree_flatten(actual)
    le, te = tree_flatten(expected)
    assert ta == te, f"{what}: structure {ta} != {te}"
    for i, (a, e) in enumerate(zip(la, le)):
        a, e = _as_array(a), _as_array(e)
        assert a.shape == e.shape, f"{what}: leaf {i} shape {a.shape} != {e.shape}"
        assert np.all(np.isfinite(a)), f"{what}: leaf {i} has non-finite entries {a}"
        scale = 1.0 + float(np.max(np.abs(e), initial=0.0))
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol * scale, err_msg=f"{what}: leaf {i}")


# ------------------------------------------------------------ checks ---

def _check_order1(f, args, rng, rtol, atol, eps, what, n_dirs):
    args = tuple(args)
    for _ in range(n_dirs):
        v = tuple(random_like(x, rng) for x in args)
        out, jv = cr.jvp(f, args, v)
        # the primal output of jvp is f's value
        assert_close_tree(out, f(*args), 1e-12, 1e-12, f"{what}: jvp primal output")
        fd = numerical_jvp(f, args, v, eps)
        assert_close_tree(jv, fd, rtol, atol, f"{what}: JVP vs central finite differences")

        out2, pullback = cr.vjp(f, *args)
        assert_close_tree(out2, out, 1e-12, 1e-12, f"{what}: vjp primal output")
        w = random_tree_like(out2, rng)
        ct = pullback(w)
        assert isinstance(ct, tuple) and len(ct) == len(args), f"{what}: vjp returned {ct!r}"
        for c, x in zip(ct, args):
            assert np.shape(c) == np.shape(x), f"{what}: cotangent shape {np.shape(c)} != {np.shape(x)}"
        lhs, rhs = vdot(w, jv), vdot(ct, v)
        scale = _abs_vdot(w, jv) + _abs_vdot(ct, v) + 1e-300
        assert abs(lhs - rhs) <= 1e-9 * scale + 1e-12, (
            f"{what}: dot-product test <w, Jv> = {lhs!r} but <J^T w, v> = {rhs!r}")


def check_jvp_vjp(f, args, order=2, rtol=1e-5, atol=1e-7, eps=DEFAULT_EPS, seed=0, n_dirs=2, what="f"):
    """Check forward and reverse derivatives of `f` at `args` up to `order` (1 or 2)."""
    rng = np.random.default_rng(seed)
    args = tuple(args)
    n = len(args)
    _check_order1(f, args, rng, rtol, atol, eps, what, n_dirs)
    if order < 2:
        return
    v0 = tuple(random_like(x, rng) for x in args)
    w0 = random_tree_like(f(*args), rng)

    def jvp_fn(*xv):                       # (x, v) -> J(x) v
        return cr.jvp(f, tuple(xv[:n]), tuple(xv[n:]))[1]

    def vjp_fn(*xw):                       # (x, w) -> J(x)^T w
        xs, w = xw[:n], tree_unflatten(tree_flatten(w0)[1], list(xw[n:]))
        return cr.vjp(f, *xs)[1](w)

    _check_order1(jvp_fn, args + v0, rng, rtol, atol, eps, f"{what} [JVP function: fwd-over-fwd, rev-over-fwd]",
                  n_dirs)
    _check_order1(vjp_fn, args + tuple(_leaves(w0)), rng, rtol, atol, eps,
                  f"{what} [VJP function: fwd-over-rev, rev-over-rev]", n_dirs)
    if order > 2:
        check_jvp_vjp(jvp_fn, args + v0, order - 1, rtol, atol, eps, seed + 1, 1, what + "'")


def fd_grad(f, x, eps=1e-6):
    """Central-difference gradient of scalar f at float/array x."""
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g if x.shape else float(g)


# ------------------------------------------------------- W2 (WORKLOADS.md) ---

def w2(x):
    if x < 0:
        for i in range(3):
            x = x * 1.5 + 0.1 * i
        return x ** 2
    return sum(x ** i + i for i in range(3))


def w2_value(x):
    return (3.375 * x + 0.35) ** 2 if x < 0 else 1 + x + x * x + 3


def w2_prime(x):
    return 2 * 3.375 * (3.375 * x + 0.35) if x < 0 else 1 + 2 * x


def w2_second(x):
    return 2 * 3.375 ** 2 if x < 0 else 2.0


# ------------------------------------------------- Rosenbrock (W7) ---

def rosen(x):
    """sum(100 (x[1:] - x[:-1]^2)^2 + (1 - x[:-1])^2), in chainrule.numpy."""
    import chainrule.numpy as cnp
    return cnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosen_bands(x):
    """(diagonal, off-diagonal) of the Rosenbrock Hessian, closed form."""
    d = np.zeros_like(x)
    d[:-1] += 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
    d[1:] += 200
    return d, -400 * x[:-1]


def rosen_hessian(x):
    d, o = rosen_bands(x)
    return np.diag(d) + np.diag(o, 1) + np.diag(o, -1)


def rosen_hvp(x, v):
    d, o = rosen_bands(x)
    hv = d * v
    hv[:-1] += o * v[1:]
    hv[1:] += o * v[:-1]
    return hv


# ------------------------------------------------- a time-stepping workload ---

def lorenz_rhs(y, p):
    """The Lorenz-63 right-hand side (written with chainrule.numpy)."""
    import chainrule.numpy as cnp
    return cnp.stack([p[0] * (y[1] - y[0]), y[0] * (p[1] - y[2]) - y[1], y[0] * y[1] - p[2] * y[2]])


def rk4_step(rhs, h):
    """One classical Runge-Kutta step of y' = rhs(y, p), as a function (y, p) -> y."""
    def step(y, p):
        k1 = rhs(y, p)
        k2 = rhs(y + 0.5 * h * k1, p)
        k3 = rhs(y + 0.5 * h * k2, p)
        k4 = rhs(y + h * k3, p)
        return y + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
    return step


# ------------------------------------------------- NumPy functions on traced values ---

def jacobian_matrix(j, out_shape, x):
    """A Jacobian of any layout as a (output size, input size) matrix."""
    return np.asarray(j).reshape(int(np.prod(out_shape, dtype=int)), np.size(x))


def compiled(jitted, *args):
    """The result of a jitted function's compiled code (its first call returns the staging
    run's values), checked against that first call."""
    first = jitted(*args)
    second = jitted(*args)
    for a, b in zip(tree_flatten(first)[0], tree_flatten(second)[0]):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-12, atol=1e-14)
    return second


def check_numpy_values(f, x, rtol=1e-12, atol=1e-12):
    """`f` (plain NumPy code) on traced values gives NumPy's result: under jit (the staging run
    and the compiled code, which first runs on the second call) and inside grad."""
    from chainrule.core import concrete
    expected = f(x)
    jf = cr.jit(f)
    for got in (jf(x), jf(x)):
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)
        assert np.shape(got) == np.shape(expected)
    seen = {}

    def loss(v):
        y = f(v)
        seen["y"] = y
        return np.sum(y * y)
    cr.grad(loss)(x)
    np.testing.assert_allclose(concrete(seen["y"]), expected, rtol=rtol, atol=atol)


def check_numpy_derivatives(f, x):
    """Jacobians of `f` (plain NumPy code) at `x`: jacfwd, jacrev and both under jit (compiled
    code) agree, and equal central finite differences over the entries of x that are not nan
    (a nan entry's column must be zero)."""
    out_shape = np.shape(f(x))
    jf = jacobian_matrix(cr.jacfwd(f)(x), out_shape, x)
    for other in (cr.jacrev(f)(x), compiled(cr.jit(cr.jacfwd(f)), x), compiled(cr.jit(cr.jacrev(f)), x)):
        np.testing.assert_allclose(jacobian_matrix(other, out_shape, x), jf, rtol=1e-12, atol=1e-12)
    ok = ~np.isnan(x).ravel()

    def g(xf):
        full = x.astype(float).ravel()
        full[ok] = xf
        return f(full.reshape(x.shape))
    jfd = np.asarray(cr.fd.jacobian(g, x.ravel()[ok])).reshape(jf.shape[0], -1)
    np.testing.assert_allclose(jf[:, ok], jfd, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(jf[:, ~ok], 0.0)
