"""Deterministic synthetic data for tests, benchmarks and the demo.

One seeded patient roster (:mod:`medlake.synthetic.roster`) feeds every generator, so the FHIR
resources (:mod:`~medlake.synthetic.fhir`, :mod:`~medlake.synthetic.bundles`) and the DICOM
studies (:mod:`~medlake.synthetic.dicom`) describe the same people and the same studies.
Catalogues of broken inputs with their expected outcomes are in :mod:`~medlake.synthetic.broken`
(DICOM) and :mod:`~medlake.synthetic.badrecords` (FHIR NDJSON). The command line is
``python -m medlake.synthetic --out DIR --patients N --seed S``.

Importing this package imports neither PySpark nor the generators' modules.
"""

__all__: list[str] = []
