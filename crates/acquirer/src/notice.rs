//! Funds-arrival notices (到账通知): one per payout, stored with the run (crate::merchant_run)
//! and posted to the merchant's webhook when one is configured — HTTP POST of the notice's JSON,
//! signed with HMAC-SHA256 under the webhook's secret, retried with doubling delays until the
//! webhook answers 2xx or the attempts allowed are spent. Every attempt is stored.
//!
//! Signature: `X-Cardnet-Signature: v1=<hex HMAC-SHA256(secret, timestamp "." body)>` with the
//! timestamp (ms) in `X-Cardnet-Timestamp`: a receiver recomputes it and refuses old timestamps
//! (a replayed notice). Plain HTTP/1.1 over a std TCP stream with bounded connect, write and read
//! timeouts: a local relay or a test server; a webhook that needs TLS sits behind such a relay.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use sqlstore::Database;

use crate::error::Result;
use crate::settlement_config::SettlementConfig;
use crate::store::int;

/// Notices one delivery pass attempts at most.
pub const NOTICE_BATCH_MAX: usize = 1_000;
/// Bytes of a webhook's answer read at most (only its status line matters).
pub const RESPONSE_BYTES_MAX: usize = 16 * 1024;
/// Longest delay between attempts.
pub const RETRY_DELAY_MS_MAX: u64 = 3_600_000;

pub const STATE_PENDING: &str = "pending";
pub const STATE_DELIVERED: &str = "delivered";
pub const STATE_DEAD: &str = "dead";
/// The merchant has no webhook: the notice is kept for the merchant portal.
pub const STATE_STORED: &str = "stored";

/// `http://host:port/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl HttpTarget {
    pub fn parse(url: &str) -> std::result::Result<HttpTarget, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url:?} is not an http:// URL"))?;
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        let (host, port) = authority.rsplit_once(':').ok_or_else(|| format!("{url:?} names no port"))?;
        let port: u16 = port.parse().ok().filter(|p| *p > 0).ok_or_else(|| format!("{url:?}: bad port"))?;
        let clean = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic());
        if !clean(host) || !clean(path) {
            return Err(format!("{url:?}: bad host or path"));
        }
        Ok(HttpTarget { host: host.to_owned(), port, path: path.to_owned() })
    }
}

/// The signature of `body` sent at `timestamp_ms`: hex HMAC-SHA256 of `timestamp "." body`.
pub fn signature(secret: &[u8], timestamp_ms: u64, body: &str) -> String {
    // HMAC takes a key of any length: new_from_slice cannot fail for it.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable_key());
    mac.update(timestamp_ms.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[cold]
fn unreachable_key() -> Hmac<Sha256> {
    // Only reached if the hmac crate ever refused a key length; an empty key is still an HMAC.
    <Hmac<Sha256> as KeyInit>::new(&Default::default())
}

/// POST `body` to `target`; the answer's status code, or why there was none.
pub fn post(
    target: &HttpTarget,
    headers: &[(&str, String)],
    body: &str,
    timeout: Duration,
) -> std::result::Result<u16, String> {
    let addresses: Vec<SocketAddr> =
        (target.host.as_str(), target.port).to_socket_addrs().map_err(|e| format!("resolve: {e}"))?.collect();
    let address = addresses.first().ok_or("resolve: no address")?;
    let mut stream = TcpStream::connect_timeout(address, timeout).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| format!("socket: {e}"))?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| format!("socket: {e}"))?;
    let mut request = format!(
        "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        target.path,
        target.host,
        target.port,
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).map_err(|e| format!("send: {e}"))?;
    let mut answer = Vec::with_capacity(256);
    let mut buffer = [0u8; 1024];
    while answer.len() < RESPONSE_BYTES_MAX && !answer.windows(2).any(|w| w == b"\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    let status = text.strip_prefix("HTTP/1.").and_then(|r| r.get(2..5)).and_then(|c| c.parse::<u16>().ok());
    status.ok_or_else(|| "no HTTP status line in the answer".to_owned())
}

/// A stored notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRecord {
    pub id: u64,
    pub payout_id: u64,
    pub merchant_id: String,
    pub body: String,
    pub state: String,
    pub attempts: u64,
    pub next_attempt_ms: u64,
    pub delivered_ms: Option<u64>,
}

/// What one delivery pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryReport {
    pub attempted: u64,
    pub delivered: u64,
    pub failed: u64,
    pub dead: u64,
    /// Notices of merchants without a webhook, marked stored.
    pub stored: u64,
}

const NOTICE_COLUMNS: &str = "id, payout_id, merchant_id, body, state, attempts, next_attempt_ms, delivered_ms";

