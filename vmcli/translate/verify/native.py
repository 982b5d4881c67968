"""x86-64 code run on the host CPU: the oracle for x86-64 source when the host is x86-64.

Unicorn's x86-64 is QEMU 5's TCG (no AVX, NaN rules of its own); the host CPU is the real thing.
A forked child process maps the code at its own guest address, the data windows at theirs and a
harness page of its own; per run the harness loads the whole register file (rax..r15, the rflags
status bits, xmm0..xmm15 and the upper halves of ymm0..ymm15 where the CPU has AVX, the fs and gs
bases, MXCSR, the x87 state through fxrstor), jumps to the code and stores everything back when the
code reaches its end, then gives the host its own registers, bases, MXCSR and x87 state again.

The block's last instruction, when it transfers control, is replaced by code with the same effect
on the registers, flags and memory that records where it would go instead of going there (the exit
address): a conditional jump keeps its condition, evaluated by the CPU; `call` pushes the same return
address; `ret` pops it; an indirect jump or call reads its operand; `syscall` (an exit of its own)
is not executed. A run that faults kills the child (its signals are blocked, so a fault cannot be
handled in it): the parent reports that state as faulted and starts another child.

This module is only used where the host is x86-64 Linux (available()).
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import os
import pickle
import platform
import signal
import struct
from dataclasses import dataclass, field
from functools import cache
from typing import BinaryIO

import capstone
from capstone import x86_const as cx

from vmcli.translate.isa import disasm

GPRS = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
        "r15")
STATUS = 0x8D5             # CF PF AF ZF SF OF
MXCSR_DEFAULT = 0x1F80

HARNESS = 0x7FF00000       # the harness page: below 2**31, so [disp32] reaches it from anywhere
HARNESS_SIZE = 0x4000
# the state area (offsets from HARNESS + 0x1000)
STATE = HARNESS + 0x1000
O_GPR, O_FLAGS, O_EXIT, O_FS, O_GS, O_MXCSR = 0x000, 0x080, 0x088, 0x090, 0x098, 0x0A0
O_HOST_RSP, O_HOST_FS, O_HOST_GS, O_HOST_MXCSR, O_SCRATCH = 0x0B0, 0x0B8, 0x0C0, 0x0C8, 0x0D0
O_SYSCALL = 0x0E0          # 1 when the block stopped at a syscall
O_VEC = 0x200              # 16 x 32 bytes: xmm (low) and ymm upper halves
O_FX = 0x400               # the guest's x87 state, as fxsave stores it (512 bytes)
STATE_SIZE = O_FX + 512
O_HOST_FX = STATE_SIZE     # the host's (outside the state the parent sends)
FCW_DEFAULT = 0x037F
FPR = [f"fpr{i}" for i in range(8)]
FLAG_STACK = HARNESS + 0x3F00   # popfq/pushfq use this stack (the guest's rsp is not ours to use)
ENTRY_SLOT = HARNESS + 0x0FF0  # where the harness jumps to: the block
EXIT_SLOT = HARNESS + 0x0FF8   # where the block's stubs jump to: the harness's exit


@cache
def _cpu() -> tuple[bool, bool]:
    """(AVX usable, FSGSBASE usable in user mode)."""
    avx = False
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    avx = " avx " in f" {line.split(':', 1)[1].strip()} "
                    break
    except OSError:
        pass
    libc = ctypes.CDLL(None)
    libc.getauxval.restype = ctypes.c_ulong
    fsgsbase = bool(libc.getauxval(26) & 2)           # AT_HWCAP2, HWCAP2_FSGSBASE
    return avx, fsgsbase


@cache
def vendor() -> str:
    """The host CPU's vendor string (GenuineIntel, AuthenticAMD ...), "" when unknown."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def available() -> bool:
    return platform.machine() in ("x86_64", "AMD64") and platform.system() == "Linux"


def has_avx() -> bool:
    return available() and _cpu()[0]


# ---- a few x86-64 encodings, for the harness and the exit stubs ------------------------------------

