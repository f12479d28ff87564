//! The Rust API across threads and namespaces (the single-threaded paths
//! are the doctests in src/api).

use ripc::{Key, Namespace, OpenOptions, Queue, Segment, Selector, SemOp, SemSet};
use std::time::{Duration, Instant};

/// A fresh namespace directory, removed at the end.
struct Dir(std::path::PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("ripc-api-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        Dir(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn create() -> OpenOptions {
    OpenOptions::new().create(true)
}

#[test]
fn a_blocked_receiver_gets_what_another_thread_sends() {
    let d = Dir::new("recv");
    let ns = Namespace::open(&d.0).unwrap();
    let q = Queue::open(&ns, Key::PRIVATE, create()).unwrap();
    let q2 = q.clone();
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 8];
        q2.recv(Selector::Type(3), &mut buf)
            .map(|(t, n)| (t, buf[..n].to_vec()))
    });
    std::thread::sleep(Duration::from_millis(20));
    q.send(2, b"not this").unwrap();
    q.send(3, b"this").unwrap();
    assert_eq!(t.join().unwrap().unwrap(), (3, b"this".to_vec()));
    // Type 2 is still there; AtMost(2) and Except(3) both find it.
    let mut buf = [0u8; 8];
    assert_eq!(q.try_recv(Selector::Except(3), &mut buf).unwrap(), (2, 8));
    q.remove().unwrap();
}

#[test]
fn waiters_fail_with_eidrm_when_the_object_goes() {
    let d = Dir::new("idrm");
    let ns = Namespace::open(&d.0).unwrap();
    let q = Queue::open(&ns, Key::PRIVATE, create()).unwrap();
    let set = SemSet::open(&ns, Key::PRIVATE, 1, create()).unwrap();
    let (q2, set2) = (q.clone(), set.clone());
    let tq = std::thread::spawn(move || q2.recv(Selector::Any, &mut [0u8; 4]));
    let ts = std::thread::spawn(move || set2.op(&[SemOp::new(0, -1)]));
    let start = Instant::now();
    while set.waiting(0).unwrap() == 0 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20));
    q.remove().unwrap();
    set.remove().unwrap();
    assert!(ts.join().unwrap().unwrap_err().is_removed());
    // The receiver's wait cannot be observed: EIDRM when it was waiting,
    // EINVAL when it came after the removal (a slow start).
    let e = tq.join().unwrap().unwrap_err();
    assert!(e.is_removed() || e.raw_os_error() == libc::EINVAL, "{e}");
}

#[test]
fn timeouts_end_bounded_waits_and_zero_is_a_try() {
    let d = Dir::new("timeout");
    let ns = Namespace::open(&d.0).unwrap();
    let set = SemSet::create_with(&ns, Key::PRIVATE, &[0, 5], create()).unwrap();
    assert_eq!(set.values().unwrap(), vec![0, 5]);
    let start = Instant::now();
    let e = set
        .op_timeout(&[SemOp::new(0, -1)], Duration::from_millis(30))
        .unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert!(start.elapsed() >= Duration::from_millis(30));
    let e = set
        .op_timeout(&[SemOp::new(0, -1)], Duration::ZERO)
        .unwrap_err();
    assert!(e.would_block(), "{e}");
    // All or nothing: semaphore 1 is untouched by the group that failed.
    let e = set
        .try_op(&[SemOp::new(1, -1), SemOp::new(0, -1)])
        .unwrap_err();
    assert!(e.would_block());
    assert_eq!(set.value(1).unwrap(), 5);
    set.remove().unwrap();
}

#[test]
fn keys_find_the_same_objects_from_another_handle_of_the_directory() {
    let d = Dir::new("keys");
    let a = Namespace::open(&d.0).unwrap();
    let b = Namespace::open(&d.0).unwrap();
    let key = Key::new(0x7e57);
    let excl = create().exclusive(true);
    let q = Queue::open(&a, key, excl).unwrap();
    assert_eq!(
        Queue::open(&b, key, OpenOptions::new()).unwrap().id(),
        q.id()
    );
    assert_eq!(Queue::open_id(&b, q.id()).unwrap().id(), q.id());
    let e = Queue::open(&b, key, excl).unwrap_err();
    assert_eq!(e.raw_os_error(), libc::EEXIST);
    let info = q.info().unwrap();
    assert_eq!((info.perms.key, info.perms.mode & 0o777), (key, 0o600));
    q.remove().unwrap();
    let e = Queue::open(&b, key, OpenOptions::new()).unwrap_err();
    assert_eq!(e.raw_os_error(), libc::ENOENT);
}

