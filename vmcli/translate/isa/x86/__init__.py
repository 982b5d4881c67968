"""x86-64: the opcode map of the supported subset, its decoder and encoder, register names,
condition codes and status flag bits."""
