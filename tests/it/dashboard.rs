//! `/dashboard`: served from the binary with a strict CSP; `/` redirects.

use crate::common::{Options, TestServer};
use reqwest::StatusCode;

#[tokio::test]
async fn the_page_and_its_files_are_served_with_a_strict_policy() {
    let server = TestServer::start(Options::default());
    for (path, kind) in [
        ("/dashboard", "text/html"),
        ("/dashboard/app.js", "text/javascript"),
        ("/dashboard/app.css", "text/css"),
    ] {
        let answer = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
        let headers = answer.headers();
        assert!(headers["content-type"].to_str().unwrap().starts_with(kind));
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("default-src 'none'") && policy.contains("script-src 'self'"));
        assert!(
            !answer.text().await.unwrap().contains("https://"),
            "{path}: no other origin"
        );
    }
    let root = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(server.url("/"))
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), StatusCode::SEE_OTHER);
    assert_eq!(root.headers()["location"], "/dashboard");
}
