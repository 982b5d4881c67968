"""Platform-level interrupt controller (PLIC), as on QEMU's riscv virt machine at 0x0c000000: sources
1-96, two contexts for the one hart (0: M-mode external interrupt, 1: S-mode).

Reference: RISC-V PLIC Specification 1.0.0, chapter 3 (memory map): priorities at 4 * source, pending
bits at 0x1000, enable bits at 0x2000 + 0x80 * context, threshold and claim/complete at 0x200000 +
0x1000 * context. Sources are level-triggered: a claimed source is pending again after completion if
its line is still high.
"""

from __future__ import annotations

from vmcli.machine.devices.device import Device, Host

NUM_SOURCES = 97                       # 1-96 (riscv,ndev 96); 0 is "no interrupt"
CONTEXTS = 2
PRIORITY, PENDING, ENABLE, CONTEXT = 0x0, 0x1000, 0x2000, 0x20_0000
ENABLE_STRIDE, CONTEXT_STRIDE = 0x80, 0x1000


class Plic(Device):
    kind = "plic"

    def __init__(self, name: str, host: Host) -> None:
        super().__init__(name, host)
        self.priority = [0] * NUM_SOURCES
        self.level = [False] * NUM_SOURCES
        self.pending = [False] * NUM_SOURCES
        self.claimed = [False] * NUM_SOURCES
        self.enable = [[False] * NUM_SOURCES for _ in range(CONTEXTS)]
        self.threshold = [0] * CONTEXTS
        self.taken = 0

    def set_line(self, source: int, level: bool) -> None:
        self.level[source] = level
        if level and not self.claimed[source]:
            self.pending[source] = True

    def best(self, context: int) -> int:
        best, best_prio = 0, self.threshold[context]
        for s in range(1, NUM_SOURCES):
            if self.pending[s] and self.enable[context][s] and self.priority[s] > best_prio:
                best, best_prio = s, self.priority[s]
        return best

    def signalled(self, context: int) -> bool:
        return self.best(context) != 0

    def read(self, offset: int, size: int) -> int:
        self.accesses += 1
        if offset < PENDING:
            source = offset // 4
            return self.priority[source] if source < NUM_SOURCES else 0
        if offset < ENABLE:
            first = (offset - PENDING) * 8
            return sum(int(self.pending[first + i]) << i for i in range(32) if first + i < NUM_SOURCES)
        if offset < CONTEXT:
            context, byte = divmod(offset - ENABLE, ENABLE_STRIDE)
            if context >= CONTEXTS:
                return 0
            first = byte * 8
            return sum(int(self.enable[context][first + i]) << i for i in range(32) if first + i < NUM_SOURCES)
        context, reg = divmod(offset - CONTEXT, CONTEXT_STRIDE)
        if context >= CONTEXTS:
            return 0
        if reg == 0:
            return self.threshold[context]
        if reg == 4:
            source = self.best(context)
            if source:
                self.pending[source] = False
                self.claimed[source] = True
                self.taken += 1
            return source
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        self.accesses += 1
        value &= 0xFFFF_FFFF
        if offset < PENDING:
            source = offset // 4
            if 0 < source < NUM_SOURCES:
                self.priority[source] = value & 7
        elif ENABLE <= offset < CONTEXT:
            context, byte = divmod(offset - ENABLE, ENABLE_STRIDE)
            if context < CONTEXTS:
                first = byte * 8
                for i in range(32):
                    if first + i < NUM_SOURCES:
                        self.enable[context][first + i] = bool((value >> i) & 1) and first + i > 0
        elif offset >= CONTEXT:
            context, reg = divmod(offset - CONTEXT, CONTEXT_STRIDE)
            if context >= CONTEXTS:
                return
            if reg == 0:
                self.threshold[context] = value & 7
            elif reg == 4 and 0 < value < NUM_SOURCES:
                self.claimed[value] = False
                if self.level[value]:
                    self.pending[value] = True
