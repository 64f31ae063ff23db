"""Plain Python loops under jit are rolled into scan equations (compile/roll.py).

Every case checks the value against eager evaluation (and derivatives against finite
differences or another mode), and that the compiled program does not grow with the
trip count.
"""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.compile.roll import roll, has_loops
from chainrule.interpreters.staging import stage, eval_program
from chainrule.loops import scan_p

from helpers import lorenz_rhs, rk4_step


def lorenz_loss(steps):
    step = rk4_step(lorenz_rhs, 1e-3)

    def loss(p):
        y = cnp.ones(3)
        for _ in range(steps):            # a plain Python loop
            y = step(y, p)
        return cnp.sum(y ** 2)
    return loss


P = np.array([10.0, 28.0, 8 / 3])


def n_eqns(jitted, *args):
    return len(jitted.lower(*args).eqns)


def test_rk4_loop_is_rolled_and_its_gradient_exact():
    sizes = {}
    for steps in (60, 120):
        f = cr.jit(cr.grad(lorenz_loss(steps)))
        g = f(P)
        np.testing.assert_allclose(g, cr.grad(lorenz_loss(steps))(P), rtol=1e-12)
        np.testing.assert_allclose(f(P), g, rtol=1e-12)              # the compiled program
        np.testing.assert_allclose(g, cr.fd.gradient(lorenz_loss(steps), P), rtol=1e-6)
        prog = f.lower(P)
        assert has_loops(prog)
        sizes[steps] = len(prog.eqns)
    assert sizes[60] == sizes[120], sizes                     # no growth with the trip count


def test_constants_that_depend_on_the_loop_index():
    def f(x):
        for i in range(400):
            x = cnp.sin(x * 1.5 + 0.1 * i) + 0.01 * i * x
        return x
    x = np.array([0.3, -0.2])
    jf = cr.jit(cr.jacfwd(f))
    want = cr.jacfwd(f)(x)
    np.testing.assert_allclose(jf(x), want, rtol=1e-12)
    np.testing.assert_allclose(jf(x), want, rtol=1e-12)
    np.testing.assert_allclose(cr.jit(cr.jacrev(f))(x), want, rtol=1e-11)
    assert has_loops(jf.lower(x))


def test_guards_inside_the_loop_body_stay_exact():
    def f(x):
        for _ in range(500):
            x = cnp.sin(x) * 0.99 + 0.02 if x[0] > 0.0 else cnp.cos(x) * 0.5
        return cnp.sum(x)
    jf = cr.jit(cr.grad(f))
    for x0 in (0.5, 0.7, -0.4, 0.5):               # the branch pattern changes: re-specialised
        x = np.array([x0, 0.1])
        np.testing.assert_allclose(jf(x), cr.grad(f)(x), rtol=1e-12)
    prog = jf.lower(np.array([0.5, 0.1]))
    assert has_loops(prog) and any(g.kind == "array" for g in prog.guards)


def test_long_scalar_programs_stay_straight_line_for_the_llvm_tier():
    def f(x):
        for _ in range(500):
            x = cnp.sin(x) * 0.99 + 0.02
        return x
    jf = cr.jit(cr.grad(f))
    assert jf(0.5) == pytest.approx(cr.grad(f)(0.5), rel=1e-12)
    from chainrule.compile import scalar_llvm
    if scalar_llvm.native.available():
        assert not has_loops(jf.lower(0.5))


@pytest.mark.parametrize("form", ["concatenate", "pad"])
def test_heat_equation_loop(form):
    n, k = 64, 0.2

    def step(u):
        lap = u[2:] - 2 * u[1:-1] + u[:-2]
        if form == "concatenate":
            return u + cnp.concatenate([cnp.zeros(1), k * lap, cnp.zeros(1)])
        return u + cnp.pad(k * lap, 1)

    def loss(u):
        for _ in range(300):
            u = step(u)
        return cnp.sum(u ** 2)
    u0 = np.exp(-((np.linspace(0, 1, n) - 0.5) ** 2) / 0.01)
    f = cr.jit(cr.grad(loss))
    np.testing.assert_allclose(f(u0), cr.grad(loss)(u0), rtol=1e-12)
    np.testing.assert_allclose(f(u0), cr.grad(loss)(u0), rtol=1e-12)
    assert len(f.lower(u0).eqns) < 20


def test_hessian_and_vmap_of_a_python_loop_under_jit():
    def f(x):
        for _ in range(300):
            x = x + 0.01 * cnp.sin(x[::-1]) * x
        return cnp.sum(x ** 3)
    x = np.array([0.3, 0.5, -0.2])
    np.testing.assert_allclose(cr.jit(cr.hessian(f))(x), cr.hessian(f)(x), rtol=1e-11)
    xs = np.stack([x, 2 * x, -x])
    np.testing.assert_allclose(cr.jit(cr.vmap(cr.grad(f)))(xs), cr.vmap(cr.grad(f))(xs), rtol=1e-12)


def test_nested_python_loops_and_a_trajectory():
    def f(x):
        traj = []
        for _ in range(40):
            for _ in range(10):
                x = x + 0.05 * cnp.cos(x)
            traj.append(x)
        return cnp.sum(cnp.stack(traj) ** 2)
    x = np.array([0.1, 0.4])
    jf = cr.jit(cr.grad(f))
    np.testing.assert_allclose(jf(x), cr.grad(f)(x), rtol=1e-12)
    np.testing.assert_allclose(jf(x), cr.fd.gradient(f, x), rtol=1e-6)


def test_a_recurrence_reading_two_steps_back_stays_exact():
    def f(x):
        a, b = x, x * 0.5                   # leapfrog-like: each step reads the last two
        for _ in range(600):
            a, b = b, a + 0.01 * cnp.sin(b)
        return b
    jf = cr.jit(cr.grad(f))
    assert jf(0.3) == pytest.approx(cr.grad(f)(0.3), rel=1e-12)
    assert jf(0.3) == pytest.approx(cr.grad(f)(0.3), rel=1e-12)


def test_roll_keeps_every_value_of_the_program():
    # the pass alone: the rolled program computes what the staged one computes
    def f(p):
        y, out = cnp.ones(3), []
        for i in range(300):
            y = y + 0.01 * cnp.tanh(y * p + 0.001 * i)
            if i % 100 == 0:
                out.append(y)
        return cnp.sum(y), cnp.stack(out), y
    prog, _ = stage(cr.value_and_grad(lambda p: f(p)[0]), [P])
    rolled = roll(prog)
    assert any(e.prim is scan_p for e in rolled.eqns) and len(rolled.eqns) < len(prog.eqns) / 10
    # (the scan runs its body through the optimiser, as jit runs any program: rounding may
    # differ in the last bits where it reassociates)
    for a, b in zip(eval_program(prog, [P]), eval_program(rolled, [P])):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-13, atol=1e-15)
    prog, _ = stage(f, [P])
    for a, b in zip(eval_program(prog, [P]), eval_program(roll(prog), [P])):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-13, atol=1e-15)


def test_short_programs_stay_straight_line():
    def f(x):
        for _ in range(20):
            x = cnp.sin(x)
        return x
    prog, _ = stage(f, [0.3])
    assert roll(prog) is prog
