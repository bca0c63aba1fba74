"""Responsibility matrices: who pays what share of each basic public service, by zone.

A matrix gives, for every expenditure item (义务教育公用经费保障, 城乡居民基本医疗保险补助, …) and
every zone of Guangdong (core, east_wing, west_wing, north), the share carried by each level of
government: ``central``, ``province``, ``city``, ``county`` and ``town``. Shares of an item in a
zone sum to 1.

Matrices are data. A matrix file (``matrices/<id>.toml``, ``kind = "matrix"``) names
its province and a *catalogue* (``kind = "catalogue"``, the national rule: 国办发〔2018〕6号's
8 categories and 18 items, the five tiers of central shares); the central share of each item
comes from the catalogue, the remaining local share is split among province, city, county and
town per zone by the matrix file. Every value carries a ``source``: an article reference, or
``assumption: <why>``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from townfiscal._errors import Problem, ValidationError
from townfiscal.towns import ZONES as _ZONE_SPEC

__all__ = [
    "LEVELS",
    "LOCAL_LEVELS",
    "ZONES",
    "ResponsibilityMatrix",
    "get_responsibility",
    "list_responsibilities",
]

#: Levels of government, from the top. Column names of a split.
LEVELS: tuple[str, ...] = ("central", "province", "city", "county", "town")
#: The levels below the centre, among which a matrix file splits the local share.
LOCAL_LEVELS: tuple[str, ...] = LEVELS[1:]
#: Guangdong's zones (一核一带一区), as in the towns table's ``zone`` column.
ZONES: tuple[str, ...] = tuple(_ZONE_SPEC)
#: How an item's central share is set in a catalogue.
RULES: tuple[str, ...] = ("five_tier", "own", "factor")
REGIONS: tuple[str, ...] = ("east", "central", "west")
N_TIERS = 5

_DIR = Path(__file__).parent / "matrices"
_TOL = 1e-6  # shares written by hand (⅓ as 0.333333) must still pass


# ------------------------------------------------------------------------------------------
# reading values


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


class _Reader:
    """Collects problems while reading ``{value = ..., source = ...}`` entries of a document."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, message: str, row: str | None = None, column: str | None = None,
            value: Any = None) -> None:
        self.problems.append(Problem(message, row=row, column=column, value=value))

    def source(self, entry: Mapping[str, Any], where: str, column: str | None = None) -> str:
        src = entry.get("source")
        if not isinstance(src, str) or not src.strip():
            self.add("needs a `source`: an article reference or 'assumption: <why>'",
                     row=where, column=column)
            return ""
        return src

    def share(self, entry: Any, where: str, column: str | None = None) -> tuple[float, str]:
        """A share in [0, 1] with its source; NaN (and a problem) when unusable."""
        if not isinstance(entry, Mapping):
            self.add("must be a table {value = <share>, source = \"...\"}", row=where,
                     column=column, value=entry)
            return math.nan, ""
        src = self.source(entry, where, column)
        value = entry.get("value")
        if not isinstance(value, int | float) or isinstance(value, bool) \
                or not math.isfinite(value):
            self.add("share must be a finite number", row=where, column=column, value=value)
            return math.nan, src
        v = float(value)
        if v < 0:
            self.add("share must not be negative", row=where, column=column, value=v)
        elif v > 1 + _TOL:
            self.add("share must not exceed 1", row=where, column=column, value=v)
        return v, src


# ------------------------------------------------------------------------------------------
# files


def _read_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        return tomllib.load(fh)


@cache
def _documents() -> dict[str, tuple[Path, str]]:
    """id -> (path, kind) for every bundled file."""
    out: dict[str, tuple[Path, str]] = {}
    for path in sorted(_DIR.glob("*.toml")):
        doc = _read_toml(path)
        out[str(doc.get("id", path.stem))] = (path, str(doc.get("kind", "matrix")))
    return out


def list_responsibilities() -> list[str]:
    """Ids of the bundled responsibility matrices, sorted.

    Returns:
        e.g. ``["guangdong-2020"]``. Catalogues (the national rule a matrix builds on, such as
        ``central-local-2018``) are not matrices and are not listed.

    Example:
        >>> import townfiscal as tf
        >>> "guangdong-2020" in tf.list_responsibilities()
        True
    """
    return sorted(k for k, (_, kind) in _documents().items() if kind == "matrix")


