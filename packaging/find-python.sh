# find_python X.Y: prints the path of a working CPython X.Y (pyenv's, else pythonX.Y on PATH),
# or fails. Each candidate is run: a pyenv shim on PATH whose version is not active fails.
# Sourced by packaging/build-wheels.sh and .ci/run.
find_python() {
  local p
  for p in "$(pyenv root 2>/dev/null)/versions/$(pyenv versions --bare 2>/dev/null | grep -m1 "^$1\.")/bin/python" \
           "$(command -v "python$1" || true)"; do
    if [ -x "$p" ] && "$p" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$1'.split('.'))))" 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}
