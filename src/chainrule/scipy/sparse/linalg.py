"""`chainrule.scipy.sparse.linalg`: linear solves with sparse or matrix-free operators,
differentiated implicitly.

``x = A(c)^-1 b`` is computed on values by SciPy (`splu` for `spsolve`, `cg`, `gmres`) in
one `implicit_solve` equation (under `jit` it runs at call time, under `vmap` once per
example), never differentiated through the iterations.  Its derivative is the linear
solve's: ``dx = A^-1 (db - dA x)`` forward, ``ct_b = A^-T ct`` and ``ct_c = -(d(A(c) x)/dc)^T
ct_b`` reverse, each solved by the same method (`spsolve` reuses the factorisation for the
transposed solve; `cg` assumes A symmetric, so ``A^T = A``).  A callable operator ``A(v)``
is staged once (closure conversion: the traced values it reads are its parameters c); its
transpose is its vjp, or `rmatvec` of a `LinearOperator`.

Structure: ``solve_t`` (t = transposed or not) is a `custom_jvp` function whose rule calls
``lin_t``, a `custom_vjp` function of the right-hand side whose body is ``solve_t`` again and
whose backward pass is ``lin_(not t)``: forward mode, reverse mode and their nestings each
end in solves, never in a transpose of the solver.
"""
from __future__ import annotations

import functools
import warnings
from collections import OrderedDict

import numpy as _np

from ... import numpy as cnp
from ...api import custom_jvp, custom_vjp, jvp, linear_transpose, vjp
from ...core import Tracer, dtype_of, shape_of
from ...implicit import _Unstageable, closure_convert, implicit_solve_p
from ._csr import _Pattern, _is_scipy_sparse, csr_matrix, spmv

__all__ = ["spsolve", "cg", "gmres", "LinearOperator", "aslinearoperator"]


# ------------------------------------------------------------ operators ---

def _inexact(x):
    return _np.issubdtype(dtype_of(x), _np.inexact)


def _concrete(x):
    return x.concrete() if isinstance(x, Tracer) else x


class LinearOperator:
    """A matrix-free operator written with chainrule operations: ``matvec(v)`` and optionally
    ``rmatvec(v)`` (A^T v; else the vjp of `matvec` is used).  Values it closes over that
    are traced are differentiated."""

    def __init__(self, shape, matvec, rmatvec=None, dtype=None):
        shape = tuple(int(s) for s in shape)
        if len(shape) != 2:
            raise ValueError(f"LinearOperator: shape must be (m, n), got {shape}")
        if not callable(matvec) or (rmatvec is not None and not callable(rmatvec)):
            raise TypeError("LinearOperator: matvec (and rmatvec) must be callable")
        self.shape, self.matvec, self.rmatvec = shape, matvec, rmatvec
        self.dtype = _np.dtype(float if dtype is None else dtype)

    def __call__(self, v):
        return self.matvec(v)

    def __matmul__(self, v):
        return self.matvec(v)

    def __repr__(self):
        return f"<chainrule LinearOperator of shape {self.shape}>"


def aslinearoperator(A):
    """`A` as a `LinearOperator` (a dense or sparse matrix: its product)."""
    if isinstance(A, LinearOperator):
        return A
    op = _operator(A, "aslinearoperator")
    c = op.consts
    return LinearOperator(op.shape, lambda v: op.apply(c, v, False), lambda v: op.apply(c, v, True))


class _SparseOp:
    """A sparse matrix on a fixed pattern: parameters (data,)."""
    kind = "sparse"

    def __init__(self, pattern, data):
        self.pattern, self.shape, self.consts = pattern, pattern.shape, (data,)

    def apply(self, c, v, trans):
        if not trans:
            return spmv(c[0], self.pattern, v)
        pattern, perm = self.pattern.transpose()
        return spmv(cnp.take(c[0], perm) if perm.size else c[0], pattern, v)

    def scipy(self, cvals):
        import scipy.sparse as sp
        return sp.csr_matrix((_np.asarray(cvals[0], dtype=float), self.pattern.indices,
                              self.pattern.indptr), shape=self.shape)

    def values(self, cvals, trans):
        A = self.scipy(cvals)
        A = A.T.tocsr() if trans else A
        return lambda v: A @ v


