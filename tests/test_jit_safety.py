"""jit never returns a silently wrong number: fresh outputs, guards that copy what they
compare and tell 0.0 from -0.0, closure snapshots, bounded caches, freed code, clear errors."""
import dataclasses
import gc
import math
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.compile import jit as jit_mod, native, scalar_llvm


def _long_chain(x, sign=1.0):
    """A scalar chain long enough (>= 200 equations) for the LLVM tier."""
    for _ in range(150):
        x = cnp.sin(x) * 0.999 + 0.01
    return x * sign


# ------------------------------------------------------------ fresh outputs ---

def test_constant_outputs_are_fresh_on_every_call():
    f = cr.jit(lambda x: (2 * x, np.zeros(3)))
    for _ in range(3):
        a, b = f(np.ones(3))
        np.testing.assert_array_equal(b, np.zeros(3))
        np.testing.assert_array_equal(a, 2 * np.ones(3))
        b += 5.0                             # the caller owns what it got
        a += 5.0


def test_sgd_step_in_place_on_a_constant_jit_gradient():
    X = np.ones((4, 3))

    def loss(p):
        w, b = p
        return cnp.sum(X @ w + b) * 0.05 / 4
    for g in (cr.jit(cr.grad(loss)), cr.grad(loss)):
        for _ in range(4):
            gw, gb = g((np.ones(3), np.zeros(4)))
            np.testing.assert_array_equal(gb, np.full(4, 0.0125))   # d/db = 0.05 / 4
            np.testing.assert_array_equal(gw, np.full(3, 0.05))     # d/dw = 4 * 0.05 / 4
            gb *= 0.1                                                # in place, as SGD does
            gw *= 0.1


def test_gradient_of_a_sum_is_writable_eager_and_jitted():
    for g in (cr.grad(lambda w: cnp.sum(w)), cr.jit(cr.grad(lambda w: cnp.sum(w)))):
        for _ in range(2):
            d = g(np.ones(3))
            d *= 0.5                                     # a read-only broadcast view would raise
            np.testing.assert_array_equal(d, np.full(3, 0.5))


@pytest.mark.parametrize("f", [lambda x: x, lambda x: x.reshape(2, 2), lambda x: x[1:],
                               lambda x: cr.stop_gradient(x), lambda x: x.T])
def test_outputs_never_share_memory_with_inputs(f):
    jf = cr.jit(f)
    x = np.arange(4.0)
    for _ in range(2):
        y = jf(x)
        assert not np.shares_memory(y, x) and y.flags.writeable
        np.testing.assert_array_equal(y, f(np.arange(4.0)))
        y[...] = -1.0
        np.testing.assert_array_equal(x, np.arange(4.0))


def test_computed_outputs_are_not_copied():
    jf = cr.jit(lambda x: cnp.sin(x) * 2.0)
    assert "_copy(" not in jf.source(np.ones(3)) and "_own(" not in jf.source(np.ones(3))
    assert "_copy(" in cr.jit(lambda x: (x * 2.0, np.zeros(3))).source(np.ones(3))


# ------------------------------------------------------------------- guards ---

_READS = {    # functions whose Python code reads an input's values (each becomes a guard)
    "nonzero": lambda x: cnp.sum(x) * len(np.nonzero(x)[0]),
    "count_nonzero": lambda x: x * np.count_nonzero(x),
    "tolist": lambda x: x * sum(1 for v in x.tolist() if v > 0),
    "item": lambda x: x * (2.0 if x[1].item() > 0 else 3.0),
    "allclose": lambda x: x * (2.0 if np.allclose(x, 1.0) else 3.0),
    "array_equal": lambda x: x * (2.0 if np.array_equal(x, np.ones(3)) else 3.0),
    "view": lambda x: x * (2.0 if np.count_nonzero(x[1:]) == 2 else 3.0),
}


@pytest.mark.parametrize("name", sorted(_READS))
def test_guards_keep_a_copy_of_what_they_compare(name):
    f = _READS[name]
    jf = cr.jit(f)
    x = np.ones(3)
    np.testing.assert_array_equal(jf(x), f(np.ones(3)))
    x[1] = 0.0                                 # in place: a guard holding x itself would pass
    np.testing.assert_array_equal(jf(x), f(x.copy()))
    assert f(x.copy()).tolist() != f(np.ones(3)).tolist()


def test_repeat_counts_guard_is_a_copy():
    f = lambda x, r: cnp.sum(np.repeat(x, r) * 1.0)
    jf = cr.jit(f)
    x, r = np.array([1.0, 10.0, 100.0]), np.array([1, 2, 3])
    assert jf(x, r) == 321.0
    r[0] = 5                                   # the same array, changed in place
    assert jf(x, r) == 325.0 == f(x, r)


@pytest.mark.parametrize("long", [False, True], ids=["python", "llvm"])
def test_guards_tell_signed_zeros_apart(long):
    def f(x):
        s = math.copysign(1.0, float(cr.stop_gradient(x)))
        return _long_chain(x, s) if long else x * 3.0 * s
    g = cr.jit(cr.grad(f))
    for x in [0.0, -0.0, 0.0, -0.0, 1.0, -1.0]:
        assert g(x) == cr.grad(f)(x)
    specs = next(iter(g._cache.values()))
    if long and native.available():
        assert isinstance(specs[0].fast, scalar_llvm.ScalarKernel)
    assert len(specs) == 4                         # 0.0, -0.0, 1.0, -1.0: one each


