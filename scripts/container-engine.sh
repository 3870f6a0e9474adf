# Sourced by scripts/images.sh and scripts/container-smoke.sh: picks the
# container engine and makes it usable.
#   ENGINE         docker when a Docker daemon answers, else podman (Debian's
#                  podman, buildah, runc and catatonit are installed when
#                  missing). JOBQUEUE_CONTAINER_ENGINE=docker|podman forces one.
#   ensure_base_image
#                  makes debian:bookworm-slim available: pulled when a registry
#                  answers, else built from Debian's mirror with debootstrap
#                  (about 80 s, once per machine).
# Every failure names what is missing.

container_log() { echo "containers: $*" >&2; }
container_fail() { container_log "$*"; exit 1; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

install_debian_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || container_fail "needs ${missing[*]} and there is no apt-get to install them"
  container_log "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

pick_engine() {
  ENGINE=${JOBQUEUE_CONTAINER_ENGINE:-}
  if [ -z "$ENGINE" ]; then
    if command -v docker >/dev/null && timeout 10 docker info >/dev/null 2>&1; then
      ENGINE=docker
    else
      ENGINE=podman
    fi
  fi
  case "$ENGINE" in
    docker) timeout 10 docker info >/dev/null 2>&1 || container_fail "docker was asked for but no Docker daemon answers (docker info)";;
    podman)
      install_debian_packages podman buildah runc catatonit containernetworking-plugins \
        golang-github-containernetworking-plugin-dnsname iptables uidmap
      if [ ! -e /etc/containers/containers.conf ] && [ -z "${CONTAINERS_CONF:-}" ]; then
        export CONTAINERS_CONF="$ROOT/tools/containers/containers.conf"
      fi
      local why
      if ! why=$(podman info 2>&1 >/dev/null); then
        container_fail "podman cannot run here (a chroot or an unprivileged container has no cgroups, namespaces or overlay storage): ${why:0:400}"
      fi;;
    *) container_fail "JOBQUEUE_CONTAINER_ENGINE must be docker or podman, not '$ENGINE'";;
  esac
  export ENGINE
}

BASE_IMAGE=docker.io/library/debian:bookworm-slim

ensure_base_image() {
  if $ENGINE image inspect "$BASE_IMAGE" >/dev/null 2>&1; then return 0; fi
  container_log "no $BASE_IMAGE here; trying the registry"
  if timeout 120 $ENGINE pull -q "$BASE_IMAGE" >/dev/null 2>&1; then return 0; fi
  container_log "no registry reachable: building $BASE_IMAGE from Debian's mirror with debootstrap (about 80 s)"
  install_debian_packages debootstrap
  local rootfs
  rootfs=$(mktemp -d /var/tmp/jobqueue-rootfs.XXXXXX)
  as_root debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null \
    || container_fail "debootstrap of bookworm failed (is Debian's mirror reachable?)"
  # What the official slim image does to stay small: dpkg leaves out docs,
  # man pages and translations, and apt keeps no caches.
  as_root tee "$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" >/dev/null <<'SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
SLIM
  as_root tee "$rootfs/etc/apt/apt.conf.d/docker-clean" >/dev/null <<'CLEAN'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
CLEAN
  as_root find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  as_root find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
  as_root tar -C "$rootfs" -c . | $ENGINE import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
  as_root rm -rf "$rootfs"
}
