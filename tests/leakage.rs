//! A split without train/test leakage: planted near copies (crop, resize, JPEG
//! re-encode, brightness change, horizontal shift; within and across classes) always land
//! on one side, and the split is the same on a re-run and after adding a class.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::{class_image, picseek_json};
use image::{Rgb, RgbImage};
use serde_json::Value;

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The near copies of `base` the test plants, by suffix.
fn copies(base: &RgbImage) -> Vec<(&'static str, RgbImage)> {
    let (w, h) = base.dimensions();
    let crop = image::imageops::crop_imm(base, w / 25, h / 25, w - 2 * (w / 25), h - 2 * (h / 25)).to_image();
    let resized = image::imageops::resize(base, w / 2, h / 2, image::imageops::FilterType::Triangle);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 40).encode_image(base).unwrap();
    let reencoded = image::load_from_memory(&jpeg).unwrap().to_rgb8();
    let brighter = RgbImage::from_fn(w, h, |x, y| Rgb(base.get_pixel(x, y).0.map(|c| c.saturating_add(25))));
    let shifted = RgbImage::from_fn(w, h, |x, y| *base.get_pixel((x + w - 6) % w, y));
    vec![("crop", crop), ("half", resized), ("q40", reencoded), ("bright", brighter), ("shift", shifted)]
}

/// `raw/things/<class>/`: eight distinct images per class, near copies of two of them in
/// their class, and one copy of `a_0` in class `b`. Returns each family's members as the
/// clean names (`<class>/<stem>.jpg`).
pub(crate) fn plant(data: &Path, classes: &[(&str, [u8; 3])]) -> Vec<Vec<String>> {
    let mut families = Vec::new();
    for (c, (class, colour)) in classes.iter().enumerate() {
        let dir = data.join("raw/things").join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..8u64 {
            let base = class_image(*colour, 240, 180, c as u64 * 100 + i);
            base.save(dir.join(format!("{class}_{i}.png"))).unwrap();
            if i < 2 {
                let mut family = vec![format!("{class}/{class}_{i}.jpg")];
                for (suffix, copy) in copies(&base) {
                    copy.save(dir.join(format!("{class}_{i}_{suffix}.png"))).unwrap();
                    family.push(format!("{class}/{class}_{i}_{suffix}.jpg"));
                }
                families.push(family);
            }
        }
    }
    if classes.len() > 1 {
        let (first, colour) = classes[0];
        let base = class_image(colour, 240, 180, 0);
        let other = classes[1].0;
        // Not one of the copies planted in its own class: exact duplicates clean rejects.
        let copy = RgbImage::from_fn(240, 180, |x, y| Rgb(base.get_pixel(x, y).0.map(|c| c.saturating_sub(12))));
        copy.save(data.join("raw/things").join(other).join(format!("from_{first}.png"))).unwrap();
        families[0].push(format!("{other}/from_{first}.jpg"));
    }
    families
}

/// Which side (`train` or `test`) each clean name is on.
fn sides(data: &Path) -> BTreeMap<String, &'static str> {
    let split = read(&data.join("split.json"));
    let mut sides = BTreeMap::new();
    for (class, s) in split["classes"].as_object().unwrap() {
        for side in ["train", "test"] {
            for name in s[side].as_array().unwrap() {
                sides.insert(format!("{class}/{}", name.as_str().unwrap()), side);
            }
        }
    }
    sides
}

#[test]
fn near_copies_never_cross_the_split_and_the_split_is_stable() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let d = data.to_str().unwrap();
    let classes = [("a", [200, 60, 60]), ("b", [60, 180, 70]), ("c", [60, 80, 200])];
    let families = plant(data, &classes);
    picseek_json(&["--data-dir", d, "--json", "clean", "--dedup", "exact"]);
    let split = |extra: &[&str]| {
        let mut args = vec!["--data-dir", d, "--json", "split", "--test-per-class", "3", "--train-per-class", "0"];
        args.extend_from_slice(extra);
        picseek_json(&args)
    };
    split(&[]);
    let first = sides(data);
    for family in &families {
        let on: Vec<&str> =
            family.iter().map(|m| *first.get(m).unwrap_or_else(|| panic!("{m} is not split"))).collect();
        assert!(on.windows(2).all(|w| w[0] == w[1]), "a family crosses the split: {family:?} on {on:?}");
    }
    let manifest = read(&data.join("split.json"));
    let groups = manifest["groups"].as_array().unwrap();
    for family in &families {
        let group = groups.iter().find(|g| g.as_array().unwrap().iter().any(|m| m == &family[0])).expect("a group");
        for member in family {
            assert!(
                group.as_array().unwrap().iter().any(|m| m == member),
                "{member} is not grouped with {}: {group}",
                family[0]
            );
        }
    }
    // Distinct images are not grouped: every group is one planted family.
    assert_eq!(groups.len(), families.len(), "{groups:?}");

    // The same on a re-run, and after adding a class.
    split(&[]);
    assert_eq!(sides(data), first);
    let dir_d = data.join("raw/things/d");
    std::fs::create_dir_all(&dir_d).unwrap();
    for i in 0..6 {
        class_image([200, 200, 60], 240, 180, 900 + i).save(dir_d.join(format!("d_{i}.png"))).unwrap();
    }
    picseek_json(&["--data-dir", d, "--json", "clean", "--dedup", "exact"]);
    split(&[]);
    let grown = sides(data);
    assert!(first.iter().all(|(name, side)| grown.get(name) == Some(side)), "adding a class moved other images");

    // --leakage off: image by image, no groups.
    let plain = split(&["--leakage", "off"]);
    assert!(plain.get("groups").is_none(), "{plain}");
}

