//! Finding objects: by id (with the per-process cache), by key, by index;
//! adopting a file as an object; the index hint.

use super::*;

impl Ns {
    /// The name of key slot `n` of `key`. A key normally has one name
    /// (slot 0). Removal by a user who may not unlink the creator's file (an
    /// owner set by `IPC_SET` in the sticky directory) leaves a removed
    /// object behind its name; the key then lives on in the next slot.
    pub(super) fn key_name(kind: Kind, key: i32, n: u32) -> String {
        if n == 0 {
            format!("{}.key.{:08x}", kind.prefix(), key as u32)
        } else {
            format!("{}.key.{:08x}.{}", kind.prefix(), key as u32, n)
        }
    }

    pub(super) fn idx_name(kind: Kind, idx: i32) -> String {
        format!("{}.{}", kind.prefix(), idx)
    }

    pub(super) fn open_name(&self, name: &str) -> Result<Option<OwnedFd>> {
        open_name_in(&self.dirfd, name)
    }

    /// Maps and validates an object file of this kind (regular file,
    /// header, recorded creator owns the file, sizes): the object, and
    /// whether it is live (`false`: removed, its file still present).
    pub(super) fn adopt_any(&self, kind: Kind, f: OwnedFd) -> Result<(Obj, bool)> {
        adopt_in(&self.dirfd, kind, f)
    }

    /// The object file at `name`, adopted ([`Ns::adopt_any`]); `None`
    /// when there is no such name. A file found moved (`Obj::replace`:
    /// its mover published the copy over this name between our open and
    /// our look at its header) is not the name's object any more: the
    /// name is opened again, up to 16 times (each move takes a mover a
    /// copy of the file, so a name cannot keep moving under us).
    pub(super) fn adopt_name(&self, kind: Kind, name: &str) -> Result<Option<(Obj, bool)>> {
        let mut tries = 0;
        loop {
            let Some(f) = self.open_name(name)? else {
                return Ok(None);
            };
            let (obj, live) = self.adopt_any(kind, f)?;
            tries += 1;
            if !live && obj.is_moved() {
                // Moved by a member that may not rename the names: they
                // forward to the copy at the spare's name
                // (src/ns/spare.rs).
                if let Some(c) = obj.forwarded() {
                    return Ok(Some(c));
                }
            }
            if live || !obj.is_moved() || tries >= 16 {
                return Ok(Some((obj, live)));
            }
        }
    }

    /// Whether `obj`, found at one of `key`'s names, is that key's: a
    /// member who may write an object file (queues and sets: any access
    /// granted) may hard-link it (the file system allows it) to the name
    /// of another key; a key names only objects made with it, as on the
    /// kernel, so such a name is passed over like a removed object's.
    pub(super) fn keyed(obj: &Obj, key: i32) -> bool {
        obj.header().perm.key.load(Ordering::Relaxed) == key
    }

    /// The object with id `id`. `EINVAL` when there is none (or it was
    /// removed), as the kernel says for a stale id.
    pub fn by_id(&self, kind: Kind, id: i32) -> Result<Arc<Obj>> {
        self.by_id_opt(kind, id, false)
    }

    /// As [`Ns::by_id`]; with `removed_ok`, an object removed but still
    /// present (a segment awaiting its last detach) is found too.
    pub fn by_id_opt(&self, kind: Kind, id: i32, removed_ok: bool) -> Result<Arc<Obj>> {
        if id < 0 {
            return Err(Errno::EINVAL);
        }
        // (Without the cache when a signal handler's call would wait for
        // its own thread: see `cache`.)
        if let Ok(c) = self.cache.lock() {
            if let Some(o) = c.get(&(kind, id)) {
                if o.header().id.load(Ordering::Relaxed) == id && (removed_ok || !o.is_removed()) {
                    return Ok(o.clone());
                }
            }
        }
        let obj = self.by_id_uncached(kind, id, removed_ok)?;
        let obj = Arc::new(obj);
        let Ok(mut c) = self.cache.lock() else {
            return Ok(obj);
        };
        c.purge_if_due();
        c.insert((kind, id), obj.clone());
        Ok(obj)
    }

