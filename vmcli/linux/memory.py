"""The guest's address space: one host reservation, guest mappings inside it, and Unicorn regions
that point at them.

Guest address A lives at host address `base + A` (as qemu-user's guest_base). The whole guest range
[0, SPACE) is reserved once as PROT_NONE; each guest mmap replaces part of the reservation with a
real host mapping (anonymous, shared, or the file itself) and hands it to Unicorn with
`mem_map_ptr`. The host protection mirrors the guest's, so a guest pointer handed to a host system
call fails with EFAULT exactly where the kernel would fail it, and never reaches outside the guest.
MAP_SHARED mappings are host MAP_SHARED mappings: they stay shared across fork.
"""

from __future__ import annotations

import bisect
import ctypes
import mmap
import os
from dataclasses import dataclass

import unicorn

from vmcli.machine.engine import FaultHooks, virtual_tlb

PAGE = 0x1000
SPACE = 1 << 39                      # guest addresses [0, 512 GiB)
MMAP_TOP = 0x7F_0000_0000            # mmap allocates top-down from here
STACK_TOP = 0x7F_FFFF_F000
STACK_SIZE = 8 << 20

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x01, 0x02, 0x10, 0x20
MAP_NORESERVE, MAP_FIXED_NOREPLACE, MAP_GROWSDOWN = 0x4000, 0x100000, 0x0100
MREMAP_MAYMOVE, MREMAP_FIXED = 1, 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
MAP_FAILED = ctypes.c_void_p(-1).value


class GuestFault(Exception):
    """A guest pointer that does not point at accessible guest memory (EFAULT)."""


def page_up(n: int) -> int:
    return (n + PAGE - 1) & ~(PAGE - 1)


def _host_prot(prot: int) -> int:
    # Unicorn reads code through the host mapping: executable guest pages must be readable there.
    return _uc_prot(prot) & (PROT_READ | PROT_WRITE) | (PROT_READ if prot & PROT_EXEC else 0)


def _uc_prot(prot: int) -> int:
    # Write implies read, as on the CPUs Linux runs these arches on: a writable page never faults but
    # on a fetch, so the fault hooks may leave it out (AddressSpace.fault_ranges).
    return prot & 7 | PROT_READ if prot & PROT_WRITE else prot & 7


def _errno_error(what: str) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}")


@dataclass
class Vma:
    start: int
    end: int
    prot: int
    shared: bool
    name: str = ""                   # a file's path, [heap], [stack] ...
    offset: int = 0                  # file offset of `start`
    dev: int = 0
    inode: int = 0


