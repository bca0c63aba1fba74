"""Regenerate the bundled example: ``python -m townfiscal.datasets``."""

from townfiscal.datasets._generate import write_example

print(f"wrote {write_example()}")
