//! glibc's System V structures, byte for byte (x86-64 and aarch64 glibc),
//! so `IPC_STAT` through the drop-in fills exactly what `<sys/*.h>`
//! declares. `tests/cstructs.rs` checks every size and field offset
//! against the system's headers (a C program compiled at test time).
#![allow(non_camel_case_types, missing_docs)]

use core::ffi::{c_int, c_short, c_ulong, c_ushort};

/// `struct ipc_perm` (glibc: `mode` is a full `mode_t`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ipc_perm {
    pub __key: c_int,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    pub mode: u32,
    pub __seq: c_ushort,
    pub __pad2: c_ushort,
    pub __glibc_reserved1: c_ulong,
    pub __glibc_reserved2: c_ulong,
}

/// `struct msqid_ds`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct msqid_ds {
    pub msg_perm: ipc_perm,
    pub msg_stime: i64,
    pub msg_rtime: i64,
    pub msg_ctime: i64,
    pub __msg_cbytes: c_ulong,
    pub msg_qnum: c_ulong,
    pub msg_qbytes: c_ulong,
    pub msg_lspid: c_int,
    pub msg_lrpid: c_int,
    pub __glibc_reserved4: c_ulong,
    pub __glibc_reserved5: c_ulong,
}

/// `struct msginfo` (`IPC_INFO`, `MSG_INFO`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct msginfo {
    pub msgpool: c_int,
    pub msgmap: c_int,
    pub msgmax: c_int,
    pub msgmnb: c_int,
    pub msgmni: c_int,
    pub msgssz: c_int,
    pub msgtql: c_int,
    pub msgseg: c_ushort,
}

/// `struct shmid_ds`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct shmid_ds {
    pub shm_perm: ipc_perm,
    pub shm_segsz: usize,
    pub shm_atime: i64,
    pub shm_dtime: i64,
    pub shm_ctime: i64,
    pub shm_cpid: c_int,
    pub shm_lpid: c_int,
    pub shm_nattch: c_ulong,
    pub __glibc_reserved5: c_ulong,
    pub __glibc_reserved6: c_ulong,
}

/// `struct shminfo` (`IPC_INFO`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct shminfo {
    pub shmmax: c_ulong,
    pub shmmin: c_ulong,
    pub shmmni: c_ulong,
    pub shmseg: c_ulong,
    pub shmall: c_ulong,
    pub __glibc_reserved1: c_ulong,
    pub __glibc_reserved2: c_ulong,
    pub __glibc_reserved3: c_ulong,
    pub __glibc_reserved4: c_ulong,
}

/// `struct shm_info` (`SHM_INFO`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct shm_info {
    pub used_ids: c_int,
    pub shm_tot: c_ulong,
    pub shm_rss: c_ulong,
    pub shm_swp: c_ulong,
    pub swap_attempts: c_ulong,
    pub swap_successes: c_ulong,
}

/// `struct semid_ds` (x86-64 glibc keeps the `_high` words).
#[cfg(target_arch = "x86_64")]
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct semid_ds {
    pub sem_perm: ipc_perm,
    pub sem_otime: i64,
    pub __sem_otime_high: c_ulong,
    pub sem_ctime: i64,
    pub __sem_ctime_high: c_ulong,
    pub sem_nsems: c_ulong,
    pub __glibc_reserved3: c_ulong,
    pub __glibc_reserved4: c_ulong,
}

/// `struct semid_ds` (generic 64-bit glibc).
#[cfg(not(target_arch = "x86_64"))]
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct semid_ds {
    pub sem_perm: ipc_perm,
    pub sem_otime: i64,
    pub sem_ctime: i64,
    pub sem_nsems: c_ulong,
    pub __glibc_reserved3: c_ulong,
    pub __glibc_reserved4: c_ulong,
}

/// `struct seminfo` (`IPC_INFO`, `SEM_INFO`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct seminfo {
    pub semmap: c_int,
    pub semmni: c_int,
    pub semmns: c_int,
    pub semmnu: c_int,
    pub semmsl: c_int,
    pub semopm: c_int,
    pub semume: c_int,
    pub semusz: c_int,
    pub semvmx: c_int,
    pub semaem: c_int,
}

/// `struct sembuf`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct sembuf {
    pub sem_num: c_ushort,
    pub sem_op: c_short,
    pub sem_flg: c_short,
}

/// Fills an `ipc_perm` from ripc's permission snapshot.
pub fn perm_to_c(p: &crate::ns::Perm) -> ipc_perm {
    ipc_perm {
        __key: p.key,
        uid: p.uid,
        gid: p.gid,
        cuid: p.cuid,
        cgid: p.cgid,
        mode: p.mode,
        __seq: p.seq as c_ushort,
        ..Default::default()
    }
}

// System V command numbers and flags: one list, in the namespace layer
// (the engines use them too).
pub use crate::ns::consts::*;

const _: () = assert!(core::mem::size_of::<ipc_perm>() == 48);
const _: () = assert!(core::mem::size_of::<msqid_ds>() == 120);
const _: () = assert!(core::mem::size_of::<msginfo>() == 32);
const _: () = assert!(core::mem::size_of::<shmid_ds>() == 112);
const _: () = assert!(core::mem::size_of::<shminfo>() == 72);
const _: () = assert!(core::mem::size_of::<shm_info>() == 48);
const _: () = assert!(core::mem::size_of::<seminfo>() == 40);
const _: () = assert!(core::mem::size_of::<sembuf>() == 6);
