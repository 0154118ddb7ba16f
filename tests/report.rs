//! `picseek report` over a cleaned and split dataset with planted duplicates, near
//! copies and a dark image, opened in headless Chromium: every section is there and
//! every image it links loads.

use std::time::Duration;

use crate::support::picseek_json;
use image::{Rgb, RgbImage};

#[test]
fn the_report_shows_every_section_and_its_images_load() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let d = data.to_str().unwrap();
    crate::leakage::plant(data, &[("a", [200, 60, 60]), ("b", [60, 180, 70])]);
    let raw_a = data.join("raw/things/a");
    std::fs::copy(raw_a.join("a_3.png"), raw_a.join("a_3 copy.png")).unwrap();
    RgbImage::from_pixel(200, 150, Rgb([8, 8, 10])).save(raw_a.join("night.png")).unwrap();
    picseek_json(&["--data-dir", d, "--json", "clean", "--dedup", "exact"]);
    picseek_json(&["--data-dir", d, "--json", "split", "--test-per-class", "2", "--train-per-class", "0"]);
    let report = picseek_json(&["--data-dir", d, "--json", "report"]);
    assert_eq!(report["classes"]["a"]["rejected"]["duplicate"], 1, "{report}");
    assert_eq!(report["crossing_groups"], 0);
    // Near copies stay together, and every class still gets exactly its test images.
    assert_eq!(report["uneven_classes"], serde_json::json!({}), "{report}");
    assert_eq!(report["classes"]["a"]["test"], 2, "{report}");
    let sizes: Vec<usize> =
        report["split_groups"].as_array().unwrap().iter().map(|g| g["images"].as_array().unwrap().len()).collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "largest groups first: {sizes:?}");
    assert!(report["split_groups"].as_array().unwrap().len() >= 4, "{report}");
    assert!(report["flagged"]["dark"].as_array().unwrap().iter().any(|f| f[0] == "a/night.jpg"), "{report}");
    let page = data.join("report.html");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (driver, session) = crate::serve::open_browser().await;
        let c = &session.client;
        c.goto(&format!("file://{}", page.display())).await.unwrap();
        let sections = c.execute("return [...document.querySelectorAll('section')].map(s => s.id)", vec![]).await.unwrap();
        assert_eq!(sections, serde_json::json!(["classes", "duplicates", "near-copies", "flags"]));
        // Lazy images load once scrolled into view; load them all.
        c.execute("document.querySelectorAll('img').forEach(i => i.loading = 'eager')", vec![]).await.unwrap();
        let loaded = "return [...document.querySelectorAll('img')].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)";
        let broken = crate::serve::wait_for(c, loaded, |v| v.as_array().is_some_and(Vec::is_empty)).await;
        assert_eq!(broken, serde_json::json!([]));
        let images = c.execute("return document.querySelectorAll('img').length", vec![]).await.unwrap();
        assert!(images.as_u64().unwrap() > 20, "{images}");
        let verdict = c.execute("return document.querySelector('#near-copies .ok').textContent", vec![]).await.unwrap();
        assert!(verdict.as_str().unwrap().starts_with("None of the"), "{verdict}");
        std::fs::write(crate::serve::screenshot_path("report"), c.screenshot().await.unwrap()).unwrap();
        session.close(Duration::from_secs(10)).await;
        drop(driver);
    });
}
