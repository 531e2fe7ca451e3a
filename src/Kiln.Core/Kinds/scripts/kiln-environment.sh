# Built-in kind kiln/environment: see docs/packaging.md.
echo "kind kiln/environment is not written yet" >&2
exit 1
