//! Approximate search at scale: 50,000 CLIP-like 512-d vectors (clustered, unit length)
//! go into a usearch graph, with picseek's settings for that size and with a fast-ingest
//! setting; we measure ingest (build and save) in vectors/s, search in queries/s at
//! k = 10 as picseek searches (graph candidates, then exact rescoring), and recall@10
//! against exact brute force, then time Chroma (the tutorial's store,
//! scripts/bench/ann_chroma.py) adding the same vectors. Medians of several runs. Run
//! with `scripts/bench/run ann`.

use std::path::Path;
use std::time::Instant;

mod support;

use picseek_index::{AnnSettings, Metric, Quantization, build_graph, clip_like_vectors, open_graph};
use support::{DIM, K, approximate_top_k, top_k};

const VECTORS: usize = 50_000;
const CLASSES: usize = 500;
const QUERIES: usize = 500;
const RUNS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Measured {
    ingest: f64,
    qps: f64,
    recall: f64,
}

fn measure(settings: &AnnSettings, rows: &[f32], queries: &[f32], truth: &[Vec<u64>], path: &Path) -> Measured {
    let mut ingest = Vec::new();
    for run in 0..RUNS {
        let started = Instant::now();
        build_graph(Metric::Cosine, settings, DIM, rows, path).expect("build");
        ingest.push(VECTORS as f64 / started.elapsed().as_secs_f64());
        eprintln!("{settings:?} ingest run {}: {:.0} vectors/s", run + 1, ingest[run]);
    }
    let graph = open_graph(path, settings.expansion_search).expect("open");
    let mut qps = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        for q in queries.chunks_exact(DIM) {
            approximate_top_k(&graph, rows, q);
        }
        qps.push(QUERIES as f64 / started.elapsed().as_secs_f64());
    }
    let found: usize = queries
        .chunks_exact(DIM)
        .zip(truth)
        .map(|(q, t)| approximate_top_k(&graph, rows, q).iter().filter(|k| t.contains(k)).count())
        .sum();
    Measured { ingest: median(ingest), qps: median(qps), recall: found as f64 / (QUERIES * K) as f64 }
}

fn main() {
    eprintln!("making {VECTORS} CLIP-like vectors of {DIM} dimensions...");
    let rows = clip_like_vectors(VECTORS, DIM, CLASSES, 1);
    let queries = clip_like_vectors(QUERIES, DIM, CLASSES, 2);
    let dir = tempfile::tempdir().expect("temp dir");
    let graph_path = dir.path().join("cosine.usearch");
    let truth: Vec<Vec<u64>> = queries.chunks_exact(DIM).map(|q| top_k(&rows, q, 0..VECTORS as u64)).collect();
    let default = AnnSettings::for_size(VECTORS);
    let fast = AnnSettings { quantization: Quantization::I8, expansion_add: 32, expansion_search: 128, ..default };
    let configs = [("default", default), ("fast ingest", fast)];
    let measured: Vec<Measured> =
        configs.iter().map(|(_, settings)| measure(settings, &rows, &queries, &truth, &graph_path)).collect();

    let vectors_path = dir.path().join("vectors.f32");
    std::fs::write(&vectors_path, bytemuck::cast_slice::<f32, u8>(&rows)).expect("write vectors");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    eprintln!("running Chroma on the same vectors (scripts/bench/ann_chroma.py)...");
    let out = std::process::Command::new(repo.join(".venv/bin/python"))
        .arg(repo.join("scripts/bench/ann_chroma.py"))
        .arg(&vectors_path)
        .args([DIM, RUNS].map(|v| v.to_string()))
        .output()
        .expect("run the Chroma baseline (scripts/bench/run ann installs chromadb)");
    assert!(out.status.success(), "Chroma baseline failed: {}", String::from_utf8_lossy(&out.stderr));
    let chroma: serde_json::Value = serde_json::from_slice(&out.stdout).expect("Chroma baseline prints JSON");
    let chroma_ingest = chroma["ingest_per_second"].as_f64().expect("ingest_per_second");

    println!(
        "\n{VECTORS} x {DIM} CLIP-like vectors, k = {K}, medians of {RUNS} runs; Chroma ingest {chroma_ingest:.0} vectors/s"
    );
    println!(
        "{:<12} {:<32} {:>12} {:>10} {:>12} {:>10}",
        "settings", "usearch", "ingest/s", "vs Chroma", "queries/s", "recall@10"
    );
    for ((name, s), m) in configs.iter().zip(&measured) {
        let described = format!(
            "{} M{} add {} search {}",
            s.quantization.name(),
            s.connectivity,
            s.expansion_add,
            s.expansion_search
        );
        println!(
            "{:<12} {:<32} {:>12.0} {:>9.1}x {:>12.0} {:>10.3}",
            name,
            described,
            m.ingest,
            m.ingest / chroma_ingest,
            m.qps,
            m.recall
        );
    }
}
