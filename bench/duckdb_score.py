#!/usr/bin/env python3
"""Scores an NDJSON file of Segment messages with the jewelry model written as
DuckDB SQL (bench/jewelry.sql), writing the same CSV as

    qualify score --events FILE --model crates/generator/src/jewelry-model.toml \
        --as-of T --format csv

Usage: duckdb_score.py --events FILE [--as-of T] [--output FILE] [--threads N]
                       [--timings]

Installs the pinned duckdb (2.0.1) with pip when it cannot be imported.
"""

import argparse
import os
import subprocess
import sys
import time

DUCKDB_VERSION = "2.0.1"
HERE = os.path.dirname(os.path.abspath(__file__))


def import_duckdb():
    try:
        import duckdb  # noqa: F401
    except ImportError:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", f"duckdb=={DUCKDB_VERSION}"],
            check=True,
            stdout=sys.stderr,
        )
    import duckdb

    return duckdb


def sql_literal(text):
    return "'" + text.replace("'", "''") + "'"


def statements(sql):
    """The statements of jewelry.sql: separated by lines holding only ';'."""
    parts, current = [], []
    for line in sql.splitlines():
        if line.strip() == ";":
            parts.append("\n".join(current))
            current = []
        else:
            current.append(line)
    parts.append("\n".join(current))
    return [p for p in parts if any(l.strip() and not l.strip().startswith("--") for l in p.splitlines())]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", required=True)
    parser.add_argument("--as-of", default="2026-12-01T00:00:00Z")
    parser.add_argument("--output", default="/dev/stdout")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--sql", default=os.path.join(HERE, "jewelry.sql"))
    parser.add_argument("--timings", action="store_true", help="print each statement's seconds on stderr")
    args = parser.parse_args()

    if not os.path.isfile(args.events):
        sys.exit(f"duckdb_score.py: no such events file: {args.events}")
    duckdb = import_duckdb()
    with open(args.sql, encoding="utf-8") as f:
        sql = f.read()
    sql = (
        sql.replace("{{EVENTS}}", sql_literal(os.path.abspath(args.events)))
        .replace("{{AS_OF}}", sql_literal(args.as_of))
        .replace("{{OUTPUT}}", sql_literal(args.output))
    )
    con = duckdb.connect(":memory:", config={"threads": args.threads})
    for statement in statements(sql):
        started = time.perf_counter()
        con.execute(statement)
        if args.timings:
            first = next(l for l in statement.splitlines() if l.strip() and not l.strip().startswith("--"))
            print(f"{time.perf_counter() - started:7.2f}s  {first.strip()[:70]}", file=sys.stderr)
    con.close()


if __name__ == "__main__":
    main()
