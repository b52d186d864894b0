//! The messages of bad values: file, line and key, or the flag or variable.

use std::time::Duration;

use clap::CommandFactory;

use super::*;

fn load_str(text: &str) -> Result<Config, ConfigError> {
    load_with(text, Overrides::default()).map_err(|(e, _)| e)
}

/// Loads `text` as the file with these overrides; on error, the error
/// and the file's path as it should be shown.
fn load_with(text: &str, o: Overrides) -> Result<Config, (ConfigError, String)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("smileyd.toml");
    std::fs::write(&path, text).unwrap();
    let file = path.display().to_string();
    Config::load(&Overrides {
        config: Some(path),
        ..o
    })
    .map_err(|e| (e, file))
}

/// The whole message of the error `text` gives, with the file's path
/// replaced by FILE.
fn error_of(text: &str) -> String {
    error_with(text, Overrides::default())
}

fn error_with(text: &str, o: Overrides) -> String {
    match load_with(text, o) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err((e, file)) => e.to_string().replace(&file, "FILE"),
    }
}

#[test]
fn defaults() {
    let c = Config::load(&Overrides::default()).unwrap();
    assert_eq!(c.sip_listen, "0.0.0.0:5060".parse().unwrap());
    assert_eq!(c.rtp_ports, (10000, 20000));
    assert_eq!(c.allowed_networks.len(), 6);
    assert_eq!(c.surveys.len(), 1);
    assert_eq!(c.default_survey, "smiley");
}

