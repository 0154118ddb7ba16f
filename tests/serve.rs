//! `picseek serve`: the JSON API (results, class filter, bad uploads, path traversal)
//! and the page itself in real headless Chromium.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::support::{index_pixel, picseek_json, write_class};
use fantoccini::Locator;
use reqwest::blocking::multipart::{Form, Part};
use serde_json::Value;

/// A `picseek serve` child process, killed when dropped.
pub(crate) struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub(crate) base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Indexes three colour classes with the pixel embedder and serves them.
fn start(data: &Path, extra: &[&str]) -> Server {
    write_classes(data, 6);
    index_pixel(data, &[]);
    spawn_server(data, extra)
}

fn write_classes(data: &Path, per_class: usize) {
    for (i, (class, colour)) in
        [("red", [220, 40, 40]), ("green", [40, 200, 60]), ("blue", [40, 60, 220])].iter().enumerate()
    {
        write_class(&data.join("train"), class, *colour, per_class, i as u64);
    }
}

/// Starts `picseek serve` on a free port of 127.0.0.1 over `data`'s index.
pub(crate) fn spawn_server(data: &Path, extra: &[&str]) -> Server {
    let mut child = crate::support::picseek_command()
        .args(["--data-dir", data.to_str().unwrap(), "serve", "--addr", "127.0.0.1:0"])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("serve announces its address").unwrap();
        if let Some(url) = line.split(" on ").nth(1).and_then(|rest| rest.split_whitespace().next()) {
            break url.trim_end_matches('/').to_owned();
        }
    };
    Server { child, base }
}

fn query_image(dir: &Path) -> PathBuf {
    write_class(&dir.join("queries"), "red", [220, 40, 40], 1, 42);
    dir.join("queries/red/red_0.jpg")
}

fn post(server: &Server, form: Form) -> (u16, Value) {
    let response =
        reqwest::blocking::Client::new().post(format!("{}/api/search", server.base)).multipart(form).send().unwrap();
    let status = response.status().as_u16();
    (status, serde_json::from_slice(&response.bytes().unwrap()).unwrap_or(Value::Null))
}

/// Sends a multipart upload that declares far more than `limit` bytes but stops just
/// past it (a client racing the server's early answer could see a reset instead).
fn oversized_upload(server: &Server, limit: usize) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = server.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let head = "--X\r\nContent-Disposition: form-data; name=\"image\"; filename=\"big.jpg\"\r\n\r\n";
    let request = format!(
        "POST /api/search HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; boundary=X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
        limit * 10
    );
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(&vec![0xFF; limit + 1000]).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, response)
}

fn image_part(path: &Path) -> Part {
    Part::bytes(std::fs::read(path).unwrap()).file_name("query.jpg")
}

#[test]
fn the_api_answers_searches_and_refuses_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--max-upload", "200000"]);
    let query = query_image(dir.path());

    let (status, answer) =
        post(&server, Form::new().part("image", image_part(&query)).text("k", "4").text("metric", "l2"));
    assert_eq!(status, 200, "{answer}");
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert!(results.iter().all(|r| r["class"] == "red"), "{answer}");
    let image = reqwest::blocking::get(format!("{}{}", server.base, results[0]["url"].as_str().unwrap())).unwrap();
    assert_eq!(image.headers()["content-type"], "image/jpeg");
    assert!(image::load_from_memory(&image.bytes().unwrap()).is_ok());

    let (status, answer) = post(&server, Form::new().part("image", image_part(&query)).text("class", "green"));
    assert_eq!(status, 200);
    assert!(answer["results"].as_array().unwrap().iter().all(|r| r["class"] == "green"), "{answer}");

    let bad = |form: Form, status: u16, needle: &str| {
        let (got, answer) = post(&server, form);
        assert_eq!(got, status, "{answer}");
        assert!(answer["error"].as_str().unwrap_or("").contains(needle), "{answer}");
    };
    bad(Form::new().text("k", "3"), 400, "send an image");
    bad(
        Form::new().part("image", Part::bytes(b"<html>nope</html>".to_vec()).file_name("x.jpg")),
        400,
        "not a usable image",
    );
    let (status, body) = oversized_upload(&server, 200_000);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("too large"), "{body}");
    bad(Form::new().text("text", "a red car"), 400, "CLIP");
    bad(Form::new().part("image", image_part(&query)).text("k", "0"), 400, "k must be");
    bad(Form::new().part("image", image_part(&query)).text("metric", "hamming"), 400, "l1, l2, cosine, correlation");

    for path in [
        "/image/../../etc/passwd",
        "/image/..%2F..%2F..%2Fetc%2Fpasswd",
        "/image/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "/image/99999",
        "/image/-1",
    ] {
        let response = reqwest::blocking::get(format!("{}{path}", server.base)).unwrap();
        assert_ne!(response.status().as_u16(), 200, "{path}");
        assert!(!response.text().unwrap().contains("root:"), "{path}");
    }
}

