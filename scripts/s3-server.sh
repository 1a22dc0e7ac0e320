#!/usr/bin/env bash
# pipemode's test S3 server: a throw-away single-node Ceph cluster (1 mon, 1 osd, no mgr,
# auth none) with radosgw on 127.0.0.1, and one S3 user with fixed keys.
#
#   scripts/s3-server.sh start   install the Debian packages if missing (as root), start, print
#                                S3_ENDPOINT / S3_ACCESS_KEY / S3_SECRET_KEY / S3_REGION lines
#   scripts/s3-server.sh stop    stop the daemons started by `start` and delete their state
#   scripts/s3-server.sh env     print the same lines as `start` for a running server
#
# Settings (environment): S3_SERVER_DIR (default /tmp/pipemode-rgw), RGW_PORT (default: a free
# port), MON_PORT (default: a free port), OSD_STORE memstore|bluestore (memstore), STORE_BYTES
# (8G for memstore, 20G for bluestore), S3_ACCESS_KEY / S3_SECRET_KEY (test / testsecret).
# Why the odd-looking Ceph settings: with auth none radosgw must be told to use crc (not secure) mon
# sessions or it hangs; tcp_nodelay avoids ~45 ms per small response; a 0.1 s paxos propose interval
# makes pool and bucket creation fast; the mon must not stop itself on a nearly full disk; memstore
# keeps everything in RAM (about 2x the live data), so it is for test-sized data only.
set -euo pipefail

DIR=${S3_SERVER_DIR:-/tmp/pipemode-rgw}
OSD_STORE=${OSD_STORE:-memstore}
ACCESS_KEY=${S3_ACCESS_KEY:-test}
SECRET_KEY=${S3_SECRET_KEY:-testsecret}
PACKAGES=(ceph-mon ceph-osd radosgw curl)

say() { echo "s3-server: $*" >&2; }
die() { say "$*"; exit 1; }

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

install_packages() {
  local missing=()
  command -v ceph-mon >/dev/null || missing+=(ceph-mon)
  command -v ceph-osd >/dev/null || missing+=(ceph-osd)
  command -v radosgw >/dev/null || missing+=(radosgw)
  command -v curl >/dev/null || missing+=(curl)
  ((${#missing[@]} == 0)) && return 0
  [[ $(id -u) == 0 ]] || die "missing Debian packages: ${missing[*]} (run as root to install them, or: sudo apt-get install ${PACKAGES[*]})"
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
}

print_env() {
  [[ -f $DIR/endpoint ]] || die "no server running in $DIR"
  echo "S3_ENDPOINT=$(cat "$DIR/endpoint")"
  echo "S3_ACCESS_KEY=$ACCESS_KEY"
  echo "S3_SECRET_KEY=$SECRET_KEY"
  echo "S3_REGION=us-east-1"
}

stop() {
  local name pid
  for name in rgw osd mon; do
    [[ -f $DIR/run/$name.pid ]] || continue
    pid=$(cat "$DIR/run/$name.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  [[ ${KEEP:-0} == 1 ]] || rm -rf "$DIR"
}

wait_for() { # description, tries (0.1 s each), command...
  local what=$1 tries=$2; shift 2
  for _ in $(seq 1 "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "$what did not come up; logs in $DIR/log"
}

start() {
  install_packages
  if [[ -f $DIR/run/mon.pid ]] && kill -0 "$(cat "$DIR/run/mon.pid")" 2>/dev/null; then
    die "a server is already running in $DIR (scripts/s3-server.sh stop)"
  fi
  local rgw_port=${RGW_PORT:-$(free_port)} mon_port=${MON_PORT:-$(free_port)}
  port_busy "$rgw_port" && die "127.0.0.1:$rgw_port is in use"
  port_busy "$mon_port" && die "127.0.0.1:$mon_port is in use"
  local store_bytes=${STORE_BYTES:-$([[ $OSD_STORE == bluestore ]] && echo 20G || echo 8G)}

  rm -rf "$DIR"
  mkdir -p "$DIR"/{run,log,mon,osd,rgw}
  trap 'say "start failed; logs kept in $DIR/log"; KEEP=1 stop' ERR
  local conf=$DIR/ceph.conf fsid
  fsid=$(cat /proc/sys/kernel/random/uuid)
  cat >"$conf" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
keyring = $DIR/keyring
run dir = $DIR/run
log file = $DIR/log/\$name.log
admin socket = $DIR/run/\$name.asok
mon data = $DIR/mon
osd data = $DIR/osd
mon allow pool size one = true
mon warn on pool no redundancy = false
# the mon stops itself when the host disk is nearly full; this cluster is disposable
mon data avail warn = 2
mon data avail crit = 0
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
# map commits every 0.1 s instead of 1 s: bucket and pool creation stop taking seconds
paxos propose interval = 0.1
paxos min wait = 0.01
osd objectstore = $OSD_STORE
memstore device bytes = $(numfmt --from=iec "$store_bytes")
bluestore block path = $DIR/osd.block
bluestore block create = true
bluestore block size = $(numfmt --from=iec "$store_bytes")
osd memory target = 1073741824
[client.rgw.a]
# radosgw asks for a 'secure' mon session by default, which needs cephx
ms mon client mode = crc
ms client mode = crc
# tcp_nodelay: without it every small response waits ~45 ms (Nagle + delayed ACK)
rgw frontends = beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1
rgw data = $DIR/rgw
rgw enable usage log = false
rgw enable ops log = false
rgw dynamic resharding = false
CONF
  ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$DIR/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' >/dev/null
  local c=(-c "$conf")
  daemon() { local name=$1; shift; setsid "$@" >>"$DIR/log/$name.out" 2>&1 </dev/null & echo $! >"$DIR/run/$name.pid"; }

  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$DIR/monmap" >/dev/null
  ceph-mon "${c[@]}" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring"
  daemon mon ceph-mon "${c[@]}" -f -i a
  wait_for "ceph-mon" 300 ceph "${c[@]}" --connect-timeout 2 mon stat

  local osd_uuid
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  [[ $(ceph "${c[@]}" osd new "$osd_uuid") == 0 ]] || die "unexpected osd id"
  ceph-osd "${c[@]}" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$DIR/log/osd.out" 2>&1
  daemon osd ceph-osd "${c[@]}" -f -i 0
  osd_up() { ceph "${c[@]}" osd dump 2>/dev/null | grep -q '^osd.0 up'; }
  wait_for "ceph-osd" 600 osd_up

  daemon rgw radosgw "${c[@]}" -f -n client.rgw.a
  wait_for "radosgw" 600 curl -sf -o /dev/null "http://127.0.0.1:$rgw_port/"
  radosgw-admin "${c[@]}" user create --uid=test --display-name=test \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >"$DIR/user.json" 2>>"$DIR/log/admin.out"
  echo "http://127.0.0.1:$rgw_port" >"$DIR/endpoint"
  trap - ERR
  print_env
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
