//! The placement policy end to end, through `rank::rank` (the one request the
//! browser and `privrank rank` make): each rule changes what the committed request
//! shows.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::process::Command;

use serde_json::{Value, json};

const NOW: f64 = 1_700_020_000_000.0;

fn request() -> Value {
    let path = common::root().join("tests/fixtures/rank_request.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Run the library's ranking request (the one the browser and `privrank rank` make)
/// on a request in `privrank rank`'s JSON; Ok(ranked) or Err(the error's message).
fn rank(request: &Value) -> Result<Vec<Value>, String> {
    static SET: std::sync::OnceLock<common::DefaultSet> = std::sync::OnceLock::new();
    SET.get_or_init(common::DefaultSet::load).rank_json(request)
}

fn ids(ranked: &[Value]) -> Vec<String> {
    ranked
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

fn with_policy(policy: Value, k: usize) -> Value {
    let mut r = request();
    r["options"]["policy"] = policy;
    r["options"]["k"] = json!(k);
    r
}

fn impression(ad: &str, minutes_ago: f64) -> Value {
    json!({"kind": "impression", "itemId": ad, "title": ad, "ts": NOW - minutes_ago * 60_000.0})
}

#[test]
fn a_frequency_cap_hides_the_ad_after_its_third_impression_in_an_hour() {
    let plain = ids(&rank(&with_policy(json!({}), 3)).unwrap());
    let top = plain[0].clone();
    let cap = json!({"caps": [{"scope": "ad", "window": "hour", "max": 3}]});
    let mut r = with_policy(cap.clone(), 3);
    for m in [5.0, 20.0] {
        r["history"]
            .as_array_mut()
            .unwrap()
            .push(impression(&top, m));
    }
    assert_eq!(
        ids(&rank(&r).unwrap()),
        plain,
        "two impressions: still shown"
    );
    r["history"]
        .as_array_mut()
        .unwrap()
        .push(impression(&top, 50.0));
    let capped = ids(&rank(&r).unwrap());
    assert!(!capped.contains(&top), "{capped:?}");
    assert_eq!(capped[..2], plain[1..3], "the rest moves up");
    // Impressions older than the window do not count, and impressions never reach
    // the ranker: without caps the order is the plain one.
    let mut old = with_policy(cap, 3);
    for m in [61.0, 90.0, 120.0] {
        old["history"]
            .as_array_mut()
            .unwrap()
            .push(impression(&top, m));
    }
    assert_eq!(ids(&rank(&old).unwrap()), plain);
    r["options"]["policy"] = json!({});
    let ranked = rank(&r).unwrap();
    assert_eq!(ids(&ranked), plain);
    assert!(
        ranked[0]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["kind"] != "impression")
    );
}

#[test]
fn k_anonymity_shows_only_vouched_ads_and_falls_back_to_a_house_ad() {
    let mut r = with_policy(json!({"requireKAnonymous": true}), 3);
    for c in r["candidates"].as_array_mut().unwrap() {
        let id = c["id"].as_str().unwrap().to_owned();
        c["kAnonymous"] = json!(id == "c-heat" || id == "c-tea");
    }
    let shown = ids(&rank(&r).unwrap());
    // The two vouched ads, in the order the ranker alone gives them.
    let all = ids(&rank(&with_policy(json!({}), 20)).unwrap());
    let vouched: Vec<&String> = all
        .iter()
        .filter(|id| *id == "c-heat" || *id == "c-tea")
        .collect();
    assert_eq!(shown.iter().collect::<Vec<_>>(), vouched);

    for c in r["candidates"].as_array_mut().unwrap() {
        c["kAnonymous"] = json!(false);
    }
    r["candidates"][6]["fallback"] = json!(true); // c-shoes, a house ad
    let ranked = rank(&r).unwrap();
    assert_eq!(ids(&ranked), ["c-shoes"]);
    assert_eq!(ranked[0]["fallback"], true);
    // With vouched ads present, the house ad is not shown.
    r["candidates"][0]["kAnonymous"] = json!(true);
    assert_eq!(ids(&rank(&r).unwrap()), ["c-fargo"]);
}

fn embed(texts: &[String]) -> Vec<Vec<f32>> {
    let out = Command::new(env!("CARGO_BIN_EXE_privrank"))
        .current_dir(common::root())
        .args(["--backend", "cpu", "embed"])
        .args(texts)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            serde_json::from_value(v["embedding"].clone()).unwrap()
        })
        .collect()
}

