//! Polls answered from memory: what they save, and that they are never
//! older than this process's writes, nor older than the staleness allowed
//! after another program's.

use std::time::Duration;

use rocket::figment::Figment;
use rocket::futures::future::join_all;
use rocket::http::Status;
use rocket::serde::json::json;
use rocket::tokio::time::{sleep, Instant};

use crate::helpers::{metric, Backend, NewRow, TestApp, SHOWS_WITHIN};
use crate::trials;
use uuid::Uuid;

trials!(
    on_both_backends: [
        repeated_polls_of_an_operation_are_answered_from_memory,
        this_processs_own_writes_show_at_the_next_poll,
        an_operation_another_program_deletes_is_gone_within_the_staleness,
        an_operation_another_program_inserts_is_found_at_once,
        with_no_entries_every_poll_reads_the_database,
        polls_that_miss_together_each_get_their_own_operation,
        a_stream_of_misses_leaves_connections_for_writes,
        polls_that_miss_together_read_each_operation_as_the_list_does,
        after_a_restart_unfinished_and_lately_finished_operations_are_held_before_their_first_poll,
    ],
    on_postgres: [on_postgres_an_own_write_stays_in_memory_after_its_notification],
    on_sqlite: [
        on_sqlite_rows_in_forms_the_service_does_not_write_are_read_alike_beside_the_others,
        on_sqlite_memory_stays_confirmed_while_request_tasks_keep_the_runtime_busy,
    ],
);

async fn lookups(app: &TestApp, result: &str) -> f64 {
    let scrape = app.get("/metrics").await;
    metric(
        &scrape.body,
        &format!("longrun_poll_cache_lookups_total{{result=\"{result}\"}}"),
    )
}

/// Polls `path` until an answer comes from memory (the change feed
/// confirms what is held shortly after start-up); panics after 10 s.
async fn poll_until_served_from_memory(app: &TestApp, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let hits = lookups(app, "hit").await;
        assert_eq!(app.get(path).await.status, Status::Ok);
        if lookups(app, "hit").await > hits {
            return;
        }
        assert!(Instant::now() < deadline, "no poll was answered from memory");
        // A pause between attempts of a condition loop.
        sleep(Duration::from_millis(20)).await;
    }
}

async fn repeated_polls_of_an_operation_are_answered_from_memory(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create("echo", json!({})).await;
    let path = format!("/api/v1/operations/{id}");
    poll_until_served_from_memory(&app, &path).await;

    let (hits, misses) = (lookups(&app, "hit").await, lookups(&app, "miss").await);
    let bodies: Vec<String> = polls_of(&app, &path, 5).await;
    assert!(bodies.windows(2).all(|pair| pair[0] == pair[1]));
    // Within the staleness window every one of them may be a hit; a window
    // that ran out in between makes one miss, which refills memory.
    assert!(lookups(&app, "hit").await >= hits + 4.0);
    assert!(lookups(&app, "miss").await <= misses + 1.0);
    let scrape = app.get("/metrics").await;
    assert!(metric(&scrape.body, "longrun_poll_cache_entries") >= 1.0);
}

async fn polls_of(app: &TestApp, path: &str, count: usize) -> Vec<String> {
    let mut bodies = Vec::with_capacity(count);
    for _ in 0..count {
        let response = app.get(path).await;
        assert_eq!(response.status, Status::Ok);
        bodies.push(response.body);
    }
    bodies
}

async fn this_processs_own_writes_show_at_the_next_poll(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ran = app.create("echo", json!({"result": "ran"})).await;
    let cancelled = app.create("echo", json!({})).await;
    for id in [ran, cancelled] {
        poll_until_served_from_memory(&app, &format!("/api/v1/operations/{id}")).await;
    }

    let cancel = app
        .post(&format!("/api/v1/operations/{cancelled}/cancel"), "", &[])
        .await;
    assert_eq!(cancel.status, Status::Ok, "{}", cancel.body);
    let after_cancel = app.get(&format!("/api/v1/operations/{cancelled}")).await.json();
    assert_eq!(after_cancel["status"], "failed");
    assert_eq!(after_cancel["error_code"], "CANCELLED");

    assert_eq!(app.drain().await, 1);
    let after_run = app.get(&format!("/api/v1/operations/{ran}")).await.json();
    assert_eq!(after_run["status"], "completed");
    assert_eq!(after_run["result"], "ran");
}

