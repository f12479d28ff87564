//! [`Namespace`], [`Key`], [`OpenOptions`], [`Perms`].

use super::{Error, Result};
use crate::ns::{Ns, Perm, IPC_CREAT, IPC_EXCL, IPC_PRIVATE};
use std::path::Path;
use std::sync::Arc;

/// A ripc namespace: the directory that holds a set of queues, semaphore
/// sets and segments, with its own keys, ids and limits (as one kernel's
/// IPC namespace). Processes that open the same directory share its
/// objects.
///
/// Cloning is cheap (the namespace is opened once and shared); a
/// `Namespace` is `Send` and `Sync`.
///
/// The Rust API always drives ripc's userspace engine: `RIPC_BACKEND`
/// routes only the C library's calls.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("ripc-doc-ns-{}", std::process::id()));
/// let ns = ripc::Namespace::open(&dir)?;
/// assert_eq!(ns.dir(), dir);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), ripc::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Namespace {
    ns: Arc<Ns>,
}

impl Namespace {
    /// Opens the namespace in directory `dir`, creating the directory
    /// (mode `0700`, private to the caller) when it is missing. Two
    /// `Namespace`s of one directory see the same objects.
    ///
    /// Fails with `EPERM` or `EACCES`, and a message naming the directory
    /// and the fix, when the directory is not one the caller can trust (a
    /// symbolic link, writable by others, owned by another user without
    /// being a shared namespace made by `ripcmk --namespace`).
    pub fn open(dir: impl AsRef<Path>) -> Result<Namespace> {
        let dir = dir.as_ref();
        let ns = Ns::open_checked(dir, true, false)
            .map_err(|p| Error::with_message(p.errno(), p.message(dir)))?;
        Ok(Namespace {
            ns: Ns::register(ns),
        })
    }

    /// The process's default namespace, as the C library uses it: the
    /// directory named by `RIPC_DIR`, or the caller's private default
    /// (`/dev/shm/ripc-UID`, see the README) when it is unset.
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("ripc-doc-env-{}", std::process::id()));
    /// # std::env::set_var("RIPC_DIR", &dir);
    /// let ns = ripc::Namespace::from_env()?;
    /// println!("objects live in {}", ns.dir().display());
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), ripc::Error>(())
    /// ```
    pub fn from_env() -> Result<Namespace> {
        let ns = Ns::default_ns_explained()
            .map_err(|(dir, p)| Error::with_message(p.errno(), p.message(&dir)))?;
        Ok(Namespace { ns: ns.clone() })
    }

    /// The namespace's directory.
    pub fn dir(&self) -> &Path {
        self.ns.dir()
    }

    /// The engine's namespace.
    pub(crate) fn ns(&self) -> &Arc<Ns> {
        &self.ns
    }
}

/// A System V key: how unrelated processes find the same object.
/// [`Key::PRIVATE`] always makes a new object, found by its id only.
///
/// ```
/// use ripc::Key;
/// assert_eq!(Key::new(0x5157).value(), 0x5157);
/// assert!(Key::PRIVATE.is_private());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(i32);

impl Key {
    /// `IPC_PRIVATE`: a new object every time.
    pub const PRIVATE: Key = Key(IPC_PRIVATE);

    /// The key `value` (0 is [`Key::PRIVATE`]).
    pub const fn new(value: i32) -> Key {
        Key(value)
    }

    /// `ftok(3)`: the same key for the same file and `id` (its low 8 bits),
    /// as glibc computes it. Fails with `stat`'s errno when `path` cannot
    /// be reached.
    ///
    /// ```
    /// let k = ripc::Key::ftok("/", 1)?;
    /// assert_eq!(k, ripc::Key::ftok("/", 1)?);
    /// # Ok::<(), ripc::Error>(())
    /// ```
    pub fn ftok(path: impl AsRef<Path>, id: u8) -> Result<Key> {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_ref().as_os_str().as_bytes())
            .map_err(|_| Error::from_raw_os_error(libc::EINVAL))?;
        Ok(Key(crate::ns::ftok(&c, i32::from(id))?))
    }

    /// The key's value.
    pub const fn value(self) -> i32 {
        self.0
    }

    /// Whether this is [`Key::PRIVATE`].
    pub const fn is_private(self) -> bool {
        self.0 == IPC_PRIVATE
    }
}

/// How [`Queue::open`](crate::Queue::open), [`SemSet::open`](crate::SemSet::open)
/// and [`Segment::open`](crate::Segment::open) find or create their object:
/// `IPC_CREAT`, `IPC_EXCL` and the mode bits of `msgget`, `semget` and
/// `shmget`.
///
/// The default opens an existing object only; [`OpenOptions::create`]
/// makes one when the key has none (mode `0600` unless set).
///
/// ```
/// let opts = ripc::OpenOptions::new().create(true).exclusive(true).mode(0o640);
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    create: bool,
    exclusive: bool,
    mode: u32,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// Open an existing object; mode `0600` for one created.
    pub const fn new() -> OpenOptions {
        OpenOptions {
            create: false,
            exclusive: false,
            mode: 0o600,
        }
    }

    /// Create the object when the key has none (`IPC_CREAT`).
    pub const fn create(mut self, on: bool) -> OpenOptions {
        self.create = on;
        self
    }

    /// With [`OpenOptions::create`]: fail with `EEXIST` when the key
    /// already has an object (`IPC_EXCL`).
    pub const fn exclusive(mut self, on: bool) -> OpenOptions {
        self.exclusive = on;
        self
    }

    /// The permission bits of a created object (the low 9 bits; others
    /// are ignored), and the access an existing one must grant.
    pub const fn mode(mut self, mode: u32) -> OpenOptions {
        self.mode = mode & 0o777;
        self
    }

    /// The `*get` flags.
    pub(crate) fn flags(&self) -> i32 {
        let mut f = self.mode as i32;
        if self.create {
            f |= IPC_CREAT;
        }
        if self.exclusive {
            f |= IPC_EXCL;
        }
        f
    }
}

/// An object's owner, creator and mode (`struct ipc_perm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Perms {
    /// the key it was created with
    pub key: Key,
    /// owner's user id
    pub uid: u32,
    /// owner's group id
    pub gid: u32,
    /// creator's user id
    pub creator_uid: u32,
    /// creator's group id
    pub creator_gid: u32,
    /// permission bits (with the kind's flags above them, as `ipcs` shows)
    pub mode: u32,
}

impl From<Perm> for Perms {
    fn from(p: Perm) -> Perms {
        Perms {
            key: Key(p.key),
            uid: p.uid,
            gid: p.gid,
            creator_uid: p.cuid,
            creator_gid: p.cgid,
            mode: p.mode,
        }
    }
}
