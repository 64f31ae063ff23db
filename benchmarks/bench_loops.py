"""Loop workloads (W9, W10, W11 of WORKLOADS.md): chainrule's loop primitives against JAX's lax loops and PyTorch.

    python benchmarks/bench_loops.py [--quick] [--only NAME] [--no-jax] [--no-torch] [--python-for] [--torch-compile]

One core (the process pins itself to CPU 0), float64, one process, side by side.
Each row: the first call (trace + compile, counted from a fresh function) and the
median of later calls; chainrule's steady state is timed after its background
numba builds of loop kernels have finished.  Every result is checked against the
other tools' (and, for short loops, chainrule's eager gradient) to 1e-10 relative.

Each workload is written once, parameterised by the array module (chainrule.numpy,
jax.numpy, NumPy, or a small torch shim) and by the loop construct: a fori-style
`loop(lo, hi, body, init)` (W9, W11) or a scan-style `scan(f, init, xs)` (W10).
chainrule runs cr.fori_loop / cr.scan (and, with --python-for, the plain Python
loop under cr.jit); JAX runs lax.fori_loop / lax.scan; torch runs eager autograd
over the plain Python loop (float64, torch.set_num_threads(1)).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
os.sched_setaffinity(0, {0})

import chainrule as cr                       # noqa: E402
import chainrule.numpy as cnp                # noqa: E402
from chainrule.compile import loop_kernel              # noqa: E402
from chainrule.compile.loop_kernel import wait_native   # noqa: E402


def _leaves(out):
    if isinstance(out, (tuple, list)):
        return [leaf for o in out for leaf in _leaves(o)]
    return [out]


def _flat(out):
    """One float64 vector of all gradient leaves (so tuples of parameters compare too)."""
    return np.concatenate([np.ravel(np.asarray(leaf, dtype=np.float64)) for leaf in _leaves(out)])


def _sync(out):
    for leaf in _leaves(out):
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
    return out


def timed(fn, arg, repeat):
    wait_native()               # builds an earlier workload started while it was timed
    t = time.perf_counter()
    out = _sync(fn(arg))
    first = time.perf_counter() - t
    wait_native()
    for k in range(8):          # at least 3 calls, then until a call starts no other background build
        _sync(fn(arg))
        if not wait_native() and k >= 2:
            break
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = _sync(fn(arg))
        ts.append(time.perf_counter() - t)
    return _flat(out), first, statistics.median(ts)


# ---------------------------------------------------------------- W9 ---

def rk4_step(rhs, h):
    """One classical Runge-Kutta step of y' = rhs(y, p)."""
    def step(y, p):
        k1 = rhs(y, p)
        k2 = rhs(y + 0.5 * h * k1, p)
        k3 = rhs(y + 0.5 * h * k2, p)
        k4 = rhs(y + h * k3, p)
        return y + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
    return step


def lorenz(np_, loop, steps, h=1e-3):
    def rhs(y, p):
        return np_.stack([p[0] * (y[1] - y[0]), y[0] * (p[1] - y[2]) - y[1], y[0] * y[1] - p[2] * y[2]])
    rk4 = rk4_step(rhs, h)

    def loss(p):
        y = loop(0, steps, lambda i, y: rk4(y, p), np_.ones(3))
        return np_.sum(y ** 2)
    return loss, np.array([10.0, 28.0, 8 / 3])


def lotka_volterra(np_, loop, steps, n=20, h=1e-3):
    rng = np.random.default_rng(0)
    a = -np.abs(rng.uniform(0.0, 0.5, (n, n))) / n - np.eye(n)
    y0 = rng.uniform(0.5, 1.5, n)

    def loss(r):
        am = np_.asarray(a)
        rk4 = rk4_step(lambda y, r: y * (r + am @ y), h)
        y = loop(0, steps, lambda i, y: rk4(y, r), np_.asarray(y0))
        return np_.sum(y ** 2)
    return loss, rng.uniform(0.5, 1.0, n)


# ---------------------------------------------------------------- W10 ---

