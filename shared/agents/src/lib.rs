//! Agents: the built-in catalog (`catalog.json`, one data file), agents organizations create,
//! and which of them serve a given caller. Availability is computed per request from the
//! caller's own organization (decision D7): enabled, active free agents plus the proprietary
//! agents of the caller's organization.

mod error;

pub use error::{AgentError, AgentResult};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::OnceLock;
use thanotopolis_store::{from_item, readable};
use thanotopolis_store::{Condition, Key, Query, Store, StoreError, StoreResult, Write};
use thanotopolis_tenant_auth::creation::Imported;
use thanotopolis_tenant_auth::records::Record;
use thanotopolis_tenant_auth::{keys, Caller, TenantScope};
use uuid::Uuid;

/// The agent that routes messages to the others.
pub const MODERATOR: &str = "MODERATOR";

/// The agent for current public information: a routing candidate only where search works.
pub const WEB_SEARCH: &str = "WEB_SEARCH";

/// An agent as stored and as returned (AgentResponse, contract §7.2, plus its system prompt,
/// which is never returned).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AgentRecord {
    pub id: Uuid,
    pub agent_type: String,
    pub name: String,
    pub description: Option<String>,
    pub is_free_agent: bool,
    pub owner_tenant_id: Option<Uuid>,
    /// Owner organization's subdomain, for built-in proprietary agents.
    pub owner_domain: Option<String>,
    pub is_enabled: bool,
    pub configuration_template: Value,
    pub capabilities: Vec<String>,
    pub is_active: bool,
    pub created_at: String,
    pub updated_at: Option<String>,
    pub system_prompt: String,
    /// Tools it may call (`calculate`, `web_search`); for built-in agents always the
    /// catalog's, whatever a stored copy says.
    #[serde(default)]
    pub tools: Vec<String>,
}

impl AgentRecord {
    /// AgentResponse: everything but the system prompt.
    pub fn response(&self) -> Value {
        serde_json::to_value(AgentResponse {
            id: self.id,
            agent_type: self.agent_type.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            is_free_agent: self.is_free_agent,
            owner_tenant_id: self.owner_tenant_id,
            owner_domain: self.owner_domain.clone(),
            is_enabled: self.is_enabled,
            configuration_template: self.configuration_template.clone(),
            capabilities: self.capabilities.clone(),
            is_active: self.is_active,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        })
        .expect("AgentResponse serializes to JSON")
    }

    /// Whether the caller's organization owns this proprietary agent.
    pub fn owned_by(&self, caller: &Caller) -> bool {
        !self.is_free_agent
            && (self.owner_tenant_id == Some(caller.scope().tenant_id())
                || self.owner_domain.as_deref() == Some(caller.tenant().subdomain.as_str()))
    }

    /// Whether the agent may serve the caller right now.
    pub fn serves(&self, caller: &Caller) -> bool {
        self.is_enabled && self.is_active && (self.is_free_agent || self.owned_by(caller))
    }

    /// Whether the caller may see the agent at all (inactive ones included).
    pub fn visible_to(&self, caller: &Caller) -> bool {
        self.is_free_agent
            || self.owned_by(caller)
            || thanotopolis_tenant_auth::policy::sees_all_tenants(caller)
    }

    pub fn is_built_in(&self) -> bool {
        catalog().iter().any(|a| a.id == self.id)
    }

    fn in_owner_partition(&self) -> bool {
        self.owner_tenant_id.is_some() && !self.is_built_in()
    }

    /// The scope to store this agent under for `caller` ([`Record`]): its owner's for an
    /// API-made proprietary agent (`None` when the caller has no right to that tenant), the
    /// caller's own otherwise (free and built-in agents live in the global partition, whatever
    /// the scope).
    pub fn home(&self, caller: &Caller) -> Option<TenantScope> {
        match self.owner_tenant_id {
            Some(owner) if self.in_owner_partition() => caller.scope_for(owner),
            _ => Some(caller.scope()),
        }
    }
}

/// API-made proprietary agents live in their tenant's partition; free and built-in agents
/// (their stored changes) in the global agents partition. All are in the agent-id index.
impl Record for AgentRecord {
    fn key(&self, scope: &TenantScope) -> Key {
        if self.in_owner_partition() {
            keys::tenant_agent(scope, &self.agent_type)
        } else {
            keys::global_agent(&self.agent_type)
        }
    }

    fn gsi2(&self, _: &TenantScope) -> Option<(String, String)> {
        Some((keys::index::agent_id(self.id), "AGENT".into()))
    }
}

