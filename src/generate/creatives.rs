//! Headline variants of an ad, each aimed at a named angle (family, thrill, a
//! bargain, …), written by the [`Generator`] from the catalog alone and filtered
//! before they become a candidate's `creatives`. The device later shows the variant
//! closest to its shopper's history; no shopper data is involved here.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{GenerateOptions, Generator, Message, Sampling, Stop};
use crate::Result;

/// Angles a variant is written for, in the order `variants` takes them.
pub const DEFAULT_ANGLES: [&str; 5] =
    ["family fun", "thrills", "a bargain", "romance", "nostalgia"];

/// Words a generated headline may not add (brand safety). One per line, lower case;
/// `#` starts a comment. Matched as whole words; a word the ad's own title contains
/// is the advertiser's and is allowed.
const BLOCKLIST: &str = include_str!("blocklist.txt");

/// Settings of a run; the defaults are `privrank creatives`'.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreativeOptions {
    /// Variants per item, one per angle. Default 3.
    pub variants: usize,
    /// Default [`DEFAULT_ANGLES`].
    pub angles: Vec<String>,
    /// Tries per angle until one passes the filters. Default 3.
    pub attempts: usize,
    /// Longest headline kept, in characters. Default 80.
    pub max_chars: usize,
    /// Tokens per headline at most. Default 24.
    pub max_tokens: usize,
    /// Default top-p 0.9 at temperature 0.7: varied yet on topic.
    pub sampling: Sampling,
    /// With the item id, angle and attempt, seeds each headline: output does not
    /// depend on the order items are written in, so a resumed run writes what an
    /// uninterrupted one would.
    pub seed: u64,
}

impl Default for CreativeOptions {
    fn default() -> Self {
        Self {
            variants: 3,
            angles: DEFAULT_ANGLES.iter().map(|a| (*a).to_owned()).collect(),
            attempts: 3,
            max_chars: 80,
            max_tokens: 24,
            sampling: Sampling::TopP {
                p: 0.9,
                temperature: 0.7,
            },
            seed: 0,
        }
    }
}

impl CreativeOptions {
    pub fn check(&self) -> Result<()> {
        self.sampling.check()?;
        let bad = |m: String| Err(crate::Error::BadOptions(m));
        if self.variants == 0 || self.variants > self.angles.len() {
            return bad(format!(
                "{} variants need as many angles; {} are given",
                self.variants,
                self.angles.len()
            ));
        }
        if self.variants > crate::candidates::MAX_CREATIVES {
            return bad(format!(
                "{} variants: a candidate carries at most {} creatives",
                self.variants,
                crate::candidates::MAX_CREATIVES
            ));
        }
        if self.attempts == 0 || self.max_tokens == 0 || self.max_chars == 0 {
            return bad("attempts, max tokens and max chars must be at least 1".to_owned());
        }
        if let Some(a) = self.angles.iter().find(|a| a.trim().is_empty()) {
            return bad(format!("angle {a:?} is empty"));
        }
        Ok(())
    }
}

/// The chat asking for one headline.
pub fn prompt(title: &str, category: Option<&str>, angle: &str) -> Vec<Message> {
    let what = match category {
        Some(c) => format!("{title} ({c})"),
        None => title.to_owned(),
    };
    // SmolLM2's own default system message (none given): a system message of our
    // own made it copy its wording into the headlines (tried 2026-12-06).
    vec![Message::user(format!(
        "Write one catchy ad headline, at most 10 words, for: {what}. Aim it at people \
         who love {angle}. Reply with the headline only."
    ))]
}

/// The headline in a reply: its first non-empty line, without wrapping quotes or
/// emphasis and without a "Headline:" label.
pub fn clean(reply: &str) -> String {
    let line = reply
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let line = ["headline:", "title:"]
        .iter()
        .find_map(|label| {
            line.get(..label.len())
                .filter(|head| head.eq_ignore_ascii_case(label))
                .map(|_| line[label.len()..].trim())
        })
        .unwrap_or(line);
    line.trim_matches(|c: char| matches!(c, '"' | '\'' | '*' | '“' | '”' | '#'))
        .trim()
        .to_owned()
}

/// Why a headline was dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    /// Cut off by the token limit before the model ended its reply.
    Unfinished,
    Empty,
    TooLong,
    /// Says nothing the title does not: fewer than two words beyond the title's,
    /// the category's, the angle's and numbers (a year).
    RepeatsTitle,
    /// The same as a variant kept for this item.
    Duplicate,
    /// Adds a blocklisted word.
    Blocked(String),
}

/// Letters and digits only, lower case: "The Matrix!" and "the matrix" are one text.
fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// The filters every headline passes before it is kept.
#[derive(Debug, Clone)]
pub struct Filters {
    pub max_chars: usize,
    pub blocklist: Vec<String>,
}

impl Filters {
    pub fn new(max_chars: usize) -> Self {
        Self {
            max_chars,
            blocklist: BLOCKLIST
                .lines()
                .map(|l| l.split('#').next().unwrap_or("").trim().to_lowercase())
                .filter(|l| !l.is_empty())
                .collect(),
        }
    }