#[test]
fn a_refused_namespace_names_the_directory() {
    let d = Dir::new("refused");
    std::fs::create_dir(&d.0).unwrap();
    std::fs::set_permissions(&d.0, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let e = Namespace::open(&d.0).unwrap_err();
    assert_eq!(e.raw_os_error(), libc::EPERM);
    assert!(e.to_string().contains(&*d.0.to_string_lossy()), "{e}");
}

#[test]
fn segments_live_in_the_namespace_they_are_opened_in() {
    let (da, db) = (Dir::new("shm-a"), Dir::new("shm-b"));
    let (a, b) = (
        Namespace::open(&da.0).unwrap(),
        Namespace::open(&db.0).unwrap(),
    );
    let key = Key::new(0x5e9);
    let sa = Segment::open(&a, key, 4096, create()).unwrap();
    let sb = Segment::open(&b, key, 8192, create()).unwrap();
    let (ma, mb) = (sa.attach().unwrap(), sb.attach().unwrap());
    assert_eq!((ma.len(), mb.len()), (4096, 8192));
    ma.write_at(0, b"in a").unwrap();
    let mut buf = [0u8; 4];
    mb.read_at(0, &mut buf).unwrap();
    assert_eq!(buf, [0; 4], "b's segment is another one");
    // Another handle of a's directory finds a's segment by key.
    let again = Segment::open(&Namespace::open(&da.0).unwrap(), key, 0, OpenOptions::new());
    let again = again.unwrap();
    assert_eq!(again.id(), sa.id());
    again
        .attach_read_only()
        .unwrap()
        .read_at(0, &mut buf)
        .unwrap();
    assert_eq!(&buf, b"in a");
    let e = mb.read_at(8190, &mut buf).unwrap_err();
    assert_eq!(e.raw_os_error(), libc::EINVAL, "past the end");
    assert_eq!(sa.info().unwrap().attachments, 1);
    sa.remove().unwrap();
    sb.remove().unwrap();
    drop((ma, mb));
    assert!(
        Segment::open_id(&a, sa.id()).is_err(),
        "destroyed at the last detach"
    );
}

#[test]
fn an_id_is_looked_up_in_its_own_namespace() {
    // Two namespaces opened one after the other (the second may reuse the
    // first's memory) with a queue of the same id in each: open_id finds
    // the one of the namespace it is given, never a cached one of another.
    let (da, db) = (Dir::new("id-a"), Dir::new("id-b"));
    let (ida, a_left) = {
        let a = Namespace::open(&da.0).unwrap();
        let q = Queue::open(&a, Key::PRIVATE, create()).unwrap();
        q.send(1, b"from a").unwrap();
        assert_eq!(Queue::open_id(&a, q.id()).unwrap().id(), q.id());
        (q.id(), q)
    };
    drop(a_left);
    let mut met = false;
    for _ in 0..4 {
        let b = Namespace::open(&db.0).unwrap();
        let q = Queue::open(&b, Key::PRIVATE, create()).unwrap();
        if q.id() == ida {
            met = true;
            let again = Queue::open_id(&b, ida).unwrap();
            let e = again.try_recv(Selector::Any, &mut [0u8; 8]).unwrap_err();
            assert!(
                e.would_block(),
                "read a message of the other namespace: {e}"
            );
        }
        q.remove().unwrap();
    }
    // Fresh namespaces hand out the same first ids: if that changes, this
    // test needs another way to make two queues share an id.
    assert!(met, "no queue of b had a's id {ida}");
    let a = Namespace::open(&da.0).unwrap();
    Queue::open_id(&a, ida).unwrap().remove().unwrap();
}
