"""A GDB remote serial protocol stub (`vm run --gdb [HOST:]PORT`), like QEMU's `-s -S`.

The guest is held before its first instruction until a debugger attaches. Packets follow the GDB
manual, "Remote Protocol" (https://sourceware.org/gdb/current/onlinedocs/gdb.html/Remote-Protocol.html):
one thread, all-stop, registers described by target XML (vmcli/debug/registers.py), execution
control in vmcli/debug/control.py.
"""

from __future__ import annotations

import os
import re
import select
import socket
import threading
import time
from collections.abc import Callable

import numpy as np

from vmcli.debug.control import Debugger, Event
from vmcli.debug.registers import REGISTERS, Reg, decode, encode, read_reg, target_xml, write_reg
from vmcli.errors import BadInput, ExitStatus
from vmcli.machine.devices.device import Stop
from vmcli.machine.engine import flush_translations
from vmcli.machine.machine import Machine, RunResult

PACKET_SIZE = 0x4000                 # advertised in qSupported: the longest packet gdb may send us
INTERRUPT = 0x03
INTERRUPT_REPEAT_S = 0.05            # a Ctrl-C is repeated until the guest has stopped (see watch_interrupt)
THREAD = "thread:01;"
ERR_MEMORY, ERR_ARGS, ERR_NOT_SUPPORTED, ERR_LIMIT = "E14", "E22", "E01", "E24"
WATCH_KINDS = {"2": "watch", "3": "rwatch", "4": "awatch"}
MAX_BREAKPOINTS = 4096               # each is a Unicorn hook; a client may not set unbounded numbers
MAX_WATCHPOINTS = 256
HEX = re.compile(r"[0-9a-fA-F]{1,16}\Z")


def hex_number(text: str) -> int:
    """A packet's hex field as a 64-bit number; ValueError (an E22 reply) for anything else: signs,
    blanks, prefixes or more than 64 bits are never passed on to Unicorn."""
    if not HEX.match(text):
        raise ValueError(f"not a 64-bit hex number: {text[:20]!r}")
    return int(text, 16)


def hex_span(text: str) -> tuple[int, int]:
    """ADDR,LENGTH with the whole span inside the 64-bit address space."""
    address_text, _, length_text = text.partition(",")
    address, length = hex_number(address_text), hex_number(length_text)
    if address + length > 1 << 64:
        raise ValueError("span runs past the end of the address space")
    return address, length


def parse_address(text: str) -> tuple[str, int]:
    """[HOST:]PORT; HOST defaults to 127.0.0.1 (listen elsewhere only when asked)."""
    host, _, port_text = text.rpartition(":")
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise BadInput(f"--gdb {text!r}: expected [HOST:]PORT with PORT 0..65535")
    return host.strip("[]") or "127.0.0.1", port


def checksum(data: bytes) -> bytes:
    return b"%02x" % (sum(data) & 0xFF)


def escape_binary(data: bytes) -> bytes:
    out = bytearray()
    for byte in data:
        if byte in b"#$}*":
            out += bytes((0x7D, byte ^ 0x20))
        else:
            out.append(byte)
    return bytes(out)