#[test]
fn diversity_lowers_the_mean_similarity_of_the_top_four() {
    let r = request();
    let texts: std::collections::HashMap<String, String> = r["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let id = c["id"].as_str().unwrap().to_owned();
            (
                id,
                format!(
                    "{}. {}",
                    c["title"].as_str().unwrap(),
                    c["category"].as_str().unwrap()
                ),
            )
        })
        .collect();
    let mean_similarity = |shown: &[String]| {
        let e = embed(&shown.iter().map(|id| texts[id].clone()).collect::<Vec<_>>());
        let mut sum = 0.0;
        let mut n = 0;
        for a in 0..e.len() {
            for b in a + 1..e.len() {
                sum += e[a].iter().zip(&e[b]).map(|(x, y)| x * y).sum::<f32>();
                n += 1;
            }
        }
        sum / n as f32
    };
    let plain = ids(&rank(&with_policy(json!({}), 4)).unwrap());
    let diverse = ids(&rank(&with_policy(json!({"diversity": 0.3}), 4)).unwrap());
    assert_eq!(diverse[0], plain[0], "the best ad keeps the first slot");
    let (p, d) = (mean_similarity(&plain), mean_similarity(&diverse));
    println!("top-4 mean cosine: plain {p:.3} {plain:?}, diversity 0.3 {d:.3} {diverse:?}");
    assert!(d < p, "diversity {d} vs plain {p}");
    // λ = 1 is the plain order.
    assert_eq!(
        ids(&rank(&with_policy(json!({"diversity": 1.0}), 4)).unwrap()),
        plain
    );
}

#[test]
fn one_advertiser_takes_at_most_its_cap_of_slots() {
    let mut r = with_policy(json!({"maxPerAdvertiser": 1}), 3);
    for c in r["candidates"].as_array_mut().unwrap() {
        c["advertiser"] = json!(if c["id"] == "c-tea" {
            "tea-co"
        } else {
            "studio"
        });
    }
    let shown = ids(&rank(&r).unwrap());
    let plain = ids(&rank(&with_policy(json!({}), 1)).unwrap());
    assert_eq!(shown[0], plain[0]);
    assert_eq!(shown[1], "c-tea", "{shown:?}");
    // A hard cap: with three slots and two advertisers, the third slot stays empty
    // rather than going to an advertiser already at its cap. Every slot is checked.
    assert_eq!(shown.len(), 2, "{shown:?}");
    let owner = |id: &str| if id == "c-tea" { "tea-co" } else { "studio" };
    for who in ["tea-co", "studio"] {
        assert_eq!(
            shown.iter().filter(|id| owner(id) == who).count(),
            1,
            "{who}: {shown:?}"
        );
    }
}

#[test]
fn more_frequency_caps_than_the_limit_are_refused() {
    let cap = json!({"scope": "ad", "window": "day", "max": 1});
    let caps: Vec<_> = (0..=privrank::policy::MAX_FREQUENCY_CAPS)
        .map(|_| cap.clone())
        .collect();
    let err = rank(&with_policy(json!({ "caps": caps }), 3)).unwrap_err();
    assert!(err.to_string().contains("frequency caps; at most"), "{err}");
    let ok: Vec<_> = caps[..privrank::policy::MAX_FREQUENCY_CAPS].to_vec();
    assert!(rank(&with_policy(json!({ "caps": ok }), 3)).is_ok());
}

