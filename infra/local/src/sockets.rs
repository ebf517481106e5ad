//! API Gateway's WebSocket half: sockets, events to the realtime function, and the
//! `@connections` management API.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use aws_lambda_events::encodings::Body as LambdaBody;
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, FromRequestParts, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use thanotopolis_agent_runtime::{RealtimeState, MAX_FRAME_BYTES};
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

/// `$default` events one socket may have in flight; further frames wait (the socket is not
/// read meanwhile), as a flood from one client must not starve the others.
pub const MAX_IN_FLIGHT_PER_SOCKET: usize = 8;
/// `$default` events all sockets together may have in flight.
pub const MAX_IN_FLIGHT_EVENTS: usize = 128;

/// API Gateway's WebSocket limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub idle_timeout: Duration,
    pub max_lifetime: Duration,
    pub max_message_bytes: usize,
}

impl Limits {
    pub const API_GATEWAY: Limits = Limits {
        idle_timeout: crate::IDLE_TIMEOUT,
        max_lifetime: crate::MAX_CONNECTION_LIFETIME,
        max_message_bytes: MAX_FRAME_BYTES,
    };
}

enum Outbound {
    Text(String),
    Close(u16, &'static str),
}

struct Socket {
    tx: mpsc::UnboundedSender<Outbound>,
    connected_at: SystemTime,
    last_active_at: Mutex<SystemTime>,
    source_ip: String,
    user_agent: String,
}

#[derive(Clone)]
pub(crate) struct Gateway {
    realtime: Arc<RealtimeState>,
    sockets: Arc<Mutex<HashMap<String, Arc<Socket>>>>,
    /// `host:port` as API Gateway's `domainName`.
    domain: String,
    limits: Limits,
    in_flight: Arc<Semaphore>,
    /// Posts the management API accepted, for benches that count them.
    posts: Arc<std::sync::atomic::AtomicU64>,
}

impl Gateway {
    pub(crate) fn new(realtime: Arc<RealtimeState>, domain: String, limits: Limits) -> Self {
        Gateway {
            realtime,
            sockets: Arc::default(),
            domain,
            limits,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT_EVENTS)),
            posts: Arc::default(),
        }
    }

    /// Posts to connections so far (delivered or not).
    pub(crate) fn posts(&self) -> u64 {
        self.posts.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn socket(&self, id: &str) -> Option<Arc<Socket>> {
        self.sockets
            .lock()
            .expect("socket registry lock is never poisoned: no panics while held")
            .get(id)
            .cloned()
    }

    pub(crate) fn connection_ids(&self) -> Vec<String> {
        self.sockets
            .lock()
            .expect("socket registry lock is never poisoned: no panics while held")
            .keys()
            .cloned()
            .collect()
    }

    fn insert(&self, id: &str, socket: Socket) {
        self.sockets
            .lock()
            .expect("socket registry lock is never poisoned: no panics while held")
            .insert(id.to_string(), Arc::new(socket));
    }

    fn remove(&self, id: &str) {
        self.sockets
            .lock()
            .expect("socket registry lock is never poisoned: no panics while held")
            .remove(id);
    }

    fn send(&self, id: &str, out: Outbound) -> bool {
        self.socket(id).is_some_and(|s| s.tx.send(out).is_ok())
    }

    /// An event as API Gateway builds it for the WebSocket routes.
    fn event(
        &self,
        route: &str,
        connection_id: &str,
        connected_at: SystemTime,
    ) -> ApiGatewayWebsocketProxyRequest {
        let mut e = ApiGatewayWebsocketProxyRequest::default();
        let ctx = &mut e.request_context;
        ctx.route_key = Some(route.into());
        ctx.event_type = Some(
            match route {
                "$connect" => "CONNECT",
                "$disconnect" => "DISCONNECT",
                _ => "MESSAGE",
            }
            .into(),
        );
        ctx.connection_id = Some(connection_id.into());
        ctx.domain_name = Some(self.domain.clone());
        ctx.stage = Some("local".into());
        ctx.apiid = Some("local".into());
        ctx.request_id = Some(uuid::Uuid::new_v4().to_string());
        ctx.connected_at = epoch_millis(connected_at);
        ctx.request_time_epoch = epoch_millis(SystemTime::now());
        e
    }

    async fn dispatch(&self, event: ApiGatewayWebsocketProxyRequest) -> (u16, String) {
        let response = thanotopolis_fn_realtime::handle(&self.realtime, event).await;
        let body = match response.body {
            Some(LambdaBody::Text(t)) => t,
            Some(LambdaBody::Binary(b)) => String::from_utf8_lossy(&b).into_owned(),
            _ => String::new(),
        };
        (u16::try_from(response.status_code).unwrap_or(500), body)
    }

    pub(crate) fn management_router(&self) -> Router {
        Router::new()
            .route(
                "/@connections/{connection_id}",
                post(post_to_connection)
                    .get(get_connection)
                    .delete(delete_connection),
            )
            .with_state(self.clone())
    }
}

