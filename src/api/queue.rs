//! [`Queue`]: a System V message queue.

use super::{time, Block, Error, Key, Namespace, OpenOptions, Perms, Result};
use crate::error::Errno;
use crate::msg::{self, MSG_EXCEPT};
use crate::ns::IPC_NOWAIT;
use crate::sync::time::Deadline;
use core::time::Duration;
use std::time::SystemTime;

/// A message queue: typed messages of bytes, taken in order (per type),
/// with blocking, non-blocking (`try_*`) and timed (`*_timeout`) sends and
/// receives.
///
/// A `Queue` is `Send` and `Sync`; cloning gives another handle on the
/// same queue. Dropping a handle leaves the queue in place:
/// [`Queue::remove`] removes it.
///
/// ```
/// use ripc::{Key, Namespace, OpenOptions, Queue, Selector};
/// # let dir = std::env::temp_dir().join(format!("ripc-doc-q-{}", std::process::id()));
/// let ns = Namespace::open(&dir)?;
/// let q = Queue::open(&ns, Key::PRIVATE, OpenOptions::new().create(true))?;
/// q.send(7, b"hello")?;
/// let mut buf = [0u8; 64];
/// let (mtype, n) = q.recv(Selector::Any, &mut buf)?;
/// assert_eq!((mtype, &buf[..n]), (7, &b"hello"[..]));
/// // Nothing left: a try gives EAGAIN, a timed wait ETIMEDOUT.
/// assert!(q.try_recv(Selector::Any, &mut buf).unwrap_err().would_block());
/// let waited = q.recv_timeout(Selector::Any, &mut buf, std::time::Duration::from_millis(10));
/// assert!(waited.unwrap_err().is_timeout());
/// q.remove()?;
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), ripc::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Queue {
    ns: Namespace,
    q: msg::Queue,
}

/// Which message a receive takes (`msgrcv`'s `msgtyp` and `MSG_EXCEPT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    /// the first message
    Any,
    /// the first message of this type (≥ 1)
    Type(i64),
    /// the first message of any other type (≥ 1)
    Except(i64),
    /// the first message of the lowest type ≤ this (≥ 1)
    AtMost(i64),
}

impl Selector {
    /// `msgtyp` and flags.
    fn raw(self) -> Result<(i64, i32)> {
        let positive = |t: i64| {
            if t >= 1 {
                Ok(t)
            } else {
                Err(Error::from_raw_os_error(libc::EINVAL))
            }
        };
        Ok(match self {
            Selector::Any => (0, 0),
            Selector::Type(t) => (positive(t)?, 0),
            Selector::Except(t) => (positive(t)?, MSG_EXCEPT),
            Selector::AtMost(t) => (-positive(t)?, 0),
        })
    }
}

/// What [`Queue::info`] reports (`struct msqid_ds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueInfo {
    /// owner, creator, mode, key
    pub perms: Perms,
    /// messages in the queue
    pub messages: u64,
    /// bytes of text in the queue
    pub bytes: u64,
    /// most bytes of text the queue holds (`msg_qbytes`)
    pub capacity: u64,
    /// process id of the last send
    pub last_send_pid: i32,
    /// process id of the last receive
    pub last_recv_pid: i32,
    /// time of the last send
    pub last_send: Option<SystemTime>,
    /// time of the last receive
    pub last_recv: Option<SystemTime>,
    /// time of the last change (creation, or `IPC_SET`)
    pub changed: Option<SystemTime>,
}

impl Queue {
    /// `msgget`: the queue with `key` in `ns`, created per `opts`.
    /// `ENOENT` when there is none and `opts` does not create one,
    /// `EEXIST` when `opts` is exclusive and there is one, `EACCES` when
    /// its mode does not grant `opts`' mode, `ENOSPC` at the namespace's
    /// `msgmni`.
    pub fn open(ns: &Namespace, key: Key, opts: OpenOptions) -> Result<Queue> {
        Self::open_with_capacity(ns, key, 0, opts)
    }

