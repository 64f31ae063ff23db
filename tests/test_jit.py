"""jit: staging, guards for Python control flow, caching, composition, errors."""
import math
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.core import current_depth

from helpers import w2 as piecewise, w2_prime as piecewise_grad


def f1(x):
    return cnp.sin(x) - 2 * cnp.cos(3 * x) * cnp.exp(-x ** 2)


def f1_prime(x):
    return math.cos(x) + 6 * math.sin(3 * x) * math.exp(-x ** 2) + 4 * x * math.cos(3 * x) * math.exp(-x ** 2)


@pytest.mark.parametrize("x", [-2.3, -0.1, 0.0, 0.4, 3.9])
def test_jit_grad_matches_closed_form(x):
    assert cr.jit(cr.grad(f1))(x) == pytest.approx(f1_prime(x), rel=1e-13)


def test_jit_value_equals_eager_for_arrays():
    x = np.linspace(-1, 1, 7)
    f = lambda x: cnp.sum(cnp.tanh(x) ** 2 * cnp.exp(-x))
    np.testing.assert_allclose(cr.jit(f)(x), f(x), rtol=1e-14)
    np.testing.assert_allclose(cr.jit(cr.grad(f))(x), cr.grad(f)(x), rtol=1e-14)


def test_python_if_under_jit_respecialises():
    jg = cr.jit(cr.grad(piecewise))
    for x in [-1.0, 2.0, -3.0, 0.5, -0.2, 4.0]:
        assert jg(x) == pytest.approx(piecewise_grad(x), rel=1e-13)
    key_specs = list(jg._cache.values())
    assert len(key_specs) == 1 and len(key_specs[0]) == 2   # one per branch


def test_if_elif_else_and_early_return():
    def f(x):
        if x < -1:
            return x ** 3
        elif x < 1:
            return cnp.sin(x)
        return 2 * x
    jf = cr.jit(cr.grad(f))
    for x, want in [(-2.0, 12.0), (0.3, math.cos(0.3)), (5.0, 2.0), (-1.5, 3 * 2.25)]:
        assert jf(x) == pytest.approx(want, rel=1e-13)


def test_while_loop_with_data_dependent_trip_count():
    def f(x):
        n = 0
        while x < 10.0:
            x = x * 2.0
            n += 1
        return x
    jf = cr.jit(cr.grad(f))
    # d/dx of x * 2^n where n depends on x
    for x, n in [(1.0, 4), (3.0, 2), (0.5, 5), (20.0, 0)]:
        assert jf(x) == pytest.approx(2.0 ** n)


def test_loop_bound_from_traced_integer():
    def f(x, n):
        acc = x
        for _ in range(int(n)):
            acc = acc * x
        return acc
    jf = cr.jit(f)
    assert jf(2.0, 3.0) == 16.0
    assert jf(2.0, 5.0) == 64.0
    assert jf(3.0, 3.0) == 81.0


def test_indexing_with_traced_integer_is_guarded():
    def f(x, i):
        return x[int(i)] * 2.0
    jf = cr.jit(f)
    x = np.arange(5.0)
    assert jf(x, 1.0) == 2.0
    assert jf(x, 3.0) == 6.0


def test_specialisation_bound_warns_then_runs_eagerly():
    def f(x):
        return x * int(x)          # a new guard value for every integer part
    jf = cr.jit(f, max_specializations=3)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        vals = [jf(float(k) + 0.5) for k in range(6)]
    assert vals == [(k + 0.5) * k for k in range(6)]
    assert sum("specialisations" in str(x.message) for x in w) == 1


def test_static_argnums_and_unhashable_error():
    def f(x, n):
        return x ** n
    jf = cr.jit(f, static_argnums=1)
    assert jf(2.0, 3) == 8.0 and jf(2.0, 4) == 16.0
    with pytest.raises(TypeError, match="static argument 1"):
        jf(2.0, [1, 2])


def test_compositions_agree_with_eager():
    f = lambda x: cnp.sum(cnp.sin(x) * cnp.cos(2 * x) ** 2)
    x = np.linspace(0.1, 1.2, 5)
    g = cr.grad(f)(x)
    np.testing.assert_allclose(cr.jit(cr.grad(f))(x), g, rtol=1e-13)
    np.testing.assert_allclose(cr.grad(cr.jit(f))(x), g, rtol=1e-13)
    np.testing.assert_allclose(cr.jit(cr.jit(cr.grad(f)))(x), g, rtol=1e-13)
    np.testing.assert_allclose(cr.hessian(cr.jit(f))(x), cr.hessian(f)(x), rtol=1e-12)
    np.testing.assert_allclose(cr.jit(cr.hessian(f))(x), cr.hessian(f)(x), rtol=1e-12)


