//! `equifx nodes`: what nodes exist and what their parameters do.

use equifx::params::ParamKind;

#[derive(clap::Args)]
pub struct NodesArgs {
    /// Print the manifest as JSON (for pipeline tools) instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: NodesArgs) -> equifx::Result<()> {
    let nodes = equifx::manifest::nodes();
    if args.json {
        let v: Vec<serde_json::Value> = nodes
            .iter()
            .map(|n| {
                serde_json::json!({
                    "id": n.id, "label": n.label, "group": n.group, "version": n.version,
                    "inputs": n.inputs, "summary": n.summary,
                    "params": n.params.iter().map(|p| serde_json::json!({
                        "id": p.id, "label": p.label, "kind": p.kind.name(), "hint": p.hint,
                        "default": format!("{}", describe_default(&p.kind)),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| equifx::Error::Internal(e.to_string()))?
        );
        return Ok(());
    }
    for n in nodes {
        let inputs = if n.inputs.is_empty() {
            "generator".to_string()
        } else {
            n.inputs.join(", ")
        };
        println!("{}  ({}, inputs: {inputs})", n.id, n.label);
        println!("    {}", n.summary);
        for p in &n.params {
            println!(
                "    --param {}=…  [{}; default {}]",
                p.id,
                range(&p.kind),
                describe_default(&p.kind)
            );
            println!("        {}", p.hint);
        }
        println!();
    }
    Ok(())
}

fn describe_default(k: &ParamKind) -> String {
    match k {
        ParamKind::Float { default, unit, .. } => format!("{default} {unit}").trim().to_string(),
        ParamKind::Int { default, .. } | ParamKind::Seed { default } => default.to_string(),
        ParamKind::Bool { default } => default.to_string(),
        ParamKind::Choice { default, .. } | ParamKind::Domain { default, .. } => default.clone(),
        ParamKind::Shares { default } if default.is_empty() => "(natural mix)".into(),
        ParamKind::Shares { default } => default.clone(),
        ParamKind::Path { default } if default.is_empty() => "(built-in)".into(),
        ParamKind::Path { default } => default.clone(),
    }
}

fn range(k: &ParamKind) -> String {
    match k {
        ParamKind::Float { min, max, .. } => format!("number {min} … {max}"),
        ParamKind::Int { min, max, .. } => format!("integer {min} … {max}"),
        ParamKind::Bool { .. } => "true/false".into(),
        ParamKind::Choice { options, .. } => options.join(" | "),
        ParamKind::Domain { auto: true, .. } => "a domain of the model, or auto".into(),
        ParamKind::Domain { auto: false, .. } => "a domain of the model".into(),
        ParamKind::Shares { .. } => {
            "attribute=share, … (share 0 … 1 or natural; * = the rest)".into()
        }
        ParamKind::Path { .. } => "path".into(),
        ParamKind::Seed { .. } => "seed ≥ 0".into(),
    }
}
