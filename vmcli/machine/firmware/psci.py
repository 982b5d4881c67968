"""PSCI 1.1 for one CPU, reached by `hvc #0` or `smc #0` (the device tree says hvc, as QEMU's virt).

Reference: ARM DEN 0022D, Power State Coordination Interface. Function ID in w0/x0, arguments in x1-x3,
result in x0. What a single-CPU board can do: VERSION, FEATURES, CPU_ON (the one CPU is already on;
another is an invalid parameter), AFFINITY_INFO, MIGRATE_INFO_TYPE, CPU_SUSPEND (returns at once,
as a wake-up may), SYSTEM_OFF (the run ends, status 0), SYSTEM_RESET (status 123, a reset request).
"""

from __future__ import annotations

from dataclasses import dataclass

from vmcli.errors import ExitStatus
from vmcli.machine.devices.device import Host, Stop

VERSION_1_1 = 0x0001_0001
SUCCESS, NOT_SUPPORTED, INVALID_PARAMETERS, ALREADY_ON = 0, -1, -2, -4
AFFINITY_ON = 0
MIGRATE_NOT_REQUIRED = 2

PSCI_VERSION = 0x8400_0000
CPU_SUSPEND = (0x8400_0001, 0xC400_0001)
CPU_OFF = 0x8400_0002
CPU_ON = (0x8400_0003, 0xC400_0003)
AFFINITY_INFO = (0x8400_0004, 0xC400_0004)
MIGRATE_INFO_TYPE = 0x8400_0006
SYSTEM_OFF = 0x8400_0008
SYSTEM_RESET = 0x8400_0009
PSCI_FEATURES = 0x8400_000A
SUPPORTED = {PSCI_VERSION, *CPU_SUSPEND, CPU_OFF, *CPU_ON, *AFFINITY_INFO, MIGRATE_INFO_TYPE, SYSTEM_OFF,
             SYSTEM_RESET, PSCI_FEATURES}


@dataclass
class PsciResult:
    value: int                      # goes to x0 (as a 64-bit two's complement number)
    halt: bool = False              # CPU_OFF: the only CPU stops


class Psci:
    def __init__(self, host: Host) -> None:
        self.host = host
        self.calls: dict[str, int] = {}

    def is_psci(self, function: int) -> bool:
        return 0x8400_0000 <= function <= 0x8400_001F or 0xC400_0000 <= function <= 0xC400_001F

    def call(self, function: int, x1: int, x2: int, x3: int) -> PsciResult:
        name = f"{function:#x}"
        self.calls[name] = self.calls.get(name, 0) + 1
        if function == PSCI_VERSION:
            return PsciResult(VERSION_1_1)
        if function == PSCI_FEATURES:
            return PsciResult(SUCCESS if (x1 & 0xFFFF_FFFF) in SUPPORTED else NOT_SUPPORTED)
        if function in CPU_ON:
            return PsciResult(ALREADY_ON if (x1 & 0xFF_00FF_FFFF) == 0 else INVALID_PARAMETERS)
        if function in AFFINITY_INFO:
            return PsciResult(AFFINITY_ON if (x1 & 0xFF_00FF_FFFF) == 0 else INVALID_PARAMETERS)
        if function == MIGRATE_INFO_TYPE:
            return PsciResult(MIGRATE_NOT_REQUIRED)
        if function in CPU_SUSPEND:
            return PsciResult(SUCCESS)
        if function == CPU_OFF:
            return PsciResult(SUCCESS, halt=True)
        if function == SYSTEM_OFF:
            self.host.stop(Stop(0, "exit", "PSCI SYSTEM_OFF"))
            return PsciResult(SUCCESS)
        if function == SYSTEM_RESET:
            self.host.stop(Stop(ExitStatus.GUEST_RESET, "reset", "the guest asked for a reset (PSCI SYSTEM_RESET)"))
            return PsciResult(SUCCESS)
        return PsciResult(NOT_SUPPORTED)
