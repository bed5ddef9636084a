//! Parsing `POST /reviews/:product_id` bodies into a [`NewReview`]: malformed
//! JSON, and an object with the same key twice, is a 400; valid JSON with
//! unknown, missing, mistyped or out-of-range fields is a 422 naming the
//! field.
//!
//! Text hygiene: `summary`, `name` and `body` refuse control characters
//! (C0, DEL and C1: NUL, BEL, ESC, …; `body` may hold line breaks and
//! tabs), and text made only of invisible characters — spaces, zero-width
//! and other format characters, fillers — and combining marks with no
//! letter to sit on (a lone U+0301 shows as nothing) counts as blank.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::model::{Characteristic, NewReview, limits};

const FIELDS: [&str; 8] = [
    "rating",
    "summary",
    "body",
    "recommend",
    "name",
    "email",
    "photos",
    "characteristics",
];

/// Parses and validates a request body.
pub fn parse(body: &[u8]) -> Result<NewReview, ApiError> {
    let fields = object(body)?;
    if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::unprocessable(format!(
            "unknown field `{}`; expected {}",
            shorten(unknown),
            FIELDS.join(", ")
        )));
    }
    let rating = rating(required(&fields, "rating")?, false)?;
    let recommend = recommend(&fields)?;
    let summary = text(&fields, "summary", limits::SUMMARY, false)?;
    let body = text(&fields, "body", limits::BODY, true)?;
    let name = text(&fields, "name", limits::NAME, false)?;
    let email = email(required(&fields, "email")?)?;
    let photos = match fields.get("photos") {
        None => Vec::new(),
        Some(value) => photos(value)?,
    };
    let characteristics = match fields.get("characteristics") {
        None => Vec::new(),
        Some(value) => characteristics(value, false)?,
    };
    Ok(NewReview {
        rating,
        summary,
        body,
        recommend,
        name,
        email,
        photos,
        characteristics,
    })
}

/// A body that must be one JSON object: malformed JSON, or an object with
/// the same key twice, is a 400; another JSON value a 422.
pub fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let mut json = serde_json::Deserializer::from_slice(body);
    let value = Unique
        .deserialize(&mut json)
        .and_then(|value| json.end().map(|()| value))
        .map_err(|e| {
            if e.is_data() {
                ApiError::bad_request(format!("invalid JSON body: {e}"))
            } else {
                ApiError::bad_request(format!("malformed JSON body: {e}"))
            }
        })?;
    match value {
        Value::Object(fields) => Ok(fields),
        _ => Err(ApiError::unprocessable("the body must be a JSON object")),
    }
}

/// A whole number: a JSON integer or a number with no fraction (`4.0` is
/// 4 to JSON Schema, so to the OpenAPI document), or, where `strings` are
/// taken, a string of decimal digits (`"4"`).
pub fn whole(value: &Value, strings: bool) -> Option<u64> {
    match value {
        Value::String(s) if strings => {
            let s = s.trim();
            (!s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        }
        _ => value.as_u64().or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        }),
    }
}

/// `rating`, 1..=5 (see [`whole`]).
pub fn rating(value: &Value, strings: bool) -> Result<u8, ApiError> {
    match whole(value, strings) {
        Some(n @ 1..=5) => Ok(n as u8),
        _ => Err(ApiError::unprocessable(
            "rating must be an integer from 1 to 5",
        )),
    }
}

/// `recommend`, a boolean.
pub fn recommend(fields: &Map<String, Value>) -> Result<bool, ApiError> {
    required(fields, "recommend")?
        .as_bool()
        .ok_or_else(|| ApiError::unprocessable("recommend must be true or false"))
}

