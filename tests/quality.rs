//! Clean's quality flags on planted images, and their agreement with cleanvision (the
//! reference, run from the venv scripts/setup.sh makes) on the same files.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::{Noise, picseek_json, repo_root};
use image::{GrayImage, Luma, Rgb, RgbImage};
use serde_json::Value;

/// Fine per-pixel noise around `base` (each channel within `spread`).
fn noisy(width: u32, height: u32, base: [u8; 3], spread: u8, seed: u64) -> RgbImage {
    let mut noise = Noise::new(seed);
    RgbImage::from_fn(width, height, |_, _| {
        Rgb(base.map(|c| {
            (i16::from(c) + i16::from(noise.next() % spread.max(1)) - i16::from(spread / 2)).clamp(0, 255) as u8
        }))
    })
}

/// The planted images, by file name, with the flags each must get.
fn plant(dir: &Path) -> BTreeMap<String, Vec<&'static str>> {
    std::fs::create_dir_all(dir).unwrap();
    let mut expected = BTreeMap::new();
    for i in 0..14u32 {
        let base = [(40 + i * 13) as u8, (90 + i * 7) as u8, (150 - i * 5) as u8];
        noisy(200 + i * 3, 150 + (i % 4) * 2, base, 200, u64::from(i))
            .save(dir.join(format!("normal_{i}.png")))
            .unwrap();
        expected.insert(format!("normal_{i}.png"), vec![]);
    }
    noisy(200, 150, [12, 12, 14], 20, 90).save(dir.join("dark.png")).unwrap();
    expected.insert("dark.png".into(), vec!["dark"]);
    noisy(200, 150, [251, 251, 251], 8, 91).save(dir.join("light.png")).unwrap();
    expected.insert("light.png".into(), vec!["light"]);
    // A smooth diagonal gradient: almost no edges, and a histogram spread wide.
    RgbImage::from_fn(200, 150, |x, y| {
        let g = ((f64::from(x) / 199.0 * 0.5 + f64::from(y) / 149.0 * 0.5) * 255.0) as u8;
        Rgb([g, g / 2 + 60, 255 - g])
    })
    .save(dir.join("blurry.png"))
    .unwrap();
    expected.insert("blurry.png".into(), vec!["blurry"]);
    let mut noise = Noise::new(92);
    GrayImage::from_fn(200, 150, |_, _| Luma([noise.next()])).save(dir.join("grey.png")).unwrap();
    expected.insert("grey.png".into(), vec!["grayscale"]);
    noisy(60, 52, [120, 80, 60], 200, 93).save(dir.join("tiny.png")).unwrap();
    expected.insert("tiny.png".into(), vec!["odd_size"]);
    noisy(900, 100, [60, 120, 80], 200, 94).save(dir.join("panorama.png")).unwrap();
    expected.insert("panorama.png".into(), vec!["odd_aspect_ratio"]);
    RgbImage::from_pixel(200, 150, Rgb([90, 120, 160])).save(dir.join("flat.png")).unwrap();
    expected.insert("flat.png".into(), vec!["low_information"]);
    expected
}

#[test]
fn planted_issues_are_flagged_and_agree_with_cleanvision() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let images = data.join("raw/things/stuff");
    let expected = plant(&images);
    let d = data.to_str().unwrap();
    let report = picseek_json(&["--data-dir", d, "--json", "clean", "--dedup", "off"]);
    assert_eq!(report["summary"]["kept"], expected.len(), "flags do not reject by default: {report}");
    let manifest: Value = serde_json::from_slice(&std::fs::read(data.join("clean/manifest.json")).unwrap()).unwrap();
    let ours: BTreeMap<String, Value> = manifest
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                Path::new(r["source"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned(),
                r["quality"].clone(),
            )
        })
        .collect();
    for (file, flags) in &expected {
        let got: Vec<&str> = ours[file]["flags"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
        for flag in flags {
            assert!(got.contains(flag), "{file} should be {flag}: {}", ours[file]);
        }
    }

    let out = std::process::Command::new(repo_root().join(".venv/bin/python"))
        .arg(repo_root().join("tests/reference/cleanvision_reference.py"))
        .arg(&images)
        .output()
        .expect("the venv's python runs (scripts/setup.sh makes it)");
    assert!(out.status.success(), "cleanvision failed: {}", String::from_utf8_lossy(&out.stderr));
    let theirs: BTreeMap<String, BTreeMap<String, Value>> = serde_json::from_slice(&out.stdout).unwrap();
    let (mut agree, mut total, mut differences) = (0, 0, Vec::new());
    for (file, issues) in &theirs {
        for (issue, verdict) in issues {
            let flagged = ours[file]["flags"].as_array().unwrap().iter().any(|f| f == issue.as_str());
            total += 1;
            if flagged == verdict["issue"].as_bool().unwrap() {
                agree += 1;
            } else {
                differences
                    .push(format!("{file} {issue}: ours {}, cleanvision {verdict}", ours[file]["scores"][issue]));
            }
            let (a, b) = (ours[file]["scores"][issue].as_f64().unwrap(), verdict["score"].as_f64().unwrap());
            assert!((a - b).abs() < 0.02, "{file} {issue}: our score {a}, cleanvision's {b}");
        }
    }
    eprintln!("quality flags agree with cleanvision on {agree} of {total} (image, issue) pairs");
    assert_eq!(theirs.len(), expected.len());
    assert!(differences.is_empty(), "{differences:#?}");

    // --reject makes a flag a reason, and a run without it keeps the image again.
    let rejected = picseek_json(&["--data-dir", d, "--json", "clean", "--dedup", "off", "--reject", "dark,blurry"]);
    assert_eq!(rejected["summary"]["rejected: dark"], 1, "{rejected}");
    assert!(!data.join("clean/stuff/dark.jpg").exists());
    let again = picseek_json(&["--data-dir", d, "--json", "clean", "--dedup", "off"]);
    assert_eq!(again["summary"]["kept"], expected.len(), "{again}");
}
