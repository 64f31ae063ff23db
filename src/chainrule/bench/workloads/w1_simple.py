"""W1, the simple example: the derivative of sin(x) - 2 cos(3x) exp(-x^2) at 100 points
(loop, vmap, jit), against the peers and finite differences, with the forward-difference
step trade-off."""

from __future__ import annotations

import numpy as np

from ..checks import close_check, to_numpy
from ..rows import FD


def w1_f(x, m):
    return m.sin(x) - 2 * m.cos(3 * x) * m.exp(-x ** 2)


def w1_df(x):
    e = np.exp(-x ** 2)
    return np.cos(x) + 6 * np.sin(3 * x) * e + 4 * x * np.cos(3 * x) * e


def W1(b):
    wl = "W1"
    xs = np.linspace(-5, 5, 100)
    exact = w1_df(xs)
    chk = close_check(exact, rtol=1e-10, atol=1e-12)
    fdchk = close_check(exact, rtol=1e-6, atol=1e-6)
    A, B = "a loop grad", "b vmap grad"
    C1, C2 = "c1 jit loop grad", "c2 jit vmap grad"
    pts = [float(x) for x in xs]

    cr, cnp = b.cr, b.cnp
    f_cr = lambda x: w1_f(x, cnp)
    b.case(wl, A, "chainrule", lambda: (lambda g: lambda: [g(x) for x in pts])(
        cr.grad(f_cr)), chk)
    b.case(wl, B, "chainrule", lambda: (lambda g: lambda: g(xs))(
        cr.vmap(cr.grad(f_cr))), chk)
    b.case(wl, C1, "chainrule", lambda: (lambda g: lambda: [g(x) for x in pts])(
        cr.jit(cr.grad(lambda x: w1_f(x, cnp)))), chk, jit=True)
    b.case(wl, C2, "chainrule", lambda: (lambda g: lambda: g(xs))(
        cr.jit(cr.vmap(cr.grad(lambda x: w1_f(x, cnp))))), chk, jit=True)

    J = b.want("jax", wl)
    if J:
        jax, jnp = J.jax, J.jnp
        f = lambda x: w1_f(x, jnp)
        g = jax.grad(f)
        b.case(wl, A, "jax", lambda: lambda: [float(g(x)) for x in pts], chk)
        gv = jax.vmap(jax.grad(f))
        b.case(wl, B, "jax", lambda: lambda: gv(xs).block_until_ready(), chk)
        b.case(wl, C1, "jax", lambda: (lambda gj: lambda: [float(gj(x)) for x in pts])(
            jax.jit(jax.grad(lambda x: w1_f(x, jnp)))), chk, jit=True)
        b.case(wl, C2, "jax", lambda: (lambda gj: lambda: gj(xs).block_until_ready())(
            jax.jit(jax.vmap(jax.grad(lambda x: w1_f(x, jnp))))), chk, jit=True)

    T = b.want("torch", wl)
    if T:
        torch = T.torch

        def loop():
            out = []
            for x in pts:
                t = torch.tensor(x, requires_grad=True)
                out.append(torch.autograd.grad(w1_f(t, torch), t)[0].item())
            return out
        b.case(wl, A, "torch", lambda: loop, chk)
        tx = torch.tensor(xs)

        def batched():   # the torch idiom for an elementwise f: grad of sum
            t = tx.clone().requires_grad_(True)
            return torch.autograd.grad(w1_f(t, torch).sum(), t)[0]
        b.case(wl, B, "torch", lambda: batched, chk,
               note="grad of sum (elementwise idiom)")
        if T.func:
            gf = T.func.grad(lambda x: w1_f(x, torch))
            b.case(wl, A, "torch.func",
                   lambda: lambda: [gf(torch.tensor(x)).item() for x in pts], chk)
            gvf = T.func.vmap(T.func.grad(lambda x: w1_f(x, torch)))
            b.case(wl, B, "torch.func", lambda: lambda: gvf(tx), chk)

    AG = b.want("autograd", wl)
    if AG:
        g = AG.ag.grad(lambda x: w1_f(x, AG.anp))
        b.case(wl, A, "autograd", lambda: lambda: [g(x) for x in pts], chk)
        ge = AG.ag.elementwise_grad(lambda x: w1_f(x, AG.anp))
        b.case(wl, B, "autograd", lambda: lambda: ge(xs), chk,
               note="elementwise_grad (autograd has no vmap)")

    ND = b.want("numdifftools", wl)
    if ND:
        d = ND.Derivative(lambda x: w1_f(x, np))
        b.case(wl, A, "numdifftools", lambda: lambda: [d(x) for x in pts],
               fdchk, kind=FD)
        b.case(wl, B, "numdifftools", lambda: lambda: d(xs), fdchk, kind=FD)

    if b.want("numpy", wl) is not None:
        def central(x):
            h = np.cbrt(np.finfo(float).eps) * np.maximum(1.0, np.abs(x))
            return (w1_f(x + h, np) - w1_f(x - h, np)) / (2 * h)
        b.case(wl, A, "numpy fd", lambda: lambda: [central(x) for x in pts],
               fdchk, kind=FD, note="central difference")
        b.case(wl, B, "numpy fd", lambda: lambda: central(xs), fdchk, kind=FD,
               note="central difference")
        # forward differences: the truncation / round-off trade-off
        fmax = float(np.max(np.abs(w1_f(xs, np))))
        fine = np.linspace(-5, 5, 20001)
        h2 = 1e-4
        d2max = float(np.max(np.abs(w1_f(fine + h2, np) - 2 * w1_f(fine, np)
                                    + w1_f(fine - h2, np)) / h2 ** 2))
        for gamma in (0.1, 1e-3, 1e-6, 1e-8):
            fwd = lambda: (w1_f(xs + gamma, np) - w1_f(xs, np)) / gamma
            err = float(np.max(np.abs(fwd() - exact)))
            # textbook bound: gamma/2 max|f''| + 2 eps max|f| / gamma (x2 slack)
            bound = 2 * (gamma / 2 * d2max + 2 * np.finfo(float).eps * (fmax + 5) / gamma)
            b.case(wl, f"fd forward γ={gamma:g}", "numpy fd", lambda f=fwd: f,
                   lambda r, bd=bound: (
                       float(np.max(np.abs(to_numpy(r) - exact))) <= bd,
                       f"max err {float(np.max(np.abs(to_numpy(r) - exact))):.2e}"
                       f" (bound {bd:.1e})"),
                   kind=FD, note=f"max err {err:.2e}", extra={"max_err": err})
