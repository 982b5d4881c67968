"""The gdb stub's protocol, driven over a socket pair without gdb: framing, acks, the target
description, registers, memory (hex and binary), breakpoints, stepping and kill. The client here is
written from the GDB manual alone (its own framing and checksums, nothing shared with the stub), so a
stub that accepted any checksum or never resent a packet would fail. The real gdb-multiarch drives
the stub in tests/debug/integration."""

from __future__ import annotations

import socket
import threading
import xml.etree.ElementTree as ET

import pytest
from debug_helpers import IMAGES, quiet_machine

from vmcli.debug.gdbstub import (
    PACKET_SIZE,
    Connection,
    GdbStub,
    checksum,
    escape_binary,
    parse_address,
    unescape_binary,
)
from vmcli.debug.registers import REGISTERS
from vmcli.errors import BadInput


def frame(data: bytes) -> bytes:
    """`$data#cs`, cs the modulo-256 sum of the data as two lower-case hex digits (GDB manual, "Overview")."""
    return b"$" + data + b"#" + f"{sum(data) % 256:02x}".encode()


class Client:
    """gdb's end of the wire, independent of the stub's Connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(20)
        self.pending = b""
        self.ack = True

    def byte(self) -> bytes:
        while not self.pending:
            chunk = self.sock.recv(4096)
            assert chunk, "the stub closed the connection"
            self.pending += chunk
        first, self.pending = self.pending[:1], self.pending[1:]
        return first

    def reply(self, *, acknowledge: bool = True) -> bytes:
        """The next packet from the stub, its checksum checked here; acked with '+' in ack mode."""
        while (first := self.byte()) != b"$":
            assert first in b"+-", f"stray byte {first!r} before a reply"
        data = b""
        while (c := self.byte()) != b"#":
            data += c
        sent = self.byte() + self.byte()
        assert sent == f"{sum(data) % 256:02x}".encode(), f"bad checksum {sent!r} on {data!r}"
        if self.ack and acknowledge:
            self.sock.sendall(b"+")
        return data

    def ack_byte(self) -> bytes:
        return self.byte()

    def ask(self, data: str | bytes) -> str:
        raw = data.encode("latin-1") if isinstance(data, str) else data
        self.sock.sendall(frame(raw))
        if self.ack:
            assert self.ack_byte() == b"+"
        return self.reply().decode("latin-1")


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
    gdb.ack = False
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


def test_bad_checksum_is_refused_and_the_resend_answered(session) -> None:  # type: ignore[no-untyped-def]
    arch, machine, gdb, stub = session
    good = frame(b"?")
    gdb.sock.sendall(good[:-2] + (b"00" if good[-2:] != b"00" else b"01"))
    assert gdb.ack_byte() == b"-"                   # refused, not answered
    assert gdb.ask("?").startswith("T05")           # the resend is answered


def test_truncated_packet_is_refused(session) -> None:  # type: ignore[no-untyped-def]
    arch, machine, gdb, stub = session
    gdb.sock.sendall(b"$g#0" + frame(b"?"))          # a checksum cut short runs into the next packet
    assert gdb.ack_byte() == b"-"
    assert gdb.ask("?").startswith("T05")


def test_packet_split_across_reads(session) -> None:  # type: ignore[no-untyped-def]
    arch, machine, gdb, stub = session
    whole = frame(b"?")
    for i in range(len(whole)):
        gdb.sock.sendall(whole[i:i + 1])
    assert gdb.ack_byte() == b"+"
    assert gdb.reply().startswith(b"T05")


def test_nak_of_a_reply_makes_the_stub_resend_it(session) -> None:  # type: ignore[no-untyped-def]
    arch, machine, gdb, stub = session
    gdb.sock.sendall(frame(b"?"))
    assert gdb.ack_byte() == b"+"
    first = gdb.reply(acknowledge=False)
    gdb.sock.sendall(b"-")                            # as if it arrived damaged
    assert gdb.reply() == first                       # sent again, whole


def test_empty_packet_gets_the_empty_reply(session) -> None:  # type: ignore[no-untyped-def]
    arch, machine, gdb, stub = session
    assert gdb.ask("") == ""
    assert gdb.ask("?").startswith("T05")


@pytest.mark.parametrize("packet", [
    "Z0,-10,4", "Z0,10000000000000000,4", "Z0,ffffffffffffffff,4", "Z2,fffffffffffffffc,8", "Z0, 10,4", "Z0,0x10,4",
    "Z0,1_0,4", "Z0,,4", "z0,-10,4", "m-10,4", "m10000000000000000,4", "mffffffffffffffff,2", "p-1",
    "p10000000000000000", "M-10,1:00", "qXfer:features:read:target.xml:-1,10", "c-40080000",
    "vCont;", "Z", "m", "P=", "X10,2",
])
def test_out_of_range_numbers_get_an_error_reply(session, packet: str) -> None:  # type: ignore[no-untyped-def]
    arch, machine, gdb, stub = session
    assert gdb.ask(packet) in ("E22", "E14"), packet
    assert gdb.ask("?").startswith("T05")            # and the stub goes on


def test_breakpoint_count_is_capped(session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    arch, machine, gdb, stub = session
    import vmcli.debug.gdbstub as gdbstub
    monkeypatch.setattr(gdbstub, "MAX_BREAKPOINTS", 3)
    base = machine.image.entry
    assert [gdb.ask(f"Z0,{base + 4 * i:x},4") for i in range(4)] == ["OK", "OK", "OK", "E24"]
    assert gdb.ask(f"Z0,{base:x},4") == "OK"           # one already set is not a new one
    assert gdb.ask(f"z0,{base:x},4") == "OK" and gdb.ask(f"Z0,{base + 12:x},4") == "OK"


def test_oversized_packet_is_dropped_and_memory_stays_bounded(session) -> None:  # type: ignore[no-untyped-def]
    """A client that ignores the PacketSize the stub advertises, sending 8 MiB without a '#': the stub
    throws it away as it comes (its buffer never holds much more than one packet) and NAKs it."""
    arch, machine, gdb, stub = session
    largest = 0
    fill = stub.conn._fill

    def watched_fill() -> bool:
        nonlocal largest
        ok = fill()
        largest = max(largest, len(stub.conn.buffer))
        return ok

    stub.conn._fill = watched_fill
    sender = threading.Thread(target=lambda: gdb.sock.sendall(b"$" + b"a" * (8 << 20) + b"#00"))
    sender.start()
    assert gdb.ack_byte() == b"-"
    sender.join()
    assert largest <= PACKET_SIZE + 65536 + 1, largest
    assert gdb.ask("?").startswith("T05")


WAIT_FOR_INTERRUPT = {"x86_64": b"\xf4", "arm64": bytes.fromhex("7f2003d5"), "riscv64": bytes.fromhex("73005010")}


def test_a_halted_guest_waits_for_ctrl_c(session) -> None:  # type: ignore[no-untyped-def]
    """wfi/hlt with no interrupt source: plain vm run ends the guest (status 122); under gdb the stub
    keeps it "running", as QEMU does, until Ctrl-C, which stops it just after the wait instruction.
    Ctrl-C also stops a guest that has not started yet (it may come right behind the continue)."""
    import time

    arch, machine, gdb, stub = session
    entry = machine.image.entry
    machine.uc.mem_write(entry, WAIT_FOR_INTERRUPT[arch])
    gdb.sock.sendall(frame(b"vCont;c"))
    assert gdb.ack_byte() == b"+"
    after = entry + len(WAIT_FOR_INTERRUPT[arch])
    deadline = time.monotonic() + 30
    while machine.cpu.pc != after:                  # wait for the event: the wait instruction has run
        assert time.monotonic() < deadline, "the guest never reached its wait instruction"
        time.sleep(0.01)
    assert stub.result is None                       # halted, still "running"
    gdb.sock.sendall(b"\x03")
    assert gdb.reply().startswith(b"T02")
    assert machine.cpu.pc == after
    gdb.sock.sendall(frame(b"vCont;c") + b"\x03")      # a Ctrl-C right behind the continue
    assert gdb.ack_byte() == b"+"
    assert gdb.reply().startswith(b"T02")
