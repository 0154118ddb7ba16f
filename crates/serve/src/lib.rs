//! `picseek serve`: a local web page to search an index by uploaded image (or text, for
//! CLIP indexes), and the JSON API behind it.
//!
//! The index is opened once and stays loaded (memory-mapped, with the search's cached
//! row sums) between queries. Images are served only by index key (`/image/<key>`), so
//! no request can name a path; uploads are limited in size and a bad one gets a clear
//! message.
//!
//! - `GET /`: the page.
//! - `GET /api/info`: embedder, classes, metrics, upload limit.
//! - `POST /api/search`: multipart form with `image` (a file) or `text`, and optional
//!   `k`, `metric` and `class`; answers `{"query", "metric", "results": [{"rank", "key",
//!   "class", "score", "url"}]}` or, on bad input, status 400/413 with `{"error"}`.
//! - `GET /image/<key>`: the image of an index item.
//!
//! Only requests whose `Host` (and `Origin`, when sent) name this server on this machine
//! are answered; others get 403, so neither another site's page nor DNS rebinding can
//! reach the index. At most a few searches run at once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use picseek_index::{Index, IndexError, QueryEmbedder};
use picseek_search::{Metric, SearchError, SearchRequest, Searcher};
use serde_json::json;

const PAGE: &str = include_str!("page.html");

/// What to serve, where.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The index folder.
    pub index_dir: PathBuf,
    /// Where to listen.
    pub addr: SocketAddr,
    /// The largest upload accepted, in bytes.
    pub max_upload: usize,
    /// The CLIP model directory (for CLIP indexes).
    pub model_dir: PathBuf,
    /// Cores the model may use.
    pub threads: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            index_dir: PathBuf::from("index"),
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_upload: 20_000_000,
            model_dir: PathBuf::from("models/clip"),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The index or its model cannot be used.
    #[error(transparent)]
    Index(#[from] picseek_index::IndexError),
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The server failed while serving.
    #[error("the server stopped: {0}")]
    Server(#[source] std::io::Error),
}

/// The HTTP status and message of a search error: what the client sent is a 400, what
/// went wrong here a 500.
fn search_error_response(e: SearchError) -> ApiError {
    match e {
        SearchError::UnknownClass { .. } | SearchError::ZeroK => bad_request(e.to_string()),
        SearchError::Index(e) => index_error_response(e),
    }
}

fn index_error_response(e: IndexError) -> ApiError {
    match e {
        IndexError::Image(e) => bad_request(format!("the upload is not a usable image ({})", e.reason_code())),
        IndexError::NoTextEncoder { .. } | IndexError::QueryWidth { .. } => bad_request(e.to_string()),
        other => ApiError(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

struct AppState {
    searcher: Searcher<'static>,
    embedder: QueryEmbedder,
    index: &'static Index,
    max_upload: usize,
    /// Searches running at once are bounded: each may take a core for a while.
    searches: tokio::sync::Semaphore,
    /// The host names this server answers to (see [`allowed_hosts`]).
    hosts: Vec<String>,
}

/// Searches that may run at once; more are answered 503.
const CONCURRENT_SEARCHES: usize = 8;

/// The names a browser may use for this server: loopback names, and the address it
/// listens on. Anything else in `Host` is a page of another site reaching it through
/// DNS rebinding; anything else in `Origin` is another site's page posting to it.
fn allowed_hosts(addr: SocketAddr) -> Vec<String> {
    let mut hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "[::1]".to_owned()];
    let own = match addr.ip() {
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    if !hosts.contains(&own) {
        hosts.push(own);
    }
    hosts
}

/// The host name of a `Host` value or an `Origin`'s authority, without the port.
fn host_name(authority: &str) -> &str {
    match authority.rfind(':') {
        Some(colon) if !authority[colon..].contains(']') => &authority[..colon],
        _ => authority,
    }
}

/// Answers 403 to requests whose `Host` or `Origin` is not this server's own.
async fn only_own_origin(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = request.headers();
    let host_ok = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| state.hosts.iter().any(|a| a.eq_ignore_ascii_case(host_name(h))));
    let origin_ok = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()).is_none_or(|origin| {
        let authority = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")).unwrap_or("");
        state.hosts.iter().any(|a| a.eq_ignore_ascii_case(host_name(authority)))
    });
    if host_ok && origin_ok {
        next.run(request).await
    } else {
        ApiError(StatusCode::FORBIDDEN, "this server answers only its own page on this machine".into()).into_response()
    }
}

/// A client error, answered as `{"error": message}`.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({"error": self.1}))).into_response()
    }
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

/// Serves until Ctrl-C. `on_listening` gets the bound address (useful with port 0).
pub async fn serve(opts: &ServeOptions, on_listening: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    // The index lives as long as the process serves it; leaking it lets the search
    // borrow it for 'static, which axum's shared state needs.
    let index: &'static Index = Box::leak(Box::new(Index::open(&opts.index_dir)?));
    let embedder = index.query_embedder(&opts.model_dir, opts.threads)?;
    embedder.preload()?;
    if !opts.addr.ip().is_loopback() {
        tracing::warn!(
            "listening on {}, not a loopback address: every machine that can reach it can search the index and see its images",
            opts.addr
        );
    }
    let state = Arc::new(AppState {
        searcher: Searcher::new(index),
        embedder,
        index,
        max_upload: opts.max_upload,
        searches: tokio::sync::Semaphore::new(CONCURRENT_SEARCHES),
        hosts: allowed_hosts(opts.addr),
    });
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/info", get(info))
        .route("/api/search", post(search))
        .route("/image/{key}", get(image_file))
        .layer(DefaultBodyLimit::max(opts.max_upload))
        .layer(axum::middleware::from_fn_with_state(state.clone(), only_own_origin))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .map_err(|source| ServeError::Bind { addr: opts.addr, source })?;
    let addr = listener.local_addr().map_err(ServeError::Server)?;
    on_listening(addr);
    serve_connections(listener, app).await
}

/// How long a client may take to send a request's headers (also the idle time allowed
/// between requests on a kept-alive connection).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest one connection lives, slow uploads included.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(300);
/// Connections served at once; beyond it new ones wait in the listen queue.
const MAX_CONNECTIONS: usize = 512;

/// Accepts connections until Ctrl-C, each bounded in time (see the constants above), so
/// half-open or stalled clients cannot take the server from anyone else.
async fn serve_connections(listener: tokio::net::TcpListener, app: Router) -> Result<(), ServeError> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = &mut stop => return Ok(()),
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait a moment rather than spin.
                Err(e) => {
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut stop => return Ok(()),
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
            drop(slot);
        });
    }
}

