//! The simulation: leads and anonymous visitors ("actors") living through
//! sessions, and the Segment messages their browsers, apps and the brand's
//! backend send about them.
//!
//! An actor's whole life depends only on the seed, its id and the time
//! window (it has its own random stream), so the output does not depend on
//! the order in which the driver interleaves actors.

use std::io::Write;

use crate::browse::{View, landing, next_view, pick_product};
use crate::catalog::*;
use crate::json::Json;
use crate::output::Output;
use crate::people::{Persona, Traits, Update, make_traits};
use crate::rng::{Draw, Rand, stream};
use crate::time::{DAY, HOUR, MINUTE, SECOND, date_string};
use crate::wire::{Body, Device, Msg, PathIn, Sdk, render};

/// Longest time a session can last; sessions start at least this long
/// before the end of the window and at least this long after the previous
/// one started.
pub(crate) const SESSION_SPAN: i64 = 4 * HOUR;
/// Share of messages that are sent twice (a client retry).
const DUPLICATE_SHARE: f64 = 0.01;

/// The time window, shared by all actors.
pub(crate) struct World {
    pub seed: u64,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Latest start of a session: `end_ms - SESSION_SPAN` (or the window start).
    pub last_start_ms: i64,
}

/// How engaged an actor is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tier {
    Low,
    Mid,
    High,
}

/// Behaviour parameters of a tier.
struct Behaviour {
    sessions: (i64, i64),
    pages: (i64, i64),
    gap_days: f64,
    product_share: f64,
    newsletter: f64,
    catalog: f64,
    inquiry: f64,
    appointment: f64,
    order: f64,
    wishlist: f64,
}

#[rustfmt::skip]
const LEAD_BEHAVIOUR: [Behaviour; 3] = [
    Behaviour { sessions: (1, 2), pages: (1, 3), gap_days: 9.0, product_share: 0.30, newsletter: 0.10, catalog: 0.02, inquiry: 0.010, appointment: 0.0, order: 0.0005, wishlist: 0.02 },
    Behaviour { sessions: (2, 5), pages: (2, 5), gap_days: 6.0, product_share: 0.40, newsletter: 0.12, catalog: 0.08, inquiry: 0.04, appointment: 0.003, order: 0.001, wishlist: 0.06 },
    Behaviour { sessions: (6, 12), pages: (3, 7), gap_days: 4.0, product_share: 0.50, newsletter: 0.12, catalog: 0.16, inquiry: 0.10, appointment: 0.015, order: 0.003, wishlist: 0.10 },
];

#[rustfmt::skip]
const VISITOR_BEHAVIOUR: [Behaviour; 3] = [
    Behaviour { sessions: (1, 1), pages: (1, 3), gap_days: 10.0, product_share: 0.35, newsletter: 0.0, catalog: 0.0, inquiry: 0.0, appointment: 0.0, order: 0.0, wishlist: 0.0 },
    Behaviour { sessions: (2, 3), pages: (2, 5), gap_days: 7.0, product_share: 0.40, newsletter: 0.0, catalog: 0.0, inquiry: 0.0, appointment: 0.0, order: 0.0, wishlist: 0.01 },
    Behaviour { sessions: (4, 8), pages: (3, 7), gap_days: 4.0, product_share: 0.50, newsletter: 0.0, catalog: 0.0, inquiry: 0.0, appointment: 0.0, order: 0.0, wishlist: 0.03 },
];

/// A person known by `userId`, and where they are in their journey.
struct Lead {
    user_id: String,
    persona: Persona,
    traits: Traits,
    /// SDK of the brand's backend for this lead's server-side messages.
    backend: Sdk,
    /// Linked by `alias` (previousId = anonymousId) instead of an identify
    /// with both ids; browser events then never carry the userId.
    alias_flow: bool,
    /// Known to the CRM before any web visit: the first message is a
    /// server-side identify with only the userId.
    server_first: bool,
    id_session: u32,
    identified: bool,
    update: Option<(u32, Update)>,
    group_session: Option<u32>,
    newsletter_at: Option<u32>,
    unsubscribed: bool,
    catalog: bool,
    appointment: bool,
    ordered: bool,
    inquiries: u32,
}