/// Stores a new agent under `home` (its owner's scope for a proprietary agent; any scope for a
/// free one, which lives in the global partition). Types are unique per organization: a
/// proprietary agent's own item (keyed by its type in the tenant's partition) is its claim, so
/// another organization's private types are neither revealed nor blocked. Free agents are
/// everyone's: their types are claimed globally, and no organization may take one.
/// A creation's audit entry (in the creator's organization) is one of its writes; an import
/// has none.
pub async fn create(
    store: &dyn Store,
    home: &TenantScope,
    agent: &AgentRecord,
    audit: Option<(&TenantScope, &thanotopolis_tenant_auth::audit::Entry)>,
) -> AgentResult<()> {
    if catalog().iter().any(|a| a.agent_type == agent.agent_type) {
        return Err(AgentError::TypeTaken);
    }
    let free_claim = keys::agent_type_claim(&agent.agent_type);
    let claim = if agent.is_free_agent {
        let mut claim = thanotopolis_store::schema::MAIN_TABLE.key_item(&free_claim);
        claim.insert("agent_id".into(), json!(agent.id));
        Write::Put {
            item: claim,
            condition: Some(Condition::NotExists),
        }
    } else {
        Write::Check {
            key: free_claim,
            condition: Condition::NotExists,
        }
    };
    let mut writes = vec![
        claim,
        Write::Put {
            item: agent.item(home),
            condition: Some(Condition::NotExists),
        },
    ];
    writes.extend(audit.map(|(scope, entry)| entry.write(scope)));
    match store.transact(writes).await {
        Ok(()) => Ok(()),
        Err(StoreError::TransactionCanceled { .. }) => Err(AgentError::TypeTaken),
        Err(e) => Err(e.into()),
    }
}

/// Imports an agent of the old backend (id, type, flags and times kept) under `home`: a free
/// agent, or one of `home`'s organization. Its system prompt is the one the API gives an
/// agent created without one (the old backend kept prompts in code). An agent of a built-in
/// type is served by the built-in agent here. With `dry_run`, only reads.
pub async fn import(
    store: &dyn Store,
    home: &TenantScope,
    agent: &AgentRecord,
    dry_run: bool,
) -> StoreResult<Imported> {
    if !valid_agent_type(&agent.agent_type) {
        return Ok(Imported::Refused(format!(
            "agent type {:?}: use 2-64 upper-case letters, digits and '_'",
            agent.agent_type
        )));
    }
    if catalog().iter().any(|a| a.agent_type == agent.agent_type) {
        return Ok(Imported::Refused(format!(
            "{} is a built-in agent here",
            agent.agent_type
        )));
    }
    if store.get(&agent.key(home)).await?.is_some() {
        return Ok(Imported::AlreadyThere);
    }
    if dry_run {
        return Ok(Imported::Created);
    }
    match create(store, home, agent, None).await {
        Ok(()) => Ok(Imported::Created),
        Err(AgentError::TypeTaken) => Ok(Imported::Refused(format!(
            "agent type {} is taken",
            agent.agent_type
        ))),
        Err(AgentError::Store(e)) => Err(e),
        Err(AgentError::NotFound) => Err(StoreError::Unavailable("agent vanished".into())),
    }
}

/// Upper-case code: a letter, then letters, digits or `_`, at most 64 (it is part of keys).
pub fn valid_agent_type(t: &str) -> bool {
    (2..=64).contains(&t.len())
        && t.starts_with(|c: char| c.is_ascii_uppercase())
        && t.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The prompt of an agent created without one: its name and description.
pub fn default_prompt(name: &str, description: Option<&str>) -> String {
    format!(
        "You are {name}. {} Answer the user's question helpfully and concisely.",
        description.unwrap_or_default()
    )
}

#[derive(Deserialize)]
struct CatalogFile {
    added_at: String,
    agents: Vec<CatalogEntry>,
}

#[derive(Deserialize)]
struct CatalogEntry {
    agent_type: String,
    name: String,
    description: String,
    capabilities: Vec<String>,
    owner_subdomain: Option<String>,
    system_prompt: String,
    #[serde(default)]
    tools: Vec<String>,
}

/// Built-in agent ids are derived from their type, so they are stable across deployments.
fn catalog_id(agent_type: &str) -> Uuid {
    const NAMESPACE: Uuid = Uuid::from_u128(0x5f1c_8a2e_7d3b_4c9a_9e61_0b7d_2f4a_8c35);
    Uuid::new_v5(&NAMESPACE, agent_type.as_bytes())
}

/// The built-in agents, from `catalog.json` (checked by a test, parsed once).
pub fn catalog() -> &'static [AgentRecord] {
    static CATALOG: OnceLock<Vec<AgentRecord>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let file: CatalogFile = serde_json::from_str(include_str!("../catalog.json"))
            .expect("catalog.json is valid (a unit test parses it)");
        file.agents
            .into_iter()
            .map(|e| AgentRecord {
                id: catalog_id(&e.agent_type),
                is_free_agent: e.owner_subdomain.is_none(),
                owner_domain: e.owner_subdomain,
                agent_type: e.agent_type,
                name: e.name,
                description: Some(e.description),
                owner_tenant_id: None,
                is_enabled: true,
                configuration_template: json!({}),
                capabilities: e.capabilities,
                is_active: true,
                created_at: file.added_at.clone(),
                updated_at: None,
                system_prompt: e.system_prompt,
                tools: e.tools,
            })
            .collect()
    })
}

