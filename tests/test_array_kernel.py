"""Array loop kernels (compile/array_kernel.py) and the pruning of loop outputs (scan DCE).

Each body is written as an array kernel and run two ways against the loop run one NumPy call
per operation (loops._scan_loop): the kernel source as plain Python (no numba needed) and,
when numba is installed, compiled by numba.  Then the public path: jit(grad) of loops whose
kernels numba builds in the background, against eager gradients.
"""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import loops
from chainrule.compile import array_kernel, loop_kernel
from chainrule.ir.optimize import optimize

from helpers import compiled

try:
    import numba
except ImportError:          # the plain-Python runs still test the generated code
    numba = None

RNG = np.random.default_rng(3)
A6 = RNG.normal(size=(6, 6))
B64 = RNG.normal(size=(6, 4))
W5 = RNG.normal(size=5)


def _heat_pad(c, x):
    lap = c[2:] - 2 * c[1:-1] + c[:-2]
    return [c + cnp.pad(0.2 * lap, 1), cnp.sum(c * c)]


def _heat_concat(c, x):
    lap = c[2:] - 2 * c[1:-1] + c[:-2]
    return [c + cnp.concatenate([cnp.zeros(1), 0.2 * lap * x, cnp.zeros(1)]), c[0]]


def _strided(c, x):
    return [c[::-1] * 0.5 + cnp.concatenate([c[::2], c[1::2]]) * x, c[1:-1:3]]


def _matrix(c, x):
    # 2-D carry: transposes, broadcasting, sums over each axis with and without keepdims
    new = c.T.T * W5[None, :] + cnp.sum(c, axis=0, keepdims=True) * 0.1 - cnp.sum(c, axis=1)[:, None] * x
    return [cnp.tanh(new), cnp.sum(c, axis=1), cnp.sum(c)]


def _matmuls(c, x):
    m = cnp.outer(c, c[:4]) * 0.01                       # (6, 4), computed in the loop
    new = cnp.sin(0.2 * A6 @ c) + c @ A6 * 0.05 + (A6 @ c[:, None])[:, 0] * 0.01 + (c @ c) * 1e-3
    return [new + m @ cnp.ones(4) * x + (c[None, :] @ B64 @ B64.T)[0] * 0.01, m.T @ c]


def _scatter(c, x):
    # index_add at slices and at an integer index, reshapes, where, a cast
    g = cnp.at(cnp.at(cnp.zeros(12))[1:5].add(c[:4] * x))[7].add(c[0])
    r = cnp.reshape(c, (3, 4)).T.reshape(-1)
    return [cnp.where(r > 0, r, 0.1 * r) + g + c.astype(np.int64) * 0.5, cnp.sum(g > 0.5)]


def _scalar_and_vector(c, x):
    s, v = c
    return [(s + cnp.sum(v * x), v * cnp.cos(s) + cnp.exp(-v * v)), s * 2]


def _pieces_read_backwards(c, x):
    # piecewise values read through reversed and strided views: their cuts map back
    return [cnp.concatenate([c[:3] * 2, c[3:] * x])[::-1]
            + cnp.concatenate([cnp.pad(c, 2)[::3], cnp.zeros(5)]), c[0]]


def _casts(c, x):
    # bool -> float and int, float -> int (truncation), bool logic, where
    return [cnp.where((c > 0) & (c < 1), c * 2, -c) + (c > 0.5).astype(np.float64)
            + (c * 3).astype(np.int64) * 2 * x, cnp.sum((c > 0).astype(np.int64))]


CASES = {
    "pieces read backwards": (_pieces_read_backwards, lambda: RNG.normal(size=10), 0.7),
    "casts": (_casts, lambda: RNG.normal(size=10), 0.3),
    "heat pad": (_heat_pad, lambda: np.exp(-np.linspace(-2, 2, 40) ** 2), 0.7),
    "heat concatenate": (_heat_concat, lambda: np.exp(-np.linspace(-2, 2, 40) ** 2), 0.7),
    "strided and reversed slices": (_strided, lambda: RNG.normal(size=10), 0.9),
    "matrix": (_matrix, lambda: RNG.normal(size=(4, 5)), 0.3),
    "matmuls": (_matmuls, lambda: RNG.normal(size=6), 0.5),
    "scatter reshape where cast": (_scatter, lambda: RNG.normal(size=12) * 3, 0.2),
    "scalar and vector carries": (_scalar_and_vector, lambda: (0.3, RNG.normal(size=7)), 0.1),
}


