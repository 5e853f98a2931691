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

# DuckDB's static library makes each test binary's link the costliest
# step after compiling; gold links it in half the time of the default
# linker (5.9 s against 2.7 s for one binary on the idle machine). Debian's
# binutils ships it; without it the default linker is used.
if command -v ld.gold >/dev/null 2>&1; then
	export GOFLAGS="${GOFLAGS:+$GOFLAGS }-ldflags=-extldflags=-fuse-ld=gold"
fi

# gofmt and vet first: vet compiles every package into the build cache,
# which the suite then reuses.
bash scripts/lint.sh gofmt vet

# Beside the suite, which spends minutes waiting on the end-to-end
# package's child processes (one run at load average 10-22: 430 s of wall
# time, 76 s of CPU time): staticcheck, whose analysis shares no work with
# the suite, and the compilation of the race step's packages (`go list
# -export` compiles into the build cache without linking; the race step
# then only links and runs, and shows any failure to compile). Running vet
# beside the suite instead was slower: both compiled the same packages.
logs="$(mktemp -d)"
bash scripts/lint.sh staticcheck >"$logs/staticcheck" 2>&1 &
staticcheck=$!
go list -race -test -export -deps "${race[@]}" >/dev/null 2>&1 &
precompile=$!
trap 'kill "$staticcheck" "$precompile" 2>/dev/null || true; rm -rf "$logs"' EXIT
echo "== go test"
# -p 4: the end-to-end package's run holds one of go test's slots (2 on
# this machine) for minutes while it mostly waits; more slots let the other
# packages build and run meanwhile.
# -vet=off: go vet ./... above checked every package and its tests with
# all of vet's analyzers; go test's own vet pass (a subset) would analyze
# every dependency again, and the race step's once more.
go test -p 4 -vet=off -count=1 ./...
wait "$precompile" || true
if ! wait "$staticcheck"; then
	cat "$logs/staticcheck"; exit 1
fi
cat "$logs/staticcheck"
# The fuzz step runs beside the race step, which leaves a core idle for
# about a sixth of its time (tests waiting on each other); its output
# follows the race step's.
bash scripts/fuzz.sh ./convert/internal/numfmt ./convert/internal/ods ./convert/internal/urlpolicy ./convert/internal/xls >"$logs/fuzz" 2>&1 &
fuzz=$!
trap 'kill "$staticcheck" "$precompile" "$fuzz" 2>/dev/null || true; rm -rf "$logs"' EXIT
echo "== go test -race (cache, server, query, store, linkcheck, assistant, parsers)"
go test -race -vet=off -count=1 "${race[@]}"
fuzzed=0
wait "$fuzz" || fuzzed=$?
cat "$logs/fuzz"
[ "$fuzzed" -eq 0 ] || exit "$fuzzed"
echo "all checks passed"
