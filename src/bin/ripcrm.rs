//! `ripcrm` — util-linux `ipcrm` for a ripc namespace (`RIPC_DIR`), or for
//! the kernel with `RIPC_BACKEND=kernel`.
//!
//! Removal is `IPC_RMID`; a key is turned into an id with `*get(key, 0)`
//! (or, for a corrupt object, which `*get` answers with `EIO`, from the
//! listing); `-a` walks the indexes with `*_INFO` and `*_STAT`, as ipcrm
//! does.

mod common;

use common::sysv_calls;
use common::*;
use core::ffi::c_int;
use ripc::ffi::cstructs::*;
use std::io::Write;

const LONGS: &[LongOpt] = &[
    LongOpt {
        name: "shmem-id",
        has_arg: HasArg::Req,
        val: 'm',
    },
    LongOpt {
        name: "shmem-key",
        has_arg: HasArg::Req,
        val: 'M',
    },
    LongOpt {
        name: "queue-id",
        has_arg: HasArg::Req,
        val: 'q',
    },
    LongOpt {
        name: "queue-key",
        has_arg: HasArg::Req,
        val: 'Q',
    },
    LongOpt {
        name: "semaphore-id",
        has_arg: HasArg::Req,
        val: 's',
    },
    LongOpt {
        name: "semaphore-key",
        has_arg: HasArg::Req,
        val: 'S',
    },
    LongOpt {
        name: "all",
        has_arg: HasArg::Opt,
        val: 'a',
    },
    LongOpt {
        name: "verbose",
        has_arg: HasArg::No,
        val: 'v',
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
        "\nUsage:\n {prog} [options]\n {prog} shm|msg|sem <id>...\n\n\
Remove certain IPC resources of a ripc namespace ($RIPC_DIR).\n\n\
Options:\n \
-m, --shmem-id <id>        remove shared memory segment by id\n \
-M, --shmem-key <key>      remove shared memory segment by key\n \
-q, --queue-id <id>        remove message queue by id\n \
-Q, --queue-key <key>      remove message queue by key\n \
-s, --semaphore-id <id>    remove semaphore by id\n \
-S, --semaphore-key <key>  remove semaphore by key\n \
-a, --all[=shm|msg|sem]    remove all (in the specified category)\n \
-v, --verbose              explain what is being done\n\n \
-h, --help                 display this help\n \
-V, --version              display version\n\n\
RIPC_BACKEND=kernel removes the kernel's objects instead (as ipcrm does).\n\
For more details see docs/tools.md.\n"
    ));
    o.exit(prog, 0)
}

/// Unbuffered stdout (verbose lines interleave with warnings as in C).
fn say(s: &str) {
    let _ = std::io::stdout().lock().write_all(s.as_bytes());
}

struct Rm {
    prog: String,
    verbose: bool,
}

/// The id of the listed object of `kind` with `key`, if any (`*_STAT_ANY`
/// lists a corrupt object from its header).
fn listed_id(kind: Kind, key: c_int) -> Option<c_int> {
    let keyed: Vec<(c_int, c_int)> = match kind {
        Kind::Shm => list::<shmid_ds>(kind, true)
            .ok()?
            .iter()
            .map(|(id, d)| (*id, d.shm_perm.__key))
            .collect(),
        Kind::Msg => list::<msqid_ds>(kind, true)
            .ok()?
            .iter()
            .map(|(id, d)| (*id, d.msg_perm.__key))
            .collect(),
        Kind::Sem => list::<semid_ds>(kind, true)
            .ok()?
            .iter()
            .map(|(id, d)| (*id, d.sem_perm.__key))
            .collect(),
    };
    keyed.into_iter().find(|&(_, k)| k == key).map(|(id, _)| id)
}

