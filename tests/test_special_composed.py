"""The composed scipy.special additions (beta, entr, rel_entr, kl_div, multigammaln, factorial,
boxcox, boxcox1p) and numpy's NumPy 2 aliases: SciPy's / NumPy's values, derivatives against
finite differences, jacfwd against jacrev, and jit against eager."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special as ss

import chainrule as cr
import chainrule.numpy as cnp
import chainrule.scipy.special as cs

A = np.array([0.3, 1.7, -1.5, -0.4, 2.5, 0.0, -2.0, 4.2])
B = np.array([0.6, 2.2, 1.5, 0.9, -0.7, 1.0, 3.0, 0.0])

# (name, arguments for values (edges included), arguments where derivatives are taken)
CASES = [
    ("beta", (A, B), (np.array([0.3, 1.7, -1.5, 2.5]), np.array([0.6, 2.2, 0.8, 1.3]))),
    ("entr", (A,), (np.array([0.3, 1.7, 2.5]),)),
    ("rel_entr", (A, B), (np.array([0.3, 1.7, 2.5]), np.array([0.6, 2.2, 0.4]))),
    ("kl_div", (A, B), (np.array([0.3, 1.7, 2.5]), np.array([0.6, 2.2, 0.4]))),
    ("factorial", (A,), (np.array([0.3, 1.7, 2.5, 4.2]),)),
    ("boxcox", (np.abs(A), B), (np.array([0.3, 1.7, 2.5]), np.array([0.6, 0.0, -0.7]))),
    ("boxcox1p", (A, B), (np.array([0.3, -0.4, 2.5]), np.array([0.6, 0.0, -0.7]))),
    ("multigammaln-d3", (np.array([2.3, 4.0, 1.01]), 3), (np.array([2.3, 4.0]), 3)),
]


@pytest.mark.parametrize("name,args,dargs", CASES, ids=[c[0] for c in CASES])
def test_values_and_derivatives(name, args, dargs):
    fname = name.split("-")[0]
    ours, theirs = getattr(cs, fname), getattr(ss, fname)
    with np.errstate(all="ignore"):
        expected = theirs(*args)
        np.testing.assert_allclose(ours(*args), expected, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(cr.jit(ours)(*args), expected, rtol=1e-13, atol=1e-15)
    arrays = [i for i, a in enumerate(dargs) if isinstance(a, np.ndarray)]
    for i in arrays:
        def f(x):
            return ours(*(x if j == i else a for j, a in enumerate(dargs)))
        x = dargs[i]
        jf = np.asarray(cr.jacfwd(f)(x))
        np.testing.assert_allclose(cr.jacrev(f)(x), jf, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(cr.jit(cr.jacrev(f))(x), jf, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(jf, cr.fd.jacobian(f, x), rtol=1e-6, atol=1e-8)
        assert np.all(np.isfinite(jf))


def test_boxcox_derivative_in_lambda_at_zero():
    # d/dl (x**l - 1) / l at l = 0 is log(x)**2 / 2 (the series branch, not the log branch)
    x = np.array([0.4, 2.0, 7.5])
    g = cr.grad(lambda lam: cnp.sum(cs.boxcox(x, lam)))(0.0)
    np.testing.assert_allclose(g, np.sum(np.log(x) ** 2 / 2), rtol=1e-12)
    g1 = cr.grad(lambda lam: cnp.sum(cs.boxcox1p(x, lam)))(0.0)
    np.testing.assert_allclose(g1, np.sum(np.log1p(x) ** 2 / 2), rtol=1e-12)


def test_errors():
    with pytest.raises(ValueError, match="a > "):
        cs.multigammaln(np.array([0.9]), 3)
    with pytest.raises(ValueError, match="positive integer"):
        cs.multigammaln(2.0, 1.5)
    with pytest.raises(NotImplementedError, match="math.factorial"):
        cs.factorial(3.0, exact=True)


def test_numpy2_aliases_are_the_same_functions():
    x = np.array([0.2, 0.5, 0.9])
    for alias, name in (("acos", "arccos"), ("asin", "arcsin"), ("atan", "arctan"), ("acosh", "arccosh"),
                        ("asinh", "arcsinh"), ("atanh", "arctanh")):
        assert getattr(cnp, alias) is getattr(cnp, name)
        v = x + 1.0 if alias == "acosh" else x
        np.testing.assert_allclose(cr.jit(getattr(cnp, alias))(v), getattr(np, alias)(v), rtol=1e-15)
    assert cnp.atan2 is cnp.arctan2 and cnp.pow is cnp.power
    np.testing.assert_allclose(cr.grad(lambda v: cnp.sum(cnp.pow(v, 3.0)))(x), 3 * x ** 2, rtol=1e-14)
