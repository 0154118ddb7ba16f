//! Immich's model folders (OpenCLIP models exported to ONNX: CLIP, SigLIP, NLLB-SigLIP,
//! M-CLIP), on the tiny models scripts/setup.sh makes in each layout
//! (.local/clip-test-models/) and the real ONNX Runtime. Pixels, tokens and vectors are
//! checked against tests/reference/immich_reference.py, which runs the folders as
//! Immich's own machine-learning code does; then indexing, searching in Vietnamese and
//! German, the model shoot-out and the refusals through the binary.

use std::path::{Path, PathBuf};

use crate::support::{class_image, immich_test_model, picseek, picseek_fails, picseek_json, reference_script};
use image::{Rgb, RgbImage};
use picseek_clip::{ModelFiles, Preprocessing, TextEncoder, TextLanguage};
use picseek_embed::{ClipEmbedder, ModelOptions};

/// The four layouts, as Immich names the models.
const MODELS: [&str; 4] =
    ["ViT-B-32__openai", "ViT-B-16-SigLIP__webli", "nllb-clip-base-siglip__v1", "XLM-Roberta-Large-Vit-B-16Plus"];

fn reference(args: &[&str]) -> serde_json::Value {
    reference_script("immich_reference.py", args)
}

fn max_abs_diff(ours: &[f32], reference: &serde_json::Value) -> f64 {
    let reference = reference.as_array().expect("a list of numbers");
    assert_eq!(ours.len(), reference.len(), "lengths differ");
    ours.iter().zip(reference).map(|(a, b)| (f64::from(*a) - b.as_f64().unwrap()).abs()).fold(0.0, f64::max)
}

/// RGB PNGs of awkward shapes (Immich drops alpha where picseek lays it on white, and
/// neither sees EXIF here, so plain RGB is what both must read alike).
fn awkward_images(dir: &Path) -> Vec<PathBuf> {
    let images = [
        ("landscape.png", class_image([180, 90, 40], 640, 480, 1)),
        ("portrait_odd.png", class_image([40, 90, 180], 223, 517, 2)),
        ("thin.png", class_image([90, 180, 40], 500, 7, 3)),
        ("square.png", class_image([128, 128, 128], 300, 300, 4)),
        ("one_pixel.png", RgbImage::from_pixel(1, 1, Rgb([10, 200, 30]))),
    ];
    images
        .into_iter()
        .map(|(name, img)| {
            let path = dir.join(name);
            img.save(&path).unwrap();
            path
        })
        .collect()
}

#[test]
fn every_layout_preprocesses_and_embeds_images_as_immich_does() {
    let dir = tempfile::tempdir().unwrap();
    let files = awkward_images(dir.path());
    for name in MODELS {
        let model = immich_test_model(name);
        let model_str = model.to_str().unwrap();
        let preprocessing = Preprocessing::load(&ModelFiles::new(&model)).unwrap();
        for file in &files {
            let ours = preprocessing.pixel_values(&picseek_imaging::decode_rgb_file(file, 1 << 30).unwrap());
            let theirs = reference(&["pixels", model_str, file.to_str().unwrap()]);
            let diff = max_abs_diff(&ours, &theirs["pixel_values"]);
            assert!(diff < 1e-5, "{name}, {}: pixel values differ from Immich's by {diff}", file.display());
        }
        // A batch of 4 through a model that takes one image per run.
        let options = ModelOptions { batch: 4, threads: 2, ..ModelOptions::in_dir(&model) };
        let clip = ClipEmbedder::load(&options, 1 << 30).unwrap();
        let prepared: Vec<Vec<f32>> =
            files.iter().map(|f| clip.prepare(f, &std::fs::read(f).unwrap()).unwrap()).collect();
        let ours = clip.embed_prepared(&prepared).unwrap();
        let mut args = vec!["images", model_str];
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        let theirs = reference(&args);
        for ((file, ours), theirs) in files.iter().zip(&ours).zip(theirs["embeddings"].as_array().unwrap()) {
            let diff = max_abs_diff(ours, theirs);
            assert!(diff < 1e-5, "{name}, {}: embedding differs from Immich's by {diff}", file.display());
        }
    }
}

