//! Scores and pages a user can trust after the data changed, and folders of one's own:
//! eval refuses an index that no longer fits its data, serve follows a rebuilt index,
//! and a flat folder or a date tree of photos indexes and searches.

use std::path::Path;

use crate::serve::spawn_server;
use crate::support::{index_pixel, picseek, picseek_json, write_class};
use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn classes(data: &Path, per_class: usize) {
    for (i, (class, colour)) in [("red", [220, 40, 40]), ("green", [40, 200, 60])].iter().enumerate() {
        write_class(&data.join("clean"), class, *colour, per_class, i as u64);
    }
}

#[test]
fn eval_refuses_a_stale_index_unless_allowed_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    classes(data, 8);
    let split =
        |seed: &str| picseek_json(&["--data-dir", s(data), "--json", "split", "--test-per-class", "2", "--seed", seed]);
    split("1");
    index_pixel(data, &[]);
    let fresh = picseek_json(&["--data-dir", s(data), "--json", "eval", "-k", "2"]);
    assert!(fresh.get("stale").is_none(), "{fresh}");

    // The split again with another seed, and no index: test images are now in it.
    split("2");
    let out = picseek(&["--data-dir", s(data), "eval", "-k", "2"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().last().unwrap_or_default();
    assert!(line.contains("stale") && line.contains("test images are in it"), "{stderr}");
    assert!(line.contains("picseek index") && line.contains("--allow-stale"), "{stderr}");
    assert!(line.contains("changed since it was built"), "train/ changed too: {stderr}");

    let allowed = picseek(&["--data-dir", s(data), "eval", "-k", "2", "--allow-stale"]);
    assert!(allowed.status.success(), "{}", String::from_utf8_lossy(&allowed.stderr));
    assert!(String::from_utf8_lossy(&allowed.stdout).contains("--allow-stale: scoring a stale index"));
    let json = picseek_json(&["--data-dir", s(data), "--json", "eval", "-k", "2", "--allow-stale"]);
    assert!(json["stale"]["test_images_in_index"].as_u64().unwrap() > 0, "{json}");

    // search says so once; an index built again is fresh.
    let query = data.join("test/red").read_dir().unwrap().next().unwrap().unwrap().path();
    let searched = picseek(&["--data-dir", s(data), "search", "--image", s(&query)]);
    let stderr = String::from_utf8_lossy(&searched.stderr);
    assert_eq!(stderr.matches("changed since the index was built").count(), 1, "{stderr}");
    index_pixel(data, &[]);
    let again = picseek_json(&["--data-dir", s(data), "--json", "eval", "-k", "2"]);
    assert!(again.get("stale").is_none(), "{again}");
}

fn get(url: &str) -> (u16, Value) {
    let response = reqwest::blocking::get(url).unwrap();
    let status = response.status().as_u16();
    (status, serde_json::from_slice(&response.bytes().unwrap()).unwrap_or(Value::Null))
}

#[test]
fn serve_follows_a_rebuilt_index_and_never_lists_a_missing_image() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    for (i, (class, colour)) in [("red", [220, 40, 40]), ("green", [40, 200, 60])].iter().enumerate() {
        write_class(&data.join("train"), class, *colour, 4, i as u64);
    }
    index_pixel(data, &[]);
    let server = spawn_server(data, &[]);
    assert_eq!(get(&format!("{}/api/info", server.base)).1["items"], 8);

    // A file of the index goes away: the page no longer lists it, so nothing 404s.
    std::fs::remove_file(data.join("train/red/red_0.jpg")).unwrap();
    let (_, browse) = get(&format!("{}/api/browse?k=100", server.base));
    for card in browse["results"].as_array().unwrap() {
        let image = reqwest::blocking::get(format!("{}{}", server.base, card["url"].as_str().unwrap())).unwrap();
        assert_eq!(image.status().as_u16(), 200, "{card}");
    }
    assert_eq!(browse["results"].as_array().unwrap().len(), 7, "{browse}");

    // The index is built again with a new class: the running server serves it.
    write_class(&data.join("train"), "blue", [40, 60, 220], 4, 7);
    std::thread::sleep(std::time::Duration::from_millis(20));
    index_pixel(data, &[]);
    let (_, info) = get(&format!("{}/api/info", server.base));
    assert_eq!(info["items"], 11, "{info}");
    assert!(info["classes"].as_array().unwrap().iter().any(|c| c == "blue"), "{info}");
    let (_, browse) = get(&format!("{}/api/browse?class=blue", server.base));
    for card in browse["results"].as_array().unwrap() {
        let image = reqwest::blocking::get(format!("{}{}", server.base, card["url"].as_str().unwrap())).unwrap();
        assert_eq!(image.status().as_u16(), 200, "{card}");
    }
}

