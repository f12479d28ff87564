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

#[test]
fn threads_exchange_every_message_once_in_order() {
    let (ns, _d) = ns();
    let ns = Arc::new(ns);
    let q = msg::get(&ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
    const PER: u32 = 5000;
    let producers: Vec<_> = (1..=3i64)
        .map(|t| {
            let (ns, q) = (ns.clone(), q.clone());
            std::thread::spawn(move || {
                for i in 0..PER {
                    let body = i.to_le_bytes().repeat((i % 40) as usize + 1);
                    q.send(&ns, t, &body, 0, Deadline::NEVER).unwrap();
                }
            })
        })
        .collect();
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
    // SAFETY: the child only takes the lock and kills itself.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let _g = q.hold_lock().unwrap();
        // SAFETY: raising SIGKILL on ourselves.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        unreachable!();
    }
    let mut st = 0;
    // SAFETY: waiting for our child.
    unsafe { libc::waitpid(pid, &mut st, 0) };
    assert!(libc::WIFSIGNALED(st));
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
    std::fs::set_permissions(&d.0, std::fs::Permissions::from_mode(0o1777)).unwrap();
    assert!(Ns::open(&d.0).is_ok());
}
