//! The System V calls, typed, and the listing of a namespace's objects
//! (`*_INFO` for the highest index, then `*_STAT_ANY` or `*_STAT` for
//! every index).

use super::*;

// ---------------------------------------------------------------------------
// the System V calls, typed

/// A buffer large enough for every `*ctl` structure the kernel may write.
#[repr(C, align(8))]
struct CtlBuf([u8; 256]);

/// Runs a `*ctl`-shaped call with a zeroed buffer and reads a `T` back.
fn ctl_into<T: Copy>(call: impl FnOnce(*mut c_void) -> c_int) -> Result<(c_int, T), i32> {
    assert!(core::mem::size_of::<T>() <= 256);
    let mut buf = CtlBuf([0; 256]);
    let r = call(buf.0.as_mut_ptr().cast());
    if r < 0 {
        return Err(errno());
    }
    // SAFETY: T fits in the buffer (checked above), T is a plain C
    // structure for which every bit pattern is valid, and the buffer is
    // 8-aligned; read_unaligned anyway.
    Ok((r, unsafe { (buf.0.as_ptr() as *const T).read_unaligned() }))
}

/// `msgctl(id, cmd, buf)`.
pub fn msgctl<T: Copy>(id: c_int, cmd: c_int) -> Result<(c_int, T), i32> {
    // SAFETY: the buffer is 256 bytes, more than any msgctl structure.
    ctl_into(|p| unsafe { sysv_calls::msgctl(id, cmd, p) })
}

/// `shmctl(id, cmd, buf)`.
pub fn shmctl<T: Copy>(id: c_int, cmd: c_int) -> Result<(c_int, T), i32> {
    // SAFETY: the buffer is 256 bytes, more than any shmctl structure.
    ctl_into(|p| unsafe { sysv_calls::shmctl(id, cmd, p) })
}

/// `semctl(id, num, cmd, buf)` for the commands that take a pointer.
pub fn semctl<T: Copy>(id: c_int, num: c_int, cmd: c_int) -> Result<(c_int, T), i32> {
    // SAFETY: the buffer is 256 bytes, more than any semctl structure.
    ctl_into(|p| unsafe { sysv_calls::semctl(id, num, cmd, 0, p) })
}

/// `semctl(id, num, cmd)` for the commands that take no argument
/// (`GETVAL`, `GETNCNT`, `GETZCNT`, `GETPID`, `IPC_RMID`).
pub fn semctl_noarg(id: c_int, num: c_int, cmd: c_int) -> Result<c_int, i32> {
    // SAFETY: a NULL pointer: these commands read no argument.
    let r = unsafe { sysv_calls::semctl(id, num, cmd, 0, core::ptr::null_mut()) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

/// The three kinds, as ipcrm names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// shared memory
    Shm,
    /// semaphores
    Sem,
    /// message queues
    Msg,
}

/// The highest index in use (`*_INFO`), Err(errno) when unavailable.
pub fn max_index(kind: Kind) -> Result<c_int, i32> {
    match kind {
        Kind::Msg => msgctl::<msginfo>(0, MSG_INFO).map(|r| r.0),
        Kind::Shm => shmctl::<shm_info>(0, SHM_INFO).map(|r| r.0),
        Kind::Sem => semctl::<seminfo>(0, 0, SEM_INFO).map(|r| r.0),
    }
}

fn stat_cmds(kind: Kind) -> (c_int, c_int) {
    match kind {
        Kind::Msg => (MSG_STAT_ANY, MSG_STAT),
        Kind::Shm => (SHM_STAT_ANY, SHM_STAT),
        Kind::Sem => (SEM_STAT_ANY, SEM_STAT),
    }
}

fn stat_index<T: Copy>(kind: Kind, idx: c_int, cmd: c_int) -> Result<(c_int, T), i32> {
    match kind {
        Kind::Msg => msgctl(idx, cmd),
        Kind::Shm => shmctl(idx, cmd),
        Kind::Sem => semctl(idx, 0, cmd),
    }
}

/// Every object of a kind, as (id, its `*_ds`), in index order: `*_INFO`
/// for the highest index, then `*_STAT_ANY` for each index (`*_STAT`
/// when the kernel predates `*_STAT_ANY`, or with `any == false`).
/// Err(errno) when `*_INFO` fails.
pub fn list<T: Copy>(kind: Kind, any: bool) -> Result<Vec<(c_int, T)>, i32> {
    let max = max_index(kind)?;
    let (any_cmd, plain_cmd) = stat_cmds(kind);
    let mut cmd = if any { any_cmd } else { plain_cmd };
    let mut probed = !any;
    let mut v = Vec::new();
    for idx in 0..=max {
        match stat_index::<T>(kind, idx, cmd) {
            Ok(r) => {
                probed = true;
                v.push(r);
            }
            Err(e) if !probed && e == libc::EINVAL => {
                // Either an empty index or a kernel without *_STAT_ANY:
                // the plain command tells them apart.
                match stat_index::<T>(kind, idx, plain_cmd) {
                    Ok(r) => {
                        cmd = plain_cmd;
                        probed = true;
                        v.push(r);
                    }
                    Err(e2) if e2 == libc::EACCES => {
                        cmd = plain_cmd;
                        probed = true;
                    }
                    Err(_) => {}
                }
            }
            Err(_) => {}
        }
    }
    Ok(v)
}

/// Fills `buf` with random bytes (getrandom, else the clock and pid).
pub fn random_key() -> c_int {
    let mut k = [0u8; 4];
    // SAFETY: getrandom writes at most 4 bytes into k.
    let n = unsafe { libc::getrandom(k.as_mut_ptr().cast(), k.len(), 0) };
    if n != 4 {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mix = t ^ ((std::process::id() as u64) << 32) ^ (t >> 29);
        k = (mix as u32 ^ (mix >> 32) as u32).to_ne_bytes();
    }
    i32::from_ne_bytes(k)
}
