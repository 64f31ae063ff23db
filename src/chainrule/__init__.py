"""chainrule: exact derivatives of numerical Python code.

Forward, reverse and Taylor mode automatic differentiation over plain NumPy
arrays, batched (`vmap`) and compiled (`jit`), beside finite differences
(`chainrule.fd`) and a SymPy bridge (`chainrule.symbolic`).
"""
from . import _malloc
from . import numpy  # noqa: F401
from .numpy import _protocols
from . import tree_util  # noqa: F401
from . import fd  # noqa: F401
from . import symbolic  # noqa: F401  (imports SymPy only when used)
from .api import (  # noqa: F401
    grad, value_and_grad, jvp, vjp, linearize, linear_transpose, jacfwd, jacrev, jacobian,
    hessian, hvp, custom_jvp, custom_vjp, checkpoint, remat, stop_gradient, eval_shape, ShapeDtypeStruct,
)
from .core import LeakedTracerError, TracerConversionError  # noqa: F401
from .fd import check_grads  # noqa: F401
from .interpreters.batching import vmap  # noqa: F401
from .jacobians import sparse_jacobian, sparse_hessian  # noqa: F401
from .interpreters.staging import make_ir  # noqa: F401
from .compile.jit import jit  # noqa: F401
from .control_flow import cond, switch, while_loop, fori_loop, scan  # noqa: F401
from . import loops  # noqa: F401  (the scan and while primitives)
from .interpreters.taylor import jet, derivative, taylor_coefficients  # noqa: F401
from . import nn  # noqa: F401  (chainrule.nn: jax.nn's activations)
from . import random  # noqa: F401  (chainrule.random: explicit keys, as jax.random)
from .implicit import implicit_solve, closure_convert  # noqa: F401  (IFT-differentiated solutions)
from . import debug  # noqa: F401  (chainrule.debug.print: printing under jit, as jax.debug)
from . import lax  # noqa: F401  (chainrule.lax: psum, all_gather, ... across a named vmap axis)
from . import checkpoint_policies  # noqa: F401  (checkpoint(f, policy=...))

_protocols.install()        # operators, array methods and NumPy's protocols on tracers

__version__ = "0.1.0"

_malloc.tune()