/// What is decided about a session before it is played.
#[derive(Clone, Copy)]
struct SessionPlan {
    /// Index into the actor's devices.
    device: usize,
    /// 0 for the actor's first session.
    index: u32,
    pages: u32,
    /// No session follows (the lead must be identified by its end).
    last: bool,
}

/// Per-session cursor: the current time and the output.
struct Cursor<'a, 'w, W: Write> {
    rng: &'a mut Rand,
    world: &'a World,
    out: &'a mut Output<'w, W>,
    t: i64,
    limit: i64,
    long_gap_used: bool,
}

impl<W: Write> Cursor<'_, '_, W> {
    /// Moves on by a uniform amount of time in `lo..=hi` ms.
    fn advance(&mut self, lo: i64, hi: i64) {
        self.t += self.rng.range(lo, hi);
    }

    /// The pause before the next page: usually seconds to minutes; once in
    /// a while exactly 30 minutes, or just over (the visit boundary).
    fn page_gap(&mut self) {
        if !self.long_gap_used && self.rng.chance(0.03) {
            self.long_gap_used = true;
            self.t += 30 * MINUTE;
            match self.rng.below(3) {
                0 => {}
                1 => self.t += 1,
                _ => self.t += self.rng.range(1, 5 * SECOND),
            }
        } else {
            let gap = (self.rng.exp(75.0 * SECOND as f64) as i64).min(12 * MINUTE);
            self.t += 4 * SECOND + gap + self.rng.range(0, 999);
        }
    }

    /// Serializes `msg` at the current time and queues it for delivery.
    fn emit(&mut self, msg: Msg<'_>) -> bool {
        let t = self.t;
        if t >= self.world.end_ms || t < self.world.start_ms {
            debug_assert!(false, "event time outside the window");
            return false;
        }
        let app = msg.device.is_some_and(|d| d.app.is_some());
        let rng = &mut *self.rng;
        // Delivery: mostly immediate, some late (retries, offline apps).
        let r = rng.unit();
        let delay = match (msg.sdk.is_server(), app) {
            (true, _) if r < 0.99 => rng.range(0, 800),
            (true, _) => rng.range(SECOND, 5 * MINUTE),
            (false, true) if r < 0.85 => rng.range(0, 3 * SECOND),
            (false, true) if r < 0.92 => rng.range(3 * SECOND, 30 * MINUTE),
            (false, true) => rng.range(30 * MINUTE, DAY),
            (false, false) if r < 0.96 => rng.range(0, 1_500),
            (false, false) if r < 0.99 => rng.range(1_500, 10 * MINUTE),
            (false, false) => rng.range(10 * MINUTE, DAY),
        };
        let key = t + delay;
        let sent_at = (key + rng.range(2, 400)).min(self.world.end_ms - 1).max(t);
        let message_id = match msg.sdk {
            Sdk::AnalyticsJs => format!("ajs-next-{}", rng.hex(32)),
            Sdk::Mobile => rng.uuid().to_ascii_uppercase(),
            _ => rng.uuid(),
        };
        let text = render(&msg, &message_id, t, sent_at);
        if rng.chance(DUPLICATE_SHARE) {
            let later = key + rng.range(2 * SECOND, 6 * HOUR);
            self.out.push(later, text.clone());
            self.out.stats.duplicates += 1;
        }
        self.out.push(key, text);
        true
    }
}

/// A lead or an anonymous visitor, between its sessions.
pub(crate) struct Actor {
    rng: Rand,
    tier: Tier,
    /// `None` for an anonymous visitor.
    lead: Option<Box<Lead>>,
    devices: Vec<Device>,
    sessions_total: u32,
    session_idx: u32,
    /// Session index from which the second device (if any) is used.
    second_from: u32,
}

/// When an actor's first session starts: its first draw, so that the
/// driver can sort all actors by start cheaply.
pub(crate) fn first_touch(world: &World, id: u32) -> i64 {
    let mut rng = stream(world.seed, u64::from(id) + 1);
    draw_first_touch(&mut rng, world)
}

