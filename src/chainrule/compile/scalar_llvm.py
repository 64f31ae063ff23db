"""The native tier for long scalar programs: straight-line LLVM IR, compiled by llvmlite.

A program whose values are all float64 (or boolean) scalars, such as the
gradient of a long scalar chain, becomes one LLVM function with one
instruction per equation and C math-library calls (whose nan/inf semantics
are NumPy's).  LLVM compiles thousands of straight-line instructions in a
fraction of a second at -O0, where numba would need seconds, and the call
avoids Python's per-line cost.  Guards branch to a "miss" exit.  A long program
is cut into functions of `CHUNK_EQNS` equations (LLVM's code generation is
superlinear in a function's length), so compile time stays linear.  llvmlite
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
from . import fpstatus, native

MIN_EQNS = 200            # below this, generated Python is as fast and compiles instantly
MAX_EQNS = 400_000        # above this, jit does not compile natively (its memory grows too)
CHUNK_EQNS = 1_000        # equations per LLVM function (code generation is superlinear in one)

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
    if not MIN_EQNS <= len(prog.eqns) <= MAX_EQNS or not native.available():
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


_D, _Q = struct.Struct("<d"), struct.Struct("<Q")


def _double(x):
    return f"0x{_Q.unpack(_D.pack(float(x)))[0]:016X}"


class _Emitter:
    def __init__(self):
        self.lines, self.n = [], 0
        self.types = {}

    def tmp(self):
        self.n += 1
        return f"%t{self.n}"

    def ref(self, a, want):
        """An LLVM operand for `a` converted to type `want` ('double' or 'i1')."""
        if type(a) is Var:
            name, typ = f"%v{a.id}", ("i1" if a.dtype.kind == "b" else "double")
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


_ADDRESSES = {}


def _libm_address(name):
    """The address of C function `name` in this process (None if not found).  Calling it
    through a constant pointer is what LLVM's fast instruction selector can do in the JIT's
    large code model; a call of the named symbol costs a slow selection per call (3x the
    compile time of a libm-heavy program)."""
    if name not in _ADDRESSES:
        addr = None
        try:
            addr = _llvm().address_of_symbol(name) or ctypes.cast(
                getattr(ctypes.CDLL(None), name), ctypes.c_void_p).value
        except (AttributeError, OSError, TypeError):
            pass
        _ADDRESSES[name] = addr or None
    return _ADDRESSES[name]


def lower(prog, chunk=None, by_address=False):
    """LLVM IR text for `prog` (see `_lower`)."""
    return _lower(prog, chunk, by_address)[0]


def _lower(prog, chunk=None, by_address=False):
    """LLVM IR text for `prog`: ``i32 f(double* in, double* out, double* env)``, returning 1
    on a guard miss.

    LLVM's code generation costs more than linear time in a function's length, so the
    equations are cut into functions of `chunk` (default `CHUNK_EQNS`) equations each,
    called in order by ``f``; a value one of them computes and a later one reads goes
    through ``env`` (booleans as 0.0/1.0).  With `by_address`, C functions are called
    through their addresses in this process (what is compiled; the text shown to users
    names them).  Returns (IR text, doubles in env).
    """
    size = chunk or CHUNK_EQNS
    em = _Emitter()
    guards = {}
    for g in prog.guards:
        guards.setdefault(g.var.id, []).append(g)
    eqns = prog.eqns
    n_chunks = max(1, -(-len(eqns) // size))
    in_index = {v.id: k for k, v in enumerate(prog.invars)}
    home = dict.fromkeys(in_index, -1)     # var id -> the function defining it (inputs: -1)
    slots = {}                             # var id -> its double in env
    var_of = {}                            # var id -> Var, of those in env
    stores = [[] for _ in range(n_chunks)]  # per function: the ids it puts in env
    labels = [0]
    libm = set()                 # (C function, number of arguments) the program calls

    def guard(var):
        out = em.lines
        for g in guards.get(var.id, []):
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

    def load(vid, out):
        """Read a value defined outside this function: an input, or a double of env."""
        if vid in in_index:
            out.append(f"  %p{vid} = getelementptr double, double* %in, i64 {in_index[vid]}")
            out.append(f"  %v{vid} = load double, double* %p{vid}")
            return
        out.append(f"  %p{vid} = getelementptr double, double* %env, i64 {slots[vid]}")
        if var_of[vid].dtype.kind == "b":
            out.append(f"  %d{vid} = load double, double* %p{vid}")
            out.append(f"  %v{vid} = fcmp une double %d{vid}, 0.0")
        else:
            out.append(f"  %v{vid} = load double, double* %p{vid}")

    def imported(a, c, seen):
        """Note that function c reads `a`: an id to load if another function defines it."""
        vid = a.id
        h = home[vid]
        if h != c and vid not in seen:
            seen[vid] = None
            if h >= 0 and vid not in slots:
                slots[vid] = len(slots)
                var_of[vid] = a
                stores[h].append(vid)
    sig = "(double* %in, double* %out, double* %env)"
    parts = []                   # per function: (ids it loads, its body)
    for c in range(n_chunks):
        body = em.lines = []
        seen = {}
        if c == 0:               # the first function reads every input and checks its guards
            seen = dict.fromkeys(in_index)
            for v in prog.invars:
                guard(v)
        for e in eqns[c * size:(c + 1) * size]:
            if n_chunks > 1:
                for a in e.invars:
                    if type(a) is Var:
                        imported(a, c, seen)
            _emit_eqn(e, em, libm, by_address)
            o = e.outvars[0]                # one output each (scalar forms)
            home[o.id] = c
            if o.id in guards:
                guard(o)
        if c == n_chunks - 1:               # the last function writes the outputs
            for v in prog.outvars:
                if type(v) is Var:
                    imported(v, c, seen)
            for k, v in enumerate(prog.outvars):
                body.append(f"  %q{k} = getelementptr double, double* %out, i64 {k}")
                body.append(f"  store double {em.ref(v, 'double')}, double* %q{k}")
        parts.append((seen, body))
    out = []
    for c, (loads, body) in enumerate(parts):
        name = "chainrule_fn" if n_chunks == 1 else f"chainrule_part{c}"
        linkage = "" if n_chunks == 1 else "internal "
        out.append(f"define {linkage}i32 @{name}{sig} noinline {{")
        out.append("entry:")
        for vid in loads:
            load(vid, out)
        out += body
        em.lines = out
        for vid in stores[c]:
            out.append(f"  %s{vid} = getelementptr double, double* %env, i64 {slots[vid]}")
            out.append(f"  store double {em.ref(var_of[vid], 'double')}, double* %s{vid}")
        out += ["  ret i32 0", "miss:", "  ret i32 1", "}"]
    if n_chunks > 1:                   # the entry point calls the parts in order
        out.append(f"define i32 @chainrule_fn{sig} {{")
        out.append("entry:")
        for c in range(n_chunks):
            out.append(f"  %r{c} = call i32 @chainrule_part{c}(double* %in, double* %out, double* %env)")
            out.append(f"  %m{c} = icmp ne i32 %r{c}, 0")
            out.append(f"  br i1 %m{c}, label %miss, label %next{c}")
            out.append(f"next{c}:")
        out += ["  ret i32 0", "miss:", "  ret i32 1", "}"]
    decls = [f"declare double @{f}({', '.join(['double'] * n)})" for f, n in sorted(libm)]
    return "\n".join(decls + out) + "\n", len(slots)


_KINDS = {}


def _kind(p):
    """(0, instruction) for arithmetic, (1, C function) for a libm call, (2, None) else."""
    k = _KINDS.get(p)
    if k is None:
        form = scalar_forms.get(p)
        op = form.op if form is not None else None
        if op in _ARITH:
            k = (0, _ARITH[op])
        elif op is None and p not in _OWN and p not in _LOGIC and form is not None and form.libm:
            k = (1, form.libm)
        else:
            k = (2, None)
        _KINDS[p] = k
    return k


def _dref(a, em):
    """An operand of type double (the common case of `_Emitter.ref`, kept short)."""
    if type(a) is Var and a.dtype.kind == "f":
        return f"%v{a.id}"
    return em.ref(a, "double")


def _emit_eqn(e, em, libm, by_address=False):
    out = em.lines
    p, o = e.prim, e.outvars[0]
    a = e.invars
    kind, x = _kind(p)
    if kind == 0:
        out.append(f"  %v{o.id} = {x} double {_dref(a[0], em)}, {_dref(a[1], em)}")
        return
    if kind == 1:
        callee = _callee(x, len(a), by_address)
        if callee[0] == "@":
            libm.add((x, len(a)))
        args = ", ".join([f"double {_dref(b, em)}" for b in a])
        out.append(f"  %v{o.id} = call double {callee}({args})")
        return
    form = scalar_forms.get(p)
    op = form.op if form is not None else None
    dst = f"%v{o.id}"
    if op in _ARITH:
        out.append(f"  {dst} = {_ARITH[op]} double {em.ref(a[0], 'double')}, {em.ref(a[1], 'double')}")
    elif op in _CMP:
        out.append(f"  {dst} = fcmp {_CMP[op]} double {em.ref(a[0], 'double')}, {em.ref(a[1], 'double')}")
    elif p is E.safe_mul_p:        # g * d, with 0 where a factor is 0 and the other inf or nan
        # the masked factors are replaced before multiplying (quiet compares only), so a
        # strong zero raises no "invalid" flag: fpstatus reports what eager NumPy reports
        g, d = em.ref(a[0], "double"), em.ref(a[1], "double")

        def bad(x):                # x is inf, -inf or nan
            t = [em.tmp() for _ in range(5)]
            out.append(f"  {t[0]} = fcmp oeq double {x}, 0x7FF0000000000000")
            out.append(f"  {t[1]} = fcmp oeq double {x}, 0xFFF0000000000000")
            out.append(f"  {t[2]} = fcmp uno double {x}, 0.0")
            out.append(f"  {t[3]} = or i1 {t[0]}, {t[1]}")
            out.append(f"  {t[4]} = or i1 {t[3]}, {t[2]}")
            return t[4]
        gz, dz, m1, m2, mask, g2, d2, prod = (em.tmp() for _ in range(8))
        gbad, dbad = bad(g), bad(d)
        out.append(f"  {gz} = fcmp oeq double {g}, 0.0")
        out.append(f"  {dz} = fcmp oeq double {d}, 0.0")
        out.append(f"  {m1} = and i1 {gz}, {dbad}")
        out.append(f"  {m2} = and i1 {dz}, {gbad}")
        out.append(f"  {mask} = or i1 {m1}, {m2}")
        out.append(f"  {g2} = select i1 {mask}, double 0.0, double {g}")
        out.append(f"  {d2} = select i1 {mask}, double 0.0, double {d}")
        out.append(f"  {prod} = fmul double {g2}, {d2}")
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
        callee = _callee(form.libm, len(a), by_address)
        if callee[0] == "@":
            libm.add((form.libm, len(a)))
        args = ", ".join([f"double {em.ref(x, 'double')}" for x in a])
        out.append(f"  {dst} = call double {callee}({args})")
    else:                                            # pragma: no cover - eligible() filters
        raise NotImplementedError(p.name)
    if o.dtype.kind == "b" and op not in _CMP and p not in _BOOL_RESULT:
        raise NotImplementedError(p.name)


_CALLEES = {}


def _callee(fn, n, by_address):
    """How a call names C function `fn` of `n` doubles: ``@fn``, or its address."""
    key = (fn, n, by_address)
    if key not in _CALLEES:
        addr = _libm_address(fn) if by_address else None
        sig = ", ".join(["double"] * n)
        _CALLEES[key] = f"@{fn}" if addr is None else f"inttoptr (i64 {addr} to double ({sig})*)"
    return _CALLEES[key]


def _flags_entry():
    """LLVM text of ``chainrule_entry``: clear the divide/overflow/invalid flags, run
    ``chainrule_fn``, return its miss bit with the raised flags above it (NumPy's warnings
    without a Python call each side); empty where the flags cannot be read."""
    clear, test = _libm_address("feclearexcept"), _libm_address("fetestexcept")
    if not fpstatus.ALL or not clear or not test:
        return ""
    fn = "i32 (i32)*"
    return "\n".join([
        "define i32 @chainrule_entry(double* %in, double* %out, double* %env) {",
        "entry:",
        f"  %c = call i32 inttoptr (i64 {clear} to {fn})(i32 {fpstatus.ALL})",
        "  %r = call i32 @chainrule_fn(double* %in, double* %out, double* %env)",
        f"  %f = call i32 inttoptr (i64 {test} to {fn})(i32 {fpstatus.ALL})",
        "  %s = shl i32 %f, 1",
        "  %v = or i32 %s, %r",
        "  ret i32 %v",
        "}", ""])


_PTR = ctypes.POINTER(ctypes.c_double)
_FN = ctypes.CFUNCTYPE(ctypes.c_int32, _PTR, _PTR, _PTR)


class ScalarKernel:
    """A compiled scalar program; call with the input leaves, get the output tuple."""

    def __init__(self, prog, miss):
        global live
        self.ir, n_env = _lower(prog, by_address=True)
        self._flags = _flags_entry()
        if self._flags:
            self.ir += self._flags
        with _lock:                      # one thread at a time parses, adds and links
            llvm = _llvm()
            mod = llvm.parse_assembly(self.ir)
            mod.verify()
            # an engine of its own (it owns the module and the target machine), freed with
            # the kernel: dropping a jitted function gives its machine code back
            target = llvm.Target.from_default_triple().create_target_machine(opt=0)
            engine = llvm.create_mcjit_compiler(mod, target)
            engine.finalize_object()
            entry = "chainrule_entry" if self._flags else "chainrule_fn"
            self._fn = _FN(engine.get_function_address(entry))
            live += 1
        weakref.finalize(self, _release, engine)
        self._n_in, self._n_out = len(prog.invars), len(prog.outvars)
        self._in_t, self._out_t = ctypes.c_double * self._n_in, ctypes.c_double * self._n_out
        self._env_t = ctypes.c_double * n_env if n_env else None   # one buffer per call
        self._bool_out = [isinstance(v, Var) and v.dtype == _BOOL for v in prog.outvars]
        self._miss = miss

    def __call__(self, *leaves):
        inp = self._in_t(*leaves)
        res = self._out_t()
        status = self._fn(inp, res, self._env_t() if self._env_t is not None else None)
        if status & 1:
            raise self._miss
        if status:                     # floating-point flags the native code raised
            fpstatus.report_flags(status >> 1, "jit-compiled code")
        return tuple(bool(r) if b else r for r, b in zip(res, self._bool_out))
