"""Who is eligible: the kinds of unit and the areas a policy covers (Art. 4)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from townfiscal.policy import Policy, get_policy
from townfiscal.towns import validate_towns

__all__ = ["covered_area", "eligibility", "eligible_mask"]

_KIND_ZH = {"town": "镇", "township": "乡", "subdistrict": "街道", "other": "其他"}


def covered_area(towns: pd.DataFrame, policy: Policy) -> pd.Series:
    """For each unit, the covered area (code prefix) its code falls in, or ``None``.

    An area is a province (2 digits), city (4), county (6) or a single unit (9 digits); the
    most specific one wins.
    """
    areas = policy["eligibility.areas"]
    codes = pd.Series(towns.index.astype(str), index=towns.index)
    found = pd.Series([None] * len(towns), index=towns.index, dtype=object)
    for width in (9, 6, 4, 2):
        keys = {k for k in areas if len(k) == width}
        if not keys:
            continue
        prefix = codes.str[:width]
        hit = prefix.isin(keys) & found.isna()
        found[hit] = prefix[hit]
    return found


def eligible_mask(towns: pd.DataFrame, policy: Policy) -> npt.NDArray[np.bool_]:
    """Boolean array: which units the policy covers (its kinds, in its areas)."""
    kinds = set(policy["eligibility.kinds"])
    kind_ok = towns["kind"].isin(kinds).to_numpy(dtype=bool)
    area_ok = covered_area(towns, policy).notna().to_numpy(dtype=bool)
    return kind_ok & area_ok


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
