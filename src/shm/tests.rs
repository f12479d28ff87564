//! The engine at its seam, on a namespace of the test's own: create,
//! attach and detach counting (in the slot table as on disk), `IPC_RMID`
//! while attached then destruction at the last detach, `SHM_INFO`, and a
//! scribbled control area refused.

use super::*;
use crate::ns::testing::{alone, TempNs};
use crate::ns::IPC_PRIVATE;
use crate::os::proc::my_start;

/// This process's slot in segment `id`: (count, start time), read from
/// the object file's bytes at the offsets of layout version 1 (header 256
/// bytes, `ShmCtl` 64, then 16-byte slots `{pid, count, start}`).
fn my_slot_on_disk(t: &TempNs, id: i32) -> Option<(u32, u64)> {
    let obj = t.ns.by_id(Kind::Shm, id).unwrap();
    let name = format!("shm.{}", obj.id % crate::ns::IDX_SPAN);
    let bytes = std::fs::read(t.dir.join(name)).unwrap();
    let c = &bytes[crate::ns::HEADER_LEN..];
    assert_eq!(&c[0..8], b"RIPCSHM1", "magic at 0");
    let nslots = u32::from_le_bytes(c[36..40].try_into().unwrap());
    assert_eq!(nslots as usize, NSLOTS, "nslots at 36");
    let hiwater = u32::from_le_bytes(c[44..48].try_into().unwrap()) as usize;
    (0..hiwater).find_map(|i| {
        let s = &c[64 + 16 * i..64 + 16 * (i + 1)];
        let pid = i32::from_le_bytes(s[0..4].try_into().unwrap());
        let count = u32::from_le_bytes(s[4..8].try_into().unwrap());
        let start = u64::from_le_bytes(s[8..16].try_into().unwrap());
        (pid == my_pid() && count != 0).then_some((count, start))
    })
}

#[test]
fn attach_and_detach_are_counted_in_this_process_slot() {
    alone("attach_and_detach_are_counted_in_this_process_slot", || {
        let t = TempNs::new("count");
        let ns = &t.ns;
        let id = shmget(ns, IPC_PRIVATE, 10_000, IPC_CREAT | 0o600).unwrap();
        let st = stat(ns, id).unwrap();
        assert_eq!((st.segsz, st.nattch, st.cpid), (10_000, 0, my_pid()));
        assert_eq!(my_slot_on_disk(&t, id), None);

        let (p1, segsz) = shmat(ns, id, 0, 0).unwrap();
        assert_eq!(segsz, 10_000);
        let (p2, _) = shmat(ns, id, 0, SHM_RDONLY).unwrap();
        assert_ne!(p1, p2);
        // SAFETY: p1 is a fresh read-write mapping of at least 10,000 bytes,
        // p2 a read-only mapping of the same pages; both stay until shmdt.
        unsafe {
            (p1 as *mut u8).add(9_999).write_volatile(0x5a);
            assert_eq!((p2 as *const u8).add(9_999).read_volatile(), 0x5a);
        }
        let st = stat(ns, id).unwrap();
        assert_eq!((st.nattch, st.lpid), (2, my_pid()));
        assert!(st.atime > 0);
        assert_eq!(my_slot_on_disk(&t, id), Some((2, my_start())));

        shmdt(p1, None).unwrap();
        assert_eq!(stat(ns, id).unwrap().nattch, 1);
        assert_eq!(my_slot_on_disk(&t, id), Some((1, my_start())));
        assert_eq!(shmdt(p1, None), Err(Errno::EINVAL), "detached already");
        // The native API's handle check: the attachment at p2 is not of id+1.
        assert_eq!(shmdt(p2, Some((ns, id + 1))), Err(Errno::EINVAL));
        shmdt(p2, Some((ns, id))).unwrap();
        let st = stat(ns, id).unwrap();
        assert_eq!(st.nattch, 0);
        assert!(st.dtime > 0);
        assert_eq!(my_slot_on_disk(&t, id), None);

        rmid(ns, id).unwrap();
        assert_eq!(stat(ns, id), Err(Errno::EINVAL));
        assert_eq!(t.objects(), Vec::<String>::new());
    });
}

