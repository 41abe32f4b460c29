//! The cut-over (0800, 70 = 201): when a business date closes, the running switch tells its
//! member links the new date (field 15, `MMDD`). A member answers 0810 with 00; an inbound
//! 0800/201 at the switch is answered the same way (`transport::NetMgmt`, and
//! [`crate::Switch::on_request`] for a core driven without it).
//!
//! Who closes: an explicit close — [`crate::SwitchServer::close_business_date`] in the running
//! switch, or `cardnet switch close-date` from another process on the same database. The
//! running switch does not close dates by itself at the cut-off: a date closes when its owner
//! says the day is done (after the cut-off, which the close checks), and until then a
//! transaction after the cut-off already gets the next date by its arrival time. This task
//! looks for closed dates not yet announced ([`CUTOVER_POLL_INTERVAL_MS`], or at once when the
//! server closed one) and sends the cut-over on every issuer link that is signed on; a link that
//! is down then learns the date from field 15 of its next message.
//!
//! Acquirer links are connections the acquirers opened to the switch: the cut-over is pushed on
//! every open one (`transport::Server::push`), and their sessions answer 0810; an acquirer not
//! connected then learns the date from field 15 of its next response.

use std::sync::Arc;
use std::time::Duration;

use clock::Clock;
use tokio::sync::{Notify, watch};
use transport::{Session, SessionState};

use crate::engine::Switch;
use crate::limits::CUTOVER_POLL_INTERVAL_MS;

/// One link the cut-over goes to: the member's id and its session.
pub(crate) struct CutOverLink {
    pub member: String,
    pub session: Session,
}

/// Sends a request on every connection acquirers opened; how many it went out on.
pub(crate) type PushToAcquirers = Arc<dyn Fn(&iso8583::Message) -> usize + Send + Sync>;

/// Announce closed dates while the switch runs (see the module notes).
pub(crate) async fn announce(
    switch: Switch,
    links: Vec<CutOverLink>,
    push: PushToAcquirers,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let poll = Duration::from_millis(CUTOVER_POLL_INTERVAL_MS);
    loop {
        if *stop.borrow() {
            break;
        }
        announce_due(&switch, &links, &push, clock.as_ref()).await;
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
            changed = stop.changed() => if changed.is_err() { break },
        }
    }
}

async fn announce_due(switch: &Switch, links: &[CutOverLink], push: &PushToAcquirers, clock: &dyn Clock) {
    let due = {
        let switch = switch.clone();
        host::blocking("switch", move || switch.cutovers_due()).await
    };
    let due = match due {
        Some(Ok(due)) => due,
        Some(Err(error)) => {
            tracing::error!(%error, "switch: cannot read the business dates");
            return;
        }
        None => return,
    };
    for closed in due {
        for link in links {
            if *link.session.state().borrow() != SessionState::Ready {
                tracing::info!(member = %link.member, %closed, "switch: cut-over not sent, link down");
                continue;
            }
            let request = match switch.cutover_request(closed, clock.now_ms()) {
                Ok(request) => request,
                Err(error) => {
                    tracing::error!(%error, "switch: cannot build a cut-over");
                    return;
                }
            };
            match link.session.request(&request).await {
                Ok(answer) if transport::netmgmt::is_approved(&answer) => {
                    tracing::info!(member = %link.member, date = %closed.next(), "switch: cut-over acknowledged");
                }
                Ok(answer) => tracing::warn!(
                    member = %link.member,
                    code = answer.get_str(39).unwrap_or(""),
                    "switch: cut-over refused"
                ),
                Err(error) => tracing::warn!(member = %link.member, %error, "switch: cut-over unanswered"),
            }
        }
        match switch.cutover_request(closed, clock.now_ms()) {
            Ok(request) => {
                let acquirers = push(&request);
                tracing::info!(date = %closed.next(), acquirers, "switch: cut-over pushed to connected acquirers");
            }
            Err(error) => tracing::error!(%error, "switch: cannot build a cut-over"),
        }
        let (switch, now_ms) = (switch.clone(), clock.now_ms());
        match host::blocking("switch", move || switch.cutover_sent(closed, now_ms)).await {
            Some(Ok(())) => {}
            Some(Err(error)) => tracing::error!(%error, %closed, "switch: cannot record a cut-over"),
            None => {}
        }
    }
}