def _abs(opcode: bytes, reg: int, addr: int, w: bool = True, prefix: bytes = b"") -> bytes:
    """opcode with a [disp32] absolute memory operand and ModRM.reg = reg (REX as needed)."""
    rex = 0x40 | (8 if w else 0) | (4 if reg >= 8 else 0)
    return (prefix + (bytes([rex]) if rex != 0x40 else b"") + opcode + bytes([((reg & 7) << 3) | 4, 0x25])
            + struct.pack("<i", addr))


def _store(reg: int, addr: int) -> bytes:
    return _abs(b"\x89", reg, addr)                  # mov [addr], r64


def _load(reg: int, addr: int) -> bytes:
    return _abs(b"\x8b", reg, addr)                  # mov r64, [addr]


def _vec(load: bool, reg: int, addr: int, avx: bool) -> bytes:
    """vmovdqu ymm, [addr] / [addr], ymm (AVX), else movdqu xmm."""
    if not avx:
        return _abs(b"\x0f" + (b"\x6f" if load else b"\x7f"), reg, addr, w=False, prefix=b"\xf3")
    vex = bytes([0xC5, ((0 if reg >= 8 else 1) << 7) | (0xF << 3) | 0x4 | 0x2])   # VEX.256.F3.0F
    return vex + (b"\x6f" if load else b"\x7f") + bytes([((reg & 7) << 3) | 4, 0x25]) + struct.pack("<i", addr)


def _mov_imm32(reg: int, value: int) -> bytes:
    return bytes([0x48 | (1 if reg >= 8 else 0), 0xC7, 0xC0 | (reg & 7)]) + struct.pack("<i", value)


def _movabs(reg: int, value: int) -> bytes:
    return bytes([0x48 | (1 if reg >= 8 else 0), 0xB8 | (reg & 7)]) + struct.pack("<Q", value & (1 << 64) - 1)


def _jmp_abs(slot: int) -> bytes:
    return b"\xff\x24\x25" + struct.pack("<i", slot)        # jmp [slot]


def _set_base(which: str, fsgsbase: bool) -> bytes:
    """The fs or gs base <- rax (clobbers rcx, rdx, rsi, rdi, r11 without FSGSBASE)."""
    if fsgsbase:
        return b"\xf3\x48\x0f\xae" + bytes([0xD0 if which == "fs" else 0xD8])   # wrfsbase/wrgsbase rax
    code = 0x1002 if which == "fs" else 0x1001                                  # ARCH_SET_FS / _GS
    return b"\x48\x89\xc6" + _mov_imm32(7, code) + _mov_imm32(0, 158) + b"\x0f\x05"   # arch_prctl(code, rax)


def _get_base(which: str, slot: int, fsgsbase: bool) -> bytes:
    """[slot] <- the fs or gs base (clobbers rax, rcx, rdx, rsi, rdi, r11)."""
    if fsgsbase:
        return b"\xf3\x48\x0f\xae" + bytes([0xC0 if which == "fs" else 0xC8]) + _store(0, slot)
    code = 0x1003 if which == "fs" else 0x1004                                  # ARCH_GET_FS / _GS
    return _mov_imm32(6, slot) + _mov_imm32(7, code) + _mov_imm32(0, 158) + b"\x0f\x05"


