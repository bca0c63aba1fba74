"""Every transfer a town receives: the weak-town subsidy and the flat programmes beside it.

Programmes are data (``programmes/<id>.toml``): a fixed amount per town in scope per year
(300,000 yuan for People's Congress work, source notes §1), a total spread over a countable thing
(740 million yuan for 542 police stations over 2019–2021), or the weak-town formula itself.
:func:`transfers` puts them side by side, one row per town, with a ``total``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from townfiscal._errors import Problem, ValidationError
from townfiscal._rounding import round_to_total
from townfiscal.policy import Policy, get_policy
from townfiscal.rules import eligible_mask, formula_allocation
from townfiscal.towns import validate_towns

__all__ = ["Programme", "Programmes", "get_programmes", "list_programmes", "transfers"]

KINDS = ("formula", "per_unit", "per_count")
SCOPES = ("eligible", "all")
_DIR = Path(__file__).parent / "programmes"
_CARRIED = ("name", "kind", "county", "city", "zone")


@attrs.frozen
class Programme:
    """One programme of transfers to towns.

    Read from a :class:`Programmes` set (``get_programmes()["peoples_congress"]``); frozen.

    Attributes
    ----------
    id:
        Column name in :func:`transfers` (``peoples_congress``).
    name, name_zh:
        English and Chinese names.
    kind:
        ``formula`` (the weak-town subsidy formula), ``per_unit`` or ``per_count``.
    default:
        Whether it is included when :func:`transfers` is not told which programmes to use.
    rate:
        Yuan per unit per year (``per_unit``: per town; ``per_count``: per counted thing,
        ``total / (count × years)``); ``None`` for ``formula``.
    scope:
        ``eligible`` (the towns the policy covers) or ``all``.
    column:
        The towns-table column counted by a ``per_count`` programme (e.g. police stations);
        ``None`` otherwise.
    source:
        Where the figures come from (articles and assumptions).
    published_count:
        The number of units (towns, stations) the source gives, for reconciliation; or
        ``None``.

    Examples
    --------
    >>> p = get_programmes("guangdong-2020")["peoples_congress"]
    >>> p.kind, p.rate, p.scope, p.published_count
    ('per_unit', 300000.0, 'eligible', 998)
    """

    id: str
    name: str
    name_zh: str
    kind: str
    default: bool
    rate: float | None
    scope: str
    column: str | None
    source: str
    published_count: int | None = None


@attrs.frozen(eq=False, repr=False)
class Programmes:
    """A set of programmes (one file). Iterates over its :class:`Programme` objects.

    Index it by programme id (``programmes["peoples_congress"]``, a :class:`KeyError` for an
    unknown id). Get one with :func:`get_programmes`.

    Attributes
    ----------
    id:
        The set's id as its file gives it (``"guangdong-2020"``; ``"custom"`` if none).
    title:
        What the set covers, in words.
    programmes:
        The :class:`Programme` objects, in file order.

    Examples
    --------
    >>> ps = get_programmes("guangdong-2020")
    >>> ps.ids
    ['weak_town_subsidy', 'peoples_congress', 'police_stations']
    >>> ps.defaults
    ['weak_town_subsidy', 'peoples_congress']
    >>> ps["weak_town_subsidy"].kind
    'formula'
    """

    id: str
    title: str
    programmes: tuple[Programme, ...]

    def __iter__(self) -> Iterator[Programme]:
        return iter(self.programmes)

    def __getitem__(self, pid: str) -> Programme:
        for p in self.programmes:
            if p.id == pid:
                return p
        raise KeyError(f"no programme {pid!r} in {self.id}; known: {', '.join(self.ids)}")

    @property
    def ids(self) -> list[str]:
        """Programme ids, in file order."""
        return [p.id for p in self.programmes]

    @property
    def defaults(self) -> list[str]:
        """Ids of the programmes included by default."""
        return [p.id for p in self.programmes if p.default]

    def to_frame(self) -> pd.DataFrame:
        """One row per programme: its attributes."""
        return pd.DataFrame([attrs.asdict(p) for p in self.programmes]).set_index("id")

    def __repr__(self) -> str:
        from townfiscal._html import programmes_text

        return programmes_text(self)

    def _repr_html_(self) -> str:
        """A compact summary for Jupyter: the set's title and a table of its programmes."""
        from townfiscal._html import programmes_html

        return programmes_html(self)


