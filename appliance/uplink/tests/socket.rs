//! The uplink's socket as the LAN service (and anyone else on the box) meets it: who may connect,
//! what it answers to malformed, oversized and flooding requests, and that none of it changes the
//! uplink's state.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use microcloud_remotes::{RemoteConfig, RemoteKind};
use microcloud_store::{OpenOptions, Store};
use microcloud_uplink::{Settings, Uplink};
use microcloud_uplink_api::{ApiError, Client, ErrorBody, NewDestination};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `request` as is and returns the status code and the body's start.
async fn raw(dir: &Path, request: &[u8]) -> (u16, String) {
    let mut s = tokio::net::UnixStream::connect(microcloud_uplink_api::socket_path(dir))
        .await
        .unwrap();
    // A refusal may come (and the connection close) before the whole request was sent.
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn dir_destination(name: &str, path: &Path) -> NewDestination {
    NewDestination {
        config: RemoteConfig {
            name: name.into(),
            kind: RemoteKind::Dir {
                path: path.to_owned(),
            },
        },
        credentials: None,
    }
}

struct Running {
    data: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    async fn start() -> Running {
        let data = tempfile::tempdir().unwrap();
        let store = Store::open(
            data.path(),
            OpenOptions {
                create: true,
                ..Default::default()
            },
        )
        .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(Uplink::new(store, Settings::default()).unwrap().run(async {
            let _ = stopped.await;
        }));
        Running {
            data,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn dir(&self) -> &Path {
        self.data.path()
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_agents_group_may_connect() {
    let up = Running::start().await;
    let meta = std::fs::metadata(microcloud_uplink_api::socket_path(up.dir())).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    up.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destinations_are_added_listed_and_refused_with_reasons() {
    let up = Running::start().await;
    let dest = tempfile::tempdir().unwrap();
    let c = Client::new(up.dir());
    assert!(c.destinations().await.unwrap().is_empty());
    c.test(&dir_destination("one", dest.path())).await.unwrap();
    c.add(&dir_destination("one", dest.path())).await.unwrap();
    let list = c.destinations().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "one");
    match c.add(&dir_destination("one", dest.path())).await {
        Err(ApiError::Uplink(ErrorBody::Exists { name })) => assert_eq!(name, "one"),
        r => panic!("{r:?}"),
    }
    match c.add(&dir_destination("../evil", dest.path())).await {
        Err(ApiError::Uplink(ErrorBody::Invalid { field, .. })) => assert_eq!(field, "name"),
        r => panic!("{r:?}"),
    }
    match c.remove("nope").await {
        Err(ApiError::Uplink(ErrorBody::NotFound { name })) => assert_eq!(name, "nope"),
        r => panic!("{r:?}"),
    }
    let status = c.status().await.unwrap();
    assert_eq!(status.destinations.len(), 1);
    c.remove("one").await.unwrap();
    assert!(c.destinations().await.unwrap().is_empty());
    up.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_oversized_and_unknown_requests_are_refused_and_change_nothing() {
    let up = Running::start().await;
    let dir = up.dir();
    let (code, _) = raw(
        dir,
        b"POST /v1/destinations HTTP/1.1\r\nhost: u\r\ncontent-type: application/json\r\ncontent-length: 9\r\nconnection: close\r\n\r\n{\"config\"",
    )
    .await;
    assert_eq!(code, 400);
    let (code, _) = raw(
        dir,
        b"POST /v1/destinations HTTP/1.1\r\nhost: u\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
    )
    .await;
    assert_eq!(code, 422);
    let big = vec![b' '; 3 << 20];
    let mut req = format!(
        "POST /v1/destinations HTTP/1.1\r\nhost: u\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        big.len()
    )
    .into_bytes();
    req.extend_from_slice(&big);
    let (code, _) = raw(dir, &req).await;
    assert_eq!(code, 413);
    let (code, body) = raw(
        dir,
        b"GET /v1/blobs/abc HTTP/1.1\r\nhost: u\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(code, 400, "{body}");
    let (code, body) = raw(
        dir,
        b"POST /v1/blobs/99999/fetch HTTP/1.1\r\nhost: u\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(code, 503, "{body}");
    let (code, _) = raw(
        dir,
        b"GET /v1/nothing HTTP/1.1\r\nhost: u\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(code, 404);
    let (code, _) = raw(dir, b"\x00\x01garbage\r\n\r\n").await;
    assert_eq!(code, 400);
    let c = Client::new(dir);
    assert!(c.destinations().await.unwrap().is_empty());
    up.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_notices_and_requests_is_served() {
    let up = Running::start().await;
    let c = Client::new(up.dir());
    let mut tasks = Vec::new();
    for i in 0..200 {
        let c = c.clone();
        let dir = up.dir().to_owned();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                c.status().await.map(drop).map_err(|e| e.to_string())
            } else {
                let (code, _) = raw(
                    &dir,
                    b"POST /v1/changed HTTP/1.1\r\nhost: u\r\nconnection: close\r\n\r\n",
                )
                .await;
                if code == 204 {
                    Ok(())
                } else {
                    Err(format!("notice answered {code}"))
                }
            }
        }));
    }
    let mut failed = Vec::new();
    for t in tasks {
        if let Err(e) = t.await.unwrap() {
            failed.push(e);
        }
    }
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    assert!(c.status().await.unwrap().destinations.is_empty());
    up.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_uplink_is_reported_as_not_running() {
    let up = Running::start().await;
    let dir = up.dir().to_owned();
    up.stop().await;
    match Client::new(&dir).status().await {
        Err(e @ ApiError::NotRunning { .. }) => {
            assert!(e.to_string().contains("uplink is not running"), "{e}")
        }
        r => panic!("{r:?}"),
    }
}
