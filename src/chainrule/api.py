"""The public transformations: thin pytree wrappers over flat-list cores."""
from __future__ import annotations

import contextlib
import functools
import inspect
import types

import numpy as np

from .core import Tracer, new_level, shape_of, dtype_of
from .interpreters.jvp import JVPTrace, JVPTracer
from .interpreters.vjp import VJPTrace, VJPTracer, backward, gc_paused
from .interpreters.staging import stage_region, no_reuse
from .tree_util import tree_flatten, tree_unflatten, tree_map, unregistered_hint
from .ops.elementwise import stop_gradient  # noqa: F401  (re-exported)

__all__ = ["grad", "value_and_grad", "jvp", "vjp", "linearize", "linear_transpose", "jacfwd",
           "jacrev", "jacobian", "hessian", "hvp", "custom_jvp", "custom_vjp", "checkpoint",
           "stop_gradient", "eval_shape", "ShapeDtypeStruct"]


# ------------------------------------------------------------- checking ---

def _arg_name(f, argnum):
    try:
        params = list(inspect.signature(f).parameters)
        return f" ({params[argnum]})" if argnum < len(params) else ""
    except (TypeError, ValueError):
        return ""


def _check_differentiable(f, leaves, argnum_of_leaf, what, holomorphic=False):
    for x, argnum in zip(leaves, argnum_of_leaf):
        dt = dtype_of(x)
        if dt == np.dtype(object) and not isinstance(x, np.ndarray):
            raise TypeError(
                f"{what}: argument {argnum}{_arg_name(f, argnum)} contains a "
                f"{type(x).__name__} object, which is not an array or a registered pytree; "
                f"{unregistered_hint(x)}")
        if not np.issubdtype(dt, np.inexact):
            raise TypeError(
                f"{what}: argument {argnum}{_arg_name(f, argnum)} has dtype {dt}, which is not "
                "differentiable; pass a floating-point value (e.g. 1.0 instead of 1, or "
                "x.astype(float)), or leave the argument out of argnums")
        if holomorphic and dt.kind != "c":
            raise TypeError(f"{what} with holomorphic=True: argument {argnum}{_arg_name(f, argnum)} "
                            f"has real dtype {dt}; pass a complex value")


def _argnums(argnums, nargs, what):
    single = isinstance(argnums, (int, np.integer))
    nums = (int(argnums),) if single else tuple(int(a) for a in argnums)
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(f"{what}: argnums={argnums} but the function got {nargs} positional arguments")
    nums = tuple(a % nargs for a in nums)
    if len(set(nums)) != len(nums):
        raise ValueError(f"{what}: argnums={argnums} names an argument more than once; "
                         "list each argument once")
    return single, nums


def _split_aux(out):
    """(output, aux) of a has_aux=True function, checked before unpacking."""
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        got = (f"a {type(out).__name__} of length {len(out)}" if isinstance(out, (tuple, list))
               else f"a value of shape {shape_of(out)}" if hasattr(out, "shape") else type(out).__name__)
        raise TypeError(f"has_aux=True needs the function to return a pair "
                        f"(output, aux), but it returned {got}; return `out, aux`, or drop "
                        "has_aux=True")
    return out


def _split_args(f, args, argnums, what, holomorphic=False):
    """Flatten the differentiated arguments: (single, nums, leaves, tree, rebuild)."""
    single, nums = _argnums(argnums, len(args), what)
    diff = tuple(args[i] for i in nums)
    leaves, tree = tree_flatten(diff)
    owner = [n for i, n in enumerate(nums) for _ in tree_flatten(diff[i])[0]]
    _check_differentiable(f, leaves, owner, what, holomorphic)

    def rebuild(new_leaves):
        new = list(args)
        for i, v in zip(nums, tree_unflatten(tree, new_leaves)):
            new[i] = v
        return new
    return single, nums, leaves, tree, rebuild


