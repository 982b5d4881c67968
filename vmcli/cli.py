"""The `vm` command line: a click group whose subcommands load lazily from vmcli/commands/.

Each subcommand lives in its own module so that `vm run` never pays for importing the translator,
numba or pyopencl. Errors a user can cause end in one line on stderr and a documented exit status
(see vmcli.errors.ExitStatus); a traceback means a bug and is shown only with --debug.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import os
import sys

import click

from vmcli import __version__
from vmcli.errors import ExitStatus, OutputError, VmError
from vmcli.stdio import drop_stdout, finish_stdout, guard_std_streams

# name -> "module:attribute" of the click command; the help line is read from the command itself.
COMMANDS: dict[str, str] = {
    "run": "vmcli.commands.run:run",
    "boards": "vmcli.commands.boards:boards",
    "images": "vmcli.commands.images:images",
    "disasm": "vmcli.commands.disasm:disasm",
    "translate": "vmcli.commands.translate:translate",
    "gpu": "vmcli.commands.gpu:gpu",
    "binfmt": "vmcli.commands.binfmt:binfmt",
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if _module_exists(COMMANDS[name])]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None or not _module_exists(target):
            return None
        module, attr = target.split(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command


def _module_exists(target: str) -> bool:
    return importlib.util.find_spec(target.split(":")[0]) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vm")
@click.option("--debug", is_flag=True, envvar="VM_DEBUG", help="Show Python tracebacks for errors.")
@click.pass_context
def vm(ctx: click.Context, debug: bool) -> None:
    """Run, inspect and translate code for arm64, riscv64 and x86_64."""
    ctx.obj = {"debug": debug}


def main(argv: list[str] | None = None) -> None:
    """Console entry point: exits with the command's status; errors become one line and a status."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or bool(os.environ.get("VM_DEBUG"))
    guard_std_streams()
    try:
        # Commands end with ctx.exit(status); without standalone mode click returns that status.
        status = vm.main(args=argv, prog_name="vm", standalone_mode=False)
        finish_stdout()
        sys.exit(status if isinstance(status, int) else ExitStatus.OK)
    except click.exceptions.Exit as exc:
        finish_stdout()
        sys.exit(exc.exit_code)
    except OutputError as exc:
        drop_stdout()
        click.echo(f"vm: error: {exc}", err=True)
        sys.exit(exc.status)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        click.echo(f"vm: error: {exc.format_message()}{hint}", err=True)
        sys.exit(ExitStatus.BAD_INPUT)
    except click.ClickException as exc:
        click.echo(f"vm: error: {exc.format_message()}", err=True)
        sys.exit(ExitStatus.BAD_INPUT)
    except click.exceptions.Abort:
        click.echo("vm: interrupted", err=True)
        sys.exit(ExitStatus.INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("vm: interrupted", err=True)
        sys.exit(ExitStatus.INTERRUPTED)
    except VmError as exc:
        if debug:
            raise
        click.echo(f"vm: error: {exc}", err=True)
        sys.exit(exc.status)
    except Exception:
        if debug:
            raise
        exc_type, exc_value, _ = sys.exc_info()
        click.echo(
            f"vm: internal error: {exc_type.__name__ if exc_type else 'error'}: {exc_value} "
            "(this is a bug; run with --debug for the traceback)",
            err=True,
        )
        sys.exit(ExitStatus.INTERNAL)
    finally:
        # what the command made lives until the process ends: frozen, the cyclic collector does
        # not walk it again while the interpreter shuts down (0.8 s after a bulk translation)
        gc.freeze()
