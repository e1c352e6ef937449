//! The layering of the crate, as a test: which top-level module may import which (the
//! table in README "Architecture"). A lower layer that imports a higher one fails here,
//! naming the file and the import — notably `graphql` importing `app` (the cycle that
//! `state` broke) and `domain` importing anything outside itself.
//!
//! It reads the sources: every `crate::x` path (in `use` lines, braced groups and
//! expressions) and every `super::` chain that climbs to the crate root, outside comments.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each checked layer (a folder, or a file for a one-file module) and the only top-level
/// modules it may import (itself always). Everything else — `app`, `run`, `cli`, `seed`,
/// `bench`, … — is out of bounds for it.
const LAYERS: &[(&str, &[&str])] = &[
    // Pure rules: no I/O, no clock, nothing of the service.
    ("domain", &[]),
    ("auth", &["cli", "domain", "error", "store"]),
    ("store", &["domain", "error", "infra"]),
    ("infra", &["domain", "error", "store"]),
    // The state both `app` and `graphql` use: imports neither.
    ("state", &["config", "domain", "error", "infra", "store"]),
    // The use cases: what every entry point calls (an import's files read by `import`).
    (
        "service",
        &[
            "auth", "domain", "error", "import", "infra", "state", "store",
        ],
    ),
    // The readers of agencies' existing files: pure, like the domain they read into.
    ("import", &["domain", "error"]),
    // The CSV export: its parameters and columns, over the same use cases.
    ("export", &["domain", "error", "service"]),
    // The schema: resolvers reach the database only through the use cases.
    (
        "graphql",
        &["auth", "domain", "error", "infra", "service", "state"],
    ),
];

/// The crate's top-level modules: `src/*.rs` (but the roots) and `src/*/`.
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    let mut modules = BTreeSet::new();
    for entry in std::fs::read_dir(src).expect("read src/") {
        let path = entry.expect("a src/ entry").path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if path.is_dir() || (path.extension().is_some_and(|e| e == "rs")) {
            modules.insert(name.to_owned());
        }
    }
    modules.remove("lib");
    modules.remove("main");
    modules
}

/// The `.rs` files of a layer, with each file's module depth below the crate root
/// (`src/graphql/mod.rs` is 1, `src/graphql/children.rs` 2).
fn files_of(src: &Path, layer: &str) -> Vec<(PathBuf, usize)> {
    let single = src.join(format!("{layer}.rs"));
    if single.is_file() {
        return vec![(single, 1)];
    }
    let mut files = Vec::new();
    let mut pending = vec![src.join(layer)];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(src).expect("under src/");
                let mut depth = relative.components().count();
                if path.file_name().is_some_and(|n| n == "mod.rs") {
                    depth -= 1;
                }
                files.push((path, depth));
            }
        }
    }
    files.sort();
    files
}

/// The text without its `//` comments (doc comments included).
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| line.split_once("//").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

fn identifier_at(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The top-level names a braced group (`{a, b::c, d::{e, f}}`, after its `{`) starts with.
fn group_heads(text: &str) -> Vec<&str> {
    let (mut heads, mut depth, mut at_item) = (Vec::new(), 0usize, true);
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => at_item = true,
            c if at_item && !c.is_whitespace() => {
                at_item = false;
                heads.push(identifier_at(&text[i..]));
            }
            _ => {}
        }
    }
    heads
}

/// The top-level modules a source file at `depth` refers to, among `modules`.
fn imports(text: &str, depth: usize, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code = without_comments(text);
    let mut found = BTreeSet::new();
    let mut add = |rest: &str| {
        let rest = rest.trim_start();
        let heads = match rest.strip_prefix('{') {
            Some(group) => group_heads(group),
            None => vec![identifier_at(rest)],
        };
        for head in heads {
            if modules.contains(head) {
                found.insert(head.to_owned());
            }
        }
    };
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            add(&code[at + "crate::".len()..]);
        }
    }
    // `super::super::x` in `src/graphql/children.rs` is the crate's `x`.
    let climb = "super::".repeat(depth);
    for (at, _) in code.match_indices(&climb) {
        let before = code[..at].chars().next_back();
        let rest = &code[at + climb.len()..];
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !rest.starts_with("super::")
        {
            add(rest);
        }
    }
    found
}

#[test]
fn every_layer_imports_only_what_the_table_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = top_level_modules(&src);
    for needed in ["app", "graphql", "state", "domain", "store"] {
        assert!(
            modules.contains(needed),
            "no module {needed} in {modules:?}"
        );
    }
    let mut violations = Vec::new();
    for (layer, allowed) in LAYERS {
        let files = files_of(&src, layer);
        assert!(!files.is_empty(), "the layer {layer} has no source file");
        for (path, depth) in files {
            let text = std::fs::read_to_string(&path).expect("read a source file");
            for import in imports(&text, depth, &modules) {
                if import != *layer && !allowed.contains(&import.as_str()) {
                    let file = path.strip_prefix(&src).unwrap_or(&path).display();
                    violations.push(format!("src/{file} imports crate::{import}"));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layering (see LAYERS in src/layering.rs and README \
         \"Architecture\"):\n  {}",
        violations.join("\n  ")
    );
}

#[test]
fn the_scan_sees_every_way_of_naming_a_module() {
    let modules: BTreeSet<String> = ["app", "auth", "graphql", "state", "store"]
        .into_iter()
        .map(String::from)
        .collect();
    let seen = |text: &str, depth: usize| -> Vec<String> {
        imports(text, depth, &modules).into_iter().collect()
    };
    assert_eq!(seen("use crate::app::AppState;", 2), ["app"]);
    assert_eq!(seen("use crate::{auth::Actor, app};", 2), ["app", "auth"]);
    assert_eq!(
        seen(
            "use crate::{\n    state::{AppState, stopped},\n    store,\n};",
            2
        ),
        ["state", "store"]
    );
    assert_eq!(
        seen("let _ = crate::app::stopped(&mut s).await;", 2),
        ["app"]
    );
    assert_eq!(seen("use super::super::app::Shared;", 2), ["app"]);
    // Within its own module, or past what a comment says, nothing is imported.
    assert!(seen("use super::context::RequestContext;", 2).is_empty());
    assert!(seen("use super::super::Membership;", 2).is_empty());
    assert!(seen("/// See [`crate::app::Application`].\nfn f() {}", 2).is_empty());
    assert!(seen("let x = 1; // crate::app::stopped", 2).is_empty());
    assert!(seen("use other_crate::app::Thing;", 2).is_empty());
}
