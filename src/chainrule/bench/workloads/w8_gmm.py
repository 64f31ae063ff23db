"""W8, the ADBench GMM objective (parameters as one flat vector) and its gradient, checked
by central differences along random directions; `GMM` is also used by
benchmarks/bench_dask.py."""

from __future__ import annotations

import math

import numpy as np

from ..checks import close_check, to_numpy
from ..rows import HAND


class _TorchOps:
    def __init__(self, torch):
        self.t = torch
        self.exp, self.log = torch.exp, torch.log

    def sum(self, a, axis=None):
        return self.t.sum(a) if axis is None else self.t.sum(a, dim=axis)

    def max(self, a, axis):
        return self.t.amax(a, dim=axis)

    def swapaxes(self, a, i, j):
        return self.t.swapaxes(a, i, j)


class GMM:
    def __init__(self, d, K, n, wishart_gamma=1.0, wishart_m=0, seed=0):
        rng = np.random.default_rng(seed)
        self.d, self.K, self.n = d, K, n
        t = d * (d + 1) // 2
        self.t = t
        self.x = rng.standard_normal((n, d))
        alphas = rng.standard_normal(K)
        means = rng.uniform(0, 1, (K, d))
        icf = rng.uniform(0, 1, (K, t)) * 0.5
        self.p = np.concatenate([alphas, means.ravel(), icf.ravel()])
        # gather map for the strictly lower part of L (ADBench: column-major)
        idx = np.zeros(d * d, dtype=np.int64)
        mask = np.zeros(d * d)
        k = d
        for j in range(d):
            for i in range(j + 1, d):
                idx[i * d + j] = k
                mask[i * d + j] = 1.0
                k += 1
        self.idx, self.mask, self.eye = idx, mask, np.eye(d)
        self.g, self.m = wishart_gamma, wishart_m
        nw = d + wishart_m + 1
        mgl = d * (d - 1) / 4 * math.log(math.pi) + sum(
            math.lgamma(0.5 * nw + (1 - j) / 2) for j in range(1, d + 1))
        C = nw * d * (math.log(wishart_gamma) - 0.5 * math.log(2)) - mgl
        self.const = -n * d * 0.5 * math.log(2 * math.pi) - K * C

    def consts(self, conv=lambda a: a):
        return conv(self.x), conv(self.idx), conv(self.mask), conv(self.eye)

    def objective(self, p, m, consts):
        x, idx, mask, eye = consts
        d, K, n, t = self.d, self.K, self.n, self.t
        alphas = p[:K]
        means = p[K:K + K * d].reshape(K, d)
        icf = p[K + K * d:].reshape(K, t)
        logdiag = icf[:, :d]
        qd = m.exp(logdiag)
        sum_qs = m.sum(logdiag, axis=1)
        L = (icf[:, idx] * mask).reshape(K, d, d) + qd[:, :, None] * eye
        xc = x[None, :, :] - means[:, None, :]                  # K, n, d
        lx = xc @ m.swapaxes(L, 1, 2)                           # K, n, d
        inner = alphas[:, None] + sum_qs[:, None] - 0.5 * m.sum(lx ** 2, axis=2)
        mx = m.max(inner, axis=0)
        lse = mx + m.log(m.sum(m.exp(inner - mx[None, :]), axis=0))
        ma = m.max(alphas, axis=0)
        lse_a = ma + m.log(m.sum(m.exp(alphas - ma)))
        prior = m.sum(0.5 * self.g ** 2 * (m.sum(qd ** 2, axis=1) +
                                           m.sum(icf[:, d:] ** 2, axis=1))
                      - self.m * sum_qs)
        return self.const + m.sum(lse) - n * lse_a + prior


