#!/usr/bin/env python3
"""Compares two score CSVs (`qualify score --format csv` and the DuckDB SQL of
bench/jewelry.sql) row for row.

Usage: compare_csv.py EXPECTED.csv ACTUAL.csv [--tolerance 0.01] [--show 20]

Both must have the header lead_id,engagement,fit,grade,mql,mql_at, be sorted
by lead_id (byte order), hold the same leads, and agree on every field;
engagement may differ by at most the tolerance. Prints a summary of the
differences (per field, with examples) and exits 1 when there are any,
2 when a file cannot be read.
"""

import argparse
import collections
import csv
import sys

HEADER = ["lead_id", "engagement", "fit", "grade", "mql", "mql_at"]


def read(path):
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except OSError as error:
        print(f"compare_csv.py: cannot read {path}: {error}", file=sys.stderr)
        sys.exit(2)
    if not rows:
        return None, []
    return rows[0], rows[1:]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("expected", help="e.g. the qualify CSV")
    parser.add_argument("actual", help="e.g. the DuckDB CSV")
    parser.add_argument("--tolerance", type=float, default=0.01)
    parser.add_argument("--show", type=int, default=20, help="examples to print per field")
    parser.add_argument("--names", default="qualify,duckdb", help="labels of the two files")
    args = parser.parse_args()
    left_name, right_name = (args.names.split(",") + ["b"])[:2]

    problems = []
    header_a, rows_a = read(args.expected)
    header_b, rows_b = read(args.actual)
    for name, header in ((left_name, header_a), (right_name, header_b)):
        if header != HEADER:
            problems.append(f"{name}: header is {header}, expected {HEADER}")
    for name, rows in ((left_name, rows_a), (right_name, rows_b)):
        bad = [r for r in rows if len(r) != len(HEADER)]
        if bad:
            problems.append(f"{name}: {len(bad)} row(s) without {len(HEADER)} fields, e.g. {bad[0]}")
        ids = [r[0].encode() for r in rows if r]
        unsorted = next((i for i in range(1, len(ids)) if ids[i - 1] >= ids[i]), None)
        if unsorted is not None:
            problems.append(
                f"{name}: not sorted by lead_id (or a duplicate id) at data row {unsorted + 1}: "
                f"{ids[unsorted - 1].decode()!r} then {ids[unsorted].decode()!r}"
            )
    a = {r[0]: r for r in rows_a if len(r) == len(HEADER)}
    b = {r[0]: r for r in rows_b if len(r) == len(HEADER)}

    only_a = sorted(set(a) - set(b))
    only_b = sorted(set(b) - set(a))
    differences = collections.defaultdict(list)  # field -> [(lead, a value, b value)]
    rows_differing = set()
    for lead in sorted(set(a) & set(b)):
        ra, rb = a[lead], b[lead]
        for index, field in enumerate(HEADER[1:], start=1):
            va, vb = ra[index], rb[index]
            if field == "engagement":
                try:
                    same = abs(float(va) - float(vb)) <= args.tolerance + 1e-9
                except ValueError:
                    same = va == vb
            else:
                same = va == vb
            if not same:
                differences[field].append((lead, va, vb))
                rows_differing.add(lead)

    print(f"{left_name}: {len(rows_a)} rows ({args.expected})")
    print(f"{right_name}: {len(rows_b)} rows ({args.actual})")
    for problem in problems:
        print("PROBLEM:", problem)
    for name, only in ((left_name, only_a), (right_name, only_b)):
        if only:
            print(f"{len(only)} lead(s) only in {name}: {', '.join(only[:args.show])}{' ...' if len(only) > args.show else ''}")
    for field in HEADER[1:]:
        diffs = differences.get(field)
        if not diffs:
            continue
        print(f"{field}: {len(diffs)} lead(s) differ ({left_name} vs {right_name})")
        for lead, va, vb in diffs[: args.show]:
            print(f"    {lead}: {va!r} vs {vb!r}")
    if problems or only_a or only_b or rows_differing:
        print(f"DIFFERENT: {len(rows_differing)} common lead(s) differ, {len(only_a) + len(only_b)} lead(s) missing on one side")
        sys.exit(1)
    print(f"SAME: {len(rows_a)} rows agree (engagement within {args.tolerance})")


if __name__ == "__main__":
    main()
