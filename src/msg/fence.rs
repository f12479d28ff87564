//! Fencing a stopped lock holder: a waiter that finds a queue lock held by
//! a process that is stopped (SIGSTOP, job control, a debugger) moves the
//! queue to a new file instead of waiting for it, so that an untimed
//! `msgsnd`/`msgrcv` waits only for what the kernel would wait for
//! (docs/bounded-time.md, "Fencing a stopped holder").
//!
//! The steps, all by the waiter (the *fencer*):
//! 1. Fence the holder ([`RobustLock::fence`]): its release, a
//!    compare-and-swap, fails from then on; it is the holder's commit point
//!    relative to the fence. Both locks end up fenced by the fencer (the
//!    one it waited for, and the other taken — or fenced too when its
//!    holder is stopped — and fenced by itself), `slock` first.
//! 2. Make sure the fenced holders write nothing while the file is copied:
//!    each is stopped and did not run from a look just before the copy to
//!    one just after it ([`Frozen`]), or said before the copy that it
//!    writes nothing more ([`RobustLock::ack_fence`]: it found its release
//!    failing), or is dead. A holder that ran meanwhile voids the copy,
//!    even if it said so afterwards.
//! 3. Copy the file (same owner, group, mode: [`Obj::replace`]), and in the
//!    copy: judge each fenced holder's operation by its record (see
//!    below), free the locks, clear the wait words, and repair as after a
//!    dead holder ([`View::repair`]: the list is the truth).
//! 4. Publish the copy over the queue's names, write each fenced holder's
//!    outcome into the **old** file (`sout`/`rout`), mark its locks moved,
//!    its header moved, and wake everyone waiting on it.
//!
//! Everyone using the old file then reopens the queue by its numbered
//! name and retries ([`Queue::on_moved`]). A fenced holder, continued,
//! finishes its critical section in the old file (nobody reads it), finds
//! its release failing at its commit point, waits for the move, and reads
//! its outcome: its operation's id there means it committed in the copy
//! (success), anything else that it did not (retried in the new file).
//!
//! **Operation records**: just before its commit store a sender stores
//! the descriptor it fills (`sop_at`), then its operation's id
//! (`sop_id`); a receiver the message's predecessor and descriptor
//! (`rop_prev`, `rop_at`), then the id (`rop_id`, see [`op_id`]). A
//! holder stopped before its id store leaves an
//! older id there: whatever the fencer finds for that id, the holder asks
//! about its own and retries. A send committed ⇔ its descriptor is in the
//! list, the dummy included (while `slock` is held the holder's message
//! is the last one: nothing can follow it or unlink it; a receiver may
//! have consumed it, which leaves it the dummy). A receive committed ⇔
//! `head` is its descriptor (it took the first message: it stays the
//! dummy while `rlock` is held) or its predecessor's `next` no longer
//! leads to it (it unlinked a later one: the predecessor stays in the
//! list, and its `next` never leads back to the descriptor while `rlock`
//! is held).

use super::*;
use crate::sync::fence::Frozen;
use crate::sync::lock::{Got, STALL_CHECK};
use crate::sync::owner::Owner;
use crate::sync::time::NOWAIT_MOVE_BOUND;
use core::time::Duration;

/// How long a holder must be seen stopped, and not run, before a waiter
/// fences it: long enough that a holder merely caught by a job-control
/// stop it is about to be continued from is not fenced at once.
pub(super) const GRACE: Duration = Duration::from_millis(20);

/// How long a fencer waits for a fenced holder that runs (continued
/// meanwhile) to find its fence, before it gives the fence back.
const QUIET_WAIT: Duration = Duration::from_secs(2);

/// An operation's id (see the module comment): this process (pid and
/// start time, which no other process shares while either lives) and the
/// side's counter before the operation (`sent_n`, `taken_n`: under the
/// lock, a committed operation moves it on, so the record an earlier
/// operation of this process left is never taken for this one's).
#[inline]
pub(super) fn op_id(counter: u32) -> u64 {
    use crate::os::proc::{my_pid, my_start};
    ((my_pid() as u64) << 42) ^ ((my_start() & 0x3ff) << 32) | counter as u64
}

/// Unit tests: the point of a send (receive) at which its (test child)
/// caller stops itself (SIGSTOP) under `slock` (`rlock`): 1 (3) its
/// record stored, before its commit; 2 (4) committed, before its
/// release; 0 none. Once: its retry on the moved queue runs on.
#[cfg(test)]
pub(super) static HOLD_AT: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// A point of a send under `slock` or a receive under `rlock` (unit
/// tests stop there: `HOLD_AT`).
#[inline(always)]
pub(super) fn hold_point(_n: u32) {
    #[cfg(test)]
    if _n != 0 && HOLD_AT.compare_exchange(_n, 0, Relaxed, Relaxed).is_ok() {
        // SAFETY: stops this (test child) process, as SIGSTOP would.
        unsafe { libc::raise(libc::SIGSTOP) };
    }
}

/// After a fenced holder's release failed and its queue moved: whether
/// its operation `op` committed (the fencer's answer in the old file).
#[inline]
pub(super) fn outcome(out: &AtomicU64, op: u64) -> bool {
    out.load(Acquire) == op
}

/// A holder's release at its commit point: true when released; false
/// when it had been fenced and the queue moved (its outcome is then in
/// the old file: [`outcome`]). A fence given back is waited for, and the
/// release made again. A fence whose fencer died before it published the
/// copy (the queue's numbered name still leads to this file), or that
/// names a live process which has not mapped the file for
/// [`STALL_CHECK`] (a scribble), is taken back: nothing moved.
#[inline]
pub(super) fn release_at_commit(l: &RobustLock, obj: &Obj) -> bool {
    l.unlock() || release_fenced(l, obj)
}

#[cold]
fn release_fenced(l: &RobustLock, obj: &Obj) -> bool {
    use crate::sync::LockState;
    let me = crate::os::proc::my_pid();
    let t0 = std::time::Instant::now();
    loop {
        if l.unlock() {
            return true;
        }
        l.ack_fence();
        match l.state() {
            LockState::Moved => return false,
            LockState::Held(p) if p == me => {}
            LockState::Fenced { fencer, .. } => {
                let w = l.word();
                let gone = !crate::os::proc::alive(fencer, l.owner_start());
                let stray = t0.elapsed() >= STALL_CHECK
                    && !crate::os::proc::maps_file_at(fencer, l as *const RobustLock as usize);
                if (gone || stray) && matches!(obj.move_state(), crate::ns::MoveState::Committed(_))
                {
                    // Its fencer committed its copy, then died: the
                    // publication finished here (the marks by the next
                    // taker of the queue's locks).
                    if obj.publish_committed(&carry_outcomes).is_ok() && obj.is_moved() {
                        l.mark_moved();
                        return false;
                    }
                }
                // The lock taken back is a give-back: claimed as a lift
                // (a copy made before it, by a mover the dead one took
                // over and which may still be stopped with it, can then
                // never be committed).
                if (gone || stray) && obj.commit_forged() {
                    // A scribbled commit point: nothing can be committed,
                    // so the lock is taken back without claiming a lift
                    // (there is no epoch to claim).
                    if l.reclaim(w) {
                        continue;
                    }
                }
                if (gone || stray) && !obj.is_moved() && obj.file().is_ok() {
                    if let Ok(e) = obj.open_epoch() {
                        if obj.begin_lift(e) {
                            let back = l.reclaim(w);
                            obj.end_lift(e, back);
                            if back {
                                obj.sweep_dead_temps();
                                continue;
                            }
                        }
                    }
                }
                let _ = l.wait_moved(&Deadline::after(Duration::from_millis(10)));
            }
            // Taken over by another (this holder was taken for dead, or a
            // scribble): nothing is known of the operation.
            _ => return false,
        }
    }
}

