//! The LAN file service of microcloud: WebDAV (class 1 and 2) under `/dav/`, one space per user,
//! over the crash-safe local store.
//!
//! The protocol comes from `dav_server`; [`fs::UserFs`] maps it onto the store (a PUT becomes an
//! [`microcloud_store::Upload`] committed on the final flush, so the 201/204 goes out only once the
//! file is durable), and [`server::LanService`] adds authentication and request hygiene.

pub mod fs;
pub mod server;

pub use server::LanService;