@pytest.mark.parametrize("long", [False, True], ids=["python", "llvm"])
def test_a_nan_guard_matches_nan(long):
    def f(x):
        s = 1.0 if math.isnan(float(cr.stop_gradient(x))) else 2.0
        return _long_chain(x, s) if long else x * s
    g = cr.jit(f)
    for _ in range(3):
        assert math.isnan(g(float("nan")))
    assert g(0.5) == f(0.5)
    assert len(next(iter(g._cache.values()))) == 2     # nan staged once, not on every call


def test_value_guards_tell_signed_zeros_apart():
    def f(x):
        signs = [math.copysign(1.0, v) for v in x.tolist()]
        return x * np.array(signs)
    jf = cr.jit(f)
    for v in [0.0, -0.0, 0.0]:
        x = np.array([v, 1.0])
        np.testing.assert_array_equal(jf(x), f(x))
        assert math.copysign(1.0, jf(x)[0]) == 1.0       # 0 * 1 or -0 * -1: both +0.0
    np.testing.assert_array_equal(jf(np.array([-0.0, 2.0]))[1], 2.0)


def test_vmap_splits_the_batch_on_signed_zeros():
    f = lambda x: math.copysign(1.0, float(cr.stop_gradient(x))) + x * 0.0
    x = np.array([0.0, -0.0, 1.0, -2.0, -0.0])
    np.testing.assert_array_equal(cr.vmap(f)(x), [1.0, -1.0, 1.0, -1.0, -1.0])

    def g(v):               # an array read (concrete value) rather than a conversion
        return v * math.copysign(1.0, cr.stop_gradient(v).tolist()[0])
    rows = np.array([[0.0, 1.0], [-0.0, 1.0]])
    np.testing.assert_array_equal(cr.vmap(g)(rows), [[0.0, 1.0], [0.0, -1.0]])
    assert math.copysign(1.0, cr.vmap(g)(rows)[1, 0]) == 1.0          # -0.0 * -1.0


# --------------------------------------------------------- captured arrays ---

def test_captured_arrays_are_snapshots_taken_at_staging():
    c = np.array([1.0, 2.0, 3.0])
    f = lambda x: x * c + cnp.sum(c)              # c used live by one op, folded by another
    jf = cr.jit(f)
    want = f(np.ones(3))
    np.testing.assert_array_equal(jf(np.ones(3)), want)
    c[:] = [10.0, 20.0, 30.0]                     # after staging: not seen, by any op
    np.testing.assert_array_equal(jf(np.ones(3)), want)
    np.testing.assert_array_equal(jf(np.ones(3)), want)
    jg = cr.jit(cr.grad(lambda x: cnp.sum(x * c)))
    np.testing.assert_array_equal(jg(np.ones(3)), [10.0, 20.0, 30.0])
    c[:] = 0.0
    np.testing.assert_array_equal(jg(np.ones(3)), [10.0, 20.0, 30.0])


def test_captured_index_arrays_are_snapshots_too():
    idx = np.array([0, 2])
    jf = cr.jit(lambda x: x[idx] * 2.0)
    np.testing.assert_array_equal(jf(np.arange(4.0)), [0.0, 4.0])
    idx[:] = [1, 3]
    np.testing.assert_array_equal(jf(np.arange(4.0)), [0.0, 4.0])


def test_an_array_changed_while_staging_is_read_at_each_use():
    buf = np.zeros(2)

    def f(x):
        buf[0] = 1.0
        y = x * buf
        buf[0] = 2.0                              # the second use sees the new value, as eagerly
        return y + x * buf
    want = f(np.ones(2))
    np.testing.assert_array_equal(cr.jit(f)(np.ones(2)), want)
    np.testing.assert_array_equal(want, [3.0, 0.0])


# ------------------------------------------------------------ caches, code ---

def test_llvm_code_is_freed_with_its_jitted_function():
    if not native.available():
        pytest.skip("llvmlite (numba) not installed")
    gc.collect()
    before = scalar_llvm.live
    g = cr.jit(cr.grad(_long_chain))
    assert g(0.5) == pytest.approx(cr.grad(_long_chain)(0.5), rel=1e-13)
    assert isinstance(next(iter(g._cache.values()))[0].fast, scalar_llvm.ScalarKernel)
    assert scalar_llvm.live == before + 1
    del g
    gc.collect()
    assert scalar_llvm.live == before


