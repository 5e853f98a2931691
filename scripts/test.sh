#!/usr/bin/env bash
# The test command of README.md, run by .ci/run: static checks, the whole
# test suite with the race detector, then every fuzz target for a short time
# (the corpus in testdata/fuzz replays on every plain `go test` too).
set -euo pipefail
cd "$(dirname "$0")/.."

# Iteration counts rather than durations: time-based runs can end with a
# spurious "context deadline exceeded" when a worker is slow on a busy machine.
FUZZTIME="${FUZZTIME:-2000x}"

echo "== gofmt"
unformatted="$(gofmt -l .)"
if [ -n "$unformatted" ]; then
	echo "not gofmt'ed:"; echo "$unformatted"; exit 1
fi
echo "== go vet"
go vet ./...
echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
echo "== go test -race"
go test -race -count=1 ./...

echo "== fuzz ($FUZZTIME each)"
for pkg in ./convert ./query ./server; do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz'); do
		echo "-- $pkg $target"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1 | tail -n 3
	done
done
echo "all checks passed"