#[test]
fn the_api_pages_finds_more_like_an_item_browses_and_serves_thumbnails() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let items: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("index/index.json")).unwrap()).unwrap();
    let red_key =
        items["items"].as_array().unwrap().iter().find(|i| i["class"] == "red").unwrap()["key"].as_u64().unwrap();

    // "More like this": the item's stored vector, the item itself left out by default.
    let (status, answer) = post(&server, Form::new().text("key", red_key.to_string()).text("k", "3"));
    assert_eq!(status, 200, "{answer}");
    let results = answer["results"].as_array().unwrap();
    assert!(results.iter().all(|r| r["class"] == "red" && r["key"] != red_key), "{answer}");
    assert_eq!(answer["total"], 17, "{answer}");
    assert!(results[0]["file"].as_str().unwrap().starts_with("red_"), "{answer}");
    let (_, with_self) = post(&server, Form::new().text("key", red_key.to_string()).text("exclude_query", "0"));
    assert_eq!(with_self["results"][0]["key"], red_key, "{with_self}");
    assert_eq!(with_self["larger_is_closer"], true);

    // Pages continue the ranking.
    let (_, first) = post(&server, Form::new().text("key", red_key.to_string()).text("k", "4"));
    let (_, second) = post(&server, Form::new().text("key", red_key.to_string()).text("k", "2").text("offset", "2"));
    assert_eq!(second["results"][0]["rank"], 3, "{second}");
    assert_eq!(second["results"][0]["key"], first["results"][2]["key"]);
    let (status, past_the_end) = post(&server, Form::new().text("key", "0").text("offset", "17"));
    assert_eq!((status, past_the_end["results"].as_array().map(Vec::len)), (200, Some(0)), "{past_the_end}");

    let (status, answer) = post(&server, Form::new().text("key", "999"));
    assert!(status == 400 && answer["error"].as_str().unwrap().contains("no item 999"), "{answer}");
    let (status, answer) = post(&server, Form::new().text("key", "0").text("k", "101"));
    assert!(status == 400 && answer["error"].as_str().unwrap().contains("1 to 100"), "{answer}");
    let (status, answer) =
        post(&server, Form::new().text("key", "0").part("image", image_part(&query_image(dir.path()))));
    assert!(
        status == 400 && answer["error"].as_str().unwrap().contains("CLIP"),
        "a pixel index takes one term: {answer}"
    );

    let browse: Value =
        reqwest::blocking::get(format!("{}/api/browse?class=blue&k=4&offset=4", server.base)).unwrap().json().unwrap();
    assert_eq!((browse["total"].as_u64(), browse["results"].as_array().unwrap().len()), (Some(6), 2), "{browse}");
    assert!(browse["results"].as_array().unwrap().iter().all(|r| r["class"] == "blue"));
    let unknown = reqwest::blocking::get(format!("{}/api/browse?class=nope", server.base)).unwrap();
    assert_eq!(unknown.status().as_u16(), 400);

    let thumb = reqwest::blocking::get(format!("{}/thumb/{red_key}", server.base)).unwrap();
    assert_eq!(thumb.headers()["content-type"], "image/jpeg");
    let small = image::load_from_memory(&thumb.bytes().unwrap()).unwrap();
    assert!(small.width().max(small.height()) <= 256, "{}x{}", small.width(), small.height());
    let cached = std::fs::read_dir(dir.path().join("index/thumbnails")).unwrap().count();
    assert_eq!(cached, 1, "the thumbnail is cached");
    assert_ne!(reqwest::blocking::get(format!("{}/thumb/99", server.base)).unwrap().status().as_u16(), 200);
}

