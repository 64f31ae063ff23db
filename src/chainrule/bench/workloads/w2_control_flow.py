"""W2, control flow: the gradient of a function with a Python `if` on the traced value,
at 100 points (loop, vmap, jit)."""

from __future__ import annotations

import numpy as np

from ..checks import close_check
from ..rows import FD


def w2_f(x, m=None):
    if x < 0:
        for i in range(3):
            x = x * 1.5 + 0.1 * i
        return x ** 2
    return sum(x ** i + i for i in range(3))


def w2_df(xs):
    x3 = 1.5 * (1.5 * (1.5 * xs) + 0.1) + 0.2
    return np.where(xs < 0, 2 * x3 * 1.5 ** 3, 1 + 2 * xs)


def W2(b):
    wl = "W2"
    xs = np.linspace(-5, 5, 100)
    pts = [float(x) for x in xs]
    chk = close_check(w2_df(xs), rtol=1e-10, atol=1e-12)
    A, B, C1, C2 = "loop grad", "vmap grad", "jit loop grad", "jit vmap grad"

    cr = b.cr
    b.case(wl, A, "chainrule", lambda: (lambda g: lambda: [g(x) for x in pts])(
        cr.grad(w2_f)), chk)
    b.case(wl, B, "chainrule", lambda: (lambda g: lambda: g(xs))(
        cr.vmap(cr.grad(w2_f))), chk)
    b.case(wl, C1, "chainrule", lambda: (lambda g: lambda: [g(x) for x in pts])(
        cr.jit(cr.grad(lambda x: w2_f(x)))), chk, jit=True)
    b.case(wl, C2, "chainrule", lambda: (lambda g: lambda: g(xs))(
        cr.jit(cr.vmap(cr.grad(lambda x: w2_f(x))))), chk, jit=True)

    J = b.want("jax", wl)
    if J:
        jax = J.jax
        g = jax.grad(w2_f)
        b.case(wl, A, "jax", lambda: lambda: [float(g(x)) for x in pts], chk)
        b.case(wl, B, "jax", lambda: (lambda gv: lambda: gv(xs).block_until_ready())(
            jax.vmap(jax.grad(w2_f))), chk)
        b.case(wl, C1, "jax", lambda: (lambda gj: lambda: [float(gj(x)) for x in pts])(
            jax.jit(jax.grad(lambda x: w2_f(x)))), chk, jit=True)
        b.case(wl, C2, "jax", lambda: (lambda gj: lambda: gj(xs).block_until_ready())(
            jax.jit(jax.vmap(jax.grad(lambda x: w2_f(x))))), chk, jit=True)

    T = b.want("torch", wl)
    if T:
        torch = T.torch

        def loop():
            out = []
            for x in pts:
                t = torch.tensor(x, requires_grad=True)
                out.append(torch.autograd.grad(w2_f(t), t)[0].item())
            return out
        b.case(wl, A, "torch", lambda: loop, chk)
        tx = torch.tensor(xs)

        def batched():
            t = tx.clone().requires_grad_(True)
            return torch.autograd.grad(w2_f(t).sum(), t)[0]
        b.case(wl, B, "torch", lambda: batched, chk, note="grad of sum")
        if T.func:
            gf = T.func.grad(w2_f)
            b.case(wl, A, "torch.func",
                   lambda: lambda: [gf(torch.tensor(x)).item() for x in pts], chk)
            b.case(wl, B, "torch.func", lambda: (lambda gv: lambda: gv(tx))(
                T.func.vmap(T.func.grad(w2_f))), chk)

    AG = b.want("autograd", wl)
    if AG:
        g = AG.ag.grad(w2_f)
        b.case(wl, A, "autograd", lambda: lambda: [g(x) for x in pts], chk)
        ge = AG.ag.elementwise_grad(w2_f)
        b.case(wl, B, "autograd", lambda: lambda: ge(xs), chk,
               note="elementwise_grad (autograd has no vmap)")

    if b.want("numpy", wl) is not None:
        def central(x):
            h = np.cbrt(np.finfo(float).eps) * np.maximum(1.0, np.abs(x))
            return (w2_f(x + h) - w2_f(x - h)) / (2 * h)
        b.case(wl, A, "numpy fd", lambda: lambda: [central(x) for x in pts],
               close_check(w2_df(xs), rtol=1e-6, atol=1e-6), kind=FD,
               note="central difference")