def test_custom_rules_under_jit():
    @cr.custom_jvp
    def twice_sin(x):
        return cnp.sin(x)

    @twice_sin.defjvp
    def rule(p, t):
        return cnp.sin(p[0]), 2 * cnp.cos(p[0]) * t[0]
    assert cr.jit(cr.grad(twice_sin))(0.3) == pytest.approx(2 * math.cos(0.3))


def test_make_ir_prints_equations_with_types():
    ir = cr.make_ir(lambda x: cnp.sin(x) * 2.0)(np.ones(3))
    text = str(ir)
    assert "sin" in text and "multiply" in text and "float64[3]" in text


def test_source_is_readable_python():
    src = cr.jit(cr.grad(f1)).source(0.5)
    assert src.startswith("def compiled(") and "_m.cos" in src


def test_math_domain_error_falls_back_to_numpy_semantics():
    jf = cr.jit(lambda x: cnp.log(x))
    with np.errstate(divide="ignore"):
        assert jf(1.0) == 0.0
        assert jf(0.0) == -np.inf


def test_leaked_tracer_is_reported():
    box = []

    def f(x):
        box.append(x)
        return x * 2.0
    cr.jit(f)(1.0)
    with pytest.raises(cr.LeakedTracerError):
        box[0] + 1.0
    assert current_depth() == 0


def test_jit_inside_grad_closure_falls_back_correctly():
    def outer(x):
        return cr.jit(lambda y: x * y)(3.0)
    assert cr.grad(outer)(2.0) == 3.0


def test_native_fused_kernel_matches_numpy_path(monkeypatch):
    from chainrule.compile import native
    if not native.available():
        pytest.skip("numba not installed")
    x = np.linspace(-2, 3, native.MIN_SIZE + 7)
    f = lambda x: cnp.sum(cnp.sin(x) ** 2 * cnp.exp(-x) + cnp.where(x > 1, cnp.sqrt(x), 0.0))
    g = cr.jit(cr.grad(f))
    src = g.source(x)
    assert "_np.empty" in src                     # a fused kernel writes the gradient in one pass
    want = 2 * np.sin(x) * np.cos(x) * np.exp(-x) - np.sin(x) ** 2 * np.exp(-x) \
        + np.where(x > 1, 0.5 / np.sqrt(np.abs(x)), 0.0)
    np.testing.assert_allclose(g(x), want, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cr.jit(f)(x), f(x), rtol=1e-12)
    monkeypatch.setenv("CHAINRULE_NATIVE", "0")
    plain = cr.jit(cr.grad(f))
    assert "_np.empty" not in plain.source(x)
    np.testing.assert_allclose(plain(x), want, rtol=1e-12, atol=1e-15)


def test_long_scalar_program_compiles_natively_with_guards():
    from chainrule.compile import scalar_llvm
    if not scalar_llvm.eligible.__globals__["native"].available():
        pytest.skip("numba/llvmlite not installed")

    def chain(x):
        for _ in range(150):
            x = cnp.sin(x) * 0.999 + 0.01 if x > 0.2 else cnp.cos(x) * 0.5 + 0.3
        return x

    def chain_grad(x):                       # hand-written forward/backward for the same chain
        d = 1.0
        for _ in range(150):
            if x > 0.2:
                d *= 0.999 * math.cos(x)
                x = math.sin(x) * 0.999 + 0.01
            else:
                d *= -0.5 * math.sin(x)
                x = math.cos(x) * 0.5 + 0.3
        return d
    g = cr.jit(cr.grad(chain))
    for x in [0.5, 0.1, 1.3, 0.5]:
        assert g(x) == pytest.approx(chain_grad(x), rel=1e-12)
    spec = next(iter(g._cache.values()))[0]
    assert isinstance(spec.fast, scalar_llvm.ScalarKernel)
    assert "call double @sin" in g.source(0.5) or "call double @cos" in g.source(0.5)


def test_native_trig_is_accurate_and_falls_back_beyond_its_range():
    from chainrule.compile import native
    if not native.available():
        pytest.skip("numba not installed")
    rng = np.random.default_rng(3)
    f = lambda x: cnp.sum(cnp.sin(x) * cnp.cos(0.5 * x))
    g = cr.jit(cr.grad(f))
    for scale in (1.0, 1e4, 1e12):                 # the last is past the fast range: libm path
        x = rng.uniform(-scale, scale, native.MIN_SIZE + 11)
        want = np.cos(x) * np.cos(0.5 * x) - 0.5 * np.sin(x) * np.sin(0.5 * x)
        np.testing.assert_allclose(g(x), want, rtol=0, atol=4e-16 * max(1.0, 1e-3 * min(scale, 1e4)))
    x = rng.uniform(-1, 1, native.MIN_SIZE + 11)
    x[7] = np.nan
    out = g(x)
    assert np.isnan(out[7]) and np.all(np.isfinite(np.delete(out, 7)))
    assert cr.jit(f)(x[8:]) == pytest.approx(float(np.sum(np.sin(x[8:]) * np.cos(0.5 * x[8:]))), rel=1e-13)