def get_responsibility(id_or_path: str | Path) -> ResponsibilityMatrix:
    """A responsibility matrix, by bundled id or from a TOML file.

    Parameters:
        id_or_path: a bundled id (see :func:`list_responsibilities`) or the path of a matrix
            file in the same format (its ``catalogue`` is looked up among the bundled ones, or
            beside the file).

    Raises:
        KeyError: no such bundled matrix.
        ValidationError: the file is malformed (every problem listed): shares of an item and
            zone not summing to 1, negative shares, unknown items, categories, zones or levels,
            values without a source.

    Example:
        >>> import townfiscal as tf
        >>> m = tf.get_responsibility("guangdong-2020")
        >>> float(m.share("compulsory_education_running_costs", "east_wing")["central"])
        0.5
    """
    key = str(id_or_path)
    docs = _documents()
    if key in docs and docs[key][1] == "matrix":
        return _bundled(key)
    path = Path(key)
    if path.suffix == ".toml" and path.exists():
        return ResponsibilityMatrix.from_document(_read_toml(path), base=path.parent)
    if key in docs:
        raise KeyError(f"{key!r} is a {docs[key][1]}, not a responsibility matrix")
    raise KeyError(
        f"no responsibility matrix {key!r}; bundled: {', '.join(list_responsibilities())}"
    )


@cache
def _bundled(key: str) -> ResponsibilityMatrix:
    return ResponsibilityMatrix.from_document(_read_toml(_documents()[key][0]))


def _catalogue_document(name: str, base: Path | None) -> dict[str, Any] | None:
    docs = _documents()
    if name in docs:
        return _read_toml(docs[name][0])
    if base is not None and (base / f"{name}.toml").exists():
        return _read_toml(base / f"{name}.toml")
    return None


# ------------------------------------------------------------------------------------------
# the catalogue: items and their central shares


@attrs.frozen
class _Catalogue:
    items: pd.DataFrame  # index item id: category, category_zh, name, name_zh, rule
    central: dict[str, dict[str, Any]]  # item -> its `central` entry (none for five_tier)
    tier_shares: tuple[float, ...]
    tier_source: str
    tier_of: dict[str, int]
    region_of: dict[str, str]
    regions_source: str
    tiers_members_source: str
    categories: dict[str, dict[str, str]]
    rule_source: dict[str, str] = attrs.field(factory=dict)  # item -> where its rule comes from


