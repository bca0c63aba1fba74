"""Who is eligible: the kinds of unit and the areas a policy covers (Art. 4)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from townfiscal.policy import Policy, get_policy
from townfiscal.towns import validate_towns

__all__ = ["covered_area", "eligibility", "eligible_arrays", "eligible_mask"]

_KIND_ZH = {"town": "镇", "township": "乡", "subdistrict": "街道", "other": "其他"}


def _members(values: npt.NDArray[Any], allowed: Iterable[str]) -> npt.NDArray[np.bool_]:
    """Whether each value is one of a few allowed labels (vectorised: one comparison each)."""
    out = np.zeros(values.shape, dtype=bool)
    for label in set(allowed):
        out |= values == label
    return out


def _area_index(codes: npt.NDArray[Any], areas: Mapping[str, str]) -> npt.NDArray[np.int64]:
    """Per code, the position in ``sorted(areas)`` of the most specific area it falls in
    (-1: none), by prefix width: a single unit (9 digits), county (6), city (4), province (2).

    Vectorised: the codes as fixed-width strings, each width's prefixes looked up in the
    sorted area codes by binary search.
    """
    keys = np.array(sorted(areas), dtype="U9") if areas else np.zeros(0, dtype="U9")
    found = np.full(codes.shape, -1, dtype=np.int64)
    if keys.size == 0 or codes.size == 0:
        return found
    text = codes.astype("U9")
    widths = np.char.str_len(keys)
    for width in (9, 6, 4, 2):
        mine = np.flatnonzero(widths == width)
        if mine.size == 0:
            continue
        prefix = text.astype(f"U{width}")
        pos = np.searchsorted(keys[mine], prefix)
        pos = np.minimum(pos, mine.size - 1)
        hit = (keys[mine][pos] == prefix) & (found < 0)
        found[hit] = mine[pos[hit]]
    return found


def covered_area(towns: pd.DataFrame, policy: Policy) -> pd.Series:
    """For each unit, the covered area (code prefix) its code falls in, or ``None``.

    An area is a province (2 digits), city (4), county (6) or a single unit (9 digits); the
    most specific one wins.
    """
    areas = policy["eligibility.areas"]
    keys = np.array([*sorted(areas), None], dtype=object)  # -1 (none) picks the None
    idx = _area_index(towns.index.to_numpy(dtype=object), areas)
    return pd.Series(keys[idx], index=towns.index, dtype=object)


def eligible_arrays(codes: npt.NDArray[Any], kinds: npt.NDArray[Any],
                    policy: Policy) -> npt.NDArray[np.bool_]:
    """:func:`eligible_mask` on arrays: the codes (9-digit str) and kinds of the units."""
    kind_ok = _members(kinds, policy["eligibility.kinds"])
    return kind_ok & (_area_index(codes, policy["eligibility.areas"]) >= 0)


def eligible_mask(towns: pd.DataFrame, policy: Policy) -> npt.NDArray[np.bool_]:
    """Boolean array: which units the policy covers (its kinds, in its areas)."""
    return eligible_arrays(towns.index.to_numpy(dtype=object),
                           towns["kind"].to_numpy(dtype=object), policy)


def eligibility(towns: pd.DataFrame, policy: Policy | str) -> pd.DataFrame:
    """Which units a policy covers, and why or why not.

    Eligible are the units whose kind is among ``eligibility.kinds`` (towns and townships
    under the Guangdong measures; not subdistricts or other units) and whose code falls in
    one of ``eligibility.areas`` (province, city or county code prefixes, or single units'
    codes) — Art. 4 of the Guangdong measures.

    Parameters
    ----------
    towns:
        A towns table (validated here if it is not yet).
    policy:
        A :class:`~townfiscal.Policy` or a policy id.

    Returns
    -------
    pandas.DataFrame indexed by code with ``eligible`` (bool) and ``reason`` (str).

    Raises
    ------
    ValidationError
        When the towns table is invalid.

    Examples
    --------
    >>> import townfiscal as tf
    >>> e = tf.eligibility(tf.load_example(), "guangdong-2020")
    >>> int(e["eligible"].sum())
    1002
    """
    pol = get_policy(policy)
    towns = validate_towns(towns)
    policy_areas = pol["eligibility.areas"]
    kinds = set(pol["eligibility.kinds"])
    area = covered_area(towns, pol)
    kind = towns["kind"]
    kind_ok = kind.isin(kinds)
    area_ok = area.notna()
    kind_label = kind.map(lambda k: f"{k} ({_KIND_ZH.get(k, k)})")
    area_name = area.map(lambda a: policy_areas.get(a, "") if a is not None else "")
    city = towns["city"].astype(str)
    allowed = " and ".join(f"{k}s" for k in pol["eligibility.kinds"])
    reason = np.where(
        kind_ok & area_ok,
        "covered: " + kind_label + " in " + area_name,
        np.where(
            ~kind_ok,
            "not covered: " + kind_label + f" — only {allowed} are covered",
            "not covered: " + city + " is outside the covered areas",
        ),
    )
    return pd.DataFrame(
        {"eligible": (kind_ok & area_ok).to_numpy(dtype=bool), "reason": reason},
        index=towns.index,
    )
