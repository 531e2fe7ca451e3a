# Built-in kind rpm/source: see docs/packaging.md. Runs on the worker's host and leaves the source
# RPM in source/.

# Builds the source RPM of the spec in repository $KILN_WITH_GIT at $KILN_WITH_REF into source/.
source_from_git() {
    command -v git >/dev/null || kiln_fail "git is not installed on this worker"
    command -v rpmbuild >/dev/null || kiln_fail "rpmbuild is not installed on this worker (apt-get install rpm)"
    rm -rf build
    mkdir -p build
    git clone --quiet --no-checkout -- "$KILN_WITH_GIT" build/tree || kiln_fail "cannot clone $KILN_WITH_GIT"
    git -C build/tree -c advice.detachedHead=false checkout --quiet "${KILN_WITH_REF:-HEAD}" -- 2>/dev/null \
        || git -C build/tree -c advice.detachedHead=false checkout --quiet "origin/$KILN_WITH_REF" \
        || kiln_fail "$KILN_WITH_GIT has no ref '$KILN_WITH_REF'"
    local spec
    if [ -n "${KILN_WITH_SPEC:-}" ]; then
        case $KILN_WITH_SPEC in /* | *..*) kiln_fail "'spec' must be a path inside the repository" ;; esac
        spec="build/tree/$KILN_WITH_SPEC"
        [ -f "$spec" ] || kiln_fail "$KILN_WITH_GIT at $KILN_WITH_REF has no $KILN_WITH_SPEC"
    else
        local specs
        specs=$(find build/tree -name .git -prune -o -type f -name '*.spec' -print)
        [ -n "$specs" ] || kiln_fail "$KILN_WITH_GIT at $KILN_WITH_REF holds no .spec file"
        [ "$(printf '%s\n' "$specs" | wc -l)" = 1 ] || kiln_fail "$KILN_WITH_GIT holds several .spec files: name one with 'spec'"
        spec=$specs
    fi
    # Sources (tarballs, patches) sit beside the spec, as in Fedora's dist-git (after fetching the lookaside cache).
    rpmbuild -bs --define "_topdir $PWD/build/rpmbuild" --define "_sourcedir $PWD/${spec%/*}" "$spec" \
        || kiln_fail "rpmbuild -bs could not build the source RPM"
    rm -rf source
    mkdir -p source
    find build/rpmbuild/SRPMS -type f -name '*.src.rpm' -exec cp -- {} source/ \;
}

main() {
    if [ -n "${KILN_WITH_UPLOAD:-}" ]; then
        [ -z "${KILN_WITH_GIT:-}" ] || kiln_fail "give either 'upload' or 'git', not both"
        rm -rf source
        kiln_fetch_upload source
    elif [ -n "${KILN_WITH_GIT:-}" ]; then
        source_from_git
    else
        kiln_fail "rpm/source needs 'upload' (kiln build X.src.rpm) or 'git' (a repository with a spec file)"
    fi
    local srpm
    srpm=$(find source -maxdepth 1 -type f -name '*.src.rpm' | LC_ALL=C sort | head -n 1)
    [ -n "$srpm" ] || kiln_fail "the source holds no .src.rpm"
    local name='' version='' release=''
    if command -v rpm >/dev/null; then
        name=$(rpm -qp --qf '%{NAME}' "$srpm" 2>/dev/null) || true
        version=$(rpm -qp --qf '%{VERSION}' "$srpm" 2>/dev/null) || true
        release=$(rpm -qp --qf '%{RELEASE}' "$srpm" 2>/dev/null) || true
    fi
    kiln_result "$(printf '{"status":"successful","package":%s,"version":%s,"release":%s,"format":"srpm","files":%s}' \
        "$(kiln_json_opt "$name")" "$(kiln_json_opt "$version")" "$(kiln_json_opt "$release")" "$(kiln_json_files "$srpm")")"
}

if [ -z "${KILN_KIND_FUNCTIONS_ONLY:-}" ]; then main; fi
