"""Read DICOM Part 10 files into the dicom tables: ./spark-submit.sh jobs/dicom_ingest.py --input PATH ..."""

import argparse
import sys

import medlake
from medlake.cli import run_job


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jobs/dicom_ingest.py", description=__doc__)
    parser.add_argument("--input", action="append", required=True, metavar="PATH",
                        help="file or directory (searched recursively), local path or URI; repeatable")
    return run_job(parser, argv, lambda spark, config, args: medlake.dicom.ingest(spark, args.input))


if __name__ == "__main__":
    sys.exit(main())
