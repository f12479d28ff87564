//! `membarrier(2)`: a full memory barrier on other CPUs, paid by the rare
//! side of an asymmetric pair so that the common side needs only a
//! compiler fence. Used by the handle table (`ffi::handle`: a close
//! against the calls of the process's other threads, private commands)
//! and by the queues' tally (`msg::tally`: a recount against every
//! registered process's copies, global commands).

/// The commands ripc uses (`<linux/membarrier.h>`), all of them the
/// expedited kind (IPIs, not a grace period).
#[derive(Clone, Copy, Debug)]
#[repr(i64)]
pub(crate) enum Cmd {
    /// A barrier on every CPU running a thread of a process registered
    /// with [`Cmd::RegisterGlobal`].
    Global = 1 << 1,
    /// Registers the calling process for [`Cmd::Global`].
    RegisterGlobal = 1 << 2,
    /// A barrier on every CPU running a thread of this process.
    Private = 1 << 3,
    /// Registers the calling process for [`Cmd::Private`].
    RegisterPrivate = 1 << 4,
}

/// `membarrier(cmd, 0, 0)`; false when the kernel refuses it (an older
/// kernel, a seccomp filter, a command not registered for).
pub(crate) fn membarrier(cmd: Cmd) -> bool {
    // SAFETY: membarrier takes no pointer; a constant command, flags 0,
    // cpu_id 0.
    unsafe { libc::syscall(libc::SYS_membarrier, cmd as libc::c_long, 0, 0) == 0 }
}
