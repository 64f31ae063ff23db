"""Generate `docs/supported.md`: chainrule's status for every public function of JAX's namespaces.

The names come from `tools/jax_names.txt` (written once from an installed JAX with
`python tools/supported_functions.py --names`); the table is regenerated without JAX by
`python tools/supported_functions.py`. Each status is found by trying the function: whether
`chainrule.<namespace>.<name>` exists, and on a small sample input whether grad, jacfwd,
jacrev, vmap and jit work and the derivatives match central finite differences.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import signal
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
NAMES = ROOT / "tools" / "jax_names.txt"
TABLE = ROOT / "docs" / "supported.md"

# namespace in jax_names.txt -> (JAX module, chainrule module)
NAMESPACES = {
    "numpy": ("jax.numpy", "chainrule.numpy"),
    "numpy.linalg": ("jax.numpy.linalg", "chainrule.numpy.linalg"),
    "numpy.fft": ("jax.numpy.fft", "chainrule.numpy.fft"),
    "scipy.special": ("jax.scipy.special", "chainrule.scipy.special"),
    "scipy.linalg": ("jax.scipy.linalg", "chainrule.scipy.linalg"),
    "scipy.stats": ("jax.scipy.stats", "chainrule.scipy.stats"),
    "nn": ("jax.nn", "chainrule.nn"),
}
MODES = ("grad", "jacfwd", "jacrev", "vmap", "jit")
DIFFERENTIABLE, NONDIFF, UTILITY, VALUE_ONLY, FAILS, MISSING = (
    "differentiable", "non-differentiable output", "utility", "value only", "call fails", "missing")
RTOL = 1e-5
TIME_LIMIT = 20                     # seconds per function


# ------------------------------------------------------------------ names ---
def _public(mod):
    """Public callables of a module that are not classes or modules."""
    return sorted(n for n in dir(mod) if not n.startswith("_") and callable(getattr(mod, n))
                  and not inspect.ismodule(getattr(mod, n)) and not isinstance(getattr(mod, n), type))


def write_names(path=NAMES):
    """Write `namespace name` lines for JAX's public functions (needs JAX installed)."""
    import jax
    lines = [f"# public functions of JAX {jax.__version__}; written by tools/supported_functions.py --names"]
    for ns, (jax_mod, _) in NAMESPACES.items():
        mod = importlib.import_module(jax_mod)
        if ns == "scipy.stats":
            for dist in sorted(n for n in dir(mod) if inspect.ismodule(getattr(mod, n)) and not n.startswith("_")):
                lines += [f"scipy.stats.{dist} {n}" for n in _public(getattr(mod, dist))]
        lines += [f"{ns} {n}" for n in _public(mod)]
    path.write_text("\n".join(lines) + "\n")


def read_names(path=NAMES):
    """[(namespace, name)] from the checked-in name list, and its header line."""
    text = path.read_text().splitlines()
    rows = [tuple(line.split()) for line in text if line.strip() and not line.startswith("#")]
    return rows, text[0].lstrip("# ")


def resolve(ns, name):
    """The chainrule object for `jax.<ns>.<name>`, or None when chainrule has none."""
    mod_ns, _, dist = ns.partition(".stats.") if ".stats." in ns else (ns, "", "")
    mod_ns = "scipy.stats" if dist else mod_ns
    obj = importlib.import_module(NAMESPACES[mod_ns][1])
    for part in ([dist] if dist else []) + [name]:
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj if callable(obj) and not isinstance(obj, type) else None


# --------------------------------------------------------- sample inputs ---
V = np.array([0.35, 0.6, 0.8])
W = np.array([0.55, 0.25, 0.45])
U = np.array([0.4, 0.7, 0.2])
M = np.array([[2.0, 0.5, 0.3], [0.5, 1.5, 0.2], [0.3, 0.2, 1.2]])      # symmetric positive definite
A = np.array([[1.2, 0.4, -0.3], [0.1, 0.9, 0.5], [-0.2, 0.3, 1.4]])    # nonsymmetric, well conditioned
B3 = np.array([0.3, -0.7, 1.1])
K = np.array([1.0, 2.0, 3.0])                                           # integer-valued counts
I1, I2 = np.array([3, 5, 12]), np.array([2, 4, 9])


def _sym(x):
    return (x + x.T) / 2


