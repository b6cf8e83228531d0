//! Where visitors go on the site: page views, landing pages and the walk
//! from page to page, biased by persona.

use crate::catalog::*;
use crate::people::Persona;
use crate::rng::{Draw, Rand};

/// One page (or app screen) view.
pub(crate) struct View {
    pub(crate) path: String,
    /// Query string including `?`, or empty.
    pub(crate) search: String,
    pub(crate) title: String,
    pub(crate) name: &'static str,
    pub(crate) referrer: &'static str,
    pub(crate) product: Option<usize>,
    pub(crate) collection: Option<usize>,
    pub(crate) campaign: Option<&'static Campaign>,
    pub(crate) query: Option<&'static str>,
}

impl View {
    pub(crate) fn home() -> View {
        View {
            path: "/".into(),
            search: String::new(),
            title: format!("{BRAND} | Fine Jewelry"),
            name: "Home",
            referrer: "",
            product: None,
            collection: None,
            campaign: None,
            query: None,
        }
    }

    pub(crate) fn product(p: usize) -> View {
        let product = &PRODUCTS[p];
        View {
            path: format!("/products/{}", product.slug),
            title: format!("{} | {BRAND}", product.name),
            name: "Product",
            product: Some(p),
            collection: Some(product.collection),
            ..View::home()
        }
    }

    pub(crate) fn collection(c: usize) -> View {
        View {
            path: format!("/collections/{}", COLLECTIONS[c].slug),
            title: format!("{} | {BRAND}", COLLECTIONS[c].title),
            name: "Collection",
            collection: Some(c),
            ..View::home()
        }
    }

    pub(crate) fn content(i: usize) -> View {
        let (path, title, name) = CONTENT[i];
        View { path: path.into(), title: format!("{title} | {BRAND}"), name, ..View::home() }
    }

    pub(crate) fn service(path: &str, title: &str, name: &'static str) -> View {
        View { path: path.into(), title: format!("{title} | {BRAND}"), name, ..View::home() }
    }

    pub(crate) fn search(query: &'static str) -> View {
        View {
            path: "/search".into(),
            search: format!("?q={}", query.replace(' ', "+")),
            title: format!("Search: {query} | {BRAND}"),
            name: "Search",
            query: Some(query),
            ..View::home()
        }
    }

    pub(crate) fn screen_name(&self) -> &'static str {
        match self.name {
            "Product" => "Product Detail",
            "Cart" => "Bag",
            n => n,
        }
    }

    pub(crate) fn write_url(&self, buf: &mut String) {
        buf.push_str(ORIGIN);
        buf.push_str(&self.path);
        buf.push_str(&self.search);
    }
}

pub(crate) fn pick_collection(rng: &mut Rand, persona: Persona) -> usize {
    rng.weighted(persona.collection_weights())
}

pub(crate) fn pick_product_in(rng: &mut Rand, collection: usize) -> usize {
    let n = PRODUCTS.iter().filter(|p| p.collection == collection).count() as u64;
    let k = rng.below(n) as usize;
    PRODUCTS
        .iter()
        .enumerate()
        .filter(|(_, p)| p.collection == collection)
        .nth(k)
        .map(|(i, _)| i)
        .expect("every collection has products")
}

pub(crate) fn pick_product(rng: &mut Rand, persona: Persona) -> usize {
    let c = pick_collection(rng, persona);
    pick_product_in(rng, c)
}

/// The first page of a session: direct, organic referral or campaign.
pub(crate) fn landing(rng: &mut Rand, persona: Persona, first_session: bool, app: bool) -> View {
    if app {
        return View::home();
    }
    let campaign_share = if first_session { 0.30 } else { 0.08 };
    if rng.chance(campaign_share) {
        let c = rng.pick(CAMPAIGNS);
        let mut v = match c.landing {
            Some(col) => View::collection(col),
            None => View::home(),
        };
        v.search = format!("?utm_source={}&utm_medium={}&utm_campaign={}", c.source, c.medium, c.name);
        v.referrer = c.referrer;
        v.campaign = Some(c);
        return v;
    }
    if rng.chance(0.35) {
        return if rng.chance(0.6) { View::home() } else { View::product(pick_product(rng, persona)) };
    }
    let referrer = *rng.pick(REFERRERS);
    let r = rng.unit();
    let mut v = if r < 0.4 {
        View::product(pick_product(rng, persona))
    } else if r < 0.75 {
        View::collection(pick_collection(rng, persona))
    } else {
        View::content(rng.range(4, CONTENT.len() as i64 - 1) as usize)
    };
    v.referrer = referrer;
    v
}

/// The next page of a walk through the site.
/// `product_share` is the weight of product pages, against 0.45 for all the
/// other kinds of page together.
pub(crate) fn next_view(rng: &mut Rand, persona: Persona, product_share: f64, prev: &View) -> View {
    match rng.weighted(&[product_share, 0.22, 0.06, 0.09, 0.05, 0.03]) {
        0 => {
            let c = match prev.collection {
                Some(c) if rng.chance(0.7) => c,
                _ => pick_collection(rng, persona),
            };
            View::product(pick_product_in(rng, c))
        }
        1 => View::collection(pick_collection(rng, persona)),
        2 => View::home(),
        3 => View::content(rng.below(CONTENT.len() as u64) as usize),
        4 => View::search(*rng.pick(SEARCHES)),
        _ => View::service("/cart", "Your Bag", "Cart"),
    }
}
