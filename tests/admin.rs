//! The moderator's routes against the real server: absent without a
//! token, refused without the right one, and a restore that is a write like
//! any other (meta re-counted, every cached copy dropped, on every worker).

mod common;

use std::time::{Duration, Instant};

use common::{ADMIN_TOKEN, Options, Proc, TestApp, request};
use serde_json::Value;

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn admin_paths_do_not_exist_without_a_token() {
    let app = TestApp::start(Options {
        admin_token: None,
        ..Options::default()
    })
    .await;
    let auth = bearer(ADMIN_TOKEN);
    for (method, path) in [
        ("GET", "/admin/reported"),
        ("PUT", "/admin/reviews/3/restore"),
        ("OPTIONS", "/admin/reported"),
    ] {
        let resp = app
            .request(method, path, &[("Authorization", &auth)], b"")
            .await;
        assert_eq!(resp.status, 404, "{method} {path}");
        assert_eq!(resp.error(), format!("no such path: {path}"));
    }
}

#[tokio::test]
async fn no_or_a_wrong_token_is_401_and_the_right_one_moderates() {
    let app = TestApp::spawn().await;
    let product = 9;
    let page_path = format!("/reviews/{product}?sort=newest&count=100");
    let meta_path = format!("/reviews/{product}/meta");
    let victim = common::review_ids(&app.get(&page_path).await.json())[0];
    assert_eq!(
        app.request("PUT", &format!("/reviews/{victim}/report"), &[], b"")
            .await
            .status,
        204
    );
    // Cached now: the restore must drop these copies.
    let hidden_meta = app.get(&meta_path).await.json();
    assert_eq!(app.get(&meta_path).await.header("x-cache"), Some("HIT-L1"));
    assert!(!common::review_ids(&app.get(&page_path).await.json()).contains(&victim));

    let right = bearer(ADMIN_TOKEN);
    let wrong = bearer("test-admin-token-0123456788");
    let restore = format!("/admin/reviews/{victim}/restore");
    for (headers, needle) in [
        (vec![], "Authorization: Bearer"),
        (vec![("Authorization", wrong.as_str())], "wrong"),
        (
            vec![("Authorization", "Basic dXNlcjpwYXNz")],
            "Authorization: Bearer",
        ),
    ] {
        for (method, path) in [("GET", "/admin/reported"), ("PUT", restore.as_str())] {
            let resp = app.request(method, path, &headers, b"").await;
            assert_eq!(resp.status, 401, "{method} {path} {headers:?}");
            assert!(resp.error().contains(needle), "{}", resp.error());
            assert!(
                resp.header("www-authenticate")
                    .unwrap()
                    .starts_with("Bearer")
            );
        }
    }
    assert_eq!(
        app.get(&meta_path).await.json(),
        hidden_meta,
        "nothing restored"
    );

    let auth = [("Authorization", right.as_str())];
    let listed = app.request("GET", "/admin/reported", &auth, b"").await;
    assert_eq!(listed.status, 200);
    let listed = listed.json();
    let results = listed["results"].as_array().unwrap();
    assert_eq!(results.len(), 20, "a page of 20 by default");
    assert!(
        results.iter().all(|r| r.get("reviewer_email").is_none()),
        "emails never leave"
    );
    let ids: Vec<u64> = results
        .iter()
        .map(|r| r["review_id"].as_u64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "highest id first");
    // Paging on from `next_before` continues below the last id.
    let next = listed["next_before"]
        .as_u64()
        .expect("more reported reviews");
    assert_eq!(next, *ids.last().unwrap());
    let page2 = app
        .request(
            "GET",
            &format!("/admin/reported?before={next}&limit=5"),
            &auth,
            b"",
        )
        .await
        .json();
    let ids2 = page2["results"].as_array().unwrap();
    assert_eq!(ids2.len(), 5);
    assert!(ids2.iter().all(|r| r["review_id"].as_u64().unwrap() < next));
    // The review reported above, with its product.
    let around = format!("/admin/reported?before={}&limit=1", victim + 1);
    let found = app.request("GET", &around, &auth, b"").await.json();
    assert_eq!(found["results"][0]["review_id"], victim);
    assert_eq!(found["results"][0]["product_id"], product);
    let bad = app
        .request("GET", "/admin/reported?limit=0", &auth, b"")
        .await;
    assert_eq!(bad.status, 400);

    let restored = app.request("PUT", &restore, &auth, b"").await;
    assert_eq!(restored.status, 204);
    let meta = app.get(&meta_path).await.json();
    assert_eq!(meta["total"], hidden_meta["total"].as_u64().unwrap() + 1);
    assert!(common::review_ids(&app.get(&page_path).await.json()).contains(&victim));
    let again = app.request("PUT", &restore, &auth, b"").await;
    assert_eq!(again.status, 404);
    assert_eq!(again.error(), format!("no reported review {victim}"));
    let unknown = app
        .request("PUT", "/admin/reviews/99999999/restore", &auth, b"")
        .await;
    assert_eq!(unknown.status, 404);
    let relisted = app.request("GET", &around, &auth, b"").await.json();
    assert_ne!(
        relisted["results"][0]["review_id"], victim,
        "no longer listed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_shows_on_every_worker_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let token = "restore-token-0123456789";
    let (_proc, addr) = Proc::serve(dir.path(), &["--workers", "2", "--admin-token", token]);
    let meta_path = "/reviews/4/meta";
    let page = request(addr, "GET", "/reviews/4?sort=newest&count=1", &[], b"").await;
    let victim = common::review_ids(&page.json())[0];
    let report = request(addr, "PUT", &format!("/reviews/{victim}/report"), &[], b"").await;
    assert_eq!(report.status, 204);
    // Warm both workers' L1 with the meta of the hidden review's product.
    let hidden: Value = request(addr, "GET", meta_path, &[], b"").await.json();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut warm = std::collections::HashSet::new();
    while warm.len() < 2 && Instant::now() < deadline {
        let resp = request(addr, "GET", meta_path, &[], b"").await;
        if resp.header("x-cache") == Some("HIT-L1") && resp.json() == hidden {
            warm.insert(resp.answering_pid());
        }
    }
    assert_eq!(warm.len(), 2, "both workers cache the meta");
    let auth = bearer(token);
    let restored = request(
        addr,
        "PUT",
        &format!("/admin/reviews/{victim}/restore"),
        &[("Authorization", &auth)],
        b"",
    )
    .await;
    assert_eq!(restored.status, 204);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..40 {
        let resp = request(addr, "GET", meta_path, &[], b"").await;
        assert_eq!(
            resp.json()["total"],
            hidden["total"].as_u64().unwrap() + 1,
            "a worker still shows the pre-restore meta 1 s after the restore"
        );
        seen.insert(resp.answering_pid());
    }
    assert_eq!(seen.len(), 2, "both workers were sampled");
}
