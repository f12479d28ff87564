//! ripc — the Linux IPC set (System V message queues, shared memory and
//! semaphores, `ftok` keys, pipes, FIFOs and signals) implemented in
//! userspace Rust, usable from Rust through this crate's API and from C
//! as a library (`libripc.so`/`libripc.a`, built by `make`; see the
//! README).
//!
//! Objects live in a [`Namespace`]: a directory that processes share, as
//! the kernel's IPC namespace. In it, a [`Queue`] carries typed messages,
//! a [`SemSet`] holds counting semaphores changed by atomic groups of
//! [`SemOp`]s, and a [`Segment`] is shared memory, mapped by
//! [`Segment::attach`]; [`Mutex`] and [`Semaphore`] are one-semaphore sets
//! (C's `ripc_mutex` and `ripc_sem`). Objects are found by [`Key`] (or by id), and
//! created per [`OpenOptions`]. They outlive the handles and the
//! processes that made them, until removed (`remove`), as System V
//! objects do; C programs on the same namespace see the same objects.
//!
//! Every fallible call returns [`Result`], whose [`Error`] carries the
//! `errno` value the kernel's call would give. Blocking calls come in
//! three forms: waiting (`send`), not waiting (`try_send`: `EAGAIN`) and
//! waiting at most a [`Duration`](std::time::Duration) (`send_timeout`:
//! `ETIMEDOUT`). Every handle is `Send` and `Sync`.
//!
//! ```
//! use ripc::{Key, Namespace, OpenOptions, Queue, Selector};
//! # let dir = std::env::temp_dir().join(format!("ripc-doc-lib-{}", std::process::id()));
//! let ns = Namespace::open(&dir)?;
//! let opts = OpenOptions::new().create(true).mode(0o600);
//! let q = Queue::open(&ns, Key::new(0x5157), opts)?;
//! // Another process (C or Rust) opening this directory finds it by key.
//! let same = Queue::open(&Namespace::open(&dir)?, Key::new(0x5157), OpenOptions::new())?;
//! assert_eq!(same.id(), q.id());
//! q.send(1, b"ping")?;
//! let mut buf = [0u8; 16];
//! assert_eq!(same.recv(Selector::Type(1), &mut buf)?, (1, 4));
//! q.remove()?;
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), ripc::Error>(())
//! ```
//!
//! The modules below the API (engines, FFI) are the implementation; the
//! ones that are reachable at all are hidden from this documentation, for
//! the crate's own tools and tests, and follow no stability promise.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations, missing_docs)]

mod api;
pub use api::{
    Attachment, Error, Key, Mutex, MutexGuard, Namespace, OpenOptions, Perms, Queue, QueueInfo,
    Result, Segment, SegmentInfo, Selector, SemOp, SemSet, SemSetInfo, Semaphore,
};

// The implementation. Modules the tools (src/bin) and the integration
// tests reach are public but hidden; the C API is `ffi`'s
// `#[no_mangle] extern "C"` functions, exported from the cdylib and
// staticlib whatever their module's visibility (cbindgen reads `src/ffi`
// only: tests/header.rs). Their documentation is the developers'
// (`cargo doc --document-private-items`), where links to private items
// resolve: `make lint` checks both documentations.

// The C libraries' allocations come from an async-signal-safe allocator
// of their own (`make lib` and cargo-c turn the feature on): a signal
// handler may then call the library whatever its thread was doing, inside
// `malloc` included. A Rust dependent keeps its program's allocator.
#[cfg(feature = "sigsafe-alloc")]
#[global_allocator]
static ALLOC: os::alloc::SigSafe = os::alloc::SigSafe;

#[doc(hidden)]
pub mod error;
#[doc(hidden)]
pub mod ffi;
mod kernel;
mod log;
#[doc(hidden)]
#[allow(rustdoc::private_intra_doc_links)]
pub mod msg;
#[doc(hidden)]
#[allow(rustdoc::private_intra_doc_links)]
pub mod ns;
mod os;
mod pipe;
#[doc(hidden)]
#[allow(rustdoc::private_intra_doc_links)]
pub mod sem;
#[doc(hidden)]
#[allow(rustdoc::private_intra_doc_links)]
pub mod shm;
mod signal;
#[doc(hidden)]
#[allow(rustdoc::private_intra_doc_links)]
pub mod sync;
#[doc(hidden)]
#[allow(rustdoc::private_intra_doc_links)]
pub mod sysv;
