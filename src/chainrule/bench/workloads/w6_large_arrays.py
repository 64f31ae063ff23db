"""W6, large arrays: a reduction of elementwise operations on 10^5..10^6 elements, and
time(grad f) / time(f) per tool."""

from __future__ import annotations

import numpy as np

from ..checks import close_check
from ..rows import HAND


def w6_f(x, m):
    return m.sum(m.sin(x) ** 2 * m.exp(-x))


def w6_hand_grad(x):
    s, c, e = np.sin(x), np.cos(x), np.exp(-x)
    return 2 * s * c * e - s * s * e


def W6(b):
    wl = "W6"
    n = 10 ** 5 if b.quick else 10 ** 6
    x = np.random.default_rng(0).uniform(-2, 2, n)
    fval = float(w6_f(x, np))
    fchk = close_check(fval, rtol=1e-11)
    gchk = close_check(w6_hand_grad(x), rtol=1e-11, atol=1e-13)
    F, JF, G, JG = "f", "jit f", "grad f", "jit grad f"
    cr, cnp = b.cr, b.cnp
    b.case(wl, F, "chainrule", lambda: lambda: w6_f(x, cnp), fchk,
           note="chainrule.numpy on plain arrays")
    b.case(wl, JF, "chainrule", lambda: (lambda f: lambda: f(x))(
        cr.jit(lambda v: w6_f(v, cnp))), fchk, jit=True)
    b.case(wl, G, "chainrule", lambda: (lambda g: lambda: g(x))(
        cr.grad(lambda v: w6_f(v, cnp))), gchk)
    b.case(wl, JG, "chainrule", lambda: (lambda g: lambda: g(x))(
        cr.jit(cr.grad(lambda v: w6_f(v, cnp)))), gchk, jit=True)
    J = b.want("jax", wl)
    if J:
        jax, jnp = J.jax, J.jnp
        xj = jnp.asarray(x)
        b.case(wl, F, "jax", lambda: lambda: w6_f(xj, jnp).block_until_ready(), fchk)
        b.case(wl, JF, "jax", lambda: (lambda f: lambda: f(xj).block_until_ready())(
            jax.jit(lambda v: w6_f(v, jnp))), fchk, jit=True)
        b.case(wl, G, "jax", lambda: (lambda g: lambda: g(xj).block_until_ready())(
            jax.grad(lambda v: w6_f(v, jnp))), gchk)
        b.case(wl, JG, "jax", lambda: (lambda g: lambda: g(xj).block_until_ready())(
            jax.jit(jax.grad(lambda v: w6_f(v, jnp)))), gchk, jit=True)
    T = b.want("torch", wl)
    if T:
        torch = T.torch
        xt = torch.tensor(x)
        b.case(wl, F, "torch", lambda: lambda: w6_f(xt, torch), fchk)

        def tg():
            t = xt.detach().requires_grad_(True)
            return torch.autograd.grad(w6_f(t, torch), t)[0]
        b.case(wl, G, "torch", lambda: tg, gchk)
    AG = b.want("autograd", wl)
    if AG:
        b.case(wl, F, "autograd", lambda: lambda: w6_f(x, AG.anp), fchk,
               note="autograd.numpy on plain arrays")
        b.case(wl, G, "autograd", lambda: (lambda g: lambda: g(x))(
            AG.ag.grad(lambda v: w6_f(v, AG.anp))), gchk)
    if b.want("numpy", wl) is not None:
        b.case(wl, F, "numpy", lambda: lambda: w6_f(x, np), fchk, kind=HAND,
               note="the floor")
        b.case(wl, G, "numpy", lambda: lambda: w6_hand_grad(x), gchk, kind=HAND,
               note="hand-written gradient")
    # ratio grad / f per tool
    by = {(r.case, r.tool): r for r in b.rows if r.workload == wl}
    for (case, tool), r in by.items():
        base = {G: F, JG: JF}.get(case)
        fr = by.get((base, tool))
        if base and r.median_us and fr and fr.median_us:
            r.extra["grad_over_f"] = r.median_us / fr.median_us
