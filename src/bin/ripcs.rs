//! `ripcs` — util-linux `ipcs` for a ripc namespace (`RIPC_DIR`), or for
//! the kernel with `RIPC_BACKEND=kernel`, where its output is `ipcs`'s.
//!
//! Built only on the System V calls: `*_INFO` for the highest index,
//! `*_STAT_ANY` for each index, `IPC_STAT` for `-i`, `IPC_INFO` for `-l`.

mod common;

use common::*;
use core::ffi::c_int;
use ripc::ffi::cstructs::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Default,
    Limits,
    Status,
    Creator,
    Time,
    Pid,
}

const OPT_HUMAN: char = '\u{1}';
const OPT_JSON: char = '\u{2}';

const LONGS: &[LongOpt] = &[
    LongOpt {
        name: "id",
        has_arg: HasArg::Req,
        val: 'i',
    },
    LongOpt {
        name: "queues",
        has_arg: HasArg::No,
        val: 'q',
    },
    LongOpt {
        name: "shmems",
        has_arg: HasArg::No,
        val: 'm',
    },
    LongOpt {
        name: "semaphores",
        has_arg: HasArg::No,
        val: 's',
    },
    LongOpt {
        name: "all",
        has_arg: HasArg::No,
        val: 'a',
    },
    LongOpt {
        name: "time",
        has_arg: HasArg::No,
        val: 't',
    },
    LongOpt {
        name: "pid",
        has_arg: HasArg::No,
        val: 'p',
    },
    LongOpt {
        name: "creator",
        has_arg: HasArg::No,
        val: 'c',
    },
    LongOpt {
        name: "limits",
        has_arg: HasArg::No,
        val: 'l',
    },
    LongOpt {
        name: "summary",
        has_arg: HasArg::No,
        val: 'u',
    },
    LongOpt {
        name: "human",
        has_arg: HasArg::No,
        val: OPT_HUMAN,
    },
    LongOpt {
        name: "bytes",
        has_arg: HasArg::No,
        val: 'b',
    },
    LongOpt {
        name: "json",
        has_arg: HasArg::No,
        val: OPT_JSON,
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
        "\nUsage:\n {prog} [resource-option...] [output-option]\n {prog} -m|-q|-s -i <id>\n\n\
Show information on the IPC objects of a ripc namespace ($RIPC_DIR).\n\n\
Options:\n \
-i, --id <id>  print details on resource identified by <id>\n \
-h, --help     display this help\n \
-V, --version  display version\n\n\
Resource options:\n \
-m, --shmems      shared memory segments\n \
-q, --queues      message queues\n \
-s, --semaphores  semaphores\n \
-a, --all         all (default)\n\n\
Output options:\n \
-t, --time        show attach, detach and change times\n \
-p, --pid         show PIDs of creator and last operator\n \
-c, --creator     show creator and owner\n \
-l, --limits      show resource limits\n \
-u, --summary     show status summary\n     \
--human       show sizes in human-readable format\n \
-b, --bytes       show sizes in bytes\n     \
--json        print every object, all fields, as one JSON object\n\n\
RIPC_BACKEND=kernel shows the kernel's objects instead (as ipcs does).\n\
For more details see docs/tools.md.\n"
    ));
    o.exit(prog, 0)
}

/// `%-26.24s` of ctime, or "Not set".
fn time26(t: i64) -> String {
    let s = if t != 0 {
        ctime(t)
    } else {
        "Not set".to_string()
    };
    format!("{s:<26.24}")
}

/// `%-20.16s` of ctime+4, or "Not set".
fn time20(t: i64) -> String {
    let s = if t != 0 {
        ctime(t).chars().skip(4).collect::<String>()
    } else {
        "Not set".to_string()
    };
    format!("{s:<20.16}")
}

