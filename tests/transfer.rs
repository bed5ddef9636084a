//! Bringing your own reviews, with the real `seed` and `reviews` binaries:
//! a generated data set written as an Atelier CSV export, imported, and
//! served byte for byte as the generated store serves it (the oracle);
//! exported as JSON Lines and imported into the other store, served the
//! same again (MongoDB when `MONGODB_URI` is set); a hostile export with
//! every kind of bad row, its rejects file read line by line; missing
//! files and columns; an import killed and run again; an export taken
//! while writes flow.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{KeepAlive, Proc};
use reviews::store::embedded::EmbeddedStore;
use serde_json::{Value, json};

const SEED: &str = env!("CARGO_BIN_EXE_seed");
const REVIEWS: &str = env!("CARGO_BIN_EXE_reviews");

/// Runs a binary to completion: (exit code, stderr).
fn run(bin: &str, args: &[&str], dir: &Path) -> (i32, String) {
    let mut proc = Proc::start(bin, args, dir);
    let status = proc.wait_exit(Duration::from_secs(300));
    (status.code().unwrap_or(-1), proc.stderr())
}

/// `seed` with `args`, which must succeed: its stderr.
fn seed(args: &[&str], dir: &Path) -> String {
    let (code, err) = run(SEED, args, dir);
    assert_eq!(code, 0, "seed {args:?}: {err}");
    err
}

/// Serves `args` (a store flag) with nothing seeded, on a free port.
fn serve(args: &[&str], dir: &Path) -> (Proc, SocketAddr) {
    let mut all = vec![
        "--listen",
        "127.0.0.1:0",
        "--demo-records",
        "0",
        "--workers",
        "1",
    ];
    all.extend(args);
    all.extend(["--l1-capacity-mb", "0"]);
    let mut proc = Proc::start(REVIEWS, &all, dir);
    let addr = proc.wait_listening(Duration::from_secs(60));
    (proc, addr)
}

/// Every answer a storefront reads of products `1..=products`: each page
/// of every order (native, 7 a page) and the meta, native and Atelier.
async fn answers(addr: SocketAddr, products: u64) -> Vec<(String, Vec<u8>)> {
    let mut client = KeepAlive::new(addr);
    let mut out = Vec::new();
    for p in 1..=products {
        let meta = format!("/reviews/{p}/meta");
        let got = client.get(&meta).await.unwrap();
        assert_eq!(got.status, 200, "{meta}");
        let total = got.json()["total"].as_u64().unwrap();
        out.push((meta, got.body));
        let atelier_meta = format!("/reviews/meta?product_id={p}");
        out.push((
            atelier_meta.clone(),
            client.get(&atelier_meta).await.unwrap().body,
        ));
        for sort in ["relevant", "newest", "helpful", "rating_high", "rating_low"] {
            for page in 1..=total.div_ceil(7).max(1) {
                let path = format!("/reviews/{p}?sort={sort}&count=7&page={page}");
                out.push((path.clone(), client.get(&path).await.unwrap().body));
            }
        }
        for sort in ["relevant", "newest", "helpful"] {
            let path = format!("/reviews/?product_id={p}&sort={sort}&count=1000");
            out.push((path.clone(), client.get(&path).await.unwrap().body));
        }
    }
    out
}

