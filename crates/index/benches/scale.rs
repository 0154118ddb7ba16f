//! A million images on one machine: 1,000,000 CLIP-like 512-d vectors (synthetic, as in
//! the ANN benchmark) made into an index with the settings picseek chooses for that size
//! (`AnnSettings::for_size`), once in one process and once as 4 shards merged, and the
//! same vectors in FAISS's HNSW. Reports build time, peak resident memory, size on disk,
//! query latency (median and p99, graph memory-mapped, candidates rescored against the
//! memory-mapped flat rows as `search` does) and recall@10 against exact search.
//!
//! - **1 process**: the graph built from the flat rows, memory-mapped as `index` maps
//!   them (the rows were written as they were embedded, which is not timed here).
//! - **4 shards merged**: what `index --shard I/4` leaves (each shard's vectors in its
//!   embedding cache) folded by the real `EmbeddingCache` into the index's cache, the
//!   flat rows written in item order from it, and the graph built once, as
//!   `merge index` does. (Reading and hashing the images, which both also do, is I/O
//!   this benchmark leaves out.)
//! - **faiss**: `IndexHNSWFlat` with the same links per node and build width, on the
//!   same cores, searched wider until its recall matches picseek's
//!   (`scripts/bench/scale_faiss.py`).
//!
//! Then the sweep the defaults were chosen from: the search widths of the default
//! graph, and the graphs of other build settings (`PICSEEK_SCALE_SWEEP`, for example
//! `i8:16:64,f16:16:64`: quantization, links per node, build width; `none` to skip).
//!
//! Run with `scripts/bench/run scale`; `PICSEEK_SCALE_VECTORS=200000` for a quicker look.

#[path = "common/memory.rs"]
mod memory;

use std::io::Write;
use std::path::Path;
use std::time::Instant;

mod support;

use memory::{peak_memory_gib, reset_peak_memory};
use picseek_embed::EmbeddingCache;
use picseek_index::{AnnSettings, Metric, Quantization, build_graph, clip_like_vectors, open_graph};
use rayon::prelude::*;
use support::{DIM, K, approximate_top_k, dot};

/// Vectors per cluster, as in the ANN benchmark (50,000 in 500).
const PER_CLASS: usize = 100;
const QUERIES: usize = 1_000;
const RECALL_QUERIES: usize = 300;
const SHARDS: usize = 4;
/// The search widths the default graph is searched with, besides its own.
const SEARCH_WIDTHS: [usize; 5] = [64, 96, 128, 192, 256];
/// Build settings compared with the default unless `PICSEEK_SCALE_SWEEP` says otherwise:
/// the previous default (f16, build width 64) and a narrower build of the new one.
const SWEEP: &str = "f16:16:64,i8:16:64";
const IDENTITY: &str = "scale benchmark";

