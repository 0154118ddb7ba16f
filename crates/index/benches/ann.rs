//! Approximate search at scale: 50,000 CLIP-like 512-d vectors (clustered, unit length)
//! go into a usearch graph with picseek's default settings; we measure ingest (build
//! and save) in vectors/s, search in queries/s at k = 10, and recall@10 against exact
//! brute force, then time Chroma (the tutorial's store, scripts/bench/ann_chroma.py)
//! adding the same vectors. Medians of several runs. Run with `scripts/bench/run ann`.

use std::path::Path;
use std::time::Instant;

use picseek_index::{AnnSettings, AnnSpace, build_graph, clip_like_vectors, open_graph};

const VECTORS: usize = 50_000;
const DIM: usize = 512;
const CLASSES: usize = 500;
const QUERIES: usize = 500;
const K: usize = 10;
const RUNS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Exact top k by cosine, the truth recall is measured against.
fn exact_top_k(rows: &[f32], q: &[f32]) -> Vec<u64> {
    let mut scored: Vec<(f32, u64)> =
        rows.chunks_exact(DIM).enumerate().map(|(i, r)| (-r.iter().zip(q).map(|(a, b)| a * b).sum::<f32>(), i as u64)).collect();
    scored.select_nth_unstable_by(K - 1, |a, b| a.0.total_cmp(&b.0));
    scored[..K].iter().map(|s| s.1).collect()
}

fn main() {
    eprintln!("making {VECTORS} CLIP-like vectors of {DIM} dimensions...");
    let rows = clip_like_vectors(VECTORS, DIM, CLASSES, 1);
    let queries = clip_like_vectors(QUERIES, DIM, CLASSES, 2);
    let dir = tempfile::tempdir().expect("temp dir");
    let graph_path = dir.path().join("cosine.usearch");
    let settings = AnnSettings::default();

    let mut ingest = Vec::new();
    for run in 0..RUNS {
        let started = Instant::now();
        build_graph(AnnSpace::Cosine, &settings, DIM, &rows, &graph_path).expect("build");
        ingest.push(VECTORS as f64 / started.elapsed().as_secs_f64());
        eprintln!("picseek ingest run {}: {:.0} vectors/s", run + 1, ingest[run]);
    }
    let graph = open_graph(&graph_path, settings.expansion_search).expect("open");
    let mut qps = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        for q in queries.chunks_exact(DIM) {
            graph.search(q, K).expect("search");
        }
        qps.push(QUERIES as f64 / started.elapsed().as_secs_f64());
    }
    let mut found = 0;
    for q in queries.chunks_exact(DIM) {
        let truth = exact_top_k(&rows, q);
        found += graph.search(q, K).expect("search").keys.iter().filter(|k| truth.contains(k)).count();
    }
    let recall = found as f64 / (QUERIES * K) as f64;

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

    println!("\nusearch (f16, M {}, expansion {}/{}), {VECTORS} x {DIM}, medians of {RUNS} runs",
        settings.connectivity, settings.expansion_add, settings.expansion_search);
    println!("{:<28} {:>14} {:>14} {:>10}", "", "picseek", "Chroma", "ratio");
    let ours = median(ingest);
    println!("{:<28} {:>14.0} {:>14.0} {:>9.1}x", "ingest (vectors/s)", ours, chroma_ingest, ours / chroma_ingest);
    println!("{:<28} {:>14.0} {:>14} {:>10}", format!("search k={K} (queries/s)"), median(qps), "-", "");
    println!("{:<28} {:>14.3} {:>14} {:>10}", format!("recall@{K} vs exact"), recall, "-", "");
}
