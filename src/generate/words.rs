//! The vocabulary products and reviews are written from.
//!
//! A product is a brand, a product line, maybe a series, a noun and a
//! variant of one [`Category`]; its reviews talk about the category's
//! aspects. Every aspect of a category suits every noun in it, and every
//! variant every noun, so any draw reads as a real listing.
//!
//! Templates fill `{x}` placeholders (see `Text::render` in the parent
//! module): `{n}` the product noun, `{d}` this/these, `{i}` it/they, `{o}`
//! it/them, `{v}` is/are, `{s}` a verb's third-person `s`, `{a}` an aspect
//! (a different one in each sentence of a review), `{g}` a word of praise,
//! `{b}` of complaint, `{m}` a mild complaint, `{t}` the review's one span
//! of time, `{w}` the reviewer's one relative, `{f}` the reviewer's first
//! name. A placeholder that starts a template is capitalized. Review text
//! is ASCII, so its length in bytes is its length in characters.

use super::photo::Shape;
use crate::model::Characteristic;

/// What a product is called in a review, and in its name.
pub struct Noun {
    /// As a review says it ("running shoes").
    pub word: &'static str,
    /// As the product's name says it ("Trail Running Shoes").
    pub title: &'static str,
    /// Whether it takes "they" and "these".
    pub plural: bool,
}

/// One variant of a product, and the colour its images are drawn in.
pub struct Variant {
    /// As the product's name ends (", Slate Gray").
    pub name: &'static str,
    /// A CSS colour.
    pub color: &'static str,
}

/// A kind of product: its nouns, its lines, its variants, and what
/// reviewers remark on.
pub struct Category {
    /// The category's display name.
    pub name: &'static str,
    /// Kinds of product in the category.
    pub nouns: &'static [Noun],
    /// Product lines: the word after the brand.
    pub lines: &'static [&'static str],
    /// Series after the line ("" for none).
    pub series: &'static [&'static str],
    /// Variants: the part of a name after the comma.
    pub variants: &'static [Variant],
    /// Parts or qualities reviewers talk about, each taking "is".
    pub aspects: &'static [&'static str],
    /// The characteristics its products are rated on, in the order their
    /// ids are given, each with the aspects whose words speak of it (a
    /// review's rating of it agrees with what its text says of them).
    pub characteristics: &'static [(Characteristic, &'static [&'static str])],
    /// How its pictures are drawn.
    pub shape: Shape,
}

const fn one(word: &'static str, title: &'static str) -> Noun {
    Noun {
        word,
        title,
        plural: false,
    }
}

const fn many(word: &'static str, title: &'static str) -> Noun {
    Noun {
        word,
        title,
        plural: true,
    }
}

const fn variant(name: &'static str, color: &'static str) -> Variant {
    Variant { name, color }
}

/// Series of products that come in generations.
const GENERATIONS: &[&str] = &[
    "", "", "", "", "2", "3", "4", "II", "Plus", "Lite", "Max", "X",
];
/// No series.
const NO_SERIES: &[&str] = &[""];

