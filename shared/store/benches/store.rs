//! Embedded-store throughput and latency: get, put, query (a page of 20 from 1,000 items), a
//! 4-write transaction, and a `begins_with` query with 0 or 10,000 items sorting after it, on a WAL SQLite file in a temp directory. Prints ops/s, p50 and p99.
//! Run: `cargo bench -p thanotopolis-store`.

use serde_json::json;
use std::time::{Duration, Instant};
use thanotopolis_store::schema::MAIN_TABLE;
use thanotopolis_store::{Condition, Item, Key, Query, SqliteStore, Store, Update, Write};

const ROUNDS: usize = 5_000;

fn item(pk: &str, sk: &str, n: usize) -> Item {
    match json!({ "pk": pk, "sk": sk, "n": n, "content": "x".repeat(200) }) {
        serde_json::Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

fn report(name: &str, mut samples: Vec<Duration>, total: Duration) {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "{name:<28} {:>9.0} ops/s   p50 {:>8.1} µs   p99 {:>8.1} µs",
        samples.len() as f64 / total.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e6,
        pct(0.99).as_secs_f64() * 1e6,
    );
}

async fn measure<F, Fut>(name: &str, mut op: F)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(ROUNDS);
    let started = Instant::now();
    for i in 0..ROUNDS {
        let t = Instant::now();
        op(i).await;
        samples.push(t.elapsed());
    }
    report(name, samples, started.elapsed());
}

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("thanotopolis-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store = SqliteStore::open(&dir.join("bench.db"), "bench", &MAIN_TABLE).expect("open");
    for i in 0..1_000 {
        store
            .put(item("T#q", &format!("MSG#{i:06}"), i), None)
            .await
            .expect("seed");
    }
    println!("embedded store (SQLite WAL file), {ROUNDS} operations each, one at a time:");
    measure("put", |i| {
        let s = &store;
        async move {
            s.put(item("T#p", &format!("K#{i}"), i), None)
                .await
                .expect("put")
        }
    })
    .await;
    measure("get", |i| {
        let s = &store;
        async move {
            s.get(&Key::new("T#p", format!("K#{}", i % ROUNDS)))
                .await
                .expect("get");
        }
    })
    .await;
    measure("query (page of 20)", |i| {
        let s = &store;
        async move {
            let from = format!("MSG#{:06}", (i * 7) % 980);
            s.query(&Query::new("T#q").between(from, "MSG#999999").limit(20))
                .await
                .expect("query");
        }
    })
    .await;
    measure("transaction (4 writes)", |i| {
        let s = &store;
        async move {
            s.transact(vec![
                Write::Put {
                    item: item("T#t", &format!("A#{i}"), i),
                    condition: Some(Condition::NotExists),
                },
                Write::Put {
                    item: item("T#t", &format!("B#{i}"), i),
                    condition: None,
                },
                Write::Update {
                    key: Key::new("T#t", "COUNTER"),
                    update: Update::new().add("n", 1),
                    condition: None,
                },
                Write::Delete {
                    key: Key::new("T#t", format!("A#{}", i.wrapping_sub(1))),
                    condition: None,
                },
            ])
            .await
            .expect("transaction")
        }
    })
    .await;
    // A prefix query's cost must not grow with what sorts after the prefix in its partition
    // (a tenant's agents, `AGENT#…`, before thousands of `FAMILY#…` session items).
    for later in [0usize, 10_000] {
        let pk = format!("T#prefix{later}");
        for i in 0..5 {
            store
                .put(item(&pk, &format!("AGENT#{i}"), i), None)
                .await
                .expect("seed");
        }
        for i in 0..later {
            store
                .put(item(&pk, &format!("FAMILY#{i:06}"), i), None)
                .await
                .expect("seed");
        }
        measure(&format!("begins_with, {later:>5} after"), |_| {
            let (s, pk) = (&store, pk.clone());
            async move {
                let page = s
                    .query(&Query::new(pk).begins_with("AGENT#"))
                    .await
                    .expect("query");
                assert_eq!(page.items.len(), 5);
            }
        })
        .await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