/// The two servers answer every read the same, byte for byte.
async fn same_answers(expected: SocketAddr, got: SocketAddr, products: u64, what: &str) {
    let (a, b) = (
        answers(expected, products).await,
        answers(got, products).await,
    );
    assert_eq!(a.len(), b.len());
    for ((path, x), (_, y)) in a.iter().zip(&b) {
        assert!(
            x == y,
            "{what}: {path} differs:\n{}\n{}",
            String::from_utf8_lossy(x),
            String::from_utf8_lossy(y)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_reviews_go_through_atelier_csv_and_json_lines_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let path = |name: &str| d.join(name).to_str().unwrap().to_string();
    let set = ["--records", "3000", "--products", "200", "--seed", "11"];
    // The oracle: the generated data set, loaded directly.
    seed(&[&set[..], &["--data-dir", &path("generated")]].concat(), d);
    // Written as an Atelier export, imported.
    let wrote = seed(&[&set[..], &["--to-atelier", &path("export")]].concat(), d);
    assert!(wrote.contains("wrote 3000 reviews ("), "{wrote}");
    let imported = seed(
        &[
            "--from-atelier",
            &path("export"),
            "--data-dir",
            &path("imported"),
        ],
        d,
    );
    let line = imported.lines().last().unwrap();
    assert!(
        line.starts_with("imported 3000 reviews (")
            && line.contains("characteristic ratings) of 200 products; rejected 0 rows"),
        "{imported}"
    );
    // The same files again: nothing to do; other files: refused.
    let again = seed(
        &[
            "--from-atelier",
            &path("export"),
            "--data-dir",
            &path("imported"),
        ],
        d,
    );
    assert!(again.contains("already holds this import"), "{again}");
    let other =
        r#"{"type":"data_set","format":1,"seed":1,"records":0,"products":1,"next_review_id":1}"#;
    std::fs::write(d.join("other.jsonl"), format!("{other}\n")).unwrap();
    let (code, err) = run(
        SEED,
        &[
            "--from-jsonl",
            &path("other.jsonl"),
            "--data-dir",
            &path("imported"),
        ],
        d,
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("holds another import") && err.contains("--drop"),
        "{err}"
    );
    let (_g, generated) = serve(&["--data-dir", &path("generated")], d);
    let (_i, from_csv) = serve(&["--data-dir", &path("imported")], d);
    same_answers(generated, from_csv, 200, "Atelier CSV import").await;

    // Exported as JSON Lines (while served), imported into another store.
    let exported = seed(
        &[
            "--to-jsonl",
            &path("all.jsonl"),
            "--data-dir",
            &path("imported"),
        ],
        d,
    );
    assert!(exported.contains("exported 3000 reviews"), "{exported}");
    let text = std::fs::read_to_string(d.join("all.jsonl")).unwrap();
    let header: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(header["type"], "data_set");
    assert_eq!(header["next_review_id"], 3001);
    let emails = text
        .lines()
        .filter(|l| l.contains("\"reviewer_email\":\""))
        .count();
    assert_eq!(emails, 3000, "every stored field, the email too");
    seed(
        &[
            "--from-jsonl",
            &path("all.jsonl"),
            "--data-dir",
            &path("moved"),
        ],
        d,
    );
    let (_m, moved) = serve(&["--data-dir", &path("moved")], d);
    same_answers(generated, moved, 200, "JSON Lines into the embedded store").await;
}

/// The move a shop makes when it outgrows one machine: the embedded store
/// → JSON Lines → MongoDB, served byte for byte as before, native and
/// Atelier routes alike; and back again.
#[cfg(feature = "mongodb")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MONGODB_URI (a MongoDB replica set, standalone or mongos)"]
async fn mongodb_takes_an_embedded_store_through_json_lines_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let path = |name: &str| d.join(name).to_str().unwrap().to_string();
    let set = ["--records", "3000", "--products", "200", "--seed", "11"];
    seed(&[&set[..], &["--data-dir", &path("generated")]].concat(), d);
    seed(
        &[
            "--to-jsonl",
            &path("all.jsonl"),
            "--data-dir",
            &path("generated"),
        ],
        d,
    );
    let uri = common::mongo::fresh_database_uri("transfer");
    let imported = seed(
        &["--from-jsonl", &path("all.jsonl"), "--mongodb-uri", &uri],
        d,
    );
    assert!(imported.contains("imported 3000 reviews"), "{imported}");
    let (_g, generated) = serve(&["--data-dir", &path("generated")], d);
    let (_mongo, on_mongo) = serve(&["--mongodb-uri", &uri], d);
    same_answers(generated, on_mongo, 200, "JSON Lines into MongoDB").await;
    // And back: MongoDB → JSON Lines → the embedded store.
    let exported = seed(
        &["--to-jsonl", &path("back.jsonl"), "--mongodb-uri", &uri],
        d,
    );
    assert!(exported.contains("exported 3000 reviews"), "{exported}");
    seed(
        &[
            "--from-jsonl",
            &path("back.jsonl"),
            "--data-dir",
            &path("back"),
        ],
        d,
    );
    let (_b, back) = serve(&["--data-dir", &path("back")], d);
    same_answers(generated, back, 200, "MongoDB → JSON Lines → embedded").await;
    // The Atelier export straight into MongoDB, too.
    seed(&[&set[..], &["--to-atelier", &path("export")]].concat(), d);
    let csv_uri = common::mongo::fresh_database_uri("transfer_csv");
    seed(
        &["--from-atelier", &path("export"), "--mongodb-uri", &csv_uri],
        d,
    );
    let (_c, from_csv) = serve(&["--mongodb-uri", &csv_uri], d);
    same_answers(generated, from_csv, 200, "Atelier CSV into MongoDB").await;
    common::mongo::drop_database(&uri).await;
    common::mongo::drop_database(&csv_uri).await;
}

/// The hostile export: every rule broken once, beside rows written every
/// way a real export writes them.
const HOSTILE_REVIEWS: &str = "\u{feff}id,product_id,rating,date,summary,body,recommend,reported,reviewer_name,reviewer_email,response,helpfulness\r\n\
5,2,3,1555200000000,\"I'm enjoying wearing these shades\",Comfortable and practical.,false,false,shortandsweeet,first.last@gmail.com,null,5\r\n\
6,2,5,2020-06-01T12:30:00.000Z,\"Comma, \"\"quotes\"\" and\r\na line break\",\"Line one,\r\nline two \"\"quoted\"\".\",true,false,María José,mj@example.com,\"Thanks, María!\",0\r\n\
7,2,6,2020-06-01,Too many stars,Six stars is not a rating.,t,f,Bob,bob@example.com,,0\r\n\
8,2,4,last tuesday,Bad date,The date cannot be read.,1,0,Cy,cy@example.com,,0\r\n\
5,2,4,2020-06-01,Duplicate,Same id as the first row.,1,0,Di,di@example.com,,0\r\n\
9,3,2,2021-01-02,\"Broken quote,Never closed.,0,0,Ed,ed@example.com,,0\r\n\
10,3,5,2021-01-02,Swallowed,By the open quote above.,1,0,Fa,fa@example.com,,0\r\n\
11,3,5,2021-01-03,\"Closes it\",Ends the quote.,1,0,Gu,gu@example.com,,0\r\n\
12,3,1,2021-01-04,Too few fields,1,0\r\n\
13,3,4,1609545600000,Fine,Solid and cheap.,1,1,Hu,hu@example.com,,2\r\n";

const HOSTILE_PHOTOS: &str = "id,review_id,url\n\
1,5,urlplaceholder/review_5_photo_number_1.jpg\n\
2,5,https://img.example/2.jpg\n\
3,404,https://img.example/3.jpg\n\
2,6,https://img.example/dup.jpg\n\
4,6,https://img.example/4.jpg\n\
5,6,https://img.example/5.jpg\n\
6,6,https://img.example/6.jpg\n\
7,6,https://img.example/7.jpg\n\
8,6,https://img.example/8.jpg\n\
9,6,https://img.example/9.jpg\n\
10,6,has a space\n";

const HOSTILE_CHARACTERISTICS: &str = "id,product_id,name\n\
14,2,Size\n\
15,2,Width\n\
16,2,Comfort\n\
17,3,Quality\n\
18,2,Colour\n\
19,2,size\n\
20,4,Fit\n";

const HOSTILE_RATINGS: &str = "id,characteristic_id,review_id,value\n\
1,14,5,4\n\
2,15,5,3\n\
3,16,5,5\n\
4,14,6,3\n\
5,14,6,2\n\
6,17,6,4\n\
7,15,6,7\n\
8,99,6,3\n\
9,16,404,3\n\
10,17,13,5\n";

fn write_hostile(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in [
        ("reviews.csv", HOSTILE_REVIEWS),
        ("reviews_photos.csv", HOSTILE_PHOTOS),
        ("characteristics.csv", HOSTILE_CHARACTERISTICS),
        ("characteristic_reviews.csv", HOSTILE_RATINGS),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_export_is_imported_row_by_row_and_every_reject_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let export = d.join("export");
    write_hostile(&export);
    let data = d.join("data");
    let rejects = d.join("rejects.csv");
    let args = [
        "--from-atelier",
        export.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--rejects",
        rejects.to_str().unwrap(),
    ];
    // By default a single reject fails the import, which stays unfinished
    // and refused by the server.
    let (code, err) = run(SEED, &args, d);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("more than --max-rejects 0"), "{err}");
    let (code, err) = run(
        REVIEWS,
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        d,
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("did not finish: run the same `seed` command again"),
        "{err}"
    );

    let done = seed(&[&args[..], &["--max-rejects", "100"]].concat(), d);
    assert!(
        done.lines().last().unwrap().starts_with(
            "imported 3 reviews (7 photos, 5 characteristic ratings) of 4 products; rejected 16 rows"
        ),
        "{done}"
    );
    let mut listed = csv::Reader::from_path(&rejects).unwrap();
    let rows: Vec<(String, u64, String, String)> = listed
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[0].to_string(),
                r[1].parse().unwrap(),
                r[2].to_string(),
                r[3].to_string(),
            )
        })
        .collect();
    let expected: &[(&str, u64, &str, &str)] = &[
        (
            "reviews.csv",
            6,
            "rating must be an integer from 1 to 5, got \"6\"",
            "7,2,6,2020-06-01,Too many stars",
        ),
        (
            "reviews.csv",
            7,
            "date must be epoch milliseconds or an ISO 8601 date, got \"last tuesday\"",
            "8,2,4,last tuesday",
        ),
        (
            "reviews.csv",
            8,
            "duplicate id 5",
            "5,2,4,2020-06-01,Duplicate",
        ),
        (
            "reviews.csv",
            9,
            "malformed: text after a closing quote",
            "9,3,2,2021-01-02,\"Broken quote,Never closed.,0,0,Ed,ed@example.com,,0\r\n10,3,5,2021-01-02,Swallowed,By the open quote above.,1,0,Fa,fa@example.com,,0\r\n11,3,5,2021-01-03,\"Closes it\"",
        ),
        (
            "reviews.csv",
            12,
            "7 fields where the header has 12",
            "12,3,1,2021-01-04,Too few fields",
        ),
        (
            "reviews_photos.csv",
            5,
            "duplicate id 2",
            "2,6,https://img.example/dup.jpg",
        ),
        (
            "reviews_photos.csv",
            12,
            "url holds whitespace",
            "10,6,has a space",
        ),
        (
            "characteristics.csv",
            6,
            "name must be one of Size, Width, Comfort, Quality, Length, Fit, got \"Colour\"",
            "18,2,Colour",
        ),
        (
            "characteristics.csv",
            7,
            "product 2 has a Size characteristic already",
            "19,2,size",
        ),
        (
            "characteristic_reviews.csv",
            8,
            "value must be an integer from 1 to 5, got \"7\"",
            "7,15,6,7",
        ),
        (
            "characteristic_reviews.csv",
            9,
            "no characteristic 99 in characteristics.csv",
            "8,99,6,3",
        ),
        (
            "reviews_photos.csv",
            11,
            "review 6 has 5 photos already, the most a review holds",
            "9,6,https://img.example/9.jpg",
        ),
        (
            "characteristic_reviews.csv",
            6,
            "review 6 rates Size (characteristic 14) twice",
            "5,14,6,2",
        ),
        (
            "characteristic_reviews.csv",
            7,
            "characteristic 17 is product 3's, not product 2's (review 6's)",
            "6,17,6,4",
        ),
        (
            "reviews_photos.csv",
            4,
            "no review 404 in reviews.csv (or it was rejected)",
            "3,404,https://img.example/3.jpg",
        ),
        (
            "characteristic_reviews.csv",
            10,
            "no review 404 in reviews.csv (or it was rejected)",
            "9,16,404,3",
        ),
    ];
    assert_eq!(rows.len(), expected.len(), "{rows:#?}");
    for (row, &(file, line, reason, start)) in rows.iter().zip(expected) {
        assert_eq!((row.0.as_str(), row.1), (file, line), "{row:?}");
        assert!(row.2.contains(reason), "{row:?} says {reason}");
        assert!(row.3.starts_with(start), "{row:?} is {start}…");
    }

    // What was kept is served as the export had it.
    let (_server, addr) = serve(&["--data-dir", data.to_str().unwrap()], d);
    let page = common::request(addr, "GET", "/reviews/2?sort=newest&count=10", &[], b"")
        .await
        .json();
    let ids: Vec<u64> = common::review_ids(&page);
    assert_eq!(ids, [6, 5]);
    let six = &page["results"][0];
    assert_eq!(six["summary"], "Comma, \"quotes\" and\r\na line break");
    assert_eq!(six["body"], "Line one,\r\nline two \"quoted\".");
    assert_eq!(six["date"], "2020-06-01T12:30:00Z");
    assert_eq!(six["reviewer_name"], "María José");
    assert_eq!(six["response"], "Thanks, María!");
    assert_eq!(six["characteristics"], json!({"Size": 3}));
    assert_eq!(six["photos"].as_array().unwrap().len(), 5);
    let five = &page["results"][1];
    assert_eq!(five["date"], "2019-04-14T00:00:00Z");
    assert_eq!(five["response"], Value::Null);
    assert_eq!(five["body"], "Comfortable and practical.");
    assert_eq!(
        five["photos"][0],
        json!({"id": 1, "url": "urlplaceholder/review_5_photo_number_1.jpg"})
    );
    let meta = common::request(addr, "GET", "/reviews/meta?product_id=2", &[], b"")
        .await
        .json();
    assert_eq!(
        meta["ratings"],
        json!({"1": "0", "2": "0", "3": "1", "4": "0", "5": "1"})
    );
    assert_eq!(meta["recommended"], json!({"false": "1", "true": "1"}));
    assert_eq!(
        meta["characteristics"],
        json!({
            "Size": {"id": 14, "value": "3.5000000000000000"},
            "Width": {"id": 15, "value": "3.0000000000000000"},
            "Comfort": {"id": 16, "value": "5.0000000000000000"}
        })
    );
    // Product 3's only review left is reported (13); product 4 has a
    // characteristic and no review: both exist, with nothing to show.
    let three = common::request(addr, "GET", "/reviews/3/meta", &[], b"")
        .await
        .json();
    assert_eq!(
        (
            three["total"].clone(),
            three["characteristics"]["Quality"]["count"].clone()
        ),
        (json!(0), json!(0))
    );
    let four = common::request(addr, "GET", "/reviews/4", &[], b"").await;
    assert_eq!((four.status, four.json()["total"].clone()), (200, json!(0)));
    assert_eq!(
        common::request(addr, "GET", "/reviews/5", &[], b"")
            .await
            .status,
        404
    );
    // New reviews continue after the largest id; a new one of product 2
    // rates its three characteristics.
    let posted = common::request(
        addr,
        "POST",
        "/reviews",
        &[("Content-Type", "application/json")],
        json!({"product_id": 2, "rating": 4, "body": "Arrived quickly and fits exactly as described on the page.",
               "recommend": true, "name": "Iv", "email": "iv@example.com",
               "characteristics": {"14": 3, "15": 3, "16": 4}})
        .to_string()
        .as_bytes(),
    )
    .await;
    assert_eq!(
        posted.status,
        201,
        "{}",
        String::from_utf8_lossy(&posted.body)
    );
    assert_eq!(posted.json()["review_id"], 14);
}

