//! Whether the cgroup freezer holds a process: the evidence, besides state
//! `T`, that a lock holder is stopped (docs/bounded-time.md, "The cgroup
//! freezer").
//!
//! A frozen task does not show `T` in `/proc`: on this kernel (6.18) a
//! task frozen by the v2 freezer (`cgroup.freeze`) shows `S` (it sleeps in
//! `get_signal`, the freezer trap), one frozen by the v1 freezer
//! (`freezer.state`) shows `D` (it sleeps in `__refrigerator`). Neither
//! letter says frozen by itself, so the evidence is the cgroup's own word:
//! the task's cgroup (`/proc/<pid>/task/<tid>/cgroup`), found under the
//! hierarchy's mount point (`/proc/self/mountinfo`), reports the whole
//! cgroup frozen — v2 `cgroup.events` has `frozen 1` (every task of it and
//! of its children reached the trap; a cgroup still freezing says 0), v1
//! `freezer.state` reads `FROZEN` (not `FREEZING`: every task is in the
//! refrigerator, whether it or a parent was frozen). Anything that cannot
//! be read or resolved (no mount, a path outside this namespace's view,
//! another user's hierarchy we may not read) is no evidence: not frozen.
//! The root cgroups can never be frozen, so a task in them (the common
//! case) costs one small read.

use super::proc::{proc_path, read_at, read_small, small_buf, state_of};

/// Whether every thread of process `pid` is held: stopped (`T`, `t`) or
/// sleeping (`S`, `D`) in a frozen cgroup. False when anything cannot be
/// read, or a thread runs.
pub fn process_frozen(pid: i32) -> bool {
    let mut cg = Cgroups::default();
    // The leader first: a process whose leader is not held is answered
    // after one or two reads, without listing its threads.
    if !cg.held(pid, pid) {
        return false;
    }
    let Some(names) = task_names(pid) else {
        return false;
    };
    let mut any = false;
    for n in names {
        let Ok(tid) = n.parse::<i32>() else {
            return false;
        };
        if tid != pid && !cg.held(pid, tid) {
            return false;
        }
        any = true;
    }
    any
}

/// The names in `/proc/<pid>/task` (its threads' ids), read without
/// `malloc` (`super::dir`).
pub(crate) fn task_names(pid: i32) -> Option<Vec<String>> {
    let path = std::ffi::CString::new(format!("/proc/{pid}/task")).ok()?;
    super::dir::names_at(&path)
}

/// The answers of one look, by the text of a thread's cgroup file (a
/// process's threads nearly always share it).
#[derive(Default)]
pub struct Cgroups {
    seen: Vec<(String, bool)>,
}

impl Cgroups {
    /// Whether thread `tid` of `pid` is held (see [`process_frozen`]).
    fn held(&mut self, pid: i32, tid: i32) -> bool {
        let mut buf = small_buf::<1024>();
        let path = proc_path(pid, b"task/")
            .num(tid.max(0) as u64)
            .push(b"/stat");
        let Ok(stat) = read_at(&path, &mut buf) else {
            return false;
        };
        match state_of(stat) {
            Some("T" | "t") => true,
            Some("S" | "D") => self.frozen(pid, tid),
            _ => false,
        }
    }

    /// Whether thread `tid` of `pid` is in a cgroup that reports itself
    /// frozen (its state is the caller's to check).
    pub fn frozen(&mut self, pid: i32, tid: i32) -> bool {
        let mut buf = small_buf::<4096>();
        let path = proc_path(pid, b"task/")
            .num(tid.max(0) as u64)
            .push(b"/cgroup");
        let Ok(text) = read_at(&path, &mut buf) else {
            return false;
        };
        if let Some((_, f)) = self.seen.iter().find(|(t, _)| t == text) {
            return *f;
        }
        let f = frozen_by(text);
        self.seen.push((text.to_owned(), f));
        f
    }
}

/// Which freezer a `/proc/<pid>/cgroup` line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// the unified hierarchy (`0::<path>`)
    V2,
    /// a v1 hierarchy with the freezer controller
    V1,
}

/// The freezer cgroups a `/proc/<pid>/cgroup` text names, other than the
/// roots (never frozen) and paths outside this cgroup namespace's view.
fn freezer_paths(text: &str) -> impl Iterator<Item = (Kind, &str)> {
    text.lines().filter_map(|l| {
        let mut f = l.splitn(3, ':');
        let (id, ctl, path) = (f.next()?, f.next()?, f.next()?);
        let kind = if id == "0" && ctl.is_empty() {
            Kind::V2
        } else if ctl.split(',').any(|c| c == "freezer") {
            Kind::V1
        } else {
            return None;
        };
        let inside = path.starts_with('/') && !path.split('/').any(|c| c == "..");
        (inside && path != "/").then_some((kind, path))
    })
}

