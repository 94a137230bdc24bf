//! `privrank interests` and `privrank arm`: the profile features the browser computes
//! on the device, here for servers that hold a history with consent (support tools,
//! tests of the same rules) and for checking experiment splits before launch.

use std::path::PathBuf;

use clap::Args;
use privrank::input::Value;
use privrank::interests::{DEFAULT_HALF_LIFE_DAYS, interests};
use privrank::policy::{Arm, assign_arm};

use crate::rank::{now_or, read_input};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Args)]
pub struct InterestsArgs {
    /// Events as a JSON array, or a rank request (its `history`); `-` for stdin.
    pub history: PathBuf,
    /// How many tags to print.
    #[arg(long, default_value_t = 5)]
    pub k: usize,
    /// An event's weight halves every this many days.
    #[arg(long, default_value_t = DEFAULT_HALF_LIFE_DAYS)]
    pub half_life_days: f64,
    /// The time ages are measured from, in ms since the epoch (default: now).
    #[arg(long)]
    pub now: Option<f64>,
}

pub fn interests_cmd(args: &InterestsArgs) -> Result<()> {
    let bytes = read_input(&args.history)?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| privrank::Error::BadInput(format!("{}: {e}", args.history.display())))?;
    let list = match &value {
        Value::List(items) => Some(items),
        Value::Map(map) => match map.get("history") {
            Some(Value::List(items)) => Some(items),
            _ => None,
        },
        _ => None,
    }
    .ok_or_else(|| {
        privrank::Error::BadInput(format!(
            "{}: expected an array of events or an object with a `history` array",
            args.history.display()
        ))
    })?;
    let now = now_or(args.now)?;
    let events = privrank::history::parse_events(list, now)?;
    let tags = interests(&events, now, args.half_life_days, args.k)?;
    println!("{}", serde_json::to_string_pretty(&tags)?);
    Ok(())
}

#[derive(Args)]
pub struct ArmArgs {
    /// The device's random id (in the browser it never leaves IndexedDB).
    #[arg(long)]
    pub device_id: String,
    /// The experiment's salt: a new salt reshuffles every device.
    #[arg(long)]
    pub salt: String,
    /// An arm as `label` or `label:weight` (weight 1 by default); repeat per arm.
    #[arg(long = "arm", required = true, value_parser = parse_arm)]
    pub arms: Vec<Arm>,
}

fn parse_arm(spec: &str) -> std::result::Result<Arm, String> {
    let (label, weight) = match spec.rsplit_once(':') {
        Some((label, w)) => (
            label,
            w.parse::<f64>()
                .map_err(|e| format!("weight `{w}` of arm `{label}`: {e}"))?,
        ),
        None => (spec, 1.0),
    };
    if label.is_empty() {
        return Err(format!("arm `{spec}` has no label"));
    }
    Ok(Arm {
        label: label.to_owned(),
        weight,
    })
}

pub fn arm(args: &ArmArgs) -> Result<()> {
    println!("{}", assign_arm(&args.device_id, &args.salt, &args.arms)?);
    Ok(())
}
