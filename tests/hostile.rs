//! Hostile and careless input: links out of the data folder, folders that overlap,
//! pipes that close, images of absurd shape, reserved names, damaged or foreign index
//! files, FIFOs, a second writer, leftovers of killed runs, and requests from other
//! sites. Each case ends in a one-line error or a correct result, with nothing outside
//! the data folder changed and nothing done before lost.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::image_server::{ImageServer, jpeg};
use crate::support::{clip_test_model, index_pixel, picseek_command, picseek_fails, picseek_json, write_class};

/// Every file under `dir` with its contents, to compare before and after.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                pending.push(path);
            } else {
                files.push((path.clone(), std::fs::read(&path).unwrap_or_default()));
            }
        }
    }
    files.sort();
    files
}

/// An error is one line naming `needle`, with no panic.
fn assert_one_line(stderr: &str, needle: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("picseek:")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains(needle), "{stderr}");
}

/// A PNG of `width` x `height` pixels (a 1 x 100000 one compresses to a few KB).
fn thin_png(path: &Path, width: u32, height: u32) {
    image::RgbImage::from_pixel(width, height, image::Rgb([90, 90, 90])).save(path).unwrap();
}

#[test]
fn a_linked_folder_in_train_is_unlinked_not_emptied_or_filled() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_class(&data.join("clean"), "red", [200, 40, 40], 4, 1);
    let elsewhere = dir.path().join("my-photos");
    write_class(&elsewhere, "mine", [10, 200, 10], 2, 2);
    let before = snapshot(&elsewhere);
    std::fs::create_dir_all(data.join("train")).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("mine"), data.join("train/red")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, data.join("test")).unwrap_or(());

    // test/ itself is a link: refused before anything is touched.
    let err = picseek_fails(&["--data-dir", data.to_str().unwrap(), "split"]);
    assert_one_line(&err, "symbolic link");
    assert_eq!(snapshot(&elsewhere), before);

    std::fs::remove_file(data.join("test")).unwrap();
    picseek_json(&["--data-dir", data.to_str().unwrap(), "--json", "split"]);
    assert_eq!(snapshot(&elsewhere), before, "the linked folder is neither emptied nor filled");
    let train_red = std::fs::symlink_metadata(data.join("train/red")).unwrap();
    assert!(train_red.is_dir() && !train_red.file_type().is_symlink());
    assert_eq!(std::fs::read_dir(data.join("train/red")).unwrap().count(), 3);
}

#[test]
fn splitting_the_train_folder_is_refused_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_class(&dir.path().join("train"), "red", [200, 40, 40], 4, 1);
    let before = snapshot(&dir.path().join("train"));
    let train = dir.path().join("train");
    let err = picseek_fails(&["--data-dir", dir.path().to_str().unwrap(), "split", "--in", train.to_str().unwrap()]);
    assert_one_line(&err, "overlaps");
    assert_eq!(snapshot(&train), before);
}

#[test]
fn absurd_counts_are_refused_by_flag_name() {
    let dir = tempfile::tempdir().unwrap();
    write_class(&dir.path().join("clean"), "red", [200, 40, 40], 3, 1);
    let data = dir.path().to_str().unwrap();
    for flag in ["--train-per-class", "--test-per-class"] {
        let err = picseek_fails(&["--data-dir", data, "split", flag, "18446744073709551615"]);
        assert_one_line(&err, &format!("{flag} must be at most"));
    }
    assert!(!dir.path().join("train").exists(), "nothing was split");
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    write_class(&dir.path().join("train"), "red", [200, 40, 40], 12, 1);
    index_pixel(dir.path(), &[]);
    let query = dir.path().join("train/red/red_0.jpg");
    let data = dir.path().to_str().unwrap();
    for args in [
        vec!["--data-dir", data, "search", "--image", query.to_str().unwrap(), "-k", "10"],
        vec!["--data-dir", data, "eval", "--allow-stale", "--test", dir.path().join("train").to_str().unwrap()],
    ] {
        let mut child = picseek_command().args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        // The reader goes before picseek writes a line, as `| head -0` would.
        drop(child.stdout.take());
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        let status = child.wait().unwrap();
        assert!(status.success() && !stderr.contains("panicked"), "{args:?}: {status} {stderr}");
    }
}