def _as_like(ct, x):
    """A cotangent/tangent with the dtype of `x` (plain values only)."""
    if isinstance(ct, Tracer):
        if dtype_of(ct).kind == "c" and dtype_of(x).kind != "c":
            from .numpy import real
            ct = real(ct)
        return ct
    dt = dtype_of(x)
    if np.iscomplexobj(ct) and dt.kind != "c":
        ct = np.real(ct)
    if isinstance(x, np.ndarray):
        ct = np.asarray(ct, dtype=dt)
        return ct if ct.flags.writeable else ct.copy()     # never a read-only broadcast view
    return dt.type(ct)


def _check_like(v, x, what, i):
    if shape_of(v) != shape_of(x):
        raise ValueError(f"{what} {i} has shape {shape_of(v)} but its primal has shape {shape_of(x)}")
    dv, dx = dtype_of(v), dtype_of(x)
    if dv != dx and not (isinstance(v, (float, complex)) and not isinstance(v, bool) and dx.kind == dv.kind):
        raise ValueError(f"{what} {i} has dtype {dv} but its primal has dtype {dx}; "
                         f"pass a {dx} value")


def _top_trace(leaves):
    top = None
    for a in leaves:
        if isinstance(a, Tracer) and (top is None or a._trace.level > top.level):
            top = a._trace
    return top


# ------------------------------------------------------------- pickling ---

class _Transformed:
    """A transformed function that pickles as the call that made it (``grad(f, 0, ...)``),
    so plain pickle works where `f` is importable, and nothing computed in this process
    travels: the unpickling process builds the transformation afresh."""

    __slots__ = ("_fn", "_make", "__dict__", "__weakref__")   # __dict__: the wrapped names only

    def __init__(self, fn, make, args):
        functools.update_wrapper(self, fn)
        self._fn, self._make = fn, (make, args)

    def __call__(self, *args, **kwargs):
        return self._fn(*args, **kwargs)

    def __get__(self, obj, cls=None):          # a method, as the plain function was
        return self if obj is None else types.MethodType(self, obj)

    def __reduce__(self):
        return self._make


# ---------------------------------------------------------- reverse mode ---

def _trace_vjp(fun, leaves):
    """Run `fun(tracer_leaves)` under a new reverse-mode level; return (trace, out).

    Directly under jit, `fun` is first staged alone and its loops rolled, and that program
    is what runs under reverse mode (`stage_region`)."""
    if any(isinstance(x, Tracer) for x in leaves):      # (under jit the leaves are tracers)
        with gc_paused():
            fun = stage_region(fun, leaves) or fun
    with new_level() as level, gc_paused():
        trace = VJPTrace(level)
        try:
            out = fun([trace.new_input(x) for x in leaves])
        finally:
            trace.done = True
    return trace, out


def _owned(trace, o):
    """Is output `o` a tracer of `trace`?  (A tracer of a deeper, finished level leaked.)"""
    if isinstance(o, Tracer):
        if o._trace is trace:
            return True
        if o._trace.level > trace.level:
            raise o._trace.leaked("output")
    return False


def _out_nodes(trace, out_leaves):
    """Tape indices (None for outputs that do not depend on the inputs) and primal values."""
    owned = [_owned(trace, o) for o in out_leaves]
    return ([o.idx if own else None for o, own in zip(out_leaves, owned)],
            [o.primal if own else o for o, own in zip(out_leaves, owned)])


def _pull(trace, leaves, idxs, cts, consume=False):
    seeds = [(i, c) for i, c in zip(idxs, cts) if i is not None and c is not None]
    in_cts = backward(trace.tape, seeds, range(len(leaves)), consume) if seeds else [None] * len(leaves)
    return [np.zeros(shape_of(x), dtype_of(x)) if c is None else _as_like(c, x) for c, x in zip(in_cts, leaves)]


