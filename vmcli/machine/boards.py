"""One declarative table per board: RAM, devices and their addresses, load address, entry convention.

The single source of truth for the memory maps; `vm boards` prints it. The arm64 and riscv64 maps copy
QEMU's `virt` machines (hw/arm/virt.c, hw/riscv/virt.c) so an image built for them runs on both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MiB = 1 << 20
# In holes of QEMU's virt maps (arm64: before the platform bus; riscv64: after fw_cfg), so the same
# addresses stay free on both; x86_64: right after the RAM window.
COMPUTE_NOTE = "guest compute device (vm only): kernels on the --gpu host device; docs/compute-device.md"


@dataclass(frozen=True)
class DeviceSpec:
    """A device on a board: `kind` names the class in vmcli.machine.devices; `space` is mmio or io."""

    name: str
    kind: str
    base: int
    size: int
    space: str = "mmio"
    note: str = ""
    irq: int | None = None       # interrupt input: arm64 SPI number (GIC ID 32 + irq), riscv64 PLIC source
    count: int = 1               # a row of identical devices, `size` apart, irq numbers consecutive


@dataclass(frozen=True)
class Rom:
    """Read-only memory at a fixed address (flash): read-only ELF segments may load there, as on QEMU."""

    name: str
    base: int
    size: int
    note: str = ""
    kind: str = "rom"            # the device behind it: "cfi_flash" takes commands as QEMU's pflash does


@dataclass(frozen=True)
class Board:
    name: str
    arch: str
    description: str
    ram_base: int
    ram_default: int
    ram_max: int                 # the RAM window ends before the next device region
    raw_load_addr: int           # where a raw (non-ELF) image goes, like QEMU's -kernel
    semihosting: bool            # ARM / RISC-V semihosting available
    devices: tuple[DeviceSpec, ...] = field(default_factory=tuple)
    rom: tuple[Rom, ...] = field(default_factory=tuple)
    entry_state: str = ""        # what the CPU holds at the entry point
    bios_addr: int | None = None # where --bios firmware goes (the reset address)
    kernel_addr: int | None = None   # where IMAGE goes when firmware is given too (firmware jumps there)
    timebase_hz: int = 0         # riscv64: CLINT mtime frequency
    boot_note: str = ""          # the boot protocols, for `vm boards` and docs/running.md


BOARDS: dict[str, Board] = {
    "arm64/virt": Board(
        name="virt",
        arch="arm64",
        description="QEMU-compatible AArch64 virt machine (Cortex-A72 class CPU, EL1, MMU off)",
        ram_base=0x4000_0000,
        ram_default=128 * MiB,
        ram_max=255 * 1024 * MiB,
        raw_load_addr=0x4008_0000,
        semihosting=True,
        devices=(
            DeviceSpec("gic", "gicv2", 0x0800_0000, 0x2_0000,
                       note="GICv2: distributor +0, CPU interface +0x10000; timer PPIs: virtual 27, physical 30"),
            DeviceSpec("uart0", "pl011", 0x0900_0000, 0x1000, irq=1, note="PL011 UART; stdout/stdin; RX/TX interrupts"),
            DeviceSpec("rtc", "pl031", 0x0901_0000, 0x1000, irq=2, note="PL031 real-time clock (host UTC)"),
            DeviceSpec("virtio", "virtio_mmio", 0x0A00_0000, 0x200, irq=16, count=32,
                       note="32 virtio-mmio transports, no device plugged in (device ID 0)"),
            DeviceSpec("compute", "compute", 0x0B00_0000, 0x1000, note=COMPUTE_NOTE),
        ),
        rom=(Rom("flash", 0x0, 0x0800_0000, "CFI flash, 2 banks of 64 MiB (Intel command set, as QEMU's pflash); "
                 "--bios loads here; read-only ELF segments load here as on QEMU", kind="cfi_flash"),),
        entry_state="PC = entry, EL1h, DAIF masked; other registers 0 (a Linux Image: x0 = device tree); "
        "semihosting via HLT #0xF000 (w0 = op, x1 = param); PSCI over hvc or smc",
        bios_addr=0x0,
        kernel_addr=0x4008_0000,
        boot_note="--bios FILE goes to flash at 0 and starts there, with the device tree at the start of RAM; "
        "a Linux Image (arm64 header, gzip too) loads at RAM + 2 MiB (text_offset 0) or RAM + text_offset, "
        "the initrd at RAM + min(RAM/2, 128 MiB), the device tree after it (2 MiB aligned), x0 = its address",
    ),
    "riscv64/virt": Board(
        name="virt",
        arch="riscv64",
        description="QEMU-compatible RISC-V virt machine (RV64GC, M-mode, like -bios none)",
        ram_base=0x8000_0000,
        ram_default=128 * MiB,
        ram_max=255 * 1024 * MiB,
        raw_load_addr=0x8000_0000,
        semihosting=True,
        devices=(
            DeviceSpec("test", "sifive_test", 0x0010_0000, 0x1000,
                       note="SiFive test finisher: 0x5555 pass, (code<<16)|0x3333 exit, 0x7777 reset"),
            DeviceSpec("clint", "clint", 0x0200_0000, 0x1_0000,
                       note="CLINT: msip +0, mtimecmp +0x4000, mtime +0xbff8 (10 MHz)"),
            DeviceSpec("plic", "plic", 0x0C00_0000, 0x60_0000, note="PLIC: sources 1-96; contexts 0 (M) and 1 (S)"),
            DeviceSpec("uart0", "ns16550", 0x1000_0000, 0x100, irq=10, note="NS16550A UART; stdout/stdin; interrupts"),
            DeviceSpec("virtio", "virtio_mmio", 0x1000_1000, 0x1000, irq=1, count=8,
                       note="8 virtio-mmio transports, no device plugged in (device ID 0)"),
            DeviceSpec("compute", "compute", 0x1020_0000, 0x1000, note=COMPUTE_NOTE),
        ),
        entry_state="PC = entry, M-mode; a0 = 0 (hart id), a1 = the device tree; "
        "semihosting via slli x0,x0,0x1f; ebreak; srai x0,x0,7 (a0 = op, a1 = param)",
        bios_addr=0x8000_0000,
        kernel_addr=0x8020_0000,
        timebase_hz=10_000_000,
        boot_note="--bios FILE (e.g. OpenSBI fw_jump) goes to 0x80000000 and starts there in M-mode with "
        "IMAGE at 0x80200000 for it to jump to; the device tree sits at the end of RAM (2 MiB aligned, "
        "below 3 GiB) with a1 = its address",
    ),
    "x86_64/pc-flat": Board(
        name="pc-flat",
        arch="x86_64",
        description="vm's flat x86-64 board: 64-bit long mode from the first instruction, RAM from 0",
        ram_base=0x0,
        ram_default=128 * MiB,
        ram_max=0xFE00_0000,
        raw_load_addr=0x10_0000,
        semihosting=False,
        devices=(
            DeviceSpec("com1", "ns16550", 0x3F8, 8, space="io", note="16550 UART (COM1); stdout/stdin"),
            DeviceSpec("exit", "exit_port", 0xF4, 1, space="io",
                       note="a byte written ends the run with that exit status"),
            DeviceSpec("compute", "compute", 0xFE00_0000, 0x1000, note=COMPUTE_NOTE),
        ),
        entry_state="RIP = entry in 64-bit mode, flat segments, paging as Unicorn sets it (identity); "
        "RSP = top of RAM; other registers 0",
    ),
}

DEFAULT_BOARD = {"arm64": "virt", "riscv64": "virt", "x86_64": "pc-flat"}


def board_for(arch: str, name: str | None = None) -> Board:
    """The board `name` (default: the arch's default board) for `arch`; KeyError if there is none."""
    return BOARDS[f"{arch}/{name or DEFAULT_BOARD[arch]}"]


def irq_text(board: Board, d: DeviceSpec) -> str:
    """How the device's interrupt is wired, in words (arm64: GIC interrupt ID; riscv64: PLIC source)."""
    if d.irq is None:
        return ""
    first, last = d.irq, d.irq + d.count - 1
    if board.arch == "arm64":
        ids = f"{32 + first}" if first == last else f"{32 + first}-{32 + last}"
        return f"SPI {first if first == last else f'{first}-{last}'} (ID {ids})"
    return f"PLIC {first if first == last else f'{first}-{last}'}"


def markdown_tables() -> str:
    """The boards as Markdown, for docs/running.md (a test keeps the two the same)."""
    out = []
    for board in BOARDS.values():
        out.append(f"### {board.arch} `{board.name}`\n\n{board.description}.\n")
        out.append("| name | kind | address | size | interrupt | notes |\n|---|---|---|---|---|---|")
        out.append(f"| RAM | memory | {board.ram_base:#x} | {board.ram_default >> 20} MiB by default (--mem) | | |")
        for r in board.rom:
            out.append(f"| {r.name} | {r.kind} | {r.base:#x} | {r.size:#x} | | {r.note} |")
        for d in board.devices:
            where = f"{d.base:#x}" + (" (I/O port)" if d.space == "io" else "")
            size = f"{d.size:#x}" + (f" x {d.count}" if d.count > 1 else "")
            note = d.note.replace("|", "\\|")
            out.append(f"| {d.name} | {d.kind} | {where} | {size} | {irq_text(board, d)} | {note} |")
        out.append(f"\nRaw images load at {board.raw_load_addr:#x}. Semihosting: "
                   f"{'yes' if board.semihosting else 'no'}. At entry: {board.entry_state}.\n")
        if board.boot_note:
            out.append(f"Boot: {board.boot_note}.\n")
    return "\n".join(out)
