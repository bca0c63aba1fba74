"""Synthetic fiscal attributes on the real list of township-level units.

Only the codes, names, counties and cities are real (NBS division codes, cut-off 2022-10-31,
bundled in ``divisions/``). Every number — populations, supported population, area, fiscal
capacity, expenditure and last year's subsidy — is drawn from a seeded generator with the
distributions documented in :func:`make_towns`. The figures are **synthetic**: plausible in
scale for each zone, not the statistics of any real town.

Regenerate the bundled example with ``python -m townfiscal.datasets``.
"""

from __future__ import annotations

import gzip
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from townfiscal._towns import kind_from_code, validate_towns

__all__ = ["GUANGDONG_ZONES", "SEED", "divisions", "make_towns", "write_example"]

SEED = 20200910
"""Default seed: the date of the seed article (Southern Daily, 2020-09-10)."""

GUANGDONG_ZONES: dict[str, str] = {
    # one core: the Pearl River Delta
    "4401": "core",
    "4403": "core",
    "4404": "core",
    "4406": "core",
    "4407": "core",
    "4412": "core",
    "4413": "core",
    "4419": "core",
    "4420": "core",
    # the coastal belt's east wing
    "4405": "east_wing",
    "4415": "east_wing",
    "4451": "east_wing",
    "4452": "east_wing",
    # the coastal belt's west wing
    "4408": "west_wing",
    "4409": "west_wing",
    "4417": "west_wing",
    # the northern ecological development zone
    "4402": "north",
    "4414": "north",
    "4416": "north",
    "4418": "north",
    "4453": "north",
}
"""Guangdong's cities by zone of "one core, one belt, one zone" (一核一带一区), RULES.md §2."""

# Medians of the synthetic distributions by zone (documented in make_towns).
_ZONE_PARAMS = pd.DataFrame(
    {
        # medians by zone: registered population, resident/registered, area (km²),
        # capacity per supported person (yuan), spending per resident (yuan)
        "registered": [55_000, 58_000, 52_000, 26_000],
        "resident_ratio": [1.35, 0.85, 0.88, 0.78],
        "area": [70.0, 45.0, 95.0, 190.0],
        "capacity_pc": [240_000.0, 118_000.0, 124_000.0, 136_000.0],
        "spending_pc": [2_600.0, 1_250.0, 1_350.0, 2_000.0],
    },
    index=["core", "east_wing", "west_wing", "north"],
)
_PRIOR_TOTAL = 1_857_010_214  # 2,000,000,000 / 1.077, RULES.md §1: 2020 was +7.7% on 2019


def _read_gz(name: str) -> pd.DataFrame:
    ref = resources.files("townfiscal.datasets") / "divisions" / f"{name}.csv.gz"
    with ref.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str)


def divisions() -> pd.DataFrame:
    """The real national list of township-level units (41,352 rows, NBS codes, 2022).

    Columns: ``code``, ``name``, ``county_code``, ``county``, ``city_code``, ``city``,
    ``province_code``, ``province``, ``kind`` (from the code).
    """
    streets = _read_gz("streets")
    areas = _read_gz("areas").set_index("code")["name"]
    cities = _read_gz("cities").set_index("code")["name"]
    provinces = _read_gz("provinces").set_index("code")["name"]
    out = pd.DataFrame(
        {
            "code": streets["code"],
            "name": streets["name"],
            "county_code": streets["areaCode"],
            "city_code": streets["cityCode"],
            "province_code": streets["provinceCode"],
        }
    )
    out["province"] = out["province_code"].map(provinces).fillna("")
    city = out["city_code"].map(cities).fillna("")
    generic = city.isin(["市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"]) | (
        city == ""
    )
    out["city"] = city.where(~generic, out["province"] + city)
    county = out["county_code"].map(areas).fillna("")
    out["county"] = county.where(county != "", out["city"])
    out["kind"] = kind_from_code(out["code"]).to_numpy()
    return out


def _zones(units: pd.DataFrame, rng: np.random.Generator) -> pd.Series:
    """Real zones in Guangdong; elsewhere a synthetic zone drawn once per city."""
    zone = units["city_code"].map(GUANGDONG_ZONES)
    other = zone.isna()
    if other.any():
        cities = np.unique(units.loc[other, "city_code"].to_numpy())
        drawn = rng.choice(
            _ZONE_PARAMS.index.to_numpy(), size=cities.size, p=[0.25, 0.2, 0.2, 0.35]
        )
        zone[other] = units.loc[other, "city_code"].map(dict(zip(cities, drawn, strict=True)))
    return zone


