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

#[test]
fn a_download_stopped_by_ctrl_c_keeps_what_it_fetched_and_resumes() {
    let server = crate::support::image_server::ImageServer::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    // Slow images, and one that answers only after 10 s: the stop must not wait for it.
    let mut urls: Vec<String> = (0..60).map(|i| server.url(&format!("slowimg/{i}.jpg"))).collect();
    urls.push(server.url("slow.jpg"));
    std::fs::write(data.join("urls.json"), serde_json::json!({"things": {"stuff": urls}}).to_string()).unwrap();
    let args = ["--data-dir", data.to_str().unwrap(), "download", "--rate", "0", "--concurrency", "2"];
    let mut child = picseek_command().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    let fetched = || std::fs::read_dir(data.join("raw/things/stuff")).map_or(0, |d| d.count());
    while fetched() < 4 {
        assert!(started.elapsed() < Duration::from_secs(30), "nothing was fetched");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let signalled = Instant::now();
    let status = child.wait().unwrap();
    assert!(signalled.elapsed() < Duration::from_secs(2), "stopped {:?} after the signal", signalled.elapsed());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted:") && stderr.contains("of 61 done"), "{stderr}");
    assert_eq!(temporaries(data), Vec::<String>::new(), "temporaries are removed");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("raw/manifest.json")).unwrap()).unwrap();
    let done = saved.as_array().unwrap().len();
    assert!((4..61).contains(&done), "the manifest keeps what was fetched: {done}");
    let resumed = picseek_json(&[&["--json"][..], &args[..3], &["--timeout", "1", "--retries", "0"]].concat());
    assert_eq!(resumed["reused"], done, "{resumed}");
}
