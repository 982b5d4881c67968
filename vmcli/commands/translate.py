"""`vm translate`: verified x86-64 <-> AArch64 binary translation of straight-line blocks."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import click

from vmcli import translate as api
from vmcli.errors import BadInput
from vmcli.translate import inputs
from vmcli.translate.present import table as view

# the option each input of vmcli.translate.inputs comes from (InputError.about)
OPTIONS = {"hex": "--hex", "asm": "--asm", "image": "--image", "start": "--start", "count": "--count",
           "symbol": "--symbol", "input_file": "--input-file"}


@contextmanager
def _naming_options() -> Iterator[None]:
    """Bad input becomes one line naming its option."""
    try:
        yield
    except inputs.InputError as exc:
        raise BadInput(f"{OPTIONS[exc.about]}: {exc}") from exc


def _int(value: str | None, what: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value, 0)
    except ValueError as exc:
        raise BadInput(f"{what}: not a number: {value!r}") from exc


@click.command()
@click.option("--from", "source", default="x86_64", show_default=True, metavar="ARCH",
              help="Source architecture: x86_64 (to AArch64) or arm64 (to x86-64).")
@click.option("--hex", "hex_bytes", metavar="BYTES", help="Machine code as hex.")
@click.option("--asm", "asm", metavar="TEXT", help="Assembly, instructions separated by ';'.")
@click.option("--image", type=click.Path(dir_okay=False), help="Raw or ELF image to read code from.")
@click.option("--start", metavar="ADDR", help="With --image: address (ELF) or file offset (raw).")
@click.option("--count", type=int, help="With --image: number of instructions.")
@click.option("--symbol", help="With --image: translate this ELF symbol.")
@click.option("--input-file", type=click.Path(dir_okay=False), help="One hex block per line.")
@click.option("--address", default="0", show_default=True, help="Guest address of the first byte.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per block (JSON Lines).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the translated code here.")
@click.option("--stats", is_flag=True, help="Print counts, time, rate and cache hit rates to stderr.")
@click.option("--verify", is_flag=True, help="Check each instruction against the source on Unicorn.")
@click.option("--states", type=click.IntRange(min=1), default=200, show_default=True,
              help="Random states per instruction (--verify).")
@click.option("--list-supported", is_flag=True, help="List the supported (verified) forms.")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=0, show_default=True,
              help="Processes for --input-file (0: one per CPU where that pays).")
def translate(source: str, hex_bytes: str | None, asm: str | None, image: str | None, start: str | None,
              count: int | None, symbol: str | None, input_file: str | None, address: str,
              as_json: bool, output: str | None, stats: bool, verify: bool, states: int,
              list_supported: bool, jobs: int) -> None:
    """Translate x86-64 machine code to AArch64 or back, verified bit for bit on Unicorn."""
    arch = api.source_arch(source)
    if list_supported:
        _list_supported(arch, as_json)
        return
    given = [x for x in (hex_bytes, asm, image, input_file) if x is not None]
    if len(given) != 1:
        raise BadInput("give exactly one of --hex, --asm, --image, --input-file (or --list-supported)")
    base = _int(address, "--address") or 0
    if not 0 <= base < 1 << 64:
        raise BadInput(f"--address: {address} is not a 64-bit address (0 .. 2**64 - 1)")
    if input_file is not None and output is not None and not (as_json or verify):
        with api.bulk_run():
            with _naming_options():
                pairs = inputs.read_input_pairs(input_file)
            _bulk(pairs, output, jobs, stats, arch)
        return
    with _naming_options():
        if hex_bytes is not None:
            blocks = [inputs.Block(inputs.parse_hex(hex_bytes), base)]
        elif asm is not None:
            blocks = [inputs.Block(inputs.assemble(asm, arch, base), base)]
        elif image is not None:
            whole = inputs.read_image(image, _int(start, "--start"), count, symbol, arch)
            # an image is cut into blocks after each branch; each block is translated on its own
            pieces = api.split_blocks(whole.code, whole.address, arch)
            blocks = [inputs.Block(code, addr, whole.label) for code, addr in pieces]
        else:
            assert input_file is not None
            blocks = inputs.read_input_file(input_file)
    t0 = time.perf_counter()
    results = api.translate_blocks([(b.code, b.address) for b in blocks], arch, jobs)
    elapsed = time.perf_counter() - t0
    if output is not None:
        _write(output, b"".join(tr.code for tr in results))
    if verify:
        _verify(results, states, as_json)
    elif as_json:
        out = sys.stdout
        for tr in results:
            out.write(json.dumps(tr.to_json()) + "\n")
    elif output is None or len(results) <= 16:
        for tr in results:
            view.render(tr)
    if stats:
        _stats(results, elapsed)


def _write(output: str, code: bytes) -> None:
    try:
        with open(output, "wb") as fh:
            fh.write(code)
    except OSError as exc:
        raise BadInput(f"--output: {exc.strerror}: {output}") from exc


def _bulk(blocks: list[tuple[bytes, int]], output: str, jobs: int, stats: bool, arch: str) -> None:
    """--input-file ... --output: code only, through the numba fast path."""
    results, elapsed = api.translate_bulk(blocks, arch, jobs)
    code = b"".join(code for code, _, _ in results)
    _write(output, code)
    if stats:
        n = sum(r[1] for r in results)
        _stats_lines(n, n - sum(r[2] for r in results), len(results), api.host_instructions(code, arch), elapsed)


def _stats(results: list[api.Translation], elapsed: float) -> None:
    n = sum(len(tr.insns) for tr in results)
    done = sum(sum(1 for si in tr.insns if si.supported) for tr in results)
    host = sum(len(si.target) for tr in results for si in tr.insns)
    _stats_lines(n, done, len(results), host, elapsed)


def _stats_lines(n: int, done: int, blocks: int, host: int, elapsed: float) -> None:
    lines = [f"instructions: {n} ({done} translated, {100 * done / n if n else 0:.2f}%; {n - done} unsupported)"
             f" in {blocks} block(s)",
             f"host instructions: {host} ({host / done if done else 0:.2f} per translated instruction)",
             f"time: {elapsed:.3f} s, {n / elapsed if elapsed else 0:,.0f} instructions/s"]
    for level in api.CACHE_LEVELS:
        total = level.hits + level.misses
        lines.append(f"cache {level.name}: {level.hit_rate:.1%} hits ({level.hits}/{total})")
    click.echo("\n".join(lines), err=True)


def _verify(results: list[api.Translation], states: int, as_json: bool) -> None:
    failed = False
    for tr in results:
        checks = api.verify_translation(tr, states)
        failed |= any(c.status == "fail" for c in checks)
        if as_json:
            for c in checks:
                click.echo(json.dumps({"address": c.address, "text": c.text, "status": c.status,
                                       "runs": c.runs, "detail": c.detail}))
            continue
        view.render_checks(checks)
    if failed:
        raise click.exceptions.Exit(1)


def _list_supported(arch: str, as_json: bool) -> None:
    forms = api.supported_forms(arch)
    if as_json:
        for f in forms:
            click.echo(json.dumps({"form": f.name, "extension": f.extension}))
        return
    view.render_forms(arch, forms)
