//! Downloading from hosts that throttle: a real nginx limiting requests per client (429,
//! no `Retry-After`) and the misbehaving server's host that refuses for a while. Every
//! photo must end `ok`, refusals must be few, the ceiling never passed, and a healthy
//! host must not wait for a throttled one. What the servers saw is the evidence.

use std::time::Duration;

use crate::support::image_server::ImageServer;
use crate::support::nginx::Nginx;
use crate::support::picseek_json;
use serde_json::{Value, json};

fn download(data: &std::path::Path, urls: Value, extra: &[&str]) -> Value {
    std::fs::write(data.join("urls.json"), urls.to_string()).unwrap();
    let mut args = vec!["--data-dir", data.to_str().unwrap(), "--json", "download"];
    args.extend_from_slice(extra);
    picseek_json(&args)
}

fn host_row<'a>(report: &'a Value, host: &str) -> &'a Value {
    report["hosts"].as_array().unwrap().iter().find(|h| h["host"] == host).unwrap_or_else(|| panic!("{report}"))
}

#[test]
fn a_host_that_allows_less_than_the_rate_gets_every_photo_with_few_refusals() {
    let photos = 40;
    let nginx = Nginx::start("127.0.0.2", "5r/s", photos);
    let dir = tempfile::tempdir().unwrap();
    let urls = json!({"animal": {"Owl": (0..photos).map(|i| nginx.url(i)).collect::<Vec<_>>()}});
    let report = download(dir.path(), urls, &["--rate", "10"]);
    assert_eq!(report["summary"]["ok"], photos, "{report}");
    let seen = nginx.requests();
    let refused = seen.iter().filter(|(_, status)| *status == 429).count();
    assert!(refused * 4 <= photos, "{refused} of {} requests refused for {photos} photos", seen.len());
    assert!(nginx.peak_per_second() <= 10, "the ceiling of 10/s was passed: {}", nginx.peak_per_second());
    let row = host_row(&report, "127.0.0.2");
    assert_eq!(row["refused"], refused, "{row}");
    assert!(row["final_rate"].as_f64().unwrap() < 10.0, "{row}");
}

#[test]
fn with_pacing_off_the_pace_is_learnt_from_the_host() {
    let photos = 60;
    let nginx = Nginx::start("127.0.0.2", "10r/s", photos);
    let dir = tempfile::tempdir().unwrap();
    let urls = json!({"animal": {"Owl": (0..photos).map(|i| nginx.url(i)).collect::<Vec<_>>()}});
    let report = download(dir.path(), urls, &["--rate", "0", "--concurrency", "16"]);
    assert_eq!(report["summary"]["ok"], photos, "{report}");
    let refused = nginx.requests().iter().filter(|(_, status)| *status == 429).count();
    assert!(refused * 4 <= photos, "{refused} refused for {photos} photos");
}

#[test]
fn a_healthy_host_runs_at_full_speed_beside_a_throttled_one() {
    let nginx = Nginx::start("127.0.0.2", "2r/s", 12);
    let healthy = ImageServer::start();
    let dir = tempfile::tempdir().unwrap();
    let urls = json!({"animal": {
        "Owl": (0..12).map(|i| nginx.url(i)).collect::<Vec<_>>(),
        "Fox": (0..20).map(|i| healthy.url(&format!("img/{i}.jpg"))).collect::<Vec<_>>(),
    }});
    let report = download(dir.path(), urls, &["--rate", "20", "--concurrency", "4"]);
    assert_eq!(report["summary"]["ok"], 32, "{report}");
    let times = healthy.all_request_times();
    let healthy_span = *times.last().unwrap() - times[0];
    let seen = nginx.requests();
    let throttled_span = seen.last().unwrap().0 - seen[0].0;
    // 12 photos at 2/s take over 5 s; 20 at 20/s take 1 s, with room for a loaded machine.
    assert!(throttled_span > 4.5, "the throttled host was not paced: {throttled_span} s");
    assert!(
        healthy_span.as_secs_f64() < throttled_span / 2.0,
        "the healthy host took {healthy_span:?} for 20 photos at 20/s, the throttled one {throttled_span} s"
    );
}

#[test]
fn a_host_that_refuses_for_a_while_is_waited_for_without_using_retries() {
    let server = ImageServer::start();
    let dir = tempfile::tempdir().unwrap();
    let urls = json!({"animal": {"Owl": (0..6).map(|i| server.url(&format!("refusing/{i}.jpg"))).collect::<Vec<_>>()}});
    let report = download(dir.path(), urls, &["--rate", "20", "--retries", "0"]);
    assert_eq!(report["summary"]["ok"], 6, "{report}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("raw/manifest.json")).unwrap()).unwrap();
    assert!(manifest.as_array().unwrap().iter().any(|r| r["attempts"].as_u64() > Some(1)), "{manifest}");
    assert!(host_row(&report, "127.0.0.1")["refused"].as_u64() > Some(0), "{report}");
}

#[test]
fn a_host_that_refuses_past_the_bound_is_left_throttled_and_a_rerun_resumes() {
    let server = ImageServer::start();
    let dir = tempfile::tempdir().unwrap();
    let urls = json!({"animal": {"Owl": (0..4).map(|i| server.url(&format!("refusing/{i}.jpg"))).collect::<Vec<_>>()}});
    let first = download(dir.path(), urls.clone(), &["--rate", "20", "--throttle-timeout", "1"]);
    assert_eq!(first["summary"]["failed: throttled"], 4, "{first}");
    assert_eq!(host_row(&first, "127.0.0.1")["gave_up"], true, "{first}");
    std::thread::sleep(Duration::from_secs(2));
    let second = download(dir.path(), urls, &["--rate", "20", "--throttle-timeout", "1"]);
    assert_eq!(second["summary"]["ok"], 4, "{second}");
}

/// `scripts/bench/run throttle`: photos per second reached against a host that allows R
/// requests per second, as a share of R, and refused requests per photo, for R = 1, 5
/// and 20 and three settings: picseek's defaults (`--rate 2`), pacing off (`--rate 0`)
/// and a ceiling twice the host's limit. Target: at least 0.8 R (or the ceiling, when
/// lower) with at most 0.25 refused per photo.
#[test]
#[ignore = "benchmark"]
fn bench_throttled_hosts() {
    println!("{:<10} {:>4} {:>7} {:>10} {:>9} {:>14}", "setting", "R", "photos", "photos/s", "share", "refused/photo");
    for limit in [1.0f64, 5.0, 20.0] {
        for (setting, rate) in [("defaults", 2.0), ("pacing off", 0.0), ("ceiling 2R", 2.0 * limit)] {
            let expected = if rate > 0.0 { limit.min(rate) } else { limit };
            let photos = (25.0 * expected).ceil() as usize;
            let nginx = Nginx::start("127.0.0.2", &format!("{limit}r/s"), photos);
            let dir = tempfile::tempdir().unwrap();
            let urls = json!({"animal": {"Owl": (0..photos).map(|i| nginx.url(i)).collect::<Vec<_>>()}});
            let started = std::time::Instant::now();
            let report = download(dir.path(), urls, &["--rate", &rate.to_string()]);
            let seconds = started.elapsed().as_secs_f64();
            assert_eq!(report["summary"]["ok"], photos, "{report}");
            let refused = nginx.requests().iter().filter(|(_, status)| *status == 429).count();
            let per_second = photos as f64 / seconds;
            println!(
                "{setting:<10} {limit:>4} {photos:>7} {per_second:>10.2} {:>9.2} {:>14.3}",
                per_second / expected,
                refused as f64 / photos as f64
            );
        }
    }
}
