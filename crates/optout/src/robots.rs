//! robots.txt (RFC 9309), matched with Google's reference rules (the
//! `robotstxt-with-cache` port), which also name the line that decided.

use std::time::Duration;

use robotstxt_with_cache::matcher::{LongestMatchRobotsMatchStrategy, RobotsMatcher};
use robotstxt_with_cache::{RobotsParseHandler, parse_robotstxt};
use serde::{Deserialize, Serialize};

/// A host's robots.txt, as it was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum RobotsFile {
    /// 2xx: its rules (RFC 9309 asks parsers to read at least 500 KiB; picseek keeps that much).
    Rules {
        /// The file's text.
        body: String,
    },
    /// 4xx: no rules, everything is allowed.
    None {
        /// The status.
        http_status: u16,
    },
    /// 5xx or no answer: everything is disallowed until a later run can read it.
    Unavailable {
        /// What happened.
        reason: String,
    },
}

/// The most of a robots.txt file read.
pub const MAX_ROBOTS_BYTES: usize = 500 * 1024;

impl RobotsFile {
    /// Whether `url` is allowed for `agent`; when not, the line that disallowed it
    /// (number and text). A file with no rules allows everything; an unavailable one
    /// allows nothing (its `Err` has line 0).
    pub fn disallowing_line(&self, agent: &str, url: &str) -> Option<(u32, String)> {
        let body = match self {
            RobotsFile::Rules { body } => body,
            RobotsFile::None { .. } => return None,
            RobotsFile::Unavailable { .. } => return Some((0, String::new())),
        };
        // RFC 9309 2.2.2: the robots.txt file itself is always allowed.
        if url::Url::parse(url).is_ok_and(|u| u.path() == "/robots.txt") {
            return None;
        }
        let mut matcher = RobotsMatcher::<LongestMatchRobotsMatchStrategy>::default();
        if matcher.one_agent_allowed_by_robots(body, agent, url) {
            return None;
        }
        let line = matcher.matching_line();
        let text = body.lines().nth(line.saturating_sub(1) as usize).unwrap_or_default();
        // The rule without its comment.
        let rule = text.split('#').next().unwrap_or_default().trim().to_owned();
        Some((line, rule))
    }

    /// The `Crawl-delay` of the group that applies to `agent` (its own group, else `*`'s).
    pub fn crawl_delay(&self, agent: &str) -> Option<Duration> {
        let RobotsFile::Rules { body } = self else { return None };
        let mut groups = CrawlDelays { agent: agent.to_ascii_lowercase(), ..CrawlDelays::default() };
        parse_robotstxt(body, &mut groups);
        let seconds = if groups.seen_own_group { groups.own } else { groups.any };
        seconds.filter(|s| s.is_finite() && *s > 0.0).map(|s| Duration::from_secs_f64(s.min(3600.0)))
    }
}

/// Collects `Crawl-delay` per group: the lines of user agents that open a group, then
/// its rules, as RFC 9309 groups them.
#[derive(Default)]
struct CrawlDelays {
    agent: String,
    /// The agents of the group being read.
    group: Vec<String>,
    /// Whether the last line was a user agent (another one joins the same group).
    reading_agents: bool,
    seen_own_group: bool,
    own: Option<f64>,
    any: Option<f64>,
}

impl CrawlDelays {
    fn rule(&mut self) {
        self.reading_agents = false;
    }
}

impl RobotsParseHandler for CrawlDelays {
    fn handle_robots_start(&mut self) {}

    fn handle_robots_end(&mut self) {}

    fn handle_user_agent(&mut self, _line: u32, user_agent: &str) {
        if !self.reading_agents {
            self.group.clear();
        }
        self.reading_agents = true;
        // The product token: up to the first character that cannot be in one.
        let token: String = user_agent
            .chars()
            .take_while(|c| c.is_ascii_alphabetic() || *c == '-' || *c == '_' || *c == '*')
            .collect::<String>()
            .to_ascii_lowercase();
        if token == self.agent {
            self.seen_own_group = true;
        }
        self.group.push(token);
    }

    fn handle_allow(&mut self, _line: u32, _value: &str) {
        self.rule();
    }

    fn handle_disallow(&mut self, _line: u32, _value: &str) {
        self.rule();
    }

    fn handle_sitemap(&mut self, _line: u32, _value: &str) {}

    fn handle_unknown_action(&mut self, _line: u32, action: &str, value: &str) {
        self.rule();
        if !action.eq_ignore_ascii_case("crawl-delay") {
            return;
        }
        let Ok(seconds) = value.trim().parse::<f64>() else { return };
        for agent in &self.group {
            if *agent == self.agent {
                self.own = Some(self.own.map_or(seconds, |s: f64| s.max(seconds)));
            } else if agent == "*" {
                self.any = Some(self.any.map_or(seconds, |s: f64| s.max(seconds)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(body: &str) -> RobotsFile {
        RobotsFile::Rules { body: body.to_owned() }
    }

    #[test]
    fn paths_wildcards_and_ends_decide_with_the_line_that_matched() {
        let file = rules(
            "User-agent: *\nDisallow: /private/ # staff only\nAllow: /private/open\nDisallow: /*.png$\n\n\
             User-agent: otherbot\nDisallow: /\n",
        );
        let at = |path: &str| file.disallowing_line("picseek", &format!("http://h.example{path}"));
        assert_eq!(at("/private/x.jpg"), Some((2, "Disallow: /private/".into())));
        assert_eq!(at("/private/open/x.jpg"), None, "the longer Allow wins");
        assert_eq!(at("/a/b.png"), Some((4, "Disallow: /*.png$".into())));
        assert_eq!(at("/a/b.png?x=1"), None, "$ anchors the end");
        assert_eq!(at("/robots.txt"), None);
        assert!(file.disallowing_line("otherbot", "http://h.example/anything").is_some());
    }

    #[test]
    fn an_agent_s_own_group_replaces_the_star_one_and_its_crawl_delay_too() {
        let file = rules(
            "User-agent: *\nCrawl-delay: 5\nDisallow: /\n\nUser-agent: picseek\nUser-agent: friend\nCrawl-delay: 1.5\nAllow: /\n",
        );
        assert_eq!(file.disallowing_line("picseek", "http://h.example/x.jpg"), None);
        assert!(file.disallowing_line("stranger", "http://h.example/x.jpg").is_some());
        assert_eq!(file.crawl_delay("picseek"), Some(Duration::from_millis(1500)));
        assert_eq!(file.crawl_delay("PicSeek"), Some(Duration::from_millis(1500)));
        assert_eq!(file.crawl_delay("stranger"), Some(Duration::from_secs(5)));
        assert_eq!(rules("User-agent: picseek\nDisallow:\n").crawl_delay("picseek"), None);
    }

    #[test]
    fn no_rules_allow_everything_and_an_unreadable_file_nothing() {
        assert_eq!(RobotsFile::None { http_status: 404 }.disallowing_line("picseek", "http://h/x"), None);
        let unavailable = RobotsFile::Unavailable { reason: "HTTP 500".into() };
        assert_eq!(unavailable.disallowing_line("picseek", "http://h/x"), Some((0, String::new())));
    }
}