def test_print_inside_jit_warns_with_the_line():
    from chainrule.interpreters.staging import SideEffectWarning

    def f(x):
        print("x is", x)
        return x * 2.0
    jf = cr.jit(f)
    with pytest.warns(SideEffectWarning, match="test_jit.py"):
        assert jf(1.5) == 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert jf(2.5) == 5.0                  # cached: no staging, no print, no warning


def test_native_fusion_with_broadcasting_and_interleaved_small_ops():
    from chainrule.compile import native
    if not native.available():
        pytest.skip("numba not installed")
    rng = np.random.default_rng(5)
    A = rng.normal(size=(300, 200))
    row, col = rng.normal(size=200), rng.normal(size=(300, 1))

    def f(x, y):
        s = cnp.sin(y) * 2.0 + y * y            # small (200,) work between the large operations
        big = cnp.exp(-A * A) * x + col
        big = cnp.tanh(big) * s - row * cnp.cos(big)
        return cnp.sum(big * big)
    x, y = rng.normal(size=200), rng.normal(size=200)
    g = cr.jit(cr.grad(f, argnums=(0, 1)))
    src = g.source(x, y)
    assert "_np.empty((300, 200)" in src or "reshape((300, 200))" in src
    want = cr.grad(f, argnums=(0, 1))(x, y)
    for got, w in zip(g(x, y), want):
        np.testing.assert_allclose(got, w, rtol=1e-11, atol=1e-12)
    assert cr.jit(f)(x, y) == pytest.approx(f(x, y), rel=1e-12)


def test_strong_zero_products_in_native_scalar_code():
    from chainrule.compile import scalar_llvm
    if not scalar_llvm.native.available():
        pytest.skip("numba/llvmlite not installed")

    def f(x):
        for _ in range(60):
            x = cnp.where(x > 0.5, x * cnp.log(x), 0.3 * x) + 0.4 * cnp.sqrt(x * x + 1.0)
        return x
    g = cr.jit(cr.grad(f))
    for x in [0.7, 0.2, 1.9]:
        assert g(x) == pytest.approx(cr.grad(f)(x), rel=1e-12)
    assert "fcmp uno" in g.source(0.7)          # the strong-zero product, lowered to LLVM


def test_jit_of_vmap_of_grad_keeps_the_python_if():
    xs = np.linspace(-5, 5, 100)
    g = cr.jit(cr.vmap(cr.grad(piecewise)))
    want = np.array([piecewise_grad(float(x)) for x in xs])
    np.testing.assert_allclose(g(xs), want, rtol=1e-13)
    np.testing.assert_allclose(g(xs[::-1].copy()), want[::-1], rtol=1e-13)   # new pattern: re-specialised
    np.testing.assert_allclose(cr.vmap(cr.jit(cr.grad(piecewise)))(xs), want, rtol=1e-13)


def test_short_trailing_sums_use_a_matrix_vector_product():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(30, 40, 6))
    f = lambda x: cnp.sum(cnp.sum(x * x, axis=2) * cnp.sum(x, axis=(1, 2), keepdims=True)[:, :, 0])
    want_val = np.sum(np.sum(x * x, axis=2) * np.sum(x, axis=(1, 2), keepdims=True)[:, :, 0])
    assert f(x) == pytest.approx(want_val, rel=1e-13)
    assert cr.jit(f)(x) == pytest.approx(want_val, rel=1e-13)
    assert "@" in cr.jit(f).source(x)
    s1 = np.sum(x, axis=(1, 2))
    want = 2 * x * s1[:, None, None] + np.sum(x * x, axis=(1, 2))[:, None, None]
    np.testing.assert_allclose(cr.grad(f)(x), want, rtol=1e-12)
    np.testing.assert_allclose(cr.jit(cr.grad(f))(x), want, rtol=1e-12)


