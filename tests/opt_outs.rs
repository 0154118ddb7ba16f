//! The web's opt-outs in the download, against real nginx sites on loopback: robots.txt
//! that allows, disallows by path, by agent, with wildcards and `$` and with a
//! crawl-delay, that is missing (404), broken (500) or too slow to answer; TDMRep's
//! tdmrep.json and headers; `X-Robots-Tag: noimageai`. Nothing reserved is fetched, each
//! skip names its rule, the summaries count them per host, and the overriding flags are
//! recorded down to the dataset card.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::image_server::jpeg;
use crate::support::nginx::{Nginx, NginxSite};
use crate::support::{picseek, picseek_json};

const ROBOTS: &str = "User-agent: *\nDisallow: /\n\nUser-agent: picseek\nDisallow: /private/ # staff only\n\
                      Allow: /private/open/\nDisallow: /*.png$\nCrawl-delay: 1\n";
const POLICY: &str = "https://rights.example/policy.json";

fn png(seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([seed, (x * 6) as u8, (y * 8) as u8]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn site(files: &[(&str, Vec<u8>)], config: &str) -> NginxSite {
    NginxSite { files: files.iter().map(|(p, b)| (p.to_string(), b.clone())).collect(), config: config.into() }
}

/// Five sites: robots.txt with rules; none; one that answers 500; one too slow to read;
/// TDMRep and noai.
fn sites() -> Nginx {
    let photo = |i: u32| jpeg([(i * 40) as u8, 90, 150], i);
    let rules = site(
        &[
            ("robots.txt", ROBOTS.as_bytes().to_vec()),
            ("img/0.jpg", photo(0)),
            ("img/1.jpg", photo(1)),
            ("private/2.jpg", photo(2)),
            ("private/open/3.jpg", photo(3)),
            ("img/4.png", png(4)),
            ("img/5.png", png(5)),
        ],
        "",
    );
    let missing = site(&[("img/0.jpg", photo(10)), ("img/1.jpg", photo(11))], "");
    let broken = site(&[("img/0.jpg", photo(20))], "location = /robots.txt { return 500; }");
    let slow = site(
        &[("robots.txt", "# slow\n".repeat(600).into_bytes()), ("img/0.jpg", photo(30))],
        "sendfile off; location = /robots.txt { limit_rate 1; }",
    );
    let tdmrep = json!([
        {"location": "/reserved/", "tdm-reservation": 1, "tdm-policy": POLICY},
        {"location": "/", "tdm-reservation": 0}
    ]);
    let reserving = site(
        &[
            (".well-known/tdmrep.json", tdmrep.to_string().into_bytes()),
            ("reserved/a.jpg", photo(40)),
            ("header/b.jpg", photo(41)),
            ("noai/c.jpg", photo(42)),
            ("free/d.jpg", photo(43)),
        ],
        "location /header/ { add_header tdm-reservation 1; add_header tdm-policy https://rights.example/other; } \
         location /noai/ { add_header X-Robots-Tag \"noindex, noimageai\"; }",
    );
    Nginx::start_sites("127.0.0.3", "100r/s", vec![rules, missing, broken, slow, reserving])
}

/// The URLs of the sites, by term.
fn urls(nginx: &Nginx) -> Value {
    let at = |site: usize, path: &str| format!("http://{}/{path}", nginx.sites[site]);
    json!({
        "photos": {
            "rules": [at(0, "img/0.jpg"), at(0, "img/1.jpg"), at(0, "private/2.jpg"), at(0, "private/open/3.jpg"),
                      at(0, "img/4.png"), at(0, "img/5.png?v=1")],
            "missing": [at(1, "img/0.jpg"), at(1, "img/1.jpg")],
            "broken": [at(2, "img/0.jpg")],
            "slow": [at(3, "img/0.jpg")],
            "reserving": [at(4, "reserved/a.jpg"), at(4, "header/b.jpg"), at(4, "noai/c.jpg"), at(4, "free/d.jpg")]
        }
    })
}

fn download(data: &Path, urls: &Value, extra: &[&str]) -> Value {
    std::fs::write(data.join("urls.json"), urls.to_string()).unwrap();
    let mut args = vec!["--data-dir", data.to_str().unwrap(), "--json", "download", "--rate", "0", "--timeout", "2"];
    args.extend_from_slice(extra);
    picseek_json(&args)
}

fn records(data: &Path) -> Vec<Value> {
    serde_json::from_slice::<Vec<Value>>(&std::fs::read(data.join("raw/manifest.json")).unwrap()).unwrap()
}

fn record<'a>(records: &'a [Value], url_end: &str) -> &'a Value {
    records.iter().find(|r| r["url"].as_str().unwrap().ends_with(url_end)).unwrap_or_else(|| panic!("{url_end}"))
}

