//! The vocabulary generated reviews are written from. Product categories
//! give each product a noun and the aspects its reviews talk about.

/// A kind of product: what it is called and what reviewers remark on.
pub struct Category {
    /// Names a product of this kind can have.
    pub nouns: &'static [&'static str],
    /// Parts or qualities reviewers talk about.
    pub aspects: &'static [&'static str],
}

/// Every product belongs to one of these.
pub const CATEGORIES: &[Category] = &[
    Category {
        nouns: &[
            "sneakers",
            "running shoes",
            "boots",
            "sandals",
            "loafers",
            "hiking boots",
        ],
        aspects: &[
            "fit",
            "cushioning",
            "sole",
            "arch support",
            "sizing",
            "material",
            "grip",
        ],
    },
    Category {
        nouns: &[
            "jacket", "hoodie", "t-shirt", "jeans", "sweater", "raincoat", "dress",
        ],
        aspects: &[
            "fabric",
            "fit",
            "stitching",
            "color",
            "sizing",
            "zipper",
            "pockets",
        ],
    },
    Category {
        nouns: &[
            "headphones",
            "speaker",
            "charger",
            "keyboard",
            "mouse",
            "webcam",
            "earbuds",
        ],
        aspects: &[
            "battery life",
            "sound",
            "build quality",
            "connection",
            "setup",
            "buttons",
        ],
    },
    Category {
        nouns: &[
            "blender",
            "frying pan",
            "kettle",
            "knife set",
            "coffee maker",
            "toaster",
        ],
        aspects: &[
            "handle", "heating", "cleanup", "design", "lid", "blade", "power",
        ],
    },
    Category {
        nouns: &[
            "lamp",
            "pillow",
            "blanket",
            "rug",
            "desk chair",
            "bookshelf",
            "mirror",
        ],
        aspects: &[
            "assembly",
            "color",
            "size",
            "softness",
            "finish",
            "sturdiness",
        ],
    },
    Category {
        nouns: &[
            "backpack",
            "tent",
            "water bottle",
            "sunglasses",
            "camping stove",
            "cooler",
        ],
        aspects: &[
            "straps",
            "weight",
            "durability",
            "seal",
            "capacity",
            "lenses",
        ],
    },
    Category {
        nouns: &[
            "moisturizer",
            "shampoo",
            "face serum",
            "lip balm",
            "sunscreen",
            "hair dryer",
        ],
        aspects: &["scent", "texture", "packaging", "results", "consistency"],
    },
    Category {
        nouns: &[
            "puzzle",
            "board game",
            "building set",
            "plush toy",
            "kite",
            "card game",
        ],
        aspects: &["pieces", "instructions", "box", "artwork", "replay value"],
    },
];

/// Words that praise.
pub const ADJ_GOOD: &[&str] = &[
    "sturdy",
    "comfortable",
    "excellent",
    "solid",
    "beautiful",
    "fantastic",
    "reliable",
    "impressive",
    "sleek",
    "perfect",
    "well designed",
    "great",
];
/// Words that complain.
pub const ADJ_BAD: &[&str] = &[
    "flimsy",
    "uncomfortable",
    "poor",
    "awkward",
    "disappointing",
    "cheap",
    "fragile",
    "underwhelming",
];
/// Spans of time.
pub const TIMES: &[&str] = &[
    "a few days",
    "a week",
    "two weeks",
    "a month",
    "three months",
    "six months",
    "a year",
];
/// People a product is bought for.
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

/// Sentence templates, by sentiment; `{n}` noun, `{a}` aspect, `{g}` good
/// adjective, `{b}` bad adjective, `{t}` time, `{w}` who.
pub const GOOD: &[&str] = &[
    "I have been using the {n} for {t} and it still looks great.",
    "The {a} is {g}, exactly what I was hoping for.",
    "Bought this for my {w} and they love it.",
    "Shipping was quick and the {n} arrived well packaged.",
    "Honestly the best {n} I have owned in years.",
    "The {a} exceeded my expectations.",
    "Great value for the price.",
    "I would definitely buy this {n} again.",
    "Everyone who sees it asks where I got it.",
    "The {a} feels {g} and well made.",
    "After {t} of daily use I have no complaints at all.",
    "It fits perfectly into my routine.",
];
/// Lukewarm sentences.
pub const MIXED: &[&str] = &[
    "The {a} is okay, nothing special.",
    "It does what it says, but the {a} could be better.",
    "I expected a bit more for the price.",
    "After {t} the {a} started to show some wear.",
    "It is a decent {n} if you keep your expectations in check.",
    "The color is slightly different from the pictures.",
    "Instructions were a little confusing at first.",
    "My {w} likes it more than I do.",
];
/// Unhappy sentences.
pub const BAD: &[&str] = &[
    "The {a} broke after {t}.",
    "Unfortunately the {n} did not live up to the description.",
    "The {a} feels {b} and cheap.",
    "I returned it after {t}.",
    "Customer service was slow to respond when I asked about the {a}.",
    "Would not recommend this {n} to a friend.",
    "It stopped working after {t}, which was disappointing.",
    "The {a} is {b}, and it shows.",
];

/// Headlines, by sentiment.
pub const SUMMARY_GOOD: &[&str] = &[
    "Love it!",
    "Great {n}",
    "Exactly as described",
    "Would buy again",
    "Five stars",
    "Excellent quality",
    "Best purchase this year",
    "Highly recommend",
    "Super {g} {n}",
    "Worth every penny",
];
/// Lukewarm headlines.
pub const SUMMARY_MIXED: &[&str] = &[
    "It's okay",
    "Decent for the price",
    "Good but not great",
    "Does the job",
    "Mixed feelings",
    "Average {n}",
    "The {a} could be better",
];
/// Unhappy headlines.
pub const SUMMARY_BAD: &[&str] = &[
    "Disappointed",
    "Not worth the money",
    "Broke quickly",
    "Would not buy again",
    "Poor quality {n}",
    "Returned it",
    "The {a} is {b}",
];

/// Seller answers to happy reviewers; `{f}` is the reviewer's first name.
pub const RESPONSE_GOOD: &[&str] = &[
    "Thank you for your review, {f}! We are glad you enjoy the {n}.",
    "Thanks so much, {f}. Reviews like yours make our day!",
    "Hi {f}, we appreciate you taking the time to share your experience with the {a}.",
];
/// Seller answers to unhappy reviewers.
pub const RESPONSE_BAD: &[&str] = &[
    "Hi {f}, we are sorry to hear about the {a}. Please contact our support team and we will make it right.",
    "We apologize for the trouble, {f}. A replacement {n} is on its way to you.",
    "Thank you for the honest feedback, {f}. We have shared your notes on the {a} with our product team.",
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