def _csl():
    return importlib.import_module("chainrule.scipy.linalg")


def _lin(f, x):
    return f(x[:, :3], x[:, 3])


# name -> (call(f, x), x): x is the array differentiated; call builds the arguments from it
SAMPLES = {
    # jax.numpy: arguments other than one array of shape (3,)
    "numpy.arccosh": (lambda f, x: f(x), V + 1.0), "numpy.acosh": (lambda f, x: f(x), V + 1.0),
    "numpy.reshape": (lambda f, x: f(x, (3, 1)), V), "numpy.resize": (lambda f, x: f(x, (2, 3)), V),
    "numpy.swapaxes": (lambda f, x: f(x, 0, 1), A), "numpy.moveaxis": (lambda f, x: f(x, 0, 1), A),
    "numpy.rollaxis": (lambda f, x: f(x, 1), A), "numpy.permute_dims": (lambda f, x: f(x, (1, 0)), A),
    "numpy.transpose": (lambda f, x: f(x), A), "numpy.matrix_transpose": (lambda f, x: f(x), A),
    "numpy.expand_dims": (lambda f, x: f(x, 0), V), "numpy.squeeze": (lambda f, x: f(x[None]), V),
    "numpy.broadcast_to": (lambda f, x: f(x, (2, 3)), V), "numpy.tile": (lambda f, x: f(x, 2), V),
    "numpy.repeat": (lambda f, x: f(x, 2), V), "numpy.roll": (lambda f, x: f(x, 1), V),
    "numpy.take": (lambda f, x: f(x, np.array([2, 0])), V),
    "numpy.take_along_axis": (lambda f, x: f(x, np.array([2, 0, 0]), axis=0), V),
    "numpy.split": (lambda f, x: f(x, 3), V), "numpy.array_split": (lambda f, x: f(x, 2), V),
    "numpy.hsplit": (lambda f, x: f(x, 3), V), "numpy.vsplit": (lambda f, x: f(x, 3), A),
    "numpy.dsplit": (lambda f, x: f(x.reshape(1, 1, 3), 3), V),
    "numpy.unstack": (lambda f, x: f(x), A),
    "numpy.concatenate": (lambda f, x: f([x, x * 2]), V), "numpy.concat": (lambda f, x: f([x, x * 2]), V),
    "numpy.stack": (lambda f, x: f([x, x * 2]), V), "numpy.hstack": (lambda f, x: f([x, x * 2]), V),
    "numpy.vstack": (lambda f, x: f([x, x * 2]), V), "numpy.dstack": (lambda f, x: f([x, x * 2]), V),
    "numpy.column_stack": (lambda f, x: f([x, x * 2]), V), "numpy.block": (lambda f, x: f([x, x * 2]), V),
    "numpy.append": (lambda f, x: f(x, x[:2] * 2), V),
    "numpy.insert": (lambda f, x: f(x, 1, x[0] * 2), V), "numpy.delete": (lambda f, x: f(x, 1), V),
    "numpy.pad": (lambda f, x: f(x, 1), V), "numpy.where": (lambda f, x: f(x > 0.5, x, x * 2), V),
    "numpy.select": (lambda f, x: f([x > 0.5], [x ** 2], x), V),
    "numpy.piecewise": (lambda f, x: f(x, [x > 0.5], [lambda v: v ** 2, lambda v: v]), V),
    "numpy.choose": (lambda f, x: f(np.array([0, 1, 0]), [x, x * 2]), V),
    "numpy.compress": (lambda f, x: f(np.array([True, False, True]), x), V),
    "numpy.extract": (lambda f, x: f(np.array([True, False, True]), x), V),
    "numpy.clip": (lambda f, x: f(x, 0.4, 0.7), V), "numpy.astype": (lambda f, x: f(x, np.float64), V),
    "numpy.diagonal": (lambda f, x: f(x), A), "numpy.trace": (lambda f, x: f(x), A),
    "numpy.triu": (lambda f, x: f(x), A), "numpy.tril": (lambda f, x: f(x), A),
    "numpy.fliplr": (lambda f, x: f(x), A), "numpy.flipud": (lambda f, x: f(x), A),
    "numpy.rot90": (lambda f, x: f(x), A), "numpy.fill_diagonal": (lambda f, x: f(x, 0.5, inplace=False), A),
    "numpy.matmul": (lambda f, x: f(x, x.T), A), "numpy.dot": (lambda f, x: f(x, x.T), A),
    "numpy.matvec": (lambda f, x: f(x, x[0]), A), "numpy.vecmat": (lambda f, x: f(x[0], x), A),
    "numpy.tensordot": (lambda f, x: f(x, x.T, axes=1), A), "numpy.kron": (lambda f, x: f(x, x[::-1]), V),
    "numpy.einsum": (lambda f, x: f("ij,jk->ik", x, x), A),
    "numpy.cross": (lambda f, x: f(x[0], x[1]), np.stack([V, W])),
    "numpy.interp": (lambda f, x: f(x, np.array([0.0, 0.5, 1.0]), np.array([1.0, 3.0, 2.0])), V),
    "numpy.searchsorted": (lambda f, x: f(np.sort(x), 0.5), V),
    "numpy.digitize": (lambda f, x: f(x, np.array([0.5])), V),
    "numpy.histogram": (lambda f, x: f(x, 2), V), "numpy.histogram_bin_edges": (lambda f, x: f(x, 2), V),
    "numpy.histogram2d": (lambda f, x: f(x, x, 2), V),
    "numpy.histogramdd": (lambda f, x: f(np.stack([x, x], 1), 2), V),
    "numpy.bincount": (lambda f, x: f(x), I1), "numpy.isin": (lambda f, x: f(x, x[:1]), V),
    "numpy.polyval": (lambda f, x: f(x, 0.5), V), "numpy.polyfit": (lambda f, x: f(np.arange(3.0), x, 1), V),
    "numpy.polyadd": (lambda f, x: f(x, x[:2]), V), "numpy.polysub": (lambda f, x: f(x, x[:2]), V),
    "numpy.polymul": (lambda f, x: f(x, x[:2]), V), "numpy.polydiv": (lambda f, x: f(x, x[:2]), V),
    "numpy.quantile": (lambda f, x: f(x, 0.3), V), "numpy.percentile": (lambda f, x: f(x, 30.0), V),
    "numpy.nanquantile": (lambda f, x: f(x, 0.3), V), "numpy.nanpercentile": (lambda f, x: f(x, 30.0), V),
    "numpy.apply_along_axis": (lambda f, x: f(lambda v: v * v.sum(), 0, x), A),
    "numpy.apply_over_axes": (lambda f, x: f(lambda v, a: v.sum(a, keepdims=True), x, [0]), A),
    "numpy.vectorize": (lambda f, x: f(lambda v: v * v)(x), V),
    "numpy.put": (lambda f, x: f(x, np.array([0]), x[1] * 2, inplace=False), V),
    "numpy.put_along_axis": (lambda f, x: f(x, np.array([0]), x[1:2] * 2, axis=0, inplace=False), V),
    "numpy.place": (lambda f, x: f(x, x > 0.5, x[:1] * 2, inplace=False), V),
    "numpy.ldexp": (lambda f, x: f(x, np.array([1, 2, 3])), V),
    "numpy.array_equal": (lambda f, x: f(x, x), V), "numpy.array_equiv": (lambda f, x: f(x, x), V),
    "numpy.allclose": (lambda f, x: f(x, x), V), "numpy.isclose": (lambda f, x: f(x, x), V),
    "numpy.diff": (lambda f, x: f(x), V), "numpy.gradient": (lambda f, x: f(x), V),
    "numpy.trapezoid": (lambda f, x: f(x), V), "numpy.ediff1d": (lambda f, x: f(x), V),
    "numpy.convolve": (lambda f, x: f(x, x[:2]), V), "numpy.correlate": (lambda f, x: f(x, x[:2]), V),
    "numpy.trim_zeros": (lambda f, x: f(x), V), "numpy.partition": (lambda f, x: f(x, 1), V),
    "numpy.argpartition": (lambda f, x: f(x, 1), V),
    "numpy.unravel_index": (lambda f, x: f(x, (2, 6)), I1),
    "numpy.ravel_multi_index": (lambda f, x: f((x, x), (13, 13)), I1),
    # jax.numpy.linalg / jax.scipy.linalg: systems and symmetric matrices
    "numpy.linalg.solve": (_lin, np.column_stack([A, B3])),
    "numpy.linalg.lstsq": (_lin, np.column_stack([A, B3])),
    "numpy.linalg.tensorsolve": (_lin, np.column_stack([A, B3])),
    "numpy.linalg.eigh": (lambda f, x: f(_sym(x)), M), "numpy.linalg.eigvalsh": (lambda f, x: f(_sym(x)), M),
    "numpy.linalg.cholesky": (lambda f, x: f(_sym(x)), M),
    "numpy.linalg.matrix_power": (lambda f, x: f(x, 3), A), "numpy.linalg.multi_dot": (lambda f, x: f([x, x.T, x]), A),
    "numpy.linalg.tensorinv": (lambda f, x: f(x, ind=1), A),
    "numpy.linalg.cross": (lambda f, x: f(x[0], x[1]), A), "numpy.linalg.outer": (lambda f, x: f(x[0], x[1]), A),
    "numpy.linalg.vecdot": (lambda f, x: f(x[0], x[1]), A),
    "numpy.linalg.matmul": (lambda f, x: f(x, x.T), A), "numpy.linalg.tensordot": (lambda f, x: f(x, x.T, axes=1), A),
    "scipy.linalg.solve": (_lin, np.column_stack([A, B3])),
    "scipy.linalg.solve_triangular": (lambda f, x: f(np.triu(x[:, :3]) + 2 * np.eye(3), x[:, 3]),
                                      np.column_stack([A, B3])),
    "scipy.linalg.lu_solve": (lambda f, x: f(_csl().lu_factor(x[:, :3]), x[:, 3]),
                              np.column_stack([A, B3])),
    "scipy.linalg.cho_solve": (lambda f, x: f(_csl().cho_factor(_sym(x[:, :3])), x[:, 3]),
                               np.column_stack([M, B3])),
    "scipy.linalg.cholesky": (lambda f, x: f(_sym(x)), M), "scipy.linalg.cho_factor": (lambda f, x: f(_sym(x)), M),
    "scipy.linalg.eigh": (lambda f, x: f(_sym(x)), M),
    "scipy.linalg.eigh_tridiagonal": (lambda f, x: f(x[0], x[1, :2]), A),
    "scipy.linalg.sqrtm": (lambda f, x: f(_sym(x)), M),
    "scipy.linalg.expm_frechet": (lambda f, x: f(x * 0.5, x.T * 0.5, compute_expm=False), A),
    "scipy.linalg.block_diag": (lambda f, x: f(x, x[:2, :2]), A),
    "scipy.linalg.toeplitz": (lambda f, x: f(x), V), "scipy.linalg.circulant": (lambda f, x: f(x), V),
    "scipy.linalg.hankel": (lambda f, x: f(x), V), "scipy.linalg.companion": (lambda f, x: f(x), V + 1.0),
    "scipy.linalg.fractional_matrix_power": (lambda f, x: f(_sym(x), 0.5), M),
    "scipy.linalg.solve_sylvester": (lambda f, x: f(x, x.T + 3 * np.eye(3), x), A),
    "scipy.linalg.polar": (lambda f, x: f(x), A), "scipy.linalg.rsf2csf": (lambda f, x: f(np.triu(x), np.eye(3)), A),
    # jax.scipy.special: arguments in the functions' domains
    "scipy.special.polygamma": (lambda f, x: f(1, x), V),
    "scipy.special.multigammaln": (lambda f, x: f(x + 2.0, 2), V),
    "scipy.special.gammaincinv": (lambda f, x: f(x[0] + 1.0, x[1]), np.stack([V, W])),
    "scipy.special.gammainccinv": (lambda f, x: f(x[0] + 1.0, x[1]), np.stack([V, W])),
    "scipy.special.betaincinv": (lambda f, x: f(x[0] + 1.0, x[1] + 1.0, x[2]), np.stack([V, U, W])),
    "scipy.special.factorial": (lambda f, x: f(x + 2.0), V), "scipy.special.zeta": (lambda f, x: f(x + 1.5, 1.0), V),
    "scipy.special.bernoulli": (lambda f, x: f(4), V), "scipy.special.lpmn": (lambda f, x: f(2, 2, x), V),
    "scipy.special.lpmn_values": (lambda f, x: f(2, 2, x, False), V),
    "scipy.special.sph_harm": (lambda f, x: f(np.array([1]), np.array([2]), x, x, 2), V),
    "scipy.special.sph_harm_y": (lambda f, x: f(np.array([2]), np.array([1]), x, x, 2), V),
    "scipy.special.hyp1f1": (lambda f, x: f(0.5, 1.5, x), V),
    "scipy.special.hyp2f1": (lambda f, x: f(0.5, 1.5, 2.0, x), V),
    "scipy.special.poch": (lambda f, x: f(x[0] + 1.0, x[1]), np.stack([V, W])),
    "scipy.special.kl_div": (lambda f, x: f(x[0], x[1]), np.stack([V, W])),
    "scipy.special.fresnel": (lambda f, x: f(x), V),
    "scipy.special.softmax": (lambda f, x: f(x), V), "scipy.special.log_softmax": (lambda f, x: f(x), V),
    "scipy.special.logsumexp": (lambda f, x: f(x), V),
    # jax.nn
    "nn.glu": (lambda f, x: f(np.concatenate([x, x[::-1]])), V),
    "nn.one_hot": (lambda f, x: f(x, 3), np.array([0, 2, 1])),
    "nn.standardize": (lambda f, x: f(x), V), "nn.logmeanexp": (lambda f, x: f(x), V),
    "nn.log1mexp": (lambda f, x: f(x), V),
    "nn.dot_product_attention": (lambda f, x: f(x[None, :, None, :], x[None, :, None, :], x[None, :, None, :]), A),
    "nn.scaled_matmul": (lambda f, x: f(x[None], x[None], x[None, :, :1], x[None, :, :1]), A),
}

