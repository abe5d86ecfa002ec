"""Optional validation of FHIR resources with the fhir.resources R4B models, on executors.

:func:`validation_error` is the pure core: it returns a short description of why a resource's JSON
fails its model (the error types and element paths, never the values), or ``None``.
:func:`find_validation_errors` runs it in a pandas UDF over Arrow batches. fhir.resources models
R4B; a type it lacks (R4 types removed in R4B) is not checked. Validation is much slower than the
typed parse (a Python model per resource), hence opt-in (``--validate`` or ``fhir.validate``).
"""

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["VALIDATION_COLUMN", "find_validation_errors", "validation_error"]

#: Default name of the column :func:`find_validation_errors` adds.
VALIDATION_COLUMN = "validation_error"
_MAX_ERRORS = 5
# Annotations are evaluated at runtime here: pandas_udf reads them to pick the UDF kind.


@lru_cache(maxsize=None)
def _model(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    try:
        return get_fhir_model_class(resource_type)
    except ValueError:
        return None


def validation_error(text: str, resource_type: str) -> str | None:
    """Return why ``text`` fails the R4B model of ``resource_type`` (no values), or None.

    Examples
    --------
    >>> validation_error('{"resourceType": "Patient", "id": "a"}', "Patient")
    >>> validation_error('{"resourceType": "Observation", "id": "a", "status": "final"}',
    ...                  "Observation")
    'R4B validation failed: missing at Observation.code'
    """
    from pydantic import ValidationError

    model = _model(resource_type)
    if model is None:
        return None
    try:
        model.model_validate_json(text)
    except ValidationError as error:
        problems = [
            f"{item['type']} at {'.'.join([resource_type, *map(str, item['loc'])])}"
            for item in error.errors(include_url=False, include_input=False)[:_MAX_ERRORS]
        ]
        return "R4B validation failed: " + "; ".join(problems)
    except ValueError as error:
        return f"R4B validation failed: {type(error).__name__}"
    return None


def find_validation_errors(
    df: "DataFrame", resource_type: str, json_column: str, output_column: str = VALIDATION_COLUMN
) -> "DataFrame":
    """Add the validation error of each row's JSON (None when valid), computed on executors.

    A task holds one Arrow batch of texts and one model instance at a time.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    def check(texts: pd.Series) -> pd.Series:
        return pd.Series([validation_error(t, resource_type) for t in texts], dtype=object)

    udf = F.pandas_udf(check, StringType())  # type: ignore[call-overload]
    return df.withColumn(output_column, udf(F.col(json_column)))
