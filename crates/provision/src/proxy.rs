//! A TCP proxy between the switch and an issuer that the demo (and the tests) can slow down or
//! cut: the network faults a payment network must ride out (an issuer slow past the timeout,
//! an issuer unreachable) shown without touching either party's code. Development only: in a
//! deployment the switch connects to the issuer's address itself.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Bytes read at once from either side.
const CHUNK_BYTES: usize = 16 * 1024;

#[derive(Debug, Default)]
struct Faults {
    /// Delay added to every chunk from the issuer to the switch.
    response_delay_ms: AtomicU64,
    /// When set, connections are refused (closed at once) and open ones are cut.
    down: AtomicBool,
}

/// A running proxy: `address()` is what the switch connects to.
pub struct FaultProxy {
    address: SocketAddr,
    /// Where connections go; a restarted issuer gets a new port and the proxy follows it.
    target: Arc<Mutex<SocketAddr>>,
    faults: Arc<Faults>,
    cut: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listen on `listen` (port 0 picks one) and forward to `target`.
    pub async fn start(listen: SocketAddr, target: SocketAddr) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind(listen).await?;
        let address = listener.local_addr()?;
        let faults = Arc::new(Faults::default());
        let (cut, _) = watch::channel(0u64);
        let target = Arc::new(Mutex::new(target));
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&target), Arc::clone(&faults), cut.clone()));
        Ok(FaultProxy { address, target, faults, cut, task })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Forward new connections to `target` from now on (open ones stay where they are).
    pub fn set_target(&self, target: SocketAddr) {
        *self.target.lock().unwrap_or_else(PoisonError::into_inner) = target;
    }

    /// Hold every response from the issuer back by `delay_ms` (0: none).
    pub fn set_response_delay_ms(&self, delay_ms: u64) {
        self.faults.response_delay_ms.store(delay_ms, Ordering::SeqCst);
    }

    /// Cut every connection and refuse new ones (`true`), or let them through again.
    pub fn set_down(&self, down: bool) {
        self.faults.down.store(down, Ordering::SeqCst);
        if down {
            self.cut.send_modify(|generation| *generation += 1);
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut.send_modify(|generation| *generation += 1);
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: Arc<Mutex<SocketAddr>>,
    faults: Arc<Faults>,
    cut: watch::Sender<u64>,
) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else { continue };
        if faults.down.load(Ordering::SeqCst) {
            drop(inbound);
            continue;
        }
        let target = *target.lock().unwrap_or_else(PoisonError::into_inner);
        let Ok(outbound) = TcpStream::connect(target).await else { continue };
        let _ = inbound.set_nodelay(true);
        let _ = outbound.set_nodelay(true);
        tokio::spawn(relay(inbound, outbound, Arc::clone(&faults), cut.subscribe()));
    }
}

async fn relay(inbound: TcpStream, outbound: TcpStream, faults: Arc<Faults>, mut cut: watch::Receiver<u64>) {
    let (mut from_switch, mut to_switch) = inbound.into_split();
    let (mut from_issuer, mut to_issuer) = outbound.into_split();
    let upstream = async {
        let mut buffer = vec![0u8; CHUNK_BYTES];
        loop {
            let n = from_switch.read(&mut buffer).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(());
            }
            to_issuer.write_all(&buffer[..n]).await?;
        }
    };
    let downstream = async {
        let mut buffer = vec![0u8; CHUNK_BYTES];
        loop {
            let n = from_issuer.read(&mut buffer).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(());
            }
            let delay_ms = faults.response_delay_ms.load(Ordering::SeqCst);
            if delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            }
            to_switch.write_all(&buffer[..n]).await?;
        }
    };
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
        _ = cut.changed() => {}
    }
}
