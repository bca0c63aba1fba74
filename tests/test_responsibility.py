"""Responsibility matrices (国办发〔2018〕6号 and Guangdong by zone) and expenditure splits."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import townfiscal as tf
from townfiscal.responsibility import LOCAL_LEVELS, ZONES, split_rows

DATA = Path(tf.__file__).parent / "responsibility" / "matrices"


@pytest.fixture(scope="module")
def gd() -> tf.ResponsibilityMatrix:
    """The bundled Guangdong matrix."""
    return tf.get_responsibility("guangdong-2020")


def _doc() -> dict:
    with (DATA / "guangdong-2020.toml").open("rb") as fh:
        return tomllib.load(fh)


# --- the bundled data ---------------------------------------------------------------------


def test_list_has_guangdong_and_not_the_catalogue():
    """Matrices are listed; the national catalogue they build on is not a matrix."""
    ids = tf.list_responsibilities()
    assert "guangdong-2020" in ids
    assert "central-local-2018" not in ids
    with pytest.raises(KeyError, match="catalogue"):
        tf.get_responsibility("central-local-2018")
    with pytest.raises(KeyError, match="no responsibility matrix"):
        tf.get_responsibility("atlantis-2020")


def test_catalogue_has_8_categories_and_18_items(gd):
    """国办发〔2018〕6号 lists 8 categories and 18 items."""
    assert len(gd.items) == 18
    assert gd.items["category"].nunique() == 8
    assert gd.items.loc["residents_medical_insurance", "name_zh"] == "城乡居民基本医疗保险补助"


def test_five_tier_items_take_guangdongs_tier_4_share(gd):
    """Every item under the five-tier rule has 30% central in every zone (Guangdong, tier 4)."""
    five = gd.items.index[gd.items["rule"] == "five_tier"]
    assert len(five) == 7
    rows = gd.items.index.get_indexer(five)
    assert np.allclose(gd.shares[rows, :, 0], 0.3)
    assert "tier 4" in gd.source("basic_public_health", "north", "central")


def test_items_with_their_own_rules_are_marked(gd):
    """Items outside the five tiers carry rule own/factor and their own central shares."""
    rules = gd.items["rule"]
    assert rules["compulsory_education_running_costs"] == "own"
    assert rules["free_textbooks"] == "own"
    assert rules["residents_basic_pension"] == "own"
    assert rules["medical_assistance"] == "factor"
    assert gd.share("compulsory_education_running_costs", "core")["central"] == 0.5  # east 5:5
    assert gd.share("free_textbooks", "north")["central"] == 1.0
    assert gd.share("residents_basic_pension", "east_wing")["central"] == 0.5
    assert gd.source("medical_assistance", "core", "central").startswith("assumption:")


def test_every_item_and_zone_sums_to_one_without_negatives(gd):
    """All 18 × 4 share rows sum to 1 and no share is negative or missing."""
    assert gd.shares.shape == (18, 4, 5)
    assert not np.isnan(gd.shares).any()
    assert np.allclose(gd.shares.sum(axis=2), 1.0, atol=1e-12)
    assert (gd.shares >= 0).all()


def test_every_share_has_a_source(gd):
    """Each share cites an article or says it is an assumption."""
    long = gd.to_frame()
    assert len(long) == 18 * 4 * 5
    assert (long["source"].str.len() > 10).all()
    below = long[long["level"] != "central"]
    assert below["source"].str.startswith("assumption:").all()


def test_county_carries_more_than_town_and_province_more_outside_core(gd):
    """The county out-pays the town everywhere; the province pays more in wings and north."""
    s = gd.shares
    county, town, province = s[:, :, 3], s[:, :, 4], s[:, :, 1]
    assert (county > town).all() | np.isclose(s[:, :, 0], 1.0).any()
    nonfree = gd.items.index != "free_textbooks"
    assert (county[nonfree] > town[nonfree]).all()
    core = ZONES.index("core")
    for z in ("east_wing", "west_wing", "north"):
        zi = ZONES.index(z)
        assert (province[nonfree, zi] > province[nonfree, core]).all()


def test_east_wing_compulsory_education_share_hand_computed(gd):
    """Central 50%; of the local 50%: province 45%, city 15%, county 40%, town 0."""
    s = gd.share("义务教育公用经费保障", "east_wing")
    assert s.round(12).to_dict() == {
        "central": 0.5, "province": 0.225, "city": 0.075, "county": 0.2, "town": 0.0}


def test_to_dict_is_json(gd):
    """The matrix serialises to JSON with every share and source."""
    import json

    d = json.loads(json.dumps(gd.to_dict(), ensure_ascii=False))
    assert len(d["items"]) == 18
    ce = next(i for i in d["items"] if i["id"] == "compulsory_education_running_costs")
    assert ce["shares"]["east_wing"]["county"]["share"] == pytest.approx(0.2)
    assert ce["rule"] == "own"


def test_devolution_defaults_are_documented_assumptions(gd):
    """Cost per post and the like are assumptions in the matrix file, not code."""
    value, source = gd.parameter("devolution.cost_per_post")
    assert value == 100_000
    assert source.startswith("assumption:")


# --- validation of malformed matrices --------------------------------------------------------


def test_malformed_file_lists_every_problem():
    """Bad sum, negative share, unknown level, zone, item and category, missing source: all."""
    doc = _doc()
    doc["local"]["default"]["core"]["town"]["value"] = 0.10  # core sums to 1.05
    doc["local"]["default"]["north"]["city"]["value"] = -0.05  # negative
    doc["local"]["default"]["north"]["county"]["value"] = 0.50  # keeps north summing to 1
    doc["local"]["default"]["west_wing"]["village"] = {"value": 0.0, "source": "x"}
    doc["local"]["default"]["mars"] = copy.deepcopy(doc["local"]["default"]["core"])
    doc["local"]["items"] = {"space_programme": {}}
    doc["local"]["categories"]["roads"] = {}
    del doc["local"]["default"]["east_wing"]["city"]["source"]
    with pytest.raises(tf.ValidationError) as err:
        tf.ResponsibilityMatrix.from_document(doc)
    msgs = [(p.row, p.column, p.message) for p in err.value.problems]
    text = str(err.value)
    assert any(r == "local.default.core" and "sum to 1.05" in m for r, _, m in msgs)
    assert any(c == "city" and "negative" in m for _, c, m in msgs)
    assert any(c == "village" and "unknown level" in m for _, c, m in msgs)
    assert any("unknown zone" in m for _, _, m in msgs)
    assert any(r == "local.items.space_programme" and "unknown item" in m for r, _, m in msgs)
    assert any("unknown category" in m for _, _, m in msgs)
    assert any(r == "local.default.east_wing" and "source" in m for r, _, m in msgs)
    assert len(msgs) >= 7
    assert "problems" in text


def test_central_in_a_local_block_is_rejected():
    """The central share comes from the catalogue; writing it below the centre is an error."""
    doc = _doc()
    doc["local"]["default"]["core"]["central"] = {"value": 0.0, "source": "x"}
    with pytest.raises(tf.ValidationError, match="catalogue"):
        tf.ResponsibilityMatrix.from_document(doc)


def test_missing_level_and_zone_are_reported():
    """Each zone lists all four local levels; the default covers every zone."""
    doc = _doc()
    del doc["local"]["default"]["north"]
    del doc["local"]["default"]["core"]["town"]
    with pytest.raises(tf.ValidationError) as err:
        tf.ResponsibilityMatrix.from_document(doc)
    cols = {(p.row, p.column) for p in err.value.problems}
    assert ("local.default", "north") in cols
    assert ("local.default.core", "town") in cols


def test_unknown_province_is_rejected():
    """A province outside the catalogue's tiers has no central share."""
    doc = _doc()
    doc["province"] = "Atlantis"
    with pytest.raises(tf.ValidationError, match="tier"):
        tf.ResponsibilityMatrix.from_document(doc)


