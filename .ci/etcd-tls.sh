#!/usr/bin/env bash
# Two etcds on loopback for session-etcd's production-shape tests (issue 16), besides the plain
# one .ci/run starts on 23790:
#   - mutual TLS, auth off:         https://127.0.0.1:23791 (peer 23801), client cert with a CN
#   - TLS, client certs, auth on:   https://127.0.0.1:23792 (peer 23802), client cert without
#     a CN (the gateway answers 400 to one with a CN while auth is on), user `ci` whose role
#     reads and writes `test/` only, user `ci-noperm` whose role covers `other/` only.
# Certificates come from openssl (an ECDSA P-256 CA; server certificates with serverAuth AND
# clientAuth usage and no CommonName, because etcd's JSON gateway dials etcd's own gRPC port
# with the server certificate as its client certificate, and a CN would be read as a user).
#
#   bash .ci/etcd-tls.sh start DIR   # starts both, writes DIR/env (export lines) and DIR/pids
#   source DIR/env                   # ETCD_TLS_* and ETCD_AUTH_* for the tests
#   bash .ci/etcd-tls.sh stop DIR    # stops both by PID and removes DIR
set -euo pipefail

cmd=${1:?usage: etcd-tls.sh start|stop DIR}
dir=${2:?usage: etcd-tls.sh start|stop DIR}

if [ "$cmd" = stop ]; then
  if [ -f "$dir/pids" ]; then
    while read -r pid; do
      kill "$pid" 2>/dev/null || true
    done <"$dir/pids"
    while read -r pid; do
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    done <"$dir/pids"
  fi
  rm -rf "$dir"
  exit 0
fi
[ "$cmd" = start ] || { echo "usage: etcd-tls.sh start|stop DIR" >&2; exit 2; }

mkdir -p "$dir/certs"
c="$dir/certs"
: >"$dir/pids"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() { # ca NAME
  key "$c/$1.key"
  openssl req -x509 -new -key "$c/$1.key" -out "$c/$1.pem" -days 2 -subj "/O=container-kit CI/CN=$1" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}
leaf() { # leaf NAME SUBJECT EXTENDED_KEY_USAGE [SAN]
  key "$c/$1.key"
  openssl req -new -key "$c/$1.key" -out "$c/$1.csr" -subj "$2" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$3"
    if [ -n "${4:-}" ]; then echo "subjectAltName=$4"; fi
  } >"$c/$1.ext"
  openssl x509 -req -in "$c/$1.csr" -CA "$c/ca.pem" -CAkey "$c/ca.key" -CAcreateserial \
    -out "$c/$1.pem" -days 2 -extfile "$c/$1.ext" 2>/dev/null
}
ca ca
ca other-ca # a CA that signed nothing here: the "wrong CA" case
leaf server "/O=container-kit CI etcd" "serverAuth,clientAuth" "IP:127.0.0.1,DNS:localhost"
leaf client-cn "/O=container-kit CI/CN=ci-client" "clientAuth"
leaf client "/O=container-kit CI client" "clientAuth"

tls=(--cert-file "$c/server.pem" --key-file "$c/server.key" --trusted-ca-file "$c/ca.pem"
  --client-cert-auth)
start_etcd() { # start_etcd NAME CLIENT_PORT PEER_PORT [EXTRA...]
  local name=$1 client=$2 peer=$3
  shift 3
  etcd --name "$name" --data-dir "$dir/$name" \
    --listen-client-urls "https://127.0.0.1:$client" --advertise-client-urls "https://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "$name=http://127.0.0.1:$peer" \
    --auto-compaction-mode periodic --auto-compaction-retention 5m --max-txn-ops 4096 \
    "${tls[@]}" "$@" >"$dir/$name.log" 2>&1 &
  echo $! >>"$dir/pids"
}
start_etcd ci-mtls 23791 23801
# A short token TTL, so the tests meet expired tokens (simple tokens expire when unused).
start_etcd ci-auth 23792 23802 --auth-token-ttl 5

# curl to the gateway of the etcd on PORT with the client certificate NAME.
gw() { # gw PORT CERT PATH JSON [TOKEN]
  local auth=()
  if [ -n "${5:-}" ]; then auth=(-H "Authorization: $5"); fi
  curl -fsS --cacert "$c/ca.pem" --cert "$c/$2.pem" --key "$c/$2.key" "${auth[@]}" \
    -X POST "https://127.0.0.1:$1$3" -d "$4"
}
wait_up() { # wait_up PORT CERT NAME
  for _ in $(seq 1 50); do
    gw "$1" "$2" /v3/kv/range '{"key":"AA=="}' >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "etcd $3 did not come up:" >&2
  cat "$dir/$3.log" >&2
  return 1
}
wait_up 23791 client-cn ci-mtls
wait_up 23792 client ci-auth

b64() { printf '%s' "$1" | base64 -w0; }
root_pw=$(openssl rand -hex 12)
ci_pw=$(openssl rand -hex 12)
noperm_pw=$(openssl rand -hex 12)
a() { gw 23792 client "$1" "$2" >/dev/null; }
a /v3/auth/role/add '{"name":"root"}'
a /v3/auth/user/add "{\"name\":\"root\",\"password\":\"$root_pw\"}"
a /v3/auth/user/grant "{\"user\":\"root\",\"role\":\"root\"}"
# The role a deployment needs: read and write on its prefix (the tests use test/…).
grant() { # grant ROLE PREFIX ("test/" → [test/, test0))
  local end="${2%/}0"
  a /v3/auth/role/add "{\"name\":\"$1\"}"
  a /v3/auth/role/grant "{\"name\":\"$1\",\"perm\":{\"permType\":\"READWRITE\",\"key\":\"$(b64 "$2")\",\"range_end\":\"$(b64 "$end")\"}}"
}
grant ci-test test/
grant ci-other other/
a /v3/auth/user/add "{\"name\":\"ci\",\"password\":\"$ci_pw\"}"
a /v3/auth/user/grant '{"user":"ci","role":"ci-test"}'
a /v3/auth/user/add "{\"name\":\"ci-noperm\",\"password\":\"$noperm_pw\"}"
a /v3/auth/user/grant '{"user":"ci-noperm","role":"ci-other"}'
a /v3/auth/enable '{}'

printf '%s' "$ci_pw" >"$dir/ci.password"
cat >"$dir/env" <<EOF
export ETCD_TLS_ENDPOINTS=https://127.0.0.1:23791
export ETCD_TLS_CA=$c/ca.pem
export ETCD_TLS_CERT=$c/client-cn.pem
export ETCD_TLS_KEY=$c/client-cn.key
export ETCD_TLS_OTHER_CA=$c/other-ca.pem
export ETCD_AUTH_ENDPOINTS=https://127.0.0.1:23792
export ETCD_AUTH_CA=$c/ca.pem
export ETCD_AUTH_CERT=$c/client.pem
export ETCD_AUTH_KEY=$c/client.key
export ETCD_AUTH_CN_CERT=$c/client-cn.pem
export ETCD_AUTH_CN_KEY=$c/client-cn.key
export ETCD_AUTH_USER=ci
export ETCD_AUTH_PASSWORD=$ci_pw
export ETCD_AUTH_PASSWORD_FILE=$dir/ci.password
export ETCD_AUTH_NOPERM_USER=ci-noperm
export ETCD_AUTH_NOPERM_PASSWORD=$noperm_pw
EOF
echo "etcd mTLS on https://127.0.0.1:23791, TLS+auth on https://127.0.0.1:23792 ($dir/env)"