def list_programmes() -> list[str]:
    """Ids of the bundled programme sets, sorted.

    Returns
    -------
    list of str
        Ids accepted by :func:`get_programmes`.

    Examples
    --------
    >>> list_programmes()
    ['guangdong-2020']
    """
    return sorted(p.stem for p in _DIR.glob("*.toml"))


def get_programmes(id_or_path: str | Path = "guangdong-2020") -> Programmes:
    """A programme set, by bundled id or from a TOML file.

    Parameters
    ----------
    id_or_path:
        A bundled set's id (see :func:`list_programmes`) or the path of a ``.toml`` file
        in the same format.

    Returns
    -------
    Programmes
        The set, with each programme's rates in yuan per unit per year.

    Raises
    ------
    KeyError
        When there is no such bundled set and no such ``.toml`` file.
    ValidationError
        For a malformed file (unknown kinds or scopes, amounts that are missing, negative or
        without a source) — every problem at once.

    Examples
    --------
    >>> import townfiscal as tf
    >>> tf.get_programmes()["peoples_congress"].rate
    300000.0
    """
    key = str(id_or_path)
    if key in list_programmes():
        return _bundled(key)
    path = Path(key)
    if path.suffix == ".toml" and path.exists():
        with path.open("rb") as fh:
            return _build(tomllib.load(fh))
    raise KeyError(f"no programme set {key!r}; bundled: {', '.join(list_programmes())}")


@cache
def _bundled(key: str) -> Programmes:
    with (_DIR / f"{key}.toml").open("rb") as fh:
        return _build(tomllib.load(fh))


def _value(entry: Any, where: str, problems: list[Problem], *, positive: bool = False
           ) -> tuple[float, str]:
    if not isinstance(entry, Mapping):
        problems.append(Problem("must be {value = <number>, source = \"...\"}", row=where,
                                value=entry))
        return np.nan, ""
    src = entry.get("source")
    if not isinstance(src, str) or not src.strip():
        problems.append(Problem("needs a source: an article reference or 'assumption: <why>'",
                                row=where))
        src = ""
    v = entry.get("value")
    if not isinstance(v, int | float) or isinstance(v, bool) or not np.isfinite(v):
        problems.append(Problem("must be a finite number", row=where, value=v))
        return np.nan, str(src)
    if v < 0 or (positive and v == 0):
        problems.append(Problem("must be positive" if positive else "must not be negative",
                                row=where, value=v))
    return float(v), str(src)


