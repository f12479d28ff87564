//! For unit tests: a namespace of the test's own.

use super::*;

/// A fresh private namespace directory, removed when dropped.
pub(crate) struct TempNs {
    pub(crate) ns: Arc<Ns>,
    pub(crate) dir: PathBuf,
}

impl TempNs {
    /// A new one; `tag` goes into the directory's name.
    pub(crate) fn new(tag: &str) -> TempNs {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ripc-ns-test-{}-{}-{}",
            std::process::id(),
            tag,
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let ns = Ns::open_shared(&dir).expect("open a private namespace");
        TempNs { ns, dir }
    }

    /// Names in the directory besides the namespace's own files
    /// (`ripc.*`), sorted: what the objects left.
    pub(crate) fn objects(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("ripc."))
            .collect();
        v.sort();
        v
    }
}

impl Drop for TempNs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
