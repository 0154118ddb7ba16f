//! An HTTP server on 127.0.0.1 that serves real images and also misbehaves, for the
//! download tests. Every request is recorded with its time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::loopback::LoopbackServer;

/// A small JPEG of a flat `colour` (`seed` varies its size).
pub fn jpeg(colour: [u8; 3], seed: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(60 + seed % 40, 50 + seed % 30, image::Rgb(colour));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

#[derive(Default)]
pub struct Seen {
    /// `(when, path)` of every request.
    pub requests: Vec<(Instant, String)>,
    /// Requests per path, for routes that change behaviour after the first.
    counts: HashMap<String, usize>,
    /// The first request to a `refusing/` path.
    refusing_since: Option<Instant>,
}

pub type Shared = Arc<Mutex<Seen>>;

pub struct ImageServer {
    pub addr: SocketAddr,
    pub seen: Shared,
    _server: LoopbackServer,
}

impl ImageServer {
    pub fn start() -> Self {
        Self::start_on("127.0.0.1")
    }

    /// The server on `ip` (any of 127.0.0.0/8), a host of its own to a client.
    pub fn start_on(ip: &str) -> Self {
        let seen: Shared = Arc::default();
        let app = Router::new().route("/{*path}", get(serve)).with_state(seen.clone());
        let server = LoopbackServer::start_on(ip, app, 2);
        Self { addr: server.addr, seen, _server: server }
    }

    /// Forgets every request, so paths that change after the first request (`flaky.jpg`,
    /// `busy.jpg`, `refusing/`) behave as for a new client.
    pub fn forget(&self) {
        *self.seen.lock().unwrap() = Seen::default();
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    pub fn request_times(&self, path: &str) -> Vec<Instant> {
        self.seen.lock().unwrap().requests.iter().filter(|(_, p)| p == path).map(|(t, _)| *t).collect()
    }

    pub fn all_request_times(&self) -> Vec<Instant> {
        let mut times: Vec<Instant> = self.seen.lock().unwrap().requests.iter().map(|(t, _)| *t).collect();
        times.sort();
        times
    }
}

fn image_response(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "image/jpeg")], bytes).into_response()
}

/// Behaviour by path:
/// - `img/<n>.jpg`, `a/photo.jpg`, `b/photo.jpg`: a JPEG (distinct per path)
/// - `slowimg/<n>.jpg`: a JPEG after 100 ms
/// - `missing.jpg`: 404; `gone.jpg`: 410
/// - `flaky.jpg`: 500 the first time, then a JPEG
/// - `busy.jpg`: 429 with `Retry-After: 1` the first time, then a JPEG
/// - `slow.jpg`: answers after 10 s
/// - `reset.jpg`: half the body, then the connection breaks
/// - `short.jpg`: `Content-Length` larger than the body
/// - `page.jpg`: 200 with an HTML page
/// - `huge.jpg`: 3 MB body with its length; `huge-chunked.jpg`: 3 MB without a length
/// - `noai.jpg`: a JPEG with `X-Robots-Tag: noai`
/// - `refusing/<n>.jpg`: 503 (no `Retry-After`) for the first 2 s after the first
///   request to any of them, then a JPEG: a host that refuses for a while and recovers
async fn serve(State(seen): State<Shared>, Path(path): Path<String>) -> Response {
    let (count, refusing) = {
        let mut seen = seen.lock().unwrap();
        seen.requests.push((Instant::now(), path.clone()));
        let refusing = path.starts_with("refusing/")
            && seen.refusing_since.get_or_insert_with(Instant::now).elapsed() < Duration::from_secs(2);
        let count = seen.counts.entry(path.clone()).or_default();
        *count += 1;
        (*count, refusing)
    };
    let seed = path.bytes().map(u32::from).sum::<u32>();
    let colour = [(seed * 37 % 256) as u8, (seed * 91 % 256) as u8, (seed * 53 % 256) as u8];
    match path.as_str() {
        _ if refusing => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        "missing.jpg" => StatusCode::NOT_FOUND.into_response(),
        "gone.jpg" => StatusCode::GONE.into_response(),
        "flaky.jpg" if count == 1 => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        "busy.jpg" if count == 1 => {
            (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, HeaderValue::from_static("1"))]).into_response()
        }
        "slow.jpg" => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            image_response(jpeg(colour, seed))
        }
        "reset.jpg" | "short.jpg" => {
            let bytes = jpeg(colour, seed);
            let half = bytes[..bytes.len() / 2].to_vec();
            let is_reset = path == "reset.jpg";
            // Headers and half the body go out first; then the body ends early (short) or
            // the connection breaks (reset).
            let end = futures::stream::once(async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if is_reset {
                    Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset"))
                } else {
                    Ok(Vec::new())
                }
            });
            let stream = futures::StreamExt::chain(futures::stream::iter([Ok::<_, std::io::Error>(half)]), end);
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
            if path == "short.jpg" {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            }
            (headers, Body::from_stream(stream)).into_response()
        }
        "page.jpg" => ([(header::CONTENT_TYPE, "text/html")], "<!doctype html><html>Not found</html>").into_response(),
        "huge.jpg" => {
            let mut bytes = jpeg(colour, seed);
            bytes.resize(3_000_000, 0);
            image_response(bytes)
        }
        "huge-chunked.jpg" => {
            let mut first = jpeg(colour, seed);
            first.resize(100_000, 0);
            let chunks = std::iter::once(first).chain(std::iter::repeat_n(vec![0u8; 100_000], 29));
            let stream = futures::stream::iter(chunks.map(Ok::<_, std::io::Error>));
            ([(header::CONTENT_TYPE, "image/jpeg")], Body::from_stream(stream)).into_response()
        }
        "noai.jpg" => (
            [(header::CONTENT_TYPE, "image/jpeg"), (header::HeaderName::from_static("x-robots-tag"), "noai")],
            jpeg(colour, seed),
        )
            .into_response(),
        p if p.starts_with("slowimg/") => {
            tokio::time::sleep(Duration::from_millis(100)).await;
            image_response(jpeg(colour, seed))
        }
        _ => image_response(jpeg(colour, seed)),
    }
}
