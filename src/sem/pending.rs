//! The pending queue: sleeping `semop` calls in wait slots, tried again
//! (oldest first) after every change, completed on their sleepers' behalf;
//! enqueueing, sleeping (an event word, `crate::sync::event`), finishing
//! and cancelling.

use super::*;
use crate::sync::lock::LockState;

/// Records `now` (seconds) as the set's `sem_otime`, written only when it
/// differs (the line is shared by every process using the set). The
/// lock-free path writes it too, without the lock: two operations racing
/// across a second boundary may leave the earlier second, which the next
/// operation puts right (the kernel's resolution is a second).
#[inline]
pub(super) fn note_otime(h: &SetHdr, now: i64) {
    if h.otime.load(Ordering::Relaxed) != now {
        h.otime.store(now, Ordering::Relaxed);
    }
}

/// How often a sleeper wakes to look for dead processes (undo, lost wakes)
/// at first; each look that changes nothing doubles the period, up to
/// [`MAX_TICK`], and a wake by another process starts it over. (A sleeper
/// that keeps waking costs CPU for nothing: 20 looks a second were ~5 ms
/// of CPU per second per idle sleeper.)
pub(super) const TICK: Duration = Duration::from_millis(50);
/// The longest period between a sleeper's looks around: how long, at
/// most, the undo of a process killed while its sleepers had been idle
/// for a while takes to reach them when nobody else touches the set.
pub(super) const MAX_TICK: Duration = Duration::from_millis(800);
/// How long a waiter spins (yielding the CPU now and then) before it sleeps.
pub(super) const SPIN: Duration = Duration::from_micros(20);

// ---------------------------------------------------------------------------
// The kernel's perform_atomic_semop and update_queue.

pub(super) enum Try {
    Done,
    Block(usize),
}

/// Tries `ops` against the current values (plus what `txn` already holds),
/// recording the writes in `txn`. Nothing is written to the set.
#[inline(always)]
pub(super) fn try_ops(
    v: &View<'_>,
    ops: &[SemOp],
    undo: Option<usize>,
    txn: &mut Txn,
) -> Result<Try> {
    for (i, op) in ops.iter().enumerate() {
        let n = op.num as usize;
        if n >= v.s.nsems {
            return Err(Errno::EFBIG);
        }
        let cur = match txn.lookup(E_VAL, n) {
            Some(x) => x,
            None => v.val(n)?,
        };
        if !can_go(cur, op.op) {
            return Ok(Try::Block(i));
        }
        if op.op == 0 {
            continue;
        }
        let r = cur + op.op as i32;
        if r > SEMVMX {
            return Err(Errno::ERANGE);
        }
        if op.flg & SEM_UNDO != 0 {
            let u = undo.ok_or(Errno::EIO)?;
            // Not over an adjustment its process owes (`EBUSY`: a grant
            // skips this sleeper, a call lets the lock go).
            wait_owed(v, u, n)?;
            let ai = u * v.s.nsems + n;
            let a = match txn.lookup(E_ADJ, ai) {
                Some(x) => x,
                None => v.adj(u, n)?.load(Ordering::Relaxed) as i32,
            } - op.op as i32;
            if !(-SEMAEM - 1..=SEMAEM).contains(&a) {
                return Err(Errno::ERANGE);
            }
            txn.push(ent(E_ADJ, ai, a));
        }
        txn.push(ent(E_VAL, n, r));
    }
    Ok(Try::Done)
}

/// Records `pid` as the last to operate on each semaphore of `ops`, and
/// `now` (seconds) as the set's `sem_otime`.
#[inline]
pub(super) fn mark_done(v: &View<'_>, ops: &[SemOp], pid: i32, now: i64) {
    for op in ops {
        if let Ok(s) = v.sem(op.num as usize) {
            let _ = s.put_pid(v.o, pid);
        }
    }
    note_otime(v.hdr(), now);
    // This process, running now, changed the set: a sleeper's likely waker.
    v.o.note_peer();
}

/// The sleeper slots that may be in use, in order: a slot whose header
/// lies (even in part) in a hole of the file was never written, so it is
/// free, and is skipped without being read — on tmpfs reading a hole
/// allocates a page (one per slot: the slots are ~4 KiB apart), ~100 us
/// for an `IPC_RMID` of a set nobody ever slept on, and a `SIGBUS` when the
/// file system is full. Found with `lseek(SEEK_DATA/SEEK_HOLE)`, two calls
/// per run of written pages past the first page (which is data: the
/// header's), and a last `SEEK_DATA` that finds none (`ENXIO`); a file
/// system without them reports the whole file as data (every slot is
/// read, as before).
///
/// Before all that, one `fstatat` of the set's number: when the file holds
/// exactly the pages its creation reserved, with its tail's once that is
/// reserved ([`SetHdr::tail`]), and no other (`Obj::only_reserved`,
/// [`Resv::pages`]), no page past them was ever
/// written (a write to a hole allocates one), so only the slots whose
/// header lies in reserved pages can be in use, and they are read without
/// a descriptor and without `lseek` — the case of every set nobody slept
/// on past its first page, and of `IPC_RMID` in particular: `openat`,
/// `fstat`, the failing `SEEK_DATA` and `close` (4 system calls, ~4 us
/// here) become one `fstatat` (docs/sem.md, issue 14). `IPC_RMID` makes
/// not even that one: it hands the status its unlink check takes
/// ([`wslots_used_in`], `Ns::remove_walked`).
pub(super) fn wslots_used<'a>(v: &View<'a>) -> impl Iterator<Item = usize> + 'a {
    wslots_used_in(v, None).1
}

