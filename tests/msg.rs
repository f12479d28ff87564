//! Engine-level tests of message queues: concurrency and recovery from a
//! lock holder killed inside the critical section.

use ripc::msg;
use ripc::ns::{Ns, IPC_CREAT, IPC_NOWAIT, IPC_PRIVATE};
use ripc::sync::time::Deadline;
use std::sync::Arc;

fn ns() -> (Ns, tempdir::Dir) {
    let d = tempdir::Dir::new();
    (Ns::open(&d.0).expect("namespace"), d)
}

mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "ripc-rs-{}-{}",
                std::process::id(),
                N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Runs `f` (which takes a lock and kills itself) in a forked child and
/// checks that the child died by a signal.
fn die_holding(f: impl FnOnce()) {
    // SAFETY: the child only takes a lock and kills itself.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        f();
        unreachable!();
    }
    let mut st = 0;
    // SAFETY: waiting for our child.
    unsafe { libc::waitpid(pid, &mut st, 0) };
    assert!(libc::WIFSIGNALED(st));
}

fn kill_self() {
    // SAFETY: raising SIGKILL on ourselves.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
}

/// Three sender threads, of types 1, 2 and 3, each sending `per`
/// messages: message `i` is `i` (4 bytes, little-endian) repeated
/// `i % spread + 1` times.
fn spawn_senders(
    ns: &Arc<Ns>,
    q: &msg::Queue,
    per: u32,
    spread: u32,
) -> Vec<std::thread::JoinHandle<()>> {
    (1..=3i64)
        .map(|t| {
            let (ns, q) = (ns.clone(), q.clone());
            std::thread::spawn(move || {
                for i in 0..per {
                    let body = i.to_le_bytes().repeat((i % spread) as usize + 1);
                    q.send(&ns, t, &body, 0, Deadline::NEVER).unwrap();
                }
            })
        })
        .collect()
}

