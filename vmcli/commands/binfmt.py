"""`vm binfmt register|unregister|status`: run foreign Linux programs directly through vm."""

from __future__ import annotations

import click


@click.command()
@click.argument("action", type=click.Choice(["register", "unregister", "status"]))
@click.option("--name", "prefix", default="vm", show_default=True, help="Prefix of the binfmt_misc entry names.")
def binfmt(action: str, prefix: str) -> None:
    """Register vm with the kernel's binfmt_misc for arm64, riscv64 (and x86_64 on other hosts), so
    that `./program` runs them through `vm run --user`; unregister; or show the entries."""
    from vmcli.linux import binfmt as b
    if action == "register":
        for name in b.register(prefix):
            click.echo(f"registered {name}")
    elif action == "unregister":
        names = b.unregister(prefix)
        click.echo("\n".join(f"unregistered {n}" for n in names) if names else "nothing was registered")
    else:
        for name, state in b.status(prefix):
            click.echo(f"{name}: {state}")
