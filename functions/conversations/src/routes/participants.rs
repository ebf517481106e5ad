//! E-mail participants of a conversation.

use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};
use thanotopolis_conversations::{self as conversations, Participant};
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::{ApiError, ApiResult, AppState, Json, Path};
use thanotopolis_tenant_auth::validate::Validator;
use thanotopolis_tenant_auth::Caller;
use uuid::Uuid;

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct AddParticipant {
    email: String,
}

/// `POST …/participants`: invites an e-mail participant (the frontend's add-participant).
#[utoipa::path(post, path = "/api/conversations/{id}/participants", params(("id" = Uuid, Path, description = "Conversation id")), request_body = AddParticipant,
    summary = "Invites an e-mail participant",
    responses((status = 200, body = Object), (status = 404, description = "No such conversation, or the caller is not a member", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn add_participant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<AddParticipant>,
) -> ApiResult<Json<Value>> {
    let mut v = Validator::new();
    let email = v.email("email", &body.email);
    v.finish()?;
    let email = email.expect("validated");
    let mut added = None;
    conversations::modify(state.stores.main.as_ref(), &caller, id, |c| {
        let mut participants = c.participants.clone();
        if let Some(p) = participants
            .iter_mut()
            .find(|p| p.identifier == email.as_str())
        {
            p.is_active = true;
            p.left_at = None;
            added = Some(p.clone());
        } else if participants.len() >= conversations::MAX_PARTICIPANTS {
            return Err(ApiError::bad_request(format!(
                "A conversation has at most {} participants",
                conversations::MAX_PARTICIPANTS
            )));
        } else {
            let p =
                Participant::email(id, email.as_str(), &thanotopolis_tenant_auth::now_rfc3339());
            participants.push(p.clone());
            added = Some(p);
        }
        Ok(vec![("participants".into(), json!(participants))])
    })
    .await?;
    Ok(Json(json!(added.expect("set by the successful change"))))
}