fn vectors_wanted() -> usize {
    std::env::var("PICSEEK_SCALE_VECTORS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000)
}

fn sweep_wanted() -> Vec<AnnSettings> {
    let list = std::env::var("PICSEEK_SCALE_SWEEP").unwrap_or_else(|_| SWEEP.into());
    list.split(',')
        .filter(|c| !c.is_empty() && *c != "none")
        .map(|config| {
            let parts: Vec<&str> = config.split(':').collect();
            let number = |i: usize| parts.get(i).and_then(|p| p.parse().ok()).expect("PICSEEK_SCALE_SWEEP: q:m:ea");
            let quantization = match parts[0] {
                "f32" => Quantization::F32,
                "f16" => Quantization::F16,
                "i8" => Quantization::I8,
                other => panic!("PICSEEK_SCALE_SWEEP: unknown quantization {other}"),
            };
            AnnSettings { quantization, connectivity: number(1), expansion_add: number(2), ..AnnSettings::for_size(0) }
        })
        .collect()
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

fn file_gib(paths: &[&Path]) -> f64 {
    gib(paths.iter().map(|p| std::fs::metadata(p).expect("file").len()).sum())
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

fn map(path: &Path) -> memmap2::Mmap {
    let file = std::fs::File::open(path).expect("open");
    unsafe { memmap2::Mmap::map(&file) }.expect("map")
}

fn settings_name(s: &AnnSettings) -> String {
    format!("{} M{} add {}", s.quantization, s.connectivity, s.expansion_add)
}

struct Measured {
    name: String,
    build_seconds: f64,
    merge_seconds: f64,
    peak_gib: f64,
    disk_gib: f64,
    search_width: usize,
    queries: Queries,
}

/// Latency and recall of one way of searching.
#[derive(Clone, Copy)]
struct Queries {
    median_ms: f64,
    p99_ms: f64,
    recall: f64,
}

/// How the graph at `graph_path` over the flat rows at `rows_path` answers, searched
/// with `search_width` as `search` does (candidates rescored exactly), after one pass
/// over the queries that brings the touched pages of both files into memory.
fn measure_queries(
    graph_path: &Path,
    rows_path: &Path,
    search_width: usize,
    queries: &[f32],
    truth: &[Vec<u64>],
) -> Queries {
    let graph = open_graph(graph_path, search_width).expect("open graph");
    let map = map(rows_path);
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
    let found: usize =
        queries.chunks_exact(DIM).zip(truth).map(|(q, t)| search(q).iter().filter(|k| t.contains(k)).count()).sum();
    Queries {
        median_ms: latencies[latencies.len() / 2],
        p99_ms: latencies[latencies.len() * 99 / 100],
        recall: found as f64 / (truth.len() * K) as f64,
    }
}

/// Builds the graph of `settings` over the rows mapped from `rows_path` into `graph_path`;
/// returns the seconds it took.
fn build_from_file(settings: &AnnSettings, rows_path: &Path, graph_path: &Path) -> f64 {
    let started = Instant::now();
    let map = map(rows_path);
    build_graph(Metric::Cosine, settings, DIM, bytemuck::cast_slice(&map[..]), graph_path).expect("build");
    started.elapsed().as_secs_f64()
}

/// Each shard's vectors in its own embedding cache, as `index --shard I/4` leaves them.
fn write_shard_caches(merged: &Path, rows: &[f32], n: usize) {
    for shard in 0..SHARDS {
        let mut cache = EmbeddingCache::open(&merged.join(format!(".shards/{shard}-of-{SHARDS}")), IDENTITY, DIM)
            .expect("open shard cache");
        let keys: Vec<usize> = (0..n).filter(|k| k % SHARDS == shard).collect();
        for chunk in keys.chunks(4096) {
            let shas: Vec<String> = chunk.iter().map(|&k| sha_of(k)).collect();
            let records: Vec<(&str, &[u8])> = chunk
                .iter()
                .zip(&shas)
                .map(|(&k, sha)| (sha.as_str(), bytemuck::cast_slice(&rows[k * DIM..(k + 1) * DIM])))
                .collect();
            cache.append(&records).expect("append");
        }
    }
}

/// What `merge index` does with the shards' caches: folds them into the index's cache,
/// writes the flat rows in item order from it, and closes it. Returns the rows' path.
fn merge_shards(merged: &Path, n: usize) -> std::path::PathBuf {
    let mut cache = EmbeddingCache::open(merged, IDENTITY, DIM).expect("open cache");
    for shard in 0..SHARDS {
        let shard_cache = EmbeddingCache::open(&merged.join(format!(".shards/{shard}-of-{SHARDS}")), IDENTITY, DIM)
            .expect("open shard cache");
        cache.absorb(&shard_cache).expect("absorb");
    }
    let rows_path = merged.join("vectors.f32");
    let mut flat = std::io::BufWriter::new(std::fs::File::create(&rows_path).expect("create rows"));
    for key in 0..n {
        flat.write_all(bytemuck::cast_slice(cache.get(&sha_of(key)).expect("every key merged"))).expect("write");
    }
    flat.flush().expect("flush");
    rows_path
}

/// FAISS on the same files, at the recall `target` (see scripts/bench/scale_faiss.py).
fn faiss(dir: &Path, settings: &AnnSettings, target: f64) -> Option<(Measured, serde_json::Value)> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cores = rayon::current_num_threads();
    eprintln!("FAISS HNSW on the same vectors (scripts/bench/scale_faiss.py)...");
    let out = std::process::Command::new(repo.join(".venv/bin/python"))
        .arg(repo.join("scripts/bench/scale_faiss.py"))
        .args([dir.join("single/vectors.f32"), dir.join("queries.f32"), dir.join("truth.u64")])
        .args([DIM, K, settings.connectivity, settings.expansion_add].map(|v| v.to_string()))
        .args([target.to_string(), cores.to_string()])
        .arg(dir)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("run scripts/bench/scale_faiss.py (scripts/bench/run scale installs faiss-cpu)");
    if !out.status.success() {
        eprintln!("FAISS failed; its rows are left out");
        return None;
    }
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("FAISS prints JSON");
    let number = |key: &str| result[key].as_f64().expect("FAISS reports it");
    let measured = Measured {
        name: "faiss".into(),
        build_seconds: number("build_seconds"),
        merge_seconds: 0.0,
        peak_gib: number("peak_gib"),
        disk_gib: number("disk_gib"),
        search_width: number("ef_search") as usize,
        queries: Queries { median_ms: number("median_ms"), p99_ms: number("p99_ms"), recall: number("recall") },
    };
    Some((measured, result))
}

fn main() {
    let n = vectors_wanted();
    let cores = rayon::current_num_threads();
    let dir =
        tempfile::tempdir_in(std::env::var_os("PICSEEK_SCALE_DIR").unwrap_or_else(|| "/tmp".into())).expect("temp dir");
    let (single, merged) = (dir.path().join("single"), dir.path().join("merged"));
    std::fs::create_dir_all(&single).expect("dir");
    std::fs::create_dir_all(&merged).expect("dir");
    eprintln!("making {n} CLIP-like vectors of {DIM} dimensions ({:.1} GiB)...", gib((n * DIM * 4) as u64));
    let classes = (n / PER_CLASS).max(1);
    let rows = clip_like_vectors(n, DIM, classes, 1);
    let queries = clip_like_vectors(QUERIES, DIM, classes, 2);
    eprintln!("exact top {K} of {RECALL_QUERIES} queries...");
    let truth: Vec<Vec<u64>> = queries.chunks_exact(DIM).take(RECALL_QUERIES).map(|q| exact_top_k(&rows, q)).collect();
    let rows_path = single.join("vectors.f32");
    std::fs::write(&rows_path, bytemuck::cast_slice::<f32, u8>(&rows)).expect("write rows");
    std::fs::write(dir.path().join("queries.f32"), bytemuck::cast_slice::<f32, u8>(&queries)).expect("write");
    let truth_flat: Vec<u64> = truth.iter().flatten().copied().collect();
    std::fs::write(dir.path().join("truth.u64"), bytemuck::cast_slice::<u64, u8>(&truth_flat)).expect("write");
    eprintln!("writing the shards' embedding caches...");
    write_shard_caches(&merged, &rows, n);
    drop(rows);

    let settings = AnnSettings::for_size(n);
    let mut results = Vec::new();

    // One process: the graph over the flat rows, memory-mapped.
    reset_peak_memory();
    let graph_path = single.join("ann.usearch");
    let build_seconds = build_from_file(&settings, &rows_path, &graph_path);
    let peak_gib = peak_memory_gib();
    eprintln!("one process: built in {build_seconds:.0} s");
    let rows_and_graph = file_gib(&[&rows_path, &graph_path]);
    let single_queries = measure_queries(&graph_path, &rows_path, settings.expansion_search, &queries, &truth);
    results.push(Measured {
        name: "1 process".into(),
        build_seconds,
        merge_seconds: 0.0,
        peak_gib,
        disk_gib: rows_and_graph,
        search_width: settings.expansion_search,
        queries: single_queries,
    });

    // Four shards merged.
    reset_peak_memory();
    let started = Instant::now();
    let merged_rows = merge_shards(&merged, n);
    let merge_seconds = started.elapsed().as_secs_f64();
    let merged_graph = merged.join("ann.usearch");
    build_from_file(&settings, &merged_rows, &merged_graph);
    let build_seconds = started.elapsed().as_secs_f64();
    let peak_gib = peak_memory_gib();
    eprintln!("4 shards merged: built in {build_seconds:.0} s ({merge_seconds:.0} s merging)");
    let cache_file = std::fs::read_dir(merged.join("cache"))
        .expect("cache")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "vectors"))
        .expect("the merged cache");
    results.push(Measured {
        name: "4 shards merged".into(),
        build_seconds,
        merge_seconds,
        peak_gib,
        disk_gib: file_gib(&[&merged_rows, &merged_graph, &cache_file]),
        search_width: settings.expansion_search,
        queries: measure_queries(&merged_graph, &merged_rows, settings.expansion_search, &queries, &truth),
    });
    std::fs::remove_dir_all(&merged).expect("remove the merged index");

    let faiss_result = faiss(dir.path(), &settings, single_queries.recall).map(|(measured, result)| {
        results.push(measured);
        result
    });

    // The sweep: the default graph searched wider or narrower, then other graphs.
    let widths: Vec<(usize, Queries)> = SEARCH_WIDTHS
        .iter()
        .map(|&width| (width, measure_queries(&graph_path, &rows_path, width, &queries, &truth)))
        .collect();
    let mut built = Vec::new();
    for other in sweep_wanted() {
        let path = single.join("sweep.usearch");
        reset_peak_memory();
        let seconds = build_from_file(&other, &rows_path, &path);
        eprintln!("{}: built in {seconds:.0} s", settings_name(&other));
        let at: Vec<(usize, Queries)> =
            SEARCH_WIDTHS.iter().map(|&w| (w, measure_queries(&path, &rows_path, w, &queries, &truth))).collect();
        built.push((other, seconds, peak_memory_gib(), at));
    }

    println!(
        "\n{n} x {DIM} CLIP-like vectors on {cores} cores; picseek's settings for this size: {}, search width {}; \
         latency over {QUERIES} queries (one at a time), recall@{K} over {RECALL_QUERIES}",
        settings_name(&settings),
        settings.expansion_search
    );
    println!(
        "{:<16} {:>8} {:>8} {:>9} {:>9} {:>7} {:>10} {:>8} {:>10}",
        "build", "total s", "merge s", "peak GiB", "disk GiB", "width", "median ms", "p99 ms", "recall@10"
    );
    for m in &results {
        println!(
            "{:<16} {:>8.0} {:>8.0} {:>9.2} {:>9.2} {:>7} {:>10.2} {:>8.2} {:>10.3}",
            m.name,
            m.build_seconds,
            m.merge_seconds,
            m.peak_gib,
            m.disk_gib,
            m.search_width,
            m.queries.median_ms,
            m.queries.p99_ms,
            m.queries.recall
        );
    }
    println!(
        "(peak memory against rows + graph, {rows_and_graph:.2} GiB: {})",
        results
            .iter()
            .take(2)
            .map(|m| format!("{} {:.2}x", m.name, m.peak_gib / rows_and_graph))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(result) = &faiss_result {
        let sweep: Vec<String> = result["sweep"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| format!("{} {:.3}", p[0], p[1].as_f64().unwrap_or(0.0)))
            .collect();
        println!("(faiss efSearch to recall: {})", sweep.join(", "));
    }

    println!("\nthe sweep: recall@{K} (median ms, p99 ms) by search width; build seconds and peak GiB");
    print!("{:<22} {:>7} {:>6}", "graph", "build s", "peak");
    for width in SEARCH_WIDTHS {
        print!(" {:>21}", format!("width {width}"));
    }
    println!();
    let row = |name: String, seconds: f64, peak: f64, at: &[(usize, Queries)]| {
        print!("{name:<22} {seconds:>7.0} {peak:>6.2}");
        for (_, q) in at {
            print!(" {:>21}", format!("{:.3} ({:.2}, {:.2})", q.recall, q.median_ms, q.p99_ms));
        }
        println!();
    };
    row(format!("{} *", settings_name(&settings)), results[0].build_seconds, results[0].peak_gib, &widths);
    for (other, seconds, peak, at) in &built {
        row(settings_name(other), *seconds, *peak, at);
    }
    println!("(* the default for {n} vectors)");
}
