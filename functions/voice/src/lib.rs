//! Speech-to-text with Deepgram (contract §13).
//!
//! - `POST /api/stt/file`, `POST /api/voice/stt/file`: a recording (multipart `audio_file`,
//!   at most [`MAX_AUDIO_BYTES`], what a Lambda request can carry) sent to Deepgram's
//!   pre-recorded API with the contract's parameters, language map, auto-detect and nova-3 →
//!   nova-2 fallback; usage recorded from Deepgram's reported duration.
//! - `POST /api/stt/token`: live transcription, serverless style. A Lambda cannot hold a socket
//!   to Deepgram between WebSocket frames, so the browser streams to Deepgram itself with a
//!   short-lived token from Deepgram's token-grant API and the live URL returned here.
//! - `GET /api/stt/status`, `/api/voice/stt/status`: `available` is whether a key is configured.
//!
//! Not configured → 503 `Speech-to-text service unavailable`; Deepgram failing → 502 with the
//! reason. Nothing is ever made up.

mod deepgram;
mod upload;

pub use deepgram::{choose_model, map_language, DeepgramSettings};

use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::routing::{get, post};
use axum::{Extension, Router};
use deepgram::Deepgram;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use thanotopolis_service::openapi::{self, ErrorBody};
use thanotopolis_service::{ApiError, ApiResult, AppState, Json};
use thanotopolis_tenant_auth::Caller;
use thanotopolis_usage::{record_usage, stt_cost, UsageEvent, STT_SECONDS, STT_WORDS};
use upload::read_upload;

/// Largest recording accepted: a Lambda request carries at most 6 MB, base64-encoded.
pub const MAX_AUDIO_BYTES: usize = 4 * 1024 * 1024;

/// Lifetime of a live-streaming token.
pub const TOKEN_TTL_SECONDS: u32 = 60;

#[derive(Clone)]
struct Speech(Option<Arc<Deepgram>>);

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(file_auto_detect, file_default_language, status, token))]
    struct Doc;
    openapi::part(
        <Doc as utoipa::OpenApi>::openapi(),
        "voice",
        &[("/api/voice/stt/status", "/api/stt/status")],
    )
}

/// The file-transcription form, for the OpenAPI document.
const UPLOAD_FORM: &str = "multipart/form-data: `audio_file` (the recording, at most 4 MiB), \
    optional `language` (e.g. `en-US`, `fr`), `model`, `punctuate`, `diarize`, `smart_format`";

pub fn router(state: AppState, settings: Option<DeepgramSettings>) -> Router {
    let client = settings.and_then(|s| match Deepgram::new(s) {
        Ok(c) => Some(Arc::new(c)),
        Err(e) => {
            tracing::error!(error = %e, "cannot build the Deepgram client");
            None
        }
    });
    Router::new()
        .route("/api/stt/file", post(file_auto_detect))
        .route("/api/voice/stt/file", post(file_default_language))
        .route("/api/stt/status", get(status))
        .route("/api/voice/stt/status", get(status))
        .route("/api/stt/token", post(token))
        .layer(DefaultBodyLimit::max(MAX_AUDIO_BYTES + 64 * 1024))
        .layer(Extension(Speech(client)))
        .with_state(state)
}

fn unavailable() -> ApiError {
    ApiError::ServiceUnavailable("Speech-to-text service unavailable".into())
}

#[utoipa::path(get, path = "/api/stt/status", security(()), summary = "Whether speech-to-text is configured",
    responses((status = 200, body = Object)))]
async fn status(Extension(speech): Extension<Speech>) -> Json<Value> {
    Json(json!({
        "service": "deepgram",
        "available": speech.0.is_some(),
        "model": speech.0.as_ref().map(|d| d.settings.model.clone()),
        "language": speech.0.as_ref().map(|d| d.settings.language.clone()),
        // Live audio goes from browsers to Deepgram directly; no socket passes through here.
        "active_connections": Value::Null,
        "timestamp": thanotopolis_tenant_auth::now_rfc3339(),
    }))
}

