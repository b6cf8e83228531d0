#!/usr/bin/env bash
# Benchmark: `qualify score` against the same model written as DuckDB SQL
# (bench/jewelry.sql) over the same NDJSON file.
#
#   bench/score.sh [LEADS]          (default 50000)
#
# Builds the release binary, generates the data set with the product's own
# generator (seed 1) into a temporary directory, times
#   qualify score --events F --model crates/generator/src/jewelry-model.toml \
#       --as-of 2026-12-01T00:00:00Z --format csv
# (QUALIFY_RUNS runs, default 3: best and median wall seconds, peak RSS from
# /usr/bin/time -v), then the DuckDB SQL on the same file (DUCKDB_RUNS runs,
# default 2, DuckDB threads = all cores), checks that the two CSVs agree
# (bench/compare_csv.py) and prints a side-by-side summary.
#
# Exits non-zero when a step fails or the outputs disagree. Run by hand; it
# is not part of the test suite. Each timed command is limited to
# RUN_TIMEOUT seconds (default 600). Needs python3 (and installs
# duckdb==2.0.1 with pip when it is missing) and GNU time (/usr/bin/time).
set -euo pipefail

LEADS="${1:-50000}"
SEED=1
AS_OF="2026-12-01T00:00:00Z"
QUALIFY_RUNS="${QUALIFY_RUNS:-3}"
DUCKDB_RUNS="${DUCKDB_RUNS:-2}"
RUN_TIMEOUT="${RUN_TIMEOUT:-600}"
THREADS="$(nproc)"

if ! [[ "$LEADS" =~ ^[0-9]+$ ]] || [ "$LEADS" -lt 1 ]; then
    echo "usage: bench/score.sh [LEADS]   (LEADS a positive integer, default 50000)" >&2
    exit 2
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
QUALIFY="$ROOT/target/release/qualify"
MODEL="$ROOT/crates/generator/src/jewelry-model.toml"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/qualify-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

if [ ! -x /usr/bin/time ]; then
    echo "bench/score.sh: /usr/bin/time (GNU time) is needed: apt-get install time" >&2
    exit 2
fi

echo "== build"
(cd "$ROOT" && cargo build --release -p qualify)

echo "== duckdb"
if ! python3 -c 'import duckdb' 2>/dev/null; then
    python3 -m pip install --quiet duckdb==2.0.1
fi
DUCKDB_VERSION="$(python3 -c 'import duckdb; print(duckdb.__version__)')"
echo "duckdb $DUCKDB_VERSION (python $(python3 -c 'import platform; print(platform.python_version())'))"

echo "== generate $LEADS leads (seed $SEED)"
EVENTS="$WORK/events.ndjson"
"$QUALIFY" demo --generate "$EVENTS" --leads "$LEADS" --seed "$SEED" 2>"$WORK/generate.err" >/dev/null
cat "$WORK/generate.err"
# "wrote 804540 lines (963544 messages, 50000 leads, 649.4 MB) to ..."
MESSAGES="$(sed -n 's/.*(\([0-9][0-9]*\) messages.*/\1/p' "$WORK/generate.err" | head -n 1)"
if [ -z "$MESSAGES" ]; then
    echo "bench/score.sh: could not read the message count from the generator's output" >&2
    exit 1
fi
BYTES="$(stat -c %s "$EVENTS")"
LINES="$(wc -l <"$EVENTS")"

# timed NAME OUTPUT COMMAND...: runs COMMAND under /usr/bin/time -v with
# stdout to OUTPUT; appends "seconds rss_kb" to $WORK/NAME.runs.
timed() {
    local name="$1" output="$2"
    shift 2
    local start end status=0
    start="$(date +%s%N)"
    /usr/bin/time -v -o "$WORK/$name.time" timeout "$RUN_TIMEOUT" "$@" >"$output" 2>"$WORK/$name.err" || status=$?
    end="$(date +%s%N)"
    if [ "$status" -ne 0 ]; then
        echo "bench/score.sh: $name failed (exit $status; 124 = over ${RUN_TIMEOUT}s):" >&2
        tail -n 20 "$WORK/$name.err" >&2
        exit 1
    fi
    local rss
    rss="$(sed -n 's/.*Maximum resident set size (kbytes): *\([0-9]*\).*/\1/p' "$WORK/$name.time")"
    awk -v s="$start" -v e="$end" -v r="$rss" 'BEGIN { printf "%.3f %d\n", (e - s) / 1e9, r }' >>"$WORK/$name.runs"
    awk -v s="$start" -v e="$end" -v r="$rss" 'BEGIN { printf "  run: %.3f s, peak RSS %.1f MB\n", (e - s) / 1e9, r / 1024 }'
}

