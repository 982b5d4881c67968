"""`vm gpu list` and `vm gpu bench`: the compute devices on this machine and what they do."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text


@click.group()
def gpu() -> None:
    """List and benchmark the compute devices (OpenCL; PoCL runs on any CPU)."""


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


@gpu.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_(as_json: bool) -> None:
    """Show every compute device: index, kind, name, platform, compute units, memory."""
    from vmcli.gpu.devices import detect_unusable, list_devices, present

    devices = list_devices()
    unusable = detect_unusable(have={d.info.kind for d in devices})
    if as_json:
        click.echo(json.dumps({"devices": [{"index": d.index, **d.info.to_dict()} for d in devices],
                               "unusable": [u.to_dict() for u in unusable]}, indent=2))
        return
    table = Table(title="compute devices (select with --gpu auto|KIND|INDEX)")
    for col in ("#", "kind", "name", "platform / driver", "CUs", "memory"):
        table.add_column(col, justify="right" if col in ("#", "CUs", "memory") else "left")
    for d in devices:
        i = d.info
        # device and platform names come from drivers: plain text, never rich markup
        table.add_row(*(Text(cell) for cell in (str(d.index), i.kind, i.name, f"{i.platform} / {i.driver}",
                                                 str(i.compute_units), _size(i.global_mem))))
    console = Console()
    console.print(table)
    if not devices:
        console.print(Text(present(devices)))
    for u in unusable:
        console.print(f"[yellow]seen, not usable[/]: {escape(f'{u.kind} {u.name} ({u.seen_by}): {u.needs}')}")


@gpu.command("bench")
@click.option("--device", "spec", default=None, metavar="SPEC",
              help="auto, a kind (cuda, rocm, npu, gpu, cpu), an index or a name; default: every device.")
@click.option("--size", "sgemm_n", default=512, show_default=True, type=click.IntRange(16, 8192),
              help="SGEMM matrix side.")
@click.option("--copy-mb", default=32, show_default=True, type=click.IntRange(1, 4096),
              help="Copy size in MiB.")
@click.option("--repeats", default=5, show_default=True, type=click.IntRange(1, 100),
              help="Runs per figure (the median is shown).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def bench(spec: str | None, sgemm_n: int, copy_mb: int, repeats: int, as_json: bool) -> None:
    """Copy bandwidth (host->device, device->host, device->device) and SGEMM GFLOP/s per device."""
    from vmcli.gpu.bench import bench_device
    from vmcli.gpu.devices import list_devices, present, select_device
    from vmcli.gpu.driver import GpuError

    if spec is None:
        devices = list(list_devices())
        if not devices:
            raise GpuError(present(devices))
    else:
        chosen = select_device(spec)
        if chosen is None:
            raise GpuError("--device none: nothing to benchmark")
        devices = [chosen]
    results = [bench_device(d, copy_mb=copy_mb, sgemm_n=sgemm_n, repeats=repeats) for d in devices]
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in results], indent=2))
        return
    table = Table(title=f"median of {repeats}; copies of {copy_mb} MiB, SGEMM {sgemm_n}x{sgemm_n}")
    for col in ("#", "kind", "name", "H2D GB/s", "D2H GB/s", "D2D GB/s", "SGEMM GFLOP/s"):
        table.add_column(col, justify="left" if col in ("kind", "name") else "right")
    for r in results:
        table.add_row(*(Text(cell) for cell in (str(r.index), r.kind, r.name, f"{r.h2d_gbs:.2f}", f"{r.d2h_gbs:.2f}",
                                                 f"{r.d2d_gbs:.2f}", f"{r.sgemm_gflops:.1f}")))
    Console().print(table)
