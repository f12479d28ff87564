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
//!    one just after it ([`Frozen`]), or said it writes nothing more
//!    ([`RobustLock::ack_fence`]: it found its release failing), or is dead.
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
//! (`rop_prev`, `rop_at`), then the id (`rop_id`). An id is unique
//! (the thread id and a per-thread counter seeded from the clock, reset
//! in a `fork` child). A holder stopped before its id store leaves an
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
use crate::sync::lock::Got;
use crate::sync::owner::Owner;
use core::time::Duration;

/// How long a holder must be seen stopped, and not run, before a waiter
/// fences it: long enough that a holder merely caught by a job-control
/// stop it is about to be continued from is not fenced at once.
pub(super) const GRACE: Duration = Duration::from_millis(20);

/// How long a fencer waits for a fenced holder that runs (continued
/// meanwhile) to find its fence, before it gives the fence back.
const QUIET_WAIT: Duration = Duration::from_secs(2);

const LOW: u64 = (1 << 40) - 1;

thread_local! {
    static OP: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
}

/// A new operation id (see the module comment).
#[inline]
pub(super) fn next_op() -> u64 {
    OP.with(|c| {
        let mut v = c.get();
        if v == 0 {
            v = seed();
        }
        let mut n = (v & !LOW) | ((v & LOW).wrapping_add(1) & LOW);
        if n & LOW == 0 {
            n |= 1;
        }
        c.set(n);
        n
    })
}

#[cold]
fn seed() -> u64 {
    crate::os::proc::on_fork_child(|| OP.with(|c| c.set(0)));
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) } as u64;
    (tid << 40) | (crate::os::proc::boot_ns() & LOW) | 1
}

/// After a fenced holder's release failed and its queue moved: whether
/// its operation `op` committed (the fencer's answer in the old file).
#[inline]
pub(super) fn outcome(out: &AtomicU64, op: u64) -> bool {
    out.load(Acquire) == op
}

