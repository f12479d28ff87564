#!/bin/sh
# t_msg_articles.sh — seed 000's message-queue programs, compiled unchanged
# with -include ripc_sysv.h (build/articles/), replay the article's session:
# create the queue from an ftok key, send "hello world" as type 123, receive
# it, receive again ("No message of desired type"); then the same session
# through the native-API examples (build/examples/). TAP output.
B=${RIPC_BUILD:-build}
n=0; fail=0
t() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }

# The article's fixed key file.
made=; [ -e /root/messagequeue/messagequeuekey ] || made=1
mkdir -p /root/messagequeue && touch /root/messagequeue/messagequeuekey
out=$("$B/articles/msg_ftok_msgget")
t $? "article ftok+msgget program runs"
id=$(echo "$out" | sed -n 's/^Message queue id: \([0-9]*\)\.$/\1/p')
key=$(echo "$out" | sed -n 's/^Message Queue key: \(-*[0-9]*\)\.$/\1/p')
[ -n "$id" ] && [ -n "$key" ]; t $? "it prints the key ($key) and the queue id ($id)"
out2=$("$B/articles/msg_ftok_msgget")
[ "$out" = "$out2" ]; t $? "running it again finds the same queue"

"$B/articles/msg_send" -i "$id" -t 123 -m "hello world"
t $? "send -i $id -t 123 -m 'hello world'"
out=$("$B/articles/msg_recv" -i "$id" -t 123)
[ "$out" = "received message type : 123, text: hello world." ]; t $? "recv prints: $out"
out=$("$B/articles/msg_recv" -i "$id" -t 123 2>&1); rc=$?
[ $rc -ne 0 ] && [ "$out" = "fail to recv message.: No message of desired type" ]
t $? "recv again: $out"

# The same session through the native-API examples.
"$B/examples/msg_send" -i "$id" -t 7 -m "native hello"; t $? "native send"
out=$("$B/examples/msg_ctl" stat "$id"); echo "$out" | grep -q "messages 1 bytes 13"
t $? "native stat: $out"
out=$("$B/examples/msg_recv" -i "$id" -t 7)
[ "$out" = "received message type : 7, text: native hello." ]; t $? "native recv: $out"
out=$("$B/examples/msg_recv" -i "$id" -t 7 -w 50 2>&1)
[ $? -ne 0 ] && echo "$out" | grep -q "timed out"; t $? "native recv with a 50 ms timeout: $out"
"$B/examples/msg_ctl" rm "$id" >/dev/null; t $? "remove the queue"
"$B/examples/msg_ctl" stat "$id" >/dev/null 2>&1; [ $? -ne 0 ]; t $? "it is gone"
[ -n "$made" ] && rm -f /root/messagequeue/messagequeuekey && rmdir /root/messagequeue 2>/dev/null
echo "1..$n"
exit $fail
