"""Load FHIR bulk NDJSON into the fhir database: ./spark-submit.sh jobs/fhir_ingest.py --input PATH."""

import argparse
import sys

import medlake
from medlake.cli import run_job


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jobs/fhir_ingest.py", description=__doc__)
    parser.add_argument("--input", action="append", default=[], metavar="PATH",
                        help="file or directory (searched recursively); repeatable")
    parser.add_argument("--validate", action="store_true",
                        help="also validate every resource with the fhir.resources R4B models")
    parser.add_argument("--rebuild", action="store_true",
                        help="re-derive the typed tables from fhir.raw (after a schema change)")
    args = parser.parse_args(argv)
    if not args.input and not args.rebuild:
        parser.error("give --input PATH (repeatable) or --rebuild")
    return run_job(parser, argv, lambda spark, config, a: (
        medlake.fhir.rebuild(spark, validate=a.validate) if a.rebuild and not a.input
        else medlake.fhir.ingest(spark, a.input, validate=a.validate)))


if __name__ == "__main__":
    sys.exit(main())
