"""The engine's core: primitives, `bind`, tracers and the stack of levels.

A transformation (jvp, vjp, vmap, ...) owns a *trace* at a *level*.  Its values
are *tracers* that point to their trace.  `bind(p, *args)` finds the tracer of
the highest level among the arguments and lets its trace process `p`; with no
tracer among the arguments it runs the primitive's implementation on plain
NumPy values.  Nested transformations get increasing levels, so a value
closed over from an outer transformation is a constant to an inner one and
perturbations never get confused.
"""
from __future__ import annotations

import contextvars
import linecache
import os
import sys
from contextlib import contextmanager

import numpy as np

primitives: dict[str, Primitive] = {}   # name -> Primitive, every primitive ever defined


class Primitive:
    """A named operation; its rules live in the tables of `chainrule.rules`."""

    __slots__ = ("name", "impl", "multiple_results", "nondiff", "__weakref__")

    def __init__(self, name, impl, multiple_results=False, nondiff=False):
        self.name = name
        self.impl = impl
        self.multiple_results = multiple_results
        self.nondiff = nondiff          # piecewise constant: zero derivative
        if name in primitives:
            raise ValueError(f"primitive {name!r} is defined twice")
        primitives[name] = self

    def __repr__(self):
        return self.name

    def bind(self, *args, **params):
        return bind(self, *args, **params)


def bind(p, *args, **params):
    """Apply primitive `p`: the highest-level trace among `args` handles it."""
    top = None
    for a in args:
        if isinstance(a, Tracer):
            t = a._trace
            if top is None or t.level > top.level:
                top = t
    if top is None:
        return p.impl(*args, **params)
    return top.process(p, args, params)


# ---------------------------------------------------------------- levels ---

_depth = contextvars.ContextVar("chainrule_depth", default=0)


@contextmanager
def new_level():
    """Enter a new transformation level; the level is left on any exit."""
    level = _depth.get() + 1
    token = _depth.set(level)
    try:
        yield level
    finally:
        _depth.reset(token)


def current_depth():
    """Number of transformations active in this context (0 outside all)."""
    return _depth.get()


class Trace:
    """Base of the interpreters: `process(p, args, params)` applies `p`."""

    __slots__ = ("level", "done")

    def __init__(self, level):
        self.level = level
        self.done = False

    def process(self, p, args, params):            # pragma: no cover
        raise NotImplementedError

    def process_custom_jvp(self, custom, args):
        """Default for a `custom_jvp` function: differentiate its body."""
        return custom.fun(*args)

    def process_custom_vjp(self, custom, args):
        """Default for a `custom_vjp` function: differentiate its body."""
        return custom.fun(*args)

    def leaked(self, what="value"):
        return LeakedTracerError(
            f"a traced {what} from a finished transformation (level {self.level}) was used "
            "after the transformation returned; return it from the function instead of "
            "storing it in a global or closure")


class LeakedTracerError(RuntimeError):
    """A tracer escaped the transformation that created it."""


class TracerConversionError(TypeError):
    """A value that carries a derivative was converted to a plain Python or NumPy value."""


_LIBRARY_DIRS = (os.path.dirname(os.path.abspath(__file__)) + os.sep,
                 os.path.dirname(os.path.abspath(np.__file__)) + os.sep)


