"""Tests for chainrule.fd: finite differences checked against closed forms."""

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pytest

from chainrule import fd

EPS = np.finfo(float).eps


# ---------------------------------------------------------------------------
# Closed forms
# ---------------------------------------------------------------------------


def exp2(x):
    return np.exp(2 * x)


def exp2_d(m, x):
    return 2.0**m * np.exp(2 * x)


def sin_d(m, x):
    return [np.sin, np.cos, lambda t: -np.sin(t), lambda t: -np.cos(t), np.sin][m](x)


def g(x):
    return np.sin(x) - 2 * np.cos(3 * x) * np.exp(-x**2)


def g_d(m, x):
    e = np.exp(-x**2)
    if m == 1:
        return np.cos(x) + 6 * np.sin(3 * x) * e + 4 * x * np.cos(3 * x) * e
    if m == 2:
        return -np.sin(x) - 2 * e * ((4 * x**2 - 11) * np.cos(3 * x) + 12 * x * np.sin(3 * x))
    raise NotImplementedError


CASES = [
    ("exp2x", exp2, exp2_d, 0.5),
    ("sin", np.sin, sin_d, 1.3),
    ("g", g, g_d, 0.7),
    ("g", g, g_d, -2.1),
]

# (method, order) -> (max relative error of value, max relative error estimate)
TOL = {
    ("central", 1): (1e-9, 1e-8),
    ("central", 2): (1e-6, 1e-5),
    ("central", 3): (1e-4, 1e-3),
    ("central", 4): (1e-4, 1e-3),
    ("forward", 1): (1e-9, 1e-8),
    ("forward", 2): (1e-5, 1e-5),
    ("forward", 3): (1e-3, 1e-3),
    ("forward", 4): (1e-3, 1e-3),
    ("backward", 1): (1e-9, 1e-8),
    ("backward", 2): (1e-5, 1e-5),
    ("backward", 3): (1e-3, 1e-3),
    ("backward", 4): (1e-3, 1e-3),
    ("richardson", 1): (1e-12, 1e-8),
    ("richardson", 2): (1e-10, 1e-7),
    ("richardson", 3): (1e-7, 1e-5),
    ("richardson", 4): (1e-6, 1e-4),
    ("complex", 1): (1e-14, 1e-14),
    ("complex", 2): (1e-9, 1e-9),
}


def _closed_form_cases():
    for (method, order), tol in TOL.items():
        for name, f, df, x in CASES:
            if name == "g" and order > 2:
                continue
            yield pytest.param(method, order, f, df, x, tol, id=f"{method}-{order}-{name}-{x}")


@pytest.mark.parametrize("method, order, f, df, x, tol", list(_closed_form_cases()))
def test_derivative_against_closed_form(method, order, f, df, x, tol):
    exact = df(order, x)
    r = fd.derivative(f, x, order=order, method=method)
    true_err = abs(r.value - exact)
    assert true_err <= tol[0] * abs(exact)
    # The reported error bounds the true error ...
    assert true_err <= 10 * r.error
    # ... and is not absurdly pessimistic.
    assert r.error <= tol[1] * abs(exact)
    assert r.method == method and r.order == order
    assert isinstance(r.value, float) and isinstance(r.error, float)


# ---------------------------------------------------------------------------
# Stencils
# ---------------------------------------------------------------------------


def test_stencil_weights_known_values():
    np.testing.assert_array_equal(fd.stencil_weights([-1, 0, 1], 2), [1.0, -2.0, 1.0])
    np.testing.assert_array_equal(fd.stencil_weights([-1, 1], 1), [-0.5, 0.5])
    np.testing.assert_array_equal(fd.stencil_weights([0, 1], 1), [-1.0, 1.0])
    np.testing.assert_allclose(
        fd.stencil_weights([-2, -1, 0, 1, 2], 1), [1 / 12, -2 / 3, 0, 2 / 3, -1 / 12], rtol=0, atol=1e-16
    )
    np.testing.assert_allclose(fd.stencil_weights([0, 1, 2], 1), [-1.5, 2.0, -0.5], rtol=0, atol=1e-16)
    np.testing.assert_array_equal(fd.stencil_weights([-2, -1, 0, 1, 2], 4), [1, -4, 6, -4, 1])
    # Non-integer, non-uniform offsets: derivative of x**2 at 0 -> weights w with
    # sum w o = 1 and sum w = 0, sum w o^2 = 0.
    w = fd.stencil_weights([-0.5, 0.25, 1.0], 1)
    o = np.array([-0.5, 0.25, 1.0])
    np.testing.assert_allclose([w.sum(), w @ o, w @ o**2], [0, 1, 0], atol=1e-14)


