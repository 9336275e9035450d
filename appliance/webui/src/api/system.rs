//! The system page: this machine's name, clock, network and power, through systemd's D-Bus
//! services (hostnamed, timedated, networkd, logind, and systemd itself for the factory reset).
//!
//! Only on the appliance (`Options::appliance`): in development the gateway runs on someone's
//! own computer, whose name and power are not the page's to change. The gateway runs
//! unprivileged; the image's polkit rules allow its user exactly these actions.
//!
//! The root file system is read-only, so the owner's host name and time zone are kept in the data
//! directory (`hostname`, `timezone`) and applied by the early init at every boot; the host name
//! is also set at once through hostnamed, the time zone takes effect at the next restart.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use http::StatusCode;
use microcloud_accounts::log_safe;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Admin, ApiError, ApiResult as Result};
use crate::Web;

/// The unit that wipes the data partition and reboots (see units/).
const FACTORY_RESET_UNIT: &str = "microcloud-factory-reset.service";

use microcloud_constants::{HOSTNAME_FILE, TIMEZONE_FILE};

/// This machine's host name: from hostnamed on the appliance (the gateway's sandbox has its own
/// copy of the name, taken when it started), else as the kernel has it.
pub async fn hostname(appliance: bool) -> String {
    if appliance {
        if let Ok(conn) = zbus::Connection::system().await {
            if let Ok(h) = system_hostname(&conn).await {
                return h;
            }
        }
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

async fn system_hostname(conn: &zbus::Connection) -> Result<String> {
    let hostnamed = proxy(
        conn,
        "org.freedesktop.hostname1",
        "/org/freedesktop/hostname1",
        "org.freedesktop.hostname1",
    )
    .await?;
    hostnamed
        .get_property("Hostname")
        .await
        .map_err(|e| dbus_error("reading the host name")(e))
}

/// Writes `text` to `name` in the data directory, durably (temporary file, fsync, rename).
fn keep(web: &Web, name: &str, text: &str) -> Result<()> {
    let path = web.store.dir().join(name);
    microcloud_store::write_file_durably(&path, format!("{text}\n").as_bytes(), 0o666).map_err(
        |e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{}: {e}", path.display()),
            )
        },
    )
}

pub(super) fn appliance_only(web: &Web) -> Result<()> {
    if web.options.appliance {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the host name, time zone, network and power are managed on the appliance; this gateway runs in development mode on someone's computer",
        ))
    }
}

pub(super) fn dbus_error(what: &str) -> impl FnOnce(zbus::Error) -> ApiError + '_ {
    move |e| {
        log::warn!("{what}: {e}");
        ApiError::new(StatusCode::BAD_GATEWAY, format!("{what} failed: {e}"))
    }
}

pub(super) async fn proxy<'a>(
    conn: &zbus::Connection,
    dest: &'a str,
    path: &'a str,
    iface: &'a str,
) -> Result<zbus::Proxy<'a>> {
    zbus::Proxy::new(conn, dest, path, iface)
        .await
        .map_err(dbus_error("connecting to systemd"))
}

async fn systemd_manager(conn: &zbus::Connection) -> Result<zbus::Proxy<'static>> {
    proxy(
        conn,
        "org.freedesktop.systemd1",
        "/org/freedesktop/systemd1",
        "org.freedesktop.systemd1.Manager",
    )
    .await
}

/// Starts `unit` through systemd's D-Bus API (polkit decides whether the gateway's user may).
pub(super) async fn start_unit(conn: &zbus::Connection, unit: &str, what: &str) -> Result<()> {
    let p = systemd_manager(conn).await?;
    let _job: zbus::zvariant::OwnedObjectPath = p
        .call("StartUnit", &(unit, "replace"))
        .await
        .map_err(dbus_error(what))?;
    Ok(())
}