def user_line():
    """'file:line' (and the source text) of the innermost caller outside chainrule and NumPy."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
        frame = frame.f_back
    if frame is None:
        return "an unknown line"
    src = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" + (f" (`{src}`)" if src else "")


def check_convertible(x, what):
    """Raise TracerConversionError if the float/complex value `x` carries a derivative
    (a forward, reverse or Taylor tracer at any nesting): converting it would drop it."""
    t = x
    while isinstance(t, Tracer):
        if t._carries_derivative:
            if dtype_of(x).kind not in "fc":
                return               # integers and booleans have no derivative to drop
            raise TracerConversionError(
                f"{what} of a traced value that carries a derivative would silently drop "
                f"the derivative, at {user_line()}. Keep the computation traced: use NumPy or "
                "chainrule.numpy functions instead of the math module (np.sin(x), not "
                "math.sin(x); chainrule.scipy.special.gammaln(x), not math.lgamma(x)), "
                "operations on x instead of .item()/.tolist(), and chainrule.numpy.stack or "
                "a.at[i].set(x) instead of storing x into a NumPy array. If a constant is "
                "intended, convert chainrule.stop_gradient(x) instead. (Control flow such as "
                "`if x > 0:`, bool(x) and int(x) may still read the value.)")
        t = t.primal


def missing_rule(p, transformation):
    return NotImplementedError(
        f"primitive '{p.name}' has no {transformation} rule; chainrule cannot apply "
        f"{transformation} to it yet")


# --------------------------------------------------------------- tracers ---

class Tracer:
    """A value being transformed.  Subclasses hold `primal` plus their own data.

    Operators and NumPy's dispatch protocols route every operation through
    `chainrule.numpy`, so plain NumPy code runs on tracers unchanged.
    """

    __slots__ = ("_trace",)
    __array_priority__ = 1000
    _carries_derivative = False     # True for forward, reverse and Taylor tracers

    # -- abstract value: shape and dtype are those of the primal
    @property
    def shape(self):
        return shape_of(self.primal)

    @property
    def dtype(self):
        return dtype_of(self.primal)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def __len__(self):
        shape = self.shape
        if not shape:
            raise TypeError("len() of a 0-d traced value")
        return shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # -- Python control flow sees the concrete value (eager transformations)
    def concrete(self):
        """The concrete value behind this tracer, for Python control flow."""
        p = self.primal
        return p.concrete() if isinstance(p, Tracer) else p

    def __bool__(self):
        return bool(self.concrete())

    # float/complex/item/tolist of a value with a derivative raise (they would drop it);
    # bool, int and indices are control flow and read the value
    def __float__(self):
        check_convertible(self, "float() (or a math function, np.float64(x), a[i] = x)")
        return float(self.concrete())

    def __int__(self):
        return int(self.concrete())

    def __index__(self):
        return int(np.asarray(self.concrete()).__index__())

    def __complex__(self):
        check_convertible(self, "complex()")
        return complex(self.concrete())

    def item(self):
        check_convertible(self, ".item()")
        v = self.concrete()
        return v.item() if hasattr(v, "item") else v

    def tolist(self):
        check_convertible(self, ".tolist()")
        return np.asarray(self.concrete()).tolist()

    def __array__(self, dtype=None, copy=None):
        raise TracerConversionError(
            f"a traced value was converted to a plain NumPy array at {user_line()}, which "
            "would drop its derivative (np.asarray(x), np.array([a, b]), np.float64(x) or a "
            "NumPy function chainrule does not support). Use chainrule.numpy.asarray(x) to "
            "keep a traced value, chainrule.numpy.stack([a, b]) (or chainrule.numpy.array) to "
            "build an array from traced values, or chainrule.stop_gradient(x) if a constant "
            "is intended")

    def __setitem__(self, idx, value):
        raise TypeError(f"traced values are immutable: `y[i] = v` at {user_line()} cannot "
                        "update a traced array in place; write `y = y.at[i].set(v)` instead "
                        "(or .add(v), .multiply(v))")

    def __repr__(self):
        return f"{type(self).__name__}(level={self._trace.level}, primal={self.primal!r})"

    __hash__ = None  # type: ignore[assignment]  # unhashable, like ndarray (mypy wants a Callable)

    # operators, NumPy protocols and array methods are attached by chainrule.numpy


def dtype_of(x):
    """NumPy dtype of a value (Python scalars follow NumPy 2's defaults)."""
    d = getattr(x, "dtype", None)
    if d is not None:
        return d
    if isinstance(x, bool):
        return np.dtype(bool)
    if isinstance(x, int):
        return np.dtype(np.int64)
    if isinstance(x, float):
        return np.dtype(np.float64)
    if isinstance(x, complex):
        return np.dtype(np.complex128)
    return np.asarray(x).dtype


_SCALARS = (float, int, complex, bool)


def shape_of(x):
    """Shape of an array, tracer or Python scalar."""
    s = getattr(x, "shape", None)
    if s is not None:
        return s
    return () if type(x) in _SCALARS else np.shape(x)


def check_like(what, values, refs):
    """A custom rule's tangents/cotangents must have the shapes and dtypes of `refs`
    (a Python scalar may stand for a 0-d value of a dtype it casts to)."""
    for i, (v, r) in enumerate(zip(values, refs)):
        dr = dtype_of(r)
        if dr.kind not in "fc":
            continue                    # integer/boolean values have no tangent to check
        sv, sr, dv = tuple(shape_of(v)), tuple(shape_of(r)), dtype_of(v)
        weak = type(v) in (int, float, complex) and np.can_cast(type(v), dr, "same_kind")
        if sv != sr or (dv != dr and not weak):
            raise ValueError(f"{what} {i} has shape {sv} and dtype {dv}, but it must match its "
                             f"primal's shape {sr} and dtype {dr}")


def concrete(x):
    """A plain value for `x`, which may be a tracer (for Python control flow)."""
    return x.concrete() if isinstance(x, Tracer) else x