def harness_code(avx: bool, fsgsbase: bool) -> tuple[bytes, int]:
    """The harness: entry (a C function taking nothing) and, at the returned offset, the exit the
    block's stubs jump to."""
    s = STATE
    entry = bytearray()
    for reg in (3, 5, 12, 13, 14, 15):                    # rbx rbp r12..r15, callee-saved
        entry += bytes([0x41, 0x50 + reg - 8]) if reg >= 8 else bytes([0x50 + reg])
    entry += _store(4, s + O_HOST_RSP)
    entry += b"\x0f\xae\x1c\x25" + struct.pack("<i", s + O_HOST_MXCSR)        # stmxcsr
    entry += _get_base("fs", s + O_HOST_FS, fsgsbase) + _get_base("gs", s + O_HOST_GS, fsgsbase)
    entry += _load(0, s + O_FS) + _set_base("fs", fsgsbase)
    entry += _load(0, s + O_GS) + _set_base("gs", fsgsbase)
    entry += b"\x0f\xae\x04\x25" + struct.pack("<i", s + O_HOST_FX)         # fxsave (host)
    entry += b"\x0f\xae\x0c\x25" + struct.pack("<i", s + O_FX)              # fxrstor (guest)
    for i in range(16):
        entry += _vec(True, i, s + O_VEC + 32 * i, avx)
    entry += b"\x0f\xae\x14\x25" + struct.pack("<i", s + O_MXCSR)             # ldmxcsr
    entry += _mov_imm32(4, FLAG_STACK - 8) + _load(0, s + O_FLAGS) + b"\x50"   # rsp <- ours; push rax
    entry += b"\x9d"                                                           # popfq
    for i in range(16):
        if i != 4:
            entry += _load(i, s + O_GPR + 8 * i)
    entry += _load(4, s + O_GPR + 8 * 4)
    entry += _jmp_abs(ENTRY_SLOT)
    exit_at = len(entry)
    out = bytearray()
    for i in range(16):
        out += _store(i, s + O_GPR + 8 * i)
    out += _mov_imm32(4, FLAG_STACK) + b"\x9c"                                 # pushfq
    out += b"\x8f\x04\x25" + struct.pack("<i", s + O_FLAGS)                    # pop [flags]
    out += b"\xfc"                                                             # cld (the host's ABI)
    for i in range(16):
        out += _vec(False, i, s + O_VEC + 32 * i, avx)
    out += b"\x0f\xae\x1c\x25" + struct.pack("<i", s + O_MXCSR)               # stmxcsr (guest)
    out += b"\x0f\xae\x04\x25" + struct.pack("<i", s + O_FX)                  # fxsave (guest)
    out += b"\x0f\xae\x0c\x25" + struct.pack("<i", s + O_HOST_FX)             # fxrstor (host)
    out += b"\x0f\xae\x14\x25" + struct.pack("<i", s + O_HOST_MXCSR)          # ldmxcsr (host)
    out += _get_base("fs", s + O_FS, fsgsbase) + _get_base("gs", s + O_GS, fsgsbase)
    out += _load(0, s + O_HOST_FS) + _set_base("fs", fsgsbase)
    out += _load(0, s + O_HOST_GS) + _set_base("gs", fsgsbase)
    out += _load(4, s + O_HOST_RSP)
    if avx:
        out += b"\xc5\xf8\x77"                                                 # vzeroupper
    for reg in (15, 14, 13, 12, 5, 3):
        out += bytes([0x41, 0x58 + reg - 8]) if reg >= 8 else bytes([0x58 + reg])
    out += b"\xc3"
    return bytes(entry + out), exit_at


# ---- the block's last instruction -------------------------------------------------------------------

def _record(target: int) -> bytes:
    """[exit] <- target, rax kept, flags untouched."""
    return (_store(0, STATE + O_SCRATCH) + _movabs(0, target) + _store(0, STATE + O_EXIT)
            + _load(0, STATE + O_SCRATCH))


_EXIT_JUMP = _jmp_abs(EXIT_SLOT)


@dataclass
class Prepared:
    """A block ready to run: its bytes with the last instruction rewritten, and its stubs."""

    code: bytes
    address: int
    end: int                     # the address after the block's last instruction


