//! The `web_search` tool, through Tavily's search API (`POST {TAVILY_BASE_URL}/search`).

use serde_json::{json, Value};
use std::time::Duration;

/// Tavily's public API.
pub const DEFAULT_BASE_URL: &str = "https://api.tavily.com";
/// Results returned to the model.
const MAX_RESULTS: usize = 5;
/// Characters of each result's content given to the model.
const MAX_CONTENT_CHARS: usize = 700;
/// Longest query sent.
const MAX_QUERY_CHARS: usize = 400;

#[derive(Clone)]
pub struct SearchSettings {
    pub base_url: String,
    pub api_key: String,
}

impl std::fmt::Debug for SearchSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchSettings")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .finish()
    }
}

impl SearchSettings {
    /// `None` when `TAVILY_API_KEY` is not set.
    pub fn from_env() -> Option<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Some(SearchSettings {
            api_key: var("TAVILY_API_KEY")?,
            base_url: var("TAVILY_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.into()),
        })
    }
}

fn client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        thanotopolis_service::aws::install_crypto_provider();
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .build()
            .expect("an HTTP client with timeouts builds")
    })
}

/// The top results for `query`, numbered, each with its title, URL and an excerpt.
pub async fn search(settings: &SearchSettings, query: &str) -> Result<String, String> {
    let query: String = query.chars().take(MAX_QUERY_CHARS).collect();
    let url = format!("{}/search", settings.base_url.trim_end_matches('/'));
    let res = client()
        .post(url)
        .bearer_auth(&settings.api_key)
        .json(&json!({ "query": query, "max_results": MAX_RESULTS, "search_depth": "basic" }))
        .send()
        .await
        .map_err(|e| format!("Tavily could not be reached: {e}"))?;
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let detail = body["detail"]["error"]
            .as_str()
            .or(body["error"].as_str())
            .unwrap_or("no detail");
        return Err(format!("Tavily answered {}: {detail}", status.as_u16()));
    }
    let results = body["results"].as_array().cloned().unwrap_or_default();
    if results.is_empty() {
        return Ok(format!("No results for \"{query}\"."));
    }
    let mut out = format!("Results for \"{query}\":\n");
    for (i, r) in results.iter().take(MAX_RESULTS).enumerate() {
        let content: String = r["content"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .take(MAX_CONTENT_CHARS)
            .collect();
        out.push_str(&format!(
            "{}. {} — {}\n{}\n",
            i + 1,
            r["title"].as_str().unwrap_or("(untitled)"),
            r["url"].as_str().unwrap_or("(no URL)"),
            content.trim()
        ));
    }
    Ok(out)
}