def vjp(f, *primals, has_aux=False):
    """(f(*primals), vjp_fn[, aux]): vjp_fn(ct) returns one cotangent per primal."""
    leaves, tree = tree_flatten(primals)
    _check_differentiable(f, leaves, [i for i, p in enumerate(primals) for _ in tree_flatten(p)[0]], "vjp")
    trace, out = _trace_vjp(lambda ts: f(*tree_unflatten(tree, ts)), leaves)
    if has_aux:
        out, aux = _split_aux(out)
    out_leaves, out_tree = tree_flatten(out)
    idxs, vals = _out_nodes(trace, out_leaves)

    def vjp_fn(ct):
        ct_leaves, ct_tree = tree_flatten(ct)
        if ct_tree != out_tree:
            raise ValueError(f"vjp_fn: cotangent structure {ct_tree} does not match the output's {out_tree}")
        for i, (c, v) in enumerate(zip(ct_leaves, vals)):
            _check_like(c, v, "cotangent", i)
        return tuple(tree_unflatten(tree, _pull(trace, leaves, idxs, ct_leaves)))
    res = tree_unflatten(out_tree, vals)
    return (res, vjp_fn, _primal_tree(aux, trace)) if has_aux else (res, vjp_fn)


def _primal_tree(aux, trace):
    def strip(x):
        while isinstance(x, Tracer) and x._trace.level >= trace.level:
            x = x.primal
        return x
    return tree_map(strip, aux)


def value_and_grad(f, argnums=0, has_aux=False, holomorphic=False):
    """f's value and its gradient with respect to the arguments in `argnums`."""
    @functools.wraps(f)
    def value_and_grad_f(*args, **kwargs):
        single, nums, leaves, tree, rebuild = _split_args(f, args, argnums, "grad", holomorphic)
        trace, out = _trace_vjp(lambda ts: f(*rebuild(ts), **kwargs), leaves)
        if has_aux:
            out, aux = _split_aux(out)
        elif isinstance(out, (tuple, list, dict)):
            raise TypeError(f"grad requires a scalar output, but the function returned a "
                            f"{type(out).__name__}; to return extra values next to the scalar, "
                            "return `(out, aux)` and pass has_aux=True")
        if isinstance(out, VJPTracer) and out._trace is trace:
            idx, val = out.idx, out.primal
        else:
            idx, val = None, out
        shp, dt = shape_of(val), dtype_of(val)
        if shp != ():
            raise TypeError(f"grad requires a scalar output, but the function returned shape {shp}; "
                            "use jacrev/jacobian or vjp for non-scalar outputs")
        if dt.kind == "c" and not holomorphic:
            raise TypeError("grad of a complex-valued function needs holomorphic=True")
        if not np.issubdtype(dt, np.inexact):
            raise TypeError(f"grad requires a real floating-point output, got dtype {dt}")
        seed = 1.0 if dt == np.float64 else dt.type(1.0)
        g = _pull(trace, leaves, [idx], [seed], consume=True)
        g = tree_unflatten(tree, g)
        g = g[0] if single else tuple(g)
        if has_aux:
            return (val, _primal_tree(aux, trace)), g
        return val, g
    return _Transformed(value_and_grad_f, value_and_grad, (f, argnums, has_aux, holomorphic))


def grad(f, argnums=0, has_aux=False, holomorphic=False):
    """The gradient of scalar-valued `f` with respect to argument(s) `argnums`."""
    vg = value_and_grad(f, argnums, has_aux, holomorphic)._fn

    @functools.wraps(f)
    def grad_f(*args, **kwargs):
        (value, aux), g = vg(*args, **kwargs) if has_aux else ((None, None), vg(*args, **kwargs)[1])
        return (g, aux) if has_aux else g
    return _Transformed(grad_f, grad, (f, argnums, has_aux, holomorphic))


# ---------------------------------------------------------- forward mode ---

