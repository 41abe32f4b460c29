//! A cup-pos frame relay between a terminal and its acquirer (framing: a 2-byte binary length,
//! then TPDU, header and message): it records every frame both ways and, when told, cuts the
//! line after the acquirer's next financial answer, forges that answer's MAC, or refuses
//! connections — the network failures a terminal must survive (reference §6). Plain threads, so
//! synchronous tests (driving `cardnet pos run` processes) and tokio tests use it alike.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

/// MTIs of the financial answers a cut or a forgery hits.
const FINANCIAL_ANSWERS: [&str; 2] = ["0110", "0210"];

/// What the relay does with what comes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Pass frames both ways.
    Pass = 0,
    /// Forward the request, swallow the acquirer's next 0110/0210 and drop both connections;
    /// then pass again.
    CutNextAnswer = 1,
    /// Flip a bit of the next 0110/0210's field 64 (the message's last byte); then pass again.
    ForgeNextMac = 2,
    /// Accept connections and close them at once (the acquirer unreachable).
    Down = 3,
}

impl Mode {
    fn from_u8(value: u8) -> Mode {
        match value {
            1 => Mode::CutNextAnswer,
            2 => Mode::ForgeNextMac,
            3 => Mode::Down,
            _ => Mode::Pass,
        }
    }
}

/// One frame as the relay saw it, decoded.
pub struct SeenFrame {
    /// Sent by the terminal (else by the acquirer).
    pub from_terminal: bool,
    pub mti: String,
    pub message: iso8583::Message,
    /// The frame as it crossed the wire (what a sniffer would see).
    pub bytes: Vec<u8>,
    /// Whether it went on (false: swallowed by a cut).
    pub delivered: bool,
}

impl SeenFrame {
    /// Field `number` as text ("" when absent).
    pub fn field(&self, number: u8) -> String {
        self.message.get_str(number).unwrap_or("").to_owned()
    }

    /// A subfield by path (`60.3`) as text ("" when absent).
    pub fn path(&self, path: &str) -> String {
        let value = self.message.get_path(path).ok().flatten().unwrap_or_default();
        String::from_utf8_lossy(value).into_owned()
    }
}

#[derive(Clone)]
struct Frame {
    from_terminal: bool,
    bytes: Vec<u8>,
    delivered: bool,
}

type Frames = Arc<Mutex<Vec<Frame>>>;

fn lock(frames: &Frames) -> MutexGuard<'_, Vec<Frame>> {
    frames.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The relay: listening on [`FrameRelay::address`], forwarding to the acquirer.
pub struct FrameRelay {
    address: String,
    mode: Arc<AtomicU8>,
    frames: Frames,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

fn read_frame(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix)?;
    let mut frame = vec![0u8; 2 + usize::from(u16::from_be_bytes(prefix))];
    frame[..2].copy_from_slice(&prefix);
    stream.read_exact(&mut frame[2..])?;
    Ok(frame)
}

fn decode(frame: &[u8]) -> Option<iso8583::Message> {
    iso8583::decode_framed(&iso8583::builtin::cup_pos(), frame).ok().map(|(_, message)| message)
}

fn close(a: &TcpStream, b: &TcpStream) {
    let _ = a.shutdown(Shutdown::Both);
    let _ = b.shutdown(Shutdown::Both);
}

/// Terminal → acquirer: record and forward.
fn upstream(mut terminal: TcpStream, mut acquirer: TcpStream, frames: Frames) {
    while let Ok(frame) = read_frame(&mut terminal) {
        lock(&frames).push(Frame { from_terminal: true, bytes: frame.clone(), delivered: true });
        if acquirer.write_all(&frame).is_err() {
            break;
        }
    }
    close(&terminal, &acquirer);
}

