"""Transcode ingested pixel data to lossless HTJ2K frames: ./spark-submit.sh jobs/htj2k_transcode.py [--output-dicom DIR]."""

import argparse
import sys

from medlake.cli import run_job
from medlake.dicom.transcode import run_htj2k_transcode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jobs/htj2k_transcode.py", description=__doc__)
    parser.add_argument("--output-dicom", metavar="DIR",
                        help="also write one HTJ2K DICOM file per fully transcoded instance under DIR")
    return run_job(parser, argv, lambda spark, config, args: run_htj2k_transcode(spark, config, args.output_dicom))


if __name__ == "__main__":
    sys.exit(main())