/// The grace before fencing under deadline `d`: none for the calls that
/// end at a stopped holder anyway (`IPC_NOWAIT`, control calls).
fn grace(d: &Deadline) -> Option<Duration> {
    (!d.ends_if_stopped()).then_some(GRACE)
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
    pub(super) fn take_movable<'q>(
        &'q self,
        l: &'q RobustLock,
        d: &Deadline,
        s_held: bool,
    ) -> Result<(QGuard<'q>, bool)> {
        let gone = || self.obj.is_removed();
        let mut g = grace(d);
        loop {
            let got = l.lock_movable(d, &gone, g).map_err(|e| self.moved_err(e))?;
            let r = match got {
                Got::Out(o) => return Ok((QGuard(l), o == LockOutcome::OwnerDied)),
                Got::Stopped(seen, _) => self.move_away(l, Some(seen), s_held),
                Got::Orphan(pid) => self.move_away(l, Some(FENCE_TAKEN | pid as u32), s_held),
            };
            match r {
                // Abandoned: the holder ran, or let go; wait again.
                Err(Errno::EAGAIN) => {}
                // Cannot move it (a file this process may not make):
                // wait for the holder as before.
                Err(e) if e != Errno::ESTALE && e != Errno::EIDRM => g = None,
                Err(e) => return Err(e),
                Ok(()) => return Err(Errno::ESTALE),
            }
        }
    }

    /// Moves the queue to a new file (see the module comment), having
    /// found `l` held by a stopped holder (`seen`: the word to fence) or
    /// taken a dead fencer's fence of it over (`FENCE_TAKEN | pid`).
    /// `ESTALE` when done; `EAGAIN` when abandoned (every fence given
    /// back); other errors when the move cannot be made here.
    fn move_away<'q>(&'q self, l: &'q RobustLock, seen: Option<u32>, s_held: bool) -> Result<()> {
        let h = self.head()?;
        let is_s = core::ptr::eq(l, &h.slock);
        let mut sides: Vec<Side<'q>> = Vec::with_capacity(2);
        let first = |sides: &mut Vec<Side<'q>>| -> Result<()> {
            let seen = seen.ok_or(Errno::EAGAIN)?;
            let holder = if seen & FENCE_TAKEN != 0 {
                Owner {
                    pid: (seen & !FENCE_TAKEN) as i32,
                    start: 0,
                }
            } else {
                l.fence(seen).ok_or(Errno::EAGAIN)?
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
                sides.push(self.fence_other(&h.rlock)?);
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
                let orphan = seen.is_some_and(|s| s & FENCE_TAKEN != 0);
                if orphan {
                    first(&mut sides)?;
                }
                sides.push(self.fence_other(&h.slock)?);
                if !orphan {
                    first(&mut sides)?;
                }
            }
            if self.obj.is_removed() {
                return Err(if self.obj.is_moved() {
                    Errno::ESTALE
                } else {
                    Errno::EIDRM
                });
            }
            self.copy_and_publish(&sides)
        })();
        if r.is_err() && r != Err(Errno::ESTALE) {
            for s in &sides {
                let _ = s.l.unfence(s.holder);
                if s.mine() && !s.callers {
                    s.l.unlock();
                }
            }
        }
        r.and(Err(Errno::ESTALE))
    }

    /// The queue's other lock, for a fencer that holds (fenced) the one
    /// before it in lock order: taken and fenced by this process, or its
    /// stopped holder fenced.
    fn fence_other<'q>(&'q self, l: &'q RobustLock) -> Result<Side<'q>> {
        let gone = || self.obj.is_removed();
        loop {
            match l
                .lock_movable(&Deadline::NEVER, &gone, Some(GRACE))
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
                    return Ok(Side {
                        l,
                        holder: Owner { pid, start: 0 },
                        callers: false,
                    })
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
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Steps 2–4 of the module comment, with both locks fenced (`sides`).
    fn copy_and_publish(&self, sides: &[Side<'_>]) -> Result<()> {
        let h = self.head()?;
        let mut looks = Vec::with_capacity(2);
        for s in sides {
            looks.push((s, Self::quiet(s)?));
        }
        let still = || {
            looks.iter().all(|(s, q)| match q {
                Quiet::Done => true,
                Quiet::Looked(f) => f.still() || s.l.fence_acked(),
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
            v.tally = self.tally.as_ref().map(Copier::slot);
            v.mark = self.mark.as_ref();
            let nh = v.head()?;
            let (mut so, mut ro) = (0, 0);
            if judge_s {
                let id = nh.sop_id.load(Relaxed);
                if id != 0 && v.reaches(nh.sop_at.load(Relaxed))? {
                    so = id;
                }
            }
            if judge_r {
                let id = nh.rop_id.load(Relaxed);
                let at = nh.rop_at.load(Relaxed);
                let prev = nh.rop_prev.load(Relaxed);
                let moved_on = || -> Result<bool> {
                    Ok(nh.head.load(Relaxed) == at || v.desc(prev)?.next.load(Relaxed) != at)
                };
                if id != 0 && moved_on().unwrap_or(false) {
                    ro = id;
                }
            }
            outcomes.set((so, ro));
            nh.slock.init();
            nh.rlock.init();
            for w in [&nh.sop_id, &nh.rop_id, &nh.sout, &nh.rout] {
                w.store(0, Relaxed);
            }
            nh.sent.store(0, Relaxed);
            nh.taken.store(0, Relaxed);
            v.repair()
        };
        self.obj.replace(&build, &still)?;
        // Published: the fenced holders' answers, then the marks.
        let (so, ro) = outcomes.get();
        h.sout.store(so, Release);
        h.rout.store(ro, Release);
        crate::debug_report!(
            "queue {}: moved to a new file away from a stopped lock holder",
            self.obj.id
        );
        h.slock.mark_moved();
        h.rlock.mark_moved();
        self.obj.mark_moved();
        for w in [&h.sent, &h.taken] {
            if bump(w) {
                wake(w);
            }
            // Sleepers that had not marked the word yet see the change.
            wake(w);
        }
        Ok(())
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
        let mut cur = self.clone();
        while matches!(r, Err(Errno::ESTALE)) {
            cur = cur.successor(d)?;
            r = op(&cur);
        }
        r
    }

    /// The queue after a move (this one while a fence is given back).
    fn successor(&self, d: &Deadline) -> Result<Queue> {
        let h = self.head()?;
        while !self.obj.is_moved() {
            let l = [&h.slock, &h.rlock]
                .into_iter()
                .find(|l| matches!(l.state(), crate::sync::LockState::Fenced { .. }));
            match l {
                Some(l) => match l.wait_moved(d) {
                    Ok(()) | Err(Errno::EAGAIN) => {}
                    Err(e) => return Err(e),
                },
                None if self.obj.is_removed() => return Err(Errno::EIDRM),
                None => {
                    // The mark of the locks comes before the header's.
                    if matches!(h.slock.state(), crate::sync::LockState::Moved) {
                        std::thread::yield_now();
                        continue;
                    }
                    return Ok(self.clone());
                }
            }
        }
        let obj = Arc::new(self.obj.successor()?);
        self.with_obj(obj)
    }
}

/// In a fence's "seen" word: a dead fencer's fence taken over, not a
/// word to fence (the pid below it is the holder it had fenced).
const FENCE_TAKEN: u32 = 1 << 31;