def test_in_place_scatter_never_touches_a_live_view():
    def f(x):
        a = x * 2.0                       # a fresh array
        b = cnp.reshape(a, (2, 3))        # a view of it, used after the scatter below
        c = cnp.at(a)[1:3].add(x[:2])     # the scatter into a, a's last use
        return cnp.sum(c * 3.0) + cnp.sum(b[0] ** 2)
    x = np.arange(6.0)
    want_val = np.sum((2 * x + np.pad(x[:2], (1, 3))) * 3.0) + np.sum((2 * x[:3]) ** 2)
    assert cr.jit(f)(x) == pytest.approx(want_val)
    assert cr.jit(f)(x + 1.0) == pytest.approx(f(x + 1.0))
    np.testing.assert_allclose(cr.jit(cr.grad(f))(x), cr.grad(f)(x))
    g = lambda x: cnp.sum(cnp.at(x * 2.0)[1:3].add(x[:2]) ** 2)
    assert "+=" in cr.jit(g).source(x)                     # no live view: updated in place
    np.testing.assert_allclose(cr.jit(g)(x), g(x))


def test_native_region_reads_broadcast_sources_without_copies():
    from chainrule.compile import native
    if not native.available():
        pytest.skip("numba not installed")
    rng = np.random.default_rng(11)
    A = rng.normal(size=(300, 200))

    def f(x):
        rows = cnp.sum(A * x, axis=1, keepdims=True)          # (300, 1), broadcast below
        return cnp.sum(cnp.tanh(A * x) * rows * rows + cnp.exp(-(A * x) ** 2) * rows)
    x = rng.normal(size=200) * 0.1
    g = cr.jit(cr.grad(f))
    np.testing.assert_allclose(g(x), cr.grad(f)(x), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(g(2 * x), cr.grad(f)(2 * x), rtol=1e-11, atol=1e-12)
    prog = g.lower(x)
    _, regions = native.find_regions(prog)
    assert any(r.sources for r in regions)       # some operand was read from its unbroadcast source


def test_identity_structured_constants_become_index_tests_in_kernels():
    from chainrule.compile import native
    if not native.available():
        pytest.skip("numba not installed")
    n = 300                                        # (300, 300) > MIN_SIZE: a fused kernel
    f = lambda x: cnp.exp(x[:, None] * x[None, :]) * 0.5 + 2 * np.eye(n)    # noqa: E731
    x = np.linspace(-1, 1, n)
    want = np.exp(np.outer(x, x)) * 0.5 + 2 * np.eye(n)
    g = cr.jit(f)
    np.testing.assert_allclose(g(x), want, rtol=1e-14, atol=0)
    np.testing.assert_allclose(g(x), want, rtol=1e-14, atol=0)     # the compiled path
    # the identity is computed from the loop indices, not read from an n*n constant
    assert any(" - i0 == " in src for src, _ in native._kernels)


def test_native_exp_is_accurate_and_falls_back_beyond_its_range():
    from chainrule.compile import native
    if not native.available():
        pytest.skip("numba not installed")
    rng = np.random.default_rng(4)
    f = lambda x: cnp.sum(cnp.exp(-x) * x)
    g = cr.jit(cr.grad(f))
    for lo, hi in [(-700.0, 700.0), (-5.0, 5.0), (-760.0, 760.0)]:   # the last leaves the fast range
        x = rng.uniform(lo, hi, native.MIN_SIZE + 3)
        with np.errstate(over="ignore", invalid="ignore"):
            want = np.exp(-x) * (1.0 - x)
            got = g(x)
        ok = np.isfinite(want)
        scale = np.exp(-x[ok]) * (1.0 + np.abs(x[ok]))     # the size of the two terms that cancel
        assert np.all(np.abs(got[ok] - want[ok]) <= 4e-15 * scale)
        assert np.array_equal(np.isinf(got), np.isinf(want))
    assert "_vexp(" in next(src for src, _ in native._kernels if "_vexp(" in src)


def test_products_with_the_diagonal_of_an_identity_basis_scale_columns():
    rng = np.random.default_rng(12)
    W, b = rng.normal(size=(300, 7)), rng.normal(size=300)
    h = lambda x: cnp.tanh(W @ x + b) * 2.0
    x = rng.normal(size=7)
    want = 2.0 * (1 - np.tanh(W @ x + b) ** 2)[:, None] * W
    j = cr.jit(cr.jacrev(h))
    np.testing.assert_allclose(j(x), want, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(j(x), cr.jacrev(h)(x), rtol=1e-13, atol=1e-14)
    assert "@ v" not in j.source(x).split("tanh")[-1]       # no dense (300, 300) product after tanh
    # a non-identity constant is left alone
    D = np.diag(rng.normal(size=300)) + 0.1
    k = cr.jit(cr.jacrev(lambda x: cnp.sum(D * cnp.tanh(W @ x + b), axis=1)))
    np.testing.assert_allclose(k(x), cr.jacrev(lambda x: cnp.sum(D * cnp.tanh(W @ x + b), axis=1))(x),
                               rtol=1e-12, atol=1e-13)
