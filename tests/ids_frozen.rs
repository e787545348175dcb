//! Node and parameter ids, kinds and defaults end up in artists' project
//! files: renaming one silently breaks saved comps. This compares the
//! manifest with `plugin-manifest/ids.snapshot`; update the snapshot on
//! purpose with `EQUIFX_BLESS=1 cargo test --test ids_frozen`.

use equifx::params::ParamKind;

fn snapshot() -> String {
    let mut out = String::from(
        "# node id | param id | kind | default   (generated; see tests/ids_frozen.rs)\n",
    );
    for n in equifx::manifest::nodes() {
        out.push_str(&format!(
            "{} | - | node v{} | inputs={}\n",
            n.id,
            n.version[0],
            n.inputs.len()
        ));
        for p in &n.params {
            let default = match &p.kind {
                ParamKind::Float { default, .. } => format!("{default:?}"),
                ParamKind::Int { default, .. } | ParamKind::Seed { default } => default.to_string(),
                ParamKind::Bool { default } => default.to_string(),
                // OpenFX hosts save a choice by its index: the order is frozen too.
                ParamKind::Choice { default, options } => format!("{default:?} of {options:?}"),
                ParamKind::Domain { default, auto } => format!("{default:?} auto={auto}"),
                ParamKind::Shares { default } | ParamKind::Path { default } => {
                    format!("{default:?}")
                }
            };
            out.push_str(&format!(
                "{} | {} | {} | {}\n",
                n.id,
                p.id,
                p.kind.name(),
                default
            ));
        }
    }
    out
}

#[test]
fn ids_kinds_and_defaults_match_the_frozen_snapshot() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/plugin-manifest/ids.snapshot");
    let now = snapshot();
    if std::env::var_os("EQUIFX_BLESS").is_some() {
        std::fs::write(path, &now).unwrap();
        return;
    }
    let frozen = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        frozen == now,
        "node/parameter ids changed; old projects would break.\n--- frozen\n{frozen}\n--- now\n{now}\n\
         If this is intended (new node or parameter, or a deliberate major version), run \
         `EQUIFX_BLESS=1 cargo test --test ids_frozen` and commit plugin-manifest/ids.snapshot"
    );
}
