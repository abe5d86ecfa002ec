"""Run one Spark SQL statement over medlake's catalog: ./spark-submit.sh jobs/sql.py "SELECT ..."."""

import argparse
import sys

from medlake.cli import run_job
from medlake.sqlquery import OutputFormat, run_sql


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jobs/sql.py", description=__doc__)
    parser.add_argument("statement", help="one Spark SQL statement")
    parser.add_argument("--format", choices=[f.value for f in OutputFormat], default=OutputFormat.TABLE.value,
                        help="json: one JSON object per row and nothing else on stdout")
    return run_job(parser, argv, lambda spark, config, args: run_sql(spark, config, args.statement, args.format),
                   summary_stream="stderr")


if __name__ == "__main__":
    sys.exit(main())
