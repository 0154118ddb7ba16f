//! The decisions stages write and other stages read, as types: why clean rejected a
//! file, why a download failed, and the outcomes summaries count. On disk each is the
//! short code the manifests have always had (`too_small`, `http_404`, `failed: timeout`),
//! so the JSON stays readable; in code it is an enum, and nothing outside this module
//! turns one into text or back.

use std::fmt;
use std::str::FromStr;

use crate::{DownloadStatus, QualityFlag};

/// Serde through `Display` and `FromStr`: the value is its code on disk.
macro_rules! serde_as_code {
    ($kind:ty) => {
        impl serde::Serialize for $kind {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $kind {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let code = String::deserialize(deserializer)?;
                code.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A code no variant has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {code:?}")]
pub struct UnknownCode {
    what: &'static str,
    code: String,
}

/// Why clean did not keep a file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// The file cannot be read.
    Unreadable,
    /// The file is empty.
    Empty,
    /// No decoder accepts it.
    Undecodable,
    /// Bigger than the decoding limit.
    TooLarge,
    /// A side shorter than the minimum.
    TooSmall,
    /// Decoded, but cannot be written as the clean image.
    Unencodable,
    /// A quality flag the user asked to reject.
    Flagged(QualityFlag),
    /// A duplicate of the kept image at this path (relative to the clean folder); the
    /// record's `duplicate` says how they matched.
    DuplicateOf(String),
}

impl RejectReason {
    const DUPLICATE_PREFIX: &str = "duplicate_of:";

    /// The reason as summaries count it: every duplicate alike.
    pub fn kind(&self) -> RejectReason {
        match self {
            RejectReason::DuplicateOf(_) => RejectReason::DuplicateOf(String::new()),
            other => other.clone(),
        }
    }

    /// The kept image a duplicate duplicates.
    pub fn duplicate_of(&self) -> Option<&str> {
        match self {
            RejectReason::DuplicateOf(of) => Some(of),
            _ => None,
        }
    }

    /// The reason in words, for people.
    pub fn describe(&self) -> String {
        match self {
            RejectReason::Unreadable => "unreadable".into(),
            RejectReason::Empty => "empty file".into(),
            RejectReason::Undecodable => "not a decodable image".into(),
            RejectReason::TooLarge => "too large to decode".into(),
            RejectReason::TooSmall => "too small".into(),
            RejectReason::Unencodable => "cannot be written as JPEG or PNG".into(),
            RejectReason::Flagged(flag) => format!("flagged {}", flag.name().replace('_', " ")),
            RejectReason::DuplicateOf(_) => "duplicate".into(),
        }
    }

    /// The short code of the reason (`duplicate` for every duplicate).
    pub fn code(&self) -> &str {
        match self {
            RejectReason::Unreadable => "unreadable",
            RejectReason::Empty => "empty",
            RejectReason::Undecodable => "undecodable",
            RejectReason::TooLarge => "too_large",
            RejectReason::TooSmall => "too_small",
            RejectReason::Unencodable => "unencodable",
            RejectReason::Flagged(flag) => flag.name(),
            RejectReason::DuplicateOf(_) => "duplicate",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::DuplicateOf(of) if !of.is_empty() => write!(f, "{}{of}", Self::DUPLICATE_PREFIX),
            other => f.write_str(other.code()),
        }
    }
}

impl FromStr for RejectReason {
    type Err = UnknownCode;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        if let Some(of) = code.strip_prefix(Self::DUPLICATE_PREFIX) {
            return Ok(RejectReason::DuplicateOf(of.to_owned()));
        }
        Ok(match code {
            "unreadable" => RejectReason::Unreadable,
            "empty" => RejectReason::Empty,
            "undecodable" => RejectReason::Undecodable,
            "too_large" => RejectReason::TooLarge,
            "too_small" => RejectReason::TooSmall,
            "unencodable" => RejectReason::Unencodable,
            "duplicate" => RejectReason::DuplicateOf(String::new()),
            other => RejectReason::Flagged(
                other.parse().map_err(|_| UnknownCode { what: "rejection reason", code: other.to_owned() })?,
            ),
        })
    }
}

serde_as_code!(RejectReason);

/// What clean's summary counts: kept files, and rejected ones by reason (every duplicate
/// alike). On disk: `kept`, `rejected: too_small`, `rejected: duplicate`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CleanOutcome {
    /// Written to the clean folder.
    Kept,
    /// Not kept, for this reason ([`RejectReason::kind`]).
    Rejected(RejectReason),
}

impl CleanOutcome {
    /// The outcome in words, for people.
    pub fn describe(&self) -> String {
        match self {
            CleanOutcome::Kept => "kept".into(),
            CleanOutcome::Rejected(reason) => format!("rejected: {}", reason.describe()),
        }
    }
}

impl fmt::Display for CleanOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CleanOutcome::Kept => f.write_str("kept"),
            CleanOutcome::Rejected(reason) => write!(f, "rejected: {}", reason.code()),
        }
    }
}

