//! The namespace's process-wide cache of open objects by id, and the one
//! thing a signal handler must not do with it: wait for it.
//!
//! The cache is a `Mutex` every thread takes briefly (a look-up by id
//! that this thread's one-entry cache missed, a create, a removal). A
//! signal handler that interrupted its own thread inside that mutex and
//! then made a call on any object waited for a holder that could go on
//! only once the handler returned: a program cycling over more than one
//! object (each call a miss) with a `SIGPROF` handler calling `semctl`
//! hung in every run. So each thread counts how deep it is in the cache
//! (raised *before* the mutex is taken, lowered *after* it is let go, so
//! a handler that runs in between sees it); a take that finds the count
//! already raised is a handler's call up the stack from the holder (or
//! from a thread about to take it): it tries once and, if the mutex is
//! taken, goes without the cache ([`Busy`]: the caller looks the object
//! up afresh and caches nothing). docs/bounded-time.md, "A signal
//! handler's call on its own thread's lock".

use super::{Arc, Kind, Obj};
use core::cell::Cell;
use core::mem::ManuallyDrop;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Ids of one namespace to their open objects.
pub(super) type ObjMap = HashMap<(Kind, i32), Arc<Obj>, super::IdHash>;

/// An engine's state of one object, made once per process (a queue's
/// checked geometry and tally slot), with the object it was made for.
pub(super) type Engine = (Arc<Obj>, Arc<dyn core::any::Any + Send + Sync>);

/// What the cache holds: the objects (the map the cache derefs to) and
/// the engines' state made for them ([`super::Ns::engine_by_id`]), so
/// that a call that misses its thread's one-entry cache makes nothing
/// anew — no allocation (a signal handler's call may have interrupted
/// `malloc`: docs/bounded-time.md).
#[derive(Default)]
pub(super) struct Cache {
    objs: ObjMap,
    pub(super) engines: HashMap<(Kind, i32), Engine, super::IdHash>,
    /// The size (both maps) at which the next insert drops the entries of
    /// removed or moved objects ([`Cache::purge_if_due`]).
    purge_at: usize,
}

impl Cache {
    /// Before an insert: drops the entries of objects removed or moved
    /// (by any process) once the maps have doubled since the last purge
    /// (64 entries at least). Each look at an entry reads that object's
    /// header, a page of its own, and the purge ran on every insert: a
    /// scan of every object the process holds for each object it opens,
    /// quadratic in a process that opens thousands (not measured apart:
    /// the first use of 4000 queues is dominated by their first pages,
    /// 50–110 µs each here, with or without it). Amortised, the stale
    /// entries held are at most as many as the live ones.
    pub(super) fn purge_if_due(&mut self) {
        if self.objs.len() + self.engines.len() < self.purge_at {
            return;
        }
        self.objs.retain(|_, o| !o.is_removed());
        self.engines
            .retain(|_, (o, _)| !o.is_removed() && !o.is_moved());
        self.purge_at = (2 * (self.objs.len() + self.engines.len())).max(64);
    }
}

impl core::ops::Deref for Cache {
    type Target = ObjMap;
    fn deref(&self) -> &ObjMap {
        &self.objs
    }
}

impl core::ops::DerefMut for Cache {
    fn deref_mut(&mut self) -> &mut ObjMap {
        &mut self.objs
    }
}

impl core::fmt::Debug for Cache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Cache")
            .field("objs", &self.objs.len())
            .field("engines", &self.engines.len())
            .finish()
    }
}

thread_local! {
    /// How many takes of a cache this thread has made and not let go
    /// (one, or more in a signal handler's call).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// The cache could not be had without waiting for this very thread (a
/// signal handler's call): go without it.
#[derive(Debug)]
pub(super) struct Busy;

/// See the module documentation.
#[derive(Debug, Default)]
pub(super) struct ObjCache(Mutex<Cache>);

/// The cache, held; let go when dropped.
pub(super) struct Held<'a>(ManuallyDrop<MutexGuard<'a, Cache>>);

impl ObjCache {
    /// The cache, waiting for another thread that holds it; [`Busy`] when
    /// this thread is inside it further up the stack and it is taken.
    pub(super) fn lock(&self) -> Result<Held<'_>, Busy> {
        let depth = DEPTH.with(|d| d.replace(d.get() + 1));
        let g = if depth == 0 {
            Ok(self.0.lock().unwrap_or_else(|e| e.into_inner()))
        } else {
            match self.0.try_lock() {
                Ok(g) => Ok(g),
                Err(std::sync::TryLockError::Poisoned(e)) => Ok(e.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => Err(Busy),
            }
        };
        match g {
            Ok(g) => Ok(Held(ManuallyDrop::new(g))),
            Err(b) => {
                DEPTH.with(|d| d.set(depth));
                Err(b)
            }
        }
    }

    /// The mutex itself, for the `fork` handlers (which hold every
    /// namespace's cache across the `fork`, from the thread that forks,
    /// inside a [`ForkDepth`]).
    pub(super) fn mutex(&self) -> &Mutex<Cache> {
        &self.0
    }
}

/// The `fork` handlers' hold of every cache counts as one take of this
/// thread ([`ForkDepth::enter`] before the first mutex is taken,
/// [`ForkDepth::leave`] after the last is let go): a signal handler that
/// runs on the forking thread between the `fork` handlers — in the
/// parent or in the child — and calls the library goes without a cache
/// the fork holds instead of waiting for its own thread. It waited for
/// ever: three threads looping on `msgsnd`/`msgrcv` beside a main thread
/// that forked 200 times, with a `SIGPROF` handler calling `msgctl` and
/// `semget`, hung in 3 of 3 runs (`/tmp/s1/thrmalloc.c`, 2026-12-07).
pub(super) struct ForkDepth;

impl ForkDepth {
    /// Raises this thread's count (see [`ForkDepth`]).
    pub(super) fn enter() {
        DEPTH.with(|d| d.set(d.get() + 1));
    }

    /// Lowers it again.
    pub(super) fn leave() {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

impl core::ops::Deref for Held<'_> {
    type Target = Cache;
    fn deref(&self) -> &Cache {
        &self.0
    }
}

impl core::ops::DerefMut for Held<'_> {
    fn deref_mut(&mut self) -> &mut Cache {
        &mut self.0
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // SAFETY: dropped once, here; the field is not used after.
        unsafe { ManuallyDrop::drop(&mut self.0) };
        // Lowered only once the mutex is let go (see the module doc).
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

impl core::fmt::Debug for Held<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Held")
            .field("entries", &self.0.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_take_inside_this_thread_s_own_take_goes_without() {
        let c = ObjCache::default();
        let outer = c.lock().expect("free");
        assert_eq!(outer.len(), 0);
        // As a signal handler's call would: this thread holds it.
        assert!(c.lock().is_err(), "not waited for");
        drop(outer);
        let again = c.lock().expect("free again: the count went back");
        drop(again);
        // Another thread that finds it held waits for it.
        let held = c.lock().unwrap();
        std::thread::scope(|s| {
            let t = s.spawn(|| c.lock().map(|g| g.len()).is_ok());
            std::thread::sleep(std::time::Duration::from_millis(20));
            drop(held);
            assert!(t.join().unwrap(), "another thread waited and got it");
        });
    }
}
