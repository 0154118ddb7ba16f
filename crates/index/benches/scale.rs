//! A million images on one machine: 1,000,000 CLIP-like 512-d vectors (synthetic, as in
//! the ANN benchmark) made into an index with picseek's default graph settings, once in
//! one process and once as 4 shards merged. Reports build time, peak resident memory,
//! size on disk, query latency (median and p99, graph memory-mapped, candidates rescored
//! against the memory-mapped flat rows as `search` does) and recall@10 against exact.
//!
//! The shards are what `index --shard I/4` leaves: each shard's vectors in its embedding
//! cache file (64 hex digits of SHA-256, then the row). The merge does what
//! `merge index` does with them: folds them into the index's cache, writes the flat rows
//! in item order and builds the graph once. (Reading and hashing the images themselves,
//! which both also do, is I/O this benchmark leaves out.)
//!
//! Run with `scripts/bench/run scale`; `PICSEEK_SCALE_VECTORS=100000` for a quick look.

#[path = "common/memory.rs"]
mod memory;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

mod support;

use memory::{peak_memory_gib, reset_peak_memory};
use picseek_index::{AnnSettings, Metric, build_graph, clip_like_vectors, open_graph};
use rayon::prelude::*;
use support::{DIM, K, approximate_top_k, dot, row};

/// Vectors per cluster, as in the ANN benchmark (50,000 in 500).
const PER_CLASS: usize = 100;
const QUERIES: usize = 1_000;
const RECALL_QUERIES: usize = 200;
const SHARDS: usize = 4;
const SHA_LEN: usize = 64;

