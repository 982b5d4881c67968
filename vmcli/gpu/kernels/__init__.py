"""The built-in kernel library: one table saying, per kernel, its stable id, its arguments, how many
elements each buffer must hold and what launch size it takes.

The ids are an ABI (a guest names a kernel by id): never renumber, only append. The source is
library.cl, written once against a small macro prelude: `source("opencl")` prepends
prelude_opencl.h, `source("cuda")` prepends prelude_cuda.h. A launch is refused unless every buffer
holds what the scalars say the kernel will touch, so no scalar can make a kernel read or write past
a buffer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

from vmcli.gpu.driver import GpuError

Direction = Literal["in", "out", "inout"]
Scalars = Mapping[str, int | float]
LaunchSize = tuple[tuple[int, ...], tuple[int, ...]]   # (global size, local size)

REDUCE_WG = 256        # must match library.cl
REDUCE_GROUPS = 64     # work-groups a reduction launches at most
TILE, WPT = 32, 8      # sgemm's block side and results per work item: must match library.cl
MAX_ITER = 1 << 16     # mandelbrot's iteration cap: a launch must end in bounded time
MAX_KERNEL_TAPS = 63   # conv2d filter side cap

# Per-target build options: fused multiply-add off so results match numpy's separate roundings.
OPTIONS: dict[str, tuple[str, ...]] = {"opencl": (), "cuda": ("--fmad=false",)}


@dataclass(frozen=True)
class Param:
    """A buffer (`direction` set, `dtype` its element type) or a scalar (`dtype` "u32" or "f32")."""

    name: str
    dtype: Literal["f32", "u32"]
    direction: Direction | None = None

    @property
    def is_buffer(self) -> bool:
        return self.direction is not None


@dataclass(frozen=True)
class KernelSpec:
    id: int
    name: str
    params: tuple[Param, ...]
    needs: Callable[[Scalars], dict[str, int]]   # buffer name -> elements the kernel touches
    launch: Callable[[Scalars], LaunchSize]
    flops: Callable[[Scalars], int]
    limits: Callable[[Scalars], str | None] = lambda s: None   # a reason to refuse, or None

    @property
    def symbol(self) -> str:
        """The entry point's name in library.cl."""
        return f"vm_{self.name}"

    @property
    def buffers(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.is_buffer)

    @property
    def scalars(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if not p.is_buffer)


