"""chainrule.scipy.integrate: solve_ivp / odeint (RK45 in one while_loop) and quadrature."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.scipy import integrate as ci

try:
    import scipy.integrate as si
except ImportError:  # pragma: no cover
    si = None
needs_scipy = pytest.mark.skipif(si is None, reason="SciPy is not installed")

TIGHT = dict(rtol=1e-10, atol=1e-10)


def decay(t, y, k):
    return -k * y


def oscillator(t, y, w):
    return cnp.stack([y[1], -w * w * y[0]])


def fd_grad(f, x, h=1e-6):
    x = np.asarray(x, float)
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = h
        g.flat[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


# ------------------------------------------------------------------------------------ values

@needs_scipy
def test_solve_ivp_matches_scipy_step_for_step():
    y0 = np.array([1.0, 2.0])
    ours = ci.solve_ivp(decay, (0.0, 2.0), y0, args=(0.7,))
    ref = si.solve_ivp(decay, (0.0, 2.0), y0, args=(0.7,))
    # every accepted step, as SciPy returns them
    assert ours.y.shape == ref.y.shape == (2, len(ref.t))
    np.testing.assert_allclose(ours.t, ref.t, rtol=1e-14)
    np.testing.assert_allclose(ours.y, ref.y, rtol=1e-13)
    assert int(ours.nfev) == ref.nfev
    assert ours.success and ours.status == 0 and "success" in ours.message


@needs_scipy
def test_solve_ivp_t_eval_matches_scipy_and_closed_form():
    t_eval = np.linspace(0.0, 3.0, 7)
    y0 = np.array([1.0, 0.5])
    ours = ci.solve_ivp(oscillator, (0.0, 3.0), y0, t_eval=t_eval, args=(1.3,), **TIGHT)
    ref = si.solve_ivp(oscillator, (0.0, 3.0), y0, t_eval=t_eval, args=(1.3,), **TIGHT)
    assert ours.y.shape == (2, 7)
    np.testing.assert_allclose(ours.t, t_eval)
    np.testing.assert_allclose(ours.y, ref.y, atol=1e-8)
    w = 1.3
    exact = np.stack([np.cos(w * t_eval) + 0.5 / w * np.sin(w * t_eval),
                      -w * np.sin(w * t_eval) + 0.5 * np.cos(w * t_eval)])
    np.testing.assert_allclose(ours.y, exact, atol=1e-8)
    # default tolerances: within SciPy's own error of the truth
    loose = ci.solve_ivp(oscillator, (0.0, 3.0), y0, t_eval=t_eval, args=(1.3,))
    np.testing.assert_allclose(loose.y, exact, atol=1e-2)


def test_solve_ivp_backward_and_max_step():
    sol = ci.solve_ivp(decay, (2.0, 0.0), np.array([1.0]), args=(0.5,), **TIGHT)
    np.testing.assert_allclose(sol.y[:, -1], [np.exp(1.0)], rtol=1e-8)
    sol = ci.solve_ivp(decay, (0.0, 1.0), np.array([1.0]), args=(0.5,), max_step=0.01)
    assert int(sol.nfev) >= 600
    np.testing.assert_allclose(sol.y[:, -1], [np.exp(-0.5)], rtol=1e-8)


def test_unsupported_method_is_clear():
    with pytest.raises(NotImplementedError, match="RK45"):
        ci.solve_ivp(decay, (0.0, 1.0), np.array([1.0]), method="LSODA", args=(1.0,))


@needs_scipy
def test_odeint_matches_scipy():
    t = np.linspace(0.0, 2.0, 6)

    def func(y, t, k):
        return -k * y
    ours = ci.odeint(func, np.array([1.0, 3.0]), t, args=(0.9,))
    ref = si.odeint(func, np.array([1.0, 3.0]), t, args=(0.9,))
    assert ours.shape == (6, 2)
    np.testing.assert_allclose(ours, ref, rtol=1e-7)
    np.testing.assert_allclose(ours[:, 0], np.exp(-0.9 * t), rtol=1e-7)


# ---------------------------------------------------------------------------------- gradients

def final_decay(y0, k, T=2.0):
    return ci.solve_ivp(decay, (0.0, T), y0, args=(k,), **TIGHT).y[:, -1]


def test_grad_wrt_y0_and_args_closed_form_and_fd():
    y0, k, T = np.array([1.0, 2.0]), 0.7, 2.0

    def loss(y0, k):
        return cnp.sum(final_decay(y0, k) ** 2)
    gy, gk = cr.grad(loss, argnums=(0, 1))(y0, k)
    e = np.exp(-k * T)
    np.testing.assert_allclose(gy, 2 * y0 * e * e, rtol=1e-8)
    np.testing.assert_allclose(gk, -2 * T * np.sum(y0 ** 2) * e * e, rtol=1e-8)
    np.testing.assert_allclose(gy, fd_grad(lambda v: float(loss(v, k)), y0), rtol=1e-6)
    np.testing.assert_allclose(gk, fd_grad(lambda v: float(loss(y0, v[0])), [k])[0], rtol=1e-6)


def test_grad_wrt_closure_and_t_span():
    y0 = np.array([1.5])

    def loss(k, t0, t1):
        sol = ci.solve_ivp(lambda t, y: -k * y, (t0, t1), y0, **TIGHT)
        return sol.y[0, -1]
    k, t0, t1 = 0.8, 0.2, 1.7
    gk, g0, g1 = cr.grad(loss, argnums=(0, 1, 2))(k, t0, t1)
    yT = 1.5 * np.exp(-k * (t1 - t0))
    np.testing.assert_allclose([gk, g0, g1], [-(t1 - t0) * yT, k * yT, -k * yT], rtol=1e-8)


def test_jit_grad_equals_eager():
    w = 1.1

    def loss(y0, w):
        sol = ci.solve_ivp(oscillator, (0.0, 2.0), y0, args=(w,), t_eval=np.array([1.0, 2.0]),
                           **TIGHT)
        return cnp.sum(sol.y ** 2)
    y0 = np.array([1.0, -0.3])
    eager = cr.grad(loss, argnums=(0, 1))(y0, w)
    jitted = cr.jit(cr.grad(loss, argnums=(0, 1)))
    for _ in range(2):
        got = jitted(y0, w)
        np.testing.assert_allclose(got[0], eager[0], rtol=1e-12)
        np.testing.assert_allclose(got[1], eager[1], rtol=1e-12)
    np.testing.assert_allclose(cr.jit(loss)(y0, w), loss(y0, w), rtol=1e-12)


def test_jacfwd_equals_jacrev_and_closed_form():
    def final(y0):
        return ci.solve_ivp(oscillator, (0.0, 1.5), y0, args=(1.3,), **TIGHT).y[:, -1]
    y0 = np.array([0.4, 0.9])
    jf, jr = cr.jacfwd(final)(y0), cr.jacrev(final)(y0)
    np.testing.assert_allclose(jf, jr, rtol=1e-12, atol=1e-14)
    w, T = 1.3, 1.5
    exact = np.array([[np.cos(w * T), np.sin(w * T) / w],
                      [-w * np.sin(w * T), np.cos(w * T)]])
    np.testing.assert_allclose(jf, exact, atol=1e-8)


def test_vmap_over_initial_conditions_equals_loop():
    y0s = np.array([[1.0, 0.0], [0.2, 0.5], [-1.0, 3.0]])

    def final(y0):
        return ci.solve_ivp(oscillator, (0.0, 2.0), y0, args=(0.9,),
                            t_eval=np.array([0.5, 2.0])).y
    batched = cr.vmap(final)(y0s)
    looped = np.stack([final(y) for y in y0s])
    np.testing.assert_allclose(batched, looped, rtol=1e-12, atol=1e-14)


def test_odeint_grad():
    t = np.array([0.0, 0.5, 1.0])

    def loss(k):
        return cnp.sum(ci.odeint(lambda y, t, k: -k * y, np.array([2.0]), t, args=(k,)))
    k = 1.2
    np.testing.assert_allclose(cr.grad(loss)(k), np.sum(-2.0 * t * np.exp(-k * t)), rtol=1e-6)


# --------------------------------------------------------------------------------- quadrature

@needs_scipy
@pytest.mark.parametrize("n", [2, 3, 4, 7, 10])
def test_quadrature_matches_scipy(n):
    rng = np.random.default_rng(n)
    y = rng.normal(size=(3, n))
    x = np.sort(rng.uniform(0, 2, size=n))
    for kw in (dict(), dict(dx=0.3), dict(x=x)):
        np.testing.assert_allclose(ci.trapezoid(y, **kw), si.trapezoid(y, **kw), rtol=1e-12)
        np.testing.assert_allclose(ci.simpson(y, **kw), si.simpson(y, **kw), rtol=1e-12)
        np.testing.assert_allclose(ci.cumulative_trapezoid(y, **kw),
                                   si.cumulative_trapezoid(y, **kw), rtol=1e-12)
        np.testing.assert_allclose(ci.cumulative_trapezoid(y, initial=0.0, **kw),
                                   si.cumulative_trapezoid(y, initial=0.0, **kw), rtol=1e-12)
    yt = y.T.copy()
    np.testing.assert_allclose(ci.simpson(yt, x=x, axis=0), si.simpson(yt, x=x, axis=0),
                               rtol=1e-12)
    np.testing.assert_allclose(ci.cumulative_trapezoid(yt, x=x, axis=0),
                               si.cumulative_trapezoid(yt, x=x, axis=0), rtol=1e-12)


def test_quadrature_gradients():
    x = np.linspace(0.0, 1.0, 9)

    def area(a):
        return ci.simpson(a * x ** 2 + cnp.sin(a * x), x=x)
    a = 0.7
    np.testing.assert_allclose(cr.grad(area)(a), fd_grad(lambda v: float(area(v[0])), [a])[0],
                               rtol=1e-8)
    # Simpson is exact on cubics
    np.testing.assert_allclose(ci.simpson(x ** 3, x=x), 0.25, rtol=1e-14)
    np.testing.assert_allclose(cr.grad(lambda s: ci.trapezoid(s * x, x=x))(2.0), 0.5, rtol=1e-14)


def test_hessian_one_loop_equation_vmap_grad_and_t_eval_grad():
    def loss(p):
        return ci.solve_ivp(lambda t, y: -p[1] * y, (0.0, 2.0), p[:1], **TIGHT).y[0, -1]
    p = np.array([1.5, 0.7])
    e = np.exp(-1.4)
    np.testing.assert_allclose(cr.hessian(loss)(p), [[0, -2 * e], [-2 * e, 1.5 * 4 * e]],
                               rtol=1e-8, atol=1e-14)
    assert str(cr.make_ir(loss)(p)).count("while") == 1
    ps = np.array([[1.0, 0.5], [2.0, 0.9]])
    np.testing.assert_allclose(cr.vmap(cr.grad(loss))(ps), [cr.grad(loss)(q) for q in ps],
                               rtol=1e-12)

    def at(te):
        sol = ci.solve_ivp(decay, (0.0, 2.0), np.array([1.0]), t_eval=te, args=(0.5,), **TIGHT)
        return cnp.sum(sol.y)
    te = np.array([0.5, 1.0, 2.0])
    np.testing.assert_allclose(cr.grad(at)(te), -0.5 * np.exp(-0.5 * te), rtol=1e-8)
