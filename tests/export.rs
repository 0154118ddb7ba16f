//! `picseek export`: each format read back by the client people train with (Hugging Face
//! `datasets`, `webdataset`, in the set-up venv: tests/reference/read_export.py), the
//! licence filter and its card, a killed export finished by a re-run, and bad input.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{clip_test_model, picseek_fails, picseek_json, repo_root, write_class};

/// A split data directory: two classes on each side, with provenance for some images
/// (CC BY, all rights reserved) and none for the rest.
fn split_data(data: &Path) {
    for side in ["train", "test"] {
        let n = if side == "train" { 6 } else { 2 };
        write_class(&data.join(side), "red", [220, 40, 40], n, if side == "train" { 1 } else { 2 });
        write_class(&data.join(side), "blue", [40, 60, 220], n, if side == "train" { 3 } else { 4 });
        let mut provenance = serde_json::Map::new();
        for class in ["red", "blue"] {
            let mut files: Vec<String> = std::fs::read_dir(data.join(side).join(class))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            for (i, file) in files.iter().enumerate().filter(|(i, _)| i % 3 != 2) {
                let (id, code, name) = if i % 3 == 0 {
                    (4, "cc-by", "CC BY 2.0")
                } else {
                    (0, "all-rights-reserved", "All Rights Reserved")
                };
                provenance.insert(
                    format!("{class}/{file}"),
                    json!([{"url": format!("https://live.staticflickr.com/1/{file}"), "page": format!("https://www.flickr.com/photos/o/{i}"),
                            "owner": "o", "owner_name": format!("Owner {i}"), "license": {"id": id, "code": code, "name": name}}]),
                );
            }
        }
        std::fs::create_dir_all(data.join("provenance")).unwrap();
        std::fs::write(data.join(format!("provenance/{side}.json")), Value::Object(provenance).to_string()).unwrap();
    }
}

/// `picseek export --format FORMAT --out OUT EXTRA…` over `data`, as JSON.
fn export(data: &Path, format: &str, out: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "--data-dir",
        data.to_str().unwrap(),
        "--json",
        "export",
        "--format",
        format,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    picseek_json(&args)
}

