"""Flag effects of the rules, for dead-flag elimination within a block (frontend.dead_flags).

FLAG_WRITES: the flags a rule always writes (or leaves undefined, which counts as written: nothing
may read them), through the Ctx flag helpers, which leave out the ones dead after it; ADC/SBB also
read CF. FLAG_FREE: rules whose code never touches NZCV, PF_RES or AF_SRC; their template does not
depend on which flags are live. PRESERVING: rules that use NZCV inside and put it back when a flag in
it is live (they neither read nor write the guest's flags, but their code depends on liveness). Any
other rule counts as reading every flag and writing none for sure.
"""

from __future__ import annotations

from vmcli.translate.isa.x86.flags import CF, ZF
from vmcli.translate.isa.x86.opcodes import SPECS
from vmcli.translate.x86_to_a64.rules.common import ALL

FLAG_WRITES = {"add": ALL, "sub": ALL, "cmp": ALL, "neg": ALL, "inc": ALL & ~CF, "dec": ALL & ~CF, "adc": ALL,
               "sbb": ALL, "xadd": ALL, "cmpxchg": ALL,
               **dict.fromkeys(("and", "or", "xor", "test", "mul", "imul", "popcnt", "bsf", "bsr", "tzcnt", "lzcnt"),
                               ALL), "stc": CF, "clc": CF, "cmc": CF,
               **dict.fromkeys(("bt", "bts", "btr", "btc"), ALL & ~ZF),      # ZF is kept
               **dict.fromkeys(("comiss", "ucomiss", "comisd", "ucomisd", "ptest", "vcomiss", "vucomiss", "vcomisd",
                                "vucomisd", "andn", "blsr", "blsmsk", "blsi", "bzhi", "fucomi", "fcomi", "fucomip",
                                "fcomip"), ALL)}
FLAG_READS = {"adc": CF, "sbb": CF, "cmc": CF}
PRESERVING = frozenset(("cvttss2si", "cvtss2si", "cvttsd2si", "cvtsd2si", "vcvttss2si", "vcvtss2si", "vcvttsd2si",
                        "vcvtsd2si", "psllw", "pslld", "psllq", "psrlw", "psrld", "psrlq", "psraw", "psrad",
                        "fld", "fild", "fxam", "fmul", "fmulp", "fadd", "faddp", "fsub", "fsubp", "fsubr", "fsubrp",
                        "fdiv", "fdivp", "fdivr", "fdivrp", "fsqrt", "fst",
                        "fstp", "frndint", "fist", "fistp"))
FLAG_FREE = frozenset(("mov", "movzx", "movsx", "movsxd", "lea", "not", "bswap", "xchg", "nop", "cbw", "cwd",
                       "push", "pop", "endbr64", "prefetchnta", "prefetcht0", "prefetcht1", "prefetcht2",
                       "prefetchw", "jmp", "call", "ret", "syscall", "sarx", "shlx", "shrx", "rorx", "vzeroupper",
                       "vzeroall", "fxch", "fchs", "fabs", "fldz", "fld1", "fincstp", "fdecstp",
                       "ffree", "fnstsw", "fnstcw", "fldcw", "wait", "fldl2t", "fldl2e", "fldpi",
                       "fldlg2", "fldln2")) | frozenset(
    s.mnemonic for s in SPECS if s.is_sse and s.mnemonic not in FLAG_WRITES and s.mnemonic not in PRESERVING)


def flag_effect(mnemonic: str) -> tuple[int, int]:
    """(flags it may read, flags it always writes) of a rule's code."""
    if mnemonic in FLAG_WRITES:
        return FLAG_READS.get(mnemonic, 0), FLAG_WRITES[mnemonic]
    if mnemonic in FLAG_FREE or mnemonic in PRESERVING:
        return 0, 0
    return ALL, 0


# rules that write flags only sometimes (a count of 0 leaves them): not in FLAG_WRITES, but their
# code depends on which flags are live
SOMETIMES = frozenset(("shl", "shr", "sar", "rol", "ror", "shld", "shrd"))


def liveness_shaped(mnemonic: str) -> bool:
    """Whether a rule's code depends on the flags live after it (its template key holds them):
    the writers and the rules that keep NZCV around compares of their own; not the readers."""
    return mnemonic in FLAG_WRITES or mnemonic in PRESERVING or mnemonic in SOMETIMES
