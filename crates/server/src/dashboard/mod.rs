//! The web dashboard at `/`: the sales queue, a lead's page, KPIs, the
//! criteria report and the model editor, for people who sign in with a key.
//!
//! Pages are rendered on the server with `maud` (every value is escaped by
//! the template itself, which matters: traits come from anyone holding a
//! public write key). One small script (`assets/app.js`) does the in-place
//! queue actions and the editor's line numbers and live validation; one
//! stylesheet; charts are SVG drawn here (`charts.rs`). Every asset is
//! compiled into the binary, so the dashboard works offline, and the
//! Content-Security-Policy allows scripts and styles from this server only.
//!
//! A session is a random token in an HttpOnly, SameSite=Strict cookie that
//! names an entry of an in-memory map (role, key hash, CSRF token, expiry):
//! restarting the server signs everyone out, which is acceptable for a
//! dashboard and keeps the store free of session rows. Every POST but the
//! sign-in checks the session's CSRF token (form field `csrf` or header
//! `X-CSRF-Token`).
//!
//! The pages call the same store operations and engine functions as the
//! JSON API; writes go through the writer thread like the API's.

mod charts;
mod criteria;
mod editor;
mod kpis;
mod lead;
mod queue;
mod session;

pub use session::Sessions;

use crate::AppState;
use crate::auth::{self, Permission};
use crate::error::ApiError;
use axum::Router;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, html};
use qualify_engine::time::{EventTime, MICROS_PER_DAY};
use qualify_store::Role;
use std::sync::LazyLock;

const APP_JS: &str = include_str!("../../assets/app.js");
const APP_CSS: &str = include_str!("../../assets/app.css");
const ICON_SVG: &str = include_str!("../../assets/icon.svg");

/// A short hash of both assets, put in their URLs so that a long cache
/// lifetime is safe: a new binary with other assets has other URLs.
static ASSET_VERSION: LazyLock<String> = LazyLock::new(|| {
    format!("{:x}", xxhash_rust::xxh3::xxh3_64(format!("{APP_JS}{APP_CSS}{ICON_SVG}").as_bytes()) & 0xffff_ffff)
});

/// What the dashboard's pages may load: only this server's own scripts,
/// styles and images (and `data:` images), and no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; \
     form-action 'self'; base-uri 'none'";

pub fn routes() -> Router<AppState> {
    let pages = Router::new()
        .route("/", get(queue::page))
        .route("/login", get(session::login_page).post(session::sign_in))
        .route("/logout", post(session::sign_out))
        .route("/leads/{lead_id}", get(lead::page))
        .route("/leads/{lead_id}/outcomes", post(queue::record_outcome))
        .route("/kpis", get(kpis::page))
        .route("/criteria", get(criteria::page))
        .route("/model", get(editor::page).post(editor::submit))
        .route("/model/validate", post(editor::validate))
        .route("/model/rollback", post(editor::rollback))
        .layer(axum::middleware::map_response(page_headers));
    Router::new().merge(pages).route("/assets/{file}", get(asset))
}

/// Headers of every page: the CSP, no sniffing, no caching of private data.
async fn page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "icon.svg" => (ICON_SVG, "image/svg+xml"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// A signed-in visitor, from the session cookie. Pages that take it
/// redirect to `/login` when there is none.
#[derive(Clone)]
pub struct SignedIn {
    pub role: Role,
    pub csrf: String,
    token: String,
}

impl SignedIn {
    fn may(&self, permission: Permission) -> bool {
        auth::allows(self.role, permission)
    }

    fn require(&self, permission: Permission) -> Result<(), PageError> {
        auth::require(self.role, permission).map_err(|error| PageError::Forbidden(error.to_string()))
    }

    /// Checks the CSRF token of a state-changing request: the form field,
    /// or else the `X-CSRF-Token` header (the script's requests).
    fn check_csrf(&self, headers: &HeaderMap, form_token: Option<&str>) -> Result<(), PageError> {
        let sent = form_token.or_else(|| headers.get("x-csrf-token").and_then(|value| value.to_str().ok()));
        match sent {
            Some(sent) if session::same_token(sent, &self.csrf) => Ok(()),
            _ => Err(PageError::Forbidden(
                "this form has expired or did not come from the dashboard (CSRF check): reload the page and try again"
                    .into(),
            )),
        }
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = session::token_from_headers(&parts.headers);
        match token.and_then(|token| state.sessions.find(&token).map(|session| (token, session))) {
            Some((token, session)) => Ok(SignedIn { role: session.role, csrf: session.csrf, token }),
            None => Err(Redirect::to("/login").into_response()),
        }
    }
}

/// Why a page cannot be shown, as an HTML page with its status.
#[derive(Debug)]
pub enum PageError {
    BadRequest(String),
    Forbidden(String),
    NotFound(String),
    Busy,
    Internal(String),
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::NotFound(message) => PageError::NotFound(message),
            ApiError::Forbidden { .. } => PageError::Forbidden(error.to_string()),
            ApiError::Overloaded(_) => PageError::Busy,
            ApiError::Internal(detail) => PageError::Internal(detail),
            other => PageError::BadRequest(other.to_string()),
        }
    }
}

