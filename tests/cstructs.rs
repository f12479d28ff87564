//! Every glibc structure the drop-in fills (`src/ffi/cstructs.rs`) has the
//! size and field offsets of the system's `<sys/msg.h>`, `<sys/shm.h>`,
//! `<sys/sem.h>`: a C program compiled here with the machine's compiler
//! and headers prints `offsetof`/`sizeof`, and they are compared with the
//! Rust layout (issue 16: nothing checked the glibc offsets).

use core::mem::{offset_of, size_of};
use ripc::ffi::cstructs::*;
use std::process::Command;

/// (C struct, field or "" for its size, the Rust value).
fn rust_layout() -> Vec<(&'static str, &'static str, usize)> {
    macro_rules! fields {
        ($v:ident, $c:literal, $t:ty, [$($f:ident),*]) => {
            $v.push(($c, "", size_of::<$t>()));
            $( $v.push(($c, stringify!($f), offset_of!($t, $f))); )*
        };
    }
    let mut v = Vec::new();
    fields!(
        v,
        "ipc_perm",
        ipc_perm,
        [__key, uid, gid, cuid, cgid, mode, __seq]
    );
    fields!(
        v,
        "msqid_ds",
        msqid_ds,
        [
            msg_perm,
            msg_stime,
            msg_rtime,
            msg_ctime,
            __msg_cbytes,
            msg_qnum,
            msg_qbytes,
            msg_lspid,
            msg_lrpid
        ]
    );
    fields!(
        v,
        "msginfo",
        msginfo,
        [msgpool, msgmap, msgmax, msgmnb, msgmni, msgssz, msgtql, msgseg]
    );
    fields!(
        v,
        "shmid_ds",
        shmid_ds,
        [shm_perm, shm_segsz, shm_atime, shm_dtime, shm_ctime, shm_cpid, shm_lpid, shm_nattch]
    );
    fields!(
        v,
        "shminfo",
        shminfo,
        [shmmax, shmmin, shmmni, shmseg, shmall]
    );
    fields!(
        v,
        "shm_info",
        shm_info,
        [
            used_ids,
            shm_tot,
            shm_rss,
            shm_swp,
            swap_attempts,
            swap_successes
        ]
    );
    fields!(
        v,
        "semid_ds",
        semid_ds,
        [sem_perm, sem_otime, sem_ctime, sem_nsems]
    );
    fields!(
        v,
        "seminfo",
        seminfo,
        [semmap, semmni, semmns, semmnu, semmsl, semopm, semume, semusz, semvmx, semaem]
    );
    fields!(v, "sembuf", sembuf, [sem_num, sem_op, sem_flg]);
    v
}

#[test]
fn glibc_structures_match_the_rust_layouts() {
    let layout = rust_layout();
    let mut c = String::from(
        "#define _GNU_SOURCE\n#include <stddef.h>\n#include <stdio.h>\n#include <sys/msg.h>\n\
         #include <sys/shm.h>\n#include <sys/sem.h>\nint main(void) {\n",
    );
    for (s, f, _) in &layout {
        if f.is_empty() {
            c += &format!("    printf(\"%zu\\n\", sizeof(struct {s}));\n");
        } else {
            c += &format!("    printf(\"%zu\\n\", offsetof(struct {s}, {f}));\n");
        }
    }
    c += "    return 0;\n}\n";
    let dir = std::env::temp_dir().join(format!("ripc-cstructs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(&src, c).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let built = Command::new(&cc).arg("-o").arg(&exe).arg(&src).status();
    let Ok(st) = built else {
        eprintln!("no C compiler ({cc}): layout not checked");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    };
    assert!(st.success(), "the layout program did not compile");
    let out = Command::new(&exe).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let got: Vec<usize> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(got.len(), layout.len());
    let wrong: Vec<String> = layout
        .iter()
        .zip(&got)
        .filter(|((_, _, r), c)| r != *c)
        .map(|((s, f, r), c)| {
            let what = if f.is_empty() {
                format!("sizeof(struct {s})")
            } else {
                format!("offsetof({s}, {f})")
            };
            format!("{what}: C {c}, Rust {r}")
        })
        .collect();
    assert!(wrong.is_empty(), "layouts differ:\n{}", wrong.join("\n"));
}
