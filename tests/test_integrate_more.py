"""chainrule.scipy.integrate: quad/fixed_quad, DOP853, dense output, events, odeint's adjoint."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.scipy import integrate as ci
from chainrule.scipy.integrate._tableaus import GK21

si = pytest.importorskip("scipy.integrate")

TIGHT = dict(rtol=1e-10, atol=1e-10)


def fd(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2 * h)


def osc(t, y, w):
    return cnp.stack([y[1], -w * w * y[0]])


def osc_np(t, y, w):
    return np.array([y[1], -w * w * y[0]])


def osc_exact(t, y0, w):
    return np.stack([y0[0] * np.cos(w * t) + y0[1] / w * np.sin(w * t),
                     -w * y0[0] * np.sin(w * t) + y0[1] * np.cos(w * t)])


# ---------------------------------------------------------------------------------- quad

def test_gauss_kronrod_table_is_exact_to_its_degree():
    x = np.array([r[0] for r in GK21])
    nodes = np.concatenate([-x[:-1], x[::-1]])
    wk = np.array([r[1] for r in GK21])
    wg = np.array([r[2] for r in GK21])
    wk, wg = np.concatenate([wk[:-1], wk[::-1]]), np.concatenate([wg[:-1], wg[::-1]])
    for k in range(32):       # Kronrod 21: degree 3n+1 = 31; Gauss 10: degree 19
        exact = 2.0 / (k + 1) if k % 2 == 0 else 0.0
        assert abs(wk @ nodes ** k - exact) < 1e-14
        if k < 20:
            assert abs(wg @ nodes ** k - exact) < 1e-14
    gx, gw = np.polynomial.legendre.leggauss(10)
    np.testing.assert_allclose(np.sort(nodes[wg > 0]), gx, atol=1e-15)
    np.testing.assert_allclose(wg[wg > 0], gw[np.argsort(gx)], rtol=1e-14)


CASES = [
    (lambda x: cnp.exp(-x * x), lambda x: np.exp(-x * x), 0.0, 2.0),
    (lambda x: cnp.sin(30 * x) * x, lambda x: np.sin(30 * x) * x, -1.0, 3.0),
    (lambda x: 1.0 / (1.0 + x * x), lambda x: 1.0 / (1.0 + x * x), 0.0, np.inf),
    (lambda x: cnp.exp(-x * x), lambda x: np.exp(-x * x), -np.inf, np.inf),
    (lambda x: cnp.exp(x), lambda x: np.exp(x), -np.inf, 0.5),
    (lambda x: x ** 3, lambda x: x ** 3, 2.0, -1.0),
]


@pytest.mark.parametrize("k", range(len(CASES)))
def test_quad_matches_scipy(k):
    f, fnp, a, b = CASES[k]
    val, err = ci.quad(f, a, b)
    ref, ref_err = si.quad(fnp, a, b)
    assert abs(val - ref) <= 1e-12 * max(1.0, abs(ref))
    assert 0 <= err <= max(1.49e-8, 1.49e-8 * abs(ref))   # the requested tolerance


def test_quad_closed_forms_and_reversed_limits():
    np.testing.assert_allclose(ci.quad(lambda x: cnp.exp(-x * x), -np.inf, np.inf)[0],
                               np.sqrt(np.pi), rtol=1e-13)
    np.testing.assert_allclose(ci.quad(lambda x: cnp.exp(-x), np.inf, 0.0)[0], -1.0, rtol=1e-13)
    np.testing.assert_allclose(ci.quad(lambda x, c: c * x, 1.0, 1.0, args=(2.0,))[0], 0.0)


def sin_integral(p, a, b):
    return ci.quad(lambda x, p: cnp.sin(p * x), a, b, args=(p,))[0]


def test_quad_gradients_args_and_leibniz_limits():
    p, a, b = 1.3, 0.2, 1.5
    gp, ga, gb = cr.grad(sin_integral, argnums=(0, 1, 2))(p, a, b)
    exact_p = (b * np.sin(p * b) - a * np.sin(p * a)) / p + (np.cos(p * b) - np.cos(p * a)) / p ** 2
    np.testing.assert_allclose([gp, ga, gb], [exact_p, -np.sin(p * a), np.sin(p * b)], rtol=1e-12)
    np.testing.assert_allclose(gp, fd(lambda v: sin_integral(v, a, b), p), rtol=1e-7)
    jitted = cr.jit(cr.grad(sin_integral, argnums=(0, 1, 2)))
    for _ in range(2):
        np.testing.assert_allclose(jitted(p, a, b), [gp, ga, gb], rtol=1e-13)
    np.testing.assert_allclose(cr.jit(sin_integral)(2.0, a, b), sin_integral(2.0, a, b), rtol=1e-14)
    # forward mode, second order
    h = cr.hessian(lambda v: sin_integral(v[0], v[1], v[2]))(np.array([p, a, b]))
    np.testing.assert_allclose(h, h.T, atol=1e-10)
    np.testing.assert_allclose(h[2, 2], p * np.cos(p * b), rtol=1e-10)
    np.testing.assert_allclose(h[0, 2], b * np.cos(p * b), rtol=1e-10)


def test_quad_closure_infinite_limit_jacobians_and_vmap():
    def f(v):
        return ci.quad(lambda x: cnp.exp(-v[0] * x * x) * v[1], v[2], np.inf)[0]
    v = np.array([1.0, 2.0, 0.0])
    jf, jr = cr.jacfwd(f)(v), cr.jacrev(f)(v)
    np.testing.assert_allclose(jf, jr, rtol=1e-12)
    # d/dv0 = -v1 int x^2 e^{-x^2} over (0, inf) = -v1 sqrt(pi)/4; d/dv2 = -f(v2) = -v1
    np.testing.assert_allclose(jf, [-2 * np.sqrt(np.pi) / 4, np.sqrt(np.pi) / 2, -2.0],
                               rtol=1e-10)
    ps = np.array([0.5, 1.0, 2.5])
    np.testing.assert_allclose(cr.vmap(lambda p: sin_integral(p, 0.0, 2.0))(ps),
                               [(1 - np.cos(2 * p)) / p for p in ps], rtol=1e-12)


def test_quad_plain_python_integrand_and_errors():
    import math
    val, err = ci.quad(lambda x: math.exp(-x) if x > 0.5 else 1.0, 0.0, 1.0)
    np.testing.assert_allclose(val, 0.5 + math.exp(-0.5) - math.exp(-1.0), rtol=1e-9)
    with pytest.raises(TypeError, match="callable"):
        ci.quad(3.0, 0, 1)
    with pytest.raises(ValueError, match="scalar"):
        ci.quad(lambda x: cnp.stack([x, x]), 0.0, 1.0)
    with pytest.raises(NotImplementedError, match="points"):
        ci.quad(lambda x: x, 0.0, 1.0, points=[0.5])
    with pytest.raises(TypeError, match="control flow"):
        cr.grad(lambda p: ci.quad(lambda x: x * p if x > 0.5 else p, 0.0, 1.0)[0])(1.0)
    from chainrule.compile.loop_kernel import wait_native
    wait_native()       # numba's compiler, in a background build, swaps warnings' state (not thread-safe)
    with pytest.warns(UserWarning, match="subdivisions"):
        val, err = ci.quad(lambda x: 1.0 / cnp.sqrt(x), 0.0, 1.0, limit=5)
    assert err > 1e-8 and abs(val - 2.0) < 0.05


def test_fixed_quad_matches_scipy_and_is_differentiable():
    for n in (1, 3, 5, 12):
        ours = ci.fixed_quad(lambda x, c: cnp.cos(c * x), 0.1, 2.0, args=(1.7,), n=n)[0]
        ref = si.fixed_quad(lambda x, c: np.cos(c * x), 0.1, 2.0, args=(1.7,), n=n)[0]
        np.testing.assert_allclose(ours, ref, rtol=1e-13)
    np.testing.assert_allclose(ci.fixed_quad(lambda x: x ** 9, -1.0, 2.0, n=5)[0], (2 ** 10 - 1) / 10,
                               rtol=1e-13)
    g = cr.grad(lambda b: ci.fixed_quad(lambda x: x ** 3, 0.0, b, n=3)[0])(1.5)
    np.testing.assert_allclose(g, 1.5 ** 3, rtol=1e-13)
    with pytest.raises(ValueError, match="positive integer"):
        ci.fixed_quad(lambda x: x, 0.0, 1.0, n=0)


# -------------------------------------------------------------------------------- DOP853

@pytest.mark.parametrize("method", ["RK45", "DOP853"])
def test_all_steps_match_scipy(method):
    y0 = np.array([1.0, 0.5])
    ours = ci.solve_ivp(osc, (0.0, 5.0), y0, method=method, args=(1.3,))
    ref = si.solve_ivp(osc_np, (0.0, 5.0), y0, method=method, args=(1.3,))
    assert ours.t.shape == ref.t.shape and int(ours.nfev) == ref.nfev
    # step-size choices agree up to rounding in the error estimate's cancellation
    np.testing.assert_allclose(ours.t, ref.t, rtol=1e-7)
    np.testing.assert_allclose(ours.y, ref.y, atol=1e-7)
    tight = ci.solve_ivp(osc, (0.0, 5.0), y0, method=method, args=(1.3,), **TIGHT)
    np.testing.assert_allclose(tight.y, osc_exact(tight.t, y0, 1.3), atol=1e-8)


def test_dop853_takes_fewer_steps_and_gradients():
    y0 = np.array([1.0, 0.5])
    rk = ci.solve_ivp(osc, (0.0, 5.0), y0, args=(1.3,), **TIGHT)
    dp = ci.solve_ivp(osc, (0.0, 5.0), y0, method="DOP853", args=(1.3,), **TIGHT)
    assert dp.t.shape[0] < rk.t.shape[0] / 3

    def final(y0, w):
        return ci.solve_ivp(osc, (0.0, 1.5), y0, method="DOP853", args=(w,), **TIGHT).y[:, -1]
    jf, jr = cr.jacfwd(final)(y0, 1.3), cr.jacrev(final)(y0, 1.3)
    np.testing.assert_allclose(jf, jr, rtol=1e-12, atol=1e-14)
    w, T = 1.3, 1.5
    np.testing.assert_allclose(jf, [[np.cos(w * T), np.sin(w * T) / w],
                                    [-w * np.sin(w * T), np.cos(w * T)]], atol=1e-9)
    gw = cr.jacfwd(final, argnums=1)(y0, 1.3)
    np.testing.assert_allclose(gw, fd(lambda v: osc_exact(T, y0, v), 1.3), atol=1e-7)
    jitted = cr.jit(cr.jacrev(final))
    for _ in range(2):
        np.testing.assert_allclose(jitted(y0, 1.3), jr, rtol=1e-12)


def test_unknown_method_lists_the_implemented_ones():
    with pytest.raises(NotImplementedError, match="'RK45', 'DOP853'"):
        ci.solve_ivp(osc, (0.0, 1.0), np.array([1.0, 0.0]), method="LSODA", args=(1.0,))


# --------------------------------------------------------------------------- dense output

@pytest.mark.parametrize("method", ["RK45", "DOP853"])
def test_dense_output_matches_scipy_and_is_continuous(method):
    y0 = np.array([1.0, 0.5])
    ours = ci.solve_ivp(osc, (0.0, 5.0), y0, method=method, args=(1.3,), dense_output=True,
                        **TIGHT)
    ref = si.solve_ivp(osc_np, (0.0, 5.0), y0, method=method, args=(1.3,), dense_output=True,
                       **TIGHT)
    tt = np.linspace(0.0, 5.0, 23)
    np.testing.assert_allclose(ours.sol(tt), ref.sol(tt), atol=1e-8)
    np.testing.assert_allclose(ours.sol(tt), osc_exact(tt, y0, 1.3), atol=1e-8)
    assert ours.sol(2.0).shape == (2,)
    # the interpolant passes through every step end (both sides of each breakpoint)
    np.testing.assert_allclose(ours.sol(ours.t), ours.y, atol=1e-13)
    np.testing.assert_allclose(ours.sol(ours.t[1:-1] * (1 - 1e-15)), ours.y[:, 1:-1], atol=1e-12)
    # loose tolerance: the interpolant is as accurate as the steps
    loose = ci.solve_ivp(osc, (0.0, 5.0), y0, method=method, args=(1.3,), dense_output=True)
    ref = si.solve_ivp(osc_np, (0.0, 5.0), y0, method=method, args=(1.3,), dense_output=True)
    np.testing.assert_allclose(loose.sol(tt), ref.sol(tt), atol=1e-6)


def test_dense_output_derivatives_jit_and_vmap():
    w = 1.3

    def f(y0):
        r = ci.solve_ivp(osc, (0.0, 3.0), y0, args=(w,), method="DOP853", dense_output=True,
                         **TIGHT)
        return r.sol(cnp.array([0.7, 2.9]))
    y0 = np.array([1.0, 0.5])
    jf, jr = cr.jacfwd(f)(y0), cr.jacrev(f)(y0)
    np.testing.assert_allclose(jf, jr, atol=1e-13)
    tt = np.array([0.7, 2.9])
    np.testing.assert_allclose(jf[0], np.stack([np.cos(w * tt), np.sin(w * tt) / w], axis=1),
                               atol=1e-8)
    # d sol(s)/ds is y'(s)
    g = cr.grad(lambda s: ci.solve_ivp(osc, (0.0, 3.0), y0, args=(w,), dense_output=True,
                                       **TIGHT).sol(s)[0])(1.1)
    np.testing.assert_allclose(g, osc_exact(1.1, y0, w)[1], atol=1e-7)
    y0s = np.array([[1.0, 0.5], [0.2, -1.0], [2.0, 0.0]])
    np.testing.assert_allclose(cr.vmap(f)(y0s), np.stack([f(y) for y in y0s]), atol=1e-14)
    jitted = cr.jit(f)
    for _ in range(2):
        np.testing.assert_allclose(jitted(y0), f(y0), atol=1e-14)


def test_t_eval_with_dense_path_matches_scipy():
    tt = np.linspace(0.0, 5.0, 11)
    y0 = np.array([1.0, 0.5])
    ours = ci.solve_ivp(osc, (0.0, 5.0), y0, args=(1.3,), t_eval=tt, dense_output=True)
    ref = si.solve_ivp(osc_np, (0.0, 5.0), y0, args=(1.3,), t_eval=tt, dense_output=True)
    np.testing.assert_allclose(ours.y, ref.y, atol=1e-8)
    np.testing.assert_allclose(ours.t, tt)


def test_max_steps_reached_is_reported():
    r = ci.solve_ivp(osc, (0.0, 50.0), np.array([1.0, 0.0]), args=(1.0,), max_steps=5)
    assert int(r.status) == -2 and not r.success and "max_steps" in r.message
    assert r.t.shape == (6,)


# -------------------------------------------------------------------------------- events

def ball(t, y, g):
    return cnp.stack([y[1], -g + 0.0 * y[0]])


def hit_ground(t, y, g):
    return y[0]


hit_ground.terminal = True
hit_ground.direction = -1


def fall_time(h0, g):
    r = ci.solve_ivp(ball, (0.0, 10.0), cnp.stack([h0, 0.0 * h0]), args=(g,), events=hit_ground)
    return r.t_events[0][0]


def test_ball_drop_event_time_and_its_derivatives():
    h0, g = 2.0, 9.81
    r = ci.solve_ivp(ball, (0.0, 10.0), np.array([h0, 0.0]), args=(g,), events=hit_ground)
    exact = np.sqrt(2 * h0 / g)
    assert int(r.status) == 1 and "termination" in r.message
    np.testing.assert_allclose(r.t_events[0], [exact], rtol=1e-13)
    np.testing.assert_allclose(r.t[-1], exact, rtol=1e-13)
    np.testing.assert_allclose(r.y[:, -1], [0.0, -g * exact], atol=1e-12)
    np.testing.assert_allclose(r.y_events[0][0], r.y[:, -1], atol=1e-14)
    gh, gg = cr.grad(fall_time, argnums=(0, 1))(h0, g)
    np.testing.assert_allclose([gh, gg], [1 / np.sqrt(2 * h0 * g), -0.5 * np.sqrt(2 * h0) / g ** 1.5],
                               rtol=1e-10)
    np.testing.assert_allclose(gh, fd(lambda v: fall_time(v, g), h0), rtol=1e-7)
    np.testing.assert_allclose(gg, fd(lambda v: fall_time(h0, v), g), rtol=1e-7)
    jitted = cr.jit(cr.grad(fall_time, argnums=(0, 1)))
    for _ in range(2):
        np.testing.assert_allclose(jitted(h0, g), [gh, gg], rtol=1e-12)
    np.testing.assert_allclose(cr.jacfwd(fall_time)(h0, g), gh, rtol=1e-12)


def test_event_closing_over_a_parameter_and_terminal_count():
    def first_crossing(level):
        def ev(t, y):
            return y[0] - level
        ev.terminal = True
        r = ci.solve_ivp(lambda t, y: -y, (0.0, 5.0), np.array([1.0]), events=ev, **TIGHT)
        return r.t_events[0][0]
    # y = e^{-t} crosses `level` at -log(level); d/dlevel = -1/level
    np.testing.assert_allclose(first_crossing(0.3), -np.log(0.3), rtol=1e-9)
    np.testing.assert_allclose(cr.grad(first_crossing)(0.3), -1 / 0.3, rtol=1e-8)

    def zero(t, y, w):
        return y[0]
    zero.terminal = 2
    y0 = np.array([1.0, 0.0])
    ours = ci.solve_ivp(osc, (0.0, 20.0), y0, args=(1.0,), events=zero)
    ref = si.solve_ivp(osc_np, (0.0, 20.0), y0, args=(1.0,), events=zero)
    np.testing.assert_allclose(ours.t_events[0], ref.t_events[0], rtol=1e-8)
    np.testing.assert_allclose(ours.t_events[0], [np.pi / 2, 3 * np.pi / 2], rtol=1e-3)
    np.testing.assert_allclose(ours.t[-1], ref.t[-1], rtol=1e-8)


@pytest.mark.parametrize("method", ["RK45", "DOP853"])
def test_non_terminal_events_with_directions_match_scipy(method):
    def up(t, y, w):
        return y[0]
    up.direction = 1

    def down(t, y, w):
        return y[0]
    down.direction = -1

    def either(t, y, w):
        return y[1] - 0.2
    y0 = np.array([1.0, 0.0])
    tt = np.linspace(0.0, 12.0, 7)
    ours = ci.solve_ivp(osc, (0.0, 12.0), y0, method=method, args=(1.1,), events=[up, down, either],
                        t_eval=tt)
    ref = si.solve_ivp(osc_np, (0.0, 12.0), y0, method=method, args=(1.1,),
                       events=[up, down, either], t_eval=tt)
    assert int(ours.status) == 0
    np.testing.assert_allclose(ours.y, ref.y, atol=1e-7)
    for k in range(3):
        assert ours.t_events[k].shape == ref.t_events[k].shape
        np.testing.assert_allclose(ours.t_events[k], ref.t_events[k], rtol=1e-7)
        np.testing.assert_allclose(ours.y_events[k], ref.y_events[k], atol=1e-7)
    w = 1.1
    np.testing.assert_allclose(ours.t_events[0], [3 * np.pi / 2 / w, 7 * np.pi / 2 / w], rtol=1e-3)


def test_terminal_event_truncates_t_eval_like_scipy():
    h0, g = 2.0, 9.81
    tt = np.linspace(0.0, 1.0, 11)
    ours = ci.solve_ivp(ball, (0.0, 10.0), np.array([h0, 0.0]), args=(g,), events=hit_ground,
                        t_eval=tt)
    ref = si.solve_ivp(lambda t, y, g: np.array([y[1], -g]), (0.0, 10.0), np.array([h0, 0.0]),
                       args=(g,), events=lambda t, y, g: y[0] if True else 0, t_eval=tt)
    assert ours.t.shape == (7,)          # 0.0 .. 0.6 < sqrt(2 h0 / g) = 0.6386
    np.testing.assert_allclose(ours.y, ref.y[:, :7], atol=1e-10)


def test_event_errors():
    with pytest.raises(TypeError, match="events\\[0\\] must be callable"):
        ci.solve_ivp(osc, (0.0, 1.0), np.array([1.0, 0.0]), args=(1.0,), events=[3.0])

    def ev(t, y, w):
        return y
    with pytest.raises(ValueError, match="scalar"):
        ci.solve_ivp(osc, (0.0, 1.0), np.array([1.0, 0.0]), args=(1.0,), events=ev)

    def bad(t, y, w):
        return y[0]
    bad.terminal = -1
    with pytest.raises(ValueError, match="terminal"):
        ci.solve_ivp(osc, (0.0, 1.0), np.array([1.0, 0.0]), args=(1.0,), events=bad)


# ------------------------------------------------------------------------------- adjoint

def lotka_volterra(y, t, p):
    return cnp.stack([p[0] * y[0] - p[1] * y[0] * y[1], -p[2] * y[1] + p[3] * y[0] * y[1]])


def test_odeint_adjoint_gradients_equal_discrete_gradients():
    t = np.linspace(0.0, 3.0, 5)
    p, y0 = np.array([1.0, 0.5, 0.8, 0.3]), np.array([1.0, 0.7])

    def loss(y0, t, p, adjoint):
        ys = ci.odeint(lotka_volterra, y0, t, args=(p,), adjoint=adjoint, **TIGHT)
        return cnp.sum(ys ** 2)
    adj = cr.grad(loss, argnums=(0, 1, 2))(y0, t, p, True)
    disc = cr.grad(loss, argnums=(0, 1, 2))(y0, t, p, False)
    for a, d in zip(adj, disc):
        np.testing.assert_allclose(a, d, rtol=1e-7)
    np.testing.assert_allclose(loss(y0, t, p, True), loss(y0, t, p, False), rtol=1e-14)
    e = np.zeros(4)
    e[1] = 1e-6
    np.testing.assert_allclose(adj[2][1], (loss(y0, t, p + e, False) - loss(y0, t, p - e, False))
                               / 2e-6, rtol=1e-6)
    # a closed form: y' = -k y, L = y(T)
    k, T = 0.7, 2.0
    gk = cr.grad(lambda k: ci.odeint(lambda y, t: -k * y, np.array([2.0]), np.array([0.0, T]),
                                     adjoint=True, **TIGHT)[-1, 0])(k)
    np.testing.assert_allclose(gk, -2.0 * T * np.exp(-k * T), rtol=1e-8)
