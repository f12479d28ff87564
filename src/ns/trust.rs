//! Who a namespace belongs to (DESIGN principle 4; docs/security.md).
//!
//! A namespace directory is used only when the operating system itself
//! keeps strangers out of it:
//! - it is opened without following a symlink (`O_NOFOLLOW|O_DIRECTORY`)
//!   and the checks below are made on that descriptor (`fstat`), so the
//!   directory checked is the directory used;
//! - it is not writable by others (`o+w`);
//! - it is group-writable only with the sticky bit: a *shared* namespace,
//!   whose group is its trust group (`ripcmk --namespace DIR --group G`);
//! - it is owned by the caller, or by root, or (a shared one) the caller
//!   is in its group. The default namespace must be the caller's own.
//!
//! Anything else is refused (`EPERM`; `EACCES` for a symlink), and the
//! tools say why and what to do ([`Problem::message`]).

use crate::error::Errno;
use std::path::{Path, PathBuf};

/// Why a namespace directory (or its limits file) is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// an explicitly named directory does not exist (tools only)
    Missing,
    /// the path is a symbolic link
    Symlink,
    /// the path is not a directory
    NotDir,
    /// writable by others
    OthersWrite(u32),
    /// group-writable without the sticky bit
    GroupNoSticky(u32),
    /// owned by another user (and not a shared namespace of ours)
    Owner {
        /// the directory's owner
        uid: u32,
        /// the caller
        me: u32,
        /// the default namespace: only the caller's own will do
        default: bool,
    },
    /// a shared namespace of a group the caller is not in
    NotMember {
        /// the directory's owner
        uid: u32,
        /// its group
        gid: u32,
        /// the caller
        me: u32,
    },
    /// `ripc.ns` is owned by someone other than the directory's owner or root
    CtlOwner {
        /// the file's owner
        uid: u32,
        /// the directory's owner
        owner: u32,
    },
    /// `ripc.ns` is writable by group or others
    CtlWritable(u32),
    /// no `ripc.ns`, and the caller may not create it
    NotInitialised {
        /// the directory's owner
        owner: u32,
    },
    /// `ripc.ns` is not a namespace file
    Corrupt,
    /// a system call failed
    Io(Errno),
}

impl Problem {
    /// The `errno` the library's calls fail with.
    pub fn errno(&self) -> Errno {
        match self {
            Problem::Missing => Errno::ENOENT,
            Problem::Symlink | Problem::NotDir | Problem::NotInitialised { .. } => Errno::EACCES,
            Problem::Corrupt => Errno::EIO,
            Problem::Io(e) => *e,
            _ => Errno::EPERM,
        }
    }

    /// A full sentence for the tools: the path, the problem, the fix.
    pub fn message(&self, dir: &Path) -> String {
        let p = dir.display();
        let yours = "or set RIPC_DIR to a directory of yours";
        match self {
            Problem::Missing => format!(
                "{p}: no such namespace directory: make one with `ripcmk --namespace {p}` \
                 (add `--group NAME` to share it), or unset RIPC_DIR to use your private default"
            ),
            Problem::Symlink => format!(
                "{p}: is a symbolic link, which ripc never follows: set RIPC_DIR to the \
                 directory itself, if it is yours"
            ),
            Problem::NotDir => format!("{p}: not a directory: {yours}"),
            Problem::OthersWrite(m) => format!(
                "{p}: writable by others (mode {m:04o}), so any user could take or remove its \
                 objects: `chmod o-w {p}` (share it with a group: `ripcmk --namespace {p} \
                 --group NAME`), {yours}"
            ),
            Problem::GroupNoSticky(m) => format!(
                "{p}: group-writable without the sticky bit (mode {m:04o}), so members could \
                 remove each other's objects: `chmod +t {p}`, {yours}"
            ),
            Problem::Owner { uid, me, default } => {
                if *default {
                    format!(
                        "{p}: owned by uid {uid}, not by you (uid {me}): another user made it \
                         first; remove it, {yours}"
                    )
                } else {
                    format!(
                        "{p}: owned by uid {uid}, not by you (uid {me}) or root: remove it {yours}"
                    )
                }
            }
            Problem::NotMember { uid, gid, me } => format!(
                "{p}: a namespace shared by group {gid} (owner uid {uid}) and you (uid {me}) are \
                 not in that group: ask its owner to add you, {yours}"
            ),
            Problem::CtlOwner { uid, owner } => format!(
                "{p}/ripc.ns: owned by uid {uid}, not by the namespace's owner (uid {owner}) or \
                 root, so it is not trusted: the owner should remove it, {yours}"
            ),
            Problem::CtlWritable(m) => format!(
                "{p}/ripc.ns: writable by group or others (mode {m:04o}), so anyone could \
                 change the limits: its owner should `chmod 644 {p}/ripc.ns`"
            ),
            Problem::NotInitialised { owner } => format!(
                "{p}: not a namespace yet (no ripc.ns) and only its owner (uid {owner}) may \
                 make it one: ask them to run `ripcmk --namespace {p}`, {yours}"
            ),
            Problem::Corrupt => {
                format!("{p}/ripc.ns: not a ripc namespace file (wrong size or contents)")
            }
            Problem::Io(e) => format!("{p}: {}", e.desc()),
        }
    }
}

