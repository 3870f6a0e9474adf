#!/usr/bin/env bash
# Starts the rendered dev overlay's workloads for real with `podman kube play`
# (no cluster), and puts jobs through them:
#   - renders kustomize/overlays/dev with kubectl, and turns the render into
#     what kube play (podman 4.3) runs with tests/k8s/kube-play.mjs, printing
#     every transformation (the Job as a Pod, the StatefulSet as a Pod + PVC
#     with a local PostgreSQL image, per-pod emptyDirs); the API, worker and
#     reaper Deployments, their securityContexts, ConfigMap and Secret
#     references, probes and emptyDir /tmp go through as rendered;
#   - creates jobqueue-secret with `podman secret create` (a JSON map of base64
#     values: podman 4.3 cannot read a Secret manifest into env, bug #16269),
#     plays everything at once on a podman network whose DNS resolves pod
#     names (postgres = the Service's name), reruns the migration Pod as the
#     Job controller would (backoffLimit, podFailurePolicy exit codes) until
#     it exits 0, and runs every startup, readiness and liveness probe of
#     the render the way the kubelet does;
#   - submits a sleep job and an image upload over HTTP with the Secret's
#     bearer key, waits for both to succeed in the worker pod
#     (processed_by = its pod name, from fieldRef metadata.name), and checks
#     uid/gid, read-only root, writable mounts, no capabilities and
#     no_new_privs inside every container;
#   - tears everything down on exit, failed or not.
#
#   bash tests/k8s/kube-play.sh
#   JOBQUEUE_SKIP_CONTAINERS=1 bash tests/k8s/kube-play.sh   # skip, saying so
#
# Needs podman (scripts/container-engine.sh installs it from Debian; kube play
# needs catatonit and the dnsname CNI plugin), kubectl >= 1.27, node + npm,
# curl. Builds the images with IMAGE_TAG=dev (from the layer cache
# when nothing changed) and, once per machine, the PostgreSQL stand-in image
# localhost/jobqueue-kube-play-postgres:15 (about a minute, from Debian's
# mirror), which it keeps for the next run. Runs alone (a lock), since kube
# play's names (pods, the PVC's volume, the secret) are global to podman.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
started=$(date +%s)

say() { echo "kube-play [$(( $(date +%s) - started ))s]: $*"; }
if [ "${JOBQUEUE_SKIP_CONTAINERS:-}" = 1 ]; then
  say "SKIPPED because JOBQUEUE_SKIP_CONTAINERS=1 (the dev overlay's workloads were not started)" >&2
  exit 0
fi
die() { echo "kube-play FAILED: $*" >&2; exit 1; }

for tool in kubectl node npm curl flock base64 od; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not installed (kubectl >= 1.27: see README 'Checks without a cluster'; node/npm: apt-get install nodejs npm)"
done

# podman, usable: pick_engine installs Debian's podman, runc, catatonit and
# the CNI plugins when missing, points CONTAINERS_CONF at tools/containers
# when the system has none, and fails naming what is missing.
[ "${JOBQUEUE_CONTAINER_ENGINE:-podman}" = podman ] ||
  die "podman kube play needs podman; JOBQUEUE_CONTAINER_ENGINE is '$JOBQUEUE_CONTAINER_ENGINE'"
export JOBQUEUE_CONTAINER_ENGINE=podman
# shellcheck source=scripts/container-engine.sh
source "$ROOT/scripts/container-engine.sh"
pick_engine
# fd 9 holds the lock below: podman's conmon processes must not inherit it
# (they outlive a killed script and would keep the lock).
podman_() { podman "$@" 9>&-; }
P=podman_
command -v catatonit >/dev/null || [ -x /usr/libexec/podman/catatonit ] ||
  die "catatonit is missing: podman kube play cannot make its pause container (apt-get install catatonit)"
dnsname=""
for d in /usr/lib/cni /usr/libexec/cni /opt/cni/bin; do [ -x "$d/dnsname" ] && dnsname="$d/dnsname"; done
[ -n "$dnsname" ] || die "the dnsname CNI plugin is missing: pods could not find each other by name (apt-get install golang-github-containernetworking-plugin-dnsname)"