def _body(fn, carry, x):
    leaves = list(carry) if isinstance(carry, tuple) else [carry]
    n = len(leaves)

    def flat(*ins):
        c = tuple(ins[:n]) if isinstance(carry, tuple) else ins[0]
        new, *ys = fn(c, ins[n])
        return (list(new) if isinstance(new, tuple) else [new]) + ys
    prog, consts = loops.stage_body(flat, leaves + [x])
    assert not consts
    return optimize(prog), leaves, n


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("reverse", [False, True])
def test_array_kernel_equals_the_loop_op_by_op(name, reverse, monkeypatch):
    monkeypatch.setattr(loop_kernel, "NATIVE_AFTER", float("inf"))     # no background numba build
    fn, init, x = CASES[name]
    carry = init()
    prog, leaves, nk = _body(fn, carry, x)
    length = 7
    xs = np.linspace(0.5, 1.0, length) * x
    src, consts = array_kernel.scan_source(prog, 0, nk, reverse)
    want = loops._scan_loop(loops.runner(prog), 0, nk, reverse, length, *leaves, xs)
    kernel = loop_kernel.scan_loop_kernel(src, prog, 0, nk, extra=consts)
    got = kernel(length, *leaves, xs)                                # the source run as Python
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-13)
    if numba is None:
        return
    native = numba.njit(error_model="numpy")(loop_kernel._python_kernel(src))
    kernel.state = [None, native, True, 0.0]
    for g, w in zip(kernel(length, *leaves, xs), want):
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-13)


def test_stencil_kernel_is_split_at_the_pieces_not_branched():
    prog, leaves, nk = _body(_heat_pad, np.ones(40), 0.7)
    src, _ = array_kernel.scan_source(prog, 0, nk, False)
    assert " if " not in src and "range(1, 39)" in src        # the interior loop, boundaries apart
    # its adjoint: the transposed stencil gathers (no scatter pass, no temporary array)
    g = cr.make_ir(cr.grad(lambda u: cnp.sum(cr.fori_loop(0, 5, lambda i, u: _heat_pad(u, 0.0)[0], u))))(leaves[0])
    bwd = [e for e in optimize(g).eqns if e.prim is loops.scan_p][-1].params["body"]
    src, _ = array_kernel.scan_source(optimize(bwd), 0, 1, True)
    assert " if " not in src and "_np.empty((40,)" not in src


def test_unsupported_bodies_keep_the_op_by_op_loop():
    prog, leaves, nk = _body(lambda c, x: [c[np.array([2, 0, 1])] * x, cnp.sort(c)], np.arange(3.0), 1.0)
    assert array_kernel.scan_kernel(prog, 0, nk, False) is None          # advanced indexing, sort
    f = cr.jit(lambda c: cr.scan(lambda c, x: (c[np.array([2, 0, 1])] * x, None), c, np.ones(4))[0])
    # four steps of a 3-cycle: the cycle once
    np.testing.assert_allclose(compiled(f, np.arange(3.0)), [2.0, 0.0, 1.0], rtol=0)


@pytest.mark.skipif(numba is None or not loop_kernel.numba_available(),
                    reason="array kernels are native only (numba, CHAINRULE_NATIVE not 0)")
@pytest.mark.parametrize("name", ["heat pad", "matmuls", "scalar and vector carries"])
def test_jit_grad_through_native_array_kernels(name, monkeypatch):
    monkeypatch.setattr(loop_kernel, "NATIVE_AFTER", 0.0)           # build at the first call
    fn, init, x = CASES[name]
    carry = init()
    xs = np.linspace(0.5, 1.0, 30) * x

    def loss(c):
        out, ys = cr.scan(lambda c, x: (lambda r: (r[0], r[1]))(fn(c, x)), c, xs)
        return sum(cnp.sum(leaf ** 2) for leaf in (out if isinstance(out, tuple) else (out,))) + cnp.sum(ys)
    want = cr.grad(loss)(carry)
    f = cr.jit(cr.grad(loss))
    f(carry)                                     # the staging run
    f(carry)                                     # compiled: op by op, the builds start
    loop_kernel.wait_native()
    used, call = [], loop_kernel.LoopKernel.__call__
    monkeypatch.setattr(loop_kernel.LoopKernel, "__call__", lambda self, *a: used.append(self) or call(self, *a))
    got = f(carry)
    assert used and all(k.state[1] is not None for k in used)            # every loop ran natively
    if name != "scalar and vector carries":                              # (values of 7 numbers: scalar code)
        assert any(" for i" in k.src for k in used)                      # loops over elements: array kernels
    for g, w in zip(*(v if isinstance(v, tuple) else (v,) for v in (got, want))):
        np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-13)


def test_without_numba_the_array_kernel_is_never_used(monkeypatch):
    monkeypatch.setattr(loop_kernel, "numba_available", lambda: False)
    loops._loop_kernels.clear()
    u0 = np.exp(-np.linspace(-2, 2, 40) ** 2)
    loss = lambda u: cnp.sum(cr.fori_loop(0, 20, lambda i, u: _heat_pad(u, 0.0)[0], u) ** 3)
    np.testing.assert_allclose(compiled(cr.jit(cr.grad(loss)), u0), cr.grad(loss)(u0), rtol=1e-13)
    assert all(k is None for per in loops._loop_kernels.values() for k in per.values())


# ------------------------------------------------------------ scan DCE ---