def _build(doc: Mapping[str, Any]) -> Programmes:
    problems: list[Problem] = []
    out: list[Programme] = []
    progs = doc.get("programmes", {})
    if not isinstance(progs, Mapping) or not progs:
        problems.append(Problem("needs a [programmes.<id>] table per programme",
                                row="programmes"))
        progs = {}
    for pid, p in progs.items():
        where = f"programmes.{pid}"
        if not isinstance(p, Mapping):
            problems.append(Problem("must be a table", row=where))
            continue
        kind = str(p.get("kind", ""))
        if kind not in KINDS:
            problems.append(Problem(f"unknown kind; expected one of {', '.join(KINDS)}",
                                    row=where, column="kind", value=kind))
            continue
        scope_entry = p.get("scope", {"value": "eligible", "source": "default"})
        scope = str(scope_entry.get("value", "")) if isinstance(scope_entry, Mapping) else ""
        if scope not in SCOPES:
            problems.append(Problem(f"unknown scope; expected one of {', '.join(SCOPES)}",
                                    row=where, column="scope", value=scope_entry))
        sources: list[str] = []
        rate: float | None = None
        column: str | None = None
        count: int | None = None
        if kind == "formula":
            sources.append(str(p.get("source", "")))
        elif kind == "per_unit":
            rate, src = _value(p.get("amount"), f"{where}.amount", problems)
            sources.append(src)
            if "published_count" in p:
                c, _ = _value(p["published_count"], f"{where}.published_count", problems)
                count = int(c) if np.isfinite(c) else None
        else:
            column = p.get("column")
            if not isinstance(column, str) or not column:
                problems.append(Problem("a per_count programme names the towns-table column "
                                        "it counts", row=where, column="column"))
                column = None
            total, s1 = _value(p.get("total"), f"{where}.total", problems)
            n, s2 = _value(p.get("count"), f"{where}.count", problems, positive=True)
            years, s3 = _value(p.get("years"), f"{where}.years", problems, positive=True)
            spread = p.get("spread", {})
            if not isinstance(spread, Mapping) or spread.get("value") != "even":
                problems.append(Problem("spread must be {value = \"even\", source = ...}",
                                        row=f"{where}.spread", value=spread))
            sources += [s1, s2, s3, str(spread.get("source", "")
                                        if isinstance(spread, Mapping) else "")]
            if np.isfinite(total) and np.isfinite(n) and np.isfinite(years) and n > 0 \
                    and years > 0:
                rate = total / (n * years)
            count = int(n) if np.isfinite(n) else None
        if isinstance(scope_entry, Mapping) and scope_entry.get("source"):
            sources.append(f"scope: {scope_entry['source']}")
        out.append(Programme(id=str(pid), name=str(p.get("name", pid)),
                             name_zh=str(p.get("name_zh", "")), kind=kind,
                             default=bool(p.get("default", True)), rate=rate, scope=scope,
                             column=column, source="; ".join(s for s in sources if s),
                             published_count=count))
    if sum(p.kind == "formula" for p in out) > 1:
        problems.append(Problem("at most one formula programme", row="programmes"))
    if problems:
        raise ValidationError(problems, what=f"programmes {doc.get('id', '')}")
    return Programmes(id=str(doc.get("id", "custom")), title=str(doc.get("title", "")),
                      programmes=tuple(out))