fn vectors_wanted() -> usize {
    std::env::var("PICSEEK_SCALE_VECTORS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000)
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

/// Exact top k over every row, on all cores.
fn exact_top_k(rows: &[f32], q: &[f32]) -> Vec<u64> {
    let mut scored: Vec<(f32, u64)> =
        rows.par_chunks_exact(DIM).enumerate().map(|(k, r)| (-dot(r, q), k as u64)).collect();
    scored.select_nth_unstable_by(K, |a, b| a.0.total_cmp(&b.0));
    scored.truncate(K);
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    scored.iter().map(|s| s.1).collect()
}

/// A stand-in for an image's SHA-256: what keys the embedding caches.
fn sha_of(key: usize) -> String {
    format!("{key:064x}")
}

struct Measured {
    name: &'static str,
    build_seconds: f64,
    merge_seconds: f64,
    peak_gib: f64,
    disk_gib: f64,
    median_ms: f64,
    p99_ms: f64,
    recall: f64,
}

/// Query latency and recall of the graph at `graph_path` over the flat rows at `rows_path`,
/// searched with `expansion_search`, after one pass over the queries that brings the
/// touched pages of both files into memory (the first queries after opening also pay
/// for reading them from disk).
fn measure_queries(
    graph_path: &Path,
    rows_path: &Path,
    expansion_search: usize,
    queries: &[f32],
    truth: &[Vec<u64>],
) -> (f64, f64, f64) {
    let graph = open_graph(graph_path, expansion_search).expect("open graph");
    let file = std::fs::File::open(rows_path).expect("open rows");
    let map = unsafe { memmap2::Mmap::map(&file) }.expect("map rows");
    let rows: &[f32] = bytemuck::cast_slice(&map[..]);
    let search = |q: &[f32]| approximate_top_k(&graph, rows, q);
    queries.chunks_exact(DIM).for_each(|q| drop(search(q)));
    let mut latencies: Vec<f64> = queries
        .chunks_exact(DIM)
        .map(|q| {
            let started = Instant::now();
            search(q);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let median = latencies[latencies.len() / 2];
    let p99 = latencies[latencies.len() * 99 / 100];
    let found: usize =
        queries.chunks_exact(DIM).zip(truth).map(|(q, t)| search(q).iter().filter(|k| t.contains(k)).count()).sum();
    (median, p99, found as f64 / (truth.len() * K) as f64)
}

fn write_rows(path: &Path, rows: &[f32]) {
    std::fs::write(path, bytemuck::cast_slice::<f32, u8>(rows)).expect("write rows");
}

fn main() {
    let n = vectors_wanted();
    let dir =
        tempfile::tempdir_in(std::env::var_os("PICSEEK_SCALE_DIR").unwrap_or_else(|| "/tmp".into())).expect("temp dir");
    eprintln!("making {n} CLIP-like vectors of {DIM} dimensions ({:.1} GiB)...", gib((n * DIM * 4) as u64));
    let classes = (n / PER_CLASS).max(1);
    let rows = clip_like_vectors(n, DIM, classes, 1);
    let queries = clip_like_vectors(QUERIES, DIM, classes, 2);
    eprintln!("exact top {K} of {RECALL_QUERIES} queries...");
    let truth: Vec<Vec<u64>> = queries.chunks_exact(DIM).take(RECALL_QUERIES).map(|q| exact_top_k(&rows, q)).collect();
    let settings = AnnSettings::default();
    let mut results = Vec::new();

    // One process: the flat rows, then the graph over them.
    let single = dir.path().join("single");
    std::fs::create_dir_all(&single).unwrap();
    reset_peak_memory();
    let started = Instant::now();
    write_rows(&single.join("vectors.f32"), &rows);
    build_graph(Metric::Cosine, &settings, DIM, &rows, &single.join("ann.usearch")).expect("build");
    let build_seconds = started.elapsed().as_secs_f64();
    let peak_gib = peak_memory_gib();
    eprintln!("one process: built in {build_seconds:.0} s");
    let disk = ["vectors.f32", "ann.usearch"].iter().map(|f| std::fs::metadata(single.join(f)).unwrap().len()).sum();
    let (median_ms, p99_ms, recall) = measure_queries(
        &single.join("ann.usearch"),
        &single.join("vectors.f32"),
        settings.expansion_search,
        &queries,
        &truth,
    );
    // Recall rises with the candidates searched, at a cost in latency (no rebuild).
    let wider: Vec<(usize, (f64, f64, f64))> = [128, 256, 512]
        .into_iter()
        .map(|e| (e, measure_queries(&single.join("ann.usearch"), &single.join("vectors.f32"), e, &queries, &truth)))
        .collect();
    results.push(Measured {
        name: "1 process",
        build_seconds,
        merge_seconds: 0.0,
        peak_gib,
        disk_gib: gib(disk),
        median_ms,
        p99_ms,
        recall,
    });

    // Four shards: each one's vectors in its cache file, by image SHA-256.
    let merged = dir.path().join("merged");
    for shard in 0..SHARDS {
        let shard_dir = merged.join(format!(".shards/{shard}-of-{SHARDS}/cache"));
        std::fs::create_dir_all(&shard_dir).unwrap();
        let mut out = std::io::BufWriter::new(std::fs::File::create(shard_dir.join("clip.vectors")).unwrap());
        for key in (0..n).filter(|k| k % SHARDS == shard) {
            out.write_all(sha_of(key).as_bytes()).unwrap();
            out.write_all(bytemuck::cast_slice(row(&rows, key as u64))).unwrap();
        }
        out.flush().unwrap();
    }
    drop(rows);
    reset_peak_memory();
    let started = Instant::now();
    // The merge: every shard's vectors into the index's cache (and memory), then the
    // flat rows in item order, read back for the graph, as `merge index` does.
    let mut cached: HashMap<String, Vec<f32>> = HashMap::with_capacity(n);
    let mut cache = std::io::BufWriter::new(std::fs::File::create(merged.join("cache.vectors")).unwrap());
    for shard in 0..SHARDS {
        let bytes = std::fs::read(merged.join(format!(".shards/{shard}-of-{SHARDS}/cache/clip.vectors"))).unwrap();
        cache.write_all(&bytes).unwrap();
        for record in bytes.chunks_exact(SHA_LEN + DIM * 4) {
            let (sha, vector) = record.split_at(SHA_LEN);
            cached.insert(String::from_utf8(sha.to_vec()).unwrap(), bytemuck::pod_collect_to_vec(vector));
        }
    }
    cache.flush().unwrap();
    drop(cache);
    let mut flat = std::io::BufWriter::new(std::fs::File::create(merged.join("vectors.f32")).unwrap());
    for key in 0..n {
        flat.write_all(bytemuck::cast_slice(&cached[&sha_of(key)])).unwrap();
    }
    flat.flush().unwrap();
    drop(flat);
    let rows: Vec<f32> = bytemuck::pod_collect_to_vec(&std::fs::read(merged.join("vectors.f32")).unwrap());
    let merge_seconds = started.elapsed().as_secs_f64();
    build_graph(Metric::Cosine, &settings, DIM, &rows, &merged.join("ann.usearch")).expect("build");
    let build_seconds = started.elapsed().as_secs_f64();
    let peak_gib = peak_memory_gib();
    drop((cached, rows));
    eprintln!("4 shards merged: built in {build_seconds:.0} s ({merge_seconds:.0} s merging)");
    let disk = ["vectors.f32", "ann.usearch", "cache.vectors"]
        .iter()
        .map(|f| std::fs::metadata(merged.join(f)).unwrap().len())
        .sum();
    let (median_ms, p99_ms, recall) = measure_queries(
        &merged.join("ann.usearch"),
        &merged.join("vectors.f32"),
        settings.expansion_search,
        &queries,
        &truth,
    );
    results.push(Measured {
        name: "4 shards merged",
        build_seconds,
        merge_seconds,
        peak_gib,
        disk_gib: gib(disk),
        median_ms,
        p99_ms,
        recall,
    });

    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!(
        "\n{n} x {DIM} CLIP-like vectors on {cores} cores, default graph (f16, M16, add 64, search 64); \
         latency over {QUERIES} queries, recall over {RECALL_QUERIES}, k = {K}"
    );
    println!(
        "{:<16} {:>9} {:>9} {:>10} {:>9} {:>11} {:>9} {:>10}",
        "build", "total s", "merge s", "peak GiB", "disk GiB", "median ms", "p99 ms", "recall@10"
    );
    for m in &results {
        println!(
            "{:<16} {:>9.0} {:>9.0} {:>10.2} {:>9.2} {:>11.2} {:>9.2} {:>10.3}",
            m.name, m.build_seconds, m.merge_seconds, m.peak_gib, m.disk_gib, m.median_ms, m.p99_ms, m.recall
        );
    }
    println!("\nthe one-process graph searched with more candidates (--expansion-search; no rebuild):");
    println!("{:<18} {:>11} {:>9} {:>10}", "expansion search", "median ms", "p99 ms", "recall@10");
    for (e, (median, p99, recall)) in wider {
        println!("{e:<18} {median:>11.2} {p99:>9.2} {recall:>10.3}");
    }
}
