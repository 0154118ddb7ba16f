//! CLIP embedding speed end to end (file to vector): 500 photo-sized JPEGs through
//! picseek's index stage, against Python doing the same with PIL preprocessing and
//! onnxruntime (scripts/bench/clip_onnxruntime.py), with the same model, batch size and
//! thread count. Also times picseek's decoding + preprocessing alone and the model
//! alone, to show which one bounds the pipeline. The model is the real ViT-B/32 image
//! encoder architecture with random weights (speed does not depend on the weights).
//! Run with `scripts/bench/run clip`, which makes the model.

#[path = "common/memory.rs"]
mod memory;

use std::path::{Path, PathBuf};
use std::time::Instant;

use image::{Rgb, RgbImage};
use picseek_embed::{ClipEmbedder, EmbedderSettings, ModelFiles, ModelOptions};
use picseek_index::{IndexOptions, build_index};
use picseek_manifest::Precision;
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

/// What one precision measured.
struct Measured {
    /// End-to-end images/s of each run.
    runs: Vec<f64>,
    /// Decoding + preprocessing alone, on all cores.
    preprocess: f64,
    /// The model alone.
    model: f64,
    /// The last run's vectors, in file order.
    vectors: Vec<Vec<f32>>,
    /// Peak resident memory while indexing, in GiB.
    peak_gib: f64,
}

fn measure(dir: &Path, files: &[PathBuf], options: &ModelOptions) -> Measured {
    let precision = options.precision.unwrap_or_default();
    let index_dir = dir.join(format!("index-{precision}"));
    let mut runs = Vec::new();
    memory::reset_peak_memory();
    for run in 0..RUNS {
        // From nothing: no previous index, no embedding cache.
        let _ = std::fs::remove_dir_all(&index_dir);
        let opts = IndexOptions {
            train: dir.join("train"),
            index_dir: index_dir.clone(),
            embedder: EmbedderSettings::Clip(options.clone()),
            graphs: Vec::new(),
            max_decode_bytes: picseek_imaging::DEFAULT_MAX_DECODE_BYTES,
            rebuild: true,
            ..IndexOptions::default()
        };
        let started = Instant::now();
        let report = build_index(&opts).expect("index");
        assert_eq!(report.embedded, IMAGES);
        runs.push(IMAGES as f64 / started.elapsed().as_secs_f64());
        eprintln!("picseek {precision} run {}: {:.1} images/s", run + 1, runs[run]);
    }
    let peak_gib = memory::peak_memory_gib();
    let index = picseek_index::Index::open(&index_dir).expect("the index just built");
    let by_path: std::collections::HashMap<PathBuf, usize> =
        (0..index.len()).map(|i| (index.item_path(i), i)).collect();
    let vectors = files.iter().map(|f| index.f32_vector(by_path[&f.to_path_buf()]).to_vec()).collect();

    let clip = ClipEmbedder::load(options, picseek_imaging::DEFAULT_MAX_DECODE_BYTES).expect("model");
    let started = Instant::now();
    let prepared: Vec<Vec<f32>> =
        files.par_iter().map(|f| clip.prepare(f, &std::fs::read(f).expect("read")).expect("prepare")).collect();
    let preprocess = IMAGES as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for batch in prepared.chunks(BATCH) {
        clip.embed_prepared(batch).expect("embed");
    }
    let model = IMAGES as f64 / started.elapsed().as_secs_f64();
    Measured { runs, preprocess, model, vectors, peak_gib }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The share of each query's 10 nearest rows (by cosine, itself left out) that the
/// other precision's rows also rank in their 10 nearest, averaged over 50 queries.
fn top10_overlap(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    let nearest = |rows: &[Vec<f32>], q: usize| {
        let mut order: Vec<usize> = (0..rows.len()).filter(|&i| i != q).collect();
        order.sort_by(|&i, &j| dot(&rows[q], &rows[j]).total_cmp(&dot(&rows[q], &rows[i])));
        order.truncate(10);
        order
    };
    let queries: Vec<usize> = (0..a.len()).step_by(a.len() / 50).take(50).collect();
    let shared: usize = queries
        .iter()
        .map(|&q| {
            let n = nearest(b, q);
            nearest(a, q).iter().filter(|i| n.contains(i)).count()
        })
        .sum();
    shared as f64 / (queries.len() * 10) as f64
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
    let fp32 =
        ModelOptions { batch: BATCH, threads, precision: Some(Precision::Fp32), ..ModelOptions::in_dir(&model_dir) };
    let int8_files = ModelFiles::at(&model_dir, Precision::Int8);
    let int8_there = int8_files.require(int8_files.vision()).is_ok();
    let fp32_measured = measure(dir.path(), &files, &fp32);
    let int8_measured = int8_there
        .then(|| measure(dir.path(), &files, &ModelOptions { precision: Some(Precision::Int8), ..fp32.clone() }));

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
    println!("{:<52} {:>10}", "", "images/s");
    println!("{:<52} {:>10.1}", format!("Python PIL + onnxruntime fp32 (median of {RUNS})"), python_rate);
    for (name, m) in [("fp32", Some(&fp32_measured)), ("int8", int8_measured.as_ref())] {
        let Some(m) = m else {
            println!("int8: no {} beside the model (scripts/clip/quantize.py makes it)", int8_files.vision());
            continue;
        };
        let end_to_end = median(m.runs.clone());
        // Decoding and the model share the cores: doing both, one after the other, is
        // what the machine could do at best.
        let bound = 1.0 / (1.0 / m.preprocess + 1.0 / m.model);
        println!(
            "{:<52} {:>10.1}   {:.2}x Python",
            format!("picseek index {name}, end to end (median of {RUNS})"),
            end_to_end,
            end_to_end / python_rate
        );
        println!("{:<52} {:>10.1}", format!("  {name} model alone"), m.model);
        println!("{:<52} {:>10.1}", "  decode + preprocess alone (all cores)", m.preprocess);
        println!(
            "{:<52} {:>10.1}   {:.2} of it",
            "  CPU-work bound (model + decode, same cores)",
            bound,
            end_to_end / bound
        );
        println!("{:<52} {:>8.0} MiB", "  peak memory while indexing", m.peak_gib * 1024.0);
    }
    if let Some(int8) = &int8_measured {
        let mut cosines: Vec<f64> =
            fp32_measured.vectors.iter().zip(&int8.vectors).map(|(a, b)| f64::from(dot(a, b))).collect();
        cosines.sort_by(f64::total_cmp);
        println!("\nint8 against fp32 on these {IMAGES} images:");
        println!("  cosine of each image's two vectors: min {:.5}, median {:.5}", cosines[0], median(cosines.clone()));
        println!("  top-10 overlap of 50 searches: {:.3}", top10_overlap(&fp32_measured.vectors, &int8.vectors));
    }
}
