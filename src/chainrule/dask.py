"""chainrule.dask: derivatives over data that Dask holds in chunks, computed on its workers.

- `vmap(f)`: per-example work (gradients, Jacobians) mapped over the chunks of the batch
  axis; each chunk runs ``chainrule.vmap(f)``; the result is (a pytree of) Dask arrays.
- `value_and_grad(loss)`, `grad(loss)`, `hvp(loss)`: `loss(params, data_chunk, ...)` is
  written for one chunk; each chunk's value and gradient (or Hessian-vector product) is
  computed where the chunk lives and the parts are tree-reduced.  The total is the sum over
  the chunks (``reduce="sum"``) or their chunk-size-weighted mean (``reduce="mean"``).

What ships where: the transformed function is pickled once per wrapper (cloudpickle),
unpickled once per worker process and kept there under a token, so a jitted function
compiles once per worker and per input signature and is reused by later calls;
parameters travel with each call; data stays where Dask keeps it (``X.persist()``).
Dask is imported only here, and only when a function of this module is called.
"""
from __future__ import annotations

import collections
import threading
import uuid

import numpy as np

from . import api
from .compile.jit import jit as _jit
from .interpreters.batching import vmap as _vmap, _is_axis, _prefix_axes
from .tree_util import tree_flatten, tree_unflatten, tree_structure

__all__ = ["vmap", "value_and_grad", "grad", "hvp"]

_INSTALL = 'pip install "chainrule[dask]"'
SPLIT_EVERY = 8          # parts summed by one task of the tree reduction


def _dask():
    """(dask, dask.array), or an ImportError that says how to install them."""
    try:
        import dask
        import dask.array as da
    except ImportError as e:
        raise ImportError(f"chainrule.dask needs Dask: {_INSTALL} (or pip install \"dask[array]\" "
                          f"distributed); importing it failed: {e}") from None
    return dask, da


# ------------------------------------------------------------- shipping ---

_LIVE = collections.OrderedDict()     # token -> function unpickled in this process (LRU)
_LIVE_SIZE = 32
_live_lock = threading.Lock()


class _Shipped:
    """A function sent to the workers once: it pickles as (token, cloudpickle bytes), and
    each process unpickles it once and keeps it under its token, so caches the function
    builds there (jit's compiled code) live on across tasks and calls."""

    __slots__ = ("token", "fn", "what", "payload")

    def __init__(self, fn, what):
        self.token, self.fn, self.what, self.payload = uuid.uuid4().hex, fn, what, None

    def prepare(self):
        """Pickle now (before Dask does), so an unpicklable closure fails with our message."""
        if self.payload is None:
            self.payload = _dumps(self.fn, self.what)
        return self

    def __getstate__(self):
        return self.token, self.what, self.prepare().payload

    def __setstate__(self, state):
        self.token, self.what, self.payload = state
        self.fn = None

    def get(self):
        if self.fn is None:
            with _live_lock:
                fn = _LIVE.pop(self.token, None)
                if fn is None:
                    import cloudpickle
                    fn = cloudpickle.loads(self.payload)
                _LIVE[self.token] = fn
                while len(_LIVE) > _LIVE_SIZE:
                    _LIVE.popitem(last=False)
            self.fn = fn
        return self.fn


def _dumps(fn, what):
    import cloudpickle
    try:
        return cloudpickle.dumps(fn)
    except Exception as e:
        bad = _unpicklable(fn, cloudpickle)
        where = ("; what cannot be pickled: " + ", ".join(bad)) if bad else ""
        raise TypeError(f"chainrule.dask: {what} cannot be pickled to ship it to the Dask workers"
                        f"{where} ({type(e).__name__}: {e}). Pass such values as arguments, or create "
                        "them inside the function (on the worker)") from None


