"""Batching (vmap): a tracer carries a batched value and the axis that indexes the batch.

`BatchTracer.primal` is the *batched* value (a NumPy array or a tracer of an
enclosing transformation) and `bdim` is the position of the batch axis in it.
The abstract value the traced function sees is one example: `shape`, `dtype`
and `ndim` describe the value without its batch axis.  Each primitive has a
batching rule in `rules.batch_rules`, registered beside it:
``rule(args, bdims, **params) -> (out, out_bdim)`` where `args` are the
unwrapped values and `bdims` their batch axes (None: the same for every
example).  Rules are written with chainrule operations, so the values they
handle may be traced by outer transformations (grad of vmap, vmap of grad).

Python control flow under vmap: `bool()`, `int()`, `float()`, `__index__` and
`concrete()` on a batched value whose examples disagree raise `_BatchSplit`
carrying each example's outcome.  `vmap` catches it at its own level, runs the
function once per group of examples that agree, and puts the results back in
the original order.  A `while` loop with per-example trip counts splits again
inside each group until every group agrees.
"""
from __future__ import annotations

import contextvars
import functools
import inspect
import math
import operator
import warnings

import numpy as np

from ..core import Trace, Tracer, bind, new_level, shape_of, dtype_of, concrete, check_convertible
from ..ops import reductions as R, shape as S
from ..rules import batch_rules
from ..tree_util import tree_flatten, tree_map, tree_unflatten

__all__ = ["vmap", "BatchTrace", "BatchTracer"]

# The axis names bound by the running vmaps, innermost last: (name, trace, whole) where
# `whole` is False while a split runs on part of the batch.  `chainrule.lax` reads it.
axis_names = contextvars.ContextVar("chainrule_axis_names", default=())


# ------------------------------------------------------------ splitting ---

class _BatchSplit(BaseException):
    """Raised when Python control flow reads a batched value whose examples disagree.

    A BaseException, so that a user's ``except Exception`` inside the mapped
    function cannot swallow it; `vmap` at the level of `trace` always catches it.
    """

    def __init__(self, trace, groups):
        super().__init__(f"batch split at level {trace.level}")
        self.trace = trace
        self.groups = groups      # list of index arrays, one per outcome


def _groups_from_keys(keys):
    """Partition range(B) by equal rows of `keys` (B, k): a list of index arrays."""
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    order = np.argsort(inverse, kind="stable")
    counts = np.bincount(inverse)
    return np.split(order, np.cumsum(counts)[:-1])


def _rows_agree(flat):
    """Whether all rows of the (B, k) array `flat` are equal (NaN equals NaN, 0.0 and -0.0
    differ: the same test as `_row_keys`)."""
    if flat.shape[0] <= 1:
        return True
    if flat.dtype.kind == "c":
        flat = np.concatenate([flat.real, flat.imag], axis=1)
    same = flat == flat[:1]
    if flat.dtype.kind == "f":
        same |= np.isnan(flat) & np.isnan(flat[:1])
        neg0 = (flat == 0) & np.signbit(flat)
        same &= neg0 == neg0[:1]
    return bool(np.all(same))


# --------------------------------------------------------------- tracer ---

