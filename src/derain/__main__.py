"""`python -m derain` runs the CLI."""

from derain.cli import main

main()
