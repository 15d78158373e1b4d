"""``python -m touchline.schemas [export|check]``: regenerate or check the contract.

Export is the default, so one call regenerates every file from the catalogue.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from touchline.schemas.publish import SchemaCompatibilityError, check_schemas, export_schemas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m touchline.schemas", description=__doc__)
    parser.add_argument("command", nargs="?", choices=("export", "check"), default="export")
    parser.add_argument(
        "--directory", type=Path, default=None, help="default: the package's schemas directory"
    )
    args = parser.parse_args(argv)
    if args.command == "check":
        problems = check_schemas(args.directory)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    try:
        report = export_schemas(args.directory)
    except SchemaCompatibilityError as error:
        print(error, file=sys.stderr)
        return 1
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
