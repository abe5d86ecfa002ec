"""medlake: a lakehouse pipeline for FHIR R4 and DICOM on Apache Spark and Delta Lake.

Importing ``medlake`` does not import PySpark; Spark-facing modules are imported on use.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