#[test]
fn missing_files_columns_and_headers_are_one_line_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let export = d.join("export");
    write_hostile(&export);
    let data = d.join("data");
    let attempt = |expect: &str| {
        let (code, err) = run(
            SEED,
            &[
                "--from-atelier",
                export.to_str().unwrap(),
                "--data-dir",
                data.to_str().unwrap(),
            ],
            d,
        );
        assert_eq!(code, 1, "{err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(expect), "{err} says {expect}");
        assert!(!data.join("data.mdb").exists(), "nothing written");
    };
    std::fs::write(export.join("reviews_photos.csv"), "id,review_id\n1,5\n").unwrap();
    attempt("reviews_photos.csv: missing column `url`");
    std::fs::write(
        export.join("reviews_photos.csv"),
        "id,review_id,url,caption\n",
    )
    .unwrap();
    attempt("unknown column `caption`");
    std::fs::remove_file(export.join("reviews_photos.csv")).unwrap();
    std::fs::remove_file(export.join("characteristics.csv")).unwrap();
    attempt("characteristics.csv: missing, yet characteristic_reviews.csv rates characteristics");
    std::fs::remove_file(export.join("reviews.csv")).unwrap();
    attempt("reviews.csv: missing");
}

#[test]
fn an_import_killed_midway_resumes_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let export = d.join("export");
    seed(
        &[
            "--records",
            "150000",
            "--seed",
            "7",
            "--to-atelier",
            export.to_str().unwrap(),
        ],
        d,
    );
    let data = d.join("data");
    let args = [
        "--from-atelier",
        export.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--batch",
        "4096",
    ];
    let mut import = Proc::start(SEED, &args, d);
    // Killed (SIGKILL: no cleanup) once its writes have begun.
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::metadata(data.join("data.mdb")).map_or(0, |m| m.len()) < 8 << 20 {
        assert!(
            Instant::now() < deadline,
            "nothing written: {}",
            import.stderr()
        );
        assert!(
            import.child.try_wait().unwrap().is_none(),
            "the import finished too soon to interrupt: {}",
            import.stderr()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    import.child.kill().unwrap();
    import.child.wait().unwrap();
    let status = EmbeddedStore::open(&data).unwrap().status().unwrap();
    assert!(!status.complete && status.loaded > 0, "{status:?}");
    assert!(status.unfinished_import().is_some());

    let done = seed(&args, d);
    assert!(done.contains("imported 150000 reviews"), "{done}");
    // The same as an import never interrupted, every review once.
    let whole = d.join("whole");
    seed(
        &[
            "--from-atelier",
            export.to_str().unwrap(),
            "--data-dir",
            whole.to_str().unwrap(),
        ],
        d,
    );
    let (resumed, fresh) = (
        EmbeddedStore::open(&data).unwrap(),
        EmbeddedStore::open(&whole).unwrap(),
    );
    assert_eq!(resumed.status().unwrap(), fresh.status().unwrap());
    let print = resumed.fingerprint().unwrap();
    assert_eq!(print, fresh.fingerprint().unwrap());
    assert_eq!(print.reviews, 150_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_taken_while_writes_flow_holds_each_review_whole() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_server, addr) = Proc::serve(d, &["--workers", "2", "--demo-records", "20000"]);
    let data = d.join("data");
    let product = 2;
    // One shopper writing reviews one after another, numbered.
    let writing = tokio::spawn(async move {
        let mut client = KeepAlive::new(addr);
        let mut n = 0u64;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(4) {
            n += 1;
            let body = json!({
                "rating": 4, "summary": format!("w-{n}"), "recommend": true,
                "body": "Written while the store was being exported, with two photos.",
                "name": "Exporter", "email": "exporter@example.com",
                "photos": ["https://img.example/a.jpg", "https://img.example/b.jpg"],
                "characteristics": common::characteristics(product, 3)
            });
            let posted = client
                .send(
                    "POST",
                    &format!("/reviews/{product}"),
                    &[("Content-Type", "application/json")],
                    body.to_string().as_bytes(),
                )
                .await
                .unwrap();
            assert_eq!(posted.status, 201);
        }
        n
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = d.join("snapshot.jsonl");
    let err = tokio::task::spawn_blocking({
        let (out, data, d) = (out.clone(), data.clone(), d.to_path_buf());
        move || {
            seed(
                &[
                    "--to-jsonl",
                    out.to_str().unwrap(),
                    "--data-dir",
                    data.to_str().unwrap(),
                ],
                &d,
            )
        }
    })
    .await
    .unwrap();
    let written = writing.await.unwrap();
    assert!(err.contains("exported"), "{err}");
    let scales = common::characteristics(product, 3);
    let mut numbers = Vec::new();
    for line in std::fs::read_to_string(&out).unwrap().lines() {
        let item: Value = serde_json::from_str(line).expect("every line is whole JSON");
        let Some(summary) = item["summary"].as_str().filter(|s| s.starts_with("w-")) else {
            continue;
        };
        numbers.push(summary[2..].parse::<u64>().unwrap());
        assert_eq!(item["photos"].as_array().unwrap().len(), 2, "{line}");
        assert_eq!(
            item["characteristics"].as_object().unwrap().len(),
            scales.as_object().unwrap().len(),
            "{line}"
        );
        assert_eq!(item["reviewer_email"], "exporter@example.com");
    }
    numbers.sort_unstable();
    let k = numbers.len() as u64;
    assert!(
        k > 0 && k < written,
        "a snapshot taken mid-stream: {k} of {written}"
    );
    assert_eq!(
        numbers,
        (1..=k).collect::<Vec<_>>(),
        "a snapshot holds a prefix of the writes"
    );
}
