# Shared by every built-in kind's script (prepended by BuiltInKind.Script): JSON without jq,
# which an environment may lack, and the structured result written to $KILN_RESULT_FILE.

# A JSON string of $1: backslash, quote and the control characters escaped or dropped.
kiln_json_str() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\n'/\\n}
    s=${s//$'\r'/\\r}
    s=${s//$'\t'/\\t}
    s=$(printf '%s' "$s" | LC_ALL=C tr -d '\000-\037\177')
    printf '"%s"' "$s"
}

# A JSON number for a plain non-negative integer, else null.
kiln_json_num() {
    case ${1:-} in
        '' | *[!0-9]*) printf 'null' ;;
        *) printf '%s' "$((10#$1))" ;;
    esac
}

# A JSON string, or null when $1 is empty.
kiln_json_opt() {
    if [ -n "${1:-}" ]; then kiln_json_str "$1"; else printf 'null'; fi
}

# [{name, size, sha256}] for the files given (their base names).
kiln_json_files() {
    local f sep='' size sum
    printf '['
    for f in "$@"; do
        [ -f "$f" ] || continue
        size=$(stat -c %s -- "$f")
        sum=$(sha256sum -- "$f" | cut -d' ' -f1)
        printf '%s{"name":%s,"size":%s,"sha256":"%s"}' "$sep" "$(kiln_json_str "${f##*/}")" "$size" "$sum"
        sep=,
    done
    printf ']'
}

# Writes the result object $1 (JSON text) where the worker collects it.
kiln_result() {
    printf '%s\n' "$1" > "${KILN_RESULT_FILE:-/dev/null}"
}

# Reports a failure before the tool ran: a result saying so, the reason on stderr, exit 1.
kiln_fail() {
    echo "kiln: $1" >&2
    kiln_result "{\"status\":\"error\",\"message\":$(kiln_json_str "$1")}"
    exit 1
}

# The first regular file under inputs/ whose name matches the glob $1 (sorted, so the choice is stable).
kiln_find_input() {
    find -L inputs -type f -name "$1" 2>/dev/null | LC_ALL=C sort | head -n 1
}

# Every regular file under inputs/ matching the glob $1, one a line.
kiln_find_inputs() {
    find -L inputs -type f -name "$1" 2>/dev/null | LC_ALL=C sort
}

# Installs Debian packages inside an environment (needs the job's network).
kiln_apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "$@"
}

# Fetches the files of source upload $KILN_WITH_UPLOAD from the server into directory $1, each
# verified against the SHA-256 the server lists for it. Needs curl and jq or python3 (on the host).
kiln_fetch_upload() {
    local dir=$1 base list name sha size got
    [ -n "${KILN_SERVER_URL:-}" ] || kiln_fail "KILN_SERVER_URL is not set: the worker must say where the server is to fetch upload $KILN_WITH_UPLOAD"
    base="${KILN_SERVER_URL%/}/api/v1/sources/$KILN_WITH_UPLOAD"
    local auth=()
    if [ -n "${KILN_UPLOAD_TOKEN:-}" ]; then auth=(-H "Authorization: Bearer $KILN_UPLOAD_TOKEN"); fi
    mkdir -p "$dir"
    list=$(curl -fsS --max-time 60 "${auth[@]}" "$base") || kiln_fail "cannot read source upload $KILN_WITH_UPLOAD from $base"
    local rows
    if command -v jq >/dev/null; then
        rows=$(printf '%s' "$list" | jq -r '.files[] | "\(.name) \(.sha256) \(.size)"')
    elif command -v python3 >/dev/null; then
        rows=$(printf '%s' "$list" | python3 -c 'import json,sys
for f in json.load(sys.stdin)["files"]: print(f["name"], f["sha256"], f["size"])')
    else
        kiln_fail "reading the upload's file list needs jq or python3 on the worker"
    fi
    [ -n "$rows" ] || kiln_fail "source upload $KILN_WITH_UPLOAD lists no files"
    while read -r name sha size; do
        case $name in */* | .* | '') kiln_fail "source upload $KILN_WITH_UPLOAD lists a bad file name '$name'" ;; esac
        curl -fsS --max-time 3600 "${auth[@]}" -o "$dir/$name" "$base/files/$name" || kiln_fail "cannot fetch $name of source upload $KILN_WITH_UPLOAD"
        got=$(sha256sum -- "$dir/$name" | cut -d' ' -f1)
        [ "$got" = "$sha" ] || kiln_fail "$name of source upload $KILN_WITH_UPLOAD has SHA-256 $got, the upload lists $sha"
    done <<< "$rows"
}