/// Whether `unit` runs or is about to (a job is queued for it), as systemd sees it now.
pub(super) async fn unit_running(conn: &zbus::Connection, unit: &str) -> Result<bool> {
    let what = format!("asking systemd about {unit}");
    let manager = systemd_manager(conn).await?;
    // LoadUnit, not GetUnit: an inactive unit may be unloaded, and that is an answer, not an error.
    let path: zbus::zvariant::OwnedObjectPath = manager
        .call("LoadUnit", &(unit,))
        .await
        .map_err(dbus_error(&what))?;
    let u = zbus::Proxy::new(
        conn,
        "org.freedesktop.systemd1",
        path,
        "org.freedesktop.systemd1.Unit",
    )
    .await
    .map_err(dbus_error(&what))?;
    let state: String = u
        .get_property("ActiveState")
        .await
        .map_err(dbus_error(&what))?;
    let (job, _): (u32, zbus::zvariant::OwnedObjectPath) =
        u.get_property("Job").await.map_err(dbus_error(&what))?;
    Ok(job != 0
        || matches!(
            state.as_str(),
            "active" | "activating" | "deactivating" | "reloading"
        ))
}

pub(super) async fn system_bus() -> Result<zbus::Connection> {
    zbus::Connection::system()
        .await
        .map_err(dbus_error("connecting to the system bus"))
}

/// `GET /api/system`.
pub async fn get(State(web): State<Arc<Web>>, _admin: Admin) -> Result<Json<Value>> {
    appliance_only(&web)?;
    let conn = system_bus().await?;
    let host = system_hostname(&conn).await?;
    let tz = std::fs::read_to_string(web.store.dir().join(TIMEZONE_FILE))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "UTC".into());
    let timedated = proxy(
        &conn,
        "org.freedesktop.timedate1",
        "/org/freedesktop/timedate1",
        "org.freedesktop.timedate1",
    )
    .await?;
    let ntp: bool = timedated
        .get_property("NTPSynchronized")
        .await
        .unwrap_or(false);
    let networkd = proxy(
        &conn,
        "org.freedesktop.network1",
        "/org/freedesktop/network1",
        "org.freedesktop.network1.Manager",
    )
    .await?;
    let described: String = networkd
        .call("Describe", &())
        .await
        .map_err(dbus_error("reading the network"))?;
    Ok(Json(json!({
        "appliance": true,
        "hostname": host,
        "timezone": tz,
        "ntp_synchronized": ntp,
        "network": network(&described),
    })))
}

/// Links and their addresses from networkd's `Describe()` JSON.
fn network(described: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(described).unwrap_or(Value::Null);
    let mut out = vec![];
    for link in v["Interfaces"].as_array().into_iter().flatten() {
        let name = link["Name"].as_str().unwrap_or("");
        if name == "lo" {
            continue;
        }
        let addresses: Vec<String> = link["Addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| {
                let bytes: Vec<u8> = a["Address"]
                    .as_array()?
                    .iter()
                    .filter_map(|b| b.as_u64().map(|b| b as u8))
                    .collect();
                let ip: std::net::IpAddr = match bytes.len() {
                    4 => <[u8; 4]>::try_from(bytes).ok()?.into(),
                    16 => <[u8; 16]>::try_from(bytes).ok()?.into(),
                    _ => return None,
                };
                Some(format!("{ip}/{}", a["PrefixLength"].as_u64().unwrap_or(0)))
            })
            .collect();
        out.push(json!({
            "name": name,
            "state": link["OperationalState"].as_str().unwrap_or("unknown"),
            "addresses": addresses,
        }));
    }
    out
}

#[derive(Deserialize)]
pub struct HostnameBody {
    hostname: String,
}

