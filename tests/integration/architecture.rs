//! The import graph of `src/` keeps to the layer order of
//! docs/ARCHITECTURE.md ("Layers"): a module imports only modules of lower
//! layers, and no two files import each other, directly or around a circle.
//! The order is read from the document itself, so the two cannot drift.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `layer N  a b c` lines of the document's Layers block: module → layer.
fn documented_layers() -> BTreeMap<String, u32> {
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/ARCHITECTURE.md"))
        .expect("docs/ARCHITECTURE.md");
    let mut layers = BTreeMap::new();
    for line in doc.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("layer") {
            continue;
        }
        let Some(n) = words.next().and_then(|w| w.parse::<u32>().ok()) else {
            continue;
        };
        for module in words {
            layers.insert(module.to_string(), n);
        }
    }
    assert!(
        layers.len() > 10,
        "no `layer N modules…` lines in docs/ARCHITECTURE.md"
    );
    layers
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's module path: `src/report/render.rs` → `report::render`,
/// `src/engine/mod.rs` → `engine`, `src/main.rs` → `main`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The module paths a file names: `crate::a::b…` (`accessaudit::…` in the
/// binaries), `super::…` and `self::…`, resolved against the file's module.
fn imports(text: &str, module: &[String], binary: bool) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let prefixes: &[&str] = if binary {
        &["accessaudit::"]
    } else {
        &["crate::", "super::", "self::"]
    };
    for prefix in prefixes {
        let mut from = 0;
        while let Some(at) = text[from..].find(prefix) {
            let start = from + at;
            from = start + prefix.len();
            // Only whole path starts (not `foo_crate::`), and not in comments.
            if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
                continue;
            }
            let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
            if text[line_start..start].contains("//") {
                continue;
            }
            let mut path: Vec<String> = match *prefix {
                "super::" => {
                    // `module_of` already names a mod.rs by its folder, so
                    // the parent is one up in either case.
                    let mut base = module.to_vec();
                    base.pop();
                    base
                }
                "self::" => module.to_vec(),
                _ => Vec::new(),
            };
            let rest = &text[from..];
            let segs: Vec<&str> = rest
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or("")
                .split("::")
                .filter(|s| !s.is_empty())
                .collect();
            // `super::super::x`
            for seg in segs {
                if seg == "super" {
                    path.pop();
                } else {
                    path.push(seg.to_string());
                }
            }
            // A `use a::{b, c}` group names a's children.
            let after = &rest[rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len())..];
            if let Some(group) = after.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                for item in group.split(',') {
                    let first = item.trim().split("::").next().unwrap_or("").trim();
                    if first == "self" {
                        out.push(path.clone());
                    } else if !first.is_empty()
                        && first.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        let mut p = path.clone();
                        p.push(first.to_string());
                        out.push(p);
                    }
                }
            } else {
                out.push(path);
            }
        }
    }
    out
}

struct Graph {
    /// file → files it imports (as module paths that exist as files).
    edges: BTreeMap<String, BTreeSet<String>>,
}

fn graph() -> Graph {
    let src = Path::new(ROOT).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeMap<Vec<String>, String> = files
        .iter()
        .map(|f| (module_of(&src, f), module_of(&src, f).join("::")))
        .collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        let name = module.join("::");
        if name.is_empty() {
            continue; // lib.rs only declares the modules
        }
        let binary = name == "main" || name.starts_with("bin::");
        let text = std::fs::read_to_string(file).unwrap();
        // Unit tests may reach anything: they are not part of the graph.
        let text = match text.find("#[cfg(test)]\nmod tests") {
            Some(at) => &text[..at],
            None => &text[..],
        };
        let entry = edges.entry(name.clone()).or_default();
        let mut paths = imports(text, &module, binary);
        // `use child::…` in a folder's mod.rs (a path relative to the module).
        for line in text.lines() {
            let line = line.trim_start();
            let rest = ["use ", "pub use ", "pub(crate) use ", "pub(super) use "]
                .iter()
                .find_map(|p| line.strip_prefix(p));
            if let Some(rest) = rest {
                let first = rest.split("::").next().unwrap_or("");
                let mut child = module.clone();
                child.push(first.to_string());
                if modules.contains_key(&child) {
                    paths.push(child);
                }
            }
        }
        for mut path in paths {
            // The longest prefix that is a file of ours.
            while !path.is_empty() {
                if let Some(target) = modules.get(&path) {
                    if *target != name {
                        entry.insert(target.clone());
                    }
                    break;
                }
                path.pop();
            }
        }
    }
    Graph { edges }
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

#[test]
fn no_module_imports_one_of_its_own_or_a_higher_layer() {
    let layers = documented_layers();
    let g = graph();
    let mut wrong = Vec::new();
    for (from, targets) in &g.edges {
        let Some(&from_layer) = layers.get(top(from)) else {
            wrong.push(format!(
                "{from}: module `{}` has no layer in docs/ARCHITECTURE.md",
                top(from)
            ));
            continue;
        };
        for to in targets {
            if top(to) == top(from) {
                continue;
            }
            match layers.get(top(to)) {
                Some(&to_layer) if to_layer < from_layer => {}
                Some(&to_layer) => wrong.push(format!(
                    "{from} (layer {from_layer}) imports {to} (layer {to_layer})"
                )),
                None => wrong.push(format!("{to}: module `{}` has no layer", top(to))),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layer order:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_two_files_import_each_other_around_a_circle() {
    let g = graph();
    // Tarjan-free: a depth-first search that reports the first back edge.
    fn visit(
        node: &str,
        g: &Graph,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        circles: &mut Vec<String>,
    ) {
        if done.contains(node) {
            return;
        }
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut circle = stack[at..].to_vec();
            circle.push(node.to_string());
            circles.push(circle.join(" -> "));
            return;
        }
        stack.push(node.to_string());
        for next in g.edges.get(node).into_iter().flatten() {
            visit(next, g, stack, done, circles);
        }
        stack.pop();
        done.insert(node.to_string());
    }
    let mut circles = Vec::new();
    let mut done = BTreeSet::new();
    for node in g.edges.keys() {
        visit(node, &g, &mut Vec::new(), &mut done, &mut circles);
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_graph_sees_imports() {
    // The checks above would pass on an empty graph: make sure they do not.
    let g = graph();
    let render = g
        .edges
        .get("report::render")
        .expect("report::render is a file");
    assert!(render.contains("report::facts"), "{render:?}");
    assert!(render.contains("support::mail"), "{render:?}");
    let main = g.edges.get("main").expect("main");
    assert!(main.contains("commands"), "{main:?}");
}