# stats NAME: "best median max_rss_kb" of the runs.
stats() {
    sort -n "$WORK/$1.runs" | awk '
        { t[NR] = $1; if ($2 > rss) rss = $2 }
        END {
            median = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
            printf "%.3f %.3f %d\n", t[1], median, rss
        }'
}

echo "== qualify score ($QUALIFY_RUNS runs)"
for _ in $(seq "$QUALIFY_RUNS"); do
    timed qualify "$WORK/qualify.csv" \
        "$QUALIFY" score --events "$EVENTS" --model "$MODEL" --as-of "$AS_OF" --format csv
done
read -r Q_BEST Q_MEDIAN Q_RSS < <(stats qualify)

echo "== duckdb sql ($DUCKDB_RUNS runs, $THREADS threads)"
for _ in $(seq "$DUCKDB_RUNS"); do
    timed duckdb "$WORK/duckdb.csv" \
        python3 "$BENCH/duckdb_score.py" --events "$EVENTS" --as-of "$AS_OF" --threads "$THREADS" --output /dev/stdout
done
read -r D_BEST D_MEDIAN D_RSS < <(stats duckdb)

echo "== compare"
AGREE=yes
python3 "$BENCH/compare_csv.py" "$WORK/qualify.csv" "$WORK/duckdb.csv" || AGREE=no

echo
echo "== summary: $LEADS leads, seed $SEED, as of $AS_OF"
awk -v leads="$LEADS" -v lines="$LINES" -v msgs="$MESSAGES" -v bytes="$BYTES" -v rows="$(($(wc -l <"$WORK/qualify.csv") - 1))" \
    -v qb="$Q_BEST" -v qm="$Q_MEDIAN" -v qr="$Q_RSS" -v qn="$QUALIFY_RUNS" \
    -v db="$D_BEST" -v dm="$D_MEDIAN" -v dr="$D_RSS" -v dn="$DUCKDB_RUNS" \
    -v threads="$THREADS" -v dv="$DUCKDB_VERSION" -v agree="$AGREE" 'BEGIN {
    mb = bytes / 1e6
    printf "data: %d lines, %d messages, %.1f MB; %d scored rows\n\n", lines, msgs, mb, rows
    printf "%-22s %16s %16s\n", "", "qualify score", "duckdb " dv
    printf "%-22s %16s %16s\n", "runs", qn, dn
    printf "%-22s %16.3f %16.3f\n", "best wall (s)", qb, db
    printf "%-22s %16.3f %16.3f\n", "median wall (s)", qm, dm
    printf "%-22s %16.0f %16.0f\n", "messages/s (best)", msgs / qb, msgs / db
    printf "%-22s %16.1f %16.1f\n", "MB/s (best)", mb / qb, mb / db
    printf "%-22s %16.1f %16.1f\n", "peak RSS (MB)", qr / 1024, dr / 1024
    printf "\n"
    printf "speed:  qualify is %.2fx faster than duckdb (best vs best; goal >= 10x)\n", db / qb
    printf "memory: qualify uses %.2fx less memory than duckdb (goal >= 4x; duckdb/qualify peak RSS)\n", dr / qr
    printf "outputs agree: %s (duckdb threads: %d)\n", agree, threads
}'
if [ "$AGREE" != yes ]; then
    echo "bench/score.sh: the two CSVs disagree (see the comparison above)" >&2
    exit 1
fi
