"""`chainrule.scipy.sparse`: a CSR matrix whose values may be traced (`csr_matrix`), and
differentiable sparse and matrix-free linear solves (`chainrule.scipy.sparse.linalg`)."""
from ._csr import csr_matrix, csr_array, issparse  # noqa: F401
from . import linalg  # noqa: F401  (chainrule.scipy.sparse.linalg)

__all__ = ["csr_matrix", "csr_array", "issparse", "linalg"]
