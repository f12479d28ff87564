#!/bin/sh
# demo_shm.sh — seed 002's shared-memory server and client, run together
# non-interactively on ripc (native API; binaries from build/examples/).
# The server prints the segment every half second while the client appends
# a letter every half second; the server then removes the segment.
B=${RIPC_BUILD:-build}/examples
key=$(printf '0x73%06x' $(( $$ & 0xffffff )))
echo "== shared memory: server and client (key $key)"
"$B/shm_server" "$key" 12 &
server=$!
sleep 0.2
"$B/shm_client" "$key" 10 || { kill $server 2>/dev/null; wait $server; exit 1; }
wait $server
