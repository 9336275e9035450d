//! `microcloud gateway`: runs the agents in the foreground on one data directory.

use std::io::{Seek, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use indicatif::HumanBytes;
use microcloud_constants as constants;
use microcloud_remotes::size::parse_size;
use microcloud_store::{OpenOptions, Store};
use microcloud_webdav::LanService;
use nix::fcntl::Flock;

use crate::{CliError, DataArg};

/// Options of `microcloud gateway`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArg,
    /// Address and port to listen on. The default serves this machine only; use 0.0.0.0:8080 to
    /// serve the LAN.
    #[arg(long, value_name = "ADDR:PORT", default_value = constants::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Also serve HTTPS on this address and port (the page, WebDAV and metrics), with a
    /// certificate from the box's own certificate authority, made at first use in DATA/tls
    /// (see `microcloud tls`).
    #[arg(long, value_name = "ADDR:PORT")]
    tls_listen: Option<SocketAddr>,
    /// Serve on --listen only what a device needs before it trusts HTTPS: the CA (`/ca.crt`,
    /// `/ca.mobileconfig`), a page on how to trust it (`/trust`) and a redirect to HTTPS for
    /// everything else; WebDAV, sign-in and changes over plain HTTP are refused with a message
    /// naming the HTTPS address. The appliance runs this way.
    #[arg(long, requires = "tls_listen")]
    redirect_http: bool,
    /// Bound on local storage for file content, e.g. 20G. When data that is not yet safe elsewhere
    /// nears it, writers are slowed down, then refused with 507. Remembered in the catalog; the
    /// first default is 90% of the data filesystem.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    cache_size: Option<u64>,
    /// Run only the LAN service; do not start the uplink. The appliance runs the uplink as its own
    /// service (`microcloud uplink`). Either way the uplink is a separate process, which alone
    /// holds cloud credentials; the two talk over the uplink's socket in the data directory.
    #[arg(long)]
    no_uplink: bool,
    /// Run as the appliance: the setup page also manages this machine (host name, time zone,
    /// network view, reboot, power off, factory reset) through systemd's D-Bus services. Without
    /// it (development on someone's computer) those pages say they are not available.
    #[arg(long)]
    appliance: bool,
    /// The uplink's settings, handed to the uplink the gateway starts.
    #[command(flatten)]
    uplink: crate::uplink::SettingsArgs,
}

/// Takes the data directory's gateway lock, so that two gateways never share one store.
pub fn lock(dir: &Path) -> Result<Flock<std::fs::File>, CliError> {
    crate::agent::lock_file(dir, constants::GATEWAY_LOCK_FILE, "gateway")
}

