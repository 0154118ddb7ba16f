//! `picseek crawl` in real headless Chromium against the Flickr-like fixture site on
//! 127.0.0.1: exact URL lists, size rewriting, junk removal, pacing, resume, failures,
//! and that the browser is always stopped.

use std::path::Path;
use std::time::Duration;

use crate::support::flickr_site::{API_KEY, FlickrSite, expected_api_urls, expected_urls};
use crate::support::picseek;
use serde_json::{Value, json};

fn write_categories(dir: &Path, categories: Value) -> String {
    let path = dir.join("categories.json");
    std::fs::write(&path, categories.to_string()).unwrap();
    path.to_str().unwrap().to_owned()
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn crawl_args<'a>(data: &'a str, categories: &'a str, site: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--data-dir",
        data,
        "crawl",
        "--categories",
        categories,
        "--url-template",
        site,
        "--photo-host",
        "127.0.0.1",
        "--term-timeout",
        "60",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn crawls_exact_photo_urls_at_large_size_evenly_paced() {
    let site = FlickrSite::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let categories = write_categories(dir.path(), json!({"animal": ["Cat", "Dog"], "plant": ["Tulip"]}));
    let template = site.url_template();
    let rate = 5;
    let out = picseek(&crawl_args(
        data,
        &categories,
        &template,
        &["--max-per-term", "30", "--rate", "5", "--concurrency", "3"],
    ));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let urls = read(&dir.path().join("urls.json"));
    for (category, term, max) in [("animal", "Cat", 30), ("animal", "Dog", 30), ("plant", "Tulip", 30)] {
        let got: Vec<String> = serde_json::from_value(urls[category][term].clone()).unwrap();
        assert_eq!(got, expected_urls(site.addr, term, max), "{category}/{term}");
    }
    let log = read(&dir.path().join("crawl.json"));
    assert_eq!(log["animal"]["Cat"]["status"], "complete");
    assert_eq!(log["plant"]["Tulip"]["status"], "exhausted");
    assert_eq!(log["plant"]["Tulip"]["found"], 12);

    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("Tulip") && table.contains("12/30") && table.contains("exhausted"), "{table}");

    // Page loads, scrolls and clicks as the site saw them, on the browser's clock: no gross
    // excess of --rate (the exact rule is unit-tested in crawl's pacing, on a paused clock).
    let actions = site.actions();
    assert!(actions.len() > 3 * 3, "scrolls and clicks were recorded: {}", actions.len());
    for window in actions.windows(rate + 1) {
        let span_ms = window[rate].0 - window[0].0;
        let seen: Vec<String> = window.iter().map(|(t, e)| format!("{e}@{:.0}", t - window[0].0)).collect();
        assert!(
            span_ms >= 800.0,
            "{} actions within {span_ms:.0} ms: {seen:?}; from {:.0}\n{}",
            rate + 1,
            window[0].0,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_failing_term_is_reported_and_the_others_go_on() {
    let site = FlickrSite::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let categories = write_categories(dir.path(), json!({"things": ["broken", "Empty", "Tulip"]}));
    let template = site.url_template();
    let out = picseek(&crawl_args(data, &categories, &template, &["--rate", "20", "--json", "--strict"]));
    assert!(!out.status.success(), "with --strict a failed term makes the exit status non-zero");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--strict: 2 term(s) failed") && stderr.contains("things/broken"), "{stderr}");
    let again = picseek(&crawl_args(data, &categories, &template, &["--rate", "20", "--json"]));
    assert!(
        again.status.success(),
        "without --strict the crawl did its work: {}",
        String::from_utf8_lossy(&again.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_term = |term: &str| report["terms"].as_array().unwrap().iter().find(|t| t["term"] == term).unwrap().clone();
    assert!(by_term("broken")["record"]["error"].as_str().unwrap().contains("HTTP 500"));
    assert_eq!(by_term("Empty")["record"]["error"], "no results: the page shows no photos");
    assert_eq!(by_term("Empty")["failure"]["kind"], "no_photos");
    let urls = read(&dir.path().join("urls.json"));
    assert_eq!(urls["things"]["Tulip"].as_array().unwrap().len(), 12);
    assert_eq!(read(&dir.path().join("crawl.json"))["things"]["broken"]["status"], "failed");
}

#[test]
fn an_unreachable_host_and_photos_on_other_hosts_are_named_with_the_fix() {
    let site = FlickrSite::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let categories = write_categories(dir.path(), json!({"plants": ["Tulip"]}));
    // A port nothing listens on: the connection is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let nowhere = format!("http://{closed}/search/?text={{term}}");
    let mut args = crawl_args(data, &categories, &nowhere, &["--rate", "20"]);
    let out = picseek(&args);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let row = stdout.lines().find(|l| l.contains("Tulip")).unwrap();
    assert!(row.contains("cannot reach 127.0.0.1") && row.contains("refused"), "{stdout}");
    assert!(!stdout.contains("Session info"), "the table keeps one line per term: {stdout}");
    assert!(stdout.contains("--source flickr-api") && stdout.contains("`picseek clean --in DIR`"), "{stdout}");
    assert!(stdout.contains("no photo URLs found"), "{stdout}");

    // The fixture's photos are all on 127.0.0.1: with another photo host, none qualify.
    let template = site.url_template();
    args = crawl_args(data, &categories, &template, &["--rate", "20", "--force"]);
    let host = args.iter().position(|a| *a == "127.0.0.1").unwrap();
    args[host] = "staticflickr.com";
    let out = picseek(&args);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("none on the photo hosts") && stdout.contains("add --photo-host 127.0.0.1"), "{stdout}");
}

#[test]
fn a_rerun_skips_finished_terms_unless_forced() {
    let site = FlickrSite::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let template = site.url_template();
    let first = write_categories(dir.path(), json!({"animal": ["Cat"], "plant": ["Tulip"]}));
    assert!(picseek(&crawl_args(data, &first, &template, &["--max-per-term", "10", "--rate", "20"])).status.success());
    assert_eq!(site.loaded_terms().len(), 2);

    let grown = write_categories(dir.path(), json!({"animal": ["Cat", "Dog"], "plant": ["Tulip"]}));
    let out = picseek(&crawl_args(data, &grown, &template, &["--max-per-term", "10", "--rate", "20"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut loaded = site.loaded_terms();
    loaded.sort();
    assert_eq!(loaded, ["Cat", "Dog", "Tulip"], "only the new term was crawled (Tulip, exhausted, is done too)");
    let urls = read(&dir.path().join("urls.json"));
    assert_eq!(urls["animal"]["Cat"].as_array().unwrap().len(), 10);
    assert_eq!(urls["animal"]["Dog"].as_array().unwrap().len(), 10);

    assert!(
        picseek(&crawl_args(data, &grown, &template, &["--max-per-term", "10", "--rate", "20", "--force"]))
            .status
            .success()
    );
    assert_eq!(site.loaded_terms().len(), 6, "--force crawls every term again");
}

/// The command lines of running processes that mention `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(needle))
        .collect()
}

#[test]
fn ctrl_c_or_sigterm_keeps_finished_terms_and_stops_the_browser() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        interrupt_a_crawl_with(signal);
    }
}

fn interrupt_a_crawl_with(signal: libc::c_int) {
    let site = FlickrSite::start();
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let data = dir.path().to_str().unwrap();
    // Categories are crawled in name order: Tulip (short) first, then Cat.
    let categories = write_categories(dir.path(), json!({"a": ["Tulip"], "b": ["Cat"]}));
    let template = site.url_template();
    let args = crawl_args(data, &categories, &template, &["--rate", "2", "--concurrency", "1", "--max-per-term", "45"]);
    let mut child = crate::support::picseek_command()
        .args(&args)
        .env("TMPDIR", &tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let urls_path = dir.path().join("urls.json");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !(urls_path.exists() && site.loaded_terms().contains(&"Cat".to_owned())) {
        assert!(std::time::Instant::now() < deadline, "Tulip did not finish and Cat start in time");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!processes_mentioning(tmp.to_str().unwrap()).is_empty(), "the browser runs with its profile under TMPDIR");
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    let status = child.wait().unwrap();
    assert!(!status.success());
    let urls = read(&urls_path);
    assert_eq!(urls["b"]["Cat"].as_array().map(Vec::len), None, "Cat was not finished");
    assert_eq!(urls["a"]["Tulip"].as_array().unwrap().len(), 12);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        processes_mentioning(tmp.to_str().unwrap()),
        Vec::<String>::new(),
        "Chromium outlived picseek ({signal})"
    );
}

#[test]
fn after_a_sigkill_the_next_crawl_stops_the_orphaned_browser_and_removes_its_profile() {
    let site = FlickrSite::start();
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let data = dir.path().to_str().unwrap();
    let categories = write_categories(dir.path(), json!({"a": ["Cat"]}));
    let template = site.url_template();
    let args = crawl_args(data, &categories, &template, &["--rate", "2", "--max-per-term", "45"]);
    let spawn = || {
        crate::support::picseek_command()
            .args(&args)
            .env("TMPDIR", &tmp)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = spawn();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !site.loaded_terms().contains(&"Cat".to_owned()) {
        assert!(std::time::Instant::now() < deadline, "Cat did not start in time");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        processes_mentioning("chromedriver").iter().all(|p| !p.contains(&format!("{}", child.id()))),
        "chromedriver dies with picseek"
    );
    let status = spawn().wait().unwrap();
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(processes_mentioning(tmp.to_str().unwrap()), Vec::<String>::new(), "an orphaned browser is left");
    let profiles: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("picseek-chromium-"))
        .collect();
    assert!(profiles.is_empty(), "profiles left: {profiles:?}");
}

#[test]
fn a_host_that_never_answers_costs_each_term_its_timeout_and_no_more() {
    // Accepts connections and never answers them.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            keep.lock().unwrap().push(stream);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let categories = write_categories(dir.path(), json!({"a": ["Cat", "Owl"]}));
    let template = format!("http://{addr}/search/?text={{term}}");
    let data = dir.path().to_str().unwrap();
    let mut args = crawl_args(data, &categories, &template, &["--concurrency", "2", "--rate", "5"]);
    let timeout_value = args.iter().position(|a| *a == "--term-timeout").unwrap() + 1;
    args[timeout_value] = "20";
    let started = std::time::Instant::now();
    let out = crate::support::picseek_command().args(&args).output().unwrap();
    let took = started.elapsed();
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("2 term(s) failed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Each term at most its 20 s (a loaded machine may need seconds to open a browser).
    assert!(took < Duration::from_secs(50), "two hung terms took {took:?}");
    let log = read(&dir.path().join("crawl.json"));
    for term in ["Cat", "Owl"] {
        assert_eq!(log["a"][term]["status"], "failed", "{log}");
        let error = log["a"][term]["error"].as_str().unwrap();
        assert!(error.contains(&addr.ip().to_string()) && !error.contains("--term-timeout"), "{error}");
    }
    drop(held);
}

#[test]
fn a_throttled_search_page_slows_the_host_down_and_the_term_still_completes() {
    let site = FlickrSite::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let categories = write_categories(dir.path(), json!({"animal": ["Busy"]}));
    let template = site.url_template();
    let args = crawl_args(data, &categories, &template, &["--rate", "4", "--max-per-term", "20"]);
    let out = crate::support::picseek_command().args(&args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let log = read(&dir.path().join("crawl.json"));
    assert_eq!(log["animal"]["Busy"]["status"], "complete", "{log}");
    let loads: Vec<f64> = site.actions().iter().filter(|(_, kind)| kind == "load").map(|(t, _)| *t).collect();
    assert_eq!(loads.len(), 3, "refused, told to slow down, then served");
    // At 4 actions/s the period is 250 ms; after each refusal it doubles (the exact rule
    // is unit-tested on a paused clock; here only that the site saw the host slow down).
    assert!(loads[1] - loads[0] >= 400.0, "{loads:?}");
    assert!(loads[2] - loads[1] >= 800.0, "{loads:?}");
}

#[test]
fn a_missing_chromedriver_names_the_setup_script() {
    let dir = tempfile::tempdir().unwrap();
    let categories = write_categories(dir.path(), json!({"animal": ["Cat"]}));
    let out = crate::support::picseek_command()
        .args(["--data-dir", dir.path().to_str().unwrap(), "crawl", "--categories", &categories])
        .env("PATH", dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("chromedriver") && stderr.contains("scripts/setup.sh"), "{stderr}");
}

/// Runs `picseek crawl --source flickr-api` with `key`, without a browser on PATH.
fn crawl_api(data: &Path, site: &FlickrSite, key: Option<&str>, extra: &[&str]) -> std::process::Output {
    let mut command = crate::support::picseek_command();
    command
        .args(["--data-dir", data.to_str().unwrap(), "crawl", "--source", "flickr-api"])
        .args(["--categories", data.join("categories.json").to_str().unwrap()])
        .args(["--api-url", &format!("http://{}/services/rest/", site.addr), "--rate", "10"])
        .args(extra)
        .env("PATH", data)
        .env_remove("FLICKR_API_KEY");
    if let Some(key) = key {
        command.env("FLICKR_API_KEY", key);
    }
    command.output().unwrap()
}

#[test]
fn the_flickr_api_source_pages_through_results_without_a_browser() {
    let site = FlickrSite::start();
    let dir = tempfile::tempdir().unwrap();
    write_categories(dir.path(), json!({"animal": ["Many", "Cat"], "plant": ["Tulip"]}));
    let out = crawl_api(dir.path(), &site, Some(API_KEY), &["--max-per-term", "150"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let urls = read(&dir.path().join("urls.json"));
    for (category, term) in [("animal", "Many"), ("animal", "Cat"), ("plant", "Tulip")] {
        let got: Vec<String> = serde_json::from_value(urls[category][term].clone()).unwrap();
        assert_eq!(got, expected_api_urls(site.addr, term, 150), "{term}");
    }
    let log = read(&dir.path().join("crawl.json"));
    assert_eq!(log["animal"]["Many"]["status"], "complete");
    assert_eq!(log["animal"]["Cat"]["status"], "exhausted");
    let pages = site.events.lock().unwrap().api_pages.clone();
    assert_eq!(pages.iter().filter(|(t, _)| t == "Many").map(|(_, p)| *p).collect::<Vec<_>>(), [1, 2]);
    let actions = site.actions();
    for pair in actions.windows(2) {
        assert!(pair[1].0 - pair[0].0 >= 80.0, "API calls paced at --rate 10: {pair:?}");
    }
}

#[test]
fn the_flickr_api_source_needs_a_valid_key() {
    let site = FlickrSite::start();
    let dir = tempfile::tempdir().unwrap();
    write_categories(dir.path(), json!({"animal": ["Cat"]}));
    let missing = crawl_api(dir.path(), &site, None, &[]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("FLICKR_API_KEY"));
    let wrong = crawl_api(dir.path(), &site, Some("wrong"), &["--json"]);
    assert!(!wrong.status.success());
    let report: Value = serde_json::from_slice(&wrong.stdout).unwrap();
    let error = report["terms"][0]["record"]["error"].as_str().unwrap();
    assert!(error.contains("Flickr API error 100") && error.contains("Invalid API Key"), "{error}");
}

/// Not a test: the crawl benchmark (`scripts/bench/run crawl`). Prints the median wall
/// time of crawling 3 terms x 60 URLs from the fixture site at --rate 5.
#[test]
#[ignore = "benchmark"]
fn bench_crawl_three_terms_of_sixty_urls_at_rate_five() {
    let site = FlickrSite::start();
    let template = site.url_template();
    let mut seconds = Vec::new();
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap();
        let categories = write_categories(dir.path(), json!({"animal": ["Cat", "Dog"], "plant": ["Rose"]}));
        let started = std::time::Instant::now();
        let args =
            crawl_args(data, &categories, &template, &["--max-per-term", "60", "--rate", "5", "--concurrency", "3"]);
        assert!(picseek(&args).status.success());
        seconds.push(started.elapsed().as_secs_f64());
        let urls = read(&dir.path().join("urls.json"));
        assert_eq!(urls["plant"]["Rose"].as_array().unwrap().len(), 60);
    }
    seconds.sort_by(f64::total_cmp);
    println!("crawl, 3 terms x 60 URLs, --rate 5 --concurrency 3, fixture site on 127.0.0.1");
    println!("runs (s): {seconds:.2?}   median: {:.2} s", seconds[1]);
}

#[test]
fn a_search_page_the_hosts_robots_txt_disallows_is_not_loaded_and_the_api_is_offered() {
    let site = FlickrSite::start_with_robots(Some("User-agent: *\nDisallow: /search/\n"));
    let dir = tempfile::tempdir().unwrap();
    let categories = write_categories(dir.path(), json!({"animal": ["Cat", "Owl"]}));
    let data = dir.path().to_str().unwrap();
    let template = site.url_template();
    let out = crate::support::picseek_command().args(crawl_args(data, &categories, &template, &[])).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let error = stderr.lines().filter(|l| l.starts_with("picseek:")).collect::<Vec<_>>();
    assert_eq!(error.len(), 1, "{stderr}");
    assert!(error[0].contains("Disallow: /search/") && error[0].contains("--source flickr-api"), "{stderr}");
    assert!(site.loaded_terms().is_empty(), "no search page was loaded");
    let log = read(&dir.path().join("crawl.json"));
    assert_eq!(log["animal"]["Cat"]["opt_out"]["kind"], "robots", "{log}");
    assert_eq!(log["animal"]["Cat"]["opt_out"]["rule"], "Disallow: /search/", "{log}");

    // The API's path is allowed: the sanctioned route works.
    let api = crawl_api(dir.path(), &site, Some(API_KEY), &["--max-per-term", "5"]);
    assert!(api.status.success(), "{}", String::from_utf8_lossy(&api.stderr));
    assert_eq!(read(&dir.path().join("urls.json"))["animal"]["Cat"].as_array().unwrap().len(), 5);
}

#[test]
fn a_search_page_that_says_noimageai_gives_no_photos() {
    let site = FlickrSite::start();
    let dir = tempfile::tempdir().unwrap();
    let categories = write_categories(dir.path(), json!({"animal": ["NoAI", "Tulip"]}));
    let data = dir.path().to_str().unwrap();
    let template = site.url_template();
    let out = crate::support::picseek_command().args(crawl_args(data, &categories, &template, &[])).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let log = read(&dir.path().join("crawl.json"));
    assert_eq!(log["animal"]["NoAI"]["status"], "failed", "{log}");
    assert_eq!(log["animal"]["NoAI"]["opt_out"]["directive"], "noimageai", "{log}");
    let urls = read(&dir.path().join("urls.json"));
    assert!(urls["animal"].get("NoAI").is_none(), "{urls}");
    assert_eq!(urls["animal"]["Tulip"].as_array().unwrap().len(), 12);
}
