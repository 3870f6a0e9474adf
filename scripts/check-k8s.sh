#!/usr/bin/env bash
# The Kubernetes checks that need no cluster (CI runs them; README section
# "Kubernetes"):
#   1. kubectl >= 1.27 is there (its kustomize renders components; Debian's
#      kubernetes-client 1.20 cannot). Missing or older: this fails, never skips.
#   2. `kubectl kustomize` renders k8s/, both overlays and each component
#      (tests/k8s/components/* put one component on k8s/).
#   3. Every rendered object validates strictly against the Kubernetes API
#      schemas and the CRDs of KEDA, cert-manager and the Prometheus operator
#      (tools/k8s-validate: unknown fields and wrong types are errors), and
#      broken objects prove the validator rejects what it must.
#   4. The policies (tests/k8s/policies.mjs) hold on every render, and each
#      of a list of deliberate breaks is caught by its rule.
#   5. The committed Secret is an example, and git ignores the real one.
#   6. The query of every rendered ScaledObject, run as written against a
#      migrated PostgreSQL holding known jobs, returns the expected depth.
# Installs tools/k8s-validate from its lockfile on first use (npm ci); builds
# build/jobqueue (for `jobqueue migrate`) when it is missing or stale.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

die() { echo "check-k8s: $*" >&2; exit 2; }

# -- 1. prerequisites, named when missing
if ! command -v kubectl >/dev/null 2>&1; then
  die "kubectl is not installed. These checks need kubectl >= 1.27 (kustomize v5 with components);
