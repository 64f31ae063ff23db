"""The native tier for long scalar programs: straight-line LLVM IR, compiled by llvmlite.

A program whose values are all float64 (or boolean) scalars, such as the
gradient of a long scalar chain, becomes one LLVM function with one
instruction per equation and C math-library calls (whose nan/inf semantics
are NumPy's).  LLVM compiles thousands of straight-line instructions in a
fraction of a second at -O0, where numba would need seconds, and the call
avoids Python's per-line cost.  Guards branch to a "miss" exit.  llvmlite
comes with numba (``pip install chainrule[native]``).
"""
from __future__ import annotations

import ctypes
import struct
import threading
import weakref

import numpy as np

from ..ir.program import Var
from ..ops import elementwise as E
from ..rules import scalar_forms
from . import native

MIN_EQNS = 200            # below this, generated Python is as fast and compiles instantly

_F64, _BOOL = np.dtype(np.float64), np.dtype(bool)
_ARITH = {"+": "fadd", "-": "fsub", "*": "fmul", "/": "fdiv"}
_CMP = {"<": "olt", "<=": "ole", ">": "ogt", ">=": "oge", "==": "oeq", "!=": "une"}
_LOGIC = {E.and_p: "and", E.or_p: "or", E.xor_p: "xor"}
_OWN = {E.safe_mul_p, E.neg_p, E.stop_gradient_p, E.logical_not_p, E.select_p}
_BOOL_RESULT = set(_LOGIC) | {E.logical_not_p, E.select_p}


def _supported(p):
    """An operator, a C math-library function (from the `rules.Scalar` form) or one of ours."""
    if p in _OWN or p in _LOGIC:
        return True
    form = scalar_forms.get(p)
    return form is not None and (form.op in _ARITH or form.op in _CMP or form.libm is not None)


_ready = False
_lock = threading.RLock()  # LLVM's global context and the engines are not thread-safe
live = 0                   # execution engines alive: one per ScalarKernel not yet collected


def _llvm():
    global _ready
    import llvmlite.binding as llvm
    if not _ready:
        try:                               # older llvmlite needs an explicit initialize()
            llvm.initialize()
        except RuntimeError:
            pass
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        _ready = True
    return llvm


def _release(engine):
    """Free a kernel's engine: its module, its machine code, its target machine."""
    global live
    with _lock:
        engine.close()
        live -= 1


def _scalar_value(v):
    return isinstance(v, (bool, int, float, np.bool_, np.floating, np.integer)) or \
        (isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype in (_F64, _BOOL))


def eligible(prog):
    """Is `prog` a long program over float64/bool scalars with supported operations only?"""
    if len(prog.eqns) < MIN_EQNS or not native.available():
        return False
    for v in prog.invars:
        if v.shape != () or v.dtype != _F64:
            return False
    for e in prog.eqns:
        if not _supported(e.prim):
            return False
        for o in e.outvars:
            if o.shape != () or o.dtype not in (_F64, _BOOL):
                return False
        for a in e.invars:
            if isinstance(a, Var):
                if a.shape != () or a.dtype not in (_F64, _BOOL):
                    return False
            elif not _scalar_value(a.value):
                return False
    for g in prog.guards:
        if g.kind not in ("bool", "float", "int") or g.var.shape != ():
            return False
    # outputs travel as doubles: a constant output must be a float already (an integer such
    # as 2**60 + 1, a bool or a NumPy scalar would come back changed in value or type)
    return all(isinstance(v, Var) or type(v.value) is float for v in prog.outvars)


def _double(x):
    return "0x%016X" % struct.unpack("<Q", struct.pack("<d", float(x)))[0]


class _Emitter:
    def __init__(self):
        self.lines, self.n = [], 0
        self.types = {}

    def tmp(self):
        self.n += 1
        return f"%t{self.n}"

    def ref(self, a, want):
        """An LLVM operand for `a` converted to type `want` ('double' or 'i1')."""
        if isinstance(a, Var):
            name, typ = f"%v{a.id}", ("i1" if a.dtype == _BOOL else "double")
        else:
            v = a.value.item() if isinstance(a.value, (np.ndarray, np.generic)) else a.value
            if want == "i1":
                return "true" if bool(v) else "false"
            return _double(v)
        if typ == want:
            return name
        t = self.tmp()
        if want == "double":
            self.lines.append(f"  {t} = uitofp i1 {name} to double")
        else:
            self.lines.append(f"  {t} = fcmp une double {name}, 0.0")
        return t


