#!/usr/bin/env bash
# The whole test suite, as CI runs it (after `npm run lint` and `npm run build`, see package.json):
# starts a throw-away Ceph RGW on 127.0.0.1 (installing its Debian packages when missing and
# running as root), points the AWS SDK at it, runs every test file with node:test, stops Ceph.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's PyTorch and numpy for the Python reader's tests (they import only under /usr/bin/python3)
if ! /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
  if [[ $(id -u) == 0 ]]; then
    echo "installing python3-torch python3-numpy" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-torch python3-numpy >/dev/null
  else
    echo "warning: python3-torch is not installed and this is not root: the PyTorch tests will be skipped" >&2
    export PIPEMODE_SKIP_TORCH=1
  fi
fi

# Debian's Chromium for the dashboard's browser test (test/integration/dashboard.test.ts)
if [[ ! -x /usr/bin/chromium ]]; then
  if [[ $(id -u) == 0 ]]; then
    echo "installing chromium" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "warning: chromium is not installed and this is not root: the dashboard browser test will be skipped" >&2
  fi
fi

# FUSE's setuid helper for the FastFile tests of mounting as a user other than root
if ! command -v fusermount3 >/dev/null && ! command -v fusermount >/dev/null; then
  if [[ $(id -u) == 0 ]]; then
    echo "installing fuse3" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fuse3 >/dev/null
  else
    echo "warning: fusermount is not installed and this is not root: the fusermount tests will be skipped" >&2
  fi
fi

export S3_SERVER_DIR=${S3_SERVER_DIR:-$(mktemp -d /tmp/pipemode-test-rgw.XXXXXX)}
trap 'scripts/s3-server.sh stop' EXIT
eval "$(scripts/s3-server.sh start | grep '^S3_')"
export AWS_ENDPOINT_URL_S3=$S3_ENDPOINT AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY AWS_REGION=$S3_REGION
# the suite must not pick up a developer's own AWS profile or config
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
echo "test S3 server: $S3_ENDPOINT" >&2

# explicit files: node 20 would also run every .js under a directory named "test" (helpers, fixtures)
if (($# == 0)); then mapfile -t files < <(find dist -name '*.test.js' | sort); else files=("$@"); fi
node --test --test-concurrency="${TEST_CONCURRENCY:-2}" "${files[@]}"