class _DenseOp:
    """A dense matrix: parameters (A,)."""
    kind = "dense"

    def __init__(self, A):
        self.shape, self.consts = tuple(shape_of(A)), (A,)

    def apply(self, c, v, trans):
        return cnp.matmul(cnp.transpose(c[0]) if trans else c[0], v)

    def values(self, cvals, trans):
        A = _np.asarray(cvals[0], dtype=float)
        A = A.T if trans else A
        return lambda v: A @ v


def _out_shape(prog):
    v = prog.outvars[0]
    return tuple(v.shape) if hasattr(v, "shape") else _np.shape(v.value)


class _FunOp:
    """A callable operator staged into a program: parameters are the traced values it reads
    (then those `rmatvec` reads)."""
    kind = "function"

    def __init__(self, matvec, rmatvec, shape, what):
        m, n = shape
        try:
            self.g, c = closure_convert(lambda v: matvec(v), _np.zeros(n))
            self.gT, cT = (closure_convert(lambda v: rmatvec(v), _np.zeros(m)) if rmatvec is not None
                           else (None, []))
        except _Unstageable:
            raise TypeError(f"{what}: the operator reads the value of its argument for Python "
                            "control flow, so it cannot be staged; write it with chainrule.numpy "
                            "operations") from None
        for g, k in ((self.g, m), (self.gT, n)):
            if g is not None and _out_shape(g.program) != (k,):
                raise ValueError(f"{what}: the operator maps shape ({shape[1] if g is self.g else m},) "
                                 f"to {_out_shape(g.program)}, expected ({k},) for shape {shape}")
        self.nc = len(c)
        self.shape, self.consts = shape, tuple(c) + tuple(cT)

    def apply(self, c, v, trans):
        cm, ct = c[:self.nc], c[self.nc:]
        if not trans:
            return self.g(v, *cm)
        if self.gT is not None:
            return self.gT(v, *ct)
        return linear_transpose(lambda u: self.g(u, *cm), cnp.zeros(self.shape[1]))(v)[0]

    def values(self, cvals, trans):
        cm, ct = cvals[:self.nc], cvals[self.nc:]
        if not trans:
            return lambda v: _np.asarray(self.g(v, *cm), dtype=float)
        if self.gT is not None:
            return lambda v: _np.asarray(self.gT(v, *ct), dtype=float)
        pull = linear_transpose(lambda u: self.g(u, *cm), _np.zeros(self.shape[1]))
        return lambda v: _np.asarray(pull(v)[0], dtype=float)


class _ConstOp:
    """A SciPy LinearOperator (NumPy code): a constant operator, used on values only."""
    kind = "constant"
    consts = ()

    def __init__(self, A):
        self.A, self.shape = A, tuple(A.shape)

    def apply(self, c, v, trans):          # pragma: no cover - never reached: no parameters
        raise TypeError("a scipy.sparse.linalg.LinearOperator cannot be applied to traced values")

    def values(self, cvals, trans):
        return self.A.rmatvec if trans else self.A.matvec


def _operator(A, what):
    if isinstance(A, csr_matrix):
        return _SparseOp(A.pattern, A.data)
    if _is_scipy_sparse(A):
        s = A.tocsr()
        if _np.issubdtype(s.dtype, _np.complexfloating):
            raise TypeError(f"{what}: complex matrices are not supported")
        return _SparseOp(_Pattern(s.indices, s.indptr, s.shape), s.data.astype(float))
    if isinstance(A, LinearOperator):
        return _FunOp(A.matvec, A.rmatvec, A.shape, what)
    try:
        import scipy.sparse.linalg as spla
        if isinstance(A, spla.LinearOperator):
            return _ConstOp(A)
    except ImportError:                     # pragma: no cover
        pass
    if isinstance(A, (_np.ndarray, Tracer)) or (isinstance(A, (list, tuple)) and not callable(A)):
        A = A if isinstance(A, Tracer) else _np.asarray(A, dtype=float)
        if len(shape_of(A)) != 2:
            raise ValueError(f"{what}: A must be a matrix (2-D), got shape {tuple(shape_of(A))}")
        if not _inexact(A):
            A = A.astype(float)
        return _DenseOp(A)
    if callable(A):
        return None                         # shape from b: see _callable_operator
    raise TypeError(f"{what}: A must be a matrix, a sparse matrix, a LinearOperator or a callable "
                    f"A(v), got {type(A).__name__}")


