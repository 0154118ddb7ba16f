//! A Hugging Face-like model hub on 127.0.0.1 for `scripts/download-clip.sh`: the JSON
//! file listing with each file's published checksum (`/api/models/<repo>/tree/<rev>`),
//! the commit `main` is at (`/api/models/<repo>/revision/main`) and the files themselves (`/<repo>/resolve/<rev>/<path>`, LFS files through a
//! redirect, as the real hub sends them to its CDN).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::loopback::LoopbackServer;

pub const REPO: &str = "Xenova/clip-vit-base-patch32";

/// One file of the hub: what it serves and the checksum it publishes for it.
pub struct HubFile {
    pub served: Vec<u8>,
    /// Whether the file is kept in LFS (its checksum published as its SHA-256) or is a
    /// small file (published as its git blob id).
    pub lfs: bool,
    pub published: String,
}

impl HubFile {
    /// A file whose published checksum is that of `bytes`.
    pub fn honest(bytes: Vec<u8>, lfs: bool) -> Self {
        let published = if lfs { hex::encode(Sha256::digest(&bytes)) } else { git_blob_id(&bytes) };
        Self { served: bytes, lfs, published }
    }
}

/// The id git gives `bytes` as a blob, computed by git itself.
fn git_blob_id(bytes: &[u8]) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    let out = std::process::Command::new("git").arg("hash-object").arg(file.path()).output().expect("git runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

struct Hub {
    repo: String,
    revision: String,
    files: BTreeMap<String, HubFile>,
    requests: Mutex<Vec<String>>,
}

pub struct ModelHub {
    hub: Arc<Hub>,
    server: LoopbackServer,
}

impl ModelHub {
    /// Serves `files` (keyed by their path in the repository) at `revision` of [`REPO`].
    pub fn start(revision: &str, files: BTreeMap<String, HubFile>) -> Self {
        Self::start_repo(REPO, revision, files)
    }

    /// Serves `files` at `revision` of `repo`, `main` being at `revision`.
    pub fn start_repo(repo: &str, revision: &str, files: BTreeMap<String, HubFile>) -> Self {
        let hub = Arc::new(Hub { repo: repo.into(), revision: revision.into(), files, requests: Mutex::default() });
        let app = Router::new().fallback(serve).with_state(hub.clone());
        Self { hub, server: LoopbackServer::start(app, 1) }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    pub fn requests(&self) -> Vec<String> {
        self.hub.requests.lock().unwrap().clone()
    }
}

async fn serve(State(hub): State<Arc<Hub>>, uri: Uri) -> Response {
    let path = uri.path().to_string();
    hub.requests.lock().unwrap().push(path.clone());
    let tree = format!("/api/models/{}/tree/{}", hub.repo, hub.revision);
    let resolve = format!("/{}/resolve/{}/", hub.repo, hub.revision);
    if path == format!("/api/models/{}/revision/main", hub.repo) {
        return axum::Json(json!({"id": hub.repo, "sha": hub.revision})).into_response();
    }
    if let Some(folder) = path.strip_prefix(&tree) {
        let folder = folder.trim_start_matches('/');
        let entries: Vec<_> = hub
            .files
            .iter()
            .filter(|(p, _)| p.rsplit_once('/').map_or("", |(dir, _)| dir) == folder)
            .map(|(p, f)| {
                if f.lfs {
                    json!({"type": "file", "path": p, "size": f.served.len(), "oid": "0".repeat(40),
                           "lfs": {"oid": f.published, "size": f.served.len(), "pointerSize": 134}})
                } else {
                    json!({"type": "file", "path": p, "size": f.served.len(), "oid": f.published})
                }
            })
            .collect();
        return axum::Json(entries).into_response();
    }
    if let Some(file) = path.strip_prefix(&resolve) {
        return match hub.files.get(file) {
            Some(f) if f.lfs => (StatusCode::FOUND, [(header::LOCATION, format!("/cdn/{file}"))]).into_response(),
            Some(f) => f.served.clone().into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        };
    }
    match path.strip_prefix("/cdn/").and_then(|file| hub.files.get(file)) {
        Some(f) => f.served.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