fn epoch_millis(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn new_connection_id() -> String {
    // API Gateway ids are short opaque base64 strings; ours are URL-safe so they need no escaping.
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&uuid::Uuid::new_v4().as_bytes()[..12])
}

/// Middleware: a WebSocket handshake on `/` (API Gateway's form) or
/// `/api/ws/conversations/{id}` (the original frontend's form) becomes a `$connect` event;
/// everything else goes on to the REST routes.
pub(crate) async fn upgrade(State(gw): State<Gateway>, req: Request, next: Next) -> Response {
    let is_upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let path = req.uri().path().to_string();
    let conversation = path
        .strip_prefix("/api/ws/conversations/")
        .map(str::to_string);
    if !is_upgrade || (path != "/" && conversation.is_none()) {
        return next.run(req).await;
    }
    let mut query: HashMap<String, String> = req.uri().query().map(url_pairs).unwrap_or_default();
    if let Some(id) = conversation.filter(|id| !id.is_empty() && !id.contains('/')) {
        query.insert("conversation_id".into(), id);
    }
    let (mut parts, _) = req.into_parts();
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let source_ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let user_agent = header_str(&parts.headers, header::USER_AGENT);

    let connection_id = new_connection_id();
    let connected_at = SystemTime::now();
    let mut event = gw.event("$connect", &connection_id, connected_at);
    event.query_string_parameters = query.into();
    event.headers = parts.headers.clone();
    let (status, body) = gw.dispatch(event).await;
    if status != 200 {
        // API Gateway answers a refused handshake with the handler's status; no upgrade.
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
        return (code, body).into_response();
    }

    let (tx, rx) = mpsc::unbounded_channel();
    gw.insert(
        &connection_id,
        Socket {
            tx,
            connected_at,
            last_active_at: Mutex::new(connected_at),
            source_ip,
            user_agent,
        },
    );
    let limit = gw.limits.max_message_bytes * 2;
    let failed = (gw.clone(), connection_id.clone());
    ws.max_message_size(limit)
        .max_frame_size(limit)
        .on_failed_upgrade(move |_| failed.0.remove(&failed.1))
        .on_upgrade(move |socket| session(gw, connection_id, connected_at, socket, rx))
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn url_pairs(query: &str) -> HashMap<String, String> {
    axum::extract::Query::<HashMap<String, String>>::try_from_uri(
        &format!("/?{query}").parse().unwrap_or_default(),
    )
    .map(|q| q.0)
    .unwrap_or_default()
}

/// One socket's life: frames in become `$default` events (concurrently, as API Gateway invokes
/// them), posts from the management API go out, and the end becomes `$disconnect`.
async fn session(
    gw: Gateway,
    id: String,
    connected_at: SystemTime,
    socket: WebSocket,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
) {
    let (mut sink, mut stream) = socket.split();
    let writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            let (msg, last) = match out {
                Outbound::Text(t) => (Message::Text(t.into()), false),
                Outbound::Close(code, reason) => (
                    Message::Close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    })),
                    true,
                ),
            };
            if sink.send(msg).await.is_err() || last {
                break;
            }
        }
    });

    let deadline = Instant::now() + gw.limits.max_lifetime;
    let mut writer = writer;
    let mine = Arc::new(Semaphore::new(MAX_IN_FLIGHT_PER_SOCKET));
    loop {
        // API Gateway's idle timer restarts with any message, from the client or posted to it.
        let idle_for = idle_time(&gw, &id);
        let next = tokio::select! {
            next = stream.next() => Ok(next),
            _ = tokio::time::sleep(gw.limits.idle_timeout.saturating_sub(idle_for)) => {
                if idle_time(&gw, &id) < gw.limits.idle_timeout {
                    continue;
                }
                Err(())
            }
            _ = tokio::time::sleep_until(deadline) => {
                gw.send(&id, Outbound::Close(1001, "Going away"));
                break;
            }
            // The writer ends after sending a close frame (or when the socket broke): the
            // connection is over, whatever the client still has in flight.
            _ = &mut writer => break,
        };
        let (body, base64) = match next {
            Err(_idle) => {
                gw.send(&id, Outbound::Close(1001, "Going away"));
                break;
            }
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => break,
            Ok(Some(Ok(Message::Text(text)))) => (text.to_string(), false),
            Ok(Some(Ok(Message::Binary(bytes)))) => (
                base64::engine::general_purpose::STANDARD.encode(&bytes),
                true,
            ),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {
                touch(&gw, &id);
                continue;
            }
        };
        if body.len() > gw.limits.max_message_bytes {
            gw.send(&id, Outbound::Close(1009, "Message too big"));
            break;
        }
        touch(&gw, &id);
        let mut event = gw.event("$default", &id, connected_at);
        event.body = Some(body);
        event.is_base64_encoded = base64;
        // Closed semaphores never happen (they are never closed): a permit always comes.
        let (Ok(own), Ok(all)) = (
            mine.clone().acquire_owned().await,
            gw.in_flight.clone().acquire_owned().await,
        ) else {
            break;
        };
        let gw = gw.clone();
        tokio::spawn(async move {
            gw.dispatch(event).await;
            drop((own, all));
        });
    }

    gw.remove(&id);
    if !writer.is_finished() {
        // Give a close frame queued just now a moment to go out.
        let _ = tokio::time::timeout(Duration::from_secs(1), &mut writer).await;
        writer.abort();
    }
    gw.dispatch(gw.event("$disconnect", &id, connected_at))
        .await;
}

