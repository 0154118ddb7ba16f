//! The rules ARCHITECTURE.md states about the code, checked on the code itself: no stage
//! crate depends on a later stage, libraries never print or draw (the binary implements
//! their reporter), and the binary's files stay small enough to find one's way in.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `picseek-*` crates a crate's `[dependencies]` name (not its dev-dependencies).
fn picseek_dependencies(krate: &str) -> BTreeSet<String> {
    let manifest = std::fs::read_to_string(workspace().join("crates").join(krate).join("Cargo.toml")).unwrap();
    let mut section = "";
    let mut found = BTreeSet::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == "[dependencies]"
            && let Some(name) = line.strip_prefix("picseek-")
        {
            found.insert(name.split(['.', ' ', '=']).next().unwrap().to_owned());
        }
    }
    found
}

#[test]
fn no_crate_depends_on_a_later_stage() {
    // What each library may use; a stage never uses a later one (nor, but for search on
    // index and serve on search, another stage at all).
    let allowed: &[(&str, &[&str])] = &[
        ("manifest", &[]),
        ("ann", &["manifest"]),
        ("imaging", &["manifest"]),
        ("clip", &["imaging", "manifest"]),
        ("embed", &["clip", "imaging", "manifest"]),
        ("optout", &["manifest"]),
        ("crawl", &["manifest", "optout"]),
        ("download", &["manifest", "optout"]),
        ("clean", &["ann", "embed", "imaging", "manifest"]),
        ("split", &["ann", "embed", "imaging", "manifest"]),
        ("index", &["ann", "embed", "imaging", "manifest"]),
        ("search", &["embed", "imaging", "index", "manifest"]),
        ("serve", &["embed", "imaging", "index", "manifest", "search"]),
        ("report", &["manifest"]),
        ("export", &["imaging", "index", "manifest"]),
        ("doctor", &["clip", "crawl", "embed", "index", "manifest"]),
        ("pipeline", &["clean", "crawl", "download", "embed", "index", "manifest", "search", "split"]),
    ];
    let mut crates: Vec<String> = std::fs::read_dir(workspace().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "picseek")
        .collect();
    crates.sort();
    let known: Vec<&str> = allowed.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        crates,
        {
            let mut k = known.clone();
            k.sort();
            k
        },
        "every library crate has its place here and in ARCHITECTURE.md"
    );
    for (krate, may_use) in allowed {
        let extra: Vec<String> =
            picseek_dependencies(krate).into_iter().filter(|d| !may_use.contains(&d.as_str())).collect();
        assert!(extra.is_empty(), "picseek-{krate} depends on {extra:?}, which it may not (see ARCHITECTURE.md)");
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()) {
        if entry.is_dir() {
            files.extend(rust_files(&entry));
        } else if entry.extension().is_some_and(|e| e == "rs") {
            files.push(entry);
        }
    }
    files
}

#[test]
fn only_the_binary_prints_or_draws() {
    for entry in std::fs::read_dir(workspace().join("crates")).unwrap().map(|e| e.unwrap().path()) {
        if entry.ends_with("picseek") {
            continue;
        }
        let manifest = std::fs::read_to_string(entry.join("Cargo.toml")).unwrap();
        assert!(!manifest.contains("indicatif"), "{}: libraries report progress, the binary draws it", entry.display());
        for file in rust_files(&entry.join("src")) {
            let text = std::fs::read_to_string(&file).unwrap();
            for forbidden in ["println!", "eprintln!", "print!(", "eprint!(", "std::io::stdout", "std::io::stderr"] {
                assert!(
                    !text.contains(forbidden),
                    "{}: {forbidden} in a library (log with tracing, or return it)",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn the_binary_s_files_stay_under_500_lines() {
    for file in rust_files(&workspace().join("crates/picseek/src")) {
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        assert!(lines < 500, "{} has {lines} lines: split it by command or layer", file.display());
    }
}