def make_towns(
    scope: str | int = "guangdong", *, seed: int = SEED, prior_total: float | None = None
) -> pd.DataFrame:
    """A towns table with real codes and names and synthetic fiscal figures.

    Parameters
    ----------
    scope:
        ``"guangdong"`` (the 1,757 units of province 44, the bundled example), ``"china"``
        (all 41,352 units), a 2-digit province code (e.g. ``"45"``), or a number *n* for *n*
        units drawn at random from the national list.
    seed:
        Seed of the generator; the same seed gives the same table.
    prior_total:
        Total of last year's amounts over the towns and townships of the scope (yuan). For
        Guangdong it defaults to 1,857,010,214 yuan over the eligible towns (2 billion in
        2020 was +7.7% on 2019); elsewhere to 1,850,000 yuan per town or township.

    Returns
    -------
    pandas.DataFrame, validated, indexed by code.

    Raises
    ------
    ValueError
        When *scope* is none of the forms above, or a province code that names no province.

    Notes
    -----
    Every figure is synthetic. Per unit, with medians by zone (core, east wing, west wing,
    north) and a lognormal spread:

    * registered population: medians 55,000 / 58,000 / 52,000 / 26,000, σ = 0.55 (log);
      subdistricts × 1.6, other units (farms, parks) × 0.25;
    * resident population: registered × 1.35 / 0.85 / 0.88 / 0.78, σ = 0.12;
    * fiscally-supported population: 60 + 0.45 % of the registered population, σ = 0.25;
    * area: medians 70 / 45 / 95 / 190 km², σ = 0.6;
    * fiscal capacity: supported population × a per-capita capacity with medians
      240,000 / 118,000 / 124,000 / 136,000 yuan, σ = 0.35; subdistricts × 1.5;
    * general budget expenditure: resident population × medians 2,600 / 1,250 / 1,350 /
      2,000 yuan, σ = 0.3;
    * last year's amount (towns and townships only; blank elsewhere): proportional to the
      2020 composite coefficient (Art. 6) times a lognormal noise of σ = 0.08, scaled to
      *prior_total* and rounded to whole yuan.

    Examples
    --------
    >>> towns = make_towns("guangdong")
    >>> len(towns), int(towns["kind"].value_counts()["town"])
    (1757, 1117)
    """
    rng = np.random.default_rng(seed)
    units = divisions()
    if isinstance(scope, int) and not 1 <= scope <= 41_352:
        raise ValueError(f"a number of units must be from 1 to 41,352, got {scope}")
    if isinstance(scope, int):
        pick = np.sort(rng.choice(len(units), size=min(scope, len(units)), replace=False))
        units = units.iloc[pick]
    elif scope == "guangdong":
        units = units[units["province_code"] == "44"]
    elif scope != "china":
        if not (isinstance(scope, str) and scope.isdigit() and len(scope) == 2):
            raise ValueError(
                f"scope must be 'guangdong', 'china', a 2-digit province code or a "
                f"number of units, got {scope!r}"
            )
        units = units[units["province_code"] == scope]
        if units.empty:
            raise ValueError(f"no province with code {scope!r}")
    units = units.reset_index(drop=True)
    n = len(units)
    zone = _zones(units, rng)
    p = _ZONE_PARAMS.loc[zone.to_numpy()].reset_index(drop=True)
    kind = units["kind"]
    kind_pop = np.select([kind == "subdistrict", kind == "other"], [1.6, 0.25], default=1.0)

    def lognormal(median: np.ndarray, sigma: float) -> np.ndarray:
        return np.asarray(median * rng.lognormal(0.0, sigma, size=n))

    registered = np.maximum(np.round(lognormal(p["registered"].to_numpy() * kind_pop, 0.55)), 300)
    resident = np.maximum(
        np.round(registered * lognormal(p["resident_ratio"].to_numpy(), 0.12)), 200
    )
    supported = np.round(60 + lognormal(0.0045 * registered, 0.25))
    area = np.round(lognormal(p["area"].to_numpy(), 0.6), 2)
    capacity_pc = lognormal(p["capacity_pc"].to_numpy(), 0.35) * np.where(
        kind == "subdistrict", 1.5, 1.0
    )
    capacity = np.round(supported * capacity_pc)
    expenditure = np.round(resident * lognormal(p["spending_pc"].to_numpy(), 0.3))
    noise = rng.lognormal(0.0, 0.08, size=n)

    towns = pd.DataFrame(
        {
            "code": units["code"],
            "name": units["name"],
            "kind": kind,
            "county": units["county"],
            "city": units["city"],
            "zone": zone,
            "registered_population": registered,
            "resident_population": resident,
            "supported_population": supported,
            "area_km2": area,
            "fiscal_capacity": capacity,
            "expenditure": expenditure,
            "prior_amount": np.nan,
        }
    )
    towns = validate_towns(towns)
    towns["prior_amount"] = _prior_amounts(towns, noise, scope, prior_total)
    return towns


def _prior_amounts(
    towns: pd.DataFrame, noise: np.ndarray, scope: str | int, prior_total: float | None
) -> pd.Series:
    """Last year's amounts: the 2020 composite coefficient × noise, scaled to the total."""
    from townfiscal._policy import get_policy
    from townfiscal._rounding import round_to_total
    from townfiscal.rules._eligibility import eligible_mask
    from townfiscal.rules._factors import composite_coefficient, factor_coefficients

    policy = get_policy("guangdong-2020")
    if scope != "guangdong":
        provinces = sorted({c[:2] for c in towns.index})
        policy = policy.with_changes(
            {"eligibility.areas": {p: p for p in provinces}},
            id="synthetic-prior",
            reason="synthetic data",
        )
        total = prior_total
    else:
        total = prior_total if prior_total is not None else _PRIOR_TOTAL
    pool = eligible_mask(towns, policy)
    coefs, _ = factor_coefficients(towns, policy, pool)
    c, _ = composite_coefficient(coefs, towns.loc[pool, "zone"], policy)
    weights = c * noise[pool]
    if total is None:
        total = 1_850_000 * int(pool.sum())
    amounts = round_to_total(float(total) * weights / weights.sum(), round(total))
    out = pd.Series(np.nan, index=towns.index)
    out[pool] = amounts.astype(np.float64)
    return out


def write_example(path: str | Path | None = None) -> Path:
    """Write the bundled example (``guangdong.csv``) from the generator; returns its path."""
    target = Path(path) if path else Path(__file__).with_name("guangdong.csv")
    towns = make_towns("guangdong")
    out = towns.reset_index()
    for col in (
        "registered_population",
        "resident_population",
        "supported_population",
        "fiscal_capacity",
        "expenditure",
    ):
        out[col] = out[col].astype(np.int64)
    out["prior_amount"] = out["prior_amount"].astype("Int64")
    out.to_csv(target, index=False, lineterminator="\n")
    return target
