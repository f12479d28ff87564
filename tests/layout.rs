//! The layout version in an object's header is checked on open: an object
//! whose version is not this build's is treated as a corrupt one (every
//! call but removal fails with `EIO`; it can still be found by index, as
//! `ripcs` lists it, and removed).

use ripc::error::Errno;
use ripc::ns::{Kind, Ns, IPC_CREAT, IPC_PRIVATE};
use ripc::{msg, sem};
use std::os::unix::fs::FileExt;

struct Dir(std::path::PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("ripc-layout-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Byte offset of the layout version in the object header (after the
/// 8-byte magic and the 4-byte kind).
const VERSION_OFF: u64 = 12;

/// Overwrites the layout version of the object file `name` in `dir`,
/// returning the one it held.
fn set_version(dir: &Dir, name: &str, v: u32) -> u32 {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.0.join(name))
        .expect("object file");
    let mut old = [0u8; 4];
    f.read_exact_at(&mut old, VERSION_OFF).unwrap();
    f.write_all_at(&v.to_ne_bytes(), VERSION_OFF).unwrap();
    u32::from_ne_bytes(old)
}

#[test]
fn a_queue_of_another_layout_version_is_corrupt_and_removable() {
    let d = Dir::new("msg");
    let ns = Ns::open(&d.0).unwrap();
    let q = msg::get(&ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
    let id = q.id();
    drop(q);
    let name = format!("msg.{}", id % 32768);
    assert_eq!(
        set_version(&d, &name, msg::LAYOUT_VERSION + 1),
        msg::LAYOUT_VERSION
    );
    // A fresh namespace: nothing cached from before the scribble.
    let ns = Ns::open(&d.0).unwrap();
    assert_eq!(msg::check(&ns, id), Err(Errno::EIO));
    assert_eq!(msg::by_id(&ns, id).err(), Some(Errno::EIO));
    // Still listed (found by its index), and removable.
    assert!(ns.indexes(Kind::Msg).contains(&(id % 32768)));
    msg::remove_id(&ns, id).unwrap();
    assert_eq!(msg::check(&ns, id), Err(Errno::EINVAL));
}

#[test]
fn a_set_of_another_layout_version_is_corrupt_and_removable() {
    let d = Dir::new("sem");
    let ns = Ns::open(&d.0).unwrap();
    let o = sem::get(&ns, IPC_PRIVATE, 2, IPC_CREAT | 0o600, &[]).unwrap();
    let id = o.id;
    drop(o);
    let name = format!("sem.{}", id % 32768);
    assert_eq!(set_version(&d, &name, 0), sem::LAYOUT_VERSION);
    let ns = Ns::open(&d.0).unwrap();
    let o = ns.by_id(Kind::Sem, id).expect("the header itself is sound");
    assert_eq!(sem::check(&o), Err(Errno::EIO));
    assert_eq!(sem::getval(&o, 0), Err(Errno::EIO));
    sem::remove(&ns, &o).unwrap();
    assert_eq!(ns.by_id(Kind::Sem, id).err(), Some(Errno::EINVAL));
}