/// `characteristics`: an object of characteristic ids (decimal strings,
/// as JSON keys are) to ratings 1..=5 (see [`whole`]), at most one per
/// kind of characteristic; as `(id, rating)` pairs in id order. Whether
/// they are the product's is the store's to say.
pub fn characteristics(value: &Value, strings: bool) -> Result<Vec<(u64, u8)>, ApiError> {
    let Value::Object(rated) = value else {
        return Err(ApiError::unprocessable(
            "characteristics must be an object of characteristic ids to ratings from 1 to 5",
        ));
    };
    if rated.len() > Characteristic::COUNT {
        return Err(ApiError::unprocessable(format!(
            "characteristics: at most {} ratings, one of each of the product's characteristics; \
             got {}",
            Characteristic::COUNT,
            rated.len()
        )));
    }
    let mut out = Vec::with_capacity(rated.len());
    for (key, value) in rated {
        let id = whole(&Value::String(key.clone()), true).filter(|&id| id > 0);
        let Some(id) = id else {
            return Err(ApiError::unprocessable(format!(
                "characteristics: `{}` is not a characteristic id (a positive integer)",
                shorten(key)
            )));
        };
        match whole(value, strings) {
            Some(n @ 1..=5) => out.push((id, n as u8)),
            _ => {
                return Err(ApiError::unprocessable(format!(
                    "characteristics: the rating of {id} must be an integer from 1 to 5"
                )));
            }
        }
    }
    out.sort_unstable();
    if let Some(pair) = out.windows(2).find(|p| p[0].0 == p[1].0) {
        return Err(ApiError::unprocessable(format!(
            "characteristics: {} is rated twice",
            pair[0].0
        )));
    }
    Ok(out)
}

/// Field `name`, or a 422 saying it is missing.
pub fn required<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<&'a Value, ApiError> {
    fields
        .get(name)
        .ok_or_else(|| ApiError::unprocessable(format!("missing field `{name}`")))
}

/// A JSON value read like `serde_json::Value`, except that an object with
/// the same key twice is an error (`Value` keeps the last, so
/// `{"rating": 0, …, "rating": 4}` would pass as a 4).
struct Unique;

impl<'de> DeserializeSeed<'de> for Unique {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unique {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Unique)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if fields.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate field `{}`",
                    shorten(&key)
                )));
            }
            let value = map.next_value_seed(Unique)?;
            fields.insert(key, value);
        }
        Ok(Value::Object(fields))
    }
}

/// Characters that show nothing: whitespace, format characters (zero-width
/// spaces and joiners, direction marks, word joiners, the BOM, soft
/// hyphens), fillers and blank patterns, variation selectors and tags.
fn invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// Whether `text` shows nothing: only invisible characters and combining
/// marks (which, with no visible character to sit on, show as nothing).
fn blank(text: &str) -> bool {
    text.chars()
        .all(|c| invisible(c) || unicode_normalization::char::is_combining_mark(c))
}

/// A text field within `chars`, without control characters (but line
/// breaks and tabs when `multiline`), and not blank.
pub fn text(
    fields: &Map<String, Value>,
    name: &str,
    chars: std::ops::RangeInclusive<usize>,
    multiline: bool,
) -> Result<String, ApiError> {
    let (min, max) = (chars.start(), chars.end());
    let wrong = || {
        ApiError::unprocessable(format!(
            "{name} must be a string of {min} to {max} characters"
        ))
    };
    let text = required(fields, name)?.as_str().ok_or_else(wrong)?;
    let count = text.chars().count();
    if !chars.contains(&count) {
        return Err(ApiError::unprocessable(format!(
            "{name} must be a string of {min} to {max} characters, got {count}"
        )));
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if let Some(c) = text.chars().find(|&c| c.is_control() && !allowed(c)) {
        return Err(ApiError::unprocessable(format!(
            "{name} must not contain control characters (found U+{:04X})",
            u32::from(c)
        )));
    }
    if blank(text) {
        return Err(ApiError::unprocessable(format!("{name} must not be blank")));
    }
    Ok(text.to_string())
}

/// `email`: one `@`, a local part, a domain with a dot; at most
/// [`limits::EMAIL_MAX`] characters.
pub fn email(value: &Value) -> Result<String, ApiError> {
    let invalid = || {
        ApiError::unprocessable(format!(
            "email must be a valid address of at most {} characters",
            limits::EMAIL_MAX
        ))
    };
    let email = value.as_str().ok_or_else(invalid)?;
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let valid = email.chars().count() <= limits::EMAIL_MAX
        && !local.chars().all(invisible)
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email.to_string())
    } else {
        Err(invalid())
    }
}