/// Where the page tests keep their screenshots.
pub(crate) fn screenshot_path(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}.png"))
}

#[test]
fn the_page_searches_pages_explores_and_exports_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let query = query_image(dir.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (driver, session) = open_page(&server).await;
        let c = &session.client;
        wait_for(c, "return document.querySelectorAll('#class option').length", |v| v.as_u64() == Some(4)).await;
        assert_eq!(c.execute(TEXT_FIELD_DISPLAY, vec![]).await.unwrap(), "none", "no text queries on a pixel index");

        // By upload, three per page.
        c.find(Locator::Id("image")).await.unwrap().send_keys(query.to_str().unwrap()).await.unwrap();
        let k = c.find(Locator::Id("k")).await.unwrap();
        k.clear().await.unwrap();
        k.send_keys("3").await.unwrap();
        c.find(Locator::Id("go")).await.unwrap().click().await.unwrap();
        assert_eq!(result_classes(c, 3).await, ["red", "red", "red"]);
        let loaded =
            "return [...document.querySelectorAll('.result img')].every(i => i.complete && i.naturalWidth > 0)";
        wait_for(c, loaded, |v| v.as_bool() == Some(true)).await;
        let thumb = c.find(Locator::Css(".result img")).await.unwrap().attr("src").await.unwrap().unwrap();
        assert!(thumb.starts_with("/thumb/"), "cards show thumbnails: {thumb}");
        let open = c.find(Locator::Css(".result a.open")).await.unwrap().attr("href").await.unwrap().unwrap();
        assert!(open.starts_with("/image/"), "a click opens the full image: {open}");
        let card = c.find(Locator::Css(".result")).await.unwrap().text().await.unwrap();
        assert!(card.contains("red_") && card.contains("red") && card.contains("cosine"), "{card}");
        let status = c.find(Locator::Id("status")).await.unwrap().text().await.unwrap();
        assert!(status.contains("larger is closer") && status.contains("of 18"), "{status}");
        std::fs::write(screenshot_path("serve-upload"), c.screenshot().await.unwrap()).unwrap();

        // The next page continues the ranking and is in the URL; Back returns.
        c.find(Locator::Id("next")).await.unwrap().click().await.unwrap();
        wait_for(c, "return [...document.querySelectorAll('.result .score')].map(s => s.textContent)[0] || ''", |v| {
            v.as_str().is_some_and(|s| s.starts_with("#4 "))
        })
        .await;
        assert!(c.current_url().await.unwrap().as_str().contains("page=1"));
        c.back().await.unwrap();
        wait_for(c, "return location.search", |v| !v.as_str().unwrap_or("").contains("page=1")).await;

        // Export of what is on show.
        wait_for(c, "return last && last.offset", |v| v.as_u64() == Some(0)).await;
        let csv = c.execute("return exportText('csv', last)", vec![]).await.unwrap();
        let csv = csv.as_str().unwrap();
        assert_eq!(csv.lines().count(), 4, "{csv}");
        assert!(csv.starts_with("rank,key,class,file,path,score,url,owner,license,page\n"), "{csv}");
        assert!(csv.lines().skip(1).all(|l| l.contains(",red,")), "{csv}");
        let json: Value =
            serde_json::from_str(c.execute("return exportAll('json')", vec![]).await.unwrap().as_str().unwrap())
                .unwrap();
        assert_eq!(json["results"].as_array().unwrap().len(), 18, "every result: {json}");

        // "More like this" on the first result: its key in the URL, the upload gone, itself hidden.
        let first_key = c.execute("return document.querySelector('.result').dataset.key", vec![]).await.unwrap();
        c.find(Locator::Css(".result button.more")).await.unwrap().click().await.unwrap();
        let url = wait_for(c, "return location.search", |v| v.as_str().unwrap_or("").contains("key=")).await;
        assert!(url.as_str().unwrap().contains(&format!("key={}", first_key.as_str().unwrap())), "{url}");
        let chips = "return [...document.querySelectorAll('#summary .chip')].map(c => c.dataset.kind).join()";
        wait_for(c, chips, |v| v == "item").await;
        let keys = wait_for(c, "return [...document.querySelectorAll('.result')].map(r => r.dataset.key)", |v| {
            v.as_array().is_some_and(|a| a.len() == 3)
        })
        .await;
        assert!(!keys.as_array().unwrap().contains(&first_key), "the query's own image is hidden: {keys}");

        // A link opened afresh restores the query.
        let link = c.current_url().await.unwrap();
        c.goto(link.as_str()).await.unwrap();
        assert_eq!(result_classes(c, 3).await, ["red", "red", "red"]);

        // Browsing a class.
        c.find(Locator::Css("#class option[value='blue']")).await.unwrap().click().await.unwrap();
        c.find(Locator::Id("browse")).await.unwrap().click().await.unwrap();
        wait_for(c, "return [...document.querySelectorAll('.result')].map(r => r.dataset.class).join()", |v| {
            v == "blue,blue,blue"
        })
        .await;
        assert!(c.current_url().await.unwrap().as_str().contains("browse=1"));
        std::fs::write(screenshot_path("serve-browse"), c.screenshot().await.unwrap()).unwrap();

        session.close(Duration::from_secs(10)).await;
        drop(driver);
    });
}