#[test]
fn clip_finds_duplicates_the_hash_misses_and_groups_near_copies_from_the_shared_cache() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let d = data.to_str().unwrap();
    let classes = [("a", [200, 60, 60]), ("b", [60, 180, 70]), ("c", [60, 80, 200])];
    let mut families = plant(data, &classes);
    // A fine-grained picture and a copy with other grain: the same to the eye and to
    // CLIP, but their gradient hashes (of noise) share little, so only --dedup clip sees it.
    for (c, (class, colour)) in classes.iter().enumerate() {
        let mut noise = crate::support::Noise::new(c as u64 + 7);
        let base = RgbImage::from_fn(240, 180, |_, _| {
            Rgb(colour.map(|v| v.saturating_add(noise.next() % 60).saturating_sub(30)))
        });
        let grain = RgbImage::from_fn(240, 180, |x, y| {
            Rgb(base.get_pixel(x, y).0.map(|v| v.saturating_add(noise.next() % 9).saturating_sub(4)))
        });
        base.save(data.join("raw/things").join(class).join(format!("{class}_grain.png"))).unwrap();
        grain.save(data.join("raw/things").join(class).join(format!("{class}_grain_copy.png"))).unwrap();
        families.push(vec![format!("{class}/{class}_grain.jpg"), format!("{class}/{class}_grain_copy.jpg")]);
    }
    let model = crate::support::clip_test_model();
    let model = model.to_str().unwrap();

    // --dedup clip: the CLIP vectors of every kept image go to the index's cache. (The
    // tiny test model tells these synthetic pictures apart less well than CLIP does,
    // hence a stricter threshold than the default.)
    let cleaned = picseek_json(&[
        "--data-dir",
        d,
        "--json",
        "clean",
        "--dedup",
        "clip",
        "--model",
        model,
        "--clip-threshold",
        "0.99",
    ]);
    let manifest = read(&data.join("clean/manifest.json"));
    let details: Vec<&str> = manifest.as_array().unwrap().iter().filter_map(|r| r["detail"].as_str()).collect();
    let grain_details: Vec<&str> = manifest
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["source"].as_str().unwrap().ends_with("_grain_copy.png"))
        .filter_map(|r| r["detail"].as_str())
        .collect();
    assert_eq!(grain_details.len(), 3, "every grain copy is a duplicate: {grain_details:?}");
    assert!(grain_details.iter().any(|d| d.starts_with("clip: looks alike")), "{grain_details:?}");
    assert!(details.iter().any(|d| d.starts_with("near: looks alike")), "the kinds stay apart: {details:?}");
    for record in manifest.as_array().unwrap() {
        let source = record["source"].as_str().unwrap();
        let original = source.rsplit('/').next().unwrap().trim_end_matches(".png").matches('_').count() == 1;
        if original && !source.contains("from_") {
            assert_eq!(record["status"], "kept", "a distinct image was taken for a duplicate: {record}");
        }
    }
    assert!(cleaned["summary"]["rejected: duplicate"].as_u64().unwrap() > 0);

    // Nothing is embedded twice: index finds every kept image in the cache.
    picseek_json(&["--data-dir", d, "--json", "split", "--test-per-class", "2"]);
    let indexed = picseek_json(&["--data-dir", d, "--json", "index", "--model", model]);
    assert_eq!(indexed["embedded"], 0, "{indexed}");

    // Near copies grouped by the cached embeddings alone (hashes made useless): the
    // grain copies, which only CLIP sees. (The tiny test model tells apart little more
    // than near-identical pictures, hence the strict cosine.)
    picseek_json(&["--data-dir", d, "--json", "clean", "--dedup", "exact"]);
    picseek_json(&["--data-dir", d, "--json", "index", "--model", model, "--train", &format!("{d}/clean")]);
    let args = ["--test-per-class", "3", "--train-per-class", "0", "--group-distance", "0", "--group-cosine", "0.99"];
    picseek_json(&[&["--data-dir", d, "--json", "split"][..], &args].concat());
    let on = sides(data);
    let groups = read(&data.join("split.json"))["groups"].clone();
    for family in families.iter().filter(|f| f[0].contains("_grain")) {
        assert_eq!(on[&family[0]], on[&family[1]], "{family:?}");
        let together = groups
            .as_array()
            .unwrap()
            .iter()
            .any(|g| family.iter().all(|m| g.as_array().unwrap().iter().any(|x| x == m)));
        assert!(together, "{family:?} not grouped: {groups}");
    }

    // The graph finds exactly the pairs comparing all pairs finds, on these images'
    // cached vectors, at the thresholds clean and split use and around them.
    let caches = picseek_embed::cached_embeddings(&data.join("index"));
    let cache = caches.iter().max_by_key(|c| c.len()).expect("the index's cache");
    let manifest = read(&data.join("index/index.json"));
    let vectors: Vec<&[f32]> =
        manifest["items"].as_array().unwrap().iter().filter_map(|i| cache.get(i["sha256"].as_str().unwrap())).collect();
    assert!(vectors.len() >= 20, "{} cached vectors", vectors.len());
    for min_cosine in [0.9, 0.93, 0.96, 0.99, 0.999] {
        let mut all_pairs = Vec::new();
        for i in 0..vectors.len() {
            for j in i + 1..vectors.len() {
                let c = picseek_ann::cosine(vectors[i], vectors[j]);
                if c >= min_cosine {
                    all_pairs.push((i, j, c));
                }
            }
        }
        assert_eq!(picseek_ann::close_pairs(&vectors, min_cosine).unwrap(), all_pairs, "at {min_cosine}");
    }
}

