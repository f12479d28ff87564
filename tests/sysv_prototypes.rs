//! `include/ripc_sysv.h` declares the drop-in functions (`ripc_msgget`, …)
//! by hand, with the system's types; the Rust side exports them from
//! `src/ffi/`. Nothing else ties the two: a parameter added, removed or
//! retyped on one side only would compile and link, and pass or return
//! garbage at run time. Here each exported signature is read from the Rust
//! source, written as a C function type, and the C compiler checks that it
//! is compatible with the header's declaration (`_Static_assert` of
//! `__builtin_types_compatible_p`). Every `ripc_*` function the header
//! declares must have a Rust export. A deliberately wrong prototype is
//! checked too, so that this test cannot pass by accident.

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Pointer parameters that the Rust side takes as `void *` because the
/// buffer's type depends on `cmd` (`struct msqid_ds` or `struct msginfo`,
/// …): the header's struct pointer has the same representation. (function,
/// parameter index, the header's type).
const VOID_FOR_STRUCT: &[(&str, usize, &str)] = &[
    ("ripc_msgctl", 2, "struct msqid_ds *"),
    ("ripc_shmctl", 2, "struct shmid_ds *"),
];

/// The functions the drop-in header maps the System V names to.
const DROP_IN: &[&str] = &[
    "ripc_ftok",
    "ripc_msgget",
    "ripc_msgsnd",
    "ripc_msgrcv",
    "ripc_msgctl",
    "ripc_shmget",
    "ripc_shmat",
    "ripc_shmdt",
    "ripc_shmctl",
    "ripc_semget",
    "ripc_semop",
    "ripc_semtimedop",
    "ripc_semctl_arg",
];

/// The functions `ripc_sysv.h` declares (not its `static inline` ones).
fn header_functions(h: &str) -> Vec<String> {
    let mut text = String::new();
    let mut rest = h;
    // Comments out.
    while let Some(i) = rest.find("/*") {
        text += &rest[..i];
        rest = rest[i..].find("*/").map_or("", |j| &rest[i + j + 2..]);
    }
    text += rest;
    let mut names = Vec::new();
    for decl in text.split(';') {
        let d: String = decl
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join(" ");
        // What follows the last brace (`extern "C" {`, a function body).
        let d = d.rsplit(['{', '}']).next().unwrap_or("").trim();
        if d.contains("static") || d.contains("return") || d.contains('=') || !d.ends_with(')') {
            continue;
        }
        let Some(open) = d.find('(') else { continue };
        let name = d[..open].trim_end().rsplit([' ', '*']).next().unwrap_or("");
        if name.starts_with("ripc_") && !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
}

/// A Rust FFI type as C spells it.
fn c_type(rust: &str) -> String {
    let t = rust.trim();
    if let Some(p) = t.strip_prefix("*const ") {
        return format!("const {} *", c_type(p));
    }
    if let Some(p) = t.strip_prefix("*mut ") {
        return format!("{} *", c_type(p));
    }
    let t = t
        .trim_start_matches("libc::")
        .trim_start_matches("core::ffi::");
    match t {
        "c_int" | "i32" => "int".into(),
        "c_uint" | "u32" => "unsigned int".into(),
        "c_long" | "i64" => "long".into(),
        "c_ulong" | "u64" => "unsigned long".into(),
        "c_short" | "i16" => "short".into(),
        "c_ushort" | "u16" => "unsigned short".into(),
        "usize" | "size_t" => "size_t".into(),
        "isize" | "ssize_t" => "ssize_t".into(),
        "c_char" => "char".into(),
        "c_void" => "void".into(),
        "pid_t" | "key_t" => t.into(),
        // The system structures (src/ffi/cstructs.rs, libc).
        s if s.chars().all(|c| c.is_ascii_lowercase() || c == '_') => format!("struct {s}"),
        s => panic!("no C spelling for the Rust type {s}"),
    }
}

/// `(return type, parameter types)` of every `extern "C" fn ripc_*` (or
/// `extern "C-unwind"`) in
/// `src/ffi/`, by name.
fn rust_exports() -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    let dir = Path::new(ROOT).join("src/ffi");
    for e in std::fs::read_dir(dir).unwrap() {
        let src = std::fs::read_to_string(e.unwrap().path()).unwrap();
        // A cancellation point is `extern "C-unwind"`: the same C function.
        let src = src.replace("extern \"C-unwind\" fn ripc_", "extern \"C\" fn ripc_");
        let mut rest = src.as_str();
        while let Some(i) = rest.find("extern \"C\" fn ripc_") {
            rest = &rest[i + "extern \"C\" fn ".len()..];
            let open = rest.find('(').unwrap();
            let name = rest[..open].to_string();
            let close = open + rest[open..].find(')').unwrap();
            let params: Vec<&str> = rest[open + 1..close]
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .collect();
            // Only the drop-in functions are spelled in C (others may take
            // callbacks, which this small parser does not read).
            if !DROP_IN.contains(&name.as_str()) {
                rest = &rest[close..];
                continue;
            }
            let params = params
                .iter()
                .map(|p| c_type(p.split_once(':').expect("name: type").1))
                .collect();
            let brace = close + rest[close..].find('{').unwrap();
            let ret = rest[close + 1..brace].trim();
            let ret = match ret.strip_prefix("->") {
                Some(r) => c_type(r),
                None => "void".into(),
            };
            out.push((name, ret, params));
            rest = &rest[brace..];
        }
    }
    out
}

