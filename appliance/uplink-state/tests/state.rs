//! The uplink state against a real store: journal intake, durability levels pushed to the store
//! by the rule (lowerings before the commit, raisings after), destinations, and the files' modes.

use std::os::unix::fs::PermissionsExt;

use bytes::Bytes;
use microcloud_store::{Durability, OpenOptions, Store, UploadOptions, UserId};
use microcloud_uplink_state::{
    DestinationState, NewConflict, Repair, ReplicaState, StateError, UplinkState,
};

fn store_in(dir: &std::path::Path) -> Store {
    Store::open(
        dir,
        OpenOptions {
            create: true,
            ..Default::default()
        },
    )
    .unwrap()
}

fn setup() -> (tempfile::TempDir, Store, UserId, UplinkState) {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path());
    let alice = store
        .add_user("alice", "$argon2id$placeholder", false)
        .unwrap();
    let state = UplinkState::open(dir.path()).unwrap();
    (dir, store, alice, state)
}

async fn put(s: &Store, u: UserId, path: &str, data: &[u8]) -> i64 {
    let mut up = s.begin_upload(u, path, UploadOptions::default()).unwrap();
    up.write(Bytes::copy_from_slice(data)).await.unwrap();
    up.commit().await.unwrap().blob_id.unwrap()
}

/// Takes in the whole journal the way the uplink does, trimming behind itself.
async fn take_in(store: &Store, state: &UplinkState) -> usize {
    let mut total = 0;
    loop {
        let changes = store
            .changes_after(state.cursor().unwrap(), microcloud_uplink_state::BATCH)
            .unwrap();
        if changes.is_empty() {
            return total;
        }
        let applied = state.apply_changes(store, &changes).unwrap();
        store.trim_changes(applied.cursor).await.unwrap();
        total += applied.changes;
    }
}

fn durability(store: &Store, blob: i64) -> Durability {
    store.blob(blob).unwrap().unwrap().durability
}