pub fn run(args: Args) -> Result<(), CliError> {
    microcloud_logging::init(log::LevelFilter::Info);
    // Large blocks (argon2's 19 MiB per password check, big reads) go straight to mmap and back
    // to the system when freed. glibc's default raises this threshold after the first such free,
    // after which every thread's arena kept its own copy (measured: 325 MB after a login flood).
    // SAFETY: mallopt only changes allocator tuning; called before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
    let dir = args.data.data;
    microcloud_store::prepare_data_dir(&dir).map_err(|e| CliError::Io {
        what: dir.display().to_string(),
        source: e,
    })?;
    let mut lock = lock(&dir)?;
    let store = Store::open(
        &dir,
        OpenOptions {
            create: true,
            cache_limit: args.cache_size,
        },
    )?;
    let cleaned = store.clean_staging()?;
    if cleaned > 0 {
        log::info!("removed {cleaned} unfinished uploads left by the previous run");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("microcloud-gateway")
        .build()
        .map_err(|e| CliError::Io {
            what: "tokio runtime".into(),
            source: e,
        })?;
    rt.block_on(async move {
        let listener = listen(args.listen)
            .await
            .map_err(|e| CliError::Io {
                what: format!("listen on {}", args.listen),
                source: e,
            })?;
        let addr = listener.local_addr().map_err(|e| CliError::Io {
            what: "listen socket".into(),
            source: e,
        })?;
        let url = crate::console::url("http", addr);
        let https = match args.tls_listen {
            None => None,
            Some(tls_addr) => {
                let cert = crate::tls::server_cert(&dir)?;
                let listener =
                    listen(tls_addr)
                        .await
                        .map_err(|e| CliError::Io {
                            what: format!("listen on {tls_addr}"),
                            source: e,
                        })?;
                let bound = listener.local_addr().map_err(|e| CliError::Io {
                    what: "TLS listen socket".into(),
                    source: e,
                })?;
                Some((listener, bound, cert))
            }
        };
        let _ = lock.set_len(0);
        let _ = lock.rewind();
        // One write of the whole line: readers (scripts, tests) poll this file, and a line written
        // piece by piece (as `writeln!` does) can be read half-written.
        let line = match &https {
            Some((_, bound, _)) => {
                format!("{} http://{addr}/ https://{bound}/\n", std::process::id())
            }
            None => format!("{} http://{addr}/\n", std::process::id()),
        };
        let _ = lock.write_all(line.as_bytes());
        let _ = lock.sync_data();

        let stats = store.stats()?;
        println!("microcloud gateway on {}", dir.display());
        // With --redirect-http, plain HTTP only redirects and hands out the CA: the page and
        // WebDAV are the HTTPS port's.
        let page_url = match &https {
            Some((_, bound, _)) if args.redirect_http => crate::console::url("https", *bound),
            _ => url.clone(),
        };
        println!("  page:    {page_url}");
        println!("  WebDAV:  {page_url}dav/   (HTTP Basic authentication)");
        println!("  metrics: {page_url}metrics");
        if let Some((_, bound, cert)) = &https {
            if args.redirect_http {
                println!("  http:    {url}   (redirects to https; the CA: {url}ca.crt, how to trust it: {url}trust)");
            } else {
                println!(
                    "  https:   https://{bound}/   (the box's CA: {})",
                    cert.authority().cert_path().display()
                );
            }
            println!(
                "  CA SHA-256 fingerprint: {}",
                cert.authority().fingerprint()
            );
        }
        println!(
            "  store:   {} files, {} of {} cache in use",
            stats.files,
            HumanBytes(stats.bytes),
            HumanBytes(stats.cache_limit)
        );
        let onboarding = match &https {
            // Every address by which a tablet can reach the box, and the setup code with a QR
            // code of the URL that carries it (the console is where an owner looks first).
            Some((_, bound, _)) => {
                let code = microcloud_accounts::setup::code(&store)?;
                print!(
                    "{}",
                    crate::console::banner(&crate::console::urls(*bound), None, code.as_deref())
                );
                if let Some(code) = &code {
                    log::info!("not set up yet: open the setup page and enter the one-time setup code {code}");
                }
                code.is_some()
            }
            None => microcloud_webui::announce_setup_code(&store, &page_url)?,
        };
        if !onboarding && stats.users == 0 {
            println!(
                "  no users yet: add one with `microcloud user add NAME --data {}`",
                dir.display()
            );
        }
        log::info!("serving {page_url}dav/ from {}", dir.display());
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);

        // Leftovers from a crash are found in the background: serving does not wait for them.
        let gc_store = store.clone();
        tokio::task::spawn_blocking(move || match gc_store.collect_garbage() {
            Ok(0) => {}
            Ok(n) => {
                log::info!("removed {n} unreferenced blob files left by an interrupted commit")
            }
            Err(e) => log::warn!("blob garbage collection: {e}"),
        });

        // Versions past their retention and inbox entries past 10 days go once an hour (and a minute after the start, so a box
        // that is switched on only now and then still expires them).
        let expiry_store = store.clone();
        tokio::spawn(async move {
            let mut wait = std::time::Duration::from_secs(60);
            loop {
                tokio::time::sleep(wait).await;
                wait = std::time::Duration::from_secs(3600);
                let now = jiff::Timestamp::now().as_nanosecond() as i64;
                match expiry_store.expire_versions(now).await {
                    Ok(e) if e.versions > 0 => log::info!(
                        "retention: removed {} versions past their retention, freeing {} bytes",
                        e.versions,
                        e.bytes
                    ),
                    Ok(_) => {}
                    Err(e) => log::warn!("retention: expiring versions: {e}"),
                }
                // Sends nobody acted on in 10 days expire, as do old events of the streams.
                match expiry_store.expire_inbox(now).await {
                    Ok(0) => {}
                    Ok(n) => log::info!("inbox: {n} sends expired after 10 days unopened"),
                    Err(e) => log::warn!("inbox: expiring sends: {e}"),
                }
                if let Err(e) = expiry_store.prune_events(now).await {
                    log::warn!("events: pruning old events: {e}");
                }
            }
        });

        // The uplink is its own process, here started by the gateway unless it has its own
        // service (the appliance). Both talk over the uplink's socket in the data directory.
        let uplink = if args.no_uplink {
            None
        } else {
            Some(keep_uplink(
                dir.clone(),
                args.uplink.clone(),
                start_uplink(&dir, &args.uplink)?,
            ))
        };
        let client = microcloud_uplink_api::Client::new(&dir);
        store.set_fetcher(std::sync::Arc::new(
            microcloud_uplink_api::SocketFetcher::new(client.clone()),
        ));
        microcloud_uplink_api::Notifier::spawn(client.clone(), store.changed());
        // Content the uplink made safe, evicted or fetched back moves the cache figures.
        {
            let s = store.clone();
            tokio::spawn(microcloud_uplink_api::follow_forever(client, move || {
                if let Err(e) = s.refresh_counters() {
                    log::warn!("refreshing the cache figures: {e}");
                }
            }));
        }
        let metrics_store = store.clone();
        let metrics: microcloud_webdav::server::MetricsFn =
            std::sync::Arc::new(move || crate::metrics::render(&metrics_store));
        let banner_store = store.clone();
        let lan = LanService::with_metrics(store, Some(metrics));
        let options = microcloud_webui::Options {
            appliance: args.appliance,
            // For working on the page: serve its files from a directory instead of the binary.
            assets_dir: std::env::var_os("MICROCLOUD_WEBUI_ASSETS").map(Into::into),
            ca_fingerprint: https
                .as_ref()
                .map(|(_, _, cert)| cert.authority().fingerprint()),
            update_key: std::env::var_os("MICROCLOUD_UPDATE_KEY")
                .map_or_else(|| constants::UPDATE_KEY_FILE.into(), Into::into),
        };
        let page = microcloud_webui::Page::new(
            lan.clone(),
            crate::front::SocketUplink::new(&dir),
            options,
        );
        // Event streams never end by themselves: on SIGTERM they end at once, so that stopping
        // the gateway does not wait out the drain of requests in flight.
        let closing = page.clone();
        tokio::spawn(async move {
            crate::agent::shutdown_signal().await;
            closing.close_streams();
        });
        let router = crate::front::router(lan, page);
        let plain = match &https {
            Some((_, bound, cert)) if args.redirect_http => crate::redirect::router(
                cert.authority(),
                &crate::tls::host_name(),
                bound.port(),
            ),
            _ => router.clone(),
        };
        let https = match https {
            None => None,
            Some((listener, bound, cert)) => {
                let config = Arc::new(
                    cert.server_config()
                        .map_err(|e| CliError::Usage(e.to_string()))?,
                );
                // A new address or name (DHCP, a renamed box) gets a new certificate, no restart:
                // at once when the kernel announces an address change, and every minute for what
                // it does not announce (the host name).
                let watch = cert.clone();
                let fingerprint = cert.authority().fingerprint();
                let mut shown = crate::console::urls(bound);
                let changed = Arc::new(tokio::sync::Notify::new());
                if let Err(e) = crate::tls::watch_addresses(changed.clone()) {
                    log::warn!("cannot watch address changes (rtnetlink): {e}; checking every minute");
                }
                tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
                            _ = changed.notified() => {
                                // An interface coming up sends a burst: let it settle.
                                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                            }
                        }
                        let names = tokio::task::spawn_blocking(crate::tls::box_names).await;
                        if let Ok(names) = names {
                            if let Err(e) = watch.update(&names) {
                                log::warn!("re-issuing the server certificate: {e}");
                            }
                        }
                        // New addresses: the console shows them (and the setup code's QR code
                        // with the new URL), so the owner never reads a stale one.
                        let urls = crate::console::urls(bound);
                        if urls != shown {
                            let code = microcloud_accounts::setup::code(&banner_store).ok().flatten();
                            println!("microcloud: the box's addresses changed");
                            print!("{}", crate::console::banner(&urls, Some(&fingerprint), code.as_deref()));
                            log::info!("reachable at {}", urls.join(" "));
                            shown = urls;
                        }
                    }
                });
                Some(tokio::spawn(microcloud_webdav::connections::serve_tls(
                    router,
                    listener,
                    Some(config),
                    crate::agent::shutdown_signal(),
                )))
            }
        };
        microcloud_webdav::connections::serve(plain, listener, crate::agent::shutdown_signal()).await;
        if let Some(t) = https {
            let _ = t.await;
        }
        if let Some((stop, task)) = uplink {
            let _ = stop.send(());
            let _ = task.await;
        }
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        log::info!("stopped");
        Ok::<(), CliError>(())
    })
}

