"""Money follows duties (财随事转): moving posts from counties to towns, and the subsidy effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import townfiscal as tf


def twin_towns() -> pd.DataFrame:
    """Two identical east-wing towns of 海丰县 and one of 陆河县, plus a subdistrict.

    Each town: 100 supported, 20,000 registered and resident, capacity 10 million yuan,
    expenditure 20 million yuan, no subsidy last year.
    """
    rows = [
        ("441521101", "梅陇镇", "town", "海丰县"),
        ("441521102", "小漠镇", "town", "海丰县"),
        ("441523100", "河田镇", "town", "陆河县"),
        ("441502001", "新港街道", "subdistrict", "城区"),
    ]
    return tf.validate_towns(pd.DataFrame({
        "code": [r[0] for r in rows], "name": [r[1] for r in rows],
        "kind": [r[2] for r in rows], "county": [r[3] for r in rows],
        "city": "汕尾市", "zone": "east_wing",
        "registered_population": 20_000, "resident_population": 20_000,
        "supported_population": 100, "fiscal_capacity": 10_000_000,
        "expenditure": 20_000_000}))


def test_transfer_is_posts_times_cost_plus_operating():
    """30 posts at 100,000 plus 20,000 operating per post = 3,600,000 yuan a year."""
    d = tf.devolve(twin_towns(), pd.DataFrame({"code": ["441521101"], "posts": [30]}),
                   cost_per_post=100_000, operating_cost_per_post=20_000)
    row = d.transfers.loc["441521101"]
    assert (row["posts"], row["personnel"], row["operating"], row["amount"]) == (
        30, 3_000_000, 600_000, 3_600_000)
    assert d.towns.loc["441521101", "expenditure"] == 23_600_000
    assert d.towns.loc["441521101", "supported_population"] == 130
    assert d.towns.loc["441521101", "fiscal_capacity"] == 10_000_000  # earmarked by default
    assert d.towns.loc["441521102", "expenditure"] == 20_000_000  # untouched


def test_moves_own_figures_win_and_several_moves_add_up():
    """A move's own cost and operating figures override the defaults; moves to a town add."""
    moves = pd.DataFrame({
        "code": ["441521101", "441521101", "441523100"],
        "posts": [10, 5, 2], "cost_per_post": [90_000, None, 120_000],
        "operating_cost": [None, 7_000, 0], "powers": [12, 3, None],
        "county": ["海丰县", "441521", None]})
    d = tf.devolve(twin_towns(), moves, cost_per_post=100_000, operating_cost_per_post=20_000)
    # 梅陇镇: 10 × 90,000 + 10 × 20,000 + 5 × 100,000 + 7,000
    assert d.transfers.loc["441521101", "amount"] == 900_000 + 200_000 + 500_000 + 7_000
    assert d.transfers.loc["441521101", "posts"] == 15
    assert d.transfers.loc["441521101", "powers"] == 15
    assert d.transfers.loc["441523100", "amount"] == 240_000
    assert d.counties.loc[("汕尾市", "海丰县"), "amount"] == 1_607_000
    assert d.counties.loc[("汕尾市", "陆河县"), "towns"] == 1


def test_defaults_come_from_the_matrix_file():
    """Without figures, the matrix's documented assumptions apply (100,000 + 20,000 a post)."""
    d = tf.devolve(twin_towns(), pd.DataFrame({"code": ["441521102"], "posts": [1]}))
    assert d.transfers.loc["441521102", "amount"] == 120_000
    assert d.parameters["cost_per_post"][1].startswith("assumption:")


def test_what_leaves_each_county_equals_what_its_towns_receive():
    """Conservation to the yuan: county totals = transfers = rise in towns' expenditure."""
    moves = pd.DataFrame({"code": ["441521101", "441521102", "441523100"],
                          "posts": [7, 13, 4], "cost_per_post": [98_765.43, 101_234.5, 99_999.99]})
    d = tf.devolve(twin_towns(), moves, operating_cost_per_post=12_345.67)
    rise = (d.towns["expenditure"] - d.before["expenditure"]).groupby(d.before["county"]).sum()
    by_county = d.counties["amount"].droplevel("city")
    assert rise[by_county.index].astype(np.int64).tolist() == by_county.tolist()
    assert d.transfers.groupby("county")["amount"].sum().tolist() == by_county.tolist()
    assert (d.transfers["amount"] == d.transfers["personnel"] + d.transfers["operating"]).all()
    assert d.transfers["amount"].dtype == np.int64


def test_unpacks_as_towns_and_transfers():
    """``towns, transfers = tf.devolve(...)``."""
    towns, transfers = tf.devolve(twin_towns(), pd.DataFrame({"code": ["441521101"],
                                                             "posts": [1]}))
    assert list(transfers.index) == ["441521101"]
    assert len(towns) == 4


def test_capacity_follows_adds_money_to_capacity():
    """With capacity_follows the transfer counts as disposable capacity too."""
    d = tf.devolve(twin_towns(), pd.DataFrame({"code": ["441521101"], "posts": [10]}),
                   cost_per_post=100_000, operating_cost_per_post=0, capacity_follows=True)
    assert d.towns.loc["441521101", "fiscal_capacity"] == 11_000_000


def test_bad_moves_list_every_problem():
    """Unknown town, wrong county, negative and fractional posts, bad costs: one error."""
    moves = pd.DataFrame({
        "code": ["441599999", "441521101", "441521102", "441523100", "441521101"],
        "posts": [1, -3, 2.5, 4, 1],
        "county": [None, "陆河县", None, None, None],
        "cost_per_post": [None, None, None, -1, float("inf")]})
    with pytest.raises(tf.ValidationError) as err:
        tf.devolve(twin_towns(), moves)
    got = {(p.row, p.column) for p in err.value.problems}
    assert got == {("441599999", "code"), ("441521101", "county"), ("441521101", "posts"),
                   ("441521102", "posts"), ("441523100", "cost_per_post"),
                   ("441521101", "cost_per_post")}
    assert "moves table is invalid: 6 problems" in str(err.value)


