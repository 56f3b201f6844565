use super::*;

fn rule(pattern: &str) -> RouteRule {
    RouteRule {
        pattern: pattern.into(),
        role: Some("user".into()),
        ..Default::default()
    }
}

fn named(name: &str, pattern: &str) -> RouteRule {
    RouteRule {
        name: Some(name.into()),
        ..rule(pattern)
    }
}

fn decided(rules: &Rules, method: Method, path: &str) -> Option<String> {
    match rules.decide(&method, path) {
        Verdict::Matched { rule, .. } => Some(rule.name.clone()),
        Verdict::NoRule => None,
        Verdict::BadPath(why) => Some(format!("bad: {why}")),
    }
}

#[test]
fn patterns_match_whole_segments() {
    let rules = Rules::compile(&[
        named("exact", "/route1"),
        named("one", "/items/*"),
        named("deep", "/files/**"),
        named("middle", "/a/**/z"),
        named("root", "/"),
    ])
    .unwrap();
    let get = |path| decided(&rules, Method::GET, path);
    assert_eq!(get("/route1").as_deref(), Some("exact"));
    assert_eq!(get("/route1/x"), None);
    assert_eq!(get("/route10"), None);
    assert_eq!(get("/items/42").as_deref(), Some("one"));
    assert_eq!(get("/items"), None);
    assert_eq!(get("/items/"), None, "* is one non-empty segment");
    assert_eq!(get("/items/42/more"), None);
    assert_eq!(
        get("/files").as_deref(),
        Some("deep"),
        "** matches no segment"
    );
    assert_eq!(get("/files/").as_deref(), Some("deep"));
    assert_eq!(get("/files/a/b/c").as_deref(), Some("deep"));
    assert_eq!(get("/a/z").as_deref(), Some("middle"));
    assert_eq!(get("/a/b/c/z").as_deref(), Some("middle"));
    assert_eq!(get("/a/b/c"), None);
    assert_eq!(get("/").as_deref(), Some("root"));
    assert_eq!(
        get("/%72oute1").as_deref(),
        Some("exact"),
        "decoded before matching"
    );
    assert_eq!(
        get("/files/../admin").as_deref(),
        Some("bad: the path holds a dot segment")
    );
}

#[test]
fn first_match_wins_and_methods_narrow() {
    let rules = Rules::compile(&[
        RouteRule {
            methods: vec!["post".into(), "PUT".into()],
            ..named("writes", "/api/**")
        },
        named("reads", "/api/**"),
        named("anything", "/**"),
    ])
    .unwrap();
    assert_eq!(
        decided(&rules, Method::POST, "/api/x").as_deref(),
        Some("writes")
    );
    assert_eq!(
        decided(&rules, Method::PUT, "/api").as_deref(),
        Some("writes")
    );
    assert_eq!(
        decided(&rules, Method::GET, "/api/x").as_deref(),
        Some("reads")
    );
    // A wildcard rule earlier than a literal one still comes first.
    let rules = Rules::compile(&[named("all", "/**"), named("later", "/api/**")]).unwrap();
    assert_eq!(
        decided(&rules, Method::GET, "/api/x").as_deref(),
        Some("all")
    );
}

#[test]
fn no_rule_is_a_denial() {
    let rules = Rules::compile(&[rule("/route1")]).unwrap();
    assert!(matches!(
        rules.decide(&Method::GET, "/other"),
        Verdict::NoRule
    ));
    let none = Rules::compile(&[]).unwrap();
    assert!(matches!(none.decide(&Method::GET, "/"), Verdict::NoRule));
}

#[test]
fn access_is_one_of_three() {
    let public = RouteRule {
        pattern: "/p".into(),
        public: true,
        ..Default::default()
    };
    let compiled = Rules::compile(&[public]).unwrap();
    assert_eq!(compiled.rules()[0].access, Access::Public);
    let custom = RouteRule {
        pattern: "/p".into(),
        permission: Some("app.route1".into()),
        ..Default::default()
    };
    let compiled = Rules::compile(&[custom]).unwrap();
    assert_eq!(
        compiled.rules()[0].access,
        Access::Permission(PermissionName::Custom("app.route1".into()))
    );
    assert_eq!(compiled.rules()[0].group, "gateway.route1");
    let builtin = RouteRule {
        pattern: "/p".into(),
        permission: Some("identity.read".into()),
        ..Default::default()
    };
    assert_eq!(
        Rules::compile(&[builtin]).unwrap().rules()[0].access,
        Access::Permission(PermissionName::Builtin(Permission::IdentityRead))
    );
}

