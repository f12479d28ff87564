//! Attach accounting: this process's attach table ([`ATTS`]) and the
//! per-process attach slots of each segment.

use super::*;

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
    pub(super) v: core::cell::UnsafeCell<Vec<Att>>,
}

// SAFETY: the Vec is only reached through an `AttsGuard`, which exists
// only while `word` is held (mutual exclusion); `Att` is Send.
unsafe impl Sync for AttsLock {}

impl AttsLock {
    pub(super) fn raw_lock(&self) {
        if self
            .word
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        loop {
            // Mark contended, then sleep while it stays so.
            if self.word.swap(2, Ordering::Acquire) == 0 {
                return;
            }
            let _ = crate::sync::futex_wait(&self.word, 2, None);
        }
    }

    pub(super) fn raw_unlock(&self) {
        if self.word.swap(0, Ordering::Release) == 2 {
            crate::sync::futex_wake(&self.word, 1);
        }
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

pub(super) fn atts() -> AttsGuard {
    ATTS.raw_lock();
    AttsGuard
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
    for i in 0..hiwater(obj) {
        if let Ok(s) = slot(obj, i) {
            if s.count.load(Ordering::Relaxed) == 0 {
                s.pid.store(0, Ordering::Relaxed);
            }
        }
    }
}

/// How many attachments of `obj` this process holds, by its own table.
pub(super) fn local_count(atts: &[Att], obj: &Obj) -> u32 {
    atts.iter().filter(|a| same(&a.obj, obj)).count() as u32
}

/// True when slot `(pid, start)` is this process's: its own, or one a
/// parent made for it at `fork` (start time not known then).
pub(super) fn is_mine(pid: i32, start: u64, me: i32, my_st: u64) -> bool {
    pid == me && (start == my_st || start == 0)
}

/// This process's slot, if it has one (taking over, with its start time,
/// one its parent made for it at `fork`).
pub(super) fn my_slot(obj: &Obj) -> Result<Option<&Slot>> {
    let (me, my_st) = (my_pid(), my_start());
    for i in 0..hiwater(obj) {
        let s = slot(obj, i)?;
        if is_mine(
            s.pid.load(Ordering::Relaxed),
            s.start.load(Ordering::Relaxed),
            me,
            my_st,
        ) {
            s.start.store(my_st, Ordering::Relaxed);
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
        None => add_slot(obj, my_pid(), my_start(), delta),
    }
}

/// Claims a free slot (or a new one below [`NSLOTS`]) for `(pid, start)`
/// with `n` attachments; `ENOMEM` when the table is full.
pub(super) fn add_slot(obj: &Obj, pid: i32, start: u64, n: u32) -> Result<()> {
    let mut free = None;
    let hw = hiwater(obj);
    for i in 0..hw {
        let s = slot(obj, i)?;
        if s.pid.load(Ordering::Relaxed) == 0 || s.count.load(Ordering::Relaxed) == 0 {
            free = Some(s);
            break;
        }
    }
    let s = match free {
        Some(s) => s,
        None if hw < NSLOTS => {
            // A slot never used before may lie in a page the file does
            // not hold yet: storage first (full file system: ENOMEM).
            let off = SLOTS_OFF + hw * SLOT_LEN;
            // (The file's first page was reserved at creation.)
            if crate::ns::HEADER_LEN + off + SLOT_LEN > crate::ns::CREATE_RESERVE as usize {
                obj.region().populate(off, SLOT_LEN)?;
            }
            let c: &ShmCtl = obj.at(0)?;
            c.hiwater.store(hw as u32 + 1, Ordering::Relaxed);
            slot(obj, hw)?
        }
        None => return Err(Errno::ENOMEM),
    };
    s.count.store(0, Ordering::Relaxed);
    s.start.store(start, Ordering::Relaxed);
    s.pid.store(pid, Ordering::Relaxed);
    s.count.store(n, Ordering::Relaxed);
    Ok(())
}

/// `nattch` as the slots stand, read without the lock (see [`with_obj`]):
/// slots of processes positively dead are not counted (nor cleared: that
/// needs the lock).
pub(super) fn counted(obj: &Obj) -> u64 {
    (0..hiwater(obj))
        .filter_map(|i| slot(obj, i).ok())
        .filter(|s| {
            let pid = s.pid.load(Ordering::Relaxed);
            pid != 0 && alive(pid, s.start.load(Ordering::Relaxed))
        })
        .map(|s| s.count.load(Ordering::Relaxed) as u64)
        .fold(0u64, |a, b| a.saturating_add(b))
}