/// The caller's effective ids.
pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether the directory `st` may be used by the caller (`me`, a member
/// of the groups `in_group` says). `strict`: the default namespace, which
/// must be the caller's own.
pub fn check_dir(
    st: &libc::stat,
    me: u32,
    in_group: &dyn Fn(u32) -> bool,
    strict: bool,
) -> Result<(), Problem> {
    let mode = st.st_mode & 0o7777;
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(Problem::NotDir);
    }
    if mode & 0o002 != 0 {
        return Err(Problem::OthersWrite(mode));
    }
    let group_w = mode & 0o020 != 0;
    let sticky = mode & 0o1000 != 0;
    if group_w && !sticky {
        return Err(Problem::GroupNoSticky(mode));
    }
    if st.st_uid == me {
        return Ok(());
    }
    if strict {
        return Err(Problem::Owner {
            uid: st.st_uid,
            me,
            default: true,
        });
    }
    if group_w && sticky {
        if in_group(st.st_gid) {
            return Ok(());
        }
        return Err(Problem::NotMember {
            uid: st.st_uid,
            gid: st.st_gid,
            me,
        });
    }
    if st.st_uid == 0 {
        return Ok(());
    }
    Err(Problem::Owner {
        uid: st.st_uid,
        me,
        default: false,
    })
}

/// `lstat`-like check that `p` is a directory owned by `uid` and not
/// writable by group or others.
fn private_dir_of(p: &Path, uid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(p)
        .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.mode() & 0o022 == 0)
}

/// The default namespace directory (`RIPC_DIR` unset): private to the
/// caller's effective uid, on tmpfs. Root: `/run/ripc` when `/run` is a
/// root-owned directory nobody else may write, else `/dev/shm/ripc-0`.
/// Others: `$XDG_RUNTIME_DIR/ripc` when that is a directory of theirs that
/// nobody else may write, else `/dev/shm/ripc-<euid>`.
pub fn default_dir() -> PathBuf {
    let me = euid();
    if me == 0 {
        if private_dir_of(Path::new("/run"), 0) {
            return PathBuf::from("/run/ripc");
        }
    } else if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").filter(|s| !s.is_empty()) {
        let x = PathBuf::from(x);
        if x.is_absolute() && private_dir_of(&x, me) {
            return x.join("ripc");
        }
    }
    PathBuf::from(format!("/dev/shm/ripc-{me}"))
}

/// True when process `(pid, start)` has positively ended (no such
/// process, a zombie, or another start time: a recycled pid): exactly
/// [`crate::os::proc::liveness`]'s `Dead`, which never takes missing
/// evidence (an unreadable `/proc`, no start time recorded) for death. A
/// pid of 0 or less names nobody, so nothing of it is deleted.
pub fn positively_dead(pid: i32, start: u64) -> bool {
    use crate::os::proc::{liveness, Liveness};
    pid > 0 && liveness(pid, start) == Liveness::Dead
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(uid: u32, gid: u32, mode: u32) -> libc::stat {
        // SAFETY: a zeroed stat is a valid value of this plain C struct.
        let mut st: libc::stat = unsafe { core::mem::zeroed() };
        st.st_uid = uid;
        st.st_gid = gid;
        st.st_mode = libc::S_IFDIR | mode;
        st
    }

    #[test]
    fn who_may_use_a_directory() {
        let none = |_: u32| false;
        let in_100 = |g: u32| g == 100;
        // the caller's own
        assert_eq!(
            check_dir(&dir(1000, 1000, 0o700), 1000, &none, true),
            Ok(())
        );
        assert_eq!(
            check_dir(&dir(1000, 100, 0o3770), 1000, &none, false),
            Ok(())
        );
        // others may write it: never, sticky or not, whoever owns it
        for m in [0o777, 0o1777, 0o3777] {
            assert_eq!(
                check_dir(&dir(1000, 1000, m), 1000, &none, false),
                Err(Problem::OthersWrite(m))
            );
        }
        // group-writable without the sticky bit
        assert_eq!(
            check_dir(&dir(1000, 100, 0o770), 1000, &in_100, false),
            Err(Problem::GroupNoSticky(0o770))
        );
        // a shared namespace: members yes, others no
        assert_eq!(
            check_dir(&dir(0, 100, 0o3770), 1000, &in_100, false),
            Ok(())
        );
        assert_eq!(
            check_dir(&dir(0, 100, 0o3770), 1000, &none, false),
            Err(Problem::NotMember {
                uid: 0,
                gid: 100,
                me: 1000
            })
        );
        // another user's private directory; root's is accepted
        assert_eq!(
            check_dir(&dir(65534, 65534, 0o700), 0, &none, false),
            Err(Problem::Owner {
                uid: 65534,
                me: 0,
                default: false
            })
        );
        assert_eq!(check_dir(&dir(0, 0, 0o755), 1000, &none, false), Ok(()));
        // the default namespace: only the caller's own, not even root's
        assert!(check_dir(&dir(0, 0, 0o700), 1000, &none, true).is_err());
        // not a directory
        let mut f = dir(1000, 1000, 0o600);
        f.st_mode = libc::S_IFREG | 0o600;
        assert_eq!(check_dir(&f, 1000, &none, false), Err(Problem::NotDir));
    }

    #[test]
    fn messages_name_path_problem_and_fix() {
        let p = Path::new("/dev/shm/x");
        let m = Problem::Owner {
            uid: 65534,
            me: 0,
            default: false,
        }
        .message(p);
        assert_eq!(
            m,
            "/dev/shm/x: owned by uid 65534, not by you (uid 0) or root: remove it or set \
             RIPC_DIR to a directory of yours"
        );
        assert!(Problem::OthersWrite(0o1777)
            .message(p)
            .contains("chmod o-w"));
        assert_eq!(Problem::Symlink.errno(), Errno::EACCES);
        assert_eq!(Problem::OthersWrite(0o777).errno(), Errno::EPERM);
    }

    #[test]
    fn the_living_are_not_dead() {
        assert!(!positively_dead(
            crate::os::proc::my_pid(),
            crate::os::proc::my_start()
        ));
        assert!(positively_dead(crate::os::proc::my_pid(), 1)); // another start time
        assert!(!positively_dead(0, 0));
    }
}
