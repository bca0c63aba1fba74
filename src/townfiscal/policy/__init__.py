"""Policies as data: the TOML files of each measure, their schema, :class:`Policy` and reforms.

Every value carries its source (an article, or ``assumption: …``). May import the ground and
:mod:`townfiscal.towns` (the column names a policy may read), nothing above.
"""

from townfiscal.policy._policy import (
    METHODS,
    Parameter,
    Policy,
    get_policy,
    list_policies,
    load_policy,
    policy_from_mapping,
)

__all__ = [
    "METHODS",
    "Parameter",
    "Policy",
    "get_policy",
    "list_policies",
    "load_policy",
    "policy_from_mapping",
]
