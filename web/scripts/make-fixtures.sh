#!/bin/sh
# Makes web/test/fixtures/smollm2-fa-{on,off}.json.gz: the real graphs llama.cpp computed for
# SmolLM2-135M Q4_1 on "The capital of France is" (testdata/reference/smollm2/eval-callback-*.log),
# imported by `tensor-trace import`, without the printed values (`printed`, large and not needed
# by the viewer's unit tests), minified and gzipped.
#
#   scripts/make-fixtures.sh [path/to/tensor-trace] [path/to/testdata/reference]
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/../target/release/tensor-trace}
ref=${2:-$here/../../testdata/reference}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for fa in on off; do
  "$bin" import "$ref/smollm2/eval-callback-fa-$fa.log" -o "$tmp/g.json"
  node -e '
    const fs = require("fs");
    const d = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    for (const t of d.tensors) delete t.printed;
    fs.writeFileSync(process.argv[2], JSON.stringify(d));
  ' "$tmp/g.json" "$tmp/min.json"
  gzip -9 -n -c "$tmp/min.json" > "$here/test/fixtures/smollm2-fa-$fa.json.gz"
done
ls -l "$here"/test/fixtures/*.json.gz
