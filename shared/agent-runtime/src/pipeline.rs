//! The agent pipeline: after a user's message is stored and echoed, pick the agent that
//! answers and stream its reply to every socket of the conversation.
//!
//! - Candidates: the agents attached to the conversation that are available to the sender
//!   (all agents available to the sender when none are attached).
//! - An explicit mention (`mention` field, or content starting with `@AGENT_TYPE`) picks that
//!   agent without asking the moderator. Otherwise the MODERATOR chooses with a
//!   language-model call that answers JSON `{"agent_type", "reason"}`. Fallback when its answer
//!   names no candidate: the first candidate other than MODERATOR, else MODERATOR itself.
//! - Context: the conversation's last [`CONTEXT_MESSAGES`] messages (one query). User text is
//!   only ever sent as user content, capped at [`MAX_USER_TEXT`] characters; it never goes
//!   into a system prompt.
//! - The reply streams as `token` frames, then the final `message` frame; it is stored once
//!   and its token counts (the provider's) are recorded as usage, as is the moderator's call.
//! - No provider configured, or the provider failing: an `error` frame that says so. Never an
//!   invented reply.

use crate::{fanout, frames, EventEndpoint, RealtimeState, ReplyError};
use serde_json::json;
use thanotopolis_agents::{AgentRecord, MODERATOR};
use thanotopolis_conversations::presence::Connection;
use thanotopolis_conversations::{
    self as conversations, ConversationRecord, MessageInput, MessageRecord,
};
use thanotopolis_llm::{ChatMessage, Completion, LlmClient};
use thanotopolis_tenant_auth::Caller;
use thanotopolis_usage::{record_usage, UsageEvent, TOKENS};
use uuid::Uuid;

/// Messages of history given to the model.
pub const CONTEXT_MESSAGES: u32 = 20;
/// Longest user text sent to the model, per message.
pub const MAX_USER_TEXT: usize = 8_000;

/// Runs the pipeline for `message`; failures are reported to the conversation as `error`
/// frames and logged here.
pub async fn respond(
    state: &RealtimeState,
    endpoint: &EventEndpoint,
    caller: &Caller,
    conversation: &ConversationRecord,
    message: &MessageRecord,
    mention: Option<String>,
) {
    if let Err(e) = run(state, endpoint, caller, conversation, message, mention).await {
        tracing::warn!(conversation_id = %conversation.id, error = %e, "agent pipeline failed");
        let frame = frames::error(&e.frame_text());
        let _ = fanout::broadcast(state, endpoint, conversation.id, None, |_| frame.clone()).await;
    }
}

async fn run(
    state: &RealtimeState,
    endpoint: &EventEndpoint,
    caller: &Caller,
    conversation: &ConversationRecord,
    message: &MessageRecord,
    mention: Option<String>,
) -> Result<(), ReplyError> {
    let llm = state.llm.as_ref().ok_or(ReplyError::NoProvider)?;
    let store = state.app.stores.main.as_ref();
    let candidates = candidates(state, caller, conversation).await?;
    if candidates.is_empty() {
        return Err(ReplyError::NoAgent);
    }
    let agent = match explicit_mention(mention.as_deref(), &message.content) {
        Some(wanted) => candidates
            .iter()
            .find(|a| a.agent_type.eq_ignore_ascii_case(&wanted))
            .cloned()
            .ok_or(ReplyError::AgentNotAvailable(wanted))?,
        None => moderate(state, llm, caller, conversation, message, &candidates).await?,
    };

    let history =
        conversations::recent_messages(store, &caller.scope(), conversation.id, CONTEXT_MESSAGES)
            .await?;
    let mut prompt = vec![ChatMessage::system(agent.system_prompt.clone())];
    for m in &history {
        let text: String = m.content.chars().take(MAX_USER_TEXT).collect();
        prompt.push(match &m.agent_type {
            Some(_) => ChatMessage::assistant(text),
            None => ChatMessage::user(format!(
                "{}: {text}",
                m.sender_name.as_deref().unwrap_or("User")
            )),
        });
    }

    // Token frames go to the sockets open now (of active users): read once, then a post per
    // token per socket.
    let recipients = fanout::recipients(state, conversation.id).await?;
    let reply_id = Uuid::now_v7();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let forward = async {
        while let Some(token) = rx.recv().await {
            let frame = frames::token(&token, &agent.agent_type, reply_id);
            send_all(state, endpoint, &recipients, &frame).await;
        }
    };
    let generate = async {
        let result = llm.stream(&prompt, &tx).await;
        drop(tx);
        result
    };
    let (completion, ()) = tokio::join!(generate, forward);
    let completion = completion.map_err(|e| ReplyError::Provider(e.to_string()))?;
    if completion.content.trim().is_empty() {
        return Err(ReplyError::EmptyReply);
    }

    let reply = conversations::post_message(
        store,
        &caller.scope(),
        conversation,
        MessageInput {
            id: Some(reply_id),
            content: completion.content.clone(),
            message_type: None,
            metadata: Some(json!({ "agent_type": agent.agent_type, "message_type": "agent", "sender_type": "agent" })),
            author: None,
            agent_type: Some(agent.agent_type.clone()),
        },
    )
    .await?;
    let frame = frames::message(&reply, None, false, false);
    fanout::broadcast(state, endpoint, conversation.id, None, |_| frame.clone()).await?;
    meter(
        state,
        caller,
        conversation.id,
        &completion,
        &agent.agent_type,
    )
    .await;
    Ok(())
}