def _square(op, what):
    m, n = op.shape
    if m != n:
        raise ValueError(f"{what}: A must be square, got shape {op.shape}")
    return n


# --------------------------------------------------------- value solves ---

_FACTORS = OrderedDict()        # (pattern, data bytes, permc_spec) -> SuperLU, most recent last
_MAX_FACTORS = 8


def _factor(op, cvals, permc_spec):
    import scipy.sparse.linalg as spla
    data = _np.ascontiguousarray(cvals[0], dtype=float)
    key = (op.pattern, data.tobytes(), permc_spec)
    lu = _FACTORS.get(key)
    if lu is None:
        A = op.scipy(cvals).tocsc()
        try:
            lu = spla.splu(A, permc_spec=permc_spec)
        except RuntimeError as e:           # exactly singular
            warnings.warn(f"spsolve: {e}; the solution is NaN", RuntimeWarning, stacklevel=6)
            lu = "singular"
        _FACTORS[key] = lu
        while len(_FACTORS) > _MAX_FACTORS:
            _FACTORS.popitem(last=False)
    else:
        _FACTORS.move_to_end(key)
    return lu


def _unused(x, *c):                         # pragma: no cover - the solvers read their inputs
    return x


def _value_solve(f, b, x0, *vals, op, mop, method, opts, trans, nc):
    """x with A x = b (A^T x = b when `trans`), and SciPy's info, on values."""
    c, mc = vals[:nc], vals[nc:]
    b = _np.asarray(b, dtype=float)
    if not _np.any(b):                      # A^-1 0 = 0: the zero tangents of reverse mode
        return _np.zeros_like(b), 0
    if method == "splu":
        lu = _factor(op, c, dict(opts).get("permc_spec"))
        if isinstance(lu, str):
            return _np.full_like(b, _np.nan), 1
        return lu.solve(b, trans="T" if trans else "N"), 0
    import scipy.sparse.linalg as spla
    n = op.shape[0]
    A = spla.LinearOperator((n, n), matvec=op.values(c, trans), dtype=float)
    kw = dict(opts)
    if mop is not None:
        kw["M"] = spla.LinearOperator((n, n), matvec=mop.values(mc, trans and method != "cg"), dtype=float)
    run = spla.cg if method == "cg" else spla.gmres
    x, info = run(A, b, x0=_np.asarray(x0, dtype=float), **kw)
    return x, int(info)


# ------------------------------------------------------ the solve's rules ---

def _same(a, b):
    return len(a) == len(b) and all(u is v for u, v in zip(a, b))


