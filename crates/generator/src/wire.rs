//! How messages look on the wire: the SDKs, the client environments, and
//! the rendering of one Segment message as JSON text.

use crate::browse::View;
use crate::catalog::*;
use crate::json::Json;
use crate::rng::{Draw, Rand};

/// Which SDK sent a message (its wire format differs, see the crate docs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Sdk {
    /// analytics.js in the browser.
    AnalyticsJs,
    /// analytics-ios / analytics-kotlin in the mobile app.
    Mobile,
    SegmentPython,
    SegmentNode,
    /// @rudderstack/rudder-sdk-node: `originalTimestamp` only, identify
    /// traits in both `traits` and `context.traits`.
    RudderNode,
    /// rudder-sdk-python: identify traits only in `context.traits`.
    RudderPython,
}

impl Sdk {
    pub(crate) fn library(self) -> (&'static str, &'static str) {
        match self {
            Sdk::AnalyticsJs => ("analytics.js", "npm:next-1.76.0"),
            Sdk::Mobile => ("analytics-ios", "4.1.8"), // replaced by the app's own
            Sdk::SegmentPython => ("analytics-python", "2.3.3"),
            Sdk::SegmentNode => ("@segment/analytics-node", "2.1.3"),
            Sdk::RudderNode => ("@rudderstack/rudder-sdk-node", "2.1.4"),
            Sdk::RudderPython => ("rudder-sdk-python", "2.1.0"),
        }
    }

    pub(crate) fn is_server(self) -> bool {
        !matches!(self, Sdk::AnalyticsJs | Sdk::Mobile)
    }
}

/// Where a page event puts the page's path (the scoring spec reads
/// `properties.path`, else `context.page.path`, else the path of
/// `properties.url`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum PathIn {
    /// `properties.path` (most page events).
    Properties,
    /// Only in `context.page.path`.
    ContextPage,
    /// Only as part of `properties.url`.
    Url,
}

