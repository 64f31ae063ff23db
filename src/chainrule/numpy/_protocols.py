"""Operators, array methods and NumPy's dispatch protocols for traced values.

`install()` attaches them to `chainrule.core.Tracer`.  The dispatch tables are derived:
every public function of `chainrule.numpy` (and `chainrule.numpy.linalg`, `.fft`) whose name is
also a NumPy ufunc or function (numpy.linalg, numpy.fft function) handles that NumPy function; a
NumPy function that has no entry raises a TypeError that names it.
"""
from __future__ import annotations

import inspect

import types

import numpy as np

from ..core import Tracer
from .. import numpy as cnp
from . import linalg as cla
from . import fft as cfft


def _public_functions(mod):
    """The public functions that chainrule defines in module `mod` ({name: function}).

    NumPy's own objects re-exported there (``zeros``, ``arange``, ``linspace``, dtypes) are
    left out: mapping a NumPy function to itself would send a dispatched call straight back.
    """
    out = {}
    for name, fn in vars(mod).items():
        if name.startswith("_") or not callable(fn) or isinstance(fn, type):
            continue
        if not (getattr(fn, "__module__", None) or "").startswith("chainrule"):
            continue
        out[name] = fn
    return out


# chainrule.numpy functions that share a NumPy name but must not stand in for it (none today:
# every shared name has NumPy's meaning; `full` and `astype` take NumPy's arguments too).
_NOT_DISPATCHED: set = set()


def _dispatch_tables():
    """numpy.<name> -> chainrule.numpy.<name> for every public chainrule.numpy function.

    Returns (ufuncs, functions): the ufunc table for `__array_ufunc__`, the rest (numpy.<name>
    numpy.linalg.<name> and numpy.fft.<name>) for `__array_function__`.  Aliases (``np.abs is np.absolute``,
    ``np.conj is np.conjugate``) meet at one key; the function named like the ufunc wins.
    """
    ufuncs, functions = {}, {}
    for name, fn in sorted(_public_functions(cnp).items()):
        target = getattr(np, name, None)
        if name in _NOT_DISPATCHED or target is None or not callable(target) or isinstance(target, type):
            continue
        table = ufuncs if isinstance(target, np.ufunc) else functions
        if target in table and table[target] is not fn and getattr(target, "__name__", None) != name:
            continue
        table[target] = fn
    for mod, np_mod in ((cla, np.linalg), (cfft, np.fft)):
        for name, fn in _public_functions(mod).items():
            target = getattr(np_mod, name, None)
            if target is not None and callable(target) and not isinstance(target, type):
                functions[target] = fn
    return ufuncs, functions


UFUNCS = _dispatch_tables()[0]
_REDUCERS = {np.add: cnp.sum, np.multiply: cnp.prod, np.maximum: cnp.max, np.minimum: cnp.min}
_ACCUMULATORS = {np.add: cnp.cumsum, np.multiply: cnp.cumprod}


def _function_table():
    return _dispatch_tables()[1]


FUNCTIONS = {}


# keyword arguments of a ufunc call that change nothing at their default value
_CALL_DEFAULTS = {"casting": "same_kind", "order": "K", "subok": True, "where": True, "signature": None}


def _special_ufunc(ufunc):
    """The chainrule.scipy.special function for one of SciPy's special-function ufuncs, else None."""
    import sys
    sc = sys.modules.get("scipy.special")          # a SciPy ufunc exists only once SciPy is imported
    name = ufunc.__name__
    if sc is None:
        return None
    from ..scipy import special as css
    if name in _PRIVATE_UFUNCS and getattr(getattr(sc, "_ufuncs", None), name, None) is ufunc:
        return _PRIVATE_UFUNCS[name](css)
    if getattr(sc, name, None) is not ufunc:
        return None
    return getattr(css, name, None) if name in css.__all__ else None


# SciPy functions that are Python wrappers around a private ufunc: the ufunc's chainrule twin
_PRIVATE_UFUNCS = {"_zeta": lambda css: css.zeta,                     # scipy.special.zeta(x, q)
                   "_riemann_zeta": lambda css: lambda x: css.zeta(x, 1.0)}   # zeta(x)


def _ufunc_call(fn, inputs, kwargs):
    """fn(*inputs) when every keyword is harmless (dtype= casts the inputs first), else None."""
    dtype = kwargs.get("dtype")
    if any(k != "dtype" and (k not in _CALL_DEFAULTS or not _same(v, _CALL_DEFAULTS[k]))
           for k, v in kwargs.items()):
        return None
    if dtype is None:
        return fn(*inputs)
    out = fn(*[cnp.astype(cnp.asarray(a), dtype) for a in inputs])
    if cnp.dtype_of(out) != np.dtype(dtype):        # e.g. a comparison asked for a float result
        return None
    return out


def _same(v, default):
    return v is default or (type(v) is type(default) and v == default)