class BatchTracer(Tracer):
    """A batched value: `primal` holds every example, stacked along axis `bdim`."""

    __slots__ = ("primal", "bdim")

    def __init__(self, trace, primal, bdim):
        self._trace = trace
        self.primal = primal
        self.bdim = bdim

    # -- the abstract value is one example
    @property
    def shape(self):
        s = shape_of(self.primal)
        d = self.bdim
        return tuple(s[:d]) + tuple(s[d + 1:])

    @property
    def dtype(self):
        return dtype_of(self.primal)

    @property
    def ndim(self):
        return len(shape_of(self.primal)) - 1

    def _examples(self):
        """The concrete batched value with the batch axis first: (B, ...)."""
        if self._trace.done:
            raise self._trace.leaked()
        v = np.asarray(concrete(self.primal))
        return np.moveaxis(v, self.bdim, 0) if self.bdim else v

    def concrete(self):
        """One example's value when every example has the same value; else the batch splits."""
        v = self._examples()
        B = v.shape[0]
        if B == 0:
            return np.zeros(v.shape[1:], v.dtype)
        flat = v.reshape(B, -1)
        if _rows_agree(flat):
            return v[0]
        raise _BatchSplit(self._trace, _groups_from_keys(_row_keys(flat)))

    def _decide(self, convert):
        """convert(one example) for Python control flow; splits when the outcomes differ."""
        v = self._examples()
        B = v.shape[0]
        if B == 0:
            return convert(np.zeros(v.shape[1:], v.dtype))
        outs = [convert(v[i]) for i in range(B)]
        first = outs[0]
        if all(o == first and _scalar_key(o) == _scalar_key(first) or (o != o and first != first)
               for o in outs):
            return first
        keys = np.array([_scalar_key(o) for o in outs])
        raise _BatchSplit(self._trace, _groups_from_keys(keys.reshape(B, -1)))

    def __bool__(self):
        v = self._examples()
        B = v.shape[0]
        if B and v[0].size == 1:            # vectorised fast path for `if x < 0:`
            flat = v.reshape(B).astype(bool)
            if flat.all() or not flat.any():
                return bool(flat[0])
            raise _BatchSplit(self._trace, _groups_from_keys(flat.reshape(B, 1)))
        return self._decide(bool)

    def __int__(self):
        return self._decide(int)

    def __float__(self):
        check_convertible(self, "float() (or a math function, np.float64(x), a[i] = x)")
        return self._decide(float)

    def __index__(self):
        return self._decide(operator.index)

    def __complex__(self):
        check_convertible(self, "complex()")
        return self._decide(complex)

    def __repr__(self):
        return f"BatchTracer(level={self._trace.level}, bdim={self.bdim}, primal={self.primal!r})"


def _row_keys(flat):
    """Rows usable by np.unique(axis=0): NaN made comparable (and equal to NaN only)."""
    if flat.dtype.kind == "c":
        flat = np.concatenate([flat.real, flat.imag], axis=1)
    if flat.dtype.kind == "f":
        nan, neg0 = np.isnan(flat), (flat == 0) & np.signbit(flat)
        flat = np.concatenate([np.where(nan, 0.0, flat), nan + 2.0 * neg0], axis=1)
    return flat


def _scalar_key(o):
    if isinstance(o, complex):
        return (o.real, o.imag)
    if isinstance(o, float) and o != o:
        return (np.inf, 1.0)
    if isinstance(o, float) and o == 0:
        return (0.0, -1.0 if math.copysign(1.0, o) < 0 else 0.0)      # -0.0 is not 0.0
    return (float(o), 0.0) if not isinstance(o, (int, bool)) else (o, 0)


# ---------------------------------------------------------------- trace ---

_warned = set()


class BatchTrace(Trace):
    __slots__ = ("size",)

    def __init__(self, level, size):
        super().__init__(level)
        self.size = size

    def unwrap(self, args):
        vals, bdims = [], []
        for a in args:
            if isinstance(a, BatchTracer) and a._trace is self:
                vals.append(a.primal)
                bdims.append(a.bdim)
            else:
                if isinstance(a, Tracer) and a._trace.level >= self.level:
                    raise a._trace.leaked()
                vals.append(a)
                bdims.append(None)
        return vals, bdims

    def wrap(self, out, bdim):
        if bdim is None:
            return out
        return BatchTracer(self, out, bdim)

    def process(self, p, args, params):
        if self.done:
            raise self.leaked()
        vals, bdims = self.unwrap(args)
        if all(d is None for d in bdims):
            return bind(p, *vals, **params)
        rule = batch_rules.get(p)
        if rule is None:                  # a primitive defined outside chainrule without one
            rule = _loop_rule(p)
        out, out_bdim = rule(vals, bdims, **params)
        if p.multiple_results:
            if not isinstance(out_bdim, (tuple, list)):
                out_bdim = [out_bdim] * len(out)
            return tuple(self.wrap(o, d) for o, d in zip(out, out_bdim))
        return self.wrap(out, out_bdim)

    def process_custom_jvp(self, custom, args):
        # Batch the function and its rule; the result is again a custom_jvp function,
        # so an enclosing derivative transformation still uses the rule.  type(custom) is
        # chainrule.api.custom_jvp: an interpreter does not import the API layer.
        custom_jvp = type(custom)
        leaves, tree = tree_flatten(list(args))
        vals, bdims = self.unwrap(leaves)
        axes = tree_unflatten(tree, bdims)
        name = _name_of(self)           # collectives inside still act across this batch
        new = custom_jvp(lambda *xs: vmap(custom.fun, in_axes=tuple(axes), axis_name=name)(*xs))
        new.defjvp(lambda primals, tangents: vmap(
            lambda p, t: custom.jvp(tuple(p), tuple(t)),
            in_axes=(tuple(axes), tuple(axes)), axis_name=name)(tuple(primals), tuple(tangents)))
        out = new(*tree_unflatten(tree, vals))
        return _wrap_tree(self, out)

    def process_custom_vjp(self, custom, args):
        custom_vjp = type(custom)       # chainrule.api.custom_vjp, as above
        leaves, tree = tree_flatten(list(args))
        vals, bdims = self.unwrap(leaves)
        axes = tuple(tree_unflatten(tree, bdims))
        name = _name_of(self)
        new = custom_vjp(lambda *xs: vmap(custom.fun, in_axes=axes, axis_name=name)(*xs))

        def fwd(*xs):
            return vmap(custom.fwd, in_axes=axes, axis_name=name)(*xs)

        # one example's zeros for each argument leaf: a None cotangent becomes these before
        # flattening, so every cotangent leaf lines up with its argument's batch axis
        example_zeros = [np.zeros(tuple(n for i, n in enumerate(shape_of(v)) if i != d), dtype_of(v))
                         for v, d in zip(vals, bdims)]
        arg_positions = tree_unflatten(tree, list(range(len(leaves))))

        def example_bwd(r, c):
            cts = custom.bwd(r, c)
            if isinstance(cts, (tuple, list)) and len(cts) == len(arg_positions):
                cts = [tree_map(lambda k: example_zeros[k], pos) if ct is None else ct
                       for ct, pos in zip(cts, arg_positions)]
            return tuple(cts)

        def bwd(res, ct):
            cts = vmap(example_bwd, in_axes=(0, 0), axis_name=name)(res, ct)
            ct_leaves, ct_tree = tree_flatten(list(cts))
            fixed = []
            for c, d in zip(ct_leaves, bdims):
                fixed.append(R.sum(c, axis=0) if d is None else _moveaxis(c, 0, d))
            return tuple(tree_unflatten(ct_tree, fixed))
        new.defvjp(fwd, bwd)
        out = new(*tree_unflatten(tree, vals))
        return _wrap_tree(self, out)


