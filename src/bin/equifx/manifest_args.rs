//! Flags that stand for node parameters take their default, range and
//! options from the plugin manifest, so the CLI and the nodes cannot disagree.

use clap::builder::PossibleValuesParser;
use clap::{Arg, Command};
use equifx::params::ParamKind;

/// A flag of a subcommand that sets one parameter of the subcommand's node.
#[derive(Clone, Copy)]
struct Flag {
    /// The flag's long name (and clap id).
    name: &'static str,
    /// The parameter's id in the manifest.
    param: &'static str,
    /// Whether the parser refuses values outside the manifest's range or options.
    checked: bool,
}

const fn flag(name: &'static str, param: &'static str) -> Flag {
    Flag {
        name,
        param,
        checked: true,
    }
}

/// A subcommand whose flags set parameters of one node.
struct Mirror {
    subcommand: &'static str,
    node: &'static str,
    flags: &'static [Flag],
}

/// `targets::ModelArgs`, shared by the fairness commands.
const MODEL_ARGS: [Flag; 4] = [
    flag("model", "model"),
    flag("domain", "domain"),
    // `cuda:N` picks a GPU on these commands; the node's choice has no index.
    Flag {
        name: "device",
        param: "device",
        checked: false,
    },
    flag("precision", "precision"),
];

/// Every flag that stands for a node parameter, by subcommand.
const MIRRORS: &[Mirror] = &[
    Mirror {
        subcommand: "transfer",
        node: equifx::nodes::domain_transfer::ID,
        flags: &[
            flag("to", "target"),
            flag("from", "source"),
            flag("strength", "strength"),
            flag("model", "model"),
            flag("device", "device"),
            flag("precision", "precision"),
        ],
    },
    Mirror {
        subcommand: "eval-transfer",
        node: equifx::nodes::domain_transfer::ID,
        flags: &[flag("model", "model"), flag("precision", "precision")],
    },
    Mirror {
        subcommand: "sample",
        node: equifx::nodes::fair_sampler::ID,
        flags: &[
            MODEL_ARGS[0],
            MODEL_ARGS[1],
            MODEL_ARGS[2],
            MODEL_ARGS[3],
            flag("seed", "seed"),
            flag("check-tries", "check_tries"),
            flag("check-threshold", "check_threshold"),
        ],
    },
    Mirror {
        subcommand: "rebalance",
        node: equifx::nodes::rebalance::ID,
        flags: &MODEL_ARGS,
    },
    Mirror {
        subcommand: "audit",
        node: equifx::nodes::bias_audit::ID,
        flags: &MODEL_ARGS,
    },
];

/// `cmd` with every flag of [`MIRRORS`] set up from the manifest.
pub fn apply(cmd: Command) -> Command {
    MIRRORS.iter().fold(cmd, |cmd, m| {
        let node = equifx::manifest::node(m.node).unwrap_or_else(|e| panic!("{e}"));
        cmd.mut_subcommand(m.subcommand, |sub| {
            m.flags.iter().fold(sub, |sub, f| {
                let param = node.param(f.param).unwrap_or_else(|| {
                    panic!("{}: node {} has no parameter '{}'", f.name, m.node, f.param)
                });
                sub.mut_arg(f.name, |arg| mirror(arg, &param.kind, f.checked))
            })
        })
    })
}

/// The manifest default as command-line text; `None` for an empty path,
/// which means "not given" (the shipped bundle, no file).
fn default_text(kind: &'static ParamKind) -> Option<&'static str> {
    let text: &'static str = match kind {
        ParamKind::Float { default, .. } => leak(default.to_string()),
        ParamKind::Int { default, .. } | ParamKind::Seed { default } => leak(default.to_string()),
        ParamKind::Bool { default } => leak(default.to_string()),
        ParamKind::Choice { default, .. }
        | ParamKind::Domain { default, .. }
        | ParamKind::Shares { default }
        | ParamKind::Path { default } => default,
    };
    (!(matches!(kind, ParamKind::Path { .. }) && text.is_empty())).then_some(text)
}

/// clap keeps defaults as `&'static str`; the command is built once per run.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// `arg` with the parameter's default and, if `checked`, its range or options.
fn mirror(arg: Arg, kind: &'static ParamKind, checked: bool) -> Arg {
    let arg = match default_text(kind) {
        Some(d) => arg.default_value(d).required(false),
        None => arg,
    };
    if !checked {
        return arg;
    }
    match kind {
        ParamKind::Float { min, max, .. } => {
            let (min, max) = (*min, *max);
            with_range(arg, format!("{min} … {max}")).value_parser(move |s: &str| {
                let v: f64 = s
                    .trim()
                    .parse()
                    .map_err(|_| format!("'{s}' is not a number"))?;
                if (min..=max).contains(&v) {
                    Ok(v)
                } else {
                    Err(format!("{v} is outside the range {min} … {max}"))
                }
            })
        }
        ParamKind::Int { min, max, .. } => with_range(arg, format!("{min} … {max}"))
            .value_parser(clap::value_parser!(i64).range(*min..=*max)),
        ParamKind::Seed { .. } => with_range(arg, "0 … 2^63-1".into())
            .value_parser(clap::value_parser!(u64).range(0..=i64::MAX as u64)),
        // clap lists the options in the help itself.
        ParamKind::Choice { options, .. } => arg.value_parser(PossibleValuesParser::new(
            options.iter().map(String::as_str),
        )),
        // Domain and attribute names are checked against the bundle once it is loaded.
        ParamKind::Bool { .. }
        | ParamKind::Domain { .. }
        | ParamKind::Shares { .. }
        | ParamKind::Path { .. } => arg,
    }
}