/// Acquirer → terminal: record, then forward, cut or forge as the mode says.
fn downstream(mut acquirer: TcpStream, mut terminal: TcpStream, mode: Arc<AtomicU8>, frames: Frames) {
    while let Ok(mut frame) = read_frame(&mut acquirer) {
        let message = decode(&frame);
        let financial = message.as_ref().is_some_and(|m| FINANCIAL_ANSWERS.contains(&m.mti().to_string().as_str()));
        let has_mac = message.as_ref().is_some_and(|m| m.has(64));
        let recorded = frame.clone();
        match Mode::from_u8(mode.load(Ordering::SeqCst)) {
            Mode::CutNextAnswer if financial => {
                mode.store(Mode::Pass as u8, Ordering::SeqCst);
                lock(&frames).push(Frame { from_terminal: false, bytes: recorded, delivered: false });
                break;
            }
            Mode::ForgeNextMac if financial && has_mac => {
                mode.store(Mode::Pass as u8, Ordering::SeqCst);
                if let Some(last) = frame.last_mut() {
                    *last ^= 0x01;
                }
            }
            _ => {}
        }
        lock(&frames).push(Frame { from_terminal: false, bytes: recorded, delivered: true });
        if terminal.write_all(&frame).is_err() {
            break;
        }
    }
    close(&terminal, &acquirer);
}

impl FrameRelay {
    /// Listen on a free loopback port and relay each connection to `target` (host:port).
    pub fn start(target: &str) -> std::io::Result<FrameRelay> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?.to_string();
        let target = target.to_owned();
        let mode = Arc::new(AtomicU8::new(Mode::Pass as u8));
        let frames: Frames = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, f, s) = (Arc::clone(&mode), Arc::clone(&frames), Arc::clone(&stop));
        let accept = std::thread::spawn(move || {
            for inbound in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(inbound) = inbound else { continue };
                if Mode::from_u8(m.load(Ordering::SeqCst)) == Mode::Down {
                    let _ = inbound.shutdown(Shutdown::Both);
                    continue;
                }
                // The acquirer not there: the terminal's connection just closes.
                let Ok(outbound) = TcpStream::connect(&target) else { continue };
                let _ = (inbound.set_nodelay(true), outbound.set_nodelay(true));
                let (Ok(terminal), Ok(acquirer)) = (inbound.try_clone(), outbound.try_clone()) else { continue };
                let frames = Arc::clone(&f);
                std::thread::spawn(move || upstream(inbound, outbound, frames));
                let (mode, frames) = (Arc::clone(&m), Arc::clone(&f));
                std::thread::spawn(move || downstream(acquirer, terminal, mode, frames));
            }
        });
        Ok(FrameRelay { address, mode, frames, stop, accept: Some(accept) })
    }

    /// Where the terminal connects.
    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Frames seen so far (a mark for [`FrameRelay::since`]).
    pub fn mark(&self) -> usize {
        lock(&self.frames).len()
    }

    /// The frames seen after `mark` that decode as cup-pos messages.
    pub fn since(&self, mark: usize) -> Vec<SeenFrame> {
        let frames: Vec<Frame> = lock(&self.frames).get(mark..).unwrap_or_default().to_vec();
        frames
            .into_iter()
            .filter_map(|frame| {
                let message = decode(&frame.bytes)?;
                Some(SeenFrame {
                    from_terminal: frame.from_terminal,
                    mti: message.mti().to_string(),
                    message,
                    bytes: frame.bytes,
                    delivered: frame.delivered,
                })
            })
            .collect()
    }

    /// The MTIs the terminal sent after `mark`, in order.
    pub fn sent_mtis(&self, mark: usize) -> Vec<String> {
        self.since(mark).into_iter().filter(|s| s.from_terminal).map(|s| s.mti).collect()
    }

    /// (field 11, field 39) of every 0400 the terminal sent after `mark`.
    pub fn reversals(&self, mark: usize) -> Vec<(String, String)> {
        self.since(mark)
            .into_iter()
            .filter(|s| s.from_terminal && s.mti == "0400")
            .map(|s| (s.field(11), s.field(39)))
            .collect()
    }
}

impl Drop for FrameRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(&self.address);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}