def _read_catalogue(doc: Mapping[str, Any], r: _Reader) -> _Catalogue:
    tiers = doc.get("tiers", {})
    tier_shares: list[float] = []
    tier_source = ""
    entry = tiers.get("central") if isinstance(tiers, Mapping) else None
    if not isinstance(entry, Mapping):
        r.add("the catalogue needs [tiers] central = {value = [5 shares], source = ...}",
              row="tiers")
    else:
        tier_source = r.source(entry, "tiers.central")
        vals = entry.get("value")
        if not isinstance(vals, list) or len(vals) != N_TIERS:
            r.add(f"needs a list of {N_TIERS} shares, tier 1 first", row="tiers.central",
                  value=vals)
        else:
            for i, v in enumerate(vals, start=1):
                s, _ = r.share({"value": v, "source": tier_source}, "tiers.central",
                               column=f"tier {i}")
                tier_shares.append(s)
    tier_of: dict[str, int] = {}
    members = tiers.get("members", {}) if isinstance(tiers, Mapping) else {}
    members_source = str(members.get("source", "")) if isinstance(members, Mapping) else ""
    if isinstance(members, Mapping):
        for k, names in members.items():
            if k == "source":
                continue
            if not (str(k).isdigit() and 1 <= int(k) <= N_TIERS) or not isinstance(names, list):
                r.add("tier members must be listed under the keys 1..5", row="tiers.members",
                      column=str(k))
                continue
            for name in names:
                tier_of[str(name)] = int(k)
    region_of: dict[str, str] = {}
    regions = doc.get("regions", {})
    regions_source = str(regions.get("source", "")) if isinstance(regions, Mapping) else ""
    if isinstance(regions, Mapping):
        for k, names in regions.items():
            if k == "source":
                continue
            if k not in REGIONS or not isinstance(names, list):
                r.add(f"unknown region; expected one of {', '.join(REGIONS)}", row="regions",
                      column=str(k))
                continue
            for name in names:
                region_of[str(name)] = str(k)

    categories: dict[str, dict[str, str]] = {}
    for cid, cat in dict(doc.get("categories", {})).items():
        if not isinstance(cat, Mapping):
            r.add("a category must be a table with name and name_zh", row=f"categories.{cid}")
            continue
        categories[str(cid)] = {"name": str(cat.get("name", cid)),
                                "name_zh": str(cat.get("name_zh", ""))}
    rows: list[dict[str, Any]] = []
    central: dict[str, dict[str, Any]] = {}
    rule_source: dict[str, str] = {}
    for iid, item in dict(doc.get("items", {})).items():
        where = f"items.{iid}"
        if not isinstance(item, Mapping):
            r.add("an item must be a table", row=where)
            continue
        cat = str(item.get("category", ""))
        if cat not in categories:
            r.add(f"unknown category; expected one of {', '.join(categories)}", row=where,
                  column="category", value=cat)
        rule = str(item.get("rule", ""))
        if rule not in RULES:
            r.add(f"unknown rule; expected one of {', '.join(RULES)}", row=where,
                  column="rule", value=rule)
        if item.get("rule_source"):
            rule_source[str(iid)] = str(item["rule_source"]).strip()
        spec = item.get("central")
        if rule == "five_tier":
            if spec is not None:
                r.add("a five_tier item takes its central share from [tiers]; remove `central`",
                      row=where, column="central")
        elif rule in RULES:
            if not isinstance(spec, Mapping):
                r.add(f"a {rule} item needs central = {{value | by_region | by_tier, source}}",
                      row=where, column="central")
            else:
                forms = [k for k in ("value", "by_region", "by_tier") if k in spec]
                if len(forms) != 1:
                    r.add("central takes exactly one of value, by_region, by_tier", row=where,
                          column="central", value=forms or None)
                else:
                    _check_central_spec(spec, forms[0], where, r)
                    central[str(iid)] = dict(spec)
        rows.append({"item": str(iid), "category": cat,
                     "category_name": categories.get(cat, {}).get("name", ""),
                     "category_zh": categories.get(cat, {}).get("name_zh", ""),
                     "name": str(item.get("name", iid)), "name_zh": str(item.get("name_zh", "")),
                     "rule": rule})
    items = pd.DataFrame(rows, columns=["item", "category", "category_name", "category_zh",
                                        "name", "name_zh", "rule"]).set_index("item")
    return _Catalogue(items=items, central=central, tier_shares=tuple(tier_shares),
                      tier_source=tier_source, tier_of=tier_of, region_of=region_of,
                      regions_source=regions_source, tiers_members_source=members_source,
                      categories=categories, rule_source=rule_source)


def _check_central_spec(spec: Mapping[str, Any], form: str, where: str, r: _Reader) -> None:
    src = r.source(spec, where, "central")
    if form == "value":
        r.share({"value": spec["value"], "source": src}, where, "central")
    elif form == "by_tier":
        vals = spec["by_tier"]
        if not isinstance(vals, list) or len(vals) != N_TIERS:
            r.add(f"by_tier needs {N_TIERS} shares, tier 1 first", row=where,
                  column="central", value=vals)
        else:
            for i, v in enumerate(vals, start=1):
                r.share({"value": v, "source": src}, where, f"central (tier {i})")
    else:
        vals = spec["by_region"]
        if not isinstance(vals, Mapping) or set(vals) != set(REGIONS):
            r.add(f"by_region needs exactly the regions {', '.join(REGIONS)}", row=where,
                  column="central", value=sorted(vals) if isinstance(vals, Mapping) else vals)
        else:
            for k, v in vals.items():
                r.share({"value": v, "source": src}, where, f"central ({k})")


def _central_share(spec: Mapping[str, Any], tier: int, region: str) -> float:
    if "value" in spec:
        return float(spec["value"])
    if "by_tier" in spec:
        return float(spec["by_tier"][tier - 1])
    return float(spec["by_region"][region])


# ------------------------------------------------------------------------------------------
# the matrix


