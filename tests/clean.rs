//! `picseek clean` on a raw folder of every kind of file a crawl brings home.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;

use crate::support::{class_image, oversized_png_header, picseek_json};
use image::codecs::gif::GifEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{DynamicImage, Frame, ImageEncoder, ImageFormat, Rgb, Rgba, RgbaImage};
use serde_json::Value;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures").join(name)).unwrap()
}

fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// The raw folder: `(file name, bytes)` per term.
fn make_raw(raw: &Path) {
    let cat = raw.join("animal/Cat");
    let tulip = raw.join("plant/Tulip");
    std::fs::create_dir_all(&cat).unwrap();
    std::fs::create_dir_all(&tulip).unwrap();
    let good = encode(DynamicImage::ImageRgb8(class_image([200, 60, 60], 120, 100, 1)), ImageFormat::Jpeg);
    let second = class_image([60, 60, 200], 160, 120, 2);
    let png = encode(DynamicImage::ImageRgb8(class_image([60, 200, 60], 90, 90, 3)), ImageFormat::Png);
    let mut same_pixels = Vec::new();
    let decoded = image::load_from_memory(&png).unwrap().into_rgb8();
    PngEncoder::new_with_quality(&mut same_pixels, CompressionType::Best, FilterType::Paeth)
        .write_image(decoded.as_raw(), 90, 90, image::ExtendedColorType::Rgb8)
        .unwrap();
    assert_ne!(png, same_pixels);
    let near = {
        let img = DynamicImage::ImageRgb8(second.clone()).resize_exact(150, 112, image::imageops::FilterType::Triangle);
        let mut out = Cursor::new(Vec::new());
        img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 60)).unwrap();
        out.into_inner()
    };
    let mut rgba = RgbaImage::from_pixel(80, 80, Rgba([0, 0, 0, 0]));
    for y in 20..60 {
        for x in 20..60 {
            rgba.put_pixel(x, y, Rgba([250, 10, 10, 255]));
        }
    }
    let grey16 = image::ImageBuffer::<image::Luma<u16>, _>::from_fn(64, 64, |x, y| {
        image::Luma([((x * 1000 + y * 13) % 65536) as u16])
    });
    let mut gif = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut gif);
        let red = RgbaImage::from_pixel(60, 60, Rgba([255, 0, 0, 255]));
        let blue = RgbaImage::from_pixel(60, 60, Rgba([0, 0, 255, 255]));
        encoder.encode_frames([Frame::new(red), Frame::new(blue)]).unwrap();
    }
    let files: Vec<(&Path, &str, Vec<u8>)> = vec![
        (&cat, "good.jpg", good.clone()),
        (&cat, "good2.jpg", good),
        (&cat, "second.jpg", encode(DynamicImage::ImageRgb8(second), ImageFormat::Jpeg)),
        (&cat, "second2.jpg", near),
        (&cat, "green.png", png),
        (&cat, "green2.png", same_pixels),
        (&cat, "corrupt.jpg", b"\xff\xd8\xff\xe0 garbage, not a jpeg".to_vec()),
        (&cat, "zero.jpg", Vec::new()),
        (
            &cat,
            "tiny.png",
            encode(DynamicImage::ImageRgb8(image::RgbImage::from_pixel(10, 10, Rgb([1, 2, 3]))), ImageFormat::Png),
        ),
        (&cat, "huge.png", oversized_png_header(60_000)),
        (&tulip, "transparent.png", encode(DynamicImage::ImageRgba8(rgba), ImageFormat::Png)),
        (&tulip, "palette.png", fixture("palette.png")),
        (&tulip, "grey16.png", encode(DynamicImage::ImageLuma16(grey16), ImageFormat::Png)),
        (&tulip, "cmyk.jpg", fixture("cmyk.jpg")),
        (&tulip, "animated.gif", gif),
        (&tulip, "rotated.jpg", fixture("exif_rotated.jpg")),
    ];
    for (dir, name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let png = encode(DynamicImage::ImageRgb8(class_image([60, 200, 60], 90, 90, 3)), ImageFormat::Png);
    let truncated = &png[..png.len() / 2];
    std::fs::write(cat.join("truncated.png"), truncated).unwrap();
}

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for category in std::fs::read_dir(dir).unwrap() {
        let category = category.unwrap().path();
        for term in std::fs::read_dir(&category).unwrap() {
            for file in std::fs::read_dir(term.unwrap().path()).unwrap() {
                let file = file.unwrap().path();
                out.insert(file.display().to_string(), std::fs::read(&file).unwrap());
            }
        }
    }
    out
}

fn by_source(records: &[Value]) -> BTreeMap<String, Value> {
    records.iter().map(|r| (r["source"].as_str().unwrap().rsplit('/').next().unwrap().to_owned(), r.clone())).collect()
}

fn manifest(data: &Path) -> Vec<Value> {
    serde_json::from_slice(&std::fs::read(data.join("clean/manifest.json")).unwrap()).unwrap()
}

fn clean_pixel(data: &Path, record: &Value, x: u32, y: u32) -> [u8; 3] {
    let img = image::open(data.join("clean").join(record["path"].as_str().unwrap())).unwrap().into_rgb8();
    img.get_pixel(x, y).0
}

fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 12)
}