/// `arg` with `[range: …]` after its help.
fn with_range(arg: Arg, range: String) -> Arg {
    let suffix = |h: &clap::builder::StyledStr| format!("{h} [range: {range}]");
    let help = arg.get_help().map(suffix);
    let long = arg.get_long_help().map(suffix);
    let arg = match help {
        Some(h) => arg.help(h),
        None => arg.help(format!("[range: {range}]")),
    };
    match long {
        Some(h) => arg.long_help(h),
        None => arg,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use clap::error::ErrorKind;
    use clap::{ArgMatches, FromArgMatches};
    use equifx::params::{ParamDescriptor, ParamValue};

    use super::*;

    /// Flags named like a mirrored flag or parameter that set something
    /// else, and what.
    const NOT_MIRRORED: &[(&str, &str, &str)] = &[
        (
            "rebalance",
            "plan",
            "the file the command writes; the node reads it",
        ),
        (
            "audit",
            "records",
            "the folder the command reads; the node writes it",
        ),
        ("eval-transfer", "seed", "the evaluation scenes' seed"),
        ("synth", "domain", "a style of the synthetic world"),
        ("synth", "seed", "the synthetic scenes' seed"),
        ("contact-sheet", "seed", "the synthetic scenes' seed"),
        ("train", "domain", "NAME=DIR training folders"),
        ("train", "seed", "the training seed"),
        ("fit-heads", "model", "the bundle to rewrite, required"),
        ("fit-heads", "domain", "NAME=DIR labelled folders"),
        ("fit-heads", "seed", "the held-out split's seed"),
        ("fit-reader", "model", "the bundle to rewrite, required"),
        ("fit-reader", "domain", "NAME=DIR labelled folders"),
        ("fit-reader", "seed", "the reader's training seed"),
        (
            "groups",
            "domain",
            "the bundle's domains to group (`model groups`)",
        ),
        ("groups", "seed", "the clustering's seed (`model groups`)"),
        ("name-group", "domain", "the domain whose groups are named"),
        (
            "group-sheet",
            "domain",
            "the domains whose groups are shown",
        ),
        ("group-sheet", "seed", "the fresh samples' seed"),
    ];

    /// The fewest arguments each subcommand of [`MIRRORS`] runs with.
    fn required_args(subcommand: &str) -> &'static [&'static str] {
        match subcommand {
            "transfer" => &["in.png", "-o", "out.png"],
            "sample" => &["--out", "s_#.png"],
            "rebalance" => &["in.png", "--plan", "plan.json"],
            "audit" => &["--report", "report"],
            "eval-transfer" => &[],
            other => panic!("no required arguments listed for `{other}`"),
        }
    }

    fn param(m: &Mirror, f: &Flag) -> &'static ParamDescriptor {
        equifx::manifest::node(m.node)
            .unwrap()
            .param(f.param)
            .unwrap_or_else(|| panic!("{}: no parameter {}", m.node, f.param))
    }

    fn parse(m: &Mirror, extra: &[String]) -> Result<ArgMatches, clap::Error> {
        let args = ["equifx", m.subcommand]
            .into_iter()
            .map(String::from)
            .chain(required_args(m.subcommand).iter().map(|a| a.to_string()))
            .chain(extra.iter().cloned());
        crate::command().try_get_matches_from(args)
    }

    fn flags() -> impl Iterator<Item = (&'static Mirror, &'static Flag)> {
        MIRRORS
            .iter()
            .flat_map(|m| m.flags.iter().map(move |f| (m, f)))
    }

    #[test]
    fn mirrored_flags_default_to_the_manifest() {
        for m in MIRRORS {
            let matches = parse(m, &[]).unwrap_or_else(|e| panic!("{}: {e}", m.subcommand));
            crate::Cli::from_arg_matches(&matches).unwrap();
            let sub = matches.subcommand_matches(m.subcommand).unwrap();
            for f in m.flags {
                let p = param(m, f);
                let what = format!("{} --{} ({})", m.subcommand, f.name, p.id);
                match (&p.kind, p.kind.default_value()) {
                    (ParamKind::Float { .. }, ParamValue::Float(d)) => {
                        assert_eq!(sub.get_one::<f64>(f.name), Some(&d), "{what}")
                    }
                    (ParamKind::Seed { .. }, ParamValue::Int(d)) => {
                        assert_eq!(sub.get_one::<u64>(f.name), Some(&(d as u64)), "{what}")
                    }
                    (ParamKind::Int { .. }, ParamValue::Int(d)) => {
                        assert_eq!(sub.get_one::<i64>(f.name), Some(&d), "{what}")
                    }
                    (ParamKind::Path { .. }, ParamValue::Text(d)) => assert_eq!(
                        sub.get_one::<PathBuf>(f.name),
                        (!d.is_empty()).then(|| PathBuf::from(d)).as_ref(),
                        "{what}"
                    ),
                    (_, ParamValue::Text(d)) => {
                        assert_eq!(sub.get_one::<String>(f.name), Some(&d), "{what}")
                    }
                    (kind, _) => panic!("{what}: no check for a {} parameter", kind.name()),
                }
            }
        }
    }

    #[test]
    fn mirrored_flags_refuse_values_outside_the_manifest() {
        let accepts = |m: &Mirror, f: &Flag, value: &str| {
            parse(m, &[format!("--{}={value}", f.name)]).map(|_| ())
        };
        let refuses = |m: &Mirror, f: &Flag, value: &str| {
            let e =
                accepts(m, f, value).expect_err(&format!("{} --{}={value}", m.subcommand, f.name));
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::ValueValidation | ErrorKind::InvalidValue
                ),
                "{e}"
            );
        };
        let mut numeric = 0;
        for (m, f) in flags().filter(|(_, f)| f.checked) {
            let ok = |v: &str| {
                accepts(m, f, v)
                    .unwrap_or_else(|e| panic!("{} --{}={v}: {e}", m.subcommand, f.name))
            };
            match &param(m, f).kind {
                ParamKind::Float { min, max, .. } => {
                    numeric += 1;
                    ok(&min.to_string());
                    ok(&max.to_string());
                    ok(&((min + max) / 2.0).to_string());
                    refuses(m, f, &(min - 0.01).to_string());
                    refuses(m, f, &(max + 0.01).to_string());
                    refuses(m, f, "NaN");
                }
                ParamKind::Int { min, max, .. } => {
                    numeric += 1;
                    ok(&min.to_string());
                    ok(&max.to_string());
                    refuses(m, f, &(min - 1).to_string());
                    refuses(m, f, &(max + 1).to_string());
                }
                ParamKind::Seed { .. } => {
                    numeric += 1;
                    ok("0");
                    ok(&i64::MAX.to_string());
                    refuses(m, f, "-1");
                    refuses(m, f, &(i64::MAX as u64 + 1).to_string());
                }
                ParamKind::Choice { options, .. } => {
                    options.iter().for_each(|o| ok(o));
                    refuses(m, f, "not-an-option");
                }
                _ => {}
            }
        }
        assert!(numeric >= 2, "the range checks ran on {numeric} flags");
        // The fairness commands take a GPU index the node's choice lacks.
        for m in MIRRORS
            .iter()
            .filter(|m| m.flags.iter().any(|f| !f.checked))
        {
            for f in m.flags.iter().filter(|f| !f.checked) {
                assert_eq!(f.name, "device", "only --device accepts more than the node");
                accepts(m, f, "cuda:1").unwrap();
            }
        }
    }

    /// Every subcommand's flags named like a mirrored flag, or like a
    /// parameter of the subcommand's node, are in [`MIRRORS`] or listed as
    /// something else, so no flag re-declares a parameter unnoticed.
    #[test]
    fn every_flag_named_like_a_mirrored_parameter_is_mirrored() {
        fn walk<'a>(cmd: &'a Command, out: &mut Vec<&'a Command>) {
            for sub in cmd.get_subcommands() {
                out.push(sub);
                walk(sub, out);
            }
        }
        let cmd = crate::command();
        let mut subs = Vec::new();
        walk(&cmd, &mut subs);
        for sub in &subs {
            let name = sub.get_name();
            let mirror = MIRRORS.iter().find(|m| m.subcommand == name);
            let mut names: Vec<&str> = flags().map(|(_, f)| f.name).collect();
            if let Some(m) = mirror {
                let node = equifx::manifest::node(m.node).unwrap();
                names.extend(node.params.iter().map(|p| p.id.as_str()));
            }
            for arg in sub.get_arguments() {
                let Some(long) = arg.get_long().filter(|l| names.contains(l)) else {
                    continue;
                };
                let mirrored = mirror.is_some_and(|m| m.flags.iter().any(|f| f.name == long));
                let other = NOT_MIRRORED
                    .iter()
                    .any(|(s, n, _)| *s == name && *n == long);
                assert!(
                    mirrored != other,
                    "`{name} --{long}` must be in exactly one of MIRRORS and NOT_MIRRORED"
                );
                if mirrored {
                    assert_eq!(arg.get_id().as_str(), long, "MIRRORS names flags by id");
                }
            }
        }
        for (s, n, _) in NOT_MIRRORED {
            let sub = subs.iter().find(|c| c.get_name() == *s).unwrap();
            assert!(
                sub.get_arguments().any(|a| a.get_long() == Some(*n)),
                "NOT_MIRRORED lists `{s} --{n}`, which does not exist"
            );
        }
    }
}
