"""`python -m walletpool`: the `walletpool` command."""

from .cli import main

main(prog_name="walletpool")