/// First touches grow towards the end of the window (the run-up to the
/// holiday season): the density rises linearly, from 0.2 times the average
/// at the start to 1.8 times at the end.
fn draw_first_touch(rng: &mut Rand, world: &World) -> i64 {
    let span = (world.last_start_ms - world.start_ms).max(0) as f64;
    // inverse of the CDF 0.2x + 0.8x² of the density 0.2 + 1.6x on [0, 1]
    let u = rng.unit();
    let x = ((0.04 + 3.2 * u).sqrt() - 0.2) / 1.6;
    let t = world.start_ms + (x.clamp(0.0, 1.0) * span) as i64;
    diurnal(rng, t, world)
}

/// Fewer sessions at night (US time): push most night starts to the morning.
fn diurnal(rng: &mut Rand, t: i64, world: &World) -> i64 {
    let local_hour = (t - 5 * HOUR).rem_euclid(DAY) / HOUR;
    if (1..7).contains(&local_hour) && rng.chance(0.8) {
        let later = t + rng.range(6 * HOUR, 9 * HOUR);
        if later <= world.last_start_ms {
            return later;
        }
    }
    t
}

impl Actor {
    /// Creates actor `id` (leads are `0..leads`); returns it with the start
    /// of its first session (the same as [`first_touch`]).
    pub(crate) fn new(world: &World, id: u32, leads: u32) -> (Actor, i64) {
        let mut rng = stream(world.seed, u64::from(id) + 1);
        let start = draw_first_touch(&mut rng, world);
        let actor = if id < leads { Actor::new_lead(rng, id, start) } else { Actor::new_visitor(rng) };
        (actor, start)
    }

    fn new_visitor(mut rng: Rand) -> Actor {
        let tier = [Tier::Low, Tier::Mid, Tier::High][rng.weighted(&[0.80, 0.16, 0.04])];
        let b = &VISITOR_BEHAVIOUR[tier as usize];
        let sessions_total = rng.range(b.sessions.0, b.sessions.1) as u32;
        let app = rng.chance(0.06);
        let device = Device::new(&mut rng, app, None);
        Actor { rng, tier, lead: None, devices: vec![device], sessions_total, session_idx: 0, second_from: u32::MAX }
    }

    fn new_lead(mut rng: Rand, id: u32, start: i64) -> Actor {
        const PERSONAS: [Persona; 6] =
            [Persona::Affluent, Persona::Bridal, Persona::Student, Persona::Budget, Persona::Gift, Persona::Other];
        let persona = PERSONAS[rng.weighted(&[0.22, 0.16, 0.15, 0.23, 0.14, 0.10])];
        let fit = matches!(persona, Persona::Affluent | Persona::Bridal);
        let tier_weights: &[f64] = if fit { &[0.20, 0.36, 0.44] } else { &[0.60, 0.33, 0.07] };
        let tier = [Tier::Low, Tier::Mid, Tier::High][rng.weighted(tier_weights)];
        let b = &LEAD_BEHAVIOUR[tier as usize];
        let sessions_total = rng.range(b.sessions.0, b.sessions.1) as u32;

        let (traits, update_kind) = make_traits(&mut rng, persona, id, start);
        let backend = [Sdk::SegmentPython, Sdk::SegmentNode, Sdk::RudderNode, Sdk::RudderPython]
            [rng.weighted(&[0.55, 0.15, 0.15, 0.15])];
        let r = rng.unit();
        let server_first = r < 0.05;
        let alias_flow = !server_first && r < 0.17;
        let id_session = [0, 1, 2, 3][rng.weighted(&[0.45, 0.30, 0.15, 0.10])];
        let update = update_kind.map(|u| (id_session + rng.range(1, 3) as u32, u));
        let group_session = rng.chance(0.003).then_some(id_session);

        let first_app = rng.chance(0.02);
        let mut devices = vec![Device::new(&mut rng, first_app, None)];
        let mut second_from = u32::MAX;
        if sessions_total >= 2 && rng.chance(0.10) {
            let app = !first_app && rng.chance(0.6);
            let mobile = USER_AGENTS[devices[0].ua].1;
            devices.push(Device::new(&mut rng, app, Some(!mobile)));
            second_from = rng.range(1, i64::from(sessions_total) - 1) as u32;
        }

        let user_id = format!("u-{:06}", u64::from(id) + 1);
        Actor {
            rng,
            tier,
            lead: Some(Box::new(Lead {
                user_id,
                persona,
                traits,
                backend,
                alias_flow,
                server_first,
                id_session,
                identified: false,
                update,
                group_session,
                newsletter_at: None,
                unsubscribed: false,
                catalog: false,
                appointment: false,
                ordered: false,
                inquiries: 0,
            })),
            devices,
            sessions_total,
            session_idx: 0,
            second_from,
        }
    }

