"""Make the small CJK font bundled with townfiscal's plots (a subset of Noto Sans CJK SC).

The plots label axes, zones, cities and towns in Chinese. A fresh machine may have no CJK font,
so the package ships a subset of Noto Sans CJK SC Regular (SIL Open Font License 1.1) that
covers: every Hanzi of GB 2312 (6,763), every character used in the national township list's
names (``shared/data/divisions``), CJK punctuation, full-width forms and ASCII. The family is
renamed "Townfiscal Sans CJK SC" so that it is never mistaken for the full Noto font.

Run (needs fontTools, which matplotlib already installs, and a Noto Sans CJK file, e.g. Debian's
``fonts-noto-cjk``)::

    python tools/subset_cjk_font.py /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc \
        ../shared/data/divisions src/townfiscal/analysis/_fonts/TownfiscalSansCJKsc-Regular.otf
"""

from __future__ import annotations

import contextlib
import csv
import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

FAMILY = "Townfiscal Sans CJK SC"
POSTSCRIPT = "TownfiscalSansCJKsc-Regular"


def gb2312_hanzi() -> set[str]:
    """The 6,763 Hanzi of GB 2312 (rows 16–87)."""
    chars: set[str] = set()
    for hi in range(0xB0, 0xF8):
        for lo in range(0xA1, 0xFF):
            with contextlib.suppress(UnicodeDecodeError):
                chars.add(bytes([hi, lo]).decode("gb2312"))
    return chars


def division_names(folder: Path) -> set[str]:
    chars: set[str] = set()
    for name in ("provinces.csv", "cities.csv", "areas.csv", "streets.csv"):
        with open(folder / name, encoding="utf-8") as f:
            for row in csv.DictReader(f):
                chars.update(row["name"])
    return chars


def extra() -> set[str]:
    ranges = [(0x20, 0x7E), (0x3000, 0x303F), (0xFF01, 0xFF5E), (0x2010, 0x2027)]
    chars = {chr(c) for a, b in ranges for c in range(a, b + 1)}
    chars.update("¥×÷±≤≥−·°²³‰€→←↑↓…")
    return chars


def load_sc(path: Path) -> TTFont:
    if path.suffix.lower() == ".ttc":
        for font in TTCollection(str(path)).fonts:
            if font["name"].getDebugName(1) == "Noto Sans CJK SC":
                return font
        raise SystemExit(f"no Noto Sans CJK SC in {path}")
    return TTFont(str(path))


def main(source: str, divisions: str, out: str) -> None:
    font = load_sc(Path(source))
    text = "".join(sorted(gb2312_hanzi() | division_names(Path(divisions)) | extra()))
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.hinting = False
    sub = subset.Subsetter(options)
    sub.populate(text=text)
    sub.subset(font)
    name = font["name"]
    for rec in list(name.names):
        if rec.nameID in (1, 16):
            rec.string = FAMILY
        elif rec.nameID == 3:
            rec.string = f"{POSTSCRIPT};subset of Noto Sans CJK SC"
        elif rec.nameID == 4:
            rec.string = f"{FAMILY} Regular"
        elif rec.nameID == 6:
            rec.string = POSTSCRIPT
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = [POSTSCRIPT]
        top = cff.topDictIndex[0]
        top.FullName = f"{FAMILY} Regular"
        top.FamilyName = FAMILY
    font.save(out)
    print(f"{out}: {len(set(text))} characters, {Path(out).stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main(*sys.argv[1:4])
