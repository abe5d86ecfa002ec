"""Run by test_local_cluster through ./spark-submit.sh: which worker processes ran Python tasks, then ingest a few
files, transcode them and print who encoded what."""

import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from htj2k_job_data import write_sources  # noqa: E402

from medlake.config import load_config  # noqa: E402
from medlake.diagnostics import worker_processes  # noqa: E402
from medlake.dicom.ingest_job import run_dicom_ingest  # noqa: E402
from medlake.dicom.transcode_job import run_htj2k_transcode  # noqa: E402
from medlake.spark_session import build_session  # noqa: E402


def main() -> None:
    config = load_config()
    # rtdose.dcm's 15 frames of 400 bytes become 15 units: enough tasks for both executors.
    config = dataclasses.replace(config, dicom=dataclasses.replace(config.dicom, max_task_pixel_bytes=400))
    spark = build_session(config)
    workers = [row.asDict() for row in worker_processes(spark, tasks=4).collect()]
    write_sources(Path(config.path("sources")))
    run_dicom_ingest(spark, config, [config.path("sources")])
    summary = run_htj2k_transcode(spark, config)
    rows = spark.table("dicom.frame").where("action = 'transcoded'").select("encoded_by", "frame_number").collect()
    print(json.dumps({"master": spark.sparkContext.master, "summary": summary.counts,
                      "encoded_by": sorted({row.encoded_by for row in rows}), "frames": len(rows),
                      "workers": workers}))
    spark.stop()


if __name__ == "__main__":  # pytest --doctest-modules imports this file too
    main()
