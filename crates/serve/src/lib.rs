//! `picseek serve`: a local web page to search an index by uploaded image, text (CLIP
//! indexes), an item of the index ("more like this"), or several of them at once, and
//! the JSON API behind it.
//!
//! The index stays loaded (memory-mapped, with the search's cached row sums) between
//! queries, and is opened again when it is rebuilt (`index.json` rewritten): each
//! request sees one whole index, the old or the new. Items whose image file is gone
//! (a split re-run before the index) are left out of what the page lists. Images are served only by index key (`/image/<key>`,
//! `/thumb/<key>`), so no request can name a path; uploads are limited in size and a
//! bad one gets a clear message.
//!
//! - `GET /`: the page (one self-contained file, `page.html`: no build step).
//! - `GET /api/info`: embedder, classes with their sizes, metrics with the direction of
//!   their scores, upload and page limits.
//! - `POST /api/search`: a multipart form with any of `image` (a file), `text` and
//!   `key` (an item's key: its stored vector is the query, nothing is uploaded), which
//!   are combined into one query, and optional `k` (page size, 1 to 100), `offset`,
//!   `metric`, `class` and `exclude_query` (`1`, the default, leaves out the query's
//!   own image: the item asked by key, or items with the upload's bytes). Answers
//!   `{"query", "metric", "larger_is_closer", "search", "offset", "k", "total",
//!   "results": [{"rank", "key", "class", "file", "score", "url", "thumb"}]}` or, on
//!   bad input, status 400/413 with `{"error"}`.
//! - `GET /api/browse?class=&offset=&k=`: the items of a class (or all), in key order.
//! - `GET /image/<key>`: the image of an index item; `GET /thumb/<key>`: a JPEG of at
//!   most 256 px a side, made once and cached in `<index>/thumbnails/` by the image's
//!   SHA-256 (so a changed image never gets a stale thumbnail).
//!
//! Only requests whose `Host` (and `Origin`, when sent) name this server on this machine
//! are answered; others get 403, so neither another site's page nor DNS rebinding can
//! reach the index. At most a few searches run at once.

