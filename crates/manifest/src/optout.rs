//! The web's opt-outs, as download and crawl record them: which one kept a URL from
//! being fetched (robots.txt, TDMRep, `noai`), with the rule or declaration, and what
//! each host declared (`raw/opt-outs.json`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::FailureReason;

/// An opt-out that applies to one URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum OptOut {
    /// robots.txt (RFC 9309) disallows it for picseek's user agent.
    Robots {
        /// The robots.txt file.
        robots_txt: String,
        /// The rule that matched, as written (`Disallow: /private/`).
        rule: String,
        /// Its line in the file.
        line: u32,
    },
    /// The host's robots.txt could not be read (5xx, or no answer): RFC 9309 says to
    /// treat the host as disallowed for now; a later run asks again.
    RobotsUnavailable {
        /// The robots.txt file.
        robots_txt: String,
        /// What happened.
        reason: String,
    },
    /// Text and data mining is reserved (W3C TDMRep).
    TdmReserved {
        /// Where the reservation was declared: the `tdmrep.json` file (with its rule's
        /// location) or the response's `tdm-reservation` header.
        declared_by: String,
        /// The licensing policy the rights holder offers, if any (`tdm-policy`).
        policy: Option<String>,
    },
    /// `X-Robots-Tag` (or a page's `<meta name="robots">`) says `noai` or `noimageai`.
    #[serde(rename = "noai")]
    NoAi {
        /// The directive.
        directive: String,
        /// Where it was said: the header, or the page.
        declared_by: String,
    },
}

impl OptOut {
    /// The reason a record skipped for it carries.
    pub fn reason(&self) -> FailureReason {
        match self {
            OptOut::Robots { .. } => FailureReason::Robots,
            OptOut::RobotsUnavailable { .. } => FailureReason::RobotsUnavailable,
            OptOut::TdmReserved { .. } => FailureReason::TdmReserved,
            OptOut::NoAi { .. } => FailureReason::NoAi,
        }
    }

    /// The opt-out in words, for people and error messages.
    pub fn describe(&self) -> String {
        match self {
            OptOut::Robots { robots_txt, rule, line } => format!("{robots_txt} line {line}: {rule}"),
            OptOut::RobotsUnavailable { robots_txt, reason } => {
                format!("{robots_txt} could not be read ({reason}): the host counts as disallowed until it can")
            }
            OptOut::TdmReserved { declared_by, policy: Some(policy) } => {
                format!("text and data mining reserved by {declared_by} (policy {policy})")
            }
            OptOut::TdmReserved { declared_by, policy: None } => {
                format!("text and data mining reserved by {declared_by}")
            }
            OptOut::NoAi { directive, declared_by } => {
                format!("the host opts out of AI use ({directive} in {declared_by})")
            }
        }
    }
}

/// An opt-out a record met: honoured (the URL was skipped), or overridden by the flag
/// named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOutNote {
    /// The opt-out.
    #[serde(flatten)]
    pub opt_out: OptOut,
    /// The flag that had the URL fetched anyway (`--ignore-robots`, `--tdm-policy URL`,
    /// `--ignore-noai`); `None`: honoured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overridden_by: Option<String>,
}

/// How a run treated opt-outs, and what each host declared: `raw/opt-outs.json` (and
/// `crawl.json`'s counterpart for search pages).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OptOutSummary {
    /// The user agent matched against robots.txt groups (and sent, as the product of
    /// the `User-Agent` header).
    pub agent: String,
    /// `--ignore-robots`: robots.txt was read and recorded but not obeyed.
    pub ignore_robots: bool,
    /// `--ignore-noai`: `noai` and `noimageai` were recorded but not obeyed.
    pub ignore_noai: bool,
    /// `--tdm-policy`: the TDM policies the user holds; a reservation offering one of
    /// them was fetched.
    pub tdm_policies: Vec<String>,
    /// Per host (`scheme://host[:port]`), in order.
    pub hosts: Vec<HostOptOuts>,
}

impl OptOutSummary {
    /// The flags that overrode opt-outs, as given (`--ignore-robots`, `--tdm-policy URL`);
    /// empty: every opt-out was obeyed.
    pub fn overrides(&self) -> Vec<String> {
        let flags = [
            self.ignore_robots.then(|| "--ignore-robots".to_owned()),
            self.ignore_noai.then(|| "--ignore-noai".to_owned()),
        ];
        flags.into_iter().flatten().chain(self.tdm_policies.iter().map(|p| format!("--tdm-policy {p}"))).collect()
    }
}

/// What one host declared and what it cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostOptOuts {
    /// `scheme://host[:port]`.
    pub origin: String,
    /// Its robots.txt.
    pub robots_txt: RobotsTxtState,
    /// Its `Crawl-delay` for picseek's agent, a floor on its pace, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crawl_delay_seconds: Option<f64>,
    /// Whether it has a `/.well-known/tdmrep.json`.
    pub tdmrep_json: bool,
    /// When its files were fetched (seconds since the epoch).
    pub fetched_at: u64,
    /// URLs skipped, by reason code (`robots`, `robots-unavailable`, `tdm-reserved`, `noai`).
    pub skipped: BTreeMap<String, usize>,
    /// URLs fetched although an opt-out applied, because a flag said so.
    pub overridden: usize,
}

/// What a host's robots.txt said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RobotsTxtState {
    /// It has rules (which may allow everything).
    Rules,
    /// It has none (4xx): everything is allowed.
    #[default]
    None,
    /// It could not be read (5xx or no answer): everything is disallowed until it can be.
    Unavailable,
}
