"""`townfiscal allocate` with the optimiser's options."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import townfiscal as tf
from townfiscal.cli import main


def test_constraint_options_allocate_by_lp(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    """Hold-harmless, +15% cap, a floor and 万元 rounding: the table keeps them all."""
    out = tmp_path / "alloc.csv"
    code = main(["allocate", "--hold-harmless", "--growth-cap", "0.15", "--floor", "500,000",
                 "--rounding", "10000", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "status optimal" in text
    assert "GrowthCap" in text
    assert "shadow prices" in text
    table = pd.read_csv(out, dtype={"行政区划代码": str}, encoding="utf-8-sig")
    amount, prior = table["分配金额(元)"], table["上年补助(元)"]
    assert len(table) == 1_002
    assert int(amount.sum()) == 2_000_000_000
    assert (amount % 10_000 == 0).all()
    assert (amount >= 500_000).all()
    has = prior.notna()
    assert (amount[has] >= prior[has]).all()
    assert table["起作用的约束"].str.contains("增幅上限").any()  # GrowthCap, in Chinese


def test_infeasible_options_exit_1_with_the_amounts(capsys: pytest.CaptureFixture[str]) -> None:
    """A floor of 3 million for 1,002 towns needs 3.006 billion: exit status 1, named."""
    assert main(["allocate", "--floor", "3000000"]) == 1
    err = capsys.readouterr().err
    assert "need 3,006,000,000 yuan" in err
    assert "fund is 2,000,000,000 yuan" in err


def test_objective_option(capsys: pytest.CaptureFixture[str]) -> None:
    """--objective maxmin reports its unit (minus yuan per person)."""
    assert main(["allocate", "--objective", "maxmin", "--rounding", "10000"]) == 0
    assert "per person" in capsys.readouterr().out


def test_prices_that_are_not_unique_say_so(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Last year's formula amounts held harmless at the same fund pin every town: the fund's
    and the hold-harmless price print as 'not unique', not 'nan'."""
    towns = tf.load_example()
    amounts = tf.formula_allocation(towns, "guangdong-2020")["amount"]
    towns.loc[amounts.index, "prior_amount"] = amounts
    path = tmp_path / "towns.csv"
    towns.reset_index().to_csv(path, index=False)
    assert main(["allocate", "--towns", str(path), "--hold-harmless"]) == 0
    text = capsys.readouterr().out
    held = next(line for line in text.splitlines() if line.strip().startswith("HoldHarmless"))
    assert "not unique" in held
    assert held.split()[-2] == "1002"
    assert not re.search(r"\bnan\b", text)