fn print_perms(out: &mut Out, names: &mut Names, id: c_int, p: &ipc_perm) {
    out.p(&format!("{:<10} {:<10o}", id, p.mode & 0o777));
    let user = |n: Option<String>, v: u32| {
        n.map(|n| format!(" {n:<10}"))
            .unwrap_or_else(|| format!(" {v:<10}"))
    };
    let c = user(names.user(p.cuid), p.cuid);
    let cg = user(names.group(p.cgid), p.cgid);
    let u = user(names.user(p.uid), p.uid);
    let g = user(names.group(p.gid), p.gid);
    out.p(&format!("{c}{cg}{u}{g}\n"));
}

struct Ctx {
    out: Out,
    names: Names,
    prog: String,
    unit: Unit,
}

/// The `-c` listing's title and column heads.
fn creator_head(out: &mut Out, title: &str, id: &str) {
    out.p(&format!("------ {title} Creators/Owners --------\n"));
    out.p(&format!(
        "{:<10} {:<10} {:<10} {:<10} {:<10} {:<10}\n",
        id, "perms", "cuid", "cgid", "uid", "gid"
    ));
}

/// The default listing's first columns: key, id, owner, permissions.
fn key_id_owner_perms(out: &mut Out, id: c_int, owner: &str, p: &ipc_perm) {
    out.p(&format!(
        "0x{:08x} {id:<10} {owner} {:<10o} ",
        p.__key as u32,
        p.mode & 0o777
    ));
}

fn do_msg(cx: &mut Ctx, format: Format) {
    let unit = cx.unit;
    let out = &mut cx.out;
    match format {
        Format::Limits => {
            let lim = match msgctl::<msginfo>(0, IPC_INFO) {
                Ok((_, l)) => l,
                Err(_) => return out.p("unable to fetch message limits\n"),
            };
            out.p("------ Messages Limits --------\n");
            out.p(&format!("max queues system wide = {}\n", lim.msgmni));
            let u = if unit == Unit::Default {
                Unit::Bytes
            } else {
                unit
            };
            print_size(
                out,
                u,
                Some("max size of message"),
                lim.msgmax as i64 as u64,
                Some("\n"),
                0,
            );
            print_size(
                out,
                u,
                Some("default max size of queue"),
                lim.msgmnb as i64 as u64,
                Some("\n"),
                0,
            );
            return;
        }
        Format::Status => {
            let i = match msgctl::<msginfo>(0, MSG_INFO) {
                Ok((_, i)) => i,
                Err(_) => return out.p("kernel not configured for message queues\n"),
            };
            out.p("------ Messages Status --------\n");
            out.p(&format!("allocated queues = {}\n", i.msgpool));
            out.p(&format!("used headers = {}\n", i.msgmap));
            let end = if unit == Unit::Default {
                " bytes\n"
            } else {
                "\n"
            };
            print_size(
                out,
                unit,
                Some("used space"),
                i.msgtql as i64 as u64,
                Some(end),
                0,
            );
            return;
        }
        Format::Creator => creator_head(out, "Message Queues", "msqid"),
        Format::Time => {
            out.p("------ Message Queues Send/Recv/Change Times --------\n");
            out.p(&format!(
                "{:<8} {:<10} {:<20} {:<20} {:<20}\n",
                "msqid", "owner", "send", "recv", "change"
            ));
        }
        Format::Pid => {
            out.p("------ Message Queues PIDs --------\n");
            out.p(&format!(
                "{:<10} {:<10} {:<10} {:<10}\n",
                "msqid", "owner", "lspid", "lrpid"
            ));
        }
        Format::Default => {
            out.p("------ Message Queues --------\n");
            let size = if unit == Unit::Human {
                "size"
            } else {
                "used-bytes"
            };
            out.p(&format!(
                "{:<10} {:<10} {:<10} {:<10} {:<12} {:<12}\n",
                "key", "msqid", "owner", "perms", size, "messages"
            ));
        }
    }
    let list = list::<msqid_ds>(Kind::Msg, true).unwrap_or_default();
    for (id, d) in list {
        let p = &d.msg_perm;
        if format == Format::Creator {
            print_perms(&mut cx.out, &mut cx.names, id, p);
            continue;
        }
        let owner = cx.names.owner10(p.uid);
        let out = &mut cx.out;
        match format {
            Format::Time => {
                out.p(&format!("{id:<8} {owner}"));
                out.p(&format!(
                    " {} {} {}\n",
                    time20(d.msg_stime),
                    time20(d.msg_rtime),
                    time20(d.msg_ctime)
                ));
            }
            Format::Pid => {
                out.p(&format!("{id:<8} {owner}"));
                out.p(&format!("  {:>5}     {:>5}\n", d.msg_lspid, d.msg_lrpid));
            }
            _ => {
                key_id_owner_perms(out, id, &owner, p);
                if unit == Unit::Human {
                    print_size(out, unit, None, d.__msg_cbytes, Some("      "), 6);
                } else {
                    print_size(out, unit, None, d.__msg_cbytes, None, -12);
                }
                out.p(&format!(" {:<12}\n", d.msg_qnum));
            }
        }
    }
}