#[test]
fn the_page_fits_a_phone_fills_a_desktop_and_its_viewer_links_and_export_work() {
    let dir = tempfile::tempdir().unwrap();
    write_classes(dir.path(), 12);
    index_pixel(dir.path(), &[]);
    let server = spawn_server(dir.path(), &[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (driver, session) = open_browser().await;
        let c = &session.client;
        const CARDS: &str = "[...document.querySelectorAll('.result')]";
        let layout = format!(
            "const cards = {CARDS}; const top = cards.length ? cards[0].getBoundingClientRect().top : 0;
             return {{scrolls: document.documentElement.scrollWidth > innerWidth,
                      above: cards.filter(r => r.getBoundingClientRect().bottom <= innerHeight).length,
                      per_row: cards.filter(r => Math.abs(r.getBoundingClientRect().top - top) < 2).length,
                      viewport: !!document.querySelector('meta[name=viewport]')}}"
        );
        let loaded = format!("return {CARDS}.filter(r => r.querySelector('img').complete).length");

        // A desktop window: a dense grid, most of a page above the fold.
        c.set_window_size(1280, 900).await.unwrap();
        c.goto(&format!("{}/?browse=1", server.base)).await.unwrap();
        wait_for(c, &loaded, |v| v.as_u64() == Some(36)).await;
        let desk = c.execute(&layout, vec![]).await.unwrap();
        assert_eq!((desk["scrolls"].as_bool(), desk["viewport"].as_bool()), (Some(false), Some(true)), "{desk}");
        assert!(desk["above"].as_u64().unwrap() >= 24, "at least 24 thumbnails above the fold at 1280x900: {desk}");
        std::fs::write(screenshot_path("serve-desktop"), c.screenshot().await.unwrap()).unwrap();

        // The viewer: a click opens it; the arrow keys move; Escape closes.
        c.find(Locator::Css(".result a.open")).await.unwrap().click().await.unwrap();
        wait_for(c, "return document.getElementById('viewer').hidden", |v| v.as_bool() == Some(false)).await;
        let path = c.execute("return document.querySelector('#v-details .path').textContent", vec![]).await.unwrap();
        let first = c.execute("return last.results[0].path", vec![]).await.unwrap();
        assert!(path == first && path.as_str().unwrap().starts_with('/'), "the viewer shows the path on disk: {path}");
        let keys = c.active_element().await.unwrap();
        keys.send_keys("\u{E014}").await.unwrap();
        wait_for(c, "return viewing", |v| v.as_i64() == Some(1)).await;
        let shown = c.execute("return document.getElementById('v-image').getAttribute('src')", vec![]).await.unwrap();
        assert_eq!(shown, c.execute("return last.results[1].url", vec![]).await.unwrap());
        keys.send_keys("\u{E012}").await.unwrap();
        wait_for(c, "return viewing", |v| v.as_i64() == Some(0)).await;
        keys.send_keys("\u{E00C}").await.unwrap();
        wait_for(c, "return document.getElementById('viewer').hidden", |v| v.as_bool() == Some(true)).await;
        std::fs::write(screenshot_path("serve-viewer-closed"), c.screenshot().await.unwrap()).unwrap();

        // Every control asks again at once: the class, then (for a search) the metric.
        c.find(Locator::Css("#class option[value='blue']")).await.unwrap().click().await.unwrap();
        wait_for(c, &format!("return {CARDS}.map(r => r.dataset.class).join()"), |v| {
            v.as_str().is_some_and(|s| !s.is_empty() && s.split(',').all(|c| c == "blue"))
        })
        .await;
        c.find(Locator::Css(".result button.more")).await.unwrap().click().await.unwrap();
        wait_for(c, "return document.getElementById('status').textContent", |v| v.as_str().unwrap().contains("cosine:")).await;
        c.find(Locator::Css("#metric option[value='l2']")).await.unwrap().click().await.unwrap();
        wait_for(c, "return document.getElementById('status').textContent", |v| v.as_str().unwrap().contains("l2:")).await;
        assert!(c.current_url().await.unwrap().as_str().contains("metric=l2"));

        // A link whose state cannot be searched says why, and shows nothing.
        c.goto(&format!("{}/?text=x&class=nope&k=500&metric=bogus", server.base)).await.unwrap();
        let error = wait_for(c, "return document.getElementById('status').className === 'error' ? document.getElementById('status').textContent : ''", |v| {
            !v.as_str().unwrap_or("").is_empty()
        })
        .await;
        let error = error.as_str().unwrap();
        for needle in ["no class \"nope\"", "k must be a whole number from 1 to 100, not \"500\"", "no metric \"bogus\""] {
            assert!(error.contains(needle), "{needle}: {error}");
        }
        assert_eq!(c.execute(&format!("return {CARDS}.length"), vec![]).await.unwrap(), 0);

        // Export is every result, not the page on show, with paths on disk and absolute URLs.
        c.goto(&format!("{}/?browse=1&k=5", server.base)).await.unwrap();
        wait_for(c, &format!("return {CARDS}.length"), |v| v.as_u64() == Some(5)).await;
        let csv = c.execute("return exportAll('csv')", vec![]).await.unwrap();
        let csv = csv.as_str().unwrap();
        assert!(csv.starts_with("rank,key,class,file,path,score,url,owner,license,page\n"), "{csv}");
        assert_eq!(csv.lines().count(), 37, "{csv}");
        assert!(csv.lines().skip(1).all(|l| l.contains(",/") && l.contains(&format!(",{}/image/", server.base))), "{csv}");

        // A phone: no sideways scrolling, three or four thumbnails a row.
        c.set_window_size(390, 844).await.unwrap();
        c.goto(&format!("{}/?browse=1", server.base)).await.unwrap();
        wait_for(c, &loaded, |v| v.as_u64() == Some(36)).await;
        let phone = c.execute(&layout, vec![]).await.unwrap();
        assert_eq!(phone["scrolls"].as_bool(), Some(false), "{phone}");
        assert!((3..=4).contains(&phone["per_row"].as_u64().unwrap()), "{phone}");
        std::fs::write(screenshot_path("serve-phone"), c.screenshot().await.unwrap()).unwrap();

        session.close(Duration::from_secs(10)).await;
        drop(driver);
    });
}

