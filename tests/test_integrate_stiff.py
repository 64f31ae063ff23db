"""solve_ivp(method="Radau"): the Radau IIA (order 5) stiff solver against SciPy's Radau,
closed forms (expm), finite differences of SciPy's solution, and across AD modes."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.scipy import integrate as ci
from chainrule.scipy.integrate import _radau

si = pytest.importorskip("scipy.integrate")
sl = pytest.importorskip("scipy.linalg")

ROBER_TOL = dict(rtol=1e-6, atol=1e-10)
K = np.array([0.04, 1e4, 3e7])


def rober(t, y, k):
    return cnp.stack([-k[0] * y[0] + k[1] * y[1] * y[2],
                      k[0] * y[0] - k[1] * y[1] * y[2] - k[2] * y[1] ** 2,
                      k[2] * y[1] ** 2])


def rober_np(t, y, k):
    return np.array([-k[0] * y[0] + k[1] * y[1] * y[2],
                     k[0] * y[0] - k[1] * y[1] * y[2] - k[2] * y[1] ** 2,
                     k[2] * y[1] ** 2])


def rober_jac_np(t, y, k):
    return np.array([[-k[0], k[1] * y[2], k[1] * y[1]],
                     [k[0], -k[1] * y[2] - 2 * k[2] * y[1], -k[1] * y[1]],
                     [0.0, 2 * k[2] * y[1], 0.0]])


def rober_jac(t, y, k):
    z = 0.0 * y[0]
    return cnp.stack([cnp.stack([-k[0] + z, k[1] * y[2], k[1] * y[1]]),
                      cnp.stack([k[0] + z, -k[1] * y[2] - 2 * k[2] * y[1], -k[1] * y[1]]),
                      cnp.stack([z, 2 * k[2] * y[1], z])])


def vdp(t, y, mu):
    return cnp.stack([y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]])


def vdp_np(t, y, mu):
    return np.array([y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]])


def stiff_matrix(p):
    """Upper triangular, eigenvalues -1 and -1e4 whatever p."""
    return cnp.stack([cnp.stack([-1.0 + 0.0 * p, p]), cnp.stack([0.0 * p, -1e4 + 0.0 * p])])


def close_in_steps(ours, ref):
    """Accepted steps within a factor 2 of SciPy's (the step control is the same
    published rule; the Jacobian policy differs)."""
    assert ref / 2 <= ours <= 2 * ref, (ours, ref)


# ----------------------------------------------------------------------- coefficients

def test_radau_iia_coefficients_are_the_published_method():
    A, C, b = _radau.A, _radau.C, _radau.A[2]
    for k in range(1, 6):       # B(5): order 5 quadrature on [0, 1]
        assert abs(b @ C ** (k - 1) - 1.0 / k) < 1e-15
    assert abs(b @ C ** 5 - 1.0 / 6) > 1e-4
    for k in range(1, 4):       # C(3): collocation
        np.testing.assert_allclose(A @ C ** (k - 1), C ** k / k, atol=1e-15)
    # A^-1's eigenvalues, in the closed forms of RADAU5
    r = 81 ** (1 / 3) - 9 ** (1 / 3)
    u1 = 30 / (6 + r)
    alpha, beta = (12 - r) / 60, (81 ** (1 / 3) + 9 ** (1 / 3)) * np.sqrt(3) / 60
    cno = alpha ** 2 + beta ** 2
    assert abs(_radau.GAMMA - u1) < 1e-13
    lam = _radau.T_INV @ np.linalg.inv(A) @ _radau.T
    np.testing.assert_allclose(lam, _radau.LAM, atol=1e-13)
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(_radau.L2).imag),
                               [-beta / cno, beta / cno], rtol=1e-13)
    np.testing.assert_allclose(np.linalg.eigvals(_radau.L2).real, alpha / cno, rtol=1e-13)
    # the embedded formula: weight 1/gamma at t, b + A^T E / gamma at C, of order 3 exactly
    b0, bh = 1 / _radau.GAMMA, b + A.T @ _radau.E / _radau.GAMMA
    for k in range(1, 4):
        assert abs(b0 * (k == 1) + bh @ C ** (k - 1) - 1.0 / k) < 1e-14
    assert abs(bh @ C ** 3 - 0.25) > 1e-3


# ----------------------------------------------------------------------------- values

def test_robertson_matches_scipy_and_conserves_mass():
    y0 = np.array([1.0, 0.0, 0.0])
    ours = ci.solve_ivp(rober, (0.0, 1e3), y0, method="Radau", args=(K,), **ROBER_TOL)
    ref = si.solve_ivp(rober_np, (0.0, 1e3), y0, method="Radau", args=(K,), **ROBER_TOL)
    assert ours.success and int(ours.status) == 0
    np.testing.assert_allclose(ours.t[-1], 1e3)
    scale = 1e-10 + 1e-6 * np.abs(ref.y[:, -1])
    assert np.all(np.abs(ours.y[:, -1] - ref.y[:, -1]) < 10 * scale)
    np.testing.assert_allclose(ours.y[:, -1], ref.y[:, -1], rtol=2e-6)
    # a Runge-Kutta method keeps linear invariants: y0 + y1 + y2 = 1
    np.testing.assert_allclose(np.sum(ours.y, axis=0), 1.0, atol=1e-13)
    close_in_steps(len(ours.t), len(ref.t))
    assert int(ours.njev) >= 1 and int(ours.nlu) == 2 * int(ours.njev)
    # the analytic Jacobian (written with chainrule.numpy, like fun) gives the same steps
    np.testing.assert_allclose(rober_jac(0.0, ref.y[:, 3], K), rober_jac_np(0.0, ref.y[:, 3], K))
    jac = ci.solve_ivp(rober, (0.0, 1e3), y0, method="Radau", args=(K,), jac=rober_jac,
                       **ROBER_TOL)
    np.testing.assert_allclose(jac.t, ours.t, rtol=1e-10)
    np.testing.assert_allclose(jac.y, ours.y, rtol=1e-9, atol=1e-16)


def test_van_der_pol_mu_1000_matches_scipy_dense_and_t_eval():
    y0 = np.array([2.0, 0.0])
    tol = dict(rtol=1e-6, atol=1e-8)
    ours = ci.solve_ivp(vdp, (0.0, 2000.0), y0, method="Radau", args=(1000.0,),
                        dense_output=True, **tol)
    ref = si.solve_ivp(vdp_np, (0.0, 2000.0), y0, method="Radau", args=(1000.0,),
                       dense_output=True, **tol)
    close_in_steps(len(ours.t), len(ref.t))
    tt = np.linspace(0.0, 2000.0, 9)
    # y0 in [-2, 2], y1 (the fast component) up to ~1e3 in the jumps: rtol-level error
    np.testing.assert_allclose(ours.sol(tt), ref.sol(tt), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.y[:, -1], ref.y[:, -1], rtol=1e-6, atol=1e-8)
    # the collocation polynomial passes through every step end
    np.testing.assert_allclose(ours.sol(ours.t), ours.y, rtol=1e-12, atol=1e-12)
    # t_eval and non-terminal events come from the same interpolant
    def down(t, y, mu):
        return y[0]
    down.direction = -1

    def fast(t, y, mu):
        return y[1] - 100.0
    te = ci.solve_ivp(vdp, (0.0, 2000.0), y0, method="Radau", args=(1000.0,), t_eval=tt,
                      events=[down, fast], **tol)
    np.testing.assert_allclose(te.t, tt)
    np.testing.assert_allclose(te.y, ours.sol(tt), rtol=1e-13, atol=1e-13)
    ref_ev = si.solve_ivp(vdp_np, (0.0, 2000.0), y0, method="Radau", args=(1000.0,),
                          events=[down, fast], **tol)
    for k in range(2):
        assert te.t_events[k].shape == ref_ev.t_events[k].shape == ((1,), (2,))[k]
        np.testing.assert_allclose(te.t_events[k], ref_ev.t_events[k], rtol=1e-8)


def test_linear_stiff_system_against_expm_and_backwards():
    A = np.array([[-1.0, 3.0], [0.0, -1e4]])
    y0 = np.array([1.0, 2.0])
    tt = np.array([1e-4, 1e-2, 0.5, 2.0])
    sol = ci.solve_ivp(lambda t, y: stiff_matrix(3.0) @ y, (0.0, 2.0), y0, method="Radau",
                       t_eval=tt, rtol=1e-8, atol=1e-10)
    exact = np.stack([sl.expm(A * t) @ y0 for t in tt], axis=1)
    np.testing.assert_allclose(sol.y, exact, rtol=1e-6, atol=1e-10)
    ref = si.solve_ivp(lambda t, y: A @ y, (0.0, 2.0), y0, method="Radau", rtol=1e-8, atol=1e-10)
    full = ci.solve_ivp(lambda t, y: stiff_matrix(3.0) @ y, (0.0, 2.0), y0, method="Radau",
                        rtol=1e-8, atol=1e-10)
    close_in_steps(len(full.t), len(ref.t))
    # a constant jac= and backward in time (y' = -y from t = 1 to 0)
    back = ci.solve_ivp(lambda t, y: -y, (1.0, 0.0), np.array([1.0]), method="Radau",
                        jac=np.array([[-1.0]]), rtol=1e-9, atol=1e-12)
    assert back.t[-1] == 0.0 and np.all(np.diff(back.t) < 0)
    np.testing.assert_allclose(back.y[0, -1], np.e, rtol=1e-8)


# -------------------------------------------------------------------------- gradients

def lin_final(y0, p, T=2.0, rtol=1e-8):
    A = stiff_matrix(p)
    return ci.solve_ivp(lambda t, y: A @ y, (0.0, T), y0, method="Radau",
                        rtol=rtol, atol=1e-10).y[:, -1]


def test_linear_stiff_jacobians_against_closed_form_and_across_modes():
    y0, p, T = np.array([1.0, 2.0]), 3.0, 2.0
    A = np.array([[-1.0, p], [0.0, -1e4]])
    jf = cr.jacfwd(lin_final, argnums=(0, 1, 2))(y0, p, T)
    jr = cr.jacrev(lin_final, argnums=(0, 1, 2))(y0, p, T)
    for f, r in zip(jf, jr):
        np.testing.assert_allclose(f, r, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(jf[0], sl.expm(A * T), rtol=1e-6, atol=1e-12)
    exact_p = sl.expm_frechet(A * T, np.array([[0.0, T], [0.0, 0.0]]))[1] @ y0
    np.testing.assert_allclose(jf[1], exact_p, rtol=1e-6, atol=1e-14)
    # d y(T) / dT = f(y(T)) = A y(T)
    np.testing.assert_allclose(jf[2], A @ sl.expm(A * T) @ y0, rtol=1e-6, atol=1e-14)


def rober_at(y0, k0, T=40.0, **tol):
    k = cnp.stack([k0, 1e4 + 0.0 * k0, 3e7 + 0.0 * k0])
    return ci.solve_ivp(rober, (0.0, T), y0, method="Radau", args=(k,), **tol).y[:, -1]


def test_robertson_gradients_against_finite_differences_of_scipy():
    y0, k0 = np.array([1.0, 0.0, 0.0]), 0.04
    tight = dict(rtol=1e-12, atol=1e-14)

    def ref(y0, k0):
        return si.solve_ivp(rober_np, (0.0, 40.0), y0, method="Radau",
                            args=(np.array([k0, 1e4, 3e7]),), jac=rober_jac_np, **tight).y[:, -1]
    tol = dict(rtol=1e-8, atol=1e-12)
    gk = cr.jacfwd(rober_at, argnums=1)(y0, k0, **tol)
    h = 1e-6
    fd_k = (ref(y0, k0 + h) - ref(y0, k0 - h)) / (2 * h)
    np.testing.assert_allclose(gk, fd_k, rtol=1e-5, atol=1e-9)
    # with respect to y0 in reverse mode: the first and third columns
    J = cr.jacrev(lambda v: rober_at(v, k0, **tol))(y0)
    e = np.eye(3) * 1e-6
    for j in (0, 2):
        fd = (ref(y0 + e[j], k0) - ref(y0 - e[j], k0)) / 2e-6
        np.testing.assert_allclose(J[:, j], fd, rtol=1e-5, atol=1e-9)


def test_hessian_of_a_nonlinear_problem_against_closed_form():
    # y' = -k y^2: y(T) = y0 / (1 + k y0 T)
    def final(v):
        return ci.solve_ivp(lambda t, y: -v[1] * y * y, (0.0, 2.0), v[:1], method="Radau",
                            rtol=1e-10, atol=1e-12).y[0, -1]
    v = np.array([1.5, 0.8])
    y0, k, T = 1.5, 0.8, 2.0
    d = 1 + k * y0 * T
    np.testing.assert_allclose(final(v), y0 / d, rtol=1e-9)
    np.testing.assert_allclose(cr.grad(final)(v), [1 / d ** 2, -y0 ** 2 * T / d ** 2],
                               rtol=1e-8)
    exact = np.array([[-2 * k * T / d ** 3, -2 * y0 * T / d ** 3],
                      [-2 * y0 * T / d ** 3, 2 * y0 ** 3 * T ** 2 / d ** 3]])
    np.testing.assert_allclose(cr.hessian(final)(v), exact, rtol=1e-7)


def test_jit_grad_equals_eager_and_vmap_over_initial_conditions():
    def final(y0, p):
        return lin_final(y0, p, T=0.5, rtol=1e-5)

    def loss(y0, p):
        return cnp.sum(final(y0, p) ** 2)
    y0, p = np.array([1.0, 2.0]), 3.0
    eager = cr.grad(loss, argnums=(0, 1))(y0, p)
    jitted = cr.jit(cr.grad(loss, argnums=(0, 1)))
    for _ in range(2):
        got = jitted(y0, p)
        np.testing.assert_allclose(got[0], eager[0], rtol=1e-12)
        np.testing.assert_allclose(got[1], eager[1], rtol=1e-12)
    A = np.array([[-1.0, p], [0.0, -1e4]])
    E = sl.expm(A * 0.5)
    np.testing.assert_allclose(eager[0], 2 * E.T @ E @ y0, rtol=1e-4)
    np.testing.assert_allclose(cr.jit(final)(y0, p), final(y0, p), rtol=1e-13)
    y0s = np.array([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]])
    batched = cr.vmap(lambda v: final(v, p))(y0s)
    np.testing.assert_allclose(batched, np.stack([final(v, p) for v in y0s]), rtol=1e-12)
    np.testing.assert_allclose(batched, y0s @ E.T, rtol=1e-4, atol=1e-12)


# ----------------------------------------------------------------------------- events

def test_terminal_event_matches_scipy_and_its_derivative():
    def half(t, y, k):
        return y[0] - 0.5
    half.terminal = True
    y0 = np.array([1.0, 0.0, 0.0])
    ours = ci.solve_ivp(rober, (0.0, 1e3), y0, method="Radau", args=(K,), events=half,
                        **ROBER_TOL)
    ref = si.solve_ivp(rober_np, (0.0, 1e3), y0, method="Radau", args=(K,), events=half,
                       **ROBER_TOL)
    assert int(ours.status) == 1
    np.testing.assert_allclose(ours.t_events[0], ref.t_events[0], rtol=1e-5)
    np.testing.assert_allclose(ours.t[-1], ref.t_events[0][0], rtol=1e-5)

    def crossing(k0):
        k = cnp.stack([k0, 1e4 + 0.0 * k0, 3e7 + 0.0 * k0])
        return ci.solve_ivp(rober, (0.0, 1e3), y0, method="Radau", args=(k,), events=half,
                            rtol=1e-8, atol=1e-12).t_events[0][0]

    def ref_crossing(k0):
        return si.solve_ivp(rober_np, (0.0, 1e3), y0, method="Radau",
                            args=(np.array([k0, 1e4, 3e7]),), events=half, jac=rober_jac_np,
                            rtol=1e-12, atol=1e-14).t_events[0][0]
    h = 1e-6
    np.testing.assert_allclose(cr.grad(crossing)(0.04),
                               (ref_crossing(0.04 + h) - ref_crossing(0.04 - h)) / (2 * h),
                               rtol=1e-5)


# -------------------------------------------------------------------------- bad input

def test_bad_input_is_a_clear_error():
    y0 = np.array([1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"jac returned shape \(2, 2\).*\(3, 3\)"):
        ci.solve_ivp(rober, (0.0, 1.0), y0, method="Radau", args=(K,),
                     jac=lambda t, y, k: cnp.eye(2))
    with pytest.raises(ValueError, match=r"jac returned shape \(3,\)"):
        ci.solve_ivp(rober, (0.0, 1.0), y0, method="Radau", args=(K,), jac=np.ones(3))
    with pytest.warns(UserWarning, match="jac has no effect"):
        ci.solve_ivp(lambda t, y: -y, (0.0, 1.0), np.array([1.0]), jac=np.array([[-1.0]]))
    with pytest.raises(NotImplementedError, match="'Radau'"):
        ci.solve_ivp(lambda t, y: -y, (0.0, 1.0), np.array([1.0]), method="BDF")
    r = ci.solve_ivp(rober, (0.0, 1e3), y0, method="Radau", args=(K,), max_steps=5, **ROBER_TOL)
    assert int(r.status) == -2 and not r.success and r.t.shape == (6,)
