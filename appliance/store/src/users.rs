//! The users of the box: accounts with their password hashes, each with a space of their own.

use rusqlite::{params, OptionalExtension};

use crate::{now_ns, Result, Store, StoreError, UserId};

/// A user account as the catalog holds it.
#[derive(Debug, Clone)]
pub struct User {
    /// Catalog id.
    pub id: UserId,
    /// Login name.
    pub name: String,
    /// PHC-format password hash (argon2).
    pub password_hash: String,
    /// Whether the user administers the box.
    pub admin: bool,
    /// Whether WebDAV takes this user's device passwords only (the account password then works
    /// on the page alone).
    pub devices_only: bool,
}

impl Store {
    /// Adds a user with an empty space; `password_hash` is a PHC string (argon2).
    pub fn add_user(&self, name: &str, password_hash: &str, admin: bool) -> Result<UserId> {
        self.insert_user(name, password_hash, admin, false)
    }

    /// Adds the first administrator, in the same transaction that checks there is none yet (two
    /// owners racing through onboarding cannot both win).
    pub fn add_first_admin(&self, name: &str, password_hash: &str) -> Result<UserId> {
        self.insert_user(name, password_hash, true, true)
    }

    /// Whether an administrator exists (onboarding is done).
    pub fn has_admin(&self) -> Result<bool> {
        self.read(|c| {
            Ok(
                c.query_row("SELECT EXISTS (SELECT 1 FROM users WHERE admin)", [], |r| {
                    r.get(0)
                })?,
            )
        })
    }

    fn insert_user(
        &self,
        name: &str,
        password_hash: &str,
        admin: bool,
        first_admin: bool,
    ) -> Result<UserId> {
        check_user_name(name)?;
        let (name, hash) = (name.to_owned(), password_hash.to_owned());
        self.inner.writer.write_blocking(vec![], move |c| {
            let now = now_ns();
            if first_admin && c.query_row("SELECT EXISTS (SELECT 1 FROM users WHERE admin)", [], |r| r.get::<_, bool>(0))? {
                return Err(StoreError::AdminExists);
            }
            let exists: bool =
                c.query_row("SELECT EXISTS (SELECT 1 FROM users WHERE name = ?1)", [&name], |r| r.get(0))?;
            if exists {
                return Err(StoreError::UserExists { name });
            }
            c.execute(
                "INSERT INTO users (name, password_hash, admin, created_ns) VALUES (?1, ?2, ?3, ?4)",
                params![name, hash, admin, now],
            )?;
            let id = c.last_insert_rowid();
            c.execute(
                "INSERT INTO nodes (user_id, parent_id, name, is_dir, mtime_ns, ctime_ns) VALUES (?1, NULL, '', 1, ?2, ?2)",
                params![id, now],
            )?;
            Ok(UserId(id))
        })
    }

    /// Replaces a user's password hash.
    pub fn set_password(&self, name: &str, password_hash: &str) -> Result<()> {
        let (name, hash) = (name.to_owned(), password_hash.to_owned());
        self.inner.writer.write_blocking(vec![], move |c| {
            match c.execute(
                "UPDATE users SET password_hash = ?2 WHERE name = ?1",
                params![name, hash],
            )? {
                0 => Err(StoreError::NoSuchUser { name }),
                _ => Ok(()),
            }
        })
    }

    /// Sets whether WebDAV takes `name`'s device passwords only.
    pub fn set_devices_only(&self, name: &str, on: bool) -> Result<()> {
        let name = name.to_owned();
        self.inner.writer.write_blocking(vec![], move |c| {
            match c.execute(
                "UPDATE users SET devices_only = ?2 WHERE name = ?1",
                params![name, on],
            )? {
                0 => Err(StoreError::NoSuchUser { name }),
                _ => Ok(()),
            }
        })
    }

    /// Looks a user up by name.
    pub fn user(&self, name: &str) -> Result<Option<User>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT id, name, password_hash, admin, devices_only FROM users WHERE name = ?1",
            )?
            .query_row([name], |r| {
                Ok(User {
                    id: UserId(r.get(0)?),
                    name: r.get(1)?,
                    password_hash: r.get(2)?,
                    admin: r.get(3)?,
                    devices_only: r.get(4)?,
                })
            })
            .optional()?)
        })
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<User>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT id, name, password_hash, admin, devices_only FROM users ORDER BY name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(User {
                    id: UserId(r.get(0)?),
                    name: r.get(1)?,
                    password_hash: r.get(2)?,
                    admin: r.get(3)?,
                    devices_only: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

/// Checks a user name: short, and safe in URLs, paths and logs.
pub fn check_user_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidName {
            name: name.chars().take(64).collect(),
            why: "a user name is 1-64 characters of letters, digits, '-', '_' and '.', not starting with '.'",
        })
    }
}
