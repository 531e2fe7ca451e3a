# Built-in kind debian/lintian: see docs/packaging.md.
echo "kind debian/lintian is not written yet" >&2
exit 1