#[test]
fn out_of_range_k_and_damaged_index_sizes_give_errors_not_aborts() {
    let dir = tempfile::tempdir().unwrap();
    write_class(&dir.path().join("train"), "red", [200, 40, 40], 4, 1);
    index_pixel(dir.path(), &[]);
    let data = dir.path().to_str().unwrap();
    let query = dir.path().join("train/red/red_0.jpg");
    let query = query.to_str().unwrap();

    let all = picseek_json(&["--data-dir", data, "--json", "search", "--image", query, "-k", "1000000000"]);
    assert_eq!(all["results"].as_array().unwrap().len(), 4, "k is bounded by the index's size");
    assert_one_line(&picseek_fails(&["--data-dir", data, "search", "--image", query, "-k", "0"]), "-k must be");
    assert_one_line(&picseek_fails(&["--data-dir", data, "eval", "-k", "0"]), "-k must be");
    let err = picseek_fails(&["--data-dir", data, "search", "--image", query, "--class", "rde"]);
    assert_one_line(&err, "did you mean \"red\"");

    let manifest_path = dir.path().join("index/index.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    manifest["image_size"] = 4_000_000_000u64.into();
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    for args in [vec!["--data-dir", data, "search", "--image", query], vec!["--data-dir", data, "eval"]] {
        assert_one_line(&picseek_fails(&args), "damaged");
    }
    manifest["image_size"] = 32.into();
    manifest["embedder"] = "resnet".into();
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    assert_one_line(&picseek_fails(&["--data-dir", data, "search", "--image", query]), "unknown variant `resnet`");
}

#[test]
fn a_fifo_is_never_opened_for_reading() {
    let dir = tempfile::tempdir().unwrap();
    write_class(&dir.path().join("train"), "red", [200, 40, 40], 3, 1);
    let fifo = dir.path().join("train/red/pipe.jpg");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let started = Instant::now();
    let report = index_pixel(dir.path(), &[]);
    assert_eq!(report["items"], 3);
    assert!(report["skipped"].to_string().contains("pipe.jpg"), "{report}");
    let err = picseek_fails(&["--data-dir", dir.path().to_str().unwrap(), "search", "--image", fifo.to_str().unwrap()]);
    assert_one_line(&err, "not a regular file");
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn reserved_and_overlong_terms_get_folders_of_their_own_and_complete() {
    let server = ImageServer::start();
    let dir = tempfile::tempdir().unwrap();
    let long_term = "t".repeat(300);
    let urls = serde_json::json!({
        "manifest.json": {"manifest.json": [server.url("img/1.jpg")]},
        "animal": {"Owl": [server.url("img/2.jpg")], (long_term.clone()): [server.url("img/3.jpg")]},
    });
    std::fs::write(dir.path().join("urls.json"), urls.to_string()).unwrap();
    let data = dir.path().to_str().unwrap();
    for run in 0..2 {
        let report = picseek_json(&["--data-dir", data, "--json", "download", "--rate", "0"]);
        assert_eq!(report["summary"]["ok"], 3, "run {run}: {report}");
        assert_eq!(report["attempted"], if run == 0 { 3 } else { 0 }, "run {run}: {report}");
        assert!(dir.path().join("raw/manifest.json").is_file());
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("raw/manifest.json")).unwrap()).unwrap();
    let terms: Vec<&str> = manifest.as_array().unwrap().iter().map(|r| r["term"].as_str().unwrap()).collect();
    assert!(terms.contains(&long_term.as_str()) && terms.contains(&"manifest.json"), "names kept as given");

    picseek_json(&["--data-dir", data, "--json", "clean"]);
    assert!(dir.path().join("clean/manifest.json").is_file());
    let report = picseek_json(&["--data-dir", data, "--json", "clean"]);
    assert_eq!((report["summary"]["kept"].as_u64(), report["reused"].as_u64()), (Some(3), Some(3)), "{report}");
}

#[test]
fn a_second_writer_is_refused_naming_the_first_and_readers_go_on() {
    let dir = tempfile::tempdir().unwrap();
    write_class(&dir.path().join("train"), "red", [200, 40, 40], 3, 1);
    index_pixel(dir.path(), &[]);
    let lock = std::fs::OpenOptions::new().write(true).open(dir.path().join(".picseek.lock")).unwrap();
    lock.try_lock().unwrap();
    std::fs::write(dir.path().join(".picseek.lock"), b"pid 4242, picseek index").unwrap();
    let data = dir.path().to_str().unwrap();
    for command in ["index", "download", "clean", "split"] {
        let err = picseek_fails(&["--data-dir", data, command]);
        assert_one_line(&err, "in use by another picseek (pid 4242, picseek index)");
    }
    let query = dir.path().join("train/red/red_0.jpg");
    picseek_json(&["--data-dir", data, "--json", "search", "--image", query.to_str().unwrap()]);
    drop(lock);
    index_pixel(dir.path(), &[]);
}

#[test]
fn leftovers_of_killed_runs_are_removed_by_the_next_run() {
    let server = ImageServer::start();
    let dir = tempfile::tempdir().unwrap();
    let urls = serde_json::json!({"animal": {"Owl": [server.url("img/1.jpg")]}});
    std::fs::write(dir.path().join("urls.json"), urls.to_string()).unwrap();
    let leftovers = [
        dir.path().join("raw/animal/Owl/.picseek-tmp-abc"),
        dir.path().join("raw/.picseek-tmp-manifest"),
        dir.path().join("index/.picseek-tmp-vectors-x"),
    ];
    for path in &leftovers {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, jpeg([1, 2, 3], 1)).unwrap();
    }
    let data = dir.path().to_str().unwrap();
    picseek_json(&["--data-dir", data, "--json", "download", "--rate", "0"]);
    picseek_json(&["--data-dir", data, "--json", "clean"]);
    write_class(&dir.path().join("train"), "red", [200, 40, 40], 2, 1);
    index_pixel(dir.path(), &[]);
    for path in &leftovers {
        assert!(!path.exists(), "{} is left", path.display());
    }
}