/// Every product belongs to one of these.
pub const CATEGORIES: &[Category] = &[
    Category {
        name: "Shoes",
        nouns: &[
            many("sneakers", "Sneakers"),
            many("running shoes", "Running Shoes"),
            many("hiking boots", "Hiking Boots"),
            many("sandals", "Sandals"),
            many("loafers", "Leather Loafers"),
            many("ankle boots", "Ankle Boots"),
        ],
        lines: &[
            "Trail",
            "Cloudstep",
            "Everyday",
            "Glide",
            "Metro",
            "Terra",
            "Stride",
            "Pace",
            "Ridge",
            "Drift",
        ],
        series: GENERATIONS,
        variants: &[
            variant("Black", "#2b2b2b"),
            variant("White", "#f1f1ee"),
            variant("Slate Gray", "#5d6d7e"),
            variant("Navy", "#1f3a5f"),
            variant("Olive", "#6b7040"),
            variant("Sand", "#c8b48a"),
            variant("Charcoal", "#3d4145"),
            variant("Brick Red", "#a4432f"),
            variant("Forest Green", "#2f5d3a"),
        ],
        aspects: &[
            "fit",
            "cushioning",
            "sole",
            "arch support",
            "sizing",
            "material",
            "grip",
            "comfort",
        ],
        characteristics: &[
            (Characteristic::Size, &["sizing"]),
            (Characteristic::Width, &["fit"]),
            (
                Characteristic::Comfort,
                &["comfort", "cushioning", "arch support"],
            ),
            (Characteristic::Quality, &["material", "sole", "grip"]),
        ],
        shape: Shape::Shoe,
    },
    Category {
        name: "Clothing",
        nouns: &[
            one("jacket", "Jacket"),
            one("hoodie", "Hoodie"),
            one("t-shirt", "Crew T-Shirt"),
            many("jeans", "Slim Jeans"),
            one("sweater", "Wool Sweater"),
            one("raincoat", "Raincoat"),
            one("flannel shirt", "Flannel Shirt"),
            many("chinos", "Chinos"),
        ],
        lines: &[
            "Classic",
            "Heritage",
            "Weekend",
            "Essential",
            "Coastal",
            "Studio",
            "Urban",
            "Harbor",
            "Meadow",
            "Foundry",
        ],
        series: NO_SERIES,
        variants: &[
            variant("Black", "#2b2b2b"),
            variant("Heather Gray", "#9a9ea3"),
            variant("Navy", "#1f3a5f"),
            variant("Burgundy", "#6d2334"),
            variant("Mustard", "#c99a2e"),
            variant("Cream", "#ece3cf"),
            variant("Olive", "#6b7040"),
            variant("Rust", "#a5532a"),
            variant("Sky Blue", "#7fb2d9"),
        ],
        aspects: &[
            "fabric",
            "fit",
            "stitching",
            "color",
            "sizing",
            "length",
            "softness",
            "cut",
        ],
        characteristics: &[
            (Characteristic::Fit, &["fit", "cut", "sizing"]),
            (Characteristic::Length, &["length"]),
            (Characteristic::Comfort, &["softness"]),
            (Characteristic::Quality, &["fabric", "stitching"]),
        ],
        shape: Shape::Shirt,
    },
    Category {
        name: "Audio",
        nouns: &[
            many("headphones", "Over-Ear Headphones"),
            many("earbuds", "Wireless Earbuds"),
            one("speaker", "Bluetooth Speaker"),
            one("soundbar", "Soundbar"),
            one("speaker", "Portable Speaker"),
            many("headphones", "Noise-Cancelling Headphones"),
        ],
        lines: &[
            "Pulse", "Aero", "Echo", "Nova", "Orbit", "Flux", "Wave", "Vector", "Tempo", "Halo",
        ],
        series: GENERATIONS,
        variants: &[
            variant("Black", "#2b2b2b"),
            variant("White", "#f1f1ee"),
            variant("Graphite", "#474a4f"),
            variant("Silver", "#b9bcc0"),
            variant("Midnight Blue", "#1d2b4f"),
            variant("Sage", "#9bab8c"),
            variant("Coral", "#e0735c"),
        ],
        aspects: &[
            "sound",
            "bass",
            "build quality",
            "Bluetooth connection",
            "setup",
            "volume range",
            "control layout",
            "clarity",
        ],
        characteristics: &[
            (Characteristic::Fit, &[]),
            (Characteristic::Comfort, &[]),
            (
                Characteristic::Quality,
                &["build quality", "sound", "clarity"],
            ),
        ],
        shape: Shape::Headphones,
    },
    Category {
        name: "Kitchen",
        nouns: &[
            one("blender", "Blender"),
            one("frying pan", "Nonstick Frying Pan"),
            one("kettle", "Electric Kettle"),
            one("knife set", "Knife Set"),
            one("coffee maker", "Drip Coffee Maker"),
            one("toaster", "2-Slice Toaster"),
            one("stand mixer", "Stand Mixer"),
            one("cutting board", "Cutting Board"),
        ],
        lines: &[
            "Artisan",
            "Compact",
            "Everyday",
            "Copper",
            "Precision",
            "Signature",
            "Classic",
            "Rapid",
            "Hearth",
            "Pantry",
        ],
        series: GENERATIONS,
        variants: &[
            variant("Stainless Steel", "#a9adb1"),
            variant("Matte Black", "#2b2b2b"),
            variant("Cream", "#ece3cf"),
            variant("Cherry Red", "#b3262e"),
            variant("Sage Green", "#8fa68a"),
            variant("Copper", "#b8733d"),
            variant("Cobalt Blue", "#2c4f9e"),
        ],
        aspects: &[
            "build quality",
            "cleanup",
            "design",
            "finish",
            "size",
            "weight",
            "durability",
        ],
        characteristics: &[
            (Characteristic::Size, &["size"]),
            (Characteristic::Comfort, &[]),
            (
                Characteristic::Quality,
                &["build quality", "durability", "finish"],
            ),
        ],
        shape: Shape::Kettle,
    },
    Category {
        name: "Home Decor",
        nouns: &[
            one("lamp", "Table Lamp"),
            one("floor lamp", "Floor Lamp"),
            one("mirror", "Wall Mirror"),
            one("bookshelf", "Bookshelf"),
            one("side table", "Side Table"),
            one("wall clock", "Wall Clock"),
        ],
        lines: &[
            "Haven", "Nordic", "Loft", "Modern", "Arc", "Oakley", "Prairie", "Linden", "Mesa",
            "Bexley",
        ],
        series: NO_SERIES,
        variants: &[
            variant("Natural Oak", "#c19a6b"),
            variant("Walnut", "#5c4033"),
            variant("White", "#f1f1ee"),
            variant("Charcoal", "#3d4145"),
            variant("Brass", "#b5a642"),
            variant("Terracotta", "#c4663a"),
            variant("Ivory", "#f3ecd8"),
        ],
        aspects: &[
            "finish",
            "color",
            "size",
            "sturdiness",
            "design",
            "material quality",
        ],
        characteristics: &[
            (Characteristic::Size, &["size"]),
            (Characteristic::Width, &[]),
            (
                Characteristic::Quality,
                &["finish", "sturdiness", "material quality"],
            ),
        ],
        shape: Shape::Lamp,
    },
    Category {
        name: "Bedding",
        nouns: &[
            one("pillow", "Down-Alternative Pillow"),
            one("blanket", "Throw Blanket"),
            one("duvet cover", "Duvet Cover"),
            one("sheet set", "Sheet Set"),
            one("quilt", "Quilt"),
            one("weighted blanket", "Weighted Blanket"),
        ],
        lines: &[
            "Cozy", "Linen", "Cloud", "Dream", "Hearth", "Cottage", "Willow", "Serene", "Nest",
            "Lull",
        ],
        series: NO_SERIES,
        variants: &[
            variant("White", "#f1f1ee"),
            variant("Dusty Rose", "#c9959a"),
            variant("Sage", "#9bab8c"),
            variant("Slate Blue", "#5a6f8e"),
            variant("Oatmeal", "#d8ccb4"),
            variant("Charcoal", "#3d4145"),
            variant("Mustard", "#c99a2e"),
        ],
        aspects: &[
            "softness",
            "warmth",
            "stitching",
            "color",
            "size",
            "washability",
        ],
        characteristics: &[
            (Characteristic::Size, &["size"]),
            (Characteristic::Length, &[]),
            (Characteristic::Comfort, &["softness", "warmth"]),
            (Characteristic::Quality, &["stitching", "washability"]),
        ],
        shape: Shape::Pillow,
    },
    Category {
        name: "Bags",
        nouns: &[
            one("backpack", "Backpack"),
            one("duffel bag", "Duffel Bag"),
            one("daypack", "Daypack"),
            one("messenger bag", "Messenger Bag"),
            one("weekender bag", "Weekender Bag"),
            one("laptop bag", "Laptop Bag"),
        ],
        lines: &[
            "Commuter", "Voyager", "Transit", "Nomad", "Field", "Atlas", "Harbor", "Courier",
            "Venture", "Roam",
        ],
        series: GENERATIONS,
        variants: &[
            variant("Black", "#2b2b2b"),
            variant("Olive", "#6b7040"),
            variant("Navy", "#1f3a5f"),
            variant("Tan", "#b38b5d"),
            variant("Charcoal", "#3d4145"),
            variant("Burnt Orange", "#c8602a"),
            variant("Stone Gray", "#8d8f8a"),
        ],
        aspects: &[
            "strap comfort",
            "zipper",
            "capacity",
            "weight",
            "durability",
            "pocket layout",
            "water resistance",
        ],
        characteristics: &[
            (Characteristic::Size, &["capacity"]),
            (Characteristic::Width, &[]),
            (Characteristic::Comfort, &["strap comfort"]),
            (
                Characteristic::Quality,
                &["zipper", "durability", "water resistance"],
            ),
        ],
        shape: Shape::Backpack,
    },
    Category {
        name: "Outdoors",
        nouns: &[
            one("tent", "2-Person Tent"),
            one("sleeping bag", "Sleeping Bag"),
            one("camping chair", "Camping Chair"),
            one("hammock", "Hammock"),
            one("sleeping pad", "Sleeping Pad"),
            many("trekking poles", "Trekking Poles"),
        ],
        lines: &[
            "Trek",
            "Basecamp",
            "Ultralight",
            "Ranger",
            "Expedition",
            "Canyon",
            "Alpine",
            "Summit",
            "Backcountry",
            "Tundra",
        ],
        series: GENERATIONS,
        variants: &[
            variant("Forest Green", "#2f5d3a"),
            variant("Orange", "#e07b2a"),
            variant("Sky Blue", "#7fb2d9"),
            variant("Olive", "#6b7040"),
            variant("Sand", "#c8b48a"),
            variant("Red", "#b8322a"),
        ],
        aspects: &[
            "weight",
            "durability",
            "setup",
            "packed size",
            "comfort",
            "material",
        ],
        characteristics: &[
            (Characteristic::Size, &["packed size"]),
            (Characteristic::Fit, &[]),
            (Characteristic::Comfort, &["comfort"]),
            (Characteristic::Quality, &["durability", "material"]),
        ],
        shape: Shape::Tent,
    },
    Category {
        name: "Skin Care",
        nouns: &[
            one("moisturizer", "Moisturizer"),
            one("face serum", "Face Serum"),
            one("lip balm", "Lip Balm"),
            one("sunscreen", "Sunscreen SPF 50"),
            one("hand cream", "Hand Cream"),
            one("cleanser", "Foaming Cleanser"),
            one("body lotion", "Body Lotion"),
        ],
        lines: &[
            "Hydra",
            "Pure",
            "Radiance",
            "Botanical",
            "Restore",
            "Glow",
            "Calm",
            "Clarity",
            "Dew",
            "Bloom",
        ],
        series: NO_SERIES,
        variants: &[
            variant("Travel Size", "#e8c6c0"),
            variant("Full Size", "#cfe0d4"),
            variant("Value Size", "#d9d2ea"),
            variant("2-Pack", "#f2dcb3"),
            variant("3-Pack", "#c7dbe8"),
        ],
        aspects: &[
            "scent",
            "texture",
            "packaging",
            "consistency",
            "absorption",
            "finish",
        ],
        characteristics: &[
            (Characteristic::Size, &[]),
            (Characteristic::Comfort, &["texture"]),
            (
                Characteristic::Quality,
                &["consistency", "absorption", "finish"],
            ),
        ],
        shape: Shape::Tube,
    },
    Category {
        name: "Games & Puzzles",
        nouns: &[
            one("puzzle", "Jigsaw Puzzle"),
            one("board game", "Board Game"),
            one("building set", "Building Set"),
            one("card game", "Card Game"),
            one("strategy game", "Strategy Game"),
            one("trivia game", "Trivia Game"),
        ],
        lines: &[
            "Explorer",
            "Galaxy",
            "Jungle",
            "Castle",
            "Ocean",
            "Dino",
            "Rainbow",
            "Robot",
            "Safari",
            "Starlight",
        ],
        series: NO_SERIES,
        variants: &[
            variant("Family Edition", "#e3a53b"),
            variant("Travel Edition", "#4f9bd9"),
            variant("Deluxe Edition", "#8e4fa3"),
            variant("Classic Edition", "#c2473a"),
            variant("Anniversary Edition", "#2f8f6b"),
        ],
        aspects: &[
            "piece quality",
            "rulebook",
            "box",
            "artwork",
            "replay value",
            "difficulty",
        ],
        characteristics: &[
            (Characteristic::Size, &[]),
            (Characteristic::Length, &[]),
            (
                Characteristic::Quality,
                &["piece quality", "box", "artwork"],
            ),
        ],
        shape: Shape::Puzzle,
    },
    Category {
        name: "Drinkware",
        nouns: &[
            one("water bottle", "Insulated Water Bottle"),
            one("travel mug", "Travel Mug"),
            one("tumbler", "Tumbler"),
            one("flask", "Vacuum Flask"),
            one("sports bottle", "Sports Bottle"),
        ],
        lines: &[
            "Trek", "Hydro", "Summit", "Everyday", "Glacier", "Canyon", "Harbor", "Tidal",
            "Cascade", "Frost",
        ],
        series: GENERATIONS,
        variants: &[
            variant("Stainless Steel", "#a9adb1"),
            variant("Matte Black", "#2b2b2b"),
            variant("Seafoam", "#7fc3b0"),
            variant("Coral", "#e0735c"),
            variant("Lilac", "#b59fd1"),
            variant("Forest Green", "#2f5d3a"),
            variant("Sunflower", "#e8b923"),
        ],
        aspects: &["insulation", "lid", "seal", "grip", "finish", "capacity"],
        characteristics: &[
            (Characteristic::Size, &["capacity"]),
            (Characteristic::Comfort, &["grip"]),
            (Characteristic::Quality, &["insulation", "seal", "lid"]),
        ],
        shape: Shape::Bottle,
    },
];

