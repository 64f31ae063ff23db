"""Operators, array methods and NumPy's dispatch protocols for traced values.

`install()` attaches them to `chainrule.core.Tracer`.  The tables below map
NumPy's functions to `chainrule.numpy` explicitly, by name; a NumPy function
that has no entry raises a TypeError that names it.
"""
from __future__ import annotations

import numpy as np

from ..core import Tracer
from .. import numpy as cnp
from . import linalg as cla

_UFUNC_NAMES = [
    "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh",
    "arccosh", "arctanh", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt",
    "cbrt", "square", "reciprocal", "negative", "positive", "absolute", "sign", "floor", "ceil",
    "trunc", "rint", "conjugate", "isnan", "isinf", "isfinite", "add", "subtract", "multiply",
    "divide", "true_divide", "power", "float_power", "arctan2", "hypot", "maximum", "minimum",
    "logaddexp", "logaddexp2", "remainder", "mod", "floor_divide", "less", "less_equal",
    "greater", "greater_equal", "equal", "not_equal", "logical_and", "logical_or",
    "logical_xor", "logical_not", "matmul", "deg2rad", "rad2deg", "degrees", "radians",
]
UFUNCS = {getattr(np, n): getattr(cnp, n) for n in _UFUNC_NAMES}
_REDUCERS = {np.add: cnp.sum, np.multiply: cnp.prod, np.maximum: cnp.max, np.minimum: cnp.min}
_ACCUMULATORS = {np.add: cnp.cumsum, np.multiply: cnp.cumprod}

_FUNCTION_NAMES = [
    "sum", "prod", "max", "min", "amax", "amin", "mean", "var", "std", "average", "ptp",
    "cumsum", "cumprod", "argmax", "argmin", "argsort", "sort", "any", "all", "count_nonzero",
    "reshape", "ravel", "transpose", "swapaxes", "moveaxis", "expand_dims", "squeeze",
    "broadcast_to", "broadcast_arrays", "concatenate", "stack", "hstack", "vstack",
    "column_stack", "split", "array_split", "tile", "repeat", "flip", "fliplr", "flipud", "roll",
    "pad", "diag", "diagonal", "trace", "triu", "tril", "take", "take_along_axis", "atleast_1d",
    "atleast_2d", "atleast_3d", "where", "clip", "nonzero", "dot", "inner", "outer", "vdot",
    "tensordot", "einsum", "kron", "real", "imag", "conj", "round", "around", "sinc",
    "shape", "ndim", "size", "zeros_like", "ones_like", "full_like", "empty_like", "copy",
    "iscomplexobj", "allclose", "array_equal", "asarray", "array",
]
_LINALG_NAMES = ["solve", "inv", "det", "slogdet", "cholesky", "eigh", "eigvalsh", "svd", "qr", "norm",
                 "pinv", "matrix_power", "svdvals", "vector_norm", "matrix_norm"]


def _function_table():
    table = {getattr(np, n): getattr(cnp, n) for n in _FUNCTION_NAMES if hasattr(np, n)}
    for n in _LINALG_NAMES:
        if hasattr(cla, n):
            table[getattr(np.linalg, n)] = getattr(cla, n)
    return table


FUNCTIONS = {}


# keyword arguments of a ufunc call that change nothing at their default value
_CALL_DEFAULTS = {"casting": "same_kind", "order": "K", "subok": True, "where": True, "signature": None}


def _special_ufunc(ufunc):
    """The chainrule.scipy.special function for one of SciPy's special-function ufuncs, else None."""
    import sys
    sc = sys.modules.get("scipy.special")          # a SciPy ufunc exists only once SciPy is imported
    name = ufunc.__name__
    if sc is None or getattr(sc, name, None) is not ufunc:
        return None
    from ..scipy import special as css
    return getattr(css, name, None) if name in css.__all__ else None


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


def _array_function(self, func, types, args, kwargs):
    if not FUNCTIONS:
        FUNCTIONS.update(_function_table())
    impl = FUNCTIONS.get(func)
    if impl is None:
        mod = getattr(func, "__module__", None) or "numpy"
        if any(part.startswith("_") for part in mod.split(".")):   # numpy._core.x -> numpy
            mod = "numpy"
        raise TypeError(f"chainrule does not support {mod}.{func.__name__} on traced values; "
                        "see chainrule.numpy for the supported functions")
    return impl(*args, **kwargs)


def _binop(fn):
    return lambda self, other: fn(self, other)


def _rbinop(fn):
    return lambda self, other: fn(other, self)


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
    T.__neg__ = lambda self: cnp.negative(self)
    T.__pos__ = lambda self: self
    T.__abs__ = lambda self: cnp.absolute(self)
    T.__invert__ = lambda self: cnp.logical_not(self)
    T.__getitem__ = lambda self, idx: cnp._S.getitem(self, idx)
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
        setattr(T, name, getattr(cnp, name))
    T.sort = _no_inplace_sort
