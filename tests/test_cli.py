"""The townfiscal command, end to end."""

from __future__ import annotations

import subprocess
import sys

import openpyxl
import pandas as pd
import pytest

from townfiscal.cli import main


def test_allocate_runs_as_the_readme_says(tmp_path):
    """`townfiscal allocate` on the example prints the summary and writes the 分配表 as CSV."""
    out = tmp_path / "alloc.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "townfiscal.cli", "allocate", "--out", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "total             2,000,000,000 yuan" in proc.stdout
    assert "towns covered             1,002 of 1,757 units" in proc.stdout
    table = pd.read_csv(out, dtype={"行政区划代码": str}, encoding="utf-8-sig")
    assert len(table) == 1_002  # the towns the policy covers, as in the workbook
    assert int(table["分配金额(元)"].sum()) == 2_000_000_000
    assert set(table["类型"]) == {"镇", "乡"}


def test_allocate_writes_excel_with_the_fund_exact(tmp_path, capsys):
    """--out with .xlsx writes the 分配表 workbook whose amounts add up to the fund."""
    out = tmp_path / "分配表.xlsx"
    assert main(["allocate", "--fund", "2,100,000,000", "--out", str(out)]) == 0
    sheet = openpyxl.load_workbook(out)["分配表"]
    header = [c.value for c in sheet[1]]
    col = header.index("分配金额(元)")
    rows = [r for r in sheet.iter_rows(min_row=2, values_only=True) if r[0] != "合计"]
    assert sum(row[col] for row in rows) == 2_100_000_000
    assert "fund 2,100,000,000 yuan" in capsys.readouterr().out


def test_allocate_with_the_2018_policy(capsys):
    """The 2018 tiers pay their standards when no fund is given."""
    assert main(["allocate", "--policy", "guangdong-2018"]) == 0
    assert "total             2,004,400,000 yuan" in capsys.readouterr().out


def test_explain_prints_the_trace(capsys):
    """`explain CODE` walks through factors, coefficient, share and growth control."""
    assert main(["explain", "441581101"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("441581101 甲子镇 — policy guangdong-2020:")
    for label in (
        "factor a:",
        "factor d:",
        "composite coefficient C",
        "share",
        "growth control",
        "amount",
    ):
        assert label in text
    assert "[Art. 6: weight of the registered population coefficient (b)]" in text


def test_validate_reports_every_problem_and_exits_1(tmp_path, hand, capsys):
    """An invalid file: exit status 1 and each problem listed."""
    hand.loc[0, "registered_population"] = -1
    hand.loc[1, "zone"] = "mars"
    path = tmp_path / "bad.csv"
    hand.to_csv(path, index=False)
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert "2 problems" in err
    # each problem names the file, the row as Excel numbers it, the header and the value
    assert ("bad.csv, row 2 (441521100), column 'registered_population', value -1.0: must not "
            "be negative") in err
    assert "bad.csv, row 3 (441402101), column 'zone', value 'mars'" in err


def test_validate_accepts_a_good_file(tmp_path, hand, capsys):
    """A valid file: exit status 0 and a one-line summary."""
    path = tmp_path / "good.csv"
    hand.to_csv(path, index=False)
    assert main(["validate", str(path), "--policy", "guangdong-2020"]) == 0
    assert "valid — 6 units" in capsys.readouterr().out


def test_policies_lists_and_shows_sources(capsys):
    """`policies` lists ids; `policies ID` shows each value with its source."""
    assert main(["policies"]) == 0
    assert capsys.readouterr().out.splitlines()[2].startswith("guangdong-2020           2020-08-27")
    assert main(["policies", "guangdong-2020"]) == 0
    text = capsys.readouterr().out
    cap = next(line for line in text.splitlines() if "growth_control.cap " in line)
    assert "0.15" in cap
    assert cap.rstrip().endswith("ASSUMPTION")
    assert "assumption: growth capped" in text


@pytest.mark.parametrize(
    ("argv", "message", "status"),
    [
        (["allocate", "--policy", "nope"], "error: no policy 'nope'", 2),
        (["allocate", "--fund", "1000000000"], "growth-control floors need 1,857,010,214", 1),
        (["allocate", "--towns", "/nonexistent.csv"], "error: no such towns file", 2),
        (["allocate", "--out", "x.json"], "use a .csv or .xlsx file name", 2),
        (["explain", "123456789"], "no unit with code '123456789'", 2),
    ],
)
def test_errors_are_one_clear_line_without_traceback(argv, message, status, capsys):
    """Bad requests exit non-zero with a message and no traceback."""
    assert main(argv) == status
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
