//! Model cards whose sections are written by different commands (`privrank eval` the
//! ranker's table, `privrank ope` the policy's, `privrank distill` the student's):
//! each command replaces only its own marked block, so rerunning one never loses what
//! another measured.

use std::path::Path;

fn markers(name: &str) -> (String, String) {
    (
        format!("<!-- privrank {name}: begin -->\n"),
        format!("<!-- privrank {name}: end -->\n"),
    )
}

/// `text` with the block `name` set to `content` (appended when it is not there yet).
pub fn with_section(text: &str, name: &str, content: &str) -> String {
    let (begin, end) = markers(name);
    let mut block = begin.clone();
    block.push_str(content);
    if !content.ends_with('\n') {
        block.push('\n');
    }
    block.push_str(&end);
    match (text.find(&begin), text.find(&end)) {
        (Some(b), Some(e)) if e > b => format!("{}{block}{}", &text[..b], &text[e + end.len()..]),
        _ => {
            let sep = if text.is_empty() || text.ends_with("\n\n") {
                ""
            } else if text.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            };
            format!("{text}{sep}{block}")
        }
    }
}

/// Write `content` as block `name` of the card at `path`; a new card starts with `title`.
pub fn write_section(path: &Path, title: &str, name: &str, content: &str) -> std::io::Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => format!("{title}\n"),
        Err(e) => return Err(e),
    };
    replace_file(path, with_section(&text, name, content).as_bytes())
}

/// Write `bytes` beside `path` and rename it into place, so an interrupted run leaves
/// the old file or the new one, never half of one.
pub fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_added_then_replaced_and_others_are_kept() {
        let card = with_section("# Card\n", "a", "first\n");
        let card = with_section(&card, "b", "other");
        let card = with_section(&card, "a", "second\n");
        assert!(card.starts_with("# Card\n\n<!-- privrank a: begin -->\nsecond\n"));
        assert!(!card.contains("first"));
        assert!(card.contains("other\n<!-- privrank b: end -->"));
        assert_eq!(card.matches("<!-- privrank a: begin").count(), 1);
    }
}