def _readonly(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    a.setflags(write=False)
    return a


@attrs.frozen(eq=False, repr=False)
class ResponsibilityMatrix:
    """Shares of each expenditure item carried by each level of government, per zone.

    Attributes:
        id: the matrix id (``"guangdong-2020"``).
        title: a readable title.
        levels: the levels, top first (:data:`LEVELS`).
        zones: the zones covered (:data:`ZONES`).
        items: DataFrame indexed by item id: ``category``, ``category_name``, ``category_zh``,
            ``name``, ``name_zh``, ``rule`` (``five_tier`` / ``own`` / ``factor`` / ``custom``).
        shares: float array ``(items, zones, levels)``; NaN where the matrix has no share for an
            item in a zone.
        sources: object array of the same shape: the source of each share.
        document: the document the matrix was built from (a deep copy; ``{}`` for
            :meth:`from_frame`).
        hash: a short content hash (16 hex digits) of the matrix's shares and sources.

    Example:
        >>> import townfiscal as tf
        >>> m = tf.get_responsibility("guangdong-2020")
        >>> m.share("residents_medical_insurance", "north").round(3).to_dict()
        {'central': 0.3, 'province': 0.35, 'city': 0.07, 'county': 0.245, 'town': 0.035}
    """

    id: str
    title: str
    items: pd.DataFrame
    shares: npt.NDArray[np.float64]
    sources: npt.NDArray[np.object_]
    levels: tuple[str, ...] = LEVELS
    zones: tuple[str, ...] = ZONES
    document: Mapping[str, Any] = attrs.field(factory=dict)
    base: Path | None = None

    @property
    def hash(self) -> str:
        """Content hash of the shares and their sources (16 hex digits)."""
        h = hashlib.sha256()
        h.update(json.dumps([self.id, list(self.items.index), list(self.zones),
                             list(self.levels)]).encode())
        h.update(np.ascontiguousarray(np.nan_to_num(self.shares, nan=-1.0)).tobytes())
        h.update("\x1f".join(map(str, self.sources.ravel())).encode())
        return h.hexdigest()[:16]

    def __repr__(self) -> str:
        return (f"ResponsibilityMatrix({self.id!r}, items={len(self.items)}, "
                f"zones={list(self.zones)}, hash={self.hash!r})")

    def _repr_html_(self) -> str:
        """A compact summary for Jupyter: title, counts, hash and the items (folded)."""
        from townfiscal._html import matrix_html

        return matrix_html(self)

    # -- lookups ------------------------------------------------------------------------------

    def item_id(self, name: str) -> str:
        """The item id for an id, an English name or a Chinese name (``义务教育公用经费保障``).

        Raises:
            KeyError: no such item.
        """
        pos = self._positions(pd.Series([name]))[0]
        if pos < 0:
            raise KeyError(f"unknown item {name!r}; known: {', '.join(self.items.index)}")
        return str(self.items.index[pos])

    def _lookup(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for col in ("name", "name_zh"):
            for i, v in enumerate(self.items[col]):
                if isinstance(v, str) and v:
                    out.setdefault(v.strip().casefold(), i)
        for i, v in enumerate(self.items.index):
            out[str(v).casefold()] = i
        return out

    def _positions(self, names: pd.Series) -> npt.NDArray[np.intp]:
        """Item positions for ids or names (-1 for unknown), vectorised over unique values."""
        lookup = self._lookup()
        codes, uniques = pd.factorize(names, use_na_sentinel=True)
        pos = np.array([lookup.get(str(u).strip().casefold(), -1) for u in uniques] + [-1],
                       dtype=np.intp)
        out: npt.NDArray[np.intp] = pos[codes]  # NA (-1) → the trailing -1
        return out

    def _row(self, item: str) -> int:
        return int(self.items.index.get_indexer(pd.Index([self.item_id(item)]))[0])

    def share(self, item: str, zone: str) -> pd.Series:
        """Shares of one item in one zone, indexed by level (they sum to 1).

        Raises:
            KeyError: unknown item or zone, or no share for that pair.
        """
        i = self._row(item)
        if zone not in self.zones:
            raise KeyError(f"unknown zone {zone!r}; expected one of {', '.join(self.zones)}")
        row = self.shares[i, self.zones.index(zone)]
        if np.isnan(row).any():
            raise KeyError(f"the matrix has no shares for {item!r} in zone {zone!r}")
        return pd.Series(row, index=list(self.levels), name=f"{self.item_id(item)}/{zone}")

    def source(self, item: str, zone: str, level: str) -> str:
        """The source of one share."""
        i = self._row(item)
        return str(self.sources[i, self.zones.index(zone), self.levels.index(level)])

    def table(self, zone: str) -> pd.DataFrame:
        """Items × levels for one zone (shares), with the item's Chinese name."""
        if zone not in self.zones:
            raise KeyError(f"unknown zone {zone!r}; expected one of {', '.join(self.zones)}")
        out = pd.DataFrame(self.shares[:, self.zones.index(zone), :],
                           index=self.items.index.copy(), columns=list(self.levels))
        out.insert(0, "name_zh", self.items["name_zh"].to_numpy())
        return out

    def to_frame(self) -> pd.DataFrame:
        """The matrix in long form: one row per (item, zone, level) with ``share`` and
        ``source``; pairs without shares are left out."""
        _, nz, nl = self.shares.shape
        idx = pd.MultiIndex.from_product([self.items.index, self.zones, self.levels],
                                         names=["item", "zone", "level"])
        out = pd.DataFrame({"share": self.shares.ravel(), "source": self.sources.ravel()},
                           index=idx).reset_index()
        out.insert(1, "category", np.repeat(self.items["category"].to_numpy(), nz * nl))
        return out.loc[out["share"].notna()].reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        """The matrix as a JSON-friendly dict: id, title, hash, levels, zones, and per item its
        names, category, rule and ``shares[zone][level] = {"share": …, "source": …}``."""
        items = []
        for i, (iid, row) in enumerate(self.items.iterrows()):
            shares: dict[str, dict[str, dict[str, Any]]] = {}
            for z, zone in enumerate(self.zones):
                if np.isnan(self.shares[i, z]).any():
                    continue
                shares[zone] = {lvl: {"share": float(self.shares[i, z, j]),
                                      "source": str(self.sources[i, z, j])}
                                for j, lvl in enumerate(self.levels)}
            items.append({"id": str(iid), **{k: str(v) for k, v in row.items()},
                          "shares": shares})
        return {"id": self.id, "title": self.title, "hash": self.hash,
                "levels": list(self.levels), "zones": list(self.zones), "items": items}

    # -- changes ------------------------------------------------------------------------------

    def with_changes(self, changes: Mapping[str, Any]) -> ResponsibilityMatrix:
        """A new matrix with values of its file changed, by dotted path.

        Parameters:
            changes: ``{"local.default.north.province": 0.6, ...}``; a number replaces the
                value (its source records the override), a ``{value, source}`` table replaces
                the entry. Paths into ``central.<item>`` add a province-specific central share.

        Raises:
            ValidationError: a path that does not exist, or a result that no longer validates
                (e.g. a zone's shares no longer summing to 1) — all problems at once.

        Example:
            >>> import townfiscal as tf
            >>> m = tf.get_responsibility("guangdong-2020").with_changes(
            ...     {"local.default.north.province": 0.6, "local.default.north.county": 0.25})
            >>> round(float(m.share("basic_public_health", "north")["province"]), 2)
            0.42
        """
        if not self.document:
            raise ValueError("with_changes needs a matrix read from a file; "
                             "for a matrix built from a frame, build a new one")
        doc = copy.deepcopy(dict(self.document))
        problems: list[Problem] = []
        for path, new in changes.items():
            keys = str(path).split(".")
            node: Any = doc
            ok = True
            for k in keys[:-1]:
                if not isinstance(node, dict):
                    ok = False
                    break
                if k not in node and keys[0] == "central":
                    node[k] = {}
                node = node.get(k)
            if not ok or not isinstance(node, dict) or (keys[-1] not in node
                                                         and keys[0] != "central"):
                problems.append(Problem("no such entry in the matrix file", row=str(path),
                                        value=new))
                continue
            old = node.get(keys[-1])
            if isinstance(new, Mapping):
                node[keys[-1]] = dict(new)
            elif isinstance(old, dict) and "value" in old:
                node[keys[-1]] = {"value": new,
                                  "source": f"override: {old.get('value')!r} -> {new!r} "
                                            f"(was: {old.get('source', '')})"}
            else:
                node[keys[-1]] = new
        if problems:
            raise ValidationError(problems, what=f"changes to {self.id}")
        return ResponsibilityMatrix.from_document(doc, base=self.base)

    # -- constructors -------------------------------------------------------------------------

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], *, base: Path | None = None
                      ) -> ResponsibilityMatrix:
        """Build and validate a matrix from a parsed matrix file (see the module docstring).

        Raises:
            ValidationError: every problem of the file and its catalogue at once.
        """
        r = _Reader()
        mid = str(doc.get("id", "custom"))
        if doc.get("kind", "matrix") != "matrix":
            r.add("not a matrix file (kind must be 'matrix')", row="kind",
                  value=doc.get("kind"))
            raise ValidationError(r.problems, what=f"responsibility matrix {mid}")
        cat_name = str(doc.get("catalogue", ""))
        cat_doc = _catalogue_document(cat_name, base)
        if cat_doc is None:
            r.add("unknown catalogue", row="catalogue", value=cat_name)
            raise ValidationError(r.problems, what=f"responsibility matrix {mid}")
        cat = _read_catalogue(cat_doc, r)

        province = str(doc.get("province", ""))
        tier = cat.tier_of.get(province, 0)
        region = cat.region_of.get(province, "")
        if not tier:
            r.add("province not in any tier of the catalogue", row="province", value=province)
        if not region:
            r.add("province not in any region of the catalogue", row="province",
                  value=province)

        item_ids = list(cat.items.index)
        n_i, n_z, n_l = len(item_ids), len(ZONES), len(LEVELS)
        shares = np.full((n_i, n_z, n_l), np.nan)
        sources = np.full((n_i, n_z, n_l), "", dtype=object)

        # central share per item: matrix override > catalogue rule
        central = np.full(n_i, np.nan)
        central_src = [""] * n_i
        overrides = doc.get("central", {})
        if not isinstance(overrides, Mapping):
            r.add("[central] must be a table of items", row="central")
            overrides = {}
        for k in overrides:
            if k not in item_ids:
                r.add("unknown item", row=f"central.{k}", value=k)
        for i, iid in enumerate(item_ids):
            if iid in overrides:
                central[i], central_src[i] = r.share(overrides[iid], f"central.{iid}")
                continue
            rule = cat.items.at[iid, "rule"]
            if rule == "five_tier" and tier and len(cat.tier_shares) == N_TIERS:
                central[i] = cat.tier_shares[tier - 1]
                central_src[i] = f"{cat.tier_source} ({province}: tier {tier})"
                if iid in cat.rule_source:  # the share holds only if the item is five_tier
                    central_src[i] = (f"{cat.rule_source[iid]}; the tier's share: "
                                      f"{central_src[i]}")
            elif iid in cat.central and tier and region:
                spec = cat.central[iid]
                central[i] = _central_share(spec, tier, region)
                where = (f"tier {tier}" if "by_tier" in spec
                         else f"region {region}" if "by_region" in spec else "all provinces")
                central_src[i] = f"{spec.get('source', '')} ({province}: {where})"

        # local split per item and zone: item block > category block > default
        local = doc.get("local", {})
        if not isinstance(local, Mapping):
            r.add("[local] must be a table", row="local")
            local = {}
        for k in local:
            if k not in ("default", "categories", "items"):
                r.add("unknown section; expected default, categories or items",
                      row=f"local.{k}")
        default = _read_zone_blocks(local.get("default", {}), "local.default", r,
                                    require_all=True)
        by_cat: dict[str, dict[str, tuple[list[float], list[str]]]] = {}
        for cid, blk in dict(local.get("categories", {})).items():
            if cid not in cat.categories:
                r.add(f"unknown category; expected one of {', '.join(cat.categories)}",
                      row=f"local.categories.{cid}", value=cid)
                continue
            by_cat[cid] = _read_zone_blocks(blk, f"local.categories.{cid}", r)
        by_item: dict[str, dict[str, tuple[list[float], list[str]]]] = {}
        for iid, blk in dict(local.get("items", {})).items():
            if iid not in item_ids:
                r.add("unknown item", row=f"local.items.{iid}", value=iid)
                continue
            by_item[iid] = _read_zone_blocks(blk, f"local.items.{iid}", r)

        for i, iid in enumerate(item_ids):
            catid = str(cat.items.at[iid, "category"])
            for z, zone in enumerate(ZONES):
                blk = (by_item.get(iid, {}).get(zone) or by_cat.get(catid, {}).get(zone)
                       or default.get(zone))
                if blk is None:
                    continue
                vals, srcs = blk
                c = central[i]
                shares[i, z, 0] = c
                sources[i, z, 0] = central_src[i]
                shares[i, z, 1:] = (1.0 - c) * np.asarray(vals)
                sources[i, z, 1:] = [f"{s} (of the local share)" for s in srcs]

        devo = doc.get("devolution")
        if devo is not None:
            if not isinstance(devo, Mapping):
                r.add("[devolution] must be a table", row="devolution")
            else:
                for k, v in devo.items():
                    where = f"devolution.{k}"
                    if k not in _DEVOLUTION_KEYS:
                        r.add(f"unknown parameter; expected one of {', '.join(_DEVOLUTION_KEYS)}",
                              row=where)
                    elif not isinstance(v, Mapping) or not _is_number(v.get("value")) \
                            or float(v["value"]) < 0:
                        r.add("must be {value = <non-negative number>, source = ...}",
                              row=where, value=v)
                    else:
                        r.source(v, where)
        if r.problems:
            raise ValidationError(r.problems, what=f"responsibility matrix {mid}")
        items = cat.items.copy()
        m = cls(id=mid, title=str(doc.get("title", mid)), items=items,
                shares=_readonly(shares), sources=_readonly(sources),
                document=copy.deepcopy(dict(doc)), base=base)
        _check_sums(m)
        return m

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, id: str = "custom", title: str = ""
                   ) -> ResponsibilityMatrix:
        """Build and validate a matrix from a wide table.

        Parameters:
            frame: one row per (item, zone): columns ``item``, ``zone``, one column per level
                (``central``, ``province``, ``city``, ``county``, ``town``; all five must be
                present), ``source`` (one per row, an article or ``assumption: …``), and
                optionally ``source`` (one per row), ``category``, ``name``, ``name_zh``.
            id: the matrix id.
            title: a title.

        Raises:
            ValidationError: unknown level columns, missing columns, unknown zones, duplicate
                (item, zone) rows, negative or non-numeric shares, shares not summing to 1,
                rows without a source — all at once.

        Example:
            >>> import pandas as pd, townfiscal as tf
            >>> m = tf.ResponsibilityMatrix.from_frame(pd.DataFrame({
            ...     "item": ["roads"], "zone": ["north"], "central": [0.0], "province": [0.5],
            ...     "city": [0.0], "county": [0.5], "town": [0.0],
            ...     "source": ["assumption: half and half"]}))
            >>> float(m.share("roads", "north")["county"])
            0.5
        """
        problems: list[Problem] = []
        known = {"item", "zone", "source", "category", "name", "name_zh", *LEVELS}
        for col in frame.columns:
            if str(col) not in known:
                problems.append(Problem(
                    f"unknown level or column; levels are {', '.join(LEVELS)}",
                    column=str(col)))
        for col in ("item", "zone", "source", *LEVELS):
            if col not in frame.columns:
                problems.append(Problem("missing column", column=col))
        if problems:
            raise ValidationError(problems, what=f"responsibility matrix {id}")
        df = frame.reset_index(drop=True)
        item = df["item"].astype(str).str.strip()
        zone = df["zone"].astype(str).str.strip()
        rowname = item + "/" + zone
        bad_zone = ~zone.isin(ZONES)
        for k in np.flatnonzero(bad_zone.to_numpy()).tolist():
            problems.append(Problem(f"unknown zone; expected one of {', '.join(ZONES)}",
                                    row=str(rowname.iat[k]), column="zone", value=zone.iat[k]))
        dup = rowname.duplicated(keep="first")
        for k in np.flatnonzero(dup.to_numpy()).tolist():
            problems.append(Problem("duplicate (item, zone) row", row=str(rowname.iat[k])))
        src = df["source"]
        no_src = src.isna() | (src.astype(str).str.strip() == "")
        for k in np.flatnonzero(no_src.to_numpy()).tolist():
            problems.append(Problem("needs a source: an article reference or "
                                    "'assumption: <why>'", row=str(rowname.iat[k]),
                                    column="source"))
        vals = np.full((len(df), len(LEVELS)), np.nan)
        for j, lvl in enumerate(LEVELS):
            num = pd.to_numeric(df[lvl], errors="coerce").to_numpy(dtype=float)
            vals[:, j] = num
            for k in np.flatnonzero(~np.isfinite(num)).tolist():
                problems.append(Problem("share must be a finite number", row=str(rowname.iat[k]),
                                        column=lvl, value=df[lvl].iat[k]))
            for k in np.flatnonzero(num < 0).tolist():
                problems.append(Problem("share must not be negative", row=str(rowname.iat[k]),
                                        column=lvl, value=float(num[k])))
        if problems:
            raise ValidationError(problems, what=f"responsibility matrix {id}")
        ids = list(pd.unique(item))
        meta = pd.DataFrame(index=pd.Index(ids, name="item"))
        first = df.assign(item=item).drop_duplicates("item").set_index("item")
        for col, default in (("category", ""), ("category_name", ""), ("category_zh", ""),
                             ("name", None), ("name_zh", "")):
            if col in first.columns:
                meta[col] = first.loc[ids, col].astype(str).to_numpy()
            else:
                meta[col] = ids if default is None else default
        meta["rule"] = "custom"
        shares = np.full((len(ids), len(ZONES), len(LEVELS)), np.nan)
        sources = np.full(shares.shape, "", dtype=object)
        ii = pd.Index(ids).get_indexer(pd.Index(item))
        zz = pd.Index(ZONES).get_indexer(pd.Index(zone))
        shares[ii, zz, :] = vals
        sources[ii, zz, :] = src.astype(str).to_numpy()[:, None]
        m = cls(id=id, title=title or id, items=meta, shares=_readonly(shares),
                sources=_readonly(sources))
        _check_sums(m)
        return m

    def parameter(self, path: str) -> tuple[float, str]:
        """A ``{value, source}`` entry of the matrix file by dotted path, as (value, source).

        Raises:
            KeyError: no such entry.
        """
        node: Any = self.document
        for k in path.split("."):
            if not isinstance(node, Mapping) or k not in node:
                raise KeyError(f"{self.id} has no entry {path!r}")
            node = node[k]
        if not isinstance(node, Mapping) or "value" not in node:
            raise KeyError(f"{path!r} is not a {{value, source}} entry")
        return float(node["value"]), str(node.get("source", ""))


