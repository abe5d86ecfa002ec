"""Quality gates: Great Expectations suites over the lake's tables, ``ops.quality`` and an HTML report.

``medlake.quality.run(spark)`` runs them (``jobs/quality.py`` is a thin call of it); the suites are
in :mod:`medlake.quality.suites`, the Great Expectations context in :mod:`medlake.quality.gx`, the
results table in :mod:`medlake.quality.results`.
"""

from medlake.quality.gate import run

__all__ = ["run"]