/// Compiles (syntax only) a C file that includes the header and asserts
/// each `(name, ret, params)` type: whether it compiled, and the
/// compiler's messages.
fn check(protos: &[(String, String, Vec<String>)]) -> Option<(bool, String)> {
    let mut c = String::from(
        "#define RIPC_SYSV_NO_RENAME\n#include \"ripc_sysv.h\"\n\
         #define SAME(f, T) _Static_assert(__builtin_types_compatible_p(__typeof__(f), T), \
         #f \": ripc_sysv.h and the Rust export differ\")\n",
    );
    for (name, ret, params) in protos {
        let params = if params.is_empty() {
            "void".to_string()
        } else {
            params.join(", ")
        };
        c += &format!("typedef {ret} {name}_rust({params});\nSAME({name}, {name}_rust);\n");
    }
    let dir = std::env::temp_dir().join(format!(
        "ripc-protos-{}-{}",
        std::process::id(),
        protos.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("protos.c");
    std::fs::write(&src, &c).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only"])
        .arg(format!("-I{ROOT}/include"))
        .arg(&src)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let Ok(out) = out else {
        eprintln!("no C compiler ({cc}): prototypes not checked");
        return None;
    };
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned() + "\n" + &c,
    ))
}

#[test]
fn ripc_sysv_h_declares_what_the_library_exports() {
    let header = std::fs::read_to_string(Path::new(ROOT).join("include/ripc_sysv.h")).unwrap();
    let declared = header_functions(&header);
    assert_eq!(
        declared, DROP_IN,
        "ripc_sysv.h's prototypes are not the drop-in set: update DROP_IN"
    );
    let exports = rust_exports();
    let mut protos = Vec::new();
    for name in &declared {
        let (n, ret, mut params) = exports
            .iter()
            .find(|(n, _, _)| n == name)
            .cloned()
            .unwrap_or_else(|| {
                panic!("ripc_sysv.h declares {name}, which src/ffi does not export")
            });
        for &(f, i, t) in VOID_FOR_STRUCT {
            if f == n {
                assert_eq!(params[i], "void *", "{f}: the exception no longer applies");
                params[i] = t.to_string();
            }
        }
        protos.push((n, ret, params));
    }
    let Some((ok, msg)) = check(&protos) else {
        return;
    };
    assert!(ok, "{msg}");

    // The check itself can fail: one parameter narrowed from size_t.
    let mut wrong = protos.clone();
    let (_, _, p) = wrong
        .iter_mut()
        .find(|(n, _, _)| n == "ripc_msgsnd")
        .expect("ripc_msgsnd is declared");
    p[2] = "int".into();
    let (ok, _) = check(&wrong).unwrap();
    assert!(!ok, "a wrong prototype was accepted");
}