/// Starts `microcloud uplink` on `dir` as a child that dies with this process (a gateway killed
/// outright takes its uplink with it, as one service would).
fn start_uplink(
    dir: &Path,
    settings: &crate::uplink::SettingsArgs,
) -> Result<tokio::process::Child, CliError> {
    let exe = std::env::current_exe().map_err(|e| CliError::Io {
        what: "the path of this program".into(),
        source: e,
    })?;
    let mut cmd = tokio::process::Command::new(&exe);
    cmd.arg("uplink")
        .arg("--data")
        .arg(dir)
        .args(settings.to_args())
        .kill_on_drop(true);
    let parent = std::process::id();
    // SAFETY: prctl and getppid are async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The gateway may have died before the line above.
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::other("the gateway is gone"));
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| CliError::Io {
        what: format!("starting {} uplink", exe.display()),
        source: e,
    })?;
    log::info!("uplink started (pid {})", child.id().unwrap_or(0));
    Ok(child)
}

/// Keeps the uplink child running, as systemd does the uplink's service: one that ends is
/// started again after a pause (2 s, doubling up to a minute while it keeps failing at once),
/// and said so in the log. Until the returned sender fires; then it is stopped and waited for.
fn keep_uplink(
    dir: std::path::PathBuf,
    settings: crate::uplink::SettingsArgs,
    first: tokio::process::Child,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (stop_tx, mut stop) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut child = first;
        let mut pause = std::time::Duration::from_secs(2);
        loop {
            let started = std::time::Instant::now();
            tokio::select! {
                status = child.wait() => {
                    let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                    log::error!(
                        "the uplink ended ({status}); uploads and read-through wait until it is started again in {} s",
                        pause.as_secs()
                    );
                }
                _ = &mut stop => {
                    stop_uplink(&mut child).await;
                    return;
                }
            }
            if started.elapsed() > std::time::Duration::from_secs(60) {
                pause = std::time::Duration::from_secs(2);
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = &mut stop => return,
            }
            pause = (pause * 2).min(std::time::Duration::from_secs(60));
            match start_uplink(&dir, &settings) {
                Ok(c) => child = c,
                Err(e) => {
                    log::error!("{e}");
                    return;
                }
            }
        }
    });
    (stop_tx, task)
}

/// Asks the uplink child to stop (it finishes what it holds in hand) and waits for it.
async fn stop_uplink(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    match tokio::time::timeout(std::time::Duration::from_secs(30), child.wait()).await {
        Ok(Ok(status)) if !status.success() => log::warn!("uplink ended: {status}"),
        Ok(_) => {}
        Err(_) => {
            log::warn!("uplink did not stop within 30 s: killed");
            let _ = child.kill().await;
        }
    }
}

/// Listens on `addr`. `[::]` is dual-stack (Linux's default, net.ipv6.bindv6only=0: IPv4
/// clients arrive as ::ffff:a.b.c.d); on a kernel without IPv6 it falls back to `0.0.0.0`.
async fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(addr).await {
        Err(e)
            if addr.ip() == std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
                && (e.raw_os_error() == Some(libc::EAFNOSUPPORT)
                    || e.kind() == std::io::ErrorKind::AddrNotAvailable) =>
        {
            let v4 = std::net::SocketAddr::from(([0, 0, 0, 0], addr.port()));
            log::warn!("no IPv6 here ({e}): listening on {v4} instead of {addr}");
            tokio::net::TcpListener::bind(v4).await
        }
        r => r,
    }
}