def transfers(towns: pd.DataFrame, policy: Policy | str, fund: float | None = None, *,
              programmes: Programmes | str = "guangdong-2020",
              include: Sequence[str] | None = None,
              subsidy: pd.Series | None = None) -> pd.DataFrame:
    """Every transfer each town receives in a year: one column per programme and a total.

    Parameters
    ----------
    towns:
        A towns table (validated here); a ``per_count`` programme reads its column
        (e.g. ``police_stations``: stations in the town).
    policy:
        The weak-town policy (or id): its eligibility sets the ``eligible`` scope and its
        formula gives the weak-town subsidy.
    fund:
        The weak-town fund, yuan (default: the policy's).
    programmes:
        A :class:`Programmes` set or its id.
    include:
        Programme ids to include, in order (default: the set's defaults — the weak-town
        subsidy and People's Congress funds).
    subsidy:
        Amounts of the weak-town subsidy by town code, yuan (e.g. ``alloc.amounts`` from the
        optimiser) to use instead of the formula; towns absent get 0.

    Returns
    -------
    pandas.DataFrame
        Indexed by code over every town of the table: ``name``, ``kind``, ``county``,
        ``city``, ``zone``, ``eligible``, one int64 yuan column per programme and ``total``
        (int64 yuan, their sum). ``.attrs`` records the policy, fund, programmes, the number
        of units each programme pays (``units_paid``) and the counts the sources publish
        (``published_counts``: 998 towns for People's Congress funds, 542 stations), for
        reconciling the data with the articles.

    Raises
    ------
    KeyError
        For an unknown programme id in ``include``.
    ValidationError
        When the towns table is invalid, a ``per_count`` column is missing or holds negative
        or fractional counts, ``subsidy`` has codes not in the table or amounts that are not
        whole non-negative yuan — every problem at once.

    Examples
    --------
    >>> import townfiscal as tf
    >>> tr = tf.transfers(tf.load_example(), "guangdong-2020", fund=2_000_000_000)
    >>> int(tr["weak_town_subsidy"].sum()), int(tr["peoples_congress"].sum())
    (2000000000, 300600000)
    >>> int(tr.loc["441581101", "total"])
    3571065
    """
    pol = get_policy(policy) if isinstance(policy, str) else policy
    progs = get_programmes(programmes) if isinstance(programmes, str) else programmes
    chosen = [progs[i] for i in (include if include is not None else progs.defaults)]
    t = validate_towns(towns)
    eligible = eligible_mask(t, pol)
    out = t[[c for c in _CARRIED if c in t.columns]].copy()
    out["eligible"] = eligible
    problems: list[Problem] = []
    columns: dict[str, npt.NDArray[np.int64]] = {}
    for p in chosen:
        in_scope = eligible if p.scope == "eligible" else np.ones(len(t), dtype=bool)
        if p.kind == "formula":
            if subsidy is None:
                fa = formula_allocation(t, pol, fund)
                columns[p.id] = fa["amount"].reindex(t.index, fill_value=0).to_numpy(
                    dtype=np.int64)
            else:
                columns[p.id] = _given_subsidy(subsidy, t.index, problems)
        elif p.kind == "per_unit":
            assert p.rate is not None
            columns[p.id] = np.where(in_scope, np.int64(round(p.rate)), 0).astype(np.int64)
        else:
            assert p.rate is not None
            assert p.column is not None
            if p.column not in t.columns:
                problems.append(Problem(f"programme {p.id} counts this column; add it to the "
                                        "towns table", column=p.column))
                continue
            n = _counts(t[p.column], p.column, t.index, problems)
            raw = np.where(in_scope, n * p.rate, 0.0)
            columns[p.id] = (round_to_total(raw, round(float(raw.sum())),
                                            codes=list(t.index))
                             if raw.sum() > 0 else np.zeros(len(t), dtype=np.int64))
    if problems:
        raise ValidationError(problems, what="transfers request")
    for pid, col in columns.items():
        out[pid] = col
    out["total"] = (np.sum(np.vstack(list(columns.values())), axis=0) if columns
                    else np.zeros(len(t), dtype=np.int64)).astype(np.int64)
    out.attrs.update({
        "policy": pol.id, "policy_hash": pol.hash, "fund": fund, "programmes": progs.id,
        "included": [p.id for p in chosen],
        "units_paid": {pid: int((col > 0).sum()) for pid, col in columns.items()},
        "published_counts": {p.id: p.published_count for p in chosen
                             if p.published_count is not None},
    })
    return out


def _counts(values: pd.Series, column: str, codes: pd.Index, problems: list[Problem]
            ) -> npt.NDArray[np.float64]:
    raw = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    raw = np.where(values.isna().to_numpy(dtype=bool), 0.0, raw)
    bad = ~np.isfinite(raw) | (raw < 0) | (raw != np.round(raw))
    for k in np.flatnonzero(bad).tolist():
        problems.append(Problem("must be a whole number ≥ 0 (blank = 0)", row=str(codes[k]),
                                column=column, value=values.iat[k]))
    return np.where(bad, 0.0, raw)


def _given_subsidy(subsidy: pd.Series, index: pd.Index, problems: list[Problem]
                   ) -> npt.NDArray[np.int64]:
    s = subsidy.copy()
    s.index = s.index.astype(str)
    for code in s.index.difference(index):
        problems.append(Problem("subsidy for a town not in the towns table", row=str(code),
                                column="weak_town_subsidy", value=s[code]))
    v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    for k in np.flatnonzero(~np.isfinite(v) | (v < 0) | (v != np.round(v))).tolist():
        problems.append(Problem("must be whole non-negative yuan", row=str(s.index[k]),
                                column="weak_town_subsidy", value=s.iat[k]))
    clean = pd.Series(np.where(np.isfinite(v), v, 0.0), index=s.index)
    filled = clean.reindex(index, fill_value=0).to_numpy(dtype=np.float64)
    return np.round(filled).astype(np.int64)