/// Whether one of the cgroups `text` names reports itself frozen.
fn frozen_by(text: &str) -> bool {
    let paths: Vec<(Kind, &str)> = freezer_paths(text).collect();
    if paths.is_empty() {
        return false;
    }
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    paths.iter().any(|&(kind, path)| {
        mounts_of(&mounts, kind).any(|(root, at)| {
            let Some(rel) = under(path, &root) else {
                return false;
            };
            let file = match kind {
                Kind::V2 => "cgroup.events",
                Kind::V1 => "freezer.state",
            };
            let mut buf = small_buf::<1024>();
            let Ok(name) = std::ffi::CString::new(format!("{at}{rel}/{file}")) else {
                return false;
            };
            match read_small(&name, &mut buf) {
                Ok(t) => says_frozen(kind, t),
                Err(_) => false,
            }
        })
    })
}

/// Whether a `cgroup.events` (v2) or `freezer.state` (v1) text says frozen.
fn says_frozen(kind: Kind, text: &str) -> bool {
    match kind {
        Kind::V2 => text.lines().any(|l| l.trim_end() == "frozen 1"),
        Kind::V1 => text.trim() == "FROZEN",
    }
}

/// The part of cgroup `path` below a mount's `root` (`""` for the root
/// itself), `None` when the mount does not show it.
fn under<'a>(path: &'a str, root: &str) -> Option<&'a str> {
    if root == "/" {
        return Some(path);
    }
    let rest = path.strip_prefix(root)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// The (root, mount point) of each mount of `kind`'s hierarchy in a
/// `mountinfo` text, the mount point unescaped (`\040` for a space).
fn mounts_of(mounts: &str, kind: Kind) -> impl Iterator<Item = (String, String)> + '_ {
    mounts.lines().filter_map(move |l| {
        let (left, right) = l.split_once(" - ")?;
        let mut lf = left.split(' ');
        let root = unescape(lf.nth(3)?);
        let at = unescape(lf.next()?);
        let mut rf = right.split(' ');
        let fstype = rf.next()?;
        let superopts = rf.nth(1).unwrap_or("");
        let fits = match kind {
            Kind::V2 => fstype == "cgroup2",
            Kind::V1 => fstype == "cgroup" && superopts.split(',').any(|o| o == "freezer"),
        };
        (fits && at.starts_with('/')).then_some((root, at.trim_end_matches('/').to_owned()))
    })
}

/// A `mountinfo` field with its octal escapes (`\040`, `\011`, `\012`,
/// `\134`) undone.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .map(|d| d.iter().fold(0u32, |n, c| n * 8 + u32::from(c - b'0')))
            .and_then(|n| u8::try_from(n).ok());
        match octal {
            Some(c) => {
                out.push(c);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cgroup_file_names_the_freezers() {
        let t = "9:name=systemd:/\n6:freezer:/a b\n4:memory:/x\n1:cpu,freezer:/c\n0::/d/e\n";
        let v: Vec<_> = freezer_paths(t).collect();
        assert_eq!(
            v,
            [(Kind::V1, "/a b"), (Kind::V1, "/c"), (Kind::V2, "/d/e")]
        );
        // Roots and paths outside the namespace's view are no evidence.
        assert_eq!(freezer_paths("6:freezer:/\n0::/\n").count(), 0);
        assert_eq!(freezer_paths("0::/../../x\n").count(), 0);
        assert_eq!(freezer_paths("garbage\n").count(), 0);
    }

    #[test]
    fn mountinfo_is_read_right() {
        let m = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
                 37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n\
                 38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n\
                 41 31 0:38 /sub /my\\040cg rw,relatime shared:5 - cgroup2 cgroup2 rw\n";
        let v1: Vec<_> = mounts_of(m, Kind::V1).collect();
        assert_eq!(v1, [("/".into(), "/sys/fs/cgroup/freezer".into())]);
        let v2: Vec<_> = mounts_of(m, Kind::V2).collect();
        assert_eq!(v2, [("/sub".into(), "/my cg".into())]);
        assert_eq!(under("/sub/a", "/sub"), Some("/a"));
        assert_eq!(under("/sub", "/sub"), Some(""));
        assert_eq!(under("/subx", "/sub"), None);
        assert_eq!(under("/a", "/"), Some("/a"));
    }

    #[test]
    fn the_freezer_files_are_read_right() {
        assert!(says_frozen(Kind::V2, "populated 1\nfrozen 1\n"));
        assert!(!says_frozen(Kind::V2, "populated 1\nfrozen 0\n"));
        assert!(says_frozen(Kind::V1, "FROZEN\n"));
        assert!(!says_frozen(Kind::V1, "FREEZING\n"));
        assert!(!says_frozen(Kind::V1, "THAWED\n"));
    }

    #[test]
    fn this_process_is_not_frozen() {
        let me = crate::os::proc::my_pid();
        assert!(!Cgroups::default().frozen(me, me));
        assert!(!process_frozen(me));
    }
}
