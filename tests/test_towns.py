"""The towns table: headers in English or Chinese, units, kinds, validation, file formats."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import townfiscal as tf


def test_chinese_headers_and_wan_marked_columns_are_read(tmp_path, hand):
    """Chinese headers map to canonical names; a "(万元)" header is converted to yuan."""
    zh = hand.rename(
        columns={
            "code": "行政区划代码",
            "name": "名称",
            "county": "县(市、区)",
            "city": "地级市",
            "zone": "区域",
            "supported_population": "财政供养人口",
            "registered_population": "户籍人口",
            "resident_population": "常住人口",
            "fiscal_capacity": "可用财力(万元)",
            "expenditure": "一般公共预算支出（元）",
            "prior_amount": "上年补助(万元)",
        }
    )
    zh["可用财力(万元)"] = hand["fiscal_capacity"] / 10_000
    zh["上年补助(万元)"] = hand["prior_amount"] / 10_000
    zh["区域"] = ["东翼", "北部生态发展区", "北部", "东翼", "珠三角核心区", "核心区"]
    path = tmp_path / "towns.csv"
    zh.to_csv(path, index=False, encoding="utf-8-sig")
    towns = tf.read_towns(path)
    assert towns.index.name == "code"
    assert towns.loc["441521100", "fiscal_capacity"] == 10_000_000
    assert towns.loc["441402101", "prior_amount"] == 1_200_000
    assert towns.loc["441402101", "expenditure"] == 120_000_000
    assert towns["zone"].tolist() == ["east_wing", "north", "north", "east_wing", "core", "core"]


def test_unit_wan_applies_to_unmarked_money_columns(hand):
    """unit="wan" multiplies money columns whose header has no unit by 10,000."""
    scaled = hand.assign(
        fiscal_capacity=hand["fiscal_capacity"] / 10_000,
        expenditure=hand["expenditure"] / 10_000,
        prior_amount=hand["prior_amount"] / 10_000,
    )
    towns = tf.validate_towns(scaled, unit="wan")
    pd.testing.assert_series_equal(
        towns["fiscal_capacity"], tf.validate_towns(hand)["fiscal_capacity"]
    )
    assert towns["registered_population"].iloc[0] == 20_000  # people are not money


def test_kind_defaults_from_the_code_and_a_kind_column_wins(hand):
    """Kind comes from the code's last three digits unless given (in English or Chinese)."""
    towns = tf.validate_towns(hand)
    assert towns["kind"].tolist() == ["town", "town", "township", "subdistrict", "town", "town"]
    towns = tf.validate_towns(hand.assign(kind=["镇", "", "乡", "街道", "other", "镇"]))
    assert towns["kind"].tolist() == ["town", "town", "township", "subdistrict", "other", "town"]
    assert tf.kind_from_code(["441500400", "441500599"]).tolist() == ["other", "other"]


def test_validation_lists_every_problem_at_once(hand):
    """One error names each bad row, column and value; nothing is returned."""
    bad = hand.copy().astype(object)
    bad.loc[0, "code"] = "44152110"  # 8 digits
    bad.loc[2, "code"] = "441402101"  # duplicate of row 2
    bad.loc[1, "registered_population"] = -5
    bad.loc[2, "fiscal_capacity"] = "lots"
    bad.loc[3, "expenditure"] = np.inf
    bad.loc[4, "zone"] = "south"
    bad.loc[5, "name"] = ""
    bad = bad.drop(columns=["resident_population"])
    with pytest.raises(tf.ValidationError) as info:
        tf.validate_towns(bad.assign(kind=["town", "village", "", "", "", ""]))
    found = {(p.row, p.column, p.value) for p in info.value.problems}
    assert found == {
        (None, "resident_population", None),
        ("#1", "code", "44152110"),
        ("441402101", "code", "441402101"),
        ("441402101", "code", "441402101"),
        ("441402101", "registered_population", -5.0),
        ("441402101", "fiscal_capacity", "lots"),
        ("441502001", "expenditure", np.inf),
        ("440114100", "zone", "south"),
        ("440705100", "name", None),
        ("441402101", "kind", "village"),
    }
    message = str(info.value)
    assert "9 problems" in message  # a duplicate code is one problem naming both rows
    assert "town 441402101, column 'code', value '441402101': duplicate code (rows 2 and 3)" \
        in message
    assert "town 440114100, column 'zone', value 'south': unknown zone" in message
    assert isinstance(info.value, ValueError)