impl Rm {
    /// `IPC_RMID`; true on failure (after the warning).
    fn remove_id(&self, kind: Kind, iskey: bool, id: c_int) -> bool {
        let r = match kind {
            Kind::Shm => {
                if self.verbose {
                    say(&format!("removing shared memory segment id `{id}'\n"));
                }
                // SAFETY: IPC_RMID does not use the buffer.
                unsafe { sysv_calls::shmctl(id, IPC_RMID, core::ptr::null_mut()) }
            }
            Kind::Msg => {
                if self.verbose {
                    say(&format!("removing message queue id `{id}'\n"));
                }
                // SAFETY: IPC_RMID does not use the buffer.
                unsafe { sysv_calls::msgctl(id, IPC_RMID, core::ptr::null_mut()) }
            }
            Kind::Sem => {
                if self.verbose {
                    say(&format!("removing semaphore id `{id}'\n"));
                }
                semctl_noarg(id, 0, IPC_RMID).unwrap_or(-1)
            }
        };
        if r >= 0 {
            return false;
        }
        let e = errno();
        let msg = match e {
            libc::EACCES | libc::EPERM => {
                if iskey {
                    "permission denied for key"
                } else {
                    "permission denied for id"
                }
            }
            libc::EINVAL => {
                if iskey {
                    "invalid key"
                } else {
                    "invalid id"
                }
            }
            libc::EIDRM => {
                if iskey {
                    "already removed key"
                } else {
                    "already removed id"
                }
            }
            _ => err(
                &self.prog,
                if iskey { "key failed" } else { "id failed" },
                e,
            ),
        };
        warnx(&self.prog, &format!("{msg} ({id})"));
        true
    }

    /// The id of the object with key `s`; -1 after a warning.
    fn key_to_id(&self, kind: Kind, s: &str) -> c_int {
        let (v, n, over) = c_strtoul(s, 0);
        if s.is_empty() || n == 0 || n != s.len() || over {
            if over {
                err(
                    &self.prog,
                    &format!("failed to parse argument: '{s}'"),
                    libc::ERANGE,
                );
            }
            errx(&self.prog, &format!("failed to parse argument: '{s}'"));
        }
        let key = v as c_int;
        if key == 0 {
            warnx(&self.prog, &format!("illegal key ({s})"));
            return -1;
        }
        let id = match kind {
            Kind::Shm => sysv_calls::shmget(key, 0, 0),
            Kind::Msg => sysv_calls::msgget(key, 0),
            Kind::Sem => sysv_calls::semget(key, 0, 0),
        };
        if id < 0 {
            let e = errno();
            // A corrupt object: every call but IPC_RMID fails with EIO,
            // *get too; the listing still names it, from its header.
            if e == libc::EIO {
                if let Some(id) = listed_id(kind, key) {
                    return id;
                }
            }
            let msg = match e {
                libc::EACCES => "permission denied for key",
                libc::EIDRM => "already removed key",
                libc::ENOENT => "invalid key",
                _ => err(&self.prog, "key failed", e),
            };
            warnx(&self.prog, &format!("{msg} ({s})"));
        }
        id
    }

    fn remove_kind<T: Copy>(&self, kind: Kind, what: &str) -> bool {
        let objs = match list::<T>(kind, false) {
            Ok(v) => v,
            // a mechanism this build does not have yet: nothing to remove
            Err(e) if e == libc::ENOSYS => return false,
            Err(_) => errx(&self.prog, &format!("kernel not configured for {what}")),
        };
        let mut failed = false;
        for (id, _) in objs {
            failed |= self.remove_id(kind, false, id);
        }
        failed
    }

