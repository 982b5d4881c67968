"""Observability: instruction counting, traces and the gdb stub."""
