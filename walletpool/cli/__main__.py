"""`python -m walletpool.cli`: the `walletpool` command."""

from . import main

main(prog_name="walletpool")