    /// `-a`: shared memory, then semaphores, then queues; true on a failure.
    fn remove_all(&self, what: Option<Kind>) -> bool {
        // Orphans of killed creators first (so that they are removed
        // too), then the names removal left behind.
        let ns = check_namespace(&self.prog);
        if let Some(ns) = ns {
            ns.heal();
        }
        let mut failed = false;
        if what.is_none() || what == Some(Kind::Shm) {
            failed |= self.remove_kind::<shmid_ds>(Kind::Shm, "shared memory");
        }
        if what.is_none() || what == Some(Kind::Sem) {
            failed |= self.remove_kind::<semid_ds>(Kind::Sem, "semaphores");
        }
        if what.is_none() || what == Some(Kind::Msg) {
            failed |= self.remove_kind::<msqid_ds>(Kind::Msg, "message queues");
        }
        if let Some(ns) = ns {
            ns.heal();
        }
        failed
    }
}

fn main() {
    let prog = prog_name("ripcrm");
    // A walk over every object: a stalled holder costs it 10 ms per
    // object, not a second (docs/bounded-time.md).
    ripc::sync::time::set_ctl_bound(ripc::sync::time::NOWAIT_BOUND);
    restart_on_sigbus(&prog);
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        return;
    }
    if !only_help(&args) {
        check_namespace(&prog);
    }
    let mut rm = Rm {
        prog: prog.clone(),
        verbose: false,
    };

    // the old form: ripcrm shm|msg|sem <id>...
    let old = match args[0].as_str() {
        "shm" => Some(Kind::Shm),
        "msg" => Some(Kind::Msg),
        "sem" => Some(Kind::Sem),
        _ => None,
    };
    if let Some(kind) = old {
        if args.len() < 2 {
            warnx(&prog, "not enough arguments");
            errtryhelp(&prog);
        }
        let mut errors = 0;
        for a in &args[1..] {
            let (v, n, over) = c_strtoul(a, 10);
            if over || n != a.len() {
                warnx(&prog, &format!("invalid id: {a}"));
                errors += 1;
            } else if rm.remove_id(kind, false, v as c_int) {
                errors += 1;
            }
        }
        if errors > 0 {
            std::process::exit(1);
        }
        say("resource(s) deleted\n");
        return;
    }

    let mut g = Getopt::new(args, "q:m:s:Q:M:S:a::vhV", LONGS);
    let mut ret = 0;
    let mut rm_all: Option<Option<Kind>> = None;
    while let Some(p) = g.next_opt() {
        let (c, arg) = match p {
            Parsed::Opt(c, a) => (c, a.unwrap_or_default()),
            Parsed::Bad(m) => {
                warnx(&prog, &m);
                errtryhelp(&prog);
            }
        };
        let by_key = |k: Kind, rm: &Rm| {
            let id = rm.key_to_id(k, &arg);
            id < 0 || rm.remove_id(k, true, id)
        };
        let by_id = |k: Kind, rm: &Rm| {
            let id = strtos32_or_err(&rm.prog, &arg, "failed to parse argument");
            rm.remove_id(k, false, id)
        };
        let failed = match c {
            'M' => by_key(Kind::Shm, &rm),
            'm' => by_id(Kind::Shm, &rm),
            'Q' => by_key(Kind::Msg, &rm),
            'q' => by_id(Kind::Msg, &rm),
            'S' => by_key(Kind::Sem, &rm),
            's' => by_id(Kind::Sem, &rm),
            'a' => {
                rm_all = Some(match arg.as_str() {
                    "" => None,
                    "shm" => Some(Kind::Shm),
                    "msg" => Some(Kind::Msg),
                    "sem" => Some(Kind::Sem),
                    other => errx(&prog, &format!("unknown argument: {other}")),
                });
                false
            }
            'v' => {
                rm.verbose = true;
                false
            }
            'h' => usage(&prog),
            'V' => {
                say(&version_line(&prog));
                return;
            }
            _ => errtryhelp(&prog),
        };
        if failed {
            ret += 1;
        }
    }
    if let Some(what) = rm_all {
        if rm.remove_all(what) {
            ret += 1;
        }
    }
    if let Some(extra) = g.operands.first() {
        warnx(&prog, &format!("unknown argument: {extra}"));
        errtryhelp(&prog);
    }
    std::process::exit(if ret == 0 { 0 } else { 1 });
}