def _trace_jvp(fun, leaves, tangents):
    with new_level() as level:
        trace = JVPTrace(level)
        try:
            out = fun([JVPTracer(trace, x, t) for x, t in zip(leaves, tangents)])
        finally:
            trace.done = True
    return trace, out


def _split_out_jvp(trace, out_leaves):
    owned = [_owned(trace, o) for o in out_leaves]
    vals = [o.primal if own else o for o, own in zip(out_leaves, owned)]
    tans = [o.tangent if own else None for o, own in zip(out_leaves, owned)]
    tans = [np.zeros(shape_of(v), dtype_of(v)) if t is None else t for v, t in zip(vals, tans)]
    return vals, tans


def jvp(f, primals, tangents, has_aux=False):
    """(f(*primals), J @ tangents): forward mode, one pass."""
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp expects primals and tangents as tuples (or lists) of arguments")
    leaves, tree = tree_flatten(tuple(primals))
    t_leaves, t_tree = tree_flatten(tuple(tangents))
    if t_tree != tree:
        raise ValueError(f"jvp: tangents structure {t_tree} does not match primals structure {tree}")
    _check_differentiable(f, leaves, [i for i, p in enumerate(primals) for _ in tree_flatten(p)[0]], "jvp")
    for i, (t, x) in enumerate(zip(t_leaves, leaves)):
        _check_like(t, x, "tangent", i)
    trace, out = _trace_jvp(lambda ts: f(*tree_unflatten(tree, ts)), leaves, t_leaves)
    if has_aux:
        out, aux = _split_aux(out)
    out_leaves, out_tree = tree_flatten(out)
    vals, tans = _split_out_jvp(trace, out_leaves)
    res = (tree_unflatten(out_tree, vals), tree_unflatten(out_tree, tans))
    return res + (_primal_tree(aux, trace),) if has_aux else res


def linearize(f, *primals):
    """(f(*primals), f_jvp) where f_jvp(*tangents) is the JVP at `primals`.

    Each call of f_jvp re-runs forward mode at the primals.
    """
    out = f(*primals)

    def f_jvp(*tangents):
        return jvp(f, primals, tangents)[1]
    return out, f_jvp


def linear_transpose(f, *primals):
    """The transpose of the linear function `f` (primals give shapes and dtypes)."""
    _, pullback = vjp(f, *primals)
    return pullback


# ------------------------------------------------------------ Jacobians ---

def _size(x):
    return int(np.prod(shape_of(x), dtype=np.int64))


def _check_jac_output(out_leaves, holomorphic, what):
    for o in out_leaves:
        if dtype_of(o).kind == "c" and not holomorphic:
            raise TypeError(f"{what} of a complex-valued function needs holomorphic=True")


def jacfwd(f, argnums=0, has_aux=False, holomorphic=False, chunk_size=None):
    """The Jacobian by forward mode: one batched JVP over the input basis.

    Blocks have shape out.shape + in.shape; `chunk_size` bounds how many basis
    vectors are pushed at once (memory on large Jacobians).
    """
    from .jacobians import batched_jacfwd
    return _Transformed(batched_jacfwd(f, argnums, has_aux, holomorphic, chunk_size), jacfwd,
                        (f, argnums, has_aux, holomorphic, chunk_size))


def jacrev(f, argnums=0, has_aux=False, holomorphic=False, chunk_size=None):
    """The Jacobian by reverse mode: one forward pass, one batched pullback over the outputs."""
    from .jacobians import batched_jacrev
    return _Transformed(batched_jacrev(f, argnums, has_aux, holomorphic, chunk_size), jacrev,
                        (f, argnums, has_aux, holomorphic, chunk_size))


