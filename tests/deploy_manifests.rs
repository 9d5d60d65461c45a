//! The container image and the Kubernetes manifests, checked without a container engine or
//! a cluster (this machine has neither): every manifest conforms to the Kubernetes API's
//! schemas (kubernetes-validate, strict: unknown fields are errors), every reference resolves,
//! the configuration and policy they carry pass `portcullis check`, the Dockerfile copies
//! what exists and its settings are real keys, and `portcullis healthcheck` works.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;
use support::Portcullis;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn documents() -> Vec<Value> {
    let mut docs = Vec::new();
    let dir = Path::new(ROOT).join("deploy/kubernetes");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let v: Value = serde::Deserialize::deserialize(doc)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                if !v.is_null() {
                    docs.push(v);
                }
            }
        }
    }
    docs
}

fn named<'a>(docs: &'a [Value], kind: &str) -> BTreeMap<String, &'a Value> {
    docs.iter()
        .filter(|d| d["kind"] == kind)
        .map(|d| (d["metadata"]["name"].as_str().unwrap().to_owned(), d))
        .collect()
}

#[test]
fn every_manifest_parses_and_every_reference_in_it_resolves() {
    let docs = documents();
    for d in &docs {
        assert!(d["apiVersion"].is_string() && d["kind"].is_string(), "{d}");
    }
    let config_maps = named(&docs, "ConfigMap");
    let secrets = named(&docs, "Secret");
    let deployments = named(&docs, "Deployment");
    let services = named(&docs, "Service");
    let budgets = named(&docs, "PodDisruptionBudget");
    assert!(!deployments.is_empty() && !services.is_empty() && !budgets.is_empty());

    for (name, d) in &deployments {
        let spec = &d["spec"];
        let labels = &spec["template"]["metadata"]["labels"];
        assert_eq!(
            &spec["selector"]["matchLabels"], labels,
            "{name}'s selector"
        );
        let pod = &spec["template"]["spec"];
        let volumes: BTreeMap<&str, &Value> = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["name"].as_str().unwrap(), v))
            .collect();
        for v in volumes.values() {
            if let Some(cm) = v["configMap"]["name"].as_str() {
                assert!(config_maps.contains_key(cm), "volume names ConfigMap {cm}");
            }
            if let Some(s) = v["secret"]["secretName"].as_str() {
                assert!(secrets.contains_key(s), "volume names Secret {s}");
            }
        }
        for c in pod["containers"].as_array().unwrap() {
            let ports: BTreeSet<&str> = c["ports"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
                assert_eq!(c[probe]["httpGet"]["path"], path, "{probe}");
                let port = c[probe]["httpGet"]["port"].as_str().unwrap();
                assert!(ports.contains(port), "{probe} port {port}");
            }
            for m in c["volumeMounts"].as_array().unwrap() {
                let v = volumes
                    .get(m["name"].as_str().unwrap())
                    .unwrap_or_else(|| panic!("mount of an unknown volume: {m}"));
                if let (Some(cm), Some(key)) =
                    (v["configMap"]["name"].as_str(), m["subPath"].as_str())
                {
                    assert!(
                        config_maps[cm]["data"][key].is_string(),
                        "ConfigMap {cm} has no key {key}"
                    );
                }
            }
            for e in c["env"].as_array().unwrap() {
                if let Some(s) = e["valueFrom"]["secretKeyRef"]["name"].as_str() {
                    assert!(secrets.contains_key(s), "env names Secret {s}");
                }
            }
            let sc = &c["securityContext"];
            assert_eq!(sc["readOnlyRootFilesystem"], true);
            assert_eq!(sc["allowPrivilegeEscalation"], false);
        }
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        // The Service and the PodDisruptionBudget select these pods, by a port they have.
        for (s, svc) in &services {
            assert_eq!(&svc["spec"]["selector"], labels, "Service {s}");
            for p in svc["spec"]["ports"].as_array().unwrap() {
                assert_eq!(
                    p["targetPort"], "http",
                    "Service {s} targets the named port"
                );
            }
        }
        for (b, pdb) in &budgets {
            assert_eq!(&pdb["spec"]["selector"]["matchLabels"], labels, "PDB {b}");
        }
    }
}

#[test]
fn the_configuration_and_policy_in_the_config_map_pass_check() {
    let docs = documents();
    let cm = named(&docs, "ConfigMap")["portcullis-config"];
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::write(
        dir.path().join("portcullis.toml"),
        cm["data"]["portcullis.toml"].as_str().unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("policies/default.toml"),
        cm["data"]["default.toml"].as_str().unwrap(),
    )
    .unwrap();
    let p = Portcullis::start(&Portcullis::fixture_policies(), &[]);
    let policies = dir.path().join("policies");
    let keys = dir.path().join("keys");
    let config = dir.path().join("portcullis.toml");
    // A database of its own (the cluster's is PostgreSQL, from a Secret).
    let db = format!("sqlite://{}/data/p.db", dir.path().display());
    let out = p.cli_with(
        &["check"],
        None,
        &[
            ("PORTCULLIS_CONFIG", config.to_str().unwrap()),
            // The paths of the cluster, here.
            ("PORTCULLIS_POLICIES__DIR", policies.to_str().unwrap()),
            ("PORTCULLIS_KEYS__DIR", keys.to_str().unwrap()),
            ("PORTCULLIS_STORE__URL", &db),
        ],
    );
    out.assert_success("portcullis check of the ConfigMap's configuration");
    assert!(out.stdout.contains("ok       policies"), "{}", out.stdout);
}

