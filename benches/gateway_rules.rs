//! What deciding a request costs against a thousand rules (`gateway::Rules::decide`): path
//! decoding, the first-segment index, then the scan of the candidates.
//!
//! Run: `cargo bench --bench gateway_rules`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use http::Method;
use portcullis::gateway::{RouteRule, Rules, Verdict};

/// 1,000 rules: 990 services each with a literal prefix, and ten wildcard rules that every
/// path must also be tried against.
fn thousand() -> Rules {
    let mut routes = Vec::new();
    for i in 0..990 {
        routes.push(RouteRule {
            pattern: format!("/svc{i}/v1/*/items/**"),
            methods: vec!["GET".into(), "POST".into()],
            permission: Some(format!("app.svc{i}")),
            ..Default::default()
        });
    }
    for i in 0..10 {
        routes.push(RouteRule {
            pattern: format!("/*/health{i}"),
            public: true,
            ..Default::default()
        });
    }
    Rules::compile(&routes).unwrap()
}

#[divan::bench(sample_count = 1000, sample_size = 100)]
fn last_service_of_a_thousand(bencher: divan::Bencher) {
    let rules = thousand();
    bencher.bench_local(|| {
        matches!(
            rules.decide(
                &Method::GET,
                divan::black_box("/svc989/v1/acme/items/42/detail")
            ),
            Verdict::Matched { .. }
        )
    });
}

#[divan::bench(sample_count = 1000, sample_size = 100)]
fn no_rule_of_a_thousand(bencher: divan::Bencher) {
    let rules = thousand();
    bencher.bench_local(|| {
        matches!(
            rules.decide(
                &Method::GET,
                divan::black_box("/unknown/path/of/some/length")
            ),
            Verdict::NoRule
        )
    });
}

#[divan::bench(sample_count = 1000, sample_size = 100)]
fn percent_encoded_path(bencher: divan::Bencher) {
    let rules = thousand();
    bencher.bench_local(|| {
        matches!(
            rules.decide(
                &Method::GET,
                divan::black_box("/svc5/v1/a%20b/items/%C3%A9")
            ),
            Verdict::Matched { .. }
        )
    });
}

fn main() {
    divan::main();
}
