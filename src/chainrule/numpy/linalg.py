"""`chainrule.numpy.linalg`: differentiable linear algebra (filled in by ops/decompositions)."""
