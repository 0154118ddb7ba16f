//! The W3C TDM Reservation Protocol: an origin's `/.well-known/tdmrep.json` (rules by
//! path pattern) and a response's `tdm-reservation` / `tdm-policy` headers.

use reqwest::header::HeaderMap;
use robotstxt_with_cache::matcher::{LongestMatchRobotsMatchStrategy, RobotsMatchStrategy};
use serde::{Deserialize, Serialize};

/// One rule of `tdmrep.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TdmRule {
    /// The paths it covers: a robots.txt-style pattern (`*` any run, `$` the end).
    pub location: String,
    /// `1`: mining reserved; `0`: not.
    #[serde(rename = "tdm-reservation")]
    pub reservation: u8,
    /// The policy under which the rights holder licenses mining.
    #[serde(rename = "tdm-policy", default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

/// A reservation: who declared it, and the policy offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The file and rule, or the header.
    pub declared_by: String,
    /// `tdm-policy`.
    pub policy: Option<String>,
}

/// The rules of a `tdmrep.json` body; a body that is not a list of rules is none (and
/// said so in the log).
pub fn parse_rules(body: &str, source: &str) -> Vec<TdmRule> {
    serde_json::from_str(body).unwrap_or_else(|e| {
        tracing::warn!("{source}: not a TDMRep rule list ({e}); no reservation read from it");
        Vec::new()
    })
}

/// The reservation `rules` (from `file`) make for the path of `url`: the first rule, in
/// file order, whose location matches decides.
pub fn reservation_for(rules: &[TdmRule], file: &str, url: &url::Url) -> Option<Reservation> {
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let rule = rules.iter().find(|r| LongestMatchRobotsMatchStrategy::matches(&path, &r.location))?;
    (rule.reservation == 1).then(|| Reservation {
        declared_by: format!("{file} (location {:?})", rule.location),
        policy: rule.policy.clone(),
    })
}

/// The reservation a response's headers make.
pub fn reservation_in_headers(headers: &HeaderMap) -> Option<Reservation> {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    (value("tdm-reservation")? == "1").then(|| Reservation {
        declared_by: "the response's tdm-reservation header".into(),
        policy: value("tdm-policy").map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_rule_decides() {
        let rules = parse_rules(
            r#"[{"location": "/open/*", "tdm-reservation": 0},
                {"location": "/*.jpg$", "tdm-reservation": 1, "tdm-policy": "https://h.example/policy.json"},
                {"location": "/", "tdm-reservation": 0}]"#,
            "t",
        );
        let at = |path: &str| reservation_for(&rules, "f", &url::Url::parse(&format!("http://h{path}")).unwrap());
        assert_eq!(at("/open/a.jpg"), None);
        let reserved = at("/photos/a.jpg").unwrap();
        assert_eq!(reserved.policy.as_deref(), Some("https://h.example/policy.json"));
        assert!(reserved.declared_by.contains("/*.jpg$"), "{reserved:?}");
        assert_eq!(at("/photos/a.png"), None);
        assert!(parse_rules("{\"not\": \"a list\"}", "t").is_empty());
    }

    #[test]
    fn headers_reserve_with_their_policy() {
        let mut headers = HeaderMap::new();
        assert_eq!(reservation_in_headers(&headers), None);
        headers.insert("tdm-reservation", "1".parse().unwrap());
        headers.insert("tdm-policy", "https://h.example/p".parse().unwrap());
        assert_eq!(reservation_in_headers(&headers).unwrap().policy.as_deref(), Some("https://h.example/p"));
        headers.insert("tdm-reservation", "0".parse().unwrap());
        assert_eq!(reservation_in_headers(&headers), None);
    }
}
