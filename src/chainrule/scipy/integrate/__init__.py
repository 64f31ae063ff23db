"""`chainrule.scipy.integrate`: differentiable ODE solvers and quadrature with SciPy's names.

One concept per module: `_ivp` (solve_ivp: explicit Runge-Kutta pairs, dense output,
events), `_rk` (their step and step-size control), `_radau` (solve_ivp's stiff method,
Radau IIA of order 5), `_odeint` (odeint, with an optional continuous adjoint),
`_quadrature` (quad, fixed_quad, trapezoid, cumulative_trapezoid, simpson), `_tableaus`
(published coefficients).
"""
from ._ivp import solve_ivp, OdeResult, OdeSolution  # noqa: F401
from ._odeint import odeint  # noqa: F401
from ._quadrature import quad, fixed_quad, trapezoid, cumulative_trapezoid, simpson  # noqa: F401

__all__ = ["solve_ivp", "odeint", "OdeResult", "OdeSolution", "quad", "fixed_quad", "trapezoid",
           "cumulative_trapezoid", "simpson"]
