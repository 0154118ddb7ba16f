//! Shards: download, clean and index run as 4 shards (by hand, and on a local Ray
//! cluster) and merged give what one process gives: the same manifests, the same split,
//! the same index items and vectors and the same search results. A killed shard is run
//! again alone; a merge refuses until every shard is complete.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::image_server::ImageServer;
use crate::support::{clip_test_model, picseek_command, picseek_fails, picseek_json, repo_root};

const SHARDS: usize = 4;

/// Photo hosts on six loopback addresses (six hosts to the downloader), each serving good
/// images, some that fail, one that fails once, and, on the last, slow ones.
struct Hosts(Vec<ImageServer>);

impl Hosts {
    fn start() -> Self {
        Self((1..=6).map(|i| ImageServer::start_on(&format!("127.0.0.{i}"))).collect())
    }

    fn forget(&self) {
        self.0.iter().for_each(ImageServer::forget);
    }

    /// `urls.json`: three terms, their URLs spread over every host. The same path on two
    /// hosts serves the same bytes, so shards must find duplicates across each other.
    fn urls(&self) -> serde_json::Value {
        let on = |host: usize, path: &str| self.0[host].url(path);
        let term = |offset: usize| -> Vec<String> {
            let mut urls: Vec<String> =
                (0..8).map(|i| on((i + offset) % 5, &format!("img/{}.jpg", i + offset * 3))).collect();
            urls.push(on(offset % 5, "missing.jpg"));
            urls.push(on((offset + 1) % 5, "page.jpg"));
            urls.push(on((offset + 2) % 5, "flaky.jpg"));
            urls.extend((0..4).map(|i| on(5, &format!("slowimg/{}.jpg", i + offset * 4))));
            urls
        };
        serde_json::json!({"animal": {"Cat": term(0), "Dog": term(1)}, "plant": {"Tulip": term(2)}})
    }
}

fn write_urls(data: &Path, urls: &serde_json::Value) {
    std::fs::create_dir_all(data).unwrap();
    std::fs::write(data.join("urls.json"), serde_json::to_vec_pretty(urls).unwrap()).unwrap();
}

/// The flags every download of these tests uses: brisk, one connection per host.
const DOWNLOAD_FLAGS: [&str; 4] = ["--rate", "50", "--connections-per-host", "1"];

fn model_flag() -> String {
    clip_test_model().display().to_string()
}

fn stage_args<'a>(data: &'a str, stage: &'a str, model: &'a str) -> Vec<&'a str> {
    let mut args = vec!["--data-dir", data, "--json", stage];
    match stage {
        "download" => args.extend(DOWNLOAD_FLAGS),
        "index" => args.extend(["--model", model, "--batch", "3"]),
        _ => {}
    }
    args
}

/// Runs download, clean, split and index in one process each.
fn single_process(data: &Path) {
    let (data, model) = (data.to_str().unwrap(), model_flag());
    for stage in ["download", "clean", "split", "index"] {
        picseek_json(&stage_args(data, stage, &model));
    }
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn vectors(data: &Path) -> Vec<f32> {
    let index = json(&data.join("index/index.json"));
    let file = data.join("index").join(index["vectors"]["file"].as_str().unwrap());
    std::fs::read(file).unwrap().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

fn search_keys(data: &Path, query: &Path, exact: bool) -> Vec<u64> {
    let (data, query) = (data.to_str().unwrap(), query.to_str().unwrap());
    let mut args = vec!["--data-dir", data, "--json", "search", "--image", query, "-k", "8"];
    if exact {
        args.push("--exact");
    }
    let found = picseek_json(&args);
    found["results"].as_array().unwrap().iter().map(|r| r["key"].as_u64().unwrap()).collect()
}

/// The sharded data folder ended as the single-process one: same manifests, split,
/// index items, vectors and search results.
fn assert_same_dataset(single: &Path, sharded: &Path) {
    for file in ["raw/manifest.json", "clean/manifest.json", "split.json"] {
        assert_eq!(json(&single.join(file)), json(&sharded.join(file)), "{file} differs");
    }
    let clean = json(&single.join("clean/manifest.json"));
    let duplicates = clean
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["reason"].as_str().is_some_and(|r| r.starts_with("duplicate_of:")))
        .count();
    assert!(duplicates >= 3, "the fixture has duplicates across hosts ({duplicates})");
    let (a, b) = (json(&single.join("index/index.json")), json(&sharded.join("index/index.json")));
    assert_eq!(a["items"], b["items"], "index items differ");
    assert!(a["items"].as_array().unwrap().len() >= 10);
    assert_eq!(a["vectors"], b["vectors"]);
    let (va, vb) = (vectors(single), vectors(sharded));
    assert_eq!(va.len(), vb.len());
    let worst = va.iter().zip(&vb).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "vectors differ by up to {worst}");
    let query = single.join(a["items"][0]["path"].as_str().unwrap());
    for exact in [false, true] {
        assert_eq!(search_keys(single, &query, exact), search_keys(sharded, &query, exact), "exact: {exact}");
    }
}