def _unpicklable(fn, cloudpickle, depth=0):
    """Names of the closure variables and globals of `fn` (and of the functions it wraps)
    that cannot be pickled, as 'name (type)' or 'name -> inner (type)'."""
    out, seen, todo = [], set(), [fn]
    while todo and depth < 4:
        g = todo.pop()
        if id(g) in seen:
            continue
        seen.add(id(g))
        for attr in ("__wrapped__", "fun", "func", "_fn"):
            inner = getattr(g, attr, None)
            if callable(inner):
                todo.append(inner)
        code = getattr(g, "__code__", None)
        if code is None:
            continue
        named = [(n, c.cell_contents) for n, c in zip(code.co_freevars, g.__closure__ or ())
                 if _has_contents(c)]
        glb = getattr(g, "__globals__", {})
        named += [(n, glb[n]) for n in code.co_names if n in glb and not isinstance(glb[n], type(np))]
        for name, value in named:
            try:
                cloudpickle.dumps(value)
            except Exception:
                inner = _unpicklable(value, cloudpickle, depth + 1) if callable(value) else []
                out += [f"{name!r} -> {i}" for i in inner] or [f"{name!r} ({type(value).__name__})"]
    return out


def _has_contents(cell):
    try:
        _ = cell.cell_contents
    except ValueError:
        return False
    return True


def _needs_pickling():
    """Does the active Dask scheduler run tasks in other processes (distributed, processes)?"""
    import dask.local
    import dask.threaded
    from dask.base import get_scheduler
    return get_scheduler() not in (dask.threaded.get, dask.local.get_sync, None)


def _ship(shipped, dask):
    """`shipped` as one Dask key (one transfer per worker, not one per task)."""
    if _needs_pickling():
        shipped.prepare()
    return dask.delayed(shipped, name=f"chainrule-fn-{shipped.token}", traverse=False)


# ---------------------------------------------------------- data checks ---

def _is_dask_array(x, da):
    return isinstance(x, da.Array)


def _check_chunks(x, batch_axis, what):
    """`x` must be chunked along `batch_axis` only, with known chunk sizes."""
    for ax, c in enumerate(x.chunks):
        if any(np.isnan(n) for n in c):
            raise ValueError(f"{what} has unknown chunk sizes along axis {ax} (after boolean indexing, say); "
                             "call x.compute_chunk_sizes() first")
        if ax != batch_axis and len(c) > 1:
            raise ValueError(
                f"{what} (shape {x.shape}, chunks {x.chunks}) is split into {len(c)} chunks along axis "
                f"{ax}, but chainrule.dask splits data along the batch axis {batch_axis} only; "
                f"rechunk it: x.rechunk({{{ax}: -1}}) (or x.rechunk({{"
                + ", ".join(f"{a}: -1" for a in range(x.ndim) if a != batch_axis) + "}) for every other axis)")


def _align(leaves_axes, what):
    """Rechunk the batched leaves to the first one's chunks along the batch axis (the
    result does not depend on where chunks end); check that the batch sizes agree."""
    (x0, ax0, w0), out = leaves_axes[0], []
    for x, ax, w in leaves_axes:
        if x.shape[ax] != x0.shape[ax0]:
            raise ValueError(f"{what}: {w} has {x.shape[ax]} rows along its batch axis {ax}, but {w0} has "
                             f"{x0.shape[ax0]}; every batched array needs the same number")
        out.append(x if x.chunks[ax] == x0.chunks[ax0] else x.rechunk({ax: x0.chunks[ax0]}))
    return out