#[test]
fn texts_in_vietnamese_and_german_tokenise_and_embed_as_immich_does() {
    let long = "một con mèo rất dễ thương đang ngủ ".repeat(20);
    let phrases = [
        "a photo of a cat",
        "  A Photo, of THE   Cat!! ",
        "một con mèo đang ngủ trên ghế",
        "ein Hund läuft über die Straße",
        &long,
    ];
    for name in MODELS {
        let model = immich_test_model(name);
        let model_str = model.to_str().unwrap();
        let encoder = TextEncoder::load(&ModelFiles::new(&model), 1, picseek_clip::Device::Cpu).unwrap();
        let nllb = name.starts_with("nllb");
        assert_eq!(encoder.takes_language(), nllb, "{name}");
        // NLLB reads the language in front of the text; the others take none.
        let languages: &[Option<&str>] = if nllb { &[None, Some("vi"), Some("de")] } else { &[None] };
        for language in languages {
            let encoder = match language {
                Some(code) => TextEncoder::load(&ModelFiles::new(&model), 1, picseek_clip::Device::Cpu)
                    .unwrap()
                    .with_language(Some(code.parse::<TextLanguage>().unwrap())),
                None => TextEncoder::load(&ModelFiles::new(&model), 1, picseek_clip::Device::Cpu).unwrap(),
            };
            let flores = language.map(|c| c.parse::<TextLanguage>().unwrap().flores_code().to_owned());
            let mut prefix = vec![model_str];
            if let Some(code) = &flores {
                prefix.extend(["--language", code.as_str()]);
            }
            let tokens = reference(&[&["tokens"][..], &prefix, &phrases].concat());
            let vectors = reference(&[&["texts"][..], &prefix, &phrases].concat());
            for ((phrase, tokens), vector) in
                phrases.iter().zip(tokens["tokens"].as_array().unwrap()).zip(vectors["embeddings"].as_array().unwrap())
            {
                let (ids, _) = encoder.tokenize(phrase).unwrap();
                let expected: Vec<i64> = tokens.as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
                assert_eq!(ids, expected, "{name} ({language:?}): tokens of {phrase:?}");
                let diff = max_abs_diff(&encoder.embed(phrase).unwrap(), vector);
                assert!(diff < 1e-5, "{name} ({language:?}): the vector of {phrase:?} differs by {diff}");
            }
        }
    }
    // The language changes what NLLB sees, so it changes the vector.
    let nllb = immich_test_model("nllb-clip-base-siglip__v1");
    let load = || TextEncoder::load(&ModelFiles::new(&nllb), 1, picseek_clip::Device::Cpu).unwrap();
    let plain = load().embed("con mèo").unwrap();
    let vietnamese = load().with_language(Some("vi".parse().unwrap())).embed("con mèo").unwrap();
    assert_ne!(plain, vietnamese);
}

/// `n` PNGs of `colour` in `dir/class/`.
fn write_pngs(dir: &Path, class: &str, colour: [u8; 3], n: usize, seed: u64) {
    std::fs::create_dir_all(dir.join(class)).unwrap();
    for i in 0..n {
        let (w, h) = (70 + (i as u32 * 37) % 150, 60 + (i as u32 * 53) % 170);
        class_image(colour, w, h, seed * 1000 + i as u64)
            .save(dir.join(class).join(format!("{class}_{i}.png")))
            .unwrap();
    }
}

#[test]
fn an_immich_folder_indexes_and_is_searched_in_the_users_language() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    write_pngs(&data.path().join("train"), "mèo", [200, 60, 40], 4, 1);
    write_pngs(&data.path().join("train"), "chó", [40, 60, 200], 4, 2);
    let model = immich_test_model("nllb-clip-base-siglip__v1");
    let model_str = model.to_str().unwrap();
    let built = picseek_json(&["--data-dir", data_dir, "--json", "index", "--model", model_str]);
    assert_eq!(built["items"], 8, "{built}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.path().join("index/index.json")).unwrap()).unwrap();
    assert_eq!(manifest["model"]["layout"], "immich", "{}", manifest["model"]);
    assert_eq!(manifest["model"]["family"], "siglip", "{}", manifest["model"]);
    assert_eq!(manifest["dimension"], 64);
    assert!(manifest["preprocessing"].as_str().unwrap().contains("resize-192x192-bilinear;no-crop"), "{manifest}");

    // The model is found from the index; the language goes to NLLB's tokenizer.
    for args in [
        &["--text", "một con mèo", "--text-language", "vi"][..],
        &["--text", "eine Katze", "--text-language", "deu_Latn"][..],
        &["--text", "a cat"][..],
    ] {
        let found = picseek_json(&[&["--data-dir", data_dir, "--json", "search", "-k", "3"][..], args].concat());
        assert_eq!(found["results"].as_array().unwrap().len(), 3, "{args:?}: {found}");
    }
    let err = picseek_fails(&["--data-dir", data_dir, "search", "--text", "a cat", "--text-language", "klingon"]);
    assert!(err.contains("--text-language") && err.contains("FLORES-200"), "{err}");

    // An image query through a model that runs one image at a time.
    let query = data.path().join("train/mèo/mèo_0.png");
    let found =
        picseek_json(&["--data-dir", data_dir, "--json", "search", "--image", query.to_str().unwrap(), "-k", "1"]);
    assert!(found["results"][0]["path"].as_str().unwrap().ends_with("mèo_0.png"), "{found}");

    // doctor finds the folder and what it is.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().to_string();
    let report = picseek_json(&["--data-dir", data_dir, "--json", "doctor", "--network-host", &open]);
    let check = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "model").unwrap().clone();
    assert_eq!(check["status"], "ok", "{check}");
    assert!(check["detail"].as_str().unwrap().contains("nllb-clip-base-siglip__v1"), "{check}");
}

