"""Products: matmul and einsum (the multilinear primitives everything else uses), with their rules."""
from __future__ import annotations

import numpy as np

from ..core import Primitive, bind, shape_of, dtype_of
from ..rules import defjvp, defvjp, defjvp_full, defvjp_full, batch_rules, taylor_rules
from . import batch_rules as B
from . import elementwise as E
from . import shape as S
from . import reductions as R
from . import series as T


def swap_last(x):
    nd = len(shape_of(x))
    return S.transpose(x, tuple(range(nd - 2)) + (nd - 1, nd - 2))


# --------------------------------------------------------------- matmul ---

matmul_p = Primitive("matmul", np.matmul)


def matmul(a, b):
    if not shape_of(a) or not shape_of(b):
        raise ValueError("matmul: input operand does not have enough dimensions (use multiply for scalars)")
    return bind(matmul_p, a, b)


def _matmul_ct_a(g, ans, a, b):
    na, nb = len(shape_of(a)), len(shape_of(b))
    if na == 1 and nb == 1:
        return g * b
    if nb == 1:                                   # (..., n, k) @ (k,) -> (..., n)
        return E.unbroadcast(a, S.expand_dims(g, -1) * b)
    if na == 1:                                   # (k,) @ (..., k, m) -> (..., m)
        return E.unbroadcast(a, S.squeeze(matmul(b, S.expand_dims(g, -1)), -1))
    return E.unbroadcast(a, matmul(g, swap_last(b)))


def _matmul_ct_b(g, ans, a, b):
    na, nb = len(shape_of(a)), len(shape_of(b))
    if na == 1 and nb == 1:
        return g * a
    if na == 1:                                   # outer product of a with g
        return E.unbroadcast(b, S.expand_dims(a, -1) * S.expand_dims(g, -2))
    if nb == 1:
        return E.unbroadcast(b, S.squeeze(matmul(swap_last(a), S.expand_dims(g, -1)), -1))
    return E.unbroadcast(b, matmul(swap_last(a), g))


def _matmul_batch(args, bdims):
    (a, b), (da, db) = args, bdims
    ra = B.ndim(a) - (da is not None)
    rb = B.ndim(b) - (db is not None)
    pad = B.pad_after_batch
    if db is None:
        a = B.to_front(a, da)
        if ra == 1:                 # (B, k) @ b: a stack of row vectors
            return bind(matmul_p, a, b), (0 if rb == 1 else rb - 2)
        if rb == 2:                 # (B, ..., m, k) @ (k, n): one matrix product
            sa = tuple(shape_of(a))
            out = bind(matmul_p, S.reshape(a, (-1, sa[-1])), b)
            return S.reshape(out, sa[:-1] + tuple(shape_of(b))[-1:]), 0
        return bind(matmul_p, pad(a, rb - ra), b), 0
    if da is None:
        b = B.to_front(b, db)
        if rb == 1:                 # a @ (k, B): the examples as columns
            return bind(matmul_p, a, S.transpose(b, (1, 0))), ra - 1
        if ra == 2:                 # (m, k) @ (B, ..., k, n): the examples side by side
            sb = tuple(shape_of(b))
            nd = len(sb)
            perm = tuple(range(1, nd - 1)) + (0, nd - 1)          # (..., k, B, n)
            bt = S.reshape(S.transpose(b, perm), sb[1:-1] + (sb[0] * sb[-1],))
            out = bind(matmul_p, a, bt)                             # (..., m, B*n)
            return S.reshape(out, tuple(shape_of(out))[:-1] + (sb[0], sb[-1])), nd - 2
        return bind(matmul_p, a, pad(b, ra - rb)), 0
    a, b = B.to_front(a, da), B.to_front(b, db)
    if ra == 1 and rb == 1:
        return bind(einsum_p, a, b, spec="zk,zk->z"), 0
    if ra == 1:
        sa = tuple(shape_of(a))
        out = bind(matmul_p, S.reshape(a, sa[:1] + (1,) * (rb - 2) + (1,) + sa[1:]), b)
        so = tuple(shape_of(out))
        return S.reshape(out, so[:-2] + so[-1:]), 0
    if rb == 1:
        sb = tuple(shape_of(b))
        out = bind(matmul_p, a, S.reshape(b, sb[:1] + (1,) * (ra - 2) + sb[1:] + (1,)))
        return S.reshape(out, tuple(shape_of(out))[:-1]), 0
    r = max(ra, rb)
    return bind(matmul_p, pad(a, r - ra), pad(b, r - rb)), 0


defjvp(matmul_p, lambda t, ans, a, b: matmul(t, b), lambda t, ans, a, b: matmul(a, t))
defvjp(matmul_p, _matmul_ct_a, _matmul_ct_b)
batch_rules[matmul_p] = _matmul_batch
taylor_rules[matmul_p] = T.multilinear(matmul_p)


# --------------------------------------------------------------- einsum ---

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def normalize_spec(spec, shapes):
    """An explicit einsum spec ('ij,jk->ik') with any '...' spelled out."""
    spec = spec.replace(" ", "")
    ins, _, out = spec.partition("->")
    ins = ins.split(",")
    if len(ins) != len(shapes):
        raise ValueError(f"einsum spec {spec!r} names {len(ins)} operands, got {len(shapes)}")
    used = set("".join(ins) + out) - set(".")
    free = [c for c in _LETTERS if c not in used]
    n_ell = max((len(s) - len(i.replace("...", "")) for i, s in zip(ins, shapes) if "..." in i), default=0)
    ell = "".join(free[:n_ell])
    fixed = []
    for i, s in zip(ins, shapes):
        if "..." in i:
            k = len(s) - len(i.replace("...", ""))
            i = i.replace("...", ell[n_ell - k:])
        if len(i) != len(s):
            raise ValueError(f"einsum operand subscripts {i!r} do not match its shape {s}")
        fixed.append(i)
    if not _:
        counts = {}
        for c in "".join(fixed):
            counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    elif "..." in out:
        out = out.replace("...", ell)
    return ",".join(fixed) + "->" + out