def jacobian(f, argnums=0, has_aux=False, holomorphic=False, chunk_size=None):
    """The Jacobian, by forward mode when inputs are fewer than outputs, else reverse."""
    fwd = jacfwd(f, argnums, has_aux, holomorphic, chunk_size)
    rev = jacrev(f, argnums, has_aux, holomorphic, chunk_size)

    @functools.wraps(f)
    def jac(*args, **kwargs):
        _, nums = _argnums(argnums, len(args), "jacobian")
        n_in = sum(_size(x) for i in nums for x in tree_flatten(args[i])[0])
        out = f(*args, **kwargs)
        n_out = sum(_size(o) for o in tree_flatten(out[0] if has_aux else out)[0])
        return fwd(*args, **kwargs) if n_in < n_out else rev(*args, **kwargs)
    return _Transformed(jac, jacobian, (f, argnums, has_aux, holomorphic, chunk_size))


def hessian(f, argnums=0, has_aux=False, holomorphic=False, chunk_size=None):
    """The Hessian, forward over reverse, batched over the input basis."""
    from .jacobians import batched_hessian
    return _Transformed(batched_hessian(f, argnums, has_aux, holomorphic, chunk_size), hessian,
                        (f, argnums, has_aux, holomorphic, chunk_size))


def hvp(f, primals, tangents):
    """Hessian-vector product H(primals) @ tangents, forward over reverse (one pass each)."""
    if len(primals) == 1:
        return jvp(grad(f), tuple(primals), tuple(tangents))[1]
    return jvp(grad(f, argnums=tuple(range(len(primals)))), tuple(primals), tuple(tangents))[1]


# -------------------------------------------------------- custom rules ---

def _nondiff_nums(fun, nondiff_argnums, what, word="nondiff_argnums"):
    """nondiff_argnums (or checkpoint's static_argnums: `word`) as a tuple, checked against
    fun's signature where it is known."""
    nums = (nondiff_argnums,) if isinstance(nondiff_argnums, (int, np.integer)) else tuple(nondiff_argnums)
    if any(not isinstance(i, (int, np.integer)) or isinstance(i, bool) for i in nums):
        raise TypeError(f"{what}: {word}={nondiff_argnums!r} must be ints (argument positions)")
    nums = tuple(int(i) for i in nums)
    if len(set(nums)) != len(nums):
        raise ValueError(f"{what}: {word}={nondiff_argnums} names an argument more than once")
    try:
        ps = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        ps = None
    if ps is not None and not any(p.kind is p.VAR_POSITIONAL for p in ps):
        n = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in ps)
        bad = [i for i in nums if not -n <= i < n]
        if bad:
            raise ValueError(f"{what}: {word}={nondiff_argnums} but "
                             f"{getattr(fun, '__name__', 'the function')} takes {n} positional "
                             f"argument{'s' * (n != 1)}; index {bad[0]} is out of range")
    return nums


class _Nondiff:
    """The split of one call's arguments into non-differentiable ones (`nondiff_argnums`)
    and the rest, and the plain custom function of the rest that a call binds."""

    def __init__(self, custom, args, allow_tracers):
        n, what = len(args), f"{type(custom).__name__} function {custom.__name__}"
        bad = [i for i in custom.nondiff_argnums if not -n <= i < n]
        if bad:
            raise ValueError(f"{what}: nondiff_argnums={custom.nondiff_argnums} but it was called "
                             f"with {n} positional argument{'s' * (n != 1)}; index {bad[0]} is out of range")
        self.nums = nums = sorted({i % n for i in custom.nondiff_argnums})
        self.static = {i: args[i] for i in nums}
        self.traced = [i for i in nums if any(isinstance(x, Tracer) for x in tree_flatten(args[i])[0])]
        if self.traced and not allow_tracers:
            raise TypeError(f"{what}: argument {self.traced[0]} is in nondiff_argnums but holds a "
                            "traced array; nondiff_argnums are for Python values (functions, ints, "
                            "configuration): pass arrays as ordinary arguments (their cotangent may "
                            "be None)")
        self.diff = [i for i in range(n) if i not in self.static]
        self.n = n

    def call_args(self, args):
        """The arguments the bound function takes: the differentiable ones, then the traced
        non-differentiable ones (custom_jvp only; their tangents are dropped)."""
        return [args[i] for i in self.diff] + [args[i] for i in self.traced]

    def full(self, xs):
        """All the arguments, in order, from the bound function's."""
        out = dict(self.static)
        out.update(zip(self.diff + self.traced, xs))
        return [out[i] for i in range(self.n)]

    def nondiff(self, xs):
        """The non-differentiable arguments, in order, with traced ones taken from `xs`."""
        full = self.full(xs)
        return [full[i] for i in self.nums]


