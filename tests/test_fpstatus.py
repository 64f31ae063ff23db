"""Natively compiled code reports NumPy's floating-point warnings (compile/fpstatus.py)."""
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.compile import fpstatus, scalar_llvm


def _long_chain_ending_in_log_of_zero(x):
    for _ in range(120):
        x = cnp.log(x) * 0.5 + 1.0
    return cnp.log(x - x)


@pytest.mark.skipif(fpstatus._lib is None or not scalar_llvm.native.available(),
                    reason="no LLVM tier or no floating-point status access here")
def test_llvm_tier_warns_raises_or_stays_quiet_as_numpy_says():
    g = cr.jit(_long_chain_ending_in_log_of_zero)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert g(2.0) == -np.inf and g(2.0) == -np.inf     # staged run, then the LLVM kernel
    assert isinstance(next(iter(g._cache.values()))[0].fast, scalar_llvm.ScalarKernel)
    assert any("divide by zero encountered in jit-compiled code" in str(m.message) for m in w)
    with np.errstate(divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")
        assert g(2.0) == -np.inf
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError, match="divide by zero"):
        g(2.0)
    with warnings.catch_warnings():                          # finite throughout: no warning
        warnings.simplefilter("error")
        h = cr.jit(lambda x: _long_chain_ending_in_log_of_zero(x + 0.0) * 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            h(2.0)
        g2 = cr.jit(lambda x: cnp.log(x) * 0.5 + sum(cnp.sin(x * k) for k in range(150)))
        g2(2.0)
        assert np.isfinite(g2(2.0))


@pytest.mark.skipif(fpstatus._lib is None or not scalar_llvm.native.available(),
                    reason="no LLVM tier or no floating-point status access here")
def test_strong_zeros_raise_no_warning_in_the_llvm_tier():
    # d/dx where(x > 0, sqrt(x), 0) at 0: the zero cotangent meets sqrt's infinite derivative
    # (0.5 / sqrt(0): a division by zero, which the Python tier reports too) and the strong
    # zero 0 * inf = 0 must not add an "invalid value" warning
    def f(x):
        for _ in range(150):
            x = cnp.sin(x) * 0.5
        return cnp.where(x > 0.0, cnp.sqrt(x), 0.0)
    g = cr.jit(cr.grad(f))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert g(0.0) == 0.0 and g(0.0) == 0.0
    assert isinstance(next(iter(g._cache.values()))[0].fast, scalar_llvm.ScalarKernel)
    assert not [m for m in w if "invalid value" in str(m.message)], [str(m.message) for m in w]
