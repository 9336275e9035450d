//! Versions in the uplink state: the journal's `version` entries become version keys every
//! destination must hold (with the live key their content was in), `unversion` entries their
//! tombstones, and a done version key counts for the level and the read-through of every blob
//! sharing it.

use bytes::Bytes;
use microcloud_store::{ChangeKind, Durability, OpenOptions, Store, UploadOptions, UserId};
use microcloud_uplink_state::{version_key, ReplicaState, UplinkState};

fn setup() -> (tempfile::TempDir, Store, UserId, UplinkState) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        OpenOptions {
            create: true,
            ..Default::default()
        },
    )
    .unwrap();
    let alice = store
        .add_user("alice", "$argon2id$placeholder", false)
        .unwrap();
    let state = UplinkState::open(dir.path()).unwrap();
    (dir, store, alice, state)
}

async fn put(s: &Store, u: UserId, path: &str, data: &[u8]) -> (i64, [u8; 32]) {
    let mut up = s.begin_upload(u, path, UploadOptions::default()).unwrap();
    up.write(Bytes::copy_from_slice(data)).await.unwrap();
    let n = up.commit().await.unwrap();
    (n.blob_id.unwrap(), n.hash.unwrap())
}

async fn take_in(store: &Store, state: &UplinkState) -> Vec<ChangeKind> {
    let mut kinds = Vec::new();
    loop {
        let changes = store
            .changes_after(state.cursor().unwrap(), microcloud_uplink_state::BATCH)
            .unwrap();
        if changes.is_empty() {
            return kinds;
        }
        kinds.extend(changes.iter().map(|c| c.kind));
        let applied = state.apply_changes(store, &changes).unwrap();
        store.trim_changes(applied.cursor).await.unwrap();
    }
}

fn level(store: &Store, blob: i64) -> Durability {
    store.blob(blob).unwrap().unwrap().durability
}

const DAY_NS: i64 = 86_400 * 1_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_is_wanted_with_its_source_and_an_unversion_is_a_tombstone() {
    let (_dir, store, alice, state) = setup();
    let d = state.add_destination(&store, "one", "{}").unwrap().id;
    let (old, old_hash) = put(&store, alice, "/doc.txt", &[1u8; 100_000]).await;
    take_in(&store, &state).await;
    state
        .mark_done(&store, d, "alice/doc.txt", old, "e1")
        .unwrap();
    state.push_raises(&store).unwrap();
    assert_eq!(level(&store, old), Durability::CloudAll);

    put(&store, alice, "/doc.txt", &[2u8; 100_000]).await;
    let kinds = take_in(&store, &state).await;
    assert_eq!(kinds, [ChangeKind::Version, ChangeKind::Put]);
    let vkey = version_key("alice", &old_hash);
    assert_eq!(
        vkey,
        format!(
            ".microcloud/versions/alice/{}",
            old_hash
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    );
    let v = state
        .replica(d, &vkey)
        .unwrap()
        .expect("version key wanted");
    assert_eq!(
        (v.blob, v.hash, v.state, v.copy_from.as_deref()),
        (
            Some(old),
            Some(old_hash),
            ReplicaState::Pending,
            Some("alice/doc.txt")
        )
    );
    // The old content is held nowhere now: its level dropped before the commit.
    assert_eq!(level(&store, old), Durability::Local);
    let settle = state.pending_copies_from(d, "alice/doc.txt").unwrap();
    assert_eq!(settle.len(), 1);
    assert_eq!(settle[0].key, vkey);

    // Done under its version key: safe again, and read-through finds it there.
    state.mark_done(&store, d, &vkey, old, "ev").unwrap();
    state.push_raises(&store).unwrap();
    assert_eq!(level(&store, old), Durability::CloudAll);
    let holders = state.holders(old).unwrap();
    assert_eq!(holders.len(), 1);
    assert_eq!(holders[0].1, vkey);
    assert!(state
        .pending_copies_from(d, "alice/doc.txt")
        .unwrap()
        .is_empty());

    // Expiry: the version key must go.
    let expired = store
        .expire_versions(microcloud_uplink_state::now_ns() + 31 * DAY_NS)
        .await
        .unwrap();
    assert_eq!(expired.versions, 1);
    let kinds = take_in(&store, &state).await;
    assert_eq!(kinds, [ChangeKind::Unversion]);
    let v = state.replica(d, &vkey).unwrap().unwrap();
    assert_eq!((v.blob, v.state), (None, ReplicaState::Pending));
}

/// The same content written twice is two blobs of one user: one object holds it for both, each
/// blob counts it, and it is not uploaded again for the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_of_the_same_content_share_one_version_key() {
    let (_dir, store, alice, state) = setup();
    let d = state.add_destination(&store, "one", "{}").unwrap().id;
    let (first, hash) = put(&store, alice, "/a", &[5u8; 70_000]).await;
    put(&store, alice, "/a", b"other").await;
    take_in(&store, &state).await;
    let vkey = version_key("alice", &hash);
    state.mark_done(&store, d, &vkey, first, "ev").unwrap();
    state.push_raises(&store).unwrap();
    assert_eq!(level(&store, first), Durability::CloudAll);

    let (second, again) = put(&store, alice, "/b", &[5u8; 70_000]).await;
    assert_eq!(again, hash);
    assert_ne!(second, first);
    put(&store, alice, "/b", b"something else").await;
    let kinds = take_in(&store, &state).await;
    assert!(kinds.contains(&ChangeKind::Version), "{kinds:?}");
    // Already held: still done, and the second blob counts it.
    let v = state.replica(d, &vkey).unwrap().unwrap();
    assert_eq!(v.state, ReplicaState::Done);
    assert_eq!(state.level(second).unwrap(), Durability::CloudAll);
    assert!(state
        .holders(second)
        .unwrap()
        .iter()
        .any(|(_, k)| *k == vkey));
    // After a restart the levels are worked out the same way (versions included).
    store
        .set_durability(&[(second, Durability::Local)])
        .unwrap();
    state.recompute_all(&store).unwrap();
    assert_eq!(level(&store, second), Durability::CloudAll);
}

/// A destination added later gets every version's content too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_destination_is_backfilled_with_versions() {
    let (_dir, store, alice, state) = setup();
    let (_, hash) = put(&store, alice, "/a", b"first words").await;
    put(&store, alice, "/a", b"second words").await;
    take_in(&store, &state).await;
    let d = state.add_destination(&store, "late", "{}").unwrap().id;
    let v = state
        .replica(d, &version_key("alice", &hash))
        .unwrap()
        .expect("backfilled");
    assert_eq!(
        (v.state, v.copy_from.as_deref()),
        (ReplicaState::Pending, Some("alice/a"))
    );
}
