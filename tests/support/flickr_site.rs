//! A local site that behaves like Flickr's search page, for crawling in real Chromium:
//! a first grid of lazy `<img>` thumbnails with mixed size suffixes and URL forms, more
//! appended by JavaScript on each scroll to the bottom, then a "Load more results"
//! button with a random id that appends more per click, junk images (logo, avatar,
//! `data:` URI, tracking pixel, an image on another host), a fixed total per term, and a
//! term ("broken") whose page answers 500, a term ("NoAI") whose page says `noimageai`
//! in its robots meta tag, and a robots.txt of the test's choosing. The server records
//! when each search page was requested; the page reports when it handled each scroll or
//! click (the browser's clock is this machine's), so tests can check the crawler's pace.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use axum::routing::get;

use super::loopback::LoopbackServer;

/// Thumbnails in the first grid, added per scroll (twice), added per click.
const FIRST_GRID: usize = 8;
const PER_SCROLL: usize = 6;
const SCROLLS: usize = 2;
const PER_CLICK: usize = 8;
const SUFFIXES: [&str; 9] = ["_m", "_n", "_w", "_z", "_c", "_q", "_s", "_t", ""];

/// How many photos the search for `term` has in all.
pub fn total_for(term: &str) -> usize {
    match term {
        "Tulip" => 12,
        "Empty" => 0,
        "Many" => 250,
        _ => 90,
    }
}

fn term_number(term: &str) -> u64 {
    term.bytes().fold(1469598103934665603u64, |h, b| (h ^ u64::from(b)).wrapping_mul(1099511628211)) % 90_000 + 10_000
}

const COLOURS: [[u8; 3]; 6] =
    [[220, 40, 40], [40, 200, 60], [40, 60, 220], [230, 220, 30], [200, 50, 200], [40, 200, 200]];

/// The colour of every photo of `term` (each photo adds its own pattern).
pub fn colour_for(term: &str) -> [u8; 3] {
    COLOURS[(term_number(term) % COLOURS.len() as u64) as usize]
}

/// A photo file: `<id>_<secret>[_<size>].jpg`, where the id is the term's number
/// followed by four digits. Any size suffix gives the same picture.
async fn photo_file(axum::extract::Path(file): axum::extract::Path<String>) -> axum::response::Response {
    let id = file.split('_').next().unwrap_or_default();
    let Some(term_number) = id.get(..id.len().saturating_sub(4)).and_then(|n| n.parse::<u64>().ok()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let colour = COLOURS[(term_number % COLOURS.len() as u64) as usize];
    let img = super::class_image(colour, 96, 80, id.parse().unwrap_or(0));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Jpeg).expect("encode JPEG");
    ([(axum::http::header::CONTENT_TYPE, "image/jpeg")], out.into_inner()).into_response()
}

/// The API key the fixture's REST endpoint accepts.
pub const API_KEY: &str = "test-key";

/// The URLs `--source flickr-api` should report for `term` at size `_b`: the endpoint
/// gives `url_b` for even photos; for odd ones the client builds the URL itself.
pub fn expected_api_urls(addr: SocketAddr, term: &str, max: usize) -> Vec<String> {
    (0..total_for(term).min(max))
        .map(|i| {
            let (id, secret) = photo(term, i);
            if i % 2 == 0 {
                format!("http://{addr}/65535/{id}_{secret}_b.jpg")
            } else {
                format!("https://live.staticflickr.com/65535/{id}_{secret}_b.jpg")
            }
        })
        .collect()
}

