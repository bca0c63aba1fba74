"""A validated table is trusted while, and only while, its content is what was validated."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import townfiscal as tf
from townfiscal.optimize import data_hash
from townfiscal.towns import VALIDATED, content_key, is_marked
from townfiscal.towns import _validate as validate_module

#: The bundled example's data hash (SHA-256 of its columns and pandas' row hashes), as the
#: provenance has always recorded it.
EXAMPLE_HASH = "3008e7b71d2e7ade2d79dcdb21e06e9e27ba2e56755b86aa6c1717db0a3ad8c6"


@pytest.fixture
def towns() -> pd.DataFrame:
    """A fresh copy of the bundled example, free to change."""
    return tf.load_example()


@pytest.fixture
def no_checks(monkeypatch):
    """Make any actual check of a table fail the test: only a trusted table gets through."""
    def refuse(*args, **kwargs):
        raise AssertionError("the table was checked again")

    monkeypatch.setattr(validate_module, "_already_clean", refuse)
    monkeypatch.setattr(validate_module, "_rename", refuse)


def test_the_library_s_tables_carry_a_mark_that_matches_them(towns):
    """load_example, read_towns, validate_towns and make_towns return marked tables."""
    assert is_marked(towns) == towns.attrs[VALIDATED] == content_key(towns)
    assert is_marked(tf.validate_towns(towns.reset_index())) is not None
    assert is_marked(tf.make_towns(40)) is not None


def test_a_marked_table_is_not_checked_again(towns, no_checks):
    """validate_towns and allocate accept a marked table without re-running the checks."""
    again = tf.validate_towns(towns)
    pd.testing.assert_frame_equal(again, towns)
    assert again is not towns
    alloc = tf.allocate(towns, "guangdong-2020", fund=2_000_000_000)
    assert int(alloc.amounts.sum()) == 2_000_000_000


def test_the_mark_survives_pickling(towns, no_checks):
    """An unpickled table (a worker process's copy) is trusted without checks."""
    copy = pickle.loads(pickle.dumps(towns))
    assert is_marked(copy) == towns.attrs[VALIDATED]
    assert len(tf.validate_towns(copy)) == 1757


def test_an_unpickled_clean_table_is_recognised_as_clean(towns):
    """The quick check compares dtypes by equality: an unpickled table's object dtype passes."""
    bare = pickle.loads(pickle.dumps(towns))
    bare.attrs.clear()
    assert validate_module._already_clean(bare)


def test_a_table_changed_after_validation_is_checked_again(towns):
    """A negative value written into a validated table is reported, not trusted."""
    code = towns.index[7]
    towns.loc[code, "expenditure"] = -5.0
    assert VALIDATED in towns.attrs
    assert is_marked(towns) is None
    with pytest.raises(tf.ValidationError) as err:
        tf.allocate(towns, "guangdong-2020", fund=2_000_000_000)
    [problem] = err.value.problems
    assert (problem.row, problem.column, problem.value) == (code, "expenditure", -5.0)


def test_a_mark_carried_into_a_derived_table_is_ignored(towns):
    """Slices inherit pandas' attrs; the mark does not match them, so they are checked."""
    head = towns.head(3)
    assert head.attrs[VALIDATED] == towns.attrs[VALIDATED]
    assert is_marked(head) is None
    head.loc[head.index[0], "zone"] = "south"
    with pytest.raises(tf.ValidationError, match="unknown zone"):
        tf.validate_towns(head)


def test_a_file_s_mark_is_not_trusted(towns, tmp_path):
    """A parquet file keeps attrs; a mark forged for invalid content is dropped on reading."""
    pytest.importorskip("pyarrow")
    bad = towns.head(5).copy()
    bad.loc[bad.index[0], "registered_population"] = -1.0
    bad.attrs[VALIDATED] = content_key(bad)  # forged: it matches the invalid content
    path = tmp_path / "towns.parquet"
    bad.to_parquet(path)
    with pytest.raises(tf.ValidationError, match="must not be negative"):
        tf.read_towns(path)


def test_the_data_hash_is_unchanged_and_follows_the_content(towns):
    """The remembered hash equals the recorded one; a changed table gets another."""
    assert data_hash(towns) == EXAMPLE_HASH
    assert data_hash(towns) == EXAMPLE_HASH  # from the cache
    alloc = tf.allocate(towns, "guangdong-2020", fund=2_000_000_000)
    assert alloc.provenance["data_hash"] == EXAMPLE_HASH
    towns.loc[towns.index[0], "area_km2"] += 1.0
    assert data_hash(towns) != EXAMPLE_HASH
    towns.loc[towns.index[0], "area_km2"] -= 1.0
    assert data_hash(towns) == EXAMPLE_HASH


def test_the_validated_path_gives_the_same_allocation(towns):
    """Trusted or checked in full, the amounts and provenance hash are the same."""
    warm = tf.allocate(towns, "guangdong-2020", fund=2_000_000_000)
    raw = towns.reset_index()  # code as a column: validated in full
    cold = tf.allocate(raw, "guangdong-2020", fund=2_000_000_000)
    pd.testing.assert_series_equal(warm.amounts, cold.amounts)
    assert warm.provenance["data_hash"] == cold.provenance["data_hash"]


def test_text_with_the_separator_does_not_collide():
    """Names that join to the same text still give different keys."""
    def table(names: list[str]) -> pd.DataFrame:
        codes = pd.Index(["441521100", "441521101"], name="code", dtype=object)
        return pd.DataFrame({"name": pd.Series(names, index=codes, dtype=object)})

    assert content_key(table(["a\x1fb", "c"])) != content_key(table(["a", "b\x1fc"]))


def test_other_kinds_of_column_are_not_keyed(towns):
    """A category or a text column with a blank gets no key (and no mark is trusted)."""
    cat = towns.assign(extra=pd.Categorical(["x"] * len(towns)))
    assert content_key(cat) is None
    gap = towns.assign(note=[None] + ["n"] * (len(towns) - 1))
    assert content_key(gap) is None


@settings(max_examples=60, deadline=None)
@given(row=st.integers(0, 1756), column=st.integers(0, 11),
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5)))
def test_any_change_of_one_cell_changes_the_key(example, row, column, value):
    """Writing a different value into any cell of the example changes its content key."""
    towns = example.copy()
    name = towns.columns[column]
    old = towns.iat[row, column]
    numeric = towns[name].dtype == np.float64
    if numeric and isinstance(value, str):
        value = float(len(value)) + 0.5
    if not numeric and not isinstance(value, str):
        value = repr(value)
    same = (old == value) or (numeric and np.isnan(old) and np.isnan(value))
    towns.iloc[row, column] = value
    assert (content_key(towns) == content_key(example)) == bool(same)


