"""`python -m vmcli` runs the `vm` command."""

from vmcli.cli import main

main()
