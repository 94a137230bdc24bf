//! The text `privrank eval` writes into the ranker's model card.

use std::path::Path;

use privrank::RankerManifest;
use privrank::eval::content_prior::Choice;
use privrank::eval::focused::{self, Report};
use privrank::eval::{Experiment, Row};

use crate::eval::Comparison;

/// Everything the card's eval section reports.
pub struct CardInputs<'a> {
    pub manifest: &'a RankerManifest,
    pub exp: &'a Experiment,
    pub table: &'a str,
    pub notes: &'a [String],
    /// `--models SET ` as typed, or empty for the default set.
    pub models: &'a str,
    /// ` --compare-with SET`, or empty.
    pub compared_with: &'a str,
    pub genres: &'a Report,
    pub storefront: &'a Report,
    pub storefront_path: &'a Path,
    pub seconds: u64,
}

fn focused_table(report: &Report, unit: &str) -> String {
    let mut out = format!(
        "| order | in-{unit} share of the top {} |\n|---|---|\n",
        report.top
    );
    for o in &report.outcomes {
        out.push_str(&format!("| {} | {:.3} |\n", o.order, o.in_label_share));
    }
    out
}

pub fn model_card(inputs: &CardInputs<'_>) -> String {
    let CardInputs {
        manifest,
        exp,
        table,
        notes,
        models,
        compared_with,
        genres,
        storefront,
        storefront_path,
        seconds,
    } = inputs;
    let c = &manifest.config;
    let e = &exp.config;
    let t = &manifest.training;
    format!(
        "Written by `privrank eval` (this section is its output; do not edit by hand). \
         Reproduce with `cargo run --features cli,wgpu -- {models}train` then \
         `cargo run --features cli,wgpu -- {models}eval{compared_with}`, after `bash scripts/setup`.\n\n\
         ## Results on the MovieLens-100k test split\n\n{table}\n\
         - **The privrank row is the served model**: every test impression was ranked by \
           `rank::rank`, the request the browser's `rank()` and `privrank rank` make, from the \
           events a device would hold then (each earlier rating as the event its stars stand \
           for) and the candidates as the ad server sends them (title, genres, the two features, \
           `related` neighbours from the training part). The DNN row is the same model and \
           request without attention, trained the same way.\n\
         - AUC, gAUC (per user, impression-weighted, users with one class skipped) and logloss \
           are over the test impressions: every test rating (label 1 when ≥ 4 stars) plus {neg} \
           never-rated items per rating drawn uniformly (label 0), seed {seed}.\n\
         - HR@{k} and NDCG@{k} rank the **full catalog**: for each user with a test click, every \
           item not interacted with before the test period; relevant = that user's test clicks.\n\
         - Baselines are tuned on the validation split; the test split is used once.\n\
         {notes}\
         - Evaluation took {seconds} s on this machine (including fitting the LR and DNN baselines \
           and the focused sessions).\n\n\
         ## Focused sessions: does the history move the slot?\n\n\
         The sampled-negative AUC rewards popularity, so it cannot show whether the ranker \
         personalises. Here one-interest histories are ranked against a fixed candidate set, all \
         through `rank::rank`.\n\n\
         **MovieLens genres.** {g_sessions} sessions: per genre, {per} histories of {events} views \
         of films of that genre, drawn in proportion to their ratings from the odd-indexed half \
         of the genre's films (the even half is for development; neither holds a promoted \
         film), against the demo's \
         {g_candidates} promotions (`privrank demo-data`: {per_genre} most-rated films per genre, \
         with features and `related` lists from the whole log). A top film counts as in-genre \
         when the session's genre is among its genres.\n\n{g_table}\n\
         **Storefront products** (`{shop_path}`: product titles the project wrote, {categories} \
         categories, no MovieLens ids, no features, no `related` lists, so only the text and \
         the category can match). {s_sessions} sessions: per category, {per} histories of {s_events} viewed \
         products; candidates: {s_per} other products of every category.\n\n{s_table}\n\
         **Why this ad.** A reason is a history event the ad attended to more than the \
         request's ads did on average (`rank::placement::lifts`: the attention's lift), so it \
         names what is particular to the ad rather than what every ad attends to. The first \
         reason of privrank's top ads is the history item most similar to the ad (encoder \
         cosine) in {g_reason:.0}% of cases on the MovieLens sessions (chance: {g_chance:.0}%) \
         and {s_reason:.0}% on the storefront (chance {s_chance:.0}%); the top ads of a session \
         all share one first reason in {g_same:.0}% of the MovieLens sessions and \
         {s_same:.0}% of the storefront ones.\n\n\
         ## Data and split\n\n\
         MovieLens-100k from RecBole's atomic files (`recbole==1.2.1`), data hash `{data_hash}`. \
         Per user, events ordered by time: last {test:.0}% test, the {valid:.0}% before validation, \
         the rest training. History for any impression = the user's events strictly earlier in \
         time. Ratings become device events by their stars: 1–2 view, 3 click, 4 cart, 5 purchase \
         (`EventKind::from_stars`: how far the interest went); a device's searches read the view \
         row, so every event kind the API accepts reaches a trained row. Training impressions: \
         every training rating of 4 or 5 stars (label 1){low}, plus {tneg} uniform and {pneg} \
         popularity-weighted never-rated films per rating (label 0, so that popularity alone \
         cannot win). In {drop_related:.0}% of training impressions the candidate comes without \
         its `related` list and in {drop_features:.0}% without its features, as candidates may on \
         the wire. Each candidate's `related` list: its {top} \
         nearest items by co-occurrence cosine over the training part, pairs taken by at least \
         {min_users} users; in training, a user's own ratings are left out of the pairs that \
         describe the candidate they rated.\n\n\
         ## Model\n\n\
         DIN-style target attention: item embeddings from `{encoder}` (weights sha256 \
         `{encoder_hash}`) projected to {d} dims, plus an event-kind embedding ({kinds} trained \
         rows); the attention MLP reads `[c, h, c*h, c-h, ln(1+days), ln(1 + events after h), \
         cosine(c, h), related weight of h for c]` → {ah} → 1, a masked softmax over the last {l} events; the scoring \
         MLP reads `[c, interest, c*interest, {feats}, attended cosine, mean cosine, best cosine, \
         attended related weight, ln(1 + related match), mean related weight, category match]` \
         (the related match runs over the last {m} events, weighted by event kind and a \
         {half:.0}-day half-life; the category match is the share of the attended events' \
         category tags, weighted the same way, that the candidate's category covers) → {mlp:?} (ReLU, dropout {dropout}) → 1. No per-item parameters: the model \
         scores any catalog's items from what the request carries.\n\n\
         Training: Adam, batch {batch}, learning rate {lr}, early stopping on validation AUC; best \
         epoch {best_epoch}, validation AUC {best_auc}. Weights `{weights}` sha256 `{weights_hash}`.\n\n\
         {prior}",
        neg = e.eval_negatives,
        seed = e.seed,
        k = e.k,
        notes = notes.iter().map(|n| format!("- {n}\n")).collect::<String>(),
        g_sessions = genres.sessions,
        per = focused::SESSIONS,
        events = focused::SESSION_EVENTS,
        g_candidates = genres.candidates,
        per_genre = privrank::data::demo::PER_GENRE,
        g_table = focused_table(genres, "genre"),
        shop_path = storefront_path.display(),
        categories = storefront.sessions / focused::SESSIONS,
        s_sessions = storefront.sessions,
        s_events = focused::STOREFRONT_EVENTS,
        s_per = focused::STOREFRONT_CANDIDATES,
        s_table = focused_table(storefront, "category"),
        g_reason = 100.0 * genres.reason_is_most_similar,
        g_chance = 100.0 * genres.reason_chance,
        s_reason = 100.0 * storefront.reason_is_most_similar,
        s_chance = 100.0 * storefront.reason_chance,
        g_same = 100.0 * genres.same_first_reason,
        s_same = 100.0 * storefront.same_first_reason,
        data_hash = exp.ml.data_hash,
        test = e.test_fraction * 100.0,
        valid = e.valid_fraction * 100.0,
        low = if e.train_low_ratings {
            " and every lower rating (label 0)"
        } else {
            "; lower ratings stay in the histories but are not impressions (a film chosen and \
             then rated low is interest a device would see, not a refusal)"
        },
        drop_related = 100.0 * t["drop_related"].as_f64().unwrap_or(0.0),
        drop_features = 100.0 * t["drop_features"].as_f64().unwrap_or(0.0),
        tneg = e.train_negatives,
        pneg = e.train_popular_negatives,
        top = e.related_top,
        min_users = e.related_min_users,
        encoder = manifest.encoder.name,
        encoder_hash = manifest.encoder.model_hash,
        d = c.projection_dim,
        kinds = c.kinds,
        ah = c.attention_hidden,
        l = c.max_history,
        m = c.match_history,
        half = privrank::related::MATCH_HALF_LIFE_DAYS,
        feats = c.candidate_features.join(", "),
        mlp = c.mlp,
        dropout = c.dropout,
        batch = t["batch_size"],
        lr = t["learning_rate"],
        best_epoch = t["best_epoch"],
        best_auc = t["best_valid_auc"],
        weights = manifest.weights.name,
        weights_hash = manifest.weights.sha256,
        prior = content_prior(c, &t["content_prior"]),
    )
}