/// A remover killed inside `IPC_RMID` after [`Ns::remove`] (the object
/// marked removed, its key names gone) and before its store of `SHM_DEST`
/// and the private key: the next call on the segment finishes the removal
/// and destroys it, nobody attaching (`with_obj_checked`, fbcc294).
/// Before, it was listed under a key that no longer found it, and never
/// destroyed (c_tests/t_kill_create_rmid saw it about once in six runs).
#[test]
fn a_remover_killed_after_the_key_names_went_leaves_a_doomed_segment() {
    let t = TempNs::new("rmidkill");
    let ns = &t.ns;
    let key = 0x5348_0002;
    let id = shmget(ns, key, 4096, IPC_CREAT | IPC_EXCL | 0o600).unwrap();
    let obj = ns.by_id(Kind::Shm, id).unwrap();
    // What the killed remover did.
    ns.remove(&obj, true);
    assert_eq!(shmget(ns, key, 4096, 0), Err(Errno::ENOENT));
    assert_eq!(obj.perm().mode & SHM_DEST, 0, "SHM_DEST never stored");
    // The next look at it (IPC_STAT, SHM_STAT: a full sweep) finds nobody
    // attached: destroyed.
    assert_eq!(stat(ns, id), Err(Errno::EINVAL), "destroyed");
    assert_eq!(t.objects(), Vec::<String>::new());
    // And the key takes a new segment.
    let again = shmget(ns, key, 4096, IPC_CREAT | IPC_EXCL | 0o600).unwrap();
    rmid(ns, again).unwrap();
}

#[test]
fn rmid_while_attached_destroys_at_the_last_detach() {
    alone("rmid_while_attached_destroys_at_the_last_detach", || {
        let t = TempNs::new("rmid");
        let ns = &t.ns;
        let key = 0x5348_0001;
        let id = shmget(ns, key, 4096, IPC_CREAT | IPC_EXCL | 0o600).unwrap();
        assert_eq!(shmget(ns, key, 4096, 0), Ok(id));
        let (a, _) = shmat(ns, id, 0, 0).unwrap();
        let (b, _) = shmat(ns, id, 0, 0).unwrap();

        rmid(ns, id).unwrap();
        // Removed: the key finds it no more, but the id still does (as
        // Linux), marked SHM_DEST with the private key.
        assert_eq!(shmget(ns, key, 4096, 0), Err(Errno::ENOENT));
        let st = stat(ns, id).unwrap();
        assert_eq!(st.nattch, 2);
        assert_ne!(st.perm.mode & SHM_DEST, 0);
        assert_eq!(st.perm.key, IPC_PRIVATE);
        // A second IPC_RMID changes nothing.
        rmid(ns, id).unwrap();
        assert_eq!(stat(ns, id).unwrap().nattch, 2);

        shmdt(a, None).unwrap();
        assert_eq!(stat(ns, id).unwrap().nattch, 1, "one attachment left");
        assert!(!t.objects().is_empty(), "the segment lives on");
        shmdt(b, None).unwrap();
        assert_eq!(stat(ns, id), Err(Errno::EINVAL), "destroyed");
        assert_eq!(rmid(ns, id), Err(Errno::EINVAL));
        assert_eq!(t.objects(), Vec::<String>::new(), "its files are gone");
        // The key is free again.
        let id2 = shmget(ns, key, 4096, IPC_CREAT | IPC_EXCL | 0o600).unwrap();
        rmid(ns, id2).unwrap();
    });
}

