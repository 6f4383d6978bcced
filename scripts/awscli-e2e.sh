#!/usr/bin/env bash
# End to end with a real third-party S3 client: `cartpipe up` runs in the background, Debian's
# AWS CLI (apt-get install awscli) copies a batch and then its manifest into the local bucket,
# and the run that the manifest's event starts must end SUCCEEDED and notified. Exits 0 then,
# 1 when the run fails or does not finish within CARTPIPE_E2E_TIMEOUT seconds (default 180),
# 2 when something it needs is missing. Run from anywhere: ./scripts/awscli-e2e.sh [DATA_FOLDER]
set -euo pipefail
cd "$(dirname "$0")/.."

aws_cli="${AWS_CLI:-/usr/bin/aws}"
if [[ ! -x "$aws_cli" ]]; then
  echo "awscli-e2e: $aws_cli not found: apt-get install -y awscli (or set AWS_CLI)" >&2
  exit 2
fi
if [[ ! -f dist/src/cli/main.js || ! -f dist/jobs/upload.js ]]; then
  echo "awscli-e2e: build first (make build)" >&2
  exit 2
fi
data="${1:-test/fixtures/thelook-sample}"
timeout="${CARTPIPE_E2E_TIMEOUT:-180}"

work=$(mktemp -d "${TMPDIR:-/tmp}/cartpipe-awscli.XXXXXX")
export CARTPIPE_DATA_DIR="$work/state"
export CARTPIPE_BUCKET=cartpipe-local
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
cartpipe=./bin/cartpipe.js

"$cartpipe" up >"$work/up.log" 2>&1 &
up_pid=$!
finish() {
  local code=$?
  if kill -0 "$up_pid" 2>/dev/null; then
    kill -INT "$up_pid"
    wait "$up_pid" || true
  fi
  if [[ $code -ne 0 ]]; then
    echo "--- cartpipe up output ---" >&2
    cat "$work/up.log" >&2
  fi
  rm -rf "$work"
  exit "$code"
}
trap finish EXIT

for _ in $(seq 1 300); do
  [[ -f "$CARTPIPE_DATA_DIR/runtime.json" ]] && break
  if ! kill -0 "$up_pid" 2>/dev/null; then
    echo "awscli-e2e: cartpipe up exited early" >&2
    exit 1
  fi
  sleep 0.2
done
[[ -f "$CARTPIPE_DATA_DIR/runtime.json" ]] || { echo "awscli-e2e: cartpipe up did not start" >&2; exit 1; }
endpoint=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).env.AWS_ENDPOINT_URL_S3)' \
  "$CARTPIPE_DATA_DIR/runtime.json")

# The local server's only key pair; no user profile or config file may interfere. Newer CLIs
# (2.23+) would otherwise send aws-chunked bodies with trailing checksums, which the local
# server stores verbatim; 2.9 (Debian 12) ignores these two variables.
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE="$work/aws-config" AWS_SHARED_CREDENTIALS_FILE="$work/aws-credentials" AWS_PAGER=""
export AWS_REQUEST_CHECKSUM_CALCULATION=when_required AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
unset AWS_PROFILE AWS_SESSION_TOKEN
touch "$AWS_CONFIG_FILE" "$AWS_SHARED_CREDENTIALS_FILE"
aws() { "$aws_cli" --endpoint-url "$endpoint" "$@"; }

batch="awscli-$(date -u +%Y%m%d-%H%M%S)-$$"
echo "$("$aws_cli" --version 2>&1) -> $endpoint, batch $batch"
aws s3 cp --recursive "$data" "s3://$CARTPIPE_BUCKET/incoming/$batch/" --exclude '*.md' --only-show-errors
# No file list: the run takes every object under incoming/<batch>/.
printf '{"dataset": "thelook", "batch": "%s"}\n' "$batch" >"$work/manifest.json"
aws s3 cp "$work/manifest.json" "s3://$CARTPIPE_BUCKET/metadata/$batch.json" --only-show-errors
echo "uploaded $(aws s3 ls --recursive "s3://$CARTPIPE_BUCKET/incoming/$batch/" | wc -l) file(s) and the manifest; waiting for the run"

deadline=$((SECONDS + timeout))
state=""
while ((SECONDS < deadline)); do
  state=$("$cartpipe" status --batch "$batch" --json | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const run = JSON.parse(s)[0];
      console.log(run ? `${run.runId} ${run.status} ${run.notification?.sentAt ? "notified" : "-"}` : "none");
    });')
  case "$state" in
    *" SUCCEEDED notified") break ;;
    *" FAILED notified")
      echo "awscli-e2e: the run failed: $state" >&2
      "$cartpipe" status "${state%% *}" >&2
      exit 1
      ;;
  esac
  sleep 1
done
if [[ "$state" != *" SUCCEEDED notified" ]]; then
  echo "awscli-e2e: no finished run for $batch within ${timeout}s (last: $state)" >&2
  exit 1
fi
run_id=${state%% *}
"$cartpipe" status "$run_id"
echo
echo "outputs, listed with the AWS CLI:"
aws s3 ls "s3://$CARTPIPE_BUCKET/runs/$run_id/"
echo "  $(aws s3 ls --recursive "s3://$CARTPIPE_BUCKET/kpis/thelook/" | wc -l) KPI Parquet file(s) under kpis/thelook/"
echo "awscli-e2e: run $run_id SUCCEEDED"