def _data_leaves(args, data_argnums, what, da):
    """The Dask-array leaves of the data arguments, checked: (leaves, per-argument treedefs)."""
    leaves, trees, named = [], {}, []
    for i in data_argnums:
        ls, tree = tree_flatten(args[i])
        trees[i] = tree
        for k, x in enumerate(ls):
            w = f"data argument {i}" + (f" (leaf {k})" if len(ls) > 1 else "")
            if not _is_dask_array(x, da):
                kind = f"a {type(x).__name__}" + (f" of shape {np.shape(x)}" if hasattr(x, "shape") else "")
                raise TypeError(
                    f"{what}: {w} is {kind}, not a Dask array; chunked data must be Dask arrays split along "
                    "axis 0: wrap it with dask.array.from_array(x, chunks=(rows_per_chunk, "
                    + ", ".join(["-1"] * max(np.ndim(x) - 1, 0)) + ")), or pass it as a broadcast (unchunked) "
                    "argument by leaving it out of data_argnums")
            if x.ndim == 0:
                raise ValueError(f"{what}: {w} is a 0-d Dask array; chunked data needs a batch axis 0")
            _check_chunks(x, 0, f"{what}: {w}")
            named.append((x, 0, w))
            leaves.append(x)
    if not leaves:
        raise ValueError(f"{what}: no chunked data: the data arguments {tuple(data_argnums)} hold no "
                         "Dask arrays")
    return _align(named, what), trees


# ---------------------------------------------------------------- vmap ---

def _vmap_chunk(shipped, spec, *leaves):
    """Worker side: one chunk through chainrule.vmap(f); the flat output leaves."""
    tree, batched, n_bcast = spec
    bcast, blocks = leaves[:n_bcast], iter(leaves[n_bcast:])
    b = iter(bcast)
    full = [next(blocks) if is_b else next(b) for is_b in batched]
    out = shipped.get()(*tree_unflatten(tree, full))
    return tuple(tree_flatten(out)[0])


def _pick(parts, j):
    return parts[j]