    /// Number of this actor's anonymousIds that sent something but were
    /// never linked to a userId (call when the actor is done).
    pub(crate) fn unlinked_devices(&self) -> u64 {
        self.devices.iter().filter(|d| d.emitted && !d.linked).count() as u64
    }

    /// Plays the session starting at `t0`; returns when the next one starts,
    /// or `None` when the actor is done.
    pub(crate) fn run_session<W: Write>(&mut self, world: &World, out: &mut Output<'_, W>, t0: i64) -> Option<i64> {
        let behaviour = if self.lead.is_some() {
            &LEAD_BEHAVIOUR[self.tier as usize]
        } else {
            &VISITOR_BEHAVIOUR[self.tier as usize]
        };
        let gap = if self.rng.chance(0.12) {
            self.rng.range(SESSION_SPAN, 10 * HOUR)
        } else {
            SESSION_SPAN + self.rng.exp(behaviour.gap_days * DAY as f64) as i64
        };
        let next = diurnal(&mut self.rng, t0.saturating_add(gap), world);
        let is_last = self.session_idx + 1 >= self.sessions_total || next > world.last_start_ms;
        let dev = if self.session_idx >= self.second_from && self.rng.chance(0.6) { 1 } else { 0 };
        let plan = SessionPlan {
            device: dev,
            index: self.session_idx,
            pages: self.rng.range(behaviour.pages.0, behaviour.pages.1) as u32,
            last: is_last,
        };

        // Borrow the parts separately: the cursor holds the rng.
        let Actor { rng, lead, devices, .. } = self;
        let mut cur = Cursor { rng, world, out, t: t0, limit: t0 + 3 * HOUR, long_gap_used: false };
        match lead {
            Some(lead) => lead_session(&mut cur, lead, devices, plan, behaviour),
            None => visitor_session(&mut cur, &mut devices[dev], plan, behaviour),
        }
        debug_assert!(cur.t < t0 + SESSION_SPAN);
        self.session_idx += 1;
        (!is_last).then_some(next)
    }
}

/// A page (browser) or screen (app) view.
fn emit_view<W: Write>(cur: &mut Cursor<'_, '_, W>, d: &mut Device, user: Option<&str>, view: &View) {
    let msg = if d.app.is_some() {
        Msg { sdk: Sdk::Mobile, anon: Some(&d.anon), user, device: Some(d), page: None, body: Body::Screen(view) }
    } else {
        // The page is in `properties`; `context.page` only when the path is
        // not (a few events exercise each path fallback).
        let r = cur.rng.unit();
        let path_in = if r < 0.03 {
            PathIn::ContextPage
        } else if r < 0.05 {
            PathIn::Url
        } else {
            PathIn::Properties
        };
        let page = (path_in == PathIn::ContextPage).then_some(view);
        Msg { sdk: Sdk::AnalyticsJs, anon: Some(&d.anon), user, device: Some(d), page, body: Body::Page(view, path_in) }
    };
    if cur.emit(msg) {
        d.emitted = true;
        d.linked |= user.is_some();
    }
}

