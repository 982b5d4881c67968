"""`vm run`: boot a guest image and exit with its exit status."""

from __future__ import annotations

import os

import click

from vmcli.commands.params import ADDRESS, SIZE
from vmcli.errors import BadInput


@click.command(context_settings={"ignore_unknown_options": False})
@click.argument("image", required=False)
@click.option("--arch", "-a", help="arm64, riscv64 or x86_64 (default: from the ELF header).")
@click.option("--board", "-M", help="Board (default: virt for arm64/riscv64, pc-flat for x86_64).")
@click.option("--mem", "-m", type=SIZE, help="RAM size, e.g. 256M (default 128M).")
@click.option("--load-addr", type=ADDRESS, help="Load address of a raw image (default: the board's).")
@click.option("--entry", type=ADDRESS, help="Entry point (default: ELF header, or the raw load address).")
@click.option("--bios", metavar="FILE", help="Firmware at the board's reset address (arm64: flash at 0; "
              "riscv64: 0x80000000, IMAGE then at 0x80200000), as QEMU's -bios.")
@click.option("--initrd", metavar="FILE", help="Initial RAM disk for a Linux kernel (in the device tree's /chosen).")
@click.option("--append", metavar="ARGS", default="", help="Kernel command line (/chosen bootargs).")
@click.option("--dtb", metavar="FILE", help="Device tree blob to use instead of the board's own.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
              help="Stop after SECONDS of wall time (exit status 124).")
@click.option("--max-insns", type=click.IntRange(min=1),
              help="Stop after N guest instructions (exit status 125).")
@click.option("--semihosting-root", type=click.Path(exists=True, file_okay=False, resolve_path=True),
              help="Let the guest open host files, only below DIR (like a chroot).")
@click.option("--gpu", metavar="SPEC",
              help="Host device behind the guest compute device: auto (default), cuda, rocm, npu, gpu, "
                   "cpu, none, or an INDEX from `vm gpu list`.")
@click.option("--allow-guest-kernels", is_flag=True,
              help="Let the guest run its own OpenCL C source (in a worker process).")
@click.option("--gdb", "gdb_address", metavar="[HOST:]PORT",
              help="Wait for a gdb connection on PORT (127.0.0.1 unless HOST is given) before the first "
                   "instruction.")
@click.option("--trace", "trace_path", metavar="FILE", help="Write the executed instructions to FILE.")
@click.option("--trace-blocks", is_flag=True, help="Trace executed blocks instead of instructions.")
@click.option("--trace-mem", is_flag=True, help="Add memory accesses to the trace.")
@click.option("--trace-format", type=click.Choice(["text", "jsonl"]), default="text", show_default=True,
              help="Trace file format.")
@click.option("--trace-range", metavar="START:END", help="Trace only code in [START, END).")
@click.option("--stats", is_flag=True, help="Print run statistics at exit (on stderr).")
@click.option("--json", "as_json", is_flag=True, help="With --stats: print them as JSON.")
@click.option("--user", "user_mode", is_flag=True,
              help="Run IMAGE as a Linux program (user mode), whatever its ELF says.")
@click.option("--system", "system_mode", is_flag=True, help="Boot IMAGE on the bare-metal board, even a Linux program.")
@click.option("--sysroot", metavar="DIR", help="Linux programs: take the interpreter and libraries from DIR (like "
              "qemu-user's -L; default: VM_SYSROOT, else Debian's cross sysroot).")