#[test]
fn threads_exchange_every_message_once_in_order() {
    let (ns, _d) = ns();
    let ns = Arc::new(ns);
    let q = msg::get(&ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
    const PER: u32 = 5000;
    let producers = spawn_senders(&ns, &q, PER, 40);
    let mut next = [0u32; 4];
    let mut buf = vec![0u8; 8192];
    for _ in 0..3 * PER {
        let (t, n) = q.recv(0, &mut buf, 0, Deadline::NEVER).unwrap();
        let i = next[t as usize];
        assert_eq!(n, 4 * ((i % 40) as usize + 1));
        assert_eq!(&buf[..4], &i.to_le_bytes());
        next[t as usize] += 1;
    }
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(next, [0, PER, PER, PER]);
    let st = q.stat(false).unwrap();
    assert_eq!((st.qnum, st.cbytes), (0, 0));
    q.remove(&ns).unwrap();
}

#[test]
fn holder_killed_inside_the_lock_is_recovered() {
    let (ns, _d) = ns();
    let q = msg::get(&ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
    q.send(&ns, 1, b"kept", 0, Deadline::NEVER).unwrap();
    die_holding(|| {
        let _g = q.hold_lock().unwrap();
        kill_self();
    });
    // The next operation takes the lock over, repairs, and works.
    let t0 = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let (t, n) = q.recv(0, &mut buf, IPC_NOWAIT, Deadline::NEVER).unwrap();
    assert_eq!((t, &buf[..n]), (1, &b"kept"[..]));
    assert!(t0.elapsed() < std::time::Duration::from_secs(2));
    q.send(&ns, 2, b"after", 0, Deadline::NEVER).unwrap();
    assert_eq!(q.stat(false).unwrap().qnum, 1);
    q.remove(&ns).unwrap();
}

#[test]
fn repair_keeps_committed_messages_and_frees_the_rest() {
    let (ns, _d) = ns();
    let q = msg::get(&ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
    for i in 0..50u8 {
        q.send(&ns, 1 + i as i64 % 3, &[i; 300], 0, Deadline::NEVER)
            .unwrap();
    }
    let mut buf = [0u8; 400];
    for _ in 0..10 {
        q.recv(2, &mut buf, IPC_NOWAIT, Deadline::NEVER).unwrap();
    }
    let before = q.stat(false).unwrap();
    q.repair().unwrap();
    let after = q.stat(false).unwrap();
    assert_eq!((before.qnum, before.cbytes), (after.qnum, after.cbytes));
    // Still fills to exactly its capacity after the rebuild.
    while q.recv(0, &mut buf, IPC_NOWAIT, Deadline::NEVER).is_ok() {}
    let mut sent = 0;
    while q
        .send(&ns, 1, &[1; 100], IPC_NOWAIT, Deadline::NEVER)
        .is_ok()
    {
        sent += 1;
    }
    assert_eq!(sent, 16384 / 100);
    q.remove(&ns).unwrap();
}

/// Typed receivers take from the middle and the end of the list while
/// senders append: every message arrives once, and each receiver sees each
/// type's messages in the order they were sent. The receivers start behind
/// a full queue and pause now and then, so that the queue stays full of
/// mixed types and most typed receives unlink a message behind others.
#[test]
fn typed_receivers_race_senders_without_loss_or_reordering() {
    use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
    use std::time::{Duration, Instant};
    let (ns, _d) = ns();
    let ns = Arc::new(ns);
    let q = msg::get(&ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
    const PER: u32 = 6000;
    let producers = spawn_senders(&ns, &q, PER, 70);
    std::thread::sleep(Duration::from_millis(30));
    // Type 3 only; type 2 only; the lowest type <= 2 (1, then 2); all but
    // type 3 (1, 2): between them they take everything.
    let kinds: [(i64, i32); 4] = [(3, 0), (2, 0), (-2, 0), (3, msg::MSG_EXCEPT)];
    let got = Arc::new(std::sync::Mutex::new(vec![vec![false; PER as usize]; 4]));
    let done = Arc::new(AtomicU32::new(0));
    let end = Instant::now() + Duration::from_secs(20);
    let consumers: Vec<_> = kinds
        .into_iter()
        .map(|(typ, fl)| {
            let (q, got, done) = (q.clone(), got.clone(), done.clone());
            std::thread::spawn(move || {
                let mut last = [None::<u32>; 4];
                let mut buf = vec![0u8; 8192];
                let mut k = 0u32;
                while done.load(Relaxed) < 3 * PER && Instant::now() < end {
                    k += 1;
                    if k % 32 == 0 {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    let r = q.recv(
                        typ,
                        &mut buf,
                        fl,
                        Deadline::after(Duration::from_millis(20)),
                    );
                    let (t, n) = match r {
                        Ok(v) => v,
                        Err(ripc::error::Errno::ETIMEDOUT) => continue,
                        Err(e) => panic!("recv: {e:?}"),
                    };
                    let i = u32::from_le_bytes(buf[..4].try_into().unwrap());
                    assert_eq!(n, 4 * ((i % 70) as usize + 1));
                    let t = t as usize;
                    assert!(
                        last[t].map_or(true, |l| l < i),
                        "type {t}: {i} after {last:?}"
                    );
                    last[t] = Some(i);
                    let mut g = got.lock().unwrap();
                    assert!(!g[t][i as usize], "type {t} seq {i} twice");
                    g[t][i as usize] = true;
                    done.fetch_add(1, Relaxed);
                }
            })
        })
        .collect();
    for c in consumers {
        c.join().unwrap();
    }
    let g = got.lock().unwrap();
    for (t, v) in g.iter().enumerate().skip(1) {
        let missing = v.iter().filter(|&&x| !x).count();
        assert_eq!(missing, 0, "type {t}: {missing} messages never arrived");
    }
    for p in producers {
        p.join().unwrap();
    }
    let st = q.stat(false).unwrap();
    assert_eq!((st.qnum, st.cbytes), (0, 0));
    q.remove(&ns).unwrap();
}

/// A receiver killed while holding only the receivers' lock: the next
/// receive repairs under both locks, senders are not held up meanwhile.
#[test]
fn receiver_killed_inside_its_lock_is_recovered() {
    let (ns, _d) = ns();
    let q = msg::get(&ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
    q.send(&ns, 1, b"kept", 0, Deadline::NEVER).unwrap();
    die_holding(|| {
        let _g = q.hold_recv_lock().unwrap();
        kill_self();
    });
    let t0 = std::time::Instant::now();
    q.send(
        &ns,
        2,
        b"sent while the dead receiver holds its lock",
        IPC_NOWAIT,
        Deadline::NEVER,
    )
    .unwrap();
    assert!(t0.elapsed() < std::time::Duration::from_millis(5));
    let mut buf = [0u8; 64];
    let (t, n) = q.recv(0, &mut buf, IPC_NOWAIT, Deadline::NEVER).unwrap();
    assert_eq!((t, &buf[..n]), (1, &b"kept"[..]));
    assert!(t0.elapsed() < std::time::Duration::from_secs(2));
    let (t, _) = q.recv(0, &mut buf, IPC_NOWAIT, Deadline::NEVER).unwrap();
    assert_eq!(t, 2);
    let s = q.stat(false).unwrap();
    assert_eq!((s.qnum, s.cbytes), (0, 0));
    q.remove(&ns).unwrap();
}

#[test]
fn timeouts_and_removal() {
    let (ns, _d) = ns();
    let q = msg::get(&ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
    let mut buf = [0u8; 8];
    let t0 = std::time::Instant::now();
    let e = q
        .recv(
            0,
            &mut buf,
            0,
            Deadline::after(std::time::Duration::from_millis(30)),
        )
        .unwrap_err();
    assert_eq!(e, ripc::error::Errno::ETIMEDOUT);
    assert!(t0.elapsed() >= std::time::Duration::from_millis(30));
    q.remove(&ns).unwrap();
    assert!(msg::by_id(&ns, q.id()).is_err());
}

#[test]
fn a_world_writable_directory_without_sticky_bit_is_refused() {
    let d = tempdir::Dir::new();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&d.0, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_eq!(Ns::open(&d.0).err(), Some(ripc::error::Errno::EPERM));
    // Sticky does not help any more: a namespace others may write is not
    // one that belongs to anyone (docs/security.md).
    std::fs::set_permissions(&d.0, std::fs::Permissions::from_mode(0o1777)).unwrap();
    assert_eq!(Ns::open(&d.0).err(), Some(ripc::error::Errno::EPERM));
    std::fs::set_permissions(&d.0, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(Ns::open(&d.0).is_ok());
}

/// Small and big chunks: for sizes around both chunk sizes (the worst case
/// for big-chunk storage is a message one byte over a small chunk), a queue
/// takes messages until the kernel's limit says full (never `EIO` for lack
/// of storage), gives each back intact, and takes as many again after
/// typed receives freed chunks out of order.
#[test]
fn every_size_fills_the_queue_to_the_kernels_limit() {
    let (ns, _d) = ns();
    let q = msg::get(&ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
    let qbytes = q.stat(false).unwrap().qbytes as usize;
    let mut buf = vec![0u8; 8192];
    for size in [1, 255, 256, 257, 300, 1023, 1024, 1025, 2049, 4000, 8192] {
        let text = |i: usize| -> Vec<u8> { (0..size).map(|k| (k * 7 + i + size) as u8).collect() };
        for round in 0..2 {
            let mut n = 0usize;
            loop {
                match q.send(
                    &ns,
                    1 + (n % 2) as i64,
                    &text(n),
                    IPC_NOWAIT,
                    Deadline::NEVER,
                ) {
                    Ok(()) => n += 1,
                    Err(e) => {
                        assert_eq!(e, ripc::error::Errno::EAGAIN, "size {size}");
                        break;
                    }
                }
            }
            assert_eq!(n, qbytes / size, "size {size} round {round}");
            // Odd-numbered messages (type 2) first, then the rest: chunks
            // go back out of order.
            let mut got = Vec::new();
            for t in [2, 1] {
                while let Ok((ty, len)) = q.recv(t, &mut buf, IPC_NOWAIT, Deadline::NEVER) {
                    assert_eq!(ty, t);
                    got.push(buf[..len].to_vec());
                }
            }
            assert_eq!(got.len(), n);
            let mut want: Vec<Vec<u8>> = (0..n).map(text).collect();
            want.sort();
            got.sort();
            assert!(want == got, "size {size}: texts differ");
        }
    }
    // A long message cut short by MSG_NOERROR keeps its first bytes.
    let text: Vec<u8> = (0..3000).map(|k| (k % 251) as u8).collect();
    q.send(&ns, 5, &text, 0, Deadline::NEVER).unwrap();
    let mut small = [0u8; 100];
    let (t, len) = q
        .recv(0, &mut small, msg::MSG_NOERROR, Deadline::NEVER)
        .unwrap();
    assert_eq!((t, len), (5, 100));
    assert_eq!(&small[..], &text[..100]);
    assert_eq!(q.stat(false).unwrap().qnum, 0);
    q.remove(&ns).unwrap();
}

/// `msg_rtime` and `msg_stime` say when the message was taken and
/// appended, not when a call that waited for it began (a receive that
/// waited was once dated by its start). The stamps are the coarse clock's
/// seconds, as the kernel's, which may trail the exact second by a tick:
/// hence the second of slack, and waits of 2.5 s that the slack cannot
/// hide.
#[test]
fn times_are_those_of_the_operation_not_of_the_call() {
    let (ns, _d) = ns();
    let ns = Arc::new(ns);
    let q = msg::get(&ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
    let secs = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let wait = std::time::Duration::from_millis(2500);
    // A receiver that waits, then a message.
    let r = {
        let q = q.clone();
        std::thread::spawn(move || {
            let mut b = [0u8; 8];
            q.recv(0, &mut b, 0, Deadline::NEVER).unwrap();
        })
    };
    std::thread::sleep(wait);
    let sent_at = secs();
    q.send(&ns, 1, b"x", 0, Deadline::NEVER).unwrap();
    r.join().unwrap();
    let s = q.stat(false).unwrap();
    assert!(s.rtime >= sent_at - 1, "rtime {} for {sent_at}", s.rtime);
    // A sender that waits for room, then a receive.
    let big = vec![0u8; 4096];
    while q.send(&ns, 1, &big, IPC_NOWAIT, Deadline::NEVER).is_ok() {}
    let w = {
        let (ns, q) = (ns.clone(), q.clone());
        std::thread::spawn(move || q.send(&ns, 1, b"y", 0, Deadline::NEVER).unwrap())
    };
    std::thread::sleep(wait);
    let room_at = secs();
    let mut b = vec![0u8; 4096];
    q.recv(0, &mut b, 0, Deadline::NEVER).unwrap();
    w.join().unwrap();
    let s = q.stat(false).unwrap();
    assert!(s.stime >= room_at - 1, "stime {} for {room_at}", s.stime);
    q.remove(&ns).unwrap();
}

/// A queue full of tiny messages takes a new one as soon as one was
/// received, although receivers keep the storage they free on their
/// pending chains for a few messages (docs/msg.md, "Storage"): the sender
/// short of storage has them pushed, and no message is lost or doubled.
#[test]
fn a_full_queue_of_tiny_messages_refills_message_by_message() {
    let (ns, _d) = ns();
    let q = msg::get(&ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
    let qbytes = q.stat(false).unwrap().qbytes as usize;
    let mut n = 0u64;
    while q
        .send(&ns, 1, &n.to_le_bytes()[..1], IPC_NOWAIT, Deadline::NEVER)
        .is_ok()
    {
        n += 1;
    }
    assert_eq!(n as usize, qbytes);
    let mut buf = [0u8; 8];
    let mut next = 0u64;
    for round in 0..200u64 {
        for _ in 0..=(round % 5) {
            let (_, len) = q.recv(0, &mut buf, IPC_NOWAIT, Deadline::NEVER).unwrap();
            assert_eq!((len, buf[0]), (1, next as u8), "round {round}");
            next += 1;
        }
        while q
            .send(&ns, 1, &n.to_le_bytes()[..1], IPC_NOWAIT, Deadline::NEVER)
            .is_ok()
        {
            n += 1;
        }
        assert_eq!(
            q.stat(false).unwrap().qnum as usize,
            qbytes,
            "round {round}"
        );
    }
    q.remove(&ns).unwrap();
}

/// Every `msgmnb` the namespace accepts makes working queues, without
/// multi-GB files (16 MiB and up failed with EIO, and 16 MiB made a 4.8 GB
/// sparse file); a queue holds at most `MAX_MSGS` messages.
#[test]
fn every_accepted_msgmnb_makes_a_working_queue() {
    let (ns, d) = ns();
    ns.set_limit("msgmax", 1 << 20).unwrap();
    for mnb in [16u64 << 20, (16 << 20) + 1, 300 << 20, 1 << 30] {
        ns.set_limit("msgmnb", mnb).unwrap();
        let q = msg::get(&ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
        assert_eq!(q.bytes_capacity(), mnb);
        let big = vec![7u8; 1 << 20];
        q.send(&ns, 3, &big, 0, Deadline::NEVER).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let (t, n) = q.recv(0, &mut buf, IPC_NOWAIT, Deadline::NEVER).unwrap();
        assert_eq!((t, n), (3, 1 << 20));
        assert!(buf.iter().all(|&b| b == 7));
        let file = d.0.join(format!("msg.{}", q.id() % 32768));
        let len = std::fs::metadata(&file).unwrap().len();
        // Its capacity, plus per message it may hold a descriptor, a
        // link, a small chunk and the slack of a big one.
        assert!(len < mnb + msg::MAX_MSGS * 1400, "{mnb}: a {len}-byte file");
        q.remove(&ns).unwrap();
    }
    assert!(
        ns.set_limit("msgmnb", (1 << 30) + 1).is_err(),
        "above the cap: EINVAL"
    );
    // The message count: at most MAX_MSGS, then "full".
    ns.set_limit("msgmnb", 1 << 20).unwrap();
    let q = msg::get(&ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
    for i in 0..msg::MAX_MSGS {
        q.send(&ns, 1, &[], IPC_NOWAIT, Deadline::NEVER)
            .unwrap_or_else(|e| panic!("message {i}: {e:?}"));
    }
    assert_eq!(
        q.send(&ns, 1, &[], IPC_NOWAIT, Deadline::NEVER),
        Err(ripc::error::Errno::EAGAIN)
    );
    assert_eq!(q.stat(false).unwrap().qnum, msg::MAX_MSGS);
    q.remove(&ns).unwrap();
}
