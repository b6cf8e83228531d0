//! The fictional brand's site: products, collections, content pages, and the
//! pools of names, devices and campaigns that visitors are drawn from.

/// Site origin. The `.example` TLD is reserved, so no real site is named.
pub(crate) const ORIGIN: &str = "https://www.aurelle.example";
pub(crate) const BRAND: &str = "Aurelle";

pub(crate) struct Collection {
    pub slug: &'static str,
    pub title: &'static str,
}

pub(crate) const ENGAGEMENT: usize = 0;
pub(crate) const BANDS: usize = 1;
pub(crate) const BRIDAL: usize = 2;
pub(crate) const HIGH: usize = 3;
pub(crate) const NECKLACES: usize = 4;
pub(crate) const EARRINGS: usize = 5;
pub(crate) const BRACELETS: usize = 6;
pub(crate) const GIFTS: usize = 7;
pub(crate) const NEW: usize = 8;

#[rustfmt::skip]
pub(crate) const COLLECTIONS: &[Collection] = &[
    Collection { slug: "engagement-rings", title: "Engagement Rings" },
    Collection { slug: "wedding-bands", title: "Wedding Bands" },
    Collection { slug: "bridal", title: "The Bridal Edit" },
    Collection { slug: "high-jewelry", title: "High Jewelry" },
    Collection { slug: "necklaces", title: "Necklaces" },
    Collection { slug: "earrings", title: "Earrings" },
    Collection { slug: "bracelets", title: "Bracelets" },
    Collection { slug: "gifts-under-500", title: "Gifts Under $500" },
    Collection { slug: "new-arrivals", title: "New Arrivals" },
];

pub(crate) struct Product {
    pub slug: &'static str,
    pub name: &'static str,
    /// Price in US dollars.
    pub price: i64,
    pub collection: usize,
}

#[rustfmt::skip]
pub(crate) const PRODUCTS: &[Product] = &[
    Product { slug: "solitaire-engagement-ring-platinum", name: "Solitaire Engagement Ring in Platinum", price: 6800, collection: ENGAGEMENT },
    Product { slug: "oval-halo-engagement-ring", name: "Oval Halo Engagement Ring", price: 8900, collection: ENGAGEMENT },
    Product { slug: "three-stone-engagement-ring", name: "Three-Stone Engagement Ring", price: 11500, collection: ENGAGEMENT },
    Product { slug: "emerald-cut-engagement-ring", name: "Emerald-Cut Diamond Engagement Ring", price: 14200, collection: ENGAGEMENT },
    Product { slug: "vintage-milgrain-engagement-ring", name: "Vintage Milgrain Engagement Ring", price: 5400, collection: ENGAGEMENT },
    Product { slug: "pave-band-engagement-ring", name: "Pavé Band Engagement Ring", price: 7300, collection: ENGAGEMENT },
    Product { slug: "classic-wedding-band-18k", name: "Classic Wedding Band in 18k Gold", price: 1450, collection: BANDS },
    Product { slug: "diamond-eternity-band", name: "Diamond Eternity Band", price: 4200, collection: BANDS },
    Product { slug: "brushed-platinum-band", name: "Brushed Platinum Band", price: 1900, collection: BANDS },
    Product { slug: "bridal-pearl-drop-earrings", name: "Bridal Pearl Drop Earrings", price: 1250, collection: BRIDAL },
    Product { slug: "diamond-bridal-tiara", name: "Diamond Bridal Tiara", price: 9600, collection: BRIDAL },
    Product { slug: "sapphire-riviere-necklace", name: "Sapphire Rivière Necklace", price: 48000, collection: HIGH },
    Product { slug: "emerald-chandelier-earrings", name: "Emerald Chandelier Earrings", price: 36500, collection: HIGH },
    Product { slug: "ruby-cocktail-ring", name: "Ruby Cocktail Ring", price: 22800, collection: HIGH },
    Product { slug: "diamond-tennis-bracelet-10ct", name: "Diamond Tennis Bracelet, 10 ct", price: 29500, collection: HIGH },
    Product { slug: "pearl-strand-necklace", name: "Akoya Pearl Strand Necklace", price: 2400, collection: NECKLACES },
    Product { slug: "diamond-pendant-necklace", name: "Diamond Pendant Necklace", price: 1850, collection: NECKLACES },
    Product { slug: "gold-chain-necklace", name: "18k Gold Chain Necklace", price: 980, collection: NECKLACES },
    Product { slug: "diamond-stud-earrings-1ct", name: "Diamond Stud Earrings, 1 ct", price: 3200, collection: EARRINGS },
    Product { slug: "pearl-drop-earrings", name: "Pearl Drop Earrings", price: 890, collection: EARRINGS },
    Product { slug: "gold-hoop-earrings", name: "Gold Hoop Earrings", price: 650, collection: EARRINGS },
    Product { slug: "gold-bangle-bracelet", name: "Gold Bangle Bracelet", price: 1650, collection: BRACELETS },
    Product { slug: "tennis-bracelet-3ct", name: "Tennis Bracelet, 3 ct", price: 7800, collection: BRACELETS },
    Product { slug: "sterling-charm-bracelet", name: "Sterling Charm Bracelet", price: 320, collection: BRACELETS },
    Product { slug: "initial-pendant-gold", name: "Initial Pendant in Gold", price: 420, collection: GIFTS },
    Product { slug: "birthstone-studs", name: "Birthstone Studs", price: 290, collection: GIFTS },
    Product { slug: "sterling-stacking-ring", name: "Sterling Stacking Ring", price: 180, collection: GIFTS },
    Product { slug: "sculptural-gold-cuff", name: "Sculptural Gold Cuff", price: 3900, collection: NEW },
    Product { slug: "baroque-pearl-ring", name: "Baroque Pearl Ring", price: 1100, collection: NEW },
];

