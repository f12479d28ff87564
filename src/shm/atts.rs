//! Attach accounting: this process's attach table ([`ATTS`]) and the
//! per-process attach slots of each segment.

use super::*;
use core::mem::size_of;

/// One attachment made by this process.
#[derive(Debug)]
pub(super) struct Att {
    pub(super) addr: usize,
    pub(super) len: usize,
    pub(super) obj: Arc<Obj>,
    /// the namespace the segment lives in (destroyed through it at the
    /// last detach)
    pub(super) ns: Arc<Ns>,
}

/// This process's attachments. Lock order: `ATTS`, then an object lock.
///
/// Its own small lock, not a `std::sync::Mutex`: `fork` must not leave
/// the child with this lock held by a thread that does not exist there.
/// The `pthread_atfork` prepare handler takes it (so no other thread is
/// inside at the fork) and the parent and child handlers release it
/// ([`fork_prepare`], [`fork_parent`], [`fork_child`]).
pub(super) static ATTS: AttsLock = AttsLock {
    word: AtomicU32::new(0),
    fork_held: AtomicBool::new(false),
    fork_alone: AtomicBool::new(false),
    fork_skipped: AtomicBool::new(false),
    fork_checked: AtomicU64::new(0),
    v: core::cell::UnsafeCell::new(Vec::new()),
};

/// A futex lock around the attach table: 0 free, 1 held, 2 held with
/// sleepers (process-private memory, not shared with anyone).
pub(super) struct AttsLock {
    pub(super) word: AtomicU32,
    /// set by [`fork_prepare`] once it holds the lock, read (and cleared)
    /// by the child's handler, which is registered apart from the other
    /// two and could run without it (a fork while [`install_fork_hook`]
    /// runs)
    pub(super) fork_held: AtomicBool,
    /// set by [`fork_prepare`] when the process has one thread and the
    /// table is free: the table is then not locked around the `fork`, so
    /// that the parent writes nothing on this page after it (its first
    /// write would be a copy-on-write fault in every `fork`)
    pub(super) fork_alone: AtomicBool,
    /// set by [`fork_prepare`] when this thread held the table already
    /// (a `fork` in a signal handler that interrupted it there): neither
    /// handler touches the table then
    pub(super) fork_skipped: AtomicBool,
    /// bit `i`: the `i`-th segment of [`per_segment`] passed [`ctl()`] in
    /// [`fork_prepare`] (before the `fork`; see [`fork_parent`])
    pub(super) fork_checked: AtomicU64,
    pub(super) v: core::cell::UnsafeCell<Vec<Att>>,
}

// SAFETY: the Vec is only reached through an `AttsGuard`, which exists
// only while `word` is held (mutual exclusion); `Att` is Send.
unsafe impl Sync for AttsLock {}

impl AttsLock {
    fn addr(&self) -> usize {
        &self.word as *const AtomicU32 as usize
    }

    /// Takes the lock; `false` (not taken) when this thread holds it
    /// already: a signal handler that interrupted its own thread inside
    /// the table, which cannot run again before the handler returns, so
    /// that waiting would be for ever (the thread's held-lock list,
    /// [`crate::sync::held`], noted before the compare-and-swap). Also
    /// `false` in the windows the list has (between the note and the
    /// compare-and-swap, between the release and the forgetting, while
    /// a sibling thread takes the lock): a bounded answer, never the
    /// table shared.
    #[must_use]
    pub(super) fn raw_lock(&self) -> bool {
        if crate::sync::held::holds(self.addr()) {
            return false;
        }
        crate::sync::held::note(self.addr());
        if self
            .word
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return true;
        }
        loop {
            // Mark contended, then sleep while it stays so (not noted while
            // asleep: a handler that interrupts the sleep waits for the
            // sibling that holds the table, as the thread did).
            if self.word.swap(2, Ordering::Acquire) == 0 {
                return true;
            }
            crate::sync::held::forget(self.addr());
            let _ = crate::sync::futex_wait(&self.word, 2, None);
            crate::sync::held::note(self.addr());
        }
    }

    pub(super) fn raw_unlock(&self) {
        if self.word.swap(0, Ordering::Release) == 2 {
            crate::sync::futex_wake(&self.word, 1);
        }
        crate::sync::held::forget(self.addr());
    }

    /// The table, for a caller that holds the lock without a guard (the
    /// fork handlers, between prepare and parent/child).
    ///
    /// # Safety
    /// The caller holds the lock (took it with `raw_lock`) and makes no
    /// other reference to the table meanwhile.
    #[allow(clippy::mut_from_ref)]
    pub(super) unsafe fn held(&self) -> &mut Vec<Att> {
        // SAFETY: per the contract, we hold the lock: exclusive access.
        unsafe { &mut *self.v.get() }
    }
}

/// The attach table, locked.
pub(super) struct AttsGuard;

impl core::ops::Deref for AttsGuard {
    type Target = Vec<Att>;
    fn deref(&self) -> &Vec<Att> {
        // SAFETY: an AttsGuard exists only while ATTS is held by us.
        unsafe { &*ATTS.v.get() }
    }
}

impl core::ops::DerefMut for AttsGuard {
    fn deref_mut(&mut self) -> &mut Vec<Att> {
        // SAFETY: an AttsGuard exists only while ATTS is held by us, and
        // `&mut self` makes this the only reference through it.
        unsafe { &mut *ATTS.v.get() }
    }
}

impl Drop for AttsGuard {
    fn drop(&mut self) {
        ATTS.raw_unlock();
    }
}