# functions of integers (their outputs are integers too)
INTEGER_INPUTS = {"bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_invert", "invert",
                  "bitwise_count", "bitwise_left_shift", "bitwise_right_shift", "left_shift", "right_shift",
                  "gcd", "lcm", "packbits", "unpackbits"}

# no differentiable array input: constructors, dtype and printing utilities, file I/O
UTILITIES = {
    "numpy": set("""arange linspace logspace geomspace zeros ones empty full eye identity tri indices
        diag_indices tril_indices triu_indices mask_indices bartlett blackman hamming hanning kaiser
        printoptions get_printoptions set_printoptions load save savez frombuffer fromfile fromfunction
        fromiter frompyfunc fromstring from_dlpack can_cast promote_types result_type isdtype issubdtype
        iterable isscalar broadcast_shapes shape ndim size einsum_path array_repr array_str ix_
        iscomplexobj isrealobj meshgrid tril_indices_from triu_indices_from diag_indices_from""".split()),
    "nn": {"get_scaled_dot_general_config", "scaled_dot_general"},
    "numpy.fft": {"fftfreq", "rfftfreq"},
}

# the nearest supported way to get a missing function
ALTERNATIVES = {
    "numpy.nanargmax": "numpy.argmax on numpy.where(isnan(x), -inf, x)",
    "numpy.nanargmin": "numpy.argmin on numpy.where(isnan(x), inf, x)",
    "numpy.partition": "numpy.sort", "numpy.argpartition": "numpy.argsort",
    "numpy.lexsort": "numpy.argsort (one key at a time, stable)", "numpy.sort_complex": "numpy.sort",
    "numpy.piecewise": "numpy.select", "numpy.choose": "numpy.take_along_axis",
    "numpy.compress": "boolean indexing x[mask]", "numpy.extract": "boolean indexing x[mask]",
    "numpy.put": "x.at[idx].set(v)", "numpy.place": "numpy.where", "numpy.fill_diagonal": "x.at[i, i].set(v)",
    "numpy.put_along_axis": "x.at[idx].set(v)", "numpy.insert": "numpy.concatenate",
    "numpy.delete": "numpy.take", "numpy.block": "numpy.concatenate", "numpy.resize": "numpy.tile + numpy.reshape",
    "numpy.polyfit": "numpy.linalg.lstsq", "numpy.roots": "numpy.linalg.eigvals",
    "numpy.apply_along_axis": "chainrule.vmap", "numpy.apply_over_axes": "numpy.sum(..., keepdims=True)",
    "numpy.vectorize": "chainrule.vmap", "numpy.histogram": "numpy.searchsorted",
    "numpy.bincount": "x.at[idx].add(1)", "numpy.unique": "numpy.sort (static shapes only)",
    "numpy.unwrap": "numpy.diff + numpy.cumsum", "numpy.i0": "none",
    "numpy.frexp": "numpy.log2 + numpy.floor", "numpy.spacing": "numpy.finfo(x.dtype).eps * abs(x)",
    "numpy.nextafter": "none",
    "numpy.argwhere": "numpy.nonzero", "numpy.flatnonzero": "numpy.nonzero(numpy.ravel(x))",
    "scipy.linalg.eigh_tridiagonal": "numpy.linalg.eigh", "scipy.linalg.lu": "scipy.linalg.lu_factor",
    "scipy.linalg.schur": "numpy.linalg.eig", "scipy.linalg.hessenberg": "numpy.linalg.qr",
    "scipy.linalg.eig": "numpy.linalg.eig", "scipy.linalg.eigvals": "numpy.linalg.eigvals",
    "scipy.linalg.pinv": "numpy.linalg.pinv", "scipy.linalg.norm": "numpy.linalg.norm",
    "scipy.linalg.lstsq": "numpy.linalg.lstsq", "scipy.linalg.polar": "numpy.linalg.svd",
    "scipy.linalg.funm": "scipy.linalg.expm / sqrtm", "scipy.linalg.hankel": "scipy.linalg.toeplitz",
    "nn.mish": "x * numpy.tanh(nn.softplus(x))", "nn.squareplus": "(x + numpy.sqrt(x**2 + b)) / 2",
    "nn.glu": "a * nn.sigmoid(b) (numpy.split)", "nn.identity": "lambda x: x",
    "nn.logmeanexp": "nn.logsumexp(x) - log(n)", "nn.log1mexp": "numpy.log(-numpy.expm1(-x))",
    "nn.dot_product_attention": "nn.softmax + numpy.einsum", "nn.sparse_plus": "numpy.where",
    "nn.sparse_sigmoid": "numpy.clip", "scipy.special.i0e": "none",
    "scipy.special.spence": "scipy.integrate.quad", "scipy.special.exp1": "scipy.special.gammaincc",
}