fn do_shm(cx: &mut Ctx, format: Format) {
    let unit = cx.unit;
    let out = &mut cx.out;
    match format {
        Format::Limits => {
            let lim = match shmctl::<shminfo>(0, IPC_INFO) {
                Ok((_, l)) => l,
                Err(_) => return out.p("unable to fetch shared memory limits\n"),
            };
            let pgsz = page_size();
            out.p("------ Shared Memory Limits --------\n");
            out.p(&format!("max number of segments = {}\n", lim.shmmni));
            let u = if unit == Unit::Default {
                Unit::Kb
            } else {
                unit
            };
            print_size(out, u, Some("max seg size"), lim.shmmax, Some("\n"), 0);
            let shmall = lim.shmall;
            if unit == Unit::Kb || unit == Unit::Default {
                let k = pgsz / 1024;
                let tmp = shmall
                    .checked_mul(k)
                    .unwrap_or(u64::MAX - (u64::MAX % k.max(1)));
                print_size(
                    out,
                    Unit::Default,
                    Some("max total shared memory (kbytes)"),
                    tmp,
                    Some("\n"),
                    0,
                );
            } else {
                let tmp = shmall
                    .checked_mul(pgsz)
                    .unwrap_or(u64::MAX - (u64::MAX % pgsz.max(1)));
                print_size(
                    out,
                    unit,
                    Some("max total shared memory"),
                    tmp,
                    Some("\n"),
                    0,
                );
            }
            let u = if unit == Unit::Default {
                Unit::Bytes
            } else {
                unit
            };
            print_size(out, u, Some("min seg size"), lim.shmmin, Some("\n"), 0);
            return;
        }
        Format::Status => {
            let i = match shmctl::<shm_info>(0, SHM_INFO) {
                Ok((_, i)) => i,
                Err(_) => return out.p("kernel not configured for shared memory\n"),
            };
            out.p("------ Shared Memory Status --------\n");
            out.p(&format!(
                "segments allocated {}\npages allocated {}\npages resident  {}\npages swapped   {}\n\
Swap performance: {} attempts\t {} successes\n",
                i.used_ids, i.shm_tot, i.shm_rss, i.shm_swp, i.swap_attempts, i.swap_successes
            ));
            return;
        }
        Format::Creator => creator_head(out, "Shared Memory Segment", "shmid"),
        Format::Time => {
            out.p("------ Shared Memory Attach/Detach/Change Times --------\n");
            out.p(&format!(
                "{:<10} {:<10} {:<20} {:<20} {:<20}\n",
                "shmid", "owner", "attached", "detached", "changed"
            ));
        }
        Format::Pid => {
            out.p("------ Shared Memory Creator/Last-op PIDs --------\n");
            out.p(&format!(
                "{:<10} {:<10} {:<10} {:<10}\n",
                "shmid", "owner", "cpid", "lpid"
            ));
        }
        Format::Default => {
            out.p("------ Shared Memory Segments --------\n");
            let size = if unit == Unit::Human { "size" } else { "bytes" };
            out.p(&format!(
                "{:<10} {:<10} {:<10} {:<10} {:<10} {:<10} {:<12}\n",
                "key", "shmid", "owner", "perms", size, "nattch", "status"
            ));
        }
    }
    let list = list::<shmid_ds>(Kind::Shm, true).unwrap_or_default();
    for (id, d) in list {
        let p = &d.shm_perm;
        if format == Format::Creator {
            print_perms(&mut cx.out, &mut cx.names, id, p);
            continue;
        }
        let owner = cx.names.owner10(p.uid);
        let out = &mut cx.out;
        match format {
            Format::Time => {
                out.p(&format!("{id:<10} {owner}"));
                out.p(&format!(
                    " {} {} {}\n",
                    time20(d.shm_atime),
                    time20(d.shm_dtime),
                    time20(d.shm_ctime)
                ));
            }
            Format::Pid => {
                out.p(&format!("{id:<10} {owner}"));
                out.p(&format!(
                    " {:<10} {:<10}\n",
                    d.shm_cpid as u32, d.shm_lpid as u32
                ));
            }
            _ => {
                key_id_owner_perms(out, id, &owner, p);
                if unit == Unit::Human {
                    print_size(out, unit, None, d.shm_segsz as u64, Some("    "), 6);
                } else {
                    print_size(out, unit, None, d.shm_segsz as u64, None, -10);
                }
                let dest = if p.mode & SHM_DEST != 0 { "dest" } else { " " };
                let locked = if p.mode & SHM_LOCKED != 0 {
                    "locked"
                } else {
                    " "
                };
                out.p(&format!(" {:<10} {dest:<6} {locked:<6}\n", d.shm_nattch));
            }
        }
    }
}

