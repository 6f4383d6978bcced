#!/usr/bin/env bash
# Runs the job image's build here, without a Docker engine, and checks that every stage's command
# starts. The steps are read from docker/Dockerfile itself, so this check cannot drift from it:
#   1. build context  = the repository minus .dockerignore (close to Docker's rules, not exact)
#   2. build stage    = its COPY lines and RUN commands (npm ci, npm run build, npm prune ...)
#   3. runtime stage  = its COPY --from=build lines
#   4. for each stage, `node <CMD's flags> dist/jobs/<stage>.js` (the task definition's command)
#      with only the runtime stage's ENV, as an unprivileged user when run as root: it must exit 1
#      with a configuration error that names a variable ("invalid configuration: ... RUN_ID ..."),
#      not crash (a flag node refuses exits 9).
#
# Usage: scripts/image-build-check.sh            (KEEP_WORKDIR=1 keeps the temporary folder)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOCKERFILE=${DOCKERFILE:-$ROOT/docker/Dockerfile}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cartpipe-image.XXXXXX")
chmod 755 "$WORK"

cleanup() {
  if [[ -n "${KEEP_WORKDIR:-}" ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }
fail() {
  printf 'image-build-check: %s\n' "$*" >&2
  exit 1
}

[[ -f "$DOCKERFILE" ]] || fail "no Dockerfile at $DOCKERFILE"
command -v node >/dev/null || fail "node is not installed"
command -v npm >/dev/null || fail "npm is not installed"

# Stages from the layout contract (src/contracts/layout.ts: STAGES = ['upload', ...]).
if [[ -z "${STAGES:-}" ]]; then
  STAGES=$(sed -n "s/^export const STAGES = \[\(.*\)\].*/\1/p" "$ROOT/src/contracts/layout.ts" | tr ',' '\n' | tr -d "' " | xargs)
fi
[[ -n "$STAGES" ]] || fail "could not read STAGES from src/contracts/layout.ts"

# ---- 1. build context ---------------------------------------------------------------------
say "build context (repository minus .dockerignore)"
CONTEXT=$WORK/context
mkdir -p "$CONTEXT"
EXCLUDES=$WORK/excludes
: >"$EXCLUDES"
if [[ -f "$ROOT/.dockerignore" ]]; then
  # Docker's patterns are anchored at the context root; tar's match anywhere: close enough for
  # the top-level names used here. Negations (!) only re-include, so they are skipped.
  grep -vE '^\s*(#|!|$)' "$ROOT/.dockerignore" | sed -e 's#^\*\*/##' -e 's#^/##' -e 's#/$##' >"$EXCLUDES"
fi
tar -C "$ROOT" --exclude-from="$EXCLUDES" -cf - . | tar -C "$CONTEXT" -xf -
echo "context: $(find "$CONTEXT" -type f | wc -l) files"

# ---- Dockerfile reader: instructions with continuation lines joined, comments dropped -------
instructions() {
  sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' "$DOCKERFILE" | grep -vE '^\s*(#|$)'
}

# Runs the instructions of one stage (FROM ... AS <name>) in folder $2.
run_stage() {
  local stage=$1 dir=$2 current="" line op rest
  local -a env_pairs=()
  mkdir -p "$dir"
  while IFS= read -r line; do
    op=${line%% *}
    rest=${line#* }
    op=${op^^}
    if [[ $op == FROM ]]; then
      current=$(sed -nE 's/.* [Aa][Ss] +([A-Za-z0-9_-]+).*/\1/p' <<<"$rest")
      continue
    fi
    [[ $current == "$stage" ]] || continue
    case $op in
      ENV)
        # ENV A=1 B=2 (the form this Dockerfile uses).
        read -ra pairs <<<"$rest"
        env_pairs+=("${pairs[@]}")
        ;;
      COPY)
        copy_into "$dir" "$rest"
        ;;
      RUN)
        if [[ $stage != build ]]; then
          # Later stages only set up the image's own file system (users, directories): not
          # something to run on this host.
          echo "- skipped in stage $stage: $rest"
          continue
        fi
        echo "+ $rest"
        (cd "$dir" && env "${env_pairs[@]}" npm_config_prefer_offline=true sh -c "$rest") ||
          fail "RUN failed in stage $stage: $rest"
        ;;
      WORKDIR | USER | CMD | ENTRYPOINT | ARG | LABEL | EXPOSE | VOLUME) ;;
      *) fail "unsupported Dockerfile instruction in stage $stage: $op" ;;
    esac
  done < <(instructions)
}

