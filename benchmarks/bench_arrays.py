"""Array workloads of issue 15: a Gaussian process, ADBench bundle adjustment, an MLP.

    python benchmarks/bench_arrays.py [--quick] [--only gp,ba,ba-vmap,mlp] [--no-jax] [--no-torch]

One core (the process pins itself to CPU 0, or --core N), float64, one process, side by
side.  Each row: the first call (trace + compile, from a fresh function) and the median
of later calls.  Every result is checked against the other tools' to 1e-10 relative.

- gp: negative log marginal likelihood of a Gaussian process, n = 500 points in 3-D, RBF
  kernel with (log) lengthscale, signal variance and noise; Cholesky and two triangular
  solves; the gradient in the 3 hyperparameters.
- ba: ADBench's bundle-adjustment residual (Rodrigues rotation, radial distortion, weighted
  reprojection errors and weight errors) of a small generated instance (3 cameras of 11
  parameters, 15 points, 30 observations): the dense 90 x 108 Jacobian by forward mode.
- ba-vmap: the per-observation residual's 3 x 15 Jacobian, vmap(jacfwd) over 10k observations.
- mlp: 784-512-512-10 tanh MLP, batch 256, gradient of the mean softmax cross-entropy.

Each workload is written once over an array namespace (chainrule.numpy, jax.numpy, or a
small torch shim).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import numpy as np                            # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import chainrule as cr                        # noqa: E402
import chainrule.numpy as cnp                 # noqa: E402
import chainrule.scipy.linalg as csl          # noqa: E402


# ------------------------------------------------------------ harness ---

def _flat(out):
    if isinstance(out, (tuple, list)):
        return np.concatenate([_flat(o) for o in out])
    if hasattr(out, "detach"):
        out = out.detach().numpy()
    return np.ravel(np.asarray(out, dtype=np.float64))


def _sync(out):
    if isinstance(out, (tuple, list)):
        for o in out:
            _sync(o)
    elif hasattr(out, "block_until_ready"):
        out.block_until_ready()
    return out


def timed(make, args, repeat):
    """(result, first call s, median s): `make()` returns a fresh callable."""
    fn = make()
    t = time.perf_counter()
    out = _sync(fn(*args))
    first = time.perf_counter() - t
    for _ in range(2):
        _sync(fn(*args))
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = _sync(fn(*args))
        ts.append(time.perf_counter() - t)
    return _flat(out), first, statistics.median(ts)


# ----------------------------------------------------------------- GP ---

def gp_data(n, rng):
    x = rng.uniform(-3, 3, size=(n, 3))
    y = np.sin(x).sum(axis=1) + 0.1 * rng.standard_normal(n)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    return d2, y, np.array([np.log(1.3), np.log(0.8), np.log(0.05)])


def gp_nlml(xp, solve_tri, d2, y):
    """theta -> 0.5 y^T K^-1 y + log det L + n/2 log(2 pi), K = sf2 exp(-d2 / (2 l^2)) + sn2 I."""
    n = len(y)
    eye = np.eye(n)
    yc = y[:, None]

    def f(theta):
        ell, sf2, sn2 = xp.exp(theta[0]), xp.exp(theta[1]), xp.exp(theta[2])
        k = sf2 * xp.exp(d2 * (-0.5 / (ell * ell))) + sn2 * eye
        lo = xp.linalg.cholesky(k)
        z = solve_tri(lo, yc, lower=True)
        return 0.5 * xp.sum(z * z) + xp.sum(xp.log(xp.diagonal(lo))) + 0.5 * n * np.log(2 * np.pi)
    return f


# ----------------------------------------------------------------- BA ---
# ADBench's camera: rotation (Rodrigues, 3), centre (3), focal length, principal point (2),
# radial distortion (2).

def ba_data(n_cams, n_pts, n_obs, rng):
    cams = np.concatenate([0.3 * rng.standard_normal((n_cams, 3)), rng.standard_normal((n_cams, 3)),
                           rng.uniform(0.8, 1.2, (n_cams, 1)), 0.1 * rng.standard_normal((n_cams, 2)),
                           1e-2 * rng.standard_normal((n_cams, 2))], axis=1)
    pts = rng.standard_normal((n_pts, 3)) + np.array([0.0, 0.0, 8.0])
    obs = np.stack([np.arange(n_obs) % n_cams, rng.integers(0, n_pts, n_obs)], axis=1)
    w = rng.uniform(0.5, 1.0, n_obs)
    feats = rng.standard_normal((n_obs, 2))
    return cams, pts, w, obs, feats


def _cross(xp, a, b):
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return xp.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


def ba_residual_obs(xp, cam, x, w, feat):
    """One observation (or a stack: leading axes): 2 weighted reprojection errors, 1 weight error."""
    rot, c = cam[..., 0:3], cam[..., 3:6]
    p = x - c
    theta = xp.sqrt(xp.sum(rot * rot, axis=-1, keepdims=True))
    k = rot / theta
    cos, sin = xp.cos(theta), xp.sin(theta)
    xc = p * cos + _cross(xp, k, p) * sin + k * (xp.sum(k * p, axis=-1, keepdims=True) * (1 - cos))
    proj = xc[..., 0:2] / xc[..., 2:3]
    rsq = xp.sum(proj * proj, axis=-1, keepdims=True)
    distort = 1 + cam[..., 9:10] * rsq + cam[..., 10:11] * rsq * rsq
    err = (proj * distort * cam[..., 6:7] + cam[..., 7:9] - feat) * w[..., None]
    return xp.concatenate([err, (1 - w * w)[..., None]], axis=-1)


def ba_residual(xp, n_cams, n_pts, obs, feats):
    """Flat parameters (cameras, points, weights) -> the ADBench residual vector
    (2 reprojection errors per observation, then one weight error per observation)."""
    nc, npt = 11 * n_cams, 3 * n_pts

    def f(params):
        cams = xp.reshape(params[:nc], (n_cams, 11))
        pts = xp.reshape(params[nc:nc + npt], (n_pts, 3))
        w = params[nc + npt:]
        r = ba_residual_obs(xp, cams[obs[:, 0]], pts[obs[:, 1]], w, feats)
        return xp.concatenate([xp.reshape(r[:, 0:2], (-1,)), r[:, 2]])
    return f


def ba_obs_jacobian_fn(xp, jacfwd, vmap):
    """(cam, x, w, feat) stacks -> per-observation 3 x 15 Jacobians, vmap(jacfwd)."""
    def one(z, feat):
        return ba_residual_obs(xp, z[0:11], z[11:14], z[14], feat)
    return vmap(jacfwd(one))


# ---------------------------------------------------------------- MLP ---

def mlp_data(rng, batch=256, sizes=(784, 512, 512, 10)):
    params = []
    for m, n in zip(sizes[:-1], sizes[1:]):
        params += [rng.standard_normal((m, n)) / np.sqrt(m), 0.1 * rng.standard_normal(n)]
    x = rng.standard_normal((batch, sizes[0]))
    onehot = np.eye(sizes[-1])[rng.integers(0, sizes[-1], batch)]
    return params, x, onehot


def mlp_loss(xp, x, onehot):
    def f(w1, b1, w2, b2, w3, b3):
        h = xp.tanh(x @ w1 + b1)
        h = xp.tanh(h @ w2 + b2)
        z = h @ w3 + b3
        m = xp.max(z, axis=1, keepdims=True)
        lse = xp.log(xp.sum(xp.exp(z - m), axis=1)) + m[:, 0]
        return xp.mean(lse - xp.sum(onehot * z, axis=1))
    return f


# -------------------------------------------------------------- torch ---

class _TorchNP:
    """The few jax.numpy names the workloads use, over torch."""

    def __init__(self, torch):
        self.t = torch
        self.linalg = torch.linalg

    def exp(self, x):
        return self.t.exp(x)

    def log(self, x):
        return self.t.log(x)

    def sqrt(self, x):
        return self.t.sqrt(x)

    def sin(self, x):
        return self.t.sin(x)

    def cos(self, x):
        return self.t.cos(x)

    def tanh(self, x):
        return self.t.tanh(x)

    def diagonal(self, x):
        return self.t.diagonal(x)

    def sum(self, x, axis=None, keepdims=False):
        return self.t.sum(x) if axis is None else self.t.sum(x, dim=axis, keepdim=keepdims)

    def mean(self, x):
        return self.t.mean(x)

    def max(self, x, axis, keepdims=False):
        return self.t.amax(x, dim=axis, keepdim=keepdims)

    def stack(self, xs, axis=0):
        return self.t.stack(xs, dim=axis)

    def concatenate(self, xs, axis=0):
        return self.t.cat(xs, dim=axis)

    def reshape(self, x, shape):
        return self.t.reshape(x, shape)


# -------------------------------------------------------------- main ---

def _fmt(s):
    return f"{s * 1e3:.3f} ms" if s < 1 else f"{s:.2f} s"


def run(args):
    rng = np.random.default_rng(20261202)
    tools = {}
    if not args.no_jax:
        try:
            import jax
            jax.config.update("jax_enable_x64", True)
            import jax.numpy as jxnp
            import jax.scipy.linalg as jsl
            tools["jax"] = (jax, jxnp, jsl)
        except ImportError:
            print("JAX not installed: skipped", file=sys.stderr)
    if not args.no_torch:
        try:
            import torch
            torch.set_num_threads(1)
            torch.set_default_dtype(torch.float64)
            tools["torch"] = torch
        except ImportError:
            print("torch not installed: skipped", file=sys.stderr)
    rows = []
    only = set(args.only.split(",")) if args.only else None
    rep = 5 if args.quick else args.repeat

    def bench(work, label, make, fargs, note=""):
        res, first, med = timed(make, fargs, rep)
        rows.append([work, label, first, med, res, note])
        print(f"{work:8s} {label:34s} first {_fmt(first):>10s}  median {_fmt(med):>10s}", file=sys.stderr, flush=True)

    if only is None or "gp" in only:
        d2, y, theta = gp_data(100 if args.quick else 500, rng)
        f = gp_nlml(cnp, csl.solve_triangular, d2, y)
        bench("gp", "chainrule jit(grad)", lambda: cr.jit(cr.grad(f)), (theta,))
        bench("gp", "chainrule grad (eager)", lambda: cr.grad(f), (theta,))
        if "jax" in tools:
            jax, jxnp, jsl = tools["jax"]
            fj = gp_nlml(jxnp, jsl.solve_triangular, jxnp.asarray(d2), jxnp.asarray(y))
            bench("gp", "JAX jit(grad)", lambda: jax.jit(jax.grad(fj)), (jxnp.asarray(theta),))
        if "torch" in tools:
            torch = tools["torch"]
            eye = torch.eye(len(y))

            def tgrad(th):
                th = th.detach().requires_grad_(True)
                return torch.autograd.grad(_torch_gp(torch, th, torch.from_numpy(d2), torch.from_numpy(y), eye),
                                           th)[0]
            bench("gp", "PyTorch autograd", lambda: tgrad, (torch.from_numpy(theta),))

    if only is None or "ba" in only:
        n_cams, n_pts, n_obs = 3, 15, 30
        cams, pts, w, obs, feats = ba_data(n_cams, n_pts, n_obs, rng)
        params = np.concatenate([cams.ravel(), pts.ravel(), w])
        f = ba_residual(cnp, n_cams, n_pts, obs, feats)
        bench("ba", "chainrule jit(jacfwd)", lambda: cr.jit(cr.jacfwd(f)), (params,), note=f"{n_obs * 3}x{params.size}")
        bench("ba", "chainrule jacfwd (eager)", lambda: cr.jacfwd(f), (params,))
        if "jax" in tools:
            jax, jxnp, _ = tools["jax"]
            fj = ba_residual(jxnp, n_cams, n_pts, obs, jxnp.asarray(feats))
            bench("ba", "JAX jit(jacfwd)", lambda: jax.jit(jax.jacfwd(fj)), (jxnp.asarray(params),))
        if "torch" in tools:
            torch = tools["torch"]
            ft = ba_residual(_TorchNP(torch), n_cams, n_pts, torch.from_numpy(obs), torch.from_numpy(feats))
            bench("ba", "PyTorch torch.func.jacfwd", lambda: torch.func.jacfwd(ft), (torch.from_numpy(params),))

    if only is None or "ba-vmap" in only:
        n = 1000 if args.quick else 10_000
        cams, pts, w, obs, feats = ba_data(20, 200, n, rng)
        z = np.concatenate([cams[obs[:, 0]], pts[obs[:, 1]], w[:, None]], axis=1)      # (n, 15)
        g = ba_obs_jacobian_fn(cnp, cr.jacfwd, cr.vmap)
        bench("ba-vmap", "chainrule jit(vmap(jacfwd))", lambda: cr.jit(g), (z, feats), note=f"{n} x (3x15)")
        bench("ba-vmap", "chainrule vmap(jacfwd) (eager)", lambda: g, (z, feats))
        if "jax" in tools:
            jax, jxnp, _ = tools["jax"]
            gj = ba_obs_jacobian_fn(jxnp, jax.jacfwd, jax.vmap)
            bench("ba-vmap", "JAX jit(vmap(jacfwd))", lambda: jax.jit(gj), (jxnp.asarray(z), jxnp.asarray(feats)))
        if "torch" in tools:
            torch = tools["torch"]
            gt = ba_obs_jacobian_fn(_TorchNP(torch), torch.func.jacfwd, torch.func.vmap)
            bench("ba-vmap", "PyTorch func.vmap(func.jacfwd)", lambda: gt,
                  (torch.from_numpy(z), torch.from_numpy(feats)))

    if only is None or "mlp" in only:
        params, x, onehot = mlp_data(rng, batch=64 if args.quick else 256)
        f = mlp_loss(cnp, x, onehot)
        argnums = tuple(range(6))
        bench("mlp", "chainrule jit(grad)", lambda: cr.jit(cr.grad(f, argnums)), params)
        bench("mlp", "chainrule grad (eager)", lambda: cr.grad(f, argnums), params)
        if "jax" in tools:
            jax, jxnp, _ = tools["jax"]
            fj = mlp_loss(jxnp, jxnp.asarray(x), jxnp.asarray(onehot))
            bench("mlp", "JAX jit(grad)", lambda: jax.jit(jax.grad(fj, argnums)), [jxnp.asarray(p) for p in params])
        if "torch" in tools:
            torch = tools["torch"]
            ft = mlp_loss(_TorchNP(torch), torch.from_numpy(x), torch.from_numpy(onehot))

            def tgrad(*ps):
                ps = [p.detach().requires_grad_(True) for p in ps]
                return torch.autograd.grad(ft(*ps), ps)
            bench("mlp", "PyTorch autograd", lambda: tgrad, [torch.from_numpy(p) for p in params])
    return rows


def _torch_gp(torch, theta, d2, y, eye):
    ell, sf2, sn2 = torch.exp(theta[0]), torch.exp(theta[1]), torch.exp(theta[2])
    k = sf2 * torch.exp(d2 * (-0.5 / (ell * ell))) + sn2 * eye
    lo = torch.linalg.cholesky(k)
    z = torch.linalg.solve_triangular(lo, y[:, None], upper=False)
    return 0.5 * torch.sum(z * z) + torch.sum(torch.log(torch.diagonal(lo))) + 0.5 * len(y) * np.log(2 * np.pi)


def check(rows, rtol=1e-10):
    """Every tool's result against the first one's, per workload; raises on a mismatch."""
    ref = {}
    for work, label, _, _, res, _ in rows:
        if work not in ref:
            ref[work] = (label, res)
            continue
        rl, rv = ref[work]
        err = np.max(np.abs(res - rv)) / max(np.max(np.abs(rv)), 1e-300)
        if res.shape != rv.shape or not err <= rtol:
            raise AssertionError(f"{work}: {label} differs from {rl} (relative {err:.2e})")


def report(rows):
    lines = ["| workload | tool | first call | median | ratio to JAX jit |", "|---|---|---:|---:|---:|"]
    jax_med = {w: m for w, lab, _, m, _, _ in rows if lab.startswith("JAX")}
    for work, label, first, med, _, note in rows:
        ratio = f"{med / jax_med[work]:.2f}" if work in jax_med else "—"
        lines.append(f"| {work}{' ' + note if note else ''} | {label} | {_fmt(first)} | {_fmt(med)} | {ratio} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--no-jax", action="store_true")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--core", type=int, default=0)
    args = ap.parse_args(argv)
    os.sched_setaffinity(0, {args.core})
    rows = run(args)
    check(rows)
    print(report(rows))
    print("\nall values agree to 1e-10 (relative to the largest entry)")


if __name__ == "__main__":
    main()
