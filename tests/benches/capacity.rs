//! The capacity model, from counted operations. A sample of the scripted workload runs through
//! the real code (local gateway, embedded store): conversations of several organizations, 5
//! sockets each, one user message each with an agent reply of 300 tokens streamed at 100
//! tokens a second and coalesced into token frames, all at once. A counting store records
//! every read and write per partition key in DynamoDB's units, the management API counts its
//! posts, and the replies' durations are measured. The figures per user message are then
//! scaled to the modelled service: 10,000 active conversations, one user message each per
//! 30 s, in 100 organizations, and printed against DynamoDB's per-partition limits and API
//! Gateway's account limits, with the cost per million user messages. `docs/capacity.md`
//! holds a run's output. Run: `cargo bench -p thanotopolis-tests --bench capacity`.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thanotopolis_agent_runtime::AgentSettings;
use thanotopolis_tests::counting::{counting, Counts, KeyCounts};
use thanotopolis_tests::openai::{Answer, FakeOpenAi, Script};
use thanotopolis_tests::{next_frame, send_json, Backend, Socket, TestApp, TestOptions};

/// The sample run.
const ORGS: usize = 4;
const CONVERSATIONS_PER_ORG: usize = 10;
const SOCKETS: usize = 5;
const TOKENS: usize = 300;
const TOKEN_PACE: Duration = Duration::from_millis(10);

/// The modelled service.
const MODEL_CONVERSATIONS: f64 = 10_000.0;
const MODEL_ORGS: f64 = 100.0;
const SECONDS_PER_MESSAGE: f64 = 30.0;

/// us-east-1 list prices (AWS pricing pages as of 2026-12-01; on-demand DynamoDB after the
/// November 2024 reduction).
const LAMBDA_GB_SECOND_ARM: f64 = 0.000_013_333_4;
const LAMBDA_PER_REQUEST: f64 = 0.20 / 1e6;
const DYNAMO_PER_WRU: f64 = 0.625 / 1e6;
const DYNAMO_PER_RRU: f64 = 0.125 / 1e6;
const APIGW_WS_PER_MESSAGE: f64 = 1.00 / 1e6;
const APIGW_WS_PER_CONNECTION_MINUTE: f64 = 0.25 / 1e6;
/// The realtime function's memory in `infra/template.yaml` (the Globals' 256 MB).
const REALTIME_MEMORY_GB: f64 = 0.25;

async fn next_reply(socket: &mut Socket) -> Value {
    next_frame(socket, Duration::from_secs(60), |f| {
        f["type"] == "message" && f["sender_type"] == "agent"
    })
    .await
}

/// How a partition key scales from the sample to the model.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Conversation,
    Organization,
    Socket,
    Global,
}

fn kind(table: &str, pk: &str) -> Kind {
    if table == "connections" {
        Kind::Socket
    } else if pk.contains("#CONV#") {
        Kind::Conversation
    } else if pk.starts_with("TENANT#") {
        Kind::Organization
    } else {
        Kind::Global
    }
}

/// User messages a second that reach one partition of this kind in the model.
fn model_rate(kind: Kind) -> f64 {
    let per_conversation = 1.0 / SECONDS_PER_MESSAGE;
    match kind {
        Kind::Conversation => per_conversation,
        // A socket's row is touched by its conversation's messages.
        Kind::Socket => per_conversation,
        Kind::Organization => per_conversation * MODEL_CONVERSATIONS / MODEL_ORGS,
        Kind::Global => per_conversation * MODEL_CONVERSATIONS,
    }
}

/// Sample user messages that reached one partition of this kind.
fn sample_messages(kind: Kind) -> f64 {
    match kind {
        Kind::Conversation | Kind::Socket => 1.0,
        Kind::Organization => CONVERSATIONS_PER_ORG as f64,
        Kind::Global => (ORGS * CONVERSATIONS_PER_ORG) as f64,
    }
}

