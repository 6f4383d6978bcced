#!/usr/bin/env bash
# `make demo`: one thelook batch through the local pipeline, the way it runs on AWS.
# Files and a manifest go into the local S3 bucket over the S3 API; the manifest's ObjectCreated
# event starts the orchestrator, which runs upload -> validate -> compute-kpi as child processes
# (standing in for Fargate tasks) and publishes a notification. Then: the KPIs, where the Parquet
# is, and the notification text. Runs again as often as you like: each run is a new batch.
#
# Data: ../shared/datasets/thelook-lab when it is there (46,007 rows), else the small sample
# shipped in test/fixtures/thelook-sample. CARTPIPE_DEMO_DATA=<folder> picks another folder.
# State: CARTPIPE_DATA_DIR (default .cartpipe/); `make clean` deletes it.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARTPIPE_DATA_DIR="${CARTPIPE_DATA_DIR:-.cartpipe}"
export CARTPIPE_BUCKET="${CARTPIPE_BUCKET:-cartpipe-local}"
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
cartpipe=./bin/cartpipe.js

if [[ ! -f dist/src/cli/main.js || ! -f dist/jobs/upload.js ]]; then
  echo "demo: the project is not built; run \`make demo\` (it installs and builds first)" >&2
  exit 2
fi

data="${CARTPIPE_DEMO_DATA:-}"
if [[ -z "$data" ]]; then
  if [[ -d ../shared/datasets/thelook-lab/orders ]]; then
    data=../shared/datasets/thelook-lab
  else
    data=test/fixtures/thelook-sample
  fi
fi
if [[ ! -d "$data" ]]; then
  echo "demo: no data folder $data" >&2
  exit 2
fi

bold() { if [[ -t 1 ]]; then printf '\n\033[1m== %s ==\033[0m\n' "$*"; else printf '\n== %s ==\n' "$*"; fi; }
show() {
  printf '$ %s\n' "$*"
  "$@"
}

batch="demo-$(date -u +%Y%m%d-%H%M%S)"
previous_runs=$("$cartpipe" status --json --limit 1000 | node -e \
  'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).filter(r=>r.dataset==="thelook").length))')

bold "cartpipe demo: one thelook batch through the event-driven pipeline, on this machine"
files=$(find "$data" -type f \( -name '*.csv' -o -name '*.json' -o -name '*.xlsx' \) | wc -l)
echo "data:   $data ($files files: products, orders, order items)"
echo "state:  $CARTPIPE_DATA_DIR/ (local S3 bucket, DynamoDB tables, notifications, job logs)"
if [[ "$previous_runs" -gt 0 ]]; then
  echo "note:   $previous_runs earlier thelook run(s) in this state. Rows sent again replace their"
  echo "        earlier versions (the latest run wins), so the KPIs below do not double."
fi
echo
echo "The batch goes in as a user would send it: files under incoming/$batch/, then the"
echo "manifest metadata/$batch.json, whose S3 event starts the run. Each stage is a process."
echo

status=0
show "$cartpipe" run --dataset thelook --batch "$batch" "$data" || status=$?

run_id=$("$cartpipe" status --batch "$batch" --json | node -e \
  'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s)[0];console.log(r?r.runId:"")})')
if [[ -z "$run_id" ]]; then
  echo "demo: no run was recorded for batch $batch" >&2
  exit 1
fi

bold "KPIs per day (DynamoDB table cartpipe-kpis; also kpis/ as Parquet)"
show "$cartpipe" kpis --dataset thelook --kpi daily
echo
echo "Per category and day: $cartpipe kpis --dataset thelook --kpi category_daily [--format csv]"

bold "Where the Parquet is"
bucket_dir="$CARTPIPE_DATA_DIR/s3/$CARTPIPE_BUCKET"
echo "The local bucket s3://$CARTPIPE_BUCKET is the folder $bucket_dir/"
echo "(the local S3 server keeps each object as <key>._S3rver_object next to its metadata)."
parquet() { [[ -d "$1" ]] && find "$1" "${@:2}" -name '*.parquet._S3rver_object' | sort || true; }
for area in raw validated rejected held kpis; do
  count=$(parquet "$bucket_dir/$area" | wc -l)
  [[ "$count" -gt 0 ]] || continue
  mine=$(parquet "$bucket_dir/$area" -path "*run=$run_id/*" | wc -l)
  example=$( (parquet "$bucket_dir/$area" -path "*run=$run_id/*"; parquet "$bucket_dir/$area") | head -1)
  key=${example#"$bucket_dir/"}
  key=${key%._S3rver_object}
  if [[ "$area" == kpis ]]; then note='rewritten for the dates each run touches'; else note="$mine from this run"; fi
  printf '  %-10s %4d Parquet file(s) (%s), e.g.\n' "$area/" "$count" "$note"
  printf '             s3://%s/%s\n             %s\n' "$CARTPIPE_BUCKET" "$key" "$example"
done
echo "Run report and stage reports: s3://$CARTPIPE_BUCKET/runs/$run_id/ ($bucket_dir/runs/$run_id/)"

bold "The notification (SNS on AWS; here printed and kept under $CARTPIPE_DATA_DIR/notifications/)"
notification=$(ls -1 "$CARTPIPE_DATA_DIR"/notifications/*-"$run_id".json 2>/dev/null | tail -1 || true)
if [[ -n "$notification" ]]; then
  node -e 'const n=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));
    console.log("Subject: "+n.Subject);
    console.log("Attributes: "+Object.entries(n.MessageAttributes).map(([k,v])=>k+"="+v.Value).join(", ")+"\n");
    console.log(n.Message)' "$notification"
  echo "($notification)"
else
  echo "no notification was written for $run_id" >&2
  status=1
fi

bold "Next"
cat <<EOF
  $cartpipe status $run_id
      this run: stages, attempts, timings, report keys
  $cartpipe up
      keep the local S3 server and the orchestrator running; it prints how to send batches
      with any S3 client (the AWS CLI, for one); \`$cartpipe submit\` sends them too
  $cartpipe run --dataset thelook --batch my-batch FILES_OR_FOLDERS...
      load your own files
EOF
exit "$status"
