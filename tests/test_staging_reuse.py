"""Staging records a primitive applied again to the same variables once (StagingTrace.process).

`y[0]` read three times in one step, or `p[1]` read in every iteration of a Python loop,
is one equation; results stay those of eager evaluation, and nothing that must run or
differ each time (an effect, a different parameter, a different operand) is merged.
"""
import gc

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import debug
from chainrule.core import Primitive, bind, primitives
from chainrule.ir.keys import freeze_params
from chainrule.interpreters import staging
from chainrule.interpreters.staging import stage


def _count(prog, name):
    return sum(e.prim.name == name for e in prog.eqns)


def test_the_same_index_of_the_same_value_is_one_equation():
    def f(y, p):
        return cnp.stack([p[0] * (y[1] - y[0]), y[0] * (p[1] - y[2]) - y[1], y[0] * y[1] - p[2] * y[2]])
    y, p = np.array([1.0, 2.0, 3.0]), np.array([10.0, 28.0, 8 / 3])
    prog, out = stage(f, (y, p))
    assert _count(prog, "getitem") == 6           # y[0], y[1], y[2], p[0], p[1], p[2]
    np.testing.assert_array_equal(out, f(y, p))
    np.testing.assert_array_equal(cr.jit(f)(y, p), f(y, p))


def test_loop_invariant_reads_are_staged_once_and_derivatives_stay_exact():
    def loss(p):
        y = cnp.ones(2)
        for _ in range(20):
            y = cnp.stack([y[0] + 0.01 * p[0] * y[1], y[1] - 0.01 * p[1] * y[0]])
        return cnp.sum(y ** 2)
    p = np.array([0.5, 1.5])
    prog, _ = stage(loss, (p,))
    # p[0], p[1] once; y[0], y[1] in every step after the first (whose y is a constant)
    assert _count(prog, "getitem") == 2 + 2 * 19
    want = cr.grad(loss)(p)
    np.testing.assert_allclose(cr.jit(cr.grad(loss))(p), want, rtol=1e-13)
    eps = 1e-6
    fd = [(loss(p + eps * e) - loss(p - eps * e)) / (2 * eps) for e in np.eye(2)]
    np.testing.assert_allclose(want, fd, rtol=1e-7)


def test_different_parameters_or_operands_are_not_merged():
    def f(x, y):
        return cnp.sum(x, axis=0) + cnp.sum(x, axis=1) + x[0] + x[1] + cnp.sum(y, axis=0)
    x, y = np.arange(4.0).reshape(2, 2), np.ones((2, 2))
    prog, _ = stage(f, (x, y))
    assert _count(prog, "reduce_sum") == 3 and _count(prog, "getitem") == 2
    np.testing.assert_array_equal(cr.jit(f)(x, y), f(x, y))


@pytest.fixture
def signed_p():
    """A primitive whose float parameter matters by its sign: x * copysign(1, s) (registered
    for this test only: the registry tests require every rule of a lasting primitive)."""
    p = Primitive("test_staging_reuse_signed", lambda x, s: x * np.copysign(1.0, s))
    yield p
    del primitives[p.name]


def test_parameters_equal_as_numbers_but_not_as_bits_are_not_merged(signed_p):
    _signed_p = signed_p

    def f(x):
        return bind(_signed_p, x, s=0.0), bind(_signed_p, x, s=-0.0), bind(_signed_p, x, s=0.0)
    x = np.array([1.5, -2.0])
    prog, (a, b, c) = stage(f, (x,))
    assert _count(prog, "test_staging_reuse_signed") == 2          # s=0.0 twice: one equation
    np.testing.assert_array_equal(a, x)
    np.testing.assert_array_equal(b, -x)
    np.testing.assert_array_equal(c, x)
    assert freeze_params({"s": 0.0}) != freeze_params({"s": -0.0})
    assert freeze_params({"i": (slice(0, 2),)}) == freeze_params({"i": (slice(0, 2),)})
    assert freeze_params({"i": (slice(0, 2),)}) != freeze_params({"i": (slice(0, 3),)})


def test_an_effect_inside_a_loop_body_is_not_merged(capsys):
    def step(c, x):
        debug.print("step {}", x)
        return c + x, None
    xs = np.arange(2.0)

    def f(c):
        prog, _ = stage(lambda c: cr.scan(step, c, xs)[0], (c,))
        scan_eqn = next(e for e in prog.eqns if e.prim.name == "scan")
        a = bind(scan_eqn.prim, c, xs, **scan_eqn.params)             # the same loop, twice,
        b = bind(scan_eqn.prim, c, xs, **scan_eqn.params)             # on the same variables
        return a[0] + b[0]
    prog, _ = stage(f, (1.0,))
    capsys.readouterr()
    assert _count(prog, "scan") == 2
    assert cr.jit(f)(1.0) == 4.0
    assert capsys.readouterr().out.count("step") == 4


def test_large_results_are_reused_without_being_kept(monkeypatch):
    monkeypatch.setattr(staging, "RECORD_SIZE", 4)
    x = np.linspace(0.0, 1.0, 10)

    def f(x):
        return cnp.sin(x) * cnp.sin(x) + cnp.sin(x)
    prog, out = stage(f, (x,))
    assert _count(prog, "sin") == 1
    np.testing.assert_allclose(out, np.sin(x) ** 2 + np.sin(x), rtol=1e-15)
    np.testing.assert_allclose(cr.jit(cr.grad(lambda x: cnp.sum(f(x))))(x),
                               2 * np.sin(x) * np.cos(x) + np.cos(x), rtol=1e-14)


def test_an_effect_runs_each_time(capsys):
    @cr.jit
    def f(x):
        debug.print("x = {}", x)
        debug.print("x = {}", x)
        return x + 1.0
    f(2.0)
    f(3.0)
    assert capsys.readouterr().out.count("x = ") == 4


def test_a_finished_trace_is_freed_without_the_cycle_collector():
    def traces():
        return sum(type(o) is staging.StagingTrace for o in gc.get_objects())
    gc.collect()
    gc.disable()
    try:
        before = traces()
        for _ in range(3):
            stage(lambda x: x[0] * x[0] + x[0], (np.ones(3),))
        assert traces() == before
    finally:
        gc.enable()


@pytest.mark.parametrize("n", [3, 7])
def test_reuse_under_vmap_and_jvp_matches_eager(n):
    def f(x):
        return x[0] * x[0] + cnp.sin(x[0]) * x[1]
    xs = np.random.default_rng(0).normal(size=(n, 2))
    np.testing.assert_allclose(cr.jit(cr.vmap(f))(xs), cr.vmap(f)(xs), rtol=1e-15)
    t = np.ones(2)
    for x in xs:
        np.testing.assert_allclose(cr.jit(lambda x: cr.jvp(f, (x,), (t,)))(x), cr.jvp(f, (x,), (t,)),
                                   rtol=1e-14)