# One run at a time on a machine.
exec 9>"${TMPDIR:-/tmp}/jobqueue-kube-play.lock"
flock -w 600 9 || die "another kube-play.sh has held ${TMPDIR:-/tmp}/jobqueue-kube-play.lock for 10 minutes"

# The images the dev overlay runs (:dev, imagePullPolicy Never).
say "building jobqueue-api:dev and jobqueue-worker:dev (IMAGE_TAG=dev bash scripts/images.sh; layer cache)"
IMAGE_TAG=dev bash scripts/images.sh >/dev/null || die "IMAGE_TAG=dev bash scripts/images.sh failed"
images_ready=$(date +%s)
for i in api worker; do
  $P image exists "localhost/jobqueue-$i:dev" || die "scripts/images.sh did not make localhost/jobqueue-$i:dev"
done

tools=tools/k8s-validate
if [ ! -f "$tools/node_modules/.package-lock.json" ] ||
   [ "$tools/package-lock.json" -nt "$tools/node_modules/.package-lock.json" ]; then
  say "installing $tools (npm ci)"
  (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci in $tools failed"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/jobqueue-kube-play.XXXXXX")
NET=jobqueue-kube-play
SECRET=jobqueue-secret
PG_IMAGE=localhost/jobqueue-kube-play-postgres:15
played=""

dump_logs() {
  local c
  for c in "${PLAN_CONTAINERS[@]}"; do
    $P container exists "$c" || continue
    echo "--- last lines of $c ($($P inspect "$c" --format '{{.State.Status}}, exit {{.State.ExitCode}}' 2>/dev/null))" >&2
    $P logs "$c" 2>&1 | tail -15 >&2 || true
  done
}
remove_all() {  # everything this script creates, by name; what is not there is no error
  local v
  if [ -f "$work/play.yaml" ]; then $P kube down "$work/play.yaml" >/dev/null 2>&1 || true; fi
  for v in "${PLAN_VOLUMES[@]}"; do $P volume rm -f "$v" >/dev/null 2>&1 || true; done  # kube down keeps these
  $P secret rm "$SECRET" >/dev/null 2>&1 || true
  $P network rm -f "$NET" >/dev/null 2>&1 || true
}
teardown() {
  local rc=$?
  set +e
  [ $rc -ne 0 ] && [ -n "$played" ] && dump_logs
  remove_all
  rm -rf "$work"
  [ -n "$played" ] && say "torn down: the pods, their volumes (PostgreSQL's data with them), secret $SECRET, network $NET"
  exit $rc
}
PLAN_VOLUMES=() PLAN_CONTAINERS=()
trap teardown EXIT
trap 'exit 130' INT TERM

# Render and transform.
kubectl kustomize kustomize/overlays/dev >"$work/dev.yaml" || die "kubectl kustomize kustomize/overlays/dev failed"
say "rendered kustomize/overlays/dev ($(grep -c '^kind:' "$work/dev.yaml") objects); transformations for podman kube play:"
node tests/k8s/kube-play.mjs "$work/dev.yaml" "$work" "$PG_IMAGE" >"$work/changes.txt" || die "tests/k8s/kube-play.mjs failed"
sed 's/^/  - /' "$work/changes.txt"
# shellcheck source=/dev/null
source "$work/plan.sh"
say "  unchanged: the Deployments jobqueue-api, jobqueue-worker and jobqueue-reaper; ConfigMap $PLAN_CONFIGMAPS (kube play --configmap)"
say "  not played (kube play has no use for them): $PLAN_IGNORED"

