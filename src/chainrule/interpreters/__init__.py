"""Interpreters: one Trace/Tracer pair per transformation."""
