//! The CLIP code path end to end, on the tiny CLIP-shaped model scripts/setup.sh makes
//! (.local/clip-test-model: the real export's inputs, outputs, tokenizer and
//! preprocessing) and the real ONNX Runtime library. Embeddings, preprocessing and
//! tokens are checked against an independent Python reference (PIL + numpy +
//! onnxruntime, OpenAI's tokenizer): tests/reference/clip_reference.py.

use std::path::{Path, PathBuf};

use crate::support::{
    class_image, clip_test_model, picseek, picseek_command, picseek_fails, picseek_json, python_reference, write_class,
};
use image::{Rgb, RgbImage, Rgba, RgbaImage};
use picseek_clip::{ModelFiles, Preprocessing, TextEncoder};
use picseek_embed::{ClipEmbedder, ModelOptions};

fn max_abs_diff(ours: &[f32], reference: &serde_json::Value) -> f64 {
    let reference = reference.as_array().expect("a list of numbers");
    assert_eq!(ours.len(), reference.len(), "lengths differ");
    ours.iter().zip(reference).map(|(a, b)| (f64::from(*a) - b.as_f64().unwrap()).abs()).fold(0.0, f64::max)
}

/// Images that stress preprocessing: alpha, odd aspect ratios, tiny and large sizes.
fn awkward_images(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut save_rgb = |name: &str, img: RgbImage| {
        let path = dir.join(name);
        img.save(&path).unwrap();
        files.push(path);
    };
    save_rgb("landscape.png", class_image([180, 90, 40], 640, 480, 1));
    save_rgb("portrait_odd.png", class_image([40, 90, 180], 223, 517, 2));
    save_rgb("thin.png", class_image([90, 180, 40], 500, 3, 3));
    save_rgb("one_pixel.png", RgbImage::from_pixel(1, 1, Rgb([10, 200, 30])));
    save_rgb("two_by_three.png", RgbImage::from_fn(2, 3, |x, y| Rgb([(x * 120) as u8, (y * 80) as u8, 77])));
    save_rgb("exact_224.png", class_image([128, 128, 128], 224, 224, 4));
    let base = class_image([200, 40, 160], 300, 200, 5);
    let rgba = RgbaImage::from_fn(300, 200, |x, y| {
        let p = base.get_pixel(x, y).0;
        Rgba([p[0], p[1], p[2], ((x + y) % 256) as u8])
    });
    let path = dir.join("alpha.png");
    rgba.save(&path).unwrap();
    files.push(path);
    files
}

#[test]
fn preprocessing_and_image_embeddings_match_the_python_reference() {
    let model = clip_test_model();
    let dir = tempfile::tempdir().unwrap();
    let files = awkward_images(dir.path());
    let model_str = model.to_str().unwrap();

    let preprocessing = Preprocessing::load(&ModelFiles::new(&model)).unwrap();
    for file in &files {
        let ours = preprocessing.pixel_values(&picseek_imaging::decode_rgb_file(file, 1 << 30).unwrap());
        let reference = python_reference(&["pixels", model_str, file.to_str().unwrap()]);
        let diff = max_abs_diff(&ours, &reference["pixel_values"]);
        assert!(diff < 1e-5, "{}: pixel values differ from PIL's by {diff}", file.display());
    }

    let clip =
        ClipEmbedder::load(&ModelOptions { batch: 4, threads: 2, ..ModelOptions::in_dir(&model) }, 1 << 30).unwrap();
    let mut args = vec!["images", model_str];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let reference = python_reference(&args);
    for (file, expected) in files.iter().zip(reference["embeddings"].as_array().unwrap()) {
        let ours = clip.embed_file(file).unwrap();
        let norm: f32 = ours.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{}: embedding is not unit length ({norm})", file.display());
        let diff = max_abs_diff(&ours, expected);
        assert!(diff < 1e-5, "{}: embedding differs from the reference by {diff}", file.display());
    }
}

