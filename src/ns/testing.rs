//! For unit tests: a namespace of the test's own.

use super::*;

/// An engine's `init` and `more_checks` that do nothing.
pub(crate) fn nothing(_: &Obj) -> Result<()> {
    Ok(())
}

/// A plain object: 64 bytes of control data, no payload, nothing to
/// initialise or check.
pub(crate) const PLAIN: CreateSpec<'static> = CreateSpec {
    ctl_len: 64,
    data_len: 0,
    data_apart: false,
    init: &nothing,
    check_existing: &nothing,
    layout: 1,
};

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
        // No `std::panic::set_hook` here: it takes the hook's lock for
        // writing, and a thread of the harness that was panicking when we
        // forked (a test that expects a panic) held it for reading — a
        // reader the child does not have, so the write waited for ever
        // (`create_exist_ok_and_timeout` hung `make test`'s `cargo test`
        // once). The message is written from the payload instead (the
        // default hook's output goes to the harness's capture, which the
        // child never hands back).
        let ok = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(()) => true,
            Err(payload) => {
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                let msg = format!("child of {name}: {what}\n");
                // SAFETY: write(2) of a buffer we own to standard error.
                unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
                false
            }
        };
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