def vmap(f, in_axes=0, out_axes=0, jit=False):
    """`chainrule.vmap(f, in_axes, out_axes)` over Dask arrays, one task per chunk of the batch axis.

    Batched arguments (an int in `in_axes`) must be Dask arrays chunked along their batch axis
    only; arguments with in_axes None (NumPy values or Dask arrays) are broadcast to every
    chunk.  Returns the output pytree with a Dask array per leaf, chunked like the input along
    the batch axis (out_axes None, an unbatched output, is not supported).  Example:
    ``chainrule.dask.vmap(chainrule.grad(loss), in_axes=(None, 0))(params, X)``: per-example
    gradients.  With ``jit=True`` each chunk runs ``chainrule.jit(chainrule.vmap(f))``,
    compiled once per worker and chunk shape (a jitted `f` under vmap runs through, uncompiled).
    """
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    if not (_is_axis(in_axes) or isinstance(in_axes, tuple)):
        raise ValueError(f"chainrule.dask.vmap in_axes must be an int, None or a tuple, got {in_axes!r}")
    batched_fn = _vmap(f, in_axes, out_axes)
    batched_fn = _jit(batched_fn) if jit else batched_fn
    shipped = _Shipped(batched_fn, f"the function {getattr(f, '__name__', f)!r}")

    def dask_vmapped(*args):
        dask, da = _dask()
        what = f"chainrule.dask.vmap({getattr(f, '__name__', 'f')})"
        if isinstance(in_axes, tuple) and len(in_axes) != len(args):
            raise ValueError(f"{what}: in_axes has {len(in_axes)} entries but the function was called with "
                             f"{len(args)} positional arguments; give one entry per argument")
        leaves, tree = tree_flatten(tuple(args))
        axes = []
        for i, a in enumerate(args):
            axes += _prefix_axes(in_axes if _is_axis(in_axes) else in_axes[i], a, "in_axes", f"argument {i}")
        batched, sample, bcast = [], [], []
        for k, (x, ax) in enumerate(zip(leaves, axes)):
            if ax is None:
                bcast.append(x)
                sample.append(api.ShapeDtypeStruct(x.shape, x.dtype) if _is_dask_array(x, da) else x)
                continue
            w = f"batched leaf {k} (in_axes {ax})"
            if not _is_dask_array(x, da):
                raise TypeError(
                    f"{what}: {w} is a {type(x).__name__}, not a Dask array; wrap it with "
                    "dask.array.from_array(x, chunks=...) (chunked along the batch axis only), or give it "
                    "in_axes None to broadcast it to every chunk")
            if not -x.ndim <= ax < x.ndim:
                raise ValueError(f"{what}: in_axes {ax} is out of range for {w} of shape {x.shape}")
            ax %= x.ndim
            _check_chunks(x, ax, f"{what}: {w}")
            batched.append((x, ax, w))
        if not batched:
            raise ValueError(f"{what}: no argument is batched (every in_axes is None)")
        aligned = _align(batched, what)
        chunks = aligned[0].chunks[batched[0][1]]
        small = min(2, chunks[0])            # shapes from a two-row stand-in, not a real chunk
        it = iter(zip(aligned, batched))
        for k, ax in enumerate(axes):
            if ax is not None:
                x, (_, a, _) = next(it)
                sample.insert(k, api.ShapeDtypeStruct(x.shape[:a] + (small,) + x.shape[a + 1:], x.dtype))
        structs = api.eval_shape(batched_fn, *tree_unflatten(tree, sample))
        s_leaves, out_tree = tree_flatten(structs)
        oaxes = _prefix_axes(out_axes, structs, "out_axes", "the output")
        spec = (tree, [ax is not None for ax in axes], len(bcast))
        pairs = []
        for j, (x, (_, a, _)) in enumerate(zip(aligned, batched)):
            pairs += [x, tuple("b" if d == a else f"i{j}_{d}" for d in range(x.ndim))]
        parts = da.blockwise(_vmap_chunk, ("b",), _ship(shipped, dask), None, spec, None,
                             *[v for x in bcast for v in (x, None)], *pairs,
                             concatenate=True, meta=np.empty((0,), dtype=object))
        outs = []
        for j, (s, oa) in enumerate(zip(s_leaves, oaxes)):
            if oa is None:
                raise ValueError(f"{what}: out_axes None (an output without a batch axis) is not supported; "
                                 "return it batched and reduce the Dask array")
            nd = len(s.shape)
            oa %= nd
            ind = tuple("b" if d == oa else f"o{j}_{d}" for d in range(nd))
            new = {f"o{j}_{d}": s.shape[d] for d in range(nd) if d != oa}
            outs.append(da.blockwise(_pick, ind, parts, ("b",), j, None, new_axes=new, concatenate=True,
                                     meta=np.empty((0,) * nd, dtype=s.dtype)))
        return tree_unflatten(out_tree, outs)

    dask_vmapped.__name__ = f"dask_vmap({getattr(f, '__name__', 'f')})"
    dask_vmapped.__doc__ = vmap.__doc__
    return dask_vmapped


# ------------------------------------------- sums over the chunks of data ---

def _chunk_call(shipped, weight, layout, bcast, *blocks):
    """Worker side: the transformed loss on one chunk; (value, flat derivative leaves), weighted."""
    has_value, data_trees = layout
    args, kwargs = bcast
    full, it = list(args), iter(blocks)
    for i, tree in data_trees:
        full[i] = tree_unflatten(tree, [next(it) for _ in range(tree.num_leaves)])
    out = shipped.get()(*full, **kwargs)
    value, deriv = out if has_value else (None, out)
    leaves = tree_flatten(deriv)[0]
    if weight != 1.0:
        leaves = [x * weight for x in leaves]
        value = None if value is None else value * weight
    return value, leaves


def _add(*parts):
    """Sum (value, leaves) parts: one node of the tree reduction."""
    value, leaves = parts[0]
    leaves = [np.array(x, copy=True) for x in leaves]
    for v, ls in parts[1:]:
        value = None if value is None else value + v
        for k, x in enumerate(ls):
            leaves[k] += x
    return value, leaves


def _tree_sum(dask, parts):
    while len(parts) > 1:
        parts = [dask.delayed(_add, pure=True)(*parts[i:i + SPLIT_EVERY])
                 for i in range(0, len(parts), SPLIT_EVERY)]
    return parts[0]


