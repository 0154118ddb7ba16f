//! Clean throughput: 2,000 mixed images (JPEG and PNG, RGB and RGBA, 200 to 800 px, a
//! few broken or tiny), picseek against a Pillow loop doing the tutorial's checks and
//! conversion (scripts/bench/clean_pillow.py). Run with `scripts/bench/run clean`.

use std::io::Cursor;
use std::path::Path;
use std::time::Instant;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use picseek_clean::{CleanOptions, Dedup, clean};

const FILES: usize = 2000;
const RUNS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A photo-like image: smooth colour fields plus texture, so JPEG sizes are realistic.
fn image_bytes(i: usize) -> (Vec<u8>, &'static str) {
    let (w, h) = (200 + (i * 37 % 600) as u32, 200 + (i * 53 % 500) as u32);
    let seed = i as u32;
    let pixel = move |x: u32, y: u32| {
        let t = (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503) ^ seed.wrapping_mul(97)) % 40;
        [((x * 255 / w + seed) % 256) as u8, ((y * 255 / h) + t) as u8, ((seed * 31 + t) % 256) as u8]
    };
    let mut out = Cursor::new(Vec::new());
    match i % 10 {
        0 => {
            let img = RgbaImage::from_fn(w, h, |x, y| {
                let p = pixel(x, y);
                Rgba([p[0], p[1], p[2], if x < w / 4 { 0 } else { 255 }])
            });
            DynamicImage::ImageRgba8(img).write_to(&mut out, ImageFormat::Png).expect("png");
            (out.into_inner(), "png")
        }
        1 => (b"<html>not an image</html>".to_vec(), "jpg"),
        2 => {
            DynamicImage::ImageRgb8(RgbImage::from_pixel(30, 30, Rgb(pixel(1, 1))))
                .write_to(&mut out, ImageFormat::Png)
                .expect("png");
            (out.into_inner(), "png")
        }
        _ => {
            DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| Rgb(pixel(x, y))))
                .write_to(&mut out, ImageFormat::Jpeg)
                .expect("jpeg");
            (out.into_inner(), "jpg")
        }
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let raw = dir.path().join("raw");
    eprintln!("making {FILES} images...");
    for i in 0..FILES {
        let term = raw.join("bench").join(format!("term{}", i % 20));
        std::fs::create_dir_all(&term).expect("dir");
        let (bytes, ext) = image_bytes(i);
        std::fs::write(term.join(format!("{i:05}.{ext}")), bytes).expect("write");
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv_python = repo.join(".venv/bin/python");
    let python = if venv_python.exists() { venv_python } else { "python3".into() };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for run in 0..RUNS {
        let opts = CleanOptions {
            input: raw.clone(),
            out: dir.path().join(format!("clean-{run}")),
            min_side: 50,
            dedup: Dedup::Near,
            max_decode_bytes: picseek_imaging::DEFAULT_MAX_DECODE_BYTES,
            jpeg_quality: 95,
            ..CleanOptions::default()
        };
        let start = Instant::now();
        let report = clean(&opts).expect("clean");
        ours.push(start.elapsed().as_secs_f64());
        assert_eq!(report.records.len(), FILES);

        let result = std::process::Command::new(&python)
            .arg(repo.join("scripts/bench/clean_pillow.py"))
            .arg(&raw)
            .arg(dir.path().join(format!("pillow-{run}")))
            .output()
            .expect("run the Pillow baseline");
        assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
        theirs.push(String::from_utf8_lossy(&result.stdout).trim().parse::<f64>().expect("seconds"));
    }
    let (ours, theirs) = (median(ours), median(theirs));
    println!("clean, {FILES} mixed images, median of {RUNS} runs");
    println!("{:<34} {:>10} {:>12}", "", "seconds", "images/s");
    println!("{:<34} {:>10.2} {:>12.0}", "picseek (all cores, dedup near)", ours, FILES as f64 / ours);
    println!("{:<34} {:>10.2} {:>12.0}", "Pillow loop (tutorial)", theirs, FILES as f64 / theirs);
    println!("speed-up: {:.1}x", theirs / ours);
}
