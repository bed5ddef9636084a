//! The MongoDB deployment the MongoDB cases run on, when `MONGODB_URI`
//! names one: each test gets a database of its own.

/// `MONGODB_URI` with its database replaced by a fresh one named after
/// `purpose`.
pub fn fresh_database_uri(purpose: &str) -> String {
    let uri = std::env::var("MONGODB_URI")
        .expect("MONGODB_URI is not set: it names the MongoDB deployment this test runs on");
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    with_database(
        &uri,
        &format!("reviews_{purpose}_{}_{stamp}", std::process::id()),
    )
}

/// `uri` with its database path replaced by `database`.
pub fn with_database(uri: &str, database: &str) -> String {
    let (scheme, rest) = uri.split_once("://").expect("a mongodb:// URI");
    let (hosts, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let query = tail
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{scheme}://{hosts}/{database}{query}")
}

/// A fresh database of `purpose` (see [`fresh_database_uri`]) that the
/// `seed` binary has loaded with `records` records: its URI.
pub fn seeded_database_uri(purpose: &str, records: &str) -> String {
    let uri = fresh_database_uri(purpose);
    let seeded = std::process::Command::new(env!("CARGO_BIN_EXE_seed"))
        .args(["--mongodb-uri", &uri, "--records", records])
        .env_remove("MONGODB_URI")
        .output()
        .unwrap();
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    uri
}

/// Drops the database `uri` names (what a test made for itself).
#[cfg(feature = "mongodb")]
pub async fn drop_database(uri: &str) {
    let client = mongodb::Client::with_uri_str(uri)
        .await
        .expect("MongoDB reachable");
    client
        .default_database()
        .expect("the URI names a database")
        .drop()
        .await
        .expect("the test's database drops");
}
