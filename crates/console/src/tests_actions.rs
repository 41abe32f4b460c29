//! Handler tests of the actions on risk alerts: the fixture keeps the alerts in memory and
//! applies the transition table as `risk::cases_store` does.

use super::*;

const ALERT: &str = "/risk/10000000344-1";

/// The alert's status as the fixture holds it now.
fn status_of(rig: &Rig, acquirer: &str) -> String {
    let detail = rig.console.data.alert(acquirer, 1).unwrap().unwrap();
    detail.alert.status.name().to_owned()
}

#[tokio::test]
async fn an_action_without_the_csrf_token_is_refused_403_and_changes_nothing() {
    let rig = rig();
    let session = rig.login("ops").await;
    let cookie = format!("cardnet_console={session}");
    let assign = rig.send("POST", &format!("{ALERT}/assign"), &cookie, Some("to=ops".into())).await;
    assert_eq!(assign.status, StatusCode::FORBIDDEN);
    let close = rig.send("POST", &format!("{ALERT}/close"), &cookie, Some("csrf=00&verdict=fraud".into())).await;
    assert_eq!(close.status, StatusCode::FORBIDDEN);
    assert_eq!(status_of(&rig, ACQUIRER_A), "open");
    assert_eq!(rig.console.data.alert(ACQUIRER_A, 1).unwrap().unwrap().audit.len(), 1, "no trail entry");
    let audit = rig.audit_lines();
    assert_eq!(audit.iter().filter(|l| l.as_str() == "ops post csrf refused: no valid form token").count(), 2);
}

#[tokio::test]
async fn a_merchant_cannot_act_on_an_alert_it_is_not_found() {
    let rig = rig();
    let session = rig.login("tea").await;
    let cookie = format!("cardnet_console={session}");
    let csrf = hidden(&rig.get("/merchant", &session).await.body, "csrf");
    for (path, form) in [("assign", "to=tea"), ("close", "verdict=not_fraud")] {
        let reply = rig.send("POST", &format!("{ALERT}/{path}"), &cookie, Some(format!("csrf={csrf}&{form}"))).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(status_of(&rig, ACQUIRER_A), "open");
}

#[tokio::test]
async fn an_operator_assigns_then_closes_an_alert_and_both_trails_say_so() {
    let rig = rig();
    let session = rig.login("ops").await;
    let cookie = format!("cardnet_console={session}");
    let page = rig.get(ALERT, &session).await;
    assert!(page.body.contains(&format!("action=\"{ALERT}/assign\"")), "{}", page.body);
    let csrf = hidden(&page.body, "csrf");

    let form = format!("csrf={csrf}&to=analyst1&note=looks+like+a+burst");
    let assigned = rig.send("POST", &format!("{ALERT}/assign"), &cookie, Some(form)).await;
    assert_eq!(assigned.status, StatusCode::SEE_OTHER, "{}", assigned.body);
    assert_eq!(assigned.location(), ALERT);
    assert_eq!(status_of(&rig, ACQUIRER_A), "investigating");
    assert_eq!(status_of(&rig, ACQUIRER_B), "open", "the other acquirer's alert 1 is another alert");

    let form = format!("csrf={csrf}&verdict=fraud&note=cardholder+confirmed");
    let closed = rig.send("POST", &format!("{ALERT}/close"), &cookie, Some(form)).await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER, "{}", closed.body);
    let page = rig.get(ALERT, &session).await;
    assert!(page.body.contains("closed_fraud"), "{}", page.body);
    assert!(page.body.contains("to analyst1: looks like a burst"), "{}", page.body);
    assert!(page.body.contains("cardholder confirmed"), "{}", page.body);
    assert!(!page.body.contains(&format!("action=\"{ALERT}/close\"")), "a closed alert offers no form");
    let detail = rig.console.data.alert(ACQUIRER_A, 1).unwrap().unwrap();
    let trail: Vec<(&str, &str)> = detail.audit.iter().map(|e| (e.who.as_str(), e.action.as_str())).collect();
    assert_eq!(trail, [("risk-engine", "created"), ("ops", "assign"), ("ops", "close_fraud")]);

    let audit = rig.audit_lines();
    let target = format!("alert {ACQUIRER_A}-1");
    assert!(
        audit.contains(&format!("ops risk.assign {target} done: now investigating, assigned to analyst1")),
        "{audit:?}"
    );
    assert!(
        audit.contains(&format!("ops risk.close_fraud {target} done: now closed_fraud, assigned to analyst1")),
        "{audit:?}"
    );
    assert!(audit.iter().all(|l| !l.contains("burst")), "notes stay out of the console's audit: {audit:?}");
}