#[test]
fn errors_name_the_key_and_line() {
    assert_eq!(
        error_of("[survey]\nattempts = 0\n"),
        "FILE: line 2: survey.attempts: must be between 1 and 10"
    );
    let e = load_str("sip_listen = \"127.0.0.1:5060\"\n\n[media]\nsymetric_rtp = true\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 4") && e.contains("symetric_rtp"), "{e}");
    let e = load_str("[survey]\nattempts = 3\ndigit_timeout_ms = \"soon\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 3") && e.contains("survey.digit_timeout_ms"),
        "{e}"
    );
    let e = load_str("rtp_ports = \"20000-100\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("rtp_ports"), "{e}");
    let e = load_str("[sip]\nallowed_networks = [\"nonsense\"]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("sip.allowed_networks"), "{e}");
}

#[test]
fn a_value_not_allowed_in_survey_names_the_file_line_and_key() {
    let head = "# comment\ndefault_survey = \"smiley\"\n\n[survey]\nkind = \"smiley\"\n";
    assert_eq!(
        error_of(&format!("{head}attempts = 0\n")),
        "FILE: line 6: survey.attempts: must be between 1 and 10"
    );
    assert_eq!(
        error_of(&format!("{head}digit_timeout_ms = 50\n")),
        "FILE: line 6: survey.digit_timeout_ms: must be between 100 and 120000"
    );
    assert_eq!(
        error_of(&format!("{head}happy_key = \"1\"\nsad_key = \"2,1\"\n")),
        "FILE: line 7: survey.sad_key: shares a key with happy_key"
    );
    // sad_key is the default "2": the one written is to blame.
    assert_eq!(
        error_of(&format!("{head}happy_key = \"2\"\nlanguage = \"en\"\n")),
        "FILE: line 6: survey.happy_key: shares a key with sad_key"
    );
    assert_eq!(
        error_of(&format!("{head}happy_key = \"X\"\n")),
        "FILE: line 6: survey.happy_key: 'X' must be DTMF keys (0-9, *, #, A-D)"
    );
    assert_eq!(
        error_of(&format!("{head}language = \"e n\"\n")),
        "FILE: line 6: survey.language: 'e n' is not a language code"
    );
    // Not one of the kinds: refused while reading, also at its line.
    assert_eq!(
        error_of("[survey]\nattempts = 2\nkind = \"stars\"\n").lines().next(),
        Some("FILE: line 3: survey.kind: unknown variant `stars`, expected one of `smiley`, `csat`, `nps`")
    );
}

#[test]
fn a_value_not_allowed_in_a_named_survey_names_its_line() {
    let text = "default_survey = \"quick\"\n\n[survey]\nattempts = 3\n\n\
                [surveys.quick]\nkind = \"csat\"\nattempts = 11\n";
    assert_eq!(
        error_of(text),
        "FILE: line 8: surveys.quick.attempts: must be between 1 and 10"
    );
    let text = "[surveys.a]\n\n[surveys.b]\nhappy_key = \"4\"\nsad_key = \"4\"\n";
    assert_eq!(
        error_of(text),
        "FILE: line 5: surveys.b.sad_key: shares a key with happy_key"
    );
    assert_eq!(
        error_of("[surveys.a]\n\n[surveys.\"b c\"]\nkind = \"nps\"\n"),
        "FILE: line 3: surveys.b c: survey names are letters, digits, - and _"
    );
    assert_eq!(
        error_of("default_survey = \"nope\"\n\n[surveys.a]\n"),
        "FILE: line 1: default_survey: 'nope' is not a configured survey"
    );
    // Dotted keys and inline tables are found as well.
    assert_eq!(
        error_of("surveys.a.kind = \"csat\"\nsurveys.b = { attempts = 0 }\n"),
        "FILE: line 2: surveys.b.attempts: must be between 1 and 10"
    );
}

#[test]
fn an_inherited_value_not_allowed_names_the_line_in_survey() {
    let text = "[survey]\nkind = \"smiley\"\nattempts = 0\n\n[surveys.quick]\nkind = \"csat\"\n";
    assert_eq!(
        error_of(text),
        "FILE: line 3: survey.attempts: must be between 1 and 10 (inherited by surveys.quick)"
    );
    // A survey's own value is the one it uses.
    let text = "[survey]\nattempts = 0\n\n[surveys.quick]\nattempts = 11\n";
    assert_eq!(
        error_of(text),
        "FILE: line 5: surveys.quick.attempts: must be between 1 and 10"
    );
    // happy_key from [survey], the clashing sad_key in the survey's own table.
    let text = "[survey]\nhappy_key = \"5\"\n\n[surveys.quick]\nsad_key = \"5\"\n";
    assert_eq!(
        error_of(text),
        "FILE: line 5: surveys.quick.sad_key: shares a key with happy_key"
    );
    let text = "[survey]\nsad_key = \"5\"\n\n[surveys.quick]\nhappy_key = \"5\"\n";
    assert_eq!(
        error_of(text),
        "FILE: line 5: surveys.quick.happy_key: shares a key with sad_key"
    );
    // Both inherited.
    let text = "[survey]\nhappy_key = \"5\"\nsad_key = \"5\"\n\n[surveys.q]\nkind = \"smiley\"\n";
    assert_eq!(
        error_of(text),
        "FILE: line 3: survey.sad_key: shares a key with happy_key (inherited by surveys.q)"
    );
}

#[test]
fn a_value_not_allowed_from_a_flag_or_variable_names_it() {
    let flag = || Overrides {
        rtp_ports: Some("20000-100".into()),
        ..Default::default()
    };
    let msg = "'20000-100' must be FIRST-LAST with 1024 ≤ FIRST < LAST ≤ 65535";
    // The file's value is fine and the flag's wins.
    let text = "rtp_ports = \"10000-11000\"\n";
    assert_eq!(error_with(text, flag()), format!("--rtp-ports: {msg}"));
    let env = Overrides {
        from_env: vec!["rtp_ports".into()],
        ..flag()
    };
    assert_eq!(error_with(text, env), format!("SMILEYD_RTP_PORTS: {msg}"));
    // From the file: its line.
    assert_eq!(
        error_of("# ports\nrtp_ports = \"20000-100\"\n"),
        format!("FILE: line 2: rtp_ports: {msg}")
    );
    // Without a file.
    let e = Config::load(&Overrides {
        public_ip: Some("nowhere".into()),
        from_env: vec!["public_ip".into()],
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "SMILEYD_PUBLIC_IP: 'nowhere' is not an IP address"
    );
    let o = Overrides {
        sip_listen: Some("5060".into()),
        ..Default::default()
    };
    assert_eq!(
        error_with("sip_listen = \"0.0.0.0:5060\"\n", o),
        "--sip-listen: '5060' is not an address:port (e.g. 0.0.0.0:5060)"
    );
    let o = Overrides {
        database_url: Some("mysql://x".into()),
        from_env: vec!["database_url".into()],
        ..Default::default()
    };
    assert_eq!(
        error_with("", o),
        "SMILEYD_DATABASE_URL: 'mysql://x' must start with sqlite: or postgres://"
    );
}

#[test]
fn flags_are_told_from_variables() {
    let cli = Cli::from_matches(
        &Cli::command()
            .try_get_matches_from(["smileyd", "--rtp-ports", "20000-100"])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(cli.overrides.rtp_ports.as_deref(), Some("20000-100"));
    assert!(!cli.overrides.from_env.iter().any(|id| id == "rtp_ports"));
    // Every override has the flag and the variable its error would name.
    for arg in Cli::command().get_arguments() {
        let id = arg.get_id().as_str();
        if ["help", "version"].contains(&id) {
            continue;
        }
        let o = Overrides {
            from_env: vec![id.to_string()],
            ..Default::default()
        };
        assert_eq!(
            Overrides::default().given_as(id),
            format!("--{}", id.replace('_', "-"))
        );
        assert_eq!(o.given_as(id), format!("SMILEYD_{}", id.to_uppercase()));
    }
}

#[test]
fn other_tables_name_the_line_of_the_value() {
    assert_eq!(
        error_of("[sip]\nallowed_networks = [\n  \"10.0.0.0/8\",\n  \"nonsense\",\n]\n"),
        "FILE: line 4: sip.allowed_networks[1]: 'nonsense' is not a CIDR network"
    );
    assert_eq!(
        error_of("[sip]\nt1_ms = 1\n"),
        "FILE: line 2: sip.t1_ms: must be between 50 and 10000"
    );
    assert_eq!(
        error_of("[media]\nmedia_timeout_secs = 30\nmax_call_secs = 0\n"),
        "FILE: line 3: media.max_call_secs: must be positive"
    );
    assert_eq!(
        error_of("[headers]\nagent = \"X Agent\"\n"),
        "FILE: line 2: headers.agent: 'X Agent' is not a header name"
    );
    let e = error_of(
        "[sources]\nagent = [\n  \"header:X-Agent-Id\",\n  { source = \"uri-user\", regex = \"(\" },\n]\n",
    );
    assert!(e.starts_with("FILE: line 4: sources.agent[1]: "), "{e}");
    assert_eq!(
        error_of("[sources]\nqueue = [\"nowhere\"]\n")
            .split(" (")
            .next(),
        Some("FILE: line 2: sources.queue[0]: unknown source 'nowhere'")
    );
    let hook =
        |url: &str| format!("[[webhooks]]\nurl = \"{url}\"\nsecret = \"0123456789abcdef\"\n\n");
    assert_eq!(
        error_of(&format!(
            "{}{}",
            hook("https://a.example/"),
            hook("https://a.example/")
        )),
        "FILE: line 6: webhooks[1].url: 'https://a.example/' is listed twice"
    );
    assert_eq!(
        error_of("[[webhooks]]\nurl = \"https://a.example/\"\nsecret = \"short\"\n"),
        "FILE: line 3: webhooks[0].secret: the secret for https://a.example/ must be at least 16 characters"
    );
    assert_eq!(
        error_of(&hook("http://127.0.0.1:22/x")),
        "FILE: line 2: webhooks[0].url: 127.0.0.1 is a loopback address; webhooks go there only \
         with webhook_delivery.allow_private_networks = true"
    );
    assert_eq!(
        error_of(&format!(
            "[webhook_delivery]\nallow_private_networks = true\n\n{}",
            hook("http://169.254.169.254/latest")
        )),
        "FILE: line 5: webhooks[0].url: 169.254.169.254 is a link-local address; webhooks are \
         never delivered there"
    );
    assert_eq!(
        error_of("[webhook_delivery]\nca_file = \"/nonexistent/ca.pem\"\n")
            .split(" (")
            .next(),
        Some("FILE: line 2: webhook_delivery.ca_file: /nonexistent/ca.pem: No such file or directory")
    );
    assert_eq!(
        error_of("[api]\nmetrics = \"maybe\"\n"),
        "FILE: line 2: api.metrics: 'maybe' must be open, read or off"
    );
    assert_eq!(
        error_of("[database]\n\npool_size = 0\n"),
        "FILE: line 3: database.pool_size: must be between 1 and 1000"
    );
    assert_eq!(
        error_of("[recordings]\nmax_secs = 0\n"),
        "FILE: line 2: recordings.max_secs: must be between 1 and 600"
    );
}

#[test]
fn example_config_is_valid_and_complete() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("smileyd.example.toml");
    let c = Config::load(&Overrides {
        config: Some(path.clone()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(c.sip_listen, "0.0.0.0:5060".parse().unwrap());
    // Where its keys are can be told (else errors would have no line).
    let text = file::FileText::read(&path).unwrap();
    let parsed = text.parse().unwrap();
    assert!(parsed.surveys.contains_key("csat"));
    let span = text.survey_name_span("csat").unwrap();
    assert!(text.text[span].starts_with("csat"));
}

#[test]
fn database_pool_and_timeout() {
    let c = load_str("").unwrap();
    assert_eq!(c.database, crate::store::ConnectOptions::default());
    let c = load_str("[database]\npool_size = 20\nstatement_timeout_ms = 3000\n").unwrap();
    assert_eq!(c.database.pool_size, Some(20));
    assert_eq!(
        c.database.statement_timeout,
        Some(Duration::from_millis(3000))
    );
    for bad in [
        "pool_size = 0",
        "statement_timeout_ms = 5",
        "pool_size = 5000",
    ] {
        let e = load_str(&format!("[database]\n{bad}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("database."), "{bad}: {e}");
    }
}

#[test]
fn dtmf_inband() {
    use crate::media::InbandMode;
    assert_eq!(load_str("").unwrap().dtmf_inband, InbandMode::Auto);
    for (written, mode) in [
        ("auto", InbandMode::Auto),
        ("on", InbandMode::On),
        ("off", InbandMode::Off),
    ] {
        let c = load_str(&format!("[dtmf]\ninband = \"{written}\"\n")).unwrap();
        assert_eq!(c.dtmf_inband, mode);
    }
    let e = error_of("[dtmf]\n\ninband = \"yes\"\n");
    assert!(
        e.starts_with("FILE: line 3: dtmf.inband: ") && e.contains("`auto`, `on`, `off`"),
        "{e}"
    );
}

#[test]
fn connection_bounds() {
    let c = load_str("").unwrap();
    assert_eq!(
        c.connections,
        crate::sip::connection::ConnectionLimits::default()
    );
    let c = load_str(
        "[sip]\nmax_connections = 10\nmax_connections_per_source = 3\nconnection_idle_secs = 60\nmax_message_bytes = 8192\nmessage_timeout_ms = 2500\n",
    )
    .unwrap();
    assert_eq!(c.connections.max_total, 10);
    assert_eq!(c.connections.max_per_source, 3);
    assert_eq!(c.connections.idle, Duration::from_secs(60));
    assert_eq!(c.connections.max_message, 8192);
    assert_eq!(c.connections.message_time, Duration::from_millis(2500));
    assert_eq!(
        error_of("[sip]\nmax_message_bytes = 100000\n"),
        "FILE: line 2: sip.max_message_bytes: must be between 1024 and 65536"
    );
    assert_eq!(
        error_of("[sip]\nmax_connections = 0\n"),
        "FILE: line 2: sip.max_connections: must be between 1 and 1000000"
    );
}

/// [webhook_delivery]: the CA file is read at load; one without a PEM
/// certificate is refused with its line, one with a certificate is taken.
#[test]
fn webhook_delivery_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    assert_eq!(
        error_of(&format!(
            "[webhook_delivery]\nca_file = \"{}\"\n",
            junk.display()
        )),
        format!(
            "FILE: line 2: webhook_delivery.ca_file: {}: no PEM certificate in it",
            junk.display()
        )
    );
    let key = rcgen::KeyPair::generate().unwrap();
    let ca = rcgen::CertificateParams::new(vec!["ca.example".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let good = dir.path().join("ca.pem");
    std::fs::write(&good, ca.pem()).unwrap();
    let text = format!(
        "[webhook_delivery]\nca_file = \"{}\"\nallow_private_networks = true\n\n\
         [[webhooks]]\nurl = \"http://10.0.0.5/hook\"\nsecret = \"0123456789abcdef\"\n",
        good.display()
    );
    let c = load_with(&text, Overrides::default())
        .map_err(|e| e.0)
        .unwrap();
    assert_eq!(c.webhook_delivery.ca_file.as_deref(), Some(good.as_path()));
    assert!(c.webhook_delivery.allow_private_networks);
    assert_eq!(c.webhooks[0].url, "http://10.0.0.5/hook");
    assert_eq!(
        load_with("", Overrides::default())
            .map_err(|e| e.0)
            .unwrap()
            .webhook_delivery,
        crate::config::WebhookDelivery::default()
    );
}

#[test]
fn tls_is_off_by_default_and_needs_readable_files() {
    let c = load_str("").unwrap();
    assert_eq!((c.sip_tls_listen, c.tls), (None, None));
    // [tls] alone does nothing without sip_tls_listen.
    assert!(load_str("[tls]\nhandshake_timeout_ms = 2000\n").is_ok());
    let e = load_str("sip_tls_listen = \"127.0.0.1:5061\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("tls.cert_file") && e.contains("tls.key_file"),
        "{e}"
    );
    let e = load_str(
        "sip_tls_listen = \"127.0.0.1:5061\"\n[tls]\ncert_file = \"/nonexistent/c.pem\"\nkey_file = \"/nonexistent/k.pem\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("tls.cert_file /nonexistent/c.pem"), "{e}");
    assert!(error_of("[tls]\nhandshake_timeout_ms = 5\n").contains("tls.handshake_timeout_ms"));
}

#[test]
fn srtp_policy_and_the_cleartext_keys_switch() {
    use crate::media::srtp::SrtpMode;
    let c = load_str("").unwrap();
    assert_eq!(
        (c.srtp, c.srtp_keys_in_cleartext),
        (SrtpMode::Optional, false)
    );
    for (written, mode) in [
        ("off", SrtpMode::Off),
        ("optional", SrtpMode::Optional),
        ("required", SrtpMode::Required),
    ] {
        let c = load_str(&format!("[media]\nsrtp = \"{written}\"\n")).unwrap();
        assert_eq!(c.srtp, mode);
        assert_eq!(mode.as_str(), written);
    }
    let c = load_str("[media]\nsrtp_allow_keys_in_cleartext = true\n").unwrap();
    assert!(c.srtp_keys_in_cleartext);
    let e = error_of("[media]\nsrtp = \"mandatory\"\n");
    assert!(
        e.starts_with("FILE: line 2: media.srtp: ") && e.contains("`required`"),
        "{e}"
    );
}
