#!/usr/bin/env bash
# Cached start of a job in an environment against a bare job on the host, measured in the same run
# on one farm (`kiln up`, one worker, one slot) — docs/performance.md, "Environments".
#
#   bench/env-start.sh [ROUNDS] [TARBALL]
#
# ROUNDS (default 10) jobs of each kind are run one after another, alternating. Each job is `true`;
# its time is the attempt's startedAt → finishedAt as the server recorded them (claim to report:
# preparing the root — overlay over the cached tree, namespaces, cgroup, disk — running, tearing
# down). The environment is imported from TARBALL (default: the test cache's bookworm essential
# root, made by the tests), fetched and extracted by the worker once before the rounds start, so
# every measured environment job starts from the cache. It also times `kiln env create` of an
# essential environment from Debian's mirror unless SKIP_CREATE=1, and with BUILD=1 also the
# creation of a buildd environment and the sbuild build of GNU hello 2.10-3 in it (the build job's
# claim → report, sbuild's own Build-Time and Install-Time from its result).
# Output: one JSON object on stdout (medians in ms, their difference and ratio, the other times).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
rounds="${1:-10}"
tarball="${2:-$(ls -1 "${KILN_TEST_CACHE:-/var/cache/kiln-tests}"/environments/bookworm-essential-*.tar.zst 2>/dev/null | head -n 1)}"
[ -f "$tarball" ] || { echo "bench/env-start.sh: no tarball; pass one (mmdebstrap --variant=essential bookworm X.tar.zst)" >&2; exit 2; }
kiln="$here/kiln"
work="$(mktemp -d /tmp/kiln-bench-env-XXXXXX)"
chmod 755 "$work"
port=$(( 20000 + RANDOM % 20000 ))
url="http://127.0.0.1:$port"
"$kiln" up --data-dir "$work/data" --urls "$url" --workers 1 --slots 1 > "$work/up.log" 2>&1 &
up=$!
stop() {
  # SIGTERM: a background job of a non-interactive shell ignores SIGINT
  kill -TERM "$up" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$up" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$up" 2>/dev/null || true
  pkill -f "postgres -D $work/data" 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT
for _ in $(seq 1 240); do "$kiln" status --server "$url" >/dev/null 2>&1 && break; sleep 0.5; done
export KILN_CONFIG="$work/data/client.json"
cd "$work"
run() { "$kiln" "$@" --server "$url"; }
token="$(cat "$work/data/admin-token")"
export KILN_TOKEN="$token"

run env import bench/essential "$tarball" >/dev/null
cat > bare.yaml <<'Y'
name: bare
project: bench
jobs:
  job:
    run: "true"
Y
cat > env.yaml <<'Y'
name: in-environment
project: bench
jobs:
  job:
    environment: bench/essential
    run: "true"
Y
# warm-up: the worker fetches, verifies and extracts the environment once
run submit env.yaml --watch >/dev/null
run submit bare.yaml --watch >/dev/null

duration() { # the last workflow's job: finishedAt - startedAt of its attempt, in ms
  run show last/job --json | python3 -c '
import json,sys,datetime
a=json.load(sys.stdin)["workRequest"]["attempts"][-1]
p=lambda s: datetime.datetime.fromisoformat(s.replace("Z","+00:00"))
print(round((p(a["finishedAt"])-p(a["startedAt"])).total_seconds()*1000,1))'
}
bare=(); env=()
for _ in $(seq 1 "$rounds"); do
  run submit bare.yaml --watch >/dev/null; bare+=("$(duration)")
  run submit env.yaml --watch >/dev/null; env+=("$(duration)")
done

create_s=null
if [ "${SKIP_CREATE:-0}" != 1 ]; then
  started=$(date +%s.%N)
  run env create bench/created --suite bookworm --variant essential --wait >/dev/null
  create_s=$(python3 -c "print(round($(date +%s.%N) - $started, 1))")
fi

buildd_s=null; hello='{}'
if [ "${BUILD:-0}" = 1 ]; then
  started=$(date +%s.%N)
  run env create bench/buildd --suite bookworm --variant buildd --wait >/dev/null
  buildd_s=$(python3 -c "print(round($(date +%s.%N) - $started, 1))")
  cat > hello.yaml <<'Y'
name: hello
project: bench
jobs:
  source:
    run: |
      mkdir -p source && cd source
      for f in hello_2.10-3.dsc hello_2.10.orig.tar.gz hello_2.10.orig.tar.gz.asc hello_2.10-3.debian.tar.xz; do
        curl -fsS -O "http://deb.debian.org/debian/pool/main/h/hello/$f"
      done
    outputs: ["source/**"]
  build:
    needs: [source]
    uses: debian/sbuild
    environment: bench/buildd
    with: {suite: bookworm, arch: amd64, arch-all: "false"}
Y
  run submit hello.yaml --watch >/dev/null
  hello=$(run show last/build --json | python3 -c '
import json,sys,datetime
w=json.load(sys.stdin)["workRequest"]; a=w["attempts"][-1]; r=(w.get("result") or {}).get("result") or {}
p=lambda s: datetime.datetime.fromisoformat(s.replace("Z","+00:00"))
print(json.dumps({"jobSeconds": round((p(a["finishedAt"])-p(a["startedAt"])).total_seconds(),1), "status": r.get("status"),
                  "sbuildBuildTime": r.get("buildTime"), "sbuildInstallTime": r.get("installTime")}))')
fi

python3 - "$rounds" "$create_s" "${bare[*]}" "${env[*]}" "$buildd_s" "$hello" <<'PY'
import json, statistics, sys
rounds, create, bare, env = int(sys.argv[1]), sys.argv[2], [float(x) for x in sys.argv[3].split()], [float(x) for x in sys.argv[4].split()]
buildd, hello = sys.argv[5], json.loads(sys.argv[6])
b, e = statistics.median(bare), statistics.median(env)
print(json.dumps({"bench": "env-start", "rounds": rounds, "bareMedianMs": b, "environmentMedianMs": e,
                  "overBareMs": round(e - b, 1), "ratio": round(e / b, 2) if b else None,
                  "bareMs": bare, "environmentMs": env,
                  "createEssentialSeconds": None if create == "null" else float(create),
                  "createBuilddSeconds": None if buildd == "null" else float(buildd), "hello": hello}, indent=2))
PY
