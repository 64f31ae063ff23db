"""Batched and sparse Jacobians and Hessians, built on vmap, jvp and vjp.

Dense Jacobians (`batched_jacfwd`, `batched_jacrev`, `batched_hessian`) push or
pull the identity basis through one vmapped JVP or pullback, in chunks of at
most `chunk_size` basis vectors.  Sparse ones (`sparse_jacobian`,
`sparse_hessian`) colour the columns of a sparsity pattern (`color_columns`) so
that one JVP (or Hessian-vector product) per colour gives all the nonzeros.

This module sits at the API layer: it uses `chainrule.api` (jvp, vjp, grad and
the argument helpers of the Jacobian functions) and the vmap interpreter.
"""
from __future__ import annotations

import functools

import numpy as np

from . import api
from .core import shape_of, dtype_of, concrete
from .interpreters.batching import vmap
from .ops import shape as S
from .tree_util import tree_flatten, tree_unflatten

__all__ = ["batched_jacfwd", "batched_jacrev", "batched_hessian", "sparse_jacobian",
           "sparse_hessian", "color_columns"]


# ------------------------------------------------------ batched Jacobians ---

def _size(x):
    return int(np.prod(shape_of(x), dtype=np.int64))


def _chunks(n, chunk_size):
    if chunk_size is None or chunk_size >= n:
        return [(0, n)]
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    return [(a, min(a + chunk_size, n)) for a in range(0, n, chunk_size)]


def _basis(leaves, start, stop):
    """Rows start..stop of the identity over the flattened leaves, split per leaf:
    one array of shape (stop - start,) + leaf.shape per leaf, in the leaf's dtype."""
    c = stop - start
    out, off = [], 0
    rows = np.arange(c)
    for x in leaves:
        k = _size(x)
        e = np.zeros((c, k), dtype_of(x))
        cols = rows + start - off
        hit = (cols >= 0) & (cols < k)
        e[rows[hit], cols[hit]] = 1
        out.append(e.reshape((c,) + tuple(shape_of(x))))
        off += k
    return out


def _blocks(out_leaves, out_tree, in_leaves, in_tree, get, single):
    """Jacobian blocks out.shape + in.shape nested as an out-tree of in-trees.

    get(oi, ii) returns the block of output leaf oi and input leaf ii."""
    blocks = []
    for oi in range(len(out_leaves)):
        row = [get(oi, ii) for ii in range(len(in_leaves))]
        in_struct = tree_unflatten(in_tree, row)
        blocks.append(in_struct[0] if single else in_struct)
    return tree_unflatten(out_tree, blocks)


def batched_jacfwd(f, argnums=0, has_aux=False, holomorphic=False, chunk_size=None):
    """The Jacobian by forward mode, as one vmapped JVP over the identity basis.

    chunk_size: at most this many basis vectors per batched JVP (bounds memory
    on large Jacobians; None: all at once).
    """

    @functools.wraps(f)
    def jac(*args, **kwargs):
        single, nums, leaves, tree, rebuild = api._split_args(f, args, argnums, "jacfwd", holomorphic)
        n = sum(_size(x) for x in leaves)
        fun = lambda *xs: f(*rebuild(list(xs)), **kwargs)  # noqa: E731

        def push(*ts):
            r = api.jvp(fun, tuple(leaves), tuple(ts), has_aux=has_aux)
            return (r[1], r[2]) if has_aux else (r[1], None)

        if n == 0:
            r = api.jvp(fun, tuple(leaves), tuple(np.zeros(shape_of(x), dtype_of(x)) for x in leaves),
                        has_aux=has_aux)
            out_leaves, out_tree = tree_flatten(r[0])
            api._check_jac_output(out_leaves, holomorphic, "jacfwd")
            J = _blocks(out_leaves, out_tree, leaves, tree,
                        lambda oi, ii: np.zeros(tuple(shape_of(out_leaves[oi])) + tuple(shape_of(leaves[ii]))),
                        single)
            return (J, r[2]) if has_aux else J
        cols, aux = [], None
        for a, b in _chunks(n, chunk_size):
            tans, aux = vmap(push, in_axes=0, out_axes=(-1, None))(*_basis(leaves, a, b))
            t_leaves, out_tree = tree_flatten(tans)
            cols.append(t_leaves)
        api._check_jac_output(t_leaves, holomorphic, "jacfwd")
        full = [S.concatenate([c[k] for c in cols], axis=-1) if len(cols) > 1 else cols[0][k]
                for k in range(len(cols[0]))]
        offs = np.cumsum([0] + [_size(x) for x in leaves])

        def get(oi, ii):
            o = full[oi]
            oshape = tuple(shape_of(o))[:-1]
            blk = S.getitem(o, (Ellipsis, slice(int(offs[ii]), int(offs[ii + 1]))))
            return S.reshape(blk, oshape + tuple(shape_of(leaves[ii])))
        J = _blocks(full, out_tree, leaves, tree, get, single)
        return (J, aux) if has_aux else J
    return jac