#[test]
fn the_dockerfile_copies_what_exists_and_sets_only_real_settings() {
    let text = std::fs::read_to_string(Path::new(ROOT).join("Dockerfile")).unwrap();
    for line in text
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for src in &parts[1..parts.len() - 1] {
            assert!(
                Path::new(ROOT).join(src).exists(),
                "COPY {src}: no such file"
            );
        }
    }
    // Every PORTCULLIS_* setting it makes is a key `check` knows (given a value that works here).
    let dir = tempfile::tempdir().unwrap();
    let here = |name: &str| -> String {
        match name {
            "PORTCULLIS_SERVER__LISTEN" => "0.0.0.0:5001".into(),
            "PORTCULLIS_KEYS__DIR" => dir.path().join("keys").display().to_string(),
            "PORTCULLIS_STORE__URL" => format!("sqlite://{}/data/p.db", dir.path().display()),
            "PORTCULLIS_POLICIES__DIR" => format!("{ROOT}/policies"),
            other => panic!("the Dockerfile sets {other}: give it a value here"),
        }
    };
    let env_block: String = text
        .split("ENV ")
        .nth(1)
        .unwrap()
        .split("\nVOLUME")
        .next()
        .unwrap()
        .to_owned();
    let names: Vec<String> = env_block
        .split_whitespace()
        .filter_map(|w| w.split_once('=').map(|(k, _)| k.to_owned()))
        .filter(|k| k.starts_with("PORTCULLIS_"))
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    let values: Vec<(String, String)> = names.iter().map(|n| (n.clone(), here(n))).collect();
    let env: Vec<(&str, &str)> = values
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let p = Portcullis::start(&Portcullis::fixture_policies(), &[]);
    p.cli_with(&["check"], None, &env)
        .assert_success("check with the Dockerfile's settings");
    assert!(text.contains(r#"CMD ["/usr/local/bin/portcullis", "healthcheck"]"#));
    assert!(text.contains("USER 65532:65532"));
}

#[test]
fn healthcheck_answers_0_for_a_live_server_and_fails_without_one() {
    let p = Portcullis::start(&Portcullis::fixture_policies(), &[]);
    let out = p.cli(&["healthcheck"], None);
    out.assert_success("healthcheck against a live server");
    assert!(out.stdout.contains("/healthz: 200"), "{}", out.stdout);
    p.cli(&["healthcheck", "--ready"], None)
        .assert_success("healthcheck --ready");
    let nobody = format!("127.0.0.1:{}", support::free_port());
    let out = p.cli_with(
        &["healthcheck"],
        None,
        &[("PORTCULLIS_SERVER__LISTEN", &nobody)],
    );
    out.assert_failure("healthcheck with no server");
}

/// `kubernetes-validate --strict -k 1.30.0 FILES` (PyPI, installed by
/// `scripts/install-test-deps.sh`): the Kubernetes API's own JSON schemas, offline.
fn kubernetes_validate(files: &[&Path]) -> support::CmdOutput {
    let bin =
        Path::new(ROOT).join("tests/fixtures/kubernetes-validate/.venv/bin/kubernetes-validate");
    assert!(
        bin.is_file(),
        "kubernetes-validate is not installed: run scripts/install-test-deps.sh"
    );
    let mut cmd = std::process::Command::new(bin);
    cmd.args(["--strict", "-k", "1.30.0"]).args(files);
    support::run_command(cmd, None, std::time::Duration::from_secs(60))
}

#[test]
fn every_manifest_conforms_to_the_kubernetes_schemas_and_a_misspelt_field_does_not() {
    let manifest = Path::new(ROOT).join("deploy/kubernetes/portcullis.yaml");
    let out = kubernetes_validate(&[&manifest]);
    out.assert_success("kubernetes-validate of deploy/kubernetes");
    let passed = out
        .stdout
        .lines()
        .chain(out.stderr.lines())
        .filter(|l| l.contains(" passed for resource "))
        .count();
    assert_eq!(
        passed,
        documents().len(),
        "each document passed:\n{}{}",
        out.stdout,
        out.stderr
    );

    // The check is real: a field misspelt is refused.
    let text = std::fs::read_to_string(&manifest).unwrap();
    let bad = tempfile::NamedTempFile::with_suffix(".yaml").unwrap();
    std::fs::write(
        bad.path(),
        text.replacen("readinessProbe:", "readinesProbe:", 1),
    )
    .unwrap();
    let out = kubernetes_validate(&[bad.path()]);
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(
        !out.success() || said.contains("did not validate"),
        "a misspelt field passed:\n{said}"
    );
    assert!(said.contains("readinesProbe"), "{said}");
}
