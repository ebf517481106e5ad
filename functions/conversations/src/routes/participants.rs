//! Inviting to a conversation by e-mail (`thanotopolis_conversations::invitations`).

use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};
use thanotopolis_conversations::invitations::{self, Invited};
use thanotopolis_conversations::presence;
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::{ApiResult, AppState, Json, Path};
use thanotopolis_tenant_auth::validate::Validator;
use thanotopolis_tenant_auth::Caller;
use uuid::Uuid;

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct AddParticipant {
    email: String,
}

/// `POST …/participants`: the frontend's "Invite Participant". An address of an active user of
/// the caller's organization makes that user a member (`"added_as": "member"`, with their
/// `user_id`); any other address becomes a pending e-mail participant (`"added_as": "pending"`).
#[utoipa::path(post, path = "/api/conversations/{id}/participants", params(("id" = Uuid, Path, description = "Conversation id")), request_body = AddParticipant,
    summary = "Invites by e-mail: a colleague becomes a member, any other address a pending participant",
    responses((status = 200, description = "The participant, with `added_as` (`member` or `pending`)", body = Object), (status = 403, description = "The caller is not an active member", body = ErrorBody), (status = 404, description = "No such conversation", body = ErrorBody), (status = 422, body = ErrorBody)))]
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
    let answer = match invitations::invite(state.stores.main.as_ref(), &caller, id, &email).await? {
        Invited::Member(user) => json!({
            "conversation_id": id, "participant_type": "user", "identifier": user.email,
            "display_name": thanotopolis_conversations::sender_name(&user), "is_active": true,
            "user_id": user.id, "added_as": "member",
        }),
        Invited::Pending(participant) => {
            let mut p = json!(participant);
            p["added_as"] = json!("pending");
            p
        }
    };
    Ok(Json(answer))
}

/// `DELETE …/participants/{user_id}`: a member leaves (their own id), or the conversation's
/// creator or an org_admin removes one; that member's sockets to the conversation are closed
/// and it leaves their list.
#[utoipa::path(delete, path = "/api/conversations/{id}/participants/{user_id}",
    params(("id" = Uuid, Path, description = "Conversation id"), ("user_id" = Uuid, Path, description = "The member's user id")),
    summary = "Removes a member (or the caller leaves)",
    responses((status = 200, body = Object), (status = 403, description = "Not a member, or removing someone else without being the creator or an org_admin", body = ErrorBody), (status = 404, description = "No such conversation, or no such member", body = ErrorBody)))]
pub(crate) async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Json<Value>> {
    invitations::remove_member(state.stores.main.as_ref(), &caller, id, user_id).await?;
    let closed = presence::end_member_sockets(&state, id, user_id).await?;
    Ok(Json(json!({
        "message": "Member removed", "user_id": user_id, "closed_sockets": closed,
    })))
}