def _scans(prog):
    return [e for e in prog.eqns if e.prim is loops.scan_p]


def test_linear_steps_save_no_carries_for_their_adjoint():
    u0 = np.exp(-np.linspace(-2, 2, 40) ** 2)
    loss = lambda u: cnp.sum(cr.fori_loop(0, 50, lambda i, u: _heat_pad(u, 0.0)[0], u) ** 2)
    fwd, bwd = _scans(optimize(cr.make_ir(cr.grad(loss))(u0)))
    assert [o.shape for o in fwd.outvars] == [(40,)]          # the final state only: no stacked carries
    assert len(bwd.invars) == 1                                 # the cotangent: no saved rows, no counter
    np.testing.assert_allclose(compiled(cr.jit(cr.grad(loss)), u0), cr.grad(loss)(u0), rtol=1e-13)


def test_unused_ys_and_carries_are_pruned():
    def f(c):
        (a, b, k), ys = cr.scan(lambda c, x: ((c[0] * x, c[1] + cnp.sin(c[0]), c[2] + 1), (c[0] ** 2, c[1])),
                                (c, c * 2, 0), np.linspace(0, 1, 5))
        return b + ys[1][-1]                                  # a is needed (b reads it); k and ys[0] not
    (e,) = _scans(optimize(cr.make_ir(f)(0.5)))
    assert e.params["n_carry"] == 2 and len(e.outvars) == 3
    np.testing.assert_allclose(compiled(cr.jit(f), 0.5), f(0.5), rtol=1e-15)
    np.testing.assert_allclose(compiled(cr.jit(cr.grad(f)), 0.5), cr.grad(f)(0.5), rtol=1e-13)


# ------------------------------------------------------------ while ---

def _jacobi_programs(n=30):
    """Jacobi sweeps for -u'' = f on n points until the update is below a tolerance."""
    f = np.sin(np.linspace(0, np.pi, n))

    def cond(c):
        k, u, du = c
        return [(k < 5000) & (du > 1e-10)]

    def body(c):
        k, u, du = c
        new = 0.5 * (cnp.pad(u[1:], (0, 1)) + cnp.pad(u[:-1], (1, 0)) + f / (n + 1) ** 2)
        return [k + 1, new, cnp.sum((new - u) ** 2)]
    init = [0, np.zeros(n), 1.0]
    cprog, cc = loops.stage_body(lambda *c: cond(c), init)
    bprog, bc = loops.stage_body(lambda *c: body(c), init)
    assert not cc and not bc
    return optimize(cprog), optimize(bprog), init


def test_array_while_kernel_equals_the_loop_op_by_op(monkeypatch):
    monkeypatch.setattr(loop_kernel, "NATIVE_AFTER", float("inf"))
    cprog, bprog, init = _jacobi_programs()
    want = loops._while_loop(loops.runner(cprog), loops.runner(bprog), 0, 0, None, *init)
    src, consts = array_kernel.while_source(cprog, bprog, 0, 0)
    assert "while True:" in src and " if " not in src.split("while True:")[1].replace("if not ", "")
    kernel = loop_kernel.while_loop_kernel(src, cprog, bprog, 0, 0, extra=consts)
    got = kernel(None, *init)
    assert got[0] == want[0] and 100 < got[0] < 5000                  # the same number of sweeps
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-15)
    if numba is None:
        return
    kernel.state = [None, numba.njit(error_model="numpy")(loop_kernel._python_kernel(src)), True, 0.0]
    got = kernel(None, *init)
    assert got[0] == want[0]
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-15)


@pytest.mark.skipif(numba is None or not loop_kernel.numba_available(),
                    reason="array kernels are native only (numba, CHAINRULE_NATIVE not 0)")
def test_jit_grad_through_a_native_array_while_kernel(monkeypatch):
    monkeypatch.setattr(loop_kernel, "NATIVE_AFTER", 0.0)
    u0 = np.exp(-np.linspace(-2, 2, 40) ** 2)

    def loss(s):
        # damped sweeps until the state is small: the trip count depends on s
        _, u = cr.while_loop(lambda c: cnp.sum(c[1] ** 2) > 1e-3 * s,
                             lambda c: (c[0] + 1, 0.9 * _heat_pad(c[1], 0.0)[0]), (0, u0 * s))
        return cnp.sum(u ** 3)
    f = cr.jit(cr.grad(loss))
    want = cr.grad(loss)(1.3)
    f(1.3)
    f(1.3)
    loop_kernel.wait_native()
    used, call = [], loop_kernel.LoopKernel.__call__
    monkeypatch.setattr(loop_kernel.LoopKernel, "__call__", lambda self, *a: used.append(self) or call(self, *a))
    np.testing.assert_allclose(f(1.3), want, rtol=1e-11)
    assert used and all(k.state[1] is not None for k in used)
    np.testing.assert_allclose(compiled(cr.jit(loss), 1.3), loss(1.3), rtol=1e-12)
