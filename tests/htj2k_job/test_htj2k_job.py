"""The HTJ2K job over a small lake: one outcome per file, bit-exact frames, idempotent reruns, HTJ2K files."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.pixels import pixel_array

from medlake.dicom.frames.stored import decode_stored_frame, decoded_pixels, get_frame
from medlake.dicom.frames.htj2k import decode_htj2k_frame
from medlake.dicom.ingest_job import run_dicom_ingest
from medlake.dicom.transcode_job import run_htj2k_transcode
from medlake.tables import table_version

from htj2k_job_data import FRAME_OUTCOMES, QUARANTINED, break_sources, write_sources

#: Small enough that rtdose.dcm's 15 frames (400 bytes each) become 5 work units of 3 frames.
MAX_TASK_PIXEL_BYTES = 1200


@pytest.fixture(scope="module")
def lake(spark: Any, config: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Ingest the sources, break two, run the job twice (the second time with nothing to do)."""
    root = tmp_path_factory.mktemp("htj2k-job")
    paths = write_sources(root / "sources")
    # This lake's instances only: the SOP Instance UIDs of pydicom's files may be in the session's lake already.
    for table in ("dicom.instance", "dicom.series", "dicom.study", "dicom.image_set", "dicom.frame"):
        spark.sql(f"DROP TABLE IF EXISTS {table}")
    ingested = run_dicom_ingest(spark, config, [str(root / "sources")])
    assert ingested.counts["loaded"] == len(paths), ingested.counts
    break_sources(paths)
    small = dataclasses.replace(config, dicom=dataclasses.replace(config.dicom,
                                                                  max_task_pixel_bytes=MAX_TASK_PIXEL_BYTES))
    out = root / "out"
    first = run_htj2k_transcode(spark, small, output_dicom=str(out))
    versions = {t: table_version(spark, t) for t in ("dicom.frame", "dicom.quarantine")}
    second = run_htj2k_transcode(spark, small, output_dicom=str(out))
    instances = spark.table("dicom.instance").select("source_uri", "sop_instance_uid").collect()
    return {"paths": paths, "first": first, "second": second, "versions": versions, "out": out,
            "sops": {row.source_uri.rsplit("/", 1)[-1]: row.sop_instance_uid for row in instances},
            "uris": {row.source_uri.rsplit("/", 1)[-1]: row.source_uri for row in instances}}


@pytest.mark.parametrize("name, action, reason, frames, verification, syntax, pi", FRAME_OUTCOMES)
def test_frames_of_each_file(spark: Any, lake: dict[str, Any], name: str, action: str, reason: str, frames: int,
                             verification: str | None, syntax: str, pi: str) -> None:
    rows = spark.table("dicom.frame").where(f"sop_instance_uid = '{lake['sops'][name]}'") \
        .orderBy("frame_number").collect()
    assert [row.frame_number for row in rows] == list(range(1, frames + 1))
    assert {(row.action, row.reason, row.verification, row.transfer_syntax_uid, row.photometric_interpretation)
            for row in rows} == {(action, reason, verification, syntax, pi)}
    if action == "pass_through":
        assert all(row.data is None and row.encoded_size == 0 and row.crc32 is None for row in rows)
    else:
        assert all(row.encoded_size == len(row.data) > 0 and row.crc32 is not None for row in rows)


@pytest.mark.parametrize("name, reason, position, kind", QUARANTINED)
def test_quarantined_files(spark: Any, lake: dict[str, Any], name: str, reason: str, position: int,
                           kind: str) -> None:
    rows = spark.table("dicom.quarantine").where(f"source_uri = '{lake['uris'][name]}'").collect()
    assert [(row.reason, row.position, row.position_kind) for row in rows] == [(reason, position, kind)]
    assert spark.table("dicom.frame").where(f"source_uri = '{lake['uris'][name]}'").count() == 0


def test_summary_counts(lake: dict[str, Any]) -> None:
    counts = lake["first"].counts
    assert counts["instances"] == 12
    assert (counts["transcoded"], counts["kept"], counts["passed_through"], counts["quarantined"]) == (19, 2, 2, 4)
    assert counts["work_units"] == 1 + 2 + 5 + 1 + 1 + 1 + 1 + 4  # rtdose in 5 units of 3 frames
    assert counts["stored_bytes"] < counts["raw_bytes"]
    assert counts["files_written"] == 4