_REDUCE_KWARGS = {"axis", "keepdims", "initial", "where", "dtype"}


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    if kwargs.get("out") is not None:
        name = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        raise TypeError(f"{name}: out= cannot write a traced value into a NumPy array; "
                        "use the returned value (or x.at[idx].set(...)) instead")
    kwargs.pop("out", None)
    if method == "__call__":
        fn = UFUNCS.get(ufunc) or _special_ufunc(ufunc)
        if fn is not None:
            if not kwargs:
                return fn(*inputs)
            out = _ufunc_call(fn, inputs, kwargs)
            if out is not None:
                return out
    elif method == "reduce" and ufunc in _REDUCERS and set(kwargs) <= _REDUCE_KWARGS:
        kw = {k: v for k, v in kwargs.items() if v is not None and k != "axis"}
        if ufunc in (np.maximum, np.minimum) and "dtype" in kw:
            kw = None
        if kw is not None:
            return _REDUCERS[ufunc](inputs[0], axis=kwargs.get("axis", 0), **kw)
    elif method == "accumulate" and ufunc in _ACCUMULATORS and set(kwargs) <= {"axis", "dtype"} \
            and kwargs.get("dtype") is None:
        return _ACCUMULATORS[ufunc](inputs[0], axis=kwargs.get("axis", 0))
    raise TypeError(_unsupported_ufunc_message(ufunc, method, kwargs))


def _unsupported_ufunc_message(ufunc, method, kwargs):
    """The error message for a ufunc call chainrule cannot apply to a traced value.

    NumPy's own ufuncs are named `numpy.<name>`; SciPy's special functions (also
    ufuncs) are named `scipy.special.<name>`, pointing to `chainrule.scipy.special`.
    """
    import sys
    fname = ufunc.__name__
    call = "" if method == "__call__" else f".{method}"
    extra = f" with arguments {sorted(kwargs)}" if kwargs else ""
    if getattr(np, fname, None) is ufunc:
        return (f"chainrule does not support numpy.{fname}{call}{extra} on traced values; "
                "see chainrule.numpy for the supported functions")
    special = sys.modules.get("scipy.special")
    if special is not None and getattr(special, fname, None) is ufunc:
        from ..scipy import special as cspecial
        if method == "__call__" and fname in cspecial.__all__:
            return (f"chainrule does not support scipy.special.{fname}{extra} on traced values; "
                    f"use chainrule.scipy.special.{fname} instead")
        return (f"chainrule does not support scipy.special.{fname}{call}{extra} on traced "
                "values; chainrule.scipy.special provides: " + ", ".join(cspecial.__all__))
    return (f"chainrule does not support the ufunc {fname}{call}{extra} on traced values "
            "(it is not one of NumPy's); see chainrule.numpy and chainrule.scipy.special "
            "for the supported functions")


def _positional(fn):
    return [q.name for q in inspect.signature(fn).parameters.values()
            if q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD)]


def _misordered(func, impl):
    """NumPy's positional parameter names of `func` when `impl` takes some of them at other
    positions (numpy.sum(a, axis, dtype, out, keepdims) vs sum(x, axis, keepdims, dtype)),
    else None.  A mere renaming (numpy.array_equal(a1, a2) vs array_equal(a, b)) is fine."""
    try:
        theirs, ours = _positional(func), _positional(impl)
        every = set(inspect.signature(func).parameters)
    except (TypeError, ValueError):                # a builtin without a signature
        return None
    for i in range(1, min(len(theirs), len(ours))):
        if theirs[i] != ours[i] and (theirs[i] in ours or ours[i] in every):
            return theirs
    return None


def _reordered(table):
    """{numpy function: its positional parameter names} for the misordered ones."""
    out = {}
    for func, impl in table.items():
        names = _misordered(func, impl)
        if names is not None:
            out[func] = names
    return out


_REORDERED = {}


def _as_keywords(names, args, kwargs, what):
    """NumPy's positional arguments after the first as keywords (None ones, NumPy's default
    for dtype/out/initial, dropped; a real out= refused)."""
    kw = dict(kwargs)
    for name, v in zip(names[1:], args[1:]):
        if name in kw:
            raise TypeError(f"{what}() got multiple values for argument {name!r}")
        kw[name] = v
    if kw.get("out") is not None:
        raise TypeError(f"{what}: out= cannot write a traced value into a NumPy array; use the "
                        "returned value instead")
    return {k: v for k, v in kw.items() if v is not None or k not in ("out", "dtype", "initial")}


