"""The staged program: a flat list of equations in SSA form, with a printer."""
from __future__ import annotations

import numpy as np


class Var:
    """A program variable: a name and an abstract value (shape, dtype, Python scalar?)."""

    __slots__ = ("id", "shape", "dtype", "pyscalar")

    def __init__(self, id, shape, dtype, pyscalar=False):
        self.id, self.shape, self.dtype, self.pyscalar = id, shape, dtype, pyscalar

    @property
    def name(self):
        return f"v{self.id}"

    def __repr__(self):
        return self.name

    def type_str(self):
        kind = "py" if self.pyscalar else ""
        return f"{kind}{self.dtype}{list(self.shape)}"


class Const:
    """A value fixed when the program was staged (a literal or a captured array)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        v = self.value
        if isinstance(v, (bool, int, float, complex)) or (isinstance(v, np.generic) and v.ndim == 0):
            return repr(v.item() if isinstance(v, np.generic) else v)
        return f"const{np.shape(v)}"


def snapshot(v):
    """A copy of array `v` as it is now (what a program keeps of a captured array); axes
    broadcast with stride 0 stay broadcast, so a broadcast constant costs no memory."""
    if not isinstance(v, np.ndarray):
        return v
    if v.ndim and not all(v.strides):
        core = v[tuple(slice(None) if s else slice(0, 1) for s in v.strides)]
        return np.broadcast_to(core.copy(order="K"), v.shape)
    return v.copy(order="K")


def same_value(a, b):
    """Whether a and b hold the same values, as a guard compares them: shapes and dtypes
    equal, NaN equal to NaN, and 0.0 different from -0.0 (math.copysign can tell them apart)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "c":
        return same_value(a.real, b.real) and same_value(a.imag, b.imag)
    if a.dtype.kind != "f":
        return bool(np.array_equal(a, b))
    return bool(np.all(((a == b) & (np.signbit(a) == np.signbit(b))) | (np.isnan(a) & np.isnan(b))))


def const_number(a):
    """The float a constant operand holds everywhere (a number, a 0-d array or a broadcast
    view of one value), else None.  Booleans are not numbers here."""
    if not isinstance(a, Const):
        return None
    v = a.value
    if isinstance(v, np.ndarray):
        if v.size == 0 or (v.size > 1 and any(v.strides)):
            return None
        v = v.flat[0]
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        return None
    return float(v)


class Eqn:
    """``outvars = prim(*invars, **params)``; invars are Vars or Consts."""

    __slots__ = ("prim", "invars", "outvars", "params")

    def __init__(self, prim, invars, outvars, params):
        self.prim, self.invars, self.outvars, self.params = prim, invars, outvars, params

    def __repr__(self):
        outs = ", ".join(f"{v.name}:{v.type_str()}" for v in self.outvars)
        ins = " ".join(repr(v) for v in self.invars)
        params = "".join(f" {k}={_short(v)}" for k, v in self.params.items())
        return f"{outs} = {self.prim.name}[{params.strip()}] {ins}" if params else \
            f"{outs} = {self.prim.name} {ins}"


class Guard:
    """A concrete value that Python control flow read during staging.

    The compiled program checks `kind(var) == value` when it runs (floats by
    `same_value`: 0.0 and -0.0 differ, NaN matches NaN) and re-specialises when the
    check fails.  `value` is a copy, never the caller's array.
    """

    __slots__ = ("var", "kind", "value")

    def __init__(self, var, kind, value):
        self.var, self.kind, self.value = var, kind, value

    def __repr__(self):
        return f"guard {self.kind}({self.var.name}) == {_short(self.value)}"


class Program:
    """invars -> eqns -> outvars, plus the guards the staging run observed."""

    def __init__(self, invars, eqns, outvars, guards, in_tree=None, out_tree=None):
        self.invars, self.eqns, self.outvars, self.guards = invars, eqns, outvars, guards
        self.in_tree, self.out_tree = in_tree, out_tree

    def __repr__(self):
        guard_after = {}
        for g in self.guards:
            guard_after.setdefault(g.var.id, []).append(g)
        lines = ["{ lambda " + ", ".join(f"{v.name}:{v.type_str()}" for v in self.invars) + " ."]
        for v in self.invars:
            lines += [f"    {g!r}" for g in guard_after.get(v.id, [])]
        for e in self.eqns:
            lines.append("    " + repr(e).replace("\n", "\n    "))     # loop bodies nest
            for o in e.outvars:
                lines += [f"    {g!r}" for g in guard_after.get(o.id, [])]
        lines.append("  in (" + ", ".join(repr(v) for v in self.outvars) + ") }")
        return "\n".join(lines)

    __str__ = __repr__


def _short(v):
    if isinstance(v, np.ndarray):
        return f"array{list(v.shape)}" if v.size > 4 else np.array2string(v, separator=",")
    if isinstance(v, tuple):
        return "(" + ",".join(_short(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, slice):
        text = ":".join("" if s is None else str(s) for s in (v.start, v.stop))
        return text if v.step is None else f"{text}:{v.step}"
    return repr(v) if not isinstance(v, np.dtype) else str(v)