/// How a centred characteristic is off, as in "they run small": by kind,
/// on the `high` side (too big, wide, long or loose) or the low one.
pub fn runs(kind: Characteristic, high: bool) -> &'static str {
    let (low_word, high_word) = match kind {
        Characteristic::Size => ("small", "large"),
        Characteristic::Width => ("narrow", "wide"),
        Characteristic::Length => ("short", "long"),
        _ => ("tight", "loose"),
    };
    if high { high_word } else { low_word }
}

/// Brands: the first words of product names.
pub const BRANDS: &[&str] = &[
    "Northwind",
    "Kestrel",
    "Alder & Pine",
    "Brightwater",
    "Copperline",
    "Fieldstone",
    "Harbor & Vine",
    "Ironbark",
    "Juniper Lane",
    "Larkspur",
    "Lumen",
    "Maple Row",
    "Meridian",
    "Nimbus",
    "Oakhaven",
    "Pinecrest",
    "Quill",
    "Redwood Supply",
    "Saltmarsh",
    "Silverline",
    "Solstice",
    "Stonebridge",
    "Tidewater",
    "Trailhead",
    "Vireo",
    "Wildwood",
    "Wren & Co.",
    "Zephyr",
    "Bluebird",
    "Cobalt",
    "Evergreen",
    "Foxglove",
    "Granite Peak",
    "Hollow Oak",
    "Ivy & Ash",
    "Blue Heron",
    "Arbor",
    "Driftwood",
    "Ember",
    "Fable",
    "Halcyon",
    "Marlow",
    "Orchard",
    "Pebble",
    "Rook",
    "Sparrow",
    "Thistle",
    "Westerly",
];

