"""ARM Generic Interrupt Controller v2 for one CPU, as on QEMU's arm virt machine: the distributor at
0x08000000 and the CPU interface at 0x08010000 (two windows of one device).

Reference: ARM IHI 0048B.b, ARM Generic Interrupt Controller Architecture Specification v2.0, chapter 4
(programmers' model). No security extensions (as QEMU's virt without secure=on): every interrupt is
signalled as IRQ. 288 interrupt IDs: SGIs 0-15, PPIs 16-31 (the generic timer: virtual 27, physical
30), SPIs 32-287 (SPI n is ID 32 + n; the board table gives devices their SPI numbers).
"""

from __future__ import annotations

from vmcli.machine.devices.device import Device, Host

NUM_IRQS = 288
SPURIOUS = 1023
CPU_OFFSET = 0x10000                  # the CPU interface's window, after the distributor's 64 KiB

# Distributor registers (IHI 0048B table 4-1)
GICD_CTLR, GICD_TYPER, GICD_IIDR = 0x000, 0x004, 0x008
GICD_IGROUPR, GICD_ISENABLER, GICD_ICENABLER = 0x080, 0x100, 0x180
GICD_ISPENDR, GICD_ICPENDR, GICD_ISACTIVER, GICD_ICACTIVER = 0x200, 0x280, 0x300, 0x380
GICD_IPRIORITYR, GICD_ITARGETSR, GICD_ICFGR = 0x400, 0x800, 0xC00
GICD_SGIR, GICD_CPENDSGIR, GICD_SPENDSGIR = 0xF00, 0xF10, 0xF20
# CPU interface registers (table 4-2)
GICC_CTLR, GICC_PMR, GICC_BPR, GICC_IAR, GICC_EOIR, GICC_RPR, GICC_HPPIR = 0x00, 0x04, 0x08, 0x0C, 0x10, 0x14, 0x18
GICC_ABPR, GICC_AIAR, GICC_AEOIR, GICC_AHPPIR, GICC_APR, GICC_IIDR, GICC_DIR = (0x1C, 0x20, 0x24, 0x28, 0xD0, 0xFC,
                                                                               0x1000)
IIDR_DIST, IIDR_CPU = 0x0100_143B, 0x0202_143B       # ARM as implementer, GICv2
# Peripheral ID registers 0xFD0-0xFFC as a GIC-400 class distributor reports them (PIDR2 0x2B: arch v2)
ID_REGS = {0xFD0: 0x04, 0xFE0: 0x90, 0xFE4: 0xB4, 0xFE8: 0x2B, 0xFF0: 0x0D, 0xFF4: 0xF0, 0xFF8: 0x05, 0xFFC: 0xB1}


