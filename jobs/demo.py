"""Run every stage over the demo's generated data in one session: ./spark-submit.sh jobs/demo.py --data DIR."""

import argparse
import sys
from pathlib import Path

from medlake.cli import run_job
from medlake.demo import demo_stages, run_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jobs/demo.py", description=__doc__)
    parser.add_argument("--data", required=True, type=Path,
                        help="the output of python -m medlake.synthetic --dicom --bundles")
    parser.add_argument("--output-dicom", required=True, type=Path, help="where the HTJ2K DICOM files go")
    return run_job(parser, argv, lambda spark, config, args: run_demo(spark, demo_stages(args.data, args.output_dicom)))


if __name__ == "__main__":
    sys.exit(main())