/// Praise that suits any aspect ("The sound is excellent").
pub const ADJ_GOOD: &[&str] = &[
    "excellent",
    "great",
    "fantastic",
    "superb",
    "impressive",
    "outstanding",
    "top-notch",
    "really good",
];
/// Complaints that suit any aspect ("The zipper is poor").
pub const ADJ_BAD: &[&str] = &[
    "poor",
    "disappointing",
    "underwhelming",
    "subpar",
    "mediocre",
    "terrible",
];
/// Mild complaints, after "a little" ("a little weak").
pub const ADJ_MILD: &[&str] = &[
    "weak",
    "off",
    "inconsistent",
    "underwhelming",
    "disappointing",
];

/// Spans of time a product has been used: up to [`SHORT_TIMES`] of them are
/// short (a return is still plausible), the rest long.
pub const TIMES: &[&str] = &[
    "a few days",
    "a week",
    "two weeks",
    "a month",
    "three months",
    "six months",
    "a year",
    "two years",
];
/// How many of [`TIMES`] are short.
pub const SHORT_TIMES: usize = 3;
/// People a reviewer mentions.
pub const WHO: &[&str] = &[
    "wife",
    "husband",
    "son",
    "daughter",
    "mom",
    "dad",
    "partner",
    "best friend",
    "roommate",
];