def test_a_table_checked_against_a_policy_is_not_checked_again(towns, monkeypatch):
    """The policy's checks run once per table content and policy, again after a change."""
    from townfiscal.rules import _formula

    calls: list[str] = []
    real = _formula.check_policy_needs

    def counting(frame, policy, *args, **kwargs):
        calls.append(policy.id)
        return real(frame, policy, *args, **kwargs)

    monkeypatch.setattr(_formula, "check_policy_needs", counting)
    monkeypatch.setattr(_formula, "_PREPARED", type(_formula._PREPARED)())
    policy = tf.get_policy("guangdong-2020")
    first = tf.formula_allocation(towns, policy, fund=2_000_000_000)
    second = tf.formula_allocation(towns, policy, fund=2_000_000_000)
    pd.testing.assert_frame_equal(first, second)
    assert calls == ["guangdong-2020"]
    reform = policy.with_changes({"growth_control.cap": 0.2}, id="reform", reason="test")
    tf.formula_allocation(towns, reform, fund=2_000_000_000)
    assert calls == ["guangdong-2020", "reform"]
    code = first.index[0]
    towns.loc[code, "supported_population"] = 0.0
    with pytest.raises(tf.ValidationError, match="must be positive"):
        tf.formula_allocation(towns, policy, fund=2_000_000_000)
    assert calls == ["guangdong-2020", "reform", "guangdong-2020"]


def test_changing_a_result_table_leaves_the_next_computation_alone(towns):
    """The formula table is the caller's: writing into it changes no later result."""
    first = tf.formula_allocation(towns, "guangdong-2020", fund=2_000_000_000)
    expected = first.copy()
    code = first.index[0]
    first.loc[code, ["coefficient", "lower", "prior_amount"]] = 99.0
    first.loc[code, "name"] = "改"
    first.loc[code, "zone"] = "north" if first.loc[code, "zone"] != "north" else "core"
    again = tf.formula_allocation(towns, "guangdong-2020", fund=2_000_000_000)
    pd.testing.assert_frame_equal(again, expected)
    alloc = tf.allocate(towns, "guangdong-2020", fund=2_000_000_000)
    assert not alloc.formula.eligible.flags.writeable


def test_tables_are_keyed_without_pyarrow():
    """A plain install has no pyarrow (it comes with the parquet extra): pandas then keeps
    text in Python, and reading the example, keying it and allocating still work."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['pyarrow'] = None\n"
            "import pandas as pd\n"
            "import townfiscal as tf\n"
            "from townfiscal.towns import content_key\n"
            "text = pd.DataFrame({'name': pd.array(['甲镇', '乙乡'], dtype=pd.StringDtype("
            "'python'))})\n"
            "assert content_key(text) is not None\n"
            "towns = tf.load_example()\n"
            "assert content_key(towns) is not None\n"
            "print(int(tf.allocate(towns, 'guangdong-2020').amounts.sum()))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "2000000000"