def sample(ns, name, fn):
    """(call, x) for `jax.<ns>.<name>`: an override from SAMPLES, else one real positive array
    per required positional parameter of chainrule's function ((3,) or, in linalg, (3, 3))."""
    key = f"{ns}.{name}"
    if key in SAMPLES:
        return SAMPLES[key]
    if name in INTEGER_INPUTS:
        return (lambda f, x: f(x)) if _arity(fn) == 1 else (lambda f, x: f(x, I2)), I1
    n = _arity(fn)
    if ns.startswith("scipy.stats."):            # pdf = exp(logpdf) takes *args: read the family's arity
        dist = getattr(importlib.import_module("chainrule.scipy.stats"), ns.rsplit(".", 1)[1])
        n = max(_arity(getattr(dist, a)) for a in dir(dist) if not a.startswith("_") and callable(getattr(dist, a)))
    if ns == "numpy.fft" and name[-1] in "2n":
        return (lambda f, x: f(x)), A
    if ns.startswith("scipy.stats.") and name in ("logpmf", "pmf", "cdf", "sf", "logcdf", "logsf") and \
            ns.rsplit(".", 1)[1] in DISCRETE:
        return DISCRETE[ns.rsplit(".", 1)[1]]
    if ns.startswith("scipy.stats.") and ns.rsplit(".", 1)[1] in MULTIVARIATE:
        return MULTIVARIATE[ns.rsplit(".", 1)[1]]
    if ns.endswith("linalg"):
        return (lambda f, x: f(x)) if n <= 1 else (lambda f, x: f(*([x] * n))), A
    if n <= 1:
        return (lambda f, x: f(x)), V
    rows = np.stack([V, W, U, V + 1.0][:n])
    return (lambda f, x: f(*x)), rows


