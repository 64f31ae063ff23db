"""Compile time stays linear (issue "Loops stay loops", item 6): long straight-line programs
are cut into chunks in the LLVM and the Python tiers, and a program too long to compile is
interpreted, with a warning.  Each path is forced here with a small threshold; every result
is compared with eager evaluation.  (Speed itself is measured in benchmarks/bench_compile.py.)"""
from __future__ import annotations

import gc
import math
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.compile import codegen, jit as jit_mod, native, scalar_llvm

OPS = (cnp.sin, cnp.cos, cnp.tanh)


def chain(n, seed=0, branch=False):
    """About n primitives of a scalar chain whose steps are drawn at random (not periodic,
    so no loop-rolling pass shortens it).  With `branch`, Python control flow reads the
    value at every step (a guard each)."""
    picks = np.random.default_rng(seed).integers(0, 3, size=(n // 5, 2)).tolist()

    def f(x):
        for a, b in picks:
            if branch and x > 0.5:
                x = OPS[a](x) * 0.999 + 0.01
            else:
                x = OPS[a](x) * 1.0001 + 0.001 * OPS[b](x)
        return x
    return f


def array_chain(n, seed=1):
    """A vector program with slices (their transposes are scatters), sums and products."""
    picks = np.random.default_rng(seed).integers(0, 3, size=n // 8).tolist()

    def f(x):
        for a in picks:
            y = OPS[a](x)
            x = x * 0.9 + 0.1 * cnp.concatenate([y[1:], y[:1]])
        return cnp.sum(x * x)
    return f


def close(a, b, rel=1e-12):
    np.testing.assert_allclose(a, b, rtol=rel, atol=1e-300)


def only_spec(jitted):
    (specs,) = jitted._cache.values()
    return specs[0]


@pytest.fixture
def no_llvm(monkeypatch):
    monkeypatch.setattr(scalar_llvm, "MIN_EQNS", 10 ** 12)


needs_llvm = pytest.mark.skipif(not native.available(), reason="numba/llvmlite not installed")


# ------------------------------------------------------------------ LLVM ---

@needs_llvm
def test_llvm_chunked_equals_eager(monkeypatch):
    monkeypatch.setattr(scalar_llvm, "CHUNK_EQNS", 500)
    f = chain(10_000)
    j = cr.jit(f)
    for x in (0.3, -1.7, 0.3):
        close(j(x), f(x))
    spec = only_spec(j)
    assert isinstance(spec.fast, scalar_llvm.ScalarKernel)
    assert spec.source.count("define internal i32 @chainrule_part") >= 18
    g, gj = cr.grad(chain(2_000, seed=3)), cr.jit(cr.grad(chain(2_000, seed=3)))
    for x in (0.3, 2.1):
        close(gj(x), g(x))
    assert isinstance(only_spec(gj).fast, scalar_llvm.ScalarKernel)


@needs_llvm
def test_llvm_chunked_guards_and_booleans(monkeypatch):
    monkeypatch.setattr(scalar_llvm, "CHUNK_EQNS", 64)
    f = chain(1_500, seed=5, branch=True)
    j = cr.jit(f)
    xs = [0.9, 0.2, 0.9, -0.4, 0.2]
    for x in xs:
        close(j(x), f(x))
    assert all(isinstance(s.fast, scalar_llvm.ScalarKernel) for s in next(iter(j._cache.values())))

    def h(x):                            # booleans computed in one function, read in another
        c = x > 0.0
        y = chain(1_000, seed=6)(x)
        return cnp.where(c, y, -y) + 0.0 * x, c
    hj = cr.jit(h)
    for x in (0.4, -0.4):
        (a, ca), (b, cb) = hj(x), h(x)
        close(a, b)
        assert bool(ca) == bool(cb)


@needs_llvm
def test_llvm_source_names_libm_functions():
    f = chain(1_000)
    src = cr.jit(f).source(0.3)
    assert "call double @sin" in src or "call double @cos" in src


# ---------------------------------------------------------------- Python ---

def test_python_chunked_equals_eager(monkeypatch, no_llvm):
    monkeypatch.setattr(codegen, "CHUNK_EQNS", 500)
    f = chain(10_000)
    j = cr.jit(f)
    for x in (0.3, -1.7):
        close(j(x), f(x))
    src = only_spec(j).source
    assert src.count("def compiled_part") >= 18
    g = cr.grad(chain(2_000, seed=3))
    gj = cr.jit(g)
    close(gj(0.3), g(0.3))
    b = chain(1_500, seed=5, branch=True)
    bj = cr.jit(b)
    for x in (0.9, 0.2, 0.9):
        close(bj(x), b(x))


def test_python_chunked_arrays_equal_eager(monkeypatch):
    monkeypatch.setattr(codegen, "CHUNK_EQNS", 40)
    x = np.linspace(-1.0, 1.0, 7)
    f = array_chain(400)
    close(cr.jit(f)(x), f(x))
    g = cr.grad(f)
    gj = cr.jit(g)
    out = gj(x)
    close(out, g(x))
    assert "def compiled_part" in only_spec(gj).source
    out[:] = 0.0                         # the caller owns the result
    close(gj(x), g(x))


@pytest.mark.slow
@needs_llvm
def test_python_chunked_fused_kernels_match_one_function(monkeypatch):
    x = np.linspace(-1.0, 1.0, native.MIN_SIZE + 10)

    def f(x):
        y = cnp.sin(x) * 2.0 + cnp.cos(x) * x
        z = cnp.tanh(y) * cnp.sum(y) + x * 0.5
        w = z[1:] * z[:-1] + 1.0
        return cnp.sum(cnp.exp(-w * w) * 3.0 + w)
    g = cr.grad(f)
    whole = cr.jit(g)
    whole(x)
    monkeypatch.setattr(codegen, "CHUNK_EQNS", 3)
    parts = cr.jit(g)
    parts(x)
    src = only_spec(parts).source
    assert "def compiled_part" in src and "_bad = " in src       # fused kernels, in chunks
    np.testing.assert_array_equal(parts(x), whole(x))
    close(parts(x), g(x), rel=1e-10)


def test_python_chunked_math_error_falls_back_to_numpy(monkeypatch, no_llvm):
    monkeypatch.setattr(codegen, "CHUNK_EQNS", 50)

    def f(x):
        y = chain(400)(x)
        return cnp.log(x - 0.5) + y      # math.log raises at x = 0.5; NumPy gives -inf
    j = cr.jit(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert j(0.5) == f(0.5) == -math.inf
    close(j(0.7), f(0.7))


# ----------------------------------------------------------- interpreter ---

def test_interpreter_fallback_warns_and_equals_eager(monkeypatch):
    monkeypatch.setattr(codegen, "MAX_EQNS", 1_000)
    monkeypatch.setattr(scalar_llvm, "MAX_EQNS", 1_000)
    f = chain(10_000)
    j = cr.jit(f)
    with pytest.warns(jit_mod.ProgramSizeWarning, match="fori_loop") as rec:
        close(j(0.3), f(0.3))
    assert issubclass(rec[0].category, RuntimeWarning)
    assert "equation by equation" in str(rec[0].message) and rec[0].filename == __file__
    assert isinstance(only_spec(j).fast, jit_mod._Interpreted)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # a cached call warns no more
        for x in (0.3, -1.7):
            close(j(x), f(x))
    assert "equation by equation" in j.source(0.3)
    g = cr.grad(chain(2_000, seed=3))
    with pytest.warns(jit_mod.ProgramSizeWarning):
        gj = cr.jit(g)
        gj(0.3)
    close(gj(2.1), g(2.1))


def test_interpreter_checks_guards(monkeypatch):
    monkeypatch.setattr(codegen, "MAX_EQNS", 100)
    monkeypatch.setattr(scalar_llvm, "MAX_EQNS", 100)
    f = chain(1_000, seed=5, branch=True)
    j = cr.jit(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jit_mod.ProgramSizeWarning)
        for x in (0.9, 0.2, 0.9, -0.0, 0.2):
            close(j(x), f(x))
    assert len(next(iter(j._cache.values()))) >= 2


def test_interpreter_arrays_are_fresh_and_exact(monkeypatch):
    monkeypatch.setattr(codegen, "MAX_EQNS", 50)
    x = np.linspace(-1.0, 1.0, 7)
    f = array_chain(200)

    def both(x):
        return f(x), x, cnp.reshape(x, (7, 1))
    j = cr.jit(both)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jit_mod.ProgramSizeWarning)
        j(x)
        v, same, view = j(x)
    close(v, f(x))
    assert not np.shares_memory(same, x) and not np.shares_memory(view, x)
    same[:] = 5.0
    view[:] = 5.0
    assert x[0] == -1.0
    g = cr.grad(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jit_mod.ProgramSizeWarning)
        close(cr.jit(g)(x), g(x))


# -------------------------------------------------------------- plumbing ---

def test_garbage_collector_settings_restored():
    before = gc.get_threshold()
    close(cr.jit(chain(2_000))(0.3), chain(2_000)(0.3))
    assert gc.get_threshold() == before

    def bad(x):
        chain(500)(x)
        raise ValueError("user error while staging")
    with pytest.raises(ValueError):
        cr.jit(bad)(0.3)
    assert gc.get_threshold() == before
    with jit_mod._young_collections_only():
        with jit_mod._young_collections_only():
            assert gc.get_threshold()[2] == jit_mod._NO_FULL
        assert gc.get_threshold()[2] == jit_mod._NO_FULL
    assert gc.get_threshold() == before


def test_staged_equations_share_empty_params():
    p = cr.jit(chain(100)).lower(0.3)
    empties = {id(e.params) for e in p.eqns if not e.params}
    assert len(empties) == 1


@pytest.mark.slow
@needs_llvm
def test_hundred_thousand_primitives_default_tiers():
    f = chain(100_000, seed=7)
    j = cr.jit(f)
    close(j(0.3), f(0.3))
    close(j(1.1), f(1.1))
    assert isinstance(only_spec(j).fast, scalar_llvm.ScalarKernel)
