//! The HTTP handlers: each reads its request and hands the page's work to
//! [`crate::web::page`] (session required) or [`crate::web::post_page`] (session and CSRF
//! token required).

use axum::Form;
use axum::extract::{Path, Query, State as AxumState};
use axum::http::HeaderMap;
use axum::response::Response;

use crate::pages_merchant::DashboardQuery;
use crate::pages_risk::AlertForm;
use crate::pages_statements::MerchantQuery;
use crate::pages_txn::{SearchQuery, ZoneQuery};
use crate::store::Role;
use crate::web::{State, page, post_page, redirect};
use crate::{
    pages_exceptions, pages_merchant, pages_operator, pages_risk, pages_settlement, pages_statements, pages_txn,
};

pub async fn home(AxumState(console): AxumState<State>, headers: HeaderMap) -> Response {
    page(console, headers, |_, session| {
        Ok(redirect(match session.user.role {
            Role::Operator => "/network",
            Role::Merchant(_) => "/merchant",
        }))
    })
    .await
}

pub async fn network(AxumState(c): AxumState<State>, headers: HeaderMap, Query(q): Query<ZoneQuery>) -> Response {
    page(c, headers, move |c, s| pages_operator::network(c, s, &q)).await
}

pub async fn transactions(
    AxumState(c): AxumState<State>,
    headers: HeaderMap,
    Query(q): Query<SearchQuery>,
) -> Response {
    page(c, headers, move |c, s| pages_txn::search(c, s, &q)).await
}

pub async fn transactions_csv(
    AxumState(c): AxumState<State>,
    headers: HeaderMap,
    Query(q): Query<SearchQuery>,
) -> Response {
    page(c, headers, move |c, s| pages_txn::export_csv(c, s, &q)).await
}

pub async fn transaction(
    AxumState(c): AxumState<State>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ZoneQuery>,
) -> Response {
    page(c, headers, move |c, s| pages_txn::detail(c, s, &id, &q)).await
}

pub async fn merchants(AxumState(c): AxumState<State>, headers: HeaderMap) -> Response {
    page(c, headers, pages_operator::merchants).await
}

pub async fn merchant(
    AxumState(c): AxumState<State>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ZoneQuery>,
) -> Response {
    page(c, headers, move |c, s| pages_operator::merchant(c, s, &id, &q)).await
}

pub async fn alerts(AxumState(c): AxumState<State>, headers: HeaderMap, Query(q): Query<ZoneQuery>) -> Response {
    page(c, headers, move |c, s| pages_risk::alerts(c, s, &q)).await
}

pub async fn dashboard(
    AxumState(c): AxumState<State>,
    headers: HeaderMap,
    Query(q): Query<DashboardQuery>,
) -> Response {
    page(c, headers, move |c, s| pages_merchant::dashboard(c, s, &q)).await
}

pub async fn users(AxumState(c): AxumState<State>, headers: HeaderMap) -> Response {
    page(c, headers, |c, s| pages_operator::users(c, s, None)).await
}

pub async fn add_user(
    AxumState(c): AxumState<State>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    post_page(c, headers, form, |c, s, form, _| pages_operator::add_user(c, s, form)).await
}

pub async fn audit(AxumState(c): AxumState<State>, headers: HeaderMap) -> Response {
    page(c, headers, pages_operator::audit).await
}

pub async fn settlement_dates(AxumState(c): AxumState<State>, headers: HeaderMap) -> Response {
    page(c, headers, pages_settlement::dates).await
}

pub async fn settlement_date(AxumState(c): AxumState<State>, headers: HeaderMap, Path(date): Path<String>) -> Response {
    page(c, headers, move |c, s| pages_settlement::date(c, s, &date)).await
}

pub async fn exceptions(AxumState(c): AxumState<State>, headers: HeaderMap, Query(q): Query<ZoneQuery>) -> Response {
    page(c, headers, move |c, s| pages_exceptions::exceptions(c, s, &q)).await
}

pub async fn statements(
    AxumState(c): AxumState<State>,
    headers: HeaderMap,
    Query(q): Query<MerchantQuery>,
) -> Response {
    page(c, headers, move |c, s| pages_statements::page(c, s, &q)).await
}

pub async fn statement(
    AxumState(c): AxumState<State>,
    headers: HeaderMap,
    Path((date, name)): Path<(String, String)>,
    Query(q): Query<MerchantQuery>,
) -> Response {
    page(c, headers, move |c, s| pages_statements::download(c, s, &date, &name, &q)).await
}

pub async fn payouts_csv(
    AxumState(c): AxumState<State>,
    headers: HeaderMap,
    Query(q): Query<MerchantQuery>,
) -> Response {
    page(c, headers, move |c, s| pages_statements::payouts_csv(c, s, &q)).await
}

pub async fn alert(
    AxumState(c): AxumState<State>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ZoneQuery>,
) -> Response {
    page(c, headers, move |c, s| pages_risk::alert(c, s, &id, &q)).await
}

pub async fn settlement_member(
    AxumState(c): AxumState<State>,
    headers: HeaderMap,
    Path((date, member)): Path<(String, String)>,
    Query(q): Query<ZoneQuery>,
) -> Response {
    page(c, headers, move |c, s| pages_settlement::member(c, s, &date, &member, &q)).await
}

pub async fn remove_user(
    AxumState(c): AxumState<State>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    post_page(c, headers, form, |c, s, form, _| pages_operator::remove_user(c, s, form)).await
}

/// `/risk/{acquirer}-{id}/assign` or `/close`; any other action is not found.
pub async fn act_on_alert(
    AxumState(c): AxumState<State>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    post_page(c, headers, form, move |c, s, form, _| {
        let which = match action.as_str() {
            "assign" => AlertForm::Assign,
            "close" => AlertForm::Close,
            _ => return Err(crate::web::PageError::NotFound),
        };
        pages_risk::act(c, s, &id, which, form)
    })
    .await
}

pub async fn resolve_exception(
    AxumState(c): AxumState<State>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    post_page(c, headers, form, move |c, s, form, _| pages_exceptions::resolve(c, s, &id, form)).await
}
