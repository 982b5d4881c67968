"""The interrupt controllers, timers and firmware devices against their specifications' register
behaviour (GICv2 IHI 0048B, CFI JESD68 + Intel command set, PL031 DDI 0224, virtio-mmio 1.1, CLINT,
PLIC 1.0, PSCI DEN 0022), driven directly through their register windows."""

from __future__ import annotations

import numpy as np

from vmcli.errors import ExitStatus
from vmcli.machine.devices import arm_timer as at
from vmcli.machine.devices import cfi_flash as cfi
from vmcli.machine.devices import gicv2 as g
from vmcli.machine.devices.clint import MTIMECMP, Clint
from vmcli.machine.devices.device import Console, Host, Stop
from vmcli.machine.devices.pl031 import PL031, RTCDR, RTCLR
from vmcli.machine.devices.plic import Plic
from vmcli.machine.devices.virtio_mmio import VirtioMmio
from vmcli.machine.firmware import psci


def host() -> tuple[Host, list[Stop]]:
    stops: list[Stop] = []
    return Host(Console(out_fd=-1, in_fd=None), stops.append), stops


def test_gic_priorities_masking_ack_and_eoi() -> None:
    gic = g.GICv2("gic", host()[0])
    gic.write(g.GICD_CTLR, 4, 1)
    gic.write(g.CPU_OFFSET + g.GICC_CTLR, 4, 1)
    gic.write(g.CPU_OFFSET + g.GICC_PMR, 4, 0xF0)
    for irq, prio in ((27, 0xA0), (33, 0x80)):
        gic.write(g.GICD_IPRIORITYR + irq, 1, prio)
        gic.write(g.GICD_ISENABLER + 4 * (irq // 32), 4, 1 << (irq % 32))
    assert gic.read(g.GICD_TYPER, 4) == 8 and not gic.signalled()
    gic.set_line(27, True)
    gic.set_line(33, True)
    assert gic.read(g.CPU_OFFSET + g.GICC_HPPIR, 4) == 33            # 0x80 beats 0xA0
    assert gic.read(g.CPU_OFFSET + g.GICC_IAR, 4) == 33
    assert not gic.signalled()                                     # 27 cannot preempt the running 0x80
    gic.write(g.CPU_OFFSET + g.GICC_EOIR, 4, 33)
    assert gic.read(g.CPU_OFFSET + g.GICC_IAR, 4) == 33           # level-sensitive: its line is still high
    gic.set_line(33, False)                                        # the device was serviced
    gic.write(g.CPU_OFFSET + g.GICC_EOIR, 4, 33)
    assert gic.signalled() and gic.read(g.CPU_OFFSET + g.GICC_IAR, 4) == 27
    gic.set_line(27, False)
    gic.write(g.CPU_OFFSET + g.GICC_EOIR, 4, 27)
    gic.write(g.CPU_OFFSET + g.GICC_PMR, 4, 0x80)                  # masks priority 0x80 and below
    gic.write(g.GICD_SGIR, 4, (2 << 24) | 5)                       # SGI 5 to this CPU
    gic.write(g.GICD_IPRIORITYR + 5, 1, 0x90)
    assert not gic.signalled()
    gic.write(g.GICD_IPRIORITYR + 5, 1, 0x10)
    assert gic.read(g.CPU_OFFSET + g.GICC_IAR, 4) == 5
    gic.write(g.CPU_OFFSET + g.GICC_EOIR, 4, 5)
    assert gic.read(g.CPU_OFFSET + g.GICC_IAR, 4) == g.SPURIOUS


def test_cfi_query_identifier_program_and_erase() -> None:
    storage = np.zeros(2 * cfi.BANK_SIZE, dtype=np.uint8)
    flash = cfi.CfiFlash("flash", host()[0], storage)
    bank1 = cfi.BANK_SIZE
    flash.write(bank1 + 0x55 * 4, 4, 0x0098_0098)                  # CFI query, both 16-bit devices
    assert bytes(flash.read(bank1 + (0x10 + i) * 4, 4) & 0xFF for i in range(3)) == b"QRY"
    assert flash.read(bank1 + 0x10 * 4, 4) == 0x0051_0051          # each device answers on its lanes
    assert flash.read(bank1 + 0x27 * 4, 4) & 0xFF == 25            # 32 MiB per device, 2 per bank
    assert flash.read(bank1 + 0x2F * 4, 4) & 0xFF == 0 and flash.read(bank1 + 0x30 * 4, 4) & 0xFF == 2
    flash.write(bank1, 4, 0x00FF_00FF)
    assert flash.array_mode(1) and flash.read(bank1, 4) == 0
    flash.write(bank1, 4, 0x0090_0090)
    assert flash.read(bank1, 4) == 0x0089_0089 and flash.read(bank1 + 4, 4) == 0x0018_0018
    flash.write(bank1 + 0x40000, 4, 0x0020_0020)                   # block erase + confirm
    flash.write(bank1 + 0x40000, 4, 0x00D0_00D0)
    assert flash.read(bank1 + 0x40000, 4) & 0x0080_0080 == 0x0080_0080   # status: ready
    flash.write(bank1, 4, 0x00FF_00FF)
    assert flash.read(bank1 + 0x40000, 4) == 0xFFFF_FFFF and flash.read(bank1 + 0x80000, 4) == 0
    flash.write(bank1 + 0x40000, 4, 0x0040_0040)                   # word program
    flash.write(bank1 + 0x40000, 4, 0x1234_5678)
    flash.write(bank1 + 0x40004, 4, 0x00E8_00E8)                   # write to buffer: 2 words
    flash.write(bank1 + 0x40004, 4, 0x0001_0001)
    flash.write(bank1 + 0x40004, 4, 0xCAFE_F00D)
    flash.write(bank1 + 0x40008, 4, 0xDEAD_BEEF)
    flash.write(bank1 + 0x40004, 4, 0x00D0_00D0)
    flash.write(bank1, 4, 0x00FF_00FF)
    assert [flash.read(bank1 + 0x40000 + 4 * i, 4) for i in range(3)] == [0x1234_5678, 0xCAFE_F00D, 0xDEAD_BEEF]
    assert flash.array_mode(0) and flash.banks[0].cmd == 0         # bank 0 never left read-array mode


def test_pl031_counts_host_seconds_from_the_loaded_value() -> None:
    rtc = PL031("rtc", host()[0])
    rtc.write(RTCLR, 4, 1000)
    assert rtc.read(RTCDR, 4) in (1000, 1001)
    assert rtc.read(0xFE0, 4) == 0x31 and rtc.read(0xFFC, 4) == 0xB1


def test_virtio_mmio_empty_transport() -> None:
    dev = VirtioMmio("virtio", host()[0])
    for slot in (0, 0x200 * 31):
        assert dev.read(slot, 4) == 0x7472_6976 and dev.read(slot + 4, 4) == 1 and dev.read(slot + 8, 4) == 0


def test_clint_and_plic() -> None:
    clint = Clint("clint", host()[0])
    assert clint.deadline() is None and not clint.mtip()
    clint.write(MTIMECMP, 8, 0)
    assert clint.mtip()
    clint.write(MTIMECMP, 8, clint.mtime() + 10_000_000)           # one second ahead
    assert not clint.mtip() and clint.deadline() is not None
    plic = Plic("plic", host()[0])
    plic.write(4 * 10, 4, 1)                                       # source 10 priority 1
    plic.write(0x2000, 4, 1 << 10)                                 # enabled for context 0 (M)
    plic.set_line(10, True)
    assert plic.signalled(0) and not plic.signalled(1)
    assert plic.read(0x20_0004, 4) == 10 and not plic.signalled(0)  # claimed
    plic.write(0x20_0004, 4, 10)                                   # complete with the line still high
    assert plic.signalled(0)
    plic.write(0x20_0000, 4, 1)                                    # threshold 1 masks priority 1
    assert not plic.signalled(0)


def test_psci_single_cpu() -> None:
    h, stops = host()
    fw = psci.Psci(h)
    assert fw.call(psci.PSCI_VERSION, 0, 0, 0).value == psci.VERSION_1_1
    assert fw.call(psci.PSCI_FEATURES, psci.SYSTEM_OFF, 0, 0).value == psci.SUCCESS
    assert fw.call(psci.PSCI_FEATURES, 0x8400_001F, 0, 0).value == psci.NOT_SUPPORTED
    assert fw.call(0xC400_0003, 0, 0, 0).value == psci.ALREADY_ON
    assert fw.call(0xC400_0003, 1, 0, 0).value == psci.INVALID_PARAMETERS
    fw.call(psci.SYSTEM_RESET, 0, 0, 0)
    fw.call(psci.SYSTEM_OFF, 0, 0, 0)
    assert [(s.status, s.reason) for s in stops] == [(ExitStatus.GUEST_RESET, "reset"), (0, "exit")]


def test_generic_timer_compare_status_and_lines() -> None:
    """DDI 0487 D11.2.4: ISTATUS is set once the counter reaches CVAL with the timer enabled; the
    interrupt is asserted unless IMASK. The CPU's copies of CTL/CVAL are written only when they change."""
    cpregs: dict[tuple[int, ...], int] = {}
    writes: list[tuple[int, ...]] = []
    lines: dict[int, bool] = {}

    def write_cpreg(key: tuple[int, ...], value: int) -> None:
        cpregs[key] = value
        writes.append(key)

    timer = at.GenericTimer(write_cpreg, lines.__setitem__)
    far = at.counter_now() + 10**12
    timer.write(at.CNTV_CVAL, far)
    timer.write(at.CNTV_CTL, at.CTL_ENABLE)
    timer.poll()
    assert cpregs[at.CNTV_CTL] == at.CTL_ENABLE and cpregs[at.CNTV_CVAL] == far and not lines[at.VIRT_PPI_ID]
    assert timer.deadline() == far * at.NS_PER_TICK / 1e9
    timer.write(at.CNTV_CVAL, 0)                                   # in the past: firing
    timer.poll()
    assert cpregs[at.CNTV_CTL] == at.CTL_ENABLE | at.CTL_ISTATUS and lines[at.VIRT_PPI_ID]
    assert timer.deadline() is None                                 # its line is already up
    before = len(writes)
    timer.poll()
    assert len(writes) == before                                    # nothing moved: nothing written
    timer.write(at.CNTV_CTL, at.CTL_ENABLE | at.CTL_IMASK)
    timer.poll()
    assert cpregs[at.CNTV_CTL] == at.CTL_ENABLE | at.CTL_IMASK | at.CTL_ISTATUS and not lines[at.VIRT_PPI_ID]
    for tval, offset in ((1000, 1000), (2**32 - 5, -5)):             # TVAL: CVAL = now + a signed offset
        before = at.counter_now()
        timer.write(at.CNTP_TVAL, tval)
        assert before + offset <= timer.phys.cval <= at.counter_now() + offset
    timer.reset()
    timer.poll()
    assert cpregs[at.CNTV_CTL] == 0 and cpregs[at.CNTV_CVAL] == 0 and not lines[at.VIRT_PPI_ID]
