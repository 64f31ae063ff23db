"""`chainrule.scipy`: differentiable counterparts of parts of SciPy (`chainrule.scipy.special`,
`chainrule.scipy.integrate`).

SciPy itself is optional: without it the special functions use NumPy fallbacks.
"""
from . import special  # noqa: F401  (chainrule.scipy.special)
from . import integrate  # noqa: F401  (chainrule.scipy.integrate)
from . import linalg  # noqa: F401  (chainrule.scipy.linalg)
from . import stats  # noqa: F401  (chainrule.scipy.stats)
from . import optimize  # noqa: F401
from . import interpolate  # noqa: F401  (chainrule.scipy.interpolate)
from . import signal  # noqa: F401  (chainrule.scipy.signal)
from . import sparse  # noqa: F401  (chainrule.scipy.sparse, .sparse.linalg)