#[tokio::test]
async fn an_illegal_transition_or_bad_input_is_refused_400_with_the_reason() {
    let rig = rig();
    let session = rig.login("ops").await;
    let cookie = format!("cardnet_console={session}");
    let csrf = hidden(&rig.get(ALERT, &session).await.body, "csrf");
    let close = |verdict: &str| format!("csrf={csrf}&verdict={verdict}");
    let bad = rig.send("POST", &format!("{ALERT}/close"), &cookie, Some(close("maybe"))).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("is not fraud or not_fraud"), "{}", bad.body);
    let nobody = rig.send("POST", &format!("{ALERT}/assign"), &cookie, Some(format!("csrf={csrf}&to=+"))).await;
    assert_eq!(nobody.status, StatusCode::BAD_REQUEST, "an empty assignee");
    assert_eq!(status_of(&rig, ACQUIRER_A), "open");

    let done = rig.send("POST", &format!("{ALERT}/close"), &cookie, Some(close("not_fraud"))).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let again = rig.send("POST", &format!("{ALERT}/close"), &cookie, Some(close("fraud"))).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body.contains("is closed_not_fraud: close_fraud is not allowed"), "{}", again.body);
    let reassign = rig.send("POST", &format!("{ALERT}/assign"), &cookie, Some(format!("csrf={csrf}&to=ops"))).await;
    assert_eq!(reassign.status, StatusCode::BAD_REQUEST);
    assert_eq!(status_of(&rig, ACQUIRER_A), "closed_not_fraud", "nothing changed");
    assert_eq!(rig.console.data.alert(ACQUIRER_A, 1).unwrap().unwrap().audit.len(), 2);

    let other = rig.send("POST", &format!("{ALERT}/delete"), &cookie, Some(close("fraud"))).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "no such action");
    let unknown = rig.send("POST", "/risk/10000000344-99/close", &cookie, Some(close("fraud"))).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let audit = rig.audit_lines().join("\n");
    assert!(audit.contains("risk.close_fraud alert 10000000344-1 refused: alert 1 is closed_not_fraud"), "{audit}");
    assert!(audit.contains("risk.close_fraud alert 10000000344-99 refused: no such alert"), "{audit}");
}

#[tokio::test]
async fn an_operator_resolves_an_exception_audited_and_refusals_change_nothing() {
    let rig = rig();
    let session = rig.login("ops").await;
    let cookie = format!("cardnet_console={session}");
    let page = rig.get("/exceptions", &session).await;
    assert!(page.body.contains("action=\"/exceptions/7/resolve\""), "{}", page.body);
    assert!(page.body.contains("value=\"second_chargeback\""), "every action offered: {}", page.body);
    let csrf = hidden(&page.body, "csrf");
    let form = "action=write_off&reason=below+the+threshold".to_owned();
    let without = rig.send("POST", "/exceptions/7/resolve", &cookie, Some(form.clone())).await;
    assert_eq!(without.status, StatusCode::FORBIDDEN);
    let merchant = format!("cardnet_console={}", rig.login("tea").await);
    let merchant_csrf = hidden(&rig.get("/merchant", &merchant["cardnet_console=".len()..]).await.body, "csrf");
    let as_merchant =
        rig.send("POST", "/exceptions/7/resolve", &merchant, Some(format!("csrf={merchant_csrf}&{form}"))).await;
    assert_eq!(as_merchant.status, StatusCode::NOT_FOUND);
    let bad = format!("csrf={csrf}&action=forgive&reason=x");
    assert_eq!(rig.send("POST", "/exceptions/7/resolve", &cookie, Some(bad)).await.status, StatusCode::BAD_REQUEST);
    let amount = format!("csrf={csrf}&action=chargeback&amount=12.50&reason=x");
    let refused = rig.send("POST", "/exceptions/7/resolve", &cookie, Some(amount)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("is not a whole number of minor units"), "{}", refused.body);
    let pan = format!("csrf={csrf}&action=write_off&reason=card+6222021234567890123");
    let refused = rig.send("POST", "/exceptions/7/resolve", &cookie, Some(pan)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(!refused.body.contains("6222021234567890123"), "{}", refused.body);
    assert_eq!(rig.console.data.exceptions().unwrap().len(), 1, "still open");

    let done = rig.send("POST", "/exceptions/7/resolve", &cookie, Some(format!("csrf={csrf}&{form}"))).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), "/exceptions");
    assert!(rig.console.data.exceptions().unwrap().is_empty(), "resolved");
    let again = rig.send("POST", "/exceptions/7/resolve", &cookie, Some(format!("csrf={csrf}&{form}"))).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    let unknown = rig.send("POST", "/exceptions/8/resolve", &cookie, Some(format!("csrf={csrf}&{form}"))).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let audit = rig.audit_lines().join("\n");
    assert!(audit.contains("ops exception.resolve exception 7 done: write_off, now resolved"), "{audit}");
    assert!(audit.contains("ops exception.resolve exception 7 refused: exception 7 is resolved"), "{audit}");
    assert!(audit.contains("ops exception.resolve exception 8 refused: no such exception"), "{audit}");
    assert!(!audit.contains("threshold"), "the reason stays in the exception's trail: {audit}");
}