class _ChunkSum:
    """A per-chunk transformation of `loss`, summed (or chunk-size-weighted averaged) over
    the chunks of the Dask-array data arguments; see `value_and_grad`."""

    def __init__(self, fn, kind, what, reduce, first_data, data_argnums, diff, has_value=True):
        if reduce not in ("sum", "mean"):
            raise ValueError(f"{what}: reduce must be 'sum' or 'mean', got {reduce!r}")
        self.kind, self.what, self.reduce = kind, what, reduce
        self.first_data, self.data_argnums, self.diff = first_data, data_argnums, diff
        self.shipped, self.has_value = _Shipped(fn, what), has_value
        self.__name__ = what

    def __call__(self, *args, **kwargs):
        dask, da = _dask()
        nargs = len(args)
        if self.data_argnums is None:
            nums = tuple(range(self.first_data, nargs))
        else:
            nums = tuple(sorted({int(i) % nargs if -nargs <= int(i) < nargs else self._bad(i, nargs)
                                 for i in self.data_argnums}))
        diff = self.diff(nargs)
        if set(nums) & set(diff):
            raise ValueError(f"{self.what}: argument(s) {sorted(set(nums) & set(diff))} are both differentiated "
                             "and chunked data; differentiate with respect to broadcast arguments only")
        for i, a in enumerate(args):
            if i not in nums and any(_is_dask_array(x, da) for x in tree_flatten(a)[0]):
                raise TypeError(f"{self.what}: argument {i} holds a Dask array but is not chunked data "
                                f"(data_argnums={nums}); compute it (x.compute()) or name it in data_argnums")
        leaves, trees = _data_leaves(args, nums, self.what, da)
        sizes = leaves[0].chunks[0]
        total = sum(sizes)
        if total == 0:
            raise ValueError(f"{self.what}: the chunked data has no rows")
        blocks = [x.to_delayed().ravel() for x in leaves]
        bcast = dask.delayed(([None if i in nums else a for i, a in enumerate(args)], kwargs),
                             pure=True, traverse=False)
        diff_tree = tree_structure(args[diff[0]] if self.kind == "single" else tuple(args[i] for i in diff))
        layout = dask.delayed((self.has_value, [(i, trees[i]) for i in nums]), pure=True, traverse=False)
        fn = _ship(self.shipped, dask)
        call = dask.delayed(_chunk_call, pure=True)
        parts = [call(fn, 1.0 if self.reduce == "sum" else n / total, layout, bcast,
                      *[b[c] for b in blocks]) for c, n in enumerate(sizes)]
        value, dleaves = dask.compute(_tree_sum(dask, parts))[0]
        like = tree_flatten(args[diff[0]] if self.kind == "single" else tuple(args[i] for i in diff))[0]
        dleaves = [x[()] if np.ndim(x) == 0 and not isinstance(o, np.ndarray) else x   # scalars stay scalars
                   for x, o in zip(dleaves, like)]
        d = tree_unflatten(diff_tree, dleaves)
        return (value, d) if self.has_value else d

    def _bad(self, i, nargs):
        raise ValueError(f"{self.what}: data_argnums names argument {i}, but the function got {nargs}")


def _argnums_of(argnums):
    single = isinstance(argnums, (int, np.integer))
    nums = (int(argnums),) if single else tuple(int(a) for a in argnums)
    return single, nums


def _separable_doc(f):
    f.__doc__ = (f.__doc__ or "") + """
    The separable-loss rule: `loss(params, data_chunk, ...)` sees one chunk and must return that
    chunk's share of the total, so that the total is the sum of the chunks' values
    (``reduce="sum"``) or, with ``reduce="mean"``, the mean over all rows when each chunk
    returns the mean over its own rows (chunks are weighted by their row counts).  Terms that
    are not sums over rows do not belong in the per-chunk loss: add a regulariser or prior once,
    outside (``v, g = dvg(p, X); v += reg(p); g += chainrule.grad(reg)(p)``); a normalisation by
    the total count N is a sum of per-chunk sums divided by N (pass N as an argument, return
    ``sum(chunk_terms) / N`` with reduce="sum"); a log of a total, ``log(sum over rows)``, is
    not separable: compute the sum with this module (its gradient too) and apply the log
    outside, by the chain rule.  Where chunks end never changes a separable loss's total.
    """
    return f


