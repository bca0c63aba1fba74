"""Make townfiscal's CJK fonts: the plots' bundled font, and the docs' web font cut from it.

The plots label axes, zones, cities and towns in Chinese. A fresh machine may have no CJK font,
so the package ships a subset of Noto Sans CJK SC Regular (SIL Open Font License 1.1) that
covers: every Hanzi of GB 2312 (6,763) and the frequent traditional ones of Big5 (level 1,
5,401, for quoted sources), every character used in the national township list's
names (``shared/data/divisions``), every CJK character of the project's own text (the docs,
the policy and programme files and the rest of ``src``, the examples: the sources quote
traditional characters such as 鄉鎮 and 縣), CJK punctuation, full-width forms and ASCII.
The family is renamed "Townfiscal Sans CJK SC" so that it is never mistaken for the full Noto
font.

Run (needs fontTools, which matplotlib already installs, and a Noto Sans CJK file, e.g. Debian's
``fonts-noto-cjk``)::

    python tools/subset_cjk_font.py /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc \
        ../shared/data/divisions src/townfiscal/analysis/_fonts/TownfiscalSansCJKsc-Regular.otf

The documentation uses the same glyphs on the web. A reader's machine may have no CJK font
either, so each docs build cuts a WOFF2 web font from that bundled file holding exactly the CJK
characters the built pages contain (``docs/conf.py`` calls :func:`build_web_font` once the pages
are written; the licence is copied beside it). Built at build time rather than committed, the
font cannot fall behind the text: a new Chinese word on a page is in the next build's font, and
a character the bundled font lacks fails the build instead of showing as an empty box. By hand
(needs fontTools and brotli, both in the ``docs`` extra)::

    python tools/subset_cjk_font.py web docs/_build/html docs/_build/html/_static/fonts
"""

from __future__ import annotations

import contextlib
import csv
import logging
import sys
from collections.abc import Iterable
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

FAMILY = "Townfiscal Sans CJK SC"
POSTSCRIPT = "TownfiscalSansCJKsc-Regular"
ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "src" / "townfiscal" / "analysis" / "_fonts" / f"{POSTSCRIPT}.otf"
LICENCE = BUNDLED.with_name("OFL.txt")
WEB_FONT = "townfiscal-cjk.woff2"

# The Unicode blocks written in CJK scripts (Hanzi, their punctuation and full-width forms, kana,
# bopomofo). The docs' stylesheet gives the same ranges as the web font's ``unicode-range``, so
# the web font draws these characters and nothing else; docs/tools/check_rendered.py checks
# that every character of these blocks on a page is drawn with it.
CJK_RANGES: tuple[tuple[int, int], ...] = (
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x2FF0, 0x303F),  # ideographic description, CJK symbols and punctuation (、。〔〕「」)
    (0x3040, 0x30FF),  # hiragana, katakana
    (0x3100, 0x312F),  # bopomofo
    (0x3190, 0x31FF),  # kanbun, bopomofo extended, CJK strokes, katakana extensions
    (0x3200, 0x33FF),  # enclosed CJK letters, CJK compatibility
    (0x3400, 0x4DBF),  # CJK unified ideographs extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFE10, 0xFE1F),  # vertical forms
    (0xFE30, 0xFE4F),  # CJK compatibility forms
    (0xFF00, 0xFFEF),  # half-width and full-width forms (，（）：；)
    (0x20000, 0x3FFFF),  # supplementary ideographic planes
)



def _subset_options(flavor: str | None = None) -> subset.Options:
    """fontTools' subsetting options for both fonts: every layout feature and name kept (so
    vertical and full-width punctuation stay right), a .notdef outline, no hinting."""
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.hinting = False
    options.flavor = flavor
    return options

def is_cjk(char: str) -> bool:
    """Whether ``char`` lies in one of :data:`CJK_RANGES`."""
    code = ord(char)
    return any(lo <= code <= hi for lo, hi in CJK_RANGES)


def unicode_range() -> str:
    """:data:`CJK_RANGES` as a CSS ``unicode-range`` value."""
    return ", ".join(f"U+{lo:04X}-{hi:04X}" for lo, hi in CJK_RANGES)


def cjk_characters(files: Iterable[Path]) -> dict[str, list[Path]]:
    """Every CJK character in the text files, with the files it occurs in (sorted by character)."""
    found: dict[str, list[Path]] = {}
    for path in files:
        for char in sorted({c for c in path.read_text(encoding="utf-8") if is_cjk(c)}):
            found.setdefault(char, []).append(path)
    return dict(sorted(found.items()))


def site_files(site: Path) -> list[Path]:
    """The files of a built HTML site whose text a reader can see: pages, page sources, index.

    ``_sources`` and the search index count because the search page shows excerpts of them.
    """
    files = [*site.rglob("*.html"), *(site / "_sources").rglob("*.txt")]
    return sorted([*files, *site.glob("searchindex.js")])


