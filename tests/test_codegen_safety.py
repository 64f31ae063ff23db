"""Generated code is safe and agrees with eager code (issue 12, sections 2, 4 and 5).

Threads compiling natively at once, the `math` fast path at singular points, native
kernels for softmax + where and IntEnum constants, long reshape chains, the LLVM tier's
integer outputs, and user objects that try to reach generated source (or SymPy text).
"""
import math
import threading
import warnings
from enum import IntEnum

import numpy as np
import pytest

import chainrule as cr
from chainrule.compile import codegen, native, scalar_llvm

N = 60_000          # above native.MIN_SIZE: the fused-kernel tier is chosen (with numba)


def _check(jf, x, want, **tol):
    """Call jitted `jf` twice (staging, then its generated code) and compare with `want`."""
    for _ in range(2):
        np.testing.assert_allclose(jf(x), want, **tol)


def _llvm_or_skip():
    if not native.available():
        pytest.skip("the LLVM tier needs llvmlite (pip install chainrule[native])")


def _long_scalar(k):
    """A scalar program of ~360 equations (its own constants per k): the LLVM tier's kind."""
    def f(x):
        y = x
        for i in range(120):
            y = np.sin(y) * 0.9 + x * (0.01 * (i + k))
        return y

    def ref(x):
        y = x
        for i in range(120):
            y = math.sin(y) * 0.9 + x * (0.01 * (i + k))
        return y
    return f, ref


# ------------------------------------------------------------ section 4 ---

def test_concurrent_llvm_compiles_are_safe_and_right():
    _llvm_or_skip()
    f0, _ = _long_scalar(0)
    assert scalar_llvm.eligible(cr.jit(f0).lower(0.3))
    results, errors = {}, []
    start = threading.Barrier(8)

    def work(k):
        try:
            f, ref = _long_scalar(k)
            jf = cr.jit(f)
            start.wait()
            results[k] = [(jf(x), ref(x)) for x in (0.05, 0.15, 0.25)]
        except Exception as e:        # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 8
    for pairs in results.values():
        for got, want in pairs:
            assert got == pytest.approx(want, rel=1e-12)


_SINGULAR = [("log", np.log, 0.0), ("reciprocal", lambda x: 1.0 / x, 0.0),
             ("sqrt", np.sqrt, -1.0), ("log of a product", lambda x: np.log(x * 2.0) + x, 0.0)]


def _calls(fn, x, n=3):
    """[(result, warned?)] of n calls."""
    out = []
    for _ in range(n):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            r = fn(x)
        out.append((r, any(issubclass(i.category, RuntimeWarning) for i in w)))
    return out


@pytest.mark.parametrize("name, f, x0", _SINGULAR, ids=[c[0] for c in _SINGULAR])
@pytest.mark.parametrize("kind", ["scalar", "array"])
@pytest.mark.parametrize("transform", ["value", "grad"])
def test_math_fast_path_agrees_with_eager_at_singular_points(name, f, x0, kind, transform):
    x = x0 if kind == "scalar" else np.full(3, x0)
    g = f if kind == "scalar" else (lambda v: np.sum(f(v)))
    if transform == "grad":
        fn = cr.grad(g)
        want = _calls(fn, x, 1)[0]
    else:
        fn = g
        want = _calls(lambda v: cr.jvp(g, (v,), (np.ones_like(v) if kind == "array" else 1.0,))[0], x, 1)[0]
    for got, warned in _calls(cr.jit(fn), x):      # the staging call, then the compiled ones
        np.testing.assert_array_equal(got, want[0])
        assert warned == want[1]


def _softmax_where(x):
    e = np.exp(x - x.max())
    s = e / e.sum()
    return np.where(s > 1e-5, s, 0.0)