    /// `context`: the words the prompt gave (category, angle), which a headline does
    /// not add by repeating.
    pub fn check(
        &self,
        headline: &str,
        title: &str,
        context: &[&str],
        kept: &[String],
    ) -> Result<(), Rejection> {
        if normalise(headline).is_empty() {
            return Err(Rejection::Empty);
        }
        if headline.chars().count() > self.max_chars {
            return Err(Rejection::TooLong);
        }
        let given: Vec<String> = words(title)
            .chain(context.iter().flat_map(|c| words(c)))
            .collect();
        let new = words(headline)
            .filter(|w| !given.contains(w) && !w.chars().all(|c| c.is_numeric()))
            .count();
        if new < 2 {
            return Err(Rejection::RepeatsTitle);
        }
        if kept.iter().any(|k| normalise(k) == normalise(headline)) {
            return Err(Rejection::Duplicate);
        }
        let own: Vec<String> = words(title).collect();
        if let Some(word) = words(headline).find(|w| self.blocklist.contains(w) && !own.contains(w))
        {
            return Err(Rejection::Blocked(word));
        }
        Ok(())
    }
}

/// What a run did, for its summary line and the model card.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tally {
    pub items: usize,
    /// Headlines generated (every attempt).
    pub generated: usize,
    pub kept: usize,
    pub unfinished: usize,
    pub empty: usize,
    pub too_long: usize,
    pub repeats_title: usize,
    pub duplicate: usize,
    pub blocked: usize,
    pub prompt_tokens: usize,
    /// Tokens written, the closing `<|im_end|>` included (it costs a step too).
    pub generated_tokens: usize,
    pub seconds: f64,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.items += other.items;
        self.generated += other.generated;
        self.kept += other.kept;
        self.unfinished += other.unfinished;
        self.empty += other.empty;
        self.too_long += other.too_long;
        self.repeats_title += other.repeats_title;
        self.duplicate += other.duplicate;
        self.blocked += other.blocked;
        self.prompt_tokens += other.prompt_tokens;
        self.generated_tokens += other.generated_tokens;
        self.seconds += other.seconds;
    }

    fn reject(&mut self, why: &Rejection) {
        match why {
            Rejection::Unfinished => self.unfinished += 1,
            Rejection::Empty => self.empty += 1,
            Rejection::TooLong => self.too_long += 1,
            Rejection::RepeatsTitle => self.repeats_title += 1,
            Rejection::Duplicate => self.duplicate += 1,
            Rejection::Blocked(_) => self.blocked += 1,
        }
    }
}

/// One kept headline: the candidate's creative `{"id": slug of the angle, "text"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Variant {
    pub id: String,
    pub text: String,
}

/// An angle as a creative id: "family fun" → "family-fun".
pub fn slug(angle: &str) -> String {
    let words: Vec<String> = words(angle).collect();
    words.join("-")
}

/// The seed of one headline: the run's seed, the item, the angle and the attempt.
fn seed_of(seed: u64, item: &str, angle: &str, attempt: usize) -> u64 {
    let digest = Sha256::digest(format!("{seed}\0{item}\0{angle}\0{attempt}"));
    u64::from_le_bytes(digest[..8].try_into().expect("a SHA-256 has 32 bytes"))
}

/// Up to `options.variants` headlines for one item, one per angle, each the first of
/// `attempts` tries that passes the filters.
pub fn write(
    generator: &Generator,
    id: &str,
    title: &str,
    category: Option<&str>,
    options: &CreativeOptions,
) -> Result<(Vec<Variant>, Tally)> {
    options.check()?;
    let started = std::time::Instant::now();
    let filters = Filters::new(options.max_chars);
    let mut tally = Tally {
        items: 1,
        ..Tally::default()
    };
    let mut kept: Vec<Variant> = Vec::new();
    for angle in options.angles.iter().take(options.variants) {
        for attempt in 0..options.attempts {
            let settings = GenerateOptions::default()
                .with_max_tokens(options.max_tokens)
                .with_sampling(options.sampling)
                .with_seed(seed_of(options.seed, id, angle, attempt))
                .with_one_line(true);
            let out = generator.chat(&prompt(title, category, angle), &settings)?;
            tally.generated += 1;
            tally.prompt_tokens += out.prompt_tokens;
            tally.generated_tokens += out.ids.len() + usize::from(out.stop == Stop::EndOfTurn);
            let headline = clean(&out.text);
            let texts: Vec<String> = kept.iter().map(|v| v.text.clone()).collect();
            let verdict = match out.stop {
                Stop::Limit => Err(Rejection::Unfinished),
                Stop::EndOfTurn | Stop::LineEnd => {
                    let context = [category.unwrap_or(""), angle.as_str()];
                    filters.check(&headline, title, &context, &texts)
                }
            };
            match verdict {
                Ok(()) => {
                    kept.push(Variant {
                        id: slug(angle),
                        text: headline,
                    });
                    tally.kept += 1;
                    break;
                }
                Err(why) => tally.reject(&why),
            }
        }
    }
    tally.seconds = started.elapsed().as_secs_f64();
    Ok((kept, tally))
}