impl FromStr for CleanOutcome {
    type Err = UnknownCode;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        match code.strip_prefix("rejected: ") {
            Some(reason) => Ok(CleanOutcome::Rejected(reason.parse()?)),
            None if code == "kept" => Ok(CleanOutcome::Kept),
            None => Err(UnknownCode { what: "clean outcome", code: code.to_owned() }),
        }
    }
}

serde_as_code!(CleanOutcome);

/// Why a URL was not downloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureReason {
    /// The server answered with this HTTP status.
    Http(u16),
    /// No answer in time.
    Timeout,
    /// The connection failed or was reset.
    Connection,
    /// The body ended before its stated length.
    Truncated,
    /// Bigger than the size limit.
    TooLarge,
    /// The body is not an image.
    NotAnImage,
    /// The server asks not to use the image for AI (`X-Robots-Tag: noai`).
    NoAi,
    /// The URL cannot be fetched as given.
    InvalidUrl,
    /// The file cannot be written.
    Write,
    /// The host refused every request for too long; a re-run resumes it.
    Throttled,
    /// The host's robots.txt disallows it for picseek's agent.
    Robots,
    /// The host's robots.txt could not be read: disallowed until a later run can.
    RobotsUnavailable,
    /// Text and data mining is reserved (TDMRep) and the user holds no policy it offers.
    TdmReserved,
}

impl FailureReason {
    /// The reason in words, for people.
    pub fn describe(self) -> String {
        let words = match self {
            FailureReason::Http(status) => {
                let name = match status {
                    400 => " (bad request)",
                    401 => " (login required)",
                    403 => " (forbidden)",
                    404 => " (not found)",
                    410 => " (gone)",
                    429 => " (too many requests)",
                    500..=599 => " (server error)",
                    _ => "",
                };
                return format!("HTTP {status}{name}");
            }
            FailureReason::Timeout => "timed out",
            FailureReason::Connection => "could not connect",
            FailureReason::Truncated => "cut short",
            FailureReason::TooLarge => "too large",
            FailureReason::NotAnImage => "not an image",
            FailureReason::NoAi => "the host opts out of AI use (noai)",
            FailureReason::InvalidUrl => "not an http(s) URL",
            FailureReason::Write => "could not be written to disk",
            FailureReason::Throttled => "the host kept refusing (throttled; a re-run resumes)",
            FailureReason::Robots => "disallowed by the host's robots.txt",
            FailureReason::RobotsUnavailable => "the host's robots.txt could not be read (a re-run asks again)",
            FailureReason::TdmReserved => "text and data mining reserved (TDMRep)",
        };
        words.to_owned()
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureReason::Http(status) => return write!(f, "http_{status}"),
            FailureReason::Timeout => "timeout",
            FailureReason::Connection => "connection",
            FailureReason::Truncated => "truncated",
            FailureReason::TooLarge => "too_large",
            FailureReason::NotAnImage => "not_an_image",
            FailureReason::NoAi => "noai",
            FailureReason::InvalidUrl => "invalid_url",
            FailureReason::Write => "write",
            FailureReason::Throttled => "throttled",
            FailureReason::Robots => "robots",
            FailureReason::RobotsUnavailable => "robots-unavailable",
            FailureReason::TdmReserved => "tdm-reserved",
        })
    }
}

