//! `ripcmk` — util-linux `ipcmk` for a ripc namespace (`RIPC_DIR`), or for
//! the kernel with `RIPC_BACKEND=kernel`.
//!
//! Creation is `*get` with a random key and `IPC_CREAT | IPC_EXCL | mode`
//! (a new key is drawn when the random one is taken).
//!
//! `--namespace DIR [--group NAME]` makes `DIR` a namespace (ripc only):
//! private (`0700`), or shared by group `NAME` (`3770`: setgid, sticky,
//! rwx for owner and group); objects asked for are then made in it.

mod common;

use common::sysv_calls;
use common::*;
use core::ffi::c_int;
use ripc::ns::{IPC_CREAT, IPC_EXCL};

const OPT_NAMESPACE: char = '\u{101}';
const OPT_GROUP: char = '\u{102}';

const LONGS: &[LongOpt] = &[
    LongOpt {
        name: "namespace",
        has_arg: HasArg::Req,
        val: OPT_NAMESPACE,
    },
    LongOpt {
        name: "group",
        has_arg: HasArg::Req,
        val: OPT_GROUP,
    },
    LongOpt {
        name: "shmem",
        has_arg: HasArg::Req,
        val: 'M',
    },
    LongOpt {
        name: "semaphore",
        has_arg: HasArg::Req,
        val: 'S',
    },
    LongOpt {
        name: "queue",
        has_arg: HasArg::No,
        val: 'Q',
    },
    LongOpt {
        name: "mode",
        has_arg: HasArg::Req,
        val: 'p',
    },
    LongOpt {
        name: "version",
        has_arg: HasArg::No,
        val: 'V',
    },
    LongOpt {
        name: "help",
        has_arg: HasArg::No,
        val: 'h',
    },
];

fn usage(prog: &str) -> ! {
    let mut o = Out::new();
    o.p(&format!(
        "\nUsage:\n {prog} [options]\n\n\
Create various IPC resources in a ripc namespace ($RIPC_DIR).\n\n\
Options:\n \
-M, --shmem <size>       create shared memory segment of size <size>\n \
-S, --semaphore <number> create semaphore array with <number> elements\n \
-Q, --queue              create message queue\n \
-p, --mode <mode>        permission for the resource (default is 0644)\n\n \
-h, --help               display this help\n \
-V, --version            display version\n\n\
Arguments:\n \
<size> arguments may be followed by the suffixes for\n   \
GiB, TiB, PiB, EiB, ZiB, and YiB (the \"iB\" is optional)\n\n\
RIPC_BACKEND=kernel creates kernel objects instead (as ipcmk does).\n\
For more details see docs/tools.md.\n"
    ));
    o.exit(prog, 0)
}

/// Calls `get(key)` with fresh random keys until one is free.
fn create(get: impl Fn(c_int) -> c_int) -> c_int {
    for _ in 0..64 {
        let key = random_key();
        if key == 0 {
            continue; // IPC_PRIVATE
        }
        let id = get(key);
        if id >= 0 || errno() != libc::EEXIST {
            return id;
        }
    }
    -1
}

/// `--namespace DIR [--group NAME]`: makes `DIR` a namespace, or exits
/// with a message.
fn make_namespace(prog: &str, dir: &str, group: Option<&str>) {
    let gid = group.map(|g| match nix::unistd::Group::from_name(g) {
        Ok(Some(gr)) => gr.gid.as_raw(),
        _ => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => errx(prog, &format!("{g}: no such group")),
        },
    });
    let path = std::path::Path::new(dir);
    if let Err(p) = ripc::ns::Ns::create_shared(path, gid) {
        errx(prog, &p.message(path));
    }
    let mut o = Out::new();
    match group {
        Some(g) => o.p(&format!(
            "Namespace: {dir} (shared by group {g}, mode 3770)\n"
        )),
        None => o.p(&format!("Namespace: {dir} (private, mode 0700)\n")),
    }
    if !o.flush() {
        errx(prog, "write error");
    }
}

fn main() {
    let prog = prog_name("ripcmk");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut g = Getopt::new(args, "hM:QS:p:Vh", LONGS);
    let mut mode: c_int = 0o644;
    let (mut size, mut nsems) = (None::<u64>, None::<c_int>);
    let mut queue = false;
    let (mut namespace, mut group) = (None::<String>, None::<String>);
    while let Some(p) = g.next_opt() {
        let (c, arg) = match p {
            Parsed::Opt(c, a) => (c, a.unwrap_or_default()),
            Parsed::Bad(m) => {
                warnx(&prog, &m);
                errtryhelp(&prog);
            }
        };
        match c {
            'M' => match parse_size(&arg) {
                Ok(v) => size = Some(v),
                Err(e) => err(&prog, &format!("failed to parse size: '{arg}'"), e),
            },
            'Q' => queue = true,
            OPT_NAMESPACE => namespace = Some(arg),
            OPT_GROUP => group = Some(arg),
            'S' => nsems = Some(strtos32_or_err(&prog, &arg, "failed to parse elements")),
            'p' => {
                let (v, n, over) = c_strtoul(&arg, 8);
                if over {
                    err(&prog, "failed to parse mode", libc::ERANGE);
                }
                if n == 0 || n != arg.len() {
                    // as ipcmk: err() with errno still 0
                    err(&prog, "failed to parse mode", 0);
                }
                mode = v as c_int;
            }
            'h' => usage(&prog),
            'V' => {
                let mut o = Out::new();
                o.p(&version_line(&prog));
                o.exit(&prog, 0);
            }
            _ => errtryhelp(&prog),
        }
    }
    if group.is_some() && namespace.is_none() {
        warnx(&prog, "--group needs --namespace");
        errtryhelp(&prog);
    }
    let objects = size.is_some() || nsems.is_some() || queue;
    if let Some(dir) = namespace {
        make_namespace(&prog, &dir, group.as_deref());
        if !objects {
            return;
        }
        // The objects asked for go into the new namespace.
        std::env::set_var("RIPC_DIR", &dir);
    } else if !objects {
        warnx(&prog, "bad usage");
        errtryhelp(&prog);
    }
    check_namespace(&prog);
    let flags = (mode & 0o777) | IPC_CREAT | IPC_EXCL;
    let mut out = Out::new();
    if let Some(size) = size {
        let id = match usize::try_from(size) {
            Ok(sz) => create(|k| sysv_calls::shmget(k, sz, flags)),
            Err(_) => {
                ripc::error::set_errno(ripc::error::Errno::EINVAL);
                -1
            }
        };
        if id < 0 {
            let e = errno();
            out.flush();
            err(&prog, "create share memory failed", e);
        }
        out.p(&format!("Shared memory id: {id}\n"));
    }
    if queue {
        let id = create(|k| sysv_calls::msgget(k, flags));
        if id < 0 {
            let e = errno();
            out.flush();
            err(&prog, "create message queue failed", e);
        }
        out.p(&format!("Message queue id: {id}\n"));
    }
    if let Some(n) = nsems {
        let id = create(|k| sysv_calls::semget(k, n, flags));
        if id < 0 {
            let e = errno();
            out.flush();
            err(&prog, "create semaphore failed", e);
        }
        out.p(&format!("Semaphore id: {id}\n"));
    }
    out.exit(&prog, 0)
}
