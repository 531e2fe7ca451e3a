# Built-in kind kiln/environment: builds an environment's root filesystem with mmdebstrap on the
# worker's host (see docs/packaging.md). Parameters: KILN_WITH_SUITE, KILN_WITH_ARCH,
# KILN_WITH_MIRROR, KILN_WITH_VARIANT, KILN_WITH_PACKAGES (comma-separated).
# Writes environment.tar.zst (the tarball workers fetch by its hash) and environment.packages
# (what is installed in it, "name<TAB>version" per line).
command -v mmdebstrap >/dev/null || { echo "kiln/environment needs mmdebstrap on the worker (apt-get install mmdebstrap)" >&2; exit 1; }
command -v zstd >/dev/null || { echo "kiln/environment needs zstd on the worker (apt-get install zstd)" >&2; exit 1; }

args=(--variant="$KILN_WITH_VARIANT" --architectures="$KILN_WITH_ARCH" --mode=auto)
if [ -n "${KILN_WITH_PACKAGES:-}" ]; then
    args+=(--include="$KILN_WITH_PACKAGES")
fi
manifest="$PWD/environment.packages"
# the manifest comes from the finished tree, before it is packed
args+=(--customize-hook="chroot \"\$1\" dpkg-query -W -f='\${Package}\t\${Version}\n' > '$manifest'")
# no apt lists or downloaded packages inside: smaller, and a job updates its own lists
args+=(--customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/archives/*.deb')

echo "mmdebstrap ${args[*]} $KILN_WITH_SUITE environment.tar.zst $KILN_WITH_MIRROR"
started=$(date +%s)
# the .tar.zst name makes mmdebstrap compress with zstd
mmdebstrap "${args[@]}" "$KILN_WITH_SUITE" environment.tar.zst "$KILN_WITH_MIRROR"
took=$(( $(date +%s) - started ))

size=$(stat -c %s environment.tar.zst)
sha=$(sha256sum environment.tar.zst | cut -d' ' -f1)
count=$(wc -l < "$manifest")
echo "environment: $count packages, $size bytes, sha256 $sha, built in ${took}s"
printf '{"status":"successful","suite":"%s","architecture":"%s","variant":"%s","packages":%d,"size":%d,"sha256":"%s","seconds":%d}\n' \
    "$KILN_WITH_SUITE" "$KILN_WITH_ARCH" "$KILN_WITH_VARIANT" "$count" "$size" "$sha" "$took" > "${KILN_RESULT_FILE:-/dev/null}"
