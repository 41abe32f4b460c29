//! An acquirer member's direct link to the switch: build a network request from a card and an
//! amount, MAC it with the link's ZAK, send it over TCP, check the response's MAC. What an
//! acquirer processor without modelled terminals sends: `cardnet demo`'s day of transactions
//! and `cardnet bench network` drive the network with it (the acquirer host,
//! `acquirer::AcquirerServer`, does the same after mapping a terminal's message). Keys stay
//! `WrappedKey`s used through the HSM; PIN blocks come in already encrypted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clock::Clock;
use domain::{ParseError, ResponseCode};
use hsm::{SecurityModule, WrappedKey};
use iso8583::Message;
use network::request::{Acceptor, CardInput, Stan, TransactionRequest};
use network::{OriginalData, StanGenerator, TransactionKind};
use tokio::sync::{Mutex, mpsc};
use transport::{Client, ClientConfig, TransportError, UnmatchedEvent};

/// Requests one link keeps in flight at most.
const IN_FLIGHT_MAX: usize = 256;

#[derive(Debug)]
pub enum LinkError {
    Io(std::io::Error),
    Transport(TransportError),
    Network(network::Error),
    /// The response's MAC did not verify (the response is kept for inspection).
    ResponseMac(Box<Message>),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Io(e) => write!(f, "connect: {e}"),
            LinkError::Transport(e) => write!(f, "transport: {e}"),
            LinkError::Network(e) => write!(f, "message: {e}"),
            LinkError::ResponseMac(_) => f.write_str("the response's MAC does not verify"),
        }
    }
}

impl std::error::Error for LinkError {}

impl From<network::Error> for LinkError {
    fn from(error: network::Error) -> LinkError {
        LinkError::Network(error)
    }
}

impl From<iso8583::Error> for LinkError {
    fn from(error: iso8583::Error) -> LinkError {
        LinkError::Network(error.into())
    }
}

/// A request and the response it got.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub request: Message,
    pub response: Message,
}

impl Exchange {
    /// Field 39 of the response; an error when it is absent or no response code.
    pub fn code(&self) -> Result<ResponseCode, ParseError> {
        ResponseCode::new(self.response.get_str(39).unwrap_or_default())
    }

    /// Field 90 for a later message that refers to this request.
    pub fn original(&self) -> OriginalData {
        // Every request this link sends carries 11, 7 and 32.
        OriginalData::of_request(&self.request).unwrap_or_else(|_| OriginalData {
            mti: String::new(),
            stan: String::new(),
            transmission_time: String::new(),
            acquirer: String::new(),
            forwarder: String::new(),
        })
    }
}

/// The acquirer's end of its link to the switch.
pub struct AcquirerLink {
    client: Client,
    unmatched: Mutex<mpsc::Receiver<UnmatchedEvent>>,
    hsm: Arc<dyn SecurityModule>,
    zak: WrappedKey,
    zpk: WrappedKey,
    pub acceptor: Acceptor,
    pub currency: String,
    stans: StanGenerator,
    clock: Arc<dyn Clock>,
}

impl AcquirerLink {
    /// Connect to the switch at `switch`. `timeout_ms`: how long one request waits.
    #[allow(clippy::too_many_arguments)]
    pub async fn connect(
        switch: SocketAddr,
        hsm: Arc<dyn SecurityModule>,
        zak: WrappedKey,
        zpk: WrappedKey,
        acceptor: Acceptor,
        currency: &str,
        clock: Arc<dyn Clock>,
        timeout_ms: u64,
    ) -> Result<AcquirerLink, LinkError> {
        let stream = tokio::net::TcpStream::connect(switch).await.map_err(LinkError::Io)?;
        stream.set_nodelay(true).map_err(LinkError::Io)?;
        let config = ClientConfig {
            in_flight_max: IN_FLIGHT_MAX,
            timeout: Duration::from_millis(timeout_ms),
            ..ClientConfig::default()
        };
        let (client, unmatched) =
            Client::connect(stream, iso8583::builtin::network(), config).map_err(LinkError::Transport)?;
        Ok(AcquirerLink {
            client,
            unmatched: Mutex::new(unmatched),
            hsm,
            zak,
            zpk,
            acceptor,
            currency: currency.to_owned(),
            stans: StanGenerator::default(),
            clock,
        })
    }

    /// The ZPK PIN blocks on this link are under.
    pub fn zpk(&self) -> &WrappedKey {
        &self.zpk
    }

    pub fn hsm(&self) -> &dyn SecurityModule {
        &*self.hsm
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    pub fn next_stan(&self) -> Stan {
        self.stans.next()
    }

    /// A signed request for `kind`.
    pub fn build(
        &self,
        kind: TransactionKind,
        card: &CardInput,
        amount_minor: u64,
        original: Option<&OriginalData>,
    ) -> Result<Message, LinkError> {
        let stan = self.next_stan();
        let now_ms = self.clock.now_ms();
        let rrn = network::time::rrn_of(now_ms, stan)?;
        let request = TransactionRequest {
            kind,
            acceptor: &self.acceptor,
            card,
            amount_minor,
            currency: &self.currency,
            stan,
            rrn,
            now_ms,
            original,
        };
        let mut message = network::request::build(self.client.spec(), &request)?;
        self.sign(&mut message)?;
        Ok(message)
    }

    /// (Re)compute field 128 of `message` with the link's ZAK.
    pub fn sign(&self, message: &mut Message) -> Result<(), LinkError> {
        network::mac::sign(&*self.hsm, &self.zak, message)?;
        Ok(())
    }

    /// Send `request` as it is and wait for the response; the response's MAC must verify.
    pub async fn send(&self, request: Message) -> Result<Exchange, LinkError> {
        let response = self.client.request(&request).await.map_err(LinkError::Transport)?;
        // A response without a MAC is acceptable only for a format error the switch could not
        // attribute to a link (it cannot know which ZAK to use).
        let must_verify =
            response.has(network::mac::MAC_FIELD) || response.get_str(39) != Some(network::codes::FORMAT_ERROR);
        if must_verify && network::mac::verify(&*self.hsm, &self.zak, &response).is_err() {
            return Err(LinkError::ResponseMac(Box::new(response)));
        }
        Ok(Exchange { request, response })
    }

    /// Build, sign, send.
    pub async fn transact(
        &self,
        kind: TransactionKind,
        card: &CardInput,
        amount_minor: u64,
        original: Option<&OriginalData>,
    ) -> Result<Exchange, LinkError> {
        let request = self.build(kind, card, amount_minor, original)?;
        self.send(request).await
    }

    /// The signed 0420 reversal advice of `original` (a request this link sent).
    pub fn reversal(&self, original: &Message, replacement_minor: Option<u64>) -> Result<Message, LinkError> {
        let mut message = network::request::reversal_of(
            original,
            self.next_stan().field().as_str(),
            self.clock.now_ms(),
            replacement_minor,
        )?;
        self.sign(&mut message)?;
        Ok(message)
    }

    /// Events the link could not match (late responses, peer-initiated messages).
    pub async fn try_unmatched(&self) -> Option<UnmatchedEvent> {
        self.unmatched.lock().await.try_recv().ok()
    }
}