# COPY [--from=build] <src>... <dest>, with /app (the WORKDIR) mapped to the stage folder.
copy_into() {
  local dir=$1 from="" src dest target
  local -a words
  read -ra words <<<"$2"
  if [[ ${words[0]} == --from=* ]]; then
    from=${words[0]#--from=}
    words=("${words[@]:1}")
  fi
  dest=${words[-1]}
  unset 'words[-1]'
  for src in "${words[@]}"; do
    if [[ -n $from ]]; then
      src="$WORK/$from${src#/app}"
    else
      src="$CONTEXT/$src"
    fi
    [[ -e $src ]] || fail "COPY source missing: ${src#"$WORK"/} (is it in .dockerignore, or not written yet?)"
    target="$dir/${dest#./}"
    if [[ -d $src ]]; then
      mkdir -p "$target"
      cp -a "$src/." "$target/"
    elif [[ $dest == */ ]]; then
      mkdir -p "$target"
      cp -a "$src" "$target"
    else
      mkdir -p "$(dirname "$target")"
      cp -a "$src" "$target"
    fi
  done
}

# ---- 2. build stage ---------------------------------------------------------------------------
say "build stage"
run_stage build "$WORK/build"

# ---- 3. runtime stage -------------------------------------------------------------------------
say "runtime stage"
run_stage runtime "$WORK/runtime"
chmod -R a+rX "$WORK/runtime"
if [[ -d "$WORK/runtime/node_modules/typescript" || -d "$WORK/runtime/node_modules/jest" ]]; then
  fail "dev dependencies are in the runtime image (npm prune --omit=dev did not run?)"
fi
echo "runtime: $(du -sh "$WORK/runtime" | cut -f1)"

# ---- 4. every stage's command ------------------------------------------------------------------
# The node flags of the image's CMD (["node", <flags>..., "dist/jobs/<stage>.js"]) and the ENV
# pairs of the runtime stage (after the last FROM).
read -ra NODE_FLAGS <<<"$(instructions | sed -n 's/^CMD *//p' | tail -1 |
  node -e 'const c = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(c.slice(1, -1).join(" "))')"
read -ra RUNTIME_ENV <<<"$(instructions | awk 'toupper($1) == "FROM" { env = "" } toupper($1) == "ENV" { $1 = ""; env = env $0 } END { print env }')"
echo "node flags: ${NODE_FLAGS[*]:-(none)}; runtime ENV: ${RUNTIME_ENV[*]:-(none)}"
as_user=()
if [[ $(id -u) == 0 ]] && command -v setpriv >/dev/null; then
  as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups) # like USER node: not root
fi
failures=0
for stage in $STAGES; do
  say "stage $stage: node ${NODE_FLAGS[*]} dist/jobs/$stage.js with the image's environment only"
  if [[ ! -f "$WORK/runtime/dist/jobs/$stage.js" ]]; then
    echo "FAIL: dist/jobs/$stage.js is not in the image (is jobs/$stage.ts written?)"
    failures=$((failures + 1))
    continue
  fi
  set +e
  output=$(cd "$WORK/runtime" && timeout 60 "${as_user[@]}" env -i PATH="$PATH" HOME=/nonexistent \
    "${RUNTIME_ENV[@]}" node "${NODE_FLAGS[@]}" "dist/jobs/$stage.js" 2>&1)
  code=$?
  set -e
  printf '%s\n' "$output" | sed 's/^/  | /' | head -20
  problems=()
  [[ $code == 1 ]] || problems+=("exit code $code, expected 1")
  grep -q 'invalid configuration' <<<"$output" || problems+=('no "invalid configuration" message')
  grep -qE '\b(RUN_ID|CARTPIPE_[A-Z_]+)\b' <<<"$output" || problems+=('no variable named')
  if grep -qE '^\s+at .+:[0-9]+:[0-9]+\)?$|node:internal|ERR_MODULE_NOT_FOUND|Cannot find (module|package)' <<<"$output"; then
    problems+=('stack trace or module resolution error (a crash, not a config error)')
  fi
  if ((${#problems[@]} > 0)); then
    echo "FAIL: ${problems[*]}"
    failures=$((failures + 1))
  else
    echo "ok: exit 1 with a configuration error"
  fi
done

if ((failures > 0)); then
  fail "$failures stage command(s) did not start cleanly"
fi
say "image build check passed for: $STAGES"