#[utoipa::path(post, path = "/api/stt/file", summary = "Transcribes a recording; without `language`, Deepgram detects it",
    request_body(content = Object, content_type = "multipart/form-data", description = UPLOAD_FORM),
    responses(
        (status = 200, description = "`{success, transcript, paragraphs, metadata}`", body = Object),
        (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 502, description = "Deepgram failed", body = ErrorBody),
        (status = 503, description = "No Deepgram key configured", body = ErrorBody),
    ))]
async fn file_auto_detect(
    State(state): State<AppState>,
    Extension(speech): Extension<Speech>,
    caller: Caller,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<Value>> {
    transcribe(&state, speech, &caller, form, true)
        .await
        .map(Json)
}

#[utoipa::path(post, path = "/api/voice/stt/file", summary = "Transcribes a recording; without `language`, the configured default",
    request_body(content = Object, content_type = "multipart/form-data", description = UPLOAD_FORM),
    responses(
        (status = 200, description = "`{success, transcript, paragraphs, metadata}`", body = Object),
        (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 502, description = "Deepgram failed", body = ErrorBody),
        (status = 503, description = "No Deepgram key configured", body = ErrorBody),
    ))]
async fn file_default_language(
    State(state): State<AppState>,
    Extension(speech): Extension<Speech>,
    caller: Caller,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<Value>> {
    transcribe(&state, speech, &caller, form, false)
        .await
        .map(Json)
}

/// Transcribes an upload. Without a `language`, `/api/stt/file` lets Deepgram detect it and
/// `/api/voice/stt/file` uses the configured default (as the original did).
async fn transcribe(
    state: &AppState,
    speech: Speech,
    caller: &Caller,
    form: Result<Multipart, MultipartRejection>,
    auto_detect: bool,
) -> ApiResult<Value> {
    let deepgram = speech.0.ok_or_else(unavailable)?;
    let form = form.map_err(|e| {
        ApiError::invalid(
            &["body"],
            format!("Expected a multipart/form-data upload: {}", e.body_text()),
        )
    })?;
    let up = read_upload(form).await?;
    let requested = match (&up.language, auto_detect) {
        (Some(l), _) => Some(l.clone()),
        (None, true) => None,
        (None, false) => Some(deepgram.settings.language.clone()),
    };
    let language = map_language(requested.as_deref());
    let model = choose_model(
        up.model.as_deref().unwrap_or(&deepgram.settings.model),
        language.as_deref(),
    );
    let mut params = vec![
        ("model", model.clone()),
        ("punctuate", up.punctuate.to_string()),
        ("diarize", up.diarize.to_string()),
        ("smart_format", up.smart_format.to_string()),
        ("utterances", "true".into()),
        ("paragraphs", "true".into()),
    ];
    match &language {
        Some(l) => params.push(("language", l.clone())),
        None => params.push(("detect_language", "true".into())),
    }
    let answer = deepgram
        .transcribe(up.audio.clone(), &up.content_type, &params)
        .await
        .map_err(|e| ApiError::BadGateway(e.to_string()))?;
    let channel = &answer["results"]["channels"][0];
    let alt = &channel["alternatives"][0];
    let transcript = alt["transcript"].as_str().unwrap_or_default().to_string();
    let words: Vec<Value> = alt["words"]
        .as_array()
        .map(|ws| {
            ws.iter()
                .map(|w| json!({ "word": w["punctuated_word"].as_str().or(w["word"].as_str()), "start": w["start"], "end": w["end"], "confidence": w["confidence"], "speaker": w["speaker"] }))
                .collect()
        })
        .unwrap_or_default();
    let mut speakers: Vec<i64> = words.iter().filter_map(|w| w["speaker"].as_i64()).collect();
    speakers.sort();
    speakers.dedup();
    let paragraphs: Vec<Value> = alt["paragraphs"]["paragraphs"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let text: Vec<&str> = p["sentences"].as_array().map(|ss| ss.iter().filter_map(|s| s["text"].as_str()).collect()).unwrap_or_default();
                    json!({ "text": text.join(" "), "start": p["start"], "end": p["end"], "speaker": p["speaker"] })
                })
                .collect()
        })
        .unwrap_or_default();
    let duration = answer["metadata"]["duration"].as_f64();
    let detected = channel["detected_language"].as_str().map(str::to_string);
    let scope = caller.scope();
    if let Some(seconds) = duration {
        let event = UsageEvent {
            tenant: &scope,
            user_id: Some(caller.user_id()),
            conversation_id: None,
            usage_type: STT_SECONDS,
            amount: Some(seconds),
            provider: "deepgram",
            model: Some(&model),
            cost: stt_cost(&model, seconds),
            details: json!({ "duration_seconds": seconds }),
        };
        record_usage(state.stores.main.as_ref(), event).await?;
    }
    let word_count = transcript.split_whitespace().count();
    if word_count > 0 {
        let event = UsageEvent {
            tenant: &scope,
            user_id: Some(caller.user_id()),
            conversation_id: None,
            usage_type: STT_WORDS,
            amount: Some(word_count as f64),
            provider: "deepgram",
            model: Some(&model),
            // The cost is carried by the seconds record; words are a count, not billed twice.
            cost: None,
            details: json!({ "duration_seconds": duration }),
        };
        record_usage(state.stores.main.as_ref(), event).await?;
    }
    Ok(json!({
        "success": true,
        "transcript": transcript,
        "confidence": alt["confidence"],
        "words": words,
        "speakers": speakers,
        "paragraphs": paragraphs,
        "metadata": {
            "filename": up.filename, "content_type": up.content_type, "file_size": up.audio.len(),
            "language": language.or(detected.clone()).unwrap_or_else(|| "auto".into()),
            "detected_language": detected, "model": model, "duration": duration,
        },
    }))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
