"""Who pays: responsibility matrices, expenditure splits, devolution (财随事转), programmes.

Matrices (``matrices/*.toml``) and programmes (``programmes/*.toml``) are data with a source on
every share. Feeds the towns table (devolution) and the transfers. May import the ground,
:mod:`townfiscal.towns`, :mod:`townfiscal.policy` and :mod:`townfiscal.rules`; not the
optimiser, the analysis wing or the faces.
"""

from townfiscal.responsibility._devolution import Devolution, devolve, subsidy_change
from townfiscal.responsibility._matrix import (
    LEVELS,
    LOCAL_LEVELS,
    ZONES,
    ResponsibilityMatrix,
    get_responsibility,
    list_responsibilities,
)
from townfiscal.responsibility._programmes import (
    Programme,
    Programmes,
    get_programmes,
    list_programmes,
    transfers,
)
from townfiscal.responsibility._split import ExpenditureSplit, split_expenditure, split_rows

__all__ = [
    "LEVELS",
    "LOCAL_LEVELS",
    "ZONES",
    "Devolution",
    "ExpenditureSplit",
    "Programme",
    "Programmes",
    "ResponsibilityMatrix",
    "devolve",
    "get_programmes",
    "get_responsibility",
    "list_programmes",
    "list_responsibilities",
    "split_expenditure",
    "split_rows",
    "subsidy_change",
    "transfers",
]