def prepare(code: bytes, address: int) -> Prepared:
    """The block with its last instruction, when it transfers control, rewritten (see above);
    every exit path ends in the harness's exit."""
    cs = disasm.handle("x86_64", detail=True)
    last = None
    for insn in cs.disasm(code, address):
        last = insn
    end = address + len(code)
    if last is None or last.address + last.size != end:
        return Prepared(code + _record(end) + _EXIT_JUMP, address, end)
    head = code[:last.address - address]
    groups = set(last.groups)
    nxt = end
    mnemonic = last.mnemonic
    if mnemonic == "syscall":
        body = (_store(0, STATE + O_SCRATCH) + _mov_imm32(0, 1) + _store(0, STATE + O_SYSCALL)
                + _load(0, STATE + O_SCRATCH) + _record(nxt) + _EXIT_JUMP)
        return Prepared(head + body, address, end)
    if mnemonic in ("ret", "retq"):
        pop = b"\x8f\x04\x25" + struct.pack("<i", STATE + O_EXIT)               # pop [exit]
        extra = last.operands[0].imm if last.operands else 0
        lea = b"\x48\x8d\xa4\x24" + struct.pack("<i", extra) if extra else b""   # lea rsp, [rsp + imm]
        return Prepared(head + pop + lea + _EXIT_JUMP, address, end)
    if capstone.CS_GRP_JUMP in groups or capstone.CS_GRP_CALL in groups:
        op = last.operands[0]
        if op.type == cx.X86_OP_IMM:
            target = op.imm
            taken = _record(target) + _EXIT_JUMP
            fall = _record(nxt) + _EXIT_JUMP
            if mnemonic == "jmp":
                return Prepared(head + taken, address, end)
            if mnemonic == "call":
                # a 5-byte call ending where the original ends pushes the same return address; it
                # calls the stub right behind it
                pad = b"\x90" * (last.size - 5)
                return Prepared(head + pad + b"\xe8\0\0\0\0" + taken, address, end)
            cc = _CC.get(mnemonic)
            if cc is not None:
                jcc = b"\x0f" + bytes([0x80 | cc]) + struct.pack("<i", len(fall))
                return Prepared(head + jcc + fall + taken, address, end)
            # jrcxz / loop*: taken, to a jump to `taken` 2 bytes on; not taken, a short jump past it
            short = bytes(last.bytes)[:-1] + b"\x02"
            return Prepared(head + short + b"\xeb\x05\xe9" + struct.pack("<i", len(fall)) + fall + taken,
                            address, end)
        # indirect: rax <- the operand, [exit] <- rax, the call's push, rax restored
        load = _operand_load(last)
        body = _store(0, STATE + O_SCRATCH) + load + _store(0, STATE + O_EXIT)
        if mnemonic == "call":
            body += _movabs(0, nxt) + b"\x50"                                    # push the return address
        body += _load(0, STATE + O_SCRATCH) + _EXIT_JUMP
        return Prepared(head + body, address, end)
    return Prepared(code + _record(end) + _EXIT_JUMP, address, end)


_CC = {"jo": 0, "jno": 1, "jb": 2, "jae": 3, "je": 4, "jne": 5, "jbe": 6, "ja": 7, "js": 8, "jns": 9, "jp": 10,
       "jnp": 11, "jl": 12, "jge": 13, "jle": 14, "jg": 15}


def _operand_load(insn: capstone.CsInsn) -> bytes:
    """mov rax, <the operand of an indirect jmp/call> (a register or memory)."""
    op = insn.operands[0]
    if op.type == cx.X86_OP_REG:
        name = insn.reg_name(op.reg)
        num = GPRS.index(name)
        return bytes([0x48 | (4 if num >= 8 else 0), 0x89, 0xC0 | ((num & 7) << 3)])   # mov rax, reg
    mem = op.mem
    seg = {cx.X86_REG_FS: b"\x64", cx.X86_REG_GS: b"\x65"}.get(mem.segment, b"")
    if mem.base == cx.X86_REG_RIP:
        ea = insn.address + insn.size + mem.disp
        return seg + b"\x48\xa1" + struct.pack("<Q", ea)                       # movabs rax, [ea]
    raw = bytes(insn.bytes)
    pos = 0
    rex = 0
    while raw[pos] in (0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF2, 0xF3):
        pos += 1
    if 0x40 <= raw[pos] <= 0x4F:
        rex = raw[pos]
        pos += 1
    assert raw[pos] == 0xFF, raw.hex()
    modrm = raw[pos + 1] & 0xC7                                              # reg field <- rax
    return seg + bytes([0x48 | (rex & 3)]) + b"\x8b" + bytes([modrm]) + raw[pos + 2:]


# ---- the child process ---------------------------------------------------------------------------------

@dataclass
class Run:
    """One state to run: registers (GPRS, rflags, xmm0..15, ymmh0..15, fs_base, gs_base, and the x87
    state: fcw, fsw, ftw, the physical registers fpr0..7) and memory windows (address -> bytes)."""

    regs: dict[str, int]
    memory: dict[int, bytes] = field(default_factory=dict)