def batched_jacrev(f, argnums=0, has_aux=False, holomorphic=False, chunk_size=None):
    """The Jacobian by reverse mode: one forward pass (the tape is recorded once),
    then the pullback vmapped over the output basis.

    chunk_size: at most this many output basis vectors per batched pullback.
    """

    @functools.wraps(f)
    def jac(*args, **kwargs):
        single, nums, leaves, tree, rebuild = api._split_args(f, args, argnums, "jacrev", holomorphic)
        fun = lambda *xs: f(*rebuild(list(xs)), **kwargs)  # noqa: E731
        r = api.vjp(fun, *leaves, has_aux=has_aux)
        out, vjp_fn = r[0], r[1]
        aux = r[2] if has_aux else None
        out_leaves, out_tree = tree_flatten(out)
        api._check_jac_output(out_leaves, holomorphic, "jacrev")
        m = sum(_size(o) for o in out_leaves)

        def pull(*cts):
            return tuple(vjp_fn(tree_unflatten(out_tree, list(cts))))

        if m == 0:
            J = _blocks(out_leaves, out_tree, leaves, tree,
                        lambda oi, ii: np.zeros(tuple(shape_of(out_leaves[oi])) + tuple(shape_of(leaves[ii]))),
                        single)
            return (J, aux) if has_aux else J
        if m == 1:      # a scalar output: one pullback, no batching needed
            rows = [[S.reshape(c, (1,) + tuple(shape_of(x)))
                     for c, x in zip(pull(*[np.ones(shape_of(o), dtype_of(o)) for o in out_leaves]), leaves)]]
        else:
            rows = [list(vmap(pull)(*_basis(out_leaves, a, b))) for a, b in _chunks(m, chunk_size)]
        full = [S.concatenate([r[k] for r in rows], axis=0) if len(rows) > 1 else rows[0][k]
                for k in range(len(leaves))]
        offs = np.cumsum([0] + [_size(o) for o in out_leaves])

        def get(oi, ii):
            blk = S.getitem(full[ii], (slice(int(offs[oi]), int(offs[oi + 1])),)) \
                if len(out_leaves) > 1 else full[ii]
            return S.reshape(blk, tuple(shape_of(out_leaves[oi])) + tuple(shape_of(leaves[ii])))
        J = _blocks(out_leaves, out_tree, leaves, tree, get, single)
        return (J, aux) if has_aux else J
    return jac


def batched_hessian(f, argnums=0, has_aux=False, holomorphic=False, chunk_size=None):
    """The Hessian, forward over reverse, each batched over its basis."""
    return batched_jacfwd(batched_jacrev(f, argnums, has_aux, holomorphic), argnums, has_aux,
                          holomorphic, chunk_size)


# ---------------------------------------------------- sparse Jacobians ---

def _coords(pattern, n=None):
    """(rows, cols, m, n) of the nonzeros of a pattern: a dense array (any shape whose
    size is a multiple of n; 2-d when n is None) or a scipy.sparse matrix."""
    if hasattr(pattern, "tocoo"):                     # scipy.sparse: never made dense
        coo = pattern.tocoo()
        m, n2 = coo.shape
        if n is not None and n2 != n:
            raise ValueError(f"sparsity pattern has shape {coo.shape}, expected (output size, {n})")
        keep = np.asarray(coo.data) != 0
        r, c = np.asarray(coo.row)[keep], np.asarray(coo.col)[keep]
        order = np.lexsort((c, r))
        return r[order].astype(np.int64), c[order].astype(np.int64), m, n2
    P = np.asarray(pattern) != 0
    if n is None:
        if P.ndim != 2:
            raise ValueError(f"sparsity pattern must be a 2-d (outputs x inputs) array, got shape {P.shape}")
        m, n = P.shape
    else:
        if n == 0 or P.size % n or P.ndim < 1:
            raise ValueError(f"sparsity pattern has shape {P.shape}, expected (output size, {n}) "
                             "or output shape + input shape")
        m = P.size // n
        P = P.reshape(m, n)
    r, c = np.nonzero(P)
    return r, c, m, n


def _greedy_colors(rows, cols, m, n):
    row_cols = [[] for _ in range(m)]
    col_rows = [[] for _ in range(n)]
    for i, j in zip(rows.tolist(), cols.tolist()):
        row_cols[i].append(j)
        col_rows[j].append(i)
    colors = [-1] * n
    for j in range(n):
        used = {colors[k] for i in col_rows[j] for k in row_cols[i]}
        c = 0
        while c in used:
            c += 1
        colors[j] = c
    return np.array(colors, dtype=np.int64)


def color_columns(pattern):
    """Greedy colouring of the columns of an (m, n) sparsity pattern.

    pattern: a boolean/numeric 2-d array or a scipy.sparse matrix (nonzero =
    possibly nonzero).  Two columns that share a nonzero row get different
    colours, so the sum of the columns of one colour can be split back into
    its columns.  Returns an int array of n colours (0, 1, ...).  A banded
    matrix of bandwidth w needs 2w + 1 colours (3 for a tridiagonal one).
    """
    return _greedy_colors(*_coords(pattern))


