//! Code shared by `ripcs`, `ripcrm` and `ripcmk`: option parsing as GNU
//! `getopt_long` does it, util-linux's number and size parsers, its message
//! conventions (`prog: message`), and the listing of a namespace's objects
//! through the System V calls (`*_INFO` for the highest index, then
//! `*_STAT_ANY` — or `*_STAT` on kernels without it — for every index).
#![allow(dead_code)]

pub mod sysv_calls;

use core::ffi::{c_char, c_int, c_void};
use ripc::error::Errno;
use ripc::ffi::cstructs::*;
use std::collections::HashMap;
use std::io::Write;

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

// ---------------------------------------------------------------------------
// getopt_long

/// Whether a long option takes an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HasArg {
    /// `no_argument`
    No,
    /// `required_argument`
    Req,
    /// `optional_argument` (only as `--name=value` or `-xvalue`)
    Opt,
}

/// One long option: its name, argument kind and the code it returns.
#[derive(Debug, Clone, Copy)]
pub struct LongOpt {
    /// name without the dashes
    pub name: &'static str,
    /// argument kind
    pub has_arg: HasArg,
    /// the code returned, as a short option's letter
    pub val: char,
}

/// What [`Getopt::next_opt`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// an option and its argument
    Opt(char, Option<String>),
    /// getopt's diagnostic (without the program name)
    Bad(String),
}

/// GNU `getopt_long` with argument permutation: options are returned in
/// order; operands are collected in [`Getopt::operands`].
#[derive(Debug)]
pub struct Getopt<'a> {
    args: Vec<String>,
    idx: usize,
    short: &'a str,
    longs: &'a [LongOpt],
    cluster: Option<(String, usize)>,
    /// the non-option arguments, in order
    pub operands: Vec<String>,
}

impl<'a> Getopt<'a> {
    /// Parses `args` (without the program name).
    pub fn new(args: Vec<String>, short: &'a str, longs: &'a [LongOpt]) -> Getopt<'a> {
        Getopt {
            args,
            idx: 0,
            short,
            longs,
            cluster: None,
            operands: Vec::new(),
        }
    }

    fn short_kind(&self, c: char) -> Option<HasArg> {
        if c == ':' {
            return None;
        }
        let pos = self.short.find(c)?;
        let rest = &self.short[pos + c.len_utf8()..];
        Some(if rest.starts_with("::") {
            HasArg::Opt
        } else if rest.starts_with(':') {
            HasArg::Req
        } else {
            HasArg::No
        })
    }

    /// The next option, or None at the end (operands are then complete).
    pub fn next_opt(&mut self) -> Option<Parsed> {
        if let Some((s, pos)) = self.cluster.take() {
            return Some(self.short_opt(s, pos));
        }
        while self.idx < self.args.len() {
            let a = self.args[self.idx].clone();
            self.idx += 1;
            if a == "--" {
                self.operands.extend(self.args[self.idx..].iter().cloned());
                self.idx = self.args.len();
                return None;
            }
            if let Some(body) = a.strip_prefix("--") {
                return Some(self.long_opt(body));
            }
            if a.len() > 1 && a.starts_with('-') {
                return Some(self.short_opt(a, 1));
            }
            self.operands.push(a);
        }
        None
    }

    fn short_opt(&mut self, s: String, pos: usize) -> Parsed {
        let c = s[pos..].chars().next().unwrap_or('?');
        let next = pos + c.len_utf8();
        let rest = &s[next..];
        match self.short_kind(c) {
            None => {
                if !rest.is_empty() {
                    self.cluster = Some((s.clone(), next));
                }
                Parsed::Bad(format!("invalid option -- '{c}'"))
            }
            Some(HasArg::No) => {
                if !rest.is_empty() {
                    self.cluster = Some((s.clone(), next));
                }
                Parsed::Opt(c, None)
            }
            Some(HasArg::Opt) => Parsed::Opt(c, (!rest.is_empty()).then(|| rest.to_string())),
            Some(HasArg::Req) => {
                if !rest.is_empty() {
                    Parsed::Opt(c, Some(rest.to_string()))
                } else if self.idx < self.args.len() {
                    self.idx += 1;
                    Parsed::Opt(c, Some(self.args[self.idx - 1].clone()))
                } else {
                    Parsed::Bad(format!("option requires an argument -- '{c}'"))
                }
            }
        }
    }

    fn long_opt(&mut self, body: &str) -> Parsed {
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let opt = match self.longs.iter().find(|o| o.name == name) {
            Some(o) => *o,
            None => {
                let m: Vec<&LongOpt> = self
                    .longs
                    .iter()
                    .filter(|o| o.name.starts_with(name))
                    .collect();
                match m.len() {
                    0 => return Parsed::Bad(format!("unrecognized option '--{name}'")),
                    1 => *m[0],
                    _ => {
                        let all: Vec<String> =
                            m.iter().map(|o| format!("'--{}'", o.name)).collect();
                        return Parsed::Bad(format!(
                            "option '--{name}' is ambiguous; possibilities: {}",
                            all.join(" ")
                        ));
                    }
                }
            }
        };
        match opt.has_arg {
            HasArg::No if value.is_some() => {
                Parsed::Bad(format!("option '--{}' doesn't allow an argument", opt.name))
            }
            HasArg::No | HasArg::Opt => Parsed::Opt(opt.val, value),
            HasArg::Req => match value {
                Some(v) => Parsed::Opt(opt.val, Some(v)),
                None if self.idx < self.args.len() => {
                    self.idx += 1;
                    Parsed::Opt(opt.val, Some(self.args[self.idx - 1].clone()))
                }
                None => Parsed::Bad(format!("option '--{}' requires an argument", opt.name)),
            },
        }
    }
}