#[test]
fn a_clip_index_answers_text_and_image_queries() {
    let dir = tempfile::tempdir().unwrap();
    write_classes(dir.path(), 4);
    let model = crate::support::clip_test_model();
    let model = model.to_str().unwrap();
    picseek_json(&["--data-dir", dir.path().to_str().unwrap(), "--json", "index", "--model", model]);
    // No --model: the server finds the one the index records.
    let server = spawn_server(dir.path(), &[]);

    let info: Value = reqwest::blocking::get(format!("{}/api/info", server.base)).unwrap().json().unwrap();
    assert_eq!((info["embedder"].as_str(), info["text_queries"].as_bool()), (Some("clip"), Some(true)));
    let (status, answer) = post(&server, Form::new().text("text", "a red car").text("k", "5"));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["query"], "a red car");
    assert_eq!(answer["results"].as_array().unwrap().len(), 5);
    let (status, answer) = post(&server, Form::new().text("text", "a red car").text("class", "blue").text("k", "3"));
    assert_eq!(status, 200, "{answer}");
    assert!(answer["results"].as_array().unwrap().iter().all(|r| r["class"] == "blue"), "{answer}");
    let (status, answer) = post(&server, Form::new().text("text", "a red car").text("class", "nope"));
    assert!(status == 400 && answer["error"].as_str().unwrap().contains("no class"), "{answer}");

    let query = query_image(dir.path());
    let (status, answer) = post(&server, Form::new().part("image", image_part(&query)).text("k", "3"));
    assert_eq!(status, 200, "{answer}");
    assert!(answer["results"].as_array().unwrap().iter().all(|r| r["class"] == "red"), "{answer}");
    let (status, both) = post(&server, Form::new().part("image", image_part(&query)).text("text", "a red car"));
    assert_eq!(status, 200, "{both}");
    assert_eq!(both["query"], "upload + \"a red car\"", "both terms count: {both}");

    // The page takes a text, an image or both, shows which, and lets each be cleared.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (driver, session) = open_page(&server).await;
        let c = &session.client;
        wait_for(c, TEXT_FIELD_DISPLAY, |v| v != "none").await;
        c.find(Locator::Id("text")).await.unwrap().send_keys("a red car").await.unwrap();
        c.find(Locator::Css("#class option[value='green']")).await.unwrap().click().await.unwrap();
        c.find(Locator::Id("go")).await.unwrap().click().await.unwrap();
        assert!(result_classes(c, 4).await.iter().all(|class| class == "green"));
        assert!(c.current_url().await.unwrap().as_str().contains("text=a+red+car"));

        c.find(Locator::Id("image")).await.unwrap().send_keys(query.to_str().unwrap()).await.unwrap();
        let chips = "return [...document.querySelectorAll('#summary .chip')].map(c => c.dataset.kind).join()";
        wait_for(c, chips, |v| v == "image,text").await;
        c.find(Locator::Css("#class option[value='all']")).await.unwrap().click().await.unwrap();
        c.find(Locator::Id("go")).await.unwrap().click().await.unwrap();
        wait_for(c, "return document.getElementById('status').textContent", |v| {
            v.as_str()
                .is_some_and(|s| s.contains("upload is not part of the page link") || s.contains("uploaded image"))
        })
        .await;
        std::fs::write(screenshot_path("serve-image-and-text"), c.screenshot().await.unwrap()).unwrap();
        c.find(Locator::Id("clear-image")).await.unwrap().click().await.unwrap();
        wait_for(c, chips, |v| v == "text").await;
        c.find(Locator::Id("clear-text")).await.unwrap().click().await.unwrap();
        wait_for(c, chips, |v| v == "").await;
        session.close(Duration::from_secs(10)).await;
        drop(driver);
    });
}

