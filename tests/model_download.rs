//! `scripts/download-clip.sh` against a Hugging Face-like hub on 127.0.0.1: it installs
//! only files that match the hub's published checksums (and the pinned ones), all or
//! nothing, and leaves a complete model folder alone.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use crate::support::model_hub::{HubFile, ModelHub};
use crate::support::{clip_test_model, immich_test_model, repo_root};

/// The commit the script downloads by default, whose model file's SHA-256 it pins.
const PINNED_REVISION: &str = "4c1807b705b1d015fb032789cc4d221b23025a6f";

/// The hub's files: the test model laid out as the real export is.
fn export_files() -> BTreeMap<String, HubFile> {
    let model = clip_test_model();
    let read = |name: &str| std::fs::read(model.join(name)).unwrap();
    BTreeMap::from([
        ("onnx/vision_model.onnx".into(), HubFile::honest(read("vision_model.onnx"), true)),
        ("onnx/text_model.onnx".into(), HubFile::honest(read("text_model.onnx"), true)),
        ("tokenizer.json".into(), HubFile::honest(read("tokenizer.json"), false)),
        ("preprocessor_config.json".into(), HubFile::honest(read("preprocessor_config.json"), false)),
    ])
}

/// Runs the script against the hub at `hub_url`, downloading `revision` (the pinned
/// default when `None`) into `dest`.
fn download(hub_url: &str, revision: Option<&str>, dest: &Path) -> Output {
    download_with(hub_url, revision, dest, &[])
}

fn download_with(hub_url: &str, revision: Option<&str>, dest: &Path, args: &[&str]) -> Output {
    let mut script = std::process::Command::new("bash");
    script
        .arg(repo_root().join("scripts/download-clip.sh"))
        .args(args)
        .env("CLIP_HUB_URL", hub_url)
        .env("CLIP_DEST", dest);
    match revision {
        Some(revision) => script.env("CLIP_REVISION", revision),
        None => script.env_remove("CLIP_REVISION"),
    };
    script.output().expect("bash runs")
}

/// Indexes two images under `models/data` with the model downloaded into `dest`.
fn index_with(models: &Path, dest: &Path, extra: &[&str]) -> serde_json::Value {
    crate::support::write_class(&models.join("data/train"), "red", [200, 40, 40], 2, 1);
    let data_dir = models.join("data");
    let mut args = vec!["--data-dir", data_dir.to_str().unwrap(), "--json", "index", "--model", dest.to_str().unwrap()];
    args.extend_from_slice(extra);
    crate::support::picseek_json(&args)
}

/// Names in `dir`, sorted (temporary download folders included).
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn installs_verified_files_then_leaves_a_complete_folder_alone() {
    let hub = ModelHub::start("test-revision", export_files());
    let models = tempfile::tempdir().unwrap();
    let dest = models.path().join("clip");

    let out = download(&hub.url(), Some("test-revision"), &dest);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let model = clip_test_model();
    for name in ["vision_model.onnx", "text_model.onnx", "tokenizer.json", "preprocessor_config.json"] {
        assert_eq!(std::fs::read(dest.join(name)).unwrap(), std::fs::read(model.join(name)).unwrap(), "{name}");
    }
    // SHA256SUMS is in sha256sum's own format, so users can check the folder themselves.
    let check = std::process::Command::new("sha256sum").args(["--check", "SHA256SUMS"]).current_dir(&dest).output();
    assert!(check.unwrap().status.success());
    assert_eq!(listing(models.path()), ["clip"], "no temporary folder is left behind");
    // The downloaded folder is a working model.
    index_with(models.path(), &dest, &[]);

    let requests = hub.requests().len();
    let again = download(&hub.url(), Some("test-revision"), &dest);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(hub.requests().len(), requests, "a complete folder is not downloaded again");

    // A damaged file makes the folder incomplete: the next run downloads it again.
    std::fs::write(dest.join("text_model.onnx"), b"damaged").unwrap();
    let repaired = download(&hub.url(), Some("test-revision"), &dest);
    assert!(repaired.status.success(), "{}", String::from_utf8_lossy(&repaired.stderr));
    assert_eq!(
        std::fs::read(dest.join("text_model.onnx")).unwrap(),
        std::fs::read(model.join("text_model.onnx")).unwrap()
    );
}

