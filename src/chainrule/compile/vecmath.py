"""Vectorisable sin, cos and exp for the native kernels (imports numba: load it lazily).

Branch-free, so LLVM vectorises the loops that call them (libm's versions are
calls it cannot vectorise: 10-20x slower per element).  sin and cos: reduction
modulo pi/4 in three parts (Cody and Waite) and the minimax polynomials of
Moshier's Cephes library, about 1 ulp for |x| <= 1e8.  exp: reduction by ln 2
in two parts, Cephes' rational approximation, and 2^n built from its bits;
about 1.5 ulp for |x| <= 708.  Kernels check those ranges and re-run with libm
outside them (or on nan).
"""
import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

DP1, DP2, DP3 = 7.85398125648498535156e-1, 3.77489470793079817668e-8, 2.69515142907905952645e-15
FOPI = 1.2732395447351626862      # 4 / pi
S0, S1, S2, S3, S4, S5 = (1.58962301576546568060e-10, -2.50507477628578072866e-8,
                          2.75573136213857245213e-6, -1.98412698295895385996e-4,
                          8.33333333332211858878e-3, -1.66666666666666307295e-1)
C0, C1, C2, C3, C4, C5 = (-1.13585365213876817300e-11, 2.08757008419747316778e-9,
                          -2.75573141792967388112e-7, 2.48015872888517045348e-5,
                          -1.38888888888730564116e-3, 4.16666666666665929218e-2)


@numba.njit(inline="always", error_model="numpy")
def reduce_quarter_pi(x):
    """(octant, sin and cos polynomials of the reduced argument) for |x|."""
    y = abs(x)
    j = np.int64(y * FOPI)
    j = j + (j & 1)
    yj = np.float64(j)
    z = ((y - yj * DP1) - yj * DP2) - yj * DP3
    zz = z * z
    ps = z + z * zz * (((((S0 * zz + S1) * zz + S2) * zz + S3) * zz + S4) * zz + S5)
    pc = 1.0 - 0.5 * zz + zz * zz * (((((C0 * zz + C1) * zz + C2) * zz + C3) * zz + C4) * zz + C5)
    return j & 7, ps, pc


@numba.njit(inline="always", error_model="numpy")
def vsin(x):
    q, ps, pc = reduce_quarter_pi(x)
    r = pc if (q & 2) else ps
    return -r if ((q > 3) != (x < 0)) else r


@numba.njit(inline="always", error_model="numpy")
def vcos(x):
    q, ps, pc = reduce_quarter_pi(x)
    r = ps if (q & 2) else pc
    return -r if ((q + 2) & 4) else r


LOG2E = 1.4426950408889634
LN2_HI, LN2_LO = 6.93145751953125e-1, 1.42860682030941723212e-6
P0, P1, P2 = 1.26177193074810590878e-4, 3.02994407707441961300e-2, 9.99999999999999999910e-1
Q0, Q1, Q2, Q3 = (3.00198505138664455042e-6, 2.52448340349684104192e-3,
                  2.27265548208155028766e-1, 2.00000000000000000009e0)


@intrinsic
def _bits_to_float(typingctx, bits):
    """The float64 whose IEEE bits are the int64 `bits` (an LLVM bitcast)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@numba.njit(inline="always", error_model="numpy")
def vexp(x):
    px = np.floor(LOG2E * x + 0.5)
    r = (x - px * LN2_HI) - px * LN2_LO
    rr = r * r
    p = r * ((P0 * rr + P1) * rr + P2)
    q = ((Q0 * rr + Q1) * rr + Q2) * rr + Q3
    e = 1.0 + 2.0 * p / (q - p)
    return e * _bits_to_float((np.int64(px) + 1023) << 52)
