//! The page's encoder, built when a text first needs embedding. A return visit whose
//! candidates arrive embedded by the edge and whose history embeddings are cached
//! never needs it, and building it (the tokenizer, the dequantized vocabulary, the
//! layers) was 60–90 ms of a 150 ms `Ranker.load` here; reading its weights from the
//! Cache API is left to the build as well ([`EncoderFiles`]).

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::Device;

use super::global;
use super::models::EncoderFiles;
use crate::encoder::EncoderLoad;
use crate::weights::ModelBundle;
use crate::{Result, SentenceEncoder};

pub struct EncoderSlot {
    device: Device,
    dim: usize,
    model_hash: String,
    state: RefCell<State>,
}

enum State {
    Pending(Rc<EncoderFiles>),
    /// A call is building it; others wait their turn.
    Building,
    Ready(Rc<SentenceEncoder>),
}

impl EncoderSlot {
    pub fn ready(encoder: SentenceEncoder) -> Self {
        Self {
            device: encoder.device().clone(),
            dim: encoder.dim(),
            model_hash: encoder.model_hash().to_owned(),
            state: RefCell::new(State::Ready(Rc::new(encoder))),
        }
    }

    /// `files`' encoder on `device`, once asked for. Weights this load downloaded
    /// and that do not parse are refused now, as an eager load would.
    pub fn pending(files: Rc<EncoderFiles>, device: &Device) -> Result<Self> {
        files.check_downloaded()?;
        Ok(Self {
            device: device.clone(),
            dim: files.parts.config.hidden_size,
            model_hash: files.parts.model_hash().to_owned(),
            state: RefCell::new(State::Pending(files)),
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn model_hash(&self) -> &str {
        &self.model_hash
    }

    pub fn is_built(&self) -> bool {
        matches!(&*self.state.borrow(), State::Ready(_))
    }

    /// The encoder, built by the first call that needs it. A build that fails
    /// leaves the files in place: a later call tries again.
    pub async fn get(&self) -> Result<Rc<SentenceEncoder>> {
        loop {
            let files = {
                let mut state = self.state.borrow_mut();
                match std::mem::replace(&mut *state, State::Building) {
                    State::Ready(encoder) => {
                        *state = State::Ready(encoder.clone());
                        return Ok(encoder);
                    }
                    State::Building => None,
                    State::Pending(files) => Some(files),
                }
            };
            let Some(files) = files else {
                global::yield_now().await;
                continue;
            };
            let built = match files.bundle().await {
                Ok(bundle) => build(&bundle, &self.device).await,
                Err(e) => Err(e),
            };
            let mut state = self.state.borrow_mut();
            return match built {
                Ok(encoder) => {
                    let encoder = Rc::new(encoder);
                    *state = State::Ready(encoder.clone());
                    Ok(encoder)
                }
                Err(e) => {
                    *state = State::Pending(files);
                    Err(e)
                }
            };
        }
    }
}

/// The encoder on `device`, with the page's turn between the steps: the tokenizer,
/// the embeddings, each layer ([`EncoderLoad`]). Each is tens of ms in wasm; together
/// they were a long task of 50–90 ms.
pub async fn build(bundle: &ModelBundle, device: &Device) -> Result<SentenceEncoder> {
    let tokenizer = SentenceEncoder::load_tokenizer(bundle)?;
    global::yield_now().await;
    let mut load = EncoderLoad::new(bundle, device)?;
    let encoder = loop {
        if let Some(encoder) = load.step()? {
            break encoder;
        }
        global::yield_now().await;
    };
    Ok(SentenceEncoder::with_parts(
        tokenizer, encoder, bundle, device,
    ))
}