/// A segment destroyed while `shmat` holds its lock, before the payload
/// is mapped: by the caller's own signal handler (its `IPC_RMID` goes on
/// without the lock its interrupted thread holds, and destroys the
/// segment nobody attaches yet), or by a remover that went on without the
/// lock of a stopped caller; before the payload is opened (step 30) or
/// once it is (31). The `shmat` then fails as on a segment destroyed
/// before it (`EINVAL`), attaching nothing. Before, a payload opened
/// after the destruction was missing and the call answered `EIO` (as for
/// a scribbled segment: `c_tests/t_handler_reenter` saw it under load),
/// and one opened (or stashed by `shmget`) before it was mapped: the
/// destroyed segment attached.
#[test]
fn shmat_of_a_segment_destroyed_under_it_is_einval() {
    alone("shmat_of_a_segment_destroyed_under_it_is_einval", || {
        for (step, stashed) in [(30, false), (30, true), (31, false), (31, true)] {
            let t = TempNs::new("destroyed-under-shmat");
            let ns = &t.ns;
            let id = shmget(ns, IPC_PRIVATE, 4096, IPC_CREAT | 0o600).unwrap();
            if !stashed {
                // The creator's first attach takes the descriptor that
                // `shmget` kept: this one opens the payload by name.
                let (p, _) = shmat(ns, id, 0, 0).unwrap();
                shmdt(p, None).unwrap();
            }
            let hook_ns = ns.clone();
            let removed = std::rc::Rc::new(std::cell::Cell::new(None));
            let r = removed.clone();
            crate::ns::set_step_hook(Some(Box::new(move |n| {
                if n == step && r.get().is_none() {
                    r.set(Some(rmid(&hook_ns, id)));
                }
            })));
            let got = shmat(ns, id, 0, 0);
            crate::ns::set_step_hook(None);
            assert_eq!(
                removed.get(),
                Some(Ok(())),
                "step {step}, stashed {stashed}: removed under shmat"
            );
            assert_eq!(
                got.map(|_| ()),
                Err(Errno::EINVAL),
                "step {step}, stashed {stashed}"
            );
            assert_eq!(
                stat(ns, id),
                Err(Errno::EINVAL),
                "step {step}, stashed {stashed}: destroyed"
            );
            assert_eq!(
                t.objects(),
                Vec::<String>::new(),
                "step {step}, stashed {stashed}: its files are gone"
            );
            // Nothing attached: this process's table holds no entry of it.
            let a = atts().unwrap();
            assert!(
                !a.iter().any(|x| x.obj.id == id),
                "step {step}, stashed {stashed}: no attachment"
            );
        }
    });
}

#[test]
fn shm_info_counts_segments_and_pages_until_destroyed() {
    alone("shm_info_counts_segments_and_pages_until_destroyed", || {
        let t = TempNs::new("info");
        let ns = &t.ns;
        let zero = info(ns).unwrap();
        assert_eq!((zero.used_ids, zero.shm_tot, zero.maxidx), (0, 0, 0));

        let one = shmget(ns, IPC_PRIVATE, 1, IPC_CREAT | 0o600).unwrap();
        let three = shmget(ns, IPC_PRIVATE, 2 * 4096 + 1, IPC_CREAT | 0o600).unwrap();
        let hi = (one % crate::ns::IDX_SPAN).max(three % crate::ns::IDX_SPAN);
        let i = info(ns).unwrap();
        assert_eq!((i.used_ids, i.shm_tot, i.shm_rss, i.maxidx), (2, 4, 4, hi));
        assert_eq!(info_limits(ns).unwrap().maxidx, hi);

        // Removed while attached: still counted, as in the kernel.
        let (p, _) = shmat(ns, three, 0, 0).unwrap();
        rmid(ns, three).unwrap();
        rmid(ns, one).unwrap();
        let i = info(ns).unwrap();
        assert_eq!((i.used_ids, i.shm_tot), (1, 3));
        shmdt(p, None).unwrap();
        let i = info(ns).unwrap();
        assert_eq!((i.used_ids, i.shm_tot), (0, 0));
    });
}