/// How the page shows its text field (`none` when the index takes no text queries).
const TEXT_FIELD_DISPLAY: &str = "return getComputedStyle(document.getElementById('text-label')).display";

/// Starts chromedriver and headless Chromium on the server's page. Keep the driver
/// alive as long as the session; dropping it stops chromedriver.
pub(crate) async fn open_page(server: &Server) -> (picseek_crawl::ChromeDriver, picseek_crawl::BrowserSession) {
    let (driver, session) = open_browser().await;
    session.client.goto(&format!("{}/", server.base)).await.unwrap();
    (driver, session)
}

/// Starts chromedriver and a headless Chromium session on a blank page.
pub(crate) async fn open_browser() -> (picseek_crawl::ChromeDriver, picseek_crawl::BrowserSession) {
    let chromedriver = picseek_crawl::find_program(&["chromedriver"]).expect("chromedriver (scripts/setup.sh)");
    let driver = picseek_crawl::ChromeDriver::start(&chromedriver).await.unwrap();
    let chromium = picseek_crawl::find_program(&["chromium", "chromium-browser"]);
    let session =
        picseek_crawl::BrowserSession::open(driver.url(), chromium.as_deref(), false, Duration::from_secs(60))
            .await
            .unwrap();
    (driver, session)
}

/// Polls `script` until `done` accepts its value (10 s at most).
pub(crate) async fn wait_for(c: &fantoccini::Client, script: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let value = c.execute(script, vec![]).await.unwrap();
        if done(&value) {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {script}: last {value}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn result_classes(c: &fantoccini::Client, n: usize) -> Vec<String> {
    let script = "return [...document.querySelectorAll('.result')].map(r => r.dataset.class)";
    let value = wait_for(c, script, |v| v.as_array().is_some_and(|a| a.len() == n)).await;
    serde_json::from_value(value).unwrap()
}

/// Not a test: the API latency benchmark (`scripts/bench/run serve`). Prints the
/// median time of a query (upload, decode, embed, search all 300 images, answer)
/// through `POST /api/search` on a pixel index at the default 448 px.
#[test]
#[ignore = "benchmark"]
fn bench_api_query_latency() {
    let dir = tempfile::tempdir().unwrap();
    write_classes(dir.path(), 100);
    picseek_json(&["--data-dir", dir.path().to_str().unwrap(), "--json", "index", "--embedder", "pixel"]);
    let server = spawn_server(dir.path(), &[]);
    let query = query_image(dir.path());
    let bytes = std::fs::read(&query).unwrap();
    let client = reqwest::blocking::Client::new();
    let mut times: Vec<f64> = (0..50)
        .map(|_| {
            let form = Form::new().part("image", Part::bytes(bytes.clone()).file_name("q.jpg"));
            let started = std::time::Instant::now();
            let response = client.post(format!("{}/api/search", server.base)).multipart(form).send().unwrap();
            assert!(response.status().is_success());
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!("serve: POST /api/search (cosine, k=5), pixel index of 300 images at 448 px, 50 queries");
    println!("median {:.2} ms, fastest {:.2} ms, slowest {:.2} ms", times[25], times[0], times[49]);
}

#[test]
fn text_language_reaches_an_nllb_model_as_search_s_does() {
    let dir = tempfile::tempdir().unwrap();
    write_classes(dir.path(), 2);
    let data = dir.path().to_str().unwrap();
    let model = crate::support::immich_test_model("nllb-clip-base-siglip__v1");
    picseek_json(&["--data-dir", data, "--json", "index", "--model", model.to_str().unwrap()]);
    let scores = |answer: &Value| -> Vec<(String, String)> {
        answer["results"].as_array().unwrap().iter().map(|r| (r["path"].to_string(), r["score"].to_string())).collect()
    };
    let ask = |server: &Server| {
        let (status, answer) = post(server, Form::new().text("text", "một con mèo").text("k", "6"));
        assert_eq!(status, 200, "{answer}");
        scores(&answer)
    };
    let vietnamese = ask(&spawn_server(dir.path(), &["--text-language", "vi"]));
    let plain = ask(&spawn_server(dir.path(), &[]));
    assert_ne!(vietnamese, plain, "the language changes what the model reads");
    let searched = picseek_json(&[
        "--data-dir",
        data,
        "--json",
        "search",
        "--text",
        "một con mèo",
        "--text-language",
        "vi",
        "-k",
        "6",
    ]);
    assert_eq!(scores(&searched), vietnamese, "serve and search read the language alike");
}
