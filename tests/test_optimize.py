"""chainrule.scipy.optimize: SciPy's solutions, differentiated by the implicit function theorem."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize as so

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.scipy import optimize as co


def cube(x, p):
    return x ** 3 - p


def _fd(fn, p, h=1e-5):
    return (fn(p + h) - fn(p - h)) / (2 * h)


@pytest.mark.parametrize("method", ["bisect", "brentq"])
def test_bracketing_roots_match_scipy(method):
    for p in (0.5, 2.0, 7.0):
        r = co.root_scalar(cube, args=(p,), bracket=[0.0, 3.0], method=method)
        ref = so.root_scalar(cube, args=(p,), bracket=[0.0, 3.0], method=method)
        assert r.converged and r.flag == "converged"
        assert abs(float(r.root) - ref.root) < 1e-10
        assert abs(float(r.root) - p ** (1 / 3)) < 1e-10


def test_newton_and_secant_match_scipy():
    fp = lambda x, p: 3 * x ** 2  # noqa: E731
    assert abs(co.newton(cube, 1.0, fprime=fp, args=(2.0,)) - so.newton(cube, 1.0, fprime=fp, args=(2.0,))) < 1e-10
    assert abs(co.newton(cube, 1.0, args=(2.0,)) - so.newton(cube, 1.0, args=(2.0,))) < 1e-10
    r = co.root_scalar(cube, args=(2.0,), x0=1.0, method="newton")       # derivative by AD
    assert r.converged and abs(float(r.root) - 2 ** (1 / 3)) < 1e-12


@pytest.mark.parametrize("solve", [
    lambda p: co.brentq(cube, 0.0, 3.0, args=(p,)),
    lambda p: co.root_scalar(cube, args=(p,), bracket=[0.0, 3.0], method="bisect").root,
    lambda p: co.newton(cube, 1.0, args=(p,)),
    lambda p: co.newton(cube, 1.0, fprime=lambda x, p: 3 * x ** 2, args=(p,)),
    lambda p: co.brentq(lambda x: x ** 3 - p, 0.0, 3.0),                # p closed over
])
def test_root_derivative_closed_form_fd_and_modes(solve):
    p = 2.0
    exact = 1 / (3 * p ** (2 / 3))
    g = cr.grad(solve)(p)
    assert abs(g - exact) < 1e-9
    assert abs(g - _fd(lambda q: so.brentq(cube, 0.0, 3.0, args=(q,), xtol=1e-14), p)) < 1e-7
    _, t = cr.jvp(solve, (p,), (1.0,))
    assert abs(float(t) - g) < 1e-12                                    # jvp == vjp
    gg = cr.grad(cr.grad(solve))(p)
    assert abs(gg - (-2 / 9) * p ** (-5 / 3)) < 1e-8                     # d2/dp2 p^(1/3)


def test_x0_and_bracket_get_zero_derivative():
    d = cr.grad(lambda a: co.brentq(cube, a, 3.0, args=(2.0,)))(0.5)
    assert d == 0.0
    d = cr.grad(lambda x0: co.newton(cube, x0, args=(2.0,)))(1.0)
    assert d == 0.0


def test_jit_runs_the_solve_at_call_time():
    j = cr.jit(lambda p: co.brentq(cube, 0.0, 3.0, args=(p,)))
    jg = cr.jit(cr.grad(lambda p: co.brentq(cube, 0.0, 3.0, args=(p,))))
    for p in (2.0, 5.0, 0.3, 5.0):
        assert abs(j(p) - p ** (1 / 3)) < 1e-11
        assert abs(jg(p) - 1 / (3 * p ** (2 / 3))) < 1e-9


def test_vmap_equals_loop():
    ps = np.array([0.5, 1.0, 2.0, 6.0])
    f = lambda p: co.brentq(cube, 0.0, 3.0, args=(p,))  # noqa: E731
    np.testing.assert_allclose(cr.vmap(f)(ps), [f(p) for p in ps], rtol=0, atol=1e-13)
    np.testing.assert_allclose(cr.vmap(cr.grad(f))(ps), [cr.grad(f)(p) for p in ps], rtol=1e-12)
    np.testing.assert_allclose(cr.vmap(cr.grad(f))(ps), 1 / (3 * ps ** (2 / 3)), rtol=1e-9)


def test_bad_input_and_non_convergence():
    with pytest.raises(ValueError, match="different signs"):
        co.brentq(cube, 2.0, 3.0, args=(2.0,))
    with pytest.raises(TypeError, match="callable"):
        co.root_scalar(3.0, bracket=[0, 1])
    r = co.root_scalar(cube, args=(2.0,), bracket=[0.0, 3.0], method="bisect", maxiter=5)
    assert not bool(r.converged) and r.flag == "convergence error"
    with pytest.raises(RuntimeError, match="failed to converge"):
        co.brentq(cube, 0.0, 3.0, args=(2.0,), maxiter=2)
    r = co.root(lambda x: x ** 2 + 1.0, np.array([0.5]))                # no real root
    assert not bool(r.success) and r.message
    with pytest.raises(RuntimeError, match="Failed to converge"):
        co.fixed_point(lambda x: 2 * x + 1, 1.0, maxiter=20, method="iteration")


def _system(x, a):
    return cnp.stack([x[0] ** 2 + x[1] ** 2 - a, x[0] - x[1] ** 3])


def test_root_matches_scipy_and_derivative_against_fd():
    x0, a = np.array([1.0, 0.5]), 2.0
    r = co.root(_system, x0, args=(a,))
    ref = so.root(lambda x: np.asarray(_system(x, a)), x0, tol=1e-14)
    assert r.success and r.message
    np.testing.assert_allclose(r.x, ref.x, atol=1e-10)
    np.testing.assert_allclose(r.fun, 0.0, atol=1e-13)
    J = cr.jacfwd(lambda a: co.root(_system, x0, args=(a,)).x)(a)
    fd = _fd(lambda b: so.root(lambda x: np.asarray(_system(x, b)), x0, tol=1e-14).x, a)
    np.testing.assert_allclose(J, fd, atol=1e-7)
    np.testing.assert_allclose(cr.jacrev(lambda a: co.root(_system, x0, args=(a,)).x)(a), J, atol=1e-13)


def test_root_closed_form():
    # x = (sqrt(a/2), sqrt(a/2)) solves x0^2 + x1^2 = a, x0 = x1
    F = lambda x, a: cnp.stack([x[0] ** 2 + x[1] ** 2 - a, x[0] - x[1]])  # noqa: E731
    x = lambda a: co.root(F, np.array([1.0, 0.5]), args=(a,)).x  # noqa: E731
    np.testing.assert_allclose(x(3.0), np.sqrt(1.5), atol=1e-12)
    np.testing.assert_allclose(cr.jacfwd(x)(3.0), 1 / (2 * np.sqrt(6.0)), atol=1e-12)
    np.testing.assert_allclose(cr.jit(x)(5.0), np.sqrt(2.5), atol=1e-12)


def test_fixed_point_matches_scipy_and_derivative():
    f = lambda x, c: c * cnp.cos(x)  # noqa: E731
    for method in ("del2", "iteration"):
        x = co.fixed_point(f, 0.5, args=(1.0,), method=method)
        assert abs(x - so.fixed_point(lambda x, c: c * np.cos(x), 0.5, args=(1.0,), method=method)) < 1e-10
    # x = c cos x: dx/dc = cos x / (1 + c sin x)
    c = 0.8
    x = co.fixed_point(f, 0.5, args=(c,))
    g = cr.grad(lambda c: co.fixed_point(f, 0.5, args=(c,)))(c)
    assert abs(g - np.cos(x) / (1 + c * np.sin(x))) < 1e-10


def _quad(x, p, A):
    return 0.5 * x @ A @ x - p @ x


@pytest.mark.parametrize("method,use_scipy", [("BFGS", True), ("L-BFGS-B", True), ("Newton-CG", True),
                                              ("CG", True), ("BFGS", False)])
def test_minimize_quadratic_closed_form(method, use_scipy):
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    p = np.array([1.0, -1.0])
    opts = {"gtol": 1e-12} if method != "L-BFGS-B" else {"gtol": 1e-13, "ftol": 1e-16}
    if method == "Newton-CG":
        opts = {"xtol": 1e-14}
    sol = lambda p: co.minimize(_quad, np.zeros(2), args=(p, A), method=method, options=opts,  # noqa: E731
                                use_scipy=use_scipy).x
    np.testing.assert_allclose(sol(p), np.linalg.solve(A, p), atol=1e-9)
    np.testing.assert_allclose(cr.jacfwd(sol)(p), np.linalg.inv(A), atol=1e-12)
    np.testing.assert_allclose(cr.jacrev(sol)(p), np.linalg.inv(A), atol=1e-12)


def _rosen(x, a):
    return (a - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def test_minimize_rosenbrock_matches_scipy_and_closed_form():
    # minimum (a, a^2): dx*/da = (1, 2a), d2 x1*/da2 = 2
    a = 1.5
    sol = lambda a: co.minimize(_rosen, np.zeros(2), args=(a,), options={"gtol": 1e-12}).x  # noqa: E731
    ref = so.minimize(lambda x: _rosen(x, a), np.zeros(2), jac=lambda x: cr.grad(_rosen)(x, a),
                      options={"gtol": 1e-12})
    np.testing.assert_allclose(sol(a), ref.x, atol=1e-10)
    np.testing.assert_allclose(sol(a), [a, a * a], atol=1e-10)
    np.testing.assert_allclose(cr.jacfwd(sol)(a), [1.0, 2 * a], atol=1e-8)
    assert abs(cr.grad(cr.grad(lambda a: sol(a)[1]))(a) - 2.0) < 1e-6
    j = cr.jit(sol)
    np.testing.assert_allclose(j(1.5), [1.5, 2.25], atol=1e-9)
    np.testing.assert_allclose(j(0.7), [0.7, 0.49], atol=1e-9)              # not frozen
    # the optimal value's derivative is the envelope theorem's: d f(x*(a), a)/da = 0 here
    assert abs(cr.grad(lambda a: co.minimize(_rosen, np.zeros(2), args=(a,),
                                             options={"gtol": 1e-12}).fun)(a)) < 1e-8


def test_minimize_vmap_equals_loop():
    ps = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 3.0]])
    A = np.array([[2.0, 0.5], [0.5, 1.0]])
    sol = lambda p: co.minimize(lambda x, p: _quad(x, p, A) + 0.1 * cnp.sum(x ** 4), np.zeros(2),  # noqa: E731
                                args=(p,), options={"gtol": 1e-12}).x
    np.testing.assert_allclose(cr.vmap(sol)(ps), np.stack([sol(p) for p in ps]), atol=1e-12)
    np.testing.assert_allclose(cr.vmap(cr.jacrev(sol))(ps), np.stack([cr.jacfwd(sol)(p) for p in ps]),
                               atol=1e-10)


def test_maximum_likelihood_normal():
    # MLE of a normal's (mu, log sigma): mu_hat = mean, sigma_hat = population std;
    # d mu_hat / d data_i = 1/n, d sigma_hat / d data_i = (data_i - mean) / (n sigma_hat)
    data = np.array([0.3, -1.2, 2.5, 0.8, 1.1, -0.4])
    n = data.size

    def nll(theta, y):
        mu, log_s = theta[0], theta[1]
        return cnp.sum(0.5 * ((y - mu) / cnp.exp(log_s)) ** 2 + log_s)

    def mle(y):
        th = co.minimize(nll, np.array([0.0, 0.0]), args=(y,), options={"gtol": 1e-12}).x
        return cnp.stack([th[0], cnp.exp(th[1])])
    est = mle(data)
    np.testing.assert_allclose(est, [data.mean(), data.std()], atol=1e-10)
    J = cr.jacrev(mle)(data)
    np.testing.assert_allclose(J[0], np.full(n, 1 / n), atol=1e-10)
    np.testing.assert_allclose(J[1], (data - data.mean()) / (n * data.std()), atol=1e-9)
    np.testing.assert_allclose(cr.jacfwd(mle)(data), J, atol=1e-12)


def test_implicit_solve_general_helper():
    # a user solver on values; the IFT gives the derivative of x^2 = p's positive root
    def solver(f, x0):
        x = float(x0)
        for _ in range(60):
            x = x - float(f(x)) / (2 * x)
        return (x,)
    sol = lambda p: cr.implicit_solve(lambda x, p: x * x - p, solver, 0.0, (1.0,), (p,))[0]  # noqa: E731
    assert abs(sol(3.0) - np.sqrt(3.0)) < 1e-14
    assert abs(cr.grad(sol)(3.0) - 0.5 / np.sqrt(3.0)) < 1e-14
    assert abs(cr.grad(cr.grad(sol))(3.0) + 0.25 * 3.0 ** -1.5) < 1e-13
    with pytest.raises(NotImplementedError, match="Taylor"):
        cr.jet(sol, (3.0,), ((1.0, 0.0),))


def test_unstageable_function_is_a_clear_error_when_traced():
    def f(x, p):
        return x - p if x > 0 else x + p                                    # reads x
    assert abs(co.brentq(f, 0.1, 5.0, args=(2.0,)) - 2.0) < 1e-12            # plain values: fine
    with pytest.raises(TypeError, match="Python control flow"):
        cr.grad(lambda p: co.brentq(f, 0.1, 5.0, args=(p,)))(2.0)


# ------------------------------------------------- bounds and constraints ---

_Q = np.array([[3.0, 1.0], [1.0, 2.0]])
_A = np.array([1.0, 1.0])
_TIGHT = {"SLSQP": {"ftol": 1e-15, "maxiter": 200},
          "trust-constr": {"gtol": 1e-12, "xtol": 1e-14, "barrier_tol": 1e-12, "maxiter": 3000},
          "L-BFGS-B": {"gtol": 1e-13, "ftol": 1e-16}, "TNC": {"gtol": 1e-13, "ftol": 1e-16, "xtol": 1e-14}}
pytestmark = pytest.mark.filterwarnings("ignore:delta_grad == 0.0:UserWarning")


def _eq_solution(p, c, method):
    return co.minimize(lambda x, p: 0.5 * x @ _Q @ x - p @ x, np.zeros(2), args=(p,), method=method,
                       constraints={"type": "eq", "fun": lambda x, c: _A @ x - c, "args": (c,)},
                       options=_TIGHT[method])


@pytest.mark.parametrize("method", ["SLSQP", "trust-constr"])
def test_minimize_linear_equality_closed_form(method):
    # KKT [[Q, a], [a^T, 0]] [x; mu] = [p; c]: x and dx/d(p, c) are blocks of its inverse
    K = np.block([[_Q, _A[:, None]], [_A[None, :], np.zeros((1, 1))]])
    Ki = np.linalg.inv(K)
    p, c = np.array([1.0, -1.0]), 0.5
    r = _eq_solution(p, c, method)
    exact = Ki @ np.r_[p, c]
    np.testing.assert_allclose(r.x, exact[:2], atol=1e-8)
    np.testing.assert_allclose(r.multipliers["eq"], [-exact[2]], atol=1e-7)   # Qx - p = lam a
    sol = lambda p, c: _eq_solution(p, c, method).x  # noqa: E731
    Jp = cr.jacfwd(sol)(p, c)
    np.testing.assert_allclose(Jp, Ki[:2, :2], atol=1e-8)
    np.testing.assert_allclose(cr.jacrev(sol)(p, c), Jp, atol=1e-12)
    np.testing.assert_allclose(cr.jacrev(sol, 1)(p, c), Ki[:2, 2], atol=1e-8)
    if method == "SLSQP":                         # against differences of SciPy's own solutions
        def ref(c):
            return so.minimize(lambda x: 0.5 * x @ _Q @ x - p @ x, np.zeros(2), jac=lambda x: _Q @ x - p,
                               method="SLSQP", constraints={"type": "eq", "fun": lambda x: _A @ x - c},
                               options={"ftol": 1e-15}).x
        np.testing.assert_allclose(cr.jacfwd(sol, 1)(p, c), _fd(ref, c, 1e-4), atol=1e-7)


def _quad_bounded(p, method, bounds=((None, 0.0), (None, None))):
    return co.minimize(_quad, np.array([-0.5, 0.0]), args=(p, _Q), method=method, bounds=bounds,
                       options=_TIGHT[method])


@pytest.mark.parametrize("method", ["L-BFGS-B", "TNC", "SLSQP", "trust-constr"])
def test_minimize_active_bound(method):
    # the free minimiser Q^-1 p = (0.6, -0.8) violates x0 <= 0: x0 = 0, x1 = p1 / Q11
    p = np.array([1.0, -1.0])
    r = _quad_bounded(p, method)
    atol = 1e-4 if method == "trust-constr" else 1e-7      # an interior point stops short
    np.testing.assert_allclose(r.x, [0.0, -0.5], atol=atol)
    np.testing.assert_allclose(r.multipliers["bounds"], [_Q[0, 1] * -0.5 - p[0], 0.0], atol=10 * atol)
    sol = lambda p: _quad_bounded(p, method).x  # noqa: E731
    exact = np.array([[0.0, 0.0], [0.0, 1 / _Q[1, 1]]])
    np.testing.assert_allclose(cr.jacfwd(sol)(p), exact, atol=1e-9)
    np.testing.assert_allclose(cr.jacrev(sol)(p), exact, atol=1e-9)
    if method == "L-BFGS-B":
        def ref(p):
            return so.minimize(lambda x: 0.5 * x @ _Q @ x - p @ x, np.array([-0.5, 0.0]),
                               jac=lambda x: _Q @ x - p, method="L-BFGS-B",
                               bounds=[(None, 0.0), (None, None)], options=_TIGHT["L-BFGS-B"]).x
        fd = np.stack([(ref(p + 1e-4 * e) - ref(p - 1e-4 * e)) / 2e-4 for e in np.eye(2)], 1)
        np.testing.assert_allclose(cr.jacfwd(sol)(p), fd, atol=1e-6)
    # an inactive bound changes nothing: the unconstrained derivative Q^-1
    far = co.minimize(_quad, np.zeros(2), args=(p, _Q), method=method, bounds=[(-5, 5), (-5, 5)],
                      options=_TIGHT[method])
    np.testing.assert_allclose(far.x, np.linalg.solve(_Q, p), atol=atol)
    np.testing.assert_allclose(cr.jacfwd(lambda p: co.minimize(
        _quad, np.zeros(2), args=(p, _Q), method=method, bounds=[(-5, 5), (-5, 5)],
        options=_TIGHT[method]).x)(p), np.linalg.inv(_Q), atol=1e-8)


def _project(u, r, method="SLSQP"):
    """The point of the disk |x| <= r nearest u (a nonlinear inequality)."""
    return co.minimize(lambda x, u: cnp.sum((x - u) ** 2), np.zeros(2), args=(u,), method=method,
                       constraints=[{"type": "ineq", "fun": lambda x: r ** 2 - cnp.sum(x ** 2)}],
                       options=_TIGHT[method]).x


@pytest.mark.parametrize("method", ["SLSQP", "trust-constr"])
def test_minimize_nonlinear_inequality_closed_form(method):
    u, r = np.array([2.0, 1.0]), 1.5
    nu = np.linalg.norm(u)
    atol = 1e-8 if method == "SLSQP" else 1e-4
    np.testing.assert_allclose(_project(u, r, method), r * u / nu, atol=atol)
    Ju = cr.jacfwd(_project)(u, r, method)
    np.testing.assert_allclose(Ju, r * (np.eye(2) - np.outer(u, u) / nu ** 2) / nu, atol=atol)
    np.testing.assert_allclose(cr.jacrev(_project)(u, r, method), Ju, atol=1e-10)
    np.testing.assert_allclose(cr.jacrev(_project, 1)(u, r, method), u / nu, atol=atol)
    if method == "SLSQP":
        def ref(u):
            return so.minimize(lambda x: np.sum((x - u) ** 2), np.zeros(2), jac=lambda x: 2 * (x - u),
                               method="SLSQP", options={"ftol": 1e-15},
                               constraints=[{"type": "ineq", "fun": lambda x: r ** 2 - np.sum(x ** 2),
                                             "jac": lambda x: -2 * x}]).x
        d = np.array([0.3, -0.7])
        np.testing.assert_allclose(Ju @ d, _fd(lambda s: ref(u + s * d), 0.0, 1e-4), atol=1e-7)
    # inside the disk the constraint is inactive: x = u, dx/du = I
    np.testing.assert_allclose(cr.jacfwd(_project)(0.1 * u, r, method), np.eye(2), atol=1e-7)


def test_minimize_constrained_jit_and_vmap_switch_active_sets():
    # under jit the solve and the active set are the call's; vmap mixes active and inactive
    r = 1.5
    j = cr.jit(lambda u: _project(u, r))
    jj = cr.jit(cr.jacfwd(lambda u: _project(u, r)))
    u = np.array([2.0, 1.0])
    nu = np.linalg.norm(u)
    for _ in range(2):
        np.testing.assert_allclose(j(u), r * u / nu, atol=1e-8)
        np.testing.assert_allclose(j(0.1 * u), 0.1 * u, atol=1e-8)
        np.testing.assert_allclose(jj(u), r * (np.eye(2) - np.outer(u, u) / nu ** 2) / nu, atol=1e-8)
        np.testing.assert_allclose(jj(0.1 * u), np.eye(2), atol=1e-8)
    us = np.stack([u, 0.1 * u, -u])
    np.testing.assert_allclose(cr.vmap(lambda u: _project(u, r))(us), [r * u / nu, 0.1 * u, -r * u / nu], atol=1e-8)
    J = cr.vmap(cr.jacrev(lambda u: _project(u, r)))(us)
    np.testing.assert_allclose(J[1], np.eye(2), atol=1e-8)
    np.testing.assert_allclose(J[2], J[0], atol=1e-8)


def test_minimize_user_jacobians_and_mixed_constraints():
    # jac=True objective, a constraint 'jac', an equality and a bound together
    def fg(x, p):
        return cnp.sum((x - p) ** 2), 2 * (x - p)
    cons = [{"type": "eq", "fun": lambda x: x[0] + x[1] + x[2] - 1.0, "jac": lambda x: np.ones((1, 3))},
            {"type": "ineq", "fun": lambda x: x[2] - 0.5}]
    sol = lambda p: co.minimize(fg, np.zeros(3), args=(p,), jac=True, constraints=cons,  # noqa: E731
                                bounds=[(0.0, None)] * 3, options={"ftol": 1e-15}).x
    p = np.array([1.0, -0.5, 0.2])
    # x2 = 0.5 (ineq active), x1 = 0 (bound active), x0 = 0.5 (equality)
    np.testing.assert_allclose(sol(p), [0.5, 0.0, 0.5], atol=1e-9)
    np.testing.assert_allclose(cr.jacfwd(sol)(p), np.zeros((3, 3)), atol=1e-9)
    q = np.array([0.8, 0.6, 1.3])                   # only the equality active: projection onto it
    P = np.eye(3) - np.ones((3, 3)) / 3
    np.testing.assert_allclose(sol(q), q - (q.sum() - 1) / 3, atol=1e-9)
    np.testing.assert_allclose(cr.jacrev(sol)(q), P, atol=1e-9)


def test_minimize_constraint_bad_input():
    f = lambda x: cnp.sum(x ** 2)  # noqa: E731
    with pytest.raises(ValueError, match="'BFGS', 'L-BFGS-B', 'Newton-CG', 'CG', 'TNC', 'SLSQP', 'trust-constr'"):
        co.minimize(f, np.ones(2), method="Nelder-Mead")
    with pytest.raises(ValueError, match="constraints= needs method 'SLSQP' or 'trust-constr'"):
        co.minimize(f, np.ones(2), method="L-BFGS-B", constraints={"type": "eq", "fun": f})
    with pytest.raises(ValueError, match="bounds= needs method"):
        co.minimize(f, np.ones(2), method="BFGS", bounds=[(0, 1), (0, 1)])
    with pytest.raises(ValueError, match="bounds has 3 .* x0 has 2"):
        co.minimize(f, np.ones(2), bounds=[(0, 1)] * 3)
    with pytest.raises(ValueError, match="min 2.0 > max 1.0"):
        co.minimize(f, np.ones(1), bounds=[(2, 1)])
    with pytest.raises(ValueError, match="type 'le'"):
        co.minimize(f, np.ones(2), constraints={"type": "le", "fun": f})
    with pytest.raises(ValueError, match=r"unknown keys \['hess'\]"):
        co.minimize(f, np.ones(2), constraints={"type": "eq", "fun": f, "hess": f})
    with pytest.raises(NotImplementedError, match="NonlinearConstraint"):
        co.minimize(f, np.ones(2), constraints=[so.NonlinearConstraint(lambda x: x[0], 0, 1)])
    for kw in ("hess", "hessp", "callback"):
        with pytest.raises(NotImplementedError, match=f"{kw}="):
            co.minimize(f, np.ones(2), **{kw: f})
    with pytest.raises(ValueError, match="need SciPy"):
        co.minimize(f, np.ones(2), bounds=[(0, 1)] * 2, use_scipy=False)
    # the default method follows SciPy: L-BFGS-B with bounds, SLSQP with constraints
    r = co.minimize(lambda x: cnp.sum((x - 2.0) ** 2), np.zeros(2), bounds=[(0, 1), (0, 3)])
    np.testing.assert_allclose(r.x, [1.0, 2.0], atol=1e-7)
