//! The generator's tokenizer: Hugging Face `tokenizers`' byte-level BPE, built from the
//! vocabulary and merges a GGUF file carries (`tokenizer.ggml.*`), so that one file is
//! the whole model.

use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, Tokenizer};

use super::gguf::Gguf;
use crate::{Error, Result};

/// `tokenizer.ggml.token_type` of tokens matched whole in the text before BPE
/// (llama.cpp's `LLAMA_TOKEN_TYPE_CONTROL`): `<|im_start|>`, `<|im_end|>`, ….
const CONTROL: u64 = 3;

/// Pre-tokenizers (`tokenizer.ggml.pre`) whose splitting is the one built here:
/// every digit alone, then GPT-2's byte-level regex — SmolLM's tokenizer.json.
const PRE_TOKENIZERS: [&str; 1] = ["smollm"];

pub struct BpeTokenizer {
    /// Matches control tokens written in the text.
    inner: Tokenizer,
    /// Reads them as ordinary text: for content that must not open or close a turn.
    plain: Tokenizer,
    /// Opens a chat turn (`<|im_start|>`).
    pub start_of_turn: u32,
    /// Ends a chat turn (`<|im_end|>`): generation stops when the model writes it.
    pub end_of_turn: u32,
}

impl BpeTokenizer {
    pub fn from_gguf(gguf: &Gguf) -> Result<Self> {
        let model = gguf.str("tokenizer.ggml.model")?;
        let pre = gguf.str("tokenizer.ggml.pre")?;
        if model != "gpt2" || !PRE_TOKENIZERS.contains(&pre) {
            return Err(gguf.error(format!(
                "tokenizer `{model}` with pre-tokenizer `{pre}`; privrank builds `gpt2` \
                 (byte-level BPE) with {PRE_TOKENIZERS:?}"
            )));
        }
        let tokens = gguf.strings("tokenizer.ggml.tokens")?;
        let types = gguf.integers("tokenizer.ggml.token_type")?;
        if types.len() != tokens.len() {
            return Err(gguf.error(format!(
                "{} token types for {} tokens",
                types.len(),
                tokens.len()
            )));
        }
        let merges = gguf
            .strings("tokenizer.ggml.merges")?
            .into_iter()
            .map(|m| match m.split_once(' ') {
                Some((a, b)) => Ok((a.to_owned(), b.to_owned())),
                None => Err(gguf.error(format!("merge `{m}` is not two tokens"))),
            })
            .collect::<Result<Vec<_>>>()?;
        let vocab: Vocab = tokens
            .iter()
            .enumerate()
            .map(|(id, t)| ((*t).to_owned(), id as u32))
            .collect();
        if vocab.len() != tokens.len() {
            return Err(gguf.error("its vocabulary lists a token twice".to_owned()));
        }
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| gguf.error(format!("its BPE vocabulary: {e}")))?;
        let mut inner = Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(Sequence::new(vec![
            PreTokenizerWrapper::Digits(Digits::new(true)),
            PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true)),
        ])));
        inner.with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevel::default())));
        let control: Vec<AddedToken> = tokens
            .iter()
            .zip(&types)
            .filter(|(_, kind)| **kind == CONTROL)
            .map(|(t, _)| AddedToken::from(*t, true))
            .collect();
        inner
            .add_special_tokens(control)
            .map_err(|e| gguf.error(format!("its control tokens: {e}")))?;
        let marker = |token: &str| {
            inner.token_to_id(token).ok_or_else(|| {
                gguf.error(format!(
                    "its vocabulary has no `{token}`: not a ChatML model"
                ))
            })
        };
        let (start_of_turn, end_of_turn) = (marker("<|im_start|>")?, marker("<|im_end|>")?);
        let mut plain = inner.clone();
        plain.set_encode_special_tokens(true);
        Ok(Self {
            inner,
            plain,
            start_of_turn,
            end_of_turn,
        })
    }

    /// Ids of `text`; control tokens written in it (`<|im_start|>`) are matched whole.
    /// No beginning-of-text token is added: SmolLM2's files say `add_bos_token` false.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.inner
            .encode_fast(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| Error::BadTokenizer(e.to_string()))
    }

    /// Ids of `text` with control tokens read as text: `<|im_end|>` in a product title
    /// becomes ordinary tokens, not the end of a turn.
    pub fn encode_plain(&self, text: &str) -> Result<Vec<u32>> {
        self.plain
            .encode_fast(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| Error::BadTokenizer(e.to_string()))
    }

    /// Text of `ids`; control tokens as written (`<|im_end|>`) or, with
    /// `skip_control`, left out.
    pub fn decode(&self, ids: &[u32], skip_control: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_control)
            .map_err(|e| Error::BadTokenizer(e.to_string()))
    }

    pub fn id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }
}
