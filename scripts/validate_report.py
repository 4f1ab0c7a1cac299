#!/usr/bin/python3
"""Validate idim measure reports against docs/report.schema.json.

usage: scripts/validate_report.py REPORT.json [REPORT.json ...]
Exit 0 when every report is valid, 1 when one is not (the first error is
printed with its JSON path), 77 when the validator is not installed
(Debian: apt-get install python3-jsonschema)."""
import json
import os
import sys

try:
    import jsonschema
except ImportError:
    print("validate_report.py: python3-jsonschema is not installed; skipping", file=sys.stderr)
    sys.exit(77)


def main(paths):
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "docs", "report.schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    bad = 0
    for p in paths:
        with open(p, encoding="utf-8") as f:
            doc = json.load(f)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        if errors:
            e = errors[0]
            where = "/".join(str(x) for x in e.path) or "(top)"
            print(f"{p}: invalid at {where}: {e.message} ({len(errors)} errors)", file=sys.stderr)
            bad = 1
        else:
            print(f"{p}: valid")
    return bad


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1:]))
