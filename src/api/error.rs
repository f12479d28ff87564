//! [`Error`]: an `errno` value, with a sentence when there is more to say.

use crate::error::Errno;
use std::sync::Arc;

/// The error of every fallible call: the `errno` value the equivalent
/// System V call fails with (see the README's tables and the man pages),
/// and, for a namespace that is refused, a sentence naming the directory
/// and the fix.
///
/// The two ways a bounded wait ends are told apart: a call that would block
/// and was asked not to (a `try_*` call, or a zero timeout) fails with
/// `EAGAIN` ([`Error::would_block`]), a wait that ran out of time with
/// `ETIMEDOUT` ([`Error::is_timeout`]).
///
/// ```
/// let e = ripc::Error::from_raw_os_error(libc::EAGAIN);
/// assert!(e.would_block());
/// assert_eq!(std::io::Error::from(e).kind(), std::io::ErrorKind::WouldBlock);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    errno: i32,
    message: Option<Arc<str>>,
}

/// `Result<T, ripc::Error>`.
pub type Result<T> = core::result::Result<T, Error>;

impl Error {
    /// An error with `errno` value `errno`.
    pub fn from_raw_os_error(errno: i32) -> Error {
        Error {
            errno,
            message: None,
        }
    }

    /// An error with a sentence of its own (for a refused namespace).
    pub(crate) fn with_message(errno: Errno, message: String) -> Error {
        Error {
            errno: errno as i32,
            message: Some(message.into()),
        }
    }

    /// The `errno` value (`libc::EINVAL`, …).
    pub fn raw_os_error(&self) -> i32 {
        self.errno
    }

    /// A call asked not to block would have (`EAGAIN`).
    pub fn would_block(&self) -> bool {
        self.errno == libc::EAGAIN
    }

    /// A bounded wait ran out of time (`ETIMEDOUT`).
    pub fn is_timeout(&self) -> bool {
        self.errno == libc::ETIMEDOUT
    }

    /// The object was removed while the call waited on it (`EIDRM`).
    pub fn is_removed(&self) -> bool {
        self.errno == libc::EIDRM
    }
}

impl From<Errno> for Error {
    fn from(e: Errno) -> Error {
        Error::from_raw_os_error(e as i32)
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        let os = std::io::Error::from_raw_os_error(e.errno);
        match e.message {
            Some(m) => std::io::Error::new(os.kind(), m.to_string()),
            None => os,
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.message {
            Some(m) => f.write_str(m),
            None => std::io::Error::from_raw_os_error(self.errno).fmt(f),
        }
    }
}

impl std::error::Error for Error {}
