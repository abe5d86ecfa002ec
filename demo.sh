#!/usr/bin/env bash
# Run every stage of the pipeline on generated sample data (FHIR and DICOM ingest, HTJ2K transcode,
# features, quality gates), then print the tables, the seed query and the summaries. On the embedded
# default: local Spark, Delta tables and the metastore under MEDLAKE_HOME (default ./lakehouse).
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
# Every stage in one session (the library API); the demo prints the job each stage is when scheduled.
# The demo's synthetic patients only: a real lake takes its secret from the environment.
MEDLAKE_FEATURE_KEY="${MEDLAKE_FEATURE_KEY:-medlake-demo-only-feature-key}" \
  "$MEDLAKE_ROOT/spark-submit.sh" jobs/demo.py --data "$data" --output-dicom "$home/htj2k-dicom"
