"""Code generation and the jit cache."""
