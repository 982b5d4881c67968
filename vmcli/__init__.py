"""vm: run, inspect and translate code for arm64, riscv64 and x86_64."""

__version__ = "0.1.0"
