//! For unit tests: a namespace of the test's own.

use super::*;

/// A fresh private namespace directory, removed when dropped.
pub(crate) struct TempNs {
    pub(crate) ns: Arc<Ns>,
    pub(crate) dir: PathBuf,
}

impl TempNs {
    /// A new one; `tag` goes into the directory's name.
    pub(crate) fn new(tag: &str) -> TempNs {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ripc-ns-test-{}-{}-{}",
            std::process::id(),
            tag,
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let ns = Ns::open_shared(&dir).expect("open a private namespace");
        TempNs { ns, dir }
    }

    /// Names in the directory besides the namespace's own files
    /// (`ripc.*`), sorted: what the objects left.
    pub(crate) fn objects(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("ripc."))
            .collect();
        v.sort();
        v
    }
}

impl Drop for TempNs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `f` in a child process, alone: for tests whose figures another
/// test's `fork` would change. Tests of several modules fork helper
/// processes from the (threaded) test process, and a child forked
/// meanwhile inherits what this test holds, as any child does: a
/// segment's attachment (the fork handler gives the child a slot, so
/// `nattch` is one more, and a segment removed while attached outlives
/// its last `shmdt` until that child exits:
/// `shm_info_counts_segments_and_pages_until_destroyed` failed 2 runs of
/// 8 of `cargo test --release --lib`), or a descriptor (a FIFO's reading
/// end, held by a timed open's helper for an instant, made a later
/// writer's open succeed: `create_exist_ok_and_timeout`, 2 runs of 14).
/// The child has one thread: nothing else forks there.
pub(crate) fn alone(name: &str, f: impl FnOnce()) {
    // SAFETY: fork; the child runs `f` and leaves with _exit, never
    // returning into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        std::panic::set_hook(Box::new(|info| {
            let msg = format!("child: {info}\n");
            // SAFETY: write(2) of a buffer we own to standard error.
            unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
        }));
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_ok();
        // SAFETY: leaving the child at once, without the parent's atexit
        // handlers or the harness's destructors.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{name}: the child failed (status {status:#x}; its message is on standard error)"
    );
}