DISCRETE = {   # k fixed (integer valued), the parameters differentiated
    "poisson": (lambda f, x: f(K, x), V + 1.0),
    "bernoulli": (lambda f, x: f(np.array([0.0, 1.0, 1.0]), x), V),
    "binom": (lambda f, x: f(K, 5.0, x), V), "nbinom": (lambda f, x: f(K, 5.0, x), V),
    "geom": (lambda f, x: f(K, x), V),
    "betabinom": (lambda f, x: f(K, 5.0, x[0] + 1.0, x[1] + 1.0), np.stack([V, W])),
    "multinomial": (lambda f, x: f(K, 6.0, x / x.sum()), V),
}
MULTIVARIATE = {
    "multivariate_normal": (lambda f, x: f(x, np.zeros(3), M), V),
    "dirichlet": (lambda f, x: f(np.array([0.2, 0.3, 0.5]), x + 1.0), V),
}


def _arity(fn):
    """The number of required positional parameters (1 when the signature cannot be read)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    return sum(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                        for p in params) or 1



# ----------------------------------------------------------- the checks ---
class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def _leaves(out):
    if isinstance(out, (tuple, list)):
        return [leaf for o in out for leaf in _leaves(o)]
    if isinstance(out, dict):
        return [leaf for o in out.values() for leaf in _leaves(o)]
    return [out] if out is not None else []


def _flat(out):
    """The floating leaves of an output, raveled and concatenated (complex as real, imag)."""
    import chainrule.numpy as cnp
    parts = []
    for leaf in _leaves(out):
        kind = cnp.dtype_of(leaf).kind
        if kind == "c":
            parts += [cnp.ravel(cnp.real(leaf)), cnp.ravel(cnp.imag(leaf))]
        elif kind == "f":
            parts.append(cnp.ravel(leaf))
    return cnp.concatenate(parts) if len(parts) > 1 else parts[0]


def _fd_jacobian(h, x, step=1e-6):
    x = np.asarray(x, dtype=float)
    cols = []
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = step * max(1.0, abs(x.flat[i]))
        up, down = h(x + e.reshape(x.shape)), h(x - e.reshape(x.shape))
        cols.append((np.asarray(up) - np.asarray(down)) / (2 * e[i]))
    return np.stack(cols, axis=-1)


def _close(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=RTOL, atol=RTOL * scale))


def check(ns, name):
    """(status, modes, note) for `jax.<ns>.<name>`, found by calling chainrule's function."""
    fn = resolve(ns, name)
    if fn is None:
        plain = f"plain numpy.{name} (no traced input)" if name in UTILITIES.get(ns, ()) and ns == "numpy" else ""
        return MISSING, "", ALTERNATIVES.get(f"{ns}.{name}", plain)
    if name in UTILITIES.get(ns, ()):
        return UTILITY, "", ""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIME_LIMIT)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return _check(ns, name, fn)
    except _Timeout:
        return FAILS, "", f"over {TIME_LIMIT} s on the sample"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _error(e):
    text = str(e).splitlines()[0] if str(e) else ""
    text = text.replace("|", "/").replace("`", "'")
    return f"{type(e).__name__}: {text[:90]}"