def lower(prog):
    """LLVM IR text for `prog`: ``i32 f(double* in, double* out)``, returning 1 on a guard miss."""
    em = _Emitter()
    out = em.lines
    guards = {}
    for g in prog.guards:
        guards.setdefault(g.var.id, []).append(g)
    for k, v in enumerate(prog.invars):
        out.append(f"  %p{k} = getelementptr double, double* %in, i64 {k}")
        out.append(f"  %v{v.id} = load double, double* %p{k}")
    labels = [0]
    libm = set()                 # (C function, number of arguments) the program calls

    def guard(var):
        for g in guards.get(var.id, []):
            name = f"%v{var.id}"
            ok = em.tmp()
            if g.kind == "bool":
                cond = em.ref(var, "i1")
                out.append(f"  {ok} = icmp eq i1 {cond}, {'true' if g.value else 'false'}")
            elif g.kind == "float":            # the same bits (0.0 is not -0.0), or both NaN
                x, v = em.ref(var, "double"), float(g.value)
                if v != v:
                    out.append(f"  {ok} = fcmp uno double {x}, {x}")
                else:
                    bits = em.tmp()
                    out.append(f"  {bits} = bitcast double {x} to i64")
                    out.append(f"  {ok} = icmp eq i64 {bits}, {struct.unpack('<q', struct.pack('<d', v))[0]}")
            else:
                iv = em.tmp()
                out.append(f"  {iv} = fptosi double {em.ref(var, 'double')} to i64")
                out.append(f"  {ok} = icmp eq i64 {iv}, {int(g.value)}")
            labels[0] += 1
            out.append(f"  br i1 {ok}, label %ok{labels[0]}, label %miss")
            out.append(f"ok{labels[0]}:")
            del name
    for v in prog.invars:
        guard(v)
    for e in prog.eqns:
        p, o = e.prim, e.outvars[0]
        form = scalar_forms.get(p)
        op = form.op if form is not None else None
        dst = f"%v{o.id}"
        a = e.invars
        if op in _ARITH:
            out.append(f"  {dst} = {_ARITH[op]} double {em.ref(a[0], 'double')}, {em.ref(a[1], 'double')}")
        elif op in _CMP:
            out.append(f"  {dst} = fcmp {_CMP[op]} double {em.ref(a[0], 'double')}, {em.ref(a[1], 'double')}")
        elif p is E.safe_mul_p:        # g * d, with 0 where it is nan and a factor is 0
            g, d = em.ref(a[0], "double"), em.ref(a[1], "double")
            prod, isnan, gz, dz, anyz, mask = (em.tmp() for _ in range(6))
            out.append(f"  {prod} = fmul double {g}, {d}")
            out.append(f"  {isnan} = fcmp uno double {prod}, 0.0")
            out.append(f"  {gz} = fcmp oeq double {g}, 0.0")
            out.append(f"  {dz} = fcmp oeq double {d}, 0.0")
            out.append(f"  {anyz} = or i1 {gz}, {dz}")
            out.append(f"  {mask} = and i1 {isnan}, {anyz}")
            out.append(f"  {dst} = select i1 {mask}, double 0.0, double {prod}")
        elif p is E.neg_p:
            out.append(f"  {dst} = fneg double {em.ref(a[0], 'double')}")
        elif p is E.stop_gradient_p:
            out.append(f"  {dst} = fadd double {em.ref(a[0], 'double')}, -0.0")   # keeps -0.0
        elif p in _LOGIC:
            out.append(f"  {dst} = {_LOGIC[p]} i1 {em.ref(a[0], 'i1')}, {em.ref(a[1], 'i1')}")
        elif p is E.logical_not_p:
            out.append(f"  {dst} = xor i1 {em.ref(a[0], 'i1')}, true")
        elif p is E.select_p:
            typ = "i1" if o.dtype == _BOOL else "double"
            out.append(f"  {dst} = select i1 {em.ref(a[0], 'i1')}, {typ} {em.ref(a[1], typ)}, "
                       f"{typ} {em.ref(a[2], typ)}")
        elif form is not None and form.libm is not None:
            fn = form.libm
            libm.add((fn, len(a)))
            args = ", ".join(f"double {em.ref(x, 'double')}" for x in a)
            out.append(f"  {dst} = call double @{fn}({args})")
        else:                                            # pragma: no cover - eligible() filters
            raise NotImplementedError(p.name)
        if o.dtype == _BOOL and op not in _CMP and p not in _BOOL_RESULT:
            raise NotImplementedError(p.name)
        guard(o)
    for k, v in enumerate(prog.outvars):
        out.append(f"  %q{k} = getelementptr double, double* %out, i64 {k}")
        out.append(f"  store double {em.ref(v, 'double')}, double* %q{k}")
    out.append("  ret i32 0")
    decls = [f"declare double @{f}({', '.join(['double'] * n)})" for f, n in sorted(libm)]
    body = ["define i32 @chainrule_fn(double* %in, double* %out) {", "entry:"] + out
    body += ["miss:", "  ret i32 1", "}"]
    return "\n".join(decls + body) + "\n"


_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double))


class ScalarKernel:
    """A compiled scalar program; call with the input leaves, get the output tuple."""

    def __init__(self, prog, miss):
        global live
        self.ir = lower(prog)
        with _lock:                      # one thread at a time parses, adds and links
            llvm = _llvm()
            mod = llvm.parse_assembly(self.ir)
            mod.verify()
            # an engine of its own (it owns the module and the target machine), freed with
            # the kernel: dropping a jitted function gives its machine code back
            target = llvm.Target.from_default_triple().create_target_machine(opt=0)
            engine = llvm.create_mcjit_compiler(mod, target)
            engine.finalize_object()
            self._fn = _FN(engine.get_function_address("chainrule_fn"))
            live += 1
        weakref.finalize(self, _release, engine)
        self._n_in, self._n_out = len(prog.invars), len(prog.outvars)
        self._in_t, self._out_t = ctypes.c_double * self._n_in, ctypes.c_double * self._n_out
        self._bool_out = [isinstance(v, Var) and v.dtype == _BOOL for v in prog.outvars]
        self._miss = miss

    def __call__(self, *leaves):
        inp = self._in_t(*leaves)
        res = self._out_t()
        if self._fn(inp, res):
            raise self._miss
        return tuple(bool(r) if b else r for r, b in zip(res, self._bool_out))