#[test]
fn every_file_is_kept_as_rgb_or_rejected_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    make_raw(&data.join("raw"));
    let before = snapshot(&data.join("raw"));
    let report = picseek_json(&["--data-dir", data.to_str().unwrap(), "--json", "clean"]);
    assert_eq!(report["files"], 17);
    let records = by_source(&manifest(data));
    assert_eq!(records.len(), 17, "one record per input file");

    let reason = |name: &str| records[name]["reason"].as_str().map(str::to_owned);
    assert_eq!(reason("corrupt.jpg").as_deref(), Some("undecodable"));
    assert_eq!(reason("truncated.png").as_deref(), Some("undecodable"));
    assert_eq!(reason("zero.jpg").as_deref(), Some("empty"));
    assert_eq!(reason("tiny.png").as_deref(), Some("too_small"));
    assert_eq!(reason("huge.png").as_deref(), Some("too_large"));
    assert_eq!(reason("good2.jpg").as_deref(), Some("duplicate_of:Cat/good.jpg"), "same bytes");
    assert_eq!(reason("green2.png").as_deref(), Some("duplicate_of:Cat/green.jpg"), "same pixels");
    assert_eq!(reason("second2.jpg").as_deref(), Some("duplicate_of:Cat/second.jpg"), "near duplicate");
    for kept in [
        "good.jpg",
        "second.jpg",
        "green.png",
        "transparent.png",
        "palette.png",
        "grey16.png",
        "cmyk.jpg",
        "animated.gif",
        "rotated.jpg",
    ] {
        assert_eq!(records[kept]["status"], "kept", "{kept}: {}", records[kept]);
        let img = image::open(data.join("clean").join(records[kept]["path"].as_str().unwrap())).unwrap();
        assert_eq!(img.color(), image::ColorType::Rgb8, "{kept}");
    }
    assert_eq!(records["transparent.png"]["class"], "Tulip");
    assert_eq!(records["transparent.png"]["category"], "plant");

    let t = &records["transparent.png"];
    assert!(close(clean_pixel(data, t, 2, 2), [255, 255, 255]), "transparent became white");
    assert!(close(clean_pixel(data, t, 40, 40), [250, 10, 10]));
    assert!(close(clean_pixel(data, &records["cmyk.jpg"], 5, 5), [0, 255, 255]), "CMYK converted");
    assert!(close(clean_pixel(data, &records["animated.gif"], 5, 5), [255, 0, 0]), "first frame");
    let rotated = &records["rotated.jpg"];
    assert_eq!(
        (rotated["width"].as_u64(), rotated["height"].as_u64()),
        (Some(60), Some(80)),
        "EXIF orientation applied"
    );
    assert!(
        close(clean_pixel(data, rotated, 30, 10), [255, 0, 0])
            && close(clean_pixel(data, rotated, 30, 70), [0, 0, 255])
    );
    assert!(close(clean_pixel(data, &records["palette.png"], 60, 35), [0, 128, 0]));
    assert!(close(clean_pixel(data, &records["palette.png"], 5, 35), [255, 255, 255]), "transparent palette entry");

    let output = |name: &str| std::fs::read(data.join("clean").join(records[name]["path"].as_str().unwrap())).unwrap();
    let source = |name: &str| std::fs::read(data.join("raw").join(records[name]["source"].as_str().unwrap())).unwrap();
    assert_eq!(output("good.jpg"), source("good.jpg"), "an upright RGB JPEG is kept byte for byte");
    assert_ne!(output("rotated.jpg"), source("rotated.jpg"), "a rotated one is stored upright");

    assert_eq!(snapshot(&data.join("raw")), before, "raw/ is never modified");
    let kept_files: usize = std::fs::read_dir(data.join("clean"))
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            p.is_dir().then(|| std::fs::read_dir(p).unwrap().count())
        })
        .sum();
    assert_eq!(kept_files, 9);

    // Idempotent, and only new files are examined (and the 3 duplicates, which are
    // decided again against the images of this run).
    let again = picseek_json(&["--data-dir", data.to_str().unwrap(), "--json", "clean"]);
    assert_eq!((again["examined"].as_u64(), again["reused"].as_u64()), (Some(3), Some(14)));
    assert_eq!(by_source(&manifest(data)), records);
    let extra = encode(DynamicImage::ImageRgb8(class_image([90, 90, 90], 100, 100, 9)), ImageFormat::Png);
    std::fs::write(data.join("raw/plant/Tulip/new.png"), extra).unwrap();
    let grown = picseek_json(&["--data-dir", data.to_str().unwrap(), "--json", "clean"]);
    assert_eq!((grown["examined"].as_u64(), grown["reused"].as_u64()), (Some(4), Some(14)));
}

#[test]
fn exact_dedup_keeps_near_duplicates_and_off_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    make_raw(&data.join("raw"));
    let run = |dedup: &str| {
        let out = data.join(format!("clean-{dedup}"));
        picseek_json(&[
            "--data-dir",
            data.to_str().unwrap(),
            "--json",
            "clean",
            "--dedup",
            dedup,
            "--out",
            out.to_str().unwrap(),
        ]);
        let records: Vec<Value> = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
        by_source(&records)
    };
    let exact = run("exact");
    assert_eq!(exact["second2.jpg"]["status"], "kept");
    assert_eq!(exact["good2.jpg"]["reason"], "duplicate_of:Cat/good.jpg");
    let off = run("off");
    assert_eq!(off["good2.jpg"]["status"], "kept");
}