// ---------------------------------------------------------------------------
// numbers, as C's strtoul/strtoimax and util-linux's wrappers

/// C `strtoul`/`strtoull`: (value, bytes consumed (0 = no number),
/// overflowed). Leading blanks and a sign are accepted; base 0 detects
/// `0x` and `0`.
pub fn c_strtoul(s: &str, base: u32) -> (u64, usize, bool) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && (b[i] == b' ' || (b'\t'..=b'\r').contains(&b[i])) {
        i += 1;
    }
    let mut neg = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        neg = b[i] == b'-';
        i += 1;
    }
    let mut base = base;
    let hex_prefix = i + 1 < b.len()
        && b[i] == b'0'
        && (b[i + 1] == b'x' || b[i + 1] == b'X')
        && i + 2 < b.len()
        && (b[i + 2] as char).is_ascii_hexdigit();
    if (base == 0 || base == 16) && hex_prefix {
        base = 16;
        i += 2;
    } else if base == 0 {
        base = if i < b.len() && b[i] == b'0' { 8 } else { 10 };
    }
    let start = i;
    let mut v: u64 = 0;
    let mut over = false;
    while i < b.len() {
        let d = match (b[i] as char).to_digit(base) {
            Some(d) => d as u64,
            None => break,
        };
        match v.checked_mul(base as u64).and_then(|x| x.checked_add(d)) {
            Some(x) => v = x,
            None => over = true,
        }
        i += 1;
    }
    if i == start {
        // "0x" with no hex digit after is "0" followed by "x…"
        return (0, 0, false);
    }
    if over {
        return (u64::MAX, i, true);
    }
    (if neg { v.wrapping_neg() } else { v }, i, false)
}

/// C `strtoimax(s, &end, 10)`: (value, consumed, overflowed).
pub fn c_strtoimax(s: &str) -> (i64, usize, bool) {
    let t = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let neg = t.starts_with('-');
    let (mag, n, over) = c_strtoul(s, 10);
    if n == 0 {
        return (0, 0, false);
    }
    if over {
        return (if neg { i64::MIN } else { i64::MAX }, n, true);
    }
    let m = if neg { mag.wrapping_neg() } else { mag };
    if neg {
        if m > (i64::MAX as u64) + 1 {
            return (i64::MIN, n, true);
        }
        (0i64.wrapping_sub(m as i64), n, false)
    } else if m > i64::MAX as u64 {
        (i64::MAX, n, true)
    } else {
        (m as i64, n, false)
    }
}

/// util-linux `strtos32_or_err`: exits with `msg: 'str'` (and
/// `: Numerical result out of range` when it does not fit).
pub fn strtos32_or_err(prog: &str, s: &str, msg: &str) -> i32 {
    let (v, n, over) = c_strtoimax(s);
    if s.is_empty() || n == 0 || n != s.len() {
        errx(prog, &format!("{msg}: '{s}'"));
    }
    if over || v < i32::MIN as i64 || v > i32::MAX as i64 {
        err(prog, &format!("{msg}: '{s}'"), libc::ERANGE);
    }
    v as i32
}

