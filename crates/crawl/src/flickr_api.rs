//! The `flickr-api` source: the documented `flickr.photos.search` REST method instead of
//! a browser, for users who have an API key. Paged JSON, paced like page actions.

use std::time::Duration;

use indicatif::ProgressBar;
use picseek_manifest::TermStatus;
use serde_json::Value;

use crate::CrawlOptions;
use crate::TermFailure;
use crate::pacing::HostPacer;
use crate::term::{Failure, TermOutcome};

/// Photos per API page (the API's maximum is 500).
const PER_PAGE: usize = 100;

/// A number the API sends as a JSON number or a string.
fn lenient_u64(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

fn lenient_str(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned).or_else(|| v.as_u64().map(|n| n.to_string()))
}

/// The photo's URL at `size`: the `url_<size>` extra when the API gives it, else built
/// from id, secret and server as Flickr documents.
fn photo_url(photo: &Value, size: &str) -> Option<String> {
    if let Some(url) = photo.get(format!("url_{size}")).and_then(Value::as_str) {
        return Some(url.to_owned());
    }
    let (id, secret, server) =
        (lenient_str(&photo["id"])?, lenient_str(&photo["secret"])?, lenient_str(&photo["server"])?);
    Some(format!("https://live.staticflickr.com/{server}/{id}_{secret}_{size}.jpg"))
}

pub(crate) async fn search_term(
    client: &reqwest::Client,
    api_url: &str,
    key: &str,
    opts: &CrawlOptions,
    term: &str,
    pacer: &HostPacer,
    bar: &ProgressBar,
) -> TermOutcome {
    let mut urls: Vec<String> = Vec::new();
    let result = tokio::time::timeout(opts.term_timeout, async {
        let host = url::Url::parse(api_url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
        let per_page = opts.max_per_term.clamp(1, PER_PAGE).to_string();
        let extras = format!("url_{}", opts.size);
        let mut page = 1u64;
        loop {
            let page_text = page.to_string();
            let query = [
                ("method", "flickr.photos.search"),
                ("api_key", key),
                ("text", term),
                ("extras", extras.as_str()),
                ("per_page", per_page.as_str()),
                ("page", page_text.as_str()),
                ("media", "photos"),
                ("content_type", "1"),
                ("format", "json"),
                ("nojsoncallback", "1"),
            ];
            let request = async {
                let response = client.get(api_url).query(&query).send().await?;
                if matches!(response.status().as_u16(), 429 | 503) {
                    return Ok(None);
                }
                response.error_for_status()?.json::<Value>().await.map(Some)
            };
            let body = pacer.act(&host, "api page", request).await.map_err(|e| {
                let unreachable = e.is_connect() || e.is_timeout();
                let e = e.without_url();
                // reqwest's own text hides the cause ("error sending request").
                let mut text = e.to_string();
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    text = format!("{text}: {c}");
                    cause = c.source();
                }
                let message = format!("{api_url} (page {page}): {text}");
                if unreachable {
                    Failure {
                        message: format!("cannot reach {host}: {message}"),
                        kind: TermFailure::Unreachable { host: host.clone() },
                    }
                } else {
                    Failure::from(message)
                }
            })?;
            // Throttled: slow the host down and ask for the same page again.
            let Some(body) = body else {
                let period = pacer.slow_down(&host);
                tracing::warn!("{host} throttles the API calls; one call every {period:?} from now");
                continue;
            };
            pacer.recover(&host);
            if body["stat"] != "ok" {
                return Err(Failure::from(format!(
                    "Flickr API error {}: {}",
                    body["code"],
                    body["message"].as_str().unwrap_or("no message")
                )));
            }
            let photos = &body["photos"];
            for photo in photos["photo"].as_array().into_iter().flatten() {
                if let Some(url) = photo_url(photo, &opts.size).filter(|u| !urls.contains(u)) {
                    urls.push(url);
                }
            }
            bar.set_position(urls.len().min(opts.max_per_term) as u64);
            if urls.len() >= opts.max_per_term {
                urls.truncate(opts.max_per_term);
                return Ok(TermStatus::Complete);
            }
            if page >= lenient_u64(&photos["pages"]).unwrap_or(0) {
                return Ok(TermStatus::Exhausted);
            }
            page += 1;
        }
    })
    .await;
    match result {
        Ok(Ok(TermStatus::Exhausted)) if urls.is_empty() => {
            TermOutcome::failed(Vec::new(), Failure { message: "no results".into(), kind: TermFailure::NoPhotos })
        }
        Ok(Ok(status)) => TermOutcome::finished(urls, status),
        Ok(Err(error)) => TermOutcome::failed(urls, error),
        Err(_) => TermOutcome::failed(urls, format!("timed out after {}s", opts.term_timeout.as_secs())),
    }
}

/// The client for API calls.
pub(crate) fn api_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .user_agent(concat!("picseek/", env!("CARGO_PKG_VERSION"), " (personal image-retrieval dataset builder)"))
        .timeout(timeout)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn photo_urls_come_from_the_extra_or_are_built() {
        let with_extra =
            json!({"id": "1", "secret": "ab", "server": "2", "url_b": "https://live.staticflickr.com/2/1_ab_b.jpg"});
        assert_eq!(photo_url(&with_extra, "b").unwrap(), "https://live.staticflickr.com/2/1_ab_b.jpg");
        let without = json!({"id": 53, "secret": "cd", "server": "65535"});
        assert_eq!(photo_url(&without, "z").unwrap(), "https://live.staticflickr.com/65535/53_cd_z.jpg");
        assert_eq!(photo_url(&json!({"id": "1"}), "b"), None);
    }
}