fn shard_flag(i: usize) -> String {
    format!("{i}/{SHARDS}")
}

#[test]
fn four_shards_merged_give_what_one_process_gives_and_a_killed_shard_is_run_again_alone() {
    let hosts = Hosts::start();
    let urls = hosts.urls();
    let dir = tempfile::tempdir().unwrap();
    let (single, sharded) = (dir.path().join("single"), dir.path().join("sharded"));
    write_urls(&single, &urls);
    write_urls(&sharded, &urls);
    single_process(&single);

    hosts.forget();
    let (data, model) = (sharded.to_str().unwrap(), model_flag());
    // The shard of the slow host is killed half-way through its downloads.
    let slow_shard = picseek_download_shard_of(&hosts.0[5].url("slowimg/0.jpg"));
    let mut killed = picseek_command()
        .args(stage_args(data, "download", &model))
        .args(["--shard", &shard_flag(slow_shard)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // While a shard runs, a whole-stage run is refused (the shards hold the lock shared).
    let shard_lock = sharded.join(format!("raw/.shards/{slow_shard}-of-4/.picseek.lock"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !shard_lock.exists() {
        assert!(Instant::now() < deadline, "the shard never took its lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    let err = picseek_fails(&["--data-dir", data, "download"]);
    assert!(err.contains("in use by another picseek (shards of a stage"), "{err}");
    std::thread::sleep(Duration::from_millis(500));
    killed.kill().unwrap();
    killed.wait().unwrap();
    for i in (0..SHARDS).filter(|&i| i != slow_shard) {
        let report = picseek_json(&[stage_args(data, "download", &model), vec!["--shard", &shard_flag(i)]].concat());
        assert_eq!(report["shard"], shard_flag(i));
    }
    let err = picseek_fails(&["--data-dir", data, "merge", "download"]);
    assert!(err.contains(&format!("shard(s) {slow_shard} of 4 are not complete")), "{err}");
    assert!(!sharded.join("raw/manifest.json").exists(), "nothing merged from an incomplete set");
    // Only the killed shard runs again; a finished one is skipped.
    let again =
        picseek_json(&[stage_args(data, "download", &model), vec!["--shard", &shard_flag(slow_shard)]].concat());
    assert_eq!(again["already_complete"], false);
    assert!(again["reused"].as_u64().unwrap() >= 1, "what the killed run finished is kept: {again}");
    let other = (slow_shard + 1) % SHARDS;
    let skipped = picseek_json(&[stage_args(data, "download", &model), vec!["--shard", &shard_flag(other)]].concat());
    assert_eq!(skipped["already_complete"], true);
    picseek_json(&["--data-dir", data, "--json", "merge", "download"]);

    for i in 0..SHARDS {
        picseek_json(&[stage_args(data, "clean", &model), vec!["--shard", &shard_flag(i)]].concat());
    }
    assert!(!sharded.join("clean/manifest.json").exists());
    picseek_json(&["--data-dir", data, "--json", "merge", "clean"]);
    picseek_json(&stage_args(data, "split", &model));
    for i in 0..SHARDS {
        let report = picseek_json(&[stage_args(data, "index", &model), vec!["--shard", &shard_flag(i)]].concat());
        assert_eq!(report["shard"], shard_flag(i));
    }
    let merged = picseek_json(&[vec!["--data-dir", data, "--json", "merge", "index", "--model", &model]].concat());
    assert_eq!(merged["embedded"], 0, "a merge embeds nothing: {merged}");
    assert_same_dataset(&single, &sharded);
}

/// The shard that downloads `url`, as the binary computes it: by asking a 4-shard run
/// which URLs it would take is costly, so the partition function of the library is used.
fn picseek_download_shard_of(url: &str) -> usize {
    picseek_download::shard_of_url(url, SHARDS)
}

#[test]
fn shard_flags_and_merges_that_cannot_work_say_why_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    std::fs::write(dir.path().join("urls.json"), b"{}").unwrap();
    for (args, needle) in [
        (vec!["download", "--shard", "4/4"], "below N"),
        (vec!["download", "--shard", "x"], "I/N"),
        (vec!["download", "--shard", "1/4", "--shards", "3"], "disagree"),
        (vec!["download", "--shards", "4"], "JOB_COMPLETION_INDEX"),
        (vec!["merge", "download"], "no shards here"),
        (vec!["merge", "download", "--shard", "0/2"], "--shards N"),
        (vec!["index", "--embedder", "pixel", "--shard", "0/2"], "--shard splits CLIP embedding only"),
    ] {
        let err = picseek_fails(&[vec!["--data-dir", data], args.clone()].concat());
        // Flag values clap refuses are its one `error:` line; the rest are picseek's.
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("picseek:") || l.starts_with("error:")).collect();
        assert!(lines.len() == 1 && lines[0].contains(needle), "{args:?}: {err}");
    }
    // Under a Kubernetes Indexed Job the index comes from the environment.
    let out = picseek_command()
        .args(["--data-dir", data, "--json", "download", "--shards", "2"])
        .env("JOB_COMPLETION_INDEX", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["shard"], "1/2");
}

/// A Ray head on 127.0.0.1 with 2 CPUs, in its own process group, stopped by pid.
struct RayHead {
    child: Child,
    address: String,
    _temp: tempfile::TempDir,
}

impl RayHead {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let temp = tempfile::Builder::new().prefix("ray").tempdir_in("/tmp").unwrap();
        let mut command = Command::new(repo_root().join(".venv/bin/ray"));
        command
            .args(["start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", &port.to_string()])
            .args(["--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats"])
            .arg(format!("--temp-dir={}", temp.path().display()))
            .env("RAY_USAGE_STATS_ENABLED", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().expect("ray from the venv runs (scripts/setup.sh installs it)");
        let address = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(&address).is_err() {
            assert!(Instant::now() < deadline, "the Ray head did not start within a minute");
            std::thread::sleep(Duration::from_millis(200));
        }
        Self { child, address, _temp: temp }
    }
}

impl Drop for RayHead {
    fn drop(&mut self) {
        let group = self.child.id() as i32;
        // SIGTERM to the whole group lets ray stop its raylet and workers; then SIGKILL.
        unsafe { libc::kill(-group, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline && self.child.try_wait().ok().flatten().is_none() {
            std::thread::sleep(Duration::from_millis(100));
        }
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn ray_driver(head: &RayHead, data: &Path, stages: &[&str], extra: &[&str]) -> std::process::Output {
    let picseek = PathBuf::from(env!("CARGO_BIN_EXE_picseek"));
    Command::new(repo_root().join(".venv/bin/python"))
        .arg(repo_root().join("scripts/ray/picseek_ray.py"))
        .args(["--address", &head.address, "--shards", &SHARDS.to_string(), "--data-dir", data.to_str().unwrap()])
        .args(["--picseek", picseek.to_str().unwrap()])
        .args(extra)
        .args(stages)
        .env("RAY_USAGE_STATS_ENABLED", "0")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[test]
fn the_ray_driver_runs_the_shards_on_a_local_cluster_and_merges_them_into_the_same_dataset() {
    let hosts = Hosts::start();
    let urls = hosts.urls();
    let dir = tempfile::tempdir().unwrap();
    let (single, on_ray) = (dir.path().join("single"), dir.path().join("ray"));
    write_urls(&single, &urls);
    write_urls(&on_ray, &urls);
    single_process(&single);
    hosts.forget();

    let head = RayHead::start();
    let model = model_flag();
    let download_args = format!("download={}", DOWNLOAD_FLAGS.join(" "));
    let index_args = format!("index=--model {model} --batch 3");
    let out = ray_driver(
        &head,
        &on_ray,
        &["download", "clean", "split", "index"],
        &["--args", &download_args, "--args", &index_args],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the Ray driver failed: {stderr}");
    assert!(stderr.contains("index: 4 shards complete"), "{stderr}");
    assert_same_dataset(&single, &on_ray);

    // A stage whose shards fail every retry ends the driver with the shard's own error.
    std::fs::write(on_ray.join("urls.json"), b"{not json").unwrap();
    let out = ray_driver(&head, &on_ray, &["download"], &["--retries", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("not a valid manifest"), "{stderr}");
}