def test_native_softmax_then_where():
    x = np.linspace(-1.0, 1.0, N)
    w = np.cos(np.arange(N))
    jf = cr.jit(_softmax_where)
    loss = lambda v: np.sum(_softmax_where(v) * w)
    jg = cr.jit(cr.grad(loss))
    want, want_g = _softmax_where(x), cr.grad(loss)(x)
    assert 0 < np.count_nonzero(want) < N
    for _ in range(2):
        np.testing.assert_allclose(jf(x), want, rtol=1e-13, atol=0)
        np.testing.assert_allclose(jg(x), want_g, rtol=1e-10, atol=1e-22)


class Color(IntEnum):
    RED = 2
    BLUE = 5


@pytest.mark.parametrize("x", [np.linspace(0.0, 1.0, N), 0.75], ids=["kernel", "scalar"])
def test_intenum_constants_in_kernels(x):
    f = lambda v: np.sin(v) * Color.RED + v * Color.BLUE - Color.RED
    want = np.sin(x) * 2 + x * 5 - 2
    jf = cr.jit(f)
    for _ in range(2):
        np.testing.assert_allclose(jf(x), want, rtol=1e-13, atol=1e-14)
    g = cr.jit(cr.grad(lambda v: np.sum(f(v) ** 2)))
    _check(g, x, 2 * want * (2 * np.cos(x) + 5), rtol=1e-12)


def _reshape_chain(x, n=1000):
    x = np.sin(x)
    for i in range(n):
        x = x.reshape((200, 300)) if i % 2 == 0 else x.reshape((N,))
    return np.cos(x) * 2.0


def test_thousand_chained_reshapes_under_jit():
    x = np.linspace(0.0, 1.0, N)
    _check(cr.jit(_reshape_chain), x, _reshape_chain(x), rtol=1e-15)
    loss = lambda v: np.sum(_reshape_chain(v) ** 2)
    _check(cr.jit(cr.grad(loss)), x, cr.grad(loss)(x), rtol=1e-13)
    # the optimiser folds reshape(reshape(x)) into one reshape ...
    assert sum(e.prim.name == "reshape" for e in cr.jit(_reshape_chain).lower(x).eqns) <= 1
    # ... and the native tier follows an unoptimised chain without recursing
    prog = cr.make_ir(_reshape_chain)(x)
    fn, _ = codegen.compile_program(prog)
    np.testing.assert_allclose(fn(x)[0], _reshape_chain(x), rtol=1e-15)
    small = lambda v: np.sum(_small_chain(v) ** 2)
    _check(cr.jit(cr.grad(small)), np.arange(6.0), 2 * np.arange(6.0), rtol=0)


def _small_chain(x):
    for i in range(1000):
        x = x.reshape((2, 3)) if i % 2 == 0 else x.reshape((6,))
    return x


# --------------------------------------------------- section 2, last item ---

def test_llvm_tier_returns_integer_and_bool_outputs_exactly():
    _llvm_or_skip()
    f0, ref = _long_scalar(1)
    big = 2 ** 60 + 1
    f = lambda x: (f0(x), big, True, np.int64(7), 2.5)
    jf = cr.jit(f)
    for _ in range(3):
        out = jf(0.3)
        assert out[0] == pytest.approx(ref(0.3), rel=1e-12)
        assert [(type(v), v) for v in out[1:]] == [(int, big), (bool, True), (np.int64, 7), (float, 2.5)]
    # a program whose constant outputs are floats keeps the LLVM tier
    assert scalar_llvm.eligible(cr.jit(lambda x: (f0(x), 2.5)).lower(0.3))


# ------------------------------------------------------------ section 5 ---

def test_from_sympy_never_evaluates_text(tmp_path):
    sp = pytest.importorskip("sympy")
    import chainrule.symbolic as cs
    marker = tmp_path / "pwned"
    text = f"__import__('pathlib').Path({str(marker)!r}).touch() or 1"

    class Sneaky:
        def __str__(self):
            return text
        __repr__ = __str__
    for expr in (text, [text], (sp.Symbol("x"), text), Sneaky()):
        with pytest.raises(TypeError, match="SymPy expression|sympify"):
            cs.from_sympy(expr, ["x"])
    assert not marker.exists()
    with pytest.raises(TypeError, match=r"sympy\.sympify\(text\)"):
        cs.from_sympy("x + 1", ["x"])
    x = sp.Symbol("x")
    assert cs.from_sympy(x ** 2 + 1, [x])(3.0) == 10.0
    assert cs.from_sympy([x, 2, 0.5], [x])(3.0) == [3.0, 2.0, 0.5]