async fn info(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let manifest = state.index.manifest();
    let mut classes: Vec<&str> = manifest.items.iter().map(|i| i.class.as_str()).collect();
    classes.sort_unstable();
    classes.dedup();
    axum::Json(json!({
        "embedder": manifest.embedder,
        "items": manifest.items.len(),
        "classes": classes,
        "metrics": Metric::ALL,
        "text_queries": state.embedder.supports_text(),
        "max_upload": state.max_upload,
    }))
}

/// The fields of a search form.
#[derive(Default)]
struct SearchForm {
    image: Option<Vec<u8>>,
    text: Option<String>,
    k: Option<String>,
    metric: Option<String>,
    class: Option<String>,
}

async fn read_form(mut multipart: Multipart) -> Result<SearchForm, ApiError> {
    let mut form = SearchForm::default();
    let too_big_or_bad = |e: axum::extract::multipart::MultipartError| {
        let status = e.status();
        ApiError(
            status,
            if status == StatusCode::PAYLOAD_TOO_LARGE { "the upload is too large".into() } else { e.body_text() },
        )
    };
    while let Some(field) = multipart.next_field().await.map_err(too_big_or_bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "image" => {
                let bytes = field.bytes().await.map_err(too_big_or_bad)?;
                if !bytes.is_empty() {
                    form.image = Some(bytes.to_vec());
                }
            }
            "text" | "k" | "metric" | "class" => {
                let value = field.text().await.map_err(too_big_or_bad)?.trim().to_owned();
                if value.is_empty() {
                    continue;
                }
                let slot = match name.as_str() {
                    "text" => &mut form.text,
                    "k" => &mut form.k,
                    "metric" => &mut form.metric,
                    _ => &mut form.class,
                };
                *slot = Some(value);
            }
            _ => {}
        }
    }
    Ok(form)
}

async fn search(State(state): State<Arc<AppState>>, multipart: Multipart) -> Result<impl IntoResponse, ApiError> {
    let form = read_form(multipart).await?;
    let k = match form.k.as_deref() {
        None => 5,
        Some(k) => k
            .parse::<usize>()
            .ok()
            .filter(|k| (1..=100).contains(k))
            .ok_or_else(|| bad_request("k must be a whole number from 1 to 100"))?,
    };
    let metric: Metric =
        form.metric.as_deref().unwrap_or("cosine").parse().map_err(|e: picseek_manifest::UnknownName| bad_request(e.to_string()))?;
    let class = form.class.filter(|c| c != "all");
    if form.image.is_none() && form.text.is_none() {
        return Err(bad_request("send an image file in the field 'image', or a text in 'text'"));
    }
    let Ok(_permit) = state.searches.try_acquire() else {
        return Err(ApiError(StatusCode::SERVICE_UNAVAILABLE, "too many searches at once; try again".into()));
    };
    let state_for_query = state.clone();
    let (query_label, hits) = tokio::task::spawn_blocking(move || {
        let state = state_for_query;
        let (query, label) = match (form.image, form.text) {
            (Some(image), _) => {
                (state.embedder.embed_image_bytes(std::path::Path::new("upload"), &image), "upload".to_owned())
            }
            (None, Some(text)) => (state.embedder.embed_text(&text), text),
            (None, None) => unreachable!("checked above"),
        };
        let query = query.map_err(index_error_response)?;
        let request = SearchRequest { metric, k, class: class.as_deref(), exact: false };
        let hits = state.searcher.search(&query, &request).map_err(search_error_response)?;
        Ok::<_, ApiError>((label, hits))
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    let results: Vec<_> = hits
        .iter()
        .map(|h| json!({"rank": h.rank, "key": h.key, "class": h.class, "score": h.score, "url": format!("/image/{}", h.key)}))
        .collect();
    Ok(axum::Json(json!({"query": query_label, "metric": metric.name(), "results": results})))
}

async fn image_file(State(state): State<Arc<AppState>>, Path(key): Path<String>) -> Result<Response, ApiError> {
    let not_found = || ApiError(StatusCode::NOT_FOUND, "no such image".into());
    let key: usize = key.parse().map_err(|_| not_found())?;
    if key >= state.index.len() {
        return Err(not_found());
    }
    let path = state.index.item_path(key);
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        tracing::warn!("{}: {e}", path.display());
        not_found()
    })?;
    let mime = image::guess_format(&bytes).map(|f| f.to_mime_type()).unwrap_or("application/octet-stream");
    Ok(([(header::CONTENT_TYPE, mime)], bytes).into_response())
}
