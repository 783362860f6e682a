#!/usr/bin/env bash
# Register FreeTDS (SQL Server) with unixODBC, as the seed design did by hand.
# Debian's tdsodbc installs the library but no odbcinst.ini entry. The Dockerfiles run
# this script, and so does the test suite (with ODBCSYSINI pointing at a scratch folder).
set -euo pipefail
lib=$(find /usr/lib /usr/lib64 -name libtdsodbc.so 2>/dev/null | head -n 1 || true)
if [ -z "$lib" ]; then
  echo "odbc-register: libtdsodbc.so not found: apt-get install tdsodbc unixodbc" >&2
  exit 1
fi
setup=$(find /usr/lib /usr/lib64 -name libtdsS.so 2>/dev/null | head -n 1 || true)
template=$(mktemp)
trap 'rm -f "$template"' EXIT
{
  echo "[FreeTDS]"
  echo "Description=FreeTDS ODBC driver for SQL Server"
  echo "Driver=$lib"
  [ -n "$setup" ] && echo "Setup=$setup"
  echo "UsageCount=1"
} >"$template"
# -i install, -d driver, -r replace any older entry; writes $ODBCSYSINI/odbcinst.ini
odbcinst -i -d -r -f "$template" >/dev/null
odbcinst -q -d -n FreeTDS >/dev/null
echo "odbc-register: FreeTDS -> $lib"