Outcome = tuple[dict[str, int], dict[int, bytes]] | str
Raw = tuple[bytes, dict[int, bytes]] | str          # what the child answers: the state area, memory


def _pack(regs: dict[str, int]) -> bytes:
    area = bytearray(STATE_SIZE)
    struct.pack_into("<16Q", area, O_GPR, *(regs[n] & (1 << 64) - 1 for n in GPRS))
    struct.pack_into("<Q", area, O_FLAGS, (regs.get("rflags", 0) & STATUS) | 2)
    struct.pack_into("<QQQ", area, O_FS, regs.get("fs_base", 0), regs.get("gs_base", 0), MXCSR_DEFAULT)
    # O_EXIT and O_SYSCALL start at 0
    for i in range(16):
        lo = regs.get(f"xmm{i}", 0)
        hi = regs.get(f"ymmh{i}", 0)
        area[O_VEC + 32 * i:O_VEC + 32 * i + 32] = (lo | hi << 128).to_bytes(32, "little")
    # x87: fxsave's layout (st(i) from offset 32, 16 bytes apart; the registers given are physical)
    fsw = regs.get("fsw", 0)
    top = (fsw >> 11) & 7
    struct.pack_into("<HHBxxxxxxxxxxxxxxxxxxxI", area, O_FX, regs.get("fcw", FCW_DEFAULT), fsw, regs.get("ftw", 0),
                     MXCSR_DEFAULT)
    for i in range(8):
        value = regs.get(FPR[(top + i) & 7], 0)
        area[O_FX + 32 + 16 * i:O_FX + 42 + 16 * i] = value.to_bytes(10, "little")
    return bytes(area)


def _unpack(area: bytes, avx: bool) -> dict[str, int]:
    values = struct.unpack_from("<16Q", area, O_GPR)
    regs = dict(zip(GPRS, values, strict=True))
    regs["rflags"] = struct.unpack_from("<Q", area, O_FLAGS)[0] & STATUS
    regs["rip"], regs["fs_base"], regs["gs_base"], regs["mxcsr"] = struct.unpack_from("<QQQQ", area, O_EXIT)
    regs["mxcsr"] &= 0xFFFFFFFF
    regs["syscall"] = struct.unpack_from("<Q", area, O_SYSCALL)[0]
    for i in range(16):
        v = int.from_bytes(area[O_VEC + 32 * i:O_VEC + 32 * i + 32], "little")
        regs[f"xmm{i}"] = v & (1 << 128) - 1
        if avx:
            regs[f"ymmh{i}"] = v >> 128
    regs["fcw"], regs["fsw"], regs["ftw"] = struct.unpack_from("<HHB", area, O_FX)
    top = (regs["fsw"] >> 11) & 7
    for i in range(8):
        regs[FPR[(top + i) & 7]] = int.from_bytes(area[O_FX + 32 + 16 * i:O_FX + 42 + 16 * i], "little")
    return regs


class _Child:
    """The forked process that maps and runs the code. It answers a batch at once, and counts the
    runs it finished in shared memory: when it dies, the run it died on is known."""

    def __init__(self) -> None:
        self.progress = mmap.mmap(-1, 8)                   # shared with the child
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        pid = os.fork()
        if pid == 0:                                       # pragma: no cover - the child
            os.close(w1)
            os.close(r2)
            try:
                _serve(os.fdopen(r1, "rb"), os.fdopen(w2, "wb"), self.progress)
            finally:
                os._exit(0)
        os.close(r1)
        os.close(w2)
        self.pid = pid
        self.to = os.fdopen(w1, "wb")
        self.back = os.fdopen(r2, "rb")

    def ask(self, block: Prepared, runs: list[tuple[bytes, dict[int, bytes]]]) -> list[Raw] | int:
        """The answers to `runs` (state areas and memory windows), or the index of the run the
        child died on."""
        try:
            _send(self.to, (block, runs))
            answer = _receive(self.back)
        except (EOFError, BrokenPipeError, OSError):
            return int(struct.unpack_from("<Q", self.progress)[0])
        if isinstance(answer, str):
            return [answer] * len(runs)
        return answer                                      # type: ignore[return-value]

    def close(self) -> None:
        for fh in (self.to, self.back):
            with contextlib.suppress(OSError):
                fh.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)


