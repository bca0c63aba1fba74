"""The bundled example: Guangdong's real township-level units with synthetic fiscal figures."""

from __future__ import annotations

from importlib import resources

import pandas as pd

from townfiscal.towns._read import read_towns

__all__ = ["example_path", "load_example"]


def example_path() -> str:
    """Path of the bundled example file (``guangdong.csv``)."""
    return str(resources.files("townfiscal.towns") / "data" / "guangdong.csv")


def load_example() -> pd.DataFrame:
    """Guangdong's 1,757 township-level units with synthetic fiscal figures, validated.

    Real NBS codes, names, counties and cities (2022); zones per "one core, one belt, one
    zone"; 1,002 towns and townships covered by the Guangdong measures, plus the
    subdistricts and other units they exclude. Populations, capacity, expenditure and last
    year's amounts (totalling 1,857,010,214 yuan over the covered towns) are **synthetic**
    — see :func:`~townfiscal.make_towns` for the distributions.

    Returns
    -------
    pandas.DataFrame
        The validated towns table indexed by ``code`` (see :func:`~townfiscal.validate_towns`
        for the columns): money in yuan, populations in people, areas in km². A fresh copy
        on every call, so it may be modified freely.

    Raises
    ------
    ValidationError
        Only if the bundled file has been damaged (it is checked like any other table).

    Examples
    --------
    >>> towns = load_example()
    >>> len(towns), int(towns["prior_amount"].sum())
    (1757, 1857010214)
    """
    return read_towns(example_path())
