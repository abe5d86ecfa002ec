#!/usr/bin/env bash
# Run the whole pipeline end to end on generated sample data, on the embedded default (local
# Spark, Delta tables and the Derby metastore under MEDLAKE_HOME, default ./lakehouse):
#   ./demo.sh [--patients N]
# Sets up the environment on first use. Safe to rerun: unchanged inputs are skipped.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/scripts/bootstrap.sh"
medlake_bootstrap || exit 2
cd "$MEDLAKE_ROOT"
patients=20
if [ "${1:-}" = "--patients" ]; then patients="$2"; fi
home="${MEDLAKE_HOME:-$MEDLAKE_ROOT/lakehouse}"
data="$home/demo-input"
echo "medlake demo: generating $patients patients (FHIR, Bundles, DICOM) into $data" >&2
"$MEDLAKE_PY" -m medlake.synthetic --out "$data" --patients "$patients" --seed 7 --dicom --bundles >&2
submit() { "$MEDLAKE_ROOT/spark-submit.sh" "$@"; }
submit jobs/fhir_ingest.py --input "$data/fhir" --input "$data/fhir-bundles" --input "$data/bad/fhir"
submit jobs/dicom_ingest.py --input "$data/dicom" --input "$data/bad/dicom"
submit jobs/htj2k_transcode.py --output-dicom "$home/htj2k-dicom"
# The demo's synthetic patients only: a real lake takes its secret from the environment.
MEDLAKE_FEATURE_KEY="${MEDLAKE_FEATURE_KEY:-medlake-demo-only-feature-key}" submit jobs/features.py
submit jobs/quality.py || echo "medlake demo: a critical quality check failed; the report above says which" >&2
echo "medlake demo: the seed query (extensions by position, as the contract states it)" >&2
submit jobs/sql.py "SELECT name[0].given AS FirstName, name[0].family AS LastName,
  get_json_object(extension[0], '$.valueString') AS MothersMaidenName,
  get_json_object(extension[1], '$.valueAddress.city') AS birthPlace
FROM fhir.patient LIMIT 5"
echo "medlake demo: the same by extension URL (Synthea and the generator put US Core race first)" >&2
submit jobs/sql.py "SELECT name[0].given AS FirstName, name[0].family AS LastName,
  get_json_object(filter(extension, e -> get_json_object(e, '$.url') LIKE '%patient-mothersMaidenName')[0],
                  '$.valueString') AS MothersMaidenName,
  get_json_object(filter(extension, e -> get_json_object(e, '$.url') LIKE '%patient-birthPlace')[0],
                  '$.valueAddress.city') AS birthPlace
FROM fhir.patient LIMIT 5"
echo "medlake demo: tables" >&2
submit jobs/sql.py "SELECT 'fhir.patient' AS table_name, count(*) AS row_count FROM fhir.patient
  UNION ALL SELECT 'fhir.observation', count(*) FROM fhir.observation
  UNION ALL SELECT 'fhir.quarantine', count(*) FROM fhir.quarantine
  UNION ALL SELECT 'dicom.instance', count(*) FROM dicom.instance
  UNION ALL SELECT 'dicom.image_set', count(*) FROM dicom.image_set
  UNION ALL SELECT 'dicom.frame', count(*) FROM dicom.frame
  UNION ALL SELECT 'dicom.quarantine', count(*) FROM dicom.quarantine
  UNION ALL SELECT 'ml.patient_features', count(*) FROM ml.patient_features
  UNION ALL SELECT 'ml.image_features', count(*) FROM ml.image_features"
