# Built-in kind debian/source: see docs/packaging.md.
echo "kind debian/source is not written yet" >&2
exit 1
