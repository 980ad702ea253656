#!/usr/bin/env bash
# Builds the embedded single-node OpenSearch server (tools/opensearch) with Maven into
# .cache/opensearch/ (gitignored): concertbook-opensearch.jar, lib/ with its runtime
# dependencies, and classes.jsa, a class-data-sharing archive recorded from one start of the
# server, which roughly halves its startup time. tests/opensearch_server.py starts it.
# Idempotent: skipped when the stamp matches the hash of the sources, this script and java.
set -euo pipefail
cd "$(dirname "$0")/.."

SRC=tools/opensearch
OUT="$PWD/.cache/opensearch"
STAMP="$OUT/stamp"
MAIN=dev.concertbook.opensearch.EmbeddedOpenSearch

for tool in java mvn; do
  if ! command -v "$tool" >/dev/null; then
    echo "tools/build-opensearch.sh needs $tool (Java 17 and Maven 3.8 or newer) on PATH" >&2
    exit 1
  fi
done

hash=$(
  {
    find "$SRC/pom.xml" "$SRC/src" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    sha256sum "$0"
    java -version 2>&1
  } | sha256sum | cut -d' ' -f1
)
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$hash" && -f "$OUT/concertbook-opensearch.jar" ]]; then
  echo "embedded OpenSearch is already built: $OUT"
  exit 0
fi

echo "building embedded OpenSearch from $SRC into $OUT (Maven; the first build downloads ~60 MB)"
rm -rf "$OUT/build" "$OUT/lib" "$OUT/concertbook-opensearch.jar" "$OUT/classes.jsa" "$STAMP"
# (Debian's Maven writes colour resets even in batch mode; they are dropped.)
mvn -B -q -f "$SRC/pom.xml" -Dopensearch.dist="$OUT" package | sed 's/\x1b\[[0-9;]*m//g'

# The archive holds the classes one start and a few requests load. The JVM checks it
# against the class path at every start and ignores it (silently) when they differ, so it
# is recorded with the absolute class path that tests/opensearch_server.py passes.
if command -v curl >/dev/null; then
  echo "recording the class-data-sharing archive (one start of the server)"
  home=$(mktemp -d)
  trap 'rm -rf "$home"' EXIT
  java -Xms512m -Xmx512m -XX:ArchiveClassesAtExit="$OUT/classes.jsa" \
    -cp "$OUT/concertbook-opensearch.jar:$OUT/lib/*" "$MAIN" \
    --http-port 0 --home "$home" >"$home/server.log" 2>&1 &
  pid=$!
  url=""
  for _ in $(seq 1 600); do
    url=$(sed -n 's/^concertbook-opensearch started: .* at \(http:[^ ]*\) .*/\1/p' "$home/server.log")
    [[ -n "$url" ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if [[ -n "$url" ]]; then
    json=(-s -o /dev/null -H 'content-type: application/json')
    curl -s -o /dev/null "$url/_cluster/health?wait_for_status=yellow&timeout=30s"
    curl "${json[@]}" -X PUT "$url/warmup" -d '{
      "settings": {"number_of_replicas": 0, "analysis": {
        "filter": {"prefix": {"type": "edge_ngram", "min_gram": 1, "max_gram": 10}},
        "analyzer": {"ko": {"tokenizer": "nori_tokenizer",
          "filter": ["nori_part_of_speech", "nori_readingform", "lowercase", "prefix"]}}}},
      "mappings": {"properties": {"title": {"type": "text", "analyzer": "ko"}}}}'
    curl "${json[@]}" -X PUT "$url/warmup/_doc/1?refresh=true&version=1&version_type=external" \
      -d '{"title": "아이유 콘서트"}'
    curl "${json[@]}" "$url/warmup/_search" -d '{"query": {"match": {"title": "아이유"}}}'
    curl "${json[@]}" "$url/_analyze" -d '{"analyzer": "nori", "text": "방탄소년단의 콘서트"}'
    curl -s -o /dev/null -X DELETE "$url/warmup"
  fi
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || true
  if [[ -f "$OUT/classes.jsa" ]]; then
    echo "recorded $OUT/classes.jsa"
  else
    echo "no class-data-sharing archive recorded (the server starts without it, slower):" >&2
    tail -20 "$home/server.log" >&2
  fi
else
  echo "curl is not installed: no class-data-sharing archive (the server starts slower)"
fi

echo "$hash" >"$STAMP"
echo "built embedded OpenSearch: $OUT"