/// `flickr.photos.search` in the documented JSON shape, paged.
async fn flickr_api(
    State(events): State<Events>,
    headers: axum::http::HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> axum::Json<serde_json::Value> {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("method") != "flickr.photos.search" || get("format") != "json" || get("nojsoncallback") != "1" {
        return axum::Json(serde_json::json!({"stat": "fail", "code": 112, "message": "Method not found"}));
    }
    if get("api_key") != API_KEY {
        return axum::Json(
            serde_json::json!({"stat": "fail", "code": 100, "message": "Invalid API Key (Key not found)"}),
        );
    }
    let (term, page) = (get("text"), get("page").parse::<u64>().unwrap_or(1).max(1));
    let filter = q.get("license").cloned();
    let extras = get("extras");
    let wants = |extra: &str| extras.split(',').any(|e| e == extra);
    let per_page = get("per_page").parse::<usize>().unwrap_or(100).clamp(1, 500);
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() * 1e3;
    {
        let mut seen = events.lock().unwrap();
        seen.api_pages.push((term.clone(), page));
        seen.actions.push((now_ms, "api".into()));
    }
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_owned();
    let shown = shown_photos(&term, filter.as_deref());
    let total = shown.len();
    let start = (page as usize - 1) * per_page;
    let photos: Vec<serde_json::Value> = shown
        .iter()
        .skip(start)
        .take(per_page)
        .map(|&i| {
            let (id, secret) = photo(&term, i);
            let (owner, owner_name, title, license) = photo_meta(&term, i);
            let mut p = serde_json::json!({"id": id, "owner": owner, "secret": secret, "server": "65535", "farm": 66, "title": title, "ispublic": 1});
            if i % 2 == 0 && wants("url_b") {
                p["url_b"] = format!("http://{host}/65535/{id}_{secret}_b.jpg").into();
            }
            if wants("license") {
                p["license"] = license.to_string().into();
            }
            if wants("owner_name") {
                p["ownername"] = owner_name.into();
            }
            if wants("date_taken") {
                p["datetaken"] = "2024-05-01 10:00:00".into();
            }
            if wants("path_alias") {
                p["pathalias"] = if i % 3 == 1 { format!("alias{i}").into() } else { serde_json::Value::Null };
            }
            p
        })
        .collect();
    axum::Json(serde_json::json!({
        "photos": {"page": page, "pages": total.div_ceil(per_page), "perpage": per_page, "total": total.to_string(), "photo": photos},
        "stat": "ok",
    }))
}

/// Who owns photo `i` of `term` and under which licence: `(owner, owner name, title,
/// licence id)`; the licences cycle through All Rights Reserved, CC BY, CC BY-SA, CC0,
/// Public Domain Mark and CC BY-NC-SA.
pub fn photo_meta(term: &str, i: usize) -> (String, String, String, u8) {
    let owner = i % 3;
    (
        format!("{}@N0{owner}", 1000 + owner),
        format!("Owner {owner}"),
        format!("{term} no. {i}"),
        [0, 4, 5, 9, 10, 1][i % 6],
    )
}

/// Whether photo `i` of `term` passes a `license` filter (`None`: every photo).
fn licensed(term: &str, i: usize, filter: Option<&str>) -> bool {
    filter.is_none_or(|f| f.split(',').any(|id| id.trim().parse() == Ok(photo_meta(term, i).3)))
}

/// The photos of `term` a search with `filter` shows, in page order.
pub fn shown_photos(term: &str, filter: Option<&str>) -> Vec<usize> {
    (0..total_for(term)).filter(|&i| licensed(term, i, filter)).collect()
}

/// The id and secret of photo `i` of `term`.
pub fn photo(term: &str, i: usize) -> (String, String) {
    let n = term_number(term);
    (format!("{n}{i:04}"), format!("{:010x}", n.wrapping_mul(2654435761).wrapping_add(i as u64 * 7919)))
}

/// The URLs a crawler should report for `term` at size `_b`, in page order.
pub fn expected_urls(addr: SocketAddr, term: &str, max: usize) -> Vec<String> {
    (0..total_for(term).min(max))
        .map(|i| {
            let (id, secret) = photo(term, i);
            format!("http://{addr}/65535/{id}_{secret}_b.jpg")
        })
        .collect()
}

/// What the site saw.
#[derive(Default)]
pub struct Seen {
    /// Terms whose search page was requested, in arrival order.
    pub loads: Vec<String>,
    /// `(milliseconds since the Unix epoch, "load" | "scroll" | "click")`: loads timed by
    /// the server, scrolls and clicks by the page's event handlers.
    pub actions: Vec<(f64, String)>,
    /// `(term, page)` of every `flickr.photos.search` call.
    pub api_pages: Vec<(String, u64)>,
}

pub type Events = Arc<Mutex<Seen>>;

pub struct FlickrSite {
    pub addr: SocketAddr,
    pub events: Events,
    _server: LoopbackServer,
}

impl FlickrSite {
    pub fn start() -> Self {
        Self::start_with_robots(None)
    }

    /// The site, serving `robots` as its robots.txt (none: 404).
    pub fn start_with_robots(robots: Option<&'static str>) -> Self {
        let events: Events = Arc::default();
        let robots_txt = move || async move {
            match robots {
                Some(body) => (StatusCode::OK, body).into_response(),
                None => StatusCode::NOT_FOUND.into_response(),
            }
        };
        let app = Router::new()
            .route("/robots.txt", get(robots_txt))
            .route("/search/", get(search_page))
            .route("/event", get(record_event))
            .route("/65535/{file}", get(photo_file))
            .route("/services/rest/", get(flickr_api))
            .fallback(|| async { StatusCode::NOT_FOUND })
            .with_state(events.clone());
        let server = LoopbackServer::start(app, 1);
        Self { addr: server.addr, events, _server: server }
    }

    pub fn url_template(&self) -> String {
        format!("http://{}/search/?text={{term}}", self.addr)
    }

    /// The terms whose search page was loaded, in order.
    pub fn loaded_terms(&self) -> Vec<String> {
        self.events.lock().unwrap().loads.clone()
    }

    /// Every page action the pages reported, in time order.
    pub fn actions(&self) -> Vec<(f64, String)> {
        let mut actions = self.events.lock().unwrap().actions.clone();
        actions.sort_by(|a, b| a.0.total_cmp(&b.0));
        actions
    }
}

#[derive(serde::Deserialize)]
struct SearchQuery {
    text: String,
    /// Flickr's web search filter: licence ids separated by commas.
    license: Option<String>,
}

#[derive(serde::Deserialize)]
struct EventQuery {
    kind: String,
    at: f64,
}

async fn record_event(State(events): State<Events>, Query(q): Query<EventQuery>) -> StatusCode {
    events.lock().unwrap().actions.push((q.at, q.kind));
    StatusCode::NO_CONTENT
}

/// Thumbnail `i` of `term`, in one of four URL forms, with a link to its photo page
/// labelled "<title> by <owner name>" as Flickr's result overlays are.
fn thumbnail_html(host: &str, term: &str, i: usize) -> String {
    let (id, secret) = photo(term, i);
    let (owner, owner_name, title, _) = photo_meta(term, i);
    let file = format!("65535/{id}_{secret}{}.jpg", SUFFIXES[i % SUFFIXES.len()]);
    let overlay =
        format!(r#"<a class="overlay" href="/photos/{owner}/{id}/" aria-label="{title} by {owner_name}"></a>"#);
    match i % 4 {
        0 => format!(r#"<div class="photo"><img loading="lazy" src="//{host}/{file}">{overlay}</div>"#),
        1 => format!(r#"<div class="photo"><img loading="lazy" src="/{file}">{overlay}</div>"#),
        2 => format!(r#"<div class="photo"><img loading="lazy" src="http://{host}/{file}">{overlay}</div>"#),
        _ => format!(r#"<div class="photo" style="background-image: url(//{host}/{file})">{overlay}</div>"#),
    }
}

async fn search_page(
    State(events): State<Events>,
    headers: axum::http::HeaderMap,
    Query(q): Query<SearchQuery>,
) -> impl IntoResponse {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() * 1e3;
    let mut seen = events.lock().unwrap();
    seen.loads.push(q.text.clone());
    seen.actions.push((now_ms, "load".into()));
    let loads_of_term = seen.loads.iter().filter(|t| **t == q.text).count();
    drop(seen);
    // "Busy": refused twice (429, then a page that says so), then served like "Cat".
    if q.text == "Busy" && loads_of_term == 1 {
        return (StatusCode::TOO_MANY_REQUESTS, Html("<html><body>Too Many Requests</body></html>".to_owned()));
    }
    if q.text == "Busy" && loads_of_term == 2 {
        let page = "<html><head><title>Flickr</title></head><body><h1>Rate limit exceeded</h1><p>Please slow down.</p></body></html>";
        return (StatusCode::OK, Html(page.to_owned()));
    }
    if q.text == "broken" {
        return (StatusCode::INTERNAL_SERVER_ERROR, Html("<html><body><h1>Server error</h1></body></html>".to_owned()));
    }
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_owned();
    let port = host.rsplit(':').next().unwrap_or("80");
    let shown = shown_photos(&q.text, q.license.as_deref());
    let total = shown.len();
    let first: String = shown[..FIRST_GRID.min(total)].iter().map(|&i| thumbnail_html(&host, &q.text, i)).collect();
    let rest: Vec<String> = shown[FIRST_GRID.min(total)..].iter().map(|&i| thumbnail_html(&host, &q.text, i)).collect();
    // The same photo as thumbnail 3 again, at another size: must not be reported twice.
    let duplicate = if total > 3 && q.license.is_none() {
        let (id, secret) = photo(&q.text, 3);
        format!(r#"<div class="photo"><img loading="lazy" src="//{host}/65535/{id}_{secret}_z.jpg"></div>"#)
    } else {
        String::new()
    };
    // "NoAI": a page whose robots meta tag opts its images out of AI use.
    let robots_meta = if q.text == "NoAI" { r#"<meta name="robots" content="index, noimageai">"# } else { "" };
    let page = format!(
        r#"<!doctype html><html><head><title>{term} | Flickr</title>{robots_meta}
<style>.photo {{ display: block; width: 240px; height: 320px; background-size: cover; }}
.photo img {{ width: 240px; height: 320px; }}</style></head>
<body>
<header><img src="/images/logo.svg" alt="flickr"><img class="avatar" src="//{host}/1234/buddyicons/99@N00_r.jpg"></header>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="">
<img src="/px/pixel.gif?uid=1" width="1" height="1">
<img src="http://127.0.0.2:{port}/65535/999_abc_m.jpg">
<div id="grid">{first}{duplicate}</div>
<div id="more"></div>
<script>
const rest = {rest};
let next = 0, scrolls = 0;
function ping(kind) {{ fetch('/event?kind=' + kind + '&at=' + (performance.timeOrigin + performance.now())); }}
function append(n) {{
  const grid = document.getElementById('grid');
  for (const html of rest.slice(next, next + n)) grid.insertAdjacentHTML('beforeend', html);
  next = Math.min(rest.length, next + n);
}}
function showButton() {{
  const more = document.getElementById('more');
  more.innerHTML = '';
  if (next >= rest.length) return;
  const button = document.createElement('button');
  button.id = 'yui_3_16_0_1_' + Math.floor(Math.random() * 1e9);
  button.textContent = 'Load more results';
  button.addEventListener('click', () => {{ ping('click'); append({per_click}); showButton(); }});
  more.appendChild(button);
}}
window.addEventListener('scroll', () => {{
  if (window.innerHeight + window.scrollY < document.body.scrollHeight - 5) return;
  if (scrolls >= {scrolls}) return;
  scrolls += 1;
  ping('scroll');
  setTimeout(() => {{ append({per_scroll}); if (scrolls >= {scrolls}) showButton(); }}, 150);
}});
</script></body></html>"#,
        term = q.text,
        rest = serde_json::to_string(&rest).expect("JSON"),
        per_click = PER_CLICK,
        per_scroll = PER_SCROLL,
        scrolls = SCROLLS,
    );
    (StatusCode::OK, Html(page))
}