/// The [`crate::ns::Carry`] of a queue's move: the outcomes its maker
/// judged from the committed copy `copy` (its `born_sout`/`born_rout`,
/// never changed after the copy was built) into the old file's
/// `sout`/`rout`, where its fenced holders read them.
pub(super) fn carry_outcomes(old: &Obj, copy: &Obj) -> Result<()> {
    copy.check_layout(LAYOUT_VERSION)?;
    let oh: &QHead = old.at(0)?;
    let nh: &QHead = copy.at(0)?;
    oh.sout.store(nh.born_sout.load(Acquire), Release);
    oh.rout.store(nh.born_rout.load(Acquire), Release);
    Ok(())
}

/// The id of the send whose record `v` holds when it committed, else 0
/// (see the module comment): its descriptor is in the list.
fn judge_send(v: &View<'_>) -> Result<u64> {
    let h = v.head()?;
    let id = h.sop_id.load(Relaxed);
    Ok(if id != 0 && v.reaches(h.sop_at.load(Relaxed))? {
        id
    } else {
        0
    })
}

/// The id of the receive whose record `v` holds when it committed, else
/// 0: the message is the dummy, or its predecessor no longer leads to it.
fn judge_recv(v: &View<'_>) -> u64 {
    let Ok(h) = v.head() else { return 0 };
    let id = h.rop_id.load(Relaxed);
    let at = h.rop_at.load(Relaxed);
    let prev = h.rop_prev.load(Relaxed);
    let moved_on = || -> Result<bool> {
        Ok(h.head.load(Relaxed) == at || v.desc(prev)?.next.load(Relaxed) != at)
    };
    if id != 0 && moved_on().unwrap_or(false) {
        id
    } else {
        0
    }
}

/// One lock of the queue as the fencer holds it: fenced.
struct Side<'a> {
    l: &'a RobustLock,
    /// whom it fenced (this process: a lock it took, or held, itself)
    holder: Owner,
    /// the caller's own guard of it (`lock_both`'s `slock`): given back
    /// to it, not released, when the move is abandoned
    callers: bool,
}

impl Side<'_> {
    fn mine(&self) -> bool {
        self.holder.pid == crate::os::proc::my_pid()
    }
}

/// Whether the fenced holder of `s` writes nothing now and until
/// `still` turns false: `Some(look)` to check again after the copy.
enum Quiet {
    /// dead, itself, or it said so: for good
    Done,
    /// stopped, not run since this look
    Looked(Frozen),
}

impl Queue {
    /// The error a lock wait's `EIDRM` is when the queue moved meanwhile.
    fn moved_err(&self, e: Errno) -> Errno {
        if e == Errno::EIDRM && self.obj.is_moved() {
            Errno::ESTALE
        } else {
            e
        }
    }

