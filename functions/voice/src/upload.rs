//! Reading a file-transcription form: the recording (at most [`MAX_AUDIO_BYTES`]) and its
//! options, every problem a 413 or a 422 naming the field.

use crate::MAX_AUDIO_BYTES;
use axum::extract::Multipart;
use thanotopolis_service::{ApiError, ApiResult};

/// The parts of a file-transcription form.
pub(crate) struct Upload {
    pub(crate) audio: bytes::Bytes,
    pub(crate) filename: Option<String>,
    pub(crate) content_type: String,
    pub(crate) language: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) punctuate: bool,
    pub(crate) diarize: bool,
    pub(crate) smart_format: bool,
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "Audio file exceeds {} MB",
        MAX_AUDIO_BYTES / (1024 * 1024)
    ))
}

pub(crate) async fn read_upload(mut form: Multipart) -> ApiResult<Upload> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::invalid(
                &["body"],
                format!("Invalid multipart form: {}", e.body_text()),
            )
        }
    };
    let mut up = Upload {
        audio: bytes::Bytes::new(),
        filename: None,
        content_type: "application/octet-stream".into(),
        language: None,
        model: None,
        punctuate: true,
        diarize: false,
        smart_format: true,
    };
    let mut has_audio = false;
    let flag = |v: &str| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on"
        )
    };
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "audio_file" {
            up.filename = field.file_name().map(str::to_string);
            if let Some(ct) = field.content_type() {
                up.content_type = ct.to_string();
            }
            up.audio = field.bytes().await.map_err(bad)?;
            if up.audio.len() > MAX_AUDIO_BYTES {
                return Err(too_large());
            }
            has_audio = true;
            continue;
        }
        let value = field.text().await.map_err(bad)?;
        if value.len() > 64 {
            return Err(ApiError::invalid(&["body", &name], "Value too long"));
        }
        match name.as_str() {
            "language" => up.language = Some(value).filter(|v| !v.is_empty()),
            "model" => up.model = Some(value).filter(|v| !v.is_empty()),
            "punctuate" => up.punctuate = flag(&value),
            "diarize" => up.diarize = flag(&value),
            "smart_format" => up.smart_format = flag(&value),
            _ => {}
        }
    }
    if !has_audio || up.audio.is_empty() {
        return Err(ApiError::invalid(&["body", "audio_file"], "Field required"));
    }
    Ok(up)
}