def _random_point(x, seed):
    rng = np.random.default_rng(seed)
    x = np.asarray(concrete(x), dtype=float)
    return x + 0.1 * (1.0 + np.abs(x)) * rng.uniform(0.5, 1.0, x.shape) * rng.choice([-1.0, 1.0], x.shape)


def _compressed(prod, x, colors):
    """prod(seed) for the sum of the unit vectors of each colour: an (m, k) matrix."""
    n = _size(x)
    k = int(colors.max()) + 1 if n else 0
    seeds = np.zeros((k, n), dtype_of(x))
    seeds[colors, np.arange(n)] = 1
    seeds = seeds.reshape((k,) + tuple(shape_of(x)))
    C = vmap(prod, out_axes=-1)(seeds)
    return S.reshape(C, (-1, k)), tuple(shape_of(C))[:-1]


def _recover(C, rows, cols, colors, m, out_shape, x, output):
    """Entry (i, j) of the pattern is row i of the compressed column of j's colour."""
    vals = S.getitem(C, (rows, colors[cols]))
    n = _size(x)
    if output == "scipy":
        import scipy.sparse as sp
        return sp.csr_array((np.asarray(concrete(vals)), (rows, cols)), shape=(m, n))
    if output != "dense":
        raise ValueError(f"output must be 'dense' or 'scipy', got {output!r}")
    J = S.index_set(np.zeros((m, n), dtype_of(C)), (rows, cols), vals)
    return S.reshape(J, tuple(out_shape) + tuple(shape_of(x)))


def _check_colors(colors, n):
    colors = np.asarray(colors, dtype=np.int64).reshape(-1)
    if colors.shape != (n,) or (n and colors.min() < 0):
        raise ValueError(f"colors must hold one non-negative colour per input element ({n})")
    return colors


def sparse_jacobian(f, x, sparsity=None, *, colors=None, seed=0, return_colors=False, output="dense"):
    """The Jacobian of `f` at array `x` from one JVP per colour of a column colouring.

    sparsity: the possible nonzeros of J, as a boolean array of shape (m, n)
    or f(x).shape + x.shape, or a scipy.sparse (m, n) matrix.  Columns that
    share no nonzero row get the same colour (greedy colouring); one JVP per
    colour (all batched in one vmap) gives the sum of those columns, and each
    entry is read back from the row of its column's colour.  colors: a
    colouring to reuse (from return_colors=True) instead of recomputing it.

    With sparsity=None the pattern is *detected* by evaluating the dense
    Jacobian (batched_jacfwd) at a random point near `x`: that costs a dense
    Jacobian, so it pays off only when the pattern (or the colouring) is
    reused, and an entry that happens to vanish at that point, or hides behind
    a branch not taken there, is missed.  Pass the pattern when it is known.

    output: "dense" (an array of shape f(x).shape + x.shape, differentiable) or
    "scipy" (a scipy.sparse CSR array of shape (m, n) of concrete values).
    Returns J, or (J, colors) with return_colors.
    """
    n = _size(x)
    if sparsity is None:
        J0 = batched_jacfwd(f)(_random_point(x, seed))
        sparsity = np.asarray(J0).reshape(-1, n) != 0
    rows, cols, m, _ = _coords(sparsity, n)
    colors = _greedy_colors(rows, cols, m, n) if colors is None else _check_colors(colors, n)
    C, out_shape = _compressed(lambda v: api.jvp(f, (x,), (v,))[1], x, colors)
    if _size(C) != m * (int(colors.max()) + 1 if n else 0):
        raise ValueError(f"sparsity pattern has {m} rows but f(x) has {_size(C) // max(int(colors.max()) + 1, 1)} "
                         "elements")
    J = _recover(C, rows, cols, colors, m, out_shape, x, output)
    return (J, colors) if return_colors else J


def sparse_hessian(f, x, sparsity=None, *, colors=None, seed=0, return_colors=False, output="dense"):
    """The Hessian of scalar `f` at array `x` from one Hessian-vector product per colour.

    sparsity: the possible nonzeros of H, an (n, n) boolean array (or
    x.shape + x.shape) or a scipy.sparse matrix.  The columns are coloured
    greedily (a tridiagonal Hessian, such as Rosenbrock's, needs 3 colours
    whatever n is) and the HVPs (forward over reverse) run batched in one vmap.
    With sparsity=None the pattern is detected by evaluating the dense Hessian
    at a random point near `x` (see `sparse_jacobian` for the caveats).
    colors / output / return_colors: as for `sparse_jacobian`.
    """
    n = _size(x)
    if sparsity is None:
        H0 = batched_hessian(f)(_random_point(x, seed))
        sparsity = np.asarray(H0).reshape(n, n) != 0
    rows, cols, m, _ = _coords(sparsity, n)
    if m != n:
        raise ValueError(f"Hessian sparsity pattern must be ({n}, {n}), got ({m}, {n})")
    colors = _greedy_colors(rows, cols, m, n) if colors is None else _check_colors(colors, n)
    g = api.grad(f)
    C, _ = _compressed(lambda v: api.jvp(g, (x,), (v,))[1], x, colors)
    H = _recover(C, rows, cols, colors, n, tuple(shape_of(x)), x, output)
    return (H, colors) if return_colors else H

