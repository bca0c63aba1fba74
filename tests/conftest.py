"""Shared fixtures: the bundled example and a small hand-computed table."""

from __future__ import annotations

import pandas as pd
import pytest

import townfiscal as tf


@pytest.fixture(scope="session")
def example() -> pd.DataFrame:
    """The bundled Guangdong example (validated)."""
    return tf.load_example()


def hand_table() -> pd.DataFrame:
    """Three covered towns with round figures, plus three units the 2020 policy excludes.

    Factor means over the covered towns: supported 200, registered 40,000, capacity per
    supported person 150,000 yuan, expenditure per resident 2,000 yuan.
    """
    rows = [
        # code, name, county, city, zone, supported, registered, resident,
        # capacity, expenditure, prior
        (
            "441521100",
            "甲镇",
            "海丰县",
            "汕尾市",
            "east_wing",
            100,
            20_000,
            20_000,
            10_000_000,
            20_000_000,
            1_000_000,
        ),
        (
            "441402101",
            "乙镇",
            "梅江区",
            "梅州市",
            "north",
            300,
            60_000,
            40_000,
            60_000_000,
            120_000_000,
            1_200_000,
        ),
        (
            "441402200",
            "丙乡",
            "梅江区",
            "梅州市",
            "north",
            200,
            40_000,
            30_000,
            30_000_000,
            60_000_000,
            1_100_000,
        ),
        (
            "441502001",
            "丁街道",
            "城区",
            "汕尾市",
            "east_wing",
            0,
            90_000,
            95_000,
            90_000_000,
            80_000_000,
            None,
        ),
        (
            "440114100",
            "戊镇",
            "花都区",
            "广州市",
            "core",
            250,
            50_000,
            70_000,
            80_000_000,
            150_000_000,
            None,
        ),
        (
            "440705100",
            "己镇",
            "新会区",
            "江门市",
            "core",
            250,
            50_000,
            70_000,
            80_000_000,
            150_000_000,
            None,
        ),
    ]
    cols = [
        "code",
        "name",
        "county",
        "city",
        "zone",
        "supported_population",
        "registered_population",
        "resident_population",
        "fiscal_capacity",
        "expenditure",
        "prior_amount",
    ]
    return pd.DataFrame(rows, columns=cols)


@pytest.fixture
def hand() -> pd.DataFrame:
    """The hand-computed table (see :func:`hand_table`)."""
    return hand_table()