#[test]
fn a_shoot_out_compares_models_on_the_users_split_in_one_table() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    for (side, seed) in [("train", 1), ("test", 7)] {
        write_pngs(&data.path().join(side), "red", [210, 50, 40], 4, seed);
        write_pngs(&data.path().join(side), "blue", [40, 60, 210], 4, seed + 1);
        write_pngs(&data.path().join(side), "green", [50, 200, 60], 4, seed + 2);
    }
    let hugging_face = crate::support::clip_test_model();
    let immich = immich_test_model("ViT-B-32__openai");
    let siglip = immich_test_model("ViT-B-16-SigLIP__webli");
    let models: Vec<&str> = [&hugging_face, &immich, &siglip].iter().map(|m| m.to_str().unwrap()).collect();
    let args = |json: bool| {
        let mut args = vec!["--data-dir", data_dir];
        if json {
            args.push("--json");
        }
        args.extend(["eval", "-k", "3"]);
        for model in &models {
            args.extend(["--model", model]);
        }
        args
    };
    // The data directory's own index, made with the first model: its vectors are reused.
    picseek_json(&["--data-dir", data_dir, "--json", "index", "--model", models[0]]);
    let first = picseek_json(&args(true));
    let rows = first["models"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{first}");
    assert_eq!(first["queries"], 12);
    let labels: Vec<&str> = rows.iter().map(|r| r["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["clip-test-model", "ViT-B-32__openai", "ViT-B-16-SigLIP__webli"]);
    for (n, row) in rows.iter().enumerate() {
        assert_eq!(row["items"], 12, "{row}");
        assert_eq!(row["embedded"], if n == 0 { 0 } else { 12 }, "{row}");
        assert!(row["images_per_second"].as_f64().unwrap() > 0.0, "{row}");
        assert!(row["index_bytes"].as_u64().unwrap() >= 12 * 64 * 4, "{row}");
        let p1 = row["eval"]["precision_at_1"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p1), "{row}");
        assert!(Path::new(row["index"].as_str().unwrap()).starts_with(data.path().join("eval-models")), "{row}");
    }
    assert_eq!(rows[2]["family"], "siglip");
    assert_eq!(rows[0]["layout"], "hugging-face");
    // The colours are far apart: the tiny CLIP-shaped models tell them apart.
    assert!(rows[0]["eval"]["precision_at_1"].as_f64().unwrap() > 0.9, "{}", rows[0]);

    // Again, as a table: every model's index is kept with its cache, so nothing is
    // embedded again and the scores are the same.
    let out = picseek(&args(false));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("P@1") && table.contains("images/s") && table.contains("ViT-B-16-SigLIP__webli"), "{table}");
    assert_eq!(table.lines().count(), 5, "{table}");
    let again = picseek_json(&args(true));
    for (before, after) in rows.iter().zip(again["models"].as_array().unwrap()) {
        assert_eq!(after["embedded"], 0, "{after}");
        assert_eq!(before["eval"]["precision_at_1"], after["eval"]["precision_at_1"]);
    }
}

#[test]
fn unknown_layouts_and_encoders_that_disagree_are_refused_in_one_line() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    write_pngs(&data.path().join("train"), "red", [210, 50, 40], 2, 1);
    let odd = data.path().join("odd-model");
    std::fs::create_dir_all(&odd).unwrap();
    std::fs::write(odd.join("pytorch_model.bin"), b"weights").unwrap();
    let err = picseek_fails(&["--data-dir", data_dir, "index", "--model", odd.to_str().unwrap()]);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("not a CLIP model folder"), "{err}");
    for file in
        ["vision_model.onnx", "preprocessor_config.json", "visual/model.onnx", "textual/tokenizer.json", "config.json"]
    {
        assert!(err.contains(file), "{file} not named: {err}");
    }

    let mismatched = immich_test_model("ViT-B-32__mismatched");
    let err = picseek_fails(&["--data-dir", data_dir, "index", "--model", mismatched.to_str().unwrap()]);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("64-wide") && err.contains("32-wide") && err.contains("not one model's"), "{err}");
    assert!(!data.path().join("index/index.json").exists(), "nothing is written for a refused model");
}

#[test]
fn quantize_py_makes_an_immich_folder_s_int8_files_and_they_index() {
    let data = tempfile::tempdir().unwrap();
    let model = data.path().join("ViT-B-32__openai");
    crate::support::copy_dir(&immich_test_model("ViT-B-32__openai"), &model);
    let repo = crate::support::repo_root();
    let made = std::process::Command::new(repo.join(".venv/bin/python"))
        .arg(repo.join("scripts/clip/quantize.py"))
        .arg(&model)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    for file in ["visual/model_quantized.onnx", "textual/model_quantized.onnx"] {
        assert!(model.join(file).is_file(), "{file}");
    }
    write_pngs(&data.path().join("train"), "red", [210, 50, 40], 3, 1);
    let data_dir = data.path().to_str().unwrap();
    let model_str = model.to_str().unwrap();
    let built = picseek_json(&["--data-dir", data_dir, "--json", "index", "--model", model_str, "--precision", "int8"]);
    assert_eq!(built["embedded"], 3, "{built}");
    let found = picseek_json(&["--data-dir", data_dir, "--json", "search", "--text", "a red thing", "-k", "1"]);
    assert_eq!(found["results"].as_array().unwrap().len(), 1, "{found}");
}