def test_matrix_file_from_a_path(tmp_path):
    """A matrix file outside the package loads by path, its catalogue found among the bundled."""
    text = (DATA / "guangdong-2020.toml").read_text(encoding="utf-8")
    text = text.replace('id = "guangdong-2020"', 'id = "guangdong-what-if"')
    path = tmp_path / "what-if.toml"
    path.write_text(text, encoding="utf-8")
    m = tf.get_responsibility(path)
    assert m.id == "guangdong-what-if"
    assert np.array_equal(m.shares, tf.get_responsibility("guangdong-2020").shares)
    path.write_text(text.replace('catalogue = "central-local-2018"', 'catalogue = "nope"'),
                    encoding="utf-8")
    with pytest.raises(tf.ValidationError, match="unknown catalogue"):
        tf.get_responsibility(path)


def test_bundled_matrix_is_read_only(gd):
    """The cached matrix cannot be changed in place; with_changes makes a new one."""
    with pytest.raises(ValueError, match="read-only"):
        gd.shares[0, 0, 0] = 0.9


def test_with_changes_keeps_sources_and_revalidates(gd):
    """An override records what it replaced; a change breaking the sum is rejected."""
    m = gd.with_changes({"local.default.north.province": 0.6, "local.default.north.county": 0.25})
    assert m.share("basic_public_health", "north")["province"] == pytest.approx(0.7 * 0.6)
    assert "override" in m.source("basic_public_health", "north", "province")
    assert m.hash != gd.hash
    with pytest.raises(tf.ValidationError, match=r"sum to 1\.1"):
        gd.with_changes({"local.default.north.province": 0.6})
    with pytest.raises(tf.ValidationError, match="no such entry"):
        gd.with_changes({"local.default.north.village": 0.1})


