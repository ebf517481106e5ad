//! Which agent answers a message, and which colleagues it consults.
//!
//! 1. An explicit choice: the frame's `mention`, or content starting with `@AGENT_TYPE`. A
//!    `@word` that is no agent type (`@john, can you…`) is ordinary text.
//! 2. Otherwise, with more than one specialist to choose from, the MODERATOR: one JSON call
//!    (`{"primary_agent", "supporting_agents", "reason"}`), bounded by a timeout.
//! 3. If the moderator fails (timeout, provider error, not JSON, no candidate named):
//!    [`fallback`], a keyword match of the message against the candidates' types and
//!    capabilities, else the first specialist. A moderator failure never ends the reply.

use thanotopolis_agents::{AgentRecord, MODERATOR};
use thanotopolis_llm::{ChatMessage, LlmClient, LlmError, Usage};

/// Most supporting agents the moderator may pick.
pub const MAX_SUPPORTING: usize = 2;

/// The routing instructions (the MODERATOR's catalog prompt is how it *answers*).
const ROUTING_PROMPT: &str = include_str!("moderator_routing.md");

/// How a route was chosen (logged, and kept in the reply's metadata).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoutedBy {
    /// Named by the user.
    Mention,
    /// Only one agent could answer.
    Only,
    Moderator,
    /// The moderator failed; the keyword fallback chose.
    Fallback,
}

impl RoutedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            RoutedBy::Mention => "mention",
            RoutedBy::Only => "only_candidate",
            RoutedBy::Moderator => "moderator",
            RoutedBy::Fallback => "fallback",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Route {
    pub primary: AgentRecord,
    pub supporting: Vec<AgentRecord>,
    pub reason: String,
    pub by: RoutedBy,
}

/// What the user explicitly asked for: `Some(type)` if the `mention` field is set, or if the
/// content starts with `@word` where `word` is the type of an agent in `known` (any agent
/// the caller can see, attached or not).
pub fn explicit_choice(
    mention: Option<&str>,
    content: &str,
    known: &[AgentRecord],
) -> Option<String> {
    if let Some(m) = mention.map(str::trim).filter(|m| !m.is_empty()) {
        return Some(m.to_uppercase());
    }
    let rest = content.trim_start().strip_prefix('@')?;
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let word = word.to_uppercase();
    known.iter().any(|a| a.agent_type == word).then_some(word)
}

/// The specialists among the candidates (the MODERATOR answers only when nobody else can).
fn specialists(candidates: &[AgentRecord]) -> Vec<&AgentRecord> {
    candidates
        .iter()
        .filter(|a| a.agent_type != MODERATOR)
        .collect()
}

/// The route without the moderator: the specialist whose type or capabilities the message
/// names most, else the first specialist, else the MODERATOR.
pub fn fallback(candidates: &[AgentRecord], text: &str) -> AgentRecord {
    // Words too common to say anything about a specialty.
    const COMMON: &[&str] = &[
        "need", "needs", "help", "with", "what", "which", "this", "that", "have", "your", "from",
        "about", "please", "would", "could", "should", "there", "their", "they", "when", "where",
        "will", "want", "know", "tell", "does",
    ];
    let significant = |w: &str| w.chars().count() > 3 && !COMMON.contains(&w);
    let words: Vec<String> = text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| significant(w))
        .map(str::to_string)
        .collect();
    let score = |a: &AgentRecord| -> usize {
        let mut terms: Vec<String> = a
            .agent_type
            .to_lowercase()
            .split('_')
            .map(str::to_string)
            .collect();
        for cap in &a.capabilities {
            terms.extend(cap.to_lowercase().split('_').map(str::to_string));
        }
        terms.retain(|t| significant(t));
        words
            .iter()
            .filter(|w| {
                terms
                    .iter()
                    .any(|t| w.starts_with(t.as_str()) || t.starts_with(w.as_str()))
            })
            .count()
    };
    let specialists = specialists(candidates);
    // The best score wins; on a tie, the first in the roster.
    let mut best: Option<(usize, &AgentRecord)> = None;
    for a in &specialists {
        let s = score(a);
        if s > 0 && best.is_none_or(|(top, _)| s > top) {
            best = Some((s, a));
        }
    }
    let best = best
        .map(|(_, a)| a)
        .or_else(|| specialists.first().copied());
    best.or_else(|| candidates.iter().find(|a| a.agent_type == MODERATOR))
        .unwrap_or(&candidates[0])
        .clone()
}

