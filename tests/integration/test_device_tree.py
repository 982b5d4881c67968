"""The device trees vm builds (`vm boards --dtb`) read by dtc, and node for node the same as QEMU's
own (`-M virt,dumpdtb=`): every node vm has, QEMU has, with the same properties and values
(/chosen aside: QEMU adds random seeds there)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import libfdt
import pytest
from toolcheck import require_tool

ROOT = Path(__file__).resolve().parents[2]
QEMU = {"arm64": ["qemu-system-aarch64", "-M", "virt,dumpdtb={}", "-cpu", "cortex-a72", "-m", "128M"],
        "riscv64": ["qemu-system-riscv64", "-M", "virt,dumpdtb={}", "-m", "128M"]}
VM_ONLY_VALUES = {("/cpus/cpu@0", "riscv,isa")}     # Unicorn's RISC-V CPU is QEMU 5's (no H, no Sstc)


def nodes(blob: bytes) -> dict[str, dict[str, bytes]]:
    fdt = libfdt.Fdt(blob)
    out: dict[str, dict[str, bytes]] = {}

    def walk(offset: int) -> None:
        props: dict[str, bytes] = {}
        prop = fdt.first_property_offset(offset, libfdt.QUIET_NOTFOUND)
        while prop >= 0:
            p = fdt.get_property_by_offset(prop)
            props[p.name] = bytes(p)
            prop = fdt.next_property_offset(prop, libfdt.QUIET_NOTFOUND)
        out[fdt.get_path(offset)] = props
        child = fdt.first_subnode(offset, libfdt.QUIET_NOTFOUND)
        while child >= 0:
            walk(child)
            child = fdt.next_subnode(child, libfdt.QUIET_NOTFOUND)

    walk(0)
    return out


@pytest.mark.parametrize("arch", ["arm64", "riscv64"])
def test_device_tree_matches_qemus(arch: str, tmp_path: Path) -> None:
    require_tool(QEMU[arch][0], "dtc")
    ours, theirs = tmp_path / "vm.dtb", tmp_path / "qemu.dtb"
    subprocess.run([sys.executable, "-m", "vmcli", "boards", "--dtb", str(ours), "--arch", arch], check=True,
                   cwd=ROOT, timeout=60)
    subprocess.run([a.format(theirs) for a in QEMU[arch]] + ["-display", "none"], check=True, timeout=60,
                   capture_output=True)
    subprocess.run(["dtc", "-I", "dtb", "-O", "dts", "-o", str(tmp_path / "vm.dts"), str(ours)], check=True,
                   timeout=60, capture_output=True)
    vm_nodes, qemu_nodes = nodes(ours.read_bytes()), nodes(theirs.read_bytes())
    assert len(vm_nodes) > 20
    for path, props in vm_nodes.items():
        assert path in qemu_nodes, path
        for name, value in props.items():
            if path == "/chosen" or (path, name) in VM_ONLY_VALUES:
                continue
            assert qemu_nodes[path].get(name) == value, (path, name)