/// A track event sent by the browser or app.
fn emit_client_track<W: Write>(
    cur: &mut Cursor<'_, '_, W>,
    d: &mut Device,
    user: Option<&str>,
    view: &View,
    event: &str,
    props: &dyn Fn(&mut Json),
) {
    let page = d.app.is_none().then_some(view);
    let msg = Msg { sdk: d.sdk(), anon: Some(&d.anon), user, device: Some(d), page, body: Body::Track(event, props) };
    if cur.emit(msg) {
        d.emitted = true;
        d.linked |= user.is_some();
    }
}

/// A track event sent by the brand's backend (userId only).
fn emit_server_track<W: Write>(cur: &mut Cursor<'_, '_, W>, lead: &Lead, event: &str, props: &dyn Fn(&mut Json)) {
    cur.emit(Msg {
        sdk: lead.backend,
        anon: None,
        user: Some(&lead.user_id),
        device: None,
        page: None,
        body: Body::Track(event, props),
    });
}

/// Properties of "Product Added to Wishlist" (Segment e-commerce spec).
fn product_props(j: &mut Json, p: usize) {
    let product = &PRODUCTS[p];
    j.s("product_id", product.slug);
    j.s("name", product.name);
    j.i("price", product.price);
    j.s("currency", "USD");
}

/// Properties of "Product Viewed": the product and its category.
fn product_viewed_props(j: &mut Json, p: usize) {
    product_props(j, p);
    j.s("category", COLLECTIONS[PRODUCTS[p].collection].title);
}

/// Links device `dev` to the lead: an identify with both ids (from the
/// client or the backend), or for alias-flow leads an `alias` then a
/// userId-only identify.
fn identify<W: Write>(cur: &mut Cursor<'_, '_, W>, lead: &mut Lead, devices: &mut [Device], dev: usize, view: &View) {
    if lead.identified {
        return;
    }
    lead.identified = true;
    lead.traits.created_at = cur.t;
    let d = &mut devices[dev];
    let traits = &lead.traits;
    let full = |j: &mut Json| traits.write_full(j);
    if lead.alias_flow && d.app.is_none() {
        let sent = cur.emit(Msg {
            sdk: lead.backend,
            anon: None,
            user: Some(&lead.user_id),
            device: None,
            page: None,
            body: Body::Alias(&d.anon),
        });
        d.linked |= sent;
        cur.advance(50, 900);
        cur.emit(Msg {
            sdk: lead.backend,
            anon: None,
            user: Some(&lead.user_id),
            device: None,
            page: None,
            body: Body::Identify(&full, None),
        });
    } else {
        let sdk = if cur.rng.chance(0.6) { d.sdk() } else { lead.backend };
        let client = !sdk.is_server();
        let page = (client && d.app.is_none()).then_some(view);
        let msg = Msg {
            sdk,
            anon: Some(&d.anon),
            user: Some(&lead.user_id),
            device: client.then_some(&*d),
            page,
            body: Body::Identify(&full, None),
        };
        if cur.emit(msg) {
            d.linked = true;
            d.emitted = true;
        }
        d.logged_in = true;
    }
}

/// A client-side login identify (email only) on an already known lead.
fn login<W: Write>(cur: &mut Cursor<'_, '_, W>, lead: &Lead, d: &mut Device, view: &View) {
    let email = |j: &mut Json| j.s("email", &lead.traits.email);
    let page = d.app.is_none().then_some(view);
    let msg = Msg {
        sdk: d.sdk(),
        anon: Some(&d.anon),
        user: Some(&lead.user_id),
        device: Some(d),
        page,
        body: Body::Identify(&email, None),
    };
    if cur.emit(msg) {
        d.linked = true;
        d.emitted = true;
    }
    d.logged_in = true;
}

/// A backend identify changing some traits. RudderStack node clients
/// sometimes still carry the previous profile in `context.traits`.
fn update_identify<W: Write>(cur: &mut Cursor<'_, '_, W>, lead: &mut Lead, update: Update) {
    let mut stale = Json::with_capacity(512);
    stale.begin_obj();
    lead.traits.write_full(&mut stale);
    stale.end_obj();
    let members = &stale.buf[1..stale.buf.len() - 1];
    lead.traits.apply(update);
    let traits = &lead.traits;
    let new = |j: &mut Json| traits.write_update(j, update);
    let old = |j: &mut Json| j.raw_members(members);
    let context: Option<&dyn Fn(&mut Json)> = if cur.rng.chance(0.5) { Some(&old) } else { None };
    cur.emit(Msg {
        sdk: lead.backend,
        anon: None,
        user: Some(&lead.user_id),
        device: None,
        page: None,
        body: Body::Identify(&new, context),
    });
}

