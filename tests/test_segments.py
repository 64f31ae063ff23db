"""Straight-line stretches around loops become one-step scans (compile/segments.py), so they
run as one native kernel.  Values are checked against the program before the pass and
against eager code."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.compile import loop_kernel, segments
from chainrule.compile.segments import kernel_segments, MIN_SEGMENT
from chainrule.interpreters.staging import stage, eval_program
from chainrule.loops import scan_p

from helpers import lorenz_rhs, rk4_step

P = np.array([10.0, 28.0, 8 / 3])
native = pytest.mark.skipif(not loop_kernel.numba_available(), reason="segments need numba")


def lorenz_loss(p):
    step = rk4_step(lorenz_rhs, 1e-3)
    y = cnp.ones(3)
    for _ in range(300):           # rolled; its first copy (constants folded) stays outside the loop
        y = step(y, p)
    return cnp.sum(y ** 2)


def segment_scans(prog):
    return [e for e in prog.eqns if e.prim is scan_p and e.params["length"] == 1]


@native
def test_the_peeled_first_iteration_and_its_reverse_pass_become_kernels(monkeypatch):
    jg = cr.jit(cr.grad(lorenz_loss))
    want = cr.grad(lorenz_loss)(P)
    np.testing.assert_allclose(jg(P), want, rtol=1e-12)
    prog = jg.lower(P)
    assert len(segment_scans(prog)) >= 2                          # forward and reverse stretches
    used, call = [], loop_kernel.LoopKernel.__call__
    monkeypatch.setattr(loop_kernel.LoopKernel, "__call__", lambda self, n, *a: used.append(n) or call(self, n, *a))
    np.testing.assert_allclose(jg(P), want, rtol=1e-12)
    assert used.count(1) >= 2                                     # the stretches ran as kernels


def straight_then_loop(x):
    for i in range(MIN_SEGMENT):
        x = cnp.sin(x) * (1.0 + 0.01 * i)
    s = float(cr.stop_gradient(x[0]))                             # a guard inside the stretch
    x = x * 2.0 if s > 0 else x * 3.0
    x = cr.fori_loop(0, 5, lambda i, v: v * 0.5 + 1.0, x)
    return cnp.sum(x), s


@native
def test_the_pass_keeps_every_value_and_guard():
    x = np.array([0.3, -0.2, 0.9])
    prog, _ = stage(straight_then_loop, (x,))
    new = kernel_segments(prog)
    assert segment_scans(new) and new.guards == prog.guards
    for v in (x, x * 1.5):
        got, want = eval_program(new, [v]), eval_program(prog, [v])
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-14)
    assert isinstance(eval_program(new, [x])[1], float)          # a Python float stays one
    jf = cr.jit(straight_then_loop)
    for v in (x, -x, x):                                          # the guard re-specialises
        for a, b in zip(jf(v), straight_then_loop(v)):
            np.testing.assert_allclose(a, b, rtol=1e-13)


def test_short_stretches_and_large_values_stay_as_they_are():
    prog, _ = stage(lambda x: cr.fori_loop(0, 3, lambda i, v: v + 1.0, cnp.sin(x) * 2.0), (np.ones(3),))
    assert kernel_segments(prog) is prog
    big = np.ones(segments.MAX_VALUE + 1)
    prog, _ = stage(straight_then_loop, (big,))
    assert not segment_scans(kernel_segments(prog))


def test_without_numba_nothing_changes(monkeypatch):
    monkeypatch.setattr(loop_kernel, "numba_available", lambda: False)
    prog, _ = stage(straight_then_loop, (np.array([0.3, -0.2, 0.9]),))
    assert kernel_segments(prog) is prog