def test_with_changes_can_set_a_province_specific_central_share(gd):
    """[central.<item>] overrides the catalogue's share for this province."""
    m = gd.with_changes({"central.nutrition_meals": {"value": 0.2, "source": "assumption: t"}})
    assert m.share("nutrition_meals", "core")["central"] == pytest.approx(0.2)
    assert m.share("nutrition_meals", "core").sum() == pytest.approx(1.0)


def test_from_frame_validates_all_problems():
    """A hand-made matrix: unknown level column, bad sum, negative, missing source, bad zone."""
    good = pd.DataFrame({"item": ["roads"], "zone": ["north"], "central": [0.0],
                         "province": [0.5], "city": [0.0], "county": [0.5], "town": [0.0],
                         "source": ["assumption: half and half"]})
    m = tf.ResponsibilityMatrix.from_frame(good, id="roads")
    assert m.share("roads", "north")["county"] == 0.5
    with pytest.raises(tf.ValidationError) as err:
        tf.ResponsibilityMatrix.from_frame(good.assign(village=[0.1]))
    assert err.value.problems[0].column == "village"
    bad = pd.DataFrame({"item": ["a", "b", "c", "c"], "zone": ["north", "core", "moon", "moon"],
                        "central": [0.2, -0.1, 0.0, 0.0], "province": [0.2, 0.6, 1.0, 1.0],
                        "city": [0.2, 0.5, 0.0, 0.0], "county": [0.2, 0.0, 0.0, 0.0],
                        "town": [0.0, 0.0, 0.0, 0.0], "source": ["x", "y", "", "z"]})
    with pytest.raises(tf.ValidationError) as err:
        tf.ResponsibilityMatrix.from_frame(bad)
    msgs = " | ".join(str(p) for p in err.value.problems)
    assert "negative" in msgs
    assert "unknown zone" in msgs
    assert "duplicate" in msgs
    assert "source" in msgs
    ok_zone = bad.iloc[:2]
    with pytest.raises(tf.ValidationError) as err:
        tf.ResponsibilityMatrix.from_frame(ok_zone.assign(central=[0.2, 0.0], city=[0.2, 0.4]))
    assert [p.row for p in err.value.problems] == ["a/north"]  # sums to 0.8


# --- splits ----------------------------------------------------------------------------------


def test_east_wing_compulsory_education_split_exactly(gd):
    """1,000,000 yuan of running costs in an east-wing town: 500k/225k/75k/200k/0."""
    s = tf.split_expenditure(pd.DataFrame({
        "code": ["441521101"], "item": ["compulsory_education_running_costs"],
        "amount": [1_000_000], "zone": ["east_wing"]}), gd)
    row = s.table.loc[0, list(tf.LEVELS)].tolist()
    assert row == [500_000, 225_000, 75_000, 200_000, 0]
    assert s.matrix_id == "guangdong-2020"
    why = s.explain(0)
    assert why.loc["county", "exact"] == pytest.approx(200_000)
    assert "以县为主" in why.loc["county", "source"]


def test_largest_remainder_split_hand_computed(gd):
    """123,457 yuan of public health in the east wing: floors 123,453 and 4 yuan handed out.

    Raw parts 37,037.1 / 34,567.96 / 12,962.985 / 34,567.96 / 4,320.995: the four largest
    remainders (town .995, city .985, province .96, county .96) get a yuan each.
    """
    s = tf.split_expenditure(pd.DataFrame({"item": ["基本公共卫生服务"], "amount": [123_457],
                                           "zone": ["东翼"]}), gd)
    assert s.table.loc[0, list(tf.LEVELS)].tolist() == [37_037, 34_568, 12_963, 34_568, 4_321]


def test_totals_per_level_and_grouping(gd):
    """Totals add the rows; per-level totals add up to the total spending exactly."""
    spending = pd.DataFrame({
        "code": ["441521101", "441521101", "441521"],
        "item": ["compulsory_education_running_costs", "basic_public_health",
                 "disaster_relief"],
        "amount": [1_000_000, 123_457, 10_001], "zone": ["east_wing"] * 3})
    s = tf.split_expenditure(spending, gd)
    assert s.totals["amount"] == 1_133_458
    assert s.totals[list(tf.LEVELS)].sum() == 1_133_458
    # disaster relief: central 0; local 10,001 × (0.40, 0.15, 0.40, 0.05) = 4,000.4 / 1,500.15
    # / 4,000.4 / 500.05: one yuan left, province and county tie, the higher level takes it
    assert s.table.loc[2, list(tf.LEVELS)].tolist() == [0, 4_001, 1_500, 4_000, 500]
    by_code = s.by("code")
    assert by_code.loc["441521101", "amount"] == 1_123_457
    assert int(s.totals["town"]) == 0 + 4_321 + 500