mod thumbnails;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use picseek_embed::{EmbedError, ModelOptions, QueryEmbedder};
use picseek_index::{Index, IndexError};
use picseek_manifest::License;
use picseek_search::{ItemFilter, Metric, QueryTerm, SearchError, SearchRequest, Searcher, TermSource};
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
    /// The CLIP model for queries (for CLIP indexes); naming no folder finds the one the
    /// index records.
    pub model: ModelOptions,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            index_dir: picseek_manifest::DataDir::default().index(),
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_upload: 20_000_000,
            model: ModelOptions::default(),
        }
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The index or its model cannot be used.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The model for queries cannot be used.
    #[error(transparent)]
    Embed(#[from] EmbedError),
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
        SearchError::Index(e) => index_error_response(e),
        SearchError::Embed(e) => embed_error_response(e),
        SearchError::UnknownClass { .. }
        | SearchError::ZeroK
        | SearchError::EmptyQuery
        | SearchError::BadWeight { .. }
        | SearchError::CombinedPixel { .. }
        | SearchError::CancelledOut
        | SearchError::BadFilter(_)
        | SearchError::UnknownItem { .. } => bad_request(e.to_string()),
        SearchError::StaleIndex { .. } => ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn index_error_response(e: IndexError) -> ApiError {
    match e {
        IndexError::Embed(e) => embed_error_response(e),
        IndexError::QueryWidth { .. } => bad_request(e.to_string()),
        other => ApiError(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

fn embed_error_response(e: EmbedError) -> ApiError {
    match e {
        EmbedError::Image(e) => bad_request(format!("the upload is not a usable image ({})", e.reason_code())),
        EmbedError::NoTextEncoder { .. } => bad_request(e.to_string()),
        other => ApiError(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

/// An index as served: the index, its searcher and the query embedder that matches it.
struct Loaded {
    searcher: Searcher<'static>,
    embedder: Arc<QueryEmbedder>,
    /// When its `index.json` was written: a later one is a rebuilt index.
    built: Option<std::time::SystemTime>,
}

impl Loaded {
    fn index(&self) -> &Index {
        self.searcher.index()
    }

    /// Opens the index in `opts.index_dir`, keeping `previous`'s embedder when the new
    /// index was made the same way (no model is loaded twice).
    fn open(opts: &ServeOptions, previous: Option<&Loaded>) -> Result<Self, ServeError> {
        let built = built_at(&opts.index_dir);
        let index = Index::open(&opts.index_dir)?;
        let embedder = match previous.filter(|p| p.index().identity() == index.identity()) {
            Some(previous) => previous.embedder.clone(),
            None => {
                let embedder = index.query_embedder(&opts.model)?;
                embedder.preload()?;
                Arc::new(embedder)
            }
        };
        Ok(Self { searcher: Searcher::shared(Arc::new(index)), embedder, built })
    }
}

fn built_at(index_dir: &std::path::Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(picseek_manifest::DataDir::index_manifest(index_dir)).and_then(|m| m.modified()).ok()
}

struct AppState {
    options: ServeOptions,
    loaded: std::sync::RwLock<Arc<Loaded>>,
    /// Held while a rebuilt index is opened, so it is opened once.
    reloading: std::sync::Mutex<()>,
    max_upload: usize,
    /// Searches running at once are bounded: each may take a core for a while.
    searches: tokio::sync::Semaphore,
    /// The host names this server answers to (see [`allowed_hosts`]).
    hosts: Vec<String>,
    thumbnails: thumbnails::Thumbnails,
}

impl AppState {
    /// The index to answer with: the loaded one, or, when it has been rebuilt since, the
    /// new one (opened once; if it cannot be opened the old one goes on serving).
    fn current(&self) -> Arc<Loaded> {
        let loaded = self.loaded.read().expect("no panic holds the lock").clone();
        let built = built_at(&self.options.index_dir);
        if built == loaded.built || built.is_none() {
            return loaded;
        }
        let _reloading = self.reloading.lock().expect("no panic holds the lock");
        let latest = self.loaded.read().expect("no panic holds the lock").clone();
        if latest.built == built {
            return latest;
        }
        match Loaded::open(&self.options, Some(&latest)) {
            Ok(fresh) => {
                tracing::info!("{}: the index was rebuilt; serving the new one", self.options.index_dir.display());
                let fresh = Arc::new(fresh);
                *self.loaded.write().expect("no panic holds the lock") = fresh.clone();
                fresh
            }
            Err(e) => {
                tracing::warn!("the rebuilt index cannot be opened yet ({e}); serving the previous one");
                latest
            }
        }
    }
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
    if !opts.addr.ip().is_loopback() {
        tracing::warn!(
            "listening on {}, not a loopback address: every machine that can reach it can search the index and see its images",
            opts.addr
        );
    }
    let app = router(opts)?;
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .map_err(|source| ServeError::Bind { addr: opts.addr, source })?;
    let addr = listener.local_addr().map_err(ServeError::Server)?;
    on_listening(addr);
    serve_connections(listener, app).await
}

/// The server's routes over the index of `opts`, opened (and its query model loaded)
/// now: what [`serve`] answers connections with, and what tests call in-process.
pub fn router(opts: &ServeOptions) -> Result<Router, ServeError> {
    let loaded = Loaded::open(opts, None)?;
    let state = Arc::new(AppState {
        options: opts.clone(),
        loaded: std::sync::RwLock::new(Arc::new(loaded)),
        reloading: std::sync::Mutex::new(()),
        max_upload: opts.max_upload,
        searches: tokio::sync::Semaphore::new(CONCURRENT_SEARCHES),
        hosts: allowed_hosts(opts.addr),
        thumbnails: thumbnails::Thumbnails::new(picseek_manifest::DataDir::thumbnails(&opts.index_dir)),
    });
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/info", get(info))
        .route("/api/search", post(search))
        .route("/api/browse", get(browse))
        .route("/image/{key}", get(image_file))
        .route("/thumb/{key}", get(thumbnail))
        .layer(DefaultBodyLimit::max(opts.max_upload))
        .layer(axum::middleware::from_fn_with_state(state.clone(), only_own_origin))
        .with_state(state);
    Ok(app)
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
    let loaded = state.current();
    let manifest = loaded.index().manifest();
    let mut classes = std::collections::BTreeMap::<&str, usize>::new();
    for item in &manifest.items {
        *classes.entry(item.class.as_str()).or_default() += 1;
    }
    let metrics: Vec<_> =
        Metric::ALL.iter().map(|m| json!({"name": m.name(), "larger_is_closer": m.larger_is_closer()})).collect();
    axum::Json(json!({
        "embedder": manifest.embedder,
        "items": manifest.items.len(),
        "classes": classes.keys().collect::<Vec<_>>(),
        "class_sizes": classes,
        "metrics": metrics,
        "text_queries": loaded.embedder.supports_text(),
        "max_upload": state.max_upload,
        "max_page": MAX_PAGE,
    }))
}

/// The most results one page (one request) may ask for.
const MAX_PAGE: usize = 100;

/// The fields of a search form.
#[derive(Default)]
struct SearchForm {
    image: Option<Vec<u8>>,
    text: Option<String>,
    key: Option<String>,
    k: Option<String>,
    offset: Option<String>,
    metric: Option<String>,
    class: Option<String>,
    exclude_query: Option<String>,
    filter: FilterFields,
}

/// The filter fields of a search form or a browse query.
#[derive(Default, serde::Deserialize)]
struct FilterFields {
    license: Option<String>,
    owner: Option<String>,
    taken_after: Option<String>,
    taken_before: Option<String>,
    min_score: Option<String>,
}

impl FilterFields {
    /// The filter these fields ask for, or a 400 naming the field.
    fn filter(&self) -> Result<ItemFilter, ApiError> {
        let non_empty = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        let licenses = match non_empty(&self.license) {
            Some(list) => License::parse_filter(&list).map_err(|e| bad_request(format!("license: {e}")))?,
            None => Vec::new(),
        };
        let min_score = match non_empty(&self.min_score) {
            Some(v) => Some(
                v.parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite())
                    .ok_or_else(|| bad_request(format!("min_score must be a number, not {v:?}")))?,
            ),
            None => None,
        };
        Ok(ItemFilter {
            licenses,
            owner: non_empty(&self.owner),
            taken_after: non_empty(&self.taken_after),
            taken_before: non_empty(&self.taken_before),
            min_score,
        })
    }
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
        if name == "image" {
            let bytes = field.bytes().await.map_err(too_big_or_bad)?;
            if !bytes.is_empty() {
                form.image = Some(bytes.to_vec());
            }
            continue;
        }
        let slot = match name.as_str() {
            "text" => &mut form.text,
            "key" => &mut form.key,
            "k" => &mut form.k,
            "offset" => &mut form.offset,
            "metric" => &mut form.metric,
            "class" => &mut form.class,
            "exclude_query" => &mut form.exclude_query,
            "license" => &mut form.filter.license,
            "owner" => &mut form.filter.owner,
            "taken_after" => &mut form.filter.taken_after,
            "taken_before" => &mut form.filter.taken_before,
            "min_score" => &mut form.filter.min_score,
            _ => continue,
        };
        let value = field.text().await.map_err(too_big_or_bad)?.trim().to_owned();
        if !value.is_empty() {
            *slot = Some(value);
        }
    }
    Ok(form)
}

/// A whole number in `range` from a form field, or a 400 naming the field.
fn number_field(
    value: Option<&str>,
    name: &str,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, ApiError> {
    match value {
        None => Ok(default),
        Some(v) => v.parse::<usize>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
            bad_request(format!("{name} must be a whole number from {} to {}, not {v:?}", range.start(), range.end()))
        }),
    }
}

/// The class filter of a form or query string (`all` or nothing: every class).
fn class_filter(class: Option<String>) -> Option<String> {
    class.filter(|c| c != "all")
}

async fn search(State(state): State<Arc<AppState>>, multipart: Multipart) -> Result<impl IntoResponse, ApiError> {
    let form = read_form(multipart).await?;
    let loaded = state.current();
    let k = number_field(form.k.as_deref(), "k", 5, 1..=MAX_PAGE)?;
    let offset = number_field(form.offset.as_deref(), "offset", 0, 0..=loaded.index().len())?;
    let metric: Metric = form
        .metric
        .as_deref()
        .unwrap_or("cosine")
        .parse()
        .map_err(|e: picseek_manifest::UnknownName| bad_request(e.to_string()))?;
    let class = class_filter(form.class);
    let exclude_query = !matches!(form.exclude_query.as_deref(), Some("0" | "false" | "no"));
    let filter = form.filter.filter()?;
    let mut terms = Vec::new();
    if let Some(key) = &form.key {
        let key = key.parse::<u64>().map_err(|_| bad_request(format!("key must be an item's number, not {key:?}")))?;
        terms.push(QueryTerm::new(TermSource::Item(key)));
    }
    if let Some(bytes) = form.image {
        terms.push(QueryTerm::new(TermSource::Image { name: "upload".into(), bytes }));
    }
    if let Some(text) = form.text {
        terms.push(QueryTerm::new(TermSource::Text(text)));
    }
    if terms.is_empty() {
        return Err(bad_request("send an image file in the field 'image', a text in 'text' or an item's 'key'"));
    }
    let Ok(_permit) = state.searches.try_acquire() else {
        return Err(ApiError(StatusCode::SERVICE_UNAVAILABLE, "too many searches at once; try again".into()));
    };
    let for_query = loaded.clone();
    let (label, hits, total) = tokio::task::spawn_blocking(move || {
        let loaded = for_query;
        let query = picseek_search::compose(loaded.index(), &loaded.embedder, &terms).map_err(search_error_response)?;
        let exclude = if exclude_query { query.own_items.clone() } else { Vec::new() };
        let request = SearchRequest {
            metric,
            k,
            class: class.as_deref(),
            offset,
            exclude: &exclude,
            exact: false,
            filter: Some(&filter),
        };
        let hits = loaded.searcher.search(&query.vector, &request).map_err(search_error_response)?;
        let total = loaded
            .index()
            .manifest()
            .items
            .iter()
            .filter(|i| class.as_deref().is_none_or(|c| i.class == c) && !exclude.contains(&i.key) && filter.keeps(i))
            .count();
        Ok::<_, ApiError>((query.label, hits, total))
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    let results: Vec<_> = hits
        .iter()
        .filter(|h| on_disk(&loaded, h.key))
        .map(|h| {
            let mut card = item_card(&loaded, h.key);
            card["rank"] = h.rank.into();
            card["score"] = h.score.into();
            card
        })
        .collect();
    Ok(axum::Json(json!({
        "query": label,
        "metric": metric.name(),
        "larger_is_closer": metric.larger_is_closer(),
        "search": loaded.searcher.method(metric, false),
        "offset": offset,
        "k": k,
        "total": total,
        "results": results,
    })))
}

/// Whether item `key`'s image is still on disk: one that is gone (the folder changed
/// and the index was not built again) is never listed, so no listed item answers 404.
fn on_disk(loaded: &Loaded, key: u64) -> bool {
    let present = loaded.index().item_path(key as usize).is_file();
    if !present {
        tracing::warn!("item {key} of the index is gone from disk; run picseek index to build it again");
    }
    present
}

/// What the page shows of an item: key, class, file name and where its pictures are.
fn item_card(loaded: &Loaded, key: u64) -> serde_json::Value {
    let item = &loaded.index().manifest().items[key as usize];
    let file =
        std::path::Path::new(&item.path).file_name().map_or(item.path.clone(), |f| f.to_string_lossy().into_owned());
    let source = item.sources.first().map(|s| {
        json!({
            "page": s.page,
            "url": s.url,
            "owner": s.owner_name.as_ref().or(s.owner.as_ref()),
            "title": s.title,
            "license": s.license_text(),
            "license_url": s.license.as_ref().and_then(|l| l.url.clone()),
        })
    });
    let on_disk = loaded.index().item_path(key as usize);
    let path = std::path::absolute(&on_disk).unwrap_or(on_disk);
    json!({
        "key": key,
        "class": item.class,
        "file": file,
        "path": path,
        "url": format!("/image/{key}"),
        "thumb": format!("/thumb/{key}"),
        "source": source,
    })
}

/// The query string of `GET /api/browse`.
#[derive(serde::Deserialize)]
struct BrowseQuery {
    class: Option<String>,
    offset: Option<String>,
    k: Option<String>,
    #[serde(flatten)]
    filter: FilterFields,
}

async fn browse(
    State(state): State<Arc<AppState>>,
    axum::extract::Query(query): axum::extract::Query<BrowseQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let loaded = state.current();
    let k = number_field(query.k.as_deref(), "k", 50, 1..=MAX_PAGE)?;
    let offset = number_field(query.offset.as_deref(), "offset", 0, 0..=loaded.index().len())?;
    let class = class_filter(query.class);
    let filter = ItemFilter { min_score: None, ..query.filter.filter()? };
    filter.check(loaded.index()).map_err(search_error_response)?;
    let items = &loaded.index().manifest().items;
    if let Some(class) = &class
        && !items.iter().any(|i| &i.class == class)
    {
        return Err(bad_request(format!("no class {class:?} in the index")));
    }
    let in_class: Vec<u64> = items
        .iter()
        .filter(|i| class.as_deref().is_none_or(|c| i.class == c) && filter.keeps(i))
        .map(|i| i.key)
        .collect();
    let results: Vec<_> = in_class
        .iter()
        .skip(offset)
        .take(k)
        .filter(|&&key| on_disk(&loaded, key))
        .map(|&key| item_card(&loaded, key))
        .collect();
    Ok(axum::Json(json!({"class": class, "offset": offset, "k": k, "total": in_class.len(), "results": results})))
}

/// The item of a `/image/<key>` or `/thumb/<key>` path, or a 404.
fn item_of(loaded: &Loaded, key: &str) -> Result<usize, ApiError> {
    key.parse::<usize>()
        .ok()
        .filter(|&k| k < loaded.index().len())
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, "no such image".into()))
}

async fn image_file(State(state): State<Arc<AppState>>, Path(key): Path<String>) -> Result<Response, ApiError> {
    let loaded = state.current();
    let key = item_of(&loaded, &key)?;
    let path = loaded.index().item_path(key);
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        tracing::warn!("{}: {e}", path.display());
        ApiError(StatusCode::NOT_FOUND, "no such image".into())
    })?;
    let mime = image::guess_format(&bytes).map(|f| f.to_mime_type()).unwrap_or("application/octet-stream");
    Ok(([(header::CONTENT_TYPE, mime)], bytes).into_response())
}

async fn thumbnail(State(state): State<Arc<AppState>>, Path(key): Path<String>) -> Result<Response, ApiError> {
    let loaded = state.current();
    let key = item_of(&loaded, &key)?;
    let path = loaded.index().item_path(key);
    let sha256 = loaded.index().manifest().items[key].sha256.clone();
    let state_for_thumb = state.clone();
    let jpeg = tokio::task::spawn_blocking(move || state_for_thumb.thumbnails.get(&path, &sha256))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| {
            tracing::warn!("{e}");
            ApiError(StatusCode::NOT_FOUND, "no such image".into())
        })?;
    Ok(([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "max-age=3600")], jpeg).into_response())
}

#[cfg(test)]
mod tests;