def build_web_font(site: Path, out_dir: Path, source: Path = BUNDLED) -> tuple[int, int]:
    """Write ``out_dir/townfiscal-cjk.woff2`` with every CJK character of the built ``site``.

    The glyphs are cut from the bundled font ``source`` (layout features kept, so vertical and
    full-width punctuation stay right), and the font's licence is copied beside it as
    ``OFL.txt``. Returns the number of characters and the file's size in bytes.

    Raises:
        ValueError: if the site uses a CJK character the bundled font does not have, naming each
            such character, its code point and up to three files where it occurs. Add it to the
            bundled font (see the top of this file) rather than let readers see an empty box.
    """
    from fontTools.ttLib import TTFont

    chars = cjk_characters(site_files(site))
    font = TTFont(str(source))
    cmap = font.getBestCmap()
    missing = [c for c in chars if ord(c) not in cmap]
    if missing:
        lines = [
            f"  {c} U+{ord(c):04X} in "
            + ", ".join(p.relative_to(site).as_posix() for p in chars[c][:3])
            + (f" and {len(chars[c]) - 3} more" if len(chars[c]) > 3 else "")
            for c in missing
        ]
        raise ValueError(
            f"{len(missing)} CJK character(s) on the pages are not in {source.name}; "
            "add them to the bundled font (tools/subset_cjk_font.py):\n" + "\n".join(lines)
        )
    sub = subset.Subsetter(_subset_options(flavor="woff2"))  # woff2 needs the brotli package
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # not a line per table pruned
    # always keep the ideographic space and the commonest punctuation, so a page without
    # Chinese still gets a valid font
    sub.populate(text="".join(chars) + "\u3000、。，：；（）")
    sub.subset(font)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / WEB_FONT
    font.flavor = "woff2"
    font.save(str(out))
    (out_dir / "OFL.txt").write_text(
        f"{WEB_FONT} holds the {len(chars)} CJK characters of these pages, cut by\n"
        f"tools/subset_cjk_font.py from townfiscal's {source.name}, itself described below.\n\n"
        + LICENCE.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    return len(chars), out.stat().st_size


def gb2312_hanzi() -> set[str]:
    """The 6,763 Hanzi of GB 2312 (rows 16–87)."""
    chars: set[str] = set()
    for hi in range(0xB0, 0xF8):
        for lo in range(0xA1, 0xFF):
            with contextlib.suppress(UnicodeDecodeError):
                chars.add(bytes([hi, lo]).decode("gb2312"))
    return chars


def big5_frequent_hanzi() -> set[str]:
    """The 5,401 frequently used Hanzi of Big5 (level 1, 0xA440–0xC67E).

    The sources the docs and policy files quote (the 2020 measures, the seed articles) are often
    in traditional characters; with these, a new quotation rarely needs a new bundled font.
    """
    chars: set[str] = set()
    for hi in range(0xA4, 0xC7):
        for lo in [*range(0x40, 0x7F), *range(0xA1, 0xFF)]:
            if (hi, lo) > (0xC6, 0x7E):
                break
            with contextlib.suppress(UnicodeDecodeError):
                chars.add(bytes([hi, lo]).decode("big5"))
    return chars


def division_names(folder: Path) -> set[str]:
    chars: set[str] = set()
    for name in ("provinces.csv", "cities.csv", "areas.csv", "streets.csv"):
        with open(folder / name, encoding="utf-8") as f:
            for row in csv.DictReader(f):
                chars.update(row["name"])
    return chars


# Where the project's own text lives (tests are left out: they may use a character on purpose
# because no font has it) and the kinds of file read there.
TEXT_FOLDERS = ("docs", "src", "examples")
TEXT_SUFFIXES = (".md", ".rst", ".py", ".toml", ".txt", ".csv", ".json", ".ipynb")
SKIP_FOLDERS = ("_build", "node_modules", "__pycache__")


def project_characters(root: Path = ROOT) -> set[str]:
    """Every CJK character in the text files of the project's docs, sources and examples."""
    files = [ROOT / "README.md"]
    for folder in TEXT_FOLDERS:
        files += [p for p in sorted((root / folder).rglob("*"))
                  if p.suffix in TEXT_SUFFIXES and p.is_file()
                  and not any(part in SKIP_FOLDERS or part.startswith(".")
                              for part in p.relative_to(root).parts)]
    return set(cjk_characters(f for f in files if f.is_file()))


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
    chars = (gb2312_hanzi() | big5_frequent_hanzi() | division_names(Path(divisions))
             | project_characters() | extra())
    text = "".join(sorted(chars))
    sub = subset.Subsetter(_subset_options())
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
    if sys.argv[1:2] == ["web"]:
        n, size = build_web_font(Path(sys.argv[2]), Path(sys.argv[3]))
        print(f"{Path(sys.argv[3]) / WEB_FONT}: {n} CJK characters, {size / 1e3:.1f} kB")
    else:
        main(*sys.argv[1:4])
