"""Synthetic fiscal attributes on the real list of township-level units.

Only the codes, names, counties and cities are real (NBS division codes, cut-off 2022-10-31,
bundled in ``data/divisions/``). Every number — populations, supported population, area,
fiscal capacity and expenditure — is drawn from a seeded generator with the distributions
documented in :func:`townfiscal.make_towns`. The figures are **synthetic**: plausible in scale
for each zone, not the statistics of any real town. Last year's amounts follow the rules'
composite coefficient, so they are added a layer up, in :mod:`townfiscal.rules._synthetic`.
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources

import numpy as np
import numpy.typing as npt
import pandas as pd

from townfiscal.towns._columns import kind_from_code
from townfiscal.towns._validate import validate_towns

__all__ = ["GUANGDONG_ZONES", "SEED", "divisions", "synthetic_figures"]

SEED = 20200910
"""Default seed: the date of the seed article (南方新闻网, Southern Daily's news site)."""

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
"""Guangdong's cities by zone of "one core, one belt, one zone" (一核一带一区), source notes §2."""

@functools.cache
def _zone_params() -> pd.DataFrame:
    """Medians of the synthetic distributions by zone (documented in make_towns).

    Built on first use, not at import: the first frame with text labels pandas makes loads
    pyarrow's pandas layer, which ``import townfiscal`` need not pay for.
    """
    return pd.DataFrame(
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


def _read_gz(name: str) -> pd.DataFrame:
    ref = resources.files("townfiscal.towns") / "data" / "divisions" / f"{name}.csv.gz"
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
            _zone_params().index.to_numpy(), size=cities.size, p=[0.25, 0.2, 0.2, 0.35]
        )
        zone[other] = units.loc[other, "city_code"].map(dict(zip(cities, drawn, strict=True)))
    return zone


def synthetic_figures(
    scope: str | int = "guangdong", *, seed: int = SEED
) -> tuple[pd.DataFrame, npt.NDArray[np.float64]]:
    """Real units with synthetic fiscal figures, validated, and each unit's prior-amount noise.

    The first half of :func:`townfiscal.make_towns` (documented there, with the
    distributions): everything but last year's amounts, which come from the rules. The noise
    (lognormal, σ = 0.08) is drawn here, in the generator's stream, so that one seed gives one
    table.
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
    p = _zone_params().loc[zone.to_numpy()].reset_index(drop=True)
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
    return validate_towns(towns), noise