def _name_of(trace):
    """The axis name whose innermost binding is `trace` over its whole batch, else None."""
    seen = set()
    for name, t, whole in reversed(axis_names.get()):
        if name not in seen and t is trace:
            return name if whole else None      # a split part: the old binding refuses collectives
        seen.add(name)
    return None


def _wrap_tree(trace, out):
    """Outputs of a vmapped call (batch axis 0) as tracers of `trace`."""
    leaves, tree = tree_flatten(out)
    return tree_unflatten(tree, [trace.wrap(o, 0) for o in leaves])


def _loop_rule(p):
    """Fallback for a primitive without a batching rule: one call per example, stacked."""
    if p.name not in _warned:
        _warned.add(p.name)
        warnings.warn(f"vmap: primitive '{p.name}' has no batching rule; evaluating it once per "
                      "batch element (correct but slow)", RuntimeWarning, stacklevel=4)

    def rule(args, bdims, **params):
        size = next(shape_of(a)[d] for a, d in zip(args, bdims) if d is not None)
        outs = []
        for i in range(size):
            ai = [a if d is None else S.getitem(a, (slice(None),) * d + (i,)) for a, d in zip(args, bdims)]
            outs.append(bind(p, *ai, **params))
        if p.multiple_results:
            return tuple(S.stack([o[k] for o in outs]) for k in range(len(outs[0]))), 0
        return S.stack(outs), 0
    return rule


def _moveaxis(x, src, dst):
    nd = len(shape_of(x))
    src, dst = src % nd, dst % nd
    if src == dst:
        return x
    perm = [i for i in range(nd) if i != src]
    perm.insert(dst, src)
    return S.transpose(x, tuple(perm))


# ----------------------------------------------------------------- vmap ---

def _is_axis(a):
    return a is None or (isinstance(a, (int, np.integer)) and not isinstance(a, bool))


def _prefix_axes(prefix, tree_value, what, where):
    """Broadcast an axis-spec pytree `prefix` over the leaves of `tree_value`."""
    n = len(tree_flatten(tree_value)[0])
    if _is_axis(prefix):
        return [prefix] * n
    p_leaves, p_tree = tree_flatten(prefix, is_leaf=lambda x: x is None)
    try:
        subtrees = p_tree.flatten_up_to(tree_value)
    except ValueError as e:
        raise ValueError(f"vmap {what} {prefix!r} does not match the structure of {where}: {e}") from None
    out = []
    for ax, sub in zip(p_leaves, subtrees):
        if not _is_axis(ax):
            raise ValueError(f"vmap {what} must hold integers or None, got {ax!r} in {prefix!r}")
        out.extend([ax] * len(tree_flatten(sub)[0]))
    return out


