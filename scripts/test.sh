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

bash scripts/lint.sh
echo "== go test"
go test -count=1 ./...
echo "== go test -race (cache, server, query, store, linkcheck, assistant, parsers)"
go test -race -count=1 ./cache/ ./server/ ./query/ ./store/... ./linkcheck/ ./assistant/ ./convert/internal/...
bash scripts/fuzz.sh ./convert/internal/numfmt ./convert/internal/ods ./convert/internal/urlpolicy ./convert/internal/xls
echo "all checks passed"
