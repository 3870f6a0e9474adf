#!/usr/bin/env bash
# Seed 000's /submit: an image job given only an image_url (here an image the API itself serves), and the worker log lines naming the job and the worker that took it.
#
#   bash examples/submit-url.sh [IMAGE_URL]
#
# Without IMAGE_URL, examples/photo.jpg is uploaded first and the job is
# given the URL the API serves that upload from (/v1/jobs/<id>/input), so no
# other server is needed. The worker fetches the URL itself (jobqueue dev
# lets workers fetch from localhost; in production private addresses are
# refused unless IMAGE_FETCH_ALLOW_PRIVATE=true). With API_SECRET_KEY set the
# worker, which sends no token, cannot fetch from the API: give IMAGE_URL.
source "$(dirname "$0")/lib.sh"

image_url=${1:-}
if [[ -z $image_url ]]; then
  [[ ${#AUTH[@]} -eq 0 ]] || die "the API needs a token, so its own URLs cannot be fetched by a worker: give an IMAGE_URL"
  upload=$(api POST /v1/images -F "file=@$EXAMPLES_DIR/photo.jpg" -F ops=grayscale)
  image_url=$JOBQUEUE_URL/v1/jobs/$(jq -r .id <<<"$upload")/input
fi

echo "\$ curl -X POST $JOBQUEUE_URL/submit -H 'Content-Type: application/json' -d '{\"image_url\": \"$image_url\"}'"
response=$(api POST /submit -H 'Content-Type: application/json' --data "$(jq -cn --arg u "$image_url" '{image_url: $u}')")
echo "$response"
id=$(jq -r .id <<<"$response")
[[ $id =~ ^[0-9]+$ ]] || die "the answer has no job id: $response"

job=$(wait_terminal "$id")
state=$(jq -r .state <<<"$job")
worker=$(jq -r .processed_by <<<"$job")
echo "job $id $state, processed by $worker: $(jq -c '.result | {width, height, format, bytes, ops}' <<<"$job")"
[[ $state == succeeded ]] || die "job $id ended $state: $(jq -r .last_error <<<"$job")"

# The worker's own log lines for this job, as seed 000 shows them with
# `kubectl logs -l app=image-worker`.
if [[ -z ${JOBQUEUE_DEV_LOGS:-} ]]; then
  echo "(the worker's log lines for job $id are in its own log: this API was not started by jobqueue dev)"
  exit 0
fi
echo "the worker's log ($JOBQUEUE_DEV_LOGS):"
pattern="job_id[=\":]+$id[ ,}]"
for _ in $(seq 50); do  # the log is written by another process: give it a moment
  lines=$(grep -hE "$pattern" "$JOBQUEUE_DEV_LOGS"/worker-*.log | grep -E 'image job (received|processed)' || true)
  [[ $(grep -c . <<<"$lines") -ge 2 ]] && break
  sleep 0.1
done
printf '%s\n' "$lines"
grep -q "received" <<<"$lines" && grep -q "processed" <<<"$lines" ||
  die "the workers' logs have no 'received' and 'processed' lines for job $id"
grep -q "$worker" <<<"$lines" || die "the log lines for job $id do not name $worker, the worker that processed it"