def W8(b):
    wl = "W8"
    if b.quick:
        grid, n = ((2, 5), (10, 5)), 200
    else:
        grid, n = tuple((d, K) for d in (2, 10, 20, 64) for K in (5, 25, 200)), 1000
    J = b.want("jax", wl)
    T = b.want("torch", wl)
    AG = b.want("autograd", wl)
    NP = b.want("numpy", wl)
    cr, cnp = b.cr, b.cnp
    for d, K in grid:
        g = GMM(d, K, n)
        p = g.p
        cn = g.consts()
        s = f"d={d} K={K}"
        O, JO, G, JG = f"{s} objective", f"{s} objective jit", f"{s} grad", f"{s} grad jit"
        fval = float(g.objective(p, np, cn))
        ochk = close_check(fval, rtol=1e-10)
        # gradient check: central differences along 3 random directions, then
        # agreement (1e-8) with the first tool that passes them
        rng = np.random.default_rng(1)
        dirs = [rng.standard_normal(p.size) for _ in range(3)]
        h = 1e-5
        fd = [(g.objective(p + h * v, np, cn) - g.objective(p - h * v, np, cn)) / (2 * h)
              for v in dirs]
        ref = []

        def gchk(r, dirs=dirs, fd=fd, ref=ref):
            r = to_numpy(r).ravel()
            if r.shape != p.shape:
                return False, f"shape {r.shape} != {p.shape}"
            dd = [float(r @ v) for v in dirs]
            derr = max(abs(a - e) / (abs(e) + 1e-3 * abs(fval) + 1) for a, e in zip(dd, fd))
            if derr > 1e-6:
                return False, f"directional derivative rel err {derr:.1e}"
            if not ref:
                ref.append(r)
                return True, f"FD directions rel err {derr:.1e}"
            err = float(np.max(np.abs(r - ref[0])) / np.max(np.abs(ref[0])))
            return err < 1e-8, f"vs first tool rel err {err:.1e}"

        fo = lambda q: g.objective(q, cnp, cn)       # noqa: E731
        b.case(wl, O, "chainrule", lambda: lambda: fo(p), ochk)
        b.case(wl, JO, "chainrule", lambda: (lambda f: lambda: f(p))(
            cr.jit(lambda q: g.objective(q, cnp, cn))), ochk, jit=True)
        b.case(wl, G, "chainrule", lambda: (lambda gr: lambda: gr(p))(
            cr.grad(fo)), gchk)
        b.case(wl, JG, "chainrule", lambda: (lambda gr: lambda: gr(p))(
            cr.jit(cr.grad(lambda q: g.objective(q, cnp, cn)))), gchk, jit=True)
        if J:
            jax, jnp = J.jax, J.jnp
            cj = g.consts(jnp.asarray)
            pj = jnp.asarray(p)
            fj = lambda q: g.objective(q, jnp, cj)    # noqa: E731
            b.case(wl, O, "jax", lambda: lambda: fj(pj).block_until_ready(), ochk)
            b.case(wl, JO, "jax", lambda: (lambda f: lambda: f(pj).block_until_ready())(
                jax.jit(lambda q: g.objective(q, jnp, cj))), ochk, jit=True)
            b.case(wl, G, "jax", lambda: (lambda gr: lambda: gr(pj).block_until_ready())(
                jax.grad(fj)), gchk)
            b.case(wl, JG, "jax", lambda: (lambda gr: lambda: gr(pj).block_until_ready())(
                jax.jit(jax.grad(lambda q: g.objective(q, jnp, cj)))), gchk, jit=True)
        if T:
            torch = T.torch
            ops = _TorchOps(torch)
            ct = g.consts(torch.as_tensor)
            pt = torch.tensor(p)
            b.case(wl, O, "torch", lambda: lambda: g.objective(pt, ops, ct), ochk)

            def tg():
                q = pt.detach().requires_grad_(True)
                return torch.autograd.grad(g.objective(q, ops, ct), q)[0]
            b.case(wl, G, "torch", lambda: tg, gchk)
        if AG:
            b.case(wl, O, "autograd", lambda: lambda: g.objective(p, AG.anp, cn), ochk)
            b.case(wl, G, "autograd", lambda: (lambda gr: lambda: gr(p))(
                AG.ag.grad(lambda q: g.objective(q, AG.anp, cn))), gchk)
        if NP is not None:
            b.case(wl, O, "numpy", lambda: lambda: g.objective(p, np, cn), ochk,
                   kind=HAND, note="the floor")
    by = {(r.case, r.tool): r for r in b.rows if r.workload == wl}
    for (case, tool), r in by.items():
        for gsuf, osuf in ((" grad", " objective"), (" grad jit", " objective jit")):
            if case.endswith(gsuf):
                o = by.get((case[: -len(gsuf)] + osuf, tool))
                if r.median_us and o and o.median_us:
                    r.extra["grad_over_objective"] = r.median_us / o.median_us