@_separable_doc
def value_and_grad(loss, argnums=0, reduce="sum", data_argnums=None, jit=False):
    """`chainrule.value_and_grad` of a loss summed over the chunks of Dask-array data.

    ``dvg = chainrule.dask.value_and_grad(loss); value, g = dvg(params, X, y)``: the data
    arguments (by default every positional argument after the differentiated ones, or those
    named by `data_argnums`) must be Dask arrays chunked along axis 0 only; every other
    argument, and keyword arguments, are broadcast to each chunk.  Each chunk's value and
    gradient are computed on a worker (with ``jit=True`` by ``chainrule.jit``, compiled once per
    worker) and tree-reduced; the result equals ``chainrule.value_and_grad`` of the
    whole-data loss to round-off.  Works with a `distributed.Client` active or Dask's default
    scheduler, and as ``scipy.optimize.minimize(dvg, x0, args=(X, y), jac=True)``.
    """
    single, nums = _argnums_of(argnums)
    fn = api.value_and_grad(loss, argnums)
    return _ChunkSum(_jit(fn) if jit else fn, "single" if single else "tuple",
                     f"chainrule.dask.value_and_grad({getattr(loss, '__name__', 'loss')})", reduce,
                     max(nums) + 1, data_argnums, lambda n: _argnums_checked(nums, n))


@_separable_doc
def grad(loss, argnums=0, reduce="sum", data_argnums=None, jit=False):
    """The gradient part of `value_and_grad` (same arguments): the summed gradient alone."""
    vg = value_and_grad(loss, argnums, reduce, data_argnums, jit)
    vg.what = vg.__name__ = f"chainrule.dask.grad({getattr(loss, '__name__', 'loss')})"

    def dask_grad(*args, **kwargs):
        return vg(*args, **kwargs)[1]
    dask_grad.__name__ = vg.__name__
    return dask_grad


def _argnums_checked(nums, nargs):
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(f"chainrule.dask: argnums={nums} but the function got {nargs} positional arguments")
    return tuple(a % nargs for a in nums)


class _HVP:
    """H(params) @ v of one chunk's loss, forward over reverse (what hvp ships)."""

    def __init__(self, loss):
        self.loss = loss
        self.__name__ = f"hvp({getattr(loss, '__name__', 'loss')})"

    def __call__(self, params, v, *data, **kwargs):
        def g(p):
            return api.grad(self.loss)(p, *data, **kwargs)
        return api.jvp(g, (params,), (v,))[1]


@_separable_doc
def hvp(loss, reduce="sum", data_argnums=None, jit=False):
    """Hessian-vector products of a loss summed over the chunks of Dask-array data.

    ``H = chainrule.dask.hvp(loss); Hv = H(params, v, X, y)``: the Hessian of
    ``loss(params, X, y)`` (summed or averaged over the chunks, as in `value_and_grad`) with
    respect to `params` (a pytree), times `v` (the same structure).  Data arguments are those
    after `v` unless `data_argnums` (positions in this call) says otherwise.  Its signature is
    scipy's `hessp(x, p, *args)`: ``minimize(dvg, x0, args=(X, y), jac=True, hessp=H,
    method="trust-krylov")``.
    """
    fn = _HVP(loss)
    return _ChunkSum(_jit(fn) if jit else fn, "single", f"chainrule.dask.hvp({getattr(loss, '__name__', 'loss')})",
                     reduce, 2, data_argnums, lambda n: (0, 1), has_value=False)