/// One session of a lead: pages, the identify when it is due, conversions,
/// and the occasional profile update, group call or re-login.
fn lead_session<W: Write>(
    cur: &mut Cursor<'_, '_, W>,
    lead: &mut Lead,
    devices: &mut [Device],
    plan: SessionPlan,
    b: &Behaviour,
) {
    let SessionPlan { device: dev, index: sidx, pages, last: is_last } = plan;
    let persona = lead.persona;
    let fit = matches!(persona, Persona::Affluent | Persona::Bridal);
    let boost = if fit { 1.5 } else { 1.0 };
    let app = devices[dev].app.is_some();

    // Known to the CRM first: a backend identify with the userId only; the
    // browser is logged in from its first page (which links it).
    if lead.server_first && !lead.identified {
        lead.identified = true;
        lead.traits.created_at = cur.t;
        let traits = &lead.traits;
        let full = |j: &mut Json| traits.write_full(j);
        cur.emit(Msg {
            sdk: lead.backend,
            anon: None,
            user: Some(&lead.user_id),
            device: None,
            page: None,
            body: Body::Identify(&full, None),
        });
        devices[0].logged_in = true;
        cur.advance(MINUTE, 20 * MINUTE);
    }

    // A click on "unsubscribe" in a newsletter.
    if lead.newsletter_at.is_some_and(|n| sidx > n) && !lead.unsubscribed && cur.rng.chance(0.07) {
        if !app {
            let view = View::service("/pages/email-preferences", "Email Preferences", "Account");
            let user = devices[dev].logged_in.then_some(lead.user_id.as_str());
            emit_view(cur, &mut devices[dev], user, &view);
            cur.advance(5 * SECOND, MINUTE);
        }
        let reason = *cur.rng.pick(&["too many emails", "no longer interested", "not relevant"]);
        emit_server_track(cur, lead, "Unsubscribed", &|j| {
            j.s("list", "The Edit");
            j.s("reason", reason);
        });
        lead.unsubscribed = true;
        return;
    }

    let must_identify = !lead.identified && (sidx >= lead.id_session || is_last);
    let identify_at = must_identify.then(|| cur.rng.below(u64::from(pages)) as u32);
    let login_at = (dev == 1 && !devices[1].linked && (cur.rng.chance(0.6) || is_last))
        .then(|| cur.rng.below(u64::from(pages)) as u32);

    let mut view = landing(cur.rng, persona, sidx == 0, app);
    for p in 0..pages {
        if p > 0 {
            cur.page_gap();
            if cur.t > cur.limit {
                break;
            }
            view = next_view(cur.rng, persona, b.product_share, &view);
        }
        let user = devices[dev].logged_in.then_some(lead.user_id.as_str());
        if let Some(q) = view.query {
            emit_client_track(cur, &mut devices[dev], user, &view, "Products Searched", &|j| j.s("query", q));
            cur.advance(300, 2 * SECOND);
        }
        emit_view(cur, &mut devices[dev], user, &view);
        if let Some(pi) = view.product {
            if !app && cur.rng.chance(0.18) {
                cur.advance(300, 3 * SECOND);
                emit_client_track(cur, &mut devices[dev], user, &view, "Product Viewed", &|j| {
                    product_viewed_props(j, pi)
                });
            }
            if cur.rng.chance(b.wishlist) {
                cur.advance(5 * SECOND, 90 * SECOND);
                emit_client_track(cur, &mut devices[dev], user, &view, "Product Added to Wishlist", &|j| {
                    product_props(j, pi)
                });
            }
        }
        if identify_at == Some(p) {
            cur.advance(10 * SECOND, 2 * MINUTE);
            identify(cur, lead, devices, dev, &view);
        }
        if login_at == Some(p) && lead.identified && !devices[1].linked {
            cur.advance(10 * SECOND, 2 * MINUTE);
            login(cur, lead, &mut devices[1], &view);
        }
    }

    // Conversions (each identifies the lead first if needed: forms ask for
    // an email address).
    if lead.newsletter_at.is_none() && cur.rng.chance(b.newsletter) {
        cur.advance(20 * SECOND, 3 * MINUTE);
        identify(cur, lead, devices, dev, &view);
        cur.advance(SECOND, 20 * SECOND);
        let source = *cur.rng.pick(&["footer", "popup", "account"]);
        let user = devices[dev].logged_in.then_some(lead.user_id.as_str());
        emit_client_track(cur, &mut devices[dev], user, &view, "Newsletter Subscribed", &|j| {
            j.s("list", "The Edit");
            j.s("source", source);
        });
        lead.newsletter_at = Some(sidx);
    }
    if !lead.catalog && cur.rng.chance(b.catalog * boost) {
        cur.advance(20 * SECOND, 3 * MINUTE);
        view = View::service("/pages/catalog-request", "Request a Catalog", "Catalog");
        let user = devices[dev].logged_in.then_some(lead.user_id.as_str());
        emit_view(cur, &mut devices[dev], user, &view);
        cur.advance(20 * SECOND, 2 * MINUTE);
        identify(cur, lead, devices, dev, &view);
        cur.advance(SECOND, 10 * SECOND);
        let catalog = match persona {
            Persona::Bridal => CATALOGS[0],
            Persona::Affluent => CATALOGS[1],
            _ => *cur.rng.pick(CATALOGS),
        };
        let user = devices[dev].logged_in.then_some(lead.user_id.as_str());
        emit_client_track(cur, &mut devices[dev], user, &view, "Catalog Downloaded", &|j| {
            j.s("catalog", catalog);
            j.s("format", "pdf");
        });
        lead.catalog = true;
    }
    if lead.inquiries < 2 && cur.rng.chance(b.inquiry * boost) {
        cur.advance(20 * SECOND, 3 * MINUTE);
        view = View::service("/pages/contact", "Contact Us", "Contact");
        let user = devices[dev].logged_in.then_some(lead.user_id.as_str());
        emit_view(cur, &mut devices[dev], user, &view);
        identify(cur, lead, devices, dev, &view);
        cur.advance(MINUTE, 8 * MINUTE);
        let detailed = cur.rng.chance(if fit { 0.55 } else { 0.35 });
        let length = match (detailed, cur.rng.chance(0.06)) {
            (true, true) => 80,
            (true, false) => cur.rng.range(80, 900),
            (false, true) => 79,
            (false, false) => cur.rng.range(12, 79),
        };
        let p = pick_product(cur.rng, persona);
        let topic = *cur.rng.pick(&["availability", "customization", "pricing", "sizing"]);
        emit_server_track(cur, lead, "Inquiry Submitted", &|j| {
            j.s("channel", "contact-form");
            j.i("message_length", length);
            j.s("product", PRODUCTS[p].name);
            j.s("product_id", PRODUCTS[p].slug);
            j.s("topic", topic);
        });
        lead.inquiries += 1;
    }
    if !lead.appointment && cur.rng.chance(b.appointment * boost) {
        cur.advance(20 * SECOND, 3 * MINUTE);
        view = View::service("/pages/book-an-appointment", "Book an Appointment", "Appointment");
        let user = devices[dev].logged_in.then_some(lead.user_id.as_str());
        emit_view(cur, &mut devices[dev], user, &view);
        identify(cur, lead, devices, dev, &view);
        cur.advance(MINUTE, 5 * MINUTE);
        let store = *cur.rng.pick(STORES);
        let kind = if persona == Persona::Bridal {
            "bridal consultation"
        } else {
            *cur.rng.pick(&["private viewing", "styling session", "bespoke design"])
        };
        let date = date_string(cur.t + cur.rng.range(2, 21) * DAY);
        emit_server_track(cur, lead, "Appointment Booked", &|j| {
            j.s("appointment_type", kind);
            j.s("date", &date);
            j.s("store", store);
        });
        lead.appointment = true;
    }
    if !lead.ordered && cur.rng.chance(if lead.appointment { 0.15 } else { b.order }) {
        cur.advance(20 * SECOND, 3 * MINUTE);
        view = View::service("/cart", "Your Bag", "Cart");
        let user = devices[dev].logged_in.then_some(lead.user_id.as_str());
        emit_view(cur, &mut devices[dev], user, &view);
        identify(cur, lead, devices, dev, &view);
        cur.advance(2 * MINUTE, 8 * MINUTE);
        let p = pick_product(cur.rng, persona);
        let order_id = format!("AUR-{}", cur.rng.range(100_000, 999_999));
        let product = &PRODUCTS[p];
        let tax = product.price * 8; // 8% tax, in cents
        emit_server_track(cur, lead, "Order Completed", &|j| {
            j.s("order_id", &order_id);
            j.cents("total", product.price * 100 + tax);
            j.s("currency", "USD");
            j.arr("products");
            j.begin_obj();
            j.s("product_id", product.slug);
            j.s("name", product.name);
            j.i("price", product.price);
            j.i("quantity", 1);
            j.end_obj();
            j.end_arr();
        });
        lead.ordered = true;
    }

    if must_identify && !lead.identified {
        cur.advance(10 * SECOND, MINUTE);
        identify(cur, lead, devices, dev, &view);
    }
    if let Some((at, update)) = lead.update {
        if at <= sidx && lead.identified {
            cur.advance(MINUTE, 10 * MINUTE);
            update_identify(cur, lead, update);
            lead.update = None;
        }
    }
    if lead.group_session.is_some_and(|g| g <= sidx) && lead.identified {
        cur.advance(MINUTE, 5 * MINUTE);
        let group_id = format!("acct-{}", cur.rng.hex(8));
        let (name, industry) = *cur.rng.pick(&[
            ("Sterling & Co. Events", "Event Planning"),
            ("Harbor Point Realty", "Real Estate"),
            ("Meridian Partners LLP", "Legal Services"),
        ]);
        let employees = cur.rng.range(12, 400);
        cur.emit(Msg {
            sdk: lead.backend,
            anon: None,
            user: Some(&lead.user_id),
            device: None,
            page: None,
            body: Body::Group(&group_id, &|j| {
                j.s("name", name);
                j.s("industry", industry);
                j.i("employees", employees);
                j.s("plan", "corporate-gifting");
            }),
        });
        lead.group_session = None;
    }
    if lead.identified && devices[dev].logged_in && sidx > lead.id_session && cur.rng.chance(0.08) {
        cur.advance(10 * SECOND, MINUTE);
        login(cur, lead, &mut devices[dev], &view);
    }
}

