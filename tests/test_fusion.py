"""Program rewrites and native kernels added for stencil workloads: exact sign and scale
folding, uniform constants, scatters fused into kernels, the plain-product fast path."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.compile import native

from helpers import rosen, rosen_hvp


def names(prog):
    return [e.prim.name for e in prog.eqns]


def test_sign_and_scale_folding_is_exact():
    def f(x):
        a = -(-x)                       # -> x  # noqa: B002 (the double negation is under test)
        b = 3.0 * (-(x * x))            # -> -3 * (x*x)
        c = 0.5 * (4.0 * x)             # -> 2 * x (powers of two: exact)
        d = 3.0 * (5.0 * x)             # stays: 15 * x may round differently
        e = a + (-b)                    # -> a - b
        return e - (-c) + d * ((-x) * (-x))  # (-x)(-x) -> x x
    x = np.random.default_rng(0).normal(size=200) * 1e3
    j = cr.jit(f)
    assert np.array_equal(j(x), f(x))          # bit for bit, not approximately
    prog = j.lower(x)
    assert "neg" not in names(prog)
    consts = [a.value for e in prog.eqns for a in e.invars if hasattr(a, "value")]
    assert 3.0 in consts and 5.0 in consts and 15.0 not in consts and -2.0 in consts
    g = cr.jit(cr.grad(lambda x: cnp.sum(f(x))))
    # (staging records the two -x as one value: its cotangents add in another order, so the
    # gradient may differ from eager evaluation's in the last bit)
    np.testing.assert_allclose(g(x), cr.grad(lambda x: cnp.sum(f(x)))(x), rtol=1e-15, atol=0)


def test_uniform_constant_arrays_become_numbers_and_strong_zero_survives():
    c = np.full(300, 2.5)
    z = np.zeros(300)
    f = lambda x: cnp.sum(c * x * x) + cnp.sum(cnp.where(x > 0, x * cnp.log(cnp.abs(x) + z), 0.0))  # noqa: E731
    x = np.random.default_rng(1).normal(size=300)
    x[:3] = 0.0
    g = cr.jit(cr.grad(f))
    with np.errstate(divide="ignore"):
        want = 5.0 * x + np.where(x > 0, np.log(np.abs(x)) + 1.0, 0.0)    # closed form
    np.testing.assert_allclose(g(x), want, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(g(x), cr.grad(f)(x), rtol=1e-14, atol=0)
    assert np.isfinite(g(x)).all()
    prog = g.lower(x)
    arrays = [a.value for e in prog.eqns for a in e.invars
              if isinstance(getattr(a, "value", None), np.ndarray) and a.value.size == 300]
    assert not any(np.all(v == 2.5) for v in arrays)       # the 2.5s are a number now


@pytest.mark.parametrize("n", [native.MIN_SIZE + 1, 3 * native.BLOCK * 17 + 5])
def test_scatters_fuse_into_the_kernel(n):
    if not native.available():
        pytest.skip("numba not installed")
    rng = np.random.default_rng(n)
    x, v = rng.uniform(-1, 1, n), rng.normal(size=n)
    h = cr.jit(lambda a, t: cr.jvp(cr.grad(rosen), (a,), (t,))[1])
    want = rosen_hvp(x, v)
    np.testing.assert_allclose(h(x, v), want, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(h(x, v), want, rtol=1e-12, atol=1e-9)
    src = h.source(x, v)
    assert "index_add" not in src and "+=" not in src    # every scatter went into the kernel
    kernel = next(s for s, _ in native._kernels if "acc0" in s)
    assert "acc0[lo + 0 + t] = " in kernel      # each accumulator element written once


def test_fused_scatters_with_a_base_wide_offsets_and_outputs_used_twice():
    if not native.available():
        pytest.skip("numba not installed")
    n = native.MIN_SIZE + 7
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=n), rng.normal(size=n)

    def f(x, w):
        s = cnp.sin(x[2:]) * cnp.exp(-x[:-2] ** 2)      # stencil of width 3
        return cnp.sum(s * s) + cnp.sum(w * x ** 2)
    g = cr.jit(cr.grad(f))
    s_, e_ = np.sin(x[2:]) * np.exp(-x[:-2] ** 2), np.exp(-x[:-2] ** 2)
    want = 2 * w * x                                                  # closed form
    want[2:] += 2 * s_ * np.cos(x[2:]) * e_
    want[:-2] += 2 * s_ * np.sin(x[2:]) * e_ * (-2 * x[:-2])
    np.testing.assert_allclose(g(x, w), want, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(g(x, w), want, rtol=1e-13, atol=1e-13)
    # a value scattered and also returned
    k = cr.jit(lambda x: (lambda y: (cnp.pad(y, (0, 2)) + cnp.pad(y, (2, 0)), y))(cnp.tanh(x) * x))
    y = np.tanh(x) * x
    got_sum, got_y = k(x)
    np.testing.assert_allclose(got_y, y, rtol=1e-15)
    np.testing.assert_allclose(got_sum, np.r_[y, 0, 0] + np.r_[0, 0, y], rtol=1e-15)


def test_plain_product_fast_path_reruns_exactly_on_nan():
    if not native.available():
        pytest.skip("numba not installed")
    n = native.MIN_SIZE + 1
    x = np.linspace(0.0, 2.0, n)        # at 0: cotangent 0 times sqrt' = inf, a strong zero
    f = lambda x: cnp.sum(cnp.where(x > 0, cnp.sqrt(cnp.abs(x)), 0.0) * cnp.sin(x))  # noqa: E731
    g = cr.jit(cr.grad(f))
    r = np.sqrt(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.where(x > 0, 0.5 / r * np.sin(x) + r * np.cos(x), 0.0)   # closed form
    np.testing.assert_allclose(g(x), want, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(g(x), want, rtol=1e-13, atol=1e-15)
    assert np.isfinite(g(x)).all()
    fast = next(s for s, _ in native._kernels if "_vsin(" in s and "sqrt" in s)
    assert "bad += not (" in fast and "0.0 if" not in fast     # the plain product, checked
    h = cr.jit(cr.hessian(lambda t: cnp.sum(t * cnp.log(t))))
    y = np.full(4, 0.5)
    np.testing.assert_allclose(h(y), np.diag(1 / y), rtol=1e-14)


@pytest.mark.parametrize("n", [native.MIN_SIZE + 7, 50 * native.BLOCK - 1, 50 * native.BLOCK - 4])
def test_fused_gathers_with_margins_a_base_and_sums(n):
    if not native.available():
        pytest.skip("numba not installed")
    rng = np.random.default_rng(n)
    x, k = rng.normal(size=n), rng.normal(size=n + 8)

    def f(x, k):
        y = cnp.tanh(x) * x
        z = cnp.exp(-x * x)

        def pad(a, lo, hi):        # a scatter into zeros: how slicing's transpose looks
            return cnp.at(np.zeros(n + lo + hi))[lo:lo + n].add(a)
        acc = cnp.cos(k) + pad(y, 3, 5) + pad(z, 4, 4) + pad(y * z, 5, 3)
        other = pad(z, 1, 7) * 2.0 - pad(y, 0, 8)                      # a second accumulator
        return acc, other, cnp.sum(y * z)                                # and a full sum
    y, z = np.tanh(x) * x, np.exp(-x * x)
    pad = lambda a, lo, hi: np.r_[np.zeros(lo), a, np.zeros(hi)]        # noqa: E731
    want = (np.cos(k) + pad(y, 3, 5) + pad(z, 4, 4) + pad(y * z, 5, 3),
            pad(z, 1, 7) * 2.0 - pad(y, 0, 8), np.sum(y * z))
    g = cr.jit(f)
    for _ in range(2):
        for got, w in zip(g(x, k), want):
            np.testing.assert_allclose(got, w, rtol=1e-13, atol=1e-13)
    assert "index_add" not in g.source(x, k)