#[test]
fn clip_survives_thin_images_damaged_graphs_and_keeps_telemetry_off() {
    let model = clip_test_model();
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    write_class(&dir.path().join("train"), "red", [200, 40, 40], 4, 1);
    let thin = dir.path().join("train/red/thin.png");
    thin_png(&thin, 1, 100_000);
    let data = dir.path().to_str().unwrap();
    let model = model.to_str().unwrap();
    let run = |args: &[&str]| picseek_command().args(args).env("HOME", home.path()).output().unwrap();

    let out = run(&["--data-dir", data, "--json", "index", "--model", model]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["items"], 4, "{report}");
    assert!(report["skipped"].to_string().contains("too_large"), "{report}");

    let out = run(&["--data-dir", data, "search", "--model", model, "--image", thin.to_str().unwrap()]);
    assert!(!out.status.success());
    assert_one_line(&String::from_utf8_lossy(&out.stderr), "would be resized to");
    let query = dir.path().join("train/red/red_0.jpg");
    let out = run(&[
        "--data-dir",
        data,
        "--json",
        "search",
        "--model",
        model,
        "--image",
        query.to_str().unwrap(),
        "-k",
        "1000000000",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A graph damaged in place keeps its name; a rebuild must replace it all the same.
    let graph = std::fs::read_dir(dir.path().join("index"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "usearch"))
        .unwrap();
    std::fs::write(&graph, b"garbage").unwrap();
    let out = run(&["--data-dir", data, "search", "--model", model, "--image", query.to_str().unwrap()]);
    assert!(!out.status.success());
    let out = run(&["--data-dir", data, "--json", "index", "--model", model, "--rebuild"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["--data-dir", data, "--json", "search", "--model", model, "--image", query.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    assert!(!home.path().join(".cache/Microsoft").exists(), "ONNX Runtime wrote telemetry under HOME");
}

#[test]
fn a_library_in_the_current_directory_is_never_loaded() {
    let model = clip_test_model();
    let dir = tempfile::tempdir().unwrap();
    write_class(&dir.path().join("data/train"), "red", [200, 40, 40], 2, 1);
    let planted = dir.path().join(".local/onnxruntime/lib/libonnxruntime.so");
    std::fs::create_dir_all(planted.parent().unwrap()).unwrap();
    std::fs::write(&planted, b"not a library: loading it would fail").unwrap();
    let out = picseek_command()
        .current_dir(dir.path())
        .args(["--data-dir", "data", "--json", "index", "--model", model.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_server_answers_only_its_own_host_and_origin() {
    let dir = tempfile::tempdir().unwrap();
    write_class(&dir.path().join("train"), "red", [200, 40, 40], 3, 1);
    index_pixel(dir.path(), &[]);
    let server = crate::serve::spawn_server(dir.path(), &[]);
    let base = server.base.clone();
    let client = reqwest::blocking::Client::new();
    let get = |host: Option<&str>, origin: Option<&str>| {
        let mut request = client.get(format!("{base}/api/info"));
        if let Some(host) = host {
            request = request.header("host", host);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send().unwrap().status().as_u16()
    };
    let port = base.rsplit(':').next().unwrap();
    assert_eq!(get(None, None), 200);
    assert_eq!(get(Some(&format!("localhost:{port}")), Some(&format!("http://localhost:{port}"))), 200);
    assert_eq!(get(Some("evil.example"), None), 403, "DNS rebinding");
    assert_eq!(get(None, Some("http://evil.example")), 403, "another site's page");

    // Clients that open a connection and never finish their headers are cut off, and
    // meanwhile everyone else is answered.
    let addr = base.trim_start_matches("http://").to_owned();
    let stalled: Vec<std::net::TcpStream> = (0..300)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(&addr).unwrap();
            std::io::Write::write_all(&mut stream, b"GET /api/info HTTP/1.1\r\n").unwrap();
            stream
        })
        .collect();
    let started = Instant::now();
    assert_eq!(get(None, None), 200);
    assert!(started.elapsed() < Duration::from_secs(5), "answered in {:?}", started.elapsed());
    let mut first = &stalled[0];
    first.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buffer = Vec::new();
    let closed_after = Instant::now();
    let _ = first.read_to_end(&mut buffer);
    assert!(
        closed_after.elapsed() < Duration::from_secs(25),
        "a stalled client was kept for {:?}",
        closed_after.elapsed()
    );
    drop(server);
}
