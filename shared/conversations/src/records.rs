use serde::{Deserialize, Serialize};
use serde_json::Value;
use thanotopolis_store::Key;
use thanotopolis_tenant_auth::records::{Record, UserResponse};
use thanotopolis_tenant_auth::{keys, TenantScope, UserRecord};
use uuid::Uuid;

/// An agent attached to a conversation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct AttachedAgent {
    /// The attachment's id (what `DELETE …/agents/{id}` takes).
    pub id: Uuid,
    pub agent_type: String,
    pub is_active: bool,
    pub added_at: String,
    #[schema(value_type = Option<Object>)]
    pub configuration: Option<Value>,
}

/// A non-user participant (an invited e-mail address).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Participant {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub participant_type: String,
    pub identifier: String,
    pub display_name: Option<String>,
    pub is_active: bool,
    pub joined_at: String,
    pub left_at: Option<String>,
}

impl Participant {
    /// A new, active e-mail participant (shown by the part before the `@`).
    pub fn email(conversation_id: Uuid, email: &str, at: &str) -> Participant {
        Participant {
            id: Uuid::new_v4(),
            conversation_id,
            participant_type: "email".into(),
            identifier: email.into(),
            display_name: email.split('@').next().map(str::to_string),
            is_active: true,
            joined_at: at.into(),
            left_at: None,
        }
    }
}

/// A conversation's `META` item.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ConversationRecord {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: String,
    pub created_by_user_id: Option<Uuid>,
    pub created_at: String,
    pub updated_at: Option<String>,
    /// Bumped by every change to the conversation itself (not by messages).
    pub version: u64,
    pub message_count: i64,
    pub last_message: Option<Value>,
    pub last_message_at: Option<String>,
    /// Active members' user ids: the access list.
    pub members: Vec<Uuid>,
    pub agents: Vec<AttachedAgent>,
    pub participants: Vec<Participant>,
    /// Agent types that have replied in this conversation.
    #[serde(default)]
    pub agents_used: Vec<String>,
    /// The agents' memory of the messages older than the ones they read verbatim.
    #[serde(default)]
    pub summary: Option<RollingSummary>,
}

/// A rolling summary of a conversation's older messages, refreshed as it grows.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RollingSummary {
    pub text: String,
    /// The newest message it covers.
    pub through: Uuid,
    /// How many messages it covers.
    pub messages: u64,
    pub updated_at: String,
}

impl Record for ConversationRecord {
    fn key(&self, scope: &TenantScope) -> Key {
        keys::conversation(scope, self.id)
    }
}

/// Messages are keyed by their UUIDv7 in the conversation's partition: key order is time order.
impl Record for MessageRecord {
    fn key(&self, scope: &TenantScope) -> Key {
        keys::message(scope, self.conversation_id, self.id)
    }
}

impl ConversationRecord {
    /// ConversationResponse: `users` are the active members' records, `recent_messages` the
    /// newest messages, oldest first.
    pub fn response(&self, users: &[UserRecord], recent_messages: &[MessageRecord]) -> Value {
        serde_json::to_value(ConversationResponse {
            id: self.id,
            tenant_id: self.tenant_id,
            title: self.title.clone(),
            description: self.description.clone(),
            status: self.status.clone(),
            created_by_user_id: self.created_by_user_id,
            owner_id: self.created_by_user_id,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            users: users
                .iter()
                .filter(|u| self.members.contains(&u.id))
                .map(UserRecord::view)
                .collect(),
            agents: self.agents.clone(),
            participants: self
                .participants
                .iter()
                .filter(|p| p.is_active)
                .cloned()
                .collect(),
            recent_messages: recent_messages.to_vec(),
        })
        .expect("ConversationResponse serializes to JSON")
    }

    /// ConversationListItem.
    pub fn list_item(&self) -> Value {
        serde_json::to_value(ConversationSummary {
            id: self.id,
            title: self.display_title(),
            description: self.description.clone(),
            status: self.status.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            last_message: self.last_message.clone(),
            participant_count: self.members.len(),
            message_count: self.message_count,
        })
        .expect("ConversationSummary serializes to JSON")
    }

    pub fn display_title(&self) -> String {
        match &self.title {
            Some(t) if !t.is_empty() => t.clone(),
            _ if self.message_count == 0 => "New Conversation".into(),
            _ => format!("Conversation with {} messages", self.message_count),
        }
    }
}

/// A message as stored and returned (MessageResponse).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[schema(as = Message)]
pub struct MessageRecord {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub message_type: String,
    pub content: String,
    pub user_id: Option<Uuid>,
    pub agent_type: Option<String>,
    pub participant_id: Option<Uuid>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    pub created_at: String,
    pub updated_at: Option<String>,
    pub sender_name: Option<String>,
    pub sender_type: String,
}

impl MessageRecord {
    pub fn response(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The message's metadata with its `sender_type`, as exports carry it for every message
    /// (stored metadata that is not an object is kept under `value`).
    pub fn export_metadata(&self) -> Value {
        let mut meta = match &self.metadata {
            Some(Value::Object(m)) => m.clone(),
            None | Some(Value::Null) => serde_json::Map::new(),
            Some(other) => serde_json::Map::from_iter([("value".to_string(), other.clone())]),
        };
        meta.insert("sender_type".into(), self.sender_type.clone().into());
        Value::Object(meta)
    }
}

/// A member's row in the conversation's partition: that member's entry in its conversations
/// index (`gsi1`, in order of joining; the list orders by activity when it reads them).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MemberRow {
    pub conversation_id: Uuid,
    pub user_id: Uuid,
    pub joined_at: String,
}

impl Record for MemberRow {
    fn key(&self, scope: &TenantScope) -> Key {
        keys::conversation_member(scope, self.conversation_id, self.user_id)
    }

    fn gsi1(&self, scope: &TenantScope) -> Option<(String, String)> {
        Some((
            keys::index::member_conversations(scope, self.user_id),
            keys::index::joined(&self.joined_at, self.conversation_id),
        ))
    }
}

/// A conversation with its members, agents, participants and newest messages (contract §8
/// ConversationResponse).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Conversation)]
pub struct ConversationResponse {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: String,
    pub created_by_user_id: Option<Uuid>,
    /// The same as `created_by_user_id` (the frontend reads both).
    pub owner_id: Option<Uuid>,
    pub created_at: String,
    pub updated_at: Option<String>,
    /// The active members.
    pub users: Vec<UserResponse>,
    pub agents: Vec<AttachedAgent>,
    /// The active e-mail participants.
    pub participants: Vec<Participant>,
    /// The newest messages, oldest first.
    pub recent_messages: Vec<MessageRecord>,
}

/// A conversation in a list (contract §8 ConversationListItem).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ConversationSummary)]
pub struct ConversationSummary {
    pub id: Uuid,
    /// The title, or a stand-in naming the message count.
    pub title: String,
    pub description: Option<String>,
    pub status: String,
    pub created_at: String,
    pub updated_at: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub last_message: Option<Value>,
    pub participant_count: usize,
    pub message_count: i64,
}

/// The statuses a conversation can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConversationStatus {
    Active,
    Archived,
    Closed,
}

impl ConversationStatus {
    pub const ALL: [ConversationStatus; 3] = [Self::Active, Self::Archived, Self::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Archived => "archived",
            Self::Closed => "closed",
        }
    }
}