    /// Takes lock `l` (`slock` or `rlock` of this queue) by `d` (with
    /// `s_held`: the caller holds `slock`): as [`take`], and when the
    /// holder is stopped past the grace, moves the queue away from it
    /// (`ESTALE`: retry on the moved queue, [`Queue::on_moved`]). Also
    /// `ESTALE` when another process moved or moves it.
    #[inline]
    pub(super) fn take_movable<'q>(
        &'q self,
        l: &'q RobustLock,
        d: &Deadline,
        s_held: bool,
    ) -> Result<(QGuard<'q>, bool)> {
        if l.try_lock() {
            return Ok((QGuard(l), false));
        }
        self.take_movable_slow(l, d, s_held)
    }

    #[cold]
    fn take_movable_slow<'q>(
        &'q self,
        l: &'q RobustLock,
        d: &Deadline,
        s_held: bool,
    ) -> Result<(QGuard<'q>, bool)> {
        let gone = || self.obj.is_removed();
        let moved = || self.obj.is_moved();
        let mut g = d.fence_grace(GRACE);
        // A move this call makes (`move_away`, `take_over`, a dead
        // fencer's fence taken over by the lock wait itself), for a signal
        // handler that interrupts it (`RobustLock::moved_by_my_thread`):
        // marked before any fence.
        let h = self.head()?;
        let _moving = h.slock.mark_moving(&h.rlock);
        loop {
            let r = match l.lock_movable(d, &gone, g, &moved) {
                // This very thread's move, interrupted by the signal
                // handler that makes this call: not waited for.
                Err(Errno::ESTALE) if !moved() && l.moved_by_my_thread() => {
                    return Err(self.own_move(d));
                }
                // A live mover's fence: its move's end waited for here —
                // or, the mover stopped in the middle of it for the
                // grace, its move taken over. (Not by a caller that holds
                // `slock` and waits for `rlock`: it lets go, `ESTALE`.)
                Err(Errno::ESTALE) if g.is_some() && !s_held && !moved() => {
                    match self.wait_for_mover(l, d, g) {
                        Ok(None) => return Err(Errno::ESTALE),
                        Ok(Some(w)) => self.take_over(w, g),
                        Err(Errno::EAGAIN) => continue,
                        Err(e) => return Err(self.moved_err(e)),
                    }
                }
                Err(e) => return Err(self.moved_err(e)),
                Ok(Got::Out(o)) => return Ok((QGuard(l), o == LockOutcome::OwnerDied)),
                // No fence where this process may not make the copy: both
                // locks would only be given back again (by every IPC_NOWAIT
                // call of such a member beside the holder).
                Ok(Got::Stopped(..)) if !self.obj.may_replace() => Err(Errno::EPERM),
                Ok(Got::Stopped(seen, _)) => self.move_away(l, Seen::Holder(seen), s_held, g),
                Ok(Got::Orphan(pid)) => self.move_away(l, Seen::Orphan(pid), s_held, g),
            };
            match r {
                // Abandoned: the holder ran, or let go; wait again (an
                // IPC_NOWAIT call moves once at most: its wait then ends
                // at the stopped holder).
                Err(Errno::EAGAIN) if d.fences_quickly() => g = None,
                Err(Errno::EAGAIN) => {}
                // A scribbled commit point: the queue cannot be moved (an
                // error, rather than a wait for the holder).
                Err(Errno::EIO) => return Err(Errno::EIO),
                // Cannot move it (a file this process may not make):
                // wait for the holder as before.
                Err(e) if e != Errno::ESTALE && e != Errno::EIDRM => g = None,
                // (EIDRM from the copy: another process moved the queue
                // meanwhile, which is ESTALE to the caller.)
                Err(e) => return Err(self.moved_err(e)),
                Ok(()) => return Err(Errno::ESTALE),
            }
        }
    }

    /// A call made by a signal handler that interrupted its own thread's
    /// move of this queue (its fence met on a lock): the move cannot end
    /// before the handler returns, so it is not waited for. A committed
    /// move is published here (idempotent, as any helper's) and the call
    /// follows it to the copy (`ESTALE`); otherwise the call is answered
    /// at once, as for its own thread's lock: `ETIMEDOUT` with a deadline,
    /// `EDEADLK` without (docs/bounded-time.md, "A handler whose thread is
    /// moving the object").
    #[cold]
    #[inline(never)]
    fn own_move(&self, d: &Deadline) -> Errno {
        if self.help_committed() {
            self.finish_move();
            if self.obj.is_moved() {
                return Errno::ESTALE;
            }
        }
        crate::sync::lock::own_answer(d)
    }

    /// Whether a lock of this queue carries this very thread's move (a
    /// signal handler's call that interrupted it: [`Queue::own_move`]).
    pub(super) fn my_threads_move(&self) -> bool {
        self.head()
            .is_ok_and(|h| h.slock.moved_by_my_thread() || h.rlock.moved_by_my_thread())
    }

    /// Moves the queue to a new file (see the module comment), having
    /// found `l` held by a stopped holder (`seen`: the word to fence) or
    /// taken a dead fencer's fence of it over (`Seen::Orphan`).
    /// `ESTALE` when done; `EAGAIN` when abandoned (every fence given
    /// back); other errors when the move cannot be made here.
    /// `grace`: the caller's, for the other lock's stopped holder (an
    /// `IPC_NOWAIT` caller's is short: [`Deadline::fence_grace`]).
    fn move_away<'q>(
        &'q self,
        l: &'q RobustLock,
        seen: Seen,
        s_held: bool,
        grace: Option<Duration>,
    ) -> Result<()> {
        let h = self.head()?;
        // A mover killed after committing its copy: its publication
        // finished (`Obj::publish_committed`), then the marks.
        if matches!(self.obj.move_state(), crate::ns::MoveState::Committed(_)) {
            return match self.obj.publish_committed(&carry_outcomes) {
                Ok(()) => {
                    self.finish_move();
                    Err(Errno::ESTALE)
                }
                // A scribbled commit point (no copy can be published, nor
                // any committed): the queue cannot be moved — an error,
                // as for any scribble (it answered `EIDRM`, as if removed).
                Err(_) if self.obj.commit_forged() => Err(Errno::EIO),
                Err(e) => Err(self.moved_err(e)),
            };
        }
        // A mover killed after publishing its copy: finish its move.
        if let Ok(n) = self.obj.successor() {
            if n.file_id() != self.obj.file_id() {
                self.finish_move();
                return Err(Errno::ESTALE);
            }
        }
        let orphan = matches!(seen, Seen::Orphan(_));
        if orphan {
            // The dead fencer's unpublished copy, if it made one.
            self.obj.sweep_dead_temps();
        }
        let is_s = core::ptr::eq(l, &h.slock);
        let mut sides: Vec<Side<'q>> = Vec::with_capacity(2);
        let first = |sides: &mut Vec<Side<'q>>| -> Result<()> {
            let holder = match seen {
                Seen::Orphan(pid) => Owner { pid, start: 0 },
                Seen::Holder(w) => l.fence(w).ok_or(Errno::EAGAIN)?,
            };
            sides.push(Side {
                l,
                holder,
                callers: false,
            });
            Ok(())
        };
        let r = (|| -> Result<()> {
            if is_s {
                first(&mut sides)?;
                sides.push(self.fence_other(&h.rlock, grace)?);
            } else if s_held {
                if !h.slock.fence_mine() {
                    return Err(Errno::EAGAIN);
                }
                sides.push(Side {
                    l: &h.slock,
                    holder: Owner::me(),
                    callers: true,
                });
                first(&mut sides)?;
            } else {
                // Lock order: `slock` first, then the fence of `rlock`
                // (whose holder may have let go meanwhile: then abandon).
                if orphan {
                    first(&mut sides)?;
                }
                sides.push(self.fence_other(&h.slock, grace)?);
                if !orphan {
                    first(&mut sides)?;
                }
            }
            if let Some(e) = self.obj.gone() {
                return Err(e);
            }
            self.copy_and_publish(&sides)
        })();
        // (Never once a move is committed: the holders must not write
        // beside a copy that is to be published.)
        // (Also on `ESTALE`: a fence met on the other lock, the move
        // taken over; moved, nothing is given back.)
        if r.is_err() {
            self.give_back(&sides);
            // A scribbled commit point met on the way: an error, as for
            // any scribble (the fences given back).
            if self.obj.commit_forged() {
                return Err(Errno::EIO);
            }
        }
        r.and(Err(Errno::ESTALE))
    }

    /// A live mover's fence met on lock `l`: waits for its move's end by
    /// `d` (an `IPC_NOWAIT` caller as long as its own move could take),
    /// helping a committed publication whose publisher is stopped; with
    /// `grace` (and a caller that may make the copy), the fence word of
    /// a mover seen stopped, and not run, for the grace
    /// ([`RobustLock::wait_for_mover`]), for [`Queue::take_over`].
    fn wait_for_mover(
        &self,
        l: &RobustLock,
        d: &Deadline,
        grace: Option<Duration>,
    ) -> Result<Option<u32>> {
        let dm;
        let d = if d.fences_quickly() {
            dm = Deadline::after(NOWAIT_MOVE_BOUND);
            &dm
        } else {
            d
        };
        let grace = grace.filter(|_| self.obj.may_replace());
        let help = || {
            if self.help_committed() {
                self.finish_move();
            }
        };
        l.wait_for_mover(d, grace, &|| self.obj.is_moved(), &help)
    }

    /// Whether a move of the queue is committed and now published (a
    /// mover stopped or killed after its commit: its publication finished
    /// here, idempotent, the outcomes carried from its copy).
    fn help_committed(&self) -> bool {
        matches!(self.obj.move_state(), crate::ns::MoveState::Committed(_))
            && self.obj.publish_committed(&carry_outcomes).is_ok()
    }

    /// Takes over the move of a mover seen stopped in the middle of it
    /// (`w`: its fence as seen on one of the locks; docs/bounded-time.md,
    /// "Taking over a stalled move"): both locks, `slock` first — each
    /// that carries that fence taken over ([`RobustLock::fence_fencer`]:
    /// the holder it fenced stays fenced), the other fenced anew as the
    /// mover would have ([`Queue::fence_other`]) — then the move redone
    /// from the old file as it stands, with outcomes judged from this
    /// copy. The first mover, continued, finds its fences gone (its copy
    /// is committed only if no fence was given back since it began:
    /// [`Queue::give_back`] ends the epoch). As [`Queue::move_away`].
    fn take_over(&self, w: u32, grace: Option<Duration>) -> Result<()> {
        let h = self.head()?;
        if self.help_committed() {
            self.finish_move();
            return Err(Errno::ESTALE);
        }
        let carries = |l: &RobustLock| (l.word() ^ w) & !WAITERS_BIT == 0;
        if !carries(&h.slock) && !carries(&h.rlock) {
            return Err(Errno::EAGAIN);
        }
        let mut sides: Vec<Side<'_>> = Vec::with_capacity(2);
        let r = (|| -> Result<()> {
            for l in [&h.slock, &h.rlock] {
                let cur = l.word();
                if carries(l) {
                    let pid = l.fence_fencer(cur).ok_or(Errno::EAGAIN)?;
                    sides.push(Side {
                        l,
                        holder: Owner { pid, start: 0 },
                        callers: false,
                    });
                } else {
                    sides.push(self.fence_other(l, grace)?);
                }
            }
            crate::debug_report!(
                "queue {}: the move of stopped mover {} taken over",
                self.obj.id,
                w & 0x3fff_ffff
            );
            if let Some(e) = self.obj.gone() {
                return Err(e);
            }
            self.copy_and_publish(&sides)
        })();
        if r.is_err() {
            self.give_back(&sides);
            if self.obj.commit_forged() {
                return Err(Errno::EIO);
            }
        }
        r.and(Err(Errno::ESTALE))
    }

    /// A move abandoned: every fence this process holds of `sides` given
    /// back (and a lock it took itself to fence let go), unless a move is
    /// committed — the holders must not write beside a copy that is to be
    /// published. Claimed as a lift of the move epoch ([`Obj::begin_lift`]),
    /// which ends the epoch when anything was given back: a copy made
    /// before (by a mover whose move this process took over, stopped
    /// with its copy made) can then never be committed after the old file
    /// changed again. A live lifter is waited for.
    fn give_back(&self, sides: &[Side<'_>]) {
        let back = || {
            let mut any = false;
            for s in sides {
                any |= s.l.unfence(s.holder);
                if s.mine() && !s.callers {
                    any |= s.l.unlock();
                }
            }
            any
        };
        loop {
            let e = match self.obj.open_epoch() {
                Ok(e) => e,
                Err(Errno::EAGAIN) => continue,
                // A scribbled commit point (a member wrote it during the
                // move): nothing can be committed, so the fences are given
                // back without claiming a lift (there is no epoch to
                // claim) rather than left on the locks for good.
                Err(_) if self.obj.commit_forged() => {
                    back();
                    return;
                }
                Err(_) => return, // committed
            };
            if !self.obj.begin_lift(e) {
                continue;
            }
            let any = back();
            self.obj.end_lift(e, any);
            return;
        }
    }

    /// The queue's other lock, for a fencer that holds (fenced) the one
    /// before it in lock order: taken and fenced by this process, or its
    /// stopped holder fenced after `grace` (the untimed one when `None`).
    fn fence_other<'q>(&'q self, l: &'q RobustLock, grace: Option<Duration>) -> Result<Side<'q>> {
        let gone = || self.obj.is_removed();
        let moved = || self.obj.is_moved();
        loop {
            match l
                .lock_movable(
                    &Deadline::NEVER,
                    &gone,
                    Some(grace.unwrap_or(GRACE)),
                    &moved,
                )
                .map_err(|e| self.moved_err(e))?
            {
                Got::Out(_) => {
                    if l.fence_mine() {
                        return Ok(Side {
                            l,
                            holder: Owner::me(),
                            callers: false,
                        });
                    }
                    l.unlock();
                }
                Got::Stopped(seen, _) => {
                    if let Some(holder) = l.fence(seen) {
                        return Ok(Side {
                            l,
                            holder,
                            callers: false,
                        });
                    }
                }
                Got::Orphan(pid) => {
                    self.obj.sweep_dead_temps();
                    return Ok(Side {
                        l,
                        holder: Owner { pid, start: 0 },
                        callers: false,
                    });
                }
            }
        }
    }

    /// Whether the holder fenced at `s` writes nothing now, waiting a
    /// little for one that runs to find its fence (`EAGAIN` after
    /// [`QUIET_WAIT`]).
    fn quiet(s: &Side<'_>) -> Result<Quiet> {
        let t0 = std::time::Instant::now();
        loop {
            if s.mine() || s.l.fence_acked() {
                return Ok(Quiet::Done);
            }
            if let Some(f) = Frozen::look(s.holder.pid, s.holder.start) {
                return Ok(Quiet::Looked(f));
            }
            if !crate::os::proc::alive(s.holder.pid, s.holder.start) {
                return Ok(Quiet::Done);
            }
            if t0.elapsed() > QUIET_WAIT {
                return Err(Errno::EAGAIN);
            }
            crate::os::cancel::nap(Duration::from_millis(1)); // no cancellation point
        }
    }

    /// Steps 2–4 of the module comment, with both locks fenced (`sides`).
    fn copy_and_publish(&self, sides: &[Side<'_>]) -> Result<()> {
        let h = self.head()?;
        let looks = sides
            .iter()
            .map(Self::quiet)
            .collect::<Result<Vec<Quiet>>>()?;
        // A holder looked at stopped must not have run since: one that
        // ran while the file was copied may have written part of its
        // critical section before the copy read those bytes and part
        // after (a `pread` sweeps the file in offset order, the holder
        // stores in its own), and then found its release failing and said
        // so (`fence_acked`). Such a copy is void even so — its list could
        // hold a send whose record the copy missed (the send made twice)
        // — and the move is given up: the holder's release then works.
        let still = || {
            looks.iter().all(|q| match q {
                Quiet::Done => true,
                Quiet::Looked(f) => f.still(),
            })
        };
        let judge_s = sides
            .iter()
            .any(|s| core::ptr::eq(s.l, &h.slock) && !s.mine());
        let judge_r = sides
            .iter()
            .any(|s| core::ptr::eq(s.l, &h.rlock) && !s.mine());
        let outcomes = core::cell::Cell::new((0u64, 0u64));
        let build = |new: &Obj| -> Result<()> {
            let mut v = View::new(new, self.geo)?;
            v.tally = self.tally.as_ref();
            v.mark = self.mark.as_ref();
            let nh = v.head()?;
            let (mut so, mut ro) = (0, 0);
            if judge_s {
                so = judge_send(&v)?;
            }
            if judge_r {
                ro = judge_recv(&v);
            }
            outcomes.set((so, ro));
            // The answers stay in the copy, judged from it: whoever
            // publishes it carries them into the old file before its
            // rename (`carry_outcomes`), so the answers a fenced holder
            // reads are the published copy's, whichever mover's copy won
            // the commit.
            nh.slock.init();
            nh.rlock.init();
            for w in [&nh.sop_id, &nh.rop_id, &nh.sout, &nh.rout] {
                w.store(0, Relaxed);
            }
            nh.born_sout.store(so, Relaxed);
            nh.born_rout.store(ro, Relaxed);
            nh.sent.store(0, Relaxed);
            nh.taken.store(0, Relaxed);
            v.repair()
        };
        // The epoch read after the fences (SeqCst, both sides): a mover
        // that took them over and then gave them back ended it, and this
        // copy cannot be committed; or this process sees its fences gone.
        let r = self.obj.open_epoch().and_then(|e| {
            if !sides.iter().all(|s| s.l.carries_my_fence()) {
                return Err(Errno::EAGAIN);
            }
            self.obj.replace_from(e, &build, &still, &carry_outcomes)
        });
        if let Err(e) = r {
            // Another mover's copy was committed first (its publication
            // helped, or is finished here), or this one's rename failed:
            // the marks once published. The outcomes are the committed
            // copy's.
            if self.help_committed() {
                self.finish_move();
                return Err(Errno::ESTALE);
            }
            return Err(e);
        }
        crate::debug_report!(
            "queue {}: moved to a new file away from a stopped lock holder",
            self.obj.id
        );
        self.finish_move();
        Ok(())
    }

    /// The end of a move, once the copy is published: the old file's
    /// header marked moved (first: a lock word saying moved is believed
    /// only of an object whose header says so), then its locks, and
    /// everyone waiting on it woken.
    fn finish_move(&self) {
        let Ok(h) = self.head() else { return };
        if !self.obj.mark_moved() {
            return; // removed meanwhile: its waiters see that
        }
        h.slock.mark_moved();
        h.rlock.mark_moved();
        for w in [&h.sent, &h.taken] {
            if bump(w) {
                wake(w);
            }
            // Sleepers that had not marked the word yet see the change.
            wake(w);
        }
    }

    /// Runs `op` on this queue and, each time it finds the queue moved
    /// (`ESTALE`), on the queue where it moved to (waiting by `d` for a
    /// move under way).
    #[inline]
    pub(super) fn on_moved<R>(
        &self,
        d: &Deadline,
        mut op: impl FnMut(&Queue) -> Result<R>,
    ) -> Result<R> {
        let r = op(self);
        if !matches!(r, Err(Errno::ESTALE)) {
            return r;
        }
        self.on_moved_slow(d, r, op)
    }

    #[cold]
    fn on_moved_slow<R>(
        &self,
        d: &Deadline,
        mut r: Result<R>,
        mut op: impl FnMut(&Queue) -> Result<R>,
    ) -> Result<R> {
        // An IPC_NOWAIT call waits for a move under way as long as it may
        // make one itself (NOWAIT_MOVE_BOUND): the kernel would perform it.
        let dm;
        let d = if d.fences_quickly() {
            dm = Deadline::after(NOWAIT_MOVE_BOUND);
            &dm
        } else {
            d
        };
        let mut cur = self.clone();
        while matches!(r, Err(Errno::ESTALE)) {
            cur = cur.successor(d)?;
            r = op(&cur);
        }
        r
    }

    /// The queue after a move (found once per queue: [`QueueInner::next`]);
    /// this one again when the move is not
    /// done yet (a fence under way, after a short pause; or given back),
    /// for the caller to retry (its lock wait tells a move under way from
    /// a scribble). `ETIMEDOUT` once `d` passed.
    fn successor(&self, d: &Deadline) -> Result<Queue> {
        if !self.obj.is_moved() {
            if d.remaining().is_some_and(|r| r.is_zero()) {
                return Err(Errno::ETIMEDOUT);
            }
            crate::os::cancel::nap(Duration::from_millis(1)); // no cancellation point
            if !self.obj.is_moved() {
                return Ok(self.clone());
            }
        }
        if let Some(next) = self.next.get() {
            return Ok(next.clone());
        }
        let next = self.with_obj(Arc::new(self.obj.successor()?))?;
        Ok(self.next.get_or_init(|| next).clone())
    }
}

/// How a mover came to hold the first of the queue's locks
/// ([`Queue::move_away`]).
#[derive(Debug, Clone, Copy)]
enum Seen {
    /// held by a stopped holder: the word to fence (its waiters bit may
    /// be set: as merged, that bit was taken for this case's mark, so the
    /// holder was almost never fenced — its lock word left its own while
    /// its queue was copied)
    Holder(u32),
    /// a dead fencer's fence, taken over: the holder it had fenced
    Orphan(i32),
}

/// A lock word's waiters bit (which may change under any fence).
const WAITERS_BIT: u32 = 1 << 31;

#[cfg(test)]
mod tests {
    use super::*;

    /// A queue whose sender was stopped inside `slock` is moved by the
    /// next send; the old queue (what a native handle keeps) then leads
    /// to the copy, found once, not opened again on every call.
    #[test]
    fn an_old_queue_finds_its_successor_once() {
        let t = crate::ns::testing::TempNs::new("successor");
        let q = get(&t.ns, 0, crate::ns::IPC_CREAT | 0o600).unwrap();
        // SAFETY: the child takes the lock in the mapping it inherited,
        // then only spins until it is stopped and killed.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let g = q.lock_send(&Deadline::NEVER);
            core::mem::forget(g);
            loop {
                core::hint::spin_loop();
            }
        }
        // Until the child holds the lock (a bounded wait that fails).
        let t0 = std::time::Instant::now();
        while !q.head().unwrap().slock.is_locked() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "the child took no lock"
            );
            crate::os::cancel::nap(Duration::from_millis(1)); // no cancellation point
        }
        crate::sync::fence::tests::stop(pid);
        q.send(&t.ns, 1, b"moved", 0, Deadline::NEVER).unwrap();
        assert!(q.obj.is_moved());
        let d = Deadline::NEVER;
        let a = q.successor(&d).unwrap();
        let b = q.successor(&d).unwrap();
        assert!(Arc::ptr_eq(&a.0, &b.0), "the successor opened again");
        assert!(!a.obj.is_moved());
        // The message is in the copy, and the old queue reaches it.
        let mut buf = [0u8; 8];
        assert_eq!(q.recv(0, &mut buf, 0, Deadline::NEVER).unwrap(), (1, 5));
        // SAFETY: ending and reaping our child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, core::ptr::null_mut(), 0);
        }
        a.remove(&t.ns).unwrap();
    }

    #[test]
    fn a_record_is_judged_by_the_list() {
        let dir = std::env::temp_dir().join(format!("ripc-fence-{}", std::process::id()));
        let ns = Ns::open(&dir).unwrap();
        let q = get(&ns, 0, crate::ns::IPC_CREAT | 0o600).unwrap();
        let v = q.view().unwrap();
        let h = v.head().unwrap();
        // A send that committed: its record names a descriptor in the list.
        q.send(&ns, 1, b"a", 0, Deadline::NEVER).unwrap();
        let sent = h.sop_id.load(Relaxed);
        assert_ne!(sent, 0);
        assert_eq!(judge_send(&v).unwrap(), sent);
        // Still committed once received: it is the dummy.
        let mut buf = [0u8; 8];
        q.recv(0, &mut buf, 0, Deadline::NEVER).unwrap();
        assert_eq!(judge_send(&v).unwrap(), sent);
        // A send stopped before its commit: its descriptor is free.
        let free = v.geo.ndesc - 1;
        h.sop_at.store(free, Relaxed);
        assert_eq!(judge_send(&v).unwrap(), 0);
        // A receive that committed (first message: it became the dummy).
        let got = h.rop_id.load(Relaxed);
        assert_ne!(got, 0);
        assert_eq!(judge_recv(&v), got);
        // A receive stopped before its commit: the predecessor (the
        // dummy) still leads to its message.
        q.send(&ns, 1, b"b", 0, Deadline::NEVER).unwrap();
        q.send(&ns, 1, b"c", 0, Deadline::NEVER).unwrap();
        let dummy = h.head.load(Relaxed);
        let first = v.desc(dummy).unwrap().next.load(Relaxed);
        h.rop_prev.store(dummy, Relaxed);
        h.rop_at.store(first, Relaxed);
        assert_eq!(judge_recv(&v), 0);
        // A later message unlinked: its predecessor leads past it.
        let second = v.desc(first).unwrap().next.load(Relaxed);
        h.rop_prev.store(first, Relaxed);
        h.rop_at.store(second, Relaxed);
        assert_eq!(judge_recv(&v), 0);
        q.remove(&ns).unwrap();
        drop(q);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Forks a child that runs `f` and leaves with status 0 when it
    /// returns true, 1 otherwise.
    fn child(f: impl FnOnce() -> bool) -> i32 {
        // SAFETY: fork; the child runs `f` and leaves with _exit, never
        // returning into the test harness.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let ok = f();
            // SAFETY: ending the test child.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        pid
    }

    /// Waits up to 5 s for our child `pid` to change state as `waitpid`
    /// with `flags` reports it (`WUNTRACED`: stop too): its status.
    fn status_within(pid: i32, flags: i32, what: &str) -> i32 {
        let t0 = std::time::Instant::now();
        loop {
            let mut st = 0;
            // SAFETY: polling our own child.
            if unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG | flags) } == pid {
                return st;
            }
            if t0.elapsed() > Duration::from_secs(5) {
                // SAFETY: ending our own child, which hung.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, core::ptr::null_mut(), 0);
                }
                panic!("{what}: did not end or stop in 5 s");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Waits up to 5 s for our child `pid` to stop (ending is a failure).
    fn stopped_within(pid: i32, what: &str) {
        let st = status_within(pid, libc::WUNTRACED, what);
        assert!(libc::WIFSTOPPED(st), "{what}: ended instead of stopping");
    }

    /// Waits up to 5 s for our child `pid` to end: whether it ended with
    /// status 0.
    fn ok_within(pid: i32, what: &str) -> bool {
        let st = status_within(pid, 0, what);
        libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0
    }

    /// A child that sends type 1 ("h") on `q`, stopped under `slock`
    /// before its commit ([`HOLD_AT`] 1; `what` names it in a failure).
    fn stopped_sender(q: &Queue, ns: &crate::ns::Ns, what: &str) -> i32 {
        let h = child(|| {
            HOLD_AT.store(1, Relaxed);
            q.send(ns, 1, b"h", 0, Deadline::NEVER).is_ok()
        });
        stopped_within(h, what);
        h
    }

    /// The types of every message left in `q`, received without waiting,
    /// sorted (at most 9: more is a failure of case `tag`).
    fn drained_types(q: &Queue, tag: &str) -> Vec<i64> {
        let mut types = Vec::new();
        let mut b = [0u8; 8];
        while let Ok((ty, _)) = q.recv(0, &mut b, crate::ns::IPC_NOWAIT, Deadline::NEVER) {
            types.push(ty);
            assert!(types.len() < 10, "{tag}: too many messages");
        }
        types.sort_unstable();
        types
    }

    /// The movers' temporary files left in `t`'s directory.
    fn temps_left(t: &crate::ns::testing::TempNs) -> Vec<String> {
        t.objects()
            .into_iter()
            .filter(|n| n.starts_with(".new.") || n.starts_with(".mv."))
            .collect()
    }

    /// One case of a queue mover stopped in the middle of its move: a
    /// sender stopped under `slock` at point `hold` ([`HOLD_AT`]: 1 before
    /// its commit, 2 after), or a receiver under `rlock` (3, 4), a mover
    /// (an untimed call on the same side) stopped at step `k`
    /// of its move (`ns::replace`'s steps: 0 the copy's file made, fences
    /// held; 3 committed; 1 renamed over the numbered name; 2 the key
    /// names too, not marked), then another process's untimed send and
    /// receive, which must end within a second (they take the stopped
    /// mover's move over, or finish its committed publication). The
    /// first mover is then continued (after `delay` ms, counted from the
    /// third's start: it may race the takeover) or killed, the holder
    /// continued: every send is made once (the holder's told once,
    /// whichever copy won), nothing else in the queue, no temporary file.
    fn stopped_mover_case(hold: u32, k: u32, kill: bool, delay: Option<u64>) {
        let tag = format!("qmv{hold}.{k}.{kill}.{delay:?}");
        let t = crate::ns::testing::TempNs::new(&format!("qmv{hold}{k}"));
        let q = get(&t.ns, 0x5157, crate::ns::IPC_CREAT | 0o600).unwrap();
        // A receiving holder (3, 4) takes "h"; its mover takes "x" (it
        // needs `rlock`); a sending one (1, 2) sends "h", its mover "m".
        let recv_side = hold >= 3;
        if recv_side {
            q.send(&t.ns, 1, b"h", 0, Deadline::NEVER).unwrap();
        }
        q.send(&t.ns, 9, b"before", 0, Deadline::NEVER).unwrap();
        if recv_side {
            q.send(&t.ns, 8, b"x", 0, Deadline::NEVER).unwrap();
        }
        let ns = t.ns.clone();
        let holder = child(|| {
            HOLD_AT.store(hold, Relaxed);
            if recv_side {
                let mut b = [0u8; 8];
                q.recv(1, &mut b, 0, Deadline::NEVER) == Ok((1, 1)) && b[0] == b'h'
            } else {
                q.send(&ns, 1, b"h", 0, Deadline::NEVER).is_ok()
            }
        });
        stopped_within(holder, &format!("{tag}: the holder"));
        let mover = child(|| {
            crate::ns::set_step_hook(Some(Box::new(move |n| {
                if n == k {
                    // SAFETY: stops this test child, as SIGSTOP would.
                    unsafe { libc::raise(libc::SIGSTOP) };
                }
            })));
            if recv_side {
                let mut b = [0u8; 8];
                q.recv(8, &mut b, 0, Deadline::NEVER) == Ok((8, 1))
            } else {
                q.send(&ns, 2, b"m", 0, Deadline::NEVER).is_ok()
            }
        });
        stopped_within(mover, &format!("{tag}: the mover"));
        let third = child(|| {
            let t0 = std::time::Instant::now();
            let sent = q.send(&ns, 3, b"s", 0, Deadline::NEVER).is_ok();
            let mut b = [0u8; 8];
            let got = q.recv(9, &mut b, 0, Deadline::NEVER) == Ok((9, 6));
            let took = t0.elapsed();
            eprintln!("{tag}: the third's send and receive took {took:?}");
            sent && got && took < Duration::from_secs(1)
        });
        if let Some(ms) = delay {
            std::thread::sleep(Duration::from_millis(ms));
            // SAFETY: continuing our own child.
            unsafe { libc::kill(mover, libc::SIGCONT) };
        }
        assert!(ok_within(third, &tag), "{tag}: the third's calls");
        // SAFETY: continuing or killing our own child.
        unsafe { libc::kill(mover, if kill { libc::SIGKILL } else { libc::SIGCONT }) };
        let mover_ok = ok_within(mover, &format!("{tag}: the mover"));
        assert!(kill || mover_ok, "{tag}: the mover's call");
        // SAFETY: continuing our own child.
        unsafe { libc::kill(holder, libc::SIGCONT) };
        assert!(
            ok_within(holder, &format!("{tag}: the holder")),
            "{tag}: the holder's call, made once"
        );
        let types = drained_types(&q, &tag);
        let want: Vec<i64> = match (recv_side, kill) {
            (false, false) => vec![1, 2, 3],
            (false, true) => vec![1, 3],
            (true, false) => vec![3],
            (true, true) => vec![3, 8],
        };
        assert_eq!(types, want, "{tag}: the messages");
        if kill {
            // A killed mover's copy: swept as any dead creator's file.
            t.ns.sweep_tmp();
        }
        assert_eq!(temps_left(&t), Vec::<String>::new(), "{tag}: left");
        q.remove(&t.ns).unwrap();
    }

    /// A queue mover stopped at each step of its move, beside a sender
    /// or a receiver stopped before or after its commit, is taken over: another
    /// process's untimed calls end within a second; the first mover,
    /// continued or killed, and the holder, continued, each find their
    /// send made exactly once. Before the takeover, the third process's
    /// calls waited as long as the mover stayed stopped.
    #[test]
    fn a_queue_mover_stopped_at_any_step_is_taken_over() {
        for hold in [1u32, 2, 3, 4] {
            for k in [0u32, 3, 1, 2] {
                for kill in [false, true] {
                    stopped_mover_case(hold, k, kill, None);
                }
            }
        }
    }

    /// The same, with the first mover continued 0–39 ms after the third
    /// process starts: it may race the takeover (its copy or the taker's
    /// wins the commit); every send made once.
    /// A member scribbles the queue's `moved_to` (a committed move to an
    /// inode that is no copy of it: docs/bounded-time.md, "A scribbled
    /// `moved_to`"). Without a stopped holder nothing reads it: the calls
    /// are performed. Beside a sender stopped under `slock`, a send would
    /// move the queue: it answers `EIO` (an `IPC_NOWAIT` one within
    /// 250 ms, a 500 ms timed one before its deadline, an untimed one
    /// within 1 s; they answered `EIDRM` before, as if the queue had been
    /// removed), a receive (the other lock) is performed; the holder,
    /// continued, sends; `IPC_RMID` removes the queue.
    #[test]
    fn a_scribbled_moved_to_ends_every_call() {
        for holder in [false, true] {
            let what = format!("holder {holder}");
            let t = crate::ns::testing::TempNs::new(&format!("qmvscrib{holder}"));
            let q = get(&t.ns, 0x5158, crate::ns::IPC_CREAT | 0o600).unwrap();
            q.send(&t.ns, 9, b"before", 0, Deadline::NEVER).unwrap();
            let ns = t.ns.clone();
            let h = if holder {
                stopped_sender(&q, &ns, &format!("{what}: the holder"))
            } else {
                0
            };
            q.obj
                .moved_to_for_test()
                .store((1 << 63) | 0x7fff_fff0, Relaxed);
            let c = child(|| {
                let sends = [
                    (crate::ns::IPC_NOWAIT, Deadline::NEVER, 250),
                    (0, Deadline::after(Duration::from_millis(500)), 500),
                    (0, Deadline::NEVER, 1000),
                ];
                let mut fine = true;
                for (flags, d, bound) in sends {
                    let t0 = std::time::Instant::now();
                    let r = q.send(&ns, 2, b"s", flags, d);
                    let took = t0.elapsed();
                    eprintln!("{what}: send {flags:#x}: {r:?} in {took:?}");
                    fine &= if holder {
                        r == Err(Errno::EIO) && took < Duration::from_millis(bound)
                    } else {
                        r.is_ok()
                    };
                }
                let mut b = [0u8; 8];
                fine && q.recv(9, &mut b, 0, Deadline::NEVER) == Ok((9, 6))
            });
            assert!(ok_within(c, &format!("{what}: the caller")), "{what}");
            if h != 0 {
                // SAFETY: continuing our own child.
                unsafe { libc::kill(h, libc::SIGCONT) };
                assert!(ok_within(h, &format!("{what}: the holder")), "{what}");
            }
            let want: &[i64] = if holder { &[1] } else { &[2, 2, 2] };
            assert_eq!(drained_types(&q, &what), want, "{what}");
            assert_eq!(q.remove(&t.ns), Ok(()), "{what}: IPC_RMID");
        }
    }

    /// A member scribbles the queue's `moved_to` while a mover (stopped
    /// at step 0 of its move: its fences held, its copy's file made) is
    /// in the middle of its move away from a sender stopped under
    /// `slock`: continued, the mover's commit fails on the forged commit
    /// point; it gives its fences back (it left them on the locks for
    /// good, the commit point no epoch it could claim a lift in) and its
    /// send answers `EIO`; the holder, continued, sends; the queue works.
    #[test]
    fn a_moved_to_scribbled_during_a_move_leaves_no_fence() {
        let t = crate::ns::testing::TempNs::new("qmvscribmid");
        let q = get(&t.ns, 0x5159, crate::ns::IPC_CREAT | 0o600).unwrap();
        let ns = t.ns.clone();
        let holder = stopped_sender(&q, &ns, "the holder");
        let mover = child(|| {
            crate::ns::set_step_hook(Some(Box::new(move |n| {
                if n == 0 {
                    // SAFETY: stops this test child, as SIGSTOP would.
                    unsafe { libc::raise(libc::SIGSTOP) };
                }
            })));
            q.send(&ns, 2, b"m", 0, Deadline::NEVER) == Err(Errno::EIO)
        });
        stopped_within(mover, "the mover");
        q.obj
            .moved_to_for_test()
            .store((1 << 63) | 0x7fff_fff0, Relaxed);
        // SAFETY: continuing our own children.
        unsafe { libc::kill(mover, libc::SIGCONT) };
        assert!(ok_within(mover, "the mover"), "the mover's send");
        // SAFETY: continuing our own child.
        unsafe { libc::kill(holder, libc::SIGCONT) };
        assert!(ok_within(holder, "the holder"), "the holder's send");
        q.send(&t.ns, 3, b"s", crate::ns::IPC_NOWAIT, Deadline::NEVER)
            .unwrap();
        assert_eq!(drained_types(&q, "after"), [1, 3]);
        assert_eq!(temps_left(&t), Vec::<String>::new(), "temporary files");
        q.remove(&t.ns).unwrap();
    }

    #[test]
    fn a_stopped_queue_mover_continued_during_the_takeover_races_safely() {
        let mut seed = std::process::id();
        for round in 0..16u32 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let k = [0u32, 3, 1, 2][round as usize % 4];
            let hold = 1 + (round / 4) % 4;
            stopped_mover_case(hold, k, false, Some((seed >> 16) as u64 % 40));
        }
    }

    /// A holder stopped under `slock` before its commit and continued
    /// while its fencer copies the file (the fencer's step 0: its copy's
    /// file made, the fences held) commits in the old file, finds its
    /// release failing and says so (`fence_acked`): the copy, made while
    /// it ran, is void — the move is given up, the queue stays in its
    /// file, and the holder's release then works. Every send made once.
    /// (The old rule took the holder's word for its quiet and published
    /// the copy: the queue moved.)
    #[test]
    fn a_holder_that_ran_during_the_copy_voids_it() {
        let t = crate::ns::testing::TempNs::new("qvoid");
        let q = get(&t.ns, 0x5158, crate::ns::IPC_CREAT | 0o600).unwrap();
        q.send(&t.ns, 9, b"before", 0, Deadline::NEVER).unwrap();
        let ino_of = |t: &crate::ns::testing::TempNs| {
            use std::os::unix::fs::MetadataExt;
            let name = t
                .objects()
                .into_iter()
                .find(|n| n.starts_with("msg."))
                .unwrap();
            std::fs::metadata(t.dir.join(name)).unwrap().ino()
        };
        let before = ino_of(&t);
        let ns = t.ns.clone();
        let holder = stopped_sender(&q, &ns, "the holder");
        let mover = child(|| {
            let done = core::cell::Cell::new(false);
            let q2 = q.clone();
            crate::ns::set_step_hook(Some(Box::new(move |n| {
                if n != 0 || done.replace(true) {
                    return;
                }
                // SAFETY: continuing the test's holder (our sibling).
                unsafe { libc::kill(holder, libc::SIGCONT) };
                let t0 = std::time::Instant::now();
                while !q2.head().is_ok_and(|h| h.slock.fence_acked()) {
                    if t0.elapsed() > Duration::from_secs(2) {
                        // SAFETY: leaving this test child at once.
                        unsafe { libc::_exit(3) };
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            })));
            q.send(&ns, 2, b"m", 0, Deadline::NEVER).is_ok()
        });
        assert!(ok_within(mover, "the mover"), "the mover's send");
        assert!(ok_within(holder, "the holder"), "the holder's send");
        assert_eq!(ino_of(&t), before, "the queue stayed in its file");
        assert_eq!(
            drained_types(&q, "void"),
            vec![1, 2, 9],
            "every send made once"
        );
        assert_eq!(temps_left(&t), Vec::<String>::new(), "left");
        q.remove(&t.ns).unwrap();
    }

    /// One call a signal handler makes at step `k` of its own thread's
    /// move (the hook runs on the mover's thread, as a handler does):
    /// its answer, and whether it came within `bound`.
    fn timed<R>(bound: Duration, f: impl FnOnce() -> R) -> (R, bool) {
        let t0 = std::time::Instant::now();
        let r = f();
        let took = t0.elapsed();
        (r, took < bound)
    }

    /// A signal handler whose own thread is moving the queue (away from a
    /// sender stopped under `slock`), and which calls on that queue at
    /// step `k` of the move (the step hook, on the mover's thread): before
    /// the commit (step 0) every call is answered at once — `IPC_NOWAIT`
    /// `EAGAIN`/`ENOMSG`, a timed call `ETIMEDOUT` well before its 300 ms,
    /// an untimed one `EDEADLK`, `IPC_STAT` read without the locks,
    /// `IPC_SET` `EAGAIN`; after it (steps 3, 1, 2) the move is published
    /// by the handler's call and every call performed on the copy. With
    /// `rmid`, the handler removes the queue at step 0: the mover's send
    /// answers `EIDRM`, nothing is left. The mover's own send is made
    /// once in every other case. (Before: the handler waited for its own
    /// thread's move, for ever when untimed — the child killed after
    /// 5 s.)
    fn handler_on_own_move_case(k: u32, rmid: bool) {
        let tag = format!("own move, step {k}, rmid {rmid}");
        let t = crate::ns::testing::TempNs::new(&format!("qown{k}{rmid}"));
        let q = get(&t.ns, 0x515a, crate::ns::IPC_CREAT | 0o600).unwrap();
        q.send(&t.ns, 9, b"before", 0, Deadline::NEVER).unwrap();
        let qbytes = q.stat(false).unwrap().qbytes;
        let ns = t.ns.clone();
        let holder = stopped_sender(&q, &ns, "the holder");
        let mover = child(|| {
            let done = core::cell::Cell::new(false);
            let ok = std::rc::Rc::new(core::cell::Cell::new(false));
            let (q2, ns2, ok2, tag2) = (q.clone(), ns.clone(), ok.clone(), tag.clone());
            crate::ns::set_step_hook(Some(Box::new(move |n| {
                if n != k || done.replace(true) {
                    return;
                }
                let (q, ns) = (&q2, &ns2);
                let quick = Duration::from_millis(100);
                let mut b = [0u8; 8];
                let nw = crate::ns::IPC_NOWAIT;
                let committed = k != 0;
                if rmid {
                    let (r, fast) = timed(quick, || q.remove(ns));
                    eprintln!("{tag2}: IPC_RMID {r:?} (quick: {fast})");
                    ok2.set(r == Ok(()) && fast);
                    return;
                }
                let mut all = true;
                let mut check = |what: &str, got: String, want: &str, fast: bool| {
                    eprintln!("{tag2}: {what}: {got} (quick: {fast})");
                    all &= got == want && fast;
                };
                let (r, f) = timed(quick, || q.send(ns, 5, b"nw", nw, Deadline::NEVER));
                let want = if committed { "Ok(())" } else { "Err(EAGAIN)" };
                check("IPC_NOWAIT msgsnd", format!("{r:?}"), want, f);
                let d = Deadline::after(Duration::from_millis(300));
                let (r, f) = timed(quick, || q.send(ns, 6, b"timed", 0, d));
                let want = if committed {
                    "Ok(())"
                } else {
                    "Err(ETIMEDOUT)"
                };
                check("timed msgsnd", format!("{r:?}"), want, f);
                let (r, f) = timed(quick, || q.send(ns, 7, b"untimed", 0, Deadline::NEVER));
                let want = if committed { "Ok(())" } else { "Err(EDEADLK)" };
                check("untimed msgsnd", format!("{r:?}"), want, f);
                let (r, f) = timed(quick, || q.recv(9, &mut b, 0, Deadline::NEVER));
                let want = if committed {
                    "Ok((9, 6))"
                } else {
                    "Err(EDEADLK)"
                };
                check("untimed msgrcv", format!("{r:?}"), want, f);
                let (r, f) = timed(quick, || q.recv(8, &mut b, nw, Deadline::NEVER));
                check("IPC_NOWAIT msgrcv", format!("{r:?}"), "Err(ENOMSG)", f);
                let (r, f) = timed(quick, || q.stat(false).map(|s| s.qnum));
                // (The sender stopped before its commit: not counted.)
                let want = if committed { "Ok(3)" } else { "Ok(1)" };
                check("IPC_STAT", format!("{r:?}"), want, f);
                // SAFETY: reading this process's ids.
                let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
                let (r, f) = timed(quick, || q.set(ns, uid, gid, 0o640, qbytes));
                let want = if committed { "Ok(())" } else { "Err(EAGAIN)" };
                check("IPC_SET", format!("{r:?}"), want, f);
                ok2.set(all);
            })));
            let r = q.send(&ns, 2, b"m", 0, Deadline::NEVER);
            crate::ns::set_step_hook(None);
            eprintln!("{tag}: the mover's send: {r:?}");
            ok.get() && r == if rmid { Err(Errno::EIDRM) } else { Ok(()) }
        });
        let mover_ok = ok_within(mover, &format!("{tag}: the mover"));
        // SAFETY: continuing our own child.
        unsafe { libc::kill(holder, libc::SIGCONT) };
        let holder_ok = ok_within(holder, &format!("{tag}: the holder"));
        assert!(mover_ok, "{tag}: the handler's calls, or the mover's send");
        if rmid {
            assert!(q.obj.gone().is_some(), "{tag}: removed");
            assert_eq!(t.objects(), Vec::<String>::new(), "{tag}: left");
            return;
        }
        assert!(holder_ok, "{tag}: the holder's send");
        let want: &[i64] = if k == 0 { &[1, 2, 9] } else { &[1, 2, 5, 6, 7] };
        assert_eq!(drained_types(&q, &tag), want, "{tag}: every send made once");
        assert_eq!(temps_left(&t), Vec::<String>::new(), "{tag}: left");
        q.remove(&t.ns).unwrap();
    }

    /// After its move the mover makes its call on the copy through the
    /// old queue's successor (`QueueInner::next`), holding the copy's
    /// lock there; a signal handler of its thread that looks the queue up
    /// by id (as every C call does: the thread's cache misses a moved
    /// queue, the namespace's engine cache is asked) gets that same
    /// mapping of the copy, where the lock is noted as its thread's, and
    /// is answered at once. Before, the engine cache mapped the copy a
    /// second time, where the lock was a stranger's: `IPC_STAT` waited
    /// its 1 s bound, an untimed call for ever (found by the C
    /// reproducer of docs/bounded-time.md, "A handler whose thread is
    /// moving the object", "Left").
    #[test]
    fn a_handler_during_its_threads_call_on_the_copy_is_answered_at_once() {
        let t = crate::ns::testing::TempNs::new("qcopycall");
        let made = get(&t.ns, 0x515b, crate::ns::IPC_CREAT | 0o600).unwrap();
        let ns = t.ns.clone();
        // The queue as a C caller has it: from the engine cache, by id.
        let q = by_id(&ns, made.obj.id).unwrap();
        let holder = stopped_sender(&q, &ns, "the holder");
        let mover = child(|| {
            // The move (away from the stopped holder), then the mover's
            // next call on the copy, under the copy's lock.
            if q.send(&ns, 2, b"m", 0, Deadline::NEVER).is_err() {
                return false;
            }
            let Some(next) = q.next.get() else {
                eprintln!("no move");
                return false;
            };
            let Ok(g) = next.lock_send(&Deadline::NEVER) else {
                return false;
            };
            // The handler's `msgctl(IPC_STAT)` and `IPC_NOWAIT` send.
            let (r, fast) = timed(Duration::from_millis(100), || {
                by_id(&ns, q.obj.id).and_then(|h| h.stat(false).map(|s| s.qnum))
            });
            eprintln!("copy call: handler's IPC_STAT {r:?} (quick: {fast})");
            let (w, wfast) = timed(Duration::from_millis(100), || {
                by_id(&ns, q.obj.id)
                    .and_then(|h| h.send(&ns, 5, b"nw", crate::ns::IPC_NOWAIT, Deadline::NEVER))
            });
            eprintln!("copy call: handler's IPC_NOWAIT msgsnd {w:?} (quick: {wfast})");
            let same = by_id(&ns, q.obj.id).is_ok_and(|h| Arc::ptr_eq(&h.0, &next.0));
            drop(g);
            r.is_ok() && fast && w == Err(Errno::EAGAIN) && wfast && same
        });
        let mover_ok = ok_within(mover, "the mover");
        // SAFETY: continuing our own child.
        unsafe { libc::kill(holder, libc::SIGCONT) };
        let holder_ok = ok_within(holder, "the holder");
        assert!(mover_ok, "the handler's calls during the call on the copy");
        assert!(holder_ok, "the holder's send");
        assert_eq!(drained_types(&q, "copy call"), [1, 2]);
        assert_eq!(temps_left(&t), Vec::<String>::new());
        q.remove(&t.ns).unwrap();
    }

    #[test]
    fn a_handler_on_its_own_threads_move_is_answered_at_once() {
        for k in [0, 3, 1, 2] {
            handler_on_own_move_case(k, false);
        }
        handler_on_own_move_case(0, true);
    }
}