/// `photos`: at most [`limits::PHOTOS_MAX`] http(s) URLs.
pub fn photos(value: &Value) -> Result<Vec<String>, ApiError> {
    let list = value
        .as_array()
        .ok_or_else(|| ApiError::unprocessable("photos must be an array of URLs"))?;
    if list.len() > limits::PHOTOS_MAX {
        return Err(ApiError::unprocessable(format!(
            "photos may hold at most {} URLs, got {}",
            limits::PHOTOS_MAX,
            list.len()
        )));
    }
    list.iter()
        .enumerate()
        .map(|(i, url)| {
            let invalid = || {
                ApiError::unprocessable(format!(
                    "photos[{i}] must be an http(s) URL of at most {} characters",
                    limits::PHOTO_URL_MAX
                ))
            };
            let url = url.as_str().ok_or_else(invalid)?;
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            let host = rest
                .and_then(|r| r.split(['/', '?', '#']).next())
                .unwrap_or("");
            // Characters a URL never holds unescaped (RFC 3986): quotes,
            // angle brackets and the like would only be there to break out
            // of wherever a page puts the URL.
            let unsafe_char =
                |c: char| c.is_whitespace() || c.is_control() || "\"<>\\^`{|}".contains(c);
            let valid = !host.is_empty()
                && url.chars().count() <= limits::PHOTO_URL_MAX
                && !url.chars().any(unsafe_char);
            if valid {
                Ok(url.to_string())
            } else {
                Err(invalid())
            }
        })
        .collect()
}