def _array_function(self, func, types, args, kwargs):
    if not FUNCTIONS:
        FUNCTIONS.update(_function_table())
        _REORDERED.update(_reordered(FUNCTIONS))
    impl = FUNCTIONS.get(func)
    if impl is not None and func in _REORDERED and (len(args) > 1 or "out" in kwargs):
        return impl(args[0], **_as_keywords(_REORDERED[func], args, kwargs, f"numpy.{func.__name__}"))
    if impl is None and func is np.copyto:
        # np.full(shape, x, dtype) and np.full_like(a, x) fill a NumPy array with np.copyto
        raise TypeError("numpy.copyto cannot write a traced value into a NumPy array (this is "
                        "what numpy.full(shape, x) / numpy.full_like(a, x) do with a traced fill "
                        "value x); use chainrule.numpy.full(shape, x) (or "
                        "chainrule.numpy.full_like(a, x)), which keeps x traced")
    if impl is None:
        mod = getattr(func, "__module__", None) or "numpy"
        if any(part.startswith("_") for part in mod.split(".")):   # numpy._core.x -> numpy
            mod = "numpy"
        raise TypeError(f"chainrule does not support {mod}.{func.__name__} on traced values; "
                        "see chainrule.numpy for the supported functions")
    return impl(*args, **kwargs)


def _binop(fn):
    """`fn` as the method itself when it is a plain function of two arguments (one call
    less per operator on a tracer)."""
    if isinstance(fn, types.FunctionType) and fn.__code__.co_argcount == 2 and not fn.__defaults__:
        return fn
    return lambda self, other: fn(self, other)


def _rbinop(fn):
    return lambda self, other: fn(other, self)


def _method(name):
    """x.<name>(...) with ndarray's argument order (that of numpy.<name> after the array)."""
    fn = getattr(cnp, name)
    theirs = _misordered(getattr(np, name), fn)
    if theirs is None:
        return fn

    def method(self, *args, **kwargs):
        if not args and "out" not in kwargs:
            return fn(self, **kwargs)
        return fn(self, **_as_keywords(theirs, (self,) + args, kwargs, name))
    method.__name__ = name
    return method


def _no_inplace_sort(self, *args, **kwargs):
    raise TypeError("traced values are immutable: use chainrule.numpy.sort(x) (or np.sort(x)) "
                    "instead of x.sort()")


def _clip_method(self, min=None, max=None, *, a_min=None, a_max=None):
    """`x.clip(min, max)`, also with NumPy 1's keyword names `a_min=` / `a_max=`."""
    if (min is not None and a_min is not None) or (max is not None and a_max is not None):
        raise TypeError("clip: pass each bound once (min= or a_min=, max= or a_max=)")
    return cnp.clip(self, a_min if min is None else min, a_max if max is None else max)


def install():
    T = Tracer
    T.__array_ufunc__ = _array_ufunc
    T.__array_function__ = _array_function
    for name, fn in [("add", cnp.add), ("sub", cnp.subtract), ("mul", cnp.multiply),
                     ("truediv", cnp.divide), ("pow", cnp.power), ("matmul", cnp.matmul),
                     ("floordiv", cnp.floor_divide), ("mod", cnp.remainder)]:
        setattr(T, f"__{name}__", _binop(fn))
        setattr(T, f"__r{name}__", _rbinop(fn))
    for name, fn in [("lt", cnp.less), ("le", cnp.less_equal), ("gt", cnp.greater),
                     ("ge", cnp.greater_equal), ("eq", cnp.equal), ("ne", cnp.not_equal),
                     ("and", cnp.logical_and), ("or", cnp.logical_or), ("xor", cnp.logical_xor)]:
        setattr(T, f"__{name}__", _binop(fn))
    T.__neg__ = cnp.negative
    T.__pos__ = lambda self: self
    T.__abs__ = lambda self: cnp.absolute(self)
    T.__invert__ = lambda self: cnp.logical_not(self)
    T.__getitem__ = cnp._S.getitem
    T.__hash__ = None

    T.T = property(lambda self: cnp.transpose(self))
    T.mT = property(lambda self: cnp.swapaxes(self, -1, -2))
    T.real = property(lambda self: cnp.real(self))
    T.imag = property(lambda self: cnp.imag(self))
    T.at = property(lambda self: cnp.at(self))
    T.conj = T.conjugate = lambda self: cnp.conj(self)
    T.reshape = lambda self, *shape, order="C", **kw: cnp.reshape(
        self, kw.pop("shape", shape[0] if len(shape) == 1 else shape), order=order, **kw)
    T.transpose = lambda self, *axes: cnp.transpose(self, (axes[0] if len(axes) == 1 else axes) or None)
    T.ravel = T.flatten = lambda self: cnp.ravel(self)
    T.squeeze = lambda self, axis=None: cnp.squeeze(self, axis)
    T.swapaxes = lambda self, a, b: cnp.swapaxes(self, a, b)
    T.astype = lambda self, dtype: cnp.astype(self, dtype)
    T.copy = lambda self: self
    T.dot = lambda self, other: cnp.dot(self, other)
    T.clip = _clip_method
    T.round = lambda self, decimals=0: cnp.round(self, decimals)
    for name in ["sum", "prod", "max", "min", "mean", "var", "std", "cumsum", "cumprod",
                 "argmax", "argmin", "argsort", "any", "all", "ptp", "trace", "diagonal", "nonzero"]:
        setattr(T, name, _method(name))
    T.sort = _no_inplace_sort