def _up(n: int, m: int) -> int:
    return max(m, (n + m - 1) // m * m)


def _linear(s: Scalars) -> LaunchSize:
    return (_up(int(s["n"]), 64),), (64,)


def _reduction(s: Scalars) -> LaunchSize:
    groups = min(REDUCE_GROUPS, max(1, (int(s["n"]) + REDUCE_WG - 1) // REDUCE_WG))
    return (groups * REDUCE_WG,), (REDUCE_WG,)


def _grid(w: str, h: str, local: int) -> Callable[[Scalars], LaunchSize]:
    return lambda s: ((_up(int(s[w]), local), _up(int(s[h]), local)), (local, local))


def _sgemm_launch(s: Scalars) -> LaunchSize:
    return (_up(int(s["N"]), TILE), _up(int(s["M"]), TILE) // WPT), (TILE, TILE // WPT)


def _buf(name: str, direction: Direction, dtype: Literal["f32", "u32"] = "f32") -> Param:
    return Param(name, dtype, direction)


def _u32(name: str) -> Param:
    return Param(name, "u32")


def _f32(name: str) -> Param:
    return Param(name, "f32")


def _conv_limits(s: Scalars) -> str | None:
    if not (1 <= int(s["KH"]) <= MAX_KERNEL_TAPS and 1 <= int(s["KW"]) <= MAX_KERNEL_TAPS):
        return f"conv2d filter must be 1..{MAX_KERNEL_TAPS} on each side"
    return None


def _mandel_limits(s: Scalars) -> str | None:
    return None if int(s["max_iter"]) <= MAX_ITER else f"mandelbrot max_iter above {MAX_ITER}"


_KERNELS = (
    KernelSpec(1, "vadd", (_buf("a", "in"), _buf("b", "in"), _buf("c", "out"), _u32("n")),
               needs=lambda s: {"a": int(s["n"]), "b": int(s["n"]), "c": int(s["n"])},
               launch=_linear, flops=lambda s: int(s["n"])),
    KernelSpec(2, "saxpy", (_f32("alpha"), _buf("x", "in"), _buf("y", "inout"), _u32("n")),
               needs=lambda s: {"x": int(s["n"]), "y": int(s["n"])},
               launch=_linear, flops=lambda s: 2 * int(s["n"])),
    KernelSpec(3, "dot", (_buf("x", "in"), _buf("y", "in"), _buf("out", "out"), _u32("n")),
               needs=lambda s: {"x": int(s["n"]), "y": int(s["n"]), "out": 1},
               launch=_reduction, flops=lambda s: 2 * int(s["n"])),
    KernelSpec(4, "reduce_sum", (_buf("x", "in"), _buf("out", "out"), _u32("n")),
               needs=lambda s: {"x": int(s["n"]), "out": 1},
               launch=_reduction, flops=lambda s: int(s["n"])),
    KernelSpec(5, "sgemm", (_u32("M"), _u32("N"), _u32("K"), _f32("alpha"), _buf("A", "in"),
                            _buf("B", "in"), _f32("beta"), _buf("C", "inout")),
               needs=lambda s: {"A": int(s["M"]) * int(s["K"]), "B": int(s["K"]) * int(s["N"]),
                                "C": int(s["M"]) * int(s["N"])},
               launch=_sgemm_launch, flops=lambda s: 2 * int(s["M"]) * int(s["N"]) * int(s["K"])),
    KernelSpec(6, "conv2d", (_buf("in", "in"), _buf("k", "in"), _buf("out", "out"), _u32("H"), _u32("W"),
                             _u32("KH"), _u32("KW")),
               needs=lambda s: {"in": int(s["H"]) * int(s["W"]), "k": int(s["KH"]) * int(s["KW"]),
                                "out": int(s["H"]) * int(s["W"])},
               launch=_grid("W", "H", 16),
               flops=lambda s: 2 * int(s["H"]) * int(s["W"]) * int(s["KH"]) * int(s["KW"]),
               limits=_conv_limits),
    KernelSpec(7, "mandelbrot", (_buf("out", "out", "u32"), _u32("W"), _u32("H"), _f32("x0"), _f32("y0"),
                                 _f32("dx"), _f32("dy"), _u32("max_iter")),
               needs=lambda s: {"out": int(s["W"]) * int(s["H"])},
               launch=_grid("W", "H", 16),
               flops=lambda s: 7 * int(s["W"]) * int(s["H"]) * int(s["max_iter"]),
               limits=_mandel_limits),
)

BY_ID: dict[int, KernelSpec] = {k.id: k for k in _KERNELS}
BY_NAME: dict[str, KernelSpec] = {k.name: k for k in _KERNELS}


def spec(kernel: int | str) -> KernelSpec:
    """The kernel with this id or name; an unknown one is a GpuError."""
    found = BY_ID.get(kernel) if isinstance(kernel, int) else BY_NAME.get(kernel)
    if found is None:
        raise GpuError(f"unknown built-in kernel {kernel!r} (known: "
                       + ", ".join(f"{k.id}={k.name}" for k in _KERNELS) + ")")
    return found


@cache
def source(target: Literal["opencl", "cuda"]) -> str:
    """The whole library as `target` C: its prelude, then library.cl."""
    files = resources.files(__name__)
    prelude = files.joinpath(f"prelude_{target}.h").read_text()
    return prelude + "\n#line 1 \"library.cl\"\n" + files.joinpath("library.cl").read_text()
