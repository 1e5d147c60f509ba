#!/usr/bin/env bash
# One entry point for people and CI, on a fresh Debian 12 (as root, or a user with sudo):
#   bash .ci/setup.sh run     install what the MCU needs, build it, run it on conf/mcu.toml
#   bash .ci/setup.sh test    install what the tests need too, build, run the whole suite
#   bash .ci/setup.sh bench   install what the benchmarks need, build, run them
#   bash .ci/setup.sh env     only set up (.venv with the MCU installed in it)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-env}
shift || true

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }

# What running the MCU needs: a Python 3.11+ with venv and headers, and a C compiler.
need_cmd python3 python3
need_cmd gcc gcc
need_cmd pdftoppm poppler-utils  # operator slides: PDF pages (mcu ctl content start ROOM FILE.pdf)
if command -v python3 >/dev/null 2>&1; then
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  [ -e "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ] || missing+=(python3-dev)
fi
# What the tests and benchmarks need: real peers we did not write, and tools to check our files.
if [ "$what" = test ] || [ "$what" = bench ]; then
  need_cmd baresip baresip
  [ -e /usr/lib/baresip/modules/avcodec.so ] || missing+=(baresip-ffmpeg)
  need_cmd sipp sip-tester
  need_cmd prometheus prometheus
  need_cmd promtool prometheus
  need_cmd ffmpeg ffmpeg
  need_cmd nginx nginx-light
  [ -e /usr/lib/nginx/modules/ngx_rtmp_module.so ] || missing+=(libnginx-mod-rtmp)
  need_cmd openssl openssl
  need_cmd tshark tshark
  # the provider's usage store: tests start a throwaway PostgreSQL 15 cluster on 127.0.0.1
  [ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql)
  need_cmd chromium chromium
  need_cmd chromedriver chromium-driver
  need_cmd pkg-config pkg-config
  [ -e /usr/include/re/re_bfcp.h ] || missing+=(libre-dev)  # the libre BFCP client of test_e2e_bfcp
  fc-list 2>/dev/null | grep -qi dejavu || missing+=(fonts-dejavu-core)
  # the cluster tests: Kamailio as the SIP front door (dispatcher, ndb_redis), Redis as the registry
  need_cmd kamailio kamailio
  compgen -G '/usr/lib/*/kamailio/modules/ndb_redis.so' >/dev/null || missing+=(kamailio-redis-modules)
  need_cmd redis-server redis-server
fi
if [ "$what" = bench ]; then
  need_cmd gst-launch-1.0 gstreamer1.0-tools
  need_cmd janus janus
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$what" = bench ]; then
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
      gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
      gstreamer1.0-plugins-ugly gstreamer1.0-libav >/dev/null
  fi
fi

# The virtual environment, reinstalled only when the project's metadata changed.
[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=.venv/.installed
if [ ! -e "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q -U pip "setuptools>=77" wheel "cython>=3.3" "numpy>=2.4"
  .venv/bin/python -m pip install -q --no-build-isolation -e ".[test]"
  touch "$stamp"
fi
# Rebuilds the Cython kernels when mcu/_mix.pyx changed (a no-op otherwise).
.venv/bin/python setup.py -q build_ext --inplace >/dev/null

# The admin API needs a token; make one for a fresh checkout (never committed).
if [ ! -s conf/admin.token ]; then
  (umask 077; python3 -c 'import secrets; print(secrets.token_hex(32))' > conf/admin.token)
fi

case "$what" in
  env) echo "setup: ready (.venv)";;
  run) exec .venv/bin/mcu serve -c conf/mcu.toml "$@";;
  test) exec .venv/bin/python -m pytest tests "$@";;
  bench) exec .venv/bin/python -m bench "$@";;
  *) echo "usage: bash .ci/setup.sh [env|run|test|bench]" >&2; exit 2;;
esac