Debian's kubernetes-client (1.20) is too old. Install kubectl from the Kubernetes project
(https://kubernetes.io/docs/tasks/tools/) and run again."
fi
kver=$(kubectl version --client -o json 2>/dev/null | sed -n 's/.*"gitVersion": *"v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p' | head -n1)
read -r kmajor kminor <<<"${kver:-0 0}"
if [ "$kmajor" -lt 1 ] || { [ "$kmajor" -eq 1 ] && [ "$kminor" -lt 27 ]; }; then
  die "kubectl $(kubectl version --client 2>/dev/null | head -n1) is too old: these checks need kubectl >= 1.27
(kustomize v5: components, labels with includeTemplates). Debian's kubernetes-client is 1.20."
fi
for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not installed; install nodejs and npm: apt-get install nodejs npm"
done
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
  die "Node $(node --version) is too old for tools/k8s-validate; it needs 20 or newer"
for tool in pg_virtualenv psql; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not installed; scripts/setup.sh installs PostgreSQL (postgresql-common)"
done

tools=tools/k8s-validate
# npm ci writes node_modules/.package-lock.json: older than the lockfile (or
# absent) means the installed tree is not the one pinned.
if [ ! -f "$tools/node_modules/.package-lock.json" ] ||
   [ "$tools/package-lock.json" -nt "$tools/node_modules/.package-lock.json" ]; then
  echo "check-k8s: installing $tools (npm ci)"
  (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
step() {
  local name=$1
  shift
  echo "== check-k8s: $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    echo "check-k8s: FAILED: $name" >&2
    failed=$((failed + 1))
  fi
}

# -- 2. render
renders=(
  "base=k8s"
  "dev=kustomize/overlays/dev"
  "prod=kustomize/overlays/prod"
  "component-keda=tests/k8s/components/keda"
  "component-prometheus-adapter=tests/k8s/components/prometheus-adapter"
)
render_all() {
  local ok=0 pair name dir
  for pair in "${renders[@]}"; do
    name=${pair%%=*} dir=${pair#*=}
    if kubectl kustomize "$dir" >"$work/$name.yaml" 2>"$work/$name.err"; then
      echo "rendered $dir: $(grep -c '^kind:' "$work/$name.yaml") objects"
    else
      echo "kubectl kustomize $dir failed:" >&2
      cat "$work/$name.err" >&2
      ok=1
    fi
  done
  return "$ok"
}
step "render k8s/, the overlays and each component" render_all
rendered=()
for pair in "${renders[@]}"; do
  [ -s "$work/${pair%%=*}.yaml" ] && rendered+=("${pair%%=*}=$work/${pair%%=*}.yaml")
done
files=("${rendered[@]#*=}")

# -- 3. strict schemas
step "strict schema validation (Kubernetes, KEDA, cert-manager, Prometheus operator)" \
  node "$tools/validate.mjs" "${files[@]}" k8s/secret.example.yaml
step "the validator rejects unknown fields, wrong types, bad enums and unknown kinds" \
  node tests/k8s/strictness.mjs "$work/dev.yaml" "$work/prod.yaml"

# -- 4. policies
step "policies on every render" node tests/k8s/policies.mjs "${rendered[@]}"
step "each deliberate break is caught by its policy" \
  node tests/k8s/policies.mjs --self-test "base=$work/base.yaml" "dev=$work/dev.yaml" "prod=$work/prod.yaml"

# -- 5. the secret
secret_example() {
  local ok=0
  # Every value of the example is a placeholder.
  if ! node -e '
    const { createRequire } = require("node:module");
    const yaml = createRequire(process.cwd() + "/tools/k8s-validate/package.json")("js-yaml");
    const s = yaml.load(require("fs").readFileSync("k8s/secret.example.yaml", "utf8"));
    const bad = Object.entries({ ...(s.stringData || {}), ...(s.data || {}) }).filter(([, v]) => !String(v).includes("CHANGE-ME"));
    const keys = Object.keys(s.stringData || {}).sort().join(",");
    if (keys !== "API_SECRET_KEY,DATABASE_URL,POSTGRES_PASSWORD") { console.log("k8s/secret.example.yaml: keys " + keys); process.exit(1); }
    for (const [k] of bad) console.log("k8s/secret.example.yaml: " + k + " is not a CHANGE-ME placeholder");
    process.exit(bad.length ? 1 : 0);'; then
    ok=1
  fi
  # (That no render holds a Secret at all is the policies' rule no-secret.)
  if git rev-parse --git-dir >/dev/null 2>&1; then
    if ! git check-ignore -q k8s/secret.yaml; then
      echo ".gitignore does not keep k8s/secret.yaml (the real Secret) out of git" >&2
      ok=1
    fi
    if [ -n "$(git ls-files k8s/secret.yaml)" ]; then
      echo "k8s/secret.yaml is committed" >&2
      ok=1
    fi
  elif ! grep -qx 'k8s/secret.yaml' .gitignore; then
    echo ".gitignore does not list k8s/secret.yaml" >&2
    ok=1
  fi
  return "$ok"
}
step "the committed Secret is an example; the real one is ignored by git" secret_example

# -- 6. the KEDA query against a real database
jobqueue_bin() {
  if [ -n "${JOBQUEUE_BIN:-}" ]; then
    return 0
  fi
  JOBQUEUE_BIN=build/jobqueue
  if [ ! -f build/CMakeCache.txt ]; then
    echo "check-k8s: configuring build/ for the jobqueue CLI"
    bash scripts/setup.sh
    cmake -S . -B build -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
  fi
  # Up to date in CI (scripts/test.sh built it); else brings in new migrations.
  cmake --build build --target jobqueue -j"$(nproc)" -- --quiet >/dev/null
}
keda_queries() {
  local ok=0 pair
  jobqueue_bin || return 1
  for pair in "${rendered[@]}"; do
    if grep -q '^kind: ScaledObject' "${pair#*=}"; then
      echo "-- ${pair%%=*}"
      bash tests/k8s/keda-query.sh "${pair#*=}" "$JOBQUEUE_BIN" || ok=1
    fi
  done
  return "$ok"
}
step "the rendered ScaledObjects' query against a migrated PostgreSQL with known jobs" keda_queries

echo "check-k8s: $((SECONDS - started)) s"
echo "check-k8s: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