def _linear_solve(op, b, x0, method, opts, mop=None, symmetric=False):
    """(x, info) with ``A(c) x = b`` on values and the derivative of a linear solve."""
    nc = len(op.consts)
    mc = tuple(cnp.stop_gradient(v) if isinstance(v, Tracer) else v for v in (mop.consts if mop else ()))
    sides = (False,) if symmetric else (False, True)
    solve, lin = {}, {}

    def other(t):
        return t if symmetric else not t

    def Ax_of(c, x, t):
        """(d -> A(c with its inexact entries d) x, their positions)."""
        idx = [i for i, v in enumerate(c) if _inexact(v)]

        def Ax(*d):
            cc = list(c)
            for i, v in zip(idx, d):
                cc[i] = v
            return op.apply(cc, x, t)
        return Ax, idx

    def dA_x(c, dc, x, t):
        """d(A(c) x)/dc . dc at fixed x (None when A has no differentiable parameters)."""
        Ax, idx = Ax_of(c, x, t)
        if not idx:
            return None
        return jvp(Ax, tuple(c[i] for i in idx), tuple(dc[i] for i in idx))[1]

    for t in sides:
        solver = functools.partial(_value_solve, op=op, mop=mop, method=method, opts=opts,
                                   trans=t, nc=nc)

        def value(b, x0, *cm, solver=solver, last=[]):  # noqa: B006 - a fresh memo per side and call
            key = [b, x0, *cm]
            if last and _same(last[0], key):
                return last[1]
            out = implicit_solve_p.bind(b, x0, *cm, solver=solver, fun=_unused, n_consts=0, options=())
            last[:] = [key, out]
            return out
        s = custom_jvp(value)

        def rule(primals, tangents, t=t):
            b, x0, *cm = primals
            db, dc = tangents[0], tangents[2:2 + nc]
            x, info = solve[t](b, x0, *cm)
            d = dA_x(cm[:nc], dc, x, t)
            rhs = db if d is None else db - d
            return (x, info), (lin[t](rhs, *cm), cnp.zeros_like(info))
        s.defjvp(rule)
        solve[t] = s

        def lin_fun(r, *cm, t=t):
            return solve[t](r, cnp.zeros_like(r), *cm)[0]
        L = custom_vjp(lin_fun)

        def fwd(r, *cm, t=t, lin_fun=lin_fun):
            x = lin_fun(r, *cm)
            return x, (x, cm)

        def bwd(res, ct, t=t):
            x, cm = res
            y = lin[other(t)](ct, *cm)
            c = cm[:nc]
            Ax, idx = Ax_of(c, x, t)
            cts = [None] * len(cm)
            if idx:
                _, pull = vjp(Ax, *[c[i] for i in idx])
                for i, g in zip(idx, pull(y)):
                    cts[i] = -g
            return (y, *cts)
        L.defvjp(fwd, bwd)
        lin[t] = L
    x, info = solve[False](b, x0, *op.consts, *mc)
    return x, info


# ------------------------------------------------------------------ API ---

def _as_vector(b, what):
    if _is_scipy_sparse(b) or isinstance(b, csr_matrix):
        raise TypeError(f"{what}: a sparse right-hand side is not supported; pass a dense array")
    if isinstance(b, Tracer):
        return b if _inexact(b) else b.astype(float)
    b = _np.asarray(b)
    if _np.issubdtype(b.dtype, _np.complexfloating):
        raise TypeError(f"{what}: complex right-hand sides are not supported")
    return b.astype(float) if not _np.issubdtype(b.dtype, _np.inexact) else b


def _refuse(what, **given):
    for name, v in given.items():
        if v is not None:
            raise NotImplementedError(f"{what}: the keyword {name}= is not implemented")


def spsolve(A, b, permc_spec=None, use_umfpack=True):
    """x with ``A x = b`` for a sparse A (a `csr_matrix`, whose `data` may be traced, or a
    scipy.sparse matrix) and dense b of shape (n,) or (n, k), by SuperLU (SciPy's `splu`,
    the factorisation cached and reused for the transposed solve of reverse mode).
    Differentiable in b and in A's values; `use_umfpack` is ignored (SuperLU is used)."""
    what = "spsolve"
    if callable(A) and not isinstance(A, (csr_matrix, _np.ndarray)) and not _is_scipy_sparse(A):
        raise TypeError(f"{what}: A must be a sparse matrix; for an operator use cg or gmres")
    if isinstance(A, Tracer):
        raise TypeError(f"{what}: A is a traced dense matrix; use chainrule.numpy.linalg.solve, or "
                        "csr_matrix((data, indices, indptr), shape) with the traced values as data")
    if isinstance(A, _np.ndarray):
        A = csr_matrix(_np.asarray(A, dtype=float))
    op = _operator(A, what)
    if not isinstance(op, _SparseOp):
        raise TypeError(f"{what}: A must be a sparse matrix, got {type(A).__name__}")
    n = _square(op, what)
    if permc_spec is not None and permc_spec not in ("NATURAL", "MMD_ATA", "MMD_AT_PLUS_A", "COLAMD"):
        raise ValueError(f"{what}: permc_spec must be one of 'NATURAL', 'MMD_ATA', "
                         f"'MMD_AT_PLUS_A', 'COLAMD', got {permc_spec!r}")
    b = _as_vector(b, what)
    bs = tuple(shape_of(b))
    if len(bs) not in (1, 2) or bs[0] != n:
        raise ValueError(f"{what}: A has shape {op.shape} but b has shape {bs}; b must have shape "
                         f"({n},) or ({n}, k)")
    vector = len(bs) == 2 and bs[1] == 1        # SciPy returns a vector for an (n, 1) b
    opts = (("permc_spec", permc_spec),)
    x, _ = _linear_solve(op, b, cnp.zeros_like(b), "splu", opts)
    return cnp.reshape(x, (n,)) if vector else x