@click.option("--fs-root", metavar="DIR", help="Linux programs: the program sees DIR as / (enforced by the kernel).")
@click.option("--env", "env", metavar="K=V", multiple=True, help="Linux programs: add K=V to the environment.")
@click.option("--strace", is_flag=True, help="Linux programs: print each system call on stderr.")
@click.argument("guest_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run(
    ctx: click.Context,
    image: str | None,
    arch: str | None,
    board: str | None,
    mem: int | None,
    load_addr: int | None,
    entry: int | None,
    bios: str | None,
    initrd: str | None,
    append: str,
    dtb: str | None,
    timeout: float | None,
    max_insns: int | None,
    semihosting_root: str | None,
    gpu: str | None,
    allow_guest_kernels: bool,
    gdb_address: str | None,
    trace_path: str | None,
    trace_blocks: bool,
    trace_mem: bool,
    trace_format: str,
    trace_range: str | None,
    stats: bool,
    as_json: bool,
    user_mode: bool,
    system_mode: bool,
    sysroot: str | None,
    fs_root: str | None,
    env: tuple[str, ...],
    strace: bool,
    guest_args: tuple[str, ...],
) -> None:
    """Boot IMAGE (raw, ELF, or an arm64 Linux Image) and/or --bios firmware; exit with the guest's status.

    A Linux program (an ELF with an interpreter or the GNU/Linux ABI note) runs in user mode as
    qemu-user runs it, with the words after `--` as its arguments; vm exits with its status or dies
    by its signal (docs/linux-user.md). For bare-metal images the words after `--` reach the guest
    as its command line (semihosting SYS_GET_CMDLINE).
    Exit statuses of vm itself: 2 bad input, 70 internal error (a bug), 74 output cannot be written,
    122 guest halted, 123 guest reset, 124 timeout, 125 --max-insns reached, 126 guest fault,
    130 interrupted.
    """
    from vmcli.linux.run import is_user_program, run_user
    if user_mode and system_mode:
        raise BadInput("--user and --system exclude each other")
    if user_mode or (not system_mode and image is not None and is_user_program(image, fs_root)):
        if image is None:
            raise BadInput("--user needs a PROGRAM")
        if trace_path is None and (trace_blocks or trace_mem or trace_range):
            raise BadInput("--trace-blocks, --trace-mem and --trace-range need --trace FILE")
        trace = None
        if trace_path is not None:
            from vmcli.debug.observe import TraceOptions  # numpy: loaded only for --trace
            trace = TraceOptions(trace_path, trace_blocks, trace_mem, trace_format, trace_range)
        run_user(image, list(guest_args), arch=arch, sysroot=sysroot, fs_root=fs_root, env=list(env), strace=strace,
                 gdb=gdb_address, trace=trace, stats=stats, as_json=as_json, timeout=timeout,
                 unsupported={"--board": board, "--mem": mem, "--load-addr": load_addr, "--entry": entry,
                              "--semihosting-root": semihosting_root, "--gpu": gpu, "--max-insns": max_insns,
                              "--bios": bios, "--initrd": initrd, "--append": append or None, "--dtb": dtb})
    if sysroot or fs_root or env or strace:
        raise BadInput("--sysroot, --fs-root, --env and --strace apply to Linux programs")
    from vmcli.images import resolve_image
    from vmcli.machine.devices.compute import compute_options
    from vmcli.machine.launch import boot

    path = resolve_image(image) if image is not None else None
    if path is not None and os.path.isdir(path):
        raise BadInput(f"{path}: is a directory, not an image")
    machine = boot(path, arch=arch, board=board, mem=mem, load_addr=load_addr, entry=entry,
                   semihosting_root=semihosting_root, cmdline=" ".join(guest_args),
                   compute=compute_options(gpu, allow_guest_kernels), bios=bios, initrd=initrd, append=append,
                   dtb=dtb)
    for note in machine.layout.notes:
        click.echo(f"vm: note: {path or bios}: {note}", err=True)
    if trace_path is None and (trace_blocks or trace_mem or trace_range):
        raise BadInput("--trace-blocks, --trace-mem and --trace-range need --trace FILE")
    if as_json and not stats:
        raise BadInput("--json goes with --stats")
    if gdb_address is not None:
        if trace_path or stats or max_insns or timeout:
            raise BadInput("--gdb does not combine with --trace, --stats, --max-insns or --timeout")
        from vmcli.debug.gdbstub import serve
        result = serve(machine, gdb_address, announce=lambda line: click.echo(line, err=True))
    elif trace_path is not None or stats:
        from vmcli.debug.observe import TraceOptions, run_observed
        from vmcli.ui import print_run_stats
        trace = None if trace_path is None else TraceOptions(trace_path, trace_blocks, trace_mem, trace_format,
                                                             trace_range)
        result, run_stats = run_observed(machine, timeout=timeout, max_insns=max_insns, trace=trace, stats=stats)
        if run_stats is not None:
            print_run_stats(run_stats, as_json=as_json)
    else:
        result = machine.run(timeout=timeout, max_insns=max_insns)
    if result.reason in ("fault", "halted") and result.fault is not None:
        from vmcli.ui import fault_report  # rich: loaded only when there is a report to show
        fault_report(result.fault, title="guest fault" if result.reason == "fault" else "guest halted")
    elif result.reason not in ("exit",):
        click.echo(f"vm: {result.detail}", err=True)
    ctx.exit(result.status)
