#!/usr/bin/env bash
# The test command of README.md, run by .ci/run: static checks, the whole
# test suite, the race detector on the packages where goroutines meet, then
# the fuzz targets of the parsers that need no DuckDB for a short time (the
# corpus in testdata/fuzz of every target replays on every plain `go test`).
#
# Why not -race everywhere: the end-to-end package (cmd/csvapi) spends its
# time in child processes and DuckDB, where the race detector finds nothing
# and costs 4×; convert's cost is in cgo. Their concurrency lives in cache
# and server, which run under -race here. scripts/fuzz.sh without arguments
# fuzzes every target (FUZZTIME=5m for a longer run).
set -euo pipefail
cd "$(dirname "$0")/.."

race=(./cache/ ./server/ ./query/ ./store/... ./linkcheck/ ./assistant/ ./convert/internal/...)

bash scripts/lint.sh

# The race step's packages compile while the plain suite runs: the
# end-to-end package (cmd/csvapi) spends minutes waiting on its child
# processes (one run at load average 10-22: 430 s of wall time, 76 s of
# CPU time), time in which a core is free. `go list -export` compiles into the build cache
# without linking; the race step then only links and runs. Its failures
# show in the race step, which compiles whatever is missing.
go list -race -test -export -deps "${race[@]}" >/dev/null 2>&1 &
precompile=$!
trap 'kill "$precompile" 2>/dev/null || true' EXIT
echo "== go test"
go test -count=1 ./...
wait "$precompile" || true
echo "== go test -race (cache, server, query, store, linkcheck, assistant, parsers)"
go test -race -count=1 "${race[@]}"
bash scripts/fuzz.sh ./convert/internal/numfmt ./convert/internal/ods ./convert/internal/urlpolicy ./convert/internal/xls
echo "all checks passed"
