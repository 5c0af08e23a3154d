"""``python -m hwadapt.cli``: the console entry point."""

from hwadapt.cli import main

main()