def _arg_names(f, n):
    try:
        names = list(inspect.signature(f).parameters)
    except (TypeError, ValueError):
        names = []
    return [f" ({names[i]})" if i < len(names) else "" for i in range(n)]


class _LazyNames:
    """' (name)' of each positional parameter, looked up only for an error message."""

    def __init__(self, f, n):
        self.f, self.n, self.names = f, n, None

    def __getitem__(self, i):
        if self.names is None:
            self.names = _arg_names(self.f, self.n)
        return self.names[i]


def vmap(f, in_axes=0, out_axes=0, axis_name=None, axis_size=None):
    """Vectorise `f` over a batch axis of its arguments.

    in_axes: an int, None (not batched), or a tuple with one entry per positional
    argument, each an int/None or a pytree prefix of that argument.  Negative
    axes count from the end.  Keyword arguments are passed unbatched.
    out_axes: where the batch axis goes in each output (an int, None for an
    unbatched output, or a pytree prefix of the output).  Outputs that do not
    depend on the batch are broadcast along the batch when their out_axes is an int.
    axis_name: a hashable name for the mapped axis, so that the collectives of
    `chainrule.lax` (psum, pmean, pmax, pmin, all_gather, axis_index) inside `f`
    can act across it.
    axis_size: the batch size, needed only when no argument is batched.

    Python control flow (`if`, `while`, `bool()`, `int()`, `float()`, indexing
    with a traced integer) that reads a batched value whose examples disagree
    splits the batch: each group of agreeing examples runs separately and the
    results are put back in order.
    """
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    if not (_is_axis(in_axes) or isinstance(in_axes, tuple)):
        raise ValueError(f"vmap in_axes must be an int, None or a tuple, got {in_axes!r}")
    if axis_size is not None and (not isinstance(axis_size, (int, np.integer)) or axis_size < 0):
        raise ValueError(f"vmap axis_size must be a non-negative integer, got {axis_size!r}")
    if axis_name is not None:
        try:
            hash(axis_name)
        except TypeError:
            raise TypeError(f"vmap axis_name must be hashable (a string, say), got {axis_name!r}") from None

    @functools.wraps(f)
    def batched(*args, **kwargs):
        if isinstance(in_axes, tuple) and len(in_axes) != len(args):
            raise ValueError(f"vmap in_axes has {len(in_axes)} entries but the function was called "
                             f"with {len(args)} positional arguments; give one entry per argument")
        names = _LazyNames(f, len(args))
        axes, leaves, owners = [], [], []
        for i, a in enumerate(args):
            ax_i = in_axes if _is_axis(in_axes) else in_axes[i]
            l_i = tree_flatten(a)[0]
            axes.extend(_prefix_axes(ax_i, a, "in_axes", f"argument {i}{names[i]}"))
            leaves.extend(l_i)
            owners.extend([i] * len(l_i))
        _, tree = tree_flatten(tuple(args))
        sizes = []
        norm_axes = []
        for leaf, ax, i in zip(leaves, axes, owners):
            if ax is None:
                norm_axes.append(None)
                continue
            shp = shape_of(leaf)
            nd = len(shp)
            if not -nd <= ax < nd:
                raise ValueError(
                    f"vmap in_axes={ax} for argument {i}{names[i]} of shape {tuple(shp)}: "
                    + ("a scalar has no axis to map over" if nd == 0 else
                       f"axis out of range for an array of dimension {nd}"))
            norm_axes.append(ax % nd)
            sizes.append((int(shp[ax % nd]), i, ax))
        distinct = {s for s, _, _ in sizes}
        if axis_size is not None:
            distinct.add(int(axis_size))
        if len(distinct) > 1:
            parts = [f"argument {i}{names[i]} has size {s} along axis {ax}" for s, i, ax in sizes]
            if axis_size is not None:
                parts.append(f"axis_size={axis_size}")
            raise ValueError("vmap got inconsistent sizes for the mapped axes: " + "; ".join(parts))
        if not distinct:
            raise ValueError("vmap needs at least one batched argument (an in_axes entry that is not "
                             "None, on an array argument) or an explicit axis_size")
        size = distinct.pop()
        leaves = [x if (d is None or isinstance(x, (Tracer, np.ndarray))) else np.asarray(x)
                  for x, d in zip(leaves, norm_axes)]
        out_leaves, out_tree = _vmap_flat(f, kwargs, tree, leaves, norm_axes, out_axes, size, axis_name)
        return tree_unflatten(out_tree, out_leaves)
    return batched