/// The served blend and the trials `privrank train` chose its weight from.
fn content_prior(config: &privrank::RankerConfig, choice: &serde_json::Value) -> String {
    let weight = config.content_weight;
    let served = format!(
        "The served score is the model's logit plus {weight} × gate × (the candidate's mean \
         encoder cosine to the attended events + its category match), each of the two \
         standardized over the request's candidates (less their mean, over their root mean \
         square), so the weight is in logits per spread (`rank::blend`; `content_weight` and \
         `content_focus_from` in the manifest). The gate (`rank::strength`) is 0 up to a focus \
         of {from} and grows linearly to 1 at a focus of 1; the focus (`rank::focus`) is the \
         largest share of the attended events' weight (kind and age, as the related and \
         category matches weigh them) whose category carries one tag. A session within one \
         genre has focus 1; at 94% of the MovieLens validation moments one genre covers less \
         than 0.8 of the last 30 ratings' weight, so mixed histories keep the model's order. Centring \
         keeps the click rates the model's on average; no history, no focus, no term.",
        from = config.content_focus_from,
    );
    let Ok(choice) = serde_json::from_value::<Choice>(choice.clone()) else {
        return format!("{served} The manifest records no trials for this weight.\n");
    };
    let rows: String = choice
        .trials
        .iter()
        .map(|t| {
            format!(
                "| {}{} | {:.4} | {:.3} |\n",
                t.weight,
                if t.weight == weight { " (served)" } else { "" },
                t.valid_auc,
                t.genre_share
            )
        })
        .collect();
    format!(
        "**Content prior.** {served} MovieLens histories are never about one thing, so the \
         fitted model alone follows popularity where a shopper's session is focused. \
         `privrank train` chose the weight after fitting, from validation data only: the \
         weight with the highest in-genre share on the development half's focused sessions \
         (content cosine's there: {cosine:.3}) among weights costing at most {tol} of \
         validation AUC. The privrank rows above include it; so does the DNN row.\n\n\
         | content weight | validation AUC | in-genre share of the top 3 (development half) |\n\
         |---|---|---|\n{rows}",
        cosine = choice.cosine_share,
        tol = choice.auc_tolerance,
    )
}