/// [`wslots_used`], from `st` when given: a status of the set's number
/// that its caller took and checked (`IPC_RMID`'s, by `Ns::remove_walked`)
/// instead of an `fstatat` of its own. Also says whether the quick count
/// applied (false: the walk opens the file and asks `lseek` as it goes).
pub(super) fn wslots_used_in<'a>(
    v: &View<'a>,
    st: Option<&libc::stat>,
) -> (bool, impl Iterator<Item = usize> + 'a) {
    use std::os::fd::AsRawFd;
    let (runs, nruns) = Resv::of(&v.s).pages(v.tail_reserved());
    let reserved: u64 = runs[..nruns].iter().map(|(a, b)| b - a).sum();
    let quick = match st {
        Some(st) => v.o.only_reserved_in(st, reserved),
        None => v.o.only_reserved(reserved),
    };
    let in_reserved = move |lo: i64, hi: i64| {
        let (lo, hi) = (lo as u64 / 4096, (hi as u64).div_ceil(4096));
        runs[..nruns].iter().any(|&(a, b)| a <= lo && hi <= b)
    };
    // A descriptor for the walk (none: every slot is read, as on a file
    // system without SEEK_DATA).
    let file = if quick { None } else { v.o.file().ok() };
    let fd = file.as_ref().map_or(-1, |f| f.as_raw_fd());
    let base = (HEADER_LEN + v.s.off_wait()) as i64;
    let wsz = v.s.wsz() as i64;
    let nwait = v.s.nwait;
    let region = v.r;
    let mut i = 0usize;
    // The end of the data run around slot i. The file's first page is
    // data without asking: it holds the set's header (written at
    // creation, within the storage the namespace reserved then), so the
    // slots whose header lies in it are read without a `SEEK_DATA` and a
    // `SEEK_HOLE` that could only say so (two system calls less per
    // `IPC_RMID`; were it a hole after all, the slot would read as zeros:
    // free, as on a file system without `SEEK_DATA`).
    let mut run_end = (crate::ns::CREATE_RESERVE as i64).min(4096);
    let walk = core::iter::from_fn(move || {
        // Kept open for the walk (moved in).
        let _file = &file;
        if quick {
            while i < nwait {
                let hdr = base + i as i64 * wsz;
                let k = i;
                i += 1;
                if in_reserved(hdr, hdr + size_of::<WaitHdr>() as i64) {
                    return Some(k);
                }
            }
            return None;
        }
        while i < nwait {
            let hdr = base + i as i64 * wsz;
            if hdr + size_of::<WaitHdr>() as i64 > run_end {
                // SAFETY: lseek on our object file's descriptor; it only
                // moves the (unused) file offset.
                let d = unsafe { libc::lseek(fd, hdr, libc::SEEK_DATA) };
                if d < 0 {
                    if Errno::last() == Errno::ENXIO {
                        return None; // no data from here on
                    }
                    if fd < 0 && !region.resident(hdr as usize - HEADER_LEN) {
                        // No descriptor (the set's names are gone): a
                        // page not in memory was never written.
                        i += 1;
                        continue;
                    }
                    // No SEEK_DATA here: every slot is data.
                    run_end = if fd < 0 {
                        hdr + size_of::<WaitHdr>() as i64
                    } else {
                        i64::MAX
                    };
                    continue;
                }
                // SAFETY: as above.
                let h = unsafe { libc::lseek(fd, d, libc::SEEK_HOLE) };
                if h < 0 {
                    run_end = i64::MAX;
                    continue;
                }
                run_end = h;
                if d > hdr {
                    // Skip the slots whose header starts in the hole.
                    let skip = (d - hdr + wsz - 1) / wsz;
                    i = i.saturating_add(skip as usize);
                    continue;
                }
                if hdr + size_of::<WaitHdr>() as i64 > run_end {
                    i += 1; // the header ends in a hole: never written
                    continue;
                }
            }
            let k = i;
            i += 1;
            return Some(k);
        }
        None
    });
    (quick, walk)
}

pub(super) fn recount(v: &View<'_>) {
    recount_in(v, wslots_used(v));
}

/// [`recount`] over the slots `used` (those [`wslots_used`] gave).
pub(super) fn recount_in(v: &View<'_>, used: impl Iterator<Item = usize>) {
    let n = used
        .filter(|&i| {
            v.wslot(i)
                .map(|w| w.state.load(Ordering::Relaxed) & 0xff == W_WAITING)
                .unwrap_or(false)
        })
        .count();
    v.hdr().waiting.store(n as u32, Ordering::Relaxed);
}

pub(super) fn free_wslot(v: &View<'_>, i: usize) {
    if let Ok(w) = v.wslot(i) {
        w.pid.store(0, Ordering::Relaxed);
        let h = v.hdr();
        // Before the slot is free (and may be granted again): a later
        // grant's bit is never cleared here.
        if i < 64 && h.granted.load(Ordering::Relaxed) & (1 << i) != 0 {
            h.granted.fetch_and(!(1 << i), Ordering::Relaxed);
        }
        if i < 64 && h.deep.load(Ordering::Relaxed) & (1 << i) != 0 {
            h.deep.fetch_and(!(1 << i), Ordering::SeqCst);
        }
        w.state.store(W_FREE, Ordering::Release);
        h.slot_gen.fetch_add(1, Ordering::Release);
        if h.slot_waiters.load(Ordering::Relaxed) != 0 {
            Event::new(&h.slot_gen, 0).wake_all();
        }
    }
}

/// Retries the sleeping operations, oldest first, after a change; each one
/// that can now complete is performed on its sleeper's behalf and the
/// sleeper woken. Restarts from the oldest after every success.
///
/// This runs after every altering operation while anyone sleeps, and makes
/// no system call at all: a sleeper's liveness is not checked before its
/// grant. A grant to a sleeper that turns out dead is given back when it
/// is found ([`reclaim`], [`release_sleeper`]): the values (and the undo
/// adjustments) return as they were, and the next grant goes on. So a dead
/// process never keeps a release; see docs/sem.md, "A grant to a sleeper
/// that died". Dead sleepers are dropped by the sweeps (reads, an
/// operation that would block and gives up, a sleeper's look-around, a
/// full slot table) and by a granter whose wake found nobody asleep.
pub(super) fn update_queue(v: &View<'_>) {
    match v.hdr().waiting.load(Ordering::Relaxed) {
        0 => return,
        1 if update_lone(v) => return,
        _ => {}
    }
    // Buffers kept by the thread (taken, so a nested call in a signal
    // handler gets its own): no allocation, and no 1 KiB of zeroes, per
    // grant.
    let (mut ops, mut order) = ManuallyDrop::into_inner(BUFS.with(|b| b.take()));
    update_queue_with(v, &mut ops, &mut order);
    // Kept only by a thread that frees them at exit.
    if arm(Slot::SemBufs, bufs_at_exit) {
        let old = BUFS.with(|b| b.replace(ManuallyDrop::new((ops, order))));
        // (Empty, unless a signal handler's call in between kept its own.)
        drop(ManuallyDrop::into_inner(old));
    }
}

