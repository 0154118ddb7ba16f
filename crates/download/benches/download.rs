//! Download throughput: 2,000 files of ~100 KB from a local server, politeness off,
//! picseek against the tutorial's method (scripts/bench/download_urllib.py: a thread pool
//! of 4 with urllib) on the same server. Twice: with no latency (client and server then
//! share the 2 cores, so it measures CPU per request), and with 20 ms added to every
//! response, a modest round trip on a real network. Run with `scripts/bench/run download`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::routing::get;
use picseek_download::{DownloadOptions, download};

const FILES: usize = 2000;
const SIZE: usize = 100_000;
const RUNS: usize = 3;
const LATENCIES_MS: [u64; 2] = [0, 20];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Server {
    runtime: tokio::runtime::Runtime,
    addr: std::net::SocketAddr,
}

fn start_server(latency: Duration) -> Server {
    // Every file: a JPEG signature, then filler (only the bytes' type is checked).
    let mut body = vec![0xFF, 0xD8, 0xFF, 0xE0];
    body.resize(SIZE, 7);
    let body = Arc::new(body);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("address");
    let app = Router::new()
        .route(
            "/img/{name}",
            get(move |State(body): State<Arc<Vec<u8>>>, UrlPath(_): UrlPath<String>| async move {
                tokio::time::sleep(latency).await;
                body.to_vec()
            }),
        )
        .with_state(body);
    runtime.spawn(async move { axum::serve(listener, app).await.expect("serve") });
    Server { runtime, addr }
}

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv_python = repo.join(".venv/bin/python");
    let python = if venv_python.exists() { venv_python } else { "python3".into() };
    let client = tokio::runtime::Runtime::new().expect("runtime");
    println!("download, {FILES} files of {} KB from 127.0.0.1, politeness off, median of {RUNS} runs", SIZE / 1000);
    println!("{:>10} {:>22} {:>22} {:>9}", "latency", "picseek (conc. 32)", "urllib, pool of 4", "speed-up");
    for latency_ms in LATENCIES_MS {
        let server = start_server(Duration::from_millis(latency_ms));
        let addr = server.addr;
        let urls: Vec<String> = (0..FILES).map(|i| format!("http://{addr}/img/{i}.jpg")).collect();
        let dir = tempfile::tempdir().expect("temp dir");
        let urls_path = dir.path().join("urls.json");
        std::fs::write(&urls_path, serde_json::json!({"bench": {"files": urls}}).to_string()).expect("urls.json");
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for run in 0..RUNS {
            let opts = DownloadOptions {
                urls_path: urls_path.clone(),
                out_dir: dir.path().join(format!("picseek-{run}")),
                concurrency: 32,
                rate: 0.0,
                retries: 3,
                timeout: Duration::from_secs(30),
                max_bytes: 20_000_000,
                opt_outs: picseek_optout::OptOutOptions {
                    cache_dir: dir.path().join(format!("opt-outs-{run}")),
                    ..Default::default()
                },
                backoff: Duration::from_millis(500),
                ..DownloadOptions::default()
            };
            let start = Instant::now();
            let report = client.block_on(download(&opts)).expect("download");
            ours.push(start.elapsed().as_secs_f64());
            assert_eq!(report.summary, [(picseek_manifest::DownloadOutcome::OK, FILES)].into());

            let result = std::process::Command::new(&python)
                .arg(repo.join("scripts/bench/download_urllib.py"))
                .arg(&urls_path)
                .arg(dir.path().join(format!("urllib-{run}")))
                .output()
                .expect("run the urllib baseline");
            assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
            theirs.push(String::from_utf8_lossy(&result.stdout).trim().parse::<f64>().expect("seconds"));
        }
        let (ours, theirs) = (median(ours), median(theirs));
        println!(
            "{:>8}ms {:>13.0} files/s {:>13.0} files/s {:>8.1}x",
            latency_ms,
            FILES as f64 / ours,
            FILES as f64 / theirs,
            theirs / ours
        );
        drop(server.runtime);
    }
}