_RAN = []


def _payload(marker, value):
    """Python text that, if it reached generated source, would create `marker` (and be `value`)."""
    return f"(__import__('pathlib').Path({str(marker)!r}).touch() or {value!r})"


def _sneaky(base, marker):
    """A subclass of `base` whose repr/str/format record that they ran and return a payload."""
    def text(self, *spec):
        _RAN.append(type(self).__name__)
        return _payload(marker, base(self))
    return type(f"Sneaky{base.__name__}", (base,), {"__repr__": text, "__str__": text, "__format__": text})


def test_user_objects_never_reach_generated_source(tmp_path):
    marker = tmp_path / "pwned"
    I, F, S = _sneaky(int, marker), _sneaky(float, marker), _sneaky(str, marker)
    big = np.linspace(0.0, 1.0, N)
    m = np.arange(12.0).reshape(3, 4)
    long_f, _ = _long_scalar(2)
    cases = [
        # Python code: reductions, shapes, axes, slices, einsum, dtypes, constants
        (lambda v: np.sum(v * v, axis=I(0), keepdims=I(1)), m),
        (lambda v: np.sum(v * v, axis=I(1), keepdims=I(1)), np.arange(800.0).reshape(100, 8)),
        (lambda v: np.sum(v * v, axis=(I(0), I(1)), keepdims=I(0)), m),
        (lambda v: (v * 2.0).reshape((I(4), I(3))) + 1.0, m),
        (lambda v: np.transpose(v * 2.0, (I(1), I(0))), m),
        (lambda v: np.broadcast_to(v[0] * 2.0, (I(2), I(4))), m),
        (lambda v: v[I(1):I(3), ::I(2)] * 3.0, m),
        (lambda v: np.einsum(S("ij,kj->ik"), v, v), m),
        (lambda v: (v * F(1.5) + I(3)).astype(np.float32), m),
        (lambda v: v * F(1.5) - I(2), 0.5),
        # fused native kernels: constants of every kind
        (lambda v: np.sin(v) * F(1.5) + v * I(3) - Color.RED, big),
        (lambda v: np.where(v > F(0.5), v * I(2), np.cos(v)), big),
        (lambda v: np.sum(np.exp(v) * F(0.25) + I(1), keepdims=I(1)), big),
        # the LLVM tier: a long scalar program with such constants
        (lambda v: long_f(v) * F(1.5) + I(4), 0.3),
    ]
    for fn, x in cases:
        want = fn(x)
        _RAN.clear()
        _check(cr.jit(fn), x, want, rtol=1e-13)
        assert _RAN == [] and not marker.exists(), fn
    g = cr.jit(cr.grad(lambda v: np.sum(np.sin(v) * F(1.5) * I(3))))
    _check(g, big, np.cos(big) * 4.5, rtol=1e-13)
    assert _RAN == [] and not marker.exists()
    if native.available():                  # the last case did run on the LLVM tier
        assert scalar_llvm.eligible(cr.jit(cases[-1][0]).lower(0.3))


def test_number_text_is_converted_by_the_emitter(tmp_path):
    marker = tmp_path / "pwned"
    I, F = _sneaky(int, marker), _sneaky(float, marker)
    _RAN.clear()
    texts = [native._number(I(3)), native._number(F(0.5)), native._number(Color.RED),
             native._number(np.int64(4)), native._number(np.True_), native._number(F("inf"))]
    assert texts == ["3", "0.5", "2", "4", "True", "_m.inf"] and _RAN == []
    assert codegen._ints((I(2), np.int64(3))) == "(2, 3)" and _RAN == []
