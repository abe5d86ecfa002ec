"""Vital signs by LOINC code and their conversion to one UCUM unit each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column

__all__ = ["BLOOD_PRESSURE_PANEL", "VITALS", "Vital", "conversion_factor", "factor_column"]

#: LOINC blood pressure panel; its components carry systolic and diastolic pressure.
BLOOD_PRESSURE_PANEL = "85354-9"


@dataclass(frozen=True)
class Vital:
    """One vital sign: its LOINC code, its feature columns, the unit it is stored in, and factors."""

    loinc: str
    #: The feature column of the value; ``<name>_at`` holds when it was taken.
    name: str
    column: str
    unit: str
    #: UCUM code (or the unit text where no code is given) -> factor to :attr:`unit`.
    factors: dict[str, float]

    @property
    def at_column(self) -> str:
        """The column of when the value was taken."""
        return f"{self.name}_at"


VITALS = (
    Vital("8302-2", "height", "height_cm", "cm", {"cm": 1.0, "m": 100.0, "mm": 0.1, "[in_i]": 2.54, "[ft_i]": 30.48}),
    Vital("29463-7", "weight", "weight_kg", "kg", {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237, "[oz_av]": 0.028349523125}),
    Vital("39156-5", "bmi", "bmi_kg_m2", "kg/m2", {"kg/m2": 1.0}),
    Vital("8480-6", "systolic_bp", "systolic_bp_mmhg", "mm[Hg]", {"mm[Hg]": 1.0, "kPa": 7.500615758456563}),
    Vital("8462-4", "diastolic_bp", "diastolic_bp_mmhg", "mm[Hg]", {"mm[Hg]": 1.0, "kPa": 7.500615758456563}),
    Vital("8867-4", "heart_rate", "heart_rate_per_min", "/min", {"/min": 1.0, "{beats}/min": 1.0, "1/min": 1.0}),
)


def conversion_factor(loinc: str, unit: str | None) -> float | None:
    """Return the factor from ``unit`` to the vital's unit, or None if the code or unit is unknown.

    Examples
    --------
    >>> conversion_factor("29463-7", "[lb_av]"), conversion_factor("8302-2", "[in_i]")
    (0.45359237, 2.54)
    >>> conversion_factor("29463-7", "stone") is None
    True
    """
    for vital in VITALS:
        if vital.loinc == loinc:
            return vital.factors.get(unit or "")
    return None


def factor_column(loinc: "Column", unit: "Column") -> "Column":
    """Return :func:`conversion_factor` of two columns as a map lookup the JVM evaluates."""
    from itertools import chain

    from pyspark.sql import functions as F

    entries = chain.from_iterable((F.lit(f"{vital.loinc}|{code}"), F.lit(factor))
                                  for vital in VITALS for code, factor in vital.factors.items())
    return F.create_map(*entries)[F.concat_ws("|", loinc, unit)]