class AddressSpace:
    def __init__(self, uc: unicorn.Uc) -> None:
        self.uc = uc
        base = _libc.mmap(None, SPACE, 0, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        if base in (None, MAP_FAILED):
            raise _errno_error("cannot reserve the guest address space")
        self.base: int = base
        self.vmas: list[Vma] = []
        self._starts: list[int] = []
        self.brk_start = self.brk = 0
        self.mmap_top = MMAP_TOP
        # One byte of PROT_* bits per guest page, read by the CPU's TLB filler (engine.virtual_tlb): data
        # pages without execute keep stores on Unicorn's fast path. Untouched parts cost no memory.
        table = _libc.mmap(None, SPACE // PAGE, mmap.PROT_READ | mmap.PROT_WRITE,
                           mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        if table in (None, MAP_FAILED):
            raise _errno_error("cannot reserve the page table")
        self.perms: int = table
        self.virtual_tlb = virtual_tlb(uc, table, SPACE // PAGE)
        # Memory-fault hooks cover only where an access can fault (the process adds them), so that
        # Unicorn marks the writable pages dirty and stores to them stay on the fast path.
        self.fault_hooks = FaultHooks(uc, self.fault_ranges())

    def close(self) -> None:
        _libc.munmap(self.base, SPACE)
        _libc.munmap(self.perms, SPACE // PAGE)

    def _set_perms(self, start: int, end: int, prot: int) -> None:
        """Record [start, end)'s protection for the TLB filler."""
        if self.virtual_tlb is not None:
            ctypes.memset(self.perms + start // PAGE, _uc_prot(prot), (end - start) // PAGE)

    def _changed(self) -> None:
        """After a map, unmap or protect: the CPU's TLB entries dropped, the fault hooks moved."""
        if self.virtual_tlb is not None:
            self.virtual_tlb.flush()
        self.fault_hooks.cover(self.fault_ranges())

    # -- lookups -------------------------------------------------------------------------------------
    def find(self, addr: int) -> Vma | None:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and addr < self.vmas[i].end:
            return self.vmas[i]
        return None

    def _overlapping(self, start: int, end: int) -> list[Vma]:
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        out = []
        while i < len(self.vmas) and self.vmas[i].start < end:
            if self.vmas[i].end > start:
                out.append(self.vmas[i])
            i += 1
        return out

    def fault_ranges(self) -> list[tuple[int, int]]:
        """(first, last) address ranges that are not writable guest memory: a load or store can fault
        only there, and a fetch anywhere (the process takes a fetch fault from a writable page from
        emu_start's error, at the PC)."""
        ranges, at = [], 0
        for vma in self.vmas:
            if not vma.prot & PROT_WRITE:
                continue
            if vma.start > at:
                ranges.append((at, vma.start - 1))
            at = vma.end
        ranges.append((at, 2**64 - 1))
        return ranges

    def is_free(self, start: int, end: int) -> bool:
        return not self._overlapping(start, end)

    def find_free(self, size: int, hint: int = 0) -> int | None:
        """A free range of `size` bytes: at `hint` when free, else top-down from mmap_top."""
        if hint and hint + size <= SPACE and self.is_free(hint, hint + size):
            return hint
        top = self.mmap_top
        for vma in reversed(self.vmas):
            if vma.start >= top:
                continue
            if vma.end <= top - size:
                break
            top = min(top, vma.start)
        start = top - size
        return start if start >= 0x10000 else None

    # -- changes -------------------------------------------------------------------------------------
    def map(self, start: int, size: int, prot: int, *, shared: bool = False, fd: int = -1, offset: int = 0,
            name: str = "") -> None:
        """Map [start, start + size) (page aligned), replacing whatever was there."""
        end = start + size
        if start < 0 or end > SPACE or start % PAGE or size <= 0:
            raise OSError(22, "bad range")
        flags = MAP_FIXED | (mmap.MAP_SHARED if shared else mmap.MAP_PRIVATE)
        if fd < 0:
            flags |= mmap.MAP_ANONYMOUS
        host = _libc.mmap(self.base + start, size, _host_prot(prot), flags, fd, offset)
        if host in (None, MAP_FAILED):
            raise _errno_error("mmap")
        self._forget(start, end)
        dev = inode = 0
        if fd >= 0:
            st = os.fstat(fd)
            dev, inode = st.st_dev, st.st_ino
        vma = Vma(start, end, prot, shared, name, offset, dev, inode)
        self._insert(vma)
        self.uc.mem_map_ptr(start, size, _uc_prot(prot), self.base + start)
        self._set_perms(start, end, prot)
        self._changed()

    def unmap(self, start: int, size: int) -> None:
        end = start + page_up(size)
        self._forget(start, end)
        _libc.mmap(self.base + start, end - start, 0,
                   mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0)
        self._changed()

    def protect(self, start: int, size: int, prot: int) -> None:
        end = start + page_up(size)
        pieces = self._overlapping(start, end)
        covered = sum(min(v.end, end) - max(v.start, start) for v in pieces)
        if covered != end - start:
            raise OSError(12, "range not mapped")
        if _libc.mprotect(self.base + start, end - start, _host_prot(prot)) != 0:
            raise _errno_error("mprotect")
        for vma in pieces:
            lo, hi = max(vma.start, start), min(vma.end, end)
            self._split(vma, lo, hi, prot)
        self.uc.mem_protect(start, end - start, _uc_prot(prot))
        self._set_perms(start, end, prot)
        self._changed()
        if prot & PROT_EXEC:
            self.uc.ctl_remove_cache(start, end)     # code written through the host mapping

    def _split(self, vma: Vma, lo: int, hi: int, prot: int) -> None:
        """Give [lo, hi) of vma the protection prot, splitting it into up to three."""
        self._remove(vma)
        if vma.start < lo:
            self._insert(Vma(vma.start, lo, vma.prot, vma.shared, vma.name, vma.offset, vma.dev, vma.inode))
        self._insert(Vma(lo, hi, prot, vma.shared, vma.name, vma.offset + lo - vma.start, vma.dev, vma.inode))
        if hi < vma.end:
            self._insert(Vma(hi, vma.end, vma.prot, vma.shared, vma.name, vma.offset + hi - vma.start,
                             vma.dev, vma.inode))

    def _forget(self, start: int, end: int) -> None:
        """Drop guest mappings in [start, end) from the table and from Unicorn."""
        for vma in self._overlapping(start, end):
            lo, hi = max(vma.start, start), min(vma.end, end)
            self.uc.mem_unmap(lo, hi - lo)
            self._remove(vma)
            if vma.start < lo:
                self._insert(Vma(vma.start, lo, vma.prot, vma.shared, vma.name, vma.offset, vma.dev, vma.inode))
            if hi < vma.end:
                self._insert(Vma(hi, vma.end, vma.prot, vma.shared, vma.name, vma.offset + hi - vma.start,
                                 vma.dev, vma.inode))
            self.uc.ctl_remove_cache(lo, hi)
            self._set_perms(lo, hi, 0)

    def _insert(self, vma: Vma) -> None:
        i = bisect.bisect_left(self._starts, vma.start)
        self._starts.insert(i, vma.start)
        self.vmas.insert(i, vma)

    def _remove(self, vma: Vma) -> None:
        i = bisect.bisect_left(self._starts, vma.start)
        del self._starts[i]
        del self.vmas[i]

    # -- brk -----------------------------------------------------------------------------------------
    def set_brk(self, new: int) -> int:
        if new < self.brk_start:
            return self.brk
        old_top, new_top = page_up(self.brk), page_up(new)
        if new_top > old_top:
            if not self.is_free(old_top, new_top):
                return self.brk
            self.map(old_top, new_top - old_top, PROT_READ | PROT_WRITE, name="[heap]")
        elif new_top < old_top:
            self.unmap(new_top, old_top - new_top)
        self.brk = new
        return new

    # -- guest memory from Python --------------------------------------------------------------------
    def check(self, addr: int, size: int, write: bool = False) -> int:
        """The host address of [addr, addr + size), which must be readable (writable); else GuestFault."""
        if size <= 0:
            return self.base + addr
        need = PROT_WRITE if write else PROT_READ
        at, end = addr, addr + size
        if addr < 0 or end > SPACE:
            raise GuestFault(addr)
        while at < end:
            vma = self.find(at)
            if vma is None or not (_host_prot(vma.prot) & need):
                raise GuestFault(at)
            at = vma.end
        return self.base + addr

    def read(self, addr: int, size: int) -> bytes:
        return ctypes.string_at(self.check(addr, size), size)

    def write(self, addr: int, data: bytes) -> None:
        ctypes.memmove(self.check(addr, len(data), write=True), data, len(data))

    def write_force(self, addr: int, data: bytes) -> None:
        """Write whatever the guest protection (the loader filling read-only segments)."""
        vma = self.find(addr)
        if vma is None:
            raise GuestFault(addr)
        host = self.base + addr
        _libc.mprotect(self.base + (addr & ~(PAGE - 1)), page_up(addr + len(data)) - (addr & ~(PAGE - 1)), 3)
        ctypes.memmove(host, data, len(data))
        for v in self._overlapping(addr, addr + len(data)):
            _libc.mprotect(self.base + v.start, v.end - v.start, _host_prot(v.prot))

    def u64(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 8), "little")

    def u32(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 4), "little")

    def put_u64(self, addr: int, value: int) -> None:
        self.write(addr, (value & 0xFFFF_FFFF_FFFF_FFFF).to_bytes(8, "little"))

    def put_u32(self, addr: int, value: int) -> None:
        self.write(addr, (value & 0xFFFF_FFFF).to_bytes(4, "little"))

    def cstring(self, addr: int, limit: int = 4096) -> bytes:
        """A NUL-terminated string; GuestFault when it runs into unreadable memory first."""
        out = b""
        at = addr
        while len(out) < limit:
            vma = self.find(at)
            if vma is None or not (_host_prot(vma.prot) & PROT_READ):
                raise GuestFault(at)
            chunk = ctypes.string_at(self.base + at, min(vma.end - at, limit - len(out), 256))
            nul = chunk.find(b"\0")
            if nul >= 0:
                return out + chunk[:nul]
            out += chunk
            at += len(chunk)
        raise OSError(36, "name too long")

    def cstrings(self, addr: int) -> list[bytes]:
        """A NULL-terminated array of string pointers (argv, envp)."""
        out: list[bytes] = []
        if addr == 0:
            return out
        while True:
            ptr = self.u64(addr)
            if ptr == 0:
                return out
            out.append(self.cstring(ptr, 1 << 20))
            addr += 8
            if len(out) > 1 << 16:
                raise OSError(7, "argument list too long")

    def maps_text(self, extra: dict[int, str] | None = None) -> str:
        """The guest's /proc/self/maps."""
        lines = []
        for v in self.vmas:
            perms = ("r" if v.prot & 1 else "-") + ("w" if v.prot & 2 else "-") + ("x" if v.prot & 4 else "-") + (
                "s" if v.shared else "p")
            dev = f"{os.major(v.dev):02x}:{os.minor(v.dev):02x}"
            head = f"{v.start:08x}-{v.end:08x} {perms} {v.offset:08x} {dev} {v.inode}"
            lines.append(f"{head:<72} {v.name}".rstrip() if v.name else head)
        return "\n".join(lines) + "\n"