fn do_sem(cx: &mut Ctx, format: Format) {
    let out = &mut cx.out;
    match format {
        Format::Limits => {
            let lim = match semctl::<seminfo>(0, 0, IPC_INFO) {
                Ok((_, l)) => l,
                Err(_) => return out.p("unable to fetch semaphore limits\n"),
            };
            out.p("------ Semaphore Limits --------\n");
            out.p(&format!("max number of arrays = {}\n", lim.semmni));
            out.p(&format!("max semaphores per array = {}\n", lim.semmsl));
            out.p(&format!("max semaphores system wide = {}\n", lim.semmns));
            out.p(&format!("max ops per semop call = {}\n", lim.semopm));
            out.p(&format!("semaphore max value = {}\n", lim.semvmx as u32));
            return;
        }
        Format::Status => {
            let i = match semctl::<seminfo>(0, 0, SEM_INFO) {
                Ok((_, i)) => i,
                Err(_) => return out.p("kernel not configured for semaphores\n"),
            };
            out.p("------ Semaphore Status --------\n");
            out.p(&format!("used arrays = {}\n", i.semusz));
            out.p(&format!("allocated semaphores = {}\n", i.semaem));
            return;
        }
        Format::Creator => creator_head(out, "Semaphore Arrays", "semid"),
        Format::Time => {
            out.p("------ Semaphore Operation/Change Times --------\n");
            out.p(&format!(
                "{:<8} {:<10} {:<26.24} {:<26.24}\n",
                "semid", "owner", "last-op", "last-changed"
            ));
        }
        // ipcs prints nothing at all for semaphores with -p
        Format::Pid => return,
        Format::Default => {
            out.p("------ Semaphore Arrays --------\n");
            out.p(&format!(
                "{:<10} {:<10} {:<10} {:<10} {:<10}\n",
                "key", "semid", "owner", "perms", "nsems"
            ));
        }
    }
    let list = list::<semid_ds>(Kind::Sem, true).unwrap_or_default();
    for (id, d) in list {
        let p = &d.sem_perm;
        if format == Format::Creator {
            print_perms(&mut cx.out, &mut cx.names, id, p);
            continue;
        }
        let owner = cx.names.owner10(p.uid);
        let out = &mut cx.out;
        match format {
            Format::Time => {
                out.p(&format!("{id:<8} {owner}"));
                out.p(&format!(
                    "  {} {}\n",
                    time26(d.sem_otime),
                    time26(d.sem_ctime)
                ));
            }
            _ => {
                key_id_owner_perms(out, id, &owner, p);
                out.p(&format!("{:<10}\n", d.sem_nsems));
            }
        }
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 {
        v as u64
    } else {
        4096
    }
}

/// One object by id: `IPC_STAT`, else (no read permission) the listing.
fn find<T: Copy>(kind: Kind, id: c_int) -> Option<T> {
    if id < 0 {
        return None;
    }
    let direct = match kind {
        Kind::Msg => msgctl::<T>(id, IPC_STAT),
        Kind::Shm => shmctl::<T>(id, IPC_STAT),
        Kind::Sem => semctl::<T>(id, 0, IPC_STAT),
    };
    match direct {
        Ok((_, d)) => Some(d),
        Err(_) => list::<T>(kind, true)
            .ok()?
            .into_iter()
            .find(|(i, _)| *i == id)
            .map(|(_, d)| d),
    }
}

fn print_msg(cx: &mut Ctx, id: c_int) {
    let Some(d) = find::<msqid_ds>(Kind::Msg, id) else {
        return warnx(&cx.prog, &format!("id {id} not found"));
    };
    let (unit, out) = (cx.unit, &mut cx.out);
    let p = &d.msg_perm;
    out.p(&format!("\nMessage Queue msqid={id}\n"));
    out.p(&format!(
        "uid={}\tgid={}\tcuid={}\tcgid={}\tmode={}\n",
        p.uid,
        p.gid,
        p.cuid,
        p.cgid,
        alt_octal(p.mode)
    ));
    let h = unit == Unit::Human;
    print_size(
        out,
        unit,
        Some(if h { "csize=" } else { "cbytes=" }),
        d.__msg_cbytes,
        Some("\t"),
        0,
    );
    print_size(
        out,
        unit,
        Some(if h { "qsize=" } else { "qbytes=" }),
        d.msg_qbytes,
        Some("\t"),
        0,
    );
    out.p(&format!(
        "qnum={}\tlspid={}\tlrpid={}\n",
        d.msg_qnum, d.msg_lspid, d.msg_lrpid
    ));
    out.p(&format!("send_time={}\n", time26(d.msg_stime)));
    out.p(&format!("rcv_time={}\n", time26(d.msg_rtime)));
    out.p(&format!("change_time={}\n", time26(d.msg_ctime)));
    out.p("\n");
}

fn print_shm(cx: &mut Ctx, id: c_int) {
    let Some(d) = find::<shmid_ds>(Kind::Shm, id) else {
        return warnx(&cx.prog, &format!("id {id} not found"));
    };
    let (unit, out) = (cx.unit, &mut cx.out);
    let p = &d.shm_perm;
    out.p(&format!("\nShared memory Segment shmid={id}\n"));
    out.p(&format!(
        "uid={}\tgid={}\tcuid={}\tcgid={}\n",
        p.uid, p.gid, p.cuid, p.cgid
    ));
    out.p(&format!(
        "mode={}\taccess_perms={}\n",
        alt_octal(p.mode),
        alt_octal(p.mode & 0o777)
    ));
    let label = if unit == Unit::Human {
        "size="
    } else {
        "bytes="
    };
    print_size(out, unit, Some(label), d.shm_segsz as u64, Some("\t"), 0);
    out.p(&format!(
        "lpid={}\tcpid={}\tnattch={}\n",
        d.shm_lpid as u32, d.shm_cpid as u32, d.shm_nattch
    ));
    out.p(&format!("att_time={}\n", time26(d.shm_atime)));
    out.p(&format!("det_time={}\n", time26(d.shm_dtime)));
    out.p(&format!("change_time={:<26.24}\n", ctime(d.shm_ctime)));
    out.p("\n");
}

/// value, ncount, zcount, pid of each semaphore; Err((what, errno)).
fn sem_elements(id: c_int, nsems: u64) -> Result<Vec<[c_int; 4]>, (&'static str, i32)> {
    let mut v = Vec::new();
    for i in 0..nsems as c_int {
        let mut e = [0; 4];
        for (k, (cmd, what)) in [
            (GETVAL, "semctl(GETVAL)"),
            (GETNCNT, "semctl(GETNCNT)"),
            (GETZCNT, "semctl(GETZCNT)"),
            (GETPID, "semctl(GETPID)"),
        ]
        .into_iter()
        .enumerate()
        {
            e[k] = semctl_noarg(id, i, cmd).map_err(|er| (what, er))?;
        }
        v.push(e);
    }
    Ok(v)
}

fn print_sem(cx: &mut Ctx, id: c_int) {
    let Some(d) = find::<semid_ds>(Kind::Sem, id) else {
        return warnx(&cx.prog, &format!("id {id} not found"));
    };
    let elems = sem_elements(id, d.sem_nsems);
    let out = &mut cx.out;
    let (what, e) = match elems {
        Ok(v) => {
            let p = &d.sem_perm;
            out.p(&format!("\nSemaphore Array semid={id}\n"));
            out.p(&format!(
                "uid={}\t gid={}\t cuid={}\t cgid={}\n",
                p.uid, p.gid, p.cuid, p.cgid
            ));
            out.p(&format!(
                "mode={}, access_perms={}\n",
                alt_octal(p.mode),
                alt_octal(p.mode & 0o777)
            ));
            out.p(&format!("nsems = {}\n", d.sem_nsems));
            out.p(&format!("otime = {}\n", time26(d.sem_otime)));
            out.p(&format!("ctime = {:<26.24}\n", ctime(d.sem_ctime)));
            out.p(&format!(
                "{:<10} {:<10} {:<10} {:<10} {:<10}\n",
                "semnum", "value", "ncount", "zcount", "pid"
            ));
            for (i, e) in v.iter().enumerate() {
                out.p(&format!(
                    "{:<10} {:<10} {:<10} {:<10} {:<10}\n",
                    i, e[0], e[1], e[2], e[3]
                ));
            }
            out.p("\n");
            return;
        }
        Err(x) => x,
    };
    out.flush();
    err(&cx.prog, &format!("{what} failed"), e);
}

// ---------------------------------------------------------------------------
// --json

fn json_perm(names: &mut Names, id: c_int, p: &ipc_perm) -> String {
    let owner = names
        .user(p.uid)
        .map(|n| json_str(&n))
        .unwrap_or_else(|| "null".into());
    let group = names
        .group(p.gid)
        .map(|n| json_str(&n))
        .unwrap_or_else(|| "null".into());
    format!(
        "\"key\":{},\"key_hex\":\"0x{:08x}\",\"id\":{},\"owner\":{},\"group\":{},\"uid\":{},\"gid\":{},\
\"cuid\":{},\"cgid\":{},\"perms\":\"{:o}\",\"mode\":{}",
        p.__key, p.__key as u32, id, owner, group, p.uid, p.gid, p.cuid, p.cgid, p.mode & 0o777, p.mode
    )
}

fn json(cx: &mut Ctx, msg: bool, shm: bool, sem: bool, only: Option<c_int>) {
    let keep = |id: c_int| only.map_or(true, |o| o == id);
    let mut parts = Vec::new();
    if msg {
        let mut v = Vec::new();
        for (id, d) in list::<msqid_ds>(Kind::Msg, true).unwrap_or_default() {
            if !keep(id) {
                continue;
            }
            v.push(format!(
                "{{{},\"used_bytes\":{},\"messages\":{},\"qbytes\":{},\"lspid\":{},\"lrpid\":{},\
\"stime\":{},\"rtime\":{},\"ctime\":{}}}",
                json_perm(&mut cx.names, id, &d.msg_perm),
                d.__msg_cbytes,
                d.msg_qnum,
                d.msg_qbytes,
                d.msg_lspid,
                d.msg_lrpid,
                d.msg_stime,
                d.msg_rtime,
                d.msg_ctime
            ));
        }
        parts.push(format!("\"queues\":[{}]", v.join(",")));
    }
    if shm {
        let mut v = Vec::new();
        for (id, d) in list::<shmid_ds>(Kind::Shm, true).unwrap_or_default() {
            if !keep(id) {
                continue;
            }
            v.push(format!(
                "{{{},\"bytes\":{},\"nattch\":{},\"cpid\":{},\"lpid\":{},\"atime\":{},\"dtime\":{},\
\"ctime\":{},\"dest\":{},\"locked\":{}}}",
                json_perm(&mut cx.names, id, &d.shm_perm),
                d.shm_segsz,
                d.shm_nattch,
                d.shm_cpid,
                d.shm_lpid,
                d.shm_atime,
                d.shm_dtime,
                d.shm_ctime,
                d.shm_perm.mode & SHM_DEST != 0,
                d.shm_perm.mode & SHM_LOCKED != 0
            ));
        }
        parts.push(format!("\"segments\":[{}]", v.join(",")));
    }
    if sem {
        let mut v = Vec::new();
        for (id, d) in list::<semid_ds>(Kind::Sem, true).unwrap_or_default() {
            if !keep(id) {
                continue;
            }
            // the values need read permission: left out without it
            let elems = match sem_elements(id, d.sem_nsems) {
                Ok(es) => {
                    let es: Vec<String> = es
                        .iter()
                        .enumerate()
                        .map(|(i, e)| {
                            format!(
                                "{{\"semnum\":{i},\"value\":{},\"ncount\":{},\"zcount\":{},\"pid\":{}}}",
                                e[0], e[1], e[2], e[3]
                            )
                        })
                        .collect();
                    format!(",\"elements\":[{}]", es.join(","))
                }
                Err(_) => String::new(),
            };
            v.push(format!(
                "{{{},\"nsems\":{},\"otime\":{},\"ctime\":{}{}}}",
                json_perm(&mut cx.names, id, &d.sem_perm),
                d.sem_nsems,
                d.sem_otime,
                d.sem_ctime,
                elems
            ));
        }
        parts.push(format!("\"semaphores\":[{}]", v.join(",")));
    }
    let backend = if ripc::sysv::is_kernel() {
        "kernel"
    } else {
        "user"
    };
    let mut head = format!("\"backend\":\"{backend}\"");
    if !ripc::sysv::is_kernel() {
        // The directory the library itself uses (an empty RIPC_DIR means
        // the default there too).
        if let Ok(ns) = ripc::ns::Ns::default_ns() {
            let dir = ns.dir().to_string_lossy();
            head.push_str(&format!(",\"namespace\":{}", json_str(&dir)));
        }
    }
    parts.insert(0, head);
    cx.out.p(&format!("{{{}}}\n", parts.join(",")));
}

fn main() {
    let prog = prog_name("ripcs");
    // A walk over every object: a stalled holder costs it 10 ms per
    // object, not a second (docs/bounded-time.md).
    ripc::sync::time::set_ctl_bound(ripc::sync::time::NOWAIT_BOUND);
    restart_on_sigbus(&prog);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut g = Getopt::new(args, "i:qmsatpclubVh", LONGS);
    let (mut msg, mut shm, mut sem) = (false, false, false);
    let mut id: Option<c_int> = None;
    let mut format = Format::Default;
    let mut unit = Unit::Default;
    let mut want_json = false;
    while let Some(p) = g.next_opt() {
        let (c, arg) = match p {
            Parsed::Opt(c, a) => (c, a),
            Parsed::Bad(m) => {
                warnx(&prog, &m);
                errtryhelp(&prog);
            }
        };
        match c {
            'i' => {
                id = Some(strtos32_or_err(
                    &prog,
                    arg.as_deref().unwrap_or(""),
                    "failed to parse id argument",
                ))
            }
            'a' => (msg, shm, sem) = (true, true, true),
            'q' => msg = true,
            'm' => shm = true,
            's' => sem = true,
            't' => format = Format::Time,
            'c' => format = Format::Creator,
            'p' => format = Format::Pid,
            'l' => format = Format::Limits,
            'u' => format = Format::Status,
            OPT_HUMAN => unit = Unit::Human,
            'b' => unit = Unit::Bytes,
            OPT_JSON => want_json = true,
            'h' => usage(&prog),
            'V' => {
                let mut o = Out::new();
                o.p(&version_line(&prog));
                o.exit(&prog, 0);
            }
            _ => errtryhelp(&prog),
        }
    }
    // A refused or missing namespace is an error, not an empty listing;
    // what killed creators left behind is healed before it is listed.
    if let Some(ns) = check_namespace(&prog) {
        ns.heal();
    }
    let mut cx = Ctx {
        out: Out::new(),
        names: Names::default(),
        prog: prog.clone(),
        unit,
    };
    if want_json {
        if !msg && !shm && !sem {
            (msg, shm, sem) = (true, true, true);
        }
        json(&mut cx, msg, shm, sem, id);
        cx.out.exit(&prog, 0);
    }
    if let Some(id) = id {
        if [msg, shm, sem].iter().filter(|b| **b).count() != 1 {
            errx(
                &prog,
                "when using an ID, a single resource must be specified",
            );
        }
        if msg {
            print_msg(&mut cx, id);
        }
        if shm {
            print_shm(&mut cx, id);
        }
        if sem {
            print_sem(&mut cx, id);
        }
    } else {
        if !msg && !shm && !sem {
            (msg, shm, sem) = (true, true, true);
        }
        cx.out.p("\n");
        if msg {
            do_msg(&mut cx, format);
            cx.out.p("\n");
        }
        if shm {
            do_shm(&mut cx, format);
            cx.out.p("\n");
        }
        if sem {
            do_sem(&mut cx, format);
            cx.out.p("\n");
        }
        report_corrupt(&prog, msg, shm, sem);
    }
    cx.out.exit(&prog, 0)
}

/// Names, on standard error (the tables stay as `ipcs` prints them), each
/// listed queue, segment or set whose control area was scribbled on: the tables
/// show it from its object header (no messages, no semaphores), every
/// other call on it fails with `EIO`, and its owner can remove it.
fn report_corrupt(prog: &str, msg: bool, shm: bool, sem: bool) {
    use ripc::ns::{Kind, Ns};
    if ripc::sysv::is_kernel() {
        return;
    }
    let Ok(ns) = Ns::default_ns() else { return };
    let kinds = [
        (msg, Kind::Msg, "message queue", "-q"),
        (shm, Kind::Shm, "shared memory segment", "-m"),
        (sem, Kind::Sem, "semaphore array", "-s"),
    ];
    for (want, kind, what, opt) in kinds {
        if !want {
            continue;
        }
        for idx in ns.indexes(kind) {
            let Ok(o) = ns.by_index(kind, idx) else {
                continue;
            };
            if o.is_removed() {
                continue;
            }
            let bad = match kind {
                Kind::Msg => ripc::msg::check(ns, o.id),
                Kind::Shm => ripc::shm::check(ns, o.id),
                Kind::Sem => ripc::sem::check(&o),
            };
            if bad == Err(ripc::error::Errno::EIO) {
                eprintln!(
                    "{prog}: {what} {} (key 0x{:08x}) is corrupt: every call on it but IPC_RMID fails with EIO; `ripcrm {opt} {}` removes it",
                    o.id,
                    o.perm().key as u32,
                    o.id
                );
            }
        }
    }
}
