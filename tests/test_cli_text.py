"""The command line's text: Chinese columns line up, one zone vocabulary."""

from __future__ import annotations

import argparse

import pytest

from townfiscal.cli import main
from townfiscal.cli._common import display_width, pad
from townfiscal.plots import ZONE_LABELS


def test_chinese_characters_take_two_columns() -> None:
    """东翼 is four columns wide, 'core' four, a combining accent none."""
    assert display_width("东翼") == 4
    assert display_width("core") == 4
    assert display_width("e\u0301") == 1
    assert pad("北部生态发展区", 16) == "北部生态发展区  "
    assert pad("东翼", 6, right=True) == "  东翼"


def test_zone_lines_align(capsys: pytest.CaptureFixture[str]) -> None:
    """allocate's zone table: the town counts end in the same terminal column on every
    line, and the zones carry the names the plots use (核心区, not 珠三角核心区)."""
    assert main(["allocate"]) == 0
    out = capsys.readouterr().out
    lines = out[out.index("by zone:"):].splitlines()[1:5]
    ends = {display_width(line[: line.index(" towns")]) for line in lines}
    assert len(ends) == 1
    for zone, label in ZONE_LABELS.items():
        assert f"{zone} {label} " in out
    assert "珠三角核心区" not in out


def test_policies_prints_a_table_with_sources(capsys: pytest.CaptureFixture[str]) -> None:
    """`policies guangdong-2020`: values as a reader writes them (no mappingproxy), each with
    published or ASSUMPTION and its source under it."""
    assert main(["policies", "guangdong-2020"]) == 0
    out = capsys.readouterr().out
    assert "mappingproxy" not in out
    assert "32 parameters, 7 of them assumptions" in out
    row = next(line for line in out.splitlines() if line.strip().startswith("fund.default"))
    assert "2,000,000,000 (yuan)" in row
    assert row.rstrip().endswith("published")
    cap = next(line for line in out.splitlines()
               if line.strip().startswith("growth_control.cap "))
    assert cap.rstrip().endswith("ASSUMPTION")
    assert "= 4405 汕头市; 4415 汕尾市" in out


def test_allocate_by_city_adds_up_to_the_fund(capsys: pytest.CaptureFixture[str]) -> None:
    """`allocate --by city`: 15 cities whose totals add up to the 合计 row, 2,000,000,000."""
    assert main(["allocate", "--by", "city"]) == 0
    out = capsys.readouterr().out
    rows = out[out.index("by city:"):].splitlines()[2:]
    cities = [r for r in rows if r.strip() and not r.strip().startswith("合计")]
    total = next(r for r in rows if r.strip().startswith("合计"))
    assert len(cities) == 15
    assert sum(int(r.split()[2].replace(",", "")) for r in cities) == 2_000_000_000
    assert "2,000,000,000" in total
    ends = {display_width(r[: r.index(r.split()[1], len(r.split()[0]))]) for r in cities}
    assert len(ends) <= 2  # the town counts are right-aligned: they start in one or two columns


def test_explain_with_optimiser_options_shows_its_part(capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    """`explain CODE --floor …`: the formula's steps, then the optimiser's bounds and optimum,
    the town scaled by the fund's λ to pay for the floor."""
    assert main(["explain", "441581101", "--floor", "1,900,000"]) == 0
    out = capsys.readouterr().out
    assert "composite coefficient" in out
    assert "lower set by Floor" in out
    assert "scaled by λ = 0.708926" in out
    assert out.rstrip().endswith("allocated = 2,318,944 yuan")


def test_every_argument_has_help() -> None:
    """Every option and positional argument of every subcommand says what it is for."""
    from townfiscal.cli._main import build_parser

    missing: list[str] = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif not isinstance(action, argparse._HelpAction) and not action.help:
                missing.append(f"{path}: {action.option_strings or action.dest}")

    walk(build_parser(), "townfiscal")
    assert missing == []
