//! `picseek run`: the whole pipeline against the Flickr-like fixture site (whose photos
//! are real images, one colour per term) in real Chromium, with the pixel embedder; then
//! again after adding a category, doing only the new work.

use std::path::Path;

use crate::support::flickr_site::{FlickrSite, colour_for};
use crate::support::picseek_json;
use serde_json::{Value, json};

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn the_whole_pipeline_runs_and_a_second_run_does_only_new_work() {
    let terms = ["Cat", "Fox", "Tulip"];
    let colours: std::collections::HashSet<[u8; 3]> = terms.iter().map(|t| colour_for(t)).collect();
    assert_eq!(colours.len(), 3, "the fixture gives each test term its own colour");

    let site = FlickrSite::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let categories = data.join("categories.json");
    std::fs::write(&categories, json!({"animal": ["Cat", "Fox"]}).to_string()).unwrap();
    let template = site.url_template();
    let args = [
        "--data-dir",
        data.to_str().unwrap(),
        "--json",
        "run",
        "--categories",
        categories.to_str().unwrap(),
        "--url-template",
        &template,
        "--photo-host",
        "127.0.0.1",
        "--rate",
        "20",
        "--max-per-term",
        "8",
        "--download-rate",
        "0",
        "--embedder",
        "pixel",
        "--pixel-size",
        "32",
        "--test-per-class",
        "2",
        "--train-per-class",
        "0",
    ];
    let first = picseek_json(&args);
    let summary = &first["summary"];
    assert_eq!(summary["urls_found"], 16, "{summary}");
    assert_eq!(summary["downloaded"], 16, "{summary}");
    assert_eq!(summary["kept"], 16, "{summary}");
    assert_eq!(summary["classes"], 2, "{summary}");
    assert_eq!(summary["indexed"], 12, "{summary}");

    // Every stage's manifest is on disk and agrees.
    assert_eq!(read(&data.join("urls.json"))["animal"]["Cat"].as_array().unwrap().len(), 8);
    let raw: Vec<Value> = serde_json::from_value(read(&data.join("raw/manifest.json"))).unwrap();
    assert!(raw.len() == 16 && raw.iter().all(|r| r["status"] == "ok"));
    let clean: Vec<Value> = serde_json::from_value(read(&data.join("clean/manifest.json"))).unwrap();
    assert!(clean.len() == 16 && clean.iter().all(|r| r["status"] == "kept"), "{clean:?}");
    let split = read(&data.join("split.json"));
    assert_eq!(split["classes"]["Fox"]["test"].as_array().unwrap().len(), 2);
    assert_eq!(read(&data.join("index/index.json"))["items"].as_array().unwrap().len(), 12);

    // Top-1 results come from the query's class.
    for class in ["Cat", "Fox"] {
        let name = split["classes"][class]["test"][0].as_str().unwrap();
        let query = data.join("test").join(class).join(name);
        let out = picseek_json(&[
            "--data-dir",
            data.to_str().unwrap(),
            "--json",
            "search",
            "--image",
            query.to_str().unwrap(),
            "-k",
            "3",
        ]);
        assert_eq!(out["results"][0]["class"], class, "{out}");
    }

    // Add a category: only the new term is crawled, fetched, cleaned and embedded.
    std::fs::write(&categories, json!({"animal": ["Cat", "Fox"], "plant": ["Tulip"]}).to_string()).unwrap();
    let second = picseek_json(&args);
    let summary = &second["summary"];
    assert_eq!(summary["terms_crawled_now"], 1, "{summary}");
    assert_eq!(summary["fetched_now"], 8, "{summary}");
    assert_eq!(summary["examined_now"], 8, "{summary}");
    assert_eq!(summary["embedded_now"], 6, "{summary}");
    assert_eq!((summary["classes"].as_u64(), summary["indexed"].as_u64()), (Some(3), Some(18)), "{summary}");
    assert_eq!(second["stages"]["split"]["placed"], 8, "the old classes' split is unchanged");
    let mut loaded = site.loaded_terms();
    loaded.sort();
    assert_eq!(loaded, ["Cat", "Fox", "Tulip"]);
}
