# Built-in kind debian/autopkgtest: see docs/packaging.md. Runs inside the environment, which is the
# testbed (autopkgtest's null virtualisation), with the network to install the tests' dependencies.

# The tests of autopkgtest's summary file $1 ("NAME RESULT [details]" lines) as a JSON list.
autopkgtest_tests_json() {
    awk '
        # "&&" doubles a backslash in mawk and gawk alike (they read "\\\\" differently).
        function esc(s) {
            gsub(/\\/, "&&", s); gsub(/"/, "\\\"", s); gsub(/\t/, "\\t", s); gsub(/[\001-\037\177]/, "", s)
            return "\"" s "\""
        }
        BEGIN { printf "["; n = 0 }
        NF >= 2 && $2 ~ /^(PASS|FAIL|SKIP|FLAKY|NEUTRAL|BAD)$/ && n < 1000 {
            details = $0; sub(/^[^ \t]+[ \t]+[^ \t]+[ \t]*/, "", details)
            printf "%s{\"name\":%s,\"result\":%s,\"details\":%s}", (n++ ? "," : ""), esc(substr($1, 1, 200)), esc($2), esc(substr(details, 1, 300))
        }
        END { printf "]" }
    ' "$1"
}

# The status for autopkgtest's exit code $1: 0 all passed, 2 some skipped, 8 no tests; 4/6 some failed.
autopkgtest_status() {
    case $1 in
        0 | 2) echo passed ;;
        8) echo neutral ;;
        4 | 6) echo failed ;;
        *) echo error ;;
    esac
}

main() {
    local dsc debs=() f
    dsc=$(kiln_find_input '*.dsc')
    [ -n "$dsc" ] || kiln_fail "no .dsc among the inputs (this job needs the debian/source job as well as the build)"
    # Debug symbols are not what the tests exercise.
    while IFS= read -r f; do case $f in *-dbgsym_*) ;; *) debs+=("$PWD/$f") ;; esac; done < <(kiln_find_inputs '*.deb')
    command -v autopkgtest >/dev/null || kiln_apt_install autopkgtest
    rm -rf autopkgtest
    local rc=0
    autopkgtest --output-dir=autopkgtest "$PWD/$dsc" "${debs[@]}" -- null || rc=$?
    # autopkgtest's copies of the packages under test are not this job's output (a publish that needs
    # this job would see them as packages)
    rm -rf autopkgtest/binaries
    local status tests='[]' package version arch
    status=$(autopkgtest_status "$rc")
    [ -f autopkgtest/summary ] && tests=$(autopkgtest_tests_json autopkgtest/summary)
    package=$(awk 'index($0, "Source: ") == 1 { print substr($0, 9); exit }' "$dsc")
    version=$(awk 'index($0, "Version: ") == 1 { print substr($0, 10); exit }' "$dsc")
    arch=$(dpkg --print-architecture)
    kiln_result "$(printf '{"status":"%s","exitCode":%s,"package":%s,"version":%s,"architecture":%s,"suite":%s,"tests":%s}' \
        "$status" "$rc" "$(kiln_json_opt "$package")" "$(kiln_json_opt "$version")" "$(kiln_json_opt "$arch")" "$(kiln_json_opt "${KILN_WITH_SUITE:-}")" "$tests")"
    case $status in
        passed | neutral) ;;
        *) echo "kiln: autopkgtest ended with exit code $rc ($status)" >&2; exit 1 ;;
    esac
}

if [ -z "${KILN_KIND_FUNCTIONS_ONLY:-}" ]; then main; fi