/// One catalog item to write for.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub category: Option<&'a str>,
}

impl<'a> From<&'a crate::catalog::CatalogItem> for Item<'a> {
    fn from(item: &'a crate::catalog::CatalogItem) -> Self {
        Self {
            id: &item.id,
            title: &item.title,
            category: item.category.as_deref(),
        }
    }
}

/// Items written at once: one per core.
pub fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// [`write`] for every item, [`parallelism`] at a time, each result handed to `done`
/// (with the item's index) in `items`' order as soon as its group has run, so that
/// a caller can save item by item. Returns the whole run's tally; the first error,
/// the writer's or `done`'s, stops the run.
pub fn write_each<E: From<crate::Error>>(
    generator: &Generator,
    items: &[Item<'_>],
    options: &CreativeOptions,
    mut done: impl FnMut(usize, Vec<Variant>, &Tally) -> std::result::Result<(), E>,
) -> std::result::Result<Tally, E> {
    let mut total = Tally::default();
    let group = parallelism();
    for (g, chunk) in items.chunks(group).enumerate() {
        for (k, result) in write_all(generator, chunk, options).into_iter().enumerate() {
            let (variants, tally) = result?;
            total.add(&tally);
            done(g * group + k, variants, &tally)?;
        }
    }
    Ok(total)
}

/// [`write`] for several items at once, one thread each: a single token's matmuls
/// are too small for burn-flex to split across cores, so items are what runs in
/// parallel. Results come back in `items`' order and are the ones [`write`] gives
/// (each headline's seed depends on its item, not on what runs beside it).
fn write_all(
    generator: &Generator,
    items: &[Item<'_>],
    options: &CreativeOptions,
) -> Vec<Result<(Vec<Variant>, Tally)>> {
    std::thread::scope(|scope| {
        let running: Vec<_> = items
            .iter()
            .map(|item| {
                scope.spawn(move || write(generator, item.id, item.title, item.category, options))
            })
            .collect();
        running
            .into_iter()
            .map(|handle| {
                handle.join().unwrap_or_else(|_| {
                    Err(crate::Error::Internal(
                        "a creative writer thread panicked".to_owned(),
                    ))
                })
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_takes_the_first_line_without_labels_or_quotes() {
        assert_eq!(clean("\n  \"Run Wild!\"\nMore text"), "Run Wild!");
        assert_eq!(clean("Headline: **Save Big Today**"), "Save Big Today");
        assert_eq!(clean("   "), "");
    }

    #[test]
    fn each_filter_rejects_what_it_names() {
        let f = Filters::new(30);
        let kept = vec!["Fun For All Ages".to_owned()];
        let check =
            |text: &str, title: &str| f.check(text, title, &["Comedy", "family fun"], &kept);
        assert_eq!(check("A Night to Remember", "Toy Story"), Ok(()));
        assert_eq!(check(" !! ", "Toy Story"), Err(Rejection::Empty));
        assert_eq!(
            check("An Unforgettable Family Adventure Awaits", "Toy Story"),
            Err(Rejection::TooLong)
        );
        assert_eq!(
            check("toy story!", "Toy Story"),
            Err(Rejection::RepeatsTitle)
        );
        // Title, year and category words add nothing; one new word is not enough.
        assert_eq!(
            check("Toy Story (1995), comedy", "Toy Story (1995)"),
            Err(Rejection::RepeatsTitle)
        );
        assert_eq!(
            check("Toy Story: classic", "Toy Story"),
            Err(Rejection::RepeatsTitle)
        );
        assert_eq!(
            check("Fun for all ages.", "Toy Story"),
            Err(Rejection::Duplicate)
        );
        assert_eq!(
            check("Guns and glory", "Toy Story"),
            Err(Rejection::Blocked("guns".to_owned()))
        );
        // The advertiser's own title word is not the model's addition.
        assert_eq!(check("Die Hard, Die Even Harder", "Die Hard"), Ok(()));
        assert_eq!(
            check("Die Hard, Die Even Harder", "Speed"),
            Err(Rejection::Blocked("die".to_owned()))
        );
    }

    #[test]
    fn seeds_differ_by_item_angle_and_attempt() {
        let a = seed_of(0, "ml-1", "family", 0);
        assert_eq!(a, seed_of(0, "ml-1", "family", 0));
        for other in [
            seed_of(1, "ml-1", "family", 0),
            seed_of(0, "ml-2", "family", 0),
            seed_of(0, "ml-1", "thrill", 0),
            seed_of(0, "ml-1", "family", 1),
        ] {
            assert_ne!(a, other);
        }
    }

    #[test]
    fn options_are_checked() {
        let ok = CreativeOptions::default();
        assert!(ok.check().is_ok());
        let too_many = CreativeOptions {
            variants: 6,
            ..ok.clone()
        };
        assert!(too_many.check().is_err());
        let none = CreativeOptions { attempts: 0, ..ok };
        assert!(none.check().is_err());
    }
}
