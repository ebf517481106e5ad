//! Deepgram's HTTP API: pre-recorded transcription (`POST /v1/listen`) and temporary tokens
//! for live streaming (`POST /v1/auth/grant`), with the parameters of contract §13.3.

use serde_json::Value;
use std::time::Duration;

/// `DEEPGRAM_API_KEY` (the name Deepgram's SDKs use), `DEEPGRAM_BASE_URL` (default Deepgram's
/// public API), `DEEPGRAM_MODEL` (default nova-2), `DEEPGRAM_LANGUAGE` (default en-US).
#[derive(Clone)]
pub struct DeepgramSettings {
    pub api_key: String,
    pub base_url: String,
    pub model: String,
    pub language: String,
}

impl std::fmt::Debug for DeepgramSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeepgramSettings")
            .field("api_key", &"<redacted>")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("language", &self.language)
            .finish()
    }
}

pub const DEFAULT_BASE_URL: &str = "https://api.deepgram.com";

impl DeepgramSettings {
    /// `None` when `DEEPGRAM_API_KEY` is not set: speech-to-text is unavailable.
    pub fn from_env() -> Option<Self> {
        let var = |n: &str| thanotopolis_service::config::env(n);
        Some(DeepgramSettings {
            api_key: var("DEEPGRAM_API_KEY")?,
            base_url: var("DEEPGRAM_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.into()),
            model: var("DEEPGRAM_MODEL").unwrap_or_else(|| "nova-2".into()),
            language: var("DEEPGRAM_LANGUAGE").unwrap_or_else(|| "en-US".into()),
        })
    }
}

/// The frontend's locale codes that Deepgram names differently (§13.3); others pass unchanged.
const LANGUAGE_MAP: &[(&str, &str)] = &[
    ("fr-FR", "fr"),
    ("es-ES", "es"),
    ("es-MX", "es"),
    ("de-DE", "de"),
    ("it-IT", "it"),
    ("pt-PT", "pt"),
    ("nl-NL", "nl"),
    ("ja-JP", "ja"),
    ("ko-KR", "ko"),
    ("ru-RU", "ru"),
    ("ar-SA", "ar"),
    ("hi-IN", "hi"),
    ("sv-SE", "sv"),
    ("da-DK", "da"),
    ("fi-FI", "fi"),
    ("no-NO", "no"),
    ("pl-PL", "pl"),
    ("uk-UA", "uk"),
    ("tr-TR", "tr"),
    ("id-ID", "id"),
    ("th-TH", "th"),
    ("ms-MY", "ms"),
    ("vi-VN", "vi"),
    ("he-IL", "he"),
    ("el-GR", "el"),
    ("cs-CZ", "cs"),
    ("sk-SK", "sk"),
    ("hu-HU", "hu"),
    ("ro-RO", "ro"),
];

/// Languages nova-3 serves; for any other, nova-3 falls back to nova-2.
const NOVA_3_LANGUAGES: &[&str] = &[
    "en", "en-US", "en-GB", "en-AU", "en-CA", "en-IN", "en-NZ", "en-ZA", "es", "es-ES",
];

/// Deepgram's language for a requested code; `None` means auto-detect.
pub fn map_language(requested: Option<&str>) -> Option<String> {
    match requested.map(str::trim) {
        None | Some("") | Some("auto") | Some("auto-detect") | Some("null") => None,
        Some(code) => Some(
            LANGUAGE_MAP
                .iter()
                .find(|(from, _)| *from == code)
                .map(|(_, to)| to.to_string())
                .unwrap_or_else(|| code.to_string()),
        ),
    }
}

/// The model to use: the requested one, except nova-3 for a language it does not serve.
pub fn choose_model(requested: &str, language: Option<&str>) -> String {
    if requested == "nova-3" && !language.is_some_and(|l| NOVA_3_LANGUAGES.contains(&l)) {
        "nova-2".into()
    } else {
        requested.into()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeepgramError {
    #[error("Deepgram answered {status}: {message}")]
    Api { status: u16, message: String },
    #[error("Deepgram could not be reached: {0}")]
    Transport(String),
}

pub struct Deepgram {
    http: reqwest::Client,
    pub settings: DeepgramSettings,
}

impl Deepgram {
    pub fn new(settings: DeepgramSettings) -> Result<Self, DeepgramError> {
        thanotopolis_service::aws::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| DeepgramError::Transport(e.to_string()))?;
        Ok(Deepgram { http, settings })
    }

    async fn answer(
        res: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<Value, DeepgramError> {
        let res = res.map_err(|e| DeepgramError::Transport(e.to_string()))?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(body)
        } else {
            let message = body["err_msg"]
                .as_str()
                .or(body["message"].as_str())
                .unwrap_or("request failed")
                .to_string();
            Err(DeepgramError::Api {
                status: status.as_u16(),
                message,
            })
        }
    }

    /// Transcribes a recording (`POST /v1/listen` with the audio as the body).
    pub async fn transcribe(
        &self,
        audio: bytes::Bytes,
        content_type: &str,
        params: &[(&str, String)],
    ) -> Result<Value, DeepgramError> {
        let url = format!(
            "{}/v1/listen?{}",
            self.settings.base_url.trim_end_matches('/'),
            query_string(params)
        );
        Self::answer(
            self.http
                .post(url)
                .header("authorization", format!("Token {}", self.settings.api_key))
                .header("content-type", content_type)
                .body(audio)
                .send()
                .await,
        )
        .await
    }

    /// A temporary access token for a browser to stream to Deepgram directly.
    pub async fn grant(&self, ttl_seconds: u32) -> Result<Value, DeepgramError> {
        let url = format!(
            "{}/v1/auth/grant",
            self.settings.base_url.trim_end_matches('/')
        );
        Self::answer(
            self.http
                .post(url)
                .header("authorization", format!("Token {}", self.settings.api_key))
                .json(&serde_json::json!({ "ttl_seconds": ttl_seconds }))
                .send()
                .await,
        )
        .await
    }

    /// The live-streaming URL (`wss://…/v1/listen?…`) for a language and model, with a `tag`
    /// per entry of `tags`: Deepgram files the stream's usage under them, which is how live
    /// audio (which never passes through us) is metered per organization and user.
    pub fn live_url(&self, language: Option<&str>, model: &str, tags: &[String]) -> String {
        let base = self.settings.base_url.trim_end_matches('/');
        let ws = base
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1);
        let mut params = vec![
            ("model", model.to_string()),
            ("punctuate", "true".into()),
            ("interim_results", "true".into()),
            ("smart_format", "true".into()),
            ("encoding", "linear16".into()),
            ("sample_rate", "16000".into()),
            ("channels", "1".into()),
            ("utterance_end_ms", "1500".into()),
            ("vad_events", "true".into()),
            ("endpointing", "true".into()),
            ("no_delay", "true".into()),
            ("numerals", "true".into()),
            ("multichannel", "false".into()),
        ];
        if let Some(l) = language {
            params.push(("language", l.to_string()));
        }
        params.extend(tags.iter().map(|t| ("tag", t.clone())));
        format!("{ws}/v1/listen?{}", query_string(&params))
    }
}

/// `k=v&…` with values percent-encoded (they may come from users).
fn query_string(params: &[(&str, String)]) -> String {
    let encode = |v: &str| -> String {
        v.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_map_and_nova_3_falls_back() {
        assert_eq!(map_language(Some("fr-FR")).as_deref(), Some("fr"));
        assert_eq!(map_language(Some("pt-BR")).as_deref(), Some("pt-BR"));
        assert_eq!(map_language(Some("auto")), None);
        assert_eq!(map_language(None), None);
        assert_eq!(choose_model("nova-3", Some("fr")), "nova-2");
        assert_eq!(choose_model("nova-3", Some("en-GB")), "nova-3");
        assert_eq!(choose_model("nova-3", None), "nova-2");
        assert_eq!(choose_model("nova-2", Some("fr")), "nova-2");
    }
}
