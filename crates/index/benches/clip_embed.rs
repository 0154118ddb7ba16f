//! CLIP embedding speed end to end (file to vector): 500 photo-sized JPEGs through
//! picseek's index stage, against Python doing the same with PIL preprocessing and
//! onnxruntime (scripts/bench/clip_onnxruntime.py), with the same model, batch size and
//! thread count. Also times picseek's decoding + preprocessing alone and the model
//! alone, to show which one bounds the pipeline. The model is the real ViT-B/32 image
//! encoder architecture with random weights (speed does not depend on the weights).
//! Run with `scripts/bench/run clip`, which makes the model.

use std::path::{Path, PathBuf};
use std::time::Instant;

use image::{Rgb, RgbImage};
use picseek_embed::{ClipEmbedder, EmbedderSettings, ModelOptions};
use picseek_index::{IndexOptions, build_index};
use rayon::prelude::*;

const IMAGES: usize = 500;
const BATCH: usize = 16;
const RUNS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Photo-like JPEGs: smooth gradients with noise, 640 x 480 and 480 x 640.
fn write_images(dir: &Path) -> Vec<PathBuf> {
    let class_dir = dir.join("train/photos");
    std::fs::create_dir_all(&class_dir).expect("image dir");
    (0..IMAGES)
        .into_par_iter()
        .map(|i| {
            let (w, h) = if i % 2 == 0 { (640, 480) } else { (480, 640) };
            let mut state = (i as u32).wrapping_mul(2_654_435_761) | 1;
            let img = RgbImage::from_fn(w, h, |x, y| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let n = state % 32;
                Rgb([
                    ((x * 255 / w + n + i as u32) % 256) as u8,
                    ((y * 255 / h + n) % 256) as u8,
                    ((x + y + n) % 256) as u8,
                ])
            });
            let path = class_dir.join(format!("{i:04}.jpg"));
            img.save(&path).expect("write jpeg");
            path
        })
        .collect()
}

fn main() {
    let model_dir = PathBuf::from(
        std::env::args().nth(1).filter(|a| !a.starts_with('-')).unwrap_or_else(|| ".local/vit-b32-random".into()),
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let model_dir = if model_dir.is_absolute() { model_dir } else { repo.join(model_dir) };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dir = tempfile::tempdir().expect("temp dir");
    eprintln!("writing {IMAGES} JPEGs...");
    let files = write_images(dir.path());
    let options = ModelOptions { batch: BATCH, threads, ..ModelOptions::in_dir(&model_dir) };

    let mut ours = Vec::new();
    for run in 0..RUNS {
        // From nothing: no previous index, no embedding cache.
        let _ = std::fs::remove_dir_all(dir.path().join("index"));
        let opts = IndexOptions {
            train: dir.path().join("train"),
            index_dir: dir.path().join("index"),
            embedder: EmbedderSettings::Clip(options.clone()),
            graphs: Vec::new(),
            max_decode_bytes: picseek_imaging::DEFAULT_MAX_DECODE_BYTES,
            rebuild: true,
            ..IndexOptions::default()
        };
        let started = Instant::now();
        let report = build_index(&opts).expect("index");
        assert_eq!(report.embedded, IMAGES);
        ours.push(IMAGES as f64 / started.elapsed().as_secs_f64());
        eprintln!("picseek run {}: {:.1} images/s", run + 1, ours[run]);
    }

    let clip = ClipEmbedder::load(&options, picseek_imaging::DEFAULT_MAX_DECODE_BYTES).expect("model");
    let started = Instant::now();
    let prepared: Vec<Vec<f32>> =
        files.par_iter().map(|f| clip.prepare(f, &std::fs::read(f).expect("read")).expect("prepare")).collect();
    let preprocess_rate = IMAGES as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for batch in prepared.chunks(BATCH) {
        clip.embed_prepared(batch).expect("embed");
    }
    let model_rate = IMAGES as f64 / started.elapsed().as_secs_f64();

    eprintln!("running Python (PIL + onnxruntime) on the same files...");
    let out = std::process::Command::new(repo.join(".venv/bin/python"))
        .arg(repo.join("scripts/bench/clip_onnxruntime.py"))
        .arg(&model_dir)
        .arg(dir.path().join("train/photos"))
        .args([BATCH, threads, RUNS].map(|v| v.to_string()))
        .output()
        .expect("run the Python baseline");
    assert!(out.status.success(), "Python baseline failed: {}", String::from_utf8_lossy(&out.stderr));
    let python: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON from the baseline");
    let python_rate = python["images_per_second"].as_f64().expect("images_per_second");

    println!("\nCLIP ViT-B/32 image encoder (random weights), {IMAGES} JPEGs, batch {BATCH}, {threads} threads");
    println!("{:<44} {:>10}", "", "images/s");
    println!("{:<44} {:>10.1}", format!("picseek index, end to end (median of {RUNS})"), median(ours.clone()));
    println!("{:<44} {:>10.1}", format!("Python PIL + onnxruntime (median of {RUNS})"), python_rate);
    println!("{:<44} {:>9.2}x", "ratio", median(ours) / python_rate);
    println!("{:<44} {:>10.1}", "picseek decode + preprocess alone (all cores)", preprocess_rate);
    println!("{:<44} {:>10.1}", "picseek model alone", model_rate);
}
