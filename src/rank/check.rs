//! What makes a request rankable, checked before any model work.

use super::{Objective, Request};
use crate::error::FieldError;
use crate::policy::Exploration;
use crate::{Error, Result};

/// Check the request as a whole (the candidates' own fields were checked when they
/// were parsed) and return the time it ranks at.
pub fn validate(request: &Request<'_>) -> Result<f64> {
    let options = request.options;
    if request.candidates.is_empty() {
        return Err(Error::BadInput("no candidates to rank".into()));
    }
    let now = options.now.unwrap_or(request.clock_ms);
    if !now.is_finite() {
        return Err(Error::BadOptions(format!(
            "`now` must be a finite time in ms, found {now}"
        )));
    }
    options.policy.check()?;
    if options.objective == Objective::Ecpm {
        if matches!(options.policy.exploration, Exploration::Thompson { .. }) {
            return Err(Error::BadOptions(
                "Thompson sampling draws click rates: use it with the ctr objective".into(),
            ));
        }
        let missing: Vec<FieldError> = request
            .candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.bid.is_none())
            .map(|(index, _)| FieldError {
                index,
                field: "bid".into(),
                reason: "is required by the ecpm objective".into(),
            })
            .collect();
        if !missing.is_empty() {
            return Err(Error::BadCandidate(missing));
        }
    }
    Ok(now)
}
