# Built-in kind rpm/rpmbuild: see docs/packaging.md.
echo "kind rpm/rpmbuild is not written yet" >&2
exit 1