    /// As [`Queue::open`], a created queue holding at most `capacity`
    /// bytes of text (0: the namespace's `msgmnb`, what `open` gives).
    /// Above `msgmnb` needs root (`EPERM`); above the hard cap, `EINVAL`.
    /// An existing queue keeps its own capacity.
    ///
    /// ```
    /// # use ripc::{Key, Namespace, OpenOptions, Queue};
    /// # let dir = std::env::temp_dir().join(format!("ripc-doc-cap-{}", std::process::id()));
    /// # let ns = Namespace::open(&dir)?;
    /// let q = Queue::open_with_capacity(&ns, Key::PRIVATE, 100, OpenOptions::new().create(true))?;
    /// assert_eq!(q.info()?.capacity, 100);
    /// q.send(1, &[0; 100])?;
    /// assert!(q.try_send(1, b"one more").unwrap_err().would_block());
    /// # q.remove()?;
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), ripc::Error>(())
    /// ```
    pub fn open_with_capacity(
        ns: &Namespace,
        key: Key,
        capacity: u64,
        opts: OpenOptions,
    ) -> Result<Queue> {
        let q = msg::get_sized(ns.ns(), key.value(), opts.flags(), capacity)?;
        Ok(Queue { ns: ns.clone(), q })
    }

    /// The existing queue with id `id` (`EINVAL` when there is none).
    pub fn open_id(ns: &Namespace, id: i32) -> Result<Queue> {
        let q = msg::by_id(ns.ns(), id)?;
        Ok(Queue { ns: ns.clone(), q })
    }

    /// The queue's id: other processes open it with [`Queue::open_id`],
    /// and C programs with `ripc_queue_open_id` or `msgsnd`/`msgrcv`.
    pub fn id(&self) -> i32 {
        self.q.id()
    }

    /// Sends `data` as a message of type `mtype` (≥ 1, else `EINVAL`),
    /// waiting as long as the queue is full. `EINVAL` above the
    /// namespace's `msgmax`; `EIDRM` when the queue is removed meanwhile,
    /// `EINTR` on a signal.
    pub fn send(&self, mtype: i64, data: &[u8]) -> Result<()> {
        self.send_with(mtype, data, Block::Forever)
    }

    /// As [`Queue::send`], but `EAGAIN` rather than wait.
    pub fn try_send(&self, mtype: i64, data: &[u8]) -> Result<()> {
        self.send_with(mtype, data, Block::Try)
    }

    /// As [`Queue::send`], waiting at most `timeout` (`ETIMEDOUT`; a zero
    /// timeout is [`Queue::try_send`]).
    pub fn send_timeout(&self, mtype: i64, data: &[u8], timeout: Duration) -> Result<()> {
        self.send_with(mtype, data, Block::timeout(timeout))
    }

    fn send_with(&self, mtype: i64, data: &[u8], b: Block) -> Result<()> {
        let (flags, d) = raw(b);
        Ok(self.q.send(self.ns.ns(), mtype, data, flags, d)?)
    }

    /// Receives the first message `sel` selects into `buf`, waiting as
    /// long as there is none; returns its type and length. `E2BIG` (the
    /// message stays) when it is longer than `buf`; `EIDRM` when the
    /// queue is removed meanwhile, `EINTR` on a signal.
    pub fn recv(&self, sel: Selector, buf: &mut [u8]) -> Result<(i64, usize)> {
        self.recv_with(sel, buf, Block::Forever)
    }

    /// As [`Queue::recv`], but `EAGAIN` rather than wait.
    pub fn try_recv(&self, sel: Selector, buf: &mut [u8]) -> Result<(i64, usize)> {
        self.recv_with(sel, buf, Block::Try)
    }

    /// As [`Queue::recv`], waiting at most `timeout` (`ETIMEDOUT`; a zero
    /// timeout is [`Queue::try_recv`]).
    pub fn recv_timeout(
        &self,
        sel: Selector,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<(i64, usize)> {
        self.recv_with(sel, buf, Block::timeout(timeout))
    }

    fn recv_with(&self, sel: Selector, buf: &mut [u8], b: Block) -> Result<(i64, usize)> {
        let (mtype, f) = sel.raw()?;
        let (flags, d) = raw(b);
        // `msgrcv` says ENOMSG for "none, and IPC_NOWAIT": here, as for
        // every call that was asked not to block, EAGAIN.
        self.q
            .recv(mtype, buf, f | flags, d)
            .map_err(|e| match e {
                Errno::ENOMSG => Errno::EAGAIN,
                e => e,
            })
            .map_err(Error::from)
    }

    /// `IPC_STAT`: needs read permission (`EACCES`).
    pub fn info(&self) -> Result<QueueInfo> {
        let s = self.q.stat(false)?;
        Ok(QueueInfo {
            perms: s.perm.into(),
            messages: s.qnum,
            bytes: s.cbytes,
            capacity: s.qbytes,
            last_send_pid: s.lspid,
            last_recv_pid: s.lrpid,
            last_send: time(s.stime),
            last_recv: time(s.rtime),
            changed: time(s.ctime),
        })
    }

    /// `IPC_RMID`: removes the queue (by its owner, creator or root,
    /// else `EPERM`). Senders and receivers waiting on it fail with
    /// `EIDRM`; every later call on it fails (`EINVAL` or `EIDRM`).
    pub fn remove(&self) -> Result<()> {
        Ok(self.q.remove(self.ns.ns())?)
    }
}

/// The engine's flags and deadline for `b`.
fn raw(b: Block) -> (i32, Deadline) {
    match b {
        Block::Forever => (0, Deadline::NEVER),
        Block::Try => (IPC_NOWAIT, Deadline::NEVER),
        Block::Until(d) => (0, d),
    }
}