#[test]
fn exploration_logs_propensities_and_replays_from_its_seed() {
    let policy = json!({"exploration": {"kind": "epsilonGreedy", "epsilon": 0.4}, "seed": 11});
    let a = rank(&with_policy(policy.clone(), 3)).unwrap();
    assert_eq!(
        a,
        rank(&with_policy(policy, 3)).unwrap(),
        "same seed, same slate"
    );
    let plain = ids(&rank(&with_policy(json!({}), 8)).unwrap());
    let first = &a[0];
    let p = first["propensity"].as_f64().unwrap();
    let want = if first["id"] == json!(plain[0]) {
        0.6 + 0.4 / 8.0
    } else {
        0.4 / 8.0
    };
    assert!((p - want).abs() < 1e-9, "{p} vs {want}");
    assert!(a.iter().all(|r| r["propensity"].as_f64().unwrap() > 0.0));
    let mut seen = std::collections::HashSet::new();
    // Weak confidence (5 pseudo-observations) lets lower-scored ads win some draws.
    for seed in 0..20 {
        let policy = json!({"exploration": {"kind": "thompson", "strength": 5}, "seed": seed});
        seen.insert(ids(&rank(&with_policy(policy, 1)).unwrap())[0].clone());
    }
    assert!(seen.len() > 1, "Thompson sampling explores: {seen:?}");
}

