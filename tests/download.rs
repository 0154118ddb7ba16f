//! `picseek download` against a real HTTP server on 127.0.0.1 that misbehaves.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::support::image_server::ImageServer;
use crate::support::{picseek, picseek_json};
use serde_json::{Value, json};

fn write_urls(dir: &Path, urls: Value) {
    std::fs::write(dir.join("urls.json"), urls.to_string()).unwrap();
}

fn manifest(dir: &Path) -> Vec<Value> {
    serde_json::from_slice(&std::fs::read(dir.join("raw/manifest.json")).unwrap()).unwrap()
}

fn record<'a>(records: &'a [Value], url_end: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["url"].as_str().unwrap().ends_with(url_end))
        .unwrap_or_else(|| panic!("no record for {url_end}"))
}

/// Every file under `dir` (relative path to content), temporary files included.
fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(path.strip_prefix(root).unwrap().display().to_string(), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn every_url_is_accounted_for_and_only_complete_images_are_kept() {
    let server = ImageServer::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let paths = [
        "img/1.jpg",
        "a/photo.jpg",
        "b/photo.jpg",
        "missing.jpg",
        "flaky.jpg",
        "busy.jpg",
        "slow.jpg",
        "reset.jpg",
        "short.jpg",
        "page.jpg",
        "huge.jpg",
        "huge-chunked.jpg",
        "noai.jpg",
    ];
    let mut urls: Vec<String> = paths.iter().map(|p| server.url(p)).collect();
    urls.push("ftp://127.0.0.1/x.jpg".into());
    write_urls(dir.path(), json!({"animal": {"Cat": urls}, "plant": {"Tulip": [server.url("img/2.jpg")]}}));
    let args = [
        "--data-dir",
        data,
        "--json",
        "download",
        "--timeout",
        "1",
        "--retries",
        "2",
        "--max-bytes",
        "1000000",
        "--rate",
        "0",
    ];
    let report = picseek_json(&args);
    assert_eq!(report["urls"], 15);

    let records = manifest(dir.path());
    assert_eq!(records.len(), 15, "one record per URL");
    let expect = |url_end: &str, status: &str, reason: Option<&str>, attempts: u64| {
        let r = record(&records, url_end);
        assert_eq!(r["status"], status, "{r}");
        assert_eq!(r["attempts"], attempts, "{r}");
        if let Some(reason) = reason {
            assert!(r["error"].as_str().unwrap().starts_with(&format!("{reason}:")), "{r}");
        }
    };
    expect("/img/1.jpg", "ok", None, 1);
    expect("/img/2.jpg", "ok", None, 1);
    expect("/a/photo.jpg", "ok", None, 1);
    expect("/b/photo.jpg", "ok", None, 1);
    expect("/missing.jpg", "failed", Some("http_404"), 1);
    expect("/flaky.jpg", "ok", None, 2);
    expect("/busy.jpg", "ok", None, 2);
    expect("/slow.jpg", "failed", Some("timeout"), 3);
    expect("/reset.jpg", "failed", None, 3);
    expect("/short.jpg", "failed", Some("truncated"), 3);
    expect("/page.jpg", "failed", Some("not_an_image"), 1);
    expect("/huge.jpg", "failed", Some("too_large"), 1);
    expect("/huge-chunked.jpg", "failed", Some("too_large"), 1);
    expect("/noai.jpg", "skipped", Some("noai"), 1);
    expect("ftp://127.0.0.1/x.jpg", "failed", Some("invalid_url"), 0);
    assert_eq!(record(&records, "/missing.jpg")["http_status"], 404);

    // Retry-After: 1 was honoured.
    let busy = server.request_times("busy.jpg");
    assert_eq!(busy.len(), 2);
    assert!(busy[1] - busy[0] >= Duration::from_millis(950), "{:?}", busy[1] - busy[0]);

    // Exactly the six images are on disk, complete, under names that never collide.
    let files = files_under(&dir.path().join("raw"));
    let images: Vec<&String> = files.keys().filter(|k| *k != "manifest.json" && *k != "opt-outs.json").collect();
    assert_eq!(images.len(), 6, "{images:?}");
    for r in records.iter().filter(|r| r["status"] == "ok") {
        let bytes = &files[r["path"].as_str().unwrap()];
        assert_eq!(bytes.len() as u64, r["bytes"].as_u64().unwrap());
        assert_eq!(picseek_manifest_sha(bytes), r["sha256"].as_str().unwrap());
    }
    let (a, b) = (record(&records, "/a/photo.jpg"), record(&records, "/b/photo.jpg"));
    assert_ne!(a["path"], b["path"]);
    assert_ne!(a["sha256"], b["sha256"]);
    assert!(a["path"].as_str().unwrap().starts_with("animal/Cat/"));

    // A re-run keeps what is done and retries only what failed.
    let again = picseek_json(&args);
    assert_eq!((again["reused"].as_u64(), again["attempted"].as_u64()), (Some(6), Some(9)));
    assert_eq!(files_under(&dir.path().join("raw")).len(), 8, "six images, the manifest and opt-outs.json");

    // The noai opt-out can be overridden, and the record says by what.
    let mut overriding = args.to_vec();
    overriding.push("--ignore-noai");
    picseek_json(&overriding);
    let records = manifest(dir.path());
    let noai = record(&records, "/noai.jpg");
    assert_eq!(noai["status"], "ok");
    assert_eq!(noai["opt_out"]["kind"], "noai", "{noai}");
    assert_eq!(noai["opt_out"]["overridden_by"], "--ignore-noai", "{noai}");
}

fn picseek_manifest_sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn requests_to_a_host_never_exceed_the_rate() {
    let server = ImageServer::start();
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = (0..12).map(|i| server.url(&format!("img/{i}.jpg"))).collect();
    write_urls(dir.path(), json!({"things": {"thing": urls}}));
    let rate = 4;
    let out = picseek(&["--data-dir", dir.path().to_str().unwrap(), "download", "--rate", "4", "--concurrency", "8"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The twelve images, and the host's robots.txt and tdmrep.json on the same pace.
    let times = server.all_request_times();
    assert_eq!(times.len(), 14);
    for window in times.windows(rate + 1) {
        let span = window[rate] - window[0];
        // Gross excess only: the exact rule is unit-tested on a paused clock.
        assert!(span >= Duration::from_millis(800), "{} requests within {span:?}", rate + 1);
    }
}

#[test]
fn a_run_killed_half_way_resumes_to_the_same_result() {
    let server = ImageServer::start();
    let urls: Vec<String> = (0..40).map(|i| server.url(&format!("slowimg/{i}.jpg"))).collect();
    let urls = json!({"things": {"thing": urls[..20], "other": urls[20..]}});
    let args = |data: &str| {
        vec![
            "--data-dir".to_owned(),
            data.to_owned(),
            "download".into(),
            "--rate".into(),
            "0".into(),
            "--concurrency".into(),
            "2".into(),
        ]
    };

    let whole = tempfile::tempdir().unwrap();
    write_urls(whole.path(), urls.clone());
    let whole_args = args(whole.path().to_str().unwrap());
    assert!(picseek(&whole_args.iter().map(String::as_str).collect::<Vec<_>>()).status.success());

    let killed = tempfile::tempdir().unwrap();
    write_urls(killed.path(), urls);
    let killed_args = args(killed.path().to_str().unwrap());
    let mut child =
        crate::support::picseek_command().args(&killed_args).stderr(std::process::Stdio::null()).spawn().unwrap();
    let raw = killed.path().join("raw/things");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while files_under_if_exists(&raw) < 6 {
        assert!(std::time::Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(files_under_if_exists(&raw) < 40, "the run was killed half-way");
    let resumed = picseek_json(&["--data-dir", killed.path().to_str().unwrap(), "--json", "download", "--rate", "0"]);
    assert!(resumed["reused"].as_u64().unwrap() >= 6, "{resumed}");

    let strip = |records: Vec<Value>| -> Vec<Value> {
        records
            .into_iter()
            .map(|mut r| {
                r.as_object_mut().unwrap().remove("attempts");
                r
            })
            .collect()
    };
    assert_eq!(strip(manifest(killed.path())), strip(manifest(whole.path())));
    // Everything but the opt-out summary, which says when each run read the host's robots.txt.
    let mut files = [files_under(&killed.path().join("raw")), files_under(&whole.path().join("raw"))];
    for f in &mut files {
        assert!(f.remove("opt-outs.json").is_some());
    }
    assert_eq!(files[0], files[1]);
}

/// Finished files under `dir` (a file still being written has a temporary name).
fn files_under_if_exists(dir: &Path) -> usize {
    if !dir.exists() {
        return 0;
    }
    let temporary =
        |name: &String| name.rsplit('/').next().is_some_and(|n| n.starts_with(picseek_manifest::TEMPORARY_PREFIX));
    files_under(dir).keys().filter(|name| !temporary(name)).count()
}
