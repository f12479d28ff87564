//! The skeleton every engine's `*get` and `*ctl` go through, as the
//! kernel's `ipcget` and `ipcctl_obtain_check`.

use super::*;

impl Ns {
    /// The kernel's `ipcctl_obtain_check`, the one lookup of the
    /// owner-only commands (`IPC_SET`, `IPC_RMID`) of every kind: the
    /// object `id` (`EINVAL` for a stale id; with `removed_ok`, a removed
    /// one still present too), `EPERM` unless `me` is its owner, its
    /// creator or privileged. An object whose file `me` may not even open
    /// is not `me`'s either: `EPERM` too, not the open's `EACCES`.
    pub fn obtain_check(
        &self,
        kind: Kind,
        id: i32,
        removed_ok: bool,
        me: &Creds,
    ) -> Result<Arc<Obj>> {
        let obj = self.by_id_opt(kind, id, removed_ok).map_err(owner_errno)?;
        obj.check_owner(me).map_err(owner_errno)?;
        Ok(obj)
    }

    /// The kernel's `ipcget`: find the object with `key` or create it, per
    /// `IPC_CREAT`/`IPC_EXCL`, checking permissions with the mode bits of
    /// `flags` as the kernel does.
    pub fn get(&self, kind: Kind, key: i32, flags: i32, spec: &CreateSpec<'_>) -> Result<Arc<Obj>> {
        let me = creds();
        if key == IPC_PRIVATE {
            return self.create(kind, key, flags, spec, &me);
        }
        // Waits for another creator of the key: a few yields, then 1 ms
        // sleeps; about 2 s in all before EAGAIN (a creator stopped
        // between its two links).
        let backoff = |round: u32| {
            if round < 50 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        };
        for round in 0..2000 {
            let mut pending = false;
            let found = match self.by_key_seen(kind, key, &mut pending) {
                // It exists, but its file is closed to us.
                Err(Errno::EACCES) if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 => {
                    return Err(Errno::EEXIST)
                }
                r => r?,
            };
            if let Some(obj) = found {
                if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 {
                    return Err(Errno::EEXIST);
                }
                // As the kernel's ipcget_public: the kind's own checks
                // (shmget size, semget nsems: EINVAL) before permissions.
                (spec.check_existing)(&obj)?;
                obj.perm().check_bits(&me, Access::from_get_flags(flags))?;
                return Ok(obj);
            }
            if flags & IPC_CREAT == 0 {
                // (An object still being created is not there yet.)
                return Err(Errno::ENOENT);
            }
            if pending {
                if flags & IPC_EXCL != 0 {
                    return Err(Errno::EEXIST);
                }
                // Another process is creating it: take its object when it
                // is numbered, rather than build one bound to lose.
                backoff(round);
                continue;
            }
            match self.create(kind, key, flags, spec, &me) {
                Err(Errno::EEXIST) => {
                    // Lost the race: open the winner's (once it is numbered).
                    backoff(round);
                    continue;
                }
                r => return r,
            }
        }
        Err(Errno::EAGAIN)
    }
}