/// A blob shared by two keys (COPY) is `cloud:all` while one of them is uploaded: the content is
/// at the destination. When that key is overwritten, the destination no longer holds the content
/// anywhere and the other key was never uploaded: the level must drop back to `local` at once, or
/// the content could be evicted and lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwriting_one_key_of_a_shared_blob_lowers_its_level() {
    let (_dir, store, alice, state) = setup();
    let d = state.add_destination(&store, "one", "{}").unwrap().id;
    let shared = put(&store, alice, "/a.bin", &[1u8; 200_000]).await;
    store.copy_file(alice, "/a.bin", "/b.bin").await.unwrap();
    assert_eq!(take_in(&store, &state).await, 2);
    let b = state.replica(d, "alice/b.bin").unwrap().unwrap();
    assert_eq!((b.blob, b.state), (Some(shared), ReplicaState::Pending));

    state
        .mark_done(&store, d, "alice/a.bin", shared, "etag-a")
        .unwrap();
    assert_eq!(state.level(shared).unwrap(), Durability::CloudAll);
    // Raised only after the commit, by push_raises.
    assert_eq!(durability(&store, shared), Durability::Local);
    assert_eq!(state.push_raises(&store).unwrap(), 1);
    assert_eq!(durability(&store, shared), Durability::CloudAll);

    put(&store, alice, "/a.bin", &[2u8; 200_000]).await;
    // The put, and the version that keeps what it replaced (wanted under its version key, not
    // done yet: it does not hold the level up).
    assert_eq!(take_in(&store, &state).await, 2);
    assert_eq!(state.level(shared).unwrap(), Durability::Local);
    assert_eq!(
        durability(&store, shared),
        Durability::Local,
        "the level of the content the overwritten key held must drop"
    );
    assert_eq!(store.evict(u64::MAX).await.unwrap(), 0, "nothing may go");
    assert_eq!(
        state.replica(d, "alice/b.bin").unwrap().unwrap().state,
        ReplicaState::Pending
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renames_deletes_and_conflicts_follow_the_journal() {
    let (_dir, store, alice, state) = setup();
    let d = state.add_destination(&store, "one", "{}").unwrap().id;
    store.mkdir(alice, "/dir").await.unwrap();
    let x = put(&store, alice, "/dir/x", b"x").await;
    let y = put(&store, alice, "/y", b"y").await;
    take_in(&store, &state).await;
    state.mark_done(&store, d, "alice/y", y, "e-y").unwrap();
    state
        .record_conflicts(
            &store,
            d,
            &[NewConflict {
                key: "alice/y".into(),
                remote_etag: Some("theirs".into()),
                local_hash: None,
            }],
            "changed in the cloud by someone else",
        )
        .unwrap();
    assert_eq!(state.level(y).unwrap(), Durability::Local);
    store.rename(alice, "/dir", "/moved").await.unwrap();
    store.remove(alice, "/y", false).await.unwrap();
    take_in(&store, &state).await;
    let old = state.replica(d, "alice/dir/x").unwrap().unwrap();
    assert_eq!((old.blob, old.state), (None, ReplicaState::Pending));
    let new = state.replica(d, "alice/moved/x").unwrap().unwrap();
    assert_eq!((new.blob, new.state), (Some(x), ReplicaState::Pending));
    let y = state.replica(d, "alice/y").unwrap().unwrap();
    assert_eq!(
        (y.blob, y.state),
        (None, ReplicaState::Conflict),
        "a conflict stays a conflict"
    );
    assert_eq!(state.conflicts().unwrap().len(), 1);
    assert_eq!(state.status().unwrap().destinations[0].conflicts, 1);
    state.mark_deleted(d, "alice/dir/x").unwrap();
    assert!(state.replica(d, "alice/dir/x").unwrap().is_none());
    // alice/moved/x, and the version key keeping the deleted y's content.
    let p = state.pending().unwrap();
    assert_eq!((p.files, p.conflicts, p.destinations), (2, 1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destinations_added_and_removed_move_every_level() {
    let (_dir, store, alice, state) = setup();
    let blob = put(&store, alice, "/f", &[5u8; 100_000]).await;
    // No destination yet: the journal is taken in (nothing to hold) and trimmed.
    take_in(&store, &state).await;
    let one = state.add_destination(&store, "one", "{}").unwrap();
    assert_eq!(
        state.replica(one.id, "alice/f").unwrap().unwrap().blob,
        Some(blob),
        "backfilled"
    );
    assert!(matches!(
        state.add_destination(&store, "one", "{}"),
        Err(StateError::DestinationExists { .. })
    ));
    state
        .mark_done(&store, one.id, "alice/f", blob, "e1")
        .unwrap();
    state.push_raises(&store).unwrap();
    assert_eq!(durability(&store, blob), Durability::CloudAll);
    let two = state.add_destination(&store, "two", "{}").unwrap();
    assert_eq!(durability(&store, blob), Durability::CloudOne);
    assert_eq!(
        state
            .destinations()
            .unwrap()
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>(),
        ["one", "two"]
    );
    // Removing the one that lacks it raises; removing the one that has it lowers.
    assert!(state.remove_destination(&store, "two").unwrap());
    assert_eq!(durability(&store, blob), Durability::CloudAll);
    assert!(!state.remove_destination(&store, "two").unwrap());
    let _ = two;
    assert!(state.remove_destination(&store, "one").unwrap());
    assert_eq!(durability(&store, blob), Durability::Local);
    assert!(state.destinations().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recompute_all_repairs_what_a_crash_left_low_and_scrub_lowers() {
    let (_dir, store, alice, state) = setup();
    let d = state.add_destination(&store, "one", "{}").unwrap().id;
    let blob = put(&store, alice, "/f", &[9u8; 100_000]).await;
    take_in(&store, &state).await;
    state.mark_done(&store, d, "alice/f", blob, "e").unwrap();
    // A crash between the commit and the push: the store stays low.
    assert_eq!(durability(&store, blob), Durability::Local);
    assert_eq!(state.recompute_all(&store).unwrap(), 1);
    assert_eq!(durability(&store, blob), Durability::CloudAll);
    assert_eq!(state.recompute_all(&store).unwrap(), 0);
    // A scrub finds it missing: pending again, lowered before the commit.
    state
        .record_scrub(
            &store,
            d,
            &[Repair {
                key: "alice/f".into(),
                remote_etag: None,
            }],
            &[],
            "replaced in the cloud by someone else",
        )
        .unwrap();
    assert_eq!(durability(&store, blob), Durability::Local);
    assert_eq!(state.due_replicas(d, i64::MAX, 10).unwrap().len(), 1);
    // Forgetting every record lowers too.
    state.mark_done(&store, d, "alice/f", blob, "e2").unwrap();
    state.push_raises(&store).unwrap();
    assert_eq!(state.reset_replicas(&store).unwrap(), 1);
    assert_eq!(durability(&store, blob), Durability::Local);
    let r = state.replica(d, "alice/f").unwrap().unwrap();
    assert_eq!((r.state, r.remote_etag), (ReplicaState::Pending, None));
}

/// Many blobs (their ids are random: the files' order is not theirs) and two destinations: the
/// catalog's blobs and the replicas, walked side by side in blob order, give each content the
/// level of how many destinations hold it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recompute_all_walks_blobs_and_replicas_side_by_side() {
    let (_dir, store, alice, state) = setup();
    let one = state.add_destination(&store, "one", "{}").unwrap().id;
    let two = state.add_destination(&store, "two", "{}").unwrap().id;
    let mut blobs = Vec::new();
    for i in 0..30u8 {
        blobs.push(put(&store, alice, &format!("/f{i:02}"), &[i; 5_000]).await);
    }
    take_in(&store, &state).await;
    let mut want = Vec::new();
    for (i, &b) in blobs.iter().enumerate() {
        let key = format!("alice/f{i:02}");
        let level = match i % 3 {
            0 => {
                state.mark_done(&store, one, &key, b, "e").unwrap();
                Durability::CloudOne
            }
            1 => {
                state.mark_done(&store, one, &key, b, "e").unwrap();
                state.mark_done(&store, two, &key, b, "e").unwrap();
                Durability::CloudAll
            }
            _ => Durability::Local,
        };
        want.push(level);
    }
    // As after a crash before any raise reached the catalog: every level low.
    let low: Vec<(i64, Durability)> = blobs.iter().map(|&b| (b, Durability::Local)).collect();
    store.set_durability(&low).unwrap();
    let changed = state.recompute_all(&store).unwrap();
    let got: Vec<Durability> = blobs.iter().map(|&b| durability(&store, b)).collect();
    assert_eq!(got, want);
    assert_eq!(changed, 20, "ten at each of two levels above local");
    assert_eq!(state.recompute_all(&store).unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_records_errors_states_and_the_schedule_persist() {
    let (dir, store, alice, state) = setup();
    let d = state.add_destination(&store, "one", "{}").unwrap().id;
    let blob = put(&store, alice, "/big", &[3u8; 100_000]).await;
    take_in(&store, &state).await;
    state
        .begin_multipart(d, "alice/big", blob, "up-1", 5 << 20)
        .unwrap();
    state.record_part(d, "alice/big", 2, "p2").unwrap();
    state.record_part(d, "alice/big", 1, "p1").unwrap();
    state
        .record_error(d, "alice/big", Some(blob), "refused", Some(i64::MAX))
        .unwrap();
    state
        .set_destination_state(d, DestinationState::Down, Some("unreachable"))
        .unwrap();
    state.set_bandwidth_schedule(Some("10M")).unwrap();
    drop(state);

    let state = UplinkState::open(dir.path()).unwrap();
    let m = state.multipart(d, "alice/big").unwrap().unwrap();
    assert_eq!(
        (m.blob, m.upload_id.as_str(), m.part_size),
        (blob, "up-1", 5 << 20)
    );
    assert_eq!(
        state.parts(d, "alice/big").unwrap(),
        [(1, "p1".to_owned()), (2, "p2".to_owned())]
    );
    let r = state.replica(d, "alice/big").unwrap().unwrap();
    assert_eq!((r.attempts, r.last_error.as_deref()), (1, Some("refused")));
    assert!(state.due_replicas(d, 0, 10).unwrap().is_empty(), "waits");
    let st = state.status().unwrap();
    assert_eq!(
        (
            st.destinations[0].state.as_str(),
            st.destinations[0].last_error.as_deref()
        ),
        ("down", Some("unreachable"))
    );
    assert_eq!(state.bandwidth_schedule().unwrap().as_deref(), Some("10M"));
    state.forget_multipart(d, "alice/big").unwrap();
    assert!(state.multipart_uploads().unwrap().is_empty());
    assert!(state.parts(d, "alice/big").unwrap().is_empty());
    state.set_bandwidth_schedule(None).unwrap();
    assert_eq!(state.bandwidth_schedule().unwrap(), None);
}

#[test]
fn a_read_only_handle_reads_an_absent_state_as_empty_and_never_writes() {
    let dir = tempfile::tempdir().unwrap();
    let ro = UplinkState::open_read_only(dir.path()).unwrap();
    assert!(ro.destinations().unwrap().is_empty());
    assert_eq!(ro.cursor().unwrap(), 0);
    assert!(ro.status().unwrap().destinations.is_empty());
    assert!(matches!(
        ro.set_bandwidth_schedule(Some("1M")),
        Err(StateError::ReadOnly { .. })
    ));
    assert!(!dir.path().join("uplink.sqlite").exists());
    let rw = UplinkState::open(dir.path()).unwrap();
    rw.set_bandwidth_schedule(Some("1M")).unwrap();
    assert_eq!(ro.bandwidth_schedule().unwrap().as_deref(), Some("1M"));
}

#[test]
fn the_state_file_gets_the_catalogs_modes() {
    for (dir_mode, file_mode) in [(0o700, 0o600), (0o770, 0o660)] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(dir_mode)).unwrap();
        let _store = store_in(dir.path());
        let _state = UplinkState::open(dir.path()).unwrap();
        for name in ["catalog.sqlite", "uplink.sqlite"] {
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(
                mode & 0o777,
                file_mode,
                "{name} in a {dir_mode:o} directory"
            );
        }
    }
}
