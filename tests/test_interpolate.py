"""chainrule.scipy.interpolate: values against SciPy, derivatives against finite differences."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.scipy import interpolate as ci

si = pytest.importorskip("scipy.interpolate")

RNG = np.random.default_rng(7)
X = np.array([0.0, 0.6, 1.5, 2.1, 3.2, 4.0, 5.3])
Y = np.stack([np.sin(X), np.cos(2 * X) + X], axis=1)              # (7, 2)
Q = np.array([-0.8, -0.1, 0.0, 0.3, 1.5, 1.9, 2.8, 4.0, 5.3, 5.5, 6.4])
BCS = ["not-a-knot", "natural", "clamped",
       ((1, np.array([0.3, -1.0])), (2, np.array([1.5, 0.2]))),
       ((2, np.array([-0.5, 0.0])), (1, np.array([2.0, 0.7])))]


def fd_jac(f, x):
    """Central-difference Jacobian of f at x (chainrule.fd): shape f(x).shape + x.shape."""
    return cr.fd.jacobian(f, np.asarray(x, float), method="central")


def check_argument_derivatives(f, args, rtol=1e-6, atol=1e-6):
    """jacfwd against central differences and jacrev against jacfwd, for each argument."""
    for i, arg in enumerate(args):
        def fi(v, i=i):
            return f(*[v if j == i else a for j, a in enumerate(args)])
        fwd = cr.jacfwd(f, argnums=i)(*args)
        np.testing.assert_allclose(fwd, fd_jac(fi, arg), rtol=rtol, atol=atol)
        np.testing.assert_allclose(cr.jacrev(f, argnums=i)(*args), fwd, rtol=1e-10, atol=1e-12)


def periodic_y(n):
    y = RNG.normal(size=(n, 2))
    y[-1] = y[0]
    return y


# ---------------------------------------------------------------- values

@pytest.mark.parametrize("bc", BCS + ["periodic"], ids=str)
@pytest.mark.parametrize("n", [2, 3, 4, 7])
def test_cubic_spline_matches_scipy(bc, n):
    x = X[:n]
    y = periodic_y(n) if bc == "periodic" else Y[:n]
    ours, ref = ci.CubicSpline(x, y, bc_type=bc), si.CubicSpline(x, y, bc_type=bc)
    np.testing.assert_allclose(ours.c, ref.c, rtol=1e-10, atol=1e-10)
    q = np.linspace(x[0] - 1.0, x[-1] + 1.5, 29)
    for nu in range(5):
        np.testing.assert_allclose(ours(q, nu), ref(q, nu), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours(q, extrapolate=False), ref(q, extrapolate=False), rtol=1e-10)
    np.testing.assert_allclose(ours.integrate(-0.7, 4.4), ref.integrate(-0.7, 4.4), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(ours.integrate(9.1, -2.3), ref.integrate(9.1, -2.3), rtol=1e-9, atol=1e-10)


def test_cubic_spline_axis_and_scalar_query():
    y = np.moveaxis(RNG.normal(size=(7, 3, 2)), 0, 1)          # interpolation axis 1: (3, 7, 2)
    ours, ref = ci.CubicSpline(X, y, axis=1), si.CubicSpline(X, y, axis=1)
    q = RNG.uniform(-1, 6, size=(4, 5))
    assert ours(q).shape == ref(q).shape == (3, 4, 5, 2)
    np.testing.assert_allclose(ours(q), ref(q), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours(2.5, 2), ref(2.5, 2), rtol=1e-10)


def test_derivative_antiderivative_match_scipy():
    ours, ref = ci.CubicSpline(X, Y), si.CubicSpline(X, Y)
    for nu in (1, 2, 3, 4):
        np.testing.assert_allclose(ours.derivative(nu)(Q), ref.derivative(nu)(Q), rtol=1e-9, atol=1e-9)
    for nu in (1, 2):
        a, b = ours.antiderivative(nu), ref.antiderivative(nu)
        np.testing.assert_allclose(a.c, b.c, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(a(Q), b(Q), rtol=1e-9, atol=1e-12)
    yp = periodic_y(7)
    p = ci.CubicSpline(X, yp, bc_type="periodic")
    assert p.antiderivative().extrapolate is False


@pytest.mark.parametrize("n", [2, 3, 6])
def test_pchip_and_akima_match_scipy(n):
    y = np.array([0.0, 1.0, 1.0, 3.0, 2.0, -1.0])[:n, None] * np.array([1.0, -2.0])
    x = X[:n]
    q = np.linspace(x[0] - 0.5, x[-1] + 0.5, 31)
    np.testing.assert_allclose(ci.PchipInterpolator(x, y)(q), si.PchipInterpolator(x, y)(q),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ci.PchipInterpolator(x, y)(q, 1), si.PchipInterpolator(x, y)(q, 1),
                               rtol=1e-12, atol=1e-12)
    if n >= 3:
        for method in ("akima", "makima"):
            ours = ci.Akima1DInterpolator(x, y, method=method)
            ref = si.Akima1DInterpolator(x, y, method=method)
            np.testing.assert_allclose(ours(q), ref(q), rtol=1e-12, atol=1e-12)   # NaN outside
            np.testing.assert_allclose(ours(q, extrapolate=True), ref(q, extrapolate=True),
                                       rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [0, 1, 2, 3, 5])
def test_make_interp_spline_matches_scipy(k):
    ours, ref = ci.make_interp_spline(X, Y, k), si.make_interp_spline(X, Y, k)
    np.testing.assert_allclose(ours.t, ref.t)
    np.testing.assert_allclose(ours.c, ref.c, rtol=1e-9, atol=1e-10)
    q = np.linspace(0.0, 5.3, 23) if k == 5 else Q
    for nu in range(k + 1):
        np.testing.assert_allclose(ours(q, nu), ref(q, nu), rtol=1e-8, atol=1e-8)


KINDS = ["linear", "nearest", "nearest-up", "previous", "next", "zero", "slinear", "quadratic",
         "cubic", 5]


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_interp1d_matches_scipy(kind):
    y = Y.T                                          # default axis=-1
    q = np.array([0.0, 0.3, 1.05, 1.5, 2.9, 4.65, 5.3])   # 1.05, 4.65: midpoints (nearest ties)
    ours, ref = ci.interp1d(X, y, kind=kind), si.interp1d(X, y, kind=kind)
    np.testing.assert_allclose(ours(q), ref(q), rtol=1e-10, atol=1e-10)
    qo = np.array([-1.0, 0.5, 6.0])
    for fill in (np.nan, -3.0, (-7.0, 9.0)):
        o = ci.interp1d(X, y, kind=kind, bounds_error=False, fill_value=fill)
        r = si.interp1d(X, y, kind=kind, bounds_error=False, fill_value=fill)
        np.testing.assert_allclose(o(qo), r(qo), rtol=1e-10)
    o = ci.interp1d(X, y, kind=kind, fill_value="extrapolate")
    r = si.interp1d(X, y, kind=kind, fill_value="extrapolate")
    np.testing.assert_allclose(o(qo), r(qo), rtol=1e-9, atol=1e-9)


def test_interp1d_unsorted_x_and_axis0():
    perm = np.array([3, 0, 6, 2, 1, 5, 4])
    ours = ci.interp1d(X[perm], Y[perm], kind="cubic", axis=0)
    ref = si.interp1d(X[perm], Y[perm], kind="cubic", axis=0)
    np.testing.assert_allclose(ours(Q[2:-2]), ref(Q[2:-2]), rtol=1e-10, atol=1e-12)
    q2 = np.array([[0.5, 1.0], [2.0, 3.0]])
    np.testing.assert_allclose(ci.interp1d(X, Y, axis=0)(q2), si.interp1d(X, Y, axis=0)(q2))


def test_interp1d_linear_against_jax():
    jnp = pytest.importorskip("jax.numpy")
    import jax
    jax.config.update("jax_enable_x64", True)
    q = np.linspace(0.0, 5.3, 17)
    f = ci.interp1d(X, Y[:, 0])
    np.testing.assert_allclose(f(q), np.asarray(jnp.interp(q, X, Y[:, 0])), rtol=1e-13)
    g = cr.grad(lambda y: ci.interp1d(X, y)(q).sum())(Y[:, 0])
    gj = jax.grad(lambda y: jnp.interp(q, X, y).sum())(Y[:, 0])
    np.testing.assert_allclose(g, np.asarray(gj), rtol=1e-12)


# ----------------------------------------------------------- derivatives

@pytest.mark.parametrize("bc", BCS + ["periodic"], ids=str)
def test_cubic_spline_gradients_match_finite_differences(bc):
    periodic = bc == "periodic"
    y = periodic_y(7)[:-1, 0] if periodic else Y[:, 0]     # periodic: y[-1] is y[0]
    bc1 = bc if isinstance(bc, str) else tuple((o, v[0]) for o, v in bc)
    q = np.array([-0.4, 0.2, 1.1, 2.5, 3.7, 5.0, 5.95])   # wrapped points avoid the knots

    def f(x, y, q):
        return ci.CubicSpline(x, cnp.concatenate([y, y[:1]]) if periodic else y, bc_type=bc1)(q, 1)
    check_argument_derivatives(f, (X, y, q))


def test_integral_gradient_wrt_knots_and_bounds():
    def f(x, y, ab):
        return ci.CubicSpline(x, y).integrate(ab[0], ab[1])
    check_argument_derivatives(f, (X, Y[:, 0], np.array([0.3, 4.8])), atol=1e-7)


@pytest.mark.parametrize("make", [
    lambda x, y: ci.PchipInterpolator(x, y),
    lambda x, y: ci.Akima1DInterpolator(x, y, extrapolate=True),
    lambda x, y: ci.make_interp_spline(x, y, 3),
    lambda x, y: ci.make_interp_spline(x, y, 2),
    lambda x, y: ci.interp1d(x, y, kind="quadratic", fill_value="extrapolate"),
    lambda x, y: ci.interp1d(x, y, kind="linear", fill_value="extrapolate"),
], ids=["pchip", "akima", "bspline3", "bspline2", "interp1d-quadratic", "interp1d-linear"])
def test_other_interpolants_gradients(make):
    y = np.array([0.0, 0.8, 1.1, 2.9, 2.0, -1.0, -0.5])
    q = np.array([-0.4, 0.2, 1.1, 2.5, 3.7, 5.0])

    def f(x, y, q):
        return make(x, y)(q)
    check_argument_derivatives(f, (X, y, q))


def test_hessian_in_query_is_second_derivative():
    s = ci.CubicSpline(X, Y[:, 0])
    h = cr.hessian(lambda q: s(q))(2.3)
    np.testing.assert_allclose(h, si.CubicSpline(X, Y[:, 0])(2.3, 2), rtol=1e-10)


# ------------------------------------------------------- transformations

def test_jit_equals_eager_twice():
    def f(x, y, q):
        return (ci.CubicSpline(x, y, bc_type="natural")(q, 1) + ci.PchipInterpolator(x, y)(q)
                + ci.interp1d(x, y, kind="cubic", fill_value="extrapolate")(q))
    g = cr.jit(f)
    for k in range(2):   # the second call runs the compiled code
        y = Y[:, 0] + k
        np.testing.assert_allclose(g(X, y, Q), f(X, y, Q), rtol=1e-12, atol=1e-12)
    gg = cr.jit(cr.grad(lambda y: f(X, y, Q).sum()))
    for k in range(2):
        np.testing.assert_allclose(gg(Y[:, 0] + k), cr.grad(lambda y: f(X, y, Q).sum())(Y[:, 0] + k),
                                   rtol=1e-12, atol=1e-12)


def test_vmap_equals_loop():
    ys = RNG.normal(size=(4, 7))
    qs = RNG.uniform(-1, 6, size=(4, 5))
    f = lambda y, q: ci.CubicSpline(X, y)(q, 2)  # noqa: E731
    np.testing.assert_allclose(cr.vmap(f)(ys, qs), np.stack([f(y, q) for y, q in zip(ys, qs)]),
                               rtol=1e-12, atol=1e-12)
    xs = np.stack([X, X * 1.1, X + 0.2])
    g = lambda x: ci.make_interp_spline(x, Y[:, 0])(Q)  # noqa: E731
    np.testing.assert_allclose(cr.vmap(g)(xs), np.stack([g(x) for x in xs]), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------- errors

def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="strictly increasing"):
        ci.CubicSpline(X[::-1], Y)
    with pytest.raises(ValueError, match="strictly increasing"):
        ci.PchipInterpolator(np.array([0.0, 1.0, 1.0, 2.0]), np.arange(4.0))
    with pytest.raises(ValueError, match="does not match"):
        ci.CubicSpline(X, Y[:-1])
    with pytest.raises(ValueError, match="unknown bc_type"):
        ci.CubicSpline(X, Y, bc_type="natual")
    with pytest.raises(ValueError, match="both ends"):
        ci.CubicSpline(X, Y, bc_type=("periodic", "natural"))
    with pytest.raises(ValueError, match="identical"):
        ci.CubicSpline(X, Y, bc_type="periodic")
    with pytest.raises(ValueError, match="order"):
        ci.CubicSpline(X, Y, bc_type=((3, 0.0), "natural"))
    with pytest.raises(ValueError, match="non-negative"):
        ci.CubicSpline(X, Y)(1.0, -1)
    with pytest.raises(NotImplementedError, match="kind"):
        ci.interp1d(X, Y[:, 0], kind="cubbic")
    with pytest.raises(ValueError, match="equal in length"):
        ci.interp1d(X, Y[:-1, 0])
    with pytest.raises(ValueError, match="below"):
        ci.interp1d(X, Y[:, 0])(np.array([-1.0, 1.0]))
    with pytest.raises(ValueError, match="above"):
        ci.interp1d(X, Y[:, 0], kind="cubic")(np.array([9.0]))
    with pytest.raises(ValueError, match="fill_value"):
        ci.interp1d(X, Y[:, 0], fill_value="extrapolat")
    with pytest.raises(NotImplementedError, match="bc_type"):
        ci.make_interp_spline(X, Y, bc_type="natural")
    with pytest.raises(ValueError, match="at least 2"):
        ci.CubicSpline(X[:1], Y[:1])