def test_chinese_headers_wan_and_zone_from_towns(gd):
    """事项/金额(万元)/单位代码 headers; zones looked up by town code or county prefix."""
    towns = tf.load_example()
    spending = pd.DataFrame({"单位代码": ["441521101", "441521"],
                             "事项": ["义务教育公用经费保障", "免费提供教科书"],
                             "金额(万元)": [100, 2.5]})
    s = tf.split_expenditure(spending, gd, towns=towns)
    assert s.table["amount"].tolist() == [1_000_000, 25_000]
    assert s.table["zone"].tolist() == ["east_wing", "east_wing"]
    assert s.table.loc[1, "central"] == 25_000


def test_bad_spending_rows_are_all_reported(gd):
    """Unknown items and zones, negative, fractional and missing amounts: one error."""
    spending = pd.DataFrame({"code": ["a", "b", "c", "d"],
                             "item": ["x", "basic_public_health", "basic_public_health",
                                      "basic_public_health"],
                             "amount": [1, -5, 1.5, None], "zone": ["core", "mars", "core",
                                                                     "core"]})
    with pytest.raises(tf.ValidationError) as err:
        tf.split_expenditure(spending, gd)
    got = {(p.row, p.column) for p in err.value.problems}
    assert got == {("a", "item"), ("b", "zone"), ("b", "amount"), ("c", "amount"),
                   ("d", "amount")}
    towns = tf.load_example()
    with pytest.raises(tf.ValidationError, match="no zone") as err:
        tf.split_expenditure(pd.DataFrame({"item": ["free_textbooks"] * 2,
                                           "amount": [1, 2], "code": ["999999999", None]}),
                             gd, towns=towns)
    assert [p.row for p in err.value.problems] == ["999999999", "#2"]
    with pytest.raises(tf.ValidationError, match="missing column"):
        tf.split_expenditure(pd.DataFrame({"item": ["x"]}), gd)


def test_item_without_shares_in_a_zone_is_reported():
    """A custom matrix covering only the north cannot split core spending."""
    m = tf.ResponsibilityMatrix.from_frame(pd.DataFrame({
        "item": ["roads"], "zone": ["north"], "central": [0.0], "province": [1.0],
        "city": [0.0], "county": [0.0], "town": [0.0], "source": ["assumption: t"]}))
    with pytest.raises(tf.ValidationError, match="no shares"):
        tf.split_expenditure(pd.DataFrame({"item": ["roads"], "amount": [5],
                                           "zone": ["core"]}), m)


def test_split_to_excel_round_trips(gd, tmp_path):
    """The split writes a workbook with the rows and the totals."""
    s = tf.split_expenditure(pd.DataFrame({"item": ["free_textbooks"], "amount": [7],
                                           "zone": ["north"]}), gd)
    s.to_excel(tmp_path / "split.xlsx")
    back = pd.read_excel(tmp_path / "split.xlsx", sheet_name="totals", index_col=0,
                         engine="openpyxl")
    assert int(back.loc["central", "yuan"]) == 7


@settings(max_examples=200, deadline=None)
@given(
    amounts=st.lists(st.integers(0, 10**12), min_size=1, max_size=30),
    item=st.integers(0, 17),
    zone=st.sampled_from(ZONES),
)
def test_split_rows_sum_exactly_and_respect_zero_shares(amounts, item, zone):
    """Every row's parts sum to its amount, none negative, zero shares get nothing,
    and each part is within one yuan of amount × share."""
    gd = tf.get_responsibility("guangdong-2020")
    shares = np.repeat(gd.shares[item, ZONES.index(zone)][None, :], len(amounts), axis=0)
    a = np.array(amounts, dtype=np.int64)
    parts = split_rows(a, shares)
    assert (parts.sum(axis=1) == a).all()
    assert (parts >= 0).all()
    assert (parts[:, shares[0] == 0] == 0).all()
    assert (np.abs(parts - a[:, None] * shares) < 1.0 + 1e-3).all()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=6), st.integers(0, 10**9))
def test_split_rows_any_shares(raw, amount):
    """Arbitrary share vectors (normalised) still split exactly."""
    w = np.array(raw)
    if w.sum() == 0:
        w[0] = 1.0
    s = (w / w.sum())[None, :]
    parts = split_rows(np.array([amount], dtype=np.int64), s)
    assert parts.sum() == amount
    assert (parts >= 0).all()
    assert (parts[0, s[0] == 0] == 0).all()


def test_local_levels_constant():
    """The matrix file splits the local share among exactly these levels."""
    assert LOCAL_LEVELS == ("province", "city", "county", "town")
    assert tf.LEVELS[0] == "central"