/// Editorial and service pages: (path, title, Segment page name).
#[rustfmt::skip]
pub(crate) const CONTENT: &[(&str, &str, &str)] = &[
    ("/pages/our-story", "Our Story", "About"),
    ("/pages/store-locator", "Find a Boutique", "Store Locator"),
    ("/pages/ring-size-guide", "Ring Size Guide", "Guide"),
    ("/pages/care-and-warranty", "Care & Warranty", "Service"),
    ("/blogs/journal/how-to-choose-an-engagement-ring", "How to Choose an Engagement Ring", "Journal"),
    ("/blogs/journal/lab-grown-vs-natural-diamonds", "Lab-Grown vs. Natural Diamonds", "Journal"),
    ("/blogs/journal/holiday-gift-guide-2026", "The 2026 Holiday Gift Guide", "Journal"),
    ("/blogs/journal/red-carpet-jewelry-trends", "Red Carpet Jewelry Trends", "Journal"),
];

pub(crate) const SEARCHES: &[&str] = &[
    "engagement ring",
    "oval ring",
    "pearl earrings",
    "tennis bracelet",
    "wedding band",
    "gold hoops",
    "sapphire",
    "gift for her",
    "diamond studs",
    "platinum ring",
];

pub(crate) const CATALOGS: &[&str] = &["The Bridal Collection 2026", "High Jewelry Lookbook", "Holiday Gifting 2026"];

pub(crate) const STORES: &[&str] =
    &["Madison Avenue", "Beverly Hills", "Miami Design District", "Chicago Oak Street", "Virtual Consultation"];

#[rustfmt::skip]
pub(crate) const FIRST_NAMES: &[&str] = &[
    "Olivia", "Emma", "Charlotte", "Amelia", "Sophia", "Isabella", "Mia", "Evelyn", "Harper",
    "Camila", "Grace", "Chloe", "Victoria", "Claire", "Elena", "Naomi", "Priya", "Aisha",
    "Liam", "Noah", "Oliver", "James", "Lucas", "Henry", "Theo", "Daniel", "Mateo", "Samuel",
    "Ethan", "Julian", "Arjun", "Kenji",
];

#[rustfmt::skip]
pub(crate) const LAST_NAMES: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker",
    "Hall", "Young", "Nguyen", "Patel", "Kim", "Rossi",
];

/// Reserved example domains: generated emails never reach a real mailbox.
pub(crate) const EMAIL_DOMAINS: &[&str] = &["example.com", "example.net", "example.org"];

#[rustfmt::skip]
pub(crate) const CITIES: &[&str] = &[
    "New York", "Los Angeles", "Chicago", "Miami", "Dallas", "San Francisco", "Boston",
    "Atlanta", "Seattle", "Houston",
];

/// Browser user agents with whether they are mobile.
#[rustfmt::skip]
pub(crate) const USER_AGENTS: &[(&str, bool)] = &[
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", false),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", false),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", false),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", true),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1", true),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", true),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0", false),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", false),
];

pub(crate) const LOCALES: &[(&str, f64)] =
    &[("en-US", 0.82), ("en-GB", 0.05), ("en-CA", 0.04), ("es-US", 0.04), ("fr-FR", 0.03), ("zh-CN", 0.02)];

/// First-octets of the (synthetic) visitor IP addresses.
pub(crate) const IP_PREFIXES: &[u8] = &[24, 47, 67, 68, 71, 73, 76, 98, 99, 104, 107, 108, 172, 174];

/// A marketing campaign: utm source, medium, name, and the referrer it sends.
pub(crate) struct Campaign {
    pub source: &'static str,
    pub medium: &'static str,
    pub name: &'static str,
    pub referrer: &'static str,
    /// Landing collection, if it lands on one (else the home page).
    pub landing: Option<usize>,
}

#[rustfmt::skip]
pub(crate) const CAMPAIGNS: &[Campaign] = &[
    Campaign { source: "google", medium: "cpc", name: "bridal-fall-2026", referrer: "https://www.google.com/", landing: Some(ENGAGEMENT) },
    Campaign { source: "google", medium: "cpc", name: "brand-search", referrer: "https://www.google.com/", landing: None },
    Campaign { source: "instagram", medium: "paid_social", name: "holiday-gifting-2026", referrer: "https://l.instagram.com/", landing: Some(GIFTS) },
    Campaign { source: "instagram", medium: "paid_social", name: "high-jewelry-gala", referrer: "https://l.instagram.com/", landing: Some(HIGH) },
    Campaign { source: "pinterest", medium: "social", name: "engagement-ring-guide", referrer: "https://www.pinterest.com/", landing: Some(BRIDAL) },
    Campaign { source: "newsletter", medium: "email", name: "the-edit-november", referrer: "", landing: Some(NEW) },
];

/// Organic referrers (no campaign).
pub(crate) const REFERRERS: &[&str] = &[
    "https://www.google.com/",
    "https://www.google.com/",
    "https://www.bing.com/",
    "https://www.instagram.com/",
    "https://www.pinterest.com/",
    "https://www.vogue.com/",
];

/// Mobile app environments: (library name, library version, os name, os version, device model).
#[rustfmt::skip]
pub(crate) const APPS: &[(&str, &str, &str, &str, &str)] = &[
    ("analytics-ios", "4.1.8", "iOS", "18.1", "iPhone16,2"),
    ("analytics-ios", "4.1.8", "iOS", "17.6", "iPhone15,3"),
    ("analytics-kotlin", "1.16.3", "Android", "14", "Pixel 8"),
    ("analytics-kotlin", "1.16.3", "Android", "13", "SM-S918U"),
];
pub(crate) const APP_VERSION: &str = "3.4.1";