def test_native_kernels_compile_once_per_structure_whatever_the_size():
    if not native.available():
        pytest.skip("numba not installed")
    f = lambda x: cnp.sum(cnp.tanh(x) * x ** 2 + cnp.sqrt(1.0 + x * x))
    rosen = lambda x: cnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    for scale, fun in enumerate((f, rosen)):
        g = cr.jit(cr.grad(lambda x: fun(x) * (scale + 3.5)))    # kernels no other test made
        before = set(native._kernels)
        x = np.linspace(-1.0, 1.0, 60_000)
        np.testing.assert_allclose(g(x), cr.grad(fun)(x) * (scale + 3.5), rtol=1e-12, atol=1e-12)
        mine = {k: fn for k, fn in native._kernels.items() if k not in before}
        assert [len(fn.signatures) for fn in mine.values()].count(1) == 1   # one kernel compiled
        for n in (70_001, 90_000):
            x = np.linspace(-1.0, 1.0, n)
            np.testing.assert_allclose(g(x), cr.grad(fun)(x) * (scale + 3.5), rtol=1e-12, atol=1e-12)
        assert len(g._cache) == 3                                        # three programs ...
        assert set(native._kernels) - before == set(mine)                # ... no new kernel
        assert [len(fn.signatures) for fn in mine.values()].count(1) == 1  # nor a new compile


def test_specialisation_cache_is_bounded_and_keeps_the_recently_used():
    jf = cr.jit(lambda x: x * 2.0)
    first = np.ones(1)
    jf(first)
    spec = next(iter(jf._cache.values()))[0]
    for n in range(2, jit_mod.CACHE_SIZE + 40):
        np.testing.assert_array_equal(jf(np.ones(n)), np.full(n, 2.0))
        jf(first)                                  # used again and again: never dropped
    assert len(jf._cache) == jit_mod.CACHE_SIZE
    assert any(spec in specs for specs in jf._cache.values())


def test_past_max_specializations_calls_go_straight_to_eager(monkeypatch):
    jf = cr.jit(lambda x: x * int(x), max_specializations=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(4):
            assert jf(k + 0.5) == (k + 0.5) * k

        def boom(self, leaves):
            raise AssertionError("a specialisation was tried")
        monkeypatch.setattr(jit_mod._Specialization, "__call__", boom)
        assert [jf(k + 0.25) for k in range(6)] == [(k + 0.25) * k for k in range(6)]


# ---------------------------------------------------------------- errors ---

def test_a_string_argument_says_mark_it_static():
    def f(x, mode):
        return x * 2.0 if mode == "double" else x
    with pytest.raises(TypeError, match=r"argument 1 \('mode'\) is a str.*mark it static.*"
                                        r"static_argnums=\(1,\)"):
        cr.jit(f)(1.0, "double")
    with pytest.raises(TypeError, match=r"argument 'mode' is a str.*static_argnames=\('mode',\)"):
        cr.jit(f)(1.0, mode="double")
    with pytest.raises(TypeError, match="mark it static"):
        cr.jit(f)(1.0, "f8")                      # once read as a dtype name, silently
    with pytest.raises(TypeError, match=r"argument 1 \('fn'\) is a function.*mark it static"):
        cr.jit(lambda x, fn: fn(x))(1.0, math.sin)


def test_an_unregistered_dataclass_says_register_it_as_a_pytree():
    @dataclasses.dataclass
    class Params:
        w: float

    with pytest.raises(TypeError, match=r"argument 1 \('p'\) is a Params, which is neither an array "
                                        "nor a registered pytree; register the dataclass Params as a pytree"):
        cr.jit(lambda x, p: x * p.w)(1.0, Params(2.0))
    cr.tree_util.register_dataclass(Params)
    assert cr.jit(lambda x, p: x * p.w)(1.0, Params(2.0)) == 2.0


def test_static_argnames_and_static_arguments_passed_by_keyword():
    def f(x, mode, scale=2.0):
        return x * scale if mode == "double" else x
    by_num = cr.jit(f, static_argnums=1)
    by_name = cr.jit(f, static_argnames="mode")
    for jf in (by_num, by_name):
        assert jf(3.0, "double") == 6.0
        assert jf(3.0, mode="double") == 6.0
        assert jf(3.0, mode="double", scale=5.0) == 15.0      # scale stays traced
        assert jf(3.0, "other") == 3.0
        assert jf(x=3.0, mode="double") == 6.0
    both = cr.jit(f, static_argnames=("mode", "scale"))
    assert both(3.0, "double", 3.0) == both(3.0, "double", scale=3.0) == 9.0
    with pytest.raises(TypeError, match="static argument 'scale' of type list is not hashable"):
        both(3.0, "double", scale=[1.0])


def test_static_argnums_in_any_order():
    jf = cr.jit(lambda x, a, b: x * a - b, static_argnums=(2, 1))
    assert jf(2.0, 3, 1) == 5.0
    assert jf(2.0, 1, 3) == -1.0


def test_signed_zero_constants_are_not_merged_by_the_optimiser():
    # x * 0.0 and x * -0.0 differ in sign (1 / them: +inf and -inf); common-subexpression
    # elimination must keep them apart on every call, not only the first
    f = cr.jit(lambda x: (x * 0.0, x * -0.0, 1.0 / (x * 0.0) + 1.0 / (x * -0.0)))
    for _ in range(3):
        with np.errstate(divide="ignore", invalid="ignore"):
            a, b, c = f(2.0)
        assert math.copysign(1.0, a) == 1.0 and math.copysign(1.0, b) == -1.0
        assert math.isnan(c)