struct TokenRequest {
    language: Option<String>,
    model: Option<String>,
}

/// The tags a grant's live URL carries: one signed tag naming the organization and the user
/// (keyed by the Deepgram API key, which the browser never sees), under which Deepgram files
/// the stream's usage for the live-usage import to find.
fn live_tags(deepgram: &Deepgram, caller: &Caller) -> Vec<String> {
    let secret = deepgram.settings.api_key.as_bytes();
    vec![thanotopolis_tenant_auth::usage_tags::tag(
        secret,
        &caller.scope(),
        caller.user_id(),
    )]
}

/// `POST /api/stt/token`: a short-lived Deepgram token and the live URL for the chosen
/// language. The browser opens `new WebSocket(url, ["bearer", access_token])` and sends
/// 16 kHz mono linear16 audio; transcripts come back from Deepgram directly.
#[utoipa::path(post, path = "/api/stt/token", summary = "A short-lived Deepgram token and live-streaming URL", request_body(content = Option<TokenRequest>, description = "Optional; empty asks for the defaults"),
    responses(
        (status = 200, description = "`{access_token, expires_in, url, protocols, language, model}`", body = Object),
        (status = 502, body = ErrorBody),
        (status = 503, body = ErrorBody),
    ))]
async fn token(
    Extension(speech): Extension<Speech>,
    caller: Caller,
    body: bytes::Bytes,
) -> ApiResult<Json<Value>> {
    let deepgram = speech.0.ok_or_else(unavailable)?;
    // The body is optional: an empty one asks for the configured defaults.
    let req: TokenRequest = if body.iter().all(u8::is_ascii_whitespace) {
        TokenRequest::default()
    } else {
        thanotopolis_service::from_json(&body, "body")?
    };
    let language = map_language(req.language.as_deref());
    let model = choose_model(
        req.model.as_deref().unwrap_or(&deepgram.settings.model),
        language.as_deref(),
    );
    let grant = deepgram
        .grant(TOKEN_TTL_SECONDS)
        .await
        .map_err(|e| ApiError::BadGateway(e.to_string()))?;
    let access_token = grant["access_token"]
        .as_str()
        .ok_or_else(|| ApiError::BadGateway("Deepgram returned no access token".into()))?;
    Ok(Json(json!({
        "access_token": access_token,
        "expires_in": grant["expires_in"],
        "url": deepgram.live_url(language.as_deref(), &model, &live_tags(&deepgram, &caller)),
        "protocols": ["bearer", access_token],
        "language": language.unwrap_or_else(|| "auto".into()),
        "model": model,
    })))
}