def _callable_operator(A, n, what):
    op = _operator(A, what)
    if op is None:                          # a plain callable: square, of b's size
        op = _FunOp(A, None, (n, n), what)
    return op


def _iterative(method, A, b, x0, rtol, atol, maxiter, M, extra):
    what = method
    b = _as_vector(b, what)
    bs = tuple(shape_of(b))
    if len(bs) == 2 and bs[1] == 1:
        b = cnp.reshape(b, (bs[0],))
    elif len(bs) != 1:
        raise ValueError(f"{what}: b must be a vector, got shape {bs}")
    n = bs[0]
    op = _callable_operator(A, n, what)
    _square(op, what)
    if op.shape[1] != n:
        raise ValueError(f"{what}: A has shape {op.shape} but b has shape {bs}")
    mop = None
    if M is not None:
        mop = _callable_operator(M, n, f"{what}: M")
        if mop.shape != (n, n):
            raise ValueError(f"{what}: M has shape {mop.shape}, expected {(n, n)} like A")
    if x0 is None:
        x0 = cnp.zeros(n)
    else:
        x0 = _as_vector(x0, what)
        if tuple(shape_of(x0)) not in ((n,), (n, 1)):
            raise ValueError(f"{what}: x0 has shape {tuple(shape_of(x0))}, expected ({n},) like b")
        x0 = cnp.reshape(x0, (n,))
    if not (float(rtol) >= 0 and float(atol) >= 0):
        raise ValueError(f"{what}: rtol and atol must be non-negative, got {rtol} and {atol}")
    opts = (("rtol", float(rtol)), ("atol", float(atol)),
            ("maxiter", None if maxiter is None else int(maxiter))) + extra
    return _linear_solve(op, b, x0, method, opts, mop, symmetric=(method == "cg"))


def cg(A, b, x0=None, *, rtol=1e-5, atol=0.0, maxiter=None, M=None, callback=None):
    """``(x, info)`` with ``A x = b`` for a symmetric positive definite A (a matrix, a sparse
    matrix, a `LinearOperator` or a callable ``A(v)`` in chainrule operations) by SciPy's
    conjugate gradients on values; info > 0: not converged in `maxiter` iterations.
    Differentiated implicitly, each tangent or cotangent system solved by cg too (with A's
    symmetry, A^T = A); `x0` and the preconditioner `M` get no derivative."""
    _refuse("cg", callback=callback)
    return _iterative("cg", A, b, x0, rtol, atol, maxiter, M, ())


def gmres(A, b, x0=None, *, rtol=1e-5, atol=0.0, restart=None, maxiter=None, M=None,
          callback=None, callback_type=None):
    """``(x, info)`` with ``A x = b`` for a general square A (as for `cg`) by SciPy's restarted
    GMRES on values.  Differentiated implicitly; reverse mode solves ``A^T y = ct`` by GMRES
    with the operator's transpose (`rmatvec`, a matrix's transpose, or the vjp of a callable)."""
    _refuse("gmres", callback=callback, callback_type=callback_type)
    extra = () if restart is None else (("restart", int(restart)),)
    return _iterative("gmres", A, b, x0, rtol, atol, maxiter, M, extra)
