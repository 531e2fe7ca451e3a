# Built-in kind debian/sbuild: see docs/packaging.md. Runs on the worker's host; sbuild
# unshares the build itself from $KILN_ENVIRONMENT_TARBALL and has no network while building.

# The "Summary" section of an sbuild .build log as KEY=VALUE lines (Status, Fail-Stage, Build-Time, …).
sbuild_summary() {
    awk '
        /^\| Summary / { s = 1; next }
        s && /^-----------/ { exit }
        s && /^[A-Za-z][A-Za-z-]*: / { k = $1; sub(/:$/, "", k); v = $0; sub(/^[^:]*: /, "", v); print k "=" v }
    ' "$1"
}

# One field of a control-format file ($2 in $1), single-line fields only.
control_field() {
    awk -v f="$2" 'index($0, f ": ") == 1 { print substr($0, length(f) + 3); exit }' "$1"
}

# "sha256 size name" for each line of the Checksums-Sha256 field of a .changes file.
changes_sha256() {
    awk '
        /^Checksums-Sha256:/ { s = 1; next }
        s && /^ / { print $1, $2, $3; next }
        s { exit }
    ' "$1"
}

# The result object for build log $1 and .changes $2 (may be missing).
sbuild_result_json() {
    local log=$1 changes=$2 summary status stage package version arch files='' sep='' sha size name
    summary=$(sbuild_summary "$log")
    value() { printf '%s\n' "$summary" | awk -v k="$1" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }'; }
    status=$(value Status)
    stage=$(value Fail-Stage)
    package=$(value Package)
    version=$(value Version)
    arch=$(value 'Host Architecture')
    if [ -n "$changes" ] && [ -f "$changes" ]; then
        arch=$(control_field "$changes" Architecture)
        while read -r sha size name; do
            [ -n "$name" ] || continue
            files+="$sep{\"name\":$(kiln_json_str "$name"),\"size\":$(kiln_json_num "$size"),\"sha256\":$(kiln_json_str "$sha")}"
            sep=,
        done < <(changes_sha256 "$changes")
        files+="$sep$(kiln_json_files "$changes" | sed 's/^\[//; s/\]$//')"
    fi
    printf '{"status":%s,"package":%s,"version":%s,"architecture":%s,"files":[%s],"buildTime":%s,"installTime":%s,"failStage":%s}' \
        "$(kiln_json_str "${status:-unknown}")" "$(kiln_json_opt "$package")" "$(kiln_json_opt "$version")" "$(kiln_json_opt "$arch")" \
        "$files" "$(kiln_json_num "$(value Build-Time)")" "$(kiln_json_num "$(value Install-Time)")" "$(kiln_json_opt "$stage")"
}

# Adds the project's own repository (when the server publishes one) so build-dependencies can come from earlier builds.
sbuild_project_repository() {
    if [ -z "${KILN_SERVER_URL:-}" ] || [ -z "${KILN_PROJECT:-}" ]; then
        echo "kiln: KILN_SERVER_URL or KILN_PROJECT not set; building from the suite alone" >&2
        return 0
    fi
    local repo="${KILN_SERVER_URL%/}/repos/$KILN_PROJECT" key="$PWD/.kiln-project-key.asc" code
    code=$(curl -sS --max-time 60 -o "$key" -w '%{http_code}' "$repo/key.asc") || code=000
    case $code in
        200)
            # sbuild copies the key into the chroot's /etc/apt/trusted.gpg.d: apt checks the repository's signature.
            sbuild_args+=("--extra-repository=deb $repo/$KILN_WITH_SUITE $KILN_WITH_SUITE main" "--extra-repository-key=$key")
            echo "kiln: using the project's repository $repo/$KILN_WITH_SUITE" >&2
            ;;
        404) echo "kiln: the project has no repository yet; building from the suite alone" >&2 ;;
        *) kiln_fail "the project's repository key $repo/key.asc answered HTTP $code" ;;
    esac
}

main() {
    [ -n "${KILN_ENVIRONMENT_TARBALL:-}" ] && [ -f "$KILN_ENVIRONMENT_TARBALL" ] || kiln_fail "KILN_ENVIRONMENT_TARBALL does not name the environment's tarball"
    command -v sbuild >/dev/null || kiln_fail "sbuild is not installed on this worker (apt-get install sbuild)"
    local dsc
    dsc=$(kiln_find_input '*.dsc')
    [ -n "$dsc" ] || kiln_fail "no .dsc among the inputs (this job needs a debian/source job)"
    mkdir -p out
    sbuild_args=(--chroot-mode=unshare "--chroot=$KILN_ENVIRONMENT_TARBALL" "--dist=$KILN_WITH_SUITE" "--arch=$KILN_WITH_ARCH"
        --no-run-lintian --no-run-piuparts --no-run-autopkgtest --no-apt-upgrade --no-apt-distupgrade "--build-dir=$PWD/out")
    if [ "${KILN_WITH_ARCH_ALL:-true}" = true ]; then sbuild_args+=(--arch-all); else sbuild_args+=(--no-arch-all); fi
    sbuild_project_repository
    local rc=0
    sbuild "${sbuild_args[@]}" "$PWD/$dsc" || rc=$?
    # sbuild leaves NAME.build as a symlink to the timestamped log: keep one real file (artifacts are not followed through links).
    local log changes link
    for link in out/*.build; do
        if [ -L "$link" ]; then
            local real
            real=$(readlink -f -- "$link")
            rm -f -- "$link"
            [ -f "$real" ] && mv -f -- "$real" "$link"
        fi
    done
    log=$(find out -maxdepth 1 -type f -name '*.build' | LC_ALL=C sort | head -n 1)
    [ -n "$log" ] || kiln_fail "sbuild wrote no .build log (exit code $rc)"
    changes=$(find out -maxdepth 1 -type f -name '*.changes' | LC_ALL=C sort | head -n 1)
    local result status
    result=$(sbuild_result_json "$log" "$changes")
    kiln_result "$result"
    status=$(sbuild_summary "$log" | awk 'index($0, "Status=") == 1 { print substr($0, 8); exit }')
    if [ "$status" != successful ]; then
        echo "kiln: sbuild reported Status: ${status:-none}$(sbuild_summary "$log" | awk 'index($0, "Fail-Stage=") == 1 { print " (fail stage: " substr($0, 12) ")"; exit }')" >&2
        exit 1
    fi
    [ "$rc" = 0 ] || { echo "kiln: sbuild exited with $rc" >&2; exit "$rc"; }
}

if [ -z "${KILN_KIND_FUNCTIONS_ONLY:-}" ]; then main; fi
