"""``python -m gdcli``."""

from gdcli.cli import main

main()
