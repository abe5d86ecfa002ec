"""Build the ml feature tables from fhir.* and dicom.*: ./spark-submit.sh jobs/features.py [--as-of DATE]."""

import argparse
import sys

import medlake.features
from medlake.cli import run_job


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jobs/features.py", description=__doc__)
    parser.add_argument("--as-of", metavar="DATE",
                        help="only facts recorded at or before this day (YYYY-MM-DD, UTC) count; default today")
    return run_job(parser, argv, lambda spark, config, args: medlake.features.build(spark, args.as_of))


if __name__ == "__main__":
    sys.exit(main())
