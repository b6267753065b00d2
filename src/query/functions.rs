//! graphite-web's render functions (`render/functions.py`), dispatched by name.

use crate::query::eval::{Context, EvalError};
use crate::query::grammar::Call;
use crate::query::series::Series;

/// Calls the function named by `call` with its arguments evaluated in `ctx`.
pub fn call(call: &Call<'_>, _ctx: &Context<'_>) -> Result<Vec<Series>, EvalError> {
    Err(EvalError::UnknownFunction(call.name.to_string()))
}