async fn send_all(
    state: &RealtimeState,
    endpoint: &EventEndpoint,
    recipients: &[Connection],
    frame: &serde_json::Value,
) {
    let sends = recipients
        .iter()
        .map(|r| fanout::send(state, endpoint, &r.connection_id, frame));
    futures::future::join_all(sends).await;
}

/// Agents attached to the conversation and available to the sender; all available agents
/// when none are attached.
async fn candidates(
    state: &RealtimeState,
    caller: &Caller,
    conversation: &ConversationRecord,
) -> Result<Vec<AgentRecord>, ReplyError> {
    let available = thanotopolis_agents::available(state.app.stores.main.as_ref(), caller).await?;
    let attached: Vec<&str> = conversation
        .agents
        .iter()
        .filter(|a| a.is_active)
        .map(|a| a.agent_type.as_str())
        .collect();
    Ok(if attached.is_empty() {
        available
    } else {
        available
            .into_iter()
            .filter(|a| attached.contains(&a.agent_type.as_str()))
            .collect()
    })
}

/// `mention`, or the agent type of content that starts with `@AGENT_TYPE`.
fn explicit_mention(mention: Option<&str>, content: &str) -> Option<String> {
    if let Some(m) = mention.map(str::trim).filter(|m| !m.is_empty()) {
        return Some(m.to_uppercase());
    }
    let rest = content.trim_start().strip_prefix('@')?;
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()).then(|| word.to_uppercase())
}

/// Asks the MODERATOR which candidate answers (one JSON call), with the documented fallback.
async fn moderate(
    state: &RealtimeState,
    llm: &LlmClient,
    caller: &Caller,
    conversation: &ConversationRecord,
    message: &MessageRecord,
    candidates: &[AgentRecord],
) -> Result<AgentRecord, ReplyError> {
    let others: Vec<&AgentRecord> = candidates
        .iter()
        .filter(|a| a.agent_type != MODERATOR)
        .collect();
    let fallback = || {
        others
            .first()
            .map(|a| (*a).clone())
            .or_else(|| {
                candidates
                    .iter()
                    .find(|a| a.agent_type == MODERATOR)
                    .cloned()
            })
            .unwrap_or_else(|| candidates[0].clone())
    };
    if others.len() <= 1 {
        return Ok(fallback());
    }
    let moderator = thanotopolis_agents::catalog()
        .iter()
        .find(|a| a.agent_type == MODERATOR)
        .expect("the catalog has a MODERATOR (a unit test checks)");
    let roster: Vec<String> = candidates
        .iter()
        .map(|a| {
            format!(
                "- {}: {}",
                a.agent_type,
                a.description.as_deref().unwrap_or(&a.name)
            )
        })
        .collect();
    let system = format!(
        "{}\n\nAssistants you may choose from:\n{}\n\nAnswer with a JSON object: {{\"agent_type\": \"<one of the types above>\", \"reason\": \"<one sentence>\"}}.",
        moderator.system_prompt,
        roster.join("\n")
    );
    let text: String = message.content.chars().take(MAX_USER_TEXT).collect();
    let (choice, completion) = llm
        .complete_json(&[ChatMessage::system(system), ChatMessage::user(text)])
        .await
        .map_err(|e| ReplyError::Provider(e.to_string()))?;
    meter(state, caller, conversation.id, &completion, MODERATOR).await;
    let wanted = choice["agent_type"].as_str().unwrap_or_default();
    Ok(candidates
        .iter()
        .find(|a| a.agent_type.eq_ignore_ascii_case(wanted))
        .cloned()
        .unwrap_or_else(fallback))
}

/// Records a completion's token usage; a failure is logged, not shown (the reply stands).
async fn meter(
    state: &RealtimeState,
    caller: &Caller,
    conversation_id: Uuid,
    c: &Completion,
    agent_type: &str,
) {
    let event = UsageEvent {
        tenant: &caller.scope(),
        user_id: Some(caller.user_id()),
        conversation_id: Some(conversation_id),
        usage_type: TOKENS,
        amount: (c.prompt_tokens + c.completion_tokens) as f64,
        provider: "openai-compatible",
        model: Some(&c.model),
        cost: thanotopolis_usage::token_cost(&c.model, c.prompt_tokens, c.completion_tokens),
        details: json!({
            "prompt_tokens": c.prompt_tokens,
            "completion_tokens": c.completion_tokens,
            "agent_type": agent_type,
        }),
    };
    if let Err(e) = record_usage(state.app.stores.main.as_ref(), event).await {
        tracing::error!(%conversation_id, error = %e, "cannot record token usage");
    }
}
