"""Linux ELF programs into a guest address space: PT_LOAD segments mapped from the file with their
own permissions, the interpreter (PT_INTERP) beside them, and the initial stack (argc, argv, envp,
auxv) as the kernel's binfmt_elf lays it out.

Addresses are deterministic: a PIE program loads at ET_DYN_BASE, its interpreter just below the
mmap area, the stack ends at STACK_TOP. All validation of the file happens here; a program vm
cannot run is a BadInput (one line, status 2).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

from vmcli.errors import BadInput
from vmcli.linux.arch import ELF_MACHINES, LINUX_ARCHES, LinuxArch
from vmcli.linux.memory import (
    PAGE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    SPACE,
    STACK_SIZE,
    STACK_TOP,
    AddressSpace,
    page_up,
)

ELF_MAGIC = b"\x7fELF"
ET_EXEC, ET_DYN = 2, 3
PT_LOAD, PT_INTERP, PT_NOTE, PT_PHDR = 1, 3, 4, 6
ET_DYN_BASE = 0x55_5555_0000
SIGPAGE = STACK_TOP                            # the signal return trampoline, above the stack
MAX_PROGRAM = 1 << 31

AT = {"NULL": 0, "PHDR": 3, "PHENT": 4, "PHNUM": 5, "PAGESZ": 6, "BASE": 7, "FLAGS": 8, "ENTRY": 9,
      "UID": 11, "EUID": 12, "GID": 13, "EGID": 14, "PLATFORM": 15, "HWCAP": 16, "CLKTCK": 17, "SECURE": 23,
      "RANDOM": 25, "HWCAP2": 26, "EXECFN": 31, "MINSIGSTKSZ": 51}


class NotExecutable(Exception):
    """The guest asked to exec something that is no program for any arch (ENOEXEC)."""


@dataclass
class ElfInfo:
    path: str
    arch: LinuxArch
    etype: int
    entry: int
    phoff: int
    phentsize: int
    phnum: int
    loads: list[tuple[int, int, int, int, int]]   # (vaddr, memsz, offset, filesz, flags)
    interp: str | None
    linux_note: bool
    phdr_vaddr: int | None


@dataclass
class Loaded:
    """Where a program and its interpreter went, and what the initial stack says."""

    entry: int                        # where the CPU starts (the interpreter's entry if any)
    sp: int
    program_entry: int
    phdr: int
    base: int                         # the interpreter's load address (AT_BASE), 0 without one
    brk: int
    auxv: list[tuple[int, int]] = field(default_factory=list)
    exe: str = ""


def parse_elf(path: str, data: bytes, *, what: str = "", file_size: int | None = None) -> ElfInfo:
    """The facts of a 64-bit little-endian Linux ELF executable; BadInput for anything else. `data` is
    the start of the file (headers and notes), `file_size` its whole size (default: len(data))."""
    name = what or path
    size = len(data) if file_size is None else file_size
    if not data.startswith(ELF_MAGIC):
        raise BadInput(f"{name}: not an ELF file")
    if len(data) < 64:
        raise BadInput(f"{name}: truncated ELF header")
    if data[4] != 2:
        raise BadInput(f"{name}: 32-bit ELF; vm runs 64-bit programs (arm64, riscv64, x86_64)")
    if data[5] != 1:
        raise BadInput(f"{name}: big-endian ELF; vm runs little-endian programs")
    etype, machine = struct.unpack_from("<HH", data, 16)
    entry, phoff = struct.unpack_from("<QQ", data, 24)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    arch_name = ELF_MACHINES.get(machine)
    if arch_name is None:
        raise BadInput(f"{name}: ELF for machine {machine}, which vm does not run (arm64, riscv64, x86_64)")
    if etype not in (ET_EXEC, ET_DYN):
        raise BadInput(f"{name}: ELF type {etype} is not an executable")
    if phentsize != 56 or phoff + phnum * 56 > len(data):
        raise BadInput(f"{name}: corrupt ELF: bad program headers")
    loads, interp, note, phdr = [], None, False, None
    for i in range(phnum):
        ptype, flags, offset, vaddr, _paddr, filesz, memsz, _align = struct.unpack_from(
            "<IIQQQQQQ", data, phoff + 56 * i)
        if ptype == PT_LOAD and memsz:
            if filesz > memsz or (filesz and offset + filesz > size) or vaddr + memsz > SPACE or memsz > MAX_PROGRAM:
                raise BadInput(f"{name}: corrupt ELF: segment at {vaddr:#x} does not fit")
            if (offset - vaddr) % PAGE:
                raise BadInput(f"{name}: ELF segment at {vaddr:#x} is not page aligned with its file offset")
            loads.append((vaddr, memsz, offset, filesz, flags))
        elif ptype == PT_INTERP:
            raw = data[offset:offset + filesz]
            interp = raw.split(b"\0", 1)[0].decode(errors="replace")
        elif ptype == PT_NOTE:
            note = note or _linux_abi_tag(data[offset:offset + filesz])
        elif ptype == PT_PHDR:
            phdr = vaddr
    if not loads:
        raise BadInput(f"{name}: ELF has no loadable segments")
    return ElfInfo(path, LINUX_ARCHES[arch_name], etype, entry, phoff, phentsize, phnum, loads, interp, note, phdr)


def _linux_abi_tag(notes: bytes) -> bool:
    """Whether the notes hold NT_GNU_ABI_TAG with OS Linux (glibc's crt1 puts it in every program)."""
    at = 0
    while at + 12 <= len(notes):
        namesz, descsz, ntype = struct.unpack_from("<III", notes, at)
        name_at = at + 12
        desc_at = name_at + ((namesz + 3) & ~3)
        if ntype == 1 and notes[name_at:name_at + namesz] == b"GNU\0" and desc_at + 4 <= len(notes):
            return struct.unpack_from("<I", notes, desc_at)[0] == 0
        at = desc_at + ((descsz + 3) & ~3)
    return False


def is_linux_program(data: bytes, file_size: int) -> bool:
    """A Linux program: a PT_INTERP, a GNU ABI note, or ELFOSABI_LINUX."""
    try:
        info = parse_elf("", data, file_size=file_size)
    except BadInput:
        return False
    return info.interp is not None or info.linux_note or data[7] == 3


def _prot(flags: int) -> int:
    return (PROT_READ if flags & 4 else 0) | (PROT_WRITE if flags & 2 else 0) | (PROT_EXEC if flags & 1 else 0)


def map_elf(mem: AddressSpace, info: ElfInfo, fd: int, bias: int) -> tuple[int, int]:
    """Map the segments at `bias`; returns (lowest address, end of the highest segment)."""
    lo_all, hi_all = SPACE, 0
    for vaddr, memsz, offset, filesz, flags in info.loads:
        prot = _prot(flags)
        start = (vaddr + bias) & ~(PAGE - 1)
        file_end = vaddr + bias + filesz
        mem_end = page_up(vaddr + bias + memsz)
        if filesz:
            size = page_up(file_end) - start
            mem.map(start, size, prot, fd=fd, offset=offset - (vaddr - (start - bias)), name=info.path)
            tail = page_up(file_end) - file_end
            if tail and memsz > filesz:          # .bss begins inside the last file page: zero the rest
                mem.write_force(file_end, bytes(tail))
        if mem_end > page_up(file_end if filesz else start):
            anon = page_up(file_end) if filesz else start
            mem.map(anon, mem_end - anon, prot)
        lo_all, hi_all = min(lo_all, start), max(hi_all, vaddr + bias + memsz)
    return lo_all, hi_all


def _span(info: ElfInfo) -> tuple[int, int]:
    lo = min(v for v, *_ in info.loads) & ~(PAGE - 1)
    hi = page_up(max(v + m for v, m, *_ in info.loads))
    return lo, hi


def load_program(mem: AddressSpace, info: ElfInfo, fd: int, interp: tuple[ElfInfo, int] | None) -> Loaded:
    """Map the program and its interpreter; the stack is built by `build_stack`."""
    bias = 0
    if info.etype == ET_DYN:
        lo, hi = _span(info)
        bias = ET_DYN_BASE - lo
    lo_main, hi_main = map_elf(mem, info, fd, bias)
    base = 0
    entry = info.entry + bias
    if interp is not None:
        iinfo, ifd = interp
        ilo, ihi = _span(iinfo)
        ibias = 0
        if iinfo.etype == ET_DYN:
            start = mem.find_free(ihi - ilo)
            if start is None:
                raise BadInput(f"{iinfo.path}: no room for the interpreter")
            ibias = start - ilo
        map_elf(mem, iinfo, ifd, ibias)
        base = ilo + ibias
        entry = iinfo.entry + ibias
    if info.phdr_vaddr is not None:
        phdr = info.phdr_vaddr + bias
    else:
        phdr = 0
        for vaddr, _memsz, offset, filesz, _flags in info.loads:
            if offset <= info.phoff < offset + filesz:
                phdr = vaddr + bias + info.phoff - offset
    mem.brk_start = mem.brk = page_up(hi_main)
    return Loaded(entry=entry, sp=0, program_entry=info.entry + bias, phdr=phdr, base=base, brk=mem.brk)


def map_sigpage(mem: AddressSpace, arch: LinuxArch) -> int:
    """One read-execute page with the rt_sigreturn trampoline; returns its address."""
    mem.map(SIGPAGE, PAGE, PROT_READ | PROT_EXEC, name="[sigpage]")
    mem.write_force(SIGPAGE, arch.sigreturn_trampoline)
    return SIGPAGE


def build_stack(mem: AddressSpace, arch: LinuxArch, info: ElfInfo, loaded: Loaded, argv: list[bytes],
                envp: list[bytes], execfn: bytes) -> None:
    """Map the stack and lay out argc, argv, envp and auxv at its top (binfmt_elf's create_elf_tables)."""
    mem.map(STACK_TOP - STACK_SIZE, STACK_SIZE, PROT_READ | PROT_WRITE, name="[stack]")
    top = STACK_TOP - 16
    blob = bytearray()
    # Strings first, from the top down: execfn, then argv and envp, then platform and random bytes.
    strings_at: list[int] = []

    def push(data: bytes) -> int:
        nonlocal top
        top -= len(data)
        blob[0:0] = data
        return top

    execfn_at = push(execfn + b"\0")
    env_at = [push(s + b"\0") for s in reversed(envp)][::-1]
    arg_at = [push(s + b"\0") for s in reversed(argv)][::-1]
    platform_at = push(arch.platform.encode() + b"\0") if arch.platform else 0
    random_at = push(os.urandom(16))
    del strings_at
    mem.write(top, bytes(blob))
    auxv = [
        (AT["PHDR"], loaded.phdr), (AT["PHENT"], 56), (AT["PHNUM"], info.phnum), (AT["PAGESZ"], PAGE),
        (AT["BASE"], loaded.base), (AT["FLAGS"], 0), (AT["ENTRY"], loaded.program_entry),
        (AT["UID"], os.getuid()), (AT["EUID"], os.geteuid()), (AT["GID"], os.getgid()), (AT["EGID"], os.getegid()),
        (AT["HWCAP"], arch.hwcap), (AT["CLKTCK"], os.sysconf("SC_CLK_TCK")), (AT["SECURE"], 0),
        (AT["RANDOM"], random_at), (AT["HWCAP2"], arch.hwcap2), (AT["EXECFN"], execfn_at),
    ]
    if platform_at:
        auxv.append((AT["PLATFORM"], platform_at))
    if arch.minsigstksz:
        auxv.append((AT["MINSIGSTKSZ"], arch.minsigstksz))
    auxv.append((AT["NULL"], 0))
    words = [len(argv), *arg_at, 0, *env_at, 0]
    for key, value in auxv:
        words += [key, value]
    sp = (top - 8 * len(words)) & ~15
    mem.write(sp, b"".join((w & 0xFFFF_FFFF_FFFF_FFFF).to_bytes(8, "little") for w in words))
    loaded.sp = sp
    loaded.auxv = auxv
