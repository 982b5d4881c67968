"""Fuzzed gdb traffic: packets built from the protocol's own pieces (commands, hex numbers at the
edges of 64 bits, separators, queries) handed to the stub, and raw byte streams fed to its framing.
Every packet gets a reply (an `Exx` for what is malformed), never an exception; the framing never
raises and never holds more than one packet's worth of bytes."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from fuzz_helpers import IMAGES, corpus, fuzz_settings
from hypothesis import given
from hypothesis import strategies as st

from vmcli.debug.gdbstub import PACKET_SIZE, Connection, GdbStub
from vmcli.machine.devices.compute import ComputeOptions
from vmcli.machine.devices.device import Console
from vmcli.machine.launch import boot

HEADS = ["?", "g", "G", "p", "P", "m", "M", "X", "Z0", "Z1", "Z2", "Z3", "Z4", "z0", "z2", "c", "s", "C", "S",
         "H", "T", "D", "qSupported", "qXfer:features:read:target.xml:", "qXfer:features:read:other:",
         "qRcmd,", "vCont;c", "vCont;s", "vCont?", "vCont;", "qAttached", "qC", "qfThreadInfo", "QStartNoAckMode",
         "vKill", "", "x", "qOffsets"]
NUMBERS = ["0", "1", "-1", "-10", "40080000", "80000000", "100000", "ffffffffffffffff", "10000000000000000",
           "7fffffffffffffff", "8000000000000000", "fffffffffffffffc", "deadbeef", "4000", "4001", "0x10", " 1",
           "1_0", "g", "99999999999999999999999999", "726567730a", "72657365740a"]
piece = st.one_of(st.sampled_from(NUMBERS), st.sampled_from([",", ":", ";", "=", "#", "$", "}", "*"]),
                  st.text(alphabet="0123456789abcdef", max_size=40))
number = st.one_of(st.sampled_from(NUMBERS), st.integers(0, (1 << 64) - 1).map(lambda n: f"{n:x}"))
# Well-formed shapes with edge numbers in every field, and free combinations of the pieces.
SHAPES = ["Z0,{},{}", "Z1,{},{}", "Z2,{},{}", "Z3,{},{}", "Z4,{},{}", "z0,{},{}", "z4,{},{}", "m{},{}",
          "M{},{}:00ff", "X{},{}:ab", "p{}", "P{}={}", "c{}", "s{}", "C05;{}", "qXfer:features:read:target.xml:{},{}",
          "Z0,{},{};X1,{}"]
shaped = st.builds(lambda shape, a, b, c: shape.format(a, b, c).encode("latin-1"), st.sampled_from(SHAPES), number,
                   number, number)
free = st.builds(lambda head, parts: (head + "".join(parts)).encode("latin-1"), st.sampled_from(HEADS),
                 st.lists(piece, max_size=8))
packet = st.one_of(shaped, free)


class Session:
    """A stub over a socket pair; the far end is drained so replies never block."""

    def __init__(self) -> None:
        null_console = Console(out_fd=NULL, err_fd=NULL, in_fd=None)
        self.machine = boot(str(IMAGES / "hello-arm64.elf"), console=null_console,
                            compute=ComputeOptions(gpu="none"))
        self.ours, self.theirs = socket.socketpair()
        self.stub = GdbStub(self.machine, Connection(self.ours))
        self.stub.conn.ack = False
        self.drain = threading.Thread(target=self._drain, daemon=True)
        self.drain.start()

    def _drain(self) -> None:
        while self.theirs.recv(65536):
            pass

    def ask(self, data: bytes) -> str | None:
        """One packet; a guest left running by it is stopped after a moment, as a user's Ctrl-C would."""
        timer = threading.Timer(0.3, self.stub.debugger.interrupt)
        timer.start()
        try:
            return self.stub.handle(data)
        finally:
            timer.cancel()

    def close(self) -> None:
        self.ours.close()
        self.theirs.close()
        self.drain.join(timeout=10)


NULL = __import__("os").open("/dev/null", __import__("os").O_RDWR)


@pytest.fixture
def session() -> Iterator[Session]:
    s = Session()
    yield s
    s.close()


@fuzz_settings(200)
@given(st.lists(packet, min_size=5, max_size=40))
def test_random_packets_get_replies(packets: list[bytes]) -> None:
    s = Session()
    try:
        for data in packets:
            reply = s.ask(data)
            assert reply is None or isinstance(reply, str)
            if reply and reply[0] == "E":
                assert len(reply) == 3 and reply[1:].isdigit()
    finally:
        s.close()


@fuzz_settings(150)
@given(st.lists(st.one_of(st.binary(max_size=64), st.sampled_from([b"$", b"#", b"#00", b"\x03", b"+", b"-",
                                                                   b"$g#67", b"$?#3f", b"$" + b"a" * 300])),
                max_size=40))
def test_random_byte_streams_are_framed_or_dropped(chunks: list[bytes]) -> None:
    ours, theirs = socket.socketpair()
    conn = Connection(ours)
    sender = threading.Thread(target=lambda: (theirs.sendall(b"".join(chunks)), theirs.shutdown(socket.SHUT_WR)))
    sender.start()
    try:
        while True:
            data = conn.read_packet()
            assert len(conn.buffer) <= PACKET_SIZE + 65536
            if data is None:
                break
            assert len(data) <= PACKET_SIZE
    finally:
        sender.join(timeout=10)
        ours.close()
        theirs.close()


@pytest.mark.parametrize("path", corpus("gdb"), ids=lambda p: p.name)
def test_gdb_corpus(session: Session, path: object) -> None:
    """Saved packets (one per line) that once ended in an internal error."""
    for line in path.read_bytes().splitlines():  # type: ignore[attr-defined]
        reply = session.ask(line)
        assert reply is None or isinstance(reply, str)