def _send(fh: BinaryIO, obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    fh.write(struct.pack("<Q", len(data)) + data)
    fh.flush()


def _receive(fh: BinaryIO) -> object:
    head = fh.read(8)
    if len(head) < 8:
        raise EOFError
    (n,) = struct.unpack("<Q", head)
    data = fh.read(n)
    if len(data) < n:
        raise EOFError
    return pickle.loads(data)


PROT_RWX = mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC
MAP_FIXED_NOREPLACE = 0x100000


def _serve(requests: BinaryIO, answers: BinaryIO, progress: mmap.mmap) -> None:  # pragma: no cover - the child
    """The child's loop: map, run, answer. Every signal is blocked: a fault kills the process."""
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    mapped: set[int] = set()

    def need(start: int, size: int) -> bool:
        ok = True
        for page in range(start & ~0xFFF, start + size, 0x1000):
            if page in mapped:
                continue
            got = libc.mmap(page, 0x1000, PROT_RWX, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                            -1, 0)
            if got != page:
                ok = False
                continue
            mapped.add(page)
        return ok

    avx, fsgsbase = _cpu()
    code, exit_at = harness_code(avx, fsgsbase)
    assert need(HARNESS, HARNESS_SIZE)
    ctypes.memmove(HARNESS, code, len(code))
    ctypes.memmove(EXIT_SLOT, struct.pack("<Q", HARNESS + exit_at), 8)
    call = ctypes.CFUNCTYPE(None)(HARNESS)
    while True:
        try:
            request = _receive(requests)
        except EOFError:
            return
        block: Prepared
        runs: list[tuple[bytes, dict[int, bytes]]]
        block, runs = request                          # type: ignore[misc]
        windows = {a: len(m) for _, memory in runs for a, m in memory.items()}
        if not need(block.address, len(block.code)) or not all(need(a, n) for a, n in windows.items()):
            _send(answers, "cannot map the code or data at their addresses in this process")
            continue
        ctypes.memmove(block.address, block.code, len(block.code))
        ctypes.memmove(ENTRY_SLOT, struct.pack("<Q", block.address), 8)
        out = []
        for k, (area, memory) in enumerate(runs):
            struct.pack_into("<Q", progress, 0, k)
            for a, m in memory.items():
                ctypes.memmove(a, m, len(m))
            ctypes.memmove(STATE, area, len(area))
            call()
            after = {a: ctypes.string_at(a, len(m)) for a, m in memory.items()}
            out.append((ctypes.string_at(STATE, STATE_SIZE), after))
        _send(answers, out)


class NativeX86:
    """Runs x86-64 blocks on the host CPU (see the module's docstring)."""

    def __init__(self) -> None:
        if not available():
            raise RuntimeError("the host is not x86-64 Linux")
        self.avx = has_avx()
        self._child: _Child | None = None

    def run(self, code: bytes, address: int, runs: list[Run]) -> list[Outcome]:
        """Each run's registers (with "rip", the exit address, and "syscall", 1 when the block
        stopped at one) and memory windows afterwards, or a string saying why there are none (the
        code faulted, or could not be mapped here)."""
        block = prepare(code, address)
        out: list[Outcome] = []
        while len(out) < len(runs):
            if self._child is None:
                self._child = _Child()
            answer = self._child.ask(block, [(_pack(r.regs), r.memory) for r in runs[len(out):]])
            if not isinstance(answer, int):
                out += [a if isinstance(a, str) else (_unpack(a[0], self.avx), a[1]) for a in answer]
                break
            self._child.close()
            self._child = None
            if answer:                       # the runs before the fault, again (their answers were lost)
                out += self.run(code, address, runs[len(out):len(out) + answer])
            out.append("source faulted (on the host CPU)")
        return out

    def close(self) -> None:
        if self._child is not None:
            self._child.close()
            self._child = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):          # at interpreter shutdown
            self.close()