#[tokio::main]
async fn main() {
    for interval in [Duration::from_millis(50), Duration::from_millis(250)] {
        sample(interval).await;
    }
}

async fn sample(token_interval: Duration) {
    let tokens: Vec<String> = (0..TOKENS).map(|i| format!("t{i} ")).collect();
    let provider = FakeOpenAi::start(Script {
        respond: Some(Arc::new(move |_| {
            Some(Answer::Paced(tokens.clone(), TOKEN_PACE))
        })),
        ..Script::default()
    })
    .await;
    let counts = Arc::new(Counts::default());
    let app = TestApp::spawn_with(
        Backend::Embedded,
        TestOptions {
            llm: Some(provider.settings.clone()),
            wrap_stores: Some(Arc::new(counting(counts.clone()))),
            agents: AgentSettings {
                token_interval,
                ..AgentSettings::default()
            },
            ..TestOptions::default()
        },
    )
    .await;
    let mut conversations = Vec::new();
    for _ in 0..ORGS {
        let org = app.register_org().await;
        for c in 0..CONVERSATIONS_PER_ORG {
            let id = app
                .create_conversation(
                    org.admin.token(),
                    json!({ "title": format!("c{c}"), "agent_types": ["GRIEF_SUPPORT"] }),
                )
                .await;
            let url = app.ws_url(&format!(
                "/?conversation_id={id}&token={}",
                org.admin.access
            ));
            let mut sockets = Vec::new();
            for _ in 0..SOCKETS {
                sockets.push(tokio_tungstenite::connect_async(&url).await.unwrap().0);
            }
            conversations.push(sockets);
        }
    }
    // Let the join notices settle, then count only the messages.
    tokio::time::sleep(Duration::from_secs(2)).await;
    counts.reset();
    let posts_before = app.gateway.management_posts();
    let conflicts_before = app.gateway.app.stores.main.conflicts();
    let started = Instant::now();
    let runs = conversations.iter_mut().map(|sockets| async move {
        let sent = Instant::now();
        send_json(
            &mut sockets[0],
            json!({ "type": "message", "content": "How do I plan a memorial?" }),
        )
        .await;
        for s in sockets.iter_mut() {
            let reply = next_reply(s).await;
            assert!(reply["content"].as_str().unwrap().starts_with("t0 t1"));
        }
        sent.elapsed()
    });
    let mut durations = futures::future::join_all(runs).await;
    let wall = started.elapsed();
    // Rows of the sockets are counted by the messages; stragglers (typing, presence) settle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let messages = conversations.len() as f64;
    let posts = (app.gateway.management_posts() - posts_before) as f64;
    let conflicts = app.gateway.app.stores.main.conflicts() - conflicts_before;
    durations.sort();
    let reply_seconds = durations[durations.len() / 2].as_secs_f64();
    let snapshot = counts.snapshot();

    let mut by_kind: BTreeMap<Kind, KeyCounts> = BTreeMap::new();
    let mut hottest: Vec<(String, Kind, f64, f64)> = Vec::new();
    for ((table, pk), c) in &snapshot {
        let k = kind(table, pk);
        let t = by_kind.entry(k).or_default();
        t.reads += c.reads;
        t.writes += c.writes;
        t.rru += c.rru;
        t.wru += c.wru;
        let per_message = |units: f64| units / sample_messages(k) * model_rate(k);
        let name = if k == Kind::Socket {
            "connections: {connection_id}".to_string()
        } else {
            format!("{table}: {}", shape(pk))
        };
        hottest.push((name, k, per_message(c.wru), per_message(c.rru)));
    }
    let total = |f: fn(&KeyCounts) -> f64| by_kind.values().map(f).sum::<f64>() / messages;
    let (wru, rru) = (total(|c| c.wru), total(|c| c.rru));
    let (writes, reads) = (total(|c| c.writes as f64), total(|c| c.reads as f64));
    let posts_per_message = posts / messages;
    let rate = MODEL_CONVERSATIONS / SECONDS_PER_MESSAGE;

    println!();
    println!("capacity model, token frames coalesced every {} ms: sample of {} conversations ({ORGS} organizations), {SOCKETS} sockets each, one user message each with a {TOKENS}-token reply at {:.0} tokens/s, all at once (wall {:.1} s)", token_interval.as_millis(), messages, 1.0 / TOKEN_PACE.as_secs_f64(), wall.as_secs_f64());
    println!("per user message with agent reply (measured):");
    println!("  store: {reads:.1} reads ({rru:.1} RRU), {writes:.1} writes ({wru:.1} WRU); transaction conflicts in the sample: {conflicts}");
    println!(
        "  @connections posts: {posts_per_message:.1} ({:.1} per socket)",
        posts_per_message / SOCKETS as f64
    );
    println!("  Lambda: 1 invocation ($default), median duration {reply_seconds:.2} s (the reply streams inside it)");
    for (k, c) in &by_kind {
        println!(
            "    {k:?} partitions: {:.1} WRU, {:.1} RRU per message",
            c.wru / messages,
            c.rru / messages
        );
    }
    println!("model: {MODEL_CONVERSATIONS} active conversations in {MODEL_ORGS} organizations, 1 user message per conversation per {SECONDS_PER_MESSAGE} s = {rate:.0} messages/s");
    println!(
        "  DynamoDB: {:.0} WRU/s, {:.0} RRU/s in all",
        wru * rate,
        rru * rate
    );
    hottest.sort_by(|a, b| b.2.total_cmp(&a.2));
    let mut seen = std::collections::HashSet::new();
    hottest.retain(|h| seen.insert(h.0.clone()));
    println!(
        "  hottest partitions (per second; DynamoDB's limit per partition: 1,000 WCU, 3,000 RCU):"
    );
    for (name, k, w, r) in hottest.iter().take(6) {
        println!("    {name:<48} {k:?}: {w:>8.2} WCU/s {r:>8.2} RCU/s");
    }
    let posts_rate = posts_per_message * rate;
    let invocations_rate = rate;
    println!("  API Gateway: {posts_rate:.0} @connections posts/s and {invocations_rate:.0} client messages/s (account limit 10,000 requests/s across REST, WebSocket and callbacks: {:.0}%); {:.0} open sockets", (posts_rate + invocations_rate) / 100.0, MODEL_CONVERSATIONS * SOCKETS as f64);
    println!("  Lambda: {:.0} concurrent executions of the realtime function ({rate:.0}/s x {reply_seconds:.2} s; default account limit 1,000)", rate * reply_seconds);

    let per_million = |x: f64| x * 1e6;
    let lambda =
        per_million(reply_seconds * REALTIME_MEMORY_GB * LAMBDA_GB_SECOND_ARM + LAMBDA_PER_REQUEST);
    let dynamo = per_million(wru * DYNAMO_PER_WRU + rru * DYNAMO_PER_RRU);
    // The user's frame in, every post out; sockets open for the 30 s between messages.
    let apigw_messages = per_million((1.0 + posts_per_message) * APIGW_WS_PER_MESSAGE);
    let apigw_minutes =
        per_million(SOCKETS as f64 * SECONDS_PER_MESSAGE / 60.0 * APIGW_WS_PER_CONNECTION_MINUTE);
    println!("cost per 1M user messages with agent reply (us-east-1 list prices, model tokens not included):");
    println!("  Lambda ${lambda:.2}  DynamoDB ${dynamo:.2}  API Gateway messages ${apigw_messages:.2}  connection minutes ${apigw_minutes:.2}  total ${:.2}", lambda + dynamo + apigw_messages + apigw_minutes);
}

/// A partition key with its ids replaced, so that keys of one shape read as one.
fn shape(pk: &str) -> String {
    pk.split('#')
        .map(|part| {
            if part.len() >= 32 && part.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                "{id}"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("#")
}
