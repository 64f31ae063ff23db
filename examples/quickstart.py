"""The README's example, runnable: `python examples/quickstart.py`.

Plain NumPy code (with a Python `if`) differentiated in reverse mode (grad),
forward mode (jvp) and to second order (hessian); each result is checked
against its closed form.
"""
import numpy as np

import chainrule as cr


def f(x):                                   # plain NumPy, nothing chainrule-specific
    y = np.sum(np.sin(x) * x**2)
    return y if y > 0 else -y               # Python control flow on a traced value


x = np.array([0.5, 1.0, 2.0])
print(cr.grad(f)(x))                        # reverse mode: x**2 cos(x) + 2 x sin(x)
print(cr.jvp(f, (x,), (np.ones(3),))[1])    # forward mode: directional derivative
print(cr.hessian(f)(x))                     # diagonal: 4x cos(x) + (2 - x**2) sin(x)

# The checks: at this x the sum is positive, so f(x) = sum(sin(x) x^2).
assert f(x) > 0
g = x**2 * np.cos(x) + 2 * x * np.sin(x)
np.testing.assert_allclose(cr.grad(f)(x), g, rtol=1e-14)
y, dy = cr.jvp(f, (x,), (np.ones(3),))
np.testing.assert_allclose(y, np.sum(np.sin(x) * x**2), rtol=1e-15)
np.testing.assert_allclose(dy, g.sum(), rtol=1e-14)
np.testing.assert_allclose(cr.hessian(f)(x), np.diag(4 * x * np.cos(x) + (2 - x**2) * np.sin(x)),
                           rtol=1e-14, atol=1e-15)
# at -x the sum is negative and the `else` branch runs: f(z) = -sum(sin(z) z^2), so
# grad f(-x) = -((-x)^2 cos(-x) + 2 (-x) sin(-x)) = -g
assert f(-x) > 0
np.testing.assert_allclose(cr.grad(f)(-x), -g, rtol=1e-14)
print("all checks passed")
