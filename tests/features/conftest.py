"""One small lake for the feature tests: 3 generated patients with DICOM, plus planted records.

Planted beside the generator's output (:func:`plant`): a DICOM study of an unknown patient (CT
with Rescale Intercept -1024, the known frame), an ImagingStudy whose DICOM study is not in the
lake, weight and height in US units, and a blood pressure after the as-of date.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pydicom
import pytest

import medlake
from medlake.runs import RunSummary
from medlake.synthetic.__main__ import main as generate
from medlake.synthetic.roster import RosterPatient, build_roster
from medlake.tables import table_version

PATIENTS = 3
SEED = 11
AS_OF = date(2022, 6, 30)
UNLINKED_STUDY = "2.25.900001"
ORPHAN_STUDY = "2.25.900002"
ML_TABLES = ("ml.patient_key", "ml.imaging_link", "ml.patient_features", "ml.image_features")
#: The FHIR types the features read; the other generated files would only cost ingest time.
FEATURE_TYPES = ("Patient", "Observation", "Encounter", "Condition", "MedicationRequest", "Immunization",
                 "ImagingStudy")


@dataclass(frozen=True)
class Lake:
    """The generated and planted inputs, the feature runs and the table versions after the first."""

    root: Path
    roster: tuple[RosterPatient, ...]
    known_frame: Path
    first: RunSummary
    second: RunSummary
    versions: dict[str, int]

    def resources(self, resource_type: str) -> list[dict[str, Any]]:
        """Return every input resource of a type (generated and planted), parsed by Python's json."""
        found = []
        for path in sorted(self.root.glob("*/*.ndjson")):
            with path.open(encoding="utf-8") as handle:
                found += [r for r in map(json.loads, handle) if r["resourceType"] == resource_type]
        return found


def _observation(id_: str, patient: str, when: str, code: str, **value: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": id_, "status": "final", "subject": {"reference": f"Patient/{patient}"},
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]}, "effectiveDateTime": when, **value}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}


def _bp(systolic: int, diastolic: int) -> dict[str, Any]:
    return {"component": [{"code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                           "valueQuantity": {"value": value, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org",
                                             "code": "mm[Hg]"}} for code, value in (("8480-6", systolic),
                                                                                   ("8462-4", diastolic))]}


def plant(root: Path, roster: tuple[RosterPatient, ...]) -> Path:
    """Write the planted records under ``root/planted``; return the known frame's file."""
    first, second = roster[0].id, roster[1].id
    records = [
        _observation("planted-weight", second, "2022-06-29T12:00:00+00:00", "29463-7", **_quantity(154.0, "[lb_av]")),
        _observation("planted-height", second, "2022-06-29T12:00:00+00:00", "8302-2", **_quantity(65.0, "[in_i]")),
        _observation("planted-bp-future", first, "2022-07-15T09:00:00+00:00", "85354-9", **_bp(199, 121)),
        {"resourceType": "ImagingStudy", "id": "planted-orphan", "status": "available",
         "subject": {"reference": f"Patient/{first}"},
         "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{ORPHAN_STUDY}"}]},
    ]
    fhir = root / "planted" / "planted.ndjson"
    fhir.parent.mkdir(parents=True)
    fhir.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    source = next(p for p in sorted((root / "dicom").rglob("*.dcm")) if pydicom.dcmread(p).Modality == "CT")
    ds = pydicom.dcmread(source)
    ds.PatientID, ds.StudyInstanceUID = "NOBODY-1", UNLINKED_STUDY
    ds.SeriesInstanceUID, ds.SOPInstanceUID = "2.25.900003", "2.25.900004"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.RescaleIntercept = -1024
    ds.PixelData = (ds.pixel_array.astype(np.int16) + 1024).astype(np.int16).tobytes()
    known = root / "planted-dicom" / "known.dcm"
    known.parent.mkdir(parents=True)
    ds.save_as(known, enforce_file_format=True)
    return known


def _drop_lake_tables(spark: Any) -> None:
    """This lake's tables only: other test modules share the session's catalogue."""
    for database in ("fhir", "dicom", "ml"):
        for row in spark.sql(f"SHOW TABLES IN {database}").collect():
            spark.sql(f"DROP TABLE IF EXISTS {database}.{row.tableName}")


@pytest.fixture(scope="package")
def lake(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    """Generate, plant, ingest both halves, transcode, then build the features twice."""
    root = tmp_path_factory.mktemp("features")
    assert generate(["--out", str(root), "--patients", str(PATIENTS), "--seed", str(SEED), "--dicom",
                     "--rows", "16", "--columns", "16"]) == 0
    roster = build_roster(PATIENTS, SEED)
    known = plant(root, roster)
    _drop_lake_tables(spark)
    medlake.fhir.ingest(spark, [*(str(root / "fhir" / f"{t}.ndjson") for t in FEATURE_TYPES), str(root / "planted")])
    medlake.dicom.ingest(spark, [str(root / "dicom"), str(known.parent)])
    medlake.dicom.transcode(spark)
    first = medlake.features.build(spark, AS_OF)
    versions = {table: table_version(spark, table) for table in ML_TABLES}
    second = medlake.features.build(spark, AS_OF)
    yield Lake(root, roster, known, first, second, versions)
    _drop_lake_tables(spark)
