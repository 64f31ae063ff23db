"""Batching (vmap) — being written."""


def vmap(f, in_axes=0, out_axes=0, axis_size=None):
    raise NotImplementedError("vmap is not implemented yet")
