//! The tools agents may call, OpenAI function-calling style. Which agent has which tool is
//! data (`"tools"` in `shared/agents/catalog.json`); a tool whose service is not configured
//! (web search without `TAVILY_API_KEY`) is not offered at all.

pub mod calculate;
pub mod web_search;

use serde_json::{json, Value};
use thanotopolis_agents::AgentRecord;
use thanotopolis_llm::ToolSpec;
pub use web_search::SearchSettings;

/// Most model rounds one reply may take (each round may call tools; the last must answer).
pub const MAX_ROUNDS: usize = 5;

/// Longest tool result given back to the model.
const MAX_RESULT_CHARS: usize = 6_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Calculate,
    WebSearch,
}

impl Tool {
    pub const CALCULATE: &'static str = "calculate";
    pub const WEB_SEARCH: &'static str = "web_search";
    const ALL: [Tool; 2] = [Tool::Calculate, Tool::WebSearch];

    pub fn name(self) -> &'static str {
        match self {
            Tool::Calculate => Self::CALCULATE,
            Tool::WebSearch => Self::WEB_SEARCH,
        }
    }

    fn parse(name: &str) -> Option<Tool> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn spec(self) -> ToolSpec {
        match self {
            Tool::Calculate => ToolSpec {
                name: Self::CALCULATE,
                description: "Exact decimal arithmetic: + - * / ^ %, parentheses, and the functions pmt(rate, periods, present_value), fv(rate, periods, payment, present_value), pv(rate, periods, payment), npv(rate, v1, ...), irr(v0, v1, ...), mean, median, stdev, sum, min, max, sqrt, root, abs, round. Rates are per period (6% a year paid monthly is 0.06/12). Use it for every figure you state.",
                parameters: json!({
                    "type": "object",
                    "properties": { "expression": { "type": "string", "description": "e.g. pmt(0.06/12, 24, 10000)" } },
                    "required": ["expression"],
                    "additionalProperties": false,
                }),
            },
            Tool::WebSearch => ToolSpec {
                name: Self::WEB_SEARCH,
                description: "Searches the public web for current information. Returns the top results with their URLs; cite the URLs you use.",
                parameters: json!({
                    "type": "object",
                    "properties": { "query": { "type": "string", "description": "what to look for" } },
                    "required": ["query"],
                    "additionalProperties": false,
                }),
            },
        }
    }
}

/// Services the tools use.
#[derive(Clone, Debug, Default)]
pub struct ToolSettings {
    /// Tavily web search; `None` when `TAVILY_API_KEY` is not set.
    pub search: Option<SearchSettings>,
}

impl ToolSettings {
    pub fn from_env() -> Self {
        ToolSettings {
            search: SearchSettings::from_env(),
        }
    }

    /// Whether `tool` can run here.
    pub fn available(&self, tool: Tool) -> bool {
        match tool {
            Tool::Calculate => true,
            Tool::WebSearch => self.search.is_some(),
        }
    }
}

/// The tools `agent` has that can run here.
pub fn offered(agent: &AgentRecord, settings: &ToolSettings) -> Vec<Tool> {
    agent
        .tools
        .iter()
        .filter_map(|name| Tool::parse(name))
        .filter(|tool| settings.available(*tool))
        .collect()
}

/// The tools `agent` has that cannot run here (so it must say it cannot use them).
pub fn missing(agent: &AgentRecord, settings: &ToolSettings) -> Vec<Tool> {
    agent
        .tools
        .iter()
        .filter_map(|name| Tool::parse(name))
        .filter(|tool| !settings.available(*tool))
        .collect()
}

/// Runs one call the model asked for; what comes back is for the model, errors included (it
/// may correct itself), never a made-up result.
pub async fn run(settings: &ToolSettings, offered: &[Tool], name: &str, arguments: &str) -> String {
    let Some(tool) = Tool::parse(name).filter(|t| offered.contains(t)) else {
        return format!("error: there is no tool named '{name}'");
    };
    let args: Value = match serde_json::from_str(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => return "error: the arguments must be a JSON object".into(),
    };
    let result = match tool {
        Tool::Calculate => match args["expression"].as_str() {
            Some(e) => match calculate::calculate(e) {
                Ok(v) => v.to_string(),
                Err(why) => format!("error: {why}"),
            },
            None => "error: 'expression' (a string) is required".into(),
        },
        Tool::WebSearch => match (args["query"].as_str(), &settings.search) {
            (Some(q), Some(search)) => match web_search::search(search, q).await {
                Ok(results) => results,
                Err(why) => format!("error: the search failed: {why}"),
            },
            (None, _) => "error: 'query' (a string) is required".into(),
            (_, None) => "error: web search is not configured".into(),
        },
    };
    result.chars().take(MAX_RESULT_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_names_only_tools_that_exist() {
        for agent in thanotopolis_agents::catalog() {
            for tool in &agent.tools {
                assert!(Tool::parse(tool).is_some(), "{}: {tool}", agent.agent_type);
            }
        }
        let has = |t: &str, tool: &str| {
            thanotopolis_agents::catalog()
                .iter()
                .any(|a| a.agent_type == t && a.tools.iter().any(|x| x == tool))
        };
        assert!(has("FINANCIAL_SERVICES", Tool::CALCULATE));
        assert!(has("STOCK_INVESTMENT_ADVISOR", Tool::CALCULATE));
        assert!(has("WEB_SEARCH", Tool::WEB_SEARCH));
    }

    #[tokio::test]
    async fn calls_the_model_may_not_make_are_answered_with_an_error() {
        let settings = ToolSettings::default();
        let offered = [Tool::Calculate];
        assert_eq!(
            run(&settings, &offered, "calculate", r#"{"expression":"2*21"}"#).await,
            "42"
        );
        assert!(run(&settings, &offered, "web_search", r#"{"query":"x"}"#)
            .await
            .starts_with("error: there is no tool"));
        assert!(run(&settings, &offered, "calculate", "not json")
            .await
            .starts_with("error:"));
        assert!(run(&settings, &offered, "calculate", "{}")
            .await
            .contains("'expression'"));
    }
}
