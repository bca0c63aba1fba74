"""Each rule page gives its legal basis (document number or the statement that none is held,
the article, the Chinese wording with its source) and the generated says/assumes boxes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import townfiscal as tf

RULES = Path(__file__).resolve().parent.parent / "docs" / "rules"
PAGES = sorted(p for p in RULES.glob("*.md") if p.name != "index.md")
NUMBER = re.compile(r"〔\d{4}〕\d+号")
NO_COPY = "in no copy the project holds"


def test_every_rule_page_is_checked():
    """The rule pages are found (the parametrised checks below are not vacuous)."""
    assert {p.stem for p in PAGES} >= {"eligibility", "coefficient", "regional", "formula",
                                       "growth-control", "tiers-2018", "minority-2014"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_a_rule_page_states_its_legal_basis_and_separates_assumptions(page: Path):
    """A legal-basis box naming a bundled policy and an article, a Chinese terms table with a
    source column (or the statement that the wording is not held), and the generated boxes."""
    text = page.read_text(encoding="utf-8")
    basis = re.search(r"```\{tf-legal-basis\} (\S+)\n:article: (.+)\n", text)
    assert basis, "no tf-legal-basis block with an :article:"
    assert basis.group(1) in tf.list_policies()
    assert len(basis.group(2).split()) >= 3
    chinese = re.search(r"\n\| term[^\n]*\| source \|\n\|[-|]+\|\n((?:\|[^\n]+\|\n)+)", text)
    if chinese:
        for row in chinese.group(1).splitlines():
            cells = [c.strip() for c in row.strip("|").split("|")]
            assert re.search(r"[\u3400-\u9fff]", cells[0]), row
            assert cells[-1], row  # every term has its source
    else:
        assert "no Chinese wording of it is in any copy the project holds" in text
    assert "```{tf-says-assumes}" in text


def test_every_policy_names_its_document_number_or_says_it_has_none():
    """A bundled policy's document gives its number, or says the project holds none."""
    for pid in tf.list_policies():
        document = tf.get_policy(pid).document
        assert NUMBER.search(document) or NO_COPY in document, (pid, document)
    assert NO_COPY in tf.get_policy("guangdong-2020").document  # the 2020 revision's number
