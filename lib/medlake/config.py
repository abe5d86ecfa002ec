"""Configuration: a profile from ``conf/<profile>.yaml`` plus environment overrides, loaded once.

``MEDLAKE_PROFILE`` picks the profile (default ``local``); ``MEDLAKE_HOME`` overrides the profile's
``home``, the root of everything a run writes on the embedded default. A relative ``home`` in a
profile is relative to the project's root, so a cron line behaves like a shell.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

import yaml

from medlake.errors import ConfigError

__all__ = [
    "FEATURE_KEY_VARIABLE", "DicomConfig", "FeaturesConfig", "FhirConfig", "MedlakeConfig", "QualityConfig",
    "TableConfig", "load_config",
]

#: The environment variable that holds the secret of the pseudonymous patient keys.
FEATURE_KEY_VARIABLE = "MEDLAKE_FEATURE_KEY"

_URI_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


@dataclass(frozen=True)
class FhirConfig:
    """FHIR ingest settings."""

    #: A run fails (exit 1) when more than this fraction of its records is quarantined.
    max_quarantined_fraction: float = 1.0
    #: Validate resources with fhir.resources (R4B models) on executors.
    validate: bool = False


@dataclass(frozen=True)
class DicomConfig:
    """DICOM ingest and transcoding settings."""

    datastore_id: str = "00000000000000000000000000000000"
    #: Files larger than this are recorded as too large instead of read (Spark's binary limit is 2 GiB).
    max_file_bytes: int = 1 << 30
    #: Values above this many bytes become BulkDataURIs in the DICOM JSON instead of being inlined.
    bulk_data_threshold: int = 1024
    #: Quarantine instances whose text could not be decoded by their Specific Character Set.
    quarantine_charset_errors: bool = True
    #: Upper bound of raw pixel bytes one transcoding task holds.
    max_task_pixel_bytes: int = 64 << 20


@dataclass(frozen=True)
class FeaturesConfig:
    """Settings of the ``ml`` feature tables (``jobs/features.py``)."""

    #: How many of the most frequent SNOMED CT conditions become flags in ``ml.patient_features``.
    top_conditions: int = 10
    #: Secret of the keyed hash (HMAC-SHA-256) behind ``patient_key``; ``MEDLAKE_FEATURE_KEY`` overrides it.
    patient_key_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class TableConfig:
    """Delta table properties medlake relies on for time travel and erasure."""

    log_retention: str = "interval 30 days"
    deleted_file_retention: str = "interval 7 days"


@dataclass(frozen=True)
class QualityConfig:
    """Quality gate settings: severities of the checks and their thresholds (see the README)."""

    #: Check name -> ``critical`` (a failure makes the job exit 1) or ``warning`` (reported only),
    #: overriding the defaults of :mod:`medlake.quality.suites`.
    severity: Mapping[str, str] = field(default_factory=dict)
    #: Largest fraction of a table's patient references that may not resolve to ``fhir.patient``.
    max_unresolved_reference_fraction: float = 0.01
    #: Modality -> ``[min, max]`` of raw bytes / HTJ2K bytes over its transcoded frames; ``default``
    #: applies to modalities not listed.
    compression_ratio: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: {"default": (1.0, 50.0)})
    #: Newest validation results listed on the report's index page (bounds the time to rebuild it).
    report_index_limit: int = 500

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", dict(self.severity or {}))
        if bad := {name: value for name, value in self.severity.items() if value not in ("critical", "warning")}:
            raise ConfigError(f"Unable to load the profile as quality.severity values must be 'critical' or "
                              f"'warning', not {bad}")
        if not 0 <= self.max_unresolved_reference_fraction <= 1:
            raise ConfigError("Unable to load the profile as quality.max_unresolved_reference_fraction must be "
                              f"between 0 and 1, not {self.max_unresolved_reference_fraction}")
        ranges = {str(name): tuple(float(bound) for bound in bounds) for name, bounds in self.compression_ratio.items()}
        if "default" not in ranges or any(len(r) != 2 or r[0] > r[1] for r in ranges.values()):
            raise ConfigError("Unable to load the profile as quality.compression_ratio must map 'default' and "
                              f"modalities to [min, max] with min <= max, not {dict(self.compression_ratio)}")
        object.__setattr__(self, "compression_ratio", ranges)


@dataclass(frozen=True)
class MedlakeConfig:
    """Everything a job needs to know about where it runs; frozen, built by :func:`load_config`."""

    profile: str
    home: str
    master: str | None
    metastore: str  # embedded (one process), shared (medlake.metastore's server) or external
    spark_conf: Mapping[str, str] = field(default_factory=dict)
    fhir: FhirConfig = field(default_factory=FhirConfig)
    dicom: DicomConfig = field(default_factory=DicomConfig)
    tables: TableConfig = field(default_factory=TableConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)

    @property
    def embedded_metastore(self) -> bool:
        """Whether the catalogue is a Derby database this process opens itself (one process at a time)."""
        return self.metastore == "embedded"

    @property
    def shared_metastore(self) -> bool:
        """Whether the catalogue is served by the home's Derby network server (:mod:`medlake.metastore`)."""
        return self.metastore == "shared"

    @property
    def warehouse_dir(self) -> str:
        """Where managed Delta tables live."""
        return f"{self.home.rstrip('/')}/warehouse"

    def path(self, *parts: str) -> str:
        """Return a location under ``home`` (reports, HTJ2K outputs, checkpoints)."""
        return "/".join([self.home.rstrip("/"), *parts])