#[test]
fn tokens_and_text_embeddings_match_openai_clip() {
    let model = clip_test_model();
    let encoder = TextEncoder::load(&ModelFiles::new(&model), 1, picseek_clip::Device::Cpu).unwrap();
    let long = "a very long caption that keeps going ".repeat(12);
    let phrases = ["a red car", "A photo of a CAT!!", "two dogs, 3 cats & 42 birds", "  spaced   out\tWords  ", &long];
    let mut args = vec!["tokens", model.to_str().unwrap()];
    args.extend(phrases.iter().copied());
    let reference = python_reference(&args);
    for (phrase, expected) in phrases.iter().zip(reference["tokens"].as_array().unwrap()) {
        let (ids, mask) = encoder.tokenize(phrase).unwrap();
        let expected: Vec<i64> = expected.as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        assert_eq!(ids, expected, "tokens of {phrase:?}");
        assert_eq!(ids.len(), 77);
        let real = mask.iter().filter(|&&m| m == 1).count();
        assert!(ids[real - 1] == 49407 && mask[real..].iter().all(|&m| m == 0), "mask of {phrase:?}");
    }

    let mut args = vec!["texts", model.to_str().unwrap()];
    args.extend(phrases.iter().copied());
    let reference = python_reference(&args);
    for (phrase, expected) in phrases.iter().zip(reference["embeddings"].as_array().unwrap()) {
        let diff = max_abs_diff(&encoder.embed(phrase).unwrap(), expected);
        assert!(diff < 1e-5, "text embedding of {phrase:?} differs by {diff}");
    }
}

/// `n` lossless images of `colour` in `dir/class/` (PNG, so PIL and picseek decode the
/// same pixels; JPEG decoders differ by a level here and there).
fn write_png_class(dir: &Path, class: &str, colour: [u8; 3], n: usize, seed: u64) {
    std::fs::create_dir_all(dir.join(class)).unwrap();
    for i in 0..n {
        let (w, h) = (60 + (i as u32 * 37) % 200, 50 + (i as u32 * 53) % 220);
        class_image(colour, w, h, seed * 1000 + i as u64)
            .save(dir.join(class).join(format!("{class}_{i}.png")))
            .unwrap();
    }
}

/// Copies the four files of the model in `from` to a new folder `to`.
fn copy_model(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for name in ["vision_model.onnx", "text_model.onnx", "tokenizer.json", "preprocessor_config.json"] {
        std::fs::copy(from.join(name), to.join(name)).unwrap();
    }
}

fn index_clip(data: &Path, model: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["--data-dir", data.to_str().unwrap(), "--json", "index", "--model", model.to_str().unwrap()];
    args.extend_from_slice(extra);
    picseek_json(&args)
}

fn search(data: &Path, model: &Path, query: &[&str], extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["--data-dir", data.to_str().unwrap(), "--json", "search", "--model", model.to_str().unwrap()];
    args.extend_from_slice(query);
    args.extend_from_slice(extra);
    picseek_json(&args)
}

