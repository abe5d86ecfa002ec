"""The demo: every stage over the generated sample data in one session, then what the lake holds.

``./demo.sh`` generates the data and runs ``./spark-submit.sh jobs/demo.py --data DIR``. Each
stage is the library call its job makes (the demo prints the equivalent ``spark-submit`` line);
running them in one session saves a JVM and a catalogue start per stage. A failed quality gate
does not stop the demo: its report says which check failed.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import medlake
from medlake.errors import JobError
from medlake.runs import RunSummary
from medlake.stages import Stages, StageTime

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["DemoStage", "Wave", "demo_stages", "run_demo"]

#: The seed query as the contract states it: extensions by position.
SEED_BY_POSITION = """SELECT name[0].given AS FirstName, name[0].family AS LastName,
  get_json_object(extension[0], '$.valueString') AS MothersMaidenName,
  get_json_object(extension[1], '$.valueAddress.city') AS birthPlace
FROM fhir.patient ORDER BY LastName NULLS LAST, FirstName[0] LIMIT 5"""
#: The same by extension URL: Synthea and the generator put US Core race first, so positions miss.
SEED_BY_URL = """SELECT name[0].given AS FirstName, name[0].family AS LastName,
  get_json_object(filter(extension, e -> get_json_object(e, '$.url') LIKE '%patient-mothersMaidenName')[0],
                  '$.valueString') AS MothersMaidenName,
  get_json_object(filter(extension, e -> get_json_object(e, '$.url') LIKE '%patient-birthPlace')[0],
                  '$.valueAddress.city') AS birthPlace
FROM fhir.patient ORDER BY LastName NULLS LAST, FirstName[0] LIMIT 5"""
TABLE_COUNTS = " UNION ALL ".join(
    f"SELECT '{table}' AS table_name, count(*) AS row_count FROM {table}" for table in (
        "fhir.patient", "fhir.observation", "fhir.raw", "fhir.quarantine", "dicom.instance", "dicom.study",
        "dicom.image_set", "dicom.frame", "dicom.quarantine", "ml.patient_features", "ml.image_features"))
QUALITY_SUMMARY = """SELECT suite, count(*) AS expectations,
  count_if(NOT success AND severity = 'critical') AS failed_critical,
  count_if(NOT success AND severity = 'warning') AS failed_warning
FROM ops.quality WHERE run_id = '{run_id}' GROUP BY suite ORDER BY suite"""
COMPRESSION_SUMMARY = """SELECT i.modality, f.action, count(*) AS frames, sum(f.raw_size) AS raw_bytes,
  sum(f.encoded_size) AS stored_bytes, round(sum(f.raw_size) / sum(f.encoded_size), 2) AS ratio
