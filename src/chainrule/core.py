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
from contextlib import contextmanager

import numpy as np

primitives = {}   # name -> Primitive, every primitive ever defined


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

    def __float__(self):
        return float(self.concrete())

    def __int__(self):
        return int(self.concrete())

    def __index__(self):
        return int(np.asarray(self.concrete()).__index__())

    def __complex__(self):
        return complex(self.concrete())

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            "a traced value was converted to a plain NumPy array, which would drop its "
            "derivative; use chainrule.numpy (or NumPy functions chainrule supports) on it, "
            "or wrap the value in chainrule.stop_gradient and call .concrete()")

    def __repr__(self):
        return f"{type(self).__name__}(level={self._trace.level}, primal={self.primal!r})"

    __hash__ = None

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


def concrete(x):
    """A plain value for `x`, which may be a tracer (for Python control flow)."""
    return x.concrete() if isinstance(x, Tracer) else x
