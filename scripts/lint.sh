#!/usr/bin/env bash
# The static checks of the test command, alone, for the inner loop: gofmt,
# go vet and staticcheck over the whole module. With arguments, only the
# checks named (gofmt, vet, staticcheck): scripts/test.sh runs gofmt and
# vet first and staticcheck beside the suite.
set -euo pipefail
cd "$(dirname "$0")/.."

checks=("$@")
[ ${#checks[@]} -gt 0 ] || checks=(gofmt vet staticcheck)
for check in "${checks[@]}"; do
	case "$check" in
	gofmt)
		echo "== gofmt"
		unformatted="$(gofmt -l .)"
		if [ -n "$unformatted" ]; then
			echo "not gofmt'ed:"; echo "$unformatted"; exit 1
		fi ;;
	vet)
		echo "== go vet"
		go vet ./... ;;
	staticcheck)
		echo "== staticcheck"
		go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./... ;;
	*)
		echo "unknown check $check (gofmt, vet, staticcheck)" >&2; exit 2 ;;
	esac
done
