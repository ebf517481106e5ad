//! Live speech-to-text usage, imported from Deepgram. Live audio goes from the browser straight
//! to Deepgram with a grant from `POST /api/stt/token`, so it never passes through us; each
//! grant's URL carries a signed tag naming the organization and the user
//! (`thanotopolis_tenant_auth::usage_tags`). A scheduled run reads the project's requests from
//! Deepgram's management API (`GET /v1/projects/{id}/requests`) and records each tagged one as
//! an `stt_seconds` use of its organization, exactly once: the record's id is derived from
//! Deepgram's request id and its time is the request's, so a request seen again (runs overlap
//! on purpose) finds its record and adds nothing.

use crate::{import_record, UsageRecord, STT_SECONDS};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;
use thanotopolis_store::{Store, StoreError};
use thanotopolis_tenant_auth::creation::Imported;
use thanotopolis_tenant_auth::{format_rfc3339, keys, usage_tags};
use time::OffsetDateTime;
use uuid::Uuid;

/// A Deepgram project's management API (`DEEPGRAM_API_KEY`, `DEEPGRAM_PROJECT_ID`,
/// `DEEPGRAM_BASE_URL`).
pub struct DeepgramProject {
    http: reqwest::Client,
    base_url: String,
    api_key: String,
    project_id: String,
    /// Requests per page, and pages a run reads at most.
    page_size: u32,
    max_pages: u32,
}

impl std::fmt::Debug for DeepgramProject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeepgramProject")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("project_id", &self.project_id)
            .finish()
    }
}

impl DeepgramProject {
    /// The project the environment names; `None` unless both the key and the project id are
    /// set (then live usage is not imported, and the figures say so).
    pub fn from_env() -> Option<Self> {
        let var = thanotopolis_service::config::env;
        Some(Self::new(
            &var("DEEPGRAM_BASE_URL").unwrap_or_else(|| "https://api.deepgram.com".into()),
            &var("DEEPGRAM_API_KEY")?,
            &var("DEEPGRAM_PROJECT_ID")?,
        ))
    }

    pub fn new(base_url: &str, api_key: &str, project_id: &str) -> Self {
        thanotopolis_service::aws::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client with timeouts builds");
        DeepgramProject {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: api_key.to_string(),
            project_id: project_id.to_string(),
            page_size: PAGE,
            max_pages: MAX_PAGES,
        }
    }

    /// Reads pages of `page_size` requests, at most `max_pages` a run (Deepgram's maximum
    /// page and a run's share of the scheduled task's time, unless a test needs windows of
    /// several runs without tens of thousands of requests).
    pub fn with_paging(mut self, page_size: u32, max_pages: u32) -> Self {
        self.page_size = page_size.clamp(1, PAGE);
        self.max_pages = max_pages.max(1);
        self
    }

    /// One page of the project's requests between `start` and `end`.
    async fn requests(
        &self,
        start: &str,
        end: &str,
        page: u32,
    ) -> Result<Vec<DeepgramRequest>, LiveImportError> {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/v1/projects/{}/requests", self.base_url, self.project_id),
            &[
                ("start", start),
                ("end", end),
                ("limit", &self.page_size.to_string()),
                ("page", &page.to_string()),
                ("status", "succeeded"),
            ],
        )
        .map_err(|e| LiveImportError::Deepgram(format!("bad base URL: {e}")))?;
        let res = self
            .http
            .get(url)
            .header("authorization", format!("Token {}", self.api_key))
            .send()
            .await
            .map_err(|e| LiveImportError::Deepgram(e.without_url().to_string()))?;
        let status = res.status();
        if !status.is_success() {
            return Err(LiveImportError::Deepgram(format!("answered {status}")));
        }
        let page: RequestsPage = res
            .json()
            .await
            .map_err(|e| LiveImportError::Deepgram(format!("unreadable requests page: {e}")))?;
        Ok(page.requests)
    }
}

/// Requests per page (Deepgram's maximum).
const PAGE: u32 = 1000;
/// Pages read per run at most; the next run goes on with the same window from the page after.
const MAX_PAGES: u32 = 50;
/// How far back a run looks before the end of the previous one: Deepgram lists a stream once
/// it has ended, so a request can appear after a run covered its start.
const OVERLAP: time::Duration = time::Duration::hours(3);
/// How far back the first run looks.
const FIRST_WINDOW: time::Duration = time::Duration::days(7);

#[derive(Deserialize)]
struct RequestsPage {
    #[serde(default)]
    requests: Vec<DeepgramRequest>,
}

#[derive(Deserialize)]
struct DeepgramRequest {
    request_id: String,
    created: String,
    #[serde(default)]
    response: Option<DeepgramResponse>,
}

#[derive(Deserialize)]
struct DeepgramResponse {
    #[serde(default)]
    details: Option<Details>,
}