/// Claims sleeper slot `w` for its grant (or its drop) under the lock:
/// `W_WAITING` → `W_CLAIMED` by compare-and-swap, so that a sleeper
/// giving up without the lock (`cancel`) either is skipped by the granter
/// or waits for its commit — never both. The state claimed from (to put
/// back if the commit fails); `None` when the slot was not waiting.
#[inline]
fn claim_waiting(w: &WaitHdr) -> Option<u32> {
    let st = w.state.load(Ordering::Acquire);
    (st & 0xff == W_WAITING
        && w.state
            .compare_exchange(
                st,
                (st & !0xff) | W_CLAIMED,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok())
    .then_some(st)
}

/// [`update_queue`] when one sleeper waits (a ping-pong's, a mutex's
/// waiter) on one operation without `SEM_UNDO`: what the general scan
/// does with it, without the thread's buffers, the sort or a second
/// round. `false` when the sleeper is not such (the general scan decides).
#[inline]
fn update_lone(v: &View<'_>) -> bool {
    // Sleepers take the lowest free slot, and the count is exact under
    // the lock: the one waiting is the first found (a stale count is put
    // right below, as the general scan does).
    let found = (0..v.s.nwait.min(NWAIT)).find_map(|i| {
        v.wslot(i)
            .ok()
            // **SeqCst**: as the general scan (`fast::self_serve`).
            .filter(|w| w.state.load(Ordering::SeqCst) & 0xff == W_WAITING)
            .map(|w| (i, w))
    });
    let Some((i, w)) = found else {
        return false;
    };
    if w.undo.load(Ordering::Relaxed) >= 0 || w.nsops.load(Ordering::Relaxed) != 1 {
        return false;
    }
    let Ok(x) = v.wop(i, 0) else {
        return false;
    };
    let ops = [SemOp::unpack(x.load(Ordering::Relaxed))];
    let mut txn = Txn::default();
    let r = try_ops(v, &ops, None, &mut txn);
    match r {
        Ok(Try::Block(b)) => {
            w.blocking.store(b as u32, Ordering::Relaxed);
            return true;
        }
        Err(Errno::EBUSY) => return true, // a stopped claimant's release grants
        _ => {}
    }
    // Claimed first, as in the general scan.
    let claimed = claim_waiting(w);
    grant_pause(GRANT_CLAIMED);
    let done = claimed.is_none()
        || match r {
            Ok(Try::Done) => {
                txn.push(ent(E_DONE, i, 0));
                let ok = txn.commit(v).is_ok();
                grant_pause(GRANT_COMMITTED);
                if ok {
                    mark_done(v, &ops, w.pid.load(Ordering::Relaxed), now_secs());
                }
                ok
            }
            Err(e) => apply(v, ent(E_DONE, i, e as i32)).is_ok(),
            Ok(Try::Block(_)) => false,
        };
    if let (Some(st), false) = (claimed, done) {
        w.state.store(st, Ordering::Release);
    }
    let left = u32::from(!done);
    if v.hdr().waiting.load(Ordering::Relaxed) != left {
        v.hdr().waiting.store(left, Ordering::Relaxed);
    }
    true
}

/// A point of a grant where a unit test's granter stops itself
/// (`multi::PAUSE_AT`, SIGSTOP, once): [`GRANT_CLAIMED`] after its claim
/// of the sleeper's slot, [`GRANT_COMMITTED`] after its commit.
#[inline(always)]
fn grant_pause(n: u32) {
    multi::pause(n);
}
/// [`grant_pause`]'s points (past `multi`'s own).
pub(super) const GRANT_CLAIMED: u32 = 101;
pub(super) const GRANT_COMMITTED: u32 = 102;

thread_local! {
    /// [`update_queue`]'s buffers: a sleeper's operations, and the
    /// waiting slots as (ticket, index).
    /// No destructor (whose registration would allocate:
    /// `os::thread_exit`): [`bufs_at_exit`] frees them.
    static BUFS: core::cell::Cell<ManuallyDrop<Bufs>> =
        const { core::cell::Cell::new(ManuallyDrop::new((Vec::new(), Vec::new()))) };
}
type Bufs = (Vec<SemOp>, Vec<(u64, usize)>);
const _: () = assert!(!core::mem::needs_drop::<core::cell::Cell<ManuallyDrop<Bufs>>>());

use crate::os::thread_exit::{arm, Slot};
use core::mem::ManuallyDrop;

/// Frees [`BUFS`] as the thread exits.
fn bufs_at_exit() {
    let _ = BUFS.try_with(|b| drop(ManuallyDrop::into_inner(b.take())));
}

fn update_queue_with(v: &View<'_>, ops: &mut Vec<SemOp>, q: &mut Vec<(u64, usize)>) {
    for _round in 0..=v.s.nwait {
        // The waiting slots by FIFO ticket (nwait <= NWAIT: the buffer's
        // allocation is made once per thread).
        // Sleepers take the lowest free slot, and the count is exact under
        // the lock, so the scan stops at the last one. (Each slot is on its
        // own page: scanning all 64 cost more than the rest together.) A
        // count left short by a process killed inside `enqueue` is put
        // right by the next sweep, at the latest a sleeper's next tick.
        let want = v.hdr().waiting.load(Ordering::Relaxed) as usize;
        q.clear();
        for i in 0..v.s.nwait.min(NWAIT) {
            if q.len() >= want {
                break;
            }
            let Ok(w) = v.wslot(i) else { continue };
            // **SeqCst**: pairs with a self-serving sleeper's return to
            // waiting (`fast::self_serve`).
            if w.state.load(Ordering::SeqCst) & 0xff == W_WAITING {
                q.push((w.ticket.load(Ordering::Relaxed), i));
            }
        }
        let n = q.len();
        q.sort_unstable();
        let mut restart = false;
        // Slots of `q` that stop waiting in this round (granted, failed or
        // dropped): the count afterwards is `n - finished`, without a
        // scan of the table.
        let mut finished = 0;
        for &(_, i) in q.iter() {
            let Ok(w) = v.wslot(i) else { continue };
            let mut txn = Txn::default();
            let undo = match w.undo.load(Ordering::Relaxed) {
                u if u >= 0 && (u as usize) < v.s.nundo => Some(u as usize),
                _ => None,
            };
            // Its undo slot no longer its own: its process died, and a
            // sweep of dead undo holders (positive evidence only; one that
            // did not look at sleepers) freed the slot before this sleeper
            // was dropped. A grant now would write its adjustments into a
            // slot that is free (lost) or another process's, and
            // `release_sleeper` could not give it back: a unit lost for
            // good (t_chaos: two-semaphore SEM_UNDO guards left at 0). The
            // sleeper is dropped instead, as its death deserves.
            if undo.is_some_and(|u| {
                !v.uslot(u)
                    .is_ok_and(|us| us.owner().load() == w.owner().load())
            }) {
                if claim_waiting(w).is_some() {
                    free_wslot(v, i);
                }
                finished += 1;
                continue;
            }
            let r = v
                .wops_into(i, ops)
                .and_then(|()| try_ops(v, ops, undo, &mut txn));
            if let Ok(Try::Block(b)) = r {
                w.blocking.store(b as u32, Ordering::Relaxed);
                continue;
            }
            if let Err(Errno::EBUSY) = r {
                continue; // a claimant stopped: its release grants (`fast`)
            }
            // Granted or failed: claim the slot first.
            let Some(st) = claim_waiting(w) else {
                finished += 1;
                continue;
            };
            grant_pause(GRANT_CLAIMED);
            match r {
                Ok(Try::Block(_)) => {}
                Ok(Try::Done) => {
                    let pid = w.pid.load(Ordering::Relaxed);
                    txn.push(ent(E_DONE, i, 0));
                    let committed = txn.commit(v).is_ok();
                    grant_pause(GRANT_COMMITTED);
                    if committed {
                        finished += 1;
                        mark_done(v, ops, pid, now_secs());
                        if ops.iter().any(|o| o.op != 0) {
                            restart = true;
                            break;
                        }
                    } else {
                        w.state.store(st, Ordering::Release);
                    }
                }
                Err(e) => {
                    if apply(v, ent(E_DONE, i, e as i32)).is_ok() {
                        finished += 1;
                    } else {
                        w.state.store(st, Ordering::Release);
                    }
                }
            }
        }
        // Also puts right a count that was stale (a scribble), or every
        // operation would scan the table.
        let left = (n - finished) as u32;
        if v.hdr().waiting.load(Ordering::Relaxed) != left {
            v.hdr().waiting.store(left, Ordering::Relaxed);
        }
        if !restart {
            break;
        }
    }
}

/// Gives back the grants whose sleepers are gone (by `check`) before
/// collecting them ([`release_sleeper`]); the lock holder only. Looks only
/// at the slots [`SetHdr::granted`] names (none: no system call); true
/// when a value changed (then run [`update_queue`]).
pub(super) fn reclaim(v: &View<'_>, check: Check) -> bool {
    let h = v.hdr();
    let mut m = h.granted.load(Ordering::Relaxed);
    let mut changed = false;
    while m != 0 {
        let i = m.trailing_zeros() as usize;
        m &= m - 1;
        let done = v
            .wslot(i)
            .map(|w| (w.state.load(Ordering::Acquire) & 0xff == W_DONE).then(|| w.owner()));
        match done {
            Ok(Some(o)) => {
                if o.load().gone(check) {
                    changed |= release_sleeper(v, i);
                }
            }
            // Collected, or a stale bit (an older version's free).
            _ => {
                h.granted.fetch_and(!(1 << i), Ordering::Relaxed);
            }
        }
    }
    changed
}

/// Frees sleeper slot `i`, whose owner is gone (the lock holder only). A
/// grant it had not collected is undone in the same transaction: each
/// operation's change taken back from its value (clamped to
/// 0..=SEMVMX, as the kernel's `exit_sem` clamps) and, with `SEM_UNDO`,
/// from its adjustment — as if the sleeper had died before the grant,
/// when the kernel would have dropped it from the queue. True when a
/// value changed.
pub(super) fn release_sleeper(v: &View<'_>, i: usize) -> bool {
    let Ok(w) = v.wslot(i) else {
        return false;
    };
    let mut ops = Vec::new();
    if w.state.load(Ordering::Acquire) & 0xff != W_DONE
        || w.result.load(Ordering::Relaxed) != 0
        || v.wops_into(i, &mut ops).is_err()
    {
        free_wslot(v, i);
        return false;
    }
    // Its undo slot, while it still holds the dead sleeper's adjustments:
    // once applied and freed (a sweep of undo holders came first), they
    // already took back the operations with `SEM_UNDO`, which are then
    // left alone here.
    let who = w.owner().load();
    let undo = match w.undo.load(Ordering::Relaxed) {
        u if u >= 0 && (u as usize) < v.s.nundo => {
            Some(u as usize).filter(|&u| v.uslot(u).is_ok_and(|us| us.owner().load() == who))
        }
        _ => None,
    };
    let mut txn = Txn::default();
    let mut changed = false;
    for op in ops.iter().filter(|o| o.op != 0) {
        if op.flg & SEM_UNDO != 0 && undo.is_none() {
            continue;
        }
        let n = op.num as usize;
        let cur = match txn.lookup(E_VAL, n) {
            Some(x) => x,
            None => match v.val(n) {
                Ok(x) => x,
                Err(Errno::EBUSY) => return false, // a claimant stopped: later
                Err(_) => continue,
            },
        };
        txn.push(ent(E_VAL, n, (cur - op.op as i32).clamp(0, SEMVMX)));
        changed = true;
        if let (true, Some(u)) = (op.flg & SEM_UNDO != 0, undo) {
            // Its process is gone: an adjustment it owed, paid first.
            pay_owed(v, u, Some(n));
            let ai = u * v.s.nsems + n;
            let a = match txn.lookup(E_ADJ, ai) {
                Some(x) => x,
                None => match v.adj(u, n) {
                    Ok(a) => a.load(Ordering::Relaxed) as i32,
                    Err(_) => continue,
                },
            };
            txn.push(ent(
                E_ADJ,
                ai,
                (a + op.op as i32).clamp(-SEMAEM - 1, SEMAEM),
            ));
        }
    }
    txn.push(ent(E_DONE, i, DONE_FREE));
    crate::debug_report!(
        "semaphore set {}: a grant to dead pid {} given back",
        v.o.id,
        w.pid.load(Ordering::Relaxed)
    );
    txn.commit_journaled(v).is_ok() && changed
}

/// A granter's wake of the sleeper whose state word lies at `addr` woke
/// nobody, though the sleeper had announced its sleep (`W_SLEEP`): it
/// may have died asleep, with the grant just made to it. When its slot
/// still holds the grant and `kill(pid, 0)` says it is gone (positive
/// evidence only: a live or recycled pid keeps it), the grant is given
/// back and the queue retried at once. (A live sleeper between its
/// announcement and its `FUTEX_WAIT`, or woken by a signal just then,
/// costs one `kill`.)
pub(super) fn unwoken(o: &Obj, addr: usize) {
    let Ok(v) = View::new(o) else {
        return;
    };
    let Ok(w0) = v.wslot(0) else {
        return;
    };
    let base = &w0.state as *const AtomicU32 as usize;
    let Some(off) = addr.checked_sub(base) else {
        return;
    };
    if off % v.s.wsz() != 0 {
        return;
    }
    let Ok(w) = v.wslot(off / v.s.wsz()) else {
        return;
    };
    if w.state.load(Ordering::Acquire) & 0xff != W_DONE || !w.owner().load().gone(Check::Quick) {
        return;
    }
    if let Ok(_g) = lock_by(o, &Deadline::NEVER.for_lock(true)) {
        if !o.is_removed() && reclaim(&v, Check::Quick) {
            update_queue(&v);
        }
    }
}

/// Before sleeper slot `mine` sleeps: a grant that another sleeper has
/// not collected yet may be to a dead process, holding what this one
/// waits for. No system call when there is none, nor for a grant none of
/// whose operations is on the semaphore this one blocks on (giving it back
/// cannot let this one go on now: in a ping-pong on one CPU the peer's
/// grant is always uncollected when this one goes to sleep — the peer has
/// not run since — and is on the other semaphore); otherwise one
/// `kill(pid, 0)` per such grant, and the lock only when one is gone. A
/// grant whose return would help only through a third sleeper is found by
/// the first look around ([`TICK`]: no sleep is without a timer while a
/// grant is uncollected, `go_deep`).
fn reclaim_others(o: &Obj, v: &View<'_>, mine: usize) {
    let m = v.hdr().granted.load(Ordering::Relaxed) & !1u64.checked_shl(mine as u32).unwrap_or(0);
    if m == 0 {
        return;
    }
    let on = blocking_sem(v, mine);
    let bits = core::iter::successors(Some(m), |x| Some(x & (x - 1)).filter(|x| *x != 0));
    let dead = bits.map(|x| x.trailing_zeros() as usize).any(|i| {
        v.wslot(i).is_ok_and(|w| {
            w.state.load(Ordering::Acquire) & 0xff == W_DONE
                && on.map_or(true, |n| has_op_on(v, i, n))
                && w.owner().load().gone(Check::Quick)
        })
    });
    if !dead {
        return;
    }
    if let Ok(_g) = lock_by(o, &Deadline::NEVER.for_lock(true)) {
        if !o.is_removed() && reclaim(v, Check::Quick) {
            update_queue(v);
        }
    }
}

/// The semaphore sleeper slot `i` blocks on (`None` when its words make
/// no sense: shared memory is untrusted).
fn blocking_sem(v: &View<'_>, i: usize) -> Option<u16> {
    let b = v.wslot(i).ok()?.blocking.load(Ordering::Relaxed) as usize;
    Some(SemOp::unpack(v.wop(i, b).ok()?.load(Ordering::Relaxed)).num)
}

/// Whether one of sleeper slot `i`'s operations is on semaphore `num`
/// (`true` when its words make no sense).
fn has_op_on(v: &View<'_>, i: usize, num: u16) -> bool {
    let Ok(w) = v.wslot(i) else {
        return true;
    };
    let n = w.nsops.load(Ordering::Relaxed) as usize;
    if n == 0 || n > v.s.max_ops {
        return true;
    }
    (0..n).any(|k| {
        v.wop(i, k).map_or(true, |x| {
            SemOp::unpack(x.load(Ordering::Relaxed)).num == num
        })
    })
}

/// Wakes the sleepers that sleep without a timer ([`SetHdr::deep`]): each
/// goes back to sleeping with one, and looks again (`go_deep`). Called
/// by whoever is about to change a [`PARKED`] word (with or without the
/// lock), and under the lock by whoever takes a sleeper slot or an undo
/// slot. Costs one load when there are none.
#[inline]
pub(super) fn prewake(v: &View<'_>) {
    let h = v.hdr();
    if h.deep.load(Ordering::SeqCst) == 0 {
        return;
    }
    prewake_all(v, h.deep.swap(0, Ordering::SeqCst));
}

#[cold]
fn prewake_all(v: &View<'_>, mut m: u64) {
    while m != 0 {
        let i = m.trailing_zeros() as usize;
        m &= m - 1;
        if let Ok(w) = v.wslot(i) {
            let old = w.state.fetch_and(!W_DEEP, Ordering::SeqCst);
            if old & W_DEEP != 0 && old & W_SLEEP != 0 {
                Event::new(&w.state, W_SLEEP).wake_all();
            }
        }
    }
}

/// After a look around that changed nothing (the lock held): may sleeper
/// slot `i` now sleep without a timer? Only when no other party's death
/// could be what it waits for, as far as this set shows: it is the only
/// sleeper, no grant to another sleeper is uncollected, and no other
/// process holds an undo slot. Then its slot is marked (`W_DEEP`, its bit
/// in [`SetHdr::deep`]) and its blocking semaphore's word [`PARKED`],
/// checked once more to block: from now on every change of that word
/// (lock-free or locked), a new sleeper and a new undo slot wake it first
/// ([`prewake`]) — so a changer killed between its change and its grant
/// never leaves it asleep, and a party that could die later is never
/// there unseen. (The lock holder's own death: whoever takes over the
/// lock freezes the word to replay or decide, which wakes it too.)
fn go_deep(v: &View<'_>, i: usize) -> bool {
    let h = v.hdr();
    if i >= 64
        || h.waiting.load(Ordering::Relaxed) != 1
        || h.granted.load(Ordering::Relaxed) & !(1u64 << i) != 0
        || h.deep.load(Ordering::Relaxed) & !(1u64 << i) != 0
    {
        return false;
    }
    let others = || {
        v.undo_used().any(|u| {
            v.uslot(u).map_or(true, |us| {
                let o = us.owner().load();
                !o.is_none() && !o.is_me()
            })
        })
    };
    if others() {
        return false;
    }
    let Ok(w) = v.wslot(i) else {
        return false;
    };
    let b = w.blocking.load(Ordering::Relaxed) as usize;
    if b >= w.nsops.load(Ordering::Relaxed) as usize {
        return false;
    }
    let Ok(op) = v
        .wop(i, b)
        .map(|o| SemOp::unpack(o.load(Ordering::Relaxed)))
    else {
        return false;
    };
    let Ok(s) = v.sem(op.num as usize) else {
        return false;
    };
    // Marked before the word is parked (**SeqCst**): whoever sees the
    // word parked sees the mark.
    let st = w.state.fetch_or(W_DEEP, Ordering::SeqCst);
    if st & 0xff != W_WAITING {
        w.state.fetch_and(!W_DEEP, Ordering::SeqCst);
        return false;
    }
    h.deep.fetch_or(1 << i, Ordering::SeqCst);
    // An undo slot is taken without the lock too (a first `SEM_UNDO`
    // operation, `undo::take_slot`: the owner, a fence, then `prewake`):
    // marked, fenced, then the undo slots again — one of the two sees
    // the other.
    core::sync::atomic::fence(Ordering::SeqCst);
    // Frozen (we hold the lock): no lock-free change between the check
    // and the mark.
    let now = s.freeze();
    if others() || can_go(now.val(), op.op) || now.claimed() {
        h.deep.fetch_and(!(1 << i), Ordering::SeqCst);
        w.state.fetch_and(!W_DEEP, Ordering::SeqCst);
        return false;
    }
    s.word.fetch_or(PARKED, Ordering::SeqCst);
    true
}

pub(super) fn enqueue(
    v: &View<'_>,
    ops: &[SemOp],
    undo: Option<usize>,
    b: usize,
) -> Result<Option<(usize, u64)>> {
    // Free slots, and slots their sleepers gave up without the lock. A
    // slot never written lies in a hole of the file: its page is given
    // storage before it is read or written (a full file system: ENOMEM
    // from semop, not SIGBUS). So is the set's tail, on its first
    // sleeper: the grant that completes a sleeper is journaled, and must
    // not find the journal without storage once the sleeper waits.
    v.reserve_tail()?;
    let mut found = None;
    for i in 0..v.s.nwait {
        v.r.populate(v.s.off_wait() + i * v.s.wsz(), v.s.wsz())?;
        let Ok(w) = v.wslot(i) else { continue };
        match w.state.load(Ordering::Acquire) {
            W_CANCELLED => {}
            // A free slot is also taken without the lock (a
            // multi-operation `semop`'s record, `multi::take_record`):
            // by compare-and-swap (to `W_CANCELLED`, which nobody but
            // this lock's holder reuses).
            W_FREE
                if w.state
                    .compare_exchange(W_FREE, W_CANCELLED, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok() => {}
            _ => continue,
        }
        found = Some(i);
        break;
    }
    let Some(i) = found else {
        return Ok(None);
    };
    // A sleeper without a timer is no longer alone: it must look again
    // (`go_deep`'s conditions).
    prewake(v);
    let w = v.wslot(i)?;
    for (k, op) in ops.iter().enumerate() {
        v.wop(i, k)?.store(op.pack(), Ordering::Relaxed);
    }
    let ticket = v.hdr().ticket.fetch_add(1, Ordering::Relaxed);
    w.nsops.store(ops.len() as u32, Ordering::Relaxed);
    w.blocking.store(b as u32, Ordering::Relaxed);
    w.undo
        .store(undo.map_or(-1, |u| u as i32), Ordering::Relaxed);
    w.owner().claim(Owner::me());
    w.ticket.store(ticket, Ordering::Relaxed);
    w.result.store(0, Ordering::Relaxed);
    w.state.store(W_WAITING, Ordering::Release);
    v.hdr().waiting.fetch_add(1, Ordering::Relaxed);
    Ok(Some((i, ticket)))
}

/// Our sleeper slot is ours while its ticket is ours: a scribbler or a
/// sweeper that freed it (thinking us dead) must not make us read another's.
#[inline]
pub(super) fn finish(v: &View<'_>, i: usize, ticket: u64) -> Option<Result<()>> {
    let w = v.wslot(i).ok()?;
    if w.ticket.load(Ordering::Relaxed) != ticket || w.pid.load(Ordering::Relaxed) != my_pid() {
        return Some(Err(Errno::EIDRM));
    }
    if w.state.load(Ordering::Acquire) & 0xff != W_DONE {
        return None;
    }
    let r = w.result.load(Ordering::Relaxed);
    free_wslot(v, i);
    Some(if r == 0 {
        Ok(())
    } else {
        Err(Errno::from_raw(r))
    })
}

pub(super) fn sleep(
    o: &Obj,
    known: &Known,
    i: usize,
    ticket: u64,
    wait: Wait,
    timeout_errno: Errno,
) -> Result<()> {
    let start = spin::begin();
    let mut t0 = None;
    let mut leaving = None;
    let mut r = sleep_slot(
        o,
        known,
        start,
        i,
        ticket,
        wait,
        timeout_errno,
        &mut t0,
        &mut leaving,
    );
    // The outcome stands unless the set moved (or is moving) under it:
    // then the copy's slot decides.
    if moving_under(o) {
        r = follow_slot(o, i, ticket, wait, timeout_errno, r, leaving);
    }
    // Would a spin have caught the grant? (Slept waits count too.) One
    // caught by the spin or the hand-over was quick, without a clock read.
    // And did a yield give the CPU away (the wait took long after one)?
    // One counter read for both.
    let end = spin::begin();
    let quick = t0.map_or(true, |t| end.wrapping_sub(t) <= spin::ticks(SPIN));
    spin::waited_between(start, end, quick);
    r
}

/// [`sleep`]'s wait: spin when it pays, then sleep on the slot's word
/// (from `t0`, set when the wait did not end in the spin or hand-over).
#[allow(clippy::too_many_arguments)]
fn sleep_slot(
    o: &Obj,
    known: &Known,
    start: u64,
    i: usize,
    ticket: u64,
    wait: Wait,
    timeout_errno: Errno,
    t0: &mut Option<u64>,
    leaving: &mut Option<Errno>,
) -> Result<()> {
    // The shape checked when the set was looked up (each look at the
    // header's shape words again is a few loads and branches per sleep).
    let v = view_known(o, known)?;
    let w = v.wslot(i)?;
    // Spin a little when it can pay off (crate::sync::spin): the process
    // that last changed the set runs on another CPU and will often
    // release in a moment. Not when it last ran on this CPU (it needs this
    // one), nor after spins that kept missing; yield now and then: on a
    // busy machine the peer may be waiting for this very CPU.
    let pending = || {
        matches!(
            w.state.load(Ordering::Acquire) & 0xff,
            W_WAITING | W_CLAIMED
        )
    };
    let peer = o.peer();
    // Whether the wait spun or yielded before it sleeps (its sleep then
    // starts later than `start`).
    let mut waited = true;
    if peer == spin::Peer::Here {
        // The releaser last ran on this CPU: hand it the CPU, once, while
        // yields pay (`spin::yields_pay`: with a third task on this CPU a
        // yield gives it a slice, and the futex sleep that keeps this
        // process's place is the faster way). One yield (four were
        // 6.6-13.8 us per round trip against 4.1-7.1 at load 5-9:
        // docs/perf.md).
        waited = spin::yields_pay();
        spin::hand_over(pending);
    } else if spin::should_spin(peer) {
        event::spin(SPIN, Duration::ZERO, pending);
    } else {
        waited = false;
    }
    if pending() {
        // No spin or yield: the sleep starts now, as the wait did (one
        // counter read fewer per sleep).
        *t0 = Some(if waited { spin::begin() } else { start });
        reclaim_others(o, &v, i);
    }
    let ev = Event::new(&w.state, W_SLEEP);
    let deadline = match wait {
        Wait::Forever => Deadline::NEVER,
        Wait::Until(d) => d,
    };
    let mut tick = TICK;
    loop {
        let s = w.state.load(Ordering::Acquire);
        if s & 0xff == W_DONE {
            // Granted (or failed) by a waker: the slot is ours alone now.
            if let Some(r) = finish(&v, i, ticket) {
                return r;
            }
            continue;
        }
        if !matches!(s & 0xff, W_WAITING | W_CLAIMED) {
            return Err(Errno::EIDRM);
        }
        let Some(sleeping) = ev.announce(s) else {
            continue;
        };
        // Moved (after the announcement: the mover marks the header, then
        // changes the slot's word, `W_AWAY`, and wakes): the sleeper
        // follows the move to its slot in the copy (`sleep`).
        if o.is_moved() {
            return Err(Errno::ESTALE);
        }
        // Without a timer once a look found no party whose death could
        // matter (`go_deep`); a `prewake` clears the mark and wakes it.
        let t = if s & W_DEEP != 0 { None } else { Some(tick) };
        let r = ev.sleep(sleeping, &deadline, t);
        let give_up = match r {
            Err(Errno::EINTR) => Some(Errno::EINTR),
            Err(Errno::ETIMEDOUT) => Some(timeout_errno),
            _ => None,
        };
        if give_up.is_none() {
            if w.state.load(Ordering::Acquire) & 0xff == W_DONE {
                continue; // granted: finished above, without the lock
            }
            // Woken by a release whose grant could not take the lock (a
            // holder stopped), or the tick: the operation itself, when it
            // is a simple one (see `fast`).
            if let Some(r) = self_serve(&v, i, ticket) {
                return r;
            }
            if r != Ok(Slept::Tick) {
                tick = TICK; // another process is at work: look often
                continue;
            }
        }
        // The lock: to leave (within NOWAIT_BOUND), or for the periodic
        // look around (within NOWAIT_BOUND too: a holder stopped must not
        // keep this sleeper from the release it waits for). When it cannot
        // be had to leave (a holder stopped, a scribbled word) or the set
        // is removed, the slot is given up without it.
        // A look around waits for a holder that runs, and moves the set
        // away from one stopped for the grace (`fence`: a granter stopped
        // after it claimed this sleeper, case (b), would hold it for as
        // long), then follows the move.
        // The wait for the lock ends after `LOOK_LOCK` (`looked`), a move
        // by the sleeper's own deadline.
        let t_look = std::time::Instant::now();
        let looked = || give_up.is_none() && t_look.elapsed() >= LOOK_LOCK;
        let (lock_d, grace) = match (wait, give_up) {
            (_, Some(_)) => (Deadline::NEVER.for_lock(true), None),
            (Wait::Until(d), None) => (d, Some(fence::GRACE)),
            (Wait::Forever, None) => (Deadline::NEVER, Some(fence::GRACE)),
        };
        let _g = match lock_movable(o, &lock_d, &looked, grace) {
            Ok(g) => g,
            Err(Errno::EIDRM) if !looked() || o.is_removed() => {
                return cancel(&v, i, ticket, Errno::EIDRM)
            }
            Err(Errno::ESTALE) => {
                *leaving = give_up;
                return Err(Errno::ESTALE);
            }
            Err(_) => match give_up {
                None => continue,
                Some(e) => return cancel(&v, i, ticket, e),
            },
        };
        if let Some(r) = finish(&v, i, ticket) {
            return r;
        }
        if let Some(e) = give_up {
            free_wslot(&v, i);
            recount(&v);
            return Err(e);
        }
        // A periodic look around: dead undo holders, lost wake-ups. One
        // that changes nothing makes the next come later, or none at all
        // when nobody else's death could matter (`go_deep`).
        let quiet = !sweep(&v);
        if quiet {
            tick = (tick * 2).min(MAX_TICK);
        }
        update_queue(&v);
        if let Some(r) = finish(&v, i, ticket) {
            return r;
        }
        if quiet {
            go_deep(&v, i);
        }
    }
}

/// Leaves sleeper slot `i` without the set's lock, answering `e` — unless
/// a granter got there first: a slot already granted (or failed) gives
/// its result, and one a granter has claimed (committing under the lock
/// right now) is waited for, since its operations will have been done.
/// A cancelled slot is skipped by every granter and reused by the next
/// enqueue.
pub(super) fn cancel(v: &View<'_>, i: usize, ticket: u64, e: Errno) -> Result<()> {
    let Ok(w) = v.wslot(i) else {
        return Err(e);
    };
    let mut claimed_since = None;
    // The bound of each try at the move below, doubled after each: a move
    // is given up at its caller's deadline, and on a loaded machine one
    // may need longer than the first bound; retried with the same bound
    // it could be given up for ever (the sleeper never answered:
    // `a_sleeper_whose_grant_a_stopped_granter_claimed_is_granted_once`
    // failed once in `make test`).
    let mut budget = LOOK_LOCK + fence::GRACE;
    loop {
        if w.ticket.load(Ordering::Relaxed) != ticket || w.pid.load(Ordering::Relaxed) != my_pid() {
            return Err(Errno::EIDRM);
        }
        let s = w.state.load(Ordering::Acquire);
        match s & 0xff {
            W_WAITING => {
                if w.state
                    .compare_exchange(s, W_CANCELLED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return Err(e);
                }
            }
            W_DONE => return finish(v, i, ticket).unwrap_or(Err(Errno::EIDRM)),
            W_CLAIMED => {
                // A granter stopped after its claim: the set is moved away
                // from it (by any call that needs the lock), and the give-up
                // made again on the copy (`sleep`).
                if v.o.is_moved() {
                    return Err(Errno::ESTALE);
                }
                // Claimed for a while: its granter may be stopped, and
                // this call has reached its end (a deadline, a signal), so
                // it moves the set itself (the grace, then the move: tens
                // of milliseconds past its end, where waiting for the
                // granter could last for ever).
                let t = *claimed_since.get_or_insert_with(std::time::Instant::now);
                if t.elapsed() >= CLAIM_LOOK {
                    let d = Deadline::after(budget);
                    budget = (budget * 2).min(Duration::from_secs(2));
                    match lock_movable(v.o, &d, &|| false, Some(fence::GRACE)) {
                        Ok(g) => drop(g),
                        Err(Errno::EIDRM) if v.o.is_removed() => return Err(Errno::EIDRM),
                        Err(_) => {}
                    }
                    continue;
                }
                let _ = Event::new(&w.state, W_SLEEP).sleep(s, &Deadline::NEVER, Some(CLAIM_LOOK));
            }
            _ => return Err(Errno::EIDRM),
        }
    }
}

/// Whether the set's lock says fenced or moved, read after a sleeper's
/// outcome (**SeqCst**: its writes, then the lock word; a mover fences the
/// lock, then copies).
#[inline]
fn moving_under(o: &Obj) -> bool {
    core::sync::atomic::fence(Ordering::SeqCst);
    matches!(
        o.obj_lock().state(),
        LockState::Fenced { .. } | LockState::Moved
    )
}

/// How long a sleeper's look around waits for the set's lock (a holder
/// that runs lets go within a time slice; one stopped for the grace is
/// fenced and the set moved meanwhile).
const LOOK_LOCK: Duration = Duration::from_millis(50);

/// How long a sleeper giving up waits for a granter's claim of its slot
/// (a few hundred instructions) before it takes the granter for stopped
/// and moves the set ([`cancel`]).
const CLAIM_LOOK: Duration = Duration::from_millis(10);

/// A sleeper of slot `i` (`ticket`) in `o`, whose outcome there was `r`
/// (`ESTALE`: none, it found the set moved; `leaving`: it was giving up
/// with that errno), found the set's lock fenced or moved: the outcome
/// stands when the fence was given back; when the set moved, the copy's
/// slot decides — still this sleeper's (same index, ticket and owner:
/// the copy was made before its outcome, which is made again there: its
/// grant collected, its give-up made, or its sleep resumed), or not (the
/// copy was made after its outcome, which stands; none: the call is made
/// again on the copy, `ESTALE`). Followed from copy to copy.
#[cold]
#[inline(never)]
fn follow_slot(
    o: &Obj,
    i: usize,
    ticket: u64,
    wait: Wait,
    timeout_errno: Errno,
    mut r: Result<()>,
    mut leaving: Option<Errno>,
) -> Result<()> {
    // The copy followed to (`None`: still `o`). A loop, not a recursion:
    // how often a set moves (or a fence is given back) is up to others.
    let mut at: Option<Obj> = None;
    for _ in 0..1000 {
        let moved = fence::moved_to(at.as_ref().unwrap_or(o));
        let fresh = moved.is_some();
        if let Some(n) = moved {
            at = Some(n);
        }
        let cur = at.as_ref().unwrap_or(o);
        let v = View::new(cur)?;
        if fresh {
            let mine = v.wslot(i).is_ok_and(|w| {
                w.ticket.load(Ordering::Relaxed) == ticket
                    && w.pid.load(Ordering::Relaxed) == my_pid()
                    && matches!(
                        w.state.load(Ordering::Acquire) & 0xff,
                        W_WAITING | W_CLAIMED | W_DONE
                    )
            });
            if !mine {
                return match r {
                    Err(Errno::ESTALE) => Err(leaving.unwrap_or(Errno::ESTALE)),
                    r => r,
                };
            }
            crate::debug_report!(
                "semaphore set {}: sleeper slot {} followed the move",
                cur.id,
                i
            );
        } else if r != Err(Errno::ESTALE) || cur.is_moved() {
            // The fence was given back (or the lock taken back): the
            // outcome stands.
            return r;
        }
        r = match leaving {
            Some(e) => cancel(&v, i, ticket, e),
            None => {
                let mut t0 = None;
                sleep_slot(
                    cur,
                    &Known::default(),
                    spin::begin(),
                    i,
                    ticket,
                    wait,
                    timeout_errno,
                    &mut t0,
                    &mut leaving,
                )
            }
        };
        if !moving_under(cur) {
            return r;
        }
    }
    Err(Errno::EIDRM)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sleeper forged in slot `i` of `v` (the lock held): `ops`, undo
    /// slot `undo` (-1: none), this process its owner.
    fn forge(v: &View<'_>, i: usize, ops: &[SemOp], undo: i32, ticket: u64) {
        let w = v.wslot(i).unwrap();
        for (k, op) in ops.iter().enumerate() {
            v.wop(i, k).unwrap().store(op.pack(), Ordering::Relaxed);
        }
        w.nsops.store(ops.len() as u32, Ordering::Relaxed);
        w.blocking.store(0, Ordering::Relaxed);
        w.undo.store(undo, Ordering::Relaxed);
        w.owner().claim(Owner::me());
        w.ticket.store(ticket, Ordering::Relaxed);
        w.result.store(0, Ordering::Relaxed);
        w.state.store(W_WAITING, Ordering::Release);
        v.hdr().waiting.fetch_add(1, Ordering::Relaxed);
    }

    /// What a grant decides, as the set shows it: values and last pids,
    /// the adjustments of undo slot 0, each forged slot's state and
    /// result, the count of sleepers and the grants not collected.
    fn outcome(v: &View<'_>, slots: usize) -> Vec<i64> {
        let mut r = vec![
            v.hdr().waiting.load(Ordering::Relaxed) as i64,
            v.hdr().granted.load(Ordering::Relaxed) as i64,
        ];
        for n in 0..v.s.nsems {
            let w = v.sem(n).unwrap().load();
            r.extend([w.val() as i64, w.pid() as i64, w.frozen() as i64]);
            r.push(v.adj(0, n).unwrap().load(Ordering::Relaxed) as i64);
        }
        for i in 0..slots {
            let w = v.wslot(i).unwrap();
            r.push((w.state.load(Ordering::Acquire) & 0xff) as i64);
            r.push(w.result.load(Ordering::Relaxed) as i64);
            r.push(w.blocking.load(Ordering::Relaxed) as i64);
        }
        r
    }

    /// The lone sleeper's path (`update_lone`) decides as the general
    /// scan does, for every lone sleeper it takes and for those it leaves
    /// to the scan (`SEM_UNDO`, several operations, a stale count): the
    /// same set on two files, one granted through `update_queue`, the
    /// other through `update_queue_with` directly.
    #[test]
    fn the_lone_sleeper_s_grant_decides_as_the_general_scan() {
        let t = super::super::tests::tmp_ns("lone");
        let op = |num, op, flg| SemOp { num, op, flg };
        let cases: Vec<(Vec<SemOp>, i32, [i32; 2], bool)> = {
            let mut c = Vec::new();
            for val in 0..4 {
                for k in -3..=0i16 {
                    c.push((vec![op(0, k, 0)], -1, [val, 0], false));
                    c.push((vec![op(1, k, 0)], -1, [0, val], false));
                    // SEM_UNDO, and several operations: the general scan.
                    c.push((vec![op(0, k, SEM_UNDO)], 0, [val, 0], false));
                    c.push((vec![op(0, k, 0), op(1, 1, 0)], -1, [val, 3], false));
                }
                // A count that says one sleeper while none waits.
                c.push((vec![], -1, [val, 0], true));
                // Beyond the set: EFBIG for the sleeper.
                c.push((vec![op(2, -1, 0)], -1, [val, 0], false));
            }
            c
        };
        for (k, (ops, undo, vals, stale)) in cases.iter().enumerate() {
            let mut out = Vec::new();
            for lone in [true, false] {
                let o = get(&t.1, 0, 2, crate::ns::IPC_CREAT | 0o600, &[0, 0]).unwrap();
                {
                    let g = lock_by(&o, &Deadline::NEVER).unwrap();
                    let v = View::new(&o).unwrap();
                    if *undo >= 0 {
                        assert_eq!(undo_slot(&v).unwrap(), 0);
                    }
                    for (n, &x) in vals.iter().enumerate() {
                        v.sem(n).unwrap().put(&o, x, 1).unwrap();
                    }
                    if *stale {
                        v.hdr().waiting.store(1, Ordering::Relaxed);
                    } else {
                        forge(&v, 0, ops, *undo, 7);
                    }
                    if lone {
                        update_queue(&v);
                    } else {
                        let (mut a, mut b) = (Vec::new(), Vec::new());
                        update_queue_with(&v, &mut a, &mut b);
                    }
                    drop(g);
                    // The grant's wake queue, flushed by the release, had
                    // nobody asleep: the slot is collected by hand.
                    out.push(outcome(&v, 1));
                    if v.wslot(0).unwrap().state.load(Ordering::Acquire) & 0xff == W_DONE {
                        let _ = finish(&v, 0, 7);
                    }
                }
                remove(&t.1, &o).unwrap();
            }
            assert_eq!(
                out[0], out[1],
                "case {k}: {ops:?} undo {undo} values {vals:?}"
            );
        }
    }
}
