"""FHIR R4 support: the vendored definitions, the generated Spark schemas, parsing and the round-trip proof.

Only :mod:`medlake.fhir.parse` and the Spark adapter in :mod:`medlake.fhir.roundtrip` import
PySpark; the definitions, the schema generator and the round-trip core are pure Python.
"""