/// At most the first 40 characters of `s`, to name it in a message.
pub fn shorten(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Value {
        serde_json::json!({
            "rating": 4, "summary": "Solid", "body": "b".repeat(50), "recommend": true,
            "name": "Zoë", "email": "zoe@example.com", "photos": ["https://img.example/1.jpg"]
        })
    }

    fn error_of(v: Value) -> (u16, String) {
        let e = parse(v.to_string().as_bytes()).unwrap_err();
        (e.status.as_u16(), e.message)
    }

    #[test]
    fn a_valid_body_parses_and_photos_default_to_none() {
        let r = parse(valid().to_string().as_bytes()).unwrap();
        assert_eq!((r.rating, r.name.as_str(), r.photos.len()), (4, "Zoë", 1));
        let mut whole = valid();
        whole["rating"] = serde_json::json!(4.0);
        assert_eq!(parse(whole.to_string().as_bytes()).unwrap().rating, 4);
        let mut v = valid();
        v.as_object_mut().unwrap().remove("photos");
        assert!(parse(v.to_string().as_bytes()).unwrap().photos.is_empty());
    }

    #[test]
    fn each_violation_names_its_field() {
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "rating",
                serde_json::json!(0),
                "rating must be an integer from 1 to 5",
            ),
            ("rating", serde_json::json!("5"), "rating must be"),
            ("rating", serde_json::json!(4.5), "rating must be"),
            ("rating", serde_json::json!(6.0), "rating must be"),
            (
                "email",
                serde_json::json!("\u{200b}@example.com"),
                "email must be",
            ),
            (
                "photos",
                serde_json::json!(["https://example.com/\"><script>alert(1)</script>"]),
                "photos[0] must be",
            ),
            (
                "photos",
                serde_json::json!(["https://example.com/a<b"]),
                "photos[0] must be",
            ),
            (
                "summary",
                serde_json::json!(""),
                "summary must be a string of 1 to 60 characters, got 0",
            ),
            ("summary", serde_json::json!("é".repeat(61)), "got 61"),
            (
                "summary",
                serde_json::json!("   "),
                "summary must not be blank",
            ),
            (
                "body",
                serde_json::json!("short"),
                "body must be a string of 50 to 1000 characters, got 5",
            ),
            ("body", serde_json::json!(12), "body must be a string"),
            (
                "recommend",
                serde_json::json!("yes"),
                "recommend must be true or false",
            ),
            ("name", serde_json::json!("n".repeat(61)), "name must be"),
            (
                "email",
                serde_json::json!("no-at.example.com"),
                "email must be a valid address",
            ),
            ("email", serde_json::json!("a@b@c.com"), "email must be"),
            ("email", serde_json::json!("@example.com"), "email must be"),
            ("email", serde_json::json!("a@localhost"), "email must be"),
            (
                "email",
                serde_json::json!(format!("{}@example.com", "a".repeat(50))),
                "email must be",
            ),
            (
                "photos",
                serde_json::json!("https://x.example/a.jpg"),
                "photos must be an array",
            ),
            (
                "photos",
                serde_json::json!(["ftp://x.example/a.jpg"]),
                "photos[0] must be an http(s) URL",
            ),
            ("photos", serde_json::json!(["https://"]), "photos[0]"),
            (
                "photos",
                serde_json::json!(vec!["https://x.example/a.jpg"; 6]),
                "at most 5 URLs",
            ),
        ];
        for (field, value, needle) in cases {
            let mut v = valid();
            v[field] = value;
            let (status, message) = error_of(v);
            assert_eq!(status, 422, "{field}: {message}");
            assert!(message.contains(needle), "{field}: {message}");
        }
    }

    #[test]
    fn control_and_invisible_characters() {
        for (field, value, needle) in [
            (
                "summary",
                "Nice\u{0}",
                "summary must not contain control characters (found U+0000)",
            ),
            (
                "name",
                "Ann\u{1b}[31m",
                "name must not contain control characters (found U+001B)",
            ),
            ("name", "Ann\nLee", "(found U+000A)"),
            ("summary", "Bell\u{7}", "(found U+0007)"),
            ("summary", "C1\u{9b}", "(found U+009B)"),
            (
                "summary",
                "\u{200B}\u{200B}\u{FEFF}",
                "summary must not be blank",
            ),
            (
                "name",
                "\u{3164}\u{2060} \u{00A0}",
                "name must not be blank",
            ),
            ("summary", "\u{0301}", "summary must not be blank"),
            ("summary", " \u{0301}\u{20DD} ", "summary must not be blank"),
        ] {
            let mut v = valid();
            v[field] = serde_json::json!(value);
            let (status, message) = error_of(v);
            assert_eq!(status, 422, "{field}: {message}");
            assert!(message.contains(needle), "{field}: {message}");
        }
        let mut v = valid();
        v["body"] = serde_json::json!(format!("{}\u{0}", "b".repeat(50)));
        assert!(
            error_of(v)
                .1
                .starts_with("body must not contain control characters")
        );
        let mut v = valid();
        v["body"] = serde_json::json!("\u{200B}".repeat(60));
        assert_eq!(error_of(v).1, "body must not be blank");
        // A mark on a letter is text: "é" written as e and U+0301.
        let mut v = valid();
        v["summary"] = serde_json::json!("Cafe\u{0301}");
        assert!(parse(v.to_string().as_bytes()).is_ok());
        // Line breaks and tabs are fine in a body; visible text with a
        // zero-width joiner inside (an emoji sequence) is fine anywhere.
        let mut v = valid();
        v["body"] = serde_json::json!(format!("First line\r\n\tsecond: {}", "b".repeat(40)));
        v["name"] = serde_json::json!("Zoë 👩\u{200D}🔧");
        assert!(parse(v.to_string().as_bytes()).is_ok());
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let body = br#"{"rating": 0, "summary": "s", "rating": 4}"#;
        let e = parse(body).unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        assert!(
            e.message.contains("duplicate field `rating`"),
            "{}",
            e.message
        );
        let nested = br#"{"photos": [{"a": 1, "a": 2}]}"#;
        assert!(
            parse(nested)
                .unwrap_err()
                .message
                .contains("duplicate field `a`")
        );
        let trailing = br#"{"rating": 4} {}"#;
        assert!(
            parse(trailing)
                .unwrap_err()
                .message
                .starts_with("malformed JSON body")
        );
    }

    #[test]
    fn shape_errors() {
        let e = parse(br#"{"rating": 5,"#).unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        assert!(
            e.message.starts_with("malformed JSON body"),
            "{}",
            e.message
        );
        assert_eq!(
            error_of(serde_json::json!([1, 2])).1,
            "the body must be a JSON object"
        );
        let mut v = valid();
        v["stars"] = serde_json::json!(5);
        assert!(error_of(v).1.starts_with("unknown field `stars`"));
        let mut v = valid();
        v.as_object_mut().unwrap().remove("email");
        assert_eq!(error_of(v).1, "missing field `email`");
    }
}
