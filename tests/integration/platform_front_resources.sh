#!/usr/bin/env bash
# Issue 19's resource attacks on the public port: Event invokes piling up in memory (the queue is bounded in
# bytes per function: 429 TooManyRequestsException beyond it), more concurrent instances than the host's memory
# holds (the sum of MemorySize stays within --instance-memory-mb; beyond it synchronous calls are throttled and
# the condition is logged once), and descriptor exhaustion (with `ulimit -n 1024` and 1100 idle connections
# serve neither spins on accept nor stops answering once some close).
source "$(dirname "$0")/platform_lib/common.bash"
T="$MLFAAS_TEST_DATA/templates/diagnostic.yaml"
ATTACK="$(dirname "$0")/platform_lib/front_attacks.py"
export SIGV4_KEY=AKIDMLFAASFRONT SIGV4_SECRET=front-secret

MLFAAS_SECRET_ACCESS_KEY=$SIGV4_SECRET start_serve "$T" --access-key-id "$SIGV4_KEY" --async-queue-mb 1
timeout 60 python3 "$ATTACK" async_queue "$PORT" || fail "attack 'async_queue'"
server_healthy "a full event queue"
stop_serve

MLFAAS_SECRET_ACCESS_KEY=$SIGV4_SECRET start_serve "$T" --access-key-id "$SIGV4_KEY" --instance-memory-mb 300
grep -q "up to 300 MB in all" "$WORK/serve.out" || fail "the memory budget is not shown at start"
timeout 60 python3 "$ATTACK" memory "$PORT" || fail "attack 'memory'"
n=$(grep -c "of the 300 MB this host can give" "$WORK/serve.out" || true)
assert_eq "$n" 1 "memory-full log lines"
stop_serve

# Descriptor exhaustion: serve gets 1024 descriptors (soft limit; the attacker raises its own), and the attacker
# opens 1100 idle connections.
ulimit -S -n 1024
start_serve "$T"
timeout 90 python3 "$ATTACK" fds "$PORT" "$SERVE_PID" 1100 || fail "attack 'fds'"
server_healthy "descriptor exhaustion"
echo "PASS platform_front_resources"