fn read_back(kind: &str, dir: &Path) -> Value {
    let out = std::process::Command::new(repo_root().join(".venv/bin/python"))
        .arg(repo_root().join("tests/reference/read_export.py"))
        .args([kind, dir.to_str().unwrap()])
        .output()
        .expect("the venv's python runs");
    assert!(out.status.success(), "{kind}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn an_imagefolder_opens_in_datasets_with_labels_splits_licences_and_a_card() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    split_data(&data);
    let d = data.to_str().unwrap();
    let out = dir.path().join("hf");
    let report = export(&data, "imagefolder", &out, &[]);
    // 2 in 3 images have a known licence; the others are left out by default.
    assert_eq!(
        (report["samples"]["train"].as_u64(), report["samples"]["test"].as_u64()),
        (Some(8), Some(4)),
        "{report}"
    );
    assert_eq!(report["left_out"]["unknown"], 4, "{report}");
    let seen = read_back("imagefolder", &out);
    assert_eq!((seen["train"]["rows"].as_u64(), seen["test"]["rows"].as_u64()), (Some(8), Some(4)), "{seen}");
    assert_eq!(seen["train"]["labels"], json!(["blue", "red"]));
    assert_eq!(seen["train"]["licenses"], json!(["all-rights-reserved", "cc-by"]));
    assert_eq!(seen["train"]["sizes_match"], true);
    for column in [
        "image",
        "label",
        "source_url",
        "page",
        "owner_name",
        "license_name",
        "license_url",
        "sha256",
        "width",
        "height",
        "quality_flags",
    ] {
        assert!(seen["train"]["columns"].as_array().unwrap().iter().any(|c| c == column), "{column}: {seen}");
    }
    let card = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(
        card.starts_with("---\nlicense: other\n") && card.contains("task_categories:\n- image-classification"),
        "{card}"
    );
    assert!(card.contains("photos whose licence is unknown were left out"), "{card}");
    assert!(card.contains("class_names:\n- \"blue\"\n- \"red\"\n---"), "{card}");
    assert!(
        card.contains("asks for attribution")
            && card.contains("by Owner 0 (CC BY 2.0) — https://www.flickr.com/photos/o/0"),
        "{card}"
    );

    // The licence filter, and the same folder brought up to date.
    let by = export(&data, "imagefolder", &out, &["--license", "cc-by"]);
    assert_eq!(by["samples"]["train"], 4, "{by}");
    assert_eq!(read_back("imagefolder", &out)["train"]["licenses"], json!(["cc-by"]));
    let all = export(&data, "imagefolder", &out, &["--include-unknown"]);
    assert_eq!(all["samples"]["train"], 12, "{all}");

    // Bad input: one line, nothing touched.
    let taken = dir.path().join("taken");
    std::fs::create_dir_all(&taken).unwrap();
    std::fs::write(taken.join("notes.txt"), b"mine").unwrap();
    let err = picseek_fails(&["--data-dir", d, "export", "--format", "imagefolder", "--out", taken.to_str().unwrap()]);
    assert!(err.contains("not empty and not an earlier picseek export"), "{err}");
    assert_eq!(std::fs::read_dir(&taken).unwrap().count(), 1);
    let err = picseek_fails(&["--data-dir", d, "export", "--format", "webdataset", "--out", out.to_str().unwrap()]);
    assert!(err.contains("holds a imagefolder export"), "{err}");
    let empty = dir.path().join("empty-data");
    std::fs::create_dir_all(&empty).unwrap();
    let err = picseek_fails(&["--data-dir", empty.to_str().unwrap(), "export", "--format", "imagefolder"]);
    assert!(err.contains("train: no such folder; run `picseek split` first"), "{err}");
}

#[test]
fn webdataset_shards_stream_every_sample_and_a_killed_export_is_finished() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    split_data(&data);
    let d = data.to_str().unwrap();
    let out = dir.path().join("wds");
    let args = [
        "--data-dir",
        d,
        "--json",
        "export",
        "--format",
        "webdataset",
        "--out",
        out.to_str().unwrap(),
        "--include-unknown",
        "--shard-size",
        "5",
    ];
    let first = picseek_json(&args);
    assert_eq!(first["samples"]["train"], 12, "{first}");
    let seen = read_back("webdataset", &out);
    assert_eq!(seen["train"], json!({"shards": 3, "samples": 12}), "{seen}");
    assert_eq!(seen["test"], json!({"shards": 1, "samples": 4}), "{seen}");

    // As a kill leaves it: a shard gone, a half-written one under a temporary name.
    std::fs::remove_file(out.join("train-000001.tar")).unwrap();
    std::fs::write(out.join(".picseek-tmp-train-000001.tar"), b"half a shard").unwrap();
    let again = picseek_json(&args);
    assert_eq!(again["reused"], 3, "the whole shards are kept: {again}");
    assert!(!out.join(".picseek-tmp-train-000001.tar").exists());
    assert_eq!(read_back("webdataset", &out)["train"], json!({"shards": 3, "samples": 12}));
}

#[test]
fn parquet_reads_in_pyarrow_and_embeddings_in_numpy() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    split_data(&data);
    let d = data.to_str().unwrap();
    let out = dir.path().join("pq");
    let report = export(&data, "parquet", &out, &["--include-unknown", "--shard-size", "5"]);
    assert_eq!(report["samples"]["train"], 12, "{report}");
    let seen = read_back("parquet", &out);
    assert_eq!((seen["train"]["rows"].as_u64(), seen["train"]["row_groups"].as_u64()), (Some(12), Some(3)), "{seen}");
    assert_eq!(seen["train"]["sha256_match"], true, "the image bytes are the files': {seen}");
    assert_eq!(seen["test"]["labels"], json!(["blue", "red"]));
    for column in ["image", "file_name", "label", "license", "owner_name", "sha256", "width", "height", "quality_flags"]
    {
        assert!(seen["train"]["columns"].as_array().unwrap().iter().any(|c| c == column), "{column}: {seen}");
    }

    // Embeddings come from a CLIP index.
    let err = picseek_fails(&[
        "--data-dir",
        d,
        "export",
        "--format",
        "embeddings",
        "--out",
        dir.path().join("none").to_str().unwrap(),
    ]);
    assert!(err.contains("no index here") && err.contains("run `picseek index` first"), "{err}");
    let model = clip_test_model();
    picseek_json(&["--data-dir", d, "--json", "index", "--model", model.to_str().unwrap()]);
    let emb = dir.path().join("emb");
    let report = export(&data, "embeddings", &emb, &[]);
    assert_eq!(report["samples"]["index"], 12, "{report}");
    let seen = read_back("embeddings", &emb);
    assert_eq!(seen["dtype"], "float32");
    assert_eq!(seen["shape"][0], 12, "{seen}");
    assert_eq!((seen["unit_length"].as_bool(), seen["paths_exist"].as_bool()), (Some(true), Some(true)), "{seen}");
    assert_eq!(seen["metadata_rows"], 12);
}
