# Built-in kind rpm/source: see docs/packaging.md.
echo "kind rpm/source is not written yet" >&2
exit 1