/// util-linux `parse_size`: a number (C base 0) with an optional
/// fraction and suffix `K M G T P E Z Y` (either case), `…iB` = powers of
/// 1024 (the default), `…B` = powers of 1000. Err(errno) on failure.
pub fn parse_size(s: &str) -> Result<u64, i32> {
    if s.is_empty() {
        return Err(libc::EINVAL);
    }
    if s.trim_start().starts_with('-') {
        return Err(libc::EINVAL);
    }
    let (x, n, over) = c_strtoul(s, 0);
    if n == 0 {
        return Err(libc::EINVAL);
    }
    if over {
        return Err(libc::ERANGE);
    }
    let mut p = &s[n..];
    if p.is_empty() {
        return Ok(x);
    }
    let mut frac: u64 = 0;
    let mut frac_zeros = 0u32;
    let mut base: u64 = 1024;
    loop {
        let b = p.as_bytes();
        let at = |i: usize| b.get(i).copied().unwrap_or(0);
        if at(1) == b'i' && (at(2) == b'B' || at(2) == b'b') && at(3) == 0 {
            base = 1024;
        } else if (at(1) == b'B' || at(1) == b'b') && at(2) == 0 {
            base = 1000;
        } else if at(1) != 0 {
            if frac == 0 && at(0) == b'.' {
                let f = &p[1..];
                frac_zeros = f.bytes().take_while(|&c| c == b'0').count() as u32;
                let digits = f.bytes().take_while(|c| c.is_ascii_digit()).count();
                if digits == 0 {
                    return Err(libc::EINVAL);
                }
                let (fv, _, fo) = c_strtoul(&f[..digits], 10);
                if fo {
                    return Err(libc::ERANGE);
                }
                frac = fv;
                p = &f[digits..];
                if p.is_empty() {
                    // a fraction without a suffix
                    return Err(libc::EINVAL);
                }
                if frac == 0 {
                    frac_zeros = 0;
                }
                continue;
            }
            return Err(libc::EINVAL);
        }
        break;
    }
    let c = p.as_bytes()[0];
    let pwr = match "KMGTPEZY".find(c.to_ascii_uppercase() as char) {
        Some(i) if c.is_ascii_alphabetic() => i as u32 + 1,
        _ => return Err(libc::EINVAL),
    };
    let mut mult: u64 = 1;
    for _ in 0..pwr {
        mult = mult.checked_mul(base).ok_or(libc::ERANGE)?;
    }
    let mut v = x.checked_mul(mult).ok_or(libc::ERANGE)?;
    if frac != 0 {
        let mut frac_div: u64 = 10;
        while frac_div < frac {
            frac_div = frac_div.saturating_mul(10);
        }
        for _ in 0..frac_zeros {
            frac_div = frac_div.saturating_mul(10);
        }
        let mut frac_poz: u64 = 1;
        let mut f = frac;
        loop {
            let seg = f % 10;
            let seg_div = frac_div / frac_poz;
            f /= 10;
            frac_poz = frac_poz.saturating_mul(10);
            if seg != 0 && seg_div / seg != 0 {
                v = v.saturating_add(mult / (seg_div / seg));
            }
            if f == 0 {
                break;
            }
        }
    }
    Ok(v)
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

// ---------------------------------------------------------------------------
// the namespace

/// Under the user backend, the namespace the library uses, checked as the
/// library checks it (see `ripc::ns::trust`): a directory that is refused,
/// or a `RIPC_DIR` that does not exist, ends the tool with a message that
/// names the path, the problem and the fix (exit status 1). `None` under
/// the kernel backend.
pub fn check_namespace(prog: &str) -> Option<&'static ripc::ns::Ns> {
    use ripc::ns::{Ns, Problem};
    if ripc::sysv::is_kernel() {
        return None;
    }
    let (dir, default) = Ns::default_path();
    if !default && std::fs::symlink_metadata(&dir).is_err() {
        errx(prog, &Problem::Missing.message(&dir));
    }
    match Ns::default_ns_explained() {
        Ok(ns) => Some(ns),
        Err((d, p)) => errx(prog, &p.message(&d)),
    }
}

/// True when `args` only ask for help or the version (no namespace needed).
pub fn only_help(args: &[String]) -> bool {
    !args.is_empty()
        && args
            .iter()
            .all(|a| matches!(a.as_str(), "-h" | "--help" | "-V" | "--version"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("1K"), Ok(1024));
        assert_eq!(parse_size("1kib"), Ok(1024));
        assert_eq!(parse_size("2KB"), Ok(2000));
        assert_eq!(parse_size("1.5K"), Ok(1536));
        assert_eq!(parse_size("1.05K"), Ok(1024 + 51));
        assert_eq!(parse_size("0x10"), Ok(16));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("1x"), Err(libc::EINVAL));
        assert_eq!(parse_size("-1"), Err(libc::EINVAL));
        assert_eq!(parse_size("1.5"), Err(libc::EINVAL));
        assert_eq!(parse_size("99999999999Y"), Err(libc::ERANGE));
    }

    #[test]
    fn humans() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(1), "1B");
        assert_eq!(human(4096), "4K");
        assert_eq!(human(10000), "9.8K");
        assert_eq!(human(16384), "16K");
        assert_eq!(human(18446744073692774399), "16E");
    }

    #[test]
    fn numbers() {
        assert_eq!(c_strtoul("0x1ff", 0), (0x1ff, 5, false));
        assert_eq!(c_strtoul("0777", 0), (0o777, 4, false));
        assert_eq!(c_strtoul("8a", 8), (0, 0, false));
        assert_eq!(c_strtoimax("-12"), (-12, 3, false));
        assert_eq!(c_strtoimax(" 7x"), (7, 2, false));
        assert!(c_strtoimax("99999999999999999999").2);
    }

    #[test]
    fn getopt_permutes_and_clusters() {
        let longs = [LongOpt {
            name: "all",
            has_arg: HasArg::Opt,
            val: 'a',
        }];
        let args = ["x", "-vq", "5", "--all=shm", "-ashm", "--", "-q"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut g = Getopt::new(args, "q:va::", &longs);
        let mut got = Vec::new();
        while let Some(p) = g.next_opt() {
            got.push(p);
        }
        assert_eq!(
            got,
            vec![
                Parsed::Opt('v', None),
                Parsed::Opt('q', Some("5".into())),
                Parsed::Opt('a', Some("shm".into())),
                Parsed::Opt('a', Some("shm".into())),
            ]
        );
        assert_eq!(g.operands, vec!["x".to_string(), "-q".to_string()]);
    }
}
