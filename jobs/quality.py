"""Run the quality gates over the lake's tables: ./spark-submit.sh jobs/quality.py [--suite NAME ...]."""

import argparse
import sys

import medlake.quality
from medlake.cli import run_job


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jobs/quality.py", description=__doc__)
    parser.add_argument("--suite", action="extend", nargs="+", metavar="NAME",
                        help="run only these suites (repeatable), e.g. fhir.patient, dicom.frame, ops.ledger")
    return run_job(parser, argv, lambda spark, config, args: medlake.quality.run(spark, args.suite))


if __name__ == "__main__":
    sys.exit(main())
