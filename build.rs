//! Embeds the shipped rules (and their tests) from `rules/` into the binary,
//! so that `accessaudit` works from any directory with no files installed.

use std::fmt::Write;
use std::path::Path;

fn main() {
    // Read when the script runs, not when it was compiled: a build cache
    // copied to another checkout must embed that checkout's rules.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest).join("rules");
    println!("cargo:rerun-if-changed={}", dir.display());
    // `sqlx::migrate!` embeds the migrations when the crate compiles, and
    // cargo does not know it reads them: a new migration must rebuild it.
    println!(
        "cargo:rerun-if-changed={}",
        Path::new(&manifest).join("migrations").display()
    );
    // A binary without its shipped rules would audit nothing: no build.
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the shipped rules in {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"));
    files.sort();
    let mut out = String::from(
        "/// The shipped rules and rule tests: (path in the repository, text).\npub static BUILTIN: &[(&str, &str)] = &[\n",
    );
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    (\"rules/{name}\", include_str!({:?})),",
            path.display().to_string()
        );
    }
    out.push_str("];\n");
    let target = Path::new(&std::env::var("OUT_DIR").unwrap_or_default()).join("builtin_rules.rs");
    if let Err(e) = std::fs::write(&target, out) {
        panic!("cannot write {}: {e}", target.display());
    }
}