/// Routes `text` among `candidates` (not empty). Returns the route and, when the moderator was
/// asked, what its call cost (metered even when its answer was unusable).
pub async fn route(
    llm: &LlmClient,
    candidates: &[AgentRecord],
    text: &str,
    timeout: std::time::Duration,
) -> (Route, Option<Usage>) {
    let specialists = specialists(candidates);
    if specialists.len() <= 1 {
        let only = fallback(candidates, text);
        return (
            Route {
                primary: only,
                supporting: Vec::new(),
                reason: "the only agent available".into(),
                by: RoutedBy::Only,
            },
            None,
        );
    }
    let roster: Vec<String> = candidates
        .iter()
        .map(|a| {
            let caps = if a.capabilities.is_empty() {
                String::new()
            } else {
                format!(" [{}]", a.capabilities.join(", "))
            };
            format!(
                "- {}: {}{caps}",
                a.agent_type,
                a.description.as_deref().unwrap_or(&a.name)
            )
        })
        .collect();
    let system = format!(
        "{ROUTING_PROMPT}\n\nAgents you may choose from:\n{}",
        roster.join("\n")
    );
    let asked = tokio::time::timeout(
        timeout,
        llm.complete_json(&[ChatMessage::system(system), ChatMessage::user(text)]),
    )
    .await;
    let fell_back = |why: &str| {
        tracing::warn!(reason = why, "moderator failed; routing by keywords");
        Route {
            primary: fallback(candidates, text),
            supporting: Vec::new(),
            reason: format!("fallback: {why}"),
            by: RoutedBy::Fallback,
        }
    };
    let (choice, usage) = match asked {
        Err(_) => return (fell_back("timeout"), None),
        Ok(Err(LlmError::NotJson(usage))) => return (fell_back("answer not JSON"), Some(usage)),
        Ok(Err(e)) => return (fell_back(&e.to_string()), None),
        Ok(Ok((choice, completion))) => (choice, completion.usage),
    };
    let find = |v: &serde_json::Value| -> Option<AgentRecord> {
        let wanted = v.as_str()?.trim();
        candidates
            .iter()
            .find(|a| a.agent_type.eq_ignore_ascii_case(wanted))
            .cloned()
    };
    let Some(primary) = find(&choice["primary_agent"]).or_else(|| find(&choice["agent_type"]))
    else {
        return (fell_back("no candidate named"), Some(usage));
    };
    let mut supporting: Vec<AgentRecord> = Vec::new();
    for v in choice["supporting_agents"].as_array().into_iter().flatten() {
        if let Some(a) = find(v) {
            let fresh = a.agent_type != primary.agent_type
                && a.agent_type != MODERATOR
                && !supporting.iter().any(|s| s.agent_type == a.agent_type);
            if fresh && supporting.len() < MAX_SUPPORTING {
                supporting.push(a);
            }
        }
    }
    let reason: String = choice["reason"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect();
    (
        Route {
            primary,
            supporting,
            reason,
            by: RoutedBy::Moderator,
        },
        Some(usage),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(types: &[&str]) -> Vec<AgentRecord> {
        thanotopolis_agents::catalog()
            .iter()
            .filter(|a| types.contains(&a.agent_type.as_str()))
            .cloned()
            .collect()
    }

    #[test]
    fn an_at_word_that_is_no_agent_is_ordinary_text() {
        let known = catalog(&["GRIEF_SUPPORT", "COMPLIANCE"]);
        assert_eq!(
            explicit_choice(None, "@grief_support my father died", &known).as_deref(),
            Some("GRIEF_SUPPORT")
        );
        assert_eq!(explicit_choice(None, "@john, can you help?", &known), None);
        assert_eq!(explicit_choice(None, "email me @ noon", &known), None);
        assert_eq!(
            explicit_choice(Some("compliance"), "hello", &known).as_deref(),
            Some("COMPLIANCE")
        );
    }

    #[test]
    fn the_fallback_matches_types_and_capabilities_then_takes_the_first_specialist() {
        let candidates = catalog(&["MODERATOR", "GRIEF_SUPPORT", "FINANCIAL_SERVICES"]);
        assert_eq!(
            fallback(
                &candidates,
                "What payment plans and financing do you offer?"
            )
            .agent_type,
            "FINANCIAL_SERVICES"
        );
        assert_eq!(
            fallback(&candidates, "I am struggling with grief").agent_type,
            "GRIEF_SUPPORT"
        );
        let first = specialists(&candidates)[0].agent_type.clone();
        assert_eq!(fallback(&candidates, "hello there").agent_type, first);
        let only_moderator = catalog(&["MODERATOR"]);
        assert_eq!(fallback(&only_moderator, "hi").agent_type, "MODERATOR");
    }
}
