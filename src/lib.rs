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

pub mod error;
pub mod ffi;
pub mod kernel;
pub mod msg;
pub mod ns;
pub mod sem;
pub mod sync;
pub mod sysv;
