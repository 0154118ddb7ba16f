//! Provenance from crawl to results: the fixture site's result links carry owners and
//! titles, its `flickr.photos.search` answers with the licence extras and honours
//! `license`; every stage after carries what they said to `search --json`, the web page
//! and the attribution files.

use std::path::Path;
use std::time::Duration;

use crate::support::flickr_site::{API_KEY, FlickrSite, photo, photo_meta, shown_photos};
use crate::support::{picseek, picseek_command, picseek_fails, picseek_json};
use serde_json::{Value, json};

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn the_browser_source_reads_page_links_and_filters_by_licence() {
    let site = FlickrSite::start();
    let dir = tempfile::tempdir().unwrap();
    let categories = dir.path().join("categories.json");
    std::fs::write(&categories, json!({"plant": ["Tulip"]}).to_string()).unwrap();
    let template = site.url_template();
    let crawl = |extra: &[&str]| {
        let mut args = vec!["--data-dir", s(dir.path()), "crawl", "--categories", s(&categories)];
        args.extend(["--url-template", &template, "--photo-host", "127.0.0.1", "--rate", "20", "--max-per-term", "40"]);
        args.extend_from_slice(extra);
        let out = picseek(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    crawl(&[]);
    let sources = read(&dir.path().join("sources.json"));
    let urls = read(&dir.path().join("urls.json"));
    let all: Vec<&str> = urls["plant"]["Tulip"].as_array().unwrap().iter().map(|u| u.as_str().unwrap()).collect();
    assert_eq!(all.len(), shown_photos("Tulip", None).len().min(40));
    for (i, url) in all.iter().enumerate() {
        let source = &sources[*url];
        let (id, _) = photo("Tulip", i);
        let (owner, owner_name, title, _) = photo_meta("Tulip", i);
        assert_eq!(source["photo_id"], id.as_str(), "{source}");
        assert_eq!(source["page"], format!("http://{}/photos/{owner}/{id}/", site.addr), "{source}");
        assert_eq!(
            (source["owner"].as_str(), source["owner_name"].as_str()),
            (Some(owner.as_str()), Some(owner_name.as_str()))
        );
        assert_eq!(source["title"], title.as_str());
        assert!(source.get("license").is_none(), "the page does not say which licence: {source}");
    }

    // With a filter, only those photos, and their licence is known to be one of them; the
    // term is crawled again without --force, since the filter changed.
    crawl(&["--license", "cc0,pdm"]);
    let urls = read(&dir.path().join("urls.json"));
    let open: Vec<&str> = urls["plant"]["Tulip"].as_array().unwrap().iter().map(|u| u.as_str().unwrap()).collect();
    let expected: Vec<String> = shown_photos("Tulip", Some("9,10")).iter().map(|&i| photo("Tulip", i).0).collect();
    assert_eq!(open.len(), expected.len().min(40));
    let sources = read(&dir.path().join("sources.json"));
    for url in &open {
        assert!(expected.iter().any(|id| url.contains(&format!("/{id}_"))), "{url}");
        let among: Vec<&str> =
            sources[*url]["license_among"].as_array().unwrap().iter().map(|l| l["code"].as_str().unwrap()).collect();
        assert_eq!(among, ["cc0", "pdm"]);
    }
    let err =
        String::from_utf8(picseek(&["crawl", "--categories", s(&categories), "--license", "gpl"]).stderr).unwrap();
    assert!(err.contains("--license") && err.contains("cc-by"), "{err}");
}

#[test]
fn provenance_flows_from_the_api_to_search_results_the_page_and_the_credits() {
    let site = FlickrSite::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    std::fs::write(data.join("categories.json"), json!({"plant": ["Tulip"], "animal": ["Cat"]}).to_string()).unwrap();
    let out = picseek_command()
        .args([
            "--data-dir",
            s(data),
            "crawl",
            "--source",
            "flickr-api",
            "--categories",
            s(&data.join("categories.json")),
        ])
        .args(["--api-url", &format!("http://{}/services/rest/", site.addr), "--rate", "20", "--max-per-term", "8"])
        .env("FLICKR_API_KEY", API_KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sources = read(&data.join("sources.json"));
    let tulip_0 = photo("Tulip", 0).0;
    let (url_0, first) =
        sources.as_object().unwrap().iter().find(|(u, _)| u.contains(&format!("/{tulip_0}_"))).unwrap();
    assert_eq!(first["license"]["name"], "All Rights Reserved", "{first}");
    assert_eq!(first["owner_name"], "Owner 0");
    assert_eq!(first["date_taken"], "2024-05-01 10:00:00");
    assert!(first["page"].as_str().unwrap().starts_with("https://www.flickr.com/photos/1000@N00/"), "{first}");

    // The same photo published again under another URL and owner: clean merges the two,
    // and the kept image keeps both sources. Only the fixture's own URLs are kept (the
    // API gives `url_b` for even photos; for odd ones picseek builds a live.staticflickr.com
    // URL, which a test must not fetch).
    let mut urls = read(&data.join("urls.json"));
    let local = format!("http://{}/", site.addr);
    for terms in urls.as_object_mut().unwrap().values_mut() {
        for list in terms.as_object_mut().unwrap().values_mut() {
            list.as_array_mut().unwrap().retain(|u| u.as_str().unwrap().starts_with(&local));
        }
    }
    let copy = format!("{url_0}?copy=1");
    urls["plant"]["Tulip"].as_array_mut().unwrap().push(copy.clone().into());
    std::fs::write(data.join("urls.json"), urls.to_string()).unwrap();
    let mut sources = sources.clone();
    sources[&copy] = json!({"url": copy, "owner": "copier", "owner_name": "A Copier", "license": {"id": 4, "code": "cc-by", "name": "CC BY 2.0"}});
    std::fs::write(data.join("sources.json"), sources.to_string()).unwrap();

    let d = s(data);
    picseek_json(&["--data-dir", d, "--json", "download", "--rate", "0"]);
    let raw = read(&data.join("raw/manifest.json"));
    assert!(raw.as_array().unwrap().iter().all(|r| r["provenance"]["url"] == r["url"]), "{raw}");
    picseek_json(&["--data-dir", d, "--json", "clean", "--dedup", "exact"]);
    let clean = read(&data.join("clean/manifest.json"));
    let record_of = |url: &str| {
        clean
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["provenance"]["url"] == url)
            .unwrap_or_else(|| panic!("{url}: {clean}"))
    };
    let reasons = [record_of(&copy)["reason"].as_str(), record_of(url_0)["reason"].as_str()];
    assert!(
        reasons.iter().flatten().any(|r| r.starts_with("duplicate_of:")),
        "one of the two is a duplicate: {reasons:?}"
    );
    let split = picseek_json(&["--data-dir", d, "--json", "split", "--test-per-class", "2", "--train-per-class", "0"]);
    assert!(split["licenses"].as_object().unwrap().len() >= 3, "{split}");

    // The attribution files list every image of train/ and test/ with its licence.
    let attribution = read(&data.join("attribution.json"));
    let images = attribution["images"].as_array().unwrap();
    let on_disk = ["train", "test"]
        .iter()
        .map(|side| {
            std::fs::read_dir(data.join(side))
                .unwrap()
                .flatten()
                .filter(|e| e.path().is_dir())
                .map(|c| std::fs::read_dir(c.path()).unwrap().count())
                .sum::<usize>()
        })
        .sum::<usize>();
    assert_eq!(images.len(), on_disk);
    let kept = clean.as_array().unwrap().iter().filter(|r| r["status"] == "kept").count();
    assert_eq!((images.len(), kept), (8, 8), "{split}");
    for image in images {
        let path = image["path"].as_str().unwrap();
        assert!(data.join(path).is_file(), "{path}");
        // The licence is that of the image's own source: the fixture's photo, or (when
        // clean kept the copy and merged the original into it) the copier's.
        let primary = &image["sources"][0];
        let expected = match primary["photo_id"].as_str() {
            None => "CC BY 2.0".to_owned(),
            Some(id) => {
                let term = image["class"].as_str().unwrap();
                let i = (0..8).find(|&i| photo(term, i).0 == id).unwrap_or_else(|| panic!("{image}"));
                picseek_manifest::License::from_id(photo_meta(term, i).3).unwrap().name
            }
        };
        assert_eq!(image["license"], expected.as_str(), "{image}");
    }
    let merged = images
        .iter()
        .find(|i| i["sources"].as_array().unwrap().len() == 2)
        .expect("the merged copy keeps both sources");
    let owners: Vec<&str> =
        merged["sources"].as_array().unwrap().iter().map(|s| s["owner"].as_str().unwrap()).collect();
    assert!(owners.contains(&"copier") && owners.contains(&"1000@N00"), "{merged}");
    let credits = std::fs::read_to_string(data.join("CREDITS.md")).unwrap();
    assert!(
        credits.contains("## All Rights Reserved")
            && credits.contains("## CC BY-SA 2.0 (https://creativecommons.org/licenses/by-sa/2.0/)"),
        "{credits}"
    );
    assert!(
        (credits.contains("also published: by A Copier (CC BY 2.0)")
            || credits.contains("also published: \"Tulip no. 0\" by Owner 0")),
        "{credits}"
    );
    let provenance = read(&data.join("provenance/train.json"));
    assert!(!provenance.as_object().unwrap().is_empty());
    // train/ and test/ hold class folders only: the tutorial's reader (classes are the
    // entries of train/, images the entries of each class) runs over them.
    let classic = std::process::Command::new(crate::support::repo_root().join(".venv/bin/python"))
        .args(["-c", "import os, sys\nfor side in sys.argv[1:]:\n    for c in os.listdir(side):\n        for f in os.listdir(os.path.join(side, c)):\n            open(os.path.join(side, c, f), 'rb').close()\nprint('ok')"])
        .arg(data.join("train"))
        .arg(data.join("test"))
        .output()
        .unwrap();
    assert!(classic.status.success(), "{}", String::from_utf8_lossy(&classic.stderr));

    // Index and search: every result says whose photo it is.
    crate::support::index_pixel(data, &[]);
    let query = data.join(merged["path"].as_str().unwrap());
    let found = picseek_json(&[
        "--data-dir",
        d,
        "--json",
        "search",
        "--image",
        s(&query),
        "-k",
        "3",
        "--index",
        s(&data.join("index")),
    ]);
    let results = found["results"].as_array().unwrap();
    assert!(
        // The copier's source (made up above) has no page; every other has.
        results.iter().all(|r| r["source"]["owner"].is_string()
            && (r["source"]["page"].is_string() || r["source"]["owner"] == "copier")),
        "{found}"
    );
    // Filters only provenance allows: licence, owner, date taken, and a score to reach.
    let search = |extra: &[&str]| {
        let mut args = vec!["--data-dir", d, "--json", "search", "--image", s(&query), "-k", "50"];
        args.extend_from_slice(extra);
        picseek_json(&args)
    };
    let all = search(&[]);
    let all = all["results"].as_array().unwrap();
    let license = all[0]["source"]["license"]["code"].as_str().unwrap().to_owned();
    let same_license = search(&["--license", &license]);
    let kept = same_license["results"].as_array().unwrap();
    assert!(
        !kept.is_empty() && kept.iter().all(|r| r["source"]["license"]["code"] == license.as_str()),
        "{same_license}"
    );
    let owner = all[0]["source"]["owner"].as_str().unwrap().to_owned();
    let by_owner = search(&["--owner", &owner.to_uppercase()]);
    assert!(
        by_owner["results"].as_array().unwrap().iter().all(|r| r["source"]["owner"] == owner.as_str()),
        "{by_owner}"
    );
    let close = search(&["--min-score", "0.999"]);
    assert!(close["results"].as_array().unwrap().iter().all(|r| r["score"].as_f64().unwrap() >= 0.999), "{close}");
    assert!(close["results"].as_array().unwrap().len() < all.len(), "{close}");
    let err = picseek_fails(&["--data-dir", d, "search", "--image", s(&query), "--owner", "nobody at all"]);
    assert!(err.contains("no photo of owner \"nobody at all\" in the index; its owners are"), "{err}");
    let err = picseek_fails(&["--data-dir", d, "search", "--image", s(&query), "--taken-after", "last year"]);
    assert!(err.contains("\"last year\" is not a date: give YYYY, YYYY-MM or YYYY-MM-DD"), "{err}");
    let err = picseek_fails(&["--data-dir", d, "search", "--image", s(&query), "--license", "gpl"]);
    assert!(err.contains("--license") && err.contains("cc-by"), "an unknown licence lists the known ones: {err}");

    // A folder without provenance is indexed as before.
    std::fs::remove_file(data.join("provenance/train.json")).unwrap();
    let plain = crate::support::index_pixel(data, &["--index", s(&data.join("plain-index"))]);
    assert!(plain["items"].as_u64().unwrap() > 0);
    let plain_index = data.join("plain-index");
    let err = picseek_fails(&[
        "--data-dir",
        d,
        "search",
        "--image",
        s(&query),
        "--index",
        s(&plain_index),
        "--license",
        "cc0",
    ]);
    assert!(err.contains("the index's images carry no provenance"), "{err}");
    let manifest = read(&data.join("plain-index/index.json"));
    assert!(manifest["items"].as_array().unwrap().iter().all(|i| i.get("sources").is_none()));

    // The page shows owner and licence under each result, and links to the photo's page.
    let server = crate::serve::spawn_server(data, &[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (driver, session) = crate::serve::open_page(&server).await;
        let c = &session.client;
        c.goto(&format!("{}/?browse=1&k=4", server.base)).await.unwrap();
        let credits = crate::serve::wait_for(
            c,
            "return [...document.querySelectorAll('.result .credit')].map(e => e.textContent)",
            |v| v.as_array().is_some_and(|a| a.len() == 4),
        )
        .await;
        assert!(credits.as_array().unwrap().iter().all(|t| t.as_str().unwrap().starts_with("by ")), "{credits}");
        let link = c
            .find(fantoccini::Locator::Css(".result a.photo-page"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        assert!(link.starts_with("https://www.flickr.com/photos/"), "{link}");

        // The page filters by licence and owner too, and says what an owner is not.
        c.goto(&format!("{}/?browse=1&k=50&license={license}", server.base)).await.unwrap();
        let licenses = crate::serve::wait_for(
            c,
            "return [...document.querySelectorAll('.result .license')].map(e => e.textContent)",
            |v| v.as_array().is_some_and(|a| !a.is_empty()),
        )
        .await;
        let mut names: Vec<&str> = licenses.as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
        names.dedup();
        assert_eq!(names.len(), 1, "one licence: {licenses}");
        c.goto(&format!("{}/?browse=1&owner=nobody", server.base)).await.unwrap();
        let status = crate::serve::wait_for(c, "return document.getElementById('status').textContent", |v| {
            v.as_str().unwrap_or("").contains("no photo of owner")
        })
        .await;
        assert!(status.as_str().unwrap().contains("its owners are"), "{status}");
        session.close(Duration::from_secs(10)).await;
        drop(driver);
    });
}
