#!/usr/bin/env bash
# Seed 003's upload: a photo with effects=bw,blur, answered once processed; prints id, applied_effects, processed_by_pod and view_url, saves the result.
#
#   bash examples/upload.sh [PHOTO] [EFFECTS]
#
# PHOTO defaults to examples/photo.jpg, EFFECTS to bw,blur (seed 003's
# names: bw, blur, or both, comma-separated, applied in order). The result
# is saved as upload-<id>.jpg in OUT_DIR (the current directory). Runs
# against `jobqueue dev` (see lib.sh for how it is found).
source "$(dirname "$0")/lib.sh"

photo=${1:-$EXAMPLES_DIR/photo.jpg}
effects=${2:-bw,blur}
out_dir=${OUT_DIR:-.}
[[ -r $photo ]] || die "cannot read $photo"

echo "\$ curl -X POST -F file=@$(basename "$photo") -F effects=$effects $JOBQUEUE_URL/upload"
response=$(api POST /upload -F "file=@$photo" -F "effects=$effects")
jq '{id, applied_effects, processed_by_pod, view_url}' <<<"$response"

id=$(jq -r .id <<<"$response")
view_url=$(jq -r .view_url <<<"$response")
pod=$(jq -r .processed_by_pod <<<"$response")
[[ $id =~ ^[0-9]+$ ]] || die "the answer has no job id: $response"
[[ -n $pod && $pod != null ]] || die "the answer does not name the worker that processed the job: $response"
[[ $(jq -c .applied_effects <<<"$response") == "$(jq -cR 'split(",")' <<<"$effects")" ]] ||
  die "applied_effects is not [$effects]: $response"

saved=$out_dir/upload-$id.jpg
api GET "$view_url" -o "$saved" >/dev/null
is_jpeg "$saved" || die "$saved is not a JPEG"
echo "saved $saved ($(stat -c %s "$saved") bytes), processed by $pod"
echo "open $JOBQUEUE_URL$view_url in a browser to see it"