impl From<qualify_store::StoreError> for PageError {
    fn from(error: qualify_store::StoreError) -> Self {
        PageError::from(ApiError::from(error))
    }
}

impl From<crate::writer::QueueError> for PageError {
    fn from(error: crate::writer::QueueError) -> Self {
        match error {
            crate::writer::QueueError::Full => PageError::Busy,
            crate::writer::QueueError::Stopped => PageError::Internal("the writer has stopped".into()),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            PageError::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
            PageError::Forbidden(message) => (StatusCode::FORBIDDEN, message),
            PageError::NotFound(message) => (StatusCode::NOT_FOUND, message),
            PageError::Busy => (StatusCode::TOO_MANY_REQUESTS, "the server is busy: try again in a moment".to_owned()),
            PageError::Internal(detail) => {
                tracing::error!(%detail, "internal error in the dashboard");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error (the server log has the detail)".to_owned())
            }
        };
        let title = status.canonical_reason().unwrap_or("Error");
        let body = bare_page(
            title,
            html! {
                main id="main" class="narrow" {
                    h1 { (title) }
                    p class="error-message" { (message) }
                    p { a href="/" { "Back to the queue" } }
                }
            },
        );
        (status, body).into_response()
    }
}

/// A whole HTML document around `content`, without navigation.
fn bare_page(title: &str, content: Markup) -> Html<String> {
    let version = ASSET_VERSION.as_str();
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · Qualify" }
                    link rel="stylesheet" href={ "/assets/app.css?v=" (version) };
                    link rel="icon" type="image/svg+xml" href={ "/assets/icon.svg?v=" (version) };
                    script src={ "/assets/app.js?v=" (version) } defer {}
                }
                body { (content) }
            }
        }
        .into_string(),
    )
}

/// The navigation entries: path, label, and who sees it.
const NAV: [(&str, &str, Permission); 4] = [
    ("/", "Queue", Permission::Read),
    ("/kpis", "KPIs", Permission::Read),
    ("/criteria", "Criteria", Permission::Read),
    ("/model", "Model", Permission::Administer),
];

/// A page of the signed-in dashboard: the header with navigation and
/// sign-out, then `content`.
fn layout(user: &SignedIn, current: &str, title: &str, content: Markup) -> Html<String> {
    bare_page(
        title,
        html! {
            a class="skip" href="#main" { "Skip to content" }
            header class="top" {
                a class="brand" href="/" { "Qualify" }
                nav aria-label="Main" {
                    ul {
                        @for (path, label, permission) in NAV {
                            @if user.may(permission) {
                                li {
                                    @if path == current {
                                        a href=(path) aria-current="page" { (label) }
                                    } @else {
                                        a href=(path) { (label) }
                                    }
                                }
                            }
                        }
                    }
                }
                div class="who" {
                    span class="role" title="The role of the key you signed in with" { (user.role.as_str()) }
                    form method="post" action="/logout" {
                        (csrf_field(user))
                        button type="submit" class="link" { "Sign out" }
                    }
                }
            }
            main id="main" { (content) }
        },
    )
}

fn csrf_field(user: &SignedIn) -> Markup {
    html! { input type="hidden" name="csrf" value=(user.csrf); }
}

