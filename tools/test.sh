#!/usr/bin/env bash
# Runs RootfsForge's whole test suite (as root, on Debian 12): installs what the tests need, builds, tests.
# Prints a closing line "tests: N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
# The Debian 12 cloud-like image (cached in /var/cache/rootfsforge) used by the VM build and throughput tests.
bash tools/make-debian-image.sh >/tmp/rootfsforge-debian-image.log 2>&1 || {
  echo "test.sh: building the Debian 12 test image failed; see /tmp/rootfsforge-debian-image.log" >&2; tail -20 /tmp/rootfsforge-debian-image.log >&2; }
dotnet build RootfsForge.sln -c Release -nologo -v q
# The whole suite includes the qemu TCG boot test of the VM build (a few minutes); ROOTFSFORGE_BOOT_TEST=0 leaves it out.
export ROOTFSFORGE_BOOT_TEST=${ROOTFSFORGE_BOOT_TEST:-1}
results=$(mktemp -d)
set +e
code=0
# One run per project, each with its own results file (the closing line counts both).
for project in native-tests/RootfsForge.UnitTests native-tests/RootfsForge.IntegrationTests; do
  dotnet test "$project" -c Release --no-build -nologo --logger "trx;LogFileName=$(basename "$project").trx" --results-directory "$results" "$@" || code=1
done
set -e
python3 - "$results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
passed = failed = skipped = 0
for f in glob.glob(sys.argv[1] + "/**/*.trx", recursive=True):
    c = ET.parse(f).getroot().find("t:ResultSummary/t:Counters", ns)
    if c is None: continue
    passed += int(c.get("passed", 0)); failed += int(c.get("failed", 0)) + int(c.get("error", 0)) + int(c.get("timeout", 0))
    # xunit's skips show up only as total - executed in the trx counters.
    skipped += int(c.get("total", 0)) - int(c.get("executed", 0))
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
PY
exit $code
