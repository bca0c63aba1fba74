"""The rules of a measure, as vectorised functions from a towns table and a policy to a table.

eligibility → factor coefficients → composite coefficient → tiers (2018) or shares (2020)
→ growth control → whole-yuan amounts; what a policy needs of a table; synthetic tables whose
last-year amounts follow the rules. May import the ground, :mod:`townfiscal.towns` and
:mod:`townfiscal.policy`.
"""

from townfiscal.rules._eligibility import covered_area, eligibility, eligible_mask
from townfiscal.rules._explain import explain_formula, formula_steps
from townfiscal.rules._factors import (
    FactorSpec,
    composite_coefficient,
    factor_coefficients,
    factor_specs,
    factor_values,
)
from townfiscal.rules._formula import (
    FormulaComputation,
    assign_tiers,
    compute_formula,
    formula_allocation,
)
from townfiscal.rules._growth import capped_proportional, growth_bounds
from townfiscal.rules._synthetic import make_towns, write_example
from townfiscal.rules._towns import check_policy_needs, read_towns, roll_forward, validate_towns

__all__ = [
    "FactorSpec",
    "FormulaComputation",
    "assign_tiers",
    "capped_proportional",
    "check_policy_needs",
    "composite_coefficient",
    "compute_formula",
    "covered_area",
    "eligibility",
    "eligible_mask",
    "explain_formula",
    "factor_coefficients",
    "factor_specs",
    "factor_values",
    "formula_allocation",
    "formula_steps",
    "growth_bounds",
    "make_towns",
    "read_towns",
    "roll_forward",
    "validate_towns",
    "write_example",
]