#[derive(Deserialize)]
struct Details {
    duration: Option<f64>,
    usd: Option<f64>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    models: Vec<String>,
    method: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LiveImportError {
    #[error("Deepgram's management API: {0}")]
    Deepgram(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a run did.
#[derive(Debug, Default, PartialEq, serde::Serialize)]
pub struct LiveImportReport {
    /// Requests Deepgram listed in the window.
    pub requests: usize,
    /// Recorded as uses now.
    pub imported: usize,
    /// Recorded by an earlier run.
    pub already: usize,
    /// Without a tag of ours (file transcriptions, which we meter as they pass through us, or
    /// other users of the project), with one that does not verify, or of an organization
    /// that no longer exists (erased).
    pub not_ours: usize,
    pub since: String,
    pub through: String,
    /// The window's first page this run read (0 unless it went on with an earlier run's).
    pub first_page: u32,
    /// Whether the window was read to its end; if not, the next run reads on from here.
    pub complete: bool,
}

/// Imports the tagged requests Deepgram lists since the last run (with an overlap), then moves
/// the mark that says when live usage was last imported. A window of more requests than a run
/// reads is gone on with by the next run, from the page after, before a new window starts.
pub async fn import(
    store: &dyn Store,
    project: &DeepgramProject,
    now: OffsetDateTime,
) -> Result<LiveImportReport, LiveImportError> {
    let mark_key = keys::live_stt_import_mark();
    let mark = store.get(&mark_key).await?;
    let text = |v: &Value, name: &str| v.get(name).and_then(Value::as_str).map(str::to_string);
    let resume = mark.as_ref().and_then(|m| m.get("resume")).and_then(|r| {
        let page = u32::try_from(r.get("page")?.as_u64()?).ok()?;
        Some((text(r, "since")?, text(r, "through")?, page))
    });
    let (since, through, first_page) = match resume {
        Some(window) => window,
        None => {
            let previous = mark
                .as_ref()
                .and_then(|m| m.get("through"))
                .and_then(Value::as_str)
                .and_then(|t| {
                    OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
                });
            let since = previous.map_or(now - FIRST_WINDOW, |t| t - OVERLAP);
            (deepgram_time(since), deepgram_time(now), 0)
        }
    };
    let mut report = LiveImportReport {
        since,
        through,
        first_page,
        ..LiveImportReport::default()
    };
    let secret = project.api_key.as_bytes();
    let mut organizations: std::collections::HashMap<Uuid, bool> = Default::default();
    let mut next_page = first_page;
    for _ in 0..project.max_pages {
        let requests = project
            .requests(&report.since, &report.through, next_page)
            .await?;
        next_page += 1;
        let last_page = requests.len() < project.page_size as usize;
        report.requests += requests.len();
        for request in requests {
            let details = request.response.and_then(|r| r.details);
            let Some(details) = details else {
                report.not_ours += 1;
                continue;
            };
            let Some((scope, user_id)) = details
                .tags
                .iter()
                .find_map(|t| usage_tags::verify(secret, t))
            else {
                report.not_ours += 1;
                continue;
            };
            // Deepgram keeps requests after we erase an organization: its tags still
            // verify, but its use is not recorded again, nor while the erasure runs.
            let metered = match organizations.get(&scope.tenant_id()) {
                Some(known) => *known,
                None => {
                    let tenant = store.get(&keys::tenant(&scope)).await?;
                    let found = tenant.is_some_and(|t| !t.contains_key("erasing_since"));
                    organizations.insert(scope.tenant_id(), found);
                    found
                }
            };
            if !metered {
                report.not_ours += 1;
                continue;
            }
            let Ok(created) = OffsetDateTime::parse(
                &request.created,
                &time::format_description::well_known::Rfc3339,
            ) else {
                report.not_ours += 1;
                continue;
            };
            let record = UsageRecord {
                id: Uuid::new_v5(&REQUEST_IDS, request.request_id.as_bytes()),
                tenant_id: scope.tenant_id(),
                user_id: Some(user_id),
                conversation_id: None,
                usage_type: STT_SECONDS.into(),
                amount: details.duration,
                service_provider: "deepgram".into(),
                model_name: details.models.first().cloned(),
                cost_total: details.usd,
                additional_data: json!({
                    "deepgram_request_id": request.request_id,
                    "method": details.method,
                    "live": true,
                }),
                created_at: format_rfc3339(created.to_offset(time::UtcOffset::UTC)),
            };
            match import_record(store, &scope, &record, false).await? {
                Imported::Created => report.imported += 1,
                _ => report.already += 1,
            }
        }
        if last_page {
            report.complete = true;
            break;
        }
    }
    // A complete window moves the mark (its end in Deepgram's form is RFC 3339, as the mark
    // keeps it); an unfinished one keeps the last complete window's and says where the next
    // run reads on. Always a put: the scheduled function may only put the mark.
    let kept = |name: &str| mark.as_ref().and_then(|m| m.get(name)).cloned();
    let (through, imported_at, resume) = if report.complete {
        (json!(report.through), json!(format_rfc3339(now)), None)
    } else {
        let resume = json!({ "since": report.since, "through": report.through, "page": next_page });
        (
            kept("through").into(),
            kept("imported_at").into(),
            Some(resume),
        )
    };
    let item = thanotopolis_store::item(json!({
        "pk": mark_key.pk, "sk": mark_key.sk,
        "through": through, "imported_at": imported_at, "resume": resume,
    }));
    store.put(item, None).await?;
    Ok(report)
}

/// When live usage was last imported from Deepgram; `None` before the first complete run.
pub async fn last_import(store: &dyn Store) -> Result<Option<String>, StoreError> {
    Ok(store
        .get(&keys::live_stt_import_mark())
        .await?
        .and_then(|m| {
            m.get("imported_at")
                .and_then(Value::as_str)
                .map(str::to_string)
        }))
}

/// Namespace of the usage-record ids derived from Deepgram request ids.
const REQUEST_IDS: Uuid = Uuid::from_u128(0x8d2e_41b7_5c3a_4f09_b6e1_27c4_9a0d_f351);

/// `YYYY-MM-DDTHH:MM:SS+00:00`, a form Deepgram's `start`/`end` accept.
fn deepgram_time(t: OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+00:00");
    t.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .expect("a UTC time formats")
}