/// Whether `h` is a usable host name label (what DHCP and mDNS can carry).
fn valid_hostname(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 63
        && !h.starts_with('-')
        && !h.ends_with('-')
        && h.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `PUT /api/system/hostname`.
pub async fn set_hostname(
    State(web): State<Arc<Web>>,
    Admin(s): Admin,
    Json(b): Json<HostnameBody>,
) -> Result<Json<Value>> {
    appliance_only(&web)?;
    let h = b.hostname.trim().to_ascii_lowercase();
    if !valid_hostname(&h) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "a host name has 1-63 letters, digits or '-' (not first or last)",
        ));
    }
    keep(&web, HOSTNAME_FILE, &h)?;
    let conn = system_bus().await?;
    let p = proxy(
        &conn,
        "org.freedesktop.hostname1",
        "/org/freedesktop/hostname1",
        "org.freedesktop.hostname1",
    )
    .await?;
    // The running name; the early init sets the same one at every boot (/etc is read-only, so
    // hostnamed's static name cannot be written).
    let () = p
        .call("SetHostname", &(h.as_str(), false))
        .await
        .map_err(dbus_error("setting the host name"))?;
    log::info!(
        "{} set the host name to {}",
        log_safe(&s.user.name),
        log_safe(&h)
    );
    Ok(Json(
        json!({"ok": true, "message": format!("the box is now called {h}")}),
    ))
}

#[derive(Deserialize)]
pub struct TimezoneBody {
    timezone: String,
}

/// `PUT /api/system/timezone`.
pub async fn set_timezone(
    State(web): State<Arc<Web>>,
    Admin(s): Admin,
    Json(b): Json<TimezoneBody>,
) -> Result<Json<Value>> {
    appliance_only(&web)?;
    let tz = b.timezone.trim();
    if tz.is_empty()
        || tz.len() > 64
        || tz.contains("..")
        || !tz
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c))
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "a time zone looks like Europe/Paris or UTC",
        ));
    }
    if !std::path::Path::new("/usr/share/zoneinfo")
        .join(tz)
        .is_file()
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown time zone {tz:?}: use a name like Europe/Paris, America/New_York or UTC"
            ),
        ));
    }
    keep(&web, TIMEZONE_FILE, tz)?;
    log::info!(
        "{} set the time zone to {}",
        log_safe(&s.user.name),
        log_safe(tz)
    );
    Ok(Json(
        json!({"ok": true, "message": format!("time zone {tz}: it takes effect at the next restart")}),
    ))
}

#[derive(Deserialize, Default)]
pub struct ConfirmBody {
    #[serde(default)]
    confirm: String,
}

/// `POST /api/system/{reboot,poweroff,factory-reset}`.
pub async fn power(
    State(web): State<Arc<Web>>,
    Admin(s): Admin,
    Path(action): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>> {
    appliance_only(&web)?;
    let conn = system_bus().await?;
    match action.as_str() {
        "reboot" | "poweroff" => {
            let p = proxy(
                &conn,
                "org.freedesktop.login1",
                "/org/freedesktop/login1",
                "org.freedesktop.login1.Manager",
            )
            .await?;
            let method = if action == "reboot" {
                "Reboot"
            } else {
                "PowerOff"
            };
            log::info!("{} asked for {}", log_safe(&s.user.name), log_safe(&action));
            let () = p
                .call(method, &(false,))
                .await
                .map_err(dbus_error(&action))?;
        }
        "factory-reset" => {
            let b: ConfirmBody = serde_json::from_slice(&body).unwrap_or_default();
            if b.confirm != "factory reset" {
                return Err(ApiError::new(StatusCode::BAD_REQUEST, "type \"factory reset\" to confirm: every file, user and setting on the box will be erased"));
            }
            log::warn!("{} asked for a factory reset", log_safe(&s.user.name));
            start_unit(&conn, FACTORY_RESET_UNIT, "starting the factory reset").await?;
        }
        _ => return Err(ApiError::new(StatusCode::NOT_FOUND, "no such action")),
    }
    Ok(Json(json!({"ok": true})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networkd_description() {
        let d = r#"{"Interfaces":[{"Name":"lo","OperationalState":"carrier"},
            {"Name":"enp0s2","OperationalState":"routable","Addresses":[{"Family":2,"Address":[10,0,2,15],"PrefixLength":24}]}]}"#;
        let n = network(d);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0]["addresses"][0], "10.0.2.15/24");
        assert!(valid_hostname("microcloud-ab12"));
        assert!(!valid_hostname("-x") && !valid_hostname("a.b") && !valid_hostname(""));
    }
}
