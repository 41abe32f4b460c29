//! The cut-over over real TCP: when a business date closes, the running switch sends 0800/201
//! with the new date in field 15 on every signed-on issuer link and pushes it on every
//! connection an acquirer opened (whose session answers 0810 and keeps the date), records that
//! it did, and answers a member's own 0800/201 with 0810 00. The switch runs on a
//! `clock::ManualClock`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clock::{Clock, ManualClock};
use common::*;
use iso8583::{Envelope, Message};
use switch::{CloseOutcome, ServerOptions, SwitchServer};
use transport::{Client, ClientConfig, Handler, Server, ServerConfig, SessionState};

const WAIT: Duration = Duration::from_secs(10);
const HOUR_MS: u64 = 3_600_000;

/// An issuer that answers every 0800 itself with 00 (as `transport::NetMgmt` and the issuer
/// crate do) and records the network management codes and field 15 it received.
/// Field 70 and field 15 of one 0800.
type Seen = (String, Option<String>);

#[derive(Clone, Default)]
struct RecordingIssuer {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Handler for RecordingIssuer {
    async fn handle(&self, envelope: Envelope, message: Message) -> Option<(Envelope, Message)> {
        if transport::netmgmt::is_request(&message) {
            let code = message.get_str(70).unwrap_or("").to_owned();
            self.seen.lock().unwrap().push((code, message.get_str(15).map(str::to_owned)));
            return transport::netmgmt::answer(&message).map(|answer| (envelope.response(), answer));
        }
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_date_is_announced_to_the_signed_on_issuers() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let issuer = RecordingIssuer::default();
    let server = Server::new(iso8583::builtin::network(), issuer.clone(), ServerConfig::default());
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(listener).await });
    let net = Net::with(Backend::sqlite("cutover-tcp"), |config| {
        config.cutoff = Some("23:00 +08:00".into());
        for member in &mut config.members {
            if member.id == ISSUER {
                member.endpoint = Some(format!("127.0.0.1:{port}"));
            }
        }
    });
    // 16:00 UTC on 2026-11-21: the 21st's cut-off (15:00 UTC) has passed.
    let manual = ManualClock::from_ms(NOW_MS + 6 * HOUR_MS);
    let clock: Arc<dyn Clock> = Arc::new(manual.clone());
    let options = ServerOptions { session_backoff_ms_min: 20, session_backoff_ms_max: 200, ..ServerOptions::default() };
    let switch = SwitchServer::start(net.switch(), clock, options).await.unwrap();
    let mut state = switch.issuer_state(ISSUER).unwrap();
    tokio::time::timeout(WAIT, state.wait_for(|s| *s == SessionState::Ready)).await.unwrap().unwrap();

    // An acquirer's session to the switch, signed on.
    let acquirer = transport::Session::start(
        transport::TcpConnector { addr: switch.local_addr() },
        transport::SessionConfig::new(iso8583::builtin::network(), transport::Institution::new(ACQUIRER)),
    );
    let mut acquirer_state = acquirer.state();
    tokio::time::timeout(WAIT, acquirer_state.wait_for(|s| *s == SessionState::Ready)).await.unwrap().unwrap();

    let day = switch::BusinessDate::parse("2026-11-21").unwrap();
    let outcome = switch.close_business_date(day).await.unwrap();
    assert_eq!(outcome, CloseOutcome::Closed { date: day, closed_ms: NOW_MS + 6 * HOUR_MS });
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let status = switch.switch().business_date_status(day).unwrap();
        if status.cutover_sent_ms.is_some() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the cut-over was not recorded as sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = issuer.seen.lock().unwrap().clone();
    let cutovers: Vec<_> = seen.iter().filter(|(code, _)| code == "201").collect();
    assert_eq!(cutovers, [&("201".to_owned(), Some("1122".to_owned()))], "one cut-over, the new date: {seen:?}");
    // The acquirer heard it too, answered it, and knows the new date.
    let deadline = tokio::time::Instant::now() + WAIT;
    while acquirer.business_date().is_none() {
        assert!(tokio::time::Instant::now() < deadline, "the acquirer never heard the cut-over");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(acquirer.business_date().as_deref(), Some("1122"));
    assert_eq!(acquirer.stats().cutovers.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(*acquirer.state().borrow(), SessionState::Ready, "the link stays up");
    // Closing again sends nothing more.
    assert!(matches!(switch.close_business_date(day).await.unwrap(), CloseOutcome::AlreadyClosed { .. }));

    // A member's own 0800/201 to the switch is answered 0810 00.
    let stream = tokio::net::TcpStream::connect(switch.local_addr()).await.unwrap();
    let client = Client::connect(stream, iso8583::builtin::network(), ClientConfig::default()).unwrap().0;
    let from = transport::Institution::new(ACQUIRER);
    let mut cutover = transport::netmgmt::request(client.spec(), transport::NetworkCode::CutOver, 7, &from).unwrap();
    cutover.set_str(15, "1122").unwrap();
    let answer = client.request(&cutover).await.unwrap();
    assert_eq!((answer.mti().as_str(), code(&answer)), ("0810", "00"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let count = issuer.seen.lock().unwrap().iter().filter(|(code, _)| code == "201").count();
    assert_eq!(count, 1, "announced once");
    switch.shutdown().await;
}