fn result_paths(doc: &serde_json::Value) -> Vec<String> {
    doc["results"].as_array().unwrap().iter().map(|r| r["path"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn clip_index_round_trip_incremental_reindex_and_search_by_image_and_text() {
    let model = clip_test_model();
    let data = tempfile::tempdir().unwrap();
    let train = data.path().join("train");
    write_png_class(&train, "red", [200, 40, 40], 6, 1);
    write_png_class(&train, "blue", [40, 40, 200], 6, 2);

    let first = index_clip(data.path(), &model, &["--metric", "cosine,l2", "--metric", "correlation"]);
    assert_eq!(
        (first["items"].as_u64(), first["embedded"].as_u64(), first["reused"].as_u64()),
        (Some(12), Some(12), Some(0))
    );
    assert_eq!(first["graphs_built"], serde_json::json!(["cosine", "l2", "correlation"]));
    // An index this small is searched exactly, and says so; the graph is used from the
    // size recorded with it, which rebuilds nothing.
    let query = train.join("red/red_1.png");
    let small = picseek_command()
        .env("RUST_LOG", "warn,picseek=info")
        .args([
            "--data-dir",
            data.path().to_str().unwrap(),
            "--json",
            "search",
            "--model",
            model.to_str().unwrap(),
            "--image",
            query.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&small.stderr);
    assert!(said.contains("searching all 12 items exactly: below 250"), "{said}");
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&small.stdout).unwrap()["search"], "exact");
    let through_graph = index_clip(data.path(), &model, &["--exact-below", "0"]);
    assert_eq!(through_graph["graphs_built"], serde_json::json!([]), "{through_graph}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.path().join("index/index.json")).unwrap()).unwrap();
    assert_eq!(manifest["embedder"], "clip");
    assert_eq!(manifest["dimension"], 64);
    assert_eq!(manifest["vectors"]["dtype"], "f32");
    assert_eq!(manifest["model"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(manifest["ann"].as_array().unwrap().len(), 3);
    for graph in manifest["ann"].as_array().unwrap() {
        assert_eq!(
            (&graph["exact_below"], &graph["chosen"]),
            (&serde_json::json!(0), &serde_json::json!({"exact_below": 0}))
        );
        assert_eq!(
            (&graph["quantization"], &graph["expansion_search"]),
            (&serde_json::json!("i8"), &serde_json::json!(64))
        );
    }
    let vectors_before =
        std::fs::read(data.path().join("index").join(manifest["vectors"]["file"].as_str().unwrap())).unwrap();

    // An image finds itself first, approximately and exactly, under every metric.
    let query = query.to_str().unwrap();
    for metric in ["cosine", "l2", "correlation", "l1"] {
        let approximate = search(data.path(), &model, &["--image", query], &["--metric", metric, "-k", "4"]);
        let exact = search(data.path(), &model, &["--image", query], &["--metric", metric, "-k", "4", "--exact"]);
        let expected = if metric == "l1" { "exact" } else { "approximate" };
        assert_eq!(approximate["search"], expected, "{metric}");
        assert_eq!(exact["search"], "exact");
        assert!(result_paths(&approximate)[0].ends_with("red_1.png"), "{metric}: {approximate}");
        assert_eq!(result_paths(&approximate), result_paths(&exact), "{metric}: approximate and exact disagree");
        assert_eq!(approximate["results"], exact["results"], "{metric}: scores differ");
    }

    // A text query runs the text model; its ranking matches the reference's cosine order.
    let text = search(data.path(), &model, &["--text", "a red car"], &["-k", "12", "--exact"]);
    assert_eq!(text["query"], "a red car");
    let reference_text = python_reference(&["texts", model.to_str().unwrap(), "a red car"]);
    let items: Vec<&str> = manifest["items"].as_array().unwrap().iter().map(|i| i["path"].as_str().unwrap()).collect();
    let mut args = vec!["images", model.to_str().unwrap()];
    let item_paths: Vec<String> = items.iter().map(|p| data.path().join(p).display().to_string()).collect();
    args.extend(item_paths.iter().map(String::as_str));
    let reference_images = python_reference(&args);
    let t: Vec<f64> = reference_text["embeddings"][0].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let mut expected: Vec<(f64, &str)> = reference_images["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&items)
        .map(|(e, p)| (e.as_array().unwrap().iter().zip(&t).map(|(a, b)| a.as_f64().unwrap() * b).sum(), *p))
        .collect();
    expected.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (hit, (score, path)) in text["results"].as_array().unwrap().iter().zip(&expected) {
        assert!(hit["path"].as_str().unwrap().ends_with(path), "text ranking differs: {hit} vs {path}");
        assert!((hit["score"].as_f64().unwrap() - score).abs() < 1e-4);
    }
    let plot = data.path().join("text.png");
    search(data.path(), &model, &["--text", "a red car"], &["--plot", plot.to_str().unwrap()]);
    let sheet = image::open(&plot).unwrap();
    assert_eq!(sheet.width(), 8 + 5 * (224 + 8), "a grid of five columns");
    assert!(sheet.height() > 2 * 224, "the text and five results take two rows");

    // Adding images embeds only those; the old rows are kept byte for byte.
    write_class(&train, "green", [40, 200, 40], 3, 3);
    let second = index_clip(data.path(), &model, &["--metric", "cosine,l2,correlation"]);
    assert_eq!(
        (second["items"].as_u64(), second["embedded"].as_u64(), second["reused"].as_u64()),
        (Some(15), Some(3), Some(12))
    );
    let third = index_clip(data.path(), &model, &["--metric", "cosine,l2,correlation"]);
    assert_eq!((third["embedded"].as_u64(), third["reused"].as_u64()), (Some(0), Some(15)));
    assert_eq!(third["graphs_built"], serde_json::json!([]), "unchanged graphs are kept");
    // How widely a graph is searched is recorded, not built in: changing it rebuilds nothing.
    let wider = index_clip(data.path(), &model, &["--expansion-search", "200"]);
    assert_eq!(wider["graphs_built"], serde_json::json!([]), "{wider}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.path().join("index/index.json")).unwrap()).unwrap();
    assert!(manifest["ann"].as_array().unwrap().iter().all(|g| g["expansion_search"] == 200), "{}", manifest["ann"]);
    let vectors_after =
        std::fs::read(data.path().join("index").join(manifest["vectors"]["file"].as_str().unwrap())).unwrap();
    let old_rows: Vec<&[u8]> = vectors_before.chunks(64 * 4).collect();
    for row in old_rows {
        assert!(vectors_after.chunks(64 * 4).any(|r| r == row), "an old row was not kept");
    }
    let files: Vec<String> = std::fs::read_dir(data.path().join("index"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "cache")
        .collect();
    assert_eq!(files.len(), 5, "replaced vector and graph files are removed: {files:?}");

    // Eval: approximate search with its recall against exact search.
    let test = data.path().join("test");
    write_class(&test, "red", [200, 40, 40], 2, 11);
    write_class(&test, "blue", [40, 40, 200], 2, 12);
    let eval = picseek_json(&[
        "--data-dir",
        data.path().to_str().unwrap(),
        "--json",
        "eval",
        "--model",
        model.to_str().unwrap(),
        "-k",
        "3",
    ]);
    assert_eq!(eval["queries"], 4);
    for m in eval["metrics"].as_array().unwrap() {
        if m["metric"] == "l1" {
            assert_eq!((m["search"].as_str(), m["recall_at_k"].as_f64()), (Some("exact"), None));
        } else {
            assert_eq!(m["search"], "approximate");
            assert!(m["recall_at_k"].as_f64().unwrap() >= 0.99, "{m}");
        }
        assert!(m["precision_at_1"].as_f64().unwrap() >= 0.75, "{m}");
    }
}

#[test]
fn a_run_killed_before_it_committed_resumes_from_the_embedding_cache() {
    let model = clip_test_model();
    let data = tempfile::tempdir().unwrap();
    write_png_class(&data.path().join("train"), "red", [200, 40, 40], 7, 1);
    let first = index_clip(data.path(), &model, &["--batch", "2"]);
    assert_eq!(first["embedded"], 7);

    // What a run killed after embedding, before committing, leaves: no index, the
    // cache, and maybe half a record at its end.
    let index = data.path().join("index");
    let cache_dir = index.join("cache");
    let cache_files: Vec<PathBuf> = std::fs::read_dir(&cache_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "vectors"))
        .collect();
    assert_eq!(cache_files.len(), 1, "one cache per model and preprocessing");
    for entry in std::fs::read_dir(&index).unwrap() {
        let path = entry.unwrap().path();
        if path != cache_dir {
            std::fs::remove_file(path).unwrap();
        }
    }
    let mut cache = std::fs::OpenOptions::new().append(true).open(&cache_files[0]).unwrap();
    std::io::Write::write_all(&mut cache, b"0123456789abcdef-half-a-record").unwrap();
    drop(cache);

    write_png_class(&data.path().join("train"), "blue", [40, 40, 200], 2, 2);
    let resumed = index_clip(data.path(), &model, &[]);
    assert_eq!(
        (resumed["items"].as_u64(), resumed["embedded"].as_u64(), resumed["reused"].as_u64()),
        (Some(9), Some(2), Some(7))
    );
    let again = index_clip(data.path(), &model, &["--rebuild"]);
    assert_eq!(
        (again["embedded"].as_u64(), again["reused"].as_u64()),
        (Some(0), Some(9)),
        "the cache survives --rebuild"
    );
    let search =
        search(data.path(), &model, &["--image", data.path().join("train/blue/blue_1.png").to_str().unwrap()], &[]);
    assert!(result_paths(&search)[0].ends_with("blue_1.png"), "{search}");
}

#[test]
fn another_model_or_preprocessing_is_refused_unless_rebuilt() {
    let model = clip_test_model();
    let data = tempfile::tempdir().unwrap();
    write_class(&data.path().join("train"), "red", [200, 40, 40], 3, 1);
    index_clip(data.path(), &model, &[]);

    // The same weights saved again: a different file, so a different model to picseek.
    let other = data.path().join("other-model");
    copy_model(&model, &other);
    let mut onnx = std::fs::read(other.join("vision_model.onnx")).unwrap();
    // Field 6 of ModelProto (doc_string), appended: valid protobuf, same graph.
    onnx.extend([0x32, 0x05]);
    onnx.extend(b"other");
    std::fs::write(other.join("vision_model.onnx"), onnx).unwrap();
    let data_dir = data.path().to_str().unwrap();
    let other_str = other.to_str().unwrap();
    let err = picseek_fails(&["--data-dir", data_dir, "index", "--model", other_str]);
    assert!(err.contains("a model file of SHA-256") && err.contains("--rebuild"), "{err}");
    let query = data.path().join("train/red/red_0.jpg");
    let err =
        picseek_fails(&["--data-dir", data_dir, "search", "--model", other_str, "--image", query.to_str().unwrap()]);
    assert!(err.contains("a model file of SHA-256") && err.contains("--model DIR"), "{err}");
    assert!(err.contains("the index was built with the model in") && !err.contains(&"0".repeat(64)), "{err}");

    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("preprocessor_config.json")).unwrap()).unwrap();
    config["resample"] = 2.into();
    let bilinear = data.path().join("bilinear-model");
    copy_model(&model, &bilinear);
    std::fs::write(bilinear.join("preprocessor_config.json"), config.to_string()).unwrap();
    let err = picseek_fails(&["--data-dir", data_dir, "index", "--model", bilinear.to_str().unwrap()]);
    assert!(err.contains("bilinear") && err.contains("bicubic"), "{err}");

    let rebuilt = index_clip(data.path(), &other, &["--rebuild"]);
    assert_eq!((rebuilt["embedded"].as_u64(), rebuilt["reused"].as_u64()), (Some(3), Some(0)));
}

#[test]
fn missing_runtime_or_model_gives_a_clear_error_not_a_panic() {
    let model = clip_test_model();
    let data = tempfile::tempdir().unwrap();
    write_class(&data.path().join("train"), "red", [200, 40, 40], 2, 1);
    let data_dir = data.path().to_str().unwrap();

    let err = picseek_fails(&["--data-dir", data_dir, "index", "--model", "/nonexistent/clip"]);
    assert!(err.contains("/nonexistent/clip") && err.contains("download-clip.sh"), "{err}");
    // `run` says so before it crawls for an hour.
    let categories = data.path().join("categories.json");
    std::fs::write(&categories, r#"{"animal": ["Owl"]}"#).unwrap();
    let err = picseek_fails(&[
        "--data-dir",
        data_dir,
        "run",
        "--categories",
        categories.to_str().unwrap(),
        "--model",
        "/nonexistent/clip",
    ]);
    assert!(err.contains("download-clip.sh") && err.contains("--embedder pixel"), "{err}");
    assert!(!data.path().join("urls.json").exists(), "nothing was crawled");

    let run_with_library = |library: &Path| {
        crate::support::picseek_command()
            .args(["--data-dir", data_dir, "index", "--model", model.to_str().unwrap()])
            .env("ORT_DYLIB_PATH", library)
            .output()
            .unwrap()
    };
    let out = run_with_library(Path::new("/nonexistent/libonnxruntime.so"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && !err.contains("panicked"), "{err}");
    assert!(err.contains("/nonexistent/libonnxruntime.so") && err.contains("scripts/setup.sh"), "{err}");

    let not_a_library = data.path().join("libonnxruntime.so");
    std::fs::write(&not_a_library, "not a shared library").unwrap();
    let out = run_with_library(&not_a_library);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && !err.contains("panicked"), "{err}");
    assert!(err.contains("cannot load ONNX Runtime"), "{err}");

    // Text queries on a pixel index say what is needed.
    crate::support::index_pixel(data.path(), &[]);
    let err = picseek_fails(&["--data-dir", data_dir, "search", "--text", "a red car"]);
    assert!(err.contains("CLIP index"), "{err}");
    assert!(picseek(&["--data-dir", data_dir, "search", "--text", "  "]).status.code() != Some(0));
}

#[test]
fn a_text_model_of_another_width_is_refused_with_both_widths_named() {
    let data = tempfile::tempdir().unwrap();
    write_class(&data.path().join("train"), "red", [200, 40, 40], 2, 1);
    let mixed = data.path().join("mixed-model");
    copy_model(&clip_test_model(), &mixed);
    let data_dir = data.path().to_str().unwrap();
    index_clip(data.path(), &mixed, &[]);
    // Then a 32-d text model beside the 64-d vision model, made by the test-model generator.
    let repo = crate::support::repo_root();
    let made = std::process::Command::new(repo.join(".venv/bin/python"))
        .arg("-c")
        .arg(
            "import sys, onnx; sys.path.insert(0, sys.argv[1]); import make_test_model as m; \
              onnx.save(m.tiny_text(dim=32), sys.argv[2])",
        )
        .arg(repo.join("scripts/clip"))
        .arg(mixed.join("text_model.onnx"))
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    // A new index is refused before anything is embedded...
    let err = picseek_fails(&["--data-dir", data_dir, "index", "--rebuild", "--model", mixed.to_str().unwrap()]);
    assert!(err.contains("64-wide") && err.contains("32-wide") && err.contains("not one model"), "{err}");
    // ...and an index made before the text model changed refuses its text queries.
    for extra in [&[][..], &["--exact"][..]] {
        let mut args = vec!["--data-dir", data_dir, "search", "--model", mixed.to_str().unwrap(), "--text", "red"];
        args.extend_from_slice(extra);
        let err = picseek_fails(&args);
        assert!(err.contains("text_model.onnx") && err.contains("32-d") && err.contains("64-d"), "{err}");
    }
}

/// Runs picseek with ONNX Runtime's library `library`, expecting it to fail; its stderr.
fn fails_with_library(library: &Path, args: &[&str]) -> String {
    let out = crate::support::picseek_command().args(args).env("ORT_DYLIB_PATH", library).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success() && !err.contains("panicked"), "{args:?}: {err}");
    err
}

#[test]
fn device_cuda_without_cuda_is_one_clear_error_for_every_command_that_runs_the_model() {
    let model = clip_test_model();
    let cpu_build = crate::support::repo_root().join(".local/onnxruntime/lib/libonnxruntime.so");
    let data = tempfile::tempdir().unwrap();
    write_class(&data.path().join("train"), "red", [200, 40, 40], 2, 1);
    write_class(&data.path().join("test"), "red", [200, 40, 40], 1, 2);
    let (data_dir, model_dir) = (data.path().to_str().unwrap(), model.to_str().unwrap());
    let query = data.path().join("train/red/red_0.jpg");
    let query = query.to_str().unwrap();
    let index_on_cuda = ["--data-dir", data_dir, "index", "--model", model_dir, "--device", "cuda"];
    let err = fails_with_library(&cpu_build, &index_on_cuda);
    assert!(!data.path().join("index/index.json").exists(), "nothing indexed on the CPU instead");
    index_clip(data.path(), &model, &[]);
    let commands: [&[&str]; 4] = [
        &["index", "--model", model_dir, "--rebuild", "--device", "cuda:1"],
        &["search", "--image", query, "--device", "cuda"],
        &["eval", "--device", "cuda"],
        &["serve", "--addr", "127.0.0.1:0", "--device", "cuda"],
    ];
    let mut errors = vec![err];
    for args in commands {
        errors.push(fails_with_library(&cpu_build, &[&["--data-dir", data_dir][..], args].concat()));
    }
    for err in errors {
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("picseek:")).collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].contains("cannot be used") && lines[0].contains("a build without CUDA"), "{err}");
        assert!(lines[0].contains("scripts/setup.sh --gpu"), "{err}");
    }
    // The CPU is still the default, and cuda:N names its device.
    assert!(search(data.path(), &model, &["--image", query], &["--device", "cpu"])["results"].as_array().is_some());
    let err =
        fails_with_library(&cpu_build, &["--data-dir", data_dir, "search", "--image", query, "--device", "cuda:1"]);
    assert!(err.contains("cuda:1 cannot be used"), "{err}");
    // With the GPU build (scripts/setup.sh --gpu) but no GPU, the provider's own reason.
    let gpu_build = crate::support::repo_root().join(".local/onnxruntime-gpu/lib/libonnxruntime.so");
    if gpu_build.is_file() {
        let err = fails_with_library(&gpu_build, &index_on_cuda);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("CUDA execution provider did not start") && err.contains("NVIDIA driver"), "{err}");
    }
}

/// The vectors of an index, by image SHA-256.
fn vectors_by_sha(index: &Path) -> std::collections::HashMap<String, Vec<f32>> {
    let index = picseek_index::Index::open(index).unwrap();
    (0..index.len()).map(|i| (index.manifest().items[i].sha256.clone(), index.f32_vector(i).to_vec())).collect()
}

#[test]
fn int8_files_index_and_search_close_to_fp32_and_are_never_mixed_with_them() {
    let model = clip_test_model();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    for (i, (class, colour)) in [("red", [220, 40, 40]), ("blue", [40, 60, 220])].into_iter().enumerate() {
        write_png_class(&data.join("train"), class, colour, 8, i as u64);
    }
    let (fp32_dir, int8_dir) = (data.join("index-fp32"), data.join("index-int8"));
    index_clip(data, &model, &["--index", fp32_dir.to_str().unwrap()]);
    let int8 = index_clip(data, &model, &["--index", int8_dir.to_str().unwrap(), "--precision", "int8"]);
    assert_eq!(int8["embedded"], 16, "{int8}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(int8_dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(manifest["model"]["precision"], "int8", "the index records which files made it");

    // Fidelity on the tiny kit: every image's two vectors within a cosine of 0.999.
    let (fp32, int8) = (vectors_by_sha(&fp32_dir), vectors_by_sha(&int8_dir));
    for (sha, a) in &fp32 {
        let cosine: f32 = a.iter().zip(&int8[sha]).map(|(x, y)| x * y).sum();
        assert!(cosine >= 0.999, "{sha}: int8 and fp32 vectors at cosine {cosine}");
    }
    // Searches agree: the int8 index is searched with the int8 files, unasked.
    let query = data.join("train/red/red_3.png");
    let top = |index: &Path| {
        result_paths(&search(
            data,
            &model,
            &["--image", query.to_str().unwrap()],
            &["--index", index.to_str().unwrap(), "-k", "5"],
        ))
    };
    let (a, b) = (top(&fp32_dir), top(&int8_dir));
    assert!(a.iter().filter(|p| b.contains(p)).count() >= 4, "top-5 overlap: {a:?} {b:?}");
    let text = search(data, &model, &["--text", "a red square"], &["--index", int8_dir.to_str().unwrap()]);
    assert_eq!(text["results"].as_array().unwrap().len(), 5, "the int8 text encoder answers: {text}");

    // Mixing is refused like another model.
    let d = data.to_str().unwrap();
    let err = picseek_fails(&[
        "--data-dir",
        d,
        "index",
        "--model",
        model.to_str().unwrap(),
        "--index",
        int8_dir.to_str().unwrap(),
        "--precision",
        "fp32",
    ]);
    assert!(
        err.contains("the index was built with the model's int8 files, not its fp32 ones") && err.contains("--rebuild"),
        "{err}"
    );
    // A model folder without int8 files says how to make them.
    let plain = data.join("plain-model");
    copy_model(&model, &plain);
    let err = picseek_fails(&[
        "--data-dir",
        d,
        "index",
        "--model",
        plain.to_str().unwrap(),
        "--precision",
        "int8",
        "--rebuild",
    ]);
    assert!(
        err.contains("vision_model_quantized.onnx is missing") && err.contains("scripts/clip/quantize.py"),
        "{err}"
    );
}