# PostgreSQL stand-in: what docker.io/library/postgres:15-bookworm does that
# the StatefulSet relies on (uid 999, POSTGRES_USER/DB/PASSWORD, PGDATA, a
# password for TCP, the socket in /var/run/postgresql), from Debian's package.
mkdir -p "$work/pg"
cat >"$work/pg/Dockerfile" <<'EOF'
FROM docker.io/library/debian:bookworm-slim
RUN set -eux; groupadd -r -g 999 postgres; useradd -r -g postgres -u 999 -d /var/lib/postgresql -s /bin/bash postgres; \
    mkdir -p /etc/postgresql-common; echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf; \
    apt-get update; DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confold postgresql-15; \
    rm -rf /var/lib/apt/lists/*; \
    mkdir -p /var/lib/postgresql/data /var/run/postgresql; chown -R 999:999 /var/lib/postgresql /var/run/postgresql; chmod 1777 /var/lib/postgresql/data
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
USER 999
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
EOF
cat >"$work/pg/entrypoint.sh" <<'EOF'
#!/bin/bash
set -euo pipefail
: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  [ -n "${POSTGRES_PASSWORD:-}" ] || { echo "entrypoint: POSTGRES_PASSWORD is empty" >&2; exit 1; }
  mkdir -p "$PGDATA"; chmod 700 "$PGDATA"
  initdb -D "$PGDATA" --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --auth-local=trust --auth-host=scram-sha-256 --locale=C.UTF-8 --encoding=UTF8 >/dev/null
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  pg_ctl -D "$PGDATA" -w -s -o "-c listen_addresses=''" start
  if [ "$POSTGRES_DB" != postgres ]; then
    psql -q -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -c "CREATE DATABASE \"$POSTGRES_DB\""
  fi
  pg_ctl -D "$PGDATA" -w -s -m fast stop
  echo "entrypoint: initialized $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
fi
exec "$@"
EOF
chmod +x "$work/pg/entrypoint.sh"
$P image exists "$PG_IMAGE" || say "building $PG_IMAGE (once per machine, about a minute: Debian's postgresql-15)"
$P build -q -t "$PG_IMAGE" "$work/pg" >"$work/pg-build.log" 2>&1 ||
  { tail -20 "$work/pg-build.log" >&2; die "building the PostgreSQL stand-in $PG_IMAGE failed (is Debian's mirror reachable?)"; }

# Leftovers of a run killed before its teardown (we hold the lock).
leftover=""
for p in "${PLAN_PODS[@]}"; do $P pod exists "$p" && leftover+=" pod/$p"; done
for v in "${PLAN_VOLUMES[@]}"; do $P volume exists "$v" && leftover+=" volume/$v"; done
$P secret inspect "$SECRET" >/dev/null 2>&1 && leftover+=" secret/$SECRET"
$P network exists "$NET" && leftover+=" network/$NET"
[ -z "$leftover" ] || { say "removing the leftovers of an earlier run:$leftover"; remove_all; }

# The Secret with the keys the README's `kubectl create secret` gives it;
# DATABASE_URL names the Service by its short name (no cluster domain here).
[ "$PLAN_SECRET_KEYS" = "$SECRET/API_SECRET_KEY $SECRET/DATABASE_URL $SECRET/POSTGRES_PASSWORD" ] ||
  die "the render reads other secret keys than this script creates: $PLAN_SECRET_KEYS"
random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
b64() { printf '%s' "$1" | base64 -w0; }
PW=$(random_hex 24)
KEY=$(random_hex 32)
printf '{"POSTGRES_PASSWORD":"%s","DATABASE_URL":"%s","API_SECRET_KEY":"%s"}\n' "$(b64 "$PW")" \
  "$(b64 "postgresql://jobqueue:$PW@postgres:5432/jobqueue?sslmode=disable")" "$(b64 "$KEY")" >"$work/secret.json"
$P secret create "$SECRET" "$work/secret.json" >/dev/null || die "podman secret create $SECRET failed"
rm -f "$work/secret.json"
say "secret $SECRET: podman secret create with a JSON map of base64 values (podman 4.3 cannot take a Secret manifest as env, bug #16269); the secretKeyRefs stay as rendered; DATABASE_URL points at postgres:5432"

$P network create "$NET" >/dev/null || die "podman network create $NET failed"
[ "$($P network inspect "$NET" --format '{{.DNSEnabled}}')" = true ] || die "network $NET has no DNS (the dnsname plugin)"

# medium: Memory emptyDirs as the kubelet makes them: a tmpfs of sizeLimit,
# mode 1777. podman gives a new volume the owner and mode of the image's
# directory at its first mount (root 0755 for /dev/shm), so one throwaway
# mount elsewhere spends that first mount; the pod gets the tmpfs afresh.
for t in "${PLAN_TMPFS[@]}"; do
  name=${t%%:*}
  $P volume create --opt type=tmpfs --opt device=tmpfs --opt "o=nr_blocks=$(( ${t#*:} / 4096 )),mode=1777" "$name" >/dev/null ||
    die "podman volume create $name (tmpfs) failed"
  $P run --rm --network none -v "$name:/mnt" --entrypoint true "$PG_IMAGE" || die "could not prepare the tmpfs volume $name"
done

# Everything at once, as kubectl apply would.
say "podman kube play --network $NET --configmap configmaps.yaml play.yaml: pods ${PLAN_PODS[*]}"
played=1
$P kube play --network "$NET" --configmap "$work/configmaps.yaml" "$work/play.yaml" >"$work/play.log" 2>&1 ||
  { cat "$work/play.log" >&2; die "podman kube play failed"; }
grep -q 'unable to get systemd connection to add healthchecks' "$work/play.log" &&
  say "podman turned the liveness probes into healthchecks, which nothing runs without systemd: this script probes instead"

pod_ip() {
  local infra
  infra=$($P pod inspect "$1" --format '{{.InfraContainerID}}') || return 1
  $P inspect "$infra" --format "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}"
}

# The migration Job: its pod rerun on failure as the Job controller would
# (backoffLimit; podFailurePolicy's exit codes fail at once).
failures=0
deadline=$(( $(date +%s) + 90 ))
while :; do
  read -r status code < <($P inspect "$PLAN_JOB_CONTAINER" --format '{{.State.Status}} {{.State.ExitCode}}') ||
    die "podman inspect $PLAN_JOB_CONTAINER failed"
  if [ "$status" = exited ]; then
    [ "$code" = 0 ] && break
    case "$PLAN_JOB_FAIL_CODES" in *" $code "*) die "the migration exited $code: the Job's podFailurePolicy fails the Job at once";; esac
    failures=$((failures + 1))
    [ $failures -le "$PLAN_JOB_BACKOFF" ] || die "the migration failed $failures times (backoffLimit $PLAN_JOB_BACKOFF)"
    say "migration pod exited $code (PostgreSQL not accepting connections yet); rerun $failures of at most $PLAN_JOB_BACKOFF, as the Job controller would"
    sleep 1
    $P pod start "$PLAN_JOB_POD" >/dev/null
  fi
  [ "$(date +%s)" -lt $deadline ] || die "the migration pod has not exited 0 after 90 s"
  sleep 0.5
done
say "migration pod $PLAN_JOB_POD exited 0 after $failures rerun(s); its last line: $($P logs "$PLAN_JOB_CONTAINER" 2>&1 | tail -1 | cut -c1-140)"

# Every probe as rendered, as the kubelet runs them: httpGet from outside to
# the pod's address, exec inside the container. Startup, then readiness
# (each within 30 s), then liveness.
probe_once() {  # container ip type rest...
  local ctr=$1 ip=$2 type=$3 code
  if [ "$type" = http ]; then
    code=$(curl -s -o /dev/null -m 3 -w '%{http_code}' "http://$ip:$4$5") || return 1
    [ "$code" -ge 200 ] && [ "$code" -lt 400 ]
  else
    $P exec "$ctr" "${@:4}" >/dev/null 2>&1
  fi
}
declare -A IP
args=()
for ctr in "${PLAN_CONTAINERS[@]}"; do
  [ -n "${PLAN_PROBES[$ctr]}" ] || continue
  IP[$ctr]=$(pod_ip "${PLAN_POD[$ctr]}") || die "no address for pod ${PLAN_POD[$ctr]}"
  while read -r kind type rest; do
    eval "args=($rest)"
    ok=""
    for _ in $(seq 1 100); do
      if probe_once "$ctr" "${IP[$ctr]}" "$type" "${args[@]}"; then ok=1; break; fi
      sleep 0.3
    done
    what="$kind $([ "$type" = http ] && echo "GET :${args[0]}${args[1]}" || echo "exec ${args[*]}")"
    [ -n "$ok" ] || die "$ctr: $what does not pass after 30 s"
    say "$ctr: $what passes"
  done <<<"${PLAN_PROBES[$ctr]}"
done

# The security context, seen from inside each running container (one exec
# each), and podman's record of each container, the migration's included.
for ctr in "${PLAN_CONTAINERS[@]}"; do
  [ "${PLAN_HARDENED[$ctr]}" = yes ] || die "$ctr: the render does not ask for a read-only root, dropped capabilities and no escalation"
  read -r uid gid <<<"${PLAN_USER[$ctr]}"
  read -r user ro mem quota period < <($P inspect "$ctr" --format '{{.Config.User}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.Memory}} {{.HostConfig.CpuQuota}} {{.HostConfig.CpuPeriod}}')
  [ "$user $ro" = "$uid:$gid true" ] || die "$ctr: podman runs it as $user with read-only root $ro, the render says $uid:$gid read-only"
  [ "$mem" = "${PLAN_MEMORY[$ctr]}" ] || die "$ctr: memory limit $mem bytes, the render says ${PLAN_MEMORY[$ctr]}"
  { [ "$period" -gt 0 ] && [ $(( quota * 1000 / period )) = "${PLAN_CPU_MILLI[$ctr]}" ]; } ||
    die "$ctr: CPU quota $quota/$period, the render says ${PLAN_CPU_MILLI[$ctr]}m"
  if [ "$ctr" = "$PLAN_JOB_CONTAINER" ]; then  # exited: nothing to exec in
    say "$ctr (exited): podman ran it as $user, read-only root, limits $(( mem / 1048576 ))Mi ${PLAN_CPU_MILLI[$ctr]}m"
    continue
  fi
  # shellcheck disable=SC2016,SC2086 # the mounts are words
  out=$($P exec "$ctr" sh -c '
    echo "ids $(id -u) $(id -g)"
    if err=$(touch / 2>&1); then echo "root writable"; else echo "root $err"; fi
    for m in "$@"; do touch "$m/.kube-play" && rm "$m/.kube-play" && echo "mount $m writable"; done
    grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/1/status' sh ${PLAN_MOUNTS[$ctr]}) || die "podman exec in $ctr failed: $out"
  grep -qx "ids $uid $gid" <<<"$out" || die "$ctr runs as $(grep '^ids' <<<"$out"), not $uid $gid"
  grep -q '^root .*Read-only file system' <<<"$out" || die "$ctr: its root filesystem is not read-only: $(grep '^root' <<<"$out")"
  for m in ${PLAN_MOUNTS[$ctr]}; do grep -qx "mount $m writable" <<<"$out" || die "$ctr cannot write its volume at $m"; done
  grep -Eq '^CapEff:[[:space:]]+0+$' <<<"$out" || die "$ctr: its process has capabilities: $(grep CapEff <<<"$out")"
  grep -Eq '^NoNewPrivs:[[:space:]]+1$' <<<"$out" || die "$ctr: no_new_privs is not set (allowPrivilegeEscalation: false)"
  grep -Eq '^Seccomp:[[:space:]]+2$' <<<"$out" || die "$ctr: its process runs without a seccomp filter"
  say "$ctr: uid $uid gid $gid, root read-only (touch /: Read-only file system), writes ${PLAN_MOUNTS[$ctr]// /,}, CapEff 0, NoNewPrivs 1, seccomp filter, limits $(( mem / 1048576 ))Mi ${PLAN_CPU_MILLI[$ctr]}m"
done

# Jobs over HTTP, with the Secret's bearer key.
API="http://$(pod_ip "$PLAN_API_POD"):$PLAN_API_PORT"
field() { node -e 'const v = JSON.parse(process.argv[1])[process.argv[2]]; process.stdout.write(v == null ? "" : String(v))' "$1" "$2"; }
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d '{"kind":"noop"}' "$API/v1/jobs")
[ "$code" = 401 ] || die "POST /v1/jobs without the bearer key answered $code, not 401 (API_SECRET_KEY from the secret not applied?)"
auth=(-H "Authorization: Bearer $KEY")
sleep_answer=$(curl -sf "${auth[@]}" -X POST -H 'Content-Type: application/json' \
  -d '{"kind":"sleep","payload":{"seconds":0.1}}' "$API/v1/jobs") || die "POST $API/v1/jobs (a sleep job) failed"
image_answer=$(curl -sf "${auth[@]}" -X POST -H 'Content-Type: image/jpeg' \
  --data-binary @fuzz/corpus/image_meta_fuzz/baseline.jpg "$API/v1/images?ops=thumbnail:4x4") || die "POST $API/v1/images failed"
say "submitted to $API with the bearer key (401 without it): a sleep job and an image upload"
for answer in "$sleep_answer" "$image_answer"; do
  id=$(field "$answer" id)
  [ -n "$id" ] || die "no job id in $answer"
  state=""
  for _ in $(seq 1 100); do
    job=$(curl -sf "${auth[@]}" "$API/v1/jobs/$id") || die "GET /v1/jobs/$id failed"
    state=$(field "$job" state)
    [ "$state" = succeeded ] && break
    case "$state" in dead|cancelled) die "job $id ended $state: $job";; esac
    sleep 0.3
  done
  [ "$state" = succeeded ] || die "job $id is still $state after 30 s: $job"
  by=$(field "$job" processed_by)
  [ "$by" = "$PLAN_WORKER_POD" ] || die "job $id was processed by '$by', not the worker pod $PLAN_WORKER_POD"
  say "job $id ($(field "$job" kind)) succeeded, processed_by $by"
done
id=$(field "$image_answer" id)
type=$(curl -sf "${auth[@]}" -o "$work/result" -w '%{content_type}' "$API/v1/jobs/$id/result") || die "GET /v1/jobs/$id/result failed"
{ [ "$type" = image/jpeg ] && [ "$(head -c2 "$work/result" | od -An -tx1 | tr -d ' ')" = ffd8 ]; } ||
  die "the image job's result is not a JPEG (content type $type)"
say "image job $id: its $(wc -c <"$work/result")-byte JPEG thumbnail came back through the API"

cat <<EOF
kube-play: PASSED in $(( $(date +%s) - started )) s, $(( $(date +%s) - images_ready )) s after the images were ready (teardown follows).
What ran for real without a cluster (podman $($P version --format '{{.Client.Version}}') kube play, the transformations above):
  - the API, worker and reaper Deployments as rendered (1 pod each), PostgreSQL from the StatefulSet's pod template
    with its PVC, and the migration Job's pod template as a Pod, rerun until it exited 0, all started at once;
  - env from the generated ConfigMap and from jobqueue-secret (secretKeyRef), WORKER_ID from fieldRef metadata.name;
  - runAsUser/runAsGroup, readOnlyRootFilesystem, drop ALL, allowPrivilegeEscalation false (no_new_privs), a seccomp
    filter, the emptyDirs (one a tmpfs), memory and CPU limits: checked inside and on every container;
  - every startup, readiness and liveness probe of the render, run by this script the way the kubelet runs them;
  - a sleep job and an image upload through the API pod with the secret's bearer key, completed by the worker pod.
What could not run without a cluster: the Job and StatefulSet controllers (this script played the Job's retries),
Services and cluster DNS (pods reach PostgreSQL by pod name; DATABASE_URL is not the Secret's FQDN), the NodePort and
the Ingress, KEDA's ScaledObject and any scaling, NetworkPolicies (podman enforces none: every pod reaches every other),
ResourceQuota and LimitRange, PodDisruptionBudgets, ServiceAccounts, Pod Security admission (runAsNonRoot: podman does
not check it; the uid check above does), fsGroup, emptyDir sizeLimit on disk, resource requests (scheduling), the
kubelet itself (restarts on a failing liveness probe, readiness gating Service endpoints), preStop hooks and
terminationGracePeriodSeconds. The image of the StatefulSet (postgres:15-bookworm) was not pulled: no registry.
EOF