/// How a review may open (nothing about how the product held up).
pub const OPENERS: &[&str] = &[
    "I ordered {d} {n} after reading a lot of reviews.",
    "I picked {d} {n} up on sale.",
    "I had been looking at {d} {n} for a while before ordering.",
    "A friend recommended {d} {n} to me.",
    "This is my second purchase from this brand.",
    "I needed a replacement and chose {d} {n}.",
    "I compared a few options and went with {d} {n}.",
];

/// Praise of one aspect.
pub const GOOD_ASPECT: &[&str] = &[
    "The {a} is {g}.",
    "The {a} is {g}, exactly what I was hoping for.",
    "The {a} exceeded my expectations.",
    "I am really impressed with the {a}.",
    "No complaints about the {a} at all.",
    "The {a} is better than on pricier brands I have tried.",
    "Really happy with the {a}.",
    "The {a} stood out right away.",
    "The {a} is spot on.",
    "I love the {a}.",
];
/// Praise of the whole product.
pub const GOOD_GENERAL: &[&str] = &[
    "Shipping was quick and {i} arrived well packaged.",
    "Great value for the price.",
    "{i} look{s} even better in person.",
    "Everyone who sees {o} asks where I got {o}.",
    "Honestly the best {n} I have owned in years.",
    "Quality feels much higher than the price suggests.",
    "The photos on the product page are accurate.",
    "{i} feel{s} solid and well made.",
    "You can tell a lot of thought went into the design.",
    "{d} {n} did exactly what I needed.",
    "Easily one of my favorite purchases.",
    "My {w} borrows {o} all the time.",
    "I was skeptical at first, but {i} won me over.",
    "It was a nice surprise how well made {i} {v}.",
];
/// Lukewarm words on one aspect.
pub const MIXED_ASPECT: &[&str] = &[
    "The {a} is okay, nothing special.",
    "The {a} is fine, but I expected more for the price.",
    "The {a} could be better.",
    "The {a} is decent, if a bit ordinary.",
    "I have mixed feelings about the {a}.",
    "The {a} took some getting used to.",
];
/// Lukewarm words on the whole product.
pub const MIXED_GENERAL: &[&str] = &[
    "I expected a bit more for the price.",
    "{d} {n} {v} decent if you keep your expectations in check.",
    "Some things I like, some I don't.",
    "{i} get{s} the job done, nothing more.",
    "Not bad, but not great either.",
    "There are better options at this price, but also worse ones.",
    "Quality is fine for everyday use.",
    "My {w} likes {o} more than I do.",
];
/// Small complaints about one aspect; the first [`ONLY_GRIPES`] say it is
/// the only one, so only a review with a single complaint uses them.
pub const GRIPES: &[&str] = &[
    "The only downside is the {a}, which could be better.",
    "My one small complaint is the {a}.",
    "The {a} is a little {m}, but not a dealbreaker.",
    "I wish the {a} were a bit better.",
];
/// How many of [`GRIPES`] say the complaint is the only one.
pub const ONLY_GRIPES: usize = 2;
/// Complaints about one aspect.
pub const BAD_ASPECT: &[&str] = &[
    "The {a} is {b}.",
    "The {a} is honestly {b}.",
    "I was disappointed by the {a}.",
    "The {a} is much worse than the photos suggest.",
    "Customer service was slow to respond when I asked about the {a}.",
    "The {a} was a problem from day one.",
    "The {a} is nothing like what was advertised.",
    "I cannot get used to the {a}.",
];
/// Complaints about the whole product.
pub const BAD_GENERAL: &[&str] = &[
    "Unfortunately {d} {n} did not live up to the description.",
    "Not worth the price.",
    "The quality is not what I expected from this brand.",
    "The package arrived damaged.",
    "{i} feel{s} cheaply made.",
    "I expected much better for the money.",
    "Even my {w} thought {i} looked cheap.",
    "I regret this purchase.",
];