async fn an_operation_another_program_deletes_is_gone_within_the_staleness(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut other = app.db.connect().await;
    let id = other.insert(NewRow::pending()).await;
    let path = format!("/api/v1/operations/{id}");
    poll_until_served_from_memory(&app, &path).await;

    other
        .execute(&format!("DELETE FROM operations WHERE id = '{id}'"))
        .await;

    let gone = app
        .wait_until_get(&path, SHOWS_WITHIN, |r| r.status != Status::Ok)
        .await;
    assert_eq!(gone.status, Status::NotFound, "{}", gone.body);
}

async fn an_operation_another_program_inserts_is_found_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.db.connect().await.insert(NewRow::pending()).await;

    let found = app.get(&format!("/api/v1/operations/{id}")).await;
    assert_eq!(
        found.status,
        Status::Ok,
        "a missing operation is never remembered"
    );
}

async fn with_no_entries_every_poll_reads_the_database(backend: Backend) {
    let db = crate::helpers::TestDb::create(backend).await;
    let url = db.url.clone();
    let app = TestApp::spawn_on(db, &url, |f| f.merge(("operations.cache_entries", 0))).await;
    let mut other = app.db.connect().await;
    let id = other.insert(NewRow::pending()).await;
    let path = format!("/api/v1/operations/{id}");
    assert_eq!(app.get(&path).await.json()["status"], "pending");

    other.set_status(id, "processing", None).await;
    let at_once = app.get(&path).await.json();

    assert_eq!(at_once["status"], "processing");
    assert_eq!(lookups(&app, "hit").await, 0.0);
    let scrape = app.get("/metrics").await;
    assert_eq!(metric(&scrape.body, "longrun_poll_cache_entries"), 0.0);
}

/// Misses waiting at the same moment share one read of the database; each
/// poll must still get its own operation, and an unknown id its 404.
async fn polls_that_miss_together_each_get_their_own_operation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut other = app.db.connect().await;
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push((other.insert(NewRow::pending()).await, true));
    }
    ids.extend((0..10).map(|_| (Uuid::new_v4(), false)));
    // One id asked twice in the same moment.
    ids.push(ids[0]);

    let paths: Vec<String> = ids
        .iter()
        .map(|(id, _)| format!("/api/v1/operations/{id}"))
        .collect();
    let answers = join_all(paths.iter().map(|path| app.get(path))).await;

    for ((id, exists), answer) in ids.iter().zip(answers) {
        if *exists {
            assert_eq!(answer.status, Status::Ok, "{}", answer.body);
            assert_eq!(answer.json()["id"], id.to_string());
        } else {
            answer.assert_error(Status::NotFound, "OPERATION_NOT_FOUND");
        }
    }
}

/// The change feed keeps its pace when request tasks keep every worker of
/// the service's runtime busy (here its only worker, for three times the
/// staleness allowed): the next poll is still served from memory, where a
/// feed queued behind the requests would have left it unconfirmed. The
/// staleness allowed is four times the default, so that only a feed held
/// up by the runtime misses it, not one the other tests running beside
/// this one keep from a core for a moment.
async fn on_sqlite_memory_stays_confirmed_while_request_tasks_keep_the_runtime_busy() {
    const STALENESS_MS: u64 = 400;
    let app = TestApp::spawn_with(Backend::Sqlite, |f| {
        f.merge(("operations.cache_max_staleness_ms", STALENESS_MS))
    })
    .await;
    let id = app.create("echo", json!({})).await;
    let path = format!("/api/v1/operations/{id}");
    poll_until_served_from_memory(&app, &path).await;
    let hits = lookups(&app, "hit").await;
    let busy = rocket::tokio::spawn(async { std::thread::sleep(Duration::from_millis(3 * STALENESS_MS)) });
    assert!(busy.await.is_ok());
    assert_eq!(app.get(&path).await.status, Status::Ok);
    assert_eq!(lookups(&app, "hit").await, hits + 1.0);
}
/// The warm-up at start: the operations likely to be polled next (the
/// unfinished, and those finished within `cache_warm_up_secs`) are read
/// into memory before anyone polls them; one finished long before is not.
async fn after_a_restart_unfinished_and_lately_finished_operations_are_held_before_their_first_poll(
    backend: Backend,
) {
    let before = TestApp::spawn(backend).await;
    let mut other = before.db.connect().await;
    let finished = |status| NewRow {
        operation_type: "echo",
        status,
        result: (status == "completed").then(|| json!({"n": 1})),
        error_message: (status == "failed").then_some("no"),
    };
    let likely = vec![
        other.insert(NewRow::pending()).await,
        other.insert(finished("completed")).await,
        other.insert(finished("failed")).await,
    ];
    let long_ago = other.insert(finished("completed")).await;
    let an_hour_ago = match backend {
        Backend::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour')",
        Backend::Postgres => "now() - interval '1 hour'",
    };
    other
        .execute(&format!(
            "UPDATE operations SET updated_at = {an_hour_ago} WHERE id = '{long_ago}'"
        ))
        .await;
    let TestApp { client, db } = before;
    drop(client);

    let url = db.url.clone();
    let app = TestApp::spawn_on(db, &url, |f| f.merge(("operations.cache_warm_up_secs", 300))).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let scrape = app.get("/metrics").await;
        if metric(&scrape.body, "longrun_poll_cache_entries") >= likely.len() as f64 {
            break;
        }
        assert!(Instant::now() < deadline, "not held after 10 s: {}", scrape.body);
        // A pause between attempts of a condition loop.
        sleep(Duration::from_millis(20)).await;
    }
    let (hits, misses) = (lookups(&app, "hit").await, lookups(&app, "miss").await);
    for id in &likely {
        let answer = app.get(&format!("/api/v1/operations/{id}")).await;
        assert_eq!(answer.status, Status::Ok, "{}", answer.body);
        assert_eq!(answer.json()["id"], id.to_string());
    }
    assert_eq!(lookups(&app, "hit").await, hits + likely.len() as f64);
    assert_eq!(lookups(&app, "miss").await, misses);
    let answer = app.get(&format!("/api/v1/operations/{long_ago}")).await;
    assert_eq!(answer.status, Status::Ok, "{}", answer.body);
    assert_eq!(lookups(&app, "miss").await, misses + 1.0);
}

