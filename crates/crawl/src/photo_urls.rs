//! Finding photo URLs in a search page's HTML and normalising them: resolve against the
//! page, keep only photos on a photo host, rewrite the size suffix.

use std::sync::LazyLock;

use regex::Regex;
use scraper::{Html, Selector};
use url::Url;

/// Flickr's size suffixes that name a scaled copy of the same photo (same secret), so
/// any of them can be rewritten to any other. (`_o`, the original, has its own secret.)
pub const SIZE_SUFFIXES: [&str; 15] = ["s", "q", "t", "m", "n", "w", "z", "c", "b", "h", "k", "3k", "4k", "5k", "6k"];

/// `<id>_<secret>[_<size>].<ext>`: the last path segment of a Flickr photo URL.
static PHOTO_FILE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<stem>[0-9]+_[0-9a-f]+)(?:_(?P<size>[0-9a-z]{1,2}))?\.(?P<ext>jpe?g|png|gif)$")
        .expect("valid regex")
});
static CSS_URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"url\(\s*['"]?([^'")]+)['"]?\s*\)"#).expect("valid regex"));

/// Every image URL the page shows, in page order, resolved against `page_url`: `<img>`
/// `src`/`data-src`/`srcset` and CSS `background-image` URLs in `style` attributes.
pub fn image_urls_in_page(html: &str, page_url: &Url) -> Vec<Url> {
    let document = Html::parse_document(html);
    let selector = Selector::parse("img, [style*='url(']").expect("valid selector");
    let mut found = Vec::new();
    for element in document.select(&selector) {
        let attr = |name| element.value().attr(name);
        let mut candidates: Vec<&str> = Vec::new();
        if element.value().name() == "img" {
            candidates.extend(["src", "data-src", "data-defer-src"].into_iter().filter_map(attr));
            if let Some(srcset) = attr("srcset") {
                candidates.extend(srcset.split(',').filter_map(|entry| entry.split_whitespace().next()));
            }
        }
        if let Some(style) = attr("style") {
            candidates.extend(CSS_URL.captures_iter(style).filter_map(|c| c.get(1)).map(|m| m.as_str()));
        }
        found.extend(candidates.into_iter().filter_map(|c| page_url.join(c.trim()).ok()));
    }
    found
}

/// `/photos/<owner>/<id>`: a link to a photo's page.
static PHOTO_PAGE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^/photos/(?P<owner>[^/]+)/(?P<id>[0-9]+)/?$").expect("valid regex"));

/// The `noai` or `noimageai` directive of the page's `<meta name="robots">`, if any.
pub fn meta_robots_noai(html: &str) -> Option<&'static str> {
    static META: LazyLock<Selector> =
        LazyLock::new(|| Selector::parse("meta[name][content]").expect("a valid selector"));
    let document = Html::parse_document(html);
    document
        .select(&META)
        .filter(|m| m.value().attr("name").is_some_and(|n| n.eq_ignore_ascii_case("robots")))
        .find_map(|m| picseek_optout::noai_directive(m.value().attr("content").unwrap_or_default()))
}

/// What a search page says of one photo through its link to the photo's page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoPageLink {
    /// The photo's page.
    pub page: Url,
    /// The owner's NSID or path alias, from the link.
    pub owner: String,
    /// The title, from the link's label ("<title> by <owner name>").
    pub title: Option<String>,
    /// The owner's name, from the link's label.
    pub owner_name: Option<String>,
}

/// The links to photo pages on a search page, by photo id. A result links to its page
/// from an overlay labelled "<title> by <owner name>" (`aria-label` or `title`); where
/// several links name a photo, the first labelled one is kept.
pub fn photo_pages_in_page(html: &str, page_url: &Url) -> std::collections::HashMap<String, PhotoPageLink> {
    let document = Html::parse_document(html);
    let selector = Selector::parse("a[href]").expect("valid selector");
    let mut links = std::collections::HashMap::<String, PhotoPageLink>::new();
    for anchor in document.select(&selector) {
        let Some(page) = anchor.value().attr("href").and_then(|h| page_url.join(h).ok()) else { continue };
        let Some(caps) = PHOTO_PAGE.captures(page.path()) else { continue };
        let label = ["aria-label", "title"]
            .iter()
            .filter_map(|a| anchor.value().attr(a))
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_owned)
            .or_else(|| Some(anchor.text().collect::<String>().trim().to_owned()).filter(|t| !t.is_empty()));
        let (title, owner_name) = match label.as_deref().and_then(|l| l.rsplit_once(" by ")) {
            Some((title, owner)) => (Some(title.trim().to_owned()), Some(owner.trim().to_owned())),
            None => (label, None),
        };
        let link = PhotoPageLink { page: without_query(&page), owner: caps["owner"].to_owned(), title, owner_name };
        match links.entry(caps["id"].to_owned()) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(link);
            }
            std::collections::hash_map::Entry::Occupied(mut e) if e.get().title.is_none() && link.title.is_some() => {
                e.insert(link);
            }
            std::collections::hash_map::Entry::Occupied(_) => {}
        }
    }
    links
}

/// The photo id in a Flickr photo URL (`.../<id>_<secret>_b.jpg`).
pub fn photo_id_of(url: &Url) -> Option<String> {
    let file = url.path_segments()?.next_back()?;
    let caps = PHOTO_FILE.captures(file)?;
    caps["stem"].split('_').next().map(str::to_owned)
}

