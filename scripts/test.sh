#!/usr/bin/env bash
# The test command of README.md, run by .ci/run: static checks, the whole
# test suite, the race detector on the packages where goroutines meet, and
# the fuzz targets of the parsers that need no DuckDB for a short time (the
# corpus in testdata/fuzz of every target replays on every plain `go test`).
#
# Why not -race everywhere: the end-to-end package (cmd/csvapi) spends its
# time in child processes and DuckDB, where the race detector finds nothing
# and costs 4×; convert's cost is in cgo. Their concurrency lives in cache
# and server, which run under -race here. scripts/fuzz.sh without arguments
# fuzzes every target (FUZZTIME=5m for a longer run).
#
# On this 2-core machine both cores are busy from start to end, so the
# order of the steps matters little; what is run matters. Steps that share
# no work run side by side, each in its own process group so that a failure
# elsewhere stops all of it, and their output is printed when they end.
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

logs="$(mktemp -d)"
declare -A steps=() # name → pid of a step running beside another

# beside NAME CMD...: runs CMD in its own process group, its output in a log.
beside() {
	local name=$1
	shift
	setsid -w "$@" >"$logs/$name" 2>&1 &
	steps[$name]=$!
}

# finish NAME: waits for the step NAME, prints its output and returns its
# status.
finish() {
	local name=$1 status=0
	wait "${steps[$name]}" || status=$?
	unset "steps[$name]"
	cat "$logs/$name"
	return "$status"
}

# On the way out, a step still running is stopped (the whole of it: go
# test's children too) and what it printed so far is shown.
stop_steps() {
	local name
	for name in "${!steps[@]}"; do
		kill -- "-${steps[$name]}" 2>/dev/null || true
		wait "${steps[$name]}" 2>/dev/null || true
		echo "== $name, stopped because another step failed; its output so far:"
		cat "$logs/$name"
	done
	rm -rf "$logs"
}
trap stop_steps EXIT

# gofmt and vet first: vet compiles every package into the build cache,
# which the suite then reuses.
bash scripts/lint.sh gofmt vet

# Beside the suite, which spends minutes waiting on the end-to-end
# package's child processes: staticcheck, whose analysis shares no work
# with the suite, and the compilation of the race step's packages (`go list
# -export` compiles into the build cache without linking; the race step
# then only links and runs, and shows any failure to compile). Running vet
# beside the suite instead was slower: both compiled the same packages.
beside staticcheck bash scripts/lint.sh staticcheck
beside precompile go list -race -test -export -deps "${race[@]}"
echo "== go test"
# -vet=off: go vet ./... above checked every package and its tests with
# all of vet's analyzers; go test's own vet pass (a subset) would analyze
# every dependency again, and the race step's once more.
# -p 4: the end-to-end package's run holds one of go test's slots (2 on
# this machine) for minutes while it mostly waits.
go test -p 4 -vet=off -count=1 ./...
finish precompile >/dev/null || true
finish staticcheck

# The fuzz step runs beside the race step, which leaves a core idle for
# about a sixth of its time (tests waiting on each other).
beside fuzz bash scripts/fuzz.sh ./convert/internal/numfmt ./convert/internal/ods ./convert/internal/urlpolicy ./convert/internal/xls
echo "== go test -race (cache, server, query, store, linkcheck, assistant, parsers)"
go test -race -vet=off -count=1 "${race[@]}"
finish fuzz
echo "all checks passed"
