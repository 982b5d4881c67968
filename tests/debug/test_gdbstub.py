"""The gdb stub's protocol, driven over a socket pair without gdb: framing, acks, the target
description, registers, memory (hex and binary), breakpoints, stepping and kill. The real
gdb-multiarch drives it in tests/debug/integration."""

from __future__ import annotations

import socket
import threading
import xml.etree.ElementTree as ET

import pytest
from debug_helpers import IMAGES, quiet_machine

from vmcli.debug.gdbstub import Connection, GdbStub, checksum, escape_binary, parse_address, unescape_binary
from vmcli.debug.registers import REGISTERS
from vmcli.errors import BadInput


class Client:
    def __init__(self, sock: socket.socket) -> None:
        self.conn = Connection(sock)

    def ask(self, data: str | bytes) -> str:
        self.conn.send(data)
        reply = self.conn.read_packet()
        assert reply is not None
        return reply.decode("latin-1")


@pytest.fixture(params=["arm64", "riscv64", "x86_64"])
def session(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    arch = request.param
    machine = quiet_machine(IMAGES / f"hello-{arch}.elf")
    ours, theirs = socket.socketpair()
    stub = GdbStub(machine, Connection(ours))
    thread = threading.Thread(target=stub.serve, daemon=True)
    thread.start()
    yield arch, machine, Client(theirs), stub
    theirs.close()
    thread.join(timeout=10)
    ours.close()


def test_handshake_and_target_description(session) -> None:  # type: ignore[no-untyped-def]
    arch, machine, gdb, stub = session
    assert "qXfer:features:read+" in gdb.ask("qSupported:multiprocess+;xmlRegisters=i386")
    assert gdb.ask("QStartNoAckMode") == "OK"
    gdb.conn.ack = False
    xml, offset = "", 0
    while True:                                     # read it in small pieces, as gdb may
        part = gdb.ask(f"qXfer:features:read:target.xml:{offset:x},40")
        xml += part[1:]
        offset += len(part) - 1
        if part[0] == "l":
            break
    regs = ET.fromstring(xml).iter("reg")
    names = [(r.get("name"), int(r.get("bitsize") or 0)) for r in regs]
    assert names == [(r.name, r.bits) for r in REGISTERS[arch]]
    g = gdb.ask("g")
    assert len(g) == sum(bits for _, bits in names) // 4
    pc_index = next(i for i, (n, _) in enumerate(names) if n in ("pc", "rip"))
    assert int.from_bytes(bytes.fromhex(gdb.ask(f"p{pc_index:x}")), "little") == machine.image.entry
    assert gdb.ask("?").startswith("T05")


def test_memory_registers_breakpoints_step_and_kill(session) -> None:  # type: ignore[no-untyped-def]
    arch, machine, gdb, stub = session
    entry = machine.image.entry
    assert bytes.fromhex(gdb.ask(f"m{entry:x},8")) == bytes(machine.uc.mem_read(entry, 8))
    scratch = machine.board.ram_base + machine.mem_size - 0x100
    assert gdb.ask(f"M{scratch:x},4:deadbeef") == "OK"
    tricky = b"#$}*\x00\x01"                        # bytes the binary X packet must escape
    assert gdb.ask(b"X%x,%x:" % (scratch + 4, len(tricky)) + escape_binary(tricky)) == "OK"
    assert bytes(machine.uc.mem_read(scratch, 10)) == bytes.fromhex("deadbeef") + tricky
    assert gdb.ask("mf0000000,4") == "E14"          # not RAM (devices included): refused
    # write a register through P and read it back through g
    reg = next(i for i, r in enumerate(REGISTERS[arch]) if r.name in ("x5", "t0", "rbx"))
    assert gdb.ask(f"P{reg:x}=" + (0x1122334455667788).to_bytes(8, "little").hex()) == "OK"
    assert int(machine.uc.reg_read(REGISTERS[arch][reg].uc)) == 0x1122334455667788
    # a breakpoint on main, continue, then one step
    main = _symbol(arch, "main")
    assert gdb.ask(f"Z0,{main:x},4") == "OK"
    assert gdb.ask("vCont;c").startswith("T05")
    assert machine.cpu.pc == main
    assert gdb.ask("vCont;s:1").startswith("T05") and machine.cpu.pc == main   # the breakpoint traps again
    assert gdb.ask(f"z0,{main:x},4") == "OK"                                  # as gdb does: remove, step
    assert gdb.ask("vCont;s:1").startswith("T05") and machine.cpu.pc != main
    assert gdb.ask("c") == "W00"                     # ran to its end: exit status 0
    assert stub.result is not None and stub.result.status == 0


def _symbol(arch: str, name: str) -> int:
    from elftools.elf.elffile import ELFFile
    with (IMAGES / f"hello-{arch}.elf").open("rb") as f:
        return next(s["st_value"] for s in ELFFile(f).get_section_by_name(".symtab").iter_symbols() if s.name == name)


def test_framing_helpers() -> None:
    assert checksum(b"OK") == b"9a"
    data = bytes(range(256))
    assert unescape_binary(escape_binary(data)) == data
    assert parse_address("1234") == ("127.0.0.1", 1234)
    assert parse_address("0.0.0.0:99") == ("0.0.0.0", 99)
    with pytest.raises(BadInput):
        parse_address("localhost:http")
