//! The tutorial's basic retrieval end to end through the real binary: split a folder of
//! class images, index it with the pixel embedder, search it with every metric,
//! evaluate it, extend it incrementally, and survive bad input.

use std::path::Path;

use crate::support::{index_pixel, oversized_png_header, picseek_fails, picseek_json, write_class};
use serde_json::Value;

const CLASSES: [(&str, [u8; 3]); 3] = [("red", [220, 40, 40]), ("green", [40, 200, 60]), ("blue", [40, 60, 220])];

fn make_clean(data: &Path, per_class: usize) {
    for (i, (class, colour)) in CLASSES.iter().enumerate() {
        write_class(&data.join("clean"), class, *colour, per_class, i as u64);
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `picseek search --json --image query` over `data` with `extra` flags.
fn search_json(data: &Path, query: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["--data-dir", s(data), "--json", "search", "--image", s(query)];
    args.extend_from_slice(extra);
    picseek_json(&args)
}

#[test]
fn split_index_search_eval_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    make_clean(data, 7);

    let split_args =
        ["--data-dir", s(data), "--json", "split", "--test-per-class", "2", "--train-per-class", "0", "--seed", "3"];
    let split = picseek_json(&split_args);
    for (class, _) in CLASSES {
        assert_eq!(split["classes"][class]["test"].as_array().unwrap().len(), 2);
        assert_eq!(split["classes"][class]["train"].as_array().unwrap().len(), 5);
        assert_eq!(std::fs::read_dir(data.join("train").join(class)).unwrap().count(), 5);
        assert_eq!(std::fs::read_dir(data.join("test").join(class)).unwrap().count(), 2);
    }
    let again = picseek_json(&split_args);
    assert_eq!(split["classes"], again["classes"], "the same input and seed give the same split");
    assert_eq!((again["placed"].as_u64(), again["removed"].as_u64()), (Some(0), Some(0)));

    let report = index_pixel(data, &[]);
    assert_eq!((report["items"].as_u64(), report["embedded"].as_u64()), (Some(15), Some(15)));
    let manifest: Value = serde_json::from_slice(&std::fs::read(data.join("index/index.json")).unwrap()).unwrap();
    assert_eq!(manifest["embedder"], "pixel");
    assert_eq!(manifest["dimension"], 32 * 32 * 3);
    assert_eq!(manifest["items"].as_array().unwrap().len(), 15);
    assert!(manifest["items"][0]["path"].as_str().unwrap().starts_with("train/"));

    for (class, _) in CLASSES {
        let query_name = split["classes"][class]["test"][0].as_str().unwrap();
        let query = data.join("test").join(class).join(query_name);
        for metric in ["l1", "l2", "cosine", "correlation"] {
            let out = search_json(data, &query, &["--metric", metric, "-k", "4"]);
            assert_eq!(out["metric"], metric);
            let results = out["results"].as_array().unwrap();
            assert_eq!(results.len(), 4);
            for (i, hit) in results.iter().enumerate() {
                assert_eq!(hit["rank"], i + 1);
                assert_eq!(hit["class"], class, "{metric}: {hit}");
                assert!(Path::new(hit["path"].as_str().unwrap()).exists(), "result path must open: {hit}");
            }
            let scores: Vec<f64> = results.iter().map(|h| h["score"].as_f64().unwrap()).collect();
            let sorted = if metric == "cosine" || metric == "correlation" {
                scores.windows(2).all(|w| w[0] >= w[1])
            } else {
                scores.windows(2).all(|w| w[0] <= w[1])
            };
            assert!(sorted, "{metric} scores out of order: {scores:?}");
        }
    }

    let eval = picseek_json(&["--data-dir", s(data), "--json", "eval", "--metric", "all", "-k", "3"]);
    assert_eq!(eval["queries"], 6);
    let metrics = eval["metrics"].as_array().unwrap();
    assert_eq!(metrics.len(), 4);
    for m in metrics {
        assert_eq!(m["precision_at_1"], 1.0, "{m}");
        assert_eq!(m["precision_at_k"], 1.0, "{m}");
        assert_eq!(m["mean_average_precision"], 1.0, "{m}");
        assert!(m["queries_per_second"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn searching_an_identical_image_ranks_it_first_with_a_perfect_score() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    make_clean(data, 3);
    index_pixel(data, &["--train", s(&data.join("clean"))]);
    let query = data.join("clean/green/green_1.png");
    for (metric, perfect) in [("l1", 0.0), ("l2", 0.0), ("cosine", 1.0), ("correlation", 1.0)] {
        let out = search_json(data, &query, &["--metric", metric, "-k", "1"]);
        let hit = &out["results"][0];
        assert!(hit["path"].as_str().unwrap().ends_with("clean/green/green_1.png"), "{metric}: {hit}");
        assert!((hit["score"].as_f64().unwrap() - perfect).abs() < 1e-6, "{metric}: {hit}");
    }
}

#[test]
fn reindexing_embeds_only_new_images_and_refuses_other_preprocessing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    make_clean(data, 4);
    let train = data.join("clean");
    let first = index_pixel(data, &["--train", s(&train)]);
    assert_eq!((first["embedded"].as_u64(), first["reused"].as_u64()), (Some(12), Some(0)));

    let again = index_pixel(data, &["--train", s(&train)]);
    assert_eq!((again["embedded"].as_u64(), again["reused"].as_u64()), (Some(0), Some(12)));

    write_class(&train, "yellow", [230, 220, 30], 2, 9);
    let grown = index_pixel(data, &["--train", s(&train)]);
    assert_eq!(
        (grown["items"].as_u64(), grown["embedded"].as_u64(), grown["reused"].as_u64()),
        (Some(14), Some(2), Some(12))
    );
    let vector_files = std::fs::read_dir(data.join("index"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("vectors-"));
    assert_eq!(vector_files.count(), 1, "replaced vector files are removed");

    let stderr = picseek_fails(&[
        "--data-dir",
        s(data),
        "index",
        "--embedder",
        "pixel",
        "--pixel-size",
        "16",
        "--train",
        s(&train),
    ]);
    assert!(stderr.contains("--rebuild") && stderr.contains("32x32"), "{stderr}");
    let rebuilt = index_pixel(data, &["--train", s(&train), "--rebuild"]);
    assert_eq!(rebuilt["embedded"].as_u64(), Some(14));
}

#[test]
fn bad_files_are_named_skipped_and_counted_while_the_rest_is_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    make_clean(data, 3);
    let train = data.join("clean");
    let red = train.join("red");
    std::fs::write(red.join("corrupt.jpg"), b"\xff\xd8\xff\xe0 this is not really a jpeg").unwrap();
    std::fs::write(red.join("page.jpg"), b"<!doctype html><html>404 not found</html>").unwrap();
    std::fs::write(red.join("zero.png"), b"").unwrap();
    std::fs::write(red.join("huge.png"), oversized_png_header(60_000)).unwrap();
    std::os::unix::fs::symlink(data.join("nowhere.jpg"), red.join("dangling.jpg")).unwrap();
    std::fs::create_dir_all(train.join("empty")).unwrap();

    let out = crate::support::picseek(&[
        "--data-dir",
        s(data),
        "--json",
        "index",
        "--embedder",
        "pixel",
        "--pixel-size",
        "32",
        "--train",
        s(&train),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["items"], 9);
    let reasons: Vec<(String, String)> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let path = s["path"].as_str().unwrap();
            (
                Path::new(path).file_name().unwrap().to_string_lossy().into_owned(),
                s["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("corrupt.jpg", "undecodable"),
        ("page.jpg", "undecodable"),
        ("zero.png", "empty"),
        ("huge.png", "too_large"),
        ("dangling.jpg", "unreadable"),
    ] {
        assert!(reasons.contains(&(expected.0.to_owned(), expected.1.to_owned())), "{expected:?} not in {reasons:?}");
    }
    assert_eq!(reasons.len(), 5, "an empty folder holds nothing to skip: {reasons:?}");
    // One line sums them up; -v names each.
    let index = ["index", "--train", s(&train)];
    let quiet = crate::support::picseek(&[&["--data-dir", s(data)][..], &index].concat());
    let stdout = String::from_utf8_lossy(&quiet.stdout);
    assert!(
        stdout.contains("skipped: 1 empty, 1 too_large, 2 undecodable, 1 unreadable (-v names each file)"),
        "{stdout}"
    );
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("corrupt.jpg"));
    // (RUST_LOG would override -v.)
    let verbose = crate::support::picseek_command()
        .env_remove("RUST_LOG")
        .args([&["-v", "--data-dir", s(data)][..], &index].concat())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&verbose.stderr);
    for name in ["corrupt.jpg", "page.jpg", "zero.png", "huge.png", "dangling.jpg"] {
        assert!(stderr.contains(name), "-v names {name}: {stderr}");
    }
}

#[test]
fn classes_with_too_few_images_are_reported_not_dropped_silently() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    make_clean(data, 4);
    write_class(&data.join("clean"), "single", [128, 128, 128], 1, 5);
    let split = picseek_json(&["--data-dir", s(data), "--json", "split"]);
    assert!(split["skipped_classes"]["single"].as_str().unwrap().contains("has 1 image"));
    assert_eq!(split["classes"].as_object().unwrap().len(), 3);
    let out = crate::support::picseek(&["--data-dir", s(data), "split"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("left out class single"));
}
