#!/usr/bin/env bash
# Cold-replica figure: a CSV converted on replica A (download + conversion +
# publish), then the first page on replica B, which never saw it (manifest +
# download from the store + attach + query). Needs versitygw on PATH
# (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0), python3
# and curl.
#
#   scripts/bench-replicas.sh path/to/file.csv
set -euo pipefail
csv="$(realpath "$1")"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
go build -C "$root" -o "$work/csvapi" ./cmd/csvapi
mkdir -p s/csvapi a b
export ROOT_ACCESS_KEY=bench ROOT_SECRET_KEY=bench-secret AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
versitygw --port 127.0.0.1:19100 posix s >gw.log 2>&1 & pids+=($!)
python3 -m http.server 19101 --bind 127.0.0.1 --directory "$(dirname "$csv")" >http.log 2>&1 & pids+=($!)
store=(--store s3://csvapi/bench --store-endpoint http://127.0.0.1:19100 --store-path-style --allow-private --apify-wait 600s)
./csvapi serve --addr 127.0.0.1:19102 --cache-dir a "${store[@]}" --store-replica A >a.log 2>&1 & pids+=($!)
./csvapi serve --addr 127.0.0.1:19103 --cache-dir b "${store[@]}" --store-replica B >b.log 2>&1 & pids+=($!)
for port in 19100 19101 19102 19103; do
	until curl -s -o /dev/null "http://127.0.0.1:$port/"; do sleep 0.2; done
done
u="http://127.0.0.1:19101/$(basename "$csv")"
id="$(printf %s "$u" | md5sum | cut -d' ' -f1)"
t() { curl -s -o /dev/null -w "%{http_code} %{time_total}s\n" "$1"; }
echo "A: /apify (download + conversion + publish): $(t "http://127.0.0.1:19102/apify?url=$u")"
echo "A: first page (hot):                         $(t "http://127.0.0.1:19102/api/$id?_size=20")"
echo "B: first page (cold: fetch from the store):  $(t "http://127.0.0.1:19103/api/$id?_size=20")"
echo "B: next page:                                $(t "http://127.0.0.1:19103/api/$id?_size=20&_offset=20")"
grep -h 'msg=loaded\|fetched from the store' a.log b.log