def lstm(np_, scan, c, b, layers=2):
    """ADBench's LSTM objective: `layers` stacked LSTM cells (hidden size b) over c characters.

    Parameters: main (2 layers, 4 b) -- per layer a row of gate weights and a row of
    gate biases, gates (forget, input, output, change) b each; extra (3, b) -- input
    weight, output weight, output bias.  Cell: forget = s(x wf + bf), in = s(h wi + bi),
    out = s(x wo + bo), change = tanh(h wc + bc), cell' = cell forget + in change,
    h' = out tanh(cell').  The prediction y = h_top wout + bout is normalised as
    y - log(sum exp y + 2) (ADBench's log-sum-exp with its +2) and the loss is
    -sum_t sum(next char * normalised y) / ((c - 1) b).  Gradient w.r.t. (main, extra).
    """
    rng = np.random.default_rng(0)
    main = rng.uniform(-1.0, 1.0, (2 * layers, 4 * b))
    extra = rng.uniform(-1.0, 1.0, (3, b))
    state0 = rng.uniform(-1.0, 1.0, (2 * layers, b))
    seq = np.eye(b)[rng.integers(0, b, c)]              # one-hot characters, (c, b)

    def sigmoid(z):
        return 1 / (1 + np_.exp(-z))

    def loss(params):
        w, wx = params

        def step(carry, xy):
            state, total = carry
            x, ygold = xy
            inp, new = x * wx[0], []
            for k in range(layers):
                wk, bk = w[2 * k], w[2 * k + 1]
                hid, cell = state[2 * k], state[2 * k + 1]
                forget = sigmoid(inp * wk[:b] + bk[:b])
                ingate = sigmoid(hid * wk[b:2 * b] + bk[b:2 * b])
                outgate = sigmoid(inp * wk[2 * b:3 * b] + bk[2 * b:3 * b])
                change = np_.tanh(hid * wk[3 * b:] + bk[3 * b:])
                cell = cell * forget + ingate * change
                hid = outgate * np_.tanh(cell)
                new += [hid, cell]
                inp = hid
            ypred = inp * wx[1] + wx[2]
            ynorm = ypred - np_.log(np_.sum(np_.exp(ypred)) + 2)
            return (tuple(new), total + np_.sum(ygold * ynorm)), None

        s = np_.asarray(state0)
        init = (tuple(s[k] for k in range(2 * layers)), np_.zeros(()))
        xs = np_.asarray(seq)
        (_, total), _ = scan(step, init, (xs[:-1], xs[1:]))
        return -total / ((c - 1) * b)
    return loss, (main, extra)


# ---------------------------------------------------------------- W11 ---

def heat(np_, loop, steps, form, n=2000, k=0.2):
    x = np.linspace(0, 1, n)
    target = np.sin(np.pi * x) * 0.5

    def step(u):
        lap = u[2:] - 2 * u[1:-1] + u[:-2]
        if form == "concatenate":
            return u + np_.concatenate([np_.zeros(1), k * lap, np_.zeros(1)])
        return u + np_.pad(k * lap, 1)

    def loss(u0):
        u = loop(0, steps, lambda i, u: step(u), u0)
        return np_.sum((u - np_.asarray(target)) ** 2)
    return loss, np.exp(-((x - 0.5) ** 2) / 0.01)


# ---------------------------------------------------------- loops, torch ---

def python_for(lo, hi, body, init):
    val = init
    for i in range(lo, hi):
        val = body(i, val)
    return val


def python_scan(f, init, xs):
    """scan without stacked ys (the workloads here return None as y)."""
    carry = init
    for i in range(len(xs[0])):
        carry, _ = f(carry, tuple(x[i] for x in xs))
    return carry, None


class TorchNumpy:
    """The few NumPy names the workloads use, on torch float64 tensors."""

    def __init__(self, torch):
        self.t = torch
        f64 = torch.float64
        self.asarray = lambda x: torch.as_tensor(x, dtype=f64)
        self.ones = lambda n: torch.ones(n, dtype=f64)
        self.zeros = lambda n: torch.zeros(n, dtype=f64)
        self.stack, self.concatenate = torch.stack, torch.cat
        self.sum, self.exp, self.log, self.tanh = torch.sum, torch.exp, torch.log, torch.tanh
        self.pad = lambda x, n: torch.nn.functional.pad(x, (n, n))


def torch_grad(torch, loss):
    """x (array or tuple of arrays) -> gradient by eager autograd, as NumPy."""
    def g(x):
        leaves = x if isinstance(x, tuple) else (x,)
        ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in leaves]
        grads = torch.autograd.grad(loss(tuple(ts) if isinstance(x, tuple) else ts[0]), ts)
        return tuple(gr.numpy() for gr in grads)
    return g


