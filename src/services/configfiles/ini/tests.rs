//! The INI format: round trips, edits and refusals.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use super::*;

const ALICE: &str = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
const BOB: &str = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=";
const CAROL: &str = "gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=";
const DAVE: &str = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";

const WG: &str = "\
# wg0.conf - office gateway
# managed by portcullis

[Interface]
Address = 10.8.0.1/24
ListenPort = 51820
PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=
; keep the MTU low for the LTE uplink
MTU = 1380

# alice - laptop
[Peer]
PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
# home office
AllowedIPs = 10.8.0.2/32

# bob - phone
[Peer]
PublicKey = TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=
AllowedIPs = 10.8.0.3/32
AllowedIPs = 192.168.50.0/24
PersistentKeepalive = 25

# carol - nas
[Peer]
PublicKey = gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=
AllowedIPs = 10.8.0.4/32
Endpoint = nas.example.net:51820
";

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn by_key(key: &str) -> Selector {
    Selector::Where(pairs(&[("PublicKey", key)]))
}

fn parse_error(text: &str) -> (usize, String) {
    match IniDocument::parse(text) {
        Err(IniError::Parse { line, reason }) => (line, reason),
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn round_trips_byte_for_byte() -> Result<(), IniError> {
    let crlf = WG.replace('\n', "\r\n");
    let cases = [
        WG,
        &crlf,
        "",
        "\n",
        "\r\n",
        "# only a comment",
        "# lead\n; lead 2\n\n[A]\nk = v",
        "[A]\r\nk = v\nx=y\r\n",
        "  \t\n[ Spaced ]   # note\n  key=  v = w  \n\n\n",
        "[A]\nk = v\r",
        "[A]\nk =\nbase = abc== # not a comment\n",
    ];
    for text in cases {
        assert_eq!(IniDocument::parse(text)?.render(), text);
    }
    Ok(())
}

#[test]
fn lists_sections_in_file_order() -> Result<(), IniError> {
    let sections = IniDocument::parse(WG)?.sections();
    let names: Vec<(&str, usize)> = sections
        .iter()
        .map(|s| (s.name.as_str(), s.index))
        .collect();
    assert_eq!(
        names,
        [("Interface", 0), ("Peer", 0), ("Peer", 1), ("Peer", 2)]
    );
    assert_eq!(
        sections[2].entries,
        pairs(&[
            ("PublicKey", BOB),
            ("AllowedIPs", "10.8.0.3/32"),
            ("AllowedIPs", "192.168.50.0/24"),
            ("PersistentKeepalive", "25"),
        ])
    );
    Ok(())
}

#[test]
fn values_keep_equals_and_hashes() -> Result<(), IniError> {
    let doc = IniDocument::parse("[A]\nk = abc== # not a comment\ne =\n")?;
    let section = doc.find("A", &Selector::Only)?;
    assert_eq!(
        section.entries,
        pairs(&[("k", "abc== # not a comment"), ("e", "")])
    );
    Ok(())
}

#[test]
fn finds_by_index_and_by_public_key() -> Result<(), IniError> {
    let doc = IniDocument::parse(WG)?;
    let carol = doc.find("Peer", &Selector::Index(2))?;
    assert_eq!(carol.index, 2);
    assert_eq!(carol.entries[0], ("PublicKey".to_owned(), CAROL.to_owned()));
    let bob = doc.find("Peer", &by_key(BOB))?;
    assert_eq!(bob.index, 1);
    assert_eq!(
        bob.entries[1],
        ("AllowedIPs".to_owned(), "10.8.0.3/32".to_owned())
    );
    let both = Selector::Where(pairs(&[
        ("PublicKey", BOB),
        ("AllowedIPs", "192.168.50.0/24"),
    ]));
    assert_eq!(doc.find("Peer", &both)?.index, 1);
    assert_eq!(
        doc.find("Interface", &Selector::Only)?.entries[1].1,
        "51820"
    );
    Ok(())
}

#[test]
fn find_reports_missing_and_ambiguous() -> Result<(), IniError> {
    let doc = IniDocument::parse(WG)?;
    let missing = IniError::NotFound {
        section: "Peer".to_owned(),
    };
    assert_eq!(doc.find("Peer", &Selector::Index(3)), Err(missing.clone()));
    assert_eq!(doc.find("Peer", &by_key(DAVE)), Err(missing));
    let ambiguous = IniError::Ambiguous {
        section: "Peer".to_owned(),
        count: 3,
    };
    assert_eq!(doc.find("Peer", &Selector::Only), Err(ambiguous));
    let two = Selector::Where(pairs(&[("allowedips", "10.8.0.3/32")]));
    assert_eq!(doc.find("Peer", &two)?.index, 1);
    assert_eq!(
        doc.find("Nope", &Selector::Only).map_err(|e| e.to_string()),
        Err("no matching [Nope] section".to_owned())
    );
    Ok(())
}

#[test]
fn matches_names_and_keys_ignoring_case() -> Result<(), IniError> {
    let doc = IniDocument::parse(WG)?;
    let found = doc.find("peer", &Selector::Where(pairs(&[("PUBLICKEY", ALICE)])))?;
    assert_eq!(found.name, "Peer");
    assert_eq!(found.index, 0);
    assert_eq!(found.entries[0].0, "PublicKey");
    assert_eq!(doc.find("INTERFACE", &Selector::Only)?.name, "Interface");
    // Values stay exact: base64 is case-sensitive.
    let lower = Selector::Where(pairs(&[("PublicKey", &ALICE.to_lowercase())]));
    assert!(matches!(
        doc.find("Peer", &lower),
        Err(IniError::NotFound { .. })
    ));
    Ok(())
}

#[test]
fn upsert_replaces_in_place_keeping_comments() -> Result<(), IniError> {
    let mut doc = IniDocument::parse(WG)?;
    let entries = pairs(&[
        ("PublicKey", ALICE),
        ("allowedips", "10.8.0.2/32, 10.8.1.0/24"),
    ]);
    assert_eq!(
        doc.upsert("Peer", &by_key(ALICE), &entries)?,
        Upsert::Replaced
    );
    let expected = WG.replacen(
        "# home office\nAllowedIPs = 10.8.0.2/32\n",
        "# home office\nAllowedIPs = 10.8.0.2/32, 10.8.1.0/24\n",
        1,
    );
    assert_eq!(doc.render(), expected);
    Ok(())
}

#[test]
fn upsert_pairs_repeated_keys_by_occurrence() -> Result<(), IniError> {
    let mut doc = IniDocument::parse(WG)?;
    let entries = pairs(&[
        ("PublicKey", BOB),
        ("AllowedIPs", "10.8.0.3/32"),
        ("AllowedIPs", "192.168.60.0/24"),
        ("AllowedIPs", "10.9.0.0/16"),
    ]);
    assert_eq!(
        doc.upsert("Peer", &Selector::Index(1), &entries)?,
        Upsert::Replaced
    );
    let expected = WG.replacen(
        "AllowedIPs = 10.8.0.3/32\nAllowedIPs = 192.168.50.0/24\nPersistentKeepalive = 25\n",
        "AllowedIPs = 10.8.0.3/32\nAllowedIPs = 192.168.60.0/24\nAllowedIPs = 10.9.0.0/16\n",
        1,
    );
    assert_eq!(doc.render(), expected);
    Ok(())
}

#[test]
fn upsert_keeps_untouched_formatting_and_inserts_after_last_entry() -> Result<(), IniError> {
    let mut doc = IniDocument::parse("[A]\r\nkey=same\r\nold = 1\r\n# tail\r\n")?;
    let entries = pairs(&[("KEY", "same"), ("new", ""), ("more", "x")]);
    assert_eq!(
        doc.upsert("a", &Selector::Only, &entries)?,
        Upsert::Replaced
    );
    assert_eq!(
        doc.render(),
        "[A]\r\nkey=same\r\nnew =\r\nmore = x\r\n# tail\r\n"
    );

    let mut bare = IniDocument::parse("[A]\n# only a comment\n")?;
    bare.upsert("A", &Selector::Only, &pairs(&[("k", "v")]))?;
    assert_eq!(bare.render(), "[A]\nk = v\n# only a comment\n");
    Ok(())
}

#[test]
fn upsert_appends_a_new_peer() -> Result<(), IniError> {
    let mut doc = IniDocument::parse(WG)?;
    let entries = pairs(&[("PublicKey", DAVE), ("AllowedIPs", "10.8.0.5/32")]);
    assert_eq!(doc.upsert("Peer", &by_key(DAVE), &entries)?, Upsert::Added);
    let expected = format!("{WG}\n[Peer]\nPublicKey = {DAVE}\nAllowedIPs = 10.8.0.5/32\n");
    assert_eq!(doc.render(), expected);
    assert_eq!(doc.find("Peer", &by_key(DAVE))?.index, 3);
    // Index equal to the count appends too; beyond it is an error.
    assert_eq!(
        doc.upsert("Peer", &Selector::Index(4), &entries[1..])?,
        Upsert::Added
    );
    assert_eq!(
        doc.upsert("Peer", &Selector::Index(6), &entries),
        Err(IniError::NotFound {
            section: "Peer".to_owned()
        })
    );
    Ok(())
}

#[test]
fn upsert_appends_in_the_file_style() -> Result<(), IniError> {
    let mut empty = IniDocument::parse("")?;
    empty.upsert(
        "Interface",
        &Selector::Only,
        &pairs(&[("PrivateKey", "k=")]),
    )?;
    assert_eq!(empty.render(), "[Interface]\nPrivateKey = k=\n");

    let mut open = IniDocument::parse("[A]\nx = 1")?;
    open.upsert("B", &Selector::Only, &pairs(&[("y", "2")]))?;
    assert_eq!(open.render(), "[A]\nx = 1\n\n[B]\ny = 2");

    let mut crlf = IniDocument::parse("[A]\r\nx = 1\r\n\r\n\r\n")?;
    crlf.upsert("B", &Selector::Index(0), &pairs(&[("y", "2")]))?;
    assert_eq!(crlf.render(), "[A]\r\nx = 1\r\n\r\n[B]\r\ny = 2\r\n");
    Ok(())
}

#[test]
fn upsert_refuses_ambiguity() -> Result<(), IniError> {
    let mut doc = IniDocument::parse(WG)?;
    let result = doc.upsert("Peer", &Selector::Only, &pairs(&[("PublicKey", DAVE)]));
    assert_eq!(
        result,
        Err(IniError::Ambiguous {
            section: "Peer".to_owned(),
            count: 3
        })
    );
    assert_eq!(doc.render(), WG);
    Ok(())
}

#[test]
fn upsert_rejects_injection() -> Result<(), IniError> {
    let mut doc = IniDocument::parse(WG)?;
    let bad_entries = [
        ("Endpoint", "x\n[Interface]"),
        ("Endpoint", "x\r\nPrivateKey = stolen"),
        ("Endpoint", "x\r"),
        ("Endpoint", " padded"),
        ("a]", "v"),
        ("[Interface]", "v"),
        ("a=b", "v"),
        ("#a", "v"),
        (";a", "v"),
        (" a", "v"),
        ("", "v"),
        ("a\nb", "v"),
    ];
    for (key, value) in bad_entries {
        let entries = pairs(&[("PublicKey", ALICE), (key, value)]);
        let result = doc.upsert("Peer", &by_key(ALICE), &entries);
        assert!(
            matches!(&result, Err(IniError::InvalidEntry(r)) if r.starts_with("entry 2: ")),
            "{key:?} = {value:?} gave {result:?}"
        );
    }
    for name in ["Peer]\n[x", "", "Peer ", "a b", "[Peer]", "P#"] {
        let result = doc.upsert(name, &Selector::Only, &pairs(&[("k", "v")]));
        assert!(matches!(result, Err(IniError::InvalidName(_))), "{name:?}");
    }
    assert_eq!(doc.render(), WG);
    Ok(())
}

#[test]
fn edits_read_back_as_written() -> Result<(), IniError> {
    let mut doc = IniDocument::parse(WG)?;
    let entries = pairs(&[
        ("PublicKey", DAVE),
        ("Endpoint", "h:1"),
        ("Note", "a = b # c"),
    ]);
    doc.upsert("Peer", &by_key(CAROL), &entries)?;
    let again = IniDocument::parse(&doc.render())?;
    assert_eq!(again.sections(), doc.sections());
    assert_eq!(again.find("Peer", &Selector::Index(2))?.entries, entries);
    Ok(())
}

#[test]
fn removes_middle_peer_with_its_comment() -> Result<(), IniError> {
    let mut doc = IniDocument::parse(WG)?;
    let removed = doc.remove("Peer", &by_key(BOB))?;
    assert_eq!(removed.index, 1);
    assert_eq!(
        removed.entries[3],
        ("PersistentKeepalive".to_owned(), "25".to_owned())
    );
    let expected = "\
# wg0.conf - office gateway
# managed by portcullis

[Interface]
Address = 10.8.0.1/24
ListenPort = 51820
PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=
; keep the MTU low for the LTE uplink
MTU = 1380

# alice - laptop
[Peer]
PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
# home office
AllowedIPs = 10.8.0.2/32

# carol - nas
[Peer]
PublicKey = gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=
AllowedIPs = 10.8.0.4/32
Endpoint = nas.example.net:51820
";
    assert_eq!(doc.render(), expected);
    Ok(())
}

#[test]
fn removes_first_and_last_sections_cleanly() -> Result<(), IniError> {
    let mut doc = IniDocument::parse(WG)?;
    doc.remove("Peer", &Selector::Index(2))?;
    assert!(doc.render().ends_with("PersistentKeepalive = 25\n"));
    doc.remove("interface", &Selector::Only)?;
    let rendered = doc.render();
    assert!(rendered.starts_with(
        "# wg0.conf - office gateway\n# managed by portcullis\n\n# alice - laptop\n[Peer]\n"
    ));

    let mut plain = IniDocument::parse("[A]\nx = 1\n\n[B]\ny = 2\n")?;
    plain.remove("A", &Selector::Only)?;
    assert_eq!(plain.render(), "[B]\ny = 2\n");
    plain.remove("B", &Selector::Only)?;
    assert_eq!(plain.render(), "");
    Ok(())
}

#[test]
fn remove_keeps_comments_that_belong_to_the_next_section() -> Result<(), IniError> {
    let mut kept = IniDocument::parse("[A]\nx = 1\n# about A\n\n; about B\n[B]\ny = 2\n")?;
    kept.remove("A", &Selector::Only)?;
    assert_eq!(kept.render(), "; about B\n[B]\ny = 2\n");

    let mut trailing = IniDocument::parse("[A]\nx = 1\n# about A\n[B]\ny = 2")?;
    trailing.remove("A", &Selector::Only)?;
    assert_eq!(trailing.render(), "[B]\ny = 2");

    let mut missing = IniDocument::parse(WG)?;
    assert!(matches!(
        missing.remove("Peer", &by_key(DAVE)),
        Err(IniError::NotFound { .. })
    ));
    assert!(matches!(
        missing.remove("Peer", &Selector::Only),
        Err(IniError::Ambiguous { count: 3, .. })
    ));
    assert_eq!(missing.render(), WG);
    Ok(())
}

#[test]
fn parse_errors_name_the_line() {
    assert_eq!(
        parse_error("# ok\nAddress = 10.0.0.1/24\n[Interface]\n"),
        (2, "entry before the first section header".to_owned())
    );
    assert_eq!(
        parse_error("[Interface]\nListenPort = 1\nthis is garbage\n"),
        (
            3,
            "expected `Key = Value`, a `[Section]` header or a comment".to_owned()
        )
    );
    assert_eq!(
        parse_error("# c\n[Peer\nk = v\n"),
        (2, "unterminated section header".to_owned())
    );
    assert_eq!(
        parse_error("\r\n\r\n[ ]\r\n"),
        (3, "empty section name".to_owned())
    );
    assert_eq!(parse_error("[]"), (1, "empty section name".to_owned()));
    assert_eq!(
        parse_error("[A] junk\n"),
        (1, "unexpected text after section header".to_owned())
    );
    assert_eq!(
        parse_error("[A]\n = v\n"),
        (2, "missing key before `=`".to_owned())
    );
    assert_eq!(
        parse_error("garbage before"),
        (
            1,
            "expected `Key = Value`, a `[Section]` header or a comment".to_owned()
        )
    );
}

#[test]
fn errors_never_echo_the_file() {
    let err = IniDocument::parse("[Interface]\nPrivateKeySECRETSECRET\n");
    let message = err.map(|_| ()).map_err(|e| e.to_string());
    assert_eq!(
        message,
        Err("line 2: expected `Key = Value`, a `[Section]` header or a comment".to_owned())
    );
}

#[test]
fn debug_hides_contents() -> Result<(), IniError> {
    let doc = IniDocument::parse(WG)?;
    assert_eq!(
        format!("{doc:?}"),
        "IniDocument { lines: 28, sections: 4, .. }"
    );
    Ok(())
}
