"""A translated block, the same for both directions: its source instructions, each with the
target instructions it became, and the host-state contract of the code (--json's fields).

A block runs from its first instruction to the end of the input or to its first branch, which
ends it (the guest address to continue at is left in `exit_reg`). An instruction outside the
supported subset stops it: that instruction and everything after it are listed, not translated,
so the code never computes a wrong state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from vmcli.translate.isa import disasm


class Stop(StrEnum):
    """Why an instruction was not translated (the general case; `SourceInsn.reason` may say more)."""

    UNDECODABLE = "undecodable bytes"
    UNSUPPORTED = "not in the supported subset"
    AFTER_UNSUPPORTED = "follows an unsupported instruction"
    AFTER_EXIT = "follows the block's exit branch (translate it as its own block)"


@dataclass
class SourceInsn:
    address: int
    raw: bytes
    text: str
    supported: bool
    target: list[bytes] = field(default_factory=list)   # the target instructions it became
    reason: str = ""                                    # why not, when not supported
    stop: Stop | None = None


@dataclass
class Translation:
    source_arch: str
    target_arch: str
    address: int
    insns: list[SourceInsn]
    code: bytes
    state: dict[str, dict[str, Any]]       # guest register -> where the code keeps it
    exit_reg: str | None
    unsupported: list[SourceInsn]
    env_reg: str | None = None             # the host register holding the guest state's address
    # what ends the block: "branch", or a trap the runtime handles ("syscall"; AArch64 "svc", "brk",
    # "udf", "hlt"), the code leaving the address to continue at in exit_reg; None when it runs to
    # its end
    exit_kind: str | None = None

    def to_json(self) -> dict[str, Any]:
        target = []
        offset = 0
        for index, si in enumerate(self.insns):
            for raw in si.target:
                target.append({"offset": offset, "bytes": raw.hex(), "text": disasm.text(self.target_arch, raw, offset),
                               "source": index})
                offset += len(raw)
        return {
            "source_arch": self.source_arch,
            "target_arch": self.target_arch,
            "address": self.address,
            "code": self.code.hex(),
            "state": self.state,
            "env_reg": self.env_reg,
            "guest_base": 0,
            "exit_reg": self.exit_reg,
            "exit_kind": self.exit_kind,
            "source": [{"index": i, "address": si.address, "bytes": si.raw.hex(), "text": si.text,
                        "supported": si.supported} for i, si in enumerate(self.insns)],
            "target": target,
            "unsupported": [{"address": si.address, "bytes": si.raw.hex(), "text": si.text,
                             "reason": si.reason} for si in self.unsupported],
        }
