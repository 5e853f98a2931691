#!/usr/bin/env bash
# Runs every fuzz target of the given packages (default: all that have
# one) for FUZZTIME each (default 2000x, the short run of scripts/test.sh).
#
# Each package's fuzz binary is built once (`go test -c -fuzz=.`), then run
# once per target from the package directory, so that its testdata/fuzz
# corpus replays: a package that links DuckDB is linked once, not once per
# target. The packages under convert/internal link no DuckDB and build in
# seconds.
#
# A longer run, before a release or after changing a parser:
#
#	FUZZTIME=5m bash scripts/fuzz.sh                      # every target, 5 minutes each
#	FUZZTIME=30m bash scripts/fuzz.sh ./convert/internal/xls
set -euo pipefail
cd "$(dirname "$0")/.."

# Iteration counts rather than durations by default: time-based runs can end
# with a spurious "context deadline exceeded" when a worker is slow on a
# busy machine.
FUZZTIME="${FUZZTIME:-2000x}"
packages=("$@")
if [ ${#packages[@]} -eq 0 ]; then
	# Every package with a fuzz target, so that a new one is not forgotten.
	mapfile -t packages < <(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u)
fi
# Where `go test -fuzz` keeps what it finds, so that both share a corpus.
cachedir="$(go env GOCACHE)/fuzz"
bindir="$(mktemp -d)"
trap 'rm -rf "$bindir"' EXIT

echo "== fuzz ($FUZZTIME each)"
for pkg in "${packages[@]}"; do
	bin="$bindir/$(echo "$pkg" | tr -c 'a-zA-Z0-9\n' _).test"
	go test -c -fuzz=. -o "$bin" "$pkg"
	for target in $("$bin" -test.list '^Fuzz' | grep '^Fuzz' || true); do
		echo "-- $pkg $target"
		# The last line on success; everything on failure (the failing
		# input and how to replay it).
		if ! (cd "$pkg" && "$bin" -test.run '^$' -test.fuzz "^${target}\$" -test.fuzztime "$FUZZTIME" \
			-test.fuzzcachedir "$cachedir") >"$bindir/out" 2>&1; then
			cat "$bindir/out"
			exit 1
		fi
		tail -n 2 "$bindir/out"
	done
done