async fn query_all(store: &dyn Store, query: Query) -> StoreResult<Vec<AgentRecord>> {
    Ok(readable(
        thanotopolis_store::query_all(store, &query).await?,
    ))
}

/// Every agent the caller may see: built-in agents (with their stored changes), free agents
/// made through the API, and the caller's organization's own agents. Two queries.
pub async fn visible(store: &dyn Store, caller: &Caller) -> StoreResult<Vec<AgentRecord>> {
    let global = Query::new(keys::GLOBAL_AGENTS).begins_with(keys::AGENT_PREFIX);
    let own = Query::new(keys::tenant_partition(&caller.scope())).begins_with(keys::AGENT_PREFIX);
    let (stored_global, stored_own) = tokio::join!(query_all(store, global), query_all(store, own));
    let stored_global = stored_global?;
    let mut agents: Vec<AgentRecord> = catalog()
        .iter()
        .map(|built_in| {
            stored_global
                .iter()
                .find(|s| s.id == built_in.id)
                .map(|stored| AgentRecord {
                    tools: built_in.tools.clone(),
                    ..stored.clone()
                })
                .unwrap_or_else(|| built_in.clone())
        })
        .collect();
    agents.extend(stored_global.into_iter().filter(|s| !s.is_built_in()));
    agents.extend(stored_own?);
    agents.retain(|a| a.visible_to(caller));
    agents.sort_by(|a, b| a.agent_type.cmp(&b.agent_type));
    Ok(agents)
}

/// The agents that serve the caller now (enabled, active, free or its organization's own).
pub async fn available(store: &dyn Store, caller: &Caller) -> StoreResult<Vec<AgentRecord>> {
    let mut agents = visible(store, caller).await?;
    agents.retain(|a| a.serves(caller));
    Ok(agents)
}

/// The agent with this id, if the caller may see it (anything else is 404, as if absent).
pub async fn find(store: &dyn Store, caller: &Caller, id: Uuid) -> AgentResult<AgentRecord> {
    let page = store.query(&keys::lookup::agent_by_id(id).limit(1)).await?;
    let agent = match page.items.into_iter().next() {
        Some(item) => from_item::<AgentRecord>(item)?,
        None => catalog()
            .iter()
            .find(|a| a.id == id)
            .cloned()
            .ok_or(AgentError::NotFound)?,
    };
    if agent.visible_to(caller) {
        Ok(agent)
    } else {
        Err(AgentError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_parses_and_names_the_required_agents() {
        let types: Vec<&str> = catalog().iter().map(|a| a.agent_type.as_str()).collect();
        for required in [
            "MODERATOR",
            "GRIEF_SUPPORT",
            "COMPLIANCE",
            "EMERGENCY",
            "FINANCIAL_SERVICES",
            "INVENTORY",
            "REGULATORY",
            "RELIGIOUS",
            "SENSITIVE_CHAT",
            "WEB_SEARCH",
            "STOCK_INVESTMENT_ADVISOR",
        ] {
            assert!(types.contains(&required), "{required} missing");
        }
        let advisor = catalog()
            .iter()
            .find(|a| a.agent_type == "STOCK_INVESTMENT_ADVISOR")
            .unwrap();
        assert!(!advisor.is_free_agent);
        assert_eq!(advisor.owner_domain.as_deref(), Some("demo"));
        for agent in catalog() {
            assert!(
                agent.system_prompt.chars().count() >= 1_500,
                "{}: instructions in depth",
                agent.agent_type
            );
        }
        let mut ids: Vec<Uuid> = catalog().iter().map(|a| a.id).collect();
        ids.dedup();
        assert_eq!(ids.len(), catalog().len());
    }
}

/// An agent as the API shows it (contract §7 AgentResponse).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Agent)]
pub struct AgentResponse {
    pub id: Uuid,
    /// The code conversations attach it by, e.g. `MODERATOR`.
    pub agent_type: String,
    pub name: String,
    pub description: Option<String>,
    /// Serves every organization.
    pub is_free_agent: bool,
    /// The owning organization of a proprietary agent.
    pub owner_tenant_id: Option<Uuid>,
    pub owner_domain: Option<String>,
    pub is_enabled: bool,
    #[schema(value_type = Object)]
    pub configuration_template: Value,
    pub capabilities: Vec<String>,
    pub is_active: bool,
    pub created_at: String,
    pub updated_at: Option<String>,
}