def import_torch():
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # idle OpenMP workers otherwise spin
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    ap.add_argument("--no-jax", action="store_true")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--only", default="", help="run the workloads whose name contains this text")
    ap.add_argument("--python-for", action="store_true",
                    help="also the plain Python for loop under chainrule.jit (unrolled: slow to compile)")
    ap.add_argument("--torch-compile", action="store_true",
                    help="also torch.compile of the torch loss, autograd outside (dynamo unrolls the loop: "
                         "a 50-step heat loop took 100 s to compile here, a 101-step LSTM over 9 min)")
    args = ap.parse_args(argv)
    # name: (maker(np_, loop, n), loop kind, n = steps or characters)
    workloads = {
        "W9 Lorenz RK4": (lorenz, "fori", 2000),
        "W9 Lotka-Volterra 20 RK4": (lotka_volterra, "fori", 2000),
        "W10 LSTM l=2 b=14": (lambda np_, loop, n: lstm(np_, loop, n, 14), "scan", 1024),
        "W10 LSTM l=2 b=128": (lambda np_, loop, n: lstm(np_, loop, n, 128), "scan", 1024),
        "W11 heat concatenate": (lambda np_, loop, n: heat(np_, loop, n, "concatenate"), "fori", 500),
        "W11 heat pad": (lambda np_, loop, n: heat(np_, loop, n, "pad"), "fori", 500),
    }
    workloads = {k: w for k, w in workloads.items() if args.only.lower() in k.lower()}
    if args.quick:
        workloads = {k: (m, kind, n // 10) for k, (m, kind, n) in workloads.items()}
    repeat = 3 if args.quick else 9
    notes = []
    if args.quick:
        # each numba build of a loop kernel costs ~40 s of CPU: --quick times chainrule's
        # Python loop kernels instead (the full run waits for the native builds)
        loop_kernel.NATIVE_AFTER = float("inf")
        notes.append("--quick: chainrule's background numba builds of loop kernels are off "
                     "(its steady state here is the Python loop kernel); the full run times the native builds")
    jax = None
    if not args.no_jax:
        try:
            import jax
            import jax.numpy as jnp
            jax.config.update("jax_enable_x64", True)
        except ImportError:
            notes.append("JAX: skipped (not installed)")
    torch = None if args.no_torch else import_torch()
    if torch is None and not args.no_torch:
        notes.append("PyTorch: skipped (not installed)")
    if torch is not None:
        tnp = TorchNumpy(torch)
        notes.append(f"PyTorch {torch.__version__}: eager autograd over the Python loop, float64, "
                     "1 thread" + ("" if args.torch_compile else "; torch.compile skipped (it unrolls the loop: "
                                   "100 s first call for 50 heat steps here; --torch-compile to run it)"))
    loops = {"fori": (cr.fori_loop, python_for), "scan": (cr.scan, python_scan)}
    print("| workload | steps | tool | first call | median | ratio to JAX jit |")
    print("|---|---:|---|---:|---:|---:|")
    for name, (make, kind, n) in workloads.items():
        steps = n - 1 if kind == "scan" else n
        cr_loop, py_loop = loops[kind]
        rows = []                                   # (tool, first, median)
        loss, x = make(cnp, cr_loop, n)
        got, first, med = timed(cr.jit(cr.grad(loss)), x, repeat)
        rows.append((f"chainrule jit(grad) ({'cr.scan' if kind == 'scan' else 'cr.fori_loop'})", first, med))
        if steps <= 500:
            want = _flat(cr.grad(make(np, py_loop, n)[0])(x))
            np.testing.assert_allclose(got, want, rtol=1e-10)
        if args.python_for:
            ploss, _ = make(cnp, py_loop, n)
            pgot, pfirst, pmed = timed(cr.jit(cr.grad(ploss)), x, repeat)
            np.testing.assert_allclose(pgot, got, rtol=1e-10)
            rows.append(("chainrule jit(grad), plain Python for", pfirst, pmed))
        jmed = None
        if jax is not None:
            jloss, _ = make(jnp, jax.lax.scan if kind == "scan" else jax.lax.fori_loop, n)
            jgot, jfirst, jmed = timed(jax.jit(jax.grad(jloss)), x, repeat)
            np.testing.assert_allclose(got, jgot, rtol=1e-10)
            rows.append((f"JAX jit(grad) ({'lax.scan' if kind == 'scan' else 'lax.fori_loop'})", jfirst, jmed))
        if torch is not None:
            tloss, _ = make(tnp, py_loop, n)
            tgot, tfirst, tmed = timed(torch_grad(torch, tloss), x, repeat)
            np.testing.assert_allclose(tgot, got, rtol=1e-10)
            rows.append(("PyTorch eager autograd, Python for", tfirst, tmed))
            if args.torch_compile:
                cgot, cfirst, cmed = timed(torch_grad(torch, torch.compile(tloss)), x, repeat)
                np.testing.assert_allclose(cgot, got, rtol=1e-10)
                rows.append(("PyTorch autograd of torch.compile(loss)", cfirst, cmed))
        for tool, first, med in rows:
            ratio = f"{med / jmed:.3f}" if jmed else ""
            print(f"| {name} | {steps} | {tool} | {first:.2f} s | {med * 1e3:.3f} ms | {ratio} |", flush=True)
    for note in notes:
        print(f"\n{note}")


if __name__ == "__main__":
    main()