def test_missing_cost_without_default_is_an_error():
    """No matrix, no figure: the move cannot be costed."""
    with pytest.raises(tf.ValidationError, match="no cost_per_post"):
        tf.devolve(twin_towns(), pd.DataFrame({"code": ["441521101"], "posts": [1]}),
                   matrix=None, operating_cost_per_post=0)
    with pytest.raises(tf.ValidationError, match="missing column"):
        tf.devolve(twin_towns(), pd.DataFrame({"town": ["441521101"]}))


def test_chinese_headers_are_read():
    """行政区划代码 / 编制 / 事权 / 公用经费 headers."""
    d = tf.devolve(twin_towns(), pd.DataFrame({"行政区划代码": ["441521101"], "编制": [2],
                                               "事权": [40], "公用经费": [1_000]}),
                   cost_per_post=50_000)
    assert d.transfers.loc["441521101", ["posts", "powers", "amount"]].tolist() == [
        2, 40, 101_000]


def test_subsidy_change_hand_computed():
    """100 posts into 梅陇镇 (no operating cost, capacity earmarked), fund 1,000,000.

    After: 梅陇镇 supported 200, expenditure 30 million; 小漠镇 and 河田镇 unchanged.
    Means over the three towns: supported 133⅓, capacity/supported 83,333⅓, spending per
    resident 1,166⅔. 梅陇镇: a = 1.5, b = 1, c = 83,333⅓/50,000 = 5/3, d = 1,166⅔/1,500 = 7/9
    → 0.525 + 0.35 + 0.25 + 0.116667 = 1.241667. The other two: a = 0.75, b = 1,
    c = 5/6, d = 7/6 → 0.2625 + 0.35 + 0.125 + 0.175 = 0.9125. Shares (same r):
    1.241667 / 3.066667 = 0.404891 → 404,891.30; others 297,554.35 each.
    Before: 333,333.33 each (333,334 to the first by largest remainder).
    """
    d = tf.devolve(twin_towns(), pd.DataFrame({"code": ["441521101"], "posts": [100]}),
                   cost_per_post=100_000, operating_cost_per_post=0)
    ch = d.subsidy_change("guangdong-2020", fund=1_000_000)
    assert list(ch.index) == ["441521101", "441521102", "441523100"]  # subdistrict excluded
    assert ch["amount_before"].tolist() == [333_334, 333_333, 333_333]
    assert ch["amount_after"].tolist() == [404_891, 297_555, 297_554]
    assert ch["change"].tolist() == [71_557, -35_778, -35_779]
    assert int(ch["change"].sum()) == 0
    assert ch.loc["441521101", "coefficient_after"] == pytest.approx(1.241667 * 1.1, rel=1e-6)
    assert ch.loc["441521101", "posts"] == 100
    assert ch.loc["441521101", "transfer"] == 10_000_000


def test_capacity_following_the_duty_can_lower_need():
    """Counting the transfer as capacity raises capacity per person: need falls instead."""
    moves = pd.DataFrame({"code": ["441521101"], "posts": [100]})
    earmarked = tf.devolve(twin_towns(), moves, cost_per_post=100_000,
                           operating_cost_per_post=0).subsidy_change("guangdong-2020",
                                                                     fund=1_000_000)
    counted = tf.devolve(twin_towns(), moves, cost_per_post=100_000, operating_cost_per_post=0,
                         capacity_follows=True).subsidy_change("guangdong-2020", fund=1_000_000)
    assert counted.loc["441521101", "change"] < earmarked.loc["441521101", "change"]


def test_no_moves_changes_nothing():
    """An empty moves table leaves the towns and the subsidies as they were."""
    d = tf.devolve(twin_towns(), pd.DataFrame({"code": [], "posts": []}))
    assert d.transfers.empty
    assert d.towns.equals(d.before)
    assert (d.subsidy_change("guangdong-2020", fund=1_000_000)["change"] == 0).all()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["441521101", "441521102", "441523100",
                                           "441502001"]),
                          st.integers(0, 3_000), st.floats(0, 400_000), st.floats(0, 5e6)),
                min_size=1, max_size=12))
def test_conservation_property(moves):
    """For any moves: per county, money out = money in = rise in town expenditure, in yuan."""
    df = pd.DataFrame(moves, columns=["code", "posts", "cost_per_post", "operating_cost"])
    d = tf.devolve(twin_towns(), df)
    rise = (d.towns["expenditure"] - d.before["expenditure"]).round().astype(np.int64)
    assert int(rise.sum()) == int(d.counties["amount"].sum()) == int(d.transfers["amount"].sum())
    per_county = rise.groupby(d.before["county"]).sum()
    for (_, county), amount in d.counties["amount"].items():
        assert per_county[county] == amount
    people = d.towns["supported_population"] - d.before["supported_population"]
    assert int(people.sum()) == int(df["posts"].sum())


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 500), st.integers(0, 500), st.booleans())
def test_fixed_fund_changes_cancel_out(p1, p2, follows):
    """With a fixed fund, what the receiving towns gain the others lose, to the yuan."""
    moves = pd.DataFrame({"code": ["441521101", "441523100"], "posts": [p1, p2]})
    d = tf.devolve(twin_towns(), moves, capacity_follows=follows)
    ch = d.subsidy_change("guangdong-2020", fund=1_000_001)
    assert int(ch["change"].sum()) == 0
    assert int(ch["amount_after"].sum()) == 1_000_001