def _key(values):
    """A cache key for non-differentiable values (None if one is unhashable)."""
    try:
        key = tuple((type(v), v) for v in values)
        hash(key)
    except TypeError:
        return None
    return key


class _Bound:
    """Per custom function, the plain custom functions bound to non-differentiable values,
    kept for hashable values: a staged loop then sees the same function on each call."""

    SIZE = 32

    def __init__(self):
        self.cache = {}

    def get(self, key, make):
        if key is None:
            return make()
        hit = self.cache.pop(key, None)
        if hit is None:
            hit = make()
            if len(self.cache) >= self.SIZE:
                self.cache.pop(next(iter(self.cache)))
        self.cache[key] = hit
        return hit


class custom_jvp:
    """A function with a hand-written JVP rule (``@f.defjvp``), as in JAX.

    The rule receives ``(primals, tangents)`` tuples and returns
    ``(out, out_tangent)``.  Reverse mode transposes the rule's tangent map.
    With ``nondiff_argnums``, those arguments (functions, ints, configuration) get no
    tangent and are passed first: ``jvp(*nondiff, primals, tangents)``, where primals and
    tangents hold the other arguments.
    """

    def __init__(self, fun, nondiff_argnums=()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.jvp = None
        self.nondiff_argnums = _nondiff_nums(fun, nondiff_argnums, f"custom_jvp({fun.__name__})") \
            if nondiff_argnums != () else ()
        self._bound = _Bound()

    def defjvp(self, jvp):
        self.jvp = jvp
        return jvp

    def defjvps(self, *tangent_fns):
        """One function per argument: ``fn(t, ans, *primals)`` (None: no dependence)."""
        if self.nondiff_argnums:
            raise TypeError(f"custom_jvp function {self.__name__}: defjvps does not take "
                            "nondiff_argnums; write the rule with @f.defjvp")

        def rule(primals, tangents):
            ans = self.fun(*primals)
            out_t = None
            for fn, t in zip(tangent_fns, tangents):
                if fn is not None:
                    c = fn(t, ans, *primals)
                    out_t = c if out_t is None else out_t + c
            return ans, out_t
        self.jvp = rule

    def _bind(self, split):
        """The plain custom_jvp function of the differentiable arguments."""
        nd, n_diff = split, len(split.diff)

        def make():
            inner = custom_jvp(lambda *xs: self.fun(*nd.full(xs)))
            inner.__name__ = self.__name__
            inner.defjvp(lambda primals, tangents: self.jvp(
                *nd.nondiff(primals), tuple(primals[:n_diff]), tuple(tangents[:n_diff])))
            inner.closure_owners = (self.fun, self.jvp, *nd.static.values())
            return inner
        key = None if split.traced else _key([len(split.diff) + len(split.nums)] + split.nums
                                             + list(split.static.values()))
        return self._bound.get(key, make)

    def __call__(self, *args, **kwargs):
        if kwargs:
            raise TypeError(f"custom_jvp function {self.__name__} takes positional arguments only")
        if self.jvp is None:
            raise TypeError(f"custom_jvp function {self.__name__} has no rule: define one with @f.defjvp")
        if self.nondiff_argnums:
            split = _Nondiff(self, args, allow_tracers=True)
            return self._bind(split)(*split.call_args(args))
        top = _top_trace(tree_flatten(list(args))[0])
        if top is None:
            return self.fun(*args)
        return top.process_custom_jvp(self, args)


class custom_vjp:
    """A function with a hand-written reverse-mode rule (``f.defvjp(fwd, bwd)``), as in JAX.

    ``fwd(*args) -> (out, residuals)``; ``bwd(residuals, ct) -> tuple of
    cotangents, one per argument``.  Forward mode differentiates the function body.
    With ``nondiff_argnums``, ``fwd`` still takes every argument, and ``bwd`` takes the
    non-differentiable ones first, ``bwd(*nondiff, residuals, ct)``, and returns cotangents
    of the others only.  A non-differentiable argument may not be a traced array.
    """

    def __init__(self, fun, nondiff_argnums=()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.fwd = self.bwd = None
        self.nondiff_argnums = _nondiff_nums(fun, nondiff_argnums, f"custom_vjp({fun.__name__})") \
            if nondiff_argnums != () else ()
        self._bound = _Bound()

    def defvjp(self, fwd, bwd):
        self.fwd, self.bwd = fwd, bwd

    def _bind(self, split):
        nd = split

        def bwd(res, ct):
            cts = self.bwd(*[nd.static[i] for i in nd.nums], res, ct)
            if isinstance(cts, (tuple, list)) and len(cts) != len(nd.diff):
                raise TypeError(f"custom_vjp function {self.__name__}: the backward function "
                                f"returned {len(cts)} cotangents, but with nondiff_argnums="
                                f"{self.nondiff_argnums} it takes {len(nd.diff)} differentiable "
                                "arguments; return one cotangent per argument not in nondiff_argnums")
            return cts

        def make():
            inner = custom_vjp(lambda *xs: self.fun(*nd.full(xs)))
            inner.__name__ = self.__name__
            inner.defvjp(lambda *xs: self.fwd(*nd.full(xs)), bwd)
            inner.closure_owners = (self.fun, self.fwd, self.bwd, *nd.static.values())
            return inner
        key = _key([len(split.diff) + len(split.nums)] + split.nums + list(split.static.values()))
        return self._bound.get(key, make)

    def __call__(self, *args, **kwargs):
        if kwargs:
            raise TypeError(f"custom_vjp function {self.__name__} takes positional arguments only")
        if self.fwd is None:
            raise TypeError(f"custom_vjp function {self.__name__} has no rule: call f.defvjp(fwd, bwd)")
        if self.nondiff_argnums:
            split = _Nondiff(self, args, allow_tracers=False)
            return self._bind(split)(*split.call_args(args))
        top = _top_trace(tree_flatten(list(args))[0])
        if top is None:
            return self.fun(*args)
        return top.process_custom_vjp(self, args)


def checkpoint(f, *, prevent_cse=True, policy=None, static_argnums=()):
    """`f` that keeps only its inputs for reverse mode and recomputes the rest.

    The backward pass re-runs `f` to rebuild its intermediates, trading one extra forward
    evaluation for not storing them.  ``policy`` (see `chainrule.checkpoint_policies`)
    names results to save instead: `dots_saveable` keeps matrix products,
    `everything_saveable` keeps everything (no recomputation).  ``static_argnums`` are
    arguments that are not differentiated (Python values: ints, functions, flags).
    ``prevent_cse`` (default True) keeps the recomputation under `jit` a recomputation;
    False lets staging merge it with the forward pass (values saved, as without checkpoint).
    """
    from . import checkpoint_policies as P
    name = f"checkpoint({getattr(f, '__name__', 'f')})"
    policy = P.check(policy, name)
    static = _nondiff_nums(f, static_argnums, name, "static_argnums") if static_argnums != () else ()
    if policy is P.everything_saveable:
        inner = f
    else:
        def bound(stat, diff, nums):
            """f of the differentiable arguments (the static ones fixed)."""
            def g(*xs):
                full, it, s = [], iter(xs), iter(stat)
                for i in range(len(xs) + len(stat)):
                    full.append(next(s) if i in nums else next(it))
                return f(*full)
            return g
        inner = custom_vjp(f, nondiff_argnums=static)
        n_static = len(static)

        recompute_all = policy is None or policy is P.nothing_saveable

        def fwd(*args):
            nums = {i % len(args) for i in static}
            diff = tuple(a for i, a in enumerate(args) if i not in nums)
            if recompute_all:
                return f(*args), (diff, [])
            out, saved = P.run(f, args, policy)
            return out, (diff, saved)

        def bwd(*rest):
            stat, (diff, saved), ct = rest[:n_static], rest[n_static], rest[n_static + 1]
            g = bound(stat, diff, {i % (len(diff) + n_static) for i in static})
            if not recompute_all:
                plain = g

                def g(*xs):
                    return P.run(plain, xs, policy, reuse=saved)[0]
            with no_reuse() if prevent_cse else contextlib.nullcontext():
                return vjp(g, *diff)[1](ct)
        inner.defvjp(fwd, bwd)

    @functools.wraps(f)
    def checkpointed(*args, **kwargs):
        if kwargs:      # bind keyword arguments to their positions
            try:
                bound_args = inspect.signature(f).bind(*args, **kwargs)
            except (TypeError, ValueError) as e:
                raise TypeError(f"{name}: {e}") from None
            if bound_args.kwargs:
                raise TypeError(f"{name}: keyword-only arguments {sorted(bound_args.kwargs)} are "
                                "not supported; make them positional, or bind constant values "
                                "with functools.partial")
            args = bound_args.args
        return inner(*args)
    return checkpointed


remat = checkpoint


# ---------------------------------------------------------- shapes only ---

class ShapeDtypeStruct:
    """An array's shape and dtype without its values (what `eval_shape` returns), as in JAX."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)

    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: int(np.prod(self.shape, dtype=np.int64)))

    def __repr__(self):
        return f"ShapeDtypeStruct(shape={self.shape}, dtype={self.dtype.name})"

    def __eq__(self, other):
        return (isinstance(other, ShapeDtypeStruct) and self.shape == other.shape
                and self.dtype == other.dtype)

    def __hash__(self):
        return hash((self.shape, self.dtype))


def _struct_of(x):
    if isinstance(x, (np.ndarray, np.generic, Tracer, ShapeDtypeStruct, bool, int, float, complex)):
        return ShapeDtypeStruct(shape_of(x), dtype_of(x))
    raise TypeError(f"eval_shape: the function returned a {type(x).__name__}, which is not an array "
                    "or a number; return arrays (in any pytree)")


def eval_shape(fun, *args, **kwargs):
    """`fun`'s output as a pytree of `ShapeDtypeStruct`, without returning its values.

    An argument leaf may be a `ShapeDtypeStruct` (it stands for zeros of that shape and dtype);
    arrays are staged as jit stages them.  Shapes come from running the staged function once
    (chainrule has no shape rules), so Python control flow on values sees those values.
    """
    from .interpreters.staging import stage, NotStageable
    leaves, tree = tree_flatten((args, kwargs))
    leaves = [np.zeros(x.shape, x.dtype) if isinstance(x, ShapeDtypeStruct) else x for x in leaves]
    traced = [i for i, x in enumerate(leaves) if isinstance(x, (np.ndarray, np.generic))]

    def flat(dyn):
        full = list(leaves)
        for i, v in zip(traced, dyn):
            full[i] = v
        a, kw = tree_unflatten(tree, full)
        return fun(*a, **kw)
    with np.errstate(all="ignore"):
        try:
            out = stage(flat, ([leaves[i] for i in traced],))[1]
        except NotStageable:           # inside another transformation: run through it
            out = flat([leaves[i] for i in traced])
    return tree_map(_struct_of, out)
