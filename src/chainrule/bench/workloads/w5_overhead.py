"""W5, per-operation overhead: the gradient of a chain of 1000 scalar steps (2000
primitives), reported as time per operation."""

from __future__ import annotations

import math

from ..checks import close_check
from ..rows import HAND


W5_STEPS, W5_OPS = 1000, 2000


def w5_chain(x, m):
    for _ in range(W5_STEPS):
        x = m.sin(x) * 0.999 + 0.01
    return x


def w5_exact(x=0.5):
    d = 1.0
    for _ in range(W5_STEPS):
        d *= math.cos(x) * 0.999
        x = math.sin(x) * 0.999 + 0.01
    return d


def W5(b):
    wl = "W5"
    x0 = 0.5
    chk = close_check(w5_exact(x0), rtol=1e-10, atol=1e-14)
    G, JG = "grad", "jit grad"
    cr, cnp = b.cr, b.cnp
    b.case(wl, G, "chainrule", lambda: (lambda g: lambda: g(x0))(
        cr.grad(lambda x: w5_chain(x, cnp))), chk)
    b.case(wl, JG, "chainrule", lambda: (lambda g: lambda: g(x0))(
        cr.jit(cr.grad(lambda x: w5_chain(x, cnp)))), chk, jit=True)
    J = b.want("jax", wl)
    if J:
        jax, jnp = J.jax, J.jnp
        b.case(wl, G, "jax", lambda: (lambda g: lambda: float(g(x0)))(
            jax.grad(lambda x: w5_chain(x, jnp))), chk)
        b.case(wl, JG, "jax", lambda: (lambda g: lambda: float(g(x0)))(
            jax.jit(jax.grad(lambda x: w5_chain(x, jnp)))), chk, jit=True)
    T = b.want("torch", wl)
    if T:
        torch = T.torch

        def tg():
            t = torch.tensor(x0, requires_grad=True)
            return torch.autograd.grad(w5_chain(t, torch), t)[0].item()
        b.case(wl, G, "torch", lambda: tg, chk)
        if T.func:
            b.case(wl, G, "torch.func", lambda: (
                lambda g: lambda: g(torch.tensor(x0)).item())(
                T.func.grad(lambda x: w5_chain(x, torch))), chk)
    AG = b.want("autograd", wl)
    if AG:
        b.case(wl, G, "autograd", lambda: (lambda g: lambda: g(x0))(
            AG.ag.grad(lambda x: w5_chain(x, AG.anp))), chk)
    if b.want("numpy", wl) is not None:
        b.case(wl, G, "python hand", lambda: lambda: w5_exact(x0),
               chk, kind=HAND, note="hand-written forward loop with math")
    for r in b.rows:
        if r.workload == wl and r.median_us is not None and r.value_ok \
                and not r.case.endswith("first call"):
            r.extra["us_per_op"] = r.median_us / W5_OPS
