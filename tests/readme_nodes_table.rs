//! The README's table of nodes and parameters is generated from the manifest
//! (`plugin-manifest/nodes.toml`), so it cannot drift from what the library
//! declares. This rebuilds the table and compares it with the block between
//! `<!-- nodes:begin -->` and `<!-- nodes:end -->` in README.md; rewrite the
//! block on purpose with `EQUIFX_BLESS=1 cargo test --test readme_nodes_table`.

use equifx::params::ParamKind;

const BEGIN: &str = "<!-- nodes:begin -->";
const END: &str = "<!-- nodes:end -->";

/// The first sentence of a hint: up to the first `. ` that is followed by a
/// letter or a digit (hints start sentences with lower-case ids like `f16`)
/// and does not end an abbreviation (`e.g.`).
fn first_sentence(hint: &str) -> &str {
    let hint = hint.trim();
    for (i, _) in hint.match_indices(". ") {
        let next = hint[i + 2..].chars().next();
        let starts_sentence = next.is_some_and(char::is_alphanumeric);
        let before = &hint[..i];
        let abbreviation = before.ends_with("e.g") || before.ends_with("i.e");
        if starts_sentence && !abbreviation {
            return &hint[..=i];
        }
    }
    hint
}

/// Table cells may not hold a raw `|` or a line break.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn kind_cell(kind: &ParamKind) -> String {
    let name = kind.name();
    match kind {
        ParamKind::Float { min, max, unit, .. } if unit.is_empty() => {
            format!("{name} [{min}, {max}]")
        }
        ParamKind::Float { min, max, unit, .. } => format!("{name} [{min}, {max}] {unit}"),
        ParamKind::Int { min, max, .. } => format!("{name} [{min}, {max}]"),
        ParamKind::Choice { options, .. } => format!("{name}: {}", options.join(", ")),
        ParamKind::Domain { auto: true, .. } => format!("{name} (or auto)"),
        _ => name.to_string(),
    }
}

fn text_default(text: &str) -> String {
    if text.is_empty() {
        "empty".to_string()
    } else {
        format!("`{text}`")
    }
}

fn default_cell(kind: &ParamKind) -> String {
    match kind {
        ParamKind::Float { default, .. } => default.to_string(),
        ParamKind::Int { default, .. } | ParamKind::Seed { default } => default.to_string(),
        ParamKind::Bool { default } => default.to_string(),
        ParamKind::Choice { default, .. }
        | ParamKind::Domain { default, .. }
        | ParamKind::Shares { default }
        | ParamKind::Path { default } => text_default(default),
    }
}

/// The block as it must stand in README.md, markers included.
fn expected_block() -> String {
    let mut out = format!("{BEGIN}\n");
    out.push_str("| node | parameter | kind | default | what it does |\n");
    out.push_str("|---|---|---|---|---|\n");
    for n in equifx::manifest::nodes() {
        for p in &n.params {
            out.push_str(&format!(
                "| {} | `{}` | {} | {} | {} |\n",
                cell(&n.label),
                p.id,
                cell(&kind_cell(&p.kind)),
                cell(&default_cell(&p.kind)),
                cell(first_sentence(&p.hint))
            ));
        }
    }
    out.push_str(END);
    out
}

#[test]
fn readme_node_table_matches_the_manifest() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).expect("README.md");
    let start = readme.find(BEGIN);
    let end = start.and_then(|s| readme[s..].find(END).map(|e| s + e));
    let (Some(start), Some(end)) = (start, end) else {
        panic!(
            "README.md has no `{BEGIN}` … `{END}` block; add the two markers where the table goes"
        );
    };
    let current = &readme[start..end + END.len()];
    let expected = expected_block();
    if std::env::var_os("EQUIFX_BLESS").is_some() {
        if current != expected {
            let updated = format!(
                "{}{expected}{}",
                &readme[..start],
                &readme[end + END.len()..]
            );
            std::fs::write(path, updated).expect("write README.md");
        }
        return;
    }
    assert!(
        current == expected,
        "README.md's node table differs from plugin-manifest/nodes.toml.\n--- expected\n{expected}\n\
         --- README.md\n{current}\n\
         Regenerate it with `EQUIFX_BLESS=1 cargo test --test readme_nodes_table`."
    );
}

#[test]
fn first_sentence_stops_at_a_sentence_not_at_an_abbreviation() {
    assert_eq!(
        first_sentence("Where it runs. Auto uses CUDA."),
        "Where it runs."
    );
    assert_eq!(
        first_sentence("Side in pixels. 0: the model's own."),
        "Side in pixels."
    );
    assert_eq!(
        first_sentence("Shares, e.g. `a=0.5`: 0 … 1. Default: half."),
        "Shares, e.g. `a=0.5`: 0 … 1."
    );
    assert_eq!(
        first_sentence("Number format. f16 halves it."),
        "Number format."
    );
    assert_eq!(first_sentence("One sentence only."), "One sentence only.");
}
