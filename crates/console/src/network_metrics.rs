//! `/metrics` of the whole network, for one Prometheus job: every party's own page (its admin
//! endpoint, found in the line `cardnet serve` logs — `admin on http://ADDR` — in the log folder
//! the network page tails) read at each scrape and merged into one (`metrics::merge`), with
//! `cardnet_console_party_up` saying which parties answered. Served without a login, as
//! Prometheus scrapes: it holds counters and latencies, no card, merchant or user data.

use std::net::SocketAddr;
use std::path::Path;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// Log files looked through for admin addresses at most.
const LOG_FILES_MAX: usize = 32;
/// Bytes read from the start of each log: the admin line is among the first a party writes.
const LOG_HEAD_BYTES_MAX: u64 = 64 * 1024;

pub async fn metrics(State(console): State<crate::web::State>) -> Response {
    let logs = console.party_logs.clone();
    let page =
        tokio::task::spawn_blocking(move || logs.map(|dir| scrape(&dir)).unwrap_or_default()).await.unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], page).into_response()
}

/// Each party's (name, admin address) from its log, named by the log's file stem.
pub fn admin_addresses(logs: &Path) -> Vec<(String, SocketAddr)> {
    let Ok(entries) = std::fs::read_dir(logs) else { return Vec::new() };
    let mut found: Vec<(String, SocketAddr)> = entries
        .flatten()
        .take(LOG_FILES_MAX)
        .filter_map(|entry| {
            let path = entry.path();
            let name = path.file_name()?.to_str()?.strip_suffix(".log")?.to_owned();
            let head = read_head(&path)?;
            let address = metrics::admin::address_in_log(&head)?;
            Some((name, address))
        })
        .collect();
    found.sort();
    found
}

fn read_head(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(path).ok()?.take(LOG_HEAD_BYTES_MAX).read_to_end(&mut head).ok()?;
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// One party's health from its admin endpoint, for the network page.
pub struct PartyHealth {
    pub name: String,
    /// `ready`, or `/readyz`'s reason (an upstream link not signed on: the switch standing in
    /// for an issuer it cannot reach), or why the endpoint did not answer.
    pub ready: String,
    pub in_flight: u64,
    /// Store-and-forward entries waiting (the switch's advices and reversals to the banks, the
    /// acquirer's reversals to the switch), and those given up (dead).
    pub queued: u64,
    pub dead: u64,
}

/// Every party's readiness and queues, read side by side from its admin endpoint.
pub fn health(logs: &Path) -> Vec<PartyHealth> {
    let parties = admin_addresses(logs);
    std::thread::scope(|scope| {
        let reads: Vec<_> =
            parties.iter().map(|(name, address)| scope.spawn(move || health_of(name, *address))).collect();
        reads.into_iter().filter_map(|read| read.join().ok()).collect()
    })
}

fn health_of(name: &str, address: SocketAddr) -> PartyHealth {
    let ready = match metrics::probe::get(address, "/readyz") {
        Ok((200, _)) => "ready".to_owned(),
        Ok((_, body)) => body.trim().to_owned(),
        Err(error) => format!("no answer: {error}"),
    };
    let page = metrics::probe::get(address, "/metrics")
        .ok()
        .filter(|(status, _)| *status == 200)
        .and_then(|(_, body)| metrics::parse::parse(&body).ok());
    let value = |family: &str, labels: &[(&str, &str)]| {
        page.as_ref().and_then(|p| p.value(family, labels)).map_or(0, |v| v as u64)
    };
    PartyHealth {
        name: name.to_owned(),
        ready,
        in_flight: value("cardnet_requests_in_flight", &[]),
        queued: value("cardnet_saf_backlog", &[("state", "pending")]),
        dead: value("cardnet_saf_backlog", &[("state", "dead")]),
    }
}

/// Every party's page, read side by side, merged; and which answered.
fn scrape(logs: &Path) -> String {
    let parties = admin_addresses(logs);
    let pages: Vec<Option<String>> = std::thread::scope(|scope| {
        let reads: Vec<_> = parties
            .iter()
            .map(|(_, address)| {
                scope.spawn(move || match metrics::probe::get(*address, "/metrics") {
                    Ok((200, body)) => Some(body),
                    _ => None,
                })
            })
            .collect();
        reads.into_iter().map(|read| read.join().ok().flatten()).collect()
    });
    // Every party's samples carry `instance` (its log's name): two issuers both label
    // themselves `party="issuer"`.
    let mut all: Vec<String> = Vec::with_capacity(parties.len() + 1);
    let mut up = String::from(
        "# HELP cardnet_console_party_up Whether the party's /metrics answered the console's last scrape.\n\
         # TYPE cardnet_console_party_up gauge\n",
    );
    for ((name, _), page) in parties.iter().zip(pages) {
        let line = format!("cardnet_console_party_up {}\n", u8::from(page.is_some()));
        up.push_str(&metrics::merge::with_label(&line, "instance", name));
        if let Some(page) = page {
            all.push(metrics::merge::with_label(&page, "instance", name));
        }
    }
    all.push(up);
    metrics::merge::merge(&all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_addresses_come_from_the_parties_logs_and_a_silent_party_is_down() {
        let dir = std::env::temp_dir().join(format!("cardnet-console-metrics-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // A listener nobody answers on: bound, then dropped, so the address refuses.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        std::fs::write(dir.join("switch.log"), format!("cardnet switch: admin on http://{closed}\nlistening\n"))
            .unwrap();
        std::fs::write(dir.join("console.log"), "console on http://127.0.0.1:1\n").unwrap();
        assert_eq!(admin_addresses(&dir), [("switch".to_owned(), closed)]);
        let page = scrape(&dir);
        let parsed = metrics::parse::parse(&page).unwrap();
        assert_eq!(parsed.value("cardnet_console_party_up", &[("instance", "switch")]), Some(0.0), "{page}");
        let health = health(&dir);
        assert_eq!(health.len(), 1);
        assert!(health[0].ready.starts_with("no answer"), "{}", health[0].ready);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
