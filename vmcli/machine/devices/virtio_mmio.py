"""Empty virtio-mmio transports, as QEMU's virt machines have with no device plugged in: firmware and
Linux probe each one, read the magic, the version and device ID 0 ("no device"), and go on.

Reference: OASIS Virtual I/O Device (VIRTIO) 1.1, 4.2.2 "MMIO Device Register Layout". QEMU's
transports default to the legacy interface (version 1; `force-legacy`), which is what vm reports.
"""

from __future__ import annotations

from vmcli.machine.devices.device import Device

MAGIC_VALUE, VERSION, DEVICE_ID, VENDOR_ID = 0x000, 0x004, 0x008, 0x00C
MAGIC = 0x7472_6976                     # "virt"
LEGACY_VERSION = 1
QEMU_VENDOR = 0x554D_4551               # "QEMU"
SLOT = 0x200                            # one transport's window; the board maps a row of them


class VirtioMmio(Device):
    kind = "virtio_mmio"

    def read(self, offset: int, size: int) -> int:
        self.accesses += 1
        reg = offset % SLOT
        if reg == MAGIC_VALUE:
            return MAGIC
        if reg == VERSION:
            return LEGACY_VERSION
        if reg == VENDOR_ID:
            return QEMU_VENDOR
        return 0                        # DEVICE_ID 0: nothing plugged in; every other register reads 0
