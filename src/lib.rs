//! ripc — the Linux IPC set (System V message queues, shared memory and
//! semaphores, `ftok` keys, pipes, FIFOs and signals) implemented in
//! userspace Rust and exported as a C library.
//!
//! Data flows one way: C caller → [`ffi`] (argument checks, panic boundary,
//! `errno`) → [`sysv`] (routing to a backend) → an engine ([`msg`], …) →
//! [`ns`] (keys, ids, object files, permissions) and [`sync`] (futexes,
//! robust locks) → the mapped object.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations)]

/// cbindgen:ignore
pub mod error;
pub mod ffi;
/// cbindgen:ignore
pub mod kernel;
/// cbindgen:ignore
pub mod log;
/// cbindgen:ignore
pub mod msg;
/// cbindgen:ignore
pub mod ns;
/// cbindgen:ignore
pub mod os;
/// cbindgen:ignore
pub mod pipe;
/// cbindgen:ignore
pub mod sem;
/// cbindgen:ignore
pub mod shm;
/// cbindgen:ignore
pub mod signal;
/// cbindgen:ignore
pub mod sync;
/// cbindgen:ignore
pub mod sysv;
