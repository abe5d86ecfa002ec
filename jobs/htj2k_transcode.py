"""Transcode ingested pixel data to lossless HTJ2K frames: ./spark-submit.sh jobs/htj2k_transcode.py [--output-dicom DIR]."""

import argparse
import sys

import medlake
from medlake.cli import run_job


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jobs/htj2k_transcode.py", description=__doc__)
    parser.add_argument("--output-dicom", metavar="DIR",
                        help="also write one HTJ2K DICOM file per fully transcoded instance under DIR")
    return run_job(parser, argv, lambda spark, config, args: medlake.dicom.transcode(spark, args.output_dicom))


if __name__ == "__main__":
    sys.exit(main())
