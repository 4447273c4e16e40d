# Sourced by docker/test-container.sh and .ci/run. Run as root, podman keeps its images and layer
# cache in /var/lib/containers; this points it at ~/.local/share/containers/storage (where rootless
# podman keeps them anyway), beside the other caches a build here keeps in the home directory
# (ccache, Maven, pip, Go). Where a machine keeps $HOME between runs (CI), the offline base image
# (container-env.sh's debootstrap) and the Dockerfile's apt-get layers are then built once, not on
# every run (a few minutes cold; the compile, which reuses the host's ccache, is the rest). A
# CONTAINERS_STORAGE_CONF set by the caller is left as it is.
if [[ -z "${CONTAINERS_STORAGE_CONF:-}" && $(id -u) == 0 ]]; then
  gregor_podman_conf="$HOME/.config/gregor/containers-storage.conf"
  mkdir -p "$(dirname "$gregor_podman_conf")" "$HOME/.local/share/containers/storage"
  printf '[storage]\ndriver = "overlay"\ngraphroot = "%s"\nrunroot = "/run/containers/storage"\n' \
    "$HOME/.local/share/containers/storage" > "$gregor_podman_conf"
  export CONTAINERS_STORAGE_CONF="$gregor_podman_conf"
fi
