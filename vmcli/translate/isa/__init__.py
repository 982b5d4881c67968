"""The two instruction sets, each on its own: decode, encode, registers and conditions (isa/x86,
isa/a64), and capstone's text of both (disasm.py). Nothing here knows a translation direction."""