/// What a message says.
pub(crate) enum Body<'a> {
    Page(&'a View, PathIn),
    Screen(&'a View),
    Track(&'a str, &'a dyn Fn(&mut Json)),
    /// Traits, and for RudderStack node an optional different (stale)
    /// `context.traits`.
    Identify(&'a dyn Fn(&mut Json), Option<&'a dyn Fn(&mut Json)>),
    Alias(&'a str),
    Group(&'a str, &'a dyn Fn(&mut Json)),
}

/// One message to send.
pub(crate) struct Msg<'a> {
    pub(crate) sdk: Sdk,
    pub(crate) anon: Option<&'a str>,
    pub(crate) user: Option<&'a str>,
    /// The browser or app it comes from (for `context`).
    pub(crate) device: Option<&'a Device>,
    /// The page it was sent from (`context.page`, browser only).
    pub(crate) page: Option<&'a View>,
    pub(crate) body: Body<'a>,
}

/// The JSON text of a message.
pub(crate) fn render(msg: &Msg<'_>, message_id: &str, t: i64, sent_at: i64) -> Box<[u8]> {
    let mut j = Json::with_capacity(1024);
    let mut url = String::with_capacity(128);
    j.begin_obj();
    let ty = match msg.body {
        Body::Page(..) => "page",
        Body::Screen(_) => "screen",
        Body::Track(..) => "track",
        Body::Identify(..) => "identify",
        Body::Alias(_) => "alias",
        Body::Group(..) => "group",
    };
    j.s("type", ty);
    j.s("messageId", message_id);
    if let Some(a) = msg.anon {
        j.s("anonymousId", a);
    }
    if let Some(u) = msg.user {
        j.s("userId", u);
    }
    match msg.body {
        Body::Page(v, path_in) => {
            j.s("name", v.name);
            j.obj("properties");
            if path_in == PathIn::Properties {
                j.s("path", &v.path);
            }
            if !v.referrer.is_empty() {
                j.s("referrer", v.referrer);
            }
            if !v.search.is_empty() {
                j.s("search", &v.search);
            }
            j.s("title", &v.title);
            v.write_url(&mut url);
            j.s("url", &url);
            j.end_obj();
        }
        Body::Screen(v) => {
            j.s("name", v.screen_name());
            j.obj("properties");
            j.s("path", &v.path);
            if let Some(p) = v.product {
                j.s("product_id", PRODUCTS[p].slug);
            }
            j.end_obj();
        }
        Body::Track(event, props) => {
            j.s("event", event);
            j.obj("properties");
            props(&mut j);
            j.end_obj();
        }
        Body::Identify(traits, _) => {
            if msg.sdk != Sdk::RudderPython {
                j.obj("traits");
                traits(&mut j);
                j.end_obj();
            }
        }
        Body::Alias(previous) => j.s("previousId", previous),
        Body::Group(group_id, traits) => {
            j.s("groupId", group_id);
            j.obj("traits");
            traits(&mut j);
            j.end_obj();
        }
    }

    j.obj("context");
    match (msg.sdk, msg.device) {
        (Sdk::Mobile, Some(d)) => {
            let (lib, version, os, os_version, model) = APPS[d.app.unwrap_or(0)];
            j.obj("app");
            j.s("name", BRAND);
            j.s("version", APP_VERSION);
            j.end_obj();
            j.obj("device");
            j.s("model", model);
            j.s("type", if os == "iOS" { "ios" } else { "android" });
            j.end_obj();
            j.s("ip", &d.ip);
            j.obj("library");
            j.s("name", lib);
            j.s("version", version);
            j.end_obj();
            j.s("locale", d.locale);
            j.obj("os");
            j.s("name", os);
            j.s("version", os_version);
            j.end_obj();
        }
        (Sdk::AnalyticsJs, Some(d)) => {
            let campaign = match msg.body {
                Body::Page(v, _) => v.campaign,
                _ => msg.page.and_then(|p| p.campaign),
            };
            if let Some(c) = campaign {
                j.obj("campaign");
                j.s("medium", c.medium);
                j.s("name", c.name);
                j.s("source", c.source);
                j.end_obj();
            }
            j.s("ip", &d.ip);
            library(&mut j, msg.sdk);
            j.s("locale", d.locale);
            if let Some(p) = msg.page {
                j.obj("page");
                j.s("path", &p.path);
                j.s("referrer", p.referrer);
                if !p.search.is_empty() {
                    j.s("search", &p.search);
                }
                j.s("title", &p.title);
                if url.is_empty() {
                    p.write_url(&mut url);
                }
                j.s("url", &url);
                j.end_obj();
            }
            j.s("userAgent", USER_AGENTS[d.ua].0);
        }
        (sdk, _) => {
            library(&mut j, sdk);
            if let Body::Identify(traits, stale) = msg.body {
                if matches!(sdk, Sdk::RudderNode | Sdk::RudderPython) {
                    j.obj("traits");
                    match stale {
                        Some(stale) if sdk == Sdk::RudderNode => stale(&mut j),
                        _ => traits(&mut j),
                    }
                    j.end_obj();
                }
            }
        }
    }
    j.end_obj();

    if msg.sdk == Sdk::RudderNode {
        j.ts("originalTimestamp", t);
    } else {
        j.ts("timestamp", t);
    }
    j.ts("sentAt", sent_at);
    if matches!(msg.sdk, Sdk::RudderNode | Sdk::RudderPython) {
        j.s("channel", "server");
    }
    j.obj("integrations");
    j.end_obj();
    j.end_obj();
    j.buf.into_boxed_slice()
}

pub(crate) fn library(j: &mut Json, sdk: Sdk) {
    let (name, version) = sdk.library();
    j.obj("library");
    j.s("name", name);
    j.s("version", version);
    j.end_obj();
}

/// A browser or an app install: one `anonymousId`.
pub(crate) struct Device {
    pub(crate) anon: String,
    /// Index into `APPS` for a mobile app, `None` for a browser.
    pub(crate) app: Option<usize>,
    pub(crate) ua: usize,
    pub(crate) ip: String,
    pub(crate) locale: &'static str,
    /// Its messages carry the `userId` (after a login / identify).
    pub(crate) logged_in: bool,
    /// Linked to the lead (identify with both ids, or alias).
    pub(crate) linked: bool,
    pub(crate) emitted: bool,
}

impl Device {
    pub(crate) fn new(rng: &mut Rand, app: bool, mobile_web: Option<bool>) -> Device {
        let app = app.then(|| rng.below(APPS.len() as u64) as usize);
        let mut anon = rng.uuid();
        if app.is_some_and(|a| APPS[a].2 == "iOS") {
            anon.make_ascii_uppercase();
        }
        let ua = loop {
            let ua = rng.below(USER_AGENTS.len() as u64) as usize;
            if mobile_web.is_none_or(|m| USER_AGENTS[ua].1 == m) {
                break ua;
            }
        };
        let ip = format!("{}.{}.{}.{}", rng.pick(IP_PREFIXES), rng.range(0, 255), rng.range(0, 255), rng.range(1, 254));
        let weights: Vec<f64> = LOCALES.iter().map(|l| l.1).collect();
        let locale = LOCALES[rng.weighted(&weights)].0;
        Device { anon, app, ua, ip, locale, logged_in: false, linked: false, emitted: false }
    }

    pub(crate) fn sdk(&self) -> Sdk {
        if self.app.is_some() { Sdk::Mobile } else { Sdk::AnalyticsJs }
    }
}