def test_a_missing_required_value_is_named(hand):
    """A blank required number is reported; a blank prior amount means none."""
    hand.loc[0, "expenditure"] = None
    with pytest.raises(tf.ValidationError) as info:
        tf.validate_towns(hand)
    assert [(p.row, p.column, p.message) for p in info.value.problems] == [
        ("441521100", "expenditure", "missing value")
    ]


def test_validating_twice_changes_nothing(example):
    """A validated table validates to itself."""
    again = tf.validate_towns(example)
    pd.testing.assert_frame_equal(again, example)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_files_round_trip(tmp_path, example, suffix):
    """CSV, Excel and Parquet files read back to the same table."""
    path = tmp_path / f"towns{suffix}"
    frame = example.head(40)
    if suffix == ".csv":
        frame.to_csv(path)
    elif suffix == ".xlsx":
        frame.to_excel(path)
    else:
        frame.to_parquet(path)
    back = tf.read_towns(path)
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


def test_an_unreadable_file_is_a_validation_error(tmp_path):
    """An unsupported type or a missing file gives a clear error."""
    path = tmp_path / "towns.json"
    path.write_text("{}")
    with pytest.raises(tf.ValidationError, match="unsupported file type"):
        tf.read_towns(path)
    with pytest.raises(FileNotFoundError, match="no such towns file"):
        tf.read_towns(tmp_path / "nope.csv")


def test_the_example_is_guangdong_with_its_real_units(example):
    """1,757 units: 1,117 towns, 11 townships, 482 subdistricts, 147 others, 21 cities."""
    assert len(example) == 1757
    assert example["kind"].value_counts().to_dict() == {
        "town": 1117,
        "subdistrict": 482,
        "other": 147,
        "township": 11,
    }
    assert example["city"].nunique() == 21
    assert example.loc["441581101", ["name", "county", "city", "zone"]].tolist() == [
        "甲子镇",
        "陆丰市",
        "汕尾市",
        "east_wing",
    ]


def test_example_prior_amounts_total_2019s_fund(example):
    """Last year's amounts total 2,000,000,000 / 1.077 over the covered towns only."""
    covered = tf.eligibility(example, "guangdong-2020")["eligible"]
    assert int(example.loc[covered, "prior_amount"].sum()) == 1_857_010_214
    assert example.loc[~covered, "prior_amount"].isna().all()


def test_the_generator_reproduces_the_bundled_example(example):
    """The seeded generator gives the bundled file back, figure for figure."""
    pd.testing.assert_frame_equal(tf.make_towns("guangdong"), example, check_dtype=False)


def test_the_generator_makes_the_national_table():
    """All 41,352 units of China, validated, with Guangdong's real zones."""
    towns = tf.make_towns("china")
    assert len(towns) == 41_352
    assert towns.loc["441581101", "zone"] == "east_wing"
    assert set(towns["zone"]) == set(tf.ZONES)
    assert (towns["supported_population"] > 0).all()


def test_two_headers_for_one_column_are_reported(hand):
    """A Chinese and an English header for the same column is one clear problem."""
    both = hand.assign(区域=hand["zone"])
    with pytest.raises(tf.ValidationError) as info:
        tf.validate_towns(both)
    assert [(p.column, p.message[:17]) for p in info.value.problems] == [
        ("zone", "two headers both ")]


@pytest.mark.parametrize("n", [0, -3, 50_000])
def test_the_generator_rejects_impossible_sizes(n):
    """A number of units outside 1..41,352 is a clear ValueError."""
    with pytest.raises(ValueError, match="from 1 to 41,352"):
        tf.make_towns(n)


def test_a_clean_table_takes_the_fast_path_and_a_spoiled_one_does_not(example):
    """Revalidating is quick but still catches a bad value or a second header for a column."""
    from townfiscal.towns._validate import _already_clean

    assert _already_clean(example)
    spoiled = example.copy()
    spoiled.loc["441581101", "expenditure"] = -1.0
    spoiled.loc["440103001", "zone"] = "south"
    assert not _already_clean(spoiled)
    with pytest.raises(tf.ValidationError) as info:
        tf.validate_towns(spoiled)
    assert {(p.row, p.column) for p in info.value.problems} == {
        ("441581101", "expenditure"), ("440103001", "zone")}
    with pytest.raises(tf.ValidationError, match="two headers both mean 'zone'"):
        tf.validate_towns(example.assign(区域=example["zone"]))
    wan = tf.validate_towns(example, unit="wan")
    assert wan["fiscal_capacity"].iloc[0] == example["fiscal_capacity"].iloc[0] * 10_000