/// How a happy reviewer's product held up: after a short span, a long one.
pub const USE_GOOD: [&[&str]; 2] = [
    &[
        "I have only had {o} for {t}, but so far {i} {v} great.",
        "After {t} of use, so far so good.",
    ],
    &[
        "I have been using {d} {n} for {t} and {i} still look{s} great.",
        "After {t} of regular use I have no complaints.",
        "{t} in, {i} still work{s} like new.",
        "I have had {o} for {t} now and {i} {v} holding up well.",
    ],
];
/// How a lukewarm reviewer's product held up.
pub const USE_MIXED: [&[&str]; 2] = [
    &[
        "After {t}, I am still not sure how I feel about {o}.",
        "I have had {o} for {t}, and the jury is still out.",
    ],
    &[
        "After {t}, {i} {v} starting to show some wear.",
        "{t} in, {i} {v} holding up, but only just.",
    ],
];
/// How an unhappy reviewer's product held up.
pub const USE_BAD: [&[&str]; 2] = [
    &[
        "I returned {o} after {t}.",
        "I sent {o} back after {t}.",
        "After {t}, I gave up on {o}.",
    ],
    &[
        "After {t}, I gave up on {o}.",
        "{t} in, {i} already look{s} worn out.",
    ],
];

/// How a review ends, by stars (1..=5) and whether the reviewer recommends
/// the product: `CLOSINGS[stars - 1][recommend as usize]`.
pub const CLOSINGS: [[&[&str]; 2]; 5] = [
    [
        &[
            "Would not recommend.",
            "I would not buy {o} again.",
            "Save your money.",
            "Look elsewhere.",
        ],
        &[
            "{i} did not work for me, but {i} might work for you.",
            "Still, I know others love {o}, so I would not steer anyone away.",
        ],
    ],
    [
        &[
            "Would not recommend.",
            "I would not buy {o} again.",
            "I cannot recommend {o}.",
        ],
        &[
            "{i} did not work for me, but {i} might work for you.",
            "Still, I know others love {o}, so I would not steer anyone away.",
        ],
    ],
    [
        &[
            "I would not recommend {o} at this price.",
            "I would look elsewhere.",
            "I cannot really recommend {o}.",
        ],
        &[
            "For the price, I would still recommend {o}.",
            "Not perfect, but I would still recommend {o}.",
            "Good enough that I would recommend {o} for casual use.",
        ],
    ],
    [
        &[
            "I like {o}, but I cannot recommend {o} at this price.",
            "Good, but wait for a sale before you buy.",
            "Fine for me, but I would not recommend {o} to everyone.",
        ],
        &[
            "I would recommend {o}.",
            "Overall a solid buy, and I would recommend {o}.",
            "I would happily buy {o} again.",
        ],
    ],
    [
        &[
            "I love {o}, but I cannot recommend {o} at this price.",
            "Great for me, but I would not recommend {o} to everyone.",
        ],
        &[
            "I highly recommend {o}.",
            "I would buy {o} again in a heartbeat.",
            "Would recommend to anyone.",
            "I would recommend {d} {n} to a friend without hesitation.",
        ],
    ],
];

