//! The ChatML prompt SmolLM2 was instruction-tuned on (its GGUF's
//! `tokenizer.chat_template`), rendered by hand: privrank needs this one template,
//! not a Jinja engine.

use super::tokenizer::BpeTokenizer;
use crate::Result;

/// What the template adds when a conversation has no system message of its own.
pub const DEFAULT_SYSTEM: &str =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.to_owned(),
            content: content.into(),
        }
    }

    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }
}

/// The prompt as text, ending with the assistant's turn opened:
/// `<|im_start|>role\ncontent<|im_end|>\n` per message.
pub fn render(messages: &[Message]) -> String {
    let mut out = String::new();
    for (role, content) in turns(messages) {
        out.push_str(&format!("<|im_start|>{role}\n{content}<|im_end|>\n"));
    }
    out.push_str("<|im_start|>assistant\n");
    out
}

/// The ids of [`render`]'s text, with the markers as control tokens and everything
/// the messages say read as plain text: a title that contains `<|im_end|>` cannot
/// end its turn early. Control tokens split the text before BPE, so encoding the
/// pieces apart gives the ids of the whole.
pub fn encode(tokenizer: &BpeTokenizer, messages: &[Message]) -> Result<Vec<u32>> {
    let start = tokenizer.start_of_turn;
    let end = tokenizer.end_of_turn;
    let mut ids = Vec::new();
    for (role, content) in turns(messages) {
        ids.push(start);
        ids.extend(tokenizer.encode_plain(&format!("{role}\n{content}"))?);
        ids.push(end);
        ids.extend(tokenizer.encode_plain("\n")?);
    }
    ids.push(start);
    ids.extend(tokenizer.encode_plain("assistant\n")?);
    Ok(ids)
}

fn turns(messages: &[Message]) -> impl Iterator<Item = (&str, &str)> {
    let system = match messages.first() {
        Some(m) if m.role == "system" => None,
        _ => Some(("system", DEFAULT_SYSTEM)),
    };
    system.into_iter().chain(
        messages
            .iter()
            .map(|m| (m.role.as_str(), m.content.as_str())),
    )
}
