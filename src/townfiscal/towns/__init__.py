"""The towns table: canonical columns, readers, validation, and the bundled and synthetic data.

Knows nothing of policies (what a policy needs of a table is checked in :mod:`townfiscal.rules`).
May import only the shared ground (``townfiscal._errors`` and its siblings).
"""

from townfiscal.towns._columns import (
    COLUMNS,
    KINDS,
    ZONES,
    Column,
    Unit,
    canonical_zone,
    kind_from_code,
)
from townfiscal.towns._content import VALIDATED, content_key, is_marked, mark
from townfiscal.towns._example import example_path, load_example
from townfiscal.towns._plausible import BOUNDS, PlausibilityWarning
from townfiscal.towns._prior import PRIOR, RollForwardWarning, prior_of, read_prior, roll_forward
from townfiscal.towns._read import (
    SOURCE,
    TOWNS_SHEET,
    read_towns,
    read_towns_report,
    source_of,
)
from townfiscal.towns._synthetic import GUANGDONG_ZONES, SEED, divisions, synthetic_figures
from townfiscal.towns._validate import validate_keyed, validate_towns
from townfiscal.towns._workbook import ReadReport, SkippedRow, describe_source, read_table

__all__ = [
    "BOUNDS",
    "COLUMNS",
    "GUANGDONG_ZONES",
    "KINDS",
    "PRIOR",
    "SEED",
    "SOURCE",
    "TOWNS_SHEET",
    "VALIDATED",
    "ZONES",
    "Column",
    "PlausibilityWarning",
    "ReadReport",
    "RollForwardWarning",
    "SkippedRow",
    "Unit",
    "canonical_zone",
    "content_key",
    "describe_source",
    "divisions",
    "example_path",
    "is_marked",
    "kind_from_code",
    "load_example",
    "mark",
    "prior_of",
    "read_prior",
    "read_table",
    "read_towns",
    "read_towns_report",
    "roll_forward",
    "source_of",
    "synthetic_figures",
    "validate_keyed",
    "validate_towns",
]