fn host(summary: &Value, port: u16) -> &Value {
    let origin = format!("http://127.0.0.3:{port}");
    summary["hosts"].as_array().unwrap().iter().find(|h| h["origin"] == origin.as_str()).unwrap_or_else(|| {
        panic!("{origin} not in {summary}");
    })
}

fn status(records: &[Value], url_end: &str) -> (String, String) {
    let r = record(records, url_end);
    (r["status"].as_str().unwrap().to_owned(), r["reason"].as_str().unwrap_or("").to_owned())
}

#[test]
fn robots_txt_keeps_out_exactly_what_it_disallows_says_which_rule_and_paces_the_host() {
    let nginx = sites();
    let urls = urls(&nginx);
    let ports: Vec<u16> = nginx.sites.iter().map(|a| a.port()).collect();
    let data = tempfile::tempdir().unwrap();
    let report = download(data.path(), &urls, &[]);
    let all = records(data.path());

    // By path, by the agent's own group, with `$`; the longer Allow wins.
    for (end, expected) in [
        ("rules/img/0.jpg", ("ok", "")),
        ("private/2.jpg", ("skipped", "robots")),
        ("private/open/3.jpg", ("ok", "")),
        ("img/4.png", ("skipped", "robots")),
        ("img/5.png?v=1", ("ok", "")),
    ] {
        let end = end.trim_start_matches("rules/");
        let url_end = if end == "img/0.jpg" { format!("{}/img/0.jpg", nginx.sites[0]) } else { end.to_owned() };
        assert_eq!(status(&all, &url_end), (expected.0.to_owned(), expected.1.to_owned()), "{url_end}");
    }
    let private = &record(&all, "private/2.jpg")["opt_out"];
    assert_eq!(private["kind"], "robots");
    assert_eq!(private["rule"], "Disallow: /private/");
    assert_eq!(private["line"], 5);
    assert_eq!(private["robots_txt"], format!("http://{}/robots.txt", nginx.sites[0]));
    assert_eq!(record(&all, "img/4.png")["opt_out"]["rule"], "Disallow: /*.png$");
    let fetched: Vec<String> = nginx.requests_on(ports[0]).into_iter().map(|(_, _, uri)| uri).collect();
    assert!(!fetched.iter().any(|u| u.starts_with("/private/2") || u == "/img/4.png"), "{fetched:?}");

    // Crawl-delay 1: the host's requests at least a second apart, whatever --rate says.
    let times: Vec<f64> = nginx.requests_on(ports[0]).into_iter().map(|(t, _, _)| t).collect();
    assert!(times.len() >= 5, "{times:?}");
    for pair in times.windows(2) {
        assert!(pair[1] - pair[0] >= 0.95, "requests {:.3} s apart despite Crawl-delay: 1", pair[1] - pair[0]);
    }

    // 404: no rules. 500, and an answer too slow: the host is disallowed for now.
    assert_eq!(status(&all, &format!("{}/img/1.jpg", nginx.sites[1])).0, "ok");
    let broken = record(&all, &format!("{}/img/0.jpg", nginx.sites[2]));
    assert_eq!((broken["status"].as_str(), broken["reason"].as_str()), (Some("skipped"), Some("robots-unavailable")));
    assert_eq!(broken["opt_out"]["reason"], "HTTP 500", "{broken}");
    let slow = record(&all, &format!("{}/img/0.jpg", nginx.sites[3]));
    assert_eq!(slow["reason"], "robots-unavailable", "{slow}");
    assert!(nginx.requests_on(ports[2]).iter().all(|(_, _, uri)| !uri.starts_with("/img/")));

    // Counted per host, in the report and in raw/opt-outs.json.
    let summary = &report["opt_outs"];
    assert_eq!(
        summary,
        &serde_json::from_slice::<Value>(&std::fs::read(data.path().join("raw/opt-outs.json")).unwrap()).unwrap()
    );
    assert_eq!(summary["agent"], "picseek");
    let rules_host = host(summary, ports[0]);
    assert_eq!(
        (rules_host["robots_txt"].as_str(), rules_host["crawl_delay_seconds"].as_f64()),
        (Some("rules"), Some(1.0))
    );
    assert_eq!(rules_host["skipped"], json!({"robots": 2}));
    assert_eq!(host(summary, ports[1])["robots_txt"], "none");
    assert_eq!(host(summary, ports[2])["skipped"], json!({"robots-unavailable": 1}));

    // A later run uses the robots.txt it kept for a day, and asks again where none could be read.
    let robots_requests = |port: u16| nginx.requests_on(port).iter().filter(|(_, _, u)| u == "/robots.txt").count();
    let before = (robots_requests(ports[0]), robots_requests(ports[2]));
    let out = picseek(&["--data-dir", data.path().to_str().unwrap(), "download", "--rate", "0", "--timeout", "2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((robots_requests(ports[0]), robots_requests(ports[2])), (before.0, before.1 + 1));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("opt-outs (user agent picseek): all obeyed"), "{table}");
    assert!(
        table.contains(&format!("http://{} (robots.txt): 2 skipped: robots, crawl-delay 1 s", nginx.sites[0])),
        "{table}"
    );

    // Another agent falls under `*`, which disallows everything.
    let stranger = tempfile::tempdir().unwrap();
    download(
        stranger.path(),
        &json!({"photos": {"rules": urls["photos"]["rules"].clone()}}),
        &["--user-agent", "stranger"],
    );
    assert!(records(stranger.path()).iter().all(|r| r["reason"] == "robots"), "every URL is disallowed for stranger");
    let refused = picseek(&["--data-dir", stranger.path().to_str().unwrap(), "download", "--user-agent", "picseek/2"]);
    let err = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(err.contains("--user-agent") && err.contains("product token"), "{err}");
}

#[test]
fn tdmrep_and_noai_reserve_what_they_say_unless_a_flag_says_otherwise_and_the_card_tells() {
    let nginx = sites();
    let reserving = json!({"reserving": urls(&nginx)["photos"]["reserving"].clone(),
                           "rules": urls(&nginx)["photos"]["rules"].clone()});
    let urls = json!({"photos": reserving});
    let data = tempfile::tempdir().unwrap();
    download(data.path(), &urls, &[]);
    let all = records(data.path());
    let reserved = record(&all, "reserved/a.jpg");
    assert_eq!(reserved["reason"], "tdm-reserved", "{reserved}");
    assert_eq!(reserved["opt_out"]["policy"], POLICY);
    assert!(reserved["opt_out"]["declared_by"].as_str().unwrap().contains("tdmrep.json"), "{reserved}");
    let header = record(&all, "header/b.jpg");
    assert_eq!(header["reason"], "tdm-reserved", "{header}");
    assert!(header["opt_out"]["declared_by"].as_str().unwrap().contains("header"), "{header}");
    assert_eq!(record(&all, "noai/c.jpg")["opt_out"]["directive"], "noimageai");
    assert_eq!(record(&all, "free/d.jpg")["status"], "ok");
    let port = nginx.sites[4].port();
    assert!(
        !nginx.requests_on(port).iter().any(|(_, _, u)| u.starts_with("/reserved/")),
        "reserved, so never asked for"
    );
    let files: Vec<String> = std::fs::read_dir(data.path().join("raw/photos/reserving"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 1, "only the free photo is on disk: {files:?}");

    // Holding the policy the file offers lets that photo in, not the header's other one;
    // --ignore-robots lets the disallowed ones in. Each record says which flag.
    let out = crate::support::picseek_command()
        .args(["--data-dir", data.path().to_str().unwrap(), "--json", "download", "--rate", "0"])
        .args(["--tdm-policy", POLICY, "--ignore-robots"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ignore-robots"), "a warning says so");
    let all = records(data.path());
    let reserved = record(&all, "reserved/a.jpg");
    assert_eq!(
        (reserved["status"].as_str(), reserved["opt_out"]["overridden_by"].as_str()),
        (Some("ok"), Some(format!("--tdm-policy {POLICY}").as_str()))
    );
    assert_eq!(record(&all, "header/b.jpg")["reason"], "tdm-reserved");
    let private = record(&all, "private/2.jpg");
    assert_eq!(
        (private["status"].as_str(), private["opt_out"]["overridden_by"].as_str()),
        (Some("ok"), Some("--ignore-robots"))
    );
    let summary: Value =
        serde_json::from_slice(&std::fs::read(data.path().join("raw/opt-outs.json")).unwrap()).unwrap();
    assert_eq!((summary["ignore_robots"].as_bool(), summary["tdm_policies"].clone()), (Some(true), json!([POLICY])));

    // The report and the dataset card say how opt-outs were handled.
    let data_dir = data.path().to_str().unwrap();
    let page = picseek_json(&["--data-dir", data_dir, "--json", "report"]);
    assert_eq!(page["opt_outs"]["ignore_robots"], true);
    let html = std::fs::read_to_string(data.path().join("report.html")).unwrap();
    assert!(html.contains("id=\"opt-outs\"") && html.contains("Opt-outs overridden by --ignore-robots"), "{html}");
    picseek_json(&["--data-dir", data_dir, "--json", "clean"]);
    picseek_json(&["--data-dir", data_dir, "--json", "split", "--test-per-class", "1"]);
    picseek_json(&["--data-dir", data_dir, "--json", "export", "--format", "imagefolder", "--include-unknown"]);
    let card = std::fs::read_to_string(data.path().join("export-imagefolder/README.md")).unwrap();
    assert!(
        card.contains("## Opt-outs") && card.contains("robots.txt (RFC 9309) was recorded but **not obeyed**"),
        "{card}"
    );
    assert!(card.contains(&format!("except where they offer a policy the builder holds ({POLICY})")), "{card}");
}

#[test]
fn shards_decide_each_url_as_one_process_does() {
    let nginx = sites();
    let all = urls(&nginx);
    let urls = json!({"photos": {"rules": all["photos"]["rules"].clone(), "missing": all["photos"]["missing"].clone(),
                                 "reserving": all["photos"]["reserving"].clone()}});
    let decisions = |records: Vec<Value>| -> Vec<(String, Value, Value, Value)> {
        let mut rows: Vec<_> = records
            .into_iter()
            .map(|r| {
                (r["url"].as_str().unwrap().to_owned(), r["status"].clone(), r["reason"].clone(), r["opt_out"].clone())
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
    };
    let whole = tempfile::tempdir().unwrap();
    download(whole.path(), &urls, &[]);
    let sharded = tempfile::tempdir().unwrap();
    for shard in ["0/2", "1/2"] {
        download(sharded.path(), &urls, &["--shard", shard]);
    }
    let merged = picseek_json(&["--data-dir", sharded.path().to_str().unwrap(), "--json", "merge", "download"]);
    assert_eq!(decisions(records(sharded.path())), decisions(records(whole.path())));
    let skipped =
        |summary: &Value| summary["hosts"].as_array().unwrap().iter().map(|h| h["skipped"].clone()).collect::<Vec<_>>();
    let whole_summary: Value =
        serde_json::from_slice(&std::fs::read(whole.path().join("raw/opt-outs.json")).unwrap()).unwrap();
    assert_eq!(skipped(&merged["opt_outs"]), skipped(&whole_summary), "{merged}");
}
