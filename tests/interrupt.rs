//! Ctrl-C and SIGTERM in the middle of a stage: it stops within 2 s, removes its own
//! temporaries, keeps what it did, says how far it got, exits 130 or 143, and the same
//! command resumes.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{clip_test_model, picseek_command, picseek_json, write_class};

/// Files under `dir` whose name marks a temporary.
fn temporaries(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in walk(dir) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with(".picseek-tmp") {
            found.push(entry.display().to_string());
        }
    }
    found
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

/// Bytes in the index's embedding cache so far.
fn cached_bytes(index: &Path) -> u64 {
    walk(&index.join("cache"))
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

fn interrupt_index(data: &Path, signal: i32) {
    let model = clip_test_model();
    let before = cached_bytes(&data.join("index"));
    let mut child = picseek_command()
        .args(["--data-dir", data.to_str().unwrap(), "index", "--model", model.to_str().unwrap(), "--batch", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // Once this run's first batches are in the cache, it is in the middle of its work.
    while cached_bytes(&data.join("index")) <= before {
        assert!(started.elapsed() < Duration::from_secs(60), "index never started embedding");
        assert!(child.try_wait().unwrap().is_none(), "index ended before it could be interrupted");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(signalled.elapsed() < Duration::from_secs(5), "still running 5 s after the signal");
        std::thread::sleep(Duration::from_millis(10));
    };
    let stopped_in = signalled.elapsed();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(status.code(), Some(128 + signal), "{stderr}");
    assert!(stopped_in < Duration::from_secs(2), "stopped {stopped_in:?} after the signal");
    let line = stderr.lines().last().unwrap_or_default();
    assert!(line.contains("interrupted:") && line.contains("done; run the same command to resume"), "{stderr}");
    assert_eq!(temporaries(data), Vec::<String>::new(), "temporaries are removed");
    assert!(!data.join("index/index.json").exists(), "no half-made index");
}

#[test]
fn an_index_stopped_by_ctrl_c_or_sigterm_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    for (i, class) in ["red", "green", "blue", "grey"].iter().enumerate() {
        write_class(&data.join("train"), class, [200 - 40 * i as u8, 60 + 40 * i as u8, 90], 150, i as u64);
    }
    interrupt_index(data, libc::SIGINT);
    let kept = cached_bytes(&data.join("index"));
    interrupt_index(data, libc::SIGTERM);
    assert!(cached_bytes(&data.join("index")) > kept, "the second run went on from the first");
    let model = clip_test_model();
    let finished =
        picseek_json(&["--data-dir", data.to_str().unwrap(), "--json", "index", "--model", model.to_str().unwrap()]);
    assert_eq!(finished["items"], 600, "{finished}");
    assert!(finished["embedded"].as_u64().unwrap() < 600, "what the stopped runs embedded is reused: {finished}");
}