fn notice_from_row(row: &sqlstore::Row) -> sqlstore::Result<NoticeRecord> {
    Ok(NoticeRecord {
        id: row.u64(0)?,
        payout_id: row.u64(1)?,
        merchant_id: row.text(2)?,
        body: row.text(3)?,
        state: row.text(4)?,
        attempts: row.u64(5)?,
        next_attempt_ms: row.u64(6)?,
        delivered_ms: row.opt_i64(7)?.and_then(|v| u64::try_from(v).ok()),
    })
}

/// Every notice, oldest first (at most `limit`).
pub fn list(db: &Database, limit: usize) -> Result<Vec<NoticeRecord>> {
    let sql = format!("SELECT {NOTICE_COLUMNS} FROM acquirer_notices ORDER BY id LIMIT {limit}");
    Ok(db.transaction(|tx| tx.query(&sql, &[])?.iter().map(notice_from_row).collect())?)
}

/// One pass: each pending notice due at `now_ms` (every pending one with `force`) is posted
/// once. A 2xx delivers it; anything else waits `retry_ms_min × 2^(attempts−1)` (at most an
/// hour) and, after `notice_attempts_max`, is dead.
pub fn deliver_due(db: &Database, config: &SettlementConfig, now_ms: u64, force: bool) -> Result<DeliveryReport> {
    let due = format!(
        "SELECT {NOTICE_COLUMNS} FROM acquirer_notices WHERE state = 'pending' AND next_attempt_ms <= $1 \
         ORDER BY id LIMIT {NOTICE_BATCH_MAX}"
    );
    let until = if force { i64::MAX as u64 } else { now_ms };
    let notices: Vec<NoticeRecord> =
        db.transaction(|tx| tx.query(&due, &[int(until)?])?.iter().map(notice_from_row).collect())?;
    let timeout = Duration::from_millis(config.notice_timeout_ms);
    let mut report = DeliveryReport::default();
    for notice in notices {
        let Some(hook) = config.webhook(&notice.merchant_id) else {
            db.transaction(|tx| {
                tx.execute("UPDATE acquirer_notices SET state = 'stored' WHERE id = $1", &[int(notice.id)?])
            })?;
            report.stored += 1;
            continue;
        };
        let outcome = HttpTarget::parse(&hook.url).and_then(|target| {
            let headers = [
                ("X-Cardnet-Timestamp", now_ms.to_string()),
                ("X-Cardnet-Signature", format!("v1={}", signature(hook.secret.as_bytes(), now_ms, &notice.body))),
            ];
            post(&target, &headers, &notice.body, timeout)
        });
        let attempt = notice.attempts + 1;
        let delivered = matches!(outcome, Ok(status) if (200..300).contains(&status));
        let state = if delivered {
            STATE_DELIVERED
        } else if attempt >= u64::from(config.notice_attempts_max) {
            STATE_DEAD
        } else {
            STATE_PENDING
        };
        let delay = config.notice_retry_ms_min.saturating_mul(1u64 << (attempt - 1).min(20)).min(RETRY_DELAY_MS_MAX);
        let (status, error) = match &outcome {
            Ok(status) => (Some(u64::from(*status)), None),
            Err(why) => (None, Some(why.clone())),
        };
        db.transaction(|tx| {
            tx.execute(
                "INSERT INTO acquirer_notice_attempts (notice_id, attempt, at_ms, status, error) VALUES ($1, $2, $3, $4, $5)",
                &[int(notice.id)?, int(attempt)?, int(now_ms)?, crate::store::opt_int(status)?, error.clone().into()],
            )?;
            tx.execute(
                "UPDATE acquirer_notices SET state = $2, attempts = $3, next_attempt_ms = $4, delivered_ms = $5 \
                 WHERE id = $1",
                &[
                    int(notice.id)?,
                    state.into(),
                    int(attempt)?,
                    int(now_ms.saturating_add(delay))?,
                    crate::store::opt_int(delivered.then_some(now_ms))?,
                ],
            )
        })?;
        report.attempted += 1;
        match state {
            STATE_DELIVERED => report.delivered += 1,
            STATE_DEAD => report.dead += 1,
            _ => report.failed += 1,
        }
        if !delivered {
            tracing::warn!(notice = notice.id, merchant = %notice.merchant_id, attempt, ?status, "acquirer: notice not acknowledged");
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_the_signature() {
        let t = HttpTarget::parse("http://127.0.0.1:8080/hooks/n").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("127.0.0.1", 8080, "/hooks/n"));
        assert_eq!(HttpTarget::parse("http://localhost:9").unwrap().path, "/");
        for bad in ["https://x:1/", "http://x/", "http://x:0/", "http://:80/", "ftp://x:1"] {
            assert!(HttpTarget::parse(bad).is_err(), "{bad}");
        }
        // RFC 4231 test case 2 shape: a known HMAC-SHA256 of "what do ya want for nothing?".
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert_eq!(signature(b"k", 1, "b").len(), 64);
        assert_ne!(signature(b"k", 1, "b"), signature(b"k", 2, "b"), "the timestamp is signed");
    }
}
