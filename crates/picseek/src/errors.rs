//! Turning a stage's error into the one line a user reads: each cause once, the flag
//! that set a refused option, and what to do about errors that have a usual fix. The
//! libraries speak their own terms; only here are flags named.

use picseek_clean::CleanError;
use picseek_crawl::CrawlError;
use picseek_download::DownloadError;
use picseek_embed::{ClipError, EmbedError};
use picseek_export::ExportError;
use picseek_index::IndexError;
use picseek_manifest::InvalidOption;
use picseek_pipeline::RunError;
use picseek_search::SearchError;
use picseek_serve::ServeError;

/// The error and its causes on one line, each cause once (a library message often
/// already includes its source's text), with the flag and fix where there is one.
pub fn one_line(err: &anyhow::Error) -> String {
    if let Some(flag_message) = invalid_flag(err) {
        return flag_message;
    }
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    if let Some(hint) = hint(err) {
        line.push_str("; ");
        line.push_str(hint);
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `--flag <problem>` for a refused option.
fn invalid_flag(err: &anyhow::Error) -> Option<String> {
    // Options named as their flags are, but for the repeatable ones, named in the singular.
    let flag = |option: &str| match option {
        "tdm_policies" => "--tdm-policy".to_owned(),
        _ => format!("--{}", option.replace('_', "-")),
    };
    for cause in err.chain() {
        if let Some(RunError::Invalid { stage, source }) = cause.downcast_ref::<RunError>() {
            let name =
                crate::settings::run_flag(*stage, source.option).map_or_else(|| flag(source.option), str::to_owned);
            return Some(format!("{name} {}", source.problem));
        }
        if let Some(invalid) = cause.downcast_ref::<InvalidOption>() {
            return Some(format!("{} {}", flag(invalid.option), invalid.problem));
        }
    }
    None
}

/// The index error behind `cause`, also where a transparent wrapper hides it from the
/// chain of sources.
fn index_error<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a IndexError> {
    cause.downcast_ref::<IndexError>().or_else(|| match cause.downcast_ref::<SearchError>() {
        Some(SearchError::Index(e)) => Some(e),
        _ => match cause.downcast_ref::<RunError>() {
            Some(RunError::Index(e)) => Some(e),
            _ => match (cause.downcast_ref::<ServeError>(), cause.downcast_ref::<ExportError>()) {
                (Some(ServeError::Index(e)), _) | (_, Some(ExportError::Index(e))) => Some(e),
                _ => None,
            },
        },
    })
}

/// The embedding error behind `cause`, wherever a stage wraps it.
fn embed_error<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a EmbedError> {
    if let Some(e) = cause.downcast_ref::<EmbedError>() {
        return Some(e);
    }
    match index_error(cause) {
        Some(IndexError::Embed(e)) => return Some(e),
        Some(_) => return None,
        None => {}
    }
    match (
        cause.downcast_ref::<SearchError>(),
        cause.downcast_ref::<RunError>(),
        cause.downcast_ref::<ServeError>(),
        cause.downcast_ref::<CleanError>(),
    ) {
        (Some(SearchError::Embed(e)), ..)
        | (_, Some(RunError::Model(e)), ..)
        | (_, _, Some(ServeError::Embed(e)), _)
        | (.., Some(CleanError::Clip(e))) => Some(e),
        _ => None,
    }
}

/// What to do about an error, in flags and commands.
fn hint(err: &anyhow::Error) -> Option<&'static str> {
    err.chain().find_map(|cause| {
        if let Some(e) = embed_error(cause) {
            return match e {
                EmbedError::ModelNotFound { .. } => {
                    Some("pass --model DIR to name where it is now, or re-index with --rebuild")
                }
                EmbedError::Clip(ClipError::ModelMissing { .. }) => Some(MODEL_MISSING),
                EmbedError::Clip(ClipError::Int8Missing { .. }) => Some(
                    "make them with `.venv/bin/python scripts/clip/quantize.py MODEL_DIR` (scripts/setup.sh installs it), or pass --precision fp32",
                ),
                _ => None,
            };
        }
        if let Some(e) = index_error(cause) {
            return match e {
                IndexError::Missing { .. } => Some("run `picseek index` first"),
                IndexError::Damaged { .. } => Some("rebuild it with `picseek index --rebuild`"),
                IndexError::Mismatch { .. } => Some("pass --rebuild to rebuild it"),
                IndexError::ModelMismatch { .. } => {
                    Some("search with the model it was built with (--model DIR), or re-index with --rebuild")
                }
                _ => None,
            };
        }
        if let Some(ClipError::ModelMissing { .. }) = cause.downcast_ref::<ClipError>() {
            return Some(MODEL_MISSING);
        }
        let download = cause.downcast_ref::<DownloadError>().or_else(|| match cause.downcast_ref::<RunError>() {
            Some(RunError::Download(e)) => Some(e),
            _ => None,
        });
        if let Some(DownloadError::NoUrls { .. }) = download {
            return Some("run `picseek crawl` first (or pass --urls FILE)");
        }
        if let Some(ServeError::Bind { source, .. }) = cause.downcast_ref::<ServeError>() {
            return match source.kind() {
                std::io::ErrorKind::AddrInUse => {
                    Some("another program listens there (another `picseek serve`?): pass --addr with a free port, as --addr 127.0.0.1:8081")
                }
                std::io::ErrorKind::AddrNotAvailable => {
                    Some("the address is not one of this machine's: use 127.0.0.1, or 0.0.0.0 for every interface")
                }
                std::io::ErrorKind::PermissionDenied => Some("ports below 1024 need privileges: use a port above 1024"),
                _ => None,
            };
        }
        match cause.downcast_ref::<CrawlError>().or_else(|| match cause.downcast_ref::<RunError>() {
            Some(RunError::Crawl(e)) => Some(e),
            _ => None,
        }) {
            Some(CrawlError::BrowserMissing { .. }) => Some("or pass --webdriver URL"),
            _ => None,
        }
    })
}

const MODEL_MISSING: &str = "pass --model DIR, or index with --embedder pixel, which needs no model";
