//! Output: the program name and version line, util-linux's message
//! conventions (`prog: message`, exit statuses), sizes, times, user and
//! group names, JSON strings.

use super::*;

/// The version line printed by `-V`.
pub fn version_line(prog: &str) -> String {
    format!("{prog} from ripc {}\n", env!("CARGO_PKG_VERSION"))
}

/// The program's short name, as `program_invocation_short_name`.
pub fn prog_name(default: &str) -> String {
    std::env::args()
        .next()
        .and_then(|a| a.rsplit('/').next().map(str::to_string))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// `strerror(3)`.
pub fn strerror(e: i32) -> String {
    let mut buf = [0 as c_char; 256];
    // SAFETY: the XSI/GNU strerror_r writes at most buf.len() bytes,
    // NUL-terminated; libc's binding is the XSI one (returns int).
    let r = unsafe { libc::strerror_r(e, buf.as_mut_ptr(), buf.len()) };
    if r != 0 {
        return format!("Unknown error {e}");
    }
    // SAFETY: strerror_r NUL-terminated the buffer.
    unsafe { core::ffi::CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// The calling thread's `errno`.
pub fn errno() -> i32 {
    Errno::last() as i32
}

/// Buffered standard output; a closed pipe is not an error (as
/// util-linux's `close_stdout`), other write errors are reported at exit.
#[derive(Debug)]
pub struct Out {
    buf: String,
}

impl Out {
    /// An empty buffer.
    pub fn new() -> Out {
        Out { buf: String::new() }
    }

    /// Appends text.
    pub fn p(&mut self, s: &str) {
        self.buf.push_str(s);
    }

    /// Writes what was buffered; false on a write error other than EPIPE.
    pub fn flush(&mut self) -> bool {
        let mut so = std::io::stdout().lock();
        let r = so.write_all(self.buf.as_bytes()).and_then(|_| so.flush());
        self.buf.clear();
        match r {
            Ok(()) => true,
            Err(e) => e.raw_os_error() == Some(libc::EPIPE),
        }
    }

    /// Flushes and exits with `code` (1 after a write error).
    pub fn exit(&mut self, prog: &str, code: i32) -> ! {
        if !self.flush() {
            eprintln!("{prog}: write error");
            std::process::exit(1);
        }
        std::process::exit(code)
    }
}

impl Default for Out {
    fn default() -> Self {
        Out::new()
    }
}

/// `warnx`: `prog: msg` on stderr.
pub fn warnx(prog: &str, msg: &str) {
    eprintln!("{prog}: {msg}");
}

/// `errx(1, …)`.
pub fn errx(prog: &str, msg: &str) -> ! {
    warnx(prog, msg);
    std::process::exit(1)
}

/// `err(1, …)`: the message followed by `strerror(e)`.
pub fn err(prog: &str, msg: &str, e: i32) -> ! {
    eprintln!("{prog}: {msg}: {}", strerror(e));
    std::process::exit(1)
}

/// util-linux's `errtryhelp(EXIT_FAILURE)`.
pub fn errtryhelp(prog: &str) -> ! {
    eprintln!("Try '{prog} --help' for more information.");
    std::process::exit(1)
}

/// util-linux `size_to_human_string(SIZE_SUFFIX_1LETTER, …)`: "9.8K".
pub fn human(bytes: u64) -> String {
    let mut exp = 0u32;
    let mut shft = 10;
    while shft <= 60 {
        if bytes < (1u64 << shft) {
            break;
        }
        shft += 10;
    }
    if shft > 10 {
        exp = shft - 10;
    }
    let letter = b"BKMGTPE"[(exp / 10) as usize] as char;
    let (mut dec, mut frac) = if exp > 0 {
        (bytes >> exp, bytes & ((1u64 << exp) - 1))
    } else {
        (bytes, 0)
    };
    if frac != 0 {
        frac = if frac >= u64::MAX / 1000 {
            ((frac / 1024) * 1000) / (1u64 << (exp - 10))
        } else {
            (frac * 1000) / (1u64 << exp)
        };
        frac = (frac + 50) / 100;
        if frac == 10 {
            dec += 1;
            frac = 0;
        }
    }
    if frac != 0 {
        format!("{dec}.{frac}{letter}")
    } else {
        format!("{dec}{letter}")
    }
}

/// How ipcs prints sizes (`-b`, `--human`, or its per-field default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// no option given
    Default,
    /// `-b`
    Bytes,
    /// kilobytes (the shared memory limits' default)
    Kb,
    /// `--human`
    Human,
}

/// util-linux `ipc_print_size`.
pub fn print_size(
    out: &mut Out,
    unit: Unit,
    msg: Option<&str>,
    size: u64,
    end: Option<&str>,
    width: i32,
) {
    if let Some(m) = msg {
        if m.ends_with('=') {
            out.p(m);
        } else if unit == Unit::Bytes {
            out.p(&format!("{m} (bytes) = "));
        } else if unit == Unit::Kb {
            out.p(&format!("{m} (kbytes) = "));
        } else {
            out.p(&format!("{m} = "));
        }
    }
    let s = match unit {
        Unit::Default | Unit::Bytes => size.to_string(),
        Unit::Kb => (size / 1024).to_string(),
        Unit::Human => human(size),
    };
    out.p(&pad(&s, width));
    if let Some(e) = end {
        out.p(e);
    }
}

/// printf's `%Ns` (right-aligned) or `%-Ns` (negative width).
pub fn pad(s: &str, width: i32) -> String {
    let w = width.unsigned_abs() as usize;
    if width < 0 {
        format!("{s:<w$}")
    } else {
        format!("{s:>w$}")
    }
}

/// printf's `%#o`.
pub fn alt_octal(v: u32) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("0{v:o}")
    }
}

/// `ctime(3)` without its newline ("Wed Nov 25 12:43:23 2026").
pub fn ctime(t: i64) -> String {
    let tt = t as libc::time_t;
    let mut buf = [0 as c_char; 64];
    // SAFETY: ctime_r writes at most 26 bytes into buf (64 here) and reads
    // tt; both live for the call.
    let r = unsafe { libc::ctime_r(&tt, buf.as_mut_ptr()) };
    if r.is_null() {
        return "???".into();
    }
    // SAFETY: ctime_r NUL-terminated the buffer.
    let s = unsafe { core::ffi::CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    s.trim_end_matches('\n').to_string()
}

/// User and group names, looked up once each.
#[derive(Debug, Default)]
pub struct Names {
    users: HashMap<u32, Option<String>>,
    groups: HashMap<u32, Option<String>>,
}

impl Names {
    /// The user's name, if the password database has one.
    pub fn user(&mut self, uid: u32) -> Option<String> {
        self.users
            .entry(uid)
            .or_insert_with(|| {
                nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                    .ok()
                    .flatten()
                    .map(|u| u.name)
            })
            .clone()
    }

    /// The group's name, if the group database has one.
    pub fn group(&mut self, gid: u32) -> Option<String> {
        self.groups
            .entry(gid)
            .or_insert_with(|| {
                nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
                    .ok()
                    .flatten()
                    .map(|g| g.name)
            })
            .clone()
    }

    /// `%-10.10s` of the name, or `%-10u` of the uid.
    pub fn owner10(&mut self, uid: u32) -> String {
        match self.user(uid) {
            Some(n) => format!("{n:<10.10}"),
            None => format!("{uid:<10}"),
        }
    }
}

/// JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}