def test_stencil_weights_wide_stencil_is_exact():
    # 9-point central, 8th derivative: weights are binomial coefficients with
    # alternating signs -- a float64 Vandermonde solve gets these wrong in the
    # last digits; the rational solve gets them exactly.
    w = fd.stencil_weights(range(-4, 5), 8)
    np.testing.assert_array_equal(w, [(-1) ** k * math.comb(8, k) for k in range(9)])
    # 9-point first derivative: 4/5, -1/5, 4/105, -1/280
    w1 = fd.stencil_weights(range(-4, 5), 1)
    expected = [1 / 280, -4 / 105, 1 / 5, -4 / 5, 0, 4 / 5, -1 / 5, 4 / 105, -1 / 280]
    np.testing.assert_array_equal(w1, [float(Fraction(e).limit_denominator(1000)) for e in expected])


def _polynomial_cases():
    for method in ("forward", "backward", "central"):
        accs = (2, 4, 6, 8) if method == "central" else (1, 2, 3, 5, 8)
        for order in (1, 2, 3, 4):
            for acc in accs:
                yield pytest.param(method, order, acc, id=f"{method}-m{order}-p{acc}")


@pytest.mark.parametrize("method, order, acc", list(_polynomial_cases()))
def test_stencil_polynomial_exactness(method, order, acc):
    """Accuracy p differentiates polynomials of degree <= p + order - 1 exactly
    (up to round-off), and not degree p + order."""
    rng = np.random.default_rng(1000 * order + acc)
    deg = acc + order - 1
    coef = rng.uniform(0.5, 1.5, deg + 2)
    x, h = 0.1, 0.125
    exact_poly = np.polynomial.Polynomial(coef[: deg + 1])
    r = fd.derivative(exact_poly, x, order=order, method=method, accuracy=acc, step=h)
    # round-off scale of the stencil: eps * sum |w_k f(x + o_k h)| / h**m
    if method == "central":
        half = (2 * ((order + 1) // 2) - 1 + acc) // 2
        offs = np.arange(-half, half + 1)
    else:
        offs = np.arange(order + acc) * (1 if method == "forward" else -1)
    w = fd.stencil_weights(offs, order)
    roundoff = EPS * np.sum(np.abs(w * exact_poly(x + offs * h))) / h**order
    assert abs(r.value - exact_poly.deriv(order)(x)) <= 20 * roundoff

    one_more = np.polynomial.Polynomial(coef)  # degree p + order: not exact
    r2 = fd.derivative(one_more, x, order=order, method=method, accuracy=acc, step=h)
    assert abs(r2.value - one_more.deriv(order)(x)) > 1e4 * roundoff


def test_higher_accuracy_is_more_accurate():
    # optimal-step error ~ eps**(p/(p+1)): ~1e-11 for p=2, ~1e-13 for p=4 ...
    x = 0.9
    errs = [abs(fd.derivative(np.sin, x, accuracy=p).value - np.cos(x)) for p in (2, 4, 6, 8)]
    assert errs[0] < 1e-10
    assert max(errs[1:]) < min(errs[0] / 10, 1e-12)
    # one-sided: p=1 ~ sqrt(eps) ~ 1e-8, p=3 ~ eps**(3/4) ~ 1e-12
    fwd = [abs(fd.derivative(np.sin, x, method="forward", accuracy=p).value - np.cos(x)) for p in (1, 3)]
    assert 1e-10 < fwd[0] < 1e-7
    assert fwd[1] < 1e-11


# ---------------------------------------------------------------------------
# Accuracy goals
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("f, df, x", [(exp2, exp2_d, 0.5), (g, g_d, 0.7), (g, g_d, -2.1)])
def test_richardson_accuracy_goal(f, df, x):
    r1 = fd.derivative(f, x, method="richardson")
    assert abs(r1.value - df(1, x)) <= 1e-10 * abs(df(1, x))
    assert r1.nfev == 6  # +-h, +-h/2, +-h/4
    r2 = fd.derivative(f, x, order=2, method="richardson")
    assert abs(r2.value - df(2, x)) <= 1e-9 * abs(df(2, x))
    assert r2.nfev == 7  # centre shared by the three levels
    # more terms: still accurate, estimate still honest
    r4 = fd.derivative(f, x, method="richardson", richardson_terms=4)
    err4 = abs(r4.value - df(1, x))
    assert err4 <= 1e-10 * abs(df(1, x))
    assert err4 <= 10 * r4.error


@pytest.mark.parametrize(
    "f, df, x",
    [
        (exp2, exp2_d, 0.5),
        (np.sin, sin_d, 1.3),
        (g, g_d, 0.7),
        (g, g_d, -2.1),
        (np.exp, lambda m, t: np.exp(t), 20.0),
    ],
)
def test_complex_step_machine_precision(f, df, x):
    r = fd.derivative(f, x, method="complex")
    assert abs(r.value - df(1, x)) <= 1e-14 * abs(df(1, x))
    assert r.nfev == 1
    assert r.step == pytest.approx(1e-20 * max(abs(x), 1.0))


def test_auto_steps_follow_error_model():
    x = 3.0
    h_fwd = fd.derivative(np.sin, x, method="forward", accuracy=1).step
    assert h_fwd == pytest.approx(EPS**0.5 * 3, rel=1e-6)
    assert fd.derivative(np.sin, x).step == pytest.approx(EPS ** (1 / 3) * 3, rel=1e-6)
    assert fd.derivative(np.sin, x, order=2).step == pytest.approx(EPS ** (1 / 4) * 3, rel=1e-6)
    assert fd.derivative(np.sin, 0.25, accuracy=4).step == pytest.approx(EPS ** (1 / 5), rel=1e-6)
    # user step used as given (up to making x + h exact)
    r = fd.derivative(np.sin, 0.3, step=1e-3)
    assert r.step == pytest.approx(1e-3, rel=1e-12) and (0.3 + r.step) - 0.3 == r.step


# ---------------------------------------------------------------------------
# Evaluation conventions, arrays, FDResult
# ---------------------------------------------------------------------------


def test_array_x_elementwise_and_batched_in_one_call():
    calls = []

    def f(t):
        calls.append(np.shape(t))
        return np.sin(t)

    x = np.array([-1.0, 0.0, 0.5, 4.0])
    r = fd.derivative(f, x)
    assert len(calls) == 1 and calls[0] == (4, 4)  # 4 stencil points x 4 elements
    assert r.value.shape == r.error.shape == r.step.shape == x.shape
    np.testing.assert_allclose(r.value, np.cos(x), rtol=0, atol=1e-9)
    assert np.all(np.abs(r.value - np.cos(x)) <= 10 * r.error)
    assert r.nfev == 16
    with pytest.raises(TypeError):
        float(r)


def test_scalar_only_function_falls_back_to_pointwise():
    calls = []

    def f(t):
        calls.append(type(t))
        return math.exp(2 * t)  # raises for arrays

    r = fd.derivative(f, 0.5, method="richardson")
    assert abs(r.value - 2 * math.e) <= 1e-10 * 2 * math.e
    assert r.nfev == 6
    assert calls.count(float) == 6
    # arrays of x with a scalar-only f
    x = np.array([0.1, 0.2])
    r = fd.derivative(lambda t: math.sin(t), x, order=2)
    np.testing.assert_allclose(r.value, -np.sin(x), atol=1e-6)
    # wrong-shape array output (e.g. a constant) also falls back
    r = fd.derivative(lambda t: 5.0, 0.3)
    assert r.value == 0.0 and r.error < 1e-8


def test_fdresult_float_and_frozen():
    r = fd.derivative(np.exp, 0.0)
    assert float(r) == r.value
    assert abs(float(r) - 1.0) < 1e-9
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.value = 2.0  # type: ignore[misc]
    assert isinstance(r, fd.FDResult)


def test_backward_uses_only_points_at_or_below_x():
    seen = []

    def f(t):
        t = np.asarray(t)
        seen.extend(np.ravel(t).tolist())
        return np.where(t <= 1.0, np.log(np.abs(t)), np.nan)

    r = fd.derivative(f, 1.0, method="backward")
    assert max(seen) <= 1.0
    assert abs(r.value - 1.0) < 1e-8


# ---------------------------------------------------------------------------
# Multivariate
# ---------------------------------------------------------------------------


def rosen(v):
    return 100 * (v[1] - v[0] ** 2) ** 2 + (1 - v[0]) ** 2


def rosen_rows(V):
    return 100 * (V[:, 1] - V[:, 0] ** 2) ** 2 + (1 - V[:, 0]) ** 2


def rosen_grad(v):
    return np.array([-400 * v[0] * (v[1] - v[0] ** 2) - 2 * (1 - v[0]), 200 * (v[1] - v[0] ** 2)])


def rosen_hess(v):
    return np.array([[1200 * v[0] ** 2 - 400 * v[1] + 2, -400 * v[0]], [-400 * v[0], 200.0]])


GRAD_TOL = {"forward": 1e-8, "backward": 1e-8, "central": 1e-9, "complex": 1e-15, "richardson": 1e-12}
HESS_TOL = {"forward": 1e-6, "backward": 1e-6, "central": 1e-7, "complex": 1e-13, "richardson": 1e-10}


@pytest.mark.parametrize("method", fd.METHODS)
def test_gradient_and_hessian_rosenbrock(method):
    p = np.array([-1.2, 1.0])
    G, H = rosen_grad(p), rosen_hess(p)
    g1 = fd.gradient(rosen, p, method=method)
    assert np.all(np.abs(g1 - G) <= GRAD_TOL[method] * np.abs(G))
    H1 = fd.hessian(rosen, p, method=method)
    assert np.all(np.abs(H1 - H) <= HESS_TOL[method] * np.abs(H))
    np.testing.assert_array_equal(H1, H1.T)

    calls = []

    def rows(V):
        calls.append(V.shape)
        return rosen_rows(V)

    g2 = fd.gradient(rows, p, method=method, vectorized=True)
    assert len(calls) == 1
    np.testing.assert_array_equal(g1, g2)
    H2 = fd.hessian(rows, p, method=method, vectorized=True)
    assert len(calls) == 2
    np.testing.assert_array_equal(H1, H2)


@pytest.mark.parametrize("method", fd.METHODS)
def test_jacobian_of_linear_map(method):
    A = np.array([[1.0, 2.0, -3.0], [0.5, -4.0, 6.0]])
    b = np.array([1.0, -1.0])
    x = np.array([0.3, -2.0, 5.0])
    J = fd.jacobian(lambda v: A @ v + b, x, method=method)
    assert J.shape == (2, 3)
    np.testing.assert_allclose(J, A, rtol=0, atol=1e-8)
    Jv = fd.jacobian(lambda V: V @ A.T + b, x, method=method, vectorized=True)
    np.testing.assert_allclose(Jv, A, rtol=0, atol=1e-8)
    if method != "complex":
        # Linear maps have no truncation error: a large step gives A to round-off.
        Jbig = fd.jacobian(lambda v: A @ v + b, x, method=method, step=0.5)
        np.testing.assert_allclose(Jbig, A, rtol=0, atol=1e-13)


def test_gradient_and_jacobian_shapes():
    def f(m):
        return np.sum(m**2)

    m = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(fd.gradient(f, m), 2 * m, atol=1e-8)
    J = fd.jacobian(lambda v: np.array([v[0] * v[1], v[1] ** 2, np.sin(v[0])]), np.array([0.5, 2.0]))
    np.testing.assert_allclose(J, [[2.0, 0.5], [0.0, 4.0], [np.cos(0.5), 0.0]], atol=1e-9)
    # Hessian of a cubic with many variables, with higher accuracy
    x = np.array([0.3, -0.7, 1.1, 2.0])
    H = fd.hessian(lambda v: np.prod(v) + np.sum(v**3), x, accuracy=4)
    exact = np.array(
        [[np.prod(np.delete(x, [i, j])) if i != j else 6 * x[i] for j in range(4)] for i in range(4)]
    )
    np.testing.assert_allclose(H, exact, atol=1e-7)


def test_directional_derivative():
    p = np.array([-1.2, 1.0])
    v = np.array([0.6, -0.8])
    expected = rosen_grad(p) @ v
    for method, tol in (("central", 1e-9), ("complex", 1e-15), ("richardson", 1e-12), ("forward", 1e-8)):
        assert abs(fd.directional(rosen, p, v, method=method) - expected) <= tol * abs(expected)
    assert fd.directional(rosen_rows, p, v, vectorized=True) == pytest.approx(expected, rel=1e-9)
    assert fd.directional(rosen, p, np.zeros(2)) == 0.0
    vec = fd.directional(lambda u: np.array([u @ u, u[0]]), p, v)
    np.testing.assert_allclose(vec, [2 * p @ v, v[0]], atol=1e-9)


# ---------------------------------------------------------------------------
# Truncation vs round-off
# ---------------------------------------------------------------------------


def test_step_error_curve_v_shape():
    steps, errors = fd.step_error_curve(exp2, 0.5, 2 * math.e)
    assert steps.shape == errors.shape == (49,)
    np.testing.assert_allclose(steps, np.logspace(-16, 0, 49))
    at = {e: errors[np.argmin(np.abs(np.log10(steps) - e))] for e in (-15, -8, -1)}
    assert at[-8] < 1e-6
    assert at[-1] > 1e4 * at[-8]  # truncation ~ h f''/2
    assert at[-15] > 1e4 * at[-8]  # round-off ~ eps f / h
    # right branch has slope 1 (first-order truncation)
    big = np.array([1e-3, 1e-4])
    _, e2 = fd.step_error_curve(exp2, 0.5, 2 * math.e, steps=big)
    assert e2[0] / e2[1] == pytest.approx(10, rel=0.01)
    # central differences: slope 2, complex step: flat at machine precision
    _, ec = fd.step_error_curve(exp2, 0.5, 2 * math.e, steps=big, method="central")
    assert ec[0] / ec[1] == pytest.approx(100, rel=0.01)
    _, ecs = fd.step_error_curve(exp2, 0.5, 2 * math.e, steps=[1e-8, 1e-20, 1e-100], method="complex")
    assert np.all(ecs <= 4 * EPS * 2 * math.e)


# ---------------------------------------------------------------------------
# Bad input and error paths
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("step", [0.0, -1e-3, np.nan, np.inf, -np.inf])
def test_bad_step_raises(step):
    with pytest.raises(ValueError, match="step must be (positive|finite)"):
        fd.derivative(np.sin, 1.0, step=step)
    with pytest.raises(ValueError, match="step"):
        fd.gradient(rosen, [1.0, 2.0], step=step)


def test_other_bad_steps():
    with pytest.raises(ValueError, match="'auto'"):
        fd.derivative(np.sin, 1.0, step="big")
    with pytest.raises(ValueError, match="too small"):
        fd.derivative(np.sin, 1.0, step=1e-20)  # 1 + 1e-20 == 1
    with pytest.raises(ValueError, match="positive"):
        fd.step_error_curve(np.sin, 1.0, np.cos(1.0), steps=[1e-3, 0.0])


def test_unknown_method_lists_valid_ones():
    valid = "unknown method 'spline'.*'forward'.*'backward'.*'central'.*'complex'.*'richardson'"
    with pytest.raises(ValueError, match=valid):
        fd.derivative(np.sin, 1.0, method="spline")
    with pytest.raises(ValueError, match="unknown method"):
        fd.hessian(rosen, [1.0, 2.0], method="Central")


@pytest.mark.parametrize("order", [0, 5, -1, 1.5, True])
def test_bad_order_raises(order):
    with pytest.raises(ValueError, match="order"):
        fd.derivative(np.sin, 1.0, order=order)


def test_bad_accuracy_terms_and_complex_order():
    with pytest.raises(ValueError, match="accuracy"):
        fd.derivative(np.sin, 1.0, accuracy=3)  # central needs even
    with pytest.raises(ValueError, match="accuracy"):
        fd.derivative(np.sin, 1.0, method="forward", accuracy=0)
    with pytest.raises(ValueError, match="accuracy"):
        fd.derivative(np.sin, 1.0, method="richardson", accuracy=10)
    with pytest.raises(ValueError, match="richardson_terms"):
        fd.derivative(np.sin, 1.0, method="richardson", richardson_terms=1)
    with pytest.raises(ValueError, match="orders 1 and 2"):
        fd.derivative(np.sin, 1.0, method="complex", order=3)
    with pytest.raises(ValueError, match="finite"):
        fd.derivative(np.sin, np.nan)


def test_stencil_weights_errors():
    with pytest.raises(ValueError, match="distinct"):
        fd.stencil_weights([0, 1, 1], 1)
    with pytest.raises(ValueError, match="at least 3 offsets"):
        fd.stencil_weights([0, 1], 2)
    with pytest.raises(ValueError, match="finite"):
        fd.stencil_weights([0, np.inf], 1)


def test_nonfinite_value_warns_names_point_and_sets_error_inf():
    def f(t):
        return np.where(t > 1.0, np.nan, t**2)

    with pytest.warns(fd.FDWarning, match="non-finite") as rec:
        r = fd.derivative(f, 1.0)
    assert r.error == math.inf
    assert repr(1.0 + r.step) in str(rec[0].message)
    assert issubclass(fd.FDWarning, UserWarning)

    # only the affected element of an array gets error inf
    with pytest.warns(fd.FDWarning):
        r = fd.derivative(lambda t: np.where(t > 1.9, np.inf, np.sin(t)), np.array([0.5, 2.0]))
    assert np.isfinite(r.error[0]) and r.error[1] == math.inf
    assert abs(r.value[0] - np.cos(0.5)) < 1e-9

    # NaN only at a point used by the error estimate: value fine, error inf
    h = fd.derivative(np.sin, 1.0).step  # value uses 1 +- h, the estimate 1 +- 2h
    with pytest.warns(fd.FDWarning):
        r = fd.derivative(lambda t: np.where(t > 1.0 + 1.5 * h, np.nan, np.sin(t)), 1.0)
    assert r.error == math.inf
    assert abs(r.value - np.cos(1.0)) < 1e-9

    with pytest.warns(fd.FDWarning, match="non-finite"):
        gr = fd.gradient(lambda v: np.inf if v[0] > 1 else v @ v, [1.0, 2.0])
    assert not np.isfinite(gr[0]) and gr[1] == pytest.approx(4.0)


def test_complex_step_rejects_unsafe_functions():
    with pytest.raises(ValueError, match="complex-safe"):  # math.* raises TypeError
        fd.derivative(lambda t: math.sin(t), 0.7, method="complex")
    with pytest.raises(ValueError, match="complex-safe.*real value"):  # abs() -> real dtype
        fd.derivative(lambda t: np.abs(t) ** 3, 0.7, method="complex")
    with pytest.raises(ValueError, match="complex-safe.*exactly zero"):  # drops Im silently
        fd.derivative(lambda t: np.sin(np.real(t)) + 0 * t, 0.7, method="complex")
    with pytest.raises(ValueError, match="complex-safe"):
        fd.derivative(lambda t: np.sin(np.real(t)) + 0 * t, 0.7, method="complex", order=2)
    with pytest.raises(ValueError, match="complex-safe"):
        fd.gradient(lambda v: np.sum(np.abs(v) ** 3), [0.5, 1.0], method="complex")
    with pytest.raises(ValueError, match="complex-safe"):
        fd.gradient(lambda v: np.sum(np.real(v) ** 3) + 0j * v[0], [0.5, 1.0], method="complex")
    with pytest.raises(ValueError, match="complex-safe"):
        fd.hessian(lambda v: np.sum(np.real(v) ** 3) + 0j * v[0], [0.5, 1.0], method="complex")
    # A genuinely zero derivative is not mistaken for an unsafe function.
    r = fd.derivative(lambda t: np.cos(np.real(t)) + 0 * t, 0.0, method="complex")
    assert r.value == 0.0
    r = fd.derivative(lambda t: 0 * t + 3.0, 0.4, method="complex")
    assert r.value == 0.0


def test_multivariate_bad_input():
    with pytest.raises(ValueError, match="scalar-valued"):
        fd.gradient(lambda v: v * 2, [1.0, 2.0])
    with pytest.raises(ValueError, match="vectorized=True"):
        fd.gradient(lambda V: np.sum(V), [1.0, 2.0], vectorized=True)
    with pytest.raises(ValueError, match="same size"):
        fd.directional(rosen, [1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="scalar-valued"):
        fd.derivative(lambda t: [t, t], 1.0)