def _check(ns, name, fn):
    import chainrule as cr
    import chainrule.numpy as cnp
    call, x = sample(ns, name, fn)
    try:
        out = call(fn, x)
    except Exception as e:                                           # noqa: BLE001
        return FAILS, "", _error(e)
    kinds = {cnp.dtype_of(leaf).kind for leaf in _leaves(out)}
    if not kinds & set("fc") or np.asarray(x).dtype.kind not in "fc":
        try:
            ok = all(np.array_equal(np.asarray(a), np.asarray(b))
                     for a, b in zip(_leaves(cr.jit(lambda v: call(fn, v))(x)), _leaves(out)))
        except Exception:                                            # noqa: BLE001
            ok = False
        return NONDIFF, "jit" if ok else "", ""

    def h(v):
        return _flat(call(fn, v))
    y = np.asarray(h(x))
    jfd = _fd_jacobian(h, x)
    weights = np.linspace(0.5, 1.5, y.size).reshape(y.shape)
    works, failures = [], []

    def attempt(mode, run):
        try:
            ok = run()
        except Exception as e:                                       # noqa: BLE001
            failures.append(f"{mode}: {_error(e)}")
            return
        if ok:
            works.append(mode)
        else:
            failures.append(f"{mode}: differs from finite differences" if mode in ("grad", "jacfwd", "jacrev")
                            else f"{mode}: wrong value")

    def run_grad():
        expected = np.tensordot(weights, jfd, y.ndim)
        return _close(np.ravel(cr.grad(lambda v: cnp.sum(h(v) * weights))(x)), expected)

    def run_vmap():
        batch = np.stack([x, x * 1.01])
        return _close(cr.vmap(h)(batch), np.stack([np.asarray(h(b)) for b in batch]))

    def run_jit():
        jh = cr.jit(h)
        return _close(jh(x), y) and _close(jh(x), y)
    attempt("grad", run_grad)
    attempt("jacfwd", lambda: _close(np.asarray(cr.jacfwd(h)(x)).reshape(jfd.shape), jfd))
    attempt("jacrev", lambda: _close(np.asarray(cr.jacrev(h)(x)).reshape(jfd.shape), jfd))
    attempt("vmap", run_vmap)
    attempt("jit", run_jit)
    if not set(works) & {"grad", "jacfwd", "jacrev"}:
        return VALUE_ONLY, " ".join(works), "; ".join(failures)
    return DIFFERENTIABLE, " ".join(works), "; ".join(failures)


