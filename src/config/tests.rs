//! Loading and validating settings.

use super::validate::check_log_level;
use super::*;

#[test]
fn defaults_are_valid_and_listen_on_loopback_8080() {
    let settings = Settings::default();
    settings.validate().unwrap();
    assert_eq!(settings.server.host, "127.0.0.1");
    assert_eq!(settings.server.port, 8080);
    assert_eq!(
        settings.storage.database_url(),
        "sqlite://data/portcullis.db"
    );
}

#[test]
fn an_unknown_key_in_the_file_is_an_error_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, "[server]\nprot = 9000\n").unwrap();
    let err = Settings::load(Some(&path)).unwrap_err().to_string();
    assert!(err.contains("prot"), "{err}");
}

#[test]
fn base_url_gives_the_mount_path() {
    let mount = |url: Option<&str>| {
        let mut settings = Settings::default();
        settings.server.base_url = url.map(str::to_owned);
        settings.server.mount_path()
    };
    assert_eq!(mount(None).unwrap(), "");
    assert_eq!(mount(Some("/")).unwrap(), "");
    assert_eq!(mount(Some("https://api.example.com")).unwrap(), "");
    assert_eq!(mount(Some("https://api.example.com/")).unwrap(), "");
    assert_eq!(mount(Some("/portcullis/")).unwrap(), "/portcullis");
    assert_eq!(mount(Some("http://h:8080/a/b")).unwrap(), "/a/b");
    for bad in [
        "portcullis",
        "/a//b",
        "/a/../b",
        "/a b",
        "ftp://h/x",
        "/a?x",
    ] {
        assert!(mount(Some(bad)).is_err(), "{bad}");
    }
}

#[test]
fn seed_002s_single_client_form_is_one_client_with_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        "[files]\nwg0 = { path = \"/etc/wireguard/wg0.conf\" }\nnotes = { path = \"/srv/n.txt\" }\n\
         [client_keys]\npublic_key = \"\"\"\nPEM\n\"\"\"\n",
    )
    .unwrap();
    let settings = Settings::load(Some(&path)).unwrap();
    let client = &settings.client_keys[DEFAULT_CLIENT];
    assert_eq!(settings.client_keys.len(), 1);
    assert_eq!(client.public_key.trim(), "PEM");
    assert_eq!(client.files, ["notes", "wg0"]);
    assert_eq!(client.actions, None);
    // With `files`, only those.
    std::fs::write(
        &path,
        "[files]\nwg0 = { path = \"/etc/wireguard/wg0.conf\" }\nnotes = { path = \"/srv/n.txt\" }\n\
         [client_keys]\npublic_key = \"PEM\"\nfiles = \"wg0\"\n",
    )
    .unwrap();
    let settings = Settings::load(Some(&path)).unwrap();
    assert_eq!(settings.client_keys[DEFAULT_CLIENT].files, ["wg0"]);
}

#[test]
fn unknown_log_levels_are_refused_with_the_valid_list() {
    for good in [
        "info",
        "WARN",
        "info,portcullis::access=warn",
        "portcullis=debug,off",
    ] {
        check_log_level(good).unwrap();
    }
    for bad in ["verbose", "info,portcullis=loud", "", "portcullis"] {
        let err = check_log_level(bad).unwrap_err();
        assert!(
            err.contains("off, error, warn, info, debug, trace"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn durations_are_read_as_human_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, "[limits]\nrequest_timeout = \"1m 30s\"\n").unwrap();
    let settings = Settings::load(Some(&path)).unwrap();
    assert_eq!(settings.limits.request_timeout, Duration::from_secs(90));
}

#[test]
fn envelope_settings_that_cannot_work_are_refused() {
    for change in [
        |s: &mut Settings| s.envelope.max_token_lifetime = Duration::ZERO,
        |s: &mut Settings| s.envelope.max_token_lifetime = Duration::from_secs(86_401),
        |s: &mut Settings| s.envelope.key_reload_interval = Duration::ZERO,
        |s: &mut Settings| s.envelope.replay_cache_capacity = 0,
    ] {
        let mut settings = Settings::default();
        change(&mut settings);
        assert!(matches!(
            settings.validate(),
            Err(ConfigError::Invalid {
                key: "envelope",
                ..
            })
        ));
    }
}

#[test]
fn seed_002s_debug_flag_means_the_debug_level() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, "[logging]\ndebug = true\n").unwrap();
    assert_eq!(Settings::load(Some(&path)).unwrap().logging.level, "debug");
    // An explicit level wins.
    std::fs::write(&path, "[logging]\ndebug = true\nlevel = \"warn\"\n").unwrap();
    assert_eq!(Settings::load(Some(&path)).unwrap().logging.level, "warn");
    std::fs::write(&path, "[logging]\ndebug = false\n").unwrap();
    assert_eq!(Settings::load(Some(&path)).unwrap().logging.level, "info");
}