def _conf_dir() -> Path:
    from medlake.spark_defaults import project_root

    return Path(os.environ.get("MEDLAKE_CONF_DIR") or project_root() / "conf")


def _absolute_home(home: str) -> str:
    if _URI_SCHEME.match(home):
        return home
    from medlake.spark_defaults import project_root

    path = Path(home).expanduser()
    return str(path if path.is_absolute() else (project_root() / path).resolve())


def _section(raw: Mapping[str, Any], name: str, cls: type) -> Any:
    values = raw.get(name) or {}
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(
            f"Unable to load the profile as section '{name}' has unknown keys {sorted(unknown)}; "
            f"known keys are {sorted(known)}"
        )
    return cls(**values)


def load_config(profile: str | None = None, environ: Mapping[str, str] | None = None) -> MedlakeConfig:
    """Load ``conf/<profile>.yaml`` and apply the environment's overrides.

    Parameters
    ----------
    profile
        Profile name; defaults to ``MEDLAKE_PROFILE`` or ``local``.
    environ
        The environment to read overrides from; defaults to ``os.environ``.

    Returns
    -------
    The frozen configuration.

    Raises
    ------
    ConfigError
        If the profile does not exist, is not valid YAML or has unknown keys.

    Examples
    --------
    >>> config = load_config("local", environ={"MEDLAKE_HOME": "/tmp/medlake-doc"})
    >>> config.home, config.warehouse_dir
    ('/tmp/medlake-doc', '/tmp/medlake-doc/warehouse')
    """
    env = os.environ if environ is None else environ
    name = profile or env.get("MEDLAKE_PROFILE") or "local"
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ConfigError(f"Unable to load profile {name!r} as profile names are letters, digits, '-' and '_'")
    path = _conf_dir() / f"{name}.yaml"
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"Unable to load profile {name!r} as {path} does not exist") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"Unable to load profile {name!r} as {path} is not valid YAML: {error}") from None
    known = {"home", "master", "metastore", "spark", "fhir", "dicom", "tables", "quality", "features"}
    if unknown := set(raw) - known:
        raise ConfigError(f"Unable to load profile {name!r} as it has unknown keys {sorted(unknown)}")
    metastore = raw.get("metastore", "embedded")
    if metastore not in ("embedded", "shared", "external"):
        raise ConfigError(f"Unable to load profile {name!r} as metastore must be 'embedded', 'shared' or "
                          f"'external', not {metastore!r}")
    return MedlakeConfig(
        profile=name,
        home=_absolute_home(env.get("MEDLAKE_HOME") or raw.get("home") or "lakehouse"),
        master=raw.get("master"),
        metastore=metastore,
        spark_conf={str(key): str(value) for key, value in (raw.get("spark") or {}).items()},
        fhir=_section(raw, "fhir", FhirConfig),
        dicom=_section(raw, "dicom", DicomConfig),
        tables=_section(raw, "tables", TableConfig),
        quality=_section(raw, "quality", QualityConfig),
        features=_features(raw, env),
    )


def _features(raw: Mapping[str, Any], env: Mapping[str, str]) -> FeaturesConfig:
    """Return the ``features`` section, with the key secret from the environment where set."""
    section: FeaturesConfig = _section(raw, "features", FeaturesConfig)
    if not isinstance(section.top_conditions, int) or section.top_conditions < 0:
        raise ConfigError(f"Unable to load the profile as features.top_conditions must be an integer of 0 or "
                          f"more, not {section.top_conditions!r}")
    secret = env.get(FEATURE_KEY_VARIABLE) or section.patient_key_secret
    return replace(section, patient_key_secret=secret)