#[test]
fn int8_brings_the_export_s_int8_encoders_and_they_index() {
    let model = clip_test_model();
    let mut files = export_files();
    for name in ["vision_model_quantized.onnx", "text_model_quantized.onnx"] {
        files.insert(format!("onnx/{name}"), HubFile::honest(std::fs::read(model.join(name)).unwrap(), true));
    }
    let hub = ModelHub::start("test-revision", files);
    let models = tempfile::tempdir().unwrap();
    let dest = models.path().join("clip");
    let out = download_with(&hub.url(), Some("test-revision"), &dest, &["--int8"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for name in ["vision_model_quantized.onnx", "text_model_quantized.onnx", "vision_model.onnx"] {
        assert_eq!(std::fs::read(dest.join(name)).unwrap(), std::fs::read(model.join(name)).unwrap(), "{name}");
    }
    let index = index_with(models.path(), &dest, &["--precision", "int8"]);
    assert_eq!(index["embedded"], 2, "{index}");
    let bad = download_with(&hub.url(), Some("test-revision"), &dest, &["--fp16"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("[--int8] [--immich NAME]"));
}

#[test]
fn a_file_that_does_not_match_its_published_checksum_installs_nothing() {
    for (corrupted, lfs) in [("onnx/text_model.onnx", true), ("tokenizer.json", false)] {
        let mut files = export_files();
        let file = files.get_mut(corrupted).unwrap();
        file.served.truncate(file.served.len() / 2);
        let hub = ModelHub::start("test-revision", files);
        let models = tempfile::tempdir().unwrap();
        let dest = models.path().join("clip");
        std::fs::create_dir(&dest).unwrap();
        std::fs::write(dest.join("vision_model.onnx"), b"an earlier download").unwrap();

        let out = download(&hub.url(), Some("test-revision"), &dest);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        let kind = if lfs { "sha256" } else { "git-blob" };
        assert!(err.contains(corrupted) && err.contains(kind) && err.contains("nothing installed"), "{err}");
        assert_eq!(listing(&dest), ["vision_model.onnx"], "nothing was installed");
        assert_eq!(std::fs::read(dest.join("vision_model.onnx")).unwrap(), b"an earlier download");
        assert_eq!(listing(models.path()), ["clip"], "no temporary folder is left behind");
    }
}

#[test]
fn the_default_revision_refuses_a_model_file_that_differs_from_the_pinned_sum() {
    // The hub is consistent with itself, but the model file is not the pinned one.
    let hub = ModelHub::start(PINNED_REVISION, export_files());
    let models = tempfile::tempdir().unwrap();
    let dest = models.path().join("clip");
    let out = download(&hub.url(), None, &dest);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("onnx/vision_model.onnx") && err.contains("pinned"), "{err}");
    assert!(!dest.exists());
}

#[test]
fn an_unreachable_hub_fails_fast_and_names_the_url() {
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let models = tempfile::tempdir().unwrap();
    let out = download(&format!("http://127.0.0.1:{port}"), None, &models.path().join("clip"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}/api/models/")), "{err}");
    assert_eq!(listing(models.path()), Vec::<String>::new());
}

#[test]
fn an_immich_model_is_fetched_at_the_commit_main_is_at_checked_and_indexes() {
    let name = "ViT-B-32__openai";
    let model = immich_test_model(name);
    let files: BTreeMap<String, HubFile> = [
        ("config.json", false),
        ("visual/model.onnx", true),
        ("visual/preprocess_cfg.json", false),
        ("textual/model.onnx", true),
        ("textual/tokenizer.json", false),
        ("textual/tokenizer_config.json", false),
    ]
    .into_iter()
    .map(|(path, lfs)| (path.to_owned(), HubFile::honest(std::fs::read(model.join(path)).unwrap(), lfs)))
    .collect();
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let hub = ModelHub::start_repo(&format!("immich-app/{name}"), commit, files);
    let models = tempfile::tempdir().unwrap();
    let dest = models.path().join(name);

    let out = download_with(&hub.url(), None, &dest, &["--immich", name]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(&format!("main is at {commit}")), "{err}");
    for path in ["visual/model.onnx", "textual/tokenizer.json", "config.json"] {
        assert_eq!(std::fs::read(dest.join(path)).unwrap(), std::fs::read(model.join(path)).unwrap(), "{path}");
    }
    let source: serde_json::Value = serde_json::from_slice(&std::fs::read(dest.join("SOURCE.json")).unwrap()).unwrap();
    assert_eq!(source["revision"], commit);
    assert_eq!(source["repo"], format!("immich-app/{name}"));
    let check = std::process::Command::new("sha256sum").args(["--check", "SHA256SUMS"]).current_dir(&dest).output();
    assert!(check.unwrap().status.success());
    let index = index_with(models.path(), &dest, &[]);
    assert_eq!(index["embedded"], 2, "{index}");

    // Complete: nothing is asked of the hub again, not even where main is.
    let requests = hub.requests().len();
    let again = download_with(&hub.url(), None, &dest, &["--immich", name]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(hub.requests().len(), requests);

    let typo = download_with(&hub.url(), None, &models.path().join("x"), &["--immich", "ViT-B-32__opnai"]);
    let err = String::from_utf8_lossy(&typo.stderr);
    assert_eq!(typo.status.code(), Some(2), "{err}");
    assert!(err.contains("not one of Immich's CLIP models") && err.contains("ViT-B-32__openai"), "{err}");
}
