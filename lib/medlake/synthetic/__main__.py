"""Command line: ``python -m medlake.synthetic --out DIR --patients N --seed S [--gzip] [--dicom] [--bundles]``.

Writes (file names hold ids and UIDs, never names)::

    DIR/fhir/<Type>.ndjson[.gz]                  bulk NDJSON, one file per resource type
    DIR/fhir-bundles/<patient id>.json           --bundles: one transaction Bundle per patient
    DIR/fhir-bundles/shared-information.json     --bundles: Organizations and Practitioners (batch)
    DIR/fhir-versions/NN-*.json|ndjson           --bundles: versions and deletes, one run per file
    DIR/dicom/<patient id>/<study>/<series>/<instance>.dcm   --dicom: the roster's studies
    DIR/bad/fhir/bad-records.ndjson              a record for every FHIR quarantine category
    DIR/bad/dicom/...                            --dicom: a file for every DICOM outcome
    DIR/hostile/{fhir,dicom}/...                 --hostile: awkward names, broken archives, a cycle
    DIR/expected/*.json                          what an ingest must make of the above

Progress and counts go to stderr; the exit code is 0, or 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from medlake.synthetic.badrecords import JSON_STRING_LIMIT, write_bad_records
from medlake.synthetic.broken import write_broken_dicom
from medlake.synthetic.hostile import write_hostile
from medlake.synthetic.bundles import iter_transaction_bundles, shared_bundle, version_steps
from medlake.synthetic.dicom import ImageSize, conflicting_instance_uid, write_dicom
from medlake.synthetic.fhir import write_ndjson
from medlake.synthetic.jsontext import dumps_json
from medlake.synthetic.roster import iter_roster, roster_patient

__all__ = ["main"]


def _say(message: str) -> None:
    print(f"medlake.synthetic: {message}", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m medlake.synthetic", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--patients", type=int, required=True, help="roster size")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--gzip", action="store_true", help="write *.ndjson.gz")
    parser.add_argument("--wide", action="store_true",
                        help="spread the FHIR records over 23 types, as a Synthea export does (medlake.synthetic.wide)")
    parser.add_argument("--dicom", action="store_true", help="write DICOM studies and the broken-file catalogue")
    parser.add_argument("--bundles", action="store_true", help="write transaction Bundles and the versions scenario")
    parser.add_argument("--hostile", action="store_true",
                        help="write hostile inputs for both ingests (medlake.synthetic.hostile)")
    parser.add_argument("--instances-per-series", type=int, default=3, help="CT and MR instances per series")
    parser.add_argument("--frames", type=int, default=4, help="frames of the multi-frame instance")
    parser.add_argument("--rows", type=int, default=64, help="image rows")
    parser.add_argument("--columns", type=int, default=64, help="image columns")
    parser.add_argument("--attachment-chars", type=int, default=1024,
                        help="base64 characters of the large attachment in the bad-records file")
    return parser


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json(v) for v in value]
    return value if value is None or isinstance(value, bool | int | float) else str(value)


def _write_expected(out: Path, name: str, document: Any) -> None:
    target = out / "expected" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(_to_json(document), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _roster_kwargs(args: argparse.Namespace) -> dict[str, int]:
    return {"instances_per_series": args.instances_per_series, "frames": args.frames}


def _write_bundles(args: argparse.Namespace) -> None:
    bundles = args.out / "fhir-bundles"
    bundles.mkdir(parents=True, exist_ok=True)
    (bundles / "shared-information.json").write_text(dumps_json(shared_bundle(args.seed), indent=2) + "\n",
                                                     encoding="utf-8")
    count = 0
    for name, text in iter_transaction_bundles(iter_roster(args.patients, args.seed, **_roster_kwargs(args)),
                                               args.seed):
        (bundles / name).write_text(text, encoding="utf-8")
        count += 1
    _say(f"wrote {count} transaction Bundles")
    if args.patients:
        steps = version_steps(roster_patient(0, args.seed, **_roster_kwargs(args)), args.seed)
        versions = args.out / "fhir-versions"
        versions.mkdir(parents=True, exist_ok=True)
        for step in steps:
            (versions / step.name).write_text(step.text, encoding="utf-8")
        _write_expected(args.out, "versions.json",
                        [{"file": s.name, "description": s.description, "expected": s.expected} for s in steps])
        _say(f"wrote {len(steps)} version-scenario files")


def _write_dicom(args: argparse.Namespace, size: ImageSize) -> None:
    started = time.monotonic()
    written = write_dicom(args.out / "dicom", iter_roster(args.patients, args.seed, **_roster_kwargs(args)),
                          args.seed, size=size, progress=lambda n: _say(f"{n} DICOM files"))
    conflicting = conflicting_instance_uid(roster_patient(0, args.seed, **_roster_kwargs(args))) \
        if args.patients else None
    _write_expected(args.out, "dicom.json", {
        "instances": len(written),
        "studies": len({w.study_instance_uid for w in written}),
        "series": len({w.series_instance_uid for w in written}),
        "conflicting_birth_date_instances": [conflicting] if conflicting else [],
    })
    _say(f"wrote {len(written)} DICOM files in {time.monotonic() - started:.1f} s")
    broken = write_broken_dicom(args.out / "bad" / "dicom", args.seed)
    _write_expected(args.out, "broken-dicom.json", broken)
    _say(f"wrote {len(broken)} catalogue DICOM files")


def main(argv: list[str] | None = None) -> int:
    """Run the generator; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.patients < 0:
        parser.error(f"--patients must be 0 or more, not {args.patients}")
    try:
        size = ImageSize(args.rows, args.columns)
        roster_patient(0, args.seed, **_roster_kwargs(args))  # checks the imaging arguments
    except ValueError as error:
        parser.error(str(error))
    started = time.monotonic()
    roster = iter_roster(args.patients, args.seed, **_roster_kwargs(args))
    counts = write_ndjson(args.out / "fhir", roster, args.seed, compress=args.gzip, wide=args.wide,
                          progress=lambda n: _say(f"{n} patients"))
    _say(f"wrote {sum(counts.values())} FHIR resources in {time.monotonic() - started:.1f} s: "
         + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    _write_expected(args.out, "fhir.json", counts)
    bad = write_bad_records(args.out / "bad" / "fhir" / "bad-records.ndjson", args.attachment_chars)
    _write_expected(args.out, "bad-records.json", {"string_limit": JSON_STRING_LIMIT, "lines": bad})
    _say(f"wrote {len(bad)} bad-record lines")
    if args.bundles:
        _write_bundles(args)
    if args.dicom:
        _write_dicom(args, size)
    if args.hostile:
        hostile = write_hostile(args.out / "hostile", args.seed)
        _write_expected(args.out, "hostile.json", hostile)
        _say(f"wrote {sum(len(files) for files in hostile.values())} hostile inputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