impl FromStr for FailureReason {
    type Err = UnknownCode;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownCode { what: "download failure", code: code.to_owned() };
        if let Some(status) = code.strip_prefix("http_") {
            return status.parse().map(FailureReason::Http).map_err(|_| unknown());
        }
        Ok(match code {
            "timeout" => FailureReason::Timeout,
            "connection" => FailureReason::Connection,
            "truncated" => FailureReason::Truncated,
            "too_large" => FailureReason::TooLarge,
            "not_an_image" => FailureReason::NotAnImage,
            "noai" => FailureReason::NoAi,
            "invalid_url" => FailureReason::InvalidUrl,
            "write" => FailureReason::Write,
            "throttled" => FailureReason::Throttled,
            "robots" => FailureReason::Robots,
            "robots-unavailable" => FailureReason::RobotsUnavailable,
            "tdm-reserved" => FailureReason::TdmReserved,
            _ => return Err(unknown()),
        })
    }
}

serde_as_code!(FailureReason);

/// What download's summary counts: downloaded URLs, and the others by status and reason.
/// On disk: `ok`, `failed: http_404`, `skipped: noai` (`failed: unknown` without a reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DownloadOutcome {
    /// How the download ended.
    pub status: DownloadStatus,
    /// Why, when it did not succeed.
    pub reason: Option<FailureReason>,
}

impl DownloadOutcome {
    /// A downloaded URL.
    pub const OK: DownloadOutcome = DownloadOutcome { status: DownloadStatus::Ok, reason: None };
}

impl DownloadOutcome {
    /// The outcome in words, for people.
    pub fn describe(&self) -> String {
        match (self.status, self.reason) {
            (DownloadStatus::Ok, _) => "downloaded".into(),
            (status, Some(reason)) => format!("{}: {}", status.name(), reason.describe()),
            (status, None) => format!("{}: for a reason not recorded", status.name()),
        }
    }
}

impl fmt::Display for DownloadOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.status, self.reason) {
            (DownloadStatus::Ok, _) => f.write_str("ok"),
            (status, Some(reason)) => write!(f, "{}: {reason}", status.name()),
            (status, None) => write!(f, "{}: unknown", status.name()),
        }
    }
}

impl FromStr for DownloadOutcome {
    type Err = UnknownCode;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownCode { what: "download outcome", code: code.to_owned() };
        if code == "ok" {
            return Ok(DownloadOutcome::OK);
        }
        let (status, reason) = code.split_once(": ").ok_or_else(unknown)?;
        let status = match status {
            "failed" => DownloadStatus::Failed,
            "skipped" => DownloadStatus::Skipped,
            _ => return Err(unknown()),
        };
        let reason = if reason == "unknown" { None } else { Some(reason.parse()?) };
        Ok(DownloadOutcome { status, reason })
    }
}

serde_as_code!(DownloadOutcome);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_as_the_manifests_spell_them() {
        for (reason, code) in [
            (RejectReason::TooSmall, "too_small"),
            (RejectReason::Flagged(QualityFlag::Dark), "dark"),
            (RejectReason::DuplicateOf("Cat/a.jpg".into()), "duplicate_of:Cat/a.jpg"),
        ] {
            assert_eq!(serde_json::to_value(&reason).unwrap(), code);
            assert_eq!(serde_json::from_value::<RejectReason>(code.into()).unwrap(), reason);
        }
        let duplicate = CleanOutcome::Rejected(RejectReason::DuplicateOf("Cat/a.jpg".into()).kind());
        assert_eq!(duplicate.to_string(), "rejected: duplicate");
        assert_eq!("rejected: duplicate".parse::<CleanOutcome>().unwrap(), duplicate);
        for code in [
            "ok",
            "failed: http_404",
            "skipped: noai",
            "failed: unknown",
            "failed: throttled",
            "skipped: robots",
            "skipped: robots-unavailable",
            "skipped: tdm-reserved",
        ] {
            assert_eq!(code.parse::<DownloadOutcome>().unwrap().to_string(), code);
        }
        assert!("failed: gone_fishing".parse::<DownloadOutcome>().is_err());
        assert!(serde_json::from_value::<RejectReason>("nonsense".into()).is_err());
    }
}