FROM dicom.frame f JOIN dicom.instance i USING (sop_instance_uid)
GROUP BY i.modality, f.action ORDER BY i.modality, f.action"""


@dataclass(frozen=True)
class DemoStage:
    """One stage of the demo: its name, the job a scheduler would run instead, and the library call.

    A ``gate`` stage's failure (:class:`~medlake.errors.JobError`) is reported and the demo goes on.
    """

    name: str
    job: str
    call: Callable[["SparkSession"], RunSummary]
    gate: bool = False


Wave = tuple[DemoStage, ...]


def demo_stages(data: Path, output_dicom: Path) -> list[Wave]:
    """Return the demo's stages over the generator's output in ``data``, in waves that run in order.

    The stages of a wave run at the same time in the one session: the FHIR ingest and the HTJ2K
    transcode touch different tables (both append to ``ops``, which the DICOM ingest creates first),
    and one's planning and commits on the driver overlap the other's tasks on 2 cores.
    """
    fhir = [data / "fhir", data / "fhir-bundles", data / "bad" / "fhir"]
    dicom = [data / "dicom", data / "bad" / "dicom"]

    def inputs(paths: list[Path]) -> str:
        return " ".join(f"--input {path}" for path in paths)

    return [
        (DemoStage("DICOM ingest", f"jobs/dicom_ingest.py {inputs(dicom)}",
                   lambda spark: medlake.dicom.ingest(spark, [str(path) for path in dicom])),),
        (DemoStage("FHIR ingest", f"jobs/fhir_ingest.py {inputs(fhir)}",
                   lambda spark: medlake.fhir.ingest(spark, [str(path) for path in fhir])),
         DemoStage("HTJ2K transcode", f"jobs/htj2k_transcode.py --output-dicom {output_dicom}",
                   lambda spark: medlake.dicom.transcode(spark, str(output_dicom)))),
        (DemoStage("features", "jobs/features.py", lambda spark: medlake.features.build(spark)),),
        (DemoStage("quality", "jobs/quality.py", lambda spark: medlake.quality.run(spark), gate=True),),
    ]


def _show(spark: "SparkSession", title: str, statement: str) -> None:
    print(f"\n== {title}", flush=True)
    spark.sql(statement).show(n=100, truncate=False)


def _latest_run(spark: "SparkSession", job: str) -> str:
    return str(spark.sql(f"SELECT run_id FROM ops.runs WHERE job = '{job}' ORDER BY started_at DESC LIMIT 1")
               .collect()[0][0])


def _run_stage(spark: "SparkSession", stage: DemoStage) -> tuple[RunSummary | None, StageTime]:
    """Run one stage; print its summary line and stage table. A failed gate returns no summary."""
    started = time.monotonic()
    try:
        summary = stage.call(spark)
    except JobError as error:
        if not stage.gate:
            raise
        print(f"medlake demo: {stage.name} failed: {error}", file=sys.stderr)
        return None, StageTime(time.monotonic() - started, 0)
    print(summary.one_line(), flush=True)
    sys.stderr.write(summary.stage_table() + "\n")
    return summary, StageTime(time.monotonic() - started, sum(t.spark_jobs for t in summary.stages.values()))


def run_demo(spark: "SparkSession", waves: list[Wave]) -> RunSummary:
    """Run the waves one after another, then print the lake's counts, the seed query and the summaries.

    Returns the demo's summary: ``stages`` run, ``quality_failed`` (1 when a critical check failed)
    and each stage's wall seconds and Spark jobs. The demo has no row of its own in ``ops.runs``;
    each of its stages has. Any failure but a quality gate's stops it.
    """
    started = time.monotonic()
    demo = RunSummary("demo", uuid.uuid4().hex)
    quality_run = None
    stages = [stage for wave in waves for stage in wave]
    with ThreadPoolExecutor(max_workers=max(map(len, waves)), thread_name_prefix="medlake-demo") as pool:
        for wave in waves:
            for stage in wave:
                print(f"medlake demo [{stages.index(stage) + 1}/{len(stages)}] {stage.name}"
                      f"{' (beside the others of its wave)' if len(wave) > 1 else ''}; as a scheduled job: "
                      f"./spark-submit.sh {stage.job}", file=sys.stderr, flush=True)
            running = [pool.submit(_run_stage, spark, stage) for stage in wave]
            for stage, done in zip(wave, running):
                summary, demo.stages[stage.name] = done.result()
                if stage.gate:
                    quality_run = summary.run_id if summary is not None else _latest_run(spark, "quality")
                    demo.add(quality_failed=int(summary is None))
    queries = Stages(spark, label="demo")
    with queries.timed("queries"):
        _show(spark, "tables", TABLE_COUNTS)
        _show(spark, "the seed query (extensions by position, as the contract states it)", SEED_BY_POSITION)
        _show(spark, "the same by extension URL (values where the positions miss)", SEED_BY_URL)
        if quality_run is not None:
            _show(spark, f"quality summary (run {quality_run}; report: MEDLAKE_HOME/reports/quality/index.html)",
                  QUALITY_SUMMARY.format(run_id=quality_run))
        _show(spark, "compression summary (dicom.frame)", COMPRESSION_SUMMARY)
    demo.stages.update(queries.times)
    demo.add(stages=len(stages))
    demo.wall_seconds = time.monotonic() - started
    return demo
