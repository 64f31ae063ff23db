"""Plain `import numpy as np` code runs under the transformations (via __array_ufunc__ /
__array_function__ / operators) and gives what the same code written with chainrule.numpy gives."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

from helpers import check_jvp_vjp, fd_grad

RNG = np.random.default_rng(3)
A = RNG.standard_normal((4, 3))
B = RNG.standard_normal((3, 4))
X = RNG.standard_normal(3)
M = RNG.standard_normal((3, 3))

# (name, numpy version, chainrule.numpy version, argument) -- every function returns a scalar
PAIRS = [
    ("sin-sum", lambda x: np.sum(np.sin(x)), lambda x: cnp.sum(cnp.sin(x)), X),
    ("mean-exp", lambda x: np.mean(np.exp(x)), lambda x: cnp.mean(cnp.exp(x)), X),
    ("x@A", lambda x: np.sum(np.tanh(x @ B)), lambda x: cnp.sum(cnp.tanh(cnp.matmul(x, B))), X),
    ("A@x", lambda x: np.sum((A @ x) ** 2), lambda x: cnp.sum(cnp.matmul(A, x) ** 2), X),
    ("matmul-fn", lambda x: np.sum(np.matmul(A, x) ** 3), lambda x: cnp.sum(cnp.matmul(A, x) ** 3), X),
    ("dot", lambda x: np.dot(x, np.dot(M, x)), lambda x: cnp.dot(x, cnp.dot(M, x)), X),
    ("dot-matrix", lambda m: np.sum(np.dot(m, M) ** 2), lambda m: cnp.sum(cnp.dot(m, M) ** 2), M),
    ("where", lambda x: np.sum(np.where(x > 0, x ** 2, np.sin(x))),
     lambda x: cnp.sum(cnp.where(x > 0, x ** 2, cnp.sin(x))), X),
    ("concatenate", lambda x: np.sum(np.concatenate([x, x ** 2, np.ones(2)]) ** 2),
     lambda x: cnp.sum(cnp.concatenate([x, x ** 2, np.ones(2)]) ** 2), X),
    ("max-axis", lambda m: np.sum(np.max(m, axis=1) * np.arange(3.0)),
     lambda m: cnp.sum(cnp.max(m, axis=1) * np.arange(3.0)), M),
    ("max-axis0-keepdims", lambda m: np.sum(np.max(m, axis=0, keepdims=True) ** 2),
     lambda m: cnp.sum(cnp.max(m, axis=0, keepdims=True) ** 2), M),
    ("ndarray*tracer", lambda x: np.sum(np.arange(1.0, 4.0) * x * x),
     lambda x: cnp.sum(np.arange(1.0, 4.0) * x * x), X),
    ("ndarray-tracer-ops", lambda x: np.sum((np.ones(3) - x) / (np.full(3, 2.0) + x ** 2)),
     lambda x: cnp.sum((np.ones(3) - x) / (np.full(3, 2.0) + x ** 2)), X),
    ("np.float64*tracer", lambda x: np.sum(np.float64(2.5) * x) + np.float64(1.0) / (1.5 + x[0]),
     lambda x: cnp.sum(2.5 * x) + 1.0 / (1.5 + x[0]), X),
    ("methods", lambda x: x.sum() + (x * x).mean() + x.reshape(3, 1).T.sum() + x.max(),
     lambda x: cnp.sum(x) + cnp.mean(x * x) + cnp.sum(cnp.transpose(cnp.reshape(x, (3, 1)))) + cnp.max(x), X),
    ("ufunc-reduce", lambda x: np.add.reduce(x ** 2) + np.multiply.reduce(x),
     lambda x: cnp.sum(x ** 2) + cnp.prod(x), X),
    ("cumsum-accumulate", lambda x: np.sum(np.add.accumulate(x) ** 2) + np.sum(np.cumsum(x) * x),
     lambda x: cnp.sum(cnp.cumsum(x) ** 2) + cnp.sum(cnp.cumsum(x) * x), X),
    ("stack-reshape", lambda x: np.sum(np.stack([x, 2 * x]).reshape(-1) * np.arange(6.0)),
     lambda x: cnp.sum(cnp.reshape(cnp.stack([x, 2 * x]), (-1,)) * np.arange(6.0)), X),
    ("einsum", lambda m: np.einsum("ij,jk->", m, M), lambda m: cnp.einsum("ij,jk->", m, M), M),
    ("outer-trace", lambda x: np.trace(np.outer(x, x) @ M), lambda x: cnp.trace(cnp.outer(x, x) @ M), X),
    ("clip-abs", lambda x: np.sum(np.clip(np.abs(x), 0.2, 1.0)), lambda x: cnp.sum(cnp.clip(cnp.abs(x), 0.2, 1.0)),
     np.array([0.1 + 0.05, -0.5, 1.7])),
    ("log-sqrt-power", lambda x: np.sum(np.log(1 + x ** 2) + np.sqrt(x ** 2 + 1) + np.power(x ** 2 + 1, 1.5)),
     lambda x: cnp.sum(cnp.log(1 + x ** 2) + cnp.sqrt(x ** 2 + 1) + cnp.power(x ** 2 + 1, 1.5)), X),
    ("var-std", lambda x: np.var(x) + np.std(x), lambda x: cnp.var(x) + cnp.std(x), X),
    ("transpose-swap", lambda m: np.sum(np.transpose(m) * np.swapaxes(m, 0, 1) * M),
     lambda m: cnp.sum(cnp.transpose(m) * cnp.swapaxes(m, 0, 1) * M), M),
    ("maximum-minimum", lambda x: np.sum(np.maximum(x, 0.1) * np.minimum(x, 0.3)),
     lambda x: cnp.sum(cnp.maximum(x, 0.1) * cnp.minimum(x, 0.3)), X),
    ("indexing", lambda x: x[0] * x[-1] + np.sum(x[[0, 2, 2]] ** 2) + np.sum(x[x > 0]),
     lambda x: x[0] * x[-1] + cnp.sum(x[np.array([0, 2, 2])] ** 2) + cnp.sum(x[np.asarray(X) > 0]), X),
]
if hasattr(np.linalg, "norm"):
    PAIRS.append(("linalg.norm", lambda x: np.linalg.norm(x) ** 3, lambda x: cnp.linalg.norm(x) ** 3, X))
    PAIRS.append(("linalg.norm-fro", lambda m: np.linalg.norm(m), lambda m: cnp.linalg.norm(m), M))
    PAIRS.append(("linalg.norm-axis", lambda m: np.sum(np.linalg.norm(m, axis=1)),
                  lambda m: cnp.sum(cnp.linalg.norm(m, axis=1)), M))


@pytest.mark.parametrize("name,f_np,f_cnp,x", PAIRS, ids=[p[0] for p in PAIRS])
def test_numpy_code_matches_chainrule_numpy(name, f_np, f_cnp, x):
    # plain evaluation (no tracers) agrees
    np.testing.assert_allclose(f_np(x), f_cnp(x), rtol=1e-13)
    g_np, g_cnp = cr.grad(f_np)(x), cr.grad(f_cnp)(x)
    np.testing.assert_allclose(g_np, g_cnp, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(g_np, fd_grad(lambda v: float(f_np(v)), x), rtol=1e-6, atol=1e-8)
    t = RNG.standard_normal(np.shape(x))
    _, jt_np = cr.jvp(f_np, (x,), (t,))
    _, jt_cnp = cr.jvp(f_cnp, (x,), (t,))
    assert jt_np == pytest.approx(float(jt_cnp), rel=1e-12, abs=1e-14)
    assert jt_np == pytest.approx(float(np.sum(g_np * t)), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("name,f_np,f_cnp,x", [p for p in PAIRS if p[0] in
                                               ("sin-sum", "x@A", "dot", "where", "concatenate", "max-axis",
                                                "ndarray*tracer", "linalg.norm")],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_numpy_code_second_order(name, f_np, f_cnp, x):
    check_jvp_vjp(f_np, (x,), order=2, what=name)
    H_np = cr.hessian(f_np)(x)
    H_cnp = cr.hessian(f_cnp)(x)
    np.testing.assert_allclose(H_np, H_cnp, rtol=1e-12, atol=1e-14)


def test_vector_valued_numpy_code_jacobian():
    f = lambda x: np.concatenate([np.sin(x), A @ x, np.cumsum(x)])
    J = cr.jacfwd(f)(X)
    exact = np.concatenate([np.diag(np.cos(X)), A, np.tril(np.ones((3, 3)))])
    np.testing.assert_allclose(J, exact, rtol=1e-14)
    np.testing.assert_allclose(cr.jacrev(f)(X), exact, rtol=1e-14)


def test_scalar_numpy_functions_on_python_floats():
    f = lambda x: np.sin(x) * np.exp(-x * x) + np.arctan2(x, 2.0) + np.hypot(x, 1.0)
    x = 0.7
    d = np.cos(x) * np.exp(-x * x) - 2 * x * np.sin(x) * np.exp(-x * x) + 2.0 / (4.0 + x * x) + x / np.hypot(x, 1.0)
    assert cr.grad(f)(x) == pytest.approx(d, rel=1e-13)
    assert cr.jvp(f, (x,), (1.0,))[1] == pytest.approx(d, rel=1e-13)


def test_numpy_where_with_tracer_condition_operands():
    f = lambda x: np.sum(np.where(x > 0.0, x, 0.0) * 3.0)
    x = np.array([-1.0, 2.0, 0.5])
    np.testing.assert_allclose(cr.grad(f)(x), [0.0, 3.0, 3.0])


def test_ndarray_on_left_of_every_operator():
    a = np.array([1.5, 2.0])
    f = lambda x: np.sum(a + x) + np.sum(a - x) + np.sum(a * x) + np.sum(a / x) + np.sum(a ** x) + (a @ x)
    x = np.array([0.7, 1.3])
    d = 1 - 1 + a - a / x ** 2 + a ** x * np.log(a) + a
    np.testing.assert_allclose(cr.grad(f)(x), d, rtol=1e-13)


def test_cumprod_with_zeros():
    x = np.array([2.0, 0.0, 3.0, 4.0])
    f_np = lambda x: np.sum(np.cumprod(x))
    g = cr.grad(f_np)(x)
    # d/dx_k sum_j prod_{i<=j} x_i
    exact = np.zeros(4)
    for k in range(4):
        for j in range(k, 4):
            exact[k] += np.prod([x[i] for i in range(j + 1) if i != k])
    np.testing.assert_allclose(g, exact)
    np.testing.assert_allclose(cr.grad(lambda x: cnp.sum(cnp.cumprod(x)))(x), exact)


def test_dispatch_tables_are_derived_from_chainrule_numpy():
    """Every public chainrule.numpy function named like a NumPy function handles it; NumPy's own
    re-exported objects (zeros, linspace) are not mapped to themselves."""
    from chainrule.numpy import _protocols as P
    from chainrule.numpy import linalg as cla
    functions = P._function_table()
    for name in ["sin", "absolute", "conjugate", "logaddexp2", "mod", "true_divide", "matmul", "isfinite"]:
        assert P.UFUNCS[getattr(np, name)] is getattr(cnp, name)
    for name in ["sum", "mean", "where", "einsum", "sinc", "round", "full_like", "astype", "pad"]:
        assert functions[getattr(np, name)] is getattr(cnp, name)
    for name in ["solve", "norm", "slogdet", "vector_norm"]:
        assert functions[getattr(np.linalg, name)] is getattr(cla, name)
    for fn in list(P.UFUNCS.values()) + list(functions.values()):
        assert fn.__module__.startswith("chainrule")
    assert np.linspace not in functions and np.zeros not in functions
    # np.astype is dispatched now: a cast keeps the trace
    assert cr.grad(lambda x: np.sum(np.astype(x, np.float32) * 2.0))(X).tolist() == [2.0] * 3