/// The encoder card's section: the ranker on this encoder's embeddings against the
/// other set's, same split, same evaluation.
pub fn ranker_comparison(
    ours: &Row,
    other: &Comparison,
    theirs: &Row,
    ranker_dir: &Path,
    ranker_card: &Path,
) -> String {
    let row = |name: &str, r: &Row| {
        format!(
            "| {name} | {:.4} | {:.4} | {} |\n",
            r.auc,
            r.gauc,
            r.logloss.map_or("–".to_owned(), |l| format!("{l:.4}"))
        )
    };
    format!(
        "## The ranker on this encoder's embeddings\n\n\
         Written by `privrank eval --compare-with {set}` (this section is its output). \
         The same DIN ranker architecture, trained by `privrank train` on each encoder's item \
         embeddings (`{ours_dir}` here, `{theirs_dir}` for {name}), scored through the served \
         request on the same MovieLens-100k test impressions; the full table is in `{card}`.\n\n\
         | ranker on | AUC | gAUC | logloss |\n|---|---|---|---|\n{a}{b}\n\
         AUC difference: {diff:+.2} points (this encoder − {name}).\n",
        set = other.set.display(),
        ours_dir = ranker_dir.display(),
        theirs_dir = other.ranker_dir.display(),
        name = other.encoder_name,
        card = ranker_card.display(),
        a = row("this encoder", ours),
        b = row(&other.encoder_name, theirs),
        diff = 100.0 * (ours.auc - theirs.auc),
    )
}
