"""Differential test against JAX (skipped when JAX is not installed): values, gradients,
JVPs, Hessians, vmap and jit of a table of NumPy programs agree with jax.numpy's."""
from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
jax.config.update("jax_enable_x64", True)

import chainrule as cr  # noqa: E402
import chainrule.numpy as cnp  # noqa: E402

# name -> f(np_module, x) for x a float64 vector of length 5 in (0.1, 1.9)
PROGRAMS = {
    "trig": lambda m, x: m.sum(m.sin(x) * m.cos(2 * x) - m.tan(x / 3)),
    "exp_log": lambda m, x: m.sum(m.log1p(m.exp(-x)) + m.expm1(x / 4) + m.log(x) * m.sqrt(x)),
    "hyperbolic": lambda m, x: m.sum(m.tanh(x) * m.sinh(x / 2) + m.arcsinh(x) - m.arctanh(x / 3)),
    "power": lambda m, x: m.sum(x ** 2.5 + m.power(x, x) + m.cbrt(x) + 1 / x),
    "where_max": lambda m, x: m.sum(m.where(x > 1.0, x ** 2, m.sin(x)) + m.maximum(x, 1.0 - x)),
    "reductions": lambda m, x: m.max(x) * m.prod(x) + m.mean(x ** 2) - m.std(x) + m.var(x),
    "logsumexp": lambda m, x: m.log(m.sum(m.exp(x - m.max(x)))) + m.max(x),
    "indexing": lambda m, x: m.sum(x[1:] * x[:-1]) + x[0] * x[-1] + m.sum(x[::2] ** 3),
    "shape": lambda m, x: m.sum(m.outer(x, x).T @ x) + m.sum(m.concatenate([x, x[::-1]]) * m.arange(10.0)),
    "cumsum_sort": lambda m, x: m.sum(m.cumsum(x) * m.sort(x)) + m.sum(m.cumprod(x / 2)),
    "linalg": lambda m, x: m.linalg.det(m.outer(x, x)[:3, :3] + 3 * m.eye(3)) + m.sum(
        m.linalg.solve(m.diag(x) + 1.0, x)) + m.linalg.norm(x),
    "arctan2_hypot": lambda m, x: m.sum(m.arctan2(x, 2.0 - x) + m.hypot(x, x[::-1]) + m.logaddexp(x, -x)),
    "roll_pad_clip": lambda m, x: m.sum(m.roll(x, 2) * x) + m.sum(m.pad(x, 2, mode="reflect") ** 2) + m.sum(
        m.clip(x, 0.5, 1.5) ** 2),
    "einsum": lambda m, x: m.einsum("i,j,ij->", x, x, m.outer(x, m.sin(x))),
}

X = np.linspace(0.15, 1.85, 5) + np.array([0.0, 0.013, -0.021, 0.007, 0.0])


def _both(name):
    f = PROGRAMS[name]
    return (lambda x: f(cnp, x)), (lambda x: f(jnp, x))


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_values_and_derivatives_agree_with_jax(name):
    c, j = _both(name)
    v = np.cos(np.arange(5.0))
    np.testing.assert_allclose(c(X), j(X), rtol=1e-12)
    np.testing.assert_allclose(cr.grad(c)(X), jax.grad(j)(X), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cr.jvp(c, (X,), (v,))[1], jax.jvp(j, (X,), (v,))[1], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cr.hessian(c)(X), jax.hessian(j)(X), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(cr.jit(cr.grad(c))(X), jax.grad(j)(X), rtol=1e-10, atol=1e-12)
    batch = np.stack([X, X[::-1] * 0.9, X * 1.05])
    np.testing.assert_allclose(cr.vmap(cr.grad(c))(batch), jax.vmap(jax.grad(j))(batch), rtol=1e-10, atol=1e-12)


def test_loops_agree_with_jax_lax_loops():
    def c(p):
        return cnp.sum(cr.fori_loop(0, 50, lambda i, y: y + 0.01 * cnp.sin(p * y + i), cnp.ones(3) * p[0]))

    def j(p):
        return jnp.sum(jax.lax.fori_loop(0, 50, lambda i, y: y + 0.01 * jnp.sin(p * y + i), jnp.ones(3) * p[0]))
    p = np.array([0.3, 0.7, 1.1])
    np.testing.assert_allclose(cr.jit(cr.grad(c))(p), jax.grad(j)(p), rtol=1e-12)
    np.testing.assert_allclose(cr.hessian(c)(p), jax.hessian(j)(p), rtol=1e-10)