/// Headlines, by stars and recommendation like [`CLOSINGS`].
pub const SUMMARIES: [[&[&str]; 2]; 5] = [
    [
        &[
            "Very disappointed",
            "Waste of money",
            "Do not buy",
            "Poor quality {n}",
            "One star",
            "Avoid",
        ],
        &["Not for me", "Did not work for me", "One star, sadly"],
    ],
    [
        &[
            "Disappointed",
            "Not worth the money",
            "Below average",
            "Expected more",
            "Would not buy again",
            "Not great",
        ],
        &[
            "Not great",
            "Could be better",
            "Below expectations",
            "Has its flaws",
        ],
    ],
    [
        &[
            "It's okay",
            "Mixed feelings",
            "Average {n}",
            "Not quite what I hoped",
            "Just okay",
        ],
        &[
            "Decent for the price",
            "Does the job",
            "Good but not great",
            "It's okay",
            "Fine for everyday use",
        ],
    ],
    [
        &[
            "Good, but pricey",
            "Very good {n}",
            "Almost perfect",
            "Nice, but not for everyone",
            "Four stars",
        ],
        &[
            "Very good {n}",
            "Almost perfect",
            "Solid choice",
            "Four stars",
            "Good value",
            "Would buy again",
            "Happy with {d} {n}",
            "Really nice {n}",
        ],
    ],
    [
        &[
            "Love it, but pricey",
            "Great {n}, with a caveat",
            "Excellent quality",
            "Five stars for me",
            "Exactly as described",
        ],
        &[
            "Love it!",
            "Five stars",
            "Exactly as described",
            "Excellent quality",
            "Best purchase this year",
            "Highly recommend",
            "Worth every penny",
            "Would buy again",
            "{g} {n}",
            "Absolutely love {d} {n}",
            "Perfect {n}",
        ],
    ],
];

