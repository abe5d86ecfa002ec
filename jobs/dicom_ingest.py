"""Read DICOM Part 10 files into the dicom tables: ./spark-submit.sh jobs/dicom_ingest.py --input PATH ..."""

import argparse
import sys

from medlake.cli import run_job
from medlake.dicom.ingest import run_dicom_ingest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jobs/dicom_ingest.py", description=__doc__)
    parser.add_argument("--input", action="append", required=True, metavar="PATH",
                        help="file or directory (searched recursively), local path or URI; repeatable")
    return run_job(parser, argv, lambda spark, config, args: run_dicom_ingest(spark, config, args.input))


if __name__ == "__main__":
    sys.exit(main())
