# Built-in kind debian/source: see docs/packaging.md. Runs on the worker's host and leaves the source
# package (.dsc and the files it lists) in source/.

# "name" for each file the .dsc $1 lists (Checksums-Sha256, else Files).
dsc_files() {
    awk '
        /^Checksums-Sha256:/ { s = 1; next }
        s && /^ / { print $3; next }
        s { exit }
    ' "$1"
}

dsc_field() {
    awk -v f="$2" 'index($0, f ": ") == 1 { print substr($0, length(f) + 3); exit }' "$1"
}

# Builds the source package of the packaging repository $KILN_WITH_GIT at $KILN_WITH_REF into build/.
source_from_git() {
    command -v git >/dev/null || kiln_fail "git is not installed on this worker"
    command -v dpkg-source >/dev/null || kiln_fail "dpkg-source is not installed on this worker (apt-get install dpkg-dev)"
    rm -rf build
    mkdir -p build
    git clone --quiet --no-checkout -- "$KILN_WITH_GIT" build/tree || kiln_fail "cannot clone $KILN_WITH_GIT"
    git -C build/tree -c advice.detachedHead=false checkout --quiet "${KILN_WITH_REF:-HEAD}" -- 2>/dev/null \
        || git -C build/tree -c advice.detachedHead=false checkout --quiet "origin/$KILN_WITH_REF" \
        || kiln_fail "$KILN_WITH_GIT has no ref '$KILN_WITH_REF'"
    [ -f build/tree/debian/changelog ] || kiln_fail "$KILN_WITH_GIT at $KILN_WITH_REF has no debian/changelog"
    local package version upstream format=1.0
    package=$(dpkg-parsechangelog -l build/tree/debian/changelog -S Source)
    version=$(dpkg-parsechangelog -l build/tree/debian/changelog -S Version)
    [ -f build/tree/debian/source/format ] && format=$(head -n 1 build/tree/debian/source/format)
    if [ "$format" = "3.0 (quilt)" ]; then
        upstream=${version#*:}
        upstream=${upstream%-*}
        if ! compgen -G "build/${package}_${upstream}.orig.tar.*" >/dev/null; then
            # The upstream tarball: from the archive or pristine-tar when origtargz finds it, else made
            # from the repository's own upstream part (everything but debian/).
            if command -v origtargz >/dev/null && (cd build/tree && origtargz --download-only --path=.. >&2); then
                echo "kiln: origtargz fetched the upstream tarball" >&2
            else
                echo "kiln: making ${package}_${upstream}.orig.tar.gz from the repository (git archive, without debian/)" >&2
                git -C build/tree archive --format=tar --prefix="${package}-${upstream}/" HEAD -- . ':(exclude)debian' \
                    | gzip -n > "build/${package}_${upstream}.orig.tar.gz"
            fi
        fi
    fi
    (cd build && dpkg-source -b tree) || kiln_fail "dpkg-source could not build the source package"
    rm -rf source
    mkdir -p source
    local dsc name
    dsc=$(find build -maxdepth 1 -name "${package}_${version#*:}.dsc" | head -n 1)
    [ -n "$dsc" ] || kiln_fail "dpkg-source wrote no ${package}_${version#*:}.dsc"
    cp -- "$dsc" source/
    while IFS= read -r name; do cp -L -- "build/$name" source/; done < <(dsc_files "$dsc")
}

main() {
    if [ -n "${KILN_WITH_UPLOAD:-}" ]; then
        [ -z "${KILN_WITH_GIT:-}" ] || kiln_fail "give either 'upload' or 'git', not both"
        rm -rf source
        kiln_fetch_upload source
    elif [ -n "${KILN_WITH_GIT:-}" ]; then
        source_from_git
    else
        kiln_fail "debian/source needs 'upload' (kiln build X.dsc) or 'git' (a packaging repository)"
    fi
    local dsc name files=(source/*)
    dsc=$(find source -maxdepth 1 -type f -name '*.dsc' | LC_ALL=C sort | head -n 1)
    [ -n "$dsc" ] || kiln_fail "the source holds no .dsc"
    while IFS= read -r name; do
        [ -f "source/$name" ] || kiln_fail "$name, listed by ${dsc##*/}, is missing"
    done < <(dsc_files "$dsc")
    kiln_result "$(printf '{"status":"successful","package":%s,"version":%s,"format":%s,"files":%s}' \
        "$(kiln_json_opt "$(dsc_field "$dsc" Source)")" "$(kiln_json_opt "$(dsc_field "$dsc" Version)")" \
        "$(kiln_json_opt "$(dsc_field "$dsc" Format)")" "$(kiln_json_files "${files[@]}")")"
}

if [ -z "${KILN_KIND_FUNCTIONS_ONLY:-}" ]; then main; fi