def _einsum_impl(*ops, spec):
    return np.einsum(spec, *ops, optimize=len(ops) > 2)


einsum_p = Primitive("einsum", _einsum_impl)


def _einsum_jvp(primals, tangents, spec):
    ans = bind(einsum_p, *primals, spec=spec)
    out_t = None
    for i, t in enumerate(tangents):
        if t is not None:
            ops = list(primals)
            ops[i] = t
            c = bind(einsum_p, *ops, spec=spec)
            out_t = c if out_t is None else out_t + c
    return ans, out_t


def _einsum_vjp(g, ans, primals, argnums, spec):
    ins, out = spec.split("->")
    ins = ins.split(",")
    cts = []
    for i in argnums:
        target = ins[i]
        if len(set(target)) != len(target):
            raise NotImplementedError(
                f"reverse mode of einsum with a repeated index within one operand ({target!r}) "
                "is not supported; take the diagonal with chainrule.numpy.diagonal first")
        others = [s for j, s in enumerate(ins) if j != i]
        have = set(out).union(*others)
        reduced = "".join(c for c in target if c in have)
        sub = ",".join([out] + others) + "->" + reduced
        ct = bind(einsum_p, g, *[x for j, x in enumerate(primals) if j != i], spec=sub)
        if dtype_of(ct).kind == "c" and dtype_of(primals[i]).kind != "c":
            ct = E.real(ct)
        if reduced != target:
            xs = shape_of(primals[i])
            ct = S.broadcast_to(S.reshape(ct, tuple(n if c in have else 1 for c, n in zip(target, xs))), xs)
        cts.append(ct)
    return cts


def _einsum_batch(args, bdims, spec):
    ins, out = spec.split("->")
    z = next(c for c in _LETTERS if c not in spec)        # a fresh letter for the batch axis
    ops, subs = [], []
    for a, d, sub in zip(args, bdims, ins.split(",")):
        ops.append(a if d is None else B.to_front(a, d))
        subs.append(sub if d is None else z + sub)
    return bind(einsum_p, *ops, spec=",".join(subs) + "->" + z + out), 0


defjvp_full(einsum_p, _einsum_jvp)
defvjp_full(einsum_p, _einsum_vjp)
batch_rules[einsum_p] = _einsum_batch
taylor_rules[einsum_p] = T.multilinear(einsum_p)


def einsum(spec, *operands, optimize=None):
    """`numpy.einsum` with an explicit subscripts string."""
    if not isinstance(spec, str):
        raise TypeError("chainrule.numpy.einsum takes the subscripts string form only")
    spec = normalize_spec(spec, [shape_of(x) for x in operands])
    return bind(einsum_p, *operands, spec=spec)


def tensordot(a, b, axes=2):
    na, nb = len(shape_of(a)), len(shape_of(b))
    if isinstance(axes, (int, np.integer)):
        ax_a, ax_b = list(range(na - axes, na)), list(range(axes))
    else:
        ax_a, ax_b = axes
        ax_a = [ax_a] if isinstance(ax_a, (int, np.integer)) else list(ax_a)
        ax_b = [ax_b] if isinstance(ax_b, (int, np.integer)) else list(ax_b)
    ax_a = [S.normalize_axis(x, na) for x in ax_a]
    ax_b = [S.normalize_axis(x, nb) for x in ax_b]
    la, lb = list(_LETTERS[:na]), list(_LETTERS[na:na + nb])
    for i, j in zip(ax_a, ax_b):
        lb[j] = la[i]
    out = [c for k, c in enumerate(la) if k not in ax_a] + [c for k, c in enumerate(lb) if k not in ax_b]
    return einsum("".join(la) + "," + "".join(lb) + "->" + "".join(out), a, b)


def dot(a, b):
    na, nb = len(shape_of(a)), len(shape_of(b))
    if na == 0 or nb == 0:
        return E.multiply(a, b)
    if na <= 2 and nb <= 2:
        return matmul(a, b)
    return tensordot(a, b, axes=([na - 1], [max(nb - 2, 0)]))


def inner(a, b):
    na, nb = len(shape_of(a)), len(shape_of(b))
    if na == 0 or nb == 0:
        return E.multiply(a, b)
    return tensordot(a, b, axes=([na - 1], [nb - 1]))


def outer(a, b):
    return E.multiply(S.reshape(a, (-1, 1)), S.reshape(b, (1, -1)))


def vdot(a, b):
    return R.sum(E.multiply(E.conj(S.reshape(a, (-1,))), S.reshape(b, (-1,))))


def kron(a, b):
    sa, sb = shape_of(a), shape_of(b)
    nd = max(len(sa), len(sb))
    sa, sb = (1,) * (nd - len(sa)) + sa, (1,) * (nd - len(sb)) + sb
    a, b = S.reshape(a, sa), S.reshape(b, sb)
    a_ex = S.reshape(a, tuple(x for n in sa for x in (n, 1)))
    b_ex = S.reshape(b, tuple(x for n in sb for x in (1, n)))
    return S.reshape(a_ex * b_ex, tuple(m * n for m, n in zip(sa, sb)))