def _vmap_flat(f, kwargs, tree, leaves, axes, out_axes, size, axis_name=None, whole=True):
    """Run f batched; returns (output leaves with out_axes applied, output tree)."""
    with new_level() as level:
        trace = BatchTrace(level, size)
        split = None
        token = None if axis_name is None else axis_names.set(axis_names.get() + ((axis_name, trace, whole),))
        try:
            ins = [x if d is None else BatchTracer(trace, x, d) for x, d in zip(leaves, axes)]
            out = f(*tree_unflatten(tree, ins), **kwargs)
            o_leaves, o_tree = tree_flatten(out)
            o_axes = _prefix_axes(out_axes, out, "out_axes", "the function's output")
            res = [_finish(trace, o, ax, size, k) for k, (o, ax) in enumerate(zip(o_leaves, o_axes))]
            return res, o_tree
        except _BatchSplit as e:
            if e.trace is not trace:
                raise
            split = e
        finally:
            trace.done = True
            if token is not None:
                axis_names.reset(token)
    return _run_split(f, kwargs, tree, leaves, axes, out_axes, size, split.groups, axis_name)


def _finish(trace, o, ax, size, k):
    """One output: move its batch axis to `ax`, or broadcast an unbatched output."""
    if isinstance(o, BatchTracer) and o._trace is trace:
        if ax is None:
            raise ValueError(f"vmap out_axes is None for output {k}, but that output depends on "
                             "the batched arguments; give it an integer out_axes")
        nd = len(shape_of(o.primal))
        if not -nd <= ax < nd:
            raise ValueError(f"vmap out_axes={ax} is out of range for output {k} of rank {nd - 1}")
        return _moveaxis(o.primal, o.bdim, ax % nd)
    if isinstance(o, Tracer) and o._trace.level >= trace.level:
        raise o._trace.leaked("output")
    if ax is None:
        return o
    shp = tuple(shape_of(o))
    nd = len(shp) + 1
    if not -nd <= ax < nd:
        raise ValueError(f"vmap out_axes={ax} is out of range for output {k} of rank {nd - 1}")
    ax = ax % nd
    if not isinstance(o, (Tracer, np.ndarray)):
        o = np.asarray(o)
    expanded = S.reshape(o, shp[:ax] + (1,) + shp[ax:])
    out = S.broadcast_to(expanded, shp[:ax] + (size,) + shp[ax:])
    return np.array(out) if isinstance(out, np.ndarray) else out    # writable, not a view


def _run_split(f, kwargs, tree, leaves, axes, out_axes, size, groups, axis_name=None):
    """Run f on each group of agreeing examples; reassemble in the original order."""
    if len(groups) < 2:                     # every split must make progress
        raise RuntimeError("vmap: internal error: a batch split produced a single group")
    parts = []
    for idx in groups:
        sub = [x if d is None else S.getitem(x, (slice(None),) * d + (idx,)) for x, d in zip(leaves, axes)]
        parts.append(_vmap_flat(f, kwargs, tree, sub, axes, out_axes, len(idx), axis_name, whole=False))
    o_tree = parts[0][1]
    for _, t in parts[1:]:
        if t != o_tree:
            raise ValueError("vmap: the examples took different Python branches that return outputs of "
                             f"different structures ({o_tree} and {t}); return the same structure "
                             "from every branch")
    # the out_axes of each leaf (recomputed on a representative output)
    o_axes = _prefix_axes(out_axes, tree_unflatten(o_tree, parts[0][0]), "out_axes",
                          "the function's output")
    inverse = np.argsort(np.concatenate(groups), kind="stable")
    res = []
    for k, ax in enumerate(o_axes):
        vals = [p[0][k] for p in parts]
        if ax is None:
            first = np.asarray(concrete(vals[0]))
            for v in vals[1:]:
                if not np.array_equal(first, np.asarray(concrete(v)), equal_nan=first.dtype.kind in "fc"):
                    raise ValueError(f"vmap out_axes is None for output {k}, but examples that took "
                                     "different Python branches give it different values")
            res.append(vals[0])
            continue
        nd = len(shape_of(vals[0]))
        ax = ax % nd
        cat = S.concatenate(vals, axis=ax) if len(vals) > 1 else vals[0]
        res.append(S.getitem(cat, (slice(None),) * ax + (inverse,)))
    return res, o_tree