/// Writes the look-alike originals and their planted copies as `raw/things/<family>/`.
fn plant_lookalikes(data: &Path) {
    use crate::support::lookalikes::{originals, planted_copies};
    let originals = originals();
    let copies = planted_copies(&originals);
    let named = originals.iter().map(|o| (&o.name, &o.image)).chain(copies.iter().map(|c| (&c.name, &c.image)));
    for (name, image) in named {
        let dir = data.join("raw/things").join(name.split('_').next().unwrap());
        std::fs::create_dir_all(&dir).unwrap();
        image.save(dir.join(format!("{name}.png"))).unwrap();
    }
}

#[test]
fn look_alikes_do_not_chain_into_groups_and_every_class_gets_its_test_images() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let d = data.to_str().unwrap();
    plant_lookalikes(data);
    // Copies kept: under single linkage these road signs, smileys and buttons (a few
    // bits apart each) chained into groups of whole classes.
    picseek_json(&["--data-dir", d, "--json", "clean", "--dedup", "exact"]);
    let args = ["--test-per-class", "3", "--train-per-class", "0"];
    let report = picseek_json(&[&["--data-dir", d, "--json", "split"][..], &args].concat());
    let split = read(&data.join("split.json"));
    for (class, s) in split["classes"].as_object().unwrap() {
        assert_eq!(s["test"].as_array().unwrap().len(), 3, "class {class}: {report}");
    }
    assert!(split.get("uneven_classes").is_none(), "{split}");
    // Every two members of a group are near copies of each other (complete linkage).
    let clean = read(&data.join("clean/manifest.json"));
    let hash_of: BTreeMap<&str, u64> = clean
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| Some((r["path"].as_str()?, u64::from_str_radix(r["phash"].as_str()?, 16).ok()?)))
        .collect();
    let groups = split["groups"].as_array().unwrap();
    assert!(!groups.is_empty());
    for group in groups {
        let members: Vec<u64> = group.as_array().unwrap().iter().map(|m| hash_of[m.as_str().unwrap()]).collect();
        for (i, a) in members.iter().enumerate() {
            assert!(members[i + 1..].iter().all(|b| (a ^ b).count_ones() <= 12), "a chained group: {group}");
        }
        let size = group.as_array().unwrap().len();
        assert!(size <= 12, "{group}");
    }
    let on = sides(data);
    for group in groups {
        let placed: Vec<&str> = group.as_array().unwrap().iter().map(|m| on[m.as_str().unwrap()]).collect();
        assert!(placed.windows(2).all(|w| w[0] == w[1]), "{group} crosses");
    }
    assert_eq!(split["leakage_check"]["compared"], split["leakage_check"]["images"]);
}

#[test]
fn a_folder_never_cleaned_is_split_with_leakage_said_to_be_unchecked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let d = data.to_str().unwrap();
    let own = data.join("mine");
    crate::support::write_class(&own, "cats", [200, 80, 80], 30, 1);
    crate::support::write_class(&own, "dogs", [80, 80, 200], 6, 2);
    let out = crate::support::picseek(&["--data-dir", d, "split", "--in", own.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("leakage NOT checked"), "{text}");
    // 30 cats: 1 test, 19 train, 10 left out, and the flag that uses them all.
    assert!(text.contains("left out 10 image(s)") && text.contains("--train-per-class 0"), "{text}");
    let report = picseek_json(&["--data-dir", d, "--json", "report"]);
    assert_eq!(report["leakage_check"]["compared"], 0, "{report}");
    let page = std::fs::read_to_string(data.join("report.html")).unwrap();
    assert!(page.contains("Leakage was not checked") && !page.contains("None of the"), "the page claims a check");
}