/// A lead id as one URL path segment: everything but unreserved
/// characters is percent-encoded (ids come from untrusted traffic).
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A query-string value, percent-encoded.
fn query_value(text: &str) -> String {
    path_segment(text)
}

fn lead_href(lead_id: &str) -> String {
    format!("/leads/{}", path_segment(lead_id))
}

/// A time as `2026-11-30 14:05 UTC`.
fn short_time(time: EventTime) -> String {
    time.to_timestamp().strftime("%Y-%m-%d %H:%M UTC").to_string()
}

fn short_date(time: EventTime) -> String {
    time.to_timestamp().strftime("%Y-%m-%d").to_string()
}

/// How long ago, roughly: `3 h`, `5 d`, `7 wk`.
fn age(since: EventTime, now: EventTime) -> String {
    let micros = (now.as_micros() - since.as_micros()).max(0);
    let hours = micros / (3_600 * 1_000_000);
    let days = micros / MICROS_PER_DAY;
    if hours < 1 {
        "< 1 h".to_owned()
    } else if days < 1 {
        format!("{hours} h")
    } else if days < 21 {
        format!("{days} d")
    } else {
        format!("{} wk", days / 7)
    }
}

fn two_decimals(value: f64) -> String {
    format!("{value:.2}")
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |value| format!("{:.1}%", value * 100.0))
}

fn money(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |value| format!("{value:.2}"))
}

/// A trait value as text: strings as they are, anything else as JSON.
fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The stages a lead can be in, in lifecycle order.
const STAGES: [&str; 8] = ["lead", "mql", "accepted", "rejected", "sql", "opportunity", "won", "lost"];

/// The reasons sales may give for a rejection. The criteria report counts
/// them as written, so a fixed list keeps them comparable.
const REJECTION_REASONS: [&str; 7] =
    ["bad fit", "no budget", "no interest", "wrong contact", "duplicate", "competitor", "student or researcher"];

fn grade_badge(grade: &str) -> Markup {
    let class = match grade {
        "A" => "grade grade-a",
        "B" => "grade grade-b",
        "C" => "grade grade-c",
        _ => "grade grade-d",
    };
    html! { span class=(class) title={ "Grade " (grade) } { (grade) } }
}

fn stage_badge(stage: &str) -> Markup {
    let known = STAGES.contains(&stage);
    let class = if known { format!("stage stage-{stage}") } else { "stage".to_owned() };
    html! { span class=(class) { (stage) } }
}

/// The start of the UTC day of `time`.
fn day_start(time: EventTime) -> EventTime {
    EventTime::from_micros(time.as_micros().div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY)
}

/// A `YYYY-MM-DD` form field, or `default` when it is absent or empty.
fn date_field(name: &str, text: Option<&str>, default: EventTime) -> Result<EventTime, PageError> {
    match text.map(str::trim).filter(|text| !text.is_empty()) {
        None => Ok(default),
        Some(text) => qualify_engine::outcome::parse_time(text)
            .ok_or_else(|| PageError::BadRequest(format!("{name}: {text:?} is not a date (YYYY-MM-DD)"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_encode_everything_but_unreserved_characters() {
        let cases = [
            ("u-000017", "u-000017"),
            ("anon:a b", "anon%3Aa%20b"),
            ("<script>", "%3Cscript%3E"),
            ("../x", "..%2Fx"),
            ("é", "%C3%A9"),
        ];
        for (text, expected) in cases {
            assert_eq!(path_segment(text), expected, "{text}");
        }
    }

    #[test]
    fn ages_are_rounded_to_a_readable_unit() {
        let now = EventTime::from_micros(100 * MICROS_PER_DAY);
        let hour = 3_600 * 1_000_000;
        let cases = [
            (now, "< 1 h"),
            (EventTime::from_micros(now.as_micros() - 5 * hour), "5 h"),
            (EventTime::from_micros(now.as_micros() - 3 * MICROS_PER_DAY), "3 d"),
            (EventTime::from_micros(now.as_micros() - 30 * MICROS_PER_DAY), "4 wk"),
        ];
        for (since, expected) in cases {
            assert_eq!(age(since, now), expected);
        }
    }
}
