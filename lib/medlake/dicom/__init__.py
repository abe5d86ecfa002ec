"""DICOM: pure per-file header reading, DICOM JSON and AWS HealthImaging-style image set documents.

The modules here import neither PySpark nor a session; Spark jobs wrap them in ``mapInPandas``.
"""
