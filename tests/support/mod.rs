//! Shared helpers of the end-to-end tests: running the real `picseek` binary and making
//! image fixtures.

pub mod flickr_site;
pub mod image_server;
pub mod lookalikes;
pub mod loopback;
pub mod model_hub;
pub mod nginx;

use std::path::Path;
use std::process::Output;

use image::{Rgb, RgbImage, Rgba, RgbaImage};

/// Variables of the developer's shell that would change what picseek does: each test
/// sets what it needs itself.
pub const SCRUBBED_VARIABLES: [&str; 5] =
    ["ORT_DYLIB_PATH", "FLICKR_API_KEY", "RUST_LOG", "NO_COLOR", "RUST_BACKTRACE"];

/// The `picseek` binary as a command with a scrubbed environment (see
/// [`SCRUBBED_VARIABLES`]) and warnings-only logs (PICSEEK_TEST_LOG sets the binary's log
/// filter when debugging a test). Every test runs picseek through this.
pub fn picseek_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_picseek"));
    for name in SCRUBBED_VARIABLES {
        command.env_remove(name);
    }
    command.env("RUST_LOG", std::env::var("PICSEEK_TEST_LOG").unwrap_or_else(|_| "warn".into()));
    command
}

/// Runs `picseek` with `args` and returns its output.
pub fn picseek(args: &[&str]) -> Output {
    picseek_command().args(args).output().expect("the picseek binary runs")
}

/// What a failed test shows of the data folder named by `--data-dir` in `args`: its files
/// (up to 200), so that the state that made it fail is in the message.
pub fn data_dir_listing(args: &[&str]) -> String {
    let Some(dir) = args.iter().position(|a| *a == "--data-dir").and_then(|i| args.get(i + 1)) else {
        return String::new();
    };
    let mut listing = format!("\ncontents of {dir}:");
    let mut pending = vec![std::path::PathBuf::from(dir)];
    let mut shown = 0;
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if shown < 200 {
                let bytes = entry.metadata().map_or(0, |m| m.len());
                listing.push_str(&format!("\n  {} ({bytes} bytes)", path.display()));
                shown += 1;
            }
        }
    }
    listing
}

/// Runs `picseek` expecting success, and returns stdout parsed as JSON.
pub fn picseek_json(args: &[&str]) -> serde_json::Value {
    let out = picseek(args);
    assert!(
        out.status.success(),
        "picseek {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stderr),
        data_dir_listing(args)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("picseek {args:?} printed no JSON ({e})"))
}

/// Indexes `data`'s default `train/` (or the `--train` in `extra`) with the pixel
/// embedder at 32 px, and returns the JSON report.
pub fn index_pixel(data: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args =
        vec!["--data-dir", data.to_str().unwrap(), "--json", "index", "--embedder", "pixel", "--pixel-size", "32"];
    args.extend_from_slice(extra);
    picseek_json(&args)
}

/// The repository's root folder.
pub fn repo_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The tiny CLIP-shaped model that scripts/setup.sh makes (same inputs, outputs,
/// tokenizer and preprocessing as the real export).
pub fn clip_test_model() -> std::path::PathBuf {
    let dir = repo_root().join(".local/clip-test-model");
    assert!(dir.join("vision_model.onnx").is_file(), "{} is missing: run scripts/setup.sh", dir.display());
    dir
}

/// A tiny model in one of Immich's layouts, which scripts/setup.sh makes in
/// .local/clip-test-models/ (`ViT-B-32__openai`, `ViT-B-16-SigLIP__webli`,
/// `nllb-clip-base-siglip__v1`, `XLM-Roberta-Large-Vit-B-16Plus`, `ViT-B-32__mismatched`).
pub fn immich_test_model(name: &str) -> std::path::PathBuf {
    let dir = repo_root().join(".local/clip-test-models").join(name);
    assert!(dir.join("visual/model.onnx").is_file(), "{} is missing: run scripts/setup.sh", dir.display());
    dir
}

/// Runs tests/reference/clip_reference.py (PIL + numpy + onnxruntime, in the venv
/// scripts/setup.sh makes) and returns its JSON.
pub fn python_reference(args: &[&str]) -> serde_json::Value {
    reference_script("clip_reference.py", args)
}

/// Runs the reference script `script` of tests/reference/ in the venv scripts/setup.sh
/// makes, and returns its JSON.
pub fn reference_script(script: &str, args: &[&str]) -> serde_json::Value {
    let repo = repo_root();
    let out = std::process::Command::new(repo.join(".venv/bin/python"))
        .arg(repo.join("tests/reference").join(script))
        .args(args)
        .output()
        .expect("the venv's python runs (scripts/setup.sh makes it)");
    assert!(out.status.success(), "{script} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the reference prints JSON")
}

/// Runs `picseek` expecting failure, and returns stderr.
pub fn picseek_fails(args: &[&str]) -> String {
    let out = picseek(args);
    assert!(!out.status.success(), "picseek {args:?} succeeded unexpectedly");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "picseek {args:?} panicked: {stderr}");
    stderr
}

/// A small deterministic noise source for fixtures.
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 32) as u8
    }
}

/// An image of `colour` overlaid with a 6 x 6 grid of blocks of random brightness: each
/// seed gives a different picture (to pixel metrics and to perceptual hashes alike),
/// while images of one colour stay closer to each other than to other colours.
pub fn class_image(colour: [u8; 3], width: u32, height: u32, seed: u64) -> RgbImage {
    let mut noise = Noise::new(seed);
    let blocks: Vec<i16> = (0..36).map(|_| i16::from(noise.next() % 81) - 40).collect();
    RgbImage::from_fn(width, height, |x, y| {
        let block = blocks[(y * 6 / height * 6 + x * 6 / width) as usize];
        Rgb(colour.map(|c| (i16::from(c) + block).clamp(0, 255) as u8))
    })
}

/// Writes `n` images of `colour` into `dir/class/`, with varied sizes and formats, one
/// of them an RGBA PNG with a transparent border.
pub fn write_class(dir: &Path, class: &str, colour: [u8; 3], n: usize, seed: u64) {
    let class_dir = dir.join(class);
    std::fs::create_dir_all(&class_dir).unwrap();
    for i in 0..n {
        let (w, h) = (60 + (i as u32 * 17) % 80, 50 + (i as u32 * 29) % 90);
        let img = class_image(colour, w, h, seed * 1000 + i as u64);
        match i % 3 {
            0 => img.save(class_dir.join(format!("{class}_{i}.jpg"))).unwrap(),
            1 => img.save(class_dir.join(format!("{class}_{i}.png"))).unwrap(),
            _ => {
                let rgba = RgbaImage::from_fn(w, h, |x, y| {
                    let p = img.get_pixel(x, y).0;
                    let border = x < 4 || y < 4 || x >= w - 4 || y >= h - 4;
                    Rgba([p[0], p[1], p[2], if border { 0 } else { 255 }])
                });
                rgba.save(class_dir.join(format!("{class}_{i}.png"))).unwrap()
            }
        }
    }
}

/// A PNG whose header claims `side` x `side` pixels: refused by any sane decode limit
/// before a byte of pixel data is allocated.
pub fn oversized_png_header(side: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(data);
        out.extend(kind);
        out.extend(data);
        out.extend(crc.finalize().to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(side.to_be_bytes());
    ihdr.extend(side.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(&mut png, b"IEND", &[]);
    png
}

/// Copies folder `from`, its files and folders, into a new folder `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let file_type = entry.file_type().unwrap();
        if file_type.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        } else if file_type.is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        }
    }
}