_DEVOLUTION_KEYS = ("cost_per_post", "operating_cost_per_post", "supported_per_post")


def _read_zone_blocks(blk: Any, where: str, r: _Reader, *, require_all: bool = False
                      ) -> dict[str, tuple[list[float], list[str]]]:
    """``{zone: {level: {value, source}}}`` → ``{zone: ([shares by local level], [sources])}``.

    Checks zones and levels are known, every local level present, no negatives, sum 1."""
    out: dict[str, tuple[list[float], list[str]]] = {}
    if not isinstance(blk, Mapping):
        r.add("must be a table of zones", row=where)
        return out
    for zone, levels in blk.items():
        zw = f"{where}.{zone}"
        if zone not in ZONES:
            r.add(f"unknown zone; expected one of {', '.join(ZONES)}", row=zw, value=zone)
            continue
        if not isinstance(levels, Mapping):
            r.add("must be a table of levels", row=zw)
            continue
        for lvl in levels:
            if lvl == "central":
                r.add("the central share comes from the catalogue; set a province-specific one "
                      "in [central.<item>]", row=zw, column=lvl)
            elif lvl not in LOCAL_LEVELS:
                r.add(f"unknown level; expected {', '.join(LOCAL_LEVELS)}", row=zw,
                      column=str(lvl))
        vals: list[float] = []
        srcs: list[str] = []
        for lvl in LOCAL_LEVELS:
            if lvl not in levels:
                r.add("missing level: each zone lists all of "
                      f"{', '.join(LOCAL_LEVELS)}", row=zw, column=lvl)
                vals.append(math.nan)
                srcs.append("")
                continue
            v, s = r.share(levels[lvl], zw, lvl)
            vals.append(v)
            srcs.append(s)
        total = float(np.sum(vals))
        if all(math.isfinite(v) for v in vals) and abs(total - 1.0) > _TOL:
            r.add(f"local shares sum to {total:.6g}, not 1", row=zw, value=round(total, 9))
        out[str(zone)] = (vals, srcs)
    if require_all:
        for zone in ZONES:
            if zone not in out and zone not in blk:
                r.add("missing zone: the default split must cover every zone", row=where,
                      column=zone)
    return out


def _check_sums(m: ResponsibilityMatrix) -> None:
    """Every (item, zone) with shares: all levels present, none negative, sum 1."""
    s = m.shares
    have = ~np.isnan(s).all(axis=2)
    partial = have & np.isnan(s).any(axis=2)
    total = np.nansum(s, axis=2)
    bad = have & ~partial & (np.abs(total - 1.0) > _TOL)
    problems: list[Problem] = []
    for i, z in zip(*np.nonzero(partial), strict=True):
        problems.append(Problem("some levels have no share", row=f"{m.items.index[i]}/"
                                f"{m.zones[z]}"))
    for i, z in zip(*np.nonzero(bad), strict=True):
        problems.append(Problem(f"shares sum to {total[i, z]:.6g}, not 1",
                                row=f"{m.items.index[i]}/{m.zones[z]}",
                                value=round(float(total[i, z]), 9)))
    neg = np.argwhere(s < 0)
    for i, z, lv in neg:
        problems.append(Problem("share must not be negative", row=f"{m.items.index[i]}/"
                                f"{m.zones[z]}", column=m.levels[lv], value=float(s[i, z, lv])))
    if problems:
        raise ValidationError(problems, what=f"responsibility matrix {m.id}")

