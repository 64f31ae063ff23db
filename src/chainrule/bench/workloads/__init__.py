"""The workloads W1..W8: their names, titles and runners (one module each; a runner takes
the `Bench` and adds its rows)."""

from __future__ import annotations

from .w1_simple import W1
from .w2_control_flow import W2
from .w3_nth_derivative import W3
from .w4_jacobians import W4
from .w5_overhead import W5
from .w6_large_arrays import W6
from .w7_hessians import W7
from .w8_gmm import W8

WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8")
TITLES = {
    "W1": "simple example: f(x) = sin(x) - 2 cos(3x) exp(-x^2), 100 points",
    "W2": "control flow: Python `if` on the traced value, 100 points",
    "W3": "n-th derivative of (a x + b)^m, a=2, b=1, m=10, x=0.3",
    "W4": "Jacobians of tanh(W x + b)",
    "W5": "per-operation overhead: 1000 x (x = sin(x) * 0.999 + 0.01), grad",
    "W6": "large arrays: f(x) = sum(sin(x)^2 exp(-x))",
    "W7": "Hessians of Rosenbrock",
    "W8": "GMM log-likelihood gradient (ADBench objective)",
}

RUNNERS = {"W1": W1, "W2": W2, "W3": W3, "W4": W4, "W5": W5, "W6": W6,
           "W7": W7, "W8": W8}