/// The attach table, locked; `None` in a signal handler that interrupted
/// its own thread inside it ([`AttsLock::raw_lock`]): the table is then
/// half-changed under the handler, which must not read or change it.
/// The control calls go on without it (no sweep: counts as they stand,
/// as beside a stopped holder); `shmat` and `shmdt`, which must change
/// it, answer `EDEADLK` (docs/shm.md, "A signal handler's call").
pub(super) fn atts() -> Option<AttsGuard> {
    // (Not `then_some(AttsGuard)`: that makes the guard whatever the
    // answer, and its drop would release the lock this thread's
    // interrupted call holds.)
    if ATTS.raw_lock() {
        Some(AttsGuard)
    } else {
        None
    }
}

/// True when `a` and `b` are the same segment (ids alone may repeat
/// across the namespaces one process uses).
pub(super) fn same(a: &Obj, b: &Obj) -> bool {
    a.file_id() == b.file_id()
}

/// Repairs after a lock holder died: a slot half-claimed (pid set, count
/// zero) is freed. Everything else is single-word stores, already whole.
pub(super) fn repair(obj: &Obj) {
    crate::debug_report!("segment {}: repaired after a lock holder died", obj.id);
    for s in slots_used(obj).unwrap_or_default() {
        if s.count.load(Ordering::Relaxed) == 0 {
            s.owner().clear();
        }
    }
}

/// How many attachments of `obj` this process holds, by its own table.
pub(super) fn local_count(atts: &[Att], obj: &Obj) -> u32 {
    atts.iter().filter(|a| same(&a.obj, obj)).count() as u32
}

/// True when the slot of `o` is this process's: its own, or one a parent
/// made for it at `fork` (start time not known then).
pub(super) fn is_mine(o: Owner, me: Owner) -> bool {
    o.pid == me.pid && (o.start == me.start || o.start == 0)
}

/// This process's slot, if it has one (taking over, with its start time,
/// one its parent made for it at `fork`).
pub(super) fn my_slot(obj: &Obj) -> Result<Option<&Slot>> {
    let me = Owner::me();
    for s in slots_used(obj)? {
        if is_mine(s.owner().load(), me) {
            s.owner().claim(me);
            return Ok(Some(s));
        }
    }
    Ok(None)
}

/// Adds `delta` attachments to this process's slot.
pub(super) fn add_mine(obj: &Obj, delta: u32) -> Result<()> {
    match my_slot(obj)? {
        Some(s) => {
            let n = s.count.load(Ordering::Relaxed).saturating_add(delta);
            s.count.store(n, Ordering::Relaxed);
            Ok(())
        }
        None => add_slot(obj, Owner::me(), delta),
    }
}

/// Claims a free slot (or a new one below [`NSLOTS`]) for `o` with `n`
/// attachments; `ENOMEM` when the table is full.
pub(super) fn add_slot(obj: &Obj, o: Owner, n: u32) -> Result<()> {
    let used = slots_used(obj)?;
    let free = used
        .iter()
        .find(|s| s.owner().load().is_none() || s.count.load(Ordering::Relaxed) == 0);
    let s = match free {
        Some(s) => s,
        None if used.len() < NSLOTS => {
            let hw = used.len();
            // A slot never used before may lie in a page the file does
            // not hold yet: storage first (full file system: ENOMEM).
            let off = slot_off(hw);
            // (The file's first page was reserved at creation.)
            if crate::ns::HEADER_LEN + off + size_of::<Slot>() > crate::ns::CREATE_RESERVE as usize
            {
                obj.region().populate(off, size_of::<Slot>())?;
            }
            let a = area(obj)?;
            a.hdr.hiwater.store(hw as u32 + 1, Ordering::Relaxed);
            &a.slots[hw]
        }
        // Full: the slots of processes positively dead are taken back
        // (a child that exits without a library call leaves its slot to
        // the next sweep, and a process that only forks never sweeps: its
        // 512th child would otherwise go uncounted), all of them in one
        // pass, so that the next few hundred claims find one at once.
        None => reclaim_dead(used).ok_or(Errno::ENOMEM)?,
    };
    // Count 0 while the owner changes: a holder killed in between leaves
    // a half-claimed slot, which `repair` frees.
    s.count.store(0, Ordering::Relaxed);
    s.owner().claim(o);
    s.count.store(n, Ordering::Relaxed);
    Ok(())
}

/// Frees the slots in `used` whose owners are positively dead (pid and
/// start time, [`Check::Full`]; never this process's), under the
/// segment's lock; the first one freed, if any.
fn reclaim_dead(used: &[Slot]) -> Option<&Slot> {
    let mut first = None;
    for s in used {
        let o = s.owner().load();
        if !o.is_none() && o.gone(Check::Full) {
            s.count.store(0, Ordering::Relaxed);
            s.owner().clear();
            first = first.or(Some(s));
        }
    }
    first
}

/// `nattch` as the slots stand, read without the lock (see [`with_obj`]):
/// slots of processes positively dead are not counted (nor cleared: that
/// needs the lock).
pub(super) fn counted(obj: &Obj) -> u64 {
    slots_used(obj)
        .unwrap_or_default()
        .iter()
        .filter(|s| {
            let o = s.owner().load();
            !o.is_none() && !o.gone(Check::Full)
        })
        .map(|s| s.count.load(Ordering::Relaxed) as u64)
        .fold(0u64, |a, b| a.saturating_add(b))
}
