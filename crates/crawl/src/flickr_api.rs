//! The `flickr-api` source: the documented `flickr.photos.search` REST method instead of
//! a browser, for users who have an API key. Paged JSON, paced like page actions.

use std::time::Duration;

use picseek_manifest::progress::Task;
use picseek_manifest::{License, PhotoSource, TermStatus};
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

/// What `flickr.photos.search` says of a photo (with the extras asked for): its page is
/// `https://www.flickr.com/photos/<path alias or owner>/<id>/`, as Flickr builds it.
fn photo_source(photo: &Value, url: &str) -> PhotoSource {
    let text = |key: &str| lenient_str(&photo[key]).filter(|s| !s.trim().is_empty());
    let (id, owner) = (text("id"), text("owner"));
    let page = match (&id, text("pathalias").or_else(|| owner.clone())) {
        (Some(id), Some(who)) => Some(format!("https://www.flickr.com/photos/{who}/{id}/")),
        _ => None,
    };
    PhotoSource {
        url: url.to_owned(),
        page,
        photo_id: id,
        owner,
        owner_name: text("ownername"),
        title: text("title"),
        date_taken: text("datetaken"),
        license: lenient_u64(&photo["license"]).and_then(|id| u8::try_from(id).ok()).and_then(License::from_id),
        license_among: Vec::new(),
    }
}

pub(crate) async fn search_term(
    client: &reqwest::Client,
    api_url: &str,
    key: &str,
    opts: &CrawlOptions,
    term: &str,
    pacer: &HostPacer,
    bar: &dyn Task,
) -> TermOutcome {
    let mut urls: Vec<String> = Vec::new();
    let mut sources: Vec<PhotoSource> = Vec::new();
    let license_filter: String = opts.licenses.iter().map(u8::to_string).collect::<Vec<_>>().join(",");
    let result = tokio::time::timeout(opts.term_timeout, async {
        let host = url::Url::parse(api_url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
        let per_page = opts.max_per_term.clamp(1, PER_PAGE).to_string();
        let extras = format!("url_{},license,owner_name,date_taken,path_alias", opts.size);
        let mut page = 1u64;
        loop {
            let page_text = page.to_string();
            let mut query = vec![
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
            if !license_filter.is_empty() {
                query.push(("license", license_filter.as_str()));
            }
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
                    sources.push(photo_source(photo, &url));
                    urls.push(url);
                }
            }
            bar.set_done(urls.len().min(opts.max_per_term) as u64);
            if urls.len() >= opts.max_per_term {
                urls.truncate(opts.max_per_term);
                sources.truncate(opts.max_per_term);
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
        Ok(Ok(status)) => TermOutcome::finished(urls, status).with_sources(sources),
        Ok(Err(error)) => TermOutcome::failed(urls, error).with_sources(sources),
        Err(_) => {
            let message = format!("timed out after {}s", opts.term_timeout.as_secs());
            TermOutcome::failed(urls, message).with_sources(sources)
        }
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

    #[test]
    fn a_photo_knows_its_page_owner_and_licence() {
        let photo = json!({"id": "53", "owner": "12@N01", "pathalias": "ann", "ownername": "Ann", "title": "Fox", "license": "4", "datetaken": "2024-05-01 10:00:00"});
        let source = photo_source(&photo, "u");
        assert_eq!(source.page.as_deref(), Some("https://www.flickr.com/photos/ann/53/"));
        assert_eq!((source.owner.as_deref(), source.owner_name.as_deref()), (Some("12@N01"), Some("Ann")));
        assert_eq!(source.license.unwrap().name, "CC BY 2.0");
        let bare = photo_source(&json!({"id": 53, "owner": "12@N01", "title": "", "license": 0}), "u");
        assert_eq!(bare.page.as_deref(), Some("https://www.flickr.com/photos/12@N01/53/"));
        assert_eq!((bare.title, bare.license.unwrap().id), (None, 0));
    }
}