class GICv2(Device):
    kind = "gicv2"

    def __init__(self, name: str, host: Host) -> None:
        super().__init__(name, host)
        self.dist_ctlr = 0
        self.cpu_ctlr = 0
        self.pmr = 0
        self.bpr = 2
        self.enabled = [False] * NUM_IRQS
        self.latched = [False] * NUM_IRQS    # pending by an edge, a set-pending write or an SGI
        self.level = [False] * NUM_IRQS      # the input line
        self.active = [False] * NUM_IRQS
        self.edge = [False] * NUM_IRQS       # ICFGR: edge-triggered
        self.priority = [0] * NUM_IRQS
        self.group = [0] * NUM_IRQS
        self.targets = [0] * NUM_IRQS
        self.running: list[tuple[int, int]] = []   # (priority, id) of acknowledged, not yet ended
        for sgi in range(16):
            self.enabled[sgi] = True             # SGIs are always enabled on GICv2 implementations like QEMU's
            self.edge[sgi] = True
        self.changed = False                     # a line or a register moved: the run loop looks again
        self._best: int | None = None            # highest_pending() until the state moves (asked far more often)
        self.taken = 0                           # interrupts acknowledged (for --stats)

    # -- the lines devices drive ------------------------------------------------------------------------
    def set_line(self, irq: int, level: bool) -> None:
        if level and not self.level[irq] and self.edge[irq]:
            self.latched[irq] = True
            self._best = None
        if level != self.level[irq]:
            self.level[irq] = level
            self.changed = True
            self._best = None

    def pending(self, irq: int) -> bool:
        return self.latched[irq] or (self.level[irq] and not self.edge[irq])

    def highest_pending(self) -> int:
        """The enabled, pending, inactive interrupt of highest priority (lowest value), or SPURIOUS."""
        if self._best is None:
            best, best_prio = SPURIOUS, 0x100
            for irq in range(NUM_IRQS):
                if self.enabled[irq] and not self.active[irq] and self.pending(irq) and self.priority[irq] < best_prio:
                    best, best_prio = irq, self.priority[irq]
            self._best = best
        return self._best

    def signalled(self) -> bool:
        """True when the CPU interface asserts IRQ to the processor."""
        if not (self.dist_ctlr & 1 and self.cpu_ctlr & 1):
            return False
        irq = self.highest_pending()
        if irq == SPURIOUS:
            return False
        running = self.running[-1][0] if self.running else 0x100
        return self.priority[irq] < self.pmr and self._group_prio(self.priority[irq]) < self._group_prio(running)

    def _group_prio(self, prio: int) -> int:
        if prio >= 0x100:
            return prio
        return prio & (0xFF << (min(self.bpr, 7) + 1)) & 0xFF

    # -- registers ----------------------------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        self.accesses += 1
        if offset >= CPU_OFFSET:
            return self._cpu_read(offset - CPU_OFFSET)
        if size == 1 and (GICD_IPRIORITYR <= offset < GICD_ICFGR):
            return self._byte_reg(offset)
        if size == 1 or offset & 3:
            value = self.read(offset & ~3, 4)
            return (value >> (8 * (offset & 3))) & ((1 << (8 * size)) - 1)
        if offset == GICD_CTLR:
            return self.dist_ctlr
        if offset == GICD_TYPER:
            return NUM_IRQS // 32 - 1
        if offset == GICD_IIDR:
            return IIDR_DIST
        if GICD_IPRIORITYR <= offset < GICD_ICFGR:
            return sum(self._byte_reg(offset + i) << (8 * i) for i in range(4))
        for base, bits in ((GICD_IGROUPR, self.group), (GICD_ISENABLER, self.enabled), (GICD_ICENABLER, self.enabled),
                           (GICD_ISACTIVER, self.active), (GICD_ICACTIVER, self.active)):
            if base <= offset < base + NUM_IRQS // 8:
                first = (offset - base) * 8
                return sum(int(bool(bits[first + i])) << i for i in range(32))
        for base in (GICD_ISPENDR, GICD_ICPENDR):
            if base <= offset < base + NUM_IRQS // 8:
                first = (offset - base) * 8
                return sum(int(self.pending(first + i)) << i for i in range(32))
        if GICD_ICFGR <= offset < GICD_ICFGR + NUM_IRQS // 4:
            first = (offset - GICD_ICFGR) * 4
            return sum((2 if self.edge[first + i] else 0) << (2 * i) for i in range(16))
        if offset in ID_REGS:
            return ID_REGS[offset]
        return 0

    def _byte_reg(self, offset: int) -> int:
        if GICD_IPRIORITYR <= offset < GICD_IPRIORITYR + NUM_IRQS:
            return self.priority[offset - GICD_IPRIORITYR]
        if GICD_ITARGETSR <= offset < GICD_ITARGETSR + NUM_IRQS:
            irq = offset - GICD_ITARGETSR
            return 1 if irq < 32 else self.targets[irq]   # SGIs and PPIs: this CPU (read-only)
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        self.accesses += 1
        self.changed = True
        self._best = None
        if offset >= CPU_OFFSET:
            self._cpu_write(offset - CPU_OFFSET, value)
            return
        if GICD_IPRIORITYR <= offset < GICD_ICFGR:
            for i in range(size):
                byte = (value >> (8 * i)) & 0xFF
                at = offset + i
                if at < GICD_IPRIORITYR + NUM_IRQS:
                    self.priority[at - GICD_IPRIORITYR] = byte
                elif GICD_ITARGETSR + 32 <= at < GICD_ITARGETSR + NUM_IRQS:
                    self.targets[at - GICD_ITARGETSR] = byte
            return
        if size != 4:                             # the other registers are word-accessible only
            return
        if offset == GICD_CTLR:
            self.dist_ctlr = value & 1
        elif offset == GICD_SGIR:
            if (value >> 24) & 3 != 1:            # to the CPUs in the target list or to all: this one
                self.latched[value & 0xF] = True
        elif GICD_IGROUPR <= offset < GICD_IGROUPR + NUM_IRQS // 8:
            self._bits(offset - GICD_IGROUPR, value, lambda i, on: self.group.__setitem__(i, int(on)), all_bits=True)
        elif GICD_ISENABLER <= offset < GICD_ISENABLER + NUM_IRQS // 8:
            self._bits(offset - GICD_ISENABLER, value, lambda i, _: self.enabled.__setitem__(i, True))
        elif GICD_ICENABLER <= offset < GICD_ICENABLER + NUM_IRQS // 8:
            self._bits(offset - GICD_ICENABLER, value, lambda i, _: self.enabled.__setitem__(i, i < 16))
        elif GICD_ISPENDR <= offset < GICD_ISPENDR + NUM_IRQS // 8:
            self._bits(offset - GICD_ISPENDR, value, lambda i, _: self.latched.__setitem__(i, i >= 16))
        elif GICD_ICPENDR <= offset < GICD_ICPENDR + NUM_IRQS // 8:
            self._bits(offset - GICD_ICPENDR, value, lambda i, _: self.latched.__setitem__(i, False))
        elif GICD_ISACTIVER <= offset < GICD_ISACTIVER + NUM_IRQS // 8:
            self._bits(offset - GICD_ISACTIVER, value, lambda i, _: self.active.__setitem__(i, True))
        elif GICD_ICACTIVER <= offset < GICD_ICACTIVER + NUM_IRQS // 8:
            self._bits(offset - GICD_ICACTIVER, value, lambda i, _: self.active.__setitem__(i, False))
        elif GICD_ICFGR <= offset < GICD_ICFGR + NUM_IRQS // 4:
            first = (offset - GICD_ICFGR) * 4
            for i in range(16):
                if first + i >= 32:               # SGI and PPI configuration is fixed
                    self.edge[first + i] = bool((value >> (2 * i + 1)) & 1)
        elif GICD_SPENDSGIR <= offset < GICD_SPENDSGIR + 16:
            for i in range(4):
                if (value >> (8 * i)) & 0xFF:
                    self.latched[(offset - GICD_SPENDSGIR) + i] = True
        elif GICD_CPENDSGIR <= offset < GICD_CPENDSGIR + 16:
            for i in range(4):
                if (value >> (8 * i)) & 0xFF:
                    self.latched[(offset - GICD_CPENDSGIR) + i] = False

    def _bits(self, byte_offset: int, value: int, apply: object, all_bits: bool = False) -> None:
        first = byte_offset * 8
        for i in range(32):
            on = bool((value >> i) & 1)
            if (on or all_bits) and first + i < NUM_IRQS:
                apply(first + i, on)  # type: ignore[operator]

    def _cpu_read(self, offset: int) -> int:
        if offset == GICC_CTLR:
            return self.cpu_ctlr
        if offset == GICC_PMR:
            return self.pmr
        if offset in (GICC_BPR, GICC_ABPR):
            return self.bpr
        if offset in (GICC_IAR, GICC_AIAR):
            return self.acknowledge()
        if offset == GICC_RPR:
            return self.running[-1][0] if self.running else 0xFF
        if offset in (GICC_HPPIR, GICC_AHPPIR):
            return self.highest_pending()
        if offset == GICC_IIDR:
            return IIDR_CPU
        return 0

    def _cpu_write(self, offset: int, value: int) -> None:
        if offset == GICC_CTLR:
            self.cpu_ctlr = value & 0x3FF
        elif offset == GICC_PMR:
            self.pmr = value & 0xFF
        elif offset in (GICC_BPR, GICC_ABPR):
            self.bpr = value & 7
        elif offset in (GICC_EOIR, GICC_AEOIR):
            self.end_of_interrupt(value & 0x3FF)
        elif offset == GICC_DIR:
            irq = value & 0x3FF
            if irq < NUM_IRQS:
                self.active[irq] = False

    def acknowledge(self) -> int:
        """GICC_IAR: the highest pending interrupt becomes active; its priority the running one."""
        irq = self.highest_pending()
        if irq == SPURIOUS or not self.signalled():
            return SPURIOUS
        self.latched[irq] = False
        self.active[irq] = True
        self._best = None
        self.running.append((self.priority[irq], irq))
        self.taken += 1
        return irq                                # SGIs come from CPU 0: CPUID bits are 0

    def end_of_interrupt(self, irq: int) -> None:
        for i in range(len(self.running) - 1, -1, -1):
            if self.running[i][1] == irq:
                del self.running[i]
                break
        if irq < NUM_IRQS and not (self.cpu_ctlr & (1 << 9)):    # EOImodeNS 0: EOIR also deactivates
            self.active[irq] = False