@pytest.mark.parametrize("name", [o[0] for o in FRAME_OUTCOMES if o[1] != "pass_through"])
def test_frame_api_decodes_bit_exact(spark: Any, lake: dict[str, Any], name: str) -> None:
    source = dcmread(lake["paths"][name])
    frames = int(source.get("NumberOfFrames") or 1)
    for number in range(1, frames + 1):
        stored = get_frame(spark, sop_instance_uid=lake["sops"][name], frame_number=number)
        expected = pixel_array(source, index=number - 1, raw=True)
        decoded = decode_stored_frame(stored)
        assert decoded.dtype == expected.dtype.newbyteorder("=")
        np.testing.assert_array_equal(decoded, expected)


def test_pandas_udf_decodes_to_the_stored_checksums(spark: Any, lake: dict[str, Any]) -> None:
    frames = spark.table("dicom.frame")
    checked = frames.select("crc32", decoded_pixels(frames).alias("pixels")).where("pixels IS NOT NULL")
    assert checked.count() == 21
    assert checked.where("crc32(pixels) != crc32").count() == 0


def test_get_frame_by_image_set_and_frame_id(spark: Any, lake: dict[str, Any]) -> None:
    row = spark.table("dicom.frame").where(f"sop_instance_uid = '{lake['sops']['rtdose.dcm']}' AND frame_number = 7") \
        .select("image_set_id", "frame_id").first()
    assert row.image_set_id is not None
    frame = get_frame(spark, image_set_id=row.image_set_id, frame_id=row.frame_id)
    assert (frame.sop_instance_uid, frame.frame_number) == (lake["sops"]["rtdose.dcm"], 7)


def test_image_set_documents_list_the_stored_frames(spark: Any, lake: dict[str, Any]) -> None:
    from medlake.dicom.metadata import get_image_set_metadata

    sop = lake["sops"]["rtdose.dcm"]
    stored = spark.table("dicom.frame").where(f"sop_instance_uid = '{sop}'").orderBy("frame_number").collect()
    document = get_image_set_metadata(spark, stored[0].image_set_id)
    instances = {uid: instance for series in document["Study"]["Series"].values()
                 for uid, instance in series["Instances"].items()}
    frames = instances[sop]["ImageFrames"]
    assert [frame["ID"] for frame in frames] == [row.frame_id for row in stored]
    assert [frame["FrameSizeInBytes"] for frame in frames] == [row.encoded_size for row in stored]
    assert [frame["PixelDataChecksumFromBaseToFullResolution"][-1]["Checksum"] for frame in frames] == \
        [row.crc32 for row in stored]


def test_get_frame_needs_one_pair_of_identifiers(spark: Any, lake: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="Give either"):
        get_frame(spark, sop_instance_uid="1.2", frame_id="x")
    with pytest.raises(ValueError, match="no frame with these identifiers"):
        get_frame(spark, sop_instance_uid="1.2", frame_number=1)


def test_rerun_changes_nothing(spark: Any, lake: dict[str, Any]) -> None:
    assert {t: table_version(spark, t) for t in lake["versions"]} == lake["versions"]
    counts = lake["second"].counts  # only the changed and the missing source are looked at again
    assert (counts["instances"], counts["frames"], counts["quarantined"], counts["files_written"]) == (2, 0, 2, 0)


@pytest.mark.parametrize("name", [o[0] for o in FRAME_OUTCOMES if o[1] == "transcoded"])
def test_output_dicom_reads_back_equal(lake: dict[str, Any], name: str) -> None:
    source = dcmread(lake["paths"][name])
    path = Path(lake["out"], source.StudyInstanceUID, source.SeriesInstanceUID, f"{source.SOPInstanceUID}.dcm")
    written = dcmread(path)
    assert written.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.202"
    assert written.PatientName == source.PatientName and written.Rows == source.Rows
    expected = pixel_array(source, raw=False)
    if written.BitsStored < 32:
        np.testing.assert_array_equal(written.pixel_array, expected)
    else:  # OpenJPEG (pydicom's HTJ2K decoder) cannot read OpenJPH's 32-bit codestreams
        from pydicom.encaps import generate_frames

        signed = bool(written.PixelRepresentation)
        decoded = [decode_htj2k_frame(f, written.Rows, written.Columns, written.SamplesPerPixel, written.BitsStored, signed)
                   for f in generate_frames(written.PixelData, number_of_frames=int(written.NumberOfFrames))]
        np.testing.assert_array_equal(np.stack(decoded), expected)