/// Seller answers to happy reviewers (4-5 stars).
pub const RESPONSE_GOOD: &[&str] = &[
    "Thank you for your review, {f}! We are glad you enjoy the {n}.",
    "Thanks so much, {f}. Reviews like yours make our day!",
    "Hi {f}, we appreciate you taking the time to share your experience.",
    "Thank you, {f}! We are so happy {d} {n} {v} working out for you.",
];
/// Seller answers to lukewarm reviewers (3 stars).
pub const RESPONSE_MIXED: &[&str] = &[
    "Thanks for the honest feedback, {f}. We are always working to improve.",
    "Hi {f}, thank you for sharing your thoughts. Our support team is happy to help if anything is not right.",
];
/// Seller answers to unhappy reviewers (1-2 stars); `{a}` is an aspect the
/// reviewer complained about.
pub const RESPONSE_BAD: &[&str] = &[
    "Hi {f}, we are sorry to hear about the {a}. Please contact our support team and we will make it right.",
    "We apologize for the trouble with the {a}, {f}. Please reach out so we can arrange a refund or replacement.",
    "Thank you for the honest feedback, {f}. We have shared your notes on the {a} with our product team.",
];
/// Seller answers to unhappy reviewers who named no aspect.
pub const RESPONSE_BAD_GENERAL: &[&str] = &[
    "Hi {f}, we are sorry to hear this. Please contact our support team and we will make it right.",
    "We apologize for the trouble, {f}. Please reach out so we can arrange a refund or replacement.",
];

/// First names with their email-safe spelling.
pub const FIRST: &[(&str, &str)] = &[
    ("James", "james"),
    ("Mary", "mary"),
    ("Robert", "robert"),
    ("Patricia", "patricia"),
    ("John", "john"),
    ("Jennifer", "jennifer"),
    ("Michael", "michael"),
    ("Linda", "linda"),
    ("David", "david"),
    ("Elizabeth", "elizabeth"),
    ("William", "william"),
    ("Barbara", "barbara"),
    ("Richard", "richard"),
    ("Susan", "susan"),
    ("Joseph", "joseph"),
    ("Jessica", "jessica"),
    ("Thomas", "thomas"),
    ("Sarah", "sarah"),
    ("Chris", "chris"),
    ("Karen", "karen"),
    ("Daniel", "daniel"),
    ("Nancy", "nancy"),
    ("Matthew", "matthew"),
    ("Lisa", "lisa"),
    ("Anthony", "anthony"),
    ("Betty", "betty"),
    ("Mark", "mark"),
    ("Sandra", "sandra"),
    ("José", "jose"),
    ("Zoë", "zoe"),
    ("Björn", "bjorn"),
    ("Chloé", "chloe"),
    ("Renée", "renee"),
    ("Søren", "soren"),
    ("Łukasz", "lukasz"),
    ("Hiroshi", "hiroshi"),
    ("Priya", "priya"),
    ("Ngozi", "ngozi"),
    ("Mateo", "mateo"),
    ("Aisha", "aisha"),
    ("Wei", "wei"),
    ("Olga", "olga"),
    ("Diego", "diego"),
    ("Fatima", "fatima"),
    ("Liam", "liam"),
    ("Emma", "emma"),
    ("Noah", "noah"),
    ("Olivia", "olivia"),
    ("Ava", "ava"),
    ("Lucas", "lucas"),
    ("Mia", "mia"),
    ("Ethan", "ethan"),
];
/// Last names with their email-safe spelling.
pub const LAST: &[(&str, &str)] = &[
    ("Smith", "smith"),
    ("Johnson", "johnson"),
    ("Williams", "williams"),
    ("Brown", "brown"),
    ("Jones", "jones"),
    ("Garcia", "garcia"),
    ("Miller", "miller"),
    ("Davis", "davis"),
    ("Rodriguez", "rodriguez"),
    ("Martinez", "martinez"),
    ("Hernández", "hernandez"),
    ("Lopez", "lopez"),
    ("Wilson", "wilson"),
    ("Anderson", "anderson"),
    ("Taylor", "taylor"),
    ("Moore", "moore"),
    ("Jackson", "jackson"),
    ("Martin", "martin"),
    ("Lee", "lee"),
    ("Thompson", "thompson"),
    ("White", "white"),
    ("Müller", "mueller"),
    ("Nguyen", "nguyen"),
    ("Kowalski", "kowalski"),
    ("Okafor", "okafor"),
    ("Tanaka", "tanaka"),
    ("Patel", "patel"),
    ("Ivanova", "ivanova"),
    ("O'Brien", "obrien"),
    ("Johansson", "johansson"),
];
/// Mail domains.
pub const DOMAINS: &[&str] = &[
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "proton.me",
    "aol.com",
    "fastmail.com",
];
