#!/usr/bin/env bash
# The test command of README.md, run by .ci/run: static checks, the whole
# test suite with the race detector, then every fuzz target for a short time
# (the corpus in testdata/fuzz replays on every plain `go test` too).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/lint.sh
echo "== go test -race"
go test -race -count=1 ./...
bash scripts/fuzz.sh
echo "all checks passed"