#[test]
fn bad_rules_say_which_and_why() {
    let error = |route: RouteRule| {
        Rules::compile(&[rule("/ok"), route])
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        error(RouteRule {
            pattern: "/p".into(),
            ..Default::default()
        }),
        "gateway.routes[2] (route2): say what the rule requires: permission = \"…\", role = \"…\" or public = true"
    );
    assert_eq!(
        error(RouteRule {
            public: true,
            ..rule("/p")
        }),
        "gateway.routes[2] (route2): permission, role and public = true exclude each other"
    );
    assert_eq!(
        error(rule("p")),
        "gateway.routes[2] (route2): match \"p\" must start with /"
    );
    assert!(error(rule("/a*")).contains("whole segments only"));
    assert!(error(rule("/a//b")).contains("empty segment"));
    assert!(error(rule("/a/../b")).contains("dot segment"));
    assert!(error(rule("/caf%C3%A9")).contains("plain text"));
    assert!(
        error(RouteRule {
            role: Some("root".into()),
            ..rule("/p")
        })
        .contains("role \"root\" is not one of")
    );
    assert!(
        error(RouteRule {
            role: None,
            permission: Some("Route1".into()),
            ..rule("/p")
        })
        .contains("neither built in")
    );
    assert!(
        error(RouteRule {
            rate: Some("lots".into()),
            ..rule("/p")
        })
        .starts_with("gateway.routes[2] (route2): rate: ")
    );
    assert!(
        error(RouteRule {
            upstream: Some("ftp://x".into()),
            ..rule("/p")
        })
        .contains("must be http:// or https://")
    );
    assert!(
        error(RouteRule {
            upstream: Some("http://127.0.0.1:5000/base".into()),
            ..rule("/p")
        })
        .contains("origin only")
    );
    assert!(
        error(RouteRule {
            strip_prefix: true,
            ..rule("/p")
        })
        .contains("needs an upstream")
    );
    assert!(
        error(RouteRule {
            methods: vec!["GE T".into()],
            ..rule("/p")
        })
        .contains("is not an HTTP method")
    );
    assert!(error(named("route1", "/p")).contains("another rule has this name"));
    assert!(
        error(RouteRule {
            signed: true,
            public: true,
            role: None,
            ..rule("/p")
        })
        .contains("cannot require a signed request")
    );
}

#[test]
fn strip_prefix_removes_the_literal_head() {
    let rules = Rules::compile(&[RouteRule {
        upstream: Some("http://127.0.0.1:5000/".into()),
        strip_prefix: true,
        ..rule("/route1/**")
    }])
    .unwrap();
    let rule = &rules.rules()[0];
    assert_eq!(rule.upstream.as_deref(), Some("http://127.0.0.1:5000"));
    assert_eq!(rule.upstream_path("/route1/a/b"), "/a/b");
    assert_eq!(rule.upstream_path("/route1"), "/");
    assert_eq!(rule.upstream_path("/route1/"), "/");
}

/// The index must never change which rule wins: compare it with a plain scan of every rule,
/// over many rules and paths drawn from a small alphabet so that they collide often.
#[test]
fn the_index_agrees_with_a_plain_scan() {
    let words = ["a", "b", "c", "*", "**"];
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut routes = Vec::new();
    for i in 0..200 {
        let len = 1 + next(3);
        let pattern: Vec<&str> = (0..len).map(|_| words[next(words.len())]).collect();
        routes.push(named(&format!("r{i}"), &format!("/{}", pattern.join("/"))));
    }
    let rules = Rules::compile(&routes).unwrap();
    let literal = ["a", "b", "c", "d"];
    for _ in 0..5000 {
        let len = next(5);
        let segments: Vec<&str> = (0..len).map(|_| literal[next(literal.len())]).collect();
        let path = format!("/{}", segments.join("/"));
        let decoded = path::segments(&path).unwrap();
        let plain = rules
            .rules()
            .iter()
            .position(|r| matches(&r.segments, &decoded))
            .map(|i| rules.rules()[i].name.clone());
        assert_eq!(decided(&rules, Method::GET, &path), plain, "{path}");
    }
}