#[test]
fn a_flat_folder_and_a_date_tree_index_and_search() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let photos = dir.path().join("photos");
    // Flat: images straight in the folder, beside a notes file that is not an image.
    write_class(dir.path(), "photos", [200, 80, 80], 5, 1);
    std::fs::write(photos.join("notes.txt"), "not an image").unwrap();
    std::fs::write(photos.join("broken.jpg"), "not an image either").unwrap();
    let flat = picseek_json(&[
        "--data-dir",
        s(&data),
        "--json",
        "index",
        "--train",
        s(&photos),
        "--embedder",
        "pixel",
        "--pixel-size",
        "16",
    ]);
    assert_eq!(flat["items"], 5, "{flat}");
    let query = photos.join("photos_0.jpg");
    let found = picseek_json(&["--data-dir", s(&data), "--json", "search", "--image", s(&query), "-k", "1"]);
    assert_eq!(found["results"][0]["class"], "photos", "{found}");

    // A date tree: classes by folder, or by the top folder.
    let tree = dir.path().join("tree");
    write_class(&tree.join("2024"), "summer", [200, 180, 60], 3, 2);
    write_class(&tree.join("2024"), "winter", [60, 80, 220], 3, 3);
    write_class(&tree.join("2023"), "summer", [200, 170, 50], 2, 4);
    let index_tree = |classes: &str| {
        let index_dir = dir.path().join(format!("index-{classes}"));
        let args = [
            "--json",
            "index",
            "--train",
            s(&tree),
            "--index",
            s(&index_dir),
            "--embedder",
            "pixel",
            "--pixel-size",
            "16",
            "--classes",
            classes,
        ];
        let report = picseek_json(&[&["--data-dir", s(&data)][..], &args].concat());
        let manifest: Value = serde_json::from_slice(&std::fs::read(index_dir.join("index.json")).unwrap()).unwrap();
        let mut names: Vec<String> =
            manifest["items"].as_array().unwrap().iter().map(|i| i["class"].as_str().unwrap().to_owned()).collect();
        names.dedup();
        (report, names)
    };
    let (report, by_folder) = index_tree("folder");
    assert_eq!(report["items"], 8, "{report}");
    let by_folder: std::collections::BTreeSet<String> = by_folder.into_iter().collect();
    assert_eq!(by_folder, ["summer", "winter"].map(String::from).into(), "two summers are one class");
    let (_, by_top) = index_tree("top");
    assert!(by_top.contains(&"2023".to_owned()) && by_top.contains(&"2024".to_owned()), "{by_top:?}");
    let (_, none) = index_tree("none");
    assert_eq!(none, ["tree"]);

    // Files that are not images are summed up in one line, not a line each.
    let out =
        picseek(&["--data-dir", s(&data), "index", "--train", s(&photos), "--embedder", "pixel", "--pixel-size", "16"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("skipped: 1 undecodable (-v names each file)"), "{stdout}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("broken.jpg"), "named only at -v");
}

#[test]
fn a_word_typed_in_nfc_and_in_nfd_is_one_class() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    // "Phở" from two keyboards: precomposed, and o + horn + hook above.
    let (nfc, nfd) = ("Ph\u{1edf}", "Pho\u{31b}\u{309}");
    write_class(&data.join("raw/food"), nfc, [200, 120, 60], 3, 1);
    write_class(&data.join("raw/food"), nfd, [190, 110, 70], 3, 2);
    let cleaned = picseek_json(&["--data-dir", s(data), "--json", "clean", "--dedup", "off"]);
    assert_eq!(cleaned["summary"]["kept"], 6, "{cleaned}");
    let classes: Vec<String> = std::fs::read_dir(data.join("clean"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(classes, [nfc], "one class folder, in NFC");
    // A folder of one's own with both spellings indexes as one class too.
    let indexed = picseek_json(&[
        "--data-dir",
        s(data),
        "--json",
        "index",
        "--train",
        s(&data.join("raw/food")),
        "--embedder",
        "pixel",
        "--pixel-size",
        "8",
    ]);
    assert_eq!(indexed["items"], 6, "{indexed}");
    let manifest: Value = serde_json::from_slice(&std::fs::read(data.join("index/index.json")).unwrap()).unwrap();
    assert!(manifest["items"].as_array().unwrap().iter().all(|i| i["class"] == nfc), "{manifest}");
}

#[test]
fn clean_takes_a_class_folder_a_flat_folder_and_a_tree_of_ones_own() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mine = dir.path().join("mine");
    write_class(&mine, "cats", [200, 80, 80], 3, 1);
    write_class(&mine.join("2024"), "summer", [80, 200, 80], 2, 2);
    write_class(dir.path(), "mine", [80, 80, 200], 2, 3);
    let cleaned = picseek_json(&["--data-dir", s(&data), "--json", "clean", "--in", s(&mine), "--dedup", "off"]);
    assert_eq!(cleaned["summary"]["kept"], 7, "{cleaned}");
    let mut classes: Vec<String> = std::fs::read_dir(data.join("clean"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    classes.sort();
    assert_eq!(classes, ["cats", "mine", "summer"]);
    // Then split and index as the tutorial lays it out.
    picseek_json(&["--data-dir", s(&data), "--json", "split", "--test-per-class", "1"]);
    let index = picseek_json(&["--data-dir", s(&data), "--json", "index", "--embedder", "pixel", "--pixel-size", "8"]);
    assert_eq!(index["items"], 4, "{index}");
}

#[test]
fn an_image_wider_than_jpeg_allows_is_kept_whole_as_png() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let term = data.join("raw/wide/panorama");
    std::fs::create_dir_all(&term).unwrap();
    image::RgbImage::from_fn(70_000, 60, |x, _| image::Rgb([(x % 251) as u8, 90, 160]))
        .save(term.join("strip.png"))
        .unwrap();
    picseek_json(&["--data-dir", s(data), "--json", "clean", "--dedup", "off"]);
    let manifest: Value = serde_json::from_slice(&std::fs::read(data.join("clean/manifest.json")).unwrap()).unwrap();
    let record = &manifest[0];
    assert_eq!((record["status"].as_str(), record["width"].as_u64()), (Some("kept"), Some(70_000)), "{record}");
    let written = data.join("clean").join(record["path"].as_str().unwrap());
    assert_eq!(written.extension().unwrap(), "png", "{record}");
    assert_eq!(image::image_dimensions(&written).unwrap(), (70_000, 60), "written whole, not cut to 65535");
}
