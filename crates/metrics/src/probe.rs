//! One HTTP/1.1 GET over a std `TcpStream`, for tests and tools that scrape a party (no HTTP
//! client dependency); bounded in time and in bytes read.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a probe waits to connect, and for each read and write.
pub const PROBE_TIMEOUT_MS: u64 = 5_000;
/// Largest answer read.
pub const PROBE_BYTES_MAX: u64 = 4 * 1024 * 1024;

/// GET `path` from `address`: the status code and the body. The error names the address and path.
pub fn get(address: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let timeout = Duration::from_millis(PROBE_TIMEOUT_MS);
    let fail = |what: &str, e: std::io::Error| format!("GET http://{address}{path}: {what}: {e}");
    let mut stream = TcpStream::connect_timeout(&address, timeout).map_err(|e| fail("connect", e))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| fail("socket", e))?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| fail("socket", e))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
        .map_err(|e| fail("write", e))?;
    let mut answer = Vec::new();
    stream.take(PROBE_BYTES_MAX).read_to_end(&mut answer).map_err(|e| fail("read", e))?;
    let answer = String::from_utf8(answer).map_err(|_| format!("GET http://{address}{path}: not UTF-8"))?;
    let (head, body) = answer.split_once("\r\n\r\n").ok_or(format!("GET http://{address}{path}: no header end"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or(format!("GET http://{address}{path}: no status code"))?;
    let chunked = head.lines().any(|line| line.eq_ignore_ascii_case("transfer-encoding: chunked"));
    let body = if chunked {
        dechunk(body).ok_or(format!("GET http://{address}{path}: bad chunking"))?
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut body: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n")?;
        let size = usize::from_str_radix(size.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(rest.get(..size)?);
        body = rest.get(size..)?.strip_prefix("\r\n")?;
    }
}