/// One session of an anonymous visitor: pages and a few client events.
fn visitor_session<W: Write>(cur: &mut Cursor<'_, '_, W>, d: &mut Device, plan: SessionPlan, b: &Behaviour) {
    let SessionPlan { index: sidx, pages, .. } = plan;
    let persona = Persona::Visitor;
    let app = d.app.is_some();
    let mut view = landing(cur.rng, persona, sidx == 0, app);
    for p in 0..pages {
        if p > 0 {
            cur.page_gap();
            if cur.t > cur.limit {
                break;
            }
            view = next_view(cur.rng, persona, b.product_share, &view);
        }
        if let Some(q) = view.query {
            emit_client_track(cur, d, None, &view, "Products Searched", &|j| j.s("query", q));
            cur.advance(300, 2 * SECOND);
        }
        emit_view(cur, d, None, &view);
        if let Some(pi) = view.product {
            if !app && cur.rng.chance(0.2) {
                cur.advance(300, 3 * SECOND);
                emit_client_track(cur, d, None, &view, "Product Viewed", &|j| product_viewed_props(j, pi));
            }
            if cur.rng.chance(b.wishlist) {
                cur.advance(5 * SECOND, 90 * SECOND);
                emit_client_track(cur, d, None, &view, "Product Added to Wishlist", &|j| product_props(j, pi));
            }
        }
    }
}
