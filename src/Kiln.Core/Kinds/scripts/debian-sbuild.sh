# Built-in kind debian/sbuild: see docs/packaging.md.
echo "kind debian/sbuild is not written yet" >&2
exit 1
