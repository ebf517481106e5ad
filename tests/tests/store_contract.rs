//! The store contract: every behaviour the functions rely on, run unchanged against the
//! embedded backend and against DynamoDB (moto server).

use serde_json::{json, Value};
use thanotopolis_store::{
    Condition, Index, Item, Key, Query, Store, StoreError, Update, Write, MAX_ITEM_BYTES,
};
use thanotopolis_tests::{on_both_backends, stores, Backend};

fn item(value: Value) -> Item {
    match value {
        Value::Object(map) => map,
        other => panic!("test items are objects, not {other}"),
    }
}

fn msg(pk: &str, sk: &str, extra: Value) -> Item {
    let mut it = item(json!({ "pk": pk, "sk": sk }));
    it.extend(item(extra));
    it
}

fn past() -> i64 {
    now() - 3600
}

fn future() -> i64 {
    now() + 3600
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// Every item of a query, following cursors page by page.
async fn all_pages(store: &dyn Store, query: Query) -> Vec<Item> {
    let mut out = Vec::new();
    let mut cursor = None;
    for _ in 0..1000 {
        let page = store
            .query(&query.clone().after(cursor))
            .await
            .expect("query");
        out.extend(page.items);
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
    panic!("pagination did not end");
}

fn sks(items: &[Item]) -> Vec<&str> {
    items
        .iter()
        .map(|i| i["sk"].as_str().unwrap_or("?"))
        .collect()
}

async fn put_then_get_returns_the_same_item(backend: Backend) {
    let (s, _) = stores(backend).await;
    let original = msg(
        "T#1",
        "USER#a",
        json!({
            "name": "Ada", "age": 36, "score": 1.5, "active": true, "nothing": null,
            "tags": ["x", "y"], "address": { "city": "Lyon", "zip": "69001" }, "empty": ""
        }),
    );
    s.put(original.clone(), None).await.expect("put");
    let got = s.get(&Key::new("T#1", "USER#a")).await.expect("get");
    assert_eq!(got, Some(original));
    assert_eq!(s.get(&Key::new("T#1", "USER#b")).await.expect("get"), None);
}

async fn conditional_put_refuses_to_overwrite(backend: Backend) {
    let (s, _) = stores(backend).await;
    let first = msg("T#1", "CLAIM#x", json!({ "owner": "a" }));
    s.put(first.clone(), Some(Condition::NotExists))
        .await
        .expect("first claim");
    let second = msg("T#1", "CLAIM#x", json!({ "owner": "b" }));
    assert_eq!(
        s.put(second, Some(Condition::NotExists)).await,
        Err(StoreError::ConditionFailed)
    );
    assert_eq!(
        s.get(&Key::new("T#1", "CLAIM#x")).await.unwrap(),
        Some(first)
    );
    assert_eq!(
        s.put(msg("T#1", "CLAIM#y", json!({})), Some(Condition::Exists))
            .await,
        Err(StoreError::ConditionFailed)
    );
}

async fn update_sets_adds_and_removes(backend: Backend) {
    let (s, _) = stores(backend).await;
    let key = Key::new("T#1", "AGG#day");
    let created = s
        .update(
            &key,
            Update::new()
                .set("label", "day")
                .set_if_absent("created_at", "t0")
                .add("count", 2)
                .set("temp", true),
            None,
        )
        .await
        .expect("upsert");
    assert_eq!(created["count"], json!(2));
    assert_eq!(created["pk"], json!("T#1"));
    let updated = s
        .update(
            &key,
            Update::new()
                .set_if_absent("created_at", "t1")
                .add("count", 3)
                .add("cost", serde_json::Number::from_f64(0.25).unwrap())
                .remove("temp"),
            Some(Condition::Exists),
        )
        .await
        .expect("update");
    assert_eq!(updated["count"], json!(5));
    assert_eq!(
        updated["created_at"],
        json!("t0"),
        "if_not_exists keeps the first value"
    );
    assert_eq!(updated["cost"].as_f64(), Some(0.25));
    assert!(!updated.contains_key("temp"));
    assert_eq!(s.get(&key).await.unwrap(), Some(updated));
    assert!(matches!(
        s.update(&key, Update::new().set("sk", "other"), None).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn version_and_equality_conditions_guard_writes(backend: Backend) {
    let (s, _) = stores(backend).await;
    let key = Key::new("T#1", "CONV#c");
    s.put(
        msg("T#1", "CONV#c", json!({ "version": 1, "state": "open" })),
        None,
    )
    .await
    .unwrap();
    s.update(
        &key,
        Update::new().set("title", "a").add("version", 1),
        Some(Condition::VersionEquals(1)),
    )
    .await
    .expect("first writer wins");
    assert_eq!(
        s.update(
            &key,
            Update::new().set("title", "b"),
            Some(Condition::VersionEquals(1))
        )
        .await,
        Err(StoreError::ConditionFailed),
        "a stale version loses"
    );
    assert_eq!(s.get(&key).await.unwrap().unwrap()["title"], json!("a"));
    assert_eq!(
        s.delete(
            &key,
            Some(Condition::Equals("state".into(), json!("closed")))
        )
        .await,
        Err(StoreError::ConditionFailed)
    );
    s.delete(&key, Some(Condition::Equals("state".into(), json!("open"))))
        .await
        .expect("delete when equal");
    assert_eq!(s.get(&key).await.unwrap(), None);
    s.delete(&key, None)
        .await
        .expect("deleting an absent item is fine");
    assert_eq!(
        s.delete(&key, Some(Condition::Exists)).await,
        Err(StoreError::ConditionFailed)
    );
}

async fn query_orders_filters_and_paginates(backend: Backend) {
    let (s, _) = stores(backend).await;
    for i in 0..25 {
        s.put(msg("T#1", &format!("MSG#{i:03}"), json!({ "n": i })), None)
            .await
            .unwrap();
    }
    s.put(msg("T#1", "MEMBER#u", json!({})), None)
        .await
        .unwrap();
    s.put(msg("T#2", "MSG#000", json!({})), None).await.unwrap();

    let all = all_pages(s.as_ref(), Query::new("T#1").begins_with("MSG#").limit(7)).await;
    let expected: Vec<String> = (0..25).map(|i| format!("MSG#{i:03}")).collect();
    assert_eq!(
        sks(&all),
        expected,
        "every item once, in order, across pages"
    );

    let newest = s
        .query(&Query::new("T#1").begins_with("MSG#").backward().limit(3))
        .await
        .unwrap();
    assert_eq!(sks(&newest.items), ["MSG#024", "MSG#023", "MSG#022"]);
    assert!(newest.cursor.is_some());
    let next = s
        .query(
            &Query::new("T#1")
                .begins_with("MSG#")
                .backward()
                .limit(3)
                .after(newest.cursor),
        )
        .await
        .unwrap();
    assert_eq!(sks(&next.items), ["MSG#021", "MSG#020", "MSG#019"]);

    let range = s
        .query(&Query::new("T#1").between("MSG#005", "MSG#008"))
        .await
        .unwrap();
    assert_eq!(
        sks(&range.items),
        ["MSG#005", "MSG#006", "MSG#007", "MSG#008"]
    );
    assert_eq!(
        s.count(&Query::new("T#1").begins_with("MSG#"))
            .await
            .unwrap(),
        25
    );
    assert_eq!(s.count(&Query::new("T#1")).await.unwrap(), 26);
    assert!(matches!(
        s.query(&Query::new("T#1").after(Some("not a cursor".into())))
            .await,
        Err(StoreError::BadCursor)
    ));
}

/// Only a cursor this very query could have issued continues it: garbage, `{}`, a cursor of
/// another partition, index or sort range, or with extra attributes is refused as such
/// (DynamoDB would otherwise answer a ValidationException).
async fn foreign_cursors_are_refused(backend: Backend) {
    use base64::Engine;
    let (s, _) = stores(backend).await;
    for i in 0..4 {
        let mut it = msg("T#1", &format!("MSG#{i}"), json!({}));
        it.insert("gsi1pk".into(), json!("G#1"));
        it.insert("gsi1sk".into(), json!(format!("at#{i}")));
        s.put(it, None).await.unwrap();
    }
    let table = s.query(&Query::new("T#1").limit(2)).await.unwrap();
    let index = s
        .query(&Query::new("G#1").on(Index::Gsi1).limit(2))
        .await
        .unwrap();
    let (table_cursor, index_cursor) = (table.cursor.unwrap(), index.cursor.unwrap());
    let encode = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let next = s
        .query(&Query::new("T#1").limit(2).after(Some(table_cursor.clone())))
        .await
        .unwrap();
    assert_eq!(
        sks(&next.items),
        ["MSG#2", "MSG#3"],
        "a genuine cursor works"
    );
    for (query, cursor) in [
        (Query::new("T#1"), encode(json!({}))),
        (Query::new("T#1"), encode(json!([1, 2]))),
        (Query::new("T#1"), encode(json!({ "pk": "T#1", "sk": 5 }))),
        (
            Query::new("T#1"),
            encode(json!({ "pk": "T#1", "sk": "MSG#1", "x": "y" })),
        ),
        (Query::new("T#2"), table_cursor.clone()),
        (
            Query::new("T#1").begins_with("OTHER#"),
            table_cursor.clone(),
        ),
        (Query::new("T#1").between("A", "B"), table_cursor.clone()),
        (Query::new("T#1"), index_cursor.clone()),
        (Query::new("G#1").on(Index::Gsi1), table_cursor.clone()),
        (Query::new("G#1").on(Index::Gsi2), index_cursor.clone()),
        (Query::new("G#2").on(Index::Gsi1), index_cursor.clone()),
    ] {
        let result = s.query(&query.clone().after(Some(cursor.clone()))).await;
        assert!(
            matches!(result, Err(StoreError::BadCursor)),
            "{query:?} after {cursor}: {result:?}"
        );
    }
}

/// `delete_all` removes exactly what its query matches, across pages of 100.
async fn delete_all_removes_what_the_query_matches(backend: Backend) {
    let (s, _) = stores(backend).await;
    for i in 0..230 {
        s.put(msg("T#1", &format!("MSG#{i:03}"), json!({})), None)
            .await
            .unwrap();
    }
    s.put(msg("T#1", "META", json!({})), None).await.unwrap();
    s.put(msg("T#2", "MSG#000", json!({})), None).await.unwrap();
    let deleted =
        thanotopolis_store::delete_all(s.as_ref(), &Query::new("T#1").begins_with("MSG#"))
            .await
            .unwrap();
    assert_eq!(deleted, 230);
    assert_eq!(
        sks(&all_pages(s.as_ref(), Query::new("T#1")).await),
        ["META"]
    );
    assert_eq!(
        s.count(&Query::new("T#2")).await.unwrap(),
        1,
        "other partitions stay"
    );
}

/// A scan reads every live item of the table once, page by page, in both tables; an expired
/// item is not among them, and a cursor no scan issued is refused.
async fn scan_reads_every_live_item_once(backend: Backend) {
    let (s, c) = stores(backend).await;
    let mut expected = Vec::new();
    for i in 0..23 {
        let (pk, sk) = (format!("T#{}", i % 4), format!("MSG#{i:03}"));
        s.put(msg(&pk, &sk, json!({})), None).await.unwrap();
        expected.push((pk, sk));
    }
    s.put(msg("T#9", "OLD", json!({ "expires_at": past() })), None)
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = s.scan(cursor.as_deref(), 5).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 5);
        for item in &page.items {
            seen.push((
                item["pk"].as_str().unwrap().to_string(),
                item["sk"].as_str().unwrap().to_string(),
            ));
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert!(pages >= 5, "{pages} pages of at most 5");
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected, "every live item once, the expired one not");
    for bad in ["", "garbage", "e30", "eyJwayI6IlQjMSJ9"] {
        assert!(
            matches!(s.scan(Some(bad), 5).await, Err(StoreError::BadCursor)),
            "{bad}"
        );
    }
    for id in ["a", "b", "d"] {
        c.put(item(json!({ "connection_id": id })), None)
            .await
            .unwrap();
    }
    let first = c.scan(None, 2).await.unwrap();
    let rest = c.scan(first.cursor.as_deref(), 10).await.unwrap();
    let mut ids: Vec<&str> = first
        .items
        .iter()
        .chain(&rest.items)
        .map(|i| i["connection_id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["a", "b", "d"]);
}

/// `delete_batch` deletes exactly the keys it is given, past one request's 25, whatever their
/// partitions; absent and repeated keys are no error.
async fn delete_batch_deletes_exactly_its_keys(backend: Backend) {
    let (s, _) = stores(backend).await;
    let (pk, sk) = (
        |i: usize| format!("T#{}", i % 3),
        |i: usize| format!("MSG#{i:03}"),
    );
    let key = |i: usize| Key::new(pk(i), sk(i));
    for i in 0..60 {
        s.put(msg(&pk(i), &sk(i), json!({})), None).await.unwrap();
    }
    let mut doomed: Vec<Key> = (0..55).map(key).collect();
    doomed.extend([key(3), key(3), Key::new("T#9", "ABSENT")]);
    s.delete_batch(&doomed).await.unwrap();
    let mut left: Vec<String> = Vec::new();
    for pk in ["T#0", "T#1", "T#2"] {
        let items = all_pages(s.as_ref(), Query::new(pk)).await;
        left.extend(sks(&items).into_iter().map(str::to_string));
    }
    left.sort();
    assert_eq!(
        left,
        ["MSG#055", "MSG#056", "MSG#057", "MSG#058", "MSG#059"]
    );
    s.delete_batch(&doomed).await.unwrap();
    s.delete_batch(&[]).await.unwrap();
    assert_eq!(s.count(&Query::new("T#1")).await.unwrap(), 2);
}

/// `delete_all` also deletes what an index query matches, page after page.
async fn delete_all_follows_an_index(backend: Backend) {
    let (s, _) = stores(backend).await;
    for i in 0..130 {
        s.put(
            msg(
                &format!("T#{}", i % 7),
                &format!("R#{i:03}"),
                json!({ "gsi1pk": "T#RECORDS", "gsi1sk": format!("{i:03}") }),
            ),
            None,
        )
        .await
        .unwrap();
    }
    s.put(msg("T#1", "KEEP", json!({})), None).await.unwrap();
    let records = Query::new("T#RECORDS").on(Index::Gsi1);
    let deleted = thanotopolis_store::delete_all(s.as_ref(), &records)
        .await
        .unwrap();
    assert_eq!(deleted, 130);
    assert_eq!(s.count(&records).await.unwrap(), 0);
    assert_eq!(
        sks(&all_pages(s.as_ref(), Query::new("T#1")).await),
        ["KEEP"]
    );
}

/// DynamoDB stores 32 levels of nesting; both backends refuse deeper items before storage
/// and read back what they accept.
async fn deeply_nested_items_are_refused(backend: Backend) {
    let (s, _) = stores(backend).await;
    let nested = |levels: usize| {
        let mut v = json!("leaf");
        for _ in 0..levels {
            v = json!({ "a": v });
        }
        v
    };
    let ok = msg("T#1", "DEEP#32", json!({ "doc": nested(32) }));
    s.put(ok.clone(), None).await.unwrap();
    assert_eq!(s.get(&Key::new("T#1", "DEEP#32")).await.unwrap(), Some(ok));
    let deep = msg("T#1", "DEEP#33", json!({ "doc": nested(33) }));
    assert!(matches!(
        s.put(deep, None).await,
        Err(StoreError::TooDeep { .. })
    ));
    assert!(matches!(
        s.update(
            &Key::new("T#1", "DEEP#32"),
            Update::new().set("doc", nested(40)),
            None
        )
        .await,
        Err(StoreError::TooDeep { .. })
    ));
    assert_eq!(
        s.query(&Query::new("T#1")).await.unwrap().items.len(),
        1,
        "nothing deeper was stored"
    );
}

async fn secondary_indexes_are_sparse_and_ordered(backend: Backend) {
    let (s, _) = stores(backend).await;
    for (user, at) in [
        ("u1", "2026-01-03"),
        ("u2", "2026-01-01"),
        ("u3", "2026-01-02"),
    ] {
        s.put(
            msg(
                "T#1",
                &format!("USER#{user}"),
                json!({ "gsi1pk": "EMAIL#same@x.org", "gsi1sk": at, "gsi2pk": "T#1#USERS", "gsi2sk": user }),
            ),
            None,
        )
        .await
        .unwrap();
    }
    s.put(
        msg("T#1", "USER#none", json!({ "gsi1pk": "EMAIL#same@x.org" })),
        None,
    )
    .await
    .unwrap();
    let by_email = all_pages(
        s.as_ref(),
        Query::new("EMAIL#same@x.org").on(Index::Gsi1).limit(2),
    )
    .await;
    assert_eq!(
        sks(&by_email),
        ["USER#u2", "USER#u3", "USER#u1"],
        "ordered by the index sort key; items without it are not indexed"
    );
    let users = s
        .query(&Query::new("T#1#USERS").on(Index::Gsi2).backward())
        .await
        .unwrap();
    assert_eq!(sks(&users.items), ["USER#u3", "USER#u2", "USER#u1"]);
    assert_eq!(
        s.count(&Query::new("EMAIL#same@x.org").on(Index::Gsi1))
            .await
            .unwrap(),
        3
    );
}

async fn batch_get_reads_many_keys(backend: Backend) {
    let (s, _) = stores(backend).await;
    for i in 0..130 {
        s.put(msg("T#1", &format!("K#{i:03}"), json!({ "i": i })), None)
            .await
            .unwrap();
    }
    let mut keys: Vec<Key> = (0..130)
        .map(|i| Key::new("T#1", format!("K#{i:03}")))
        .collect();
    keys.push(Key::new("T#1", "K#000"));
    keys.push(Key::new("T#1", "K#missing"));
    let mut got = s.batch_get(&keys).await.expect("batch get");
    got.sort_by(|a, b| a["sk"].as_str().cmp(&b["sk"].as_str()));
    assert_eq!(got.len(), 130, "duplicates read once, missing keys absent");
    assert_eq!(got[129]["i"], json!(129));
    assert_eq!(s.batch_get(&[]).await.unwrap(), Vec::<Item>::new());
}

async fn transaction_is_all_or_nothing(backend: Backend) {
    let (s, _) = stores(backend).await;
    s.put(msg("T#1", "SUBDOMAIN#acme", json!({})), None)
        .await
        .unwrap();
    s.put(msg("T#1", "COUNTER", json!({ "users": 1 })), None)
        .await
        .unwrap();
    let result = s
        .transact(vec![
            Write::Put {
                item: msg("T#1", "USER#new", json!({})),
                condition: Some(Condition::NotExists),
            },
            Write::Put {
                item: msg("T#1", "SUBDOMAIN#acme", json!({ "taken": true })),
                condition: Some(Condition::NotExists),
            },
            Write::Update {
                key: Key::new("T#1", "COUNTER"),
                update: Update::new().add("users", 1),
                condition: None,
            },
        ])
        .await;
    assert_eq!(
        result,
        Err(StoreError::TransactionCanceled { failed: vec![1] })
    );
    assert_eq!(s.get(&Key::new("T#1", "USER#new")).await.unwrap(), None);
    assert_eq!(
        s.get(&Key::new("T#1", "COUNTER")).await.unwrap().unwrap()["users"],
        json!(1)
    );

    s.transact(vec![
        Write::Put {
            item: msg("T#1", "USER#new", json!({})),
            condition: Some(Condition::NotExists),
        },
        Write::Update {
            key: Key::new("T#1", "COUNTER"),
            update: Update::new().add("users", 1),
            condition: Some(Condition::Exists),
        },
        Write::Delete {
            key: Key::new("T#1", "SUBDOMAIN#acme"),
            condition: None,
        },
        Write::Check {
            key: Key::new("T#1", "USER#new"),
            condition: Condition::NotExists,
        },
    ])
    .await
    .expect_err("a transaction may not touch one item twice");

    s.transact(vec![
        Write::Put {
            item: msg("T#1", "USER#new", json!({})),
            condition: Some(Condition::NotExists),
        },
        Write::Update {
            key: Key::new("T#1", "COUNTER"),
            update: Update::new().add("users", 1),
            condition: Some(Condition::Exists),
        },
        Write::Delete {
            key: Key::new("T#1", "SUBDOMAIN#acme"),
            condition: None,
        },
        Write::Check {
            key: Key::new("T#1", "MISSING"),
            condition: Condition::NotExists,
        },
    ])
    .await
    .expect("transaction commits");
    assert!(s.get(&Key::new("T#1", "USER#new")).await.unwrap().is_some());
    assert_eq!(
        s.get(&Key::new("T#1", "SUBDOMAIN#acme")).await.unwrap(),
        None
    );
    assert_eq!(
        s.get(&Key::new("T#1", "COUNTER")).await.unwrap().unwrap()["users"],
        json!(2)
    );
}

async fn transaction_limits_hold(backend: Backend) {
    let (s, _) = stores(backend).await;
    let puts = |n: usize| -> Vec<Write> {
        (0..n)
            .map(|i| Write::Put {
                item: msg("T#1", &format!("I#{i:03}"), json!({})),
                condition: None,
            })
            .collect()
    };
    assert!(matches!(
        s.transact(puts(101)).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(s.count(&Query::new("T#1")).await.unwrap(), 0);
    s.transact(puts(100)).await.expect("100 writes fit");
    assert_eq!(s.count(&Query::new("T#1")).await.unwrap(), 100);
    assert!(matches!(
        s.transact(vec![]).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn oversized_items_are_refused_before_storage(backend: Backend) {
    let (s, _) = stores(backend).await;
    let big = "x".repeat(MAX_ITEM_BYTES);
    assert!(matches!(
        s.put(msg("T#1", "BIG", json!({ "content": big.clone() })), None)
            .await,
        Err(StoreError::TooLarge { .. })
    ));
    assert!(matches!(
        s.transact(vec![
            Write::Put {
                item: msg("T#1", "SMALL", json!({})),
                condition: None,
            },
            Write::Put {
                item: msg("T#1", "BIG", json!({ "content": big })),
                condition: None,
            },
        ])
        .await,
        Err(StoreError::TooLarge { .. })
    ));
    assert_eq!(s.count(&Query::new("T#1")).await.unwrap(), 0);
    let fits = "x".repeat(MAX_ITEM_BYTES - 1024);
    s.put(msg("T#1", "FITS", json!({ "content": fits })), None)
        .await
        .expect("an item under 400 KB is stored");
}

async fn expired_items_are_invisible(backend: Backend) {
    let (s, c) = stores(backend).await;
    s.put(
        msg("T#1", "TOKEN#old", json!({ "expires_at": past() })),
        None,
    )
    .await
    .unwrap();
    s.put(
        msg("T#1", "TOKEN#new", json!({ "expires_at": future() })),
        None,
    )
    .await
    .unwrap();
    s.put(msg("T#1", "TOKEN#forever", json!({})), None)
        .await
        .unwrap();
    assert_eq!(s.get(&Key::new("T#1", "TOKEN#old")).await.unwrap(), None);
    assert!(s
        .get(&Key::new("T#1", "TOKEN#new"))
        .await
        .unwrap()
        .is_some());
    let listed = s.query(&Query::new("T#1")).await.unwrap();
    assert_eq!(sks(&listed.items), ["TOKEN#forever", "TOKEN#new"]);
    assert_eq!(s.count(&Query::new("T#1")).await.unwrap(), 2);
    let batch = s
        .batch_get(&[Key::new("T#1", "TOKEN#old"), Key::new("T#1", "TOKEN#new")])
        .await
        .unwrap();
    assert_eq!(sks(&batch), ["TOKEN#new"]);
    // An expired item counts as absent for conditions too.
    assert_eq!(
        s.update(
            &Key::new("T#1", "TOKEN#old"),
            Update::new().set("x", 1),
            Some(Condition::Exists)
        )
        .await,
        Err(StoreError::ConditionFailed)
    );
    s.put(
        msg("T#1", "TOKEN#old", json!({ "reborn": true })),
        Some(Condition::NotExists),
    )
    .await
    .expect("an expired item does not block a NotExists write");
    assert!(matches!(
        s.put(msg("T#1", "BAD", json!({ "expires_at": "tomorrow" })), None)
            .await,
        Err(StoreError::Invalid(_))
    ));

    c.put(
        item(json!({ "connection_id": "gone", "conversation_id": "c1", "connected_at": "1", "expires_at": past() })),
        None,
    )
    .await
    .unwrap();
    c.put(
        item(json!({ "connection_id": "live", "conversation_id": "c1", "connected_at": "2", "expires_at": future() })),
        None,
    )
    .await
    .unwrap();
    assert_eq!(c.count(&Query::new("c1").on(Index::Gsi1)).await.unwrap(), 1);
}

async fn concurrent_adds_are_exact(backend: Backend) {
    let (s, _) = stores(backend).await;
    let key = Key::new("T#1", "USAGE#2026-11-27");
    let writers = (0..50).map(|_| {
        let s = s.clone();
        let key = key.clone();
        tokio::spawn(async move { s.update(&key, Update::new().add("tokens", 7), None).await })
    });
    for w in futures::future::join_all(writers).await {
        w.expect("task").expect("add");
    }
    assert_eq!(s.get(&key).await.unwrap().unwrap()["tokens"], json!(350));
}

/// Concurrent transactions on one item conflict (as on DynamoDB: the embedded store refuses a
/// transaction touching an item an in-flight one holds), are retried, and all land exactly
/// once, together with single writes to the same item.
async fn concurrent_transactions_conflict_and_all_land(backend: Backend) {
    let (s, _) = stores(backend).await;
    let counter = Key::new("T#1", "COUNTER");
    let writers = (0..40).map(|i| {
        let s = s.clone();
        let counter = counter.clone();
        tokio::spawn(async move {
            if i % 4 == 0 {
                return s
                    .update(&counter, Update::new().add("n", 1), None)
                    .await
                    .map(drop);
            }
            s.transact(vec![
                Write::Put {
                    item: msg("T#1", &format!("MSG#{i:02}"), json!({})),
                    condition: Some(Condition::NotExists),
                },
                Write::Update {
                    key: counter.clone(),
                    update: Update::new().add("n", 1),
                    condition: None,
                },
            ])
            .await
        })
    });
    for w in futures::future::join_all(writers).await {
        w.expect("task").expect("every write lands");
    }
    assert_eq!(s.get(&counter).await.unwrap().unwrap()["n"], json!(40));
    let stored = s.count(&Query::new("T#1").begins_with("MSG#")).await;
    assert_eq!(stored.unwrap(), 30);
    if backend == Backend::Embedded {
        assert!(s.conflicts() > 0, "the embedded store emulates conflicts");
    }
}

async fn connections_table_has_a_partition_key_only(backend: Backend) {
    let (_, c) = stores(backend).await;
    for (id, conv, tenant, at) in [
        ("a", "c1", "t1", "2026-11-27T10:00:00Z"),
        ("b", "c1", "t1", "2026-11-27T10:00:01Z"),
        ("d", "c2", "t2", "2026-11-27T10:00:02Z"),
    ] {
        c.put(
            item(json!({ "connection_id": id, "conversation_id": conv, "tenant_id": tenant, "connected_at": at,
                         "user_connected_at": format!("u#{at}") })),
            Some(Condition::NotExists),
        )
        .await
        .unwrap();
    }
    let in_c1 = c.query(&Query::new("c1").on(Index::Gsi1)).await.unwrap();
    let ids: Vec<&str> = in_c1
        .items
        .iter()
        .map(|i| i["connection_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(c.count(&Query::new("t2").on(Index::Gsi2)).await.unwrap(), 1);
    c.delete(&Key::partition("a"), None).await.unwrap();
    assert_eq!(c.get(&Key::partition("a")).await.unwrap(), None);
    assert!(matches!(
        c.get(&Key::new("a", "b")).await,
        Err(StoreError::Invalid(_))
    ));
}

/// A typed read of a query gives the records the items hold, page by page with the same
/// cursors as the query, skips an item no record reads from, and never shows an expired one.
async fn query_records_reads_what_query_reads(backend: Backend) {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Numbered {
        n: u32,
        label: Option<String>,
    }
    let (s, _) = stores(backend).await;
    for i in 0..9 {
        let extra = json!({ "n": i, "label": format!("m{i}"), "meta": { "deep": [i] } });
        s.put(msg("T#1", &format!("MSG#{i:03}"), extra), None)
            .await
            .unwrap();
    }
    s.put(msg("T#1", "MSG#004x", json!({ "n": "not a number" })), None)
        .await
        .unwrap();
    s.put(
        msg("T#1", "MSG#005x", json!({ "n": 99, "expires_at": past() })),
        None,
    )
    .await
    .unwrap();
    let query = Query::new("T#1").begins_with("MSG#").limit(4);
    let mut read = Vec::new();
    let mut cursor = None;
    loop {
        let q = query.clone().after(cursor);
        let (records, next) = thanotopolis_store::query_records::<Numbered>(s.as_ref(), &q)
            .await
            .unwrap();
        let page = s.query(&q).await.unwrap();
        assert_eq!(next, page.cursor, "the same cursor as the query's");
        read.extend(records);
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let expected: Vec<Numbered> = (0..9)
        .map(|n| Numbered {
            n,
            label: Some(format!("m{n}")),
        })
        .collect();
    assert_eq!(read, expected);
}

async fn round_trips_are_counted(backend: Backend) {
    let (s, _) = stores(backend).await;
    let before = s.round_trips();
    s.put(msg("T#1", "A", json!({})), None).await.unwrap();
    s.get(&Key::new("T#1", "A")).await.unwrap();
    s.query(&Query::new("T#1")).await.unwrap();
    assert_eq!(s.round_trips() - before, 3);
}

on_both_backends!(
    delete_all_removes_what_the_query_matches,
    delete_all_follows_an_index,
    delete_batch_deletes_exactly_its_keys,
    scan_reads_every_live_item_once,
    foreign_cursors_are_refused,
    deeply_nested_items_are_refused,
    put_then_get_returns_the_same_item,
    conditional_put_refuses_to_overwrite,
    update_sets_adds_and_removes,
    version_and_equality_conditions_guard_writes,
    query_orders_filters_and_paginates,
    secondary_indexes_are_sparse_and_ordered,
    batch_get_reads_many_keys,
    transaction_is_all_or_nothing,
    transaction_limits_hold,
    oversized_items_are_refused_before_storage,
    expired_items_are_invisible,
    concurrent_adds_are_exact,
    concurrent_transactions_conflict_and_all_land,
    connections_table_has_a_partition_key_only,
    round_trips_are_counted,
    query_records_reads_what_query_reads,
);
