"""Every value in every policy, responsibility and programme file has a source or an argued
assumption: the test walks each file's TOML tree down to its leaves."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Keys that name or describe a file, a table or its structure; they state no figure of a
#: measure, so they need no source. Everything else is a value and must have one.
DESCRIPTIVE = {
    "id", "kind", "title", "title_zh", "name", "name_zh", "description", "method", "document",
    "supersedes", "catalogue", "province", "category", "column", "unit",
    # a programme's `default`: whether tf.transfers includes it when not told, a usage default
    "default",
}

#: What a source that is not an assumption must cite: an article of the file's own measure,
#: a document number, the seed article, the national division codes or an annex item.
CITATION = re.compile(
    r"Art\. \d|〔\d{4}〕\d+号|\bseed\b|南方新闻网|NBS division code|annex item \d"
)
ASSUMPTION = "assumption:"


def _files() -> list[Path]:
    pkg = Path(str(resources.files("townfiscal")))
    found = [
        *sorted((pkg / "policy" / "files").glob("*.toml")),
        *sorted((pkg / "responsibility" / "matrices").glob("*.toml")),
        *sorted((pkg / "responsibility" / "programmes").glob("*.toml")),
        *sorted((ROOT / "examples").glob("*.toml")),
    ]
    assert len(found) >= 8, found
    return found


def _leaves(node: Mapping[str, Any], path: str, covered: str | None
            ) -> Iterator[tuple[str, Any, str | None]]:
    """(path, value, source) of every value under *node*.

    A value's source is, in order: its own table's ``source`` (``{value = …, source = …}``,
    also for ``by_region`` / ``by_tier``), a sibling ``<key>_source``, or — below the file's
    top level — the ``source`` of the table that holds it.
    """
    own = node.get("source") if isinstance(node.get("source"), str) else None
    table_source = own if path else None
    for key, item in node.items():
        if key == "source" or key.endswith("_source"):
            continue
        where = f"{path}.{key}" if path else key
        sibling = node.get(f"{key}_source")
        if isinstance(item, Mapping) and ({"value", "by_region", "by_tier"} & set(item)):
            yield where, {k: v for k, v in item.items() if k != "source"}, item.get("source")
        elif isinstance(item, Mapping):
            yield from _leaves(item, where, sibling or table_source or covered)
        elif key not in DESCRIPTIVE:  # a descriptive key names a table; it states no figure
            yield where, item, sibling or table_source or covered


def _all_leaves() -> list[tuple[str, str, Any, str | None]]:
    out = []
    for f in _files():
        doc = tomllib.loads(f.read_text(encoding="utf-8"))
        # a policy file keeps its values under [parameters]; each leaf has its own source
        out += [(f"{f.parent.name}/{f.name}", p, v, s) for p, v, s in _leaves(doc, "", None)]
    return out


def _problem(source: str | None) -> str | None:
    """Why *source* is not a true source or an argued assumption (None when it is one)."""
    if not isinstance(source, str) or not source.strip():
        return "no source"
    text = source.strip()
    if text.lower().startswith(ASSUMPTION):
        reason = text[len(ASSUMPTION):].strip()
        if len(reason.split()) < 4:
            return f"an assumption needs its reason, not {reason!r}"
        return None
    if not CITATION.search(text):
        return f"cites no article, document number or seed passage: {text!r}"
    return None


def test_every_value_in_every_rules_file_has_a_source_or_an_argued_assumption():
    """Each leaf value (policies, matrices, catalogue, programmes, examples) is sourced."""
    leaves = _all_leaves()
    assert len(leaves) > 150
    missing = [f"{name}: {path} = {value!r}: {why}" for name, path, value, source in leaves
               if (why := _problem(source))]
    assert not missing, "\n".join(missing)


def test_the_walk_sees_metadata_dates_and_item_rules():
    """Dates and item classifications are values too: the walk reaches and checks them."""
    seen = {(name, path): source for name, path, _, source in _all_leaves()}
    for name in ("guangdong-2018", "guangdong-2020", "guangdong-minority-2014"):
        assert _problem(seen[(f"files/{name}.toml", "effective")]) is None
    assert seen[("files/guangdong-minority-2014.toml", "effective")].startswith(ASSUMPTION)
    assert "publication date" in seen[("files/guangdong-2020.toml", "effective")]
    assert seen[("matrices/guangdong-2020.toml", "effective")].startswith(ASSUMPTION)
    rules = {p: s for (n, p), s in seen.items()
             if n == "matrices/central-local-2018.toml" and p.endswith(".rule")}
    assert len(rules) == 18
    assumed = [p for p, s in rules.items() if s and s.startswith(ASSUMPTION)]
    assert len(assumed) == 17  # only the basic pension's own rule is in the project's sources
    assert seen[("examples/shanwei-2020.toml", "receivers")].startswith(ASSUMPTION)


@pytest.mark.parametrize(
    ("source", "ok"),
    [
        (None, False),
        ("", False),
        ("assumption:", False),
        ("assumption: as above", False),
        ("assumption: the tier amounts are not published in any copy", True),
        ("Art. 6: the more people, the higher", True),
        ("粤财预〔2014〕51号: 30% share", True),
        ("the customary grouping", False),
    ],
)
def test_the_check_tells_a_source_from_a_gap(source: str | None, ok: bool):
    """Missing sources, bare assumptions and uncited claims are caught; citations pass."""
    assert (_problem(source) is None) is ok


def test_a_value_without_a_source_is_found():
    """A file with an unsourced date and an unsourced nested value fails the walk."""
    doc = tomllib.loads(
        'id = "x"\neffective = 2020-01-01\n[parameters.a]\nvalue = 1\nsource = "Art. 1"\n'
        '[items.b]\nrule = "own"\n'
    )
    found = {p: s for p, _, s in _leaves(doc, "", None)}
    assert found == {"effective": None, "parameters.a": "Art. 1", "items.b.rule": None}


def test_tables_named_like_descriptive_keys_are_still_walked():
    """A zone's `province` share or a `default` split is a value table, not a label."""
    doc = tomllib.loads('[local.default.core]\nprovince = { value = 0.1 }\n'
                        'city = { value = 0.9, source = "assumption: the rest of the core" }\n')
    found = {p: s for p, _, s in _leaves(doc, "", None)}
    assert found == {"local.default.core.province": None,
                     "local.default.core.city": "assumption: the rest of the core"}
