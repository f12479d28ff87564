#!/bin/sh
# demo_sem.sh — the semaphore scenarios of the articles, non-interactively:
# the bank story (P/V with a waiting borrower) and a producer/consumer ring
# in shared memory guarded by semaphores. Called by `make demo`.
set -e
B=${RIPC_BUILD:-build}/examples
echo "== semaphores: the bank story (seed 000: 100 in the bank, A takes 80, B waits for 50, A returns 30)"
"$B/sem_bank"
echo "== semaphores: producer/consumer through a ring in shared memory"
"$B/sem_prodcons"
