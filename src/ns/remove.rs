//! Removing an object's names (`IPC_RMID`, destruction).

use super::*;

impl Ns {
    /// Unlinks the payload name of object file `ino` (no such name: nothing).
    pub(super) fn unlink_data(&self, kind: Kind, ino: u64) {
        if let Ok(c) = data_cname(kind, ino).as_cstr() {
            // SAFETY: unlinking a name in our directory; the name is that
            // of the payload of an object file we hold (see `data_cname`).
            unsafe { libc::unlinkat(self.dirfd.as_raw_fd(), c.as_ptr(), 0) };
        }
    }

    /// Marks `obj` removed and takes its key name away (so the key finds
    /// nothing any more). With `keep_id`, its numbered name stays (a
    /// segment still attached); [`Ns::unlink_id`] removes it later.
    pub fn remove(&self, obj: &Obj, keep_id: bool) {
        self.remove_walked(obj, keep_id, &mut |_| false);
    }

    /// [`Ns::remove`], with `walk` called once while the object's file
    /// still has its names, after it was marked removed: with the status
    /// of its number that [`Ns::unlink_id`] takes to check that the number
    /// is this object's before it unlinks it (`Some`), or `None` where no
    /// such status was taken (a copy at its spare's name, a number that
    /// no longer names this object). A set's `IPC_RMID` counts its sleeper
    /// slots from that status (`Obj::only_reserved_in`) instead of an
    /// `fstatat` of its own: one system call less per removal (issue 14).
    /// When `walk` returns true it made system calls of its own (it opened
    /// the file): the number's status is then taken again before the
    /// unlink, so that the check stands as close to the unlink as without
    /// a walk. Not called when the object moved meanwhile (its copy is
    /// removed by the caller's next call) or with `keep_id`.
    pub fn remove_walked(
        &self,
        obj: &Obj,
        keep_id: bool,
        walk: &mut dyn FnMut(Option<&libc::stat>) -> bool,
    ) {
        // A queue's or a set's removal mark first (see `settle_removals`):
        // a remover killed from here to its bit leaves a mark that the
        // next `*_INFO` follows. (A segment's is set by the shared-memory
        // engine's `IPC_RMID`: it lives on while attached.)
        if obj.kind != Kind::Shm && !keep_id {
            self.mark_removing(obj);
        }
        // A compare-and-swap: an object that moved meanwhile keeps its
        // mark, so that its remover (or anyone) finds the copy. (Its
        // removal mark then stays until the copy is removed: a marked
        // index whose object is live is counted, see `settle_removals`.)
        let cas = obj.header().state.compare_exchange(
            STATE_LIVE,
            STATE_REMOVED,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        if cas == Err(STATE_MOVED) && !keep_id {
            // Moved meanwhile: its names are the copy's now, or forward
            // to it (src/ns/spare.rs): none is unlinked here; the remover
            // makes its call again on the copy.
            return;
        }
        if obj.alt {
            // At its spare's name: its names are the old file's.
            if !keep_id {
                walk(None);
                obj.unlink_forwarded_names(self);
            }
            if let Ok(mut c) = self.cache.lock() {
                c.remove(&(obj.kind, obj.id));
                c.engines.remove(&(obj.kind, obj.id));
            }
            return;
        }
        let key = obj.perm().key;
        if key != IPC_PRIVATE {
            for n in 0..KEY_SLOTS {
                let name = Self::key_name(obj.kind, key, n);
                if self.unlink_if_same(&name, obj) {
                    // Names of removed objects before ours are now at the
                    // end of the key's slots: unlink them where we may.
                    if n > 0 {
                        self.heal_key(obj.kind, key);
                    }
                    break;
                }
                if !self.exists(&name) {
                    break;
                }
            }
        }
        if !keep_id {
            self.unlink_id_walked(obj, walk);
        }
        if let Ok(mut c) = self.cache.lock() {
            c.remove(&(obj.kind, obj.id));
            c.engines.remove(&(obj.kind, obj.id));
        }
    }

    /// Sets the removal mark of `obj`'s index (see
    /// [`index::Index::mark_removing`]): before the first step of its
    /// removal, so that a remover killed after it is finished by the next
    /// `*_INFO`. The mark goes with the index's bit ([`Ns::unlink_id`]:
    /// both are the index's byte).
    pub fn mark_removing(&self, obj: &Obj) {
        if let Some(ix) = &self.index {
            ix.mark_removing(obj.kind, obj.id % IDX_SPAN);
        }
    }

    /// Removes the numbered name of a removed object.
    /// A payload of its own ([`CreateSpec::data_apart`]) goes first: its
    /// name is never left behind by an object whose file is gone.
    pub fn unlink_id(&self, obj: &Obj) {
        self.unlink_id_walked(obj, &mut |_| false);
    }

    /// [`Ns::unlink_id`], with `walk` called between the check of the
    /// number and its unlink (see [`Ns::remove_walked`]).
    fn unlink_id_walked(&self, obj: &Obj, walk: &mut dyn FnMut(Option<&libc::stat>) -> bool) {
        let idx = obj.id % IDX_SPAN;
        let name = idx_cname(obj.kind, idx);
        // A segment's payload name whatever its flags say (a member may
        // have scribbled them), and even when the number went already (a
        // sweep of a scribbled header, another remover): only this
        // object's payload has that name while its file lives, and the
        // payload would otherwise outlive it.
        if obj.data_apart() || obj.kind == Kind::Shm {
            self.unlink_data(obj.kind, obj.ino);
        }
        // Its spare with it (src/ns/spare.rs).
        obj.unlink_spare();
        // (`Obj::stat`: the number names this object's file, by `fstatat`.)
        match obj.stat() {
            Err(_) => {
                walk(None);
                return;
            }
            // A walk that made calls of its own: the check again.
            Ok(st) if walk(Some(&st)) && obj.stat().is_err() => return,
            Ok(_) => {}
        }
        // (Checked just above to be this object's: a number is unlinked
        // only by a remover of its object, never reused while it exists.)
        if let Ok(c) = name.as_cstr() {
            // SAFETY: unlinking a name in our directory that refers to
            // this object (checked above).
            unsafe { libc::unlinkat(self.dirfd.as_raw_fd(), c.as_ptr(), 0) };
        }
        if let Some(ix) = &self.index {
            // (Its removal mark with it: one byte.)
            ix.mark(obj.kind, idx, false);
        }
    }

    /// Unlinks `name` if it is a name of `obj`; true when it was one.
    pub(super) fn unlink_if_same(&self, name: &str, obj: &Obj) -> bool {
        if !self.same_file(name, obj.dev, obj.ino) {
            return false;
        }
        if let Ok(c) = cpath(name) {
            // SAFETY: unlinking a name in our directory that we just
            // checked refers to this object.
            unsafe { libc::unlinkat(self.dirfd.as_raw_fd(), c.as_ptr(), 0) };
        }
        true
    }
}
