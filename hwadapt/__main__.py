"""``python -m hwadapt``: the console entry point."""

from hwadapt.cli import main

main()
