# Shared by the examples (sourced, not run): finds the running `jobqueue dev`
# through the env file it writes (.jobqueue-dev/env, or $JOBQUEUE_DEV_DIR/env)
# unless JOBQUEUE_URL is already set, checks that its API answers, and offers
# small helpers. Needs curl and jq (scripts/setup.sh installs both).
set -euo pipefail
shopt -s inherit_errexit  # a failed call inside $(...) stops the script too

EXAMPLES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$EXAMPLES_DIR/.." && pwd)

die() {
  echo "$(basename "$0"): $*" >&2
  exit 1
}

for tool in curl jq; do
  command -v "$tool" >/dev/null || die "needs $tool (bash scripts/setup.sh installs it)"
done

if [[ -z ${JOBQUEUE_URL:-} ]]; then
  env_file=${JOBQUEUE_DEV_DIR:-$ROOT/.jobqueue-dev}/env
  [[ -f $env_file ]] || die "no jobqueue dev is running ($env_file is missing): start one with 'bash scripts/dev.sh' in another terminal, or set JOBQUEUE_URL"
  # shellcheck source=/dev/null
  source "$env_file"
  if [[ -n ${JOBQUEUE_DEV_PID:-} ]] && ! kill -0 "$JOBQUEUE_DEV_PID" 2>/dev/null; then
    die "$env_file was left by a jobqueue dev that is no longer running: start one with 'bash scripts/dev.sh'"
  fi
fi
AUTH=()
[[ -z ${JOBQUEUE_TOKEN:-} ]] || AUTH=(-H "Authorization: Bearer $JOBQUEUE_TOKEN")
curl -fsS -o /dev/null --max-time 5 "$JOBQUEUE_URL/health" ||
  die "the jobqueue API does not answer at $JOBQUEUE_URL: is 'jobqueue dev' running?"

# api METHOD PATH [curl args...]: the response body on stdout; fails, printing
# the API's error, on any status but 2xx.
api() {
  local method=$1 path=$2 body status
  shift 2
  body=$(curl -sS --max-time 60 -X "$method" "${AUTH[@]}" -w '\n%{http_code}' "$@" "$JOBQUEUE_URL$path") ||
    die "$method $path: no answer from $JOBQUEUE_URL"
  status=${body##*$'\n'}
  body=${body%$'\n'*}
  [[ $status == 2* ]] || die "$method $path answered $status: $body"
  printf '%s\n' "$body"
}

# wait_terminal ID [SECONDS]: polls the job until it is succeeded, dead or
# cancelled (default limit 60 s) and prints its JSON.
wait_terminal() {
  local id=$1 limit=${2:-60} job state deadline=$((SECONDS + ${2:-60}))
  while :; do
    job=$(api GET "/v1/jobs/$id")
    state=$(jq -r .state <<<"$job")
    case $state in succeeded | dead | cancelled)
      printf '%s\n' "$job"
      return 0
      ;;
    esac
    ((SECONDS < deadline)) || die "job $id is still $state after ${limit} s"
    sleep 0.2
  done
}

# is_jpeg FILE: true when FILE starts with a JPEG's start-of-image marker.
is_jpeg() { [[ $(head -c 3 "$1" | od -An -tx1 | tr -d ' \n') == ffd8ff ]]; }