# -------------------------------------------------------------- the table ---
def table_rows(names=None):
    """{(ns, name): (status, modes, note)} for every name in the list (or those given)."""
    rows, _ = read_names()
    names = rows if names is None else names
    return {(ns, name): check(ns, name) for ns, name in names}


def _group(ns):
    return "scipy.stats" if ns.startswith("scipy.stats") else ns


def counts(results):
    """{group: {functions, supported, differentiable, value only, missing}} over the results."""
    out = {}
    for (ns, _), (status, _, _) in results.items():
        c = out.setdefault(_group(ns), dict.fromkeys(("functions", "supported", "differentiable",
                                                      "value only", "call fails", "missing"), 0))
        c["functions"] += 1
        c["supported"] += status not in (MISSING, FAILS)
        c["differentiable"] += status == DIFFERENTIABLE
        c["value only"] += status == VALUE_ONLY
        c["call fails"] += status == FAILS
        c["missing"] += status == MISSING
    return out


def render(results, header):
    """docs/supported.md's text."""
    lines = ["# Functions chainrule supports", "",
             "Generated by `python tools/supported_functions.py` from `tools/jax_names.txt` "
             f"({header.split(';')[0]}); do not edit by hand.",
             "Each row was found by calling `chainrule.<namespace>.<name>` on a small sample input: "
             "**differentiable** lists the modes that work (grad, jacfwd, jacrev against central finite "
             f"differences at relative tolerance {RTOL:g}; vmap against a loop; jit against eager), "
             "**non-differentiable output** means integer or boolean results, **utility** a constructor or "
             "helper with no differentiable input, **value only** a function whose derivatives fail (a gap), "
             "**call fails** one that raised on the sample input, **missing** one chainrule lacks "
             "(with the nearest alternative where there is one).", "",
             "| namespace | functions | supported | differentiable | value only | call fails | missing |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    c = counts(results)
    for group, v in c.items():
        lines.append(f"| `jax.{group}` | " + " | ".join(str(v[k]) for k in v) + " |")
    tot = {k: sum(v[k] for v in c.values()) for k in next(iter(c.values()))}
    lines.append("| **all** | " + " | ".join(f"**{tot[k]}**" for k in tot) + " |")
    current = None
    for (ns, name), (status, modes, note) in results.items():
        if _group(ns) != current:
            current = _group(ns)
            lines += ["", f"## jax.{current}", "", "| function | status | modes | notes |", "|---|---|---|---|"]
        label = name if current == ns else f"{ns[len('scipy.stats.'):]}.{name}"
        lines.append(f"| `{label}` | {status} | {modes} | {note} |")
    return "\n".join(lines) + "\n"


def parse_table(text):
    """{(ns, name): (status, modes)} read back from docs/supported.md."""
    out, ns = {}, None
    for line in text.splitlines():
        if line.startswith("## jax."):
            ns = line[len("## jax."):].strip()
        elif ns and line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            label = cells[0].strip("`")
            key = (f"scipy.stats.{label.split('.')[0]}", label.split(".")[1]) if ns == "scipy.stats" and "." in label \
                else (ns, label)
            out[key] = (cells[1], cells[2])
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", action="store_true", help="rewrite tools/jax_names.txt from JAX")
    parser.add_argument("--out", type=Path, default=TABLE)
    args = parser.parse_args(argv)
    if args.names:
        write_names()
    rows, header = read_names()
    results = table_rows(rows)
    args.out.write_text(render(results, header))
    for group, v in counts(results).items():
        print(f"jax.{group}: " + ", ".join(f"{k} {n}" for k, n in v.items()))


if __name__ == "__main__":
    main()
