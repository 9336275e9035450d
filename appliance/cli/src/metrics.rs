//! The Prometheus figures the gateway serves at `/metrics`: the store's totals, the cache hit
//! ratio, and per destination what `status --json` reports.

use std::fmt::Write;

use microcloud_store::Store;

fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

/// Renders the exposition; errors reading the catalog become a comment and a missing figure.
pub fn render(store: &Store) -> String {
    let mut out = String::new();
    match store.stats() {
        Ok(s) => {
            gauge(&mut out, "microcloud_users", "User accounts.", s.users);
            gauge(
                &mut out,
                "microcloud_files",
                "Files in all spaces.",
                s.files,
            );
            gauge(
                &mut out,
                "microcloud_cache_bytes",
                "Bytes of content on local storage.",
                s.bytes,
            );
            gauge(
                &mut out,
                "microcloud_dirty_bytes",
                "Bytes not yet safe at every destination.",
                s.dirty_bytes,
            );
            gauge(
                &mut out,
                "microcloud_cache_limit_bytes",
                "The cache bound.",
                s.cache_limit,
            );
            let dirty = if s.cache_limit > 0 {
                s.dirty_bytes as f64 / s.cache_limit as f64
            } else {
                0.0
            };
            gauge(
                &mut out,
                "microcloud_dirty_fraction",
                "Dirty bytes over the cache bound.",
                dirty,
            );
        }
        Err(e) => {
            let _ = writeln!(out, "# store totals unavailable: {e}");
        }
    }
    let (hits, misses) = store.read_counters();
    let _ = writeln!(
        out,
        "# HELP microcloud_cache_reads_total File reads, served locally (hit) or fetched back from a destination (miss).\n\
         # TYPE microcloud_cache_reads_total counter\n\
         microcloud_cache_reads_total{{result=\"hit\"}} {hits}\nmicrocloud_cache_reads_total{{result=\"miss\"}} {misses}"
    );
    let ratio = if hits + misses > 0 {
        hits as f64 / (hits + misses) as f64
    } else {
        1.0
    };
    gauge(
        &mut out,
        "microcloud_cache_hit_ratio",
        "Share of reads served from local storage since start.",
        ratio,
    );
    let (throttled, pause) = store.throttling();
    let _ = writeln!(
        out,
        "# HELP microcloud_throttled_writes_total Writes slowed down near the cache bound.\n\
         # TYPE microcloud_throttled_writes_total counter\nmicrocloud_throttled_writes_total {throttled}\n\
         # HELP microcloud_throttle_seconds_total Time writers were paused near the cache bound.\n\
         # TYPE microcloud_throttle_seconds_total counter\nmicrocloud_throttle_seconds_total {:.3}",
        pause.as_secs_f64()
    );
    let dests = microcloud_uplink::status::read(store.dir());
    match dests {
        Ok(st) => {
            let families: [(&str, &str, &str); 9] = [
                (
                    "microcloud_destination_up",
                    "gauge",
                    "1 when the destination answers, 0 while it is retried.",
                ),
                (
                    "microcloud_destination_pending_files",
                    "gauge",
                    "Changes not yet done at the destination.",
                ),
                (
                    "microcloud_destination_pending_bytes",
                    "gauge",
                    "Bytes not yet uploaded to the destination.",
                ),
                (
                    "microcloud_destination_oldest_pending_age_seconds",
                    "gauge",
                    "Age of the oldest pending change.",
                ),
                (
                    "microcloud_destination_conflicts",
                    "gauge",
                    "Objects changed in the cloud by someone else.",
                ),
                (
                    "microcloud_destination_in_flight",
                    "gauge",
                    "Requests to the destination in flight now.",
                ),
                (
                    "microcloud_destination_concurrency_limit",
                    "gauge",
                    "Requests the uplink may have in flight there (adapted to its distance and complaints).",
                ),
                (
                    "microcloud_destination_rtt_seconds",
                    "gauge",
                    "Recent latency of small requests there: about one round trip.",
                ),
                (
                    "microcloud_destination_slow_downs_total",
                    "counter",
                    "Times the destination asked to slow down (503 SlowDown, 429) since the uplink started.",
                ),
            ];
            for (i, (name, kind, help)) in families.iter().enumerate() {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
                for d in &st.destinations {
                    let v = match i {
                        0 => u64::from(d.state == "ok") as f64,
                        1 => d.pending_files as f64,
                        2 => d.pending_bytes as f64,
                        3 => d.oldest_pending_age_seconds,
                        4 => d.conflicts as f64,
                        5 => d.in_flight as f64,
                        // Not measured yet: no sample rather than a made-up zero.
                        6 => match d.concurrency_limit {
                            Some(l) => l as f64,
                            None => continue,
                        },
                        7 => match d.rtt_ms {
                            Some(ms) => ms / 1000.0,
                            None => continue,
                        },
                        _ => d.slow_downs as f64,
                    };
                    let _ = writeln!(out, "{name}{{destination=\"{}\"}} {v}", d.name);
                }
            }
        }
        Err(e) => {
            let _ = writeln!(out, "# destinations unavailable: {e}");
        }
    }
    out
}