/// A destroyer killed at each step after `IPC_RMID`'s removal mark: the
/// next `SHM_INFO` (no walk) counts the segment no more and finishes it.
#[test]
fn a_killed_destroyer_is_finished_by_the_next_shm_info() {
    let t = TempNs::new("killdest");
    let ns = &t.ns;
    let ix = ns.index().expect("an index hint");
    for step in 0..4 {
        let id = shmget(ns, IPC_PRIVATE, 3 * 4096, IPC_CREAT | 0o600).unwrap();
        let obj = ns.by_id(Kind::Shm, id).unwrap();
        let idx = id % crate::ns::IDX_SPAN;
        // What the killed remover did (rmid, then destroy), up to `step`.
        ns.mark_removing(&obj);
        if step >= 1 {
            ns.remove(&obj, true);
        }
        if step >= 2 {
            ctl::mark_dest(&obj);
            area(&obj)
                .unwrap()
                .hdr
                .destroyed
                .store(1, Ordering::Release);
        }
        if step >= 3 {
            ns.unlink_id(&obj);
            ix.mark(Kind::Shm, idx, true); // killed before its bit
            ix.mark_removing(Kind::Shm, idx);
        }
        let i = info(ns).unwrap();
        let live = step == 0; // killed before the removal took effect
        assert_eq!(
            (i.used_ids, i.shm_tot),
            if live { (1, 3) } else { (0, 0) },
            "step {step}"
        );
        assert_eq!(info_limits(ns).unwrap().maxidx, if live { idx } else { 0 });
        if live {
            rmid(ns, id).unwrap();
        }
        assert!(ix.removing(Kind::Shm, 1 << 15).is_empty(), "step {step}");
        assert_eq!(t.objects(), Vec::<String>::new(), "step {step}");
    }
    // A removed segment still attached keeps its mark and is counted.
    let id = shmget(ns, IPC_PRIVATE, 4096, IPC_CREAT | 0o600).unwrap();
    let (p, _) = shmat(ns, id, 0, 0).unwrap();
    rmid(ns, id).unwrap();
    assert_eq!(info(ns).unwrap().used_ids, 1);
    assert_eq!(ix.removing(Kind::Shm, 1 << 15), [id % crate::ns::IDX_SPAN]);
    shmdt(p, None).unwrap();
    assert_eq!(info(ns).unwrap().used_ids, 0);
    assert!(ix.removing(Kind::Shm, 1 << 15).is_empty());
}

#[test]
fn a_scribbled_control_area_is_refused_and_still_removable() {
    let t = TempNs::new("scribble");
    let ns = &t.ns;
    let id = shmget(ns, IPC_PRIVATE, 4096, IPC_CREAT | 0o600).unwrap();
    let obj = ns.by_id(Kind::Shm, id).unwrap();
    let c = &area(&obj).unwrap().hdr;
    c.nslots.store(NSLOTS as u32 + 1, Ordering::Relaxed);
    assert_eq!(stat(ns, id), Err(Errno::EIO));
    assert_eq!(check(ns, id), Err(Errno::EIO));
    assert_eq!(shmat(ns, id, 0, 0), Err(Errno::EIO));
    c.nslots.store(NSLOTS as u32, Ordering::Relaxed);
    c.segsz.store(u64::MAX, Ordering::Relaxed);
    assert_eq!(stat(ns, id), Err(Errno::EIO), "a size beyond the file");
    // Listed from its header, and removed all the same.
    let (lid, st) = stat_index(ns, id % crate::ns::IDX_SPAN, false).unwrap();
    assert_eq!((lid, st.segsz, st.nattch), (id, 0, 0));
    drop(obj);
    rmid(ns, id).unwrap();
    assert_eq!(t.objects(), Vec::<String>::new());
}

