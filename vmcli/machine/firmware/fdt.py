"""The board's device tree blob, built from the declarative board table (vmcli/machine/boards.py) with
libfdt (pylibfdt, dtc's own library), node for node as QEMU's virt machines describe themselves
(hw/arm/virt.c, hw/riscv/virt.c), so firmware and Linux find the same devices under `vm` and QEMU.

    blob = build_dtb(board, mem_size, bootargs="console=ttyAMA0", initrd=(start, end))

A user's blob (`--dtb`) gets the same /chosen and /memory updates QEMU makes to one.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import libfdt

from vmcli.errors import BadInput
from vmcli.machine.boards import Board, DeviceSpec

Value = str | list[str] | int | list[int] | bytes | None     # u32 cells, strings, raw bytes, empty


@dataclass
class Node:
    name: str
    props: dict[str, Value] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)


# phandles, fixed as in QEMU's trees so the blobs read alike
ARM_CLOCK, ARM_CPU, ARM_GIC = 0x8000, 0x8001, 0x8002
RV_CPU, RV_INTC, RV_PLIC, RV_TEST = 1, 2, 3, 4
GIC_SPI, GIC_PPI = 0, 1
IRQ_LEVEL_HIGH, IRQ_EDGE_RISING = 4, 1
PPI_CPU_MASK = 0x100                       # one CPU
UART_CLOCK_HZ = 24_000_000
NS16550_CLOCK_HZ = 3_686_400


def _reg(base: int, size: int) -> list[int]:
    return [base >> 32, base & 0xFFFF_FFFF, size >> 32, size & 0xFFFF_FFFF]


def _arm_devices(board: Board, d: DeviceSpec) -> list[Node]:
    clocks: dict[str, Value] = {"clocks": [ARM_CLOCK], "clock-names": ["apb_pclk"]}
    if d.kind == "gicv2":
        return [Node(f"intc@{d.base:x}", {
            "phandle": ARM_GIC, "reg": _reg(d.base, 0x10000) + _reg(d.base + 0x10000, 0x10000),
            "compatible": "arm,cortex-a15-gic", "ranges": None, "#size-cells": 2, "#address-cells": 2,
            "interrupt-controller": None, "#interrupt-cells": 3})]
    if d.kind == "pl011":
        return [Node(f"pl011@{d.base:x}", {
            "clock-names": ["uartclk", "apb_pclk"], "clocks": [ARM_CLOCK, ARM_CLOCK],
            "interrupts": [GIC_SPI, d.irq or 0, IRQ_LEVEL_HIGH], "reg": _reg(d.base, d.size),
            "compatible": ["arm,pl011", "arm,primecell"]})]
    if d.kind == "pl031":
        return [Node(f"pl031@{d.base:x}", {
            **clocks, "interrupts": [GIC_SPI, d.irq or 0, IRQ_LEVEL_HIGH], "reg": _reg(d.base, d.size),
            "compatible": ["arm,pl031", "arm,primecell"]})]
    if d.kind == "virtio_mmio":
        return [Node(f"virtio_mmio@{d.base + i * d.size:x}", {
            "dma-coherent": None, "interrupts": [GIC_SPI, (d.irq or 0) + i, IRQ_EDGE_RISING],
            "reg": _reg(d.base + i * d.size, d.size), "compatible": "virtio,mmio"}) for i in range(d.count)]
    return []


def _arm64_tree(board: Board, mem_size: int) -> Node:
    root = Node("", {"interrupt-parent": ARM_GIC, "model": "linux,dummy-virt", "#size-cells": 2,
                     "#address-cells": 2, "compatible": "linux,dummy-virt"})
    root.children.append(Node("psci", {
        "migrate": 0xC400_0005, "cpu_on": 0xC400_0003, "cpu_off": 0x8400_0002, "cpu_suspend": 0xC400_0001,
        "method": "hvc", "compatible": ["arm,psci-1.0", "arm,psci-0.2", "arm,psci"]}))
    root.children.append(Node(f"memory@{board.ram_base:x}", {"reg": _reg(board.ram_base, mem_size),
                                                              "device_type": "memory"}))
    for d in board.devices:
        root.children.extend(_arm_devices(board, d))
    for rom in board.rom:
        if rom.kind == "cfi_flash":
            half = rom.size // 2
            root.children.append(Node(f"flash@{rom.base:x}", {
                "bank-width": 4, "reg": _reg(rom.base, half) + _reg(rom.base + half, half),
                "compatible": "cfi-flash"}))
    root.children.append(Node("cpus", {"#size-cells": 0, "#address-cells": 1}, [
        Node("cpu@0", {"phandle": ARM_CPU, "reg": 0, "compatible": "arm,cortex-a72", "device_type": "cpu"})]))
    ppi = [(13, "secure physical"), (14, "physical"), (11, "virtual"), (10, "hypervisor")]
    root.children.append(Node("timer", {
        "interrupts": [c for n, _ in ppi for c in (GIC_PPI, n, PPI_CPU_MASK | IRQ_LEVEL_HIGH)],
        "always-on": None, "compatible": ["arm,armv8-timer", "arm,armv7-timer"]}))
    root.children.append(Node("apb-pclk", {
        "phandle": ARM_CLOCK, "clock-output-names": "clk24mhz", "clock-frequency": UART_CLOCK_HZ,
        "#clock-cells": 0, "compatible": "fixed-clock"}))
    uart = next(d for d in board.devices if d.kind == "pl011")
    root.children.append(Node("chosen", {"stdout-path": f"/pl011@{uart.base:x}"}))
    return root


def _riscv_devices(board: Board, d: DeviceSpec) -> list[Node]:
    if d.kind == "sifive_test":
        return [Node(f"test@{d.base:x}", {"phandle": RV_TEST, "reg": _reg(d.base, d.size),
                                          "compatible": ["sifive,test1", "sifive,test0", "syscon"]})]
    if d.kind == "ns16550":
        return [Node(f"serial@{d.base:x}", {
            "interrupts": d.irq or 0, "interrupt-parent": RV_PLIC, "clock-frequency": NS16550_CLOCK_HZ,
            "reg": _reg(d.base, d.size), "compatible": "ns16550a"})]
    if d.kind == "clint":
        return [Node(f"clint@{d.base:x}", {
            "interrupts-extended": [RV_INTC, 3, RV_INTC, 7], "reg": _reg(d.base, d.size),
            "compatible": ["sifive,clint0", "riscv,clint0"]})]
    if d.kind == "plic":
        return [Node(f"plic@{d.base:x}", {
            "phandle": RV_PLIC, "riscv,ndev": 96, "reg": _reg(d.base, d.size),
            "interrupts-extended": [RV_INTC, 11, RV_INTC, 9], "interrupt-controller": None,
            "compatible": ["sifive,plic-1.0.0", "riscv,plic0"], "#address-cells": 0, "#interrupt-cells": 1})]
    if d.kind == "virtio_mmio":
        return [Node(f"virtio_mmio@{d.base + i * d.size:x}", {
            "interrupts": (d.irq or 0) + i, "interrupt-parent": RV_PLIC, "reg": _reg(d.base + i * d.size, d.size),
            "compatible": "virtio,mmio"}) for i in reversed(range(d.count))]
    return []


def _riscv64_tree(board: Board, mem_size: int) -> Node:
    root = Node("", {"#address-cells": 2, "#size-cells": 2, "compatible": "riscv-virtio",
                     "model": "riscv-virtio,qemu"})
    uart = next(d for d in board.devices if d.kind == "ns16550")
    root.children.append(Node("chosen", {"stdout-path": f"/soc/serial@{uart.base:x}"}))
    for name, value in (("poweroff", 0x5555), ("reboot", 0x7777)):
        root.children.append(Node(name, {"value": value, "offset": 0, "regmap": RV_TEST,
                                          "compatible": f"syscon-{name}"}))
    root.children.append(Node(f"memory@{board.ram_base:x}", {"device_type": "memory",
                                                              "reg": _reg(board.ram_base, mem_size)}))
    root.children.append(Node("cpus", {"#address-cells": 1, "#size-cells": 0,
                                       "timebase-frequency": board.timebase_hz}, [
        Node("cpu@0", {"phandle": RV_CPU, "device_type": "cpu", "reg": 0, "status": "okay", "compatible": "riscv",
                       "riscv,isa": "rv64imafdcsu", "mmu-type": "riscv,sv48"}, [
            Node("interrupt-controller", {"#interrupt-cells": 1, "interrupt-controller": None,
                                          "compatible": "riscv,cpu-intc", "phandle": RV_INTC})])]))
    soc = Node("soc", {"#address-cells": 2, "#size-cells": 2, "compatible": "simple-bus", "ranges": None})
    for d in board.devices:
        soc.children.extend(_riscv_devices(board, d))
    root.children.append(soc)
    return root


TREES: dict[str, Callable[[Board, int], Node]] = {"arm64": _arm64_tree, "riscv64": _riscv64_tree}


def has_dtb(board: Board) -> bool:
    return board.arch in TREES


def _encode(value: Value) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode() + b"\0"
    if isinstance(value, int):
        return struct.pack(">I", value)
    if all(isinstance(v, str) for v in value):
        return b"".join(str(v).encode() + b"\0" for v in value)
    return struct.pack(f">{len(value)}I", *value)


def _write(sw: libfdt.FdtSw, node: Node) -> None:
    with sw.add_node(node.name):
        for name, value in node.props.items():
            sw.property(name, _encode(value))
        for child in node.children:
            _write(sw, child)


def chosen_props(bootargs: str, initrd: tuple[int, int] | None) -> dict[str, Value]:
    props: dict[str, Value] = {}
    if bootargs:
        props["bootargs"] = bootargs
    if initrd is not None:
        props["linux,initrd-start"] = struct.pack(">Q", initrd[0])
        props["linux,initrd-end"] = struct.pack(">Q", initrd[1])
    return props


def build_dtb(board: Board, mem_size: int, *, bootargs: str = "", initrd: tuple[int, int] | None = None) -> bytes:
    root = TREES[board.arch](board, mem_size)
    chosen = next(n for n in root.children if n.name == "chosen")
    chosen.props.update(chosen_props(bootargs, initrd))
    sw = libfdt.FdtSw()
    sw.finish_reservemap()
    _write(sw, root)
    fdt = sw.as_fdt()
    fdt.pack()
    return bytes(fdt.as_bytearray())


def update_dtb(blob: bytes, name: str, *, bootargs: str = "", initrd: tuple[int, int] | None = None) -> bytes:
    """A user's blob with /chosen set as QEMU sets it; BadInput if it is no valid device tree."""
    try:
        fdt = libfdt.Fdt(bytearray(blob))
        props = chosen_props(bootargs, initrd)
        if not props:
            return blob
        fdt.resize(len(blob) + 1024 + sum(len(_encode(v)) + 64 for v in props.values()))
        chosen = fdt.path_offset("/chosen", libfdt.QUIET_NOTFOUND)
        if chosen < 0:
            chosen = fdt.add_subnode(0, "chosen")
        for key, value in props.items():
            fdt.setprop(chosen, key, _encode(value))
        fdt.pack()
        return bytes(fdt.as_bytearray())
    except libfdt.FdtException as exc:
        raise BadInput(f"{name}: not a valid device tree blob ({exc})") from None