/// The operations of `ids`, polled all at once (so their reads are
/// gathered), each as the list reads it row by row: the same body, or the
/// same error.
async fn polled_together_as_listed(app: &TestApp, ids: &[Uuid]) {
    let listed = app.get("/api/v1/operations?page_size=100").await;
    assert_eq!(listed.status, Status::Ok, "{}", listed.body);
    let listed = listed.json()["operations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let paths: Vec<String> = ids.iter().map(|id| format!("/api/v1/operations/{id}")).collect();
    let answers = join_all(paths.iter().map(|path| app.get(path))).await;
    for (id, answer) in ids.iter().zip(answers) {
        assert_eq!(answer.status, Status::Ok, "{id}: {}", answer.body);
        let as_listed = listed.iter().find(|operation| operation["id"] == id.to_string());
        assert_eq!(Some(&answer.json()), as_listed, "{id}");
    }
}

/// What a gathered read of misses makes of a row is what every other read
/// makes of it: progress, owner, callback, times to the millisecond, and
/// results with escapes, unicode and numbers of every kind.
async fn polls_that_miss_together_read_each_operation_as_the_list_does(backend: Backend) {
    let app = TestApp::spawn_with(backend, |f| f.merge(("operations.auth.list_in_none_mode", true))).await;
    let mut other = app.db.connect().await;
    let mut ids = Vec::new();
    for n in 0..30 {
        let result = json!({
            "text": format!("\"quoted\", back\\slash, tab\t, newline\n, é, 漢字, 🎉 {n}"),
            "numbers": [n, -1.5, 1e20, 0.1, null, true],
            "nested": {"b": [], "a": {}},
        });
        let status = ["completed", "failed", "pending"][n % 3];
        let id = other
            .insert(NewRow {
                operation_type: "echo",
                status,
                result: (status == "completed").then_some(result),
                error_message: (status == "failed").then_some("it \"failed\"\n"),
            })
            .await;
        ids.push(id);
    }
    other
        .execute(&format!(
            "UPDATE operations SET progress = '{{\"percent\": 40, \"message\": \"half\"}}', owner = 'alice',
                    callback_url = 'https://example.com/done', attempts = 2 WHERE id = '{}'",
            ids[2]
        ))
        .await;
    polled_together_as_listed(&app, &ids).await;
}

/// Rows written by another program in forms SQLite accepts but the service
/// does not write (its own time format, a time without a zone) are read as
/// the row-by-row read reads them, and one holding a value JSON cannot
/// (a blob) is the error of its own poll only.
async fn on_sqlite_rows_in_forms_the_service_does_not_write_are_read_alike_beside_the_others() {
    let app = TestApp::spawn_with(Backend::Sqlite, |f| {
        f.merge(("operations.auth.list_in_none_mode", true))
    })
    .await;
    let mut other = app.db.connect().await;
    let mut ids = Vec::new();
    for n in 0..12 {
        let result = Some(json!({"n": n}));
        ids.push(
            other
                .insert(NewRow {
                    operation_type: "echo",
                    status: "completed",
                    result,
                    error_message: None,
                })
                .await,
        );
    }
    let set = |values: &str, id: &Uuid| format!("UPDATE operations SET {values} WHERE id = '{id}'");
    // Times of now: older ones would be the retention sweep's to delete.
    other
        .execute(&set("created_at = strftime('%Y-%m-%d %H:%M:%f', 'now')", &ids[0]))
        .await;
    other
        .execute(&set("updated_at = strftime('%Y-%m-%dT%H:%M:%S', 'now')", &ids[1]))
        .await;
    let blob = other.insert(NewRow::pending()).await;
    other.execute(&set("error_message = x'00ff'", &blob)).await;

    // Gathered with the blob, each good one twice: it alone cannot be read.
    let mut gathered: Vec<Uuid> = ids.iter().chain(&ids).copied().collect();
    gathered.push(blob);
    let paths: Vec<String> = gathered
        .iter()
        .map(|id| format!("/api/v1/operations/{id}"))
        .collect();
    let answers = join_all(paths.iter().map(|path| app.get(path))).await;
    for (id, answer) in gathered.iter().zip(answers) {
        if *id == blob {
            answer.assert_error(Status::InternalServerError, "OPERATION_UNREADABLE");
        } else {
            assert_eq!(answer.status, Status::Ok, "{id}: {}", answer.body);
            assert_eq!(answer.json()["id"], id.to_string());
        }
    }
    polled_together_as_listed(&app, &ids).await;
    // Read as times, and written in RFC 3339 as every other.
    let first = app.get(&format!("/api/v1/operations/{}", ids[0])).await;
    let second = app.get(&format!("/api/v1/operations/{}", ids[1])).await;
    for time in [&first.json()["created_at"], &second.json()["updated_at"]] {
        let time = time.as_str().unwrap_or_default();
        assert!(time.contains('T') && time.ends_with('Z'), "{time}");
    }
}

/// The readers of misses keep their connections while misses keep coming,
/// but never the pool's last: creates go through a stream of unknown ids
/// on a pool of two.
async fn a_stream_of_misses_leaves_connections_for_writes(backend: Backend) {
    let configure = |f: Figment| f.merge(("databases.operations.max_connections", 2));
    let app = TestApp::spawn_with(backend, configure).await;
    let polling_until = Instant::now() + Duration::from_secs(2);
    let misses = (0..8).map(|_| async {
        let mut answered = 0;
        while Instant::now() < polling_until {
            let path = format!("/api/v1/operations/{}", Uuid::new_v4());
            app.get(&path)
                .await
                .assert_error(Status::NotFound, "OPERATION_NOT_FOUND");
            answered += 1;
        }
        answered
    });
    let creates = async {
        // Once the stream of misses is under way.
        while lookups(&app, "miss").await < 50.0 {}
        let started = Instant::now();
        for _ in 0..10 {
            app.create("echo", json!({})).await;
        }
        started.elapsed()
    };

    let (answered, creating_took) = rocket::tokio::join!(join_all(misses), creates);

    assert!(
        creating_took < Duration::from_secs(1),
        "ten creates took {creating_took:?} beside a stream of misses"
    );
    assert!(answered.iter().all(|&n| n > 10), "misses answered: {answered:?}");
}

/// PostgreSQL notifies every process of every change, this one's own
/// included; its own were put in memory as they were written, and their
/// notifications must not drop them again.
async fn on_postgres_an_own_write_stays_in_memory_after_its_notification() {
    let db = crate::helpers::TestDb::create(Backend::Postgres).await;
    let url = db.url.clone();
    // Confirmed for 2 s at a time: a late marker cannot be taken for a miss.
    let app = TestApp::spawn_on(db, &url, |f| f.merge(("operations.cache_max_staleness_ms", 2000))).await;
    let id = app.create("echo", json!({"delay_ms": 60_000})).await;
    let path = format!("/api/v1/operations/{id}");
    poll_until_served_from_memory(&app, &path).await;
    let mut other = app.db.connect().await;
    let later = other.insert(NewRow::pending()).await;
    let later_path = format!("/api/v1/operations/{later}");
    poll_until_served_from_memory(&app, &later_path).await;

    let cancel = app.post(&format!("{path}/cancel"), "", &[]).await;
    assert_eq!(cancel.status, Status::Ok, "{}", cancel.body);
    // Notifications arrive in commit order: once another program's change,
    // committed after the cancel, shows here, the cancel's has arrived too.
    other.set_status(later, "processing", None).await;
    app.wait_for(later, Duration::from_secs(10), |op| op["status"] == "processing")
        .await;
    let (hits, misses) = (lookups(&app, "hit").await, lookups(&app, "miss").await);
    let polled = app.get(&path).await.json();

    assert_eq!(polled["error_code"], "CANCELLED");
    assert_eq!(lookups(&app, "hit").await, hits + 1.0);
    assert_eq!(lookups(&app, "miss").await, misses);
}