/// Whether `host` is `photo_host` or one of its sub-domains.
pub(crate) fn is_on_photo_host(url: &Url, photo_hosts: &[String]) -> bool {
    let Some(host) = url.host_str() else { return false };
    photo_hosts.iter().any(|p| host == p || host.ends_with(&format!(".{p}")))
}

/// The photo URL at size `size`, or `None` when `url` is not a photo: not http(s)
/// (`data:` and the like), not on a photo host, an avatar (`/buddyicons/`), or not named
/// like a Flickr photo (logos, SVGs, tracking pixels).
pub fn rewrite_size_suffix(url: &Url, size: &str, photo_hosts: &[String]) -> Option<Url> {
    if !matches!(url.scheme(), "http" | "https") || !is_on_photo_host(url, photo_hosts) {
        return None;
    }
    if url.path().contains("/buddyicons/") {
        return None;
    }
    let file = url.path_segments()?.next_back()?;
    let caps = PHOTO_FILE.captures(file)?;
    let current = caps.name("size").map(|m| m.as_str());
    let new_file = match current {
        Some(s) if !SIZE_SUFFIXES.contains(&s) => return Some(without_query(url)),
        _ => format!("{}_{size}.{}", &caps["stem"], &caps["ext"]),
    };
    let mut rewritten = without_query(url);
    rewritten.path_segments_mut().ok()?.pop().push(&new_file);
    Some(rewritten)
}

fn without_query(url: &Url) -> Url {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> Vec<String> {
        vec!["staticflickr.com".into()]
    }

    fn rewrite(url: &str) -> Option<String> {
        rewrite_size_suffix(&Url::parse(url).unwrap(), "b", &hosts()).map(|u| u.to_string())
    }

    #[test]
    fn photo_pages_are_found_by_id_with_title_and_owner() {
        let page = Url::parse("https://www.flickr.com/search/?text=fox").unwrap();
        let html = r#"<div><a href="/photos/ann/123/"></a><a class="overlay" href="/photos/ann/123/" aria-label="Red fox by Ann Lee"></a>
            <a href="/photos/bob/456/in/photolist">x</a><a href="/photos/bob/">Bob</a></div>"#;
        let links = photo_pages_in_page(html, &page);
        assert_eq!(links.len(), 1);
        let fox = &links["123"];
        assert_eq!(fox.page.as_str(), "https://www.flickr.com/photos/ann/123/");
        assert_eq!(
            (fox.owner.as_str(), fox.title.as_deref(), fox.owner_name.as_deref()),
            ("ann", Some("Red fox"), Some("Ann Lee"))
        );
        let photo = Url::parse("https://live.staticflickr.com/65535/123_ab12_b.jpg").unwrap();
        assert_eq!(photo_id_of(&photo).as_deref(), Some("123"));
    }

    #[test]
    fn every_size_suffix_and_none_becomes_the_requested_size() {
        for suffix in ["_s", "_q", "_t", "_m", "_n", "_w", "_z", "_c", "_b", ""] {
            let url = format!("https://live.staticflickr.com/65535/5234_ab12cd{suffix}.jpg");
            assert_eq!(
                rewrite(&url).as_deref(),
                Some("https://live.staticflickr.com/65535/5234_ab12cd_b.jpg"),
                "{url}"
            );
        }
        assert_eq!(
            rewrite_size_suffix(&Url::parse("https://farm1.staticflickr.com/1/2_3f_m.jpg").unwrap(), "z", &hosts())
                .unwrap()
                .as_str(),
            "https://farm1.staticflickr.com/1/2_3f_z.jpg"
        );
    }

    #[test]
    fn junk_is_not_a_photo() {
        for junk in [
            "https://combo.staticflickr.com/pw/images/logo.svg",
            "https://live.staticflickr.com/5/buddyicons/123@N00_r.jpg",
            "https://live.staticflickr.com/5/buddyicons/123_ab.jpg",
            "https://live.staticflickr.com/pixel.gif",
            "https://example.com/65535/5234_ab12cd_m.jpg",
            "https://notstaticflickr.com/65535/5234_ab12cd_m.jpg",
        ] {
            assert_eq!(rewrite(junk), None, "{junk}");
        }
        let data = Url::parse("data:image/gif;base64,R0lGOD").unwrap();
        assert!(rewrite_size_suffix(&data, "b", &hosts()).is_none());
    }

    #[test]
    fn urls_are_found_in_img_attributes_and_styles_and_resolved() {
        let page = Url::parse("https://www.flickr.com/search/?text=cat").unwrap();
        let html = r#"<html><body>
            <img loading="lazy" src="//live.staticflickr.com/1/1_a_m.jpg">
            <img data-src="/2/2_b_n.jpg">
            <img srcset="https://live.staticflickr.com/3/3_c_w.jpg 1x, https://live.staticflickr.com/3/3_c_z.jpg 2x">
            <div class="photo" style="background-image: url(&quot;//live.staticflickr.com/4/4_d.jpg&quot;)"></div>
        </body></html>"#;
        let urls: Vec<String> = image_urls_in_page(html, &page).into_iter().map(|u| u.to_string()).collect();
        assert_eq!(
            urls,
            [
                "https://live.staticflickr.com/1/1_a_m.jpg",
                "https://www.flickr.com/2/2_b_n.jpg",
                "https://live.staticflickr.com/3/3_c_w.jpg",
                "https://live.staticflickr.com/3/3_c_z.jpg",
                "https://live.staticflickr.com/4/4_d.jpg",
            ]
        );
    }
}