/// How long since the socket last carried a message either way.
fn idle_time(gw: &Gateway, id: &str) -> Duration {
    gw.socket(id)
        .and_then(|s| s.last_active_at.lock().ok().map(|at| *at))
        .and_then(|at| SystemTime::now().duration_since(at).ok())
        .unwrap_or_default()
}

fn touch(gw: &Gateway, id: &str) {
    if let Some(s) = gw.socket(id) {
        if let Ok(mut at) = s.last_active_at.lock() {
            *at = SystemTime::now();
        }
    }
}

fn gone(id: &str) -> Response {
    (
        StatusCode::GONE,
        [("x-amzn-errortype", "GoneException")],
        Json(json!({ "message": format!("Connection {id} is gone") })),
    )
        .into_response()
}

async fn post_to_connection(
    State(gw): State<Gateway>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if body.len() > gw.limits.max_message_bytes {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            [("x-amzn-errortype", "PayloadTooLargeException")],
            Json(json!({ "message": "Message too large" })),
        )
            .into_response();
    }
    gw.posts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let text = String::from_utf8_lossy(&body).into_owned();
    if gw.send(&id, Outbound::Text(text)) {
        touch(&gw, &id);
        StatusCode::OK.into_response()
    } else {
        gone(&id)
    }
}

async fn get_connection(State(gw): State<Gateway>, Path(id): Path<String>) -> Response {
    let Some(s) = gw.socket(&id) else {
        return gone(&id);
    };
    let last = s
        .last_active_at
        .lock()
        .map(|t| *t)
        .unwrap_or(s.connected_at);
    Json(json!({
        "connectedAt": rfc3339(s.connected_at),
        "lastActiveAt": rfc3339(last),
        "identity": { "sourceIp": s.source_ip, "userAgent": s.user_agent },
    }))
    .into_response()
}

async fn delete_connection(State(gw): State<Gateway>, Path(id): Path<String>) -> Response {
    if gw.send(&id, Outbound::Close(1000, "")) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        gone(&id)
    }
}

fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
