//! `privrank embed-catalog`: a server embeds its ad catalog once, in the same line
//! format an edge worker returns, so devices and edges can use the vectors directly.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use privrank::SentenceEncoder;
use privrank::catalog::{self, CatalogItem, CatalogReader};
use privrank::error::FieldError;
use privrank::input::Value;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Args)]
pub struct EmbedCatalogArgs {
    /// JSON lines, one `{"id", "title", "category"?}` per line (other fields, such as
    /// bids and features, are ignored); `-` reads stdin.
    pub catalog: PathBuf,
    /// Items per encoder call: output is written and flushed after each batch.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub batch_size: u64,
    /// `lines`: one `{"id", "encoder", "embedding"}` line per item (float vectors).
    /// `candidates`: each item as `rank()` takes it, every field kept, with
    /// `encoder` and the packed `embedding` (int8 + scale) of its title and of each
    /// creative attached, so the device embeds none of it.
    #[arg(long, value_enum, default_value_t = Format::Lines)]
    pub format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Lines,
    Candidates,
}

/// Reads, checks, embeds and writes batch by batch, so a catalog of any size streams
/// through in bounded memory. A bad line stops the run with its line number; batches
/// before it have already been written, so the output is a valid prefix.
pub fn embed_catalog(args: &EmbedCatalogArgs, encoder: &SentenceEncoder) -> Result<()> {
    let stdin = args.catalog.as_os_str() == "-";
    let name = if stdin {
        "stdin".to_owned()
    } else {
        args.catalog.display().to_string()
    };
    let (input, bar): (Box<dyn Read>, ProgressBar) = if stdin {
        let bar = ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("embedding catalog: {pos} items {elapsed}")
                .expect("static template"),
        );
        (Box::new(std::io::stdin()), bar)
    } else {
        let file = File::open(&args.catalog).map_err(|e| format!("cannot read {name}: {e}"))?;
        let len = file.metadata()?.len();
        let bar = ProgressBar::new(len).with_style(
            ProgressStyle::with_template(
                "embedding catalog {bar:30} {bytes}/{total_bytes} {elapsed} (eta {eta})",
            )
            .expect("static template"),
        );
        (Box::new(file), bar)
    };
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut reader = CatalogReader::new(match args.format {
        Format::Lines => catalog::Purpose::Lines,
        Format::Candidates => catalog::Purpose::Candidates,
    });
    let mut batch: Vec<(CatalogItem, Value)> = Vec::new();
    let mut written = 0usize;
    let format = args.format;
    let mut flush = |batch: &mut Vec<(CatalogItem, Value)>, out: &mut BufWriter<_>| -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        match format {
            Format::Lines => {
                let texts: Vec<&str> = batch.iter().map(|(i, _)| i.text.as_str()).collect();
                let embeddings = encoder.embed(&texts)?;
                let items: Vec<CatalogItem> = batch.drain(..).map(|(i, _)| i).collect();
                for line in catalog::lines(encoder, &items, embeddings) {
                    serde_json::to_writer(&mut *out, &line)?;
                    out.write_all(b"\n")?;
                }
                written += items.len();
            }
            Format::Candidates => {
                let texts: Vec<&str> = batch.iter().flat_map(|(i, _)| i.texts()).collect();
                let mut embeddings = encoder.embed(&texts)?.into_iter();
                for (item, record) in batch.drain(..) {
                    let vectors: Vec<Vec<f32>> =
                        embeddings.by_ref().take(1 + item.creatives.len()).collect();
                    let ready = catalog::ready_embedded(&record, encoder.model_hash(), &vectors)?;
                    serde_json::to_writer(&mut *out, &ready)?;
                    out.write_all(b"\n")?;
                    written += 1;
                }
            }
        }
        out.flush()?;
        Ok(())
    };
    let mut lines = BufReader::new(input);
    let mut line = String::new();
    let mut number = 0usize;
    loop {
        line.clear();
        let read = lines
            .read_line(&mut line)
            .map_err(|e| format!("{name}: line {}: {e}", number + 1))?;
        if read == 0 {
            break;
        }
        number += 1;
        bar.inc(if bar.length().is_some() {
            read as u64
        } else {
            1
        });
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&line)
            .map_err(|e| format!("{name}: line {number}: not JSON: {e}"))?;
        let item = reader
            .item(number, &value)
            .map_err(|errors| format!("{name}: {}", by_line(&errors)))?;
        batch.push((item, value));
        if batch.len() as u64 >= args.batch_size {
            flush(&mut batch, &mut out)?;
        }
    }
    flush(&mut batch, &mut out)?;
    bar.finish_and_clear();
    if written == 0 {
        return Err(format!("{name}: the catalog is empty").into());
    }
    eprintln!("privrank: embedded {written} catalog items");
    Ok(())
}

/// Field errors of one line, in the reader's terms (`index` is the line number).
fn by_line(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| match e.field.as_str() {
            "" => format!("line {}: {}", e.index, e.reason),
            field => format!("line {}: {field} {}", e.index, e.reason),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