def unescape_binary(data: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(data):
        if data[i] == 0x7D and i + 1 < len(data):
            out.append(data[i + 1] ^ 0x20)
            i += 2
        else:
            out.append(data[i])
            i += 1
    return bytes(out)


class Connection:
    """Packet framing over one socket: `$data#cs`, acks until QStartNoAckMode, and Ctrl-C bytes."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.ack = True
        self.closed = False

    def _fill(self) -> bool:
        try:
            chunk = self.sock.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:
            self.closed = True
            return False
        self.buffer += chunk
        return True

    def read_packet(self) -> bytes | None:
        """The next packet's data, b"\\x03" for an interrupt byte, None when the debugger has gone.

        A packet with a bad checksum is answered with '-' (gdb sends it again). One longer than the
        PacketSize we advertise is dropped unread and answered like a bad one ('-', or an error
        reply once acks are off), so a client cannot make the stub hold unbounded data."""
        while True:
            while self.buffer and self.buffer[0] in b"+-":
                del self.buffer[0]
            if self.buffer and self.buffer[0] == INTERRUPT:
                del self.buffer[0]
                return bytes((INTERRUPT,))
            start = self.buffer.find(b"$")
            if start < 0:
                self.buffer.clear()              # noise with no packet in it
            elif start > 0:
                del self.buffer[:start]          # noise between packets
                continue
            else:
                end = self.buffer.find(b"#", 1, PACKET_SIZE + 1)
                if end >= 0 and len(self.buffer) >= end + 3:
                    data = bytes(self.buffer[1:end])
                    sent = bytes(self.buffer[end + 1:end + 3])
                    del self.buffer[:end + 3]
                    if self.ack:
                        good = sent.lower() == checksum(data)
                        self._send_raw(b"+" if good else b"-")
                        if not good:
                            continue
                    return data
                if end < 0 and len(self.buffer) > PACKET_SIZE:
                    if not self._discard_oversized():
                        return None
                    continue
            if not self._fill():
                return None

    def _discard_oversized(self) -> bool:
        """Drop a packet over PacketSize up to its checksum, reading on in chunks that are thrown away."""
        while True:
            end = self.buffer.find(b"#")
            if end >= 0 and len(self.buffer) >= end + 3:
                del self.buffer[:end + 3]
                if self.ack:
                    self._send_raw(b"-")
                else:
                    self.send(ERR_ARGS)
                return True
            if end < 0:
                self.buffer.clear()
            if not self._fill():
                return False

    def _take_interrupt(self) -> bool:
        if INTERRUPT in self.buffer:
            self.buffer.remove(INTERRUPT)
            return True
        return False

    def _send_raw(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("latin-1")       # replies are bytes; binary ones came from latin-1
        packet = b"$" + data + b"#" + checksum(data)
        try:
            self.sock.sendall(packet)
            if self.ack:                          # wait for '+' (or resend once on '-')
                while not self.buffer or self.buffer[0] not in b"+-":
                    if not self._fill():
                        return
                if self.buffer[0] == ord("-"):
                    del self.buffer[0]
                    self.sock.sendall(packet)
                else:
                    del self.buffer[0]
        except OSError:
            self.closed = True

    def watch_interrupt(self, on_interrupt: Callable[[], None]) -> Callable[[], None]:
        """While the guest runs, call `on_interrupt` when gdb sends Ctrl-C; returns a stop function.

        A Ctrl-C may come before the guest has started running (it follows the continue packet
        closely, and may even sit in the buffer with it): Unicorn forgets an emu_stop made before
        emu_start, so once Ctrl-C has come, `on_interrupt` is repeated every INTERRUPT_REPEAT_S
        until the stop function is called."""
        wake_r, wake_w = os.pipe()

        def watch() -> None:
            interrupted = self._take_interrupt()
            while not interrupted:
                ready, _, _ = select.select([self.sock.fileno(), wake_r], [], [])
                if wake_r in ready:
                    return
                if not self._fill():
                    interrupted = True           # the debugger went away: stop the guest as well
                    break
                interrupted = self._take_interrupt()
                if len(self.buffer) > PACKET_SIZE:   # all-stop: nothing but Ctrl-C is due while running
                    del self.buffer[:-PACKET_SIZE]
            while True:
                on_interrupt()
                ready, _, _ = select.select([wake_r], [], [], INTERRUPT_REPEAT_S)
                if ready:
                    return

        thread = threading.Thread(target=watch, name="vm-gdb-interrupt", daemon=True)
        thread.start()

        def stop() -> None:
            os.write(wake_w, b"x")
            thread.join()
            os.close(wake_r)
            os.close(wake_w)

        return stop


class GdbStub:
    def __init__(self, machine: Machine, conn: Connection) -> None:
        self.machine = machine
        self.conn = conn
        self.uc = machine.uc
        self.arch = machine.board.arch
        self.regs = REGISTERS[self.arch]
        self.debugger = Debugger(machine)
        self.last: Event = Event("step", 5)
        self.initial = self.uc.context_save()
        self.result: RunResult | None = None
        self.detached = False
        self.no_ack_next = False

    # -- stop replies ------------------------------------------------------------------------------
    def stop_reply(self, event: Event) -> str:
        if event.kind == "exit":
            return f"W{event.status:02x}"
        if event.kind == "watch" and event.watch is not None:
            kind, address = event.watch
            return f"T{event.signal:02x}{kind}:{address:x};{THREAD}"
        if event.kind == "breakpoint":
            return f"T{event.signal:02x}swbreak:;{THREAD}"
        return f"T{event.signal:02x}{THREAD}"

    # -- the session -------------------------------------------------------------------------------
    def serve(self) -> None:
        while not self.conn.closed and self.result is None and not self.detached:
            packet = self.conn.read_packet()
            if packet is None:
                break
            if packet == bytes((INTERRUPT,)):
                continue                          # not running: nothing to interrupt
            reply = self.handle(packet)
            if reply is not None:
                self.conn.send(reply)
            if self.no_ack_next:
                self.conn.ack, self.no_ack_next = False, False

    def handle(self, packet: bytes) -> str | None:
        if not packet:
            return ""                             # the empty packet: unsupported, as any unknown one
        head, body = chr(packet[0]), packet[1:]
        text = body.decode("latin-1")
        try:
            handler = self.HANDLERS.get(head)
            if handler is not None:
                return handler(self, text, body)
            return self.query(packet.decode("latin-1"))
        except (ValueError, IndexError, KeyError):
            return ERR_ARGS

    def query(self, packet: str) -> str:
        if packet.startswith("qSupported"):
            return (f"PacketSize={PACKET_SIZE:x};qXfer:features:read+;QStartNoAckMode+;swbreak+;"
                    "hwbreak+;vContSupported+")
        if packet == "QStartNoAckMode":
            self.no_ack_next = True               # after this reply (and gdb's ack of it)
            return "OK"
        if packet.startswith("qXfer:features:read:"):
            annex, _, span = packet[len("qXfer:features:read:"):].partition(":")
            if annex != "target.xml":
                return "E00"
            offset, length = hex_span(span)
            data = target_xml(self.arch).encode()
            chunk = data[offset:offset + length]
            return ("l" if offset + length >= len(data) else "m") + escape_binary(chunk).decode("latin-1")
        if packet == "qAttached":
            return "1"
        if packet == "qC":
            return "QC01"
        if packet == "qfThreadInfo":
            return "m01"
        if packet == "qsThreadInfo":
            return "l"
        if packet.startswith("qRcmd,"):
            return self.monitor(bytes.fromhex(packet[6:]).decode(errors="replace").strip())
        if packet == "vCont?":
            return "vCont;c;C;s;S"
        if packet.startswith("vCont;"):
            action = packet[6:].split(";")[0].split(":")[0]
            return self.resume(step=action[0] in "sS")
        if packet.startswith("vKill"):
            self.kill()
            return "OK"
        return ""                                 # unsupported: the empty reply

    # -- packet handlers -----------------------------------------------------------------------------
    def _halt_reason(self, text: str, body: bytes) -> str:
        return self.stop_reply(self.last)

    def _read_all(self, text: str, body: bytes) -> str:
        return "".join(encode(r, read_reg(self.uc, r)) for r in self.regs)

    def _write_all(self, text: str, body: bytes) -> str:
        at = 0
        for reg in self.regs:
            width = reg.bits // 4
            if at + width > len(text):
                break
            self._write(reg, decode(reg, text[at:at + width]))
            at += width
        return "OK"

    def _write(self, reg: Reg, value: int) -> None:
        if reg.uc == self.machine.cpu.spec.pc:
            self.debugger.pc_written(value)
        write_reg(self.uc, reg, value)

    def _read_one(self, text: str, body: bytes) -> str:
        num = hex_number(text)
        if num >= len(self.regs):
            return "E00"
        return encode(self.regs[num], read_reg(self.uc, self.regs[num]))

    def _write_one(self, text: str, body: bytes) -> str:
        num_text, value = text.split("=")
        num = hex_number(num_text)
        if num >= len(self.regs):
            return "E00"
        self._write(self.regs[num], decode(self.regs[num], value))
        return "OK"

    def _ram(self, address: int, length: int) -> np.ndarray | None:
        """Guest RAM at [address, address + length); None outside RAM (device windows included:
        reading a device register has side effects)."""
        base, size = self.machine.board.ram_base, self.machine.mem_size
        if length < 0 or address < base or address + length > base + size:
            return None
        return self.machine.ram[address - base:address - base + length]

    def _read_memory(self, text: str, body: bytes) -> str:
        address, length = hex_span(text)
        view = self._ram(address, min(length, PACKET_SIZE // 2))
        return ERR_MEMORY if view is None else view.tobytes().hex()

    def _write_memory(self, text: str, body: bytes) -> str:
        span, data = text.split(":")
        return self._store(span, bytes.fromhex(data))

    def _write_binary(self, text: str, body: bytes) -> str:
        span, _, data = body.partition(b":")
        return self._store(span.decode(), unescape_binary(data))

    def _store(self, span: str, data: bytes) -> str:
        address, length = hex_span(span)
        view = self._ram(address, length)
        if view is None or len(data) != length:
            return ERR_MEMORY
        view[:] = np.frombuffer(data, dtype=np.uint8)
        flush_translations(self.uc)           # the guest may run what was written
        return "OK"

    @staticmethod
    def _point(text: str) -> tuple[str, int, int]:
        """Z/z fields: type,addr,kind[;cond...] with the span range-checked."""
        kind, _, rest = text.partition(",")
        address, length = hex_span(rest.split(";")[0])
        return kind, address, length

    def _insert(self, text: str, body: bytes) -> str:
        kind, address, length = self._point(text)
        if kind in ("0", "1"):
            if address not in self.debugger.breakpoints and len(self.debugger.breakpoints) >= MAX_BREAKPOINTS:
                return ERR_LIMIT
            self.debugger.add_breakpoint(address)
        elif kind in WATCH_KINDS:
            if len(self.debugger.watchpoints) >= MAX_WATCHPOINTS:
                return ERR_LIMIT
            self.debugger.add_watchpoint(WATCH_KINDS[kind], address, length)
        else:
            return ""
        return "OK"

    def _remove(self, text: str, body: bytes) -> str:
        kind, address, length = self._point(text)
        if kind in ("0", "1"):
            self.debugger.remove_breakpoint(address)
        elif kind in WATCH_KINDS:
            self.debugger.remove_watchpoint(WATCH_KINDS[kind], address, length)
        else:
            return ""
        return "OK"

    def _set_pc_then(self, text: str, step: bool) -> str:
        if text:
            self.machine.cpu.pc = hex_number(text.split(";")[-1])
        return self.resume(step=step)

    def _continue(self, text: str, body: bytes) -> str:
        return self._set_pc_then(text, step=False)

    def _step(self, text: str, body: bytes) -> str:
        return self._set_pc_then(text, step=True)

    def _continue_signal(self, text: str, body: bytes) -> str:
        return self._set_pc_then(text.partition(";")[2], step=False)

    def _step_signal(self, text: str, body: bytes) -> str:
        return self._set_pc_then(text.partition(";")[2], step=True)

    def _ok(self, text: str, body: bytes) -> str:
        return "OK"

    def _kill(self, text: str, body: bytes) -> None:
        self.kill()
        return None                               # gdb expects no reply to `k`

    def _detach(self, text: str, body: bytes) -> str:
        self.detached = True
        self.debugger.clear()
        return "OK"

    HANDLERS: dict[str, Callable[[GdbStub, str, bytes], str | None]] = {
        "?": _halt_reason, "g": _read_all, "G": _write_all, "p": _read_one, "P": _write_one,
        "m": _read_memory, "M": _write_memory, "X": _write_binary, "Z": _insert, "z": _remove,
        "c": _continue, "s": _step, "C": _continue_signal, "S": _step_signal, "H": _ok, "T": _ok,
        "k": _kill, "D": _detach,
    }

    # -- running -----------------------------------------------------------------------------------
    def resume(self, *, step: bool) -> str:
        if self.result is not None:
            return "W00"
        if step:
            event = self.debugger.step()
        else:
            self.debugger.interrupted = False
            stop_watch = self.conn.watch_interrupt(self.debugger.interrupt)
            try:
                event = self.debugger.cont()
                while event.kind == "halted":         # wait for Ctrl-C, as a halted CPU would
                    while not self.debugger.interrupted and not self.conn.closed:
                        time.sleep(0.05)
                    event = Event("interrupt", 2)
            finally:
                stop_watch()
        self.last = event
        if event.kind == "exit":
            stop = self.machine.stop_request
            assert stop is not None
            self.result = self._result(stop)
        return self.stop_reply(event)

    def kill(self) -> None:
        if self.result is None:
            stop = Stop(ExitStatus.INTERRUPTED, "killed", "killed by the debugger")
            self.machine.stop_request = stop
            self.result = self._result(stop)

    def _result(self, stop: Stop) -> RunResult:
        m = self.machine
        return RunResult(status=int(stop.status), reason=stop.reason, detail=stop.detail, fault=None, wall_s=0.0,
                         device_accesses={d.name: d.accesses for d in m.devices},
                         semihosting_calls=dict(m.semihosting.calls) if m.semihosting else {})

    # -- monitor commands ----------------------------------------------------------------------------
    def monitor(self, command: str) -> str:
        words = command.split()
        if not words or words[0] == "help":
            out = "monitor commands: reset (reload the image, registers as at boot), regs (register dump), help\n"
        elif words[0] == "reset":
            self.reset()
            out = "reset: image reloaded, CPU at the entry point\n"
        elif words[0] in ("regs", "info-registers", "registers"):
            values = self.machine.cpu.registers()
            width = max(len(n) for n in values)
            out = "".join(f"{name:>{width}} = {value:#018x}\n" for name, value in values.items())
        else:
            out = f"unknown monitor command {words[0]!r}; try 'monitor help'\n"
        return out.encode().hex()

    def reset(self) -> None:
        m = self.machine
        m.ram[:] = 0
        m.load_segments()
        self.uc.context_restore(self.initial)
        if m.timer is not None:
            m.timer.reset()
        flush_translations(self.uc)
        m.stop_request = m.fault = None
        self.last = Event("step", 5)


def serve(machine: Machine, address: str, *, announce: Callable[[str], None] | None = None) -> RunResult:
    """Listen on [HOST:]PORT, hold the guest until gdb attaches, and serve it until the guest exits,
    gdb kills it, or gdb detaches (the guest then runs on to its end)."""
    host, port = parse_address(address)
    try:
        listener = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as exc:
        raise BadInput(f"--gdb {address}: cannot listen: {exc.strerror}") from None
    with listener:
        bound = listener.getsockname()[1]
        if announce is not None:
            announce(f"vm: waiting for gdb on {host}:{bound} (target remote {host}:{bound})")
        sock, _ = listener.accept()
    start = time.monotonic()
    with sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stub = GdbStub(machine, Connection(sock))
        stub.serve()
    if stub.result is not None:
        stub.result.wall_s = time.monotonic() - start
        return stub.result
    # Detached, or the debugger went away: the guest runs on without it, as under QEMU.
    stub.debugger.clear()
    if machine.stop_request is not None and machine.stop_request.reason == "fault":
        machine.stop_request = machine.fault = None     # run the faulting instruction again
    return machine.run()
