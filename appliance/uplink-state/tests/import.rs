//! A box that ran a build before this crate keeps its destinations and replica states: the first
//! time the uplink state is made, the uplink's tables of the catalog are copied in, and left in the
//! catalog.
//!
//! `fixtures/catalog-v2-uplink-tables.sqlite` is a catalog made by that build (the store and the
//! uplink as they were, with their own API): users alice and bob; /a.txt, /dir/b.bin (100 kB),
//! /copy.txt (a COPY of /a.txt) and bob's /c.txt; destination "one" (a directory) to which the
//! uplink uploaded everything, then destination "two", added without an uplink running (all
//! pending, state retrying); a multipart upload of alice/dir/b.bin at "two" with two parts; a
//! conflict on bob/c.txt at "one"; the bandwidth schedule "08:00,1M 19:00,off"; and alice's
//! /late.txt, written after the uplink stopped (its journal entry not taken in).

use rusqlite::Connection;

use microcloud_store::{Durability, OpenOptions, Store};
use microcloud_uplink_state::{DestinationState, ReplicaState, UplinkState};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/catalog-v2-uplink-tables.sqlite"
);

/// Every row of `sql`, each column as text (NULLs as "NULL", blobs as hex), sorted.
fn rows(c: &Connection, sql: &str) -> Vec<Vec<String>> {
    let mut stmt = c.prepare(sql).unwrap();
    let n = stmt.column_count();
    let mut out: Vec<Vec<String>> = stmt
        .query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => "NULL".to_owned(),
                        rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                        rusqlite::types::ValueRef::Real(v) => v.to_string(),
                        rusqlite::types::ValueRef::Text(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                        rusqlite::types::ValueRef::Blob(b) => {
                            b.iter().map(|x| format!("{x:02x}")).collect()
                        }
                    })
                })
                .collect()
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    out.sort();
    out
}

const TABLES: [&str; 5] = [
    "SELECT id, name, config, created_ns, state, last_error, last_ok_ns FROM destinations",
    "SELECT dest_id, key, blob_id, size, hash, state, remote_etag, dirty_ns, attempts, next_ns, last_error FROM replicas",
    "SELECT dest_id, key, blob_id, upload_id, part_size, created_ns FROM multipart",
    "SELECT dest_id, key, part_number, etag FROM multipart_parts",
    "SELECT dest_id, key, remote_etag, local_hash, detected_ns FROM conflicts",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_catalogs_uplink_tables_are_taken_over_once() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.sqlite");
    std::fs::copy(FIXTURE, &catalog).unwrap();
    let before: Vec<Vec<Vec<String>>> = {
        let c = Connection::open(&catalog).unwrap();
        TABLES.iter().map(|sql| rows(&c, sql)).collect()
    };
    assert_eq!(before[0].len(), 2, "the fixture has two destinations");
    assert_eq!(before[1].len(), 8, "and four files at each");
    // The store opens it as it is (same schema version) and keeps serving it.
    let store = Store::open(
        dir.path(),
        OpenOptions {
            create: true,
            ..Default::default()
        },
    )
    .unwrap();
    let alice = store.user("alice").unwrap().unwrap();

    let state = UplinkState::open(dir.path()).unwrap();
    {
        let c = Connection::open(dir.path().join("uplink.sqlite")).unwrap();
        for (sql, old) in TABLES.iter().zip(&before) {
            assert_eq!(&rows(&c, sql), old, "{sql}");
        }
    }
    let dests = state.destinations().unwrap();
    let names: Vec<&str> = dests.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["one", "two"]);
    assert!(
        dests[0].config.contains("\"name\":\"one\""),
        "{}",
        dests[0].config
    );
    assert_eq!(dests[1].state, DestinationState::Retrying);
    assert_eq!(dests[1].last_error.as_deref(), Some("connection refused"));
    let (one, two) = (dests[0].id, dests[1].id);
    assert_eq!(
        state.bandwidth_schedule().unwrap().as_deref(),
        Some("08:00,1M 19:00,off")
    );
    let cursor = state.cursor().unwrap();
    assert!(cursor > 0);
    let late = store.changes_after(cursor, 100).unwrap();
    assert_eq!(late.len(), 1, "only /late.txt waits: {late:?}");
    assert_eq!(late[0].path, "late.txt");
    let b = state.replica(one, "alice/dir/b.bin").unwrap().unwrap();
    assert_eq!((b.state, b.size), (ReplicaState::Done, 100_000));
    assert!(b.remote_etag.is_some());
    let m = state.multipart(two, "alice/dir/b.bin").unwrap().unwrap();
    assert_eq!(
        (m.upload_id.as_str(), m.blob),
        ("upload-1", b.blob.unwrap())
    );
    assert_eq!(
        state.parts(two, "alice/dir/b.bin").unwrap(),
        [(1, "part-1".to_owned()), (2, "part-2".to_owned())]
    );
    let conflicts = state.conflicts().unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(
        (conflicts[0].destination.as_str(), conflicts[0].key.as_str()),
        ("one", "bob/c.txt")
    );
    assert_eq!(
        state.replica(one, "bob/c.txt").unwrap().unwrap().state,
        ReplicaState::Conflict
    );
    let p = state.pending().unwrap();
    assert_eq!((p.files, p.conflicts, p.destinations), (4, 1, 2));

    // The uplink goes on from there: the late change, and levels worked out from the replicas.
    let changes = store.changes_after(state.cursor().unwrap(), 100).unwrap();
    let applied = state.apply_changes(&store, &changes).unwrap();
    assert_eq!(applied.changes, 1);
    store.trim_changes(applied.cursor).await.unwrap();
    state.recompute_all(&store).unwrap();
    let level = |path: &str| store.lookup(alice.id, path).unwrap().durability;
    assert_eq!(level("/dir/b.bin"), Durability::CloudOne);
    assert_eq!(level("/a.txt"), Durability::CloudOne);
    assert_eq!(level("/late.txt"), Durability::Local);
    let bob = store.user("bob").unwrap().unwrap();
    assert_eq!(
        store.lookup(bob.id, "/c.txt").unwrap().durability,
        Durability::Local,
        "in conflict at one, pending at two"
    );
    assert_eq!(state.pending().unwrap().files, 6);

    // Taken over once: opening again imports nothing more, and the catalog keeps its tables.
    drop(state);
    let state = UplinkState::open(dir.path()).unwrap();
    assert_eq!(state.pending().unwrap().files, 6);
    let c = Connection::open(&catalog).unwrap();
    for (sql, old) in TABLES.iter().zip(&before) {
        assert_eq!(&rows(&c, sql), old, "left in the catalog: {sql}");
    }
}

/// A catalog made by this build has no uplink tables: nothing to import.
#[test]
fn a_new_catalog_has_nothing_to_take_over() {
    let dir = tempfile::tempdir().unwrap();
    let _store = Store::open(
        dir.path(),
        OpenOptions {
            create: true,
            ..Default::default()
        },
    )
    .unwrap();
    let c = Connection::open(dir.path().join("catalog.sqlite")).unwrap();
    let uplink_tables: i64 = c
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' \
             AND name IN ('destinations', 'replicas', 'multipart', 'multipart_parts', 'conflicts')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(uplink_tables, 0);
    let state = UplinkState::open(dir.path()).unwrap();
    assert!(state.destinations().unwrap().is_empty());
    assert_eq!(state.cursor().unwrap(), 0);
    assert_eq!(state.bandwidth_schedule().unwrap(), None);
}
