"""Flag effects of the rules, for dead-flag elimination within a block (frontend.dead_flags).

Flags these always write, in straight-line code through the Ctx flag helpers (which leave out the
ones a block marks dead); none of them reads the flags.
"""

from __future__ import annotations

from vmcli.translate.isa.x86.flags import CF, OF, PF, SF, ZF
from vmcli.translate.isa.x86.opcodes import SPECS
from vmcli.translate.x86_to_a64.rules.common import ALL

FLAG_WRITES = {"add": ALL, "sub": ALL, "cmp": ALL, "neg": ALL, "inc": ALL & ~CF, "dec": ALL & ~CF,
               **dict.fromkeys(("and", "or", "xor", "test"), CF | PF | ZF | SF | OF)}   # AF undefined: kept
# Rules whose code neither reads nor writes the flags register (x86_to_a64/test_flags.py checks
# every form's code). Any other rule counts as reading every flag and writing none for sure.
FLAG_FREE = frozenset(("mov", "movzx", "movsx", "movsxd", "lea", "not", "bswap", "xchg", "nop", "cbw", "cwd",
                       "push", "pop", "endbr64", "prefetchnta", "prefetcht0", "prefetcht1", "prefetcht2",
                       "prefetchw")) | frozenset(
    s.mnemonic for s in SPECS if s.is_sse and s.mnemonic not in ("comiss", "ucomiss", "comisd", "ucomisd", "ptest"))


def flag_effect(mnemonic: str) -> tuple[int, int]:
    """(flags it may read, flags it always writes) of a rule's code."""
    if mnemonic in FLAG_WRITES:
        return 0, FLAG_WRITES[mnemonic]
    if mnemonic in FLAG_FREE:
        return 0, 0
    return ALL, 0
