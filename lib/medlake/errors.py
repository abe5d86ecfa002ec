"""The exceptions medlake raises; jobs map them to exit codes."""

__all__ = ["MedlakeError", "ConfigError", "MetastoreLockedError", "JobError"]


class MedlakeError(Exception):
    """Base class of every error medlake raises on purpose (exit code 1)."""


class ConfigError(MedlakeError):
    """Bad arguments, profile or environment (exit code 2)."""


class MetastoreLockedError(MedlakeError):
    """The embedded Derby metastore is held by another process."""


class JobError(MedlakeError):
    """A job could not complete; the message says why without quoting patient data."""
