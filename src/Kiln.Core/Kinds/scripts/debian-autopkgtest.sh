# Built-in kind debian/autopkgtest: see docs/packaging.md.
echo "kind debian/autopkgtest is not written yet" >&2
exit 1
