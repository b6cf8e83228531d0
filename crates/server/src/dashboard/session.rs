//! Sign-in, sessions and sign-out.

use super::{PageError, SignedIn, bare_page};
use crate::AppState;
use crate::auth::{self, Permission};
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use maud::html;
use qualify_store::Role;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

const COOKIE: &str = "qualify_session";
/// How long a session lasts without signing in again.
const LIFETIME: Duration = Duration::from_secs(12 * 3_600);

/// One signed-in browser.
#[derive(Clone)]
pub struct Session {
    pub role: Role,
    /// The SHA-256 of the key it signed in with (never the key itself).
    pub key_hash: String,
    pub csrf: String,
    expires: Instant,
}

/// The open sessions, by token. In memory: a restart signs everyone out.
#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Sessions {
    pub fn new() -> Sessions {
        Sessions::default()
    }

    /// Opens a session for a verified key; returns its token.
    fn open(&self, role: Role, key: &str) -> String {
        let token = random_token();
        let session =
            Session { role, key_hash: auth::hash_key(key), csrf: random_token(), expires: Instant::now() + LIFETIME };
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        open.retain(|_, session| session.expires > now);
        open.insert(token.clone(), session);
        token
    }

    /// The live session of a token.
    pub fn find(&self, token: &str) -> Option<Session> {
        let open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        open.get(token).filter(|session| session.expires > Instant::now()).cloned()
    }

    fn close(&self, token: &str) {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(token);
    }
}

/// Compares two tokens in constant time.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The session token of the `Cookie` header, if any.
pub fn token_from_headers(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

fn session_cookie(token: &str, max_age: Duration) -> HeaderValue {
    // Not `Secure`: the server speaks plain HTTP (on a laptop, or behind a
    // proxy that terminates TLS). SameSite=Strict keeps the cookie off
    // requests that other sites start.
    let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}", max_age.as_secs());
    HeaderValue::from_str(&cookie).expect("a token is URL-safe base64")
}

fn login_form(error: Option<&str>) -> maud::Markup {
    html! {
        main id="main" class="narrow login" {
            h1 { "Qualify" }
            p { "Sign in with an API key: a " b { "read" } " key views, a " b { "sales" } " key also works the queue, an "
                b { "admin" } " key also edits the model." }
            @if let Some(error) = error {
                p class="error-message" role="alert" { (error) }
            }
            form method="post" action="/login" {
                label for="key" { "API key" }
                input id="key" name="key" type="password" autocomplete="current-password" required autofocus
                    spellcheck="false" placeholder="qk_…";
                button type="submit" class="primary" { "Sign in" }
            }
            p class="hint" { "Make a key with " code { "qualify keys create --role sales" } "." }
        }
    }
}

pub async fn login_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    // Someone already signed in goes to the queue.
    if token_from_headers(&headers).is_some_and(|token| state.sessions.find(&token).is_some()) {
        return Redirect::to("/").into_response();
    }
    bare_page("Sign in", login_form(None)).into_response()
}

#[derive(Deserialize)]
pub struct SignInForm {
    key: String,
}

pub async fn sign_in(State(state): State<AppState>, Form(form): Form<SignInForm>) -> Result<Response, PageError> {
    let key = form.key.trim();
    let role = if key.is_empty() { None } else { state.role_of(key).await? };
    let refused = |message: &str| (StatusCode::UNAUTHORIZED, bare_page("Sign in", login_form(Some(message))));
    let Some(role) = role else {
        return Ok(refused("This key is unknown or revoked.").into_response());
    };
    if !auth::allows(role, Permission::Read) {
        return Ok(refused("A write key only sends events: sign in with a read, sales or admin key.").into_response());
    }
    let token = state.sessions.open(role, key);
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&token, LIFETIME));
    Ok(response)
}

#[derive(Deserialize)]
pub struct SignOutForm {
    csrf: Option<String>,
}

pub async fn sign_out(
    State(state): State<AppState>,
    user: SignedIn,
    headers: HeaderMap,
    Form(form): Form<SignOutForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&headers, form.csrf.as_deref())?;
    state.sessions.close(&user.token);
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie("", Duration::ZERO));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_token_is_read_from_any_cookie_header() {
        let cases: [(&[&str], Option<&str>); 5] = [
            (&["qualify_session=abc"], Some("abc")),
            (&["theme=dark; qualify_session=abc; other=1"], Some("abc")),
            (&["theme=dark", "qualify_session=xyz"], Some("xyz")),
            (&["qualify_session="], None),
            (&["qualify_sessionx=abc"], None),
        ];
        for (values, expected) in cases {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append(header::COOKIE, HeaderValue::from_str(value).unwrap());
            }
            assert_eq!(token_from_headers(&headers).as_deref(), expected, "{values:?}");
        }
    }

    #[test]
    fn a_closed_session_is_not_found() {
        let sessions = Sessions::new();
        let token = sessions.open(Role::Sales, "qk_test");
        let session = sessions.find(&token).expect("the session is open");
        assert_eq!(session.role, Role::Sales);
        assert_eq!(session.key_hash, auth::hash_key("qk_test"));
        assert!(sessions.find("another").is_none());
        sessions.close(&token);
        assert!(sessions.find(&token).is_none());
    }

    #[test]
    fn tokens_compare_equal_only_when_identical() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "abcd"));
        assert!(!same_token("", "a"));
    }
}