#[test]
fn cold_start_ranks_by_the_prior_until_history_arrives() {
    let mut r = with_policy(json!({"coldStartEvents": 10}), 8);
    r["history"] = json!([]);
    let priors: [f64; 8] = [0.1, 0.9, 0.3, 0.2, 0.8, 0.05, 0.6, 0.4];
    for (c, p) in r["candidates"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .zip(priors)
    {
        c["prior"] = json!(p);
    }
    let ranked = rank(&r).unwrap();
    let scores: Vec<f64> = ranked
        .iter()
        .map(|x| x["score"].as_f64().unwrap())
        .collect();
    let mut by_prior = priors.to_vec();
    by_prior.sort_by(|a, b| b.total_cmp(a));
    assert_eq!(scores, by_prior, "no history: the prior alone");
    // With the full history of the request the personal score counts 6/10.
    let mut r2 = r.clone();
    r2["history"] = request()["history"].clone();
    let top = &rank(&r2).unwrap()[0];
    let prior = priors[r2["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["id"] == top["id"])
        .unwrap()];
    let want = 0.6 * top["ctr"].as_f64().unwrap() + 0.4 * prior;
    assert!((top["score"].as_f64().unwrap() - want).abs() < 1e-9);
}

#[test]
fn bad_policies_are_typed_errors() {
    for (policy, needle) in [
        (json!({"capz": []}), "unknown field `capz`"),
        (json!({"diversity": 2}), "diversity must be in [0, 1]"),
        (
            json!({"exploration": {"kind": "epsilonGreedy", "epsilon": 1.5}}),
            "epsilon must be in [0, 1]",
        ),
        (
            json!({"diversity": 0.5, "exploration": {"kind": "epsilonGreedy", "epsilon": 0.1}}),
            "exploration fills slots by itself",
        ),
        (
            json!({"caps": [{"scope": "ad", "window": "minute", "max": 1}]}),
            "unknown variant `minute`",
        ),
    ] {
        let err = rank(&with_policy(policy.clone(), 3)).unwrap_err();
        assert!(err.contains(needle), "{policy}: {err}");
    }
}

/// `privrank ope` on the real Open Bandit sample: the uniform policy's IPS equals the
/// random log's observed CTR (the propensities are the logging policy's), and the
/// table is printed with all three estimators.
#[test]
fn ope_prints_the_estimates_table_on_the_open_bandit_sample() {
    let out = Command::new(env!("CARGO_BIN_EXE_privrank"))
        .current_dir(common::root())
        .args(["ope", "--model-card", "-"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "privrank, IPS",
        "privrank, SNIPS",
        "privrank, doubly robust",
        "ECE",
        "| 3 |",
    ] {
        assert!(stdout.contains(needle), "missing {needle}: {stdout}");
    }
    let cell = |label: &str| -> f64 {
        let line = stdout.lines().find(|l| l.contains(label)).unwrap();
        let value = line.rsplit('|').nth(1).unwrap().trim();
        value.split_whitespace().next().unwrap().parse().unwrap()
    };
    let observed = cell("logged `random` (observed)");
    let check = cell("check: uniform policy, IPS");
    assert!((observed - check).abs() < 1e-4, "{observed} vs {check}");
    let bad = Command::new(env!("CARGO_BIN_EXE_privrank"))
        .current_dir(common::root())
        .args(["ope", "--epsilon", "2", "--model-card", "-"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("epsilon must be in [0, 1]"));
}

/// Run the CLI with `args`, feeding `stdin`; (exit code, stdout, stderr).
fn cli(args: &[&str], stdin: &str) -> (Option<i32>, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_privrank"))
        .current_dir(common::root())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The command may refuse its options before reading: a closed pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

#[test]
fn the_creative_closest_to_the_history_is_chosen() {
    // The committed history is family animation; the ad's own title is a crime film.
    let family = json!({"id": "family", "text": "A cartoon musical for the whole family"});
    let noir = json!({"id": "noir", "text": "A dark, violent crime thriller"});
    let creative_of = |request: &Value| -> Option<String> {
        rank(request)
            .unwrap()
            .iter()
            .find(|r| r["id"] == "c-fargo")
            .unwrap()
            .get("creative")
            .map(|c| c.as_str().unwrap().to_owned())
    };
    let with_creatives = |creatives: Value, history: bool| {
        let mut r = request();
        r["candidates"][0]["creatives"] = creatives;
        if !history {
            r["history"] = json!([]);
        }
        r
    };
    for order in [json!([noir, family]), json!([family, noir])] {
        assert_eq!(
            creative_of(&with_creatives(order, true)).as_deref(),
            Some("family")
        );
    }
    // Without history there is nothing to match: the server's first choice.
    assert_eq!(
        creative_of(&with_creatives(json!([noir, family]), false)).as_deref(),
        Some("noir")
    );
    // Candidates without creatives carry no creative field.
    let plain = rank(&request()).unwrap();
    assert!(plain.iter().all(|r| r.get("creative").is_none()));
    let err = rank(&with_creatives(json!([{"id": "x"}]), true)).unwrap_err();
    assert!(err.contains("creatives[0].text"), "{err}");
}

#[test]
fn interests_weigh_kinds_split_tags_and_decay() {
    let day = 86_400_000.0;
    let history = json!([
        {"kind": "view", "itemId": "1", "title": "Alien (1979)", "category": "Sci-Fi, Horror", "ts": NOW},
        // A week old at the default one-week half-life: 3 × ½.
        {"kind": "cart", "itemId": "2", "title": "Heat (1995)", "category": "Action", "ts": NOW - 7.0 * day},
        // Two weeks old: 2 × ¼.
        {"kind": "click", "itemId": "3", "title": "Top Gun (1986)", "category": "Action", "ts": NOW - 14.0 * day},
        // Impressions are the ad's doing, not the shopper's interest.
        {"kind": "impression", "itemId": "ad", "title": "Psycho", "category": "Horror", "ts": NOW}
    ]);
    let now = NOW.to_string();
    let (code, stdout, stderr) = cli(&["interests", "-", "--now", &now], &history.to_string());
    assert_eq!(code, Some(0), "{stderr}");
    let tags: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    let got: Vec<(&str, f64)> = tags
        .iter()
        .map(|t| (t["tag"].as_str().unwrap(), t["weight"].as_f64().unwrap()))
        .collect();
    // Action 1.5 + 0.5 = 2, Sci-Fi 0.5, Horror 0.5; of 3.
    let want = [
        ("Action", 2.0 / 3.0),
        ("Sci-Fi", 1.0 / 6.0),
        ("Horror", 1.0 / 6.0),
    ];
    assert_eq!(got.len(), want.len(), "{stdout}");
    for ((tag, w), (want_tag, want_w)) in got.iter().zip(want) {
        assert_eq!(*tag, want_tag);
        assert!((w - want_w).abs() < 1e-9, "{tag}: {w} vs {want_w}");
    }
    // A rank request's history works too, and --k cuts the list.
    let request = json!({"history": history, "candidates": []}).to_string();
    let (_, stdout, _) = cli(&["interests", "-", "--now", &now, "--k", "1"], &request);
    let tags: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags[0]["tag"], "Action");
    let (code, _, stderr) = cli(&["interests", "-", "--half-life-days", "0"], "[]");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("half-life-days"), "{stderr}");
    let (code, _, stderr) = cli(&["interests", "-"], r#"[{"kind": "view"}]"#);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("title"), "{stderr}");
}

#[test]
fn arms_are_stable_and_follow_their_weights() {
    let arm = |id: &str, salt: &str| {
        let (code, stdout, stderr) = cli(
            &[
                "arm",
                "--device-id",
                id,
                "--salt",
                salt,
                "--arm",
                "a",
                "--arm",
                "b:3",
            ],
            "",
        );
        assert_eq!(code, Some(0), "{stderr}");
        stdout.trim().to_owned()
    };
    let first: Vec<String> = (0..200)
        .map(|i| arm(&format!("device-{i}"), "s1"))
        .collect();
    let in_b = first.iter().filter(|a| *a == "b").count();
    // 150 expected; ±30 is about five standard deviations.
    assert!(
        (120..=180).contains(&in_b),
        "{in_b} of 200 in the weight-3 arm"
    );
    assert!(first.iter().all(|a| a == "a" || a == "b"));
    for i in [0, 7, 99] {
        assert_eq!(
            arm(&format!("device-{i}"), "s1"),
            first[i],
            "stable per device"
        );
    }
    let other: Vec<String> = (0..40).map(|i| arm(&format!("device-{i}"), "s2")).collect();
    assert_ne!(other[..], first[..40], "a new salt reshuffles");
    let (code, _, stderr) = cli(
        &["arm", "--device-id", "d", "--salt", "s", "--arm", "a:x"],
        "",
    );
    assert_eq!(code, Some(2), "clap rejects the spec");
    assert!(stderr.contains("weight `x`"), "{stderr}");
}

/// A candidate's `related` neighbours that the shopper's history holds raise its click
/// rate on the device; a list naming items this shopper never touched is the same as
/// no list (the match is all the ranker reads of it).
#[test]
fn related_neighbours_in_the_history_raise_the_score() {
    let ctr = |request: &Value, id: &str| -> f64 {
        rank(request)
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()["ctr"]
            .as_f64()
            .unwrap()
    };
    let with = request();
    let index = with["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["id"] == "c-pocahontas")
        .unwrap();
    assert!(
        with["candidates"][index]["related"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    );
    let mut without = with.clone();
    without["candidates"][index]
        .as_object_mut()
        .unwrap()
        .remove("related");
    let mut strangers = with.clone();
    for (j, n) in strangers["candidates"][index]["related"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        n["itemId"] = json!(format!("ml-unseen-{j}"));
    }
    let (a, b, c) = (
        ctr(&with, "c-pocahontas"),
        ctr(&without, "c-pocahontas"),
        ctr(&strangers, "c-pocahontas"),
    );
    println!(
        "c-pocahontas: ctr {a:.4} with its neighbours in the history, {b:.4} without a list, {c:.4} with unseen ones"
    );
    assert!(a > b, "{a} vs {b}");
    assert_eq!(b, c);
}