/// The parent's `fork` handler meets a slot of its child's pid: the
/// child's own (it ran ahead and counted itself) is left alone; a dead
/// predecessor's is taken over. (Before, the child's own count was
/// overwritten with the parent's view: `t_shm_life` saw 1 attachment of a
/// child that had 2.)
#[test]
fn the_fork_handler_keeps_a_child_s_own_slot_and_takes_over_a_dead_one() {
    use crate::os::proc::start_time_of;
    let t = TempNs::new("forkslot");
    let ns = &t.ns;
    let id = shmget(ns, IPC_PRIVATE, 4096, IPC_CREAT | 0o600).unwrap();
    let obj = ns.by_id(Kind::Shm, id).unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let pid = child.id() as i32;
    let start = start_time_of(pid);
    assert_ne!(start, 0);
    // The parent's table: one attachment of the segment (never mapped:
    // register_for only counts).
    let parents = [Att {
        addr: 0,
        len: 0,
        obj: obj.clone(),
        ns: ns.clone(),
    }];
    let child_slot = |obj: &Obj| {
        slots_used(obj)
            .unwrap()
            .iter()
            .map(|s| (s.owner().load(), s.count.load(Ordering::Relaxed)))
            .find(|(o, _)| o.pid == pid)
    };
    {
        let _g = obj.lock(&repair);
        add_slot(&obj, Owner { pid, start }, 2).unwrap();
    }
    register_for(&parents, pid, None);
    assert_eq!(
        child_slot(&obj),
        Some((Owner { pid, start }, 2)),
        "the child's own slot"
    );
    // A predecessor with this pid, dead (another start time).
    {
        let _g = obj.lock(&repair);
        let s = slots_used(&obj)
            .unwrap()
            .iter()
            .find(|s| s.owner().load().pid == pid)
            .unwrap();
        s.owner().claim(Owner {
            pid,
            start: start + 1,
        });
        s.count.store(5, Ordering::Relaxed);
    }
    register_for(&parents, pid, None);
    assert_eq!(
        child_slot(&obj),
        Some((Owner { pid, start: 0 }, 1)),
        "a dead predecessor's slot taken over for the child"
    );
    let _ = child.kill();
    let _ = child.wait();
    drop(parents);
    drop(obj);
    rmid(ns, id).unwrap();
    assert_eq!(t.objects(), Vec::<String>::new());
}

/// A full attach table takes back the slots of dead processes before it
/// refuses a claim (before, `ENOMEM`: a fork loop's 512th child went
/// uncounted); a live process's slot stays.
#[test]
fn a_full_table_takes_back_dead_processes_slots() {
    let t = TempNs::new("fulltable");
    let ns = &t.ns;
    let id = shmget(ns, IPC_PRIVATE, 4096, IPC_CREAT | 0o600).unwrap();
    let obj = ns.by_id(Kind::Shm, id).unwrap();
    let mut dead = std::process::Command::new("true")
        .spawn()
        .expect("spawn true");
    let dead_pid = dead.id() as i32;
    dead.wait().unwrap();
    let mut live = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let live_pid = live.id() as i32;
    {
        let _g = obj.lock(&repair);
        add_slot(
            &obj,
            Owner {
                pid: live_pid,
                start: 0,
            },
            1,
        )
        .unwrap();
        for _ in 1..NSLOTS {
            add_slot(
                &obj,
                Owner {
                    pid: dead_pid,
                    start: 0,
                },
                1,
            )
            .unwrap();
        }
        assert_eq!(slots_used(&obj).unwrap().len(), NSLOTS);
        let me = Owner::me();
        add_slot(&obj, me, 1).expect("a dead process's slot taken back");
        let owners: Vec<i32> = slots_used(&obj)
            .unwrap()
            .iter()
            .map(|s| s.owner().load().pid)
            .filter(|&p| p != 0)
            .collect();
        assert_eq!(owners.len(), 2, "the dead ones freed, all of them");
        assert!(owners.contains(&live_pid) && owners.contains(&me.pid));
    }
    let _ = live.kill();
    let _ = live.wait();
    drop(obj);
    rmid(ns, id).unwrap();
    assert_eq!(t.objects(), Vec::<String>::new());
}

/// A call made while this very thread holds the attach table (a signal
/// handler that interrupted it there) gets no table — it neither waits
/// for it (for ever: the holder runs again only once the handler returns)
/// nor releases it (the interrupted call is still inside); the
/// segment calls then go on without it (`IPC_STAT`) or answer `EDEADLK`
/// (`shmdt`). Once let go, the table is this thread's to take again.
#[test]
fn the_attach_table_held_by_this_thread_is_neither_waited_for_nor_released() {
    let held = atts().expect("the table, free or once another test lets go");
    assert!(atts().is_none(), "a handler's call gets no table");
    assert_ne!(ATTS.word.load(Ordering::Relaxed), 0, "and leaves it held");
    assert_eq!(shmdt(4096, None), Err(Errno::EDEADLK));
    assert_ne!(ATTS.word.load(Ordering::Relaxed), 0, "still held");
    drop(held);
    assert!(atts().is_some(), "taken again once let go");
}
