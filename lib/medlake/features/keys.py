"""Pseudonymous patient keys: HMAC-SHA-256 of the FHIR Patient id under a secret from the profile.

The key is the same for the same id and secret, so feature tables join on it, and it cannot be
turned back into the id without the secret; the mapping lives only in ``ml.patient_key``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

import pandas as pd

from medlake.config import FEATURE_KEY_VARIABLE, FeaturesConfig
from medlake.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import Column

__all__ = ["MIN_SECRET_LENGTH", "patient_key", "patient_key_column", "require_secret"]

#: Shortest secret accepted, in characters.
MIN_SECRET_LENGTH = 16


def require_secret(config: FeaturesConfig) -> str:
    """Return the key secret of the configuration.

    Raises
    ------
    ConfigError
        If no secret is set (``MEDLAKE_FEATURE_KEY`` or ``features.patient_key_secret``) or it is
        shorter than :data:`MIN_SECRET_LENGTH` characters.
    """
    secret = config.patient_key_secret
    if not secret:
        raise ConfigError(f"Unable to build pseudonymous patient keys as no secret is set; set {FEATURE_KEY_VARIABLE} "
                          "(or features.patient_key_secret in the profile)")
    if len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(f"Unable to build pseudonymous patient keys as the secret has fewer than "
                          f"{MIN_SECRET_LENGTH} characters")
    return secret


def patient_key(secret: str, patient_id: str) -> str:
    """Return the pseudonymous key of a patient id: HMAC-SHA-256 in 64 hex digits.

    Examples
    --------
    >>> key = patient_key("a secret of 16 characters", "patient-1")
    >>> len(key), key == patient_key("a secret of 16 characters", "patient-1")
    (64, True)
    >>> key != patient_key("another secret, 16 characters", "patient-1")
    True
    """
    return hmac.new(secret.encode("utf-8"), patient_id.encode("utf-8"), hashlib.sha256).hexdigest()


def patient_key_column(ids: "Column", secret: str) -> "Column":
    """Return a column of :func:`patient_key` of ``ids``, computed on executors (pandas UDF).

    The secret travels inside the UDF's pickled closure, not as a literal in the query plan, so it
    never shows in ``explain()`` or the Spark UI.
    """
    from pyspark.sql.functions import pandas_udf

    def keys(values: pd.Series) -> pd.Series:
        return values.map(lambda value: None if value is None else patient_key(secret, value))

    return pandas_udf(keys, "string")(ids)  # type: ignore[call-overload,no-any-return]
