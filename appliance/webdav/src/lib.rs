//! The LAN file service of microcloud: WebDAV (class 1 and 2) under `/dav/`, one space per user,
//! over the crash-safe local store.
//!
//! The protocol comes from `dav_server`; [`fs::UserFs`] maps it onto the store (a PUT becomes an
//! [`microcloud_store::Upload`] committed on the final flush, so the 201/204 goes out only once the
//! file is durable), and [`server::LanService`] adds authentication, request hygiene
//! ([`hygiene`]: what a request must look like before the library sees it) and bounded locks
//! ([`locks`]).

pub mod connections;
pub mod fs;
pub mod hygiene;
pub mod locks;
pub mod quiet_log;
pub mod server;

pub use server::{DavCredential, LanService, Principal};