    /// The engine's state `E` of object `id` (a queue's checked geometry
    /// and tally slot), made by `make` from the object the first time this
    /// process needs it, and kept beside the object in the cache: a later
    /// call that misses its thread's one-entry cache clones it and
    /// allocates nothing (it may be a signal handler's, which interrupted
    /// `malloc`: docs/bounded-time.md). Made afresh for the object's new
    /// file once it moved, dropped with it once removed. Not kept when the
    /// cache cannot be had (a signal handler's call: see `cache`).
    ///
    /// Once it moved, the state this process made for the new file
    /// already, which `follow` gives from the old one's (a queue's
    /// successor, found by the caller that met the move: its mover, most
    /// often), is the one kept and returned, up to 8 moves on: one mapping
    /// of the new file, not a second. A signal handler whose thread is
    /// making its call on the new file after moving the object (its locks
    /// noted at that mapping's addresses, `crate::sync::held`) then meets
    /// them there and is answered instead of waiting for its own thread
    /// (docs/bounded-time.md, "A handler whose thread is moving the
    /// object").
    pub fn engine_by_id<E: core::any::Any + Send + Sync>(
        &self,
        kind: Kind,
        id: i32,
        follow: impl Fn(&Arc<E>) -> Option<(Arc<Obj>, Arc<E>)>,
        make: impl FnOnce(Arc<Obj>) -> Result<Arc<E>>,
    ) -> Result<Arc<E>> {
        if id < 0 {
            return Err(Errno::EINVAL);
        }
        if let Ok(mut c) = self.cache.lock() {
            let usable = |o: &Obj| {
                o.header().id.load(Ordering::Relaxed) == id && !o.is_removed() && !o.is_moved()
            };
            let mut moved = None;
            if let Some((o, e)) = c.engines.get(&(kind, id)) {
                if usable(o) {
                    if let Ok(e) = Arc::downcast::<E>(e.clone()) {
                        return Ok(e);
                    }
                } else if o.is_moved() {
                    moved = Arc::downcast::<E>(e.clone()).ok();
                }
            }
            if let Some(mut e) = moved {
                for _ in 0..8 {
                    let Some((no, ne)) = follow(&e) else { break };
                    if usable(&no) {
                        c.engines.insert((kind, id), (no, ne.clone()));
                        return Ok(ne);
                    }
                    if !no.is_moved() {
                        break;
                    }
                    e = ne;
                }
            }
        }
        let obj = self.by_id(kind, id)?;
        let e = make(obj.clone())?;
        if let Ok(mut c) = self.cache.lock() {
            c.purge_if_due();
            c.engines.insert((kind, id), (obj, e.clone()));
        }
        Ok(e)
    }

    pub(super) fn by_id_uncached(&self, kind: Kind, id: i32, removed_ok: bool) -> Result<Obj> {
        let idx = id % IDX_SPAN;
        let (obj, live) = self.adopt_numbered(kind, idx)?;
        if !live && !removed_ok {
            return Err(Errno::EINVAL);
        }
        if obj.id != id {
            return Err(Errno::EINVAL);
        }
        Ok(obj)
    }

    /// The live object with `key`, if any: the first live object along
    /// the key's slots (slots are taken in order and never freed while a
    /// later one is in use, so the walk stops at the first free slot).
    pub fn by_key(&self, kind: Kind, key: i32) -> Result<Option<Arc<Obj>>> {
        self.by_key_seen(kind, key, &mut false)
    }

