"""The peers (JAX, PyTorch, autograd, SymPy, numdifftools, NumPy), each imported lazily
and only when selected, and chainrule itself, whose import may fail mid-edit."""

from __future__ import annotations

import os

import numpy as np

from .rows import describe

PEERS = ("jax", "torch", "autograd", "sympy", "numdifftools", "numpy")


class Peers:
    """Lazy imports of the peers selected on the command line."""

    def __init__(self, selected, one_core=False):
        self.selected = set(selected)
        self.one_core = one_core
        self.mods = {}
        self.missing = {}
        self.versions = {}

    def get(self, name):
        if name not in self.selected:
            return None
        if name in self.mods:
            return self.mods[name]
        if name in self.missing:
            return None
        try:
            mod = getattr(self, "_load_" + name)()
        except ImportError as e:
            self.missing[name] = describe(e)
            return None
        self.mods[name] = mod
        return mod

    def _load_jax(self):
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        try:
            from jax.experimental import jet
        except ImportError:                                      # pragma: no cover
            jet = None
        jnp.ones(3).block_until_ready()          # initialise the backend now
        self.versions["jax"] = jax.__version__
        return _NS(jax=jax, jnp=jnp, jet=jet)

    def _load_torch(self):
        # torch's OpenMP workers otherwise spin after each op and steal the
        # cores from NumPy's BLAS and XLA in this one mixed process
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import torch
        torch.set_default_dtype(torch.float64)
        if self.one_core:
            torch.set_num_threads(1)
        self.versions["torch"] = torch.__version__
        try:
            import torch.func as tfunc
        except ImportError:                                      # pragma: no cover
            tfunc = None
        return _NS(torch=torch, func=tfunc)

    def _load_autograd(self):
        import autograd
        import autograd.numpy as anp
        from importlib.metadata import version
        try:
            self.versions["autograd"] = version("autograd")
        except Exception:                                        # pragma: no cover
            self.versions["autograd"] = "?"
        return _NS(ag=autograd, anp=anp)

    def _load_sympy(self):
        import sympy
        self.versions["sympy"] = sympy.__version__
        return sympy

    def _load_numdifftools(self):
        import numdifftools
        self.versions["numdifftools"] = numdifftools.__version__
        return numdifftools

    def _load_numpy(self):
        return np


class _NS:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def load_chainrule():
    """(cr, cnp, None) or (None, None, reason)."""
    try:
        import chainrule as cr
        import chainrule.numpy as cnp
    except Exception as e:                    # mid-edit package: "not yet"
        return None, None, describe(e)
    return cr, cnp, None
