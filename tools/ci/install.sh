#!/bin/bash
# Makes `rootfsforge` available on a CI runner: built from this checkout (the .NET SDK is on ubuntu-latest), installed
# to /usr/local/bin so that `sudo` finds it. Repositories that only hold definitions install the NuGet tool instead:
#   dotnet tool install --tool-path /usr/local/bin rootfsforge
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dotnet publish "$root/src/RootfsForge.Cli" -c Release -o /usr/local/lib/rootfsforge -v q -nologo
ln -sf /usr/local/lib/rootfsforge/rootfsforge /usr/local/bin/rootfsforge
rootfsforge --version