    /// [`Ns::by_key`]; `pending` is set when an object still being created
    /// was seen: named by the key, not numbered yet, its creator alive (a
    /// create under a temporary name), or numbered without its magic yet,
    /// its build mark held (a create at the number, [`Ns::key_unborn`]).
    pub(super) fn by_key_seen(
        &self,
        kind: Kind,
        key: i32,
        pending: &mut bool,
    ) -> Result<Option<Arc<Obj>>> {
        'slots: for n in 0..KEY_SLOTS {
            let kname = Self::key_name(kind, key, n);
            let mut again = true;
            let found = loop {
                match self.adopt_name(kind, &kname) {
                    Ok(found) => break found,
                    // An object being built at its number, named by its
                    // key before its magic (see `create`).
                    Err(e) => {
                        // (Unit tests: the creator publishes here.)
                        super::replace::step(10);
                        match self.key_unborn(kind, &kname) {
                            Some(true) => {
                                *pending = true;
                                return Ok(None);
                            }
                            // A killed creator's, swept (no slot after it is
                            // used: creators link no further while it is
                            // there).
                            Some(false) if !self.exists(&kname) => return Ok(None),
                            // Swept but for a name we may not unlink: passed
                            // over as a removed object's.
                            Some(false) => continue 'slots,
                            // Its creator published it between the two looks
                            // (the first found no magic, the second found it):
                            // adopted now. Once: an object whose magic stands
                            // and that still cannot be adopted is corrupt.
                            None if e == Errno::EIO && again => again = false,
                            None => return Err(e),
                        }
                    }
                }
            };
            let Some((obj, live)) = found else {
                return Ok(None);
            };
            let Some(obj) = live.then_some(obj).filter(|o| Self::keyed(o, key)) else {
                continue; // removed, or another key's: look further
            };
            // The key name must be a second name of a numbered object
            // (or of an old file forwarding to it: src/ns/spare.rs).
            let idx = obj.id % IDX_SPAN;
            if !obj.alt && !self.same_file(&Self::idx_name(kind, idx), obj.dev, obj.ino) {
                // Moved (`Obj::replace`) by a mover killed between the
                // numbered name and this one: the numbered name holds the
                // same object (id and key) in its new file. The key name
                // follows it.
                // (Whether the numbered name positively holds no copy of
                // this object: missing, removed, or another object's.)
                let mut no_copy = false;
                match self.open_name(&Self::idx_name(kind, idx)) {
                    Ok(None) => no_copy = true,
                    Ok(Some(f)) => match self.adopt_any(kind, f) {
                        Ok((moved, true)) if moved.id == obj.id && moved.perm().key == key => {
                            let _ = super::replace::relink_over(
                                &self.dirfd,
                                &Self::idx_name(kind, idx),
                                &Self::key_name(kind, key, n),
                            );
                            let moved = Arc::new(moved);
                            if let Ok(mut c) = self.cache.lock() {
                                c.insert((kind, moved.id), moved.clone());
                            }
                            return Ok(Some(moved));
                        }
                        Ok(_) => no_copy = true,
                        Err(_) => {}
                    },
                    Err(_) => {}
                }
                // Not numbered (yet): its creator is between its key and
                // its number, or was killed there. Then it is an orphan no
                // one can reach: removed here, where we may. Or the old
                // file of a move whose copy was removed (by its numbered
                // name) before its mover, killed, relinked the key name:
                // the key name is the file's only name (a creator's file
                // keeps its temporary name until its number comes), and
                // the object is gone with its copy, whoever created it.
                let h = obj.header();
                let (pid, start) = (
                    h.cpid.load(Ordering::Relaxed),
                    h.cstart.load(Ordering::Relaxed),
                );
                let kname = Self::key_name(kind, key, n);
                let only_name = || {
                    self.lstat(&kname).is_some_and(|st| {
                        st.st_dev == obj.dev && st.st_ino == obj.ino && st.st_nlink == 1
                    })
                };
                if (no_copy && only_name())
                    || trust::positively_dead(pid, start)
                    || !self.may_be_creator(pid, &kname)
                {
                    h.state.store(STATE_REMOVED, Ordering::Release);
                    self.unlink_if_same(&Self::key_name(kind, key, n), &obj);
                } else {
                    *pending = true;
                }
                continue;
            }
            // Numbered at `idx`: its id is the one stored before that
            // number was given (each candidate index is stored once, and
            // the header was read before the number was checked).
            let mut obj = obj;
            obj.id = obj.header().id.load(Ordering::Acquire);
            if obj.id % IDX_SPAN != idx {
                *pending = true;
                continue;
            }
            let obj = Arc::new(obj);
            if let Ok(mut c) = self.cache.lock() {
                c.insert((kind, obj.id), obj.clone());
            }
            return Ok(Some(obj));
        }
        Ok(None)
    }

    /// False when live process `pid`, recorded as the creator of the file
    /// at `name`, positively cannot be: its effective uid is not the
    /// file's owner (a creator's file is its own for as long as it is
    /// between its key name and its number). A member who names a live
    /// process of someone else (init) as the creator of a file it put at a
    /// key name made every `*get(key, IPC_CREAT)` wait 2 s for that
    /// "creator" and fail with `EAGAIN`, for as long as init lives, and no
    /// tool could heal it (`c_tests/t_key_pending`). Unreadable: may be.
    pub(super) fn may_be_creator(&self, pid: i32, name: &str) -> bool {
        match (crate::os::proc::euid_of(pid), self.lstat(name)) {
            (Some(euid), Some(st)) => euid == st.st_uid,
            _ => true,
        }
    }

    /// `lstat` of a name in the namespace directory (never following it).
    pub(super) fn lstat(&self, name: &str) -> Option<libc::stat> {
        let c = cpath(name).ok()?;
        // SAFETY: fstatat without following links, into a zeroed buffer.
        unsafe {
            let mut st: libc::stat = core::mem::zeroed();
            (libc::fstatat(
                self.dirfd.as_raw_fd(),
                c.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            ) == 0)
                .then_some(st)
        }
    }

    pub(super) fn same_file(&self, name: &str, dev: u64, ino: u64) -> bool {
        self.lstat(name)
            .is_some_and(|st| st.st_dev == dev && st.st_ino == ino)
    }

    pub(super) fn exists(&self, name: &str) -> bool {
        self.lstat(name).is_some()
    }

    /// Indexes in use for `kind`, ascending (for `*_INFO`, `*_STAT`, tools):
    /// the numbered names, less removed objects' names swept on the way
    /// and files being built at their number (see `Ns::create`; a killed
    /// creator's is swept).
    pub fn indexes(&self, kind: Kind) -> Vec<i32> {
        let mut v = Vec::new();
        let prefix = format!("{}.", kind.prefix());
        for n in super::create::names_in(&self.dirfd) {
            if let Some(rest) = n.strip_prefix(&prefix) {
                if let Ok(i) = rest.parse::<i32>() {
                    if (0..IDX_SPAN).contains(&i)
                        && self.sweep_stale_as(kind, i, false) == Stale::Kept
                    {
                        v.push(i);
                    }
                }
            }
        }
        v.sort_unstable();
        v
    }

    /// The highest index of `kind` in use (-1 when none) and how many are,
    /// at constant cost (`IPC_INFO`): from the index hint, its bitmap
    /// (made from its index bytes) and one `lstat` of the highest name, which must
    /// exist, else (a stale, empty or missing hint: an empty namespace, or
    /// one older than the hint) the directory is listed, as
    /// [`Ns::indexes`]. Exact but for a process killed between its bit
    /// and its move (or its unlink) of a numbered name: an index it left
    /// set below the highest counts one off until the next create or
    /// removal at that index, or `ripcs`, puts the bit right (a highest
    /// bit whose name is missing is cleared here).
    pub fn in_use(&self, kind: Kind) -> (i32, i32) {
        let used = |ix: &index::Index| {
            let (hi, n) = ix.used(kind);
            (hi, n, ())
        };
        if let Some((hi, n, (), gone)) = self.settled_hint(kind, used) {
            return self.leave_out(kind, &gone, hi, n);
        }
        let v = self.indexes(kind);
        (v.last().copied().unwrap_or(-1), v.len() as i32)
    }

    /// What `read` finds in the index hint of `kind` (highest index in
    /// use, how many, and more) once its marked removals are settled (read
    /// again when settling changed the hint), with the indexes settled as
    /// gone; `None` when the hint is missing, empty or stale (its highest
    /// index has no name).
    pub(super) fn settled_hint<T>(
        &self,
        kind: Kind,
        read: impl Fn(&index::Index) -> (i32, i32, T),
    ) -> Option<(i32, i32, T, Vec<i32>)> {
        let ix = self.index.as_ref()?;
        let (mut hi, mut n, mut v) = read(ix);
        let (gone, changed) = self.settle_removals(kind, hi);
        if changed {
            (hi, n, v) = read(ix);
        }
        if hi >= 0 && !self.exists(&Self::idx_name(kind, hi)) {
            // A highest bit whose name is missing: most likely a creator
            // killed between its bit and its move (see `create`). Cleared
            // (and set again if the name is there by then: a creator on
            // its way also checks its bit after its move), once, so that
            // one such death does not send every later call to the
            // directory listing.
            self.clear_bit_unless_named(ix, kind, hi);
            (hi, n, v) = read(ix);
        }
        (hi >= 0 && self.exists(&Self::idx_name(kind, hi))).then_some((hi, n, v, gone))
    }

    /// [`Ns::in_use`] with the total of the sizes recorded with
    /// [`Ns::note_size`] (semaphores, pages), at constant cost; `None`
    /// when the hint is missing, empty or stale (the caller then walks the
    /// objects).
    pub fn in_use_size(&self, kind: Kind) -> Option<(i32, i32, u64)> {
        let ix = self.index.as_ref()?;
        let (hi, n, total, gone) = self.settled_hint(kind, |ix| ix.used_size(kind))?;
        let less = gone
            .iter()
            .fold(0u64, |t, &i| t.saturating_add(ix.size(kind, i)));
        let (hi, n) = self.leave_out(kind, &gone, hi, n);
        Some((hi, n, total.saturating_sub(less)))
    }

    /// [`Ns::in_use`] with the indexes in use and their words in the
    /// index hint (see [`index::Index::used_words`]), at constant cost;
    /// `None` as for [`Ns::in_use_size`].
    pub fn in_use_words(&self, kind: Kind) -> Option<index::UsedWords> {
        let (hi, n, mut words, gone) = self.settled_hint(kind, |ix| ix.used_words(kind))?;
        words.retain(|(i, _)| !gone.contains(i));
        let (hi, n) = self.leave_out(kind, &gone, hi, n);
        Some((hi, n, words))
    }

    /// The indexes of `kind` in use, ascending, from the index hint (no
    /// directory listing), as exact as [`Ns::in_use`]; `None` when the
    /// hint is missing, empty or stale (the caller then lists, with
    /// [`Ns::indexes`]).
    pub fn in_use_indexes(&self, kind: Kind) -> Option<Vec<i32>> {
        let ix = self.index.as_ref()?;
        let mut v = ix.used_indexes(kind);
        let (gone, changed) = self.settle_removals(kind, v.last().copied().unwrap_or(-1));
        if changed {
            v = ix.used_indexes(kind);
        }
        let hi = *v.last()?;
        if !self.exists(&Self::idx_name(kind, hi)) {
            return None;
        }
        v.retain(|i| !gone.contains(i));
        Some(v)
    }

    /// Finishes the removals of queues and sets whose remover was killed
    /// between marking the object removed and clearing its index's bit
    /// (its removal mark, [`index::Index::mark_removing`], is still set),
    /// at indexes up to `hi` (the highest in use: a marked index above it
    /// has no bit to count): the numbered name unlinked (where we may:
    /// [`Ns::sweep_stale`]), the bit and the mark cleared. So `*_INFO`
    /// count such an object no longer, without a directory listing: one
    /// `pread` of `hi + 1` marks, and per mark an open of its name (none in
    /// the common case). A marked index whose object is live keeps its
    /// mark (its remover may be at work; counted meanwhile, as a call in
    /// progress). Returns the indexes still named by a removed object we
    /// may not unlink (another member's, in the sticky directory), which
    /// the counts leave out, and whether a bit was cleared (the caller
    /// reads the bitmap again). Segments: only the marks whose name is
    /// gone; the shared-memory engine finishes the others
    /// (`shm::sweep::settle`: a removed segment lives on while attached).
    fn settle_removals(&self, kind: Kind, hi: i32) -> (Vec<i32>, bool) {
        let Some(ix) = self.index.as_ref() else {
            return (Vec::new(), false);
        };
        let mut left = Vec::new();
        let mut changed = false;
        for i in ix.removing_seen(kind, hi.saturating_add(1)) {
            let name = Self::idx_name(kind, i);
            if (kind != Kind::Shm && self.sweep_stale(kind, i)) || !self.exists(&name) {
                self.settle_gone(kind, i);
                changed = true;
            } else if kind != Kind::Shm && ix.is_used(kind, i) && self.removed_at(kind, i) {
                left.push(i);
            }
        }
        (left, changed)
    }

    /// The end of a marked removal whose numbered name `idx` is gone: its
    /// bit and its mark cleared (the bit set again when a create numbered
    /// a new object there meanwhile).
    pub fn settle_gone(&self, kind: Kind, idx: i32) {
        let Some(ix) = self.index.as_ref() else {
            return;
        };
        // (The mark with the bit: both are the index's byte.)
        self.clear_bit_unless_named(ix, kind, idx);
    }

    /// Clears index `idx`'s bit of `kind`, then sets it again when the
    /// numbered name exists by then: a bit whose name is missing goes,
    /// and a creator that moved its file to the number meanwhile keeps
    /// its bit (one still on its way checks its bit after its move, see
    /// `create`).
    pub(super) fn clear_bit_unless_named(&self, ix: &index::Index, kind: Kind, idx: i32) {
        ix.mark(kind, idx, false);
        if self.exists(&Self::idx_name(kind, idx)) {
            ix.mark(kind, idx, true);
        }
    }

    /// Whether the file at numbered name `idx` is an object marked
    /// removed (false when it cannot be read).
    fn removed_at(&self, kind: Kind, idx: i32) -> bool {
        self.map_header(&Self::idx_name(kind, idx))
            .is_some_and(|(_, head)| {
                head.at::<ObjHeader>(0)
                    .is_ok_and(|h| h.state.load(Ordering::Acquire) != STATE_LIVE)
            })
    }

    /// The file at `name` and its header's page, mapped: `None` when it
    /// cannot be opened or is no regular file as long as a header (a file
    /// shorter than a header, planted or cut short, would turn the first
    /// read of the mapping into SIGBUS).
    fn map_header(&self, name: &str) -> Option<(libc::stat, Mapping)> {
        let f = self.open_name(name).ok()??;
        let st = fstat(f.as_raw_fd()).ok()?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG || (st.st_size as usize) < HEADER_LEN {
            return None;
        }
        Some((st, Mapping::new(f.as_fd(), HEADER_LEN, 0).ok()?))
    }

    /// Unlinks numbered name `name` when it is still the file `st` (a
    /// killed creator's, with no header), with the payload name its
    /// inode would have. True when it went.
    /// The payload's name goes first (as at a removal): a sweeper killed
    /// in between leaves the number, swept later, never a payload name no
    /// control file gives.
    fn unlink_numbered(&self, kind: Kind, name: &str, st: &libc::stat) -> bool {
        let Ok(c) = cpath(name) else { return false };
        if !self.same_file(name, st.st_dev, st.st_ino) {
            return false;
        }
        super::replace::step(21);
        if kind == Kind::Shm {
            self.unlink_data(kind, st.st_ino);
        }
        super::replace::step(20);
        // SAFETY: unlinking, in our directory, a numbered name checked
        // just before to be this file.
        let gone = unsafe { libc::unlinkat(self.dirfd.as_raw_fd(), c.as_ptr(), 0) } == 0;
        if gone {
            crate::debug_report!(
                "{}: swept {name}, left at its number by a creator that died",
                self.dir.display()
            );
        }
        gone
    }

    /// `(hi, n)` of the bitmap less the indexes `gone` (usually none).
    pub(super) fn leave_out(&self, kind: Kind, gone: &[i32], hi: i32, n: i32) -> (i32, i32) {
        if gone.is_empty() {
            return (hi, n);
        }
        let n = n - gone.len() as i32;
        if !gone.contains(&hi) {
            return (hi, n);
        }
        let hi = self.index.as_ref().map_or(-1, |ix| {
            ix.used_indexes(kind)
                .into_iter()
                .rev()
                .find(|i| !gone.contains(i))
                .unwrap_or(-1)
        });
        (hi, n)
    }

    /// The index hint, when the namespace has one (see [`index`]).
    pub fn index(&self) -> Option<&index::Index> {
        self.index.as_deref()
    }

    /// [`Ns::index`], for a holder that may outlive the borrow (a queue's
    /// mark, see `crate::msg`).
    pub fn index_arc(&self) -> Option<&Arc<index::Index>> {
        self.index.as_ref()
    }

    /// Records in the index hint the size of the new object `obj` (a
    /// set's semaphores, a segment's pages), for [`Ns::in_use_size`].
    pub fn note_size(&self, obj: &Obj, size: u64) {
        if let Some(ix) = &self.index {
            ix.set_size(obj.kind, obj.id % IDX_SPAN, size);
        }
    }

    /// Unlinks the numbered name `idx` when it holds a removed queue or
    /// semaphore set: its remover may not have been allowed to (an owner
    /// who is not the creator, in the sticky directory); the creator or
    /// root heals it here, at its next listing or creation. Likewise, of
    /// every kind, a file there that no id can reach: one whose header a
    /// member scribbled on (magic, kind, id, sizes, recorded owner) so
    /// that no call finds it — not even `IPC_RMID` or `ripcrm`, which go
    /// by id — is marked removed (its key names then pass it over) and
    /// its name unlinked where we may (its owner, the directory's owner,
    /// root), its payload's name with it. True when the name is gone.
    /// Segments are otherwise left to the shared-memory engine (a removed
    /// segment lives on while attached).
    pub(super) fn sweep_stale(&self, kind: Kind, idx: i32) -> bool {
        self.sweep_stale_as(kind, idx, false) == Stale::Gone
    }

    /// [`Ns::sweep_stale`]; `claimed`: the caller holds index `idx`'s
    /// build mark (a create at the number that found a file there), so
    /// nobody else builds there and a file without magic is a killed
    /// creator's for sure.
    ///
    /// A file without magic at the number (or shorter than a header) is
    /// being built there while its build mark is held (or that cannot be
    /// told: [`Ns::being_built`]), and left alone; otherwise (its creator
    /// is dead, and the magic is still missing when looked at again after
    /// the mark) it is swept: its key name first (one of the key's slots
    /// that is this file: a creator links it before its magic), then its
    /// number and its payload's name, so that a sweeper killed half-way
    /// leaves a file at the number, never a key name no number backs.
    ///
    /// Every unlink of the sweep is made under the index's build mark:
    /// the caller's (`claimed`), or taken here once the file was found
    /// to be one to sweep (two `fcntl`s, on that rare path only), and the
    /// file looked at again under it. A creator takes the mark before it
    /// makes its file at the number, so a sweeper that checked the name
    /// to be the stale file cannot unlink, instead, a new creator's file
    /// made there between its check and its unlink (another sweeper
    /// having swept the stale one meanwhile): that creator's segment
    /// lost its number, and its payload's name stayed for ever. The mark
    /// held by someone else (a creator building there, or sweeping what
    /// we found): left to them. Where no mark can be had (no index, no
    /// liveness descriptor, no OFD locks) the sweep goes on as before,
    /// with [`Ns::being_built`]'s look.
    pub(super) fn sweep_stale_as(&self, kind: Kind, idx: i32, claimed: bool) -> Stale {
        // (`sweep_stale_in` with `unlink` never answers `None`.)
        let sweep = |claimed| {
            self.sweep_stale_in(kind, idx, claimed, true)
                .unwrap_or(Stale::Kept)
        };
        if claimed {
            return sweep(true);
        }
        if let Some(found) = self.sweep_stale_in(kind, idx, false, false) {
            return found;
        }
        if let (Some(ix), Some(lfd)) = (self.index.as_deref(), self.build_fd()) {
            match ix.try_claim_build(lfd, kind, idx) {
                index::Claim::Mine(slot) => {
                    let r = sweep(true);
                    ix.release_build(lfd, kind, idx, slot);
                    return r;
                }
                index::Claim::Busy => return Stale::Unborn,
                index::Claim::NoLocks => {}
            }
        }
        sweep(false)
    }

    /// [`Ns::sweep_stale_as`]'s look, and its unlinks when `unlink`;
    /// `None` (only without `unlink`) when the file is one to sweep.
    fn sweep_stale_in(&self, kind: Kind, idx: i32, claimed: bool, unlink: bool) -> Option<Stale> {
        let name = Self::idx_name(kind, idx);
        let building = || !claimed && self.being_built(kind, idx);
        let Some((st, head)) = self.map_header(&name) else {
            // Not even a header yet: a creator killed between its
            // `openat` and its sizing, unless one is at work.
            let Some(st) = self.lstat(&name) else {
                return Some(Stale::Gone);
            };
            if st.st_mode & libc::S_IFMT != libc::S_IFREG || (st.st_size as usize) >= HEADER_LEN {
                return Some(Stale::Kept); // (unreadable here)
            }
            if building() {
                return Some(Stale::Unborn);
            }
            if !unlink {
                return None;
            }
            if self.unlink_numbered(kind, &name, &st) {
                return Some(Stale::Gone);
            }
            return Some(Stale::Unborn);
        };
        let Ok(h) = head.at::<ObjHeader>(0) else {
            return Some(Stale::Kept);
        };
        // (Without magic at its own number: a build, or a killed
        // creator's; at another index's, a member's second name of one,
        // which goes as any second name does, below.)
        let own = h.id.load(Ordering::Relaxed);
        let unborn =
            h.magic.load(Ordering::Acquire) != OBJ_MAGIC && (own < 0 || own % IDX_SPAN == idx);
        if unborn {
            if building() || h.magic.load(Ordering::Acquire) == OBJ_MAGIC {
                return Some(Stale::Unborn);
            }
            if !unlink {
                return None;
            }
            let key = h.perm.key.load(Ordering::Relaxed);
            if key != IPC_PRIVATE && h.kind.load(Ordering::Relaxed) == kind as u32 {
                for n in 0..KEY_SLOTS {
                    let kname = Self::key_name(kind, key, n);
                    match self.lstat(&kname) {
                        None => break,
                        Some(k) if k.st_dev == st.st_dev && k.st_ino == st.st_ino => {
                            if let Ok(c) = cpath(&kname) {
                                // SAFETY: unlinking, in our directory, a
                                // key name of this file (checked by inode
                                // just above).
                                unsafe { libc::unlinkat(self.dirfd.as_raw_fd(), c.as_ptr(), 0) };
                            }
                            break;
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        let mut unreachable = Self::unreachable(h, &st, kind, idx);
        let id = h.id.load(Ordering::Relaxed);
        if unreachable
            && id >= 0
            && id % IDX_SPAN != idx
            && self.same_file(&Self::idx_name(kind, id % IDX_SPAN), st.st_dev, st.st_ino)
        {
            // A second name (a member's hard link) of an object numbered
            // elsewhere: the name goes, the object stays as it is.
            unreachable = false;
        } else {
            let removed = h.state.load(Ordering::Acquire) != STATE_LIVE;
            if !unreachable && (kind == Kind::Shm || !removed) {
                return Some(Stale::Kept);
            }
            // A moved file that forwards to a live copy at the spare's
            // name is the object's number (src/ns/spare.rs).
            if !unreachable
                && h.state.load(Ordering::Acquire) == STATE_MOVED
                && self.forwards_at(kind, idx)
            {
                return Some(Stale::Kept);
            }
        }
        if !unlink {
            return None;
        }
        if unreachable {
            h.state.store(STATE_REMOVED, Ordering::Release);
        }
        let kept = if unborn { Stale::Unborn } else { Stale::Kept };
        if unborn {
            // A killed creator's: its payload's name first (see
            // `unlink_numbered`).
            return Some(if self.unlink_numbered(kind, &name, &st) {
                Stale::Gone
            } else {
                kept
            });
        }
        let Ok(c) = cpath(&name) else {
            return Some(kept);
        };
        let gone = self.same_file(&name, st.st_dev, st.st_ino) && {
            // An unreachable segment's payload name first, as at a
            // removal (`unlink_numbered`): a sweeper killed in between
            // leaves the number, swept later, never a payload name that
            // no control file gives (whatever its flags say: they may be
            // scribbled too; only this inode's payload has that name).
            // The file of a creator killed after its sizing, before its
            // header (all zeros: id 0 at another index), comes here.
            if unreachable && kind == Kind::Shm {
                self.unlink_data(kind, st.st_ino);
                super::replace::step(20);
            }
            // SAFETY: unlinking a numbered name in our directory whose
            // object (checked just above, by its inode) was removed or is
            // unreachable.
            unsafe { libc::unlinkat(self.dirfd.as_raw_fd(), c.as_ptr(), 0) == 0 }
        };
        if gone && unreachable {
            crate::debug_report!(
                "{}: swept {name}, an object no id can reach (its header was scribbled on, or its creator died before its magic)",
                self.dir.display()
            );
        }
        Some(if gone { Stale::Gone } else { kept })
    }

    /// True when the header `h` of the file `st` at numbered name `idx`
    /// cannot be an object of `kind` published there: another magic or
    /// kind, an id of another index, sizes beyond the file, or a recorded
    /// creator and owner of which neither owns the file (what
    /// [`Ns::adopt_any`] and [`Ns::by_id`] refuse). A creator stores all
    /// of these before it links the number.
    fn unreachable(h: &ObjHeader, st: &libc::stat, kind: Kind, idx: i32) -> bool {
        let id = h.id.load(Ordering::Relaxed);
        h.magic.load(Ordering::Acquire) != OBJ_MAGIC
            || h.kind.load(Ordering::Relaxed) != kind as u32
            || id < 0
            || id % IDX_SPAN != idx
            || !h.sizes_fit(st.st_size as u64)
            || !(h.owned_by(st.st_uid)
                // (an `IPC_SET` giving the file away, in progress)
                || (h.pend.load(Ordering::Acquire) != 0
                    && h.pend_uid.load(Ordering::Relaxed) == st.st_uid))
    }

    /// The object at index `idx` (for `MSG_STAT` and friends), live or
    /// removed-but-present.
    /// A full id is taken for its index part, as the kernel's
    /// `ipc_obtain_object_idr` does.
    pub fn by_index(&self, kind: Kind, idx: i32) -> Result<Arc<Obj>> {
        if idx < 0 {
            return Err(Errno::EINVAL);
        }
        let idx = idx % IDX_SPAN;
        // (A file moved under our open is opened again: `adopt_name`.)
        let (obj, _) = self.adopt_numbered(kind, idx)?;
        Ok(Arc::new(obj))
    }

    /// The object at numbered name `idx` ([`Ns::adopt_name`]): `EINVAL`
    /// when there is none, or a file being built there (no magic yet, its
    /// build mark held: see `Ns::create`), which no id reaches before its
    /// creator publishes it.
    fn adopt_numbered(&self, kind: Kind, idx: i32) -> Result<(Obj, bool)> {
        match self.adopt_name(kind, &Self::idx_name(kind, idx)) {
            Ok(found) => found.ok_or(Errno::EINVAL),
            // (A killed creator's, without magic and its mark free, is
            // refused as a scribbled object is, `EIO`, and left to the
            // sweepers: a header scribbled on for an instant must not
            // cost its object.)
            Err(_) if self.unborn_at(kind, idx) && self.being_built(kind, idx) => {
                Err(Errno::EINVAL)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether the file at numbered name `idx` has no magic (or not even
    /// a header yet): being built there, or left by a killed creator (or
    /// scribbled on), which its build mark tells apart
    /// ([`Ns::being_built`]).
    pub(super) fn unborn_at(&self, kind: Kind, idx: i32) -> bool {
        let name = Self::idx_name(kind, idx);
        let Some(st) = self.lstat(&name) else {
            return false;
        };
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return false;
        }
        if (st.st_size as usize) >= HEADER_LEN {
            let Some((_, head)) = self.map_header(&name) else {
                return false;
            };
            if head
                .at::<ObjHeader>(0)
                .is_ok_and(|h| h.magic.load(Ordering::Acquire) == OBJ_MAGIC)
            {
                return false;
            }
        }
        true
    }

    /// Whether a creator may be building at index `idx` of `kind` (its
    /// build mark held, see [`index::Index::claim_build`]). True when it
    /// cannot be told (no index file here, no OFD locks): a file without
    /// magic at a number is then never swept by this process.
    pub(super) fn being_built(&self, kind: Kind, idx: i32) -> bool {
        self.index
            .as_ref()
            .map_or(true, |ix| ix.build_held(kind, idx) != Some(false))
    }

    /// The file at key name `kname`, when it is one built at its number
    /// (no magic yet; its header's id names the index whose name is this
    /// file: a creator links its key name from its number before its
    /// magic): `Some(true)` while its creator builds it (or the magic
    /// came meanwhile: look again), `Some(false)` when its creator is dead
    /// — swept then, with its number and payload, where we may
    /// ([`Ns::sweep_stale`]). `None` for anything else (a complete object,
    /// no file, or a file that is no object at all).
    pub(super) fn key_unborn(&self, kind: Kind, kname: &str) -> Option<bool> {
        let (st, head) = self.map_header(kname)?;
        let h = head.at::<ObjHeader>(0).ok()?;
        let id = h.id.load(Ordering::Relaxed);
        if h.magic.load(Ordering::Acquire) == OBJ_MAGIC
            || h.kind.load(Ordering::Relaxed) != kind as u32
            || id < 0
        {
            return None;
        }
        let idx = id % IDX_SPAN;
        if !self.same_file(&Self::idx_name(kind, idx), st.st_dev, st.st_ino) {
            return None;
        }
        if self.being_built(kind, idx) || h.magic.load(Ordering::Acquire) == OBJ_MAGIC {
            return Some(true);
        }
        self.sweep_stale(kind, idx);
        Some(false)
    }
}

/// What [`Ns::sweep_stale_as`] did with a numbered name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stale {
    /// No name there any more (swept, or there was none).
    Gone,
    /// A file without magic that stays: being built there (or its
    /// killed creator's, which we may not unlink): no object.
    Unborn,
    /// An object, or a file we leave alone.
    Kept,
}

/// [`Ns::adopt_any`] of a file of the namespace whose directory is `dir`.
pub(super) fn adopt_in(dir: &Arc<OwnedFd>, kind: Kind, f: OwnedFd) -> Result<(Obj, bool)> {
    let st = fstat(f.as_raw_fd())?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG || (st.st_size as usize) < HEADER_LEN {
        return Err(Errno::EIO);
    }
    let head = Mapping::new(f.as_fd(), HEADER_LEN, 0)?;
    let h: &ObjHeader = head.at(0)?;
    // The layout version is the engine's to check (`Obj::check_layout`):
    // an object of another version is listed, and removable, as a
    // corrupt one.
    if h.magic.load(Ordering::Acquire) != OBJ_MAGIC || h.kind.load(Ordering::Relaxed) != kind as u32
    {
        return Err(Errno::EIO);
    }
    if !h.owned_by(st.st_uid) {
        // Neither made by the user it claims nor given to its owner
        // (root's IPC_SET hands the file over): a planted file.
        return Err(Errno::EACCES);
    }
    let ctl_len = h.ctl_len.load(Ordering::Relaxed);
    let data_len = h.data_len.load(Ordering::Relaxed);
    let id = h.id.load(Ordering::Relaxed);
    if !h.sizes_fit(st.st_size as u64) || id < 0 {
        return Err(Errno::EIO);
    }
    drop(head);
    let map = Mapping::new(f.as_fd(), ctl_len as usize, 0)?;
    let obj = Obj {
        kind,
        id,
        map,
        dir: dir.clone(),
        dev: st.st_dev,
        ino: st.st_ino,
        data_len,
        building: None,
        building_data: None,
        data_fd: AtomicI32::new(-1),
        alt: false,
    };
    let live = obj.header().state.load(Ordering::Acquire) == STATE_LIVE;
    Ok((obj, live))
}

/// Opens name `name` of namespace directory `dir` read-write, never
/// following a symlink (`EACCES`); `None` when there is no such name.
pub(super) fn open_name_in(dir: &OwnedFd, name: &str) -> Result<Option<OwnedFd>> {
    let c = cpath(name)?;
    // SAFETY: openat relative to the namespace directory, never following links.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd >= 0 {
        // SAFETY: fresh descriptor we own.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }));
    }
    match Errno::last() {
        Errno::ENOENT => Ok(None),
        // A symlink planted at one of our names is never followed.
        Errno::ELOOP => Err(Errno::EACCES),
        e => Err(e),
    }
}
