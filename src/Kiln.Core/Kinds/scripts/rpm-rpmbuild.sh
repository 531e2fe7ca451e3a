# Built-in kind rpm/rpmbuild: see docs/packaging.md. Runs inside the environment; the network serves
# only to install rpm, the build itself runs without it (unshare -n).

# The RPM architecture for Debian architecture $1.
rpm_arch() {
    case $1 in
        amd64) echo x86_64 ;;
        arm64) echo aarch64 ;;
        i386) echo i686 ;;
        armhf) echo armv7hl ;;
        ppc64el) echo ppc64le ;;
        *) echo "$1" ;;
    esac
}

main() {
    local srpm
    srpm=$(kiln_find_input '*.src.rpm')
    [ -n "$srpm" ] || kiln_fail "no .src.rpm among the inputs (this job needs an rpm/source job)"
    command -v rpmbuild >/dev/null || kiln_apt_install rpm
    local args=(--rebuild --define "_topdir $PWD/rpmbuild") target note=''
    target=$(rpm_arch "${KILN_WITH_ARCH:-amd64}")
    [ "$target" = "$(uname -m)" ] || args+=(--target "$target")
    if [ -f /etc/debian_version ] && ! rpm -q rpm >/dev/null 2>&1; then
        # On a Debian-based environment the RPM database knows none of the installed packages.
        args+=(--nodeps)
        note="built with --nodeps: the environment's RPM database does not list its packages"
    fi
    rm -rf rpmbuild out
    mkdir -p rpmbuild out
    local offline=(unshare -n)
    if ! unshare -n true 2>/dev/null; then
        offline=()
        note="${note:+$note; }unshare -n was refused: the build ran with the job's network"
        echo "kiln: $note" >&2
    fi
    local rc=0
    "${offline[@]}" rpmbuild "${args[@]}" "$PWD/$srpm" || rc=$?
    local rpms=() f
    while IFS= read -r f; do cp -- "$f" out/; rpms+=("out/${f##*/}"); done < <(find rpmbuild/RPMS -type f -name '*.rpm' 2>/dev/null | LC_ALL=C sort)
    local name version release arch=null
    name=$(rpm -qp --qf '%{NAME}' "$srpm" 2>/dev/null)
    version=$(rpm -qp --qf '%{VERSION}' "$srpm" 2>/dev/null)
    release=$(rpm -qp --qf '%{RELEASE}' "$srpm" 2>/dev/null)
    for f in "${rpms[@]}"; do
        case $f in *.noarch.rpm) ;; *) arch=$(kiln_json_str "$(rpm -qp --qf '%{ARCH}' "$f" 2>/dev/null)"); break ;; esac
    done
    [ "$arch" != null ] || [ ${#rpms[@]} -eq 0 ] || arch='"noarch"'
    local status=successful
    [ "$rc" = 0 ] && [ ${#rpms[@]} -gt 0 ] || status=failed
    kiln_result "$(printf '{"status":"%s","package":%s,"version":%s,"release":%s,"architecture":%s,"files":%s,"note":%s}' \
        "$status" "$(kiln_json_opt "$name")" "$(kiln_json_opt "$version")" "$(kiln_json_opt "$release")" "$arch" \
        "$(kiln_json_files "${rpms[@]}")" "$(kiln_json_opt "$note")")"
    [ "$status" = successful ] || { echo "kiln: rpmbuild failed (exit code $rc)" >&2; exit 1; }
}

if [ -z "${KILN_KIND_FUNCTIONS_ONLY:-}" ]; then main; fi
