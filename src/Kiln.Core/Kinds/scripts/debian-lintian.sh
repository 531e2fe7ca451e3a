# Built-in kind debian/lintian: see docs/packaging.md. Runs inside the environment, as root of its
# user namespace, with the network (to install lintian).

# The result object for lintian's output in $1 ("E: pkg[ type]: tag info" lines) and threshold $2.
# Lists keep the first 400 tags (info cut at 300 characters) so the result stays small; counts count all.
lintian_result_json() {
    awk -v failon="$2" '
        # "&&" doubles a backslash in mawk and gawk alike (they read "\\\\" differently).
        function esc(s) {
            gsub(/\\/, "&&", s); gsub(/"/, "\\\"", s); gsub(/\t/, "\\t", s); gsub(/[\001-\037\177]/, "", s)
            return "\"" s "\""
        }
        BEGIN {
            sev["E"] = "error"; sev["W"] = "warning"; sev["I"] = "info"; sev["P"] = "pedantic"; sev["X"] = "experimental"
            rank["error"] = 4; rank["warning"] = 3; rank["info"] = 2; rank["pedantic"] = 1
            split("error warning info pedantic experimental", order, " ")
            kept = 0; worst = 0
        }
        /^[EWIPX]: / {
            s = sev[substr($0, 1, 1)]
            rest = substr($0, 4)
            cut = index(rest, ": ")
            if (cut == 0) next
            head = substr(rest, 1, cut - 1); tail = substr(rest, cut + 2)
            n = split(head, h, " "); pkg = h[1]; type = (n > 1) ? h[2] : "binary"
            sp = index(tail, " ")
            if (sp == 0) { tag = tail; info = "" } else { tag = substr(tail, 1, sp - 1); info = substr(tail, sp + 1) }
            count[s]++
            if (rank[s] > worst) worst = rank[s]
            if (kept < 400) {
                kept++
                item = "{\"package\":" esc(pkg) ",\"type\":" esc(type) ",\"tag\":" esc(tag) ",\"info\":" esc(substr(info, 1, 300)) "}"
                if (count[s] > 1 && (s in list)) list[s] = list[s] "," item; else list[s] = item
            } else truncated = 1
        }
        END {
            fail = (failon != "none" && worst >= rank[failon])
            printf "{\"status\":\"%s\",\"failOn\":%s,\"tags\":{", fail ? "failed" : "passed", esc(failon)
            for (i = 1; i <= 5; i++) printf "%s\"%s\":[%s]", (i > 1 ? "," : ""), order[i], list[order[i]]
            printf "},\"counts\":{"
            for (i = 1; i <= 5; i++) printf "%s\"%s\":%d", (i > 1 ? "," : ""), order[i], count[order[i]]
            printf "},\"truncated\":%s}", truncated ? "true" : "false"
        }
    ' "$1"
}

main() {
    local targets=() f
    while IFS= read -r f; do targets+=("$f"); done < <(kiln_find_inputs '*.changes')
    if [ ${#targets[@]} -eq 0 ]; then
        while IFS= read -r f; do targets+=("$f"); done < <(kiln_find_inputs '*.deb')
    fi
    while IFS= read -r f; do targets+=("$f"); done < <(kiln_find_inputs '*.dsc')
    [ ${#targets[@]} -gt 0 ] || kiln_fail "no .changes, .deb or .dsc among the inputs (this job needs a debian/sbuild or debian/source job)"
    command -v lintian >/dev/null || kiln_apt_install lintian
    mkdir -p lintian
    local rc=0
    lintian --display-info --pedantic --display-experimental --fail-on none "${targets[@]}" > lintian/lintian.txt 2> lintian/lintian.err || rc=$?
    cat lintian/lintian.txt
    if [ "$rc" != 0 ]; then
        cat lintian/lintian.err >&2
        kiln_fail "lintian could not check the packages (exit code $rc)"
    fi
    local result
    result=$(lintian_result_json lintian/lintian.txt "${KILN_WITH_FAIL_ON:-error}")
    kiln_result "$result"
    case $result in
        '{"status":"failed"'*) echo "kiln: lintian found tags of severity ${KILN_WITH_FAIL_ON} or worse" >&2; exit 1 ;;
    esac
}

if [ -z "${KILN_KIND_FUNCTIONS_ONLY:-}" ]; then main; fi
