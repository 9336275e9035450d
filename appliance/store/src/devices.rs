//! Devices: a (user, name) with a credential of its own, so that one lost tablet can be cut off
//! without touching the person's password or their other tablets.
//!
//! The catalog holds only a digest of each device's secret (made and checked by
//! `microcloud-accounts`); revoking deletes the row, so the device's next request finds nothing
//! to match.

use rusqlite::{params, OptionalExtension};

use crate::{now_ns, Result, Store, StoreError, UserId};

/// A device's catalog id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceId(pub i64);

/// A device as the catalog holds it (without its secret's digest).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Device {
    /// Catalog id.
    #[serde(skip)]
    pub id: DeviceId,
    /// Whose device it is.
    pub user: String,
    /// Its name, unique per user.
    pub name: String,
    /// When it was added (ns since the epoch).
    pub created_ns: i64,
    /// Its last authenticated request (ns since the epoch), kept to the minute.
    pub last_seen_ns: Option<i64>,
    /// The address of that request.
    pub last_addr: Option<String>,
    /// The User-Agent of that request.
    pub user_agent: Option<String>,
}

/// One device's credential, for checking a password against.
#[derive(Debug, Clone)]
pub struct DeviceSecret {
    /// The device.
    pub id: DeviceId,
    /// Its name.
    pub name: String,
    /// The digest of its secret.
    pub digest: [u8; 32],
}

/// Checks a device name: what a person calls a tablet ("Anna's iPad"), printable and short.
pub fn check_device_name(name: &str) -> Result<()> {
    let ok = !name.trim().is_empty()
        && name.trim() == name
        && name.chars().count() <= 64
        && !name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\');
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidName {
            name: name.chars().take(64).collect(),
            why: "a device name is 1-64 printable characters, no '/' or '\\', \
                  not starting or ending with a space",
        })
    }
}

impl Store {
    /// Adds device `name` of user `user` with the digest of its secret.
    pub fn add_device(&self, user: &str, name: &str, digest: [u8; 32]) -> Result<DeviceId> {
        check_device_name(name)?;
        let (user, name) = (user.to_owned(), name.to_owned());
        self.inner.writer.write_blocking(vec![], move |c| {
            let uid: i64 = c
                .query_row("SELECT id FROM users WHERE name = ?1", [&user], |r| r.get(0))
                .optional()?
                .ok_or_else(|| StoreError::NoSuchUser { name: user.clone() })?;
            let exists: bool = c.query_row(
                "SELECT EXISTS (SELECT 1 FROM devices WHERE user_id = ?1 AND name = ?2)",
                params![uid, name],
                |r| r.get(0),
            )?;
            if exists {
                return Err(StoreError::DeviceExists { user, name });
            }
            c.execute(
                "INSERT INTO devices (user_id, name, secret_hash, created_ns) VALUES (?1, ?2, ?3, ?4)",
                params![uid, name, &digest[..], now_ns()],
            )?;
            Ok(DeviceId(c.last_insert_rowid()))
        })
    }

    /// Revokes (deletes) device `name` of user `user`.
    pub fn revoke_device(&self, user: &str, name: &str) -> Result<()> {
        let (user, name) = (user.to_owned(), name.to_owned());
        self.inner.writer.write_blocking(vec![], move |c| {
            let n = c.execute(
                "DELETE FROM devices WHERE name = ?2 AND user_id = (SELECT id FROM users WHERE name = ?1)",
                params![user, name],
            )?;
            if n == 0 {
                return Err(StoreError::NoSuchDevice { user, name });
            }
            Ok(())
        })
    }

    /// The devices of `user`, or of everyone, by user then name.
    pub fn devices(&self, user: Option<&str>) -> Result<Vec<Device>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT d.id, u.name, d.name, d.created_ns, d.last_seen_ns, d.last_addr, d.user_agent \
                 FROM devices d JOIN users u ON u.id = d.user_id \
                 WHERE ?1 IS NULL OR u.name = ?1 ORDER BY u.name, d.name",
            )?;
            let rows = stmt.query_map([user], |r| {
                Ok(Device {
                    id: DeviceId(r.get(0)?),
                    user: r.get(1)?,
                    name: r.get(2)?,
                    created_ns: r.get(3)?,
                    last_seen_ns: r.get(4)?,
                    last_addr: r.get(5)?,
                    user_agent: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Whether device `id` still exists (it has not been revoked).
    pub fn device_exists(&self, id: DeviceId) -> Result<bool> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT EXISTS (SELECT 1 FROM devices WHERE id = ?1)")?
                    .query_row([id.0], |r| r.get(0))?,
            )
        })
    }

    /// The credentials of user `user`'s devices.
    pub fn device_secrets(&self, user: UserId) -> Result<Vec<DeviceSecret>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, name, secret_hash FROM devices WHERE user_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([user.0], |r| {
                let digest: Vec<u8> = r.get(2)?;
                Ok(DeviceSecret {
                    id: DeviceId(r.get(0)?),
                    name: r.get(1)?,
                    digest: digest.try_into().unwrap_or([0; 32]),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Records a device's latest request (bookkeeping: committed without waiting for the disk).
    pub async fn touch_device(
        &self,
        id: DeviceId,
        addr: String,
        user_agent: Option<String>,
    ) -> Result<()> {
        self.inner
            .writer
            .write_relaxed(move |c| {
                c.execute(
                    "UPDATE devices SET last_seen_ns = ?2, last_addr = ?3, user_agent = ?4 WHERE id = ?1",
                    params![id.0, now_ns(), addr, user_agent],
                )?;
                Ok(())
            })
            .await
    }
}
